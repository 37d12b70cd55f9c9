"""Keep freed array memory for the next step: no page-fault storm on every training step.

numpy asks the C library's ``malloc`` for each new array.  glibc serves a block of
more than 128 KiB (a (32, 1024) float32 array, the gates of an LSTM step at batch
32 and hidden 256, is exactly that) with fresh pages straight from the kernel
(``mmap``) and returns them on ``free``.  A training step makes the same arrays
again every step, so every step pays thousands of page faults: the kernel zeroes
each 4 KiB page again, and the time of a step swings from run to run with it.

``keep_freed_memory()`` raises glibc's two thresholds once, at import: blocks up
to ``MMAP_THRESHOLD`` come from the heap, and freed memory up to ``TRIM_THRESHOLD``
stays there for the next allocation.  The numbers computed are the same; the
process may hold up to ``TRIM_THRESHOLD`` of freed memory.  Set the environment
variable ``TGS_MALLOC=default`` before importing tinygrad_seq to leave glibc's
settings alone.  Other C libraries (macOS, Windows, musl) are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 64 << 20  # 64 MiB: larger arrays still come from mmap (and go back at once)
TRIM_THRESHOLD = 256 << 20  # keep up to 256 MiB of freed memory for reuse
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring); True if they were set."""
    if os.environ.get("TGS_MALLOC") == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc: its mallopt (if any) means something else
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


TUNED = keep_freed_memory()
