"""Shared test set-up: every test starts from float32 defaults and a fixed seed."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import tinygrad_seq as tg

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
