"""memory.py: on glibc, arrays made again and again reuse freed memory instead of faulting in fresh pages."""

import platform
import resource
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_seq as tg

GLIBC = platform.libc_ver()[0] == "glibc"


def step(a):
    """What a training step does with memory: make many arrays (its activations), then free them all."""
    arrays = [a * 2 for _ in range(16)]
    return sum(float(x[0, 0]) for x in arrays)


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's; other C libraries are left alone")
def test_a_step_that_makes_the_same_arrays_again_takes_no_page_faults():
    assert tg.memory.TUNED
    a = np.ones((256, 1024), np.float32)  # 1 MiB: 16 of them are 16 MiB, which untuned glibc gives back
    step(a)  # the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step(a)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 500, f"{faults} page faults in 20 steps (about 80,000 with glibc's own thresholds)"


def test_tgs_malloc_default_leaves_the_c_library_alone():
    code = "import tinygrad_seq as tg; print(tg.memory.TUNED)"
    out = subprocess.run([sys.executable, "-c", code], env={"TGS_MALLOC": "default", "PATH": ""},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
