"""glibc's malloc while scans run: memory freed by one batch kept for the next.

By default glibc gives each block over its mmap threshold (128 KB, raised up to 32 MB as such blocks
are freed) fresh pages from the kernel and hands them back when the block is freed, and gives back
any free memory over 128 KB at the top of a heap. A scan allocates and frees arrays of several MB
per batch (decoded columns, value hashes, row fingerprints), so the kernel kept mapping, zeroing
and unmapping the same memory: on the real-shaped benchmark lake about 240,000 page faults and 0.9 s
of system time, in a verify of 5.6 s of CPU. While scans run, blocks up to 32 MB come from malloc's
heaps, which grow 64 MB at a time and keep up to 256 MB free for the next batch. The settings go
back to glibc's defaults (mallopt(3)) when the last scan ends, and the free memory is returned;
glibc's raising of the mmap threshold as blocks are freed stays off after (mallopt turns it off).

Nothing is changed where malloc is not glibc's, or where the process chose its own settings
(MALLOC_*_ variables or glibc.malloc tunables).
"""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Any

# mallopt(3)'s parameters and glibc's defaults for them
_TRIM_THRESHOLD, _TOP_PAD, _MMAP_THRESHOLD = -1, -2, -3
_DEFAULTS = {_TRIM_THRESHOLD: 128 * 1024, _TOP_PAD: 128 * 1024, _MMAP_THRESHOLD: 128 * 1024}
_SCAN = {_MMAP_THRESHOLD: 32 * 2**20, _TRIM_THRESHOLD: 256 * 2**20, _TOP_PAD: 64 * 2**20}
_OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def _glibc() -> Any | None:
    """glibc, when it is this process's malloc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


def _libc() -> Any | None:
    """glibc, when it is this process's malloc and the process left its settings alone."""
    if any(name in os.environ for name in _OWN_SETTINGS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return None
    return _glibc()


def keep_freed_memory() -> bool:
    """The scan's settings; False when malloc was left alone (then give_back must not run)."""
    libc = _libc()
    if libc is None:
        return False
    return any([libc.mallopt(param, value) == 1 for param, value in _SCAN.items()])  # each applied


def give_back() -> None:
    """glibc's defaults again, and the heaps' free memory returned to the system (after
    keep_freed_memory said True, whatever the environment says now)."""
    libc = _glibc()
    if libc is None:
        return
    for param, value in _DEFAULTS.items():
        libc.mallopt(param, value)
    libc.malloc_trim(0)
