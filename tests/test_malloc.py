"""While scans run, glibc's malloc keeps freed memory for the next batch instead of handing each
large block back to the kernel (r2d2/malloc.py); its defaults are back when the last scan ends, and
a process that tuned malloc itself is left alone. Observed through glibc itself: whether a large
block is mapped on its own (mallinfo2's hblkhd) or taken from a heap."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

import r2d2.pipeline as pipeline
from r2d2 import malloc
from r2d2.config import ScanConfig
from tests.conftest import write_sales_lake

BLOCK = 8 * 2**20  # over glibc's default mmap threshold, under the scan's


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc() -> ctypes.CDLL:
    if malloc._libc() is None:
        pytest.skip("malloc here is not glibc's (or the environment tunes it): r2d2 leaves it alone")
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc before 2.33: no mallinfo2 to observe malloc with")
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def _mapped_on_its_own(libc: ctypes.CDLL) -> bool:
    """Whether a BLOCK-byte malloc gets pages of its own from the kernel (freed: handed back)."""
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(BLOCK)
    try:
        return libc.mallinfo2().hblkhd - before >= BLOCK
    finally:
        libc.free(block)


def test_large_blocks_come_from_the_heap_while_scans_run_and_are_mapped_after() -> None:
    libc = _libc()
    malloc.give_back()  # glibc's defaults, whatever earlier tests did
    assert _mapped_on_its_own(libc)
    assert malloc.keep_freed_memory()
    try:
        assert not _mapped_on_its_own(libc)
    finally:
        malloc.give_back()
    assert _mapped_on_its_own(libc)


def test_a_scan_keeps_freed_memory_and_puts_the_defaults_back(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _libc()
    malloc.give_back()
    write_sales_lake(lake)
    during: list[bool] = []
    build = pipeline.build_schema_graph

    def observed(profiles: list) -> object:
        during.append(_mapped_on_its_own(libc))
        return build(profiles)

    monkeypatch.setattr(pipeline, "build_schema_graph", observed)
    result = pipeline.run_scan(str(lake), None, ScanConfig(workers=1))
    assert any(e.status == "contained" for e in result.edges)
    assert during == [False]
    assert _mapped_on_its_own(libc)


@pytest.mark.parametrize("variable", ["MALLOC_TOP_PAD_", "GLIBC_TUNABLES"])
def test_a_process_that_tunes_malloc_itself_is_left_alone(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _libc()
    malloc.give_back()
    monkeypatch.setenv(variable, "glibc.malloc.top_pad=131072" if variable == "GLIBC_TUNABLES" else "131072")
    assert not malloc.keep_freed_memory()
    assert _mapped_on_its_own(libc)
