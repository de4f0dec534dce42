"""Process-wide allocator settings for the command (never applied by the Python API).

glibc serves every allocation over 128 KiB with a fresh ``mmap`` and gives it back on ``free``,
and it trims the heap's top whenever more than twice that lies free. A streaming evaluation
allocates and frees arrays of a few MiB thousands of times a second, and each one is then
page-faulted in and zeroed by the kernel again: on 1,000,000 × 100 predictions that churn cost
more system time than the arithmetic. Raising both thresholds keeps the memory in the heap for
reuse; it stays bounded by the largest working set, which the streaming design already bounds.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt parameters from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 64 << 20
_TRIM_THRESHOLD = 256 << 20


def keep_freed_memory_for_reuse() -> bool:
    """Tell glibc's malloc to reuse freed blocks of up to 64 MiB; ``False`` where there is no
    glibc (macOS, Windows, musl), which changes nothing but speed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
