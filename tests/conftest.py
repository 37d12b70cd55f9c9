"""Shared test set-up: every test starts from float32 defaults and a fixed seed."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

import tinygrad_seq as tg

# Our matrices are small: a second BLAS thread only adds hand-off cost, and on a busy 2-core
# machine OpenBLAS's spinning threads made a (32, 128) @ (128, 512) product 50x slower.
threadpool_limits(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by torch when a parity test first imports it

# TGS_FAST=1 shortens the slow checks (fewer examples, shorter training); CI runs them in full.
FAST = os.environ.get("TGS_FAST") == "1"

settings.register_profile(
    "default",
    max_examples=10 if FAST else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("default")


@pytest.fixture(autouse=True)
def _fresh_state():
    tg.set_default_dtype(np.float32)
    tg.manual_seed(0)
    yield
    tg.set_default_dtype(np.float32)


@pytest.fixture
def float64():
    """Make Python numbers and initialisers float64 for the duration of a test (gradient checks)."""
    tg.set_default_dtype(np.float64)
    yield
    tg.set_default_dtype(np.float32)
