"""Give memory that big decodes freed back to the operating system (glibc only; elsewhere a no-op).

glibc serves an allocation from mmap only above a threshold that it raises, by default, to the
size of the largest block freed so far (up to 32 MiB). After one large image or video decode,
later ones of that size come from the per-thread arenas instead, and freed arena memory mostly stays
in the process: a server that decoded sixteen images at once kept 3.4 GB after they were done.
A fixed threshold turns that adjustment off, so every block of MMAP_THRESHOLD or more is unmapped
when freed; ``release_free_memory`` returns what the arenas hold free after a burst of decodes.
"""

from __future__ import annotations

import ctypes
import ctypes.util

MMAP_THRESHOLD = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def return_freed_memory_promptly() -> bool:
    """Fix glibc's mmap threshold for this process (call it once, at start-up); False where that is not glibc."""
    return _LIBC is not None and _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def release_free_memory() -> None:
    """Hand the free memory in every malloc arena back to the OS; a few milliseconds."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
