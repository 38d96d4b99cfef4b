"""While scans run, glibc's malloc keeps freed memory for the next batch instead of handing each
large block back to the kernel (r2d2/malloc.py); its defaults are back when the last scan ends, and
a process that tuned malloc itself is left alone. Observed through glibc itself, in a fresh process
each (a long-lived heap may hold a free block that would hide the difference): whether a large
block is mapped on its own (mallinfo2's hblkhd) or taken from a heap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from r2d2 import malloc
from tests.conftest import write_sales_lake

ROOT = Path(__file__).resolve().parents[1]

OBSERVER = """
import ctypes, json, sys
from r2d2 import malloc

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                       "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
BLOCK = 8 * 2**20  # over glibc's default mmap threshold, under the scan's

def mapped():
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(BLOCK)
    try:
        return libc.mallinfo2().hblkhd - before >= BLOCK
    finally:
        libc.free(block)

seen = []
"""


def _observe(steps: str, env: dict[str, str] | None = None) -> list[object]:
    """What a fresh interpreter appends to `seen` running OBSERVER and then `steps`."""
    if malloc._libc() is None:
        pytest.skip("malloc here is not glibc's (or the environment tunes it): r2d2 leaves it alone")
    import ctypes

    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("glibc before 2.33: no mallinfo2 to observe malloc with")
    code = OBSERVER + steps + "\nprint(json.dumps(seen))\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_large_blocks_come_from_the_heap_while_scans_run_and_are_mapped_after() -> None:
    steps = """
seen.append(mapped())
seen.append(malloc.keep_freed_memory())
seen.append(mapped())
malloc.give_back()
seen.append(mapped())
"""
    assert _observe(steps) == [True, True, False, True]


def test_the_defaults_come_back_whatever_the_environment_says_by_then() -> None:
    steps = """
import os
seen.append(malloc.keep_freed_memory())
os.environ["MALLOC_TOP_PAD_"] = "131072"  # set during a scan: r2d2 still undoes what it did
malloc.give_back()
seen.append(mapped())
"""
    assert _observe(steps) == [True, True]


def test_a_scan_keeps_freed_memory_and_puts_the_defaults_back(lake: Path) -> None:
    write_sales_lake(lake)
    steps = f"""
import r2d2.pipeline as pipeline
from r2d2.config import ScanConfig
build = pipeline.build_schema_graph
def observed(profiles):
    seen.append(mapped())
    seen.append(pipeline._heap_kept)
    return build(profiles)
pipeline.build_schema_graph = observed
result = pipeline.run_scan({str(lake)!r}, None, ScanConfig(workers=1))
seen.append(any(e.status == "contained" for e in result.edges))
seen.append(mapped())
"""
    # during the scan: the probe taken from the heap (which glibc's own raising of its threshold may
    # also give, so the scan saying it kept the heap is checked too); after it, mapped again
    assert _observe(steps) == [False, True, True, True]


@pytest.mark.parametrize(("variable", "value"), [("MALLOC_TOP_PAD_", "131072"),
                                                 ("GLIBC_TUNABLES", "glibc.malloc.top_pad=131072")])
def test_a_process_that_tunes_malloc_itself_is_left_alone(variable: str, value: str) -> None:
    steps = """
seen.append(malloc.keep_freed_memory())
seen.append(mapped())
"""
    assert _observe(steps, {variable: value}) == [False, True]
