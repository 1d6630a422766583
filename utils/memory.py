"""Allocator settings that make training faster on Linux."""
from __future__ import annotations

import ctypes
import platform

#: mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse instead of returning them to the OS.

    A training step allocates and frees tensors of a few hundred kB to a few MB (a minibatch's
    activations and gradients). glibc serves blocks above its mmap threshold with fresh pages from the
    OS and unmaps them when freed, so the kernel zeroes every page again on first touch: about 7,000
    page faults per serial iteration, a tenth of its time (docs/design_notes.md). With the thresholds
    raised, blocks up to `mmap_threshold` bytes come from the heap, which keeps up to `trim_threshold`
    free bytes instead of shrinking. The process holds at most that much more memory.

    Returns True if the settings were applied; False (nothing changed) where the C library is not
    glibc (macOS, Windows, musl), whose allocators are left as they are.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success, 0 if a value is out of range
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))
