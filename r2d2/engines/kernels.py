"""Compiled loops of the fingerprint core, one pass over Arrow's buffers each: in C (_ckernels.c,
built with r2d2 where a C compiler is at hand), else numba's (_loops.py).

They compute exactly what the numpy code in engines/fingerprint.py computes (that code is their
reference, tested bit for bit against both, and runs instead when neither is installed, with
`R2D2_JIT=0`, or when verify reads too little to pay for loading numba). numpy needs a pass per
operation and a gather per 8-byte word position, which costs ~100 ns per string value; these loops
hash a short string in a few nanoseconds and release the GIL, so both cores hash at once. Numbers,
dates and timestamps are hashed in one pass over their buffer and validity bitmap, where numpy
needed a pass per operation and a copy per block.

The C loops load in about a millisecond. numba's are imported on first use: numba and LLVM cost
about 150 MB and, on this project's machines, 0.4-1.1 s of CPU to load, most of it holding the
interpreter lock the scan's threads need (real-shaped lake, scan_bench: a scan whose process had
loaded numba before was 0.9 s faster, 7.87 against 8.81 s). numba's compiled code is cached on
disk (beside _loops.py, or the user's cache folder when that is read-only), so only the first scan
on a machine pays the compilation (a few seconds; `make setup` does it with `warm`).
`R2D2_KERNELS=numba` chooses numba's loops where both are installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import numpy as np


def _installed() -> list[str]:
    """The compiled loops installed, best first: 'c' (built with r2d2), 'numba'."""
    found = []
    try:
        if importlib.util.find_spec("r2d2.engines._ckernels") is not None:
            found.append("c")
    except (ImportError, ValueError):
        pass
    if importlib.util.find_spec("numba") is not None:
        found.append("numba")
    return found


INSTALLED = _installed()
# Which compiled loops run: R2D2_KERNELS if installed, else the best installed; none with R2D2_JIT=0.
# Without them fingerprint.py's numpy code runs, and verify keeps its fingerprints in DuckDB.
LOOPS: str | None = None if os.environ.get("R2D2_JIT", "1") == "0" else (
    os.environ.get("R2D2_KERNELS") if os.environ.get("R2D2_KERNELS") in INSTALLED else
    (INSTALLED[0] if INSTALLED else None))
AVAILABLE = LOOPS is not None
# Whether fingerprint.py hashes with them now: an engine switches numba's off for a scan whose
# reads are too small to pay for loading numba (see engines/local.py JIT_MIN_BYTES; the C loops
# always pay). Either way the hashes are the same, bit for bit: this only chooses speed against
# start-up time and memory.
JIT = AVAILABLE
U64 = np.uint64
_MODULES = {"c": "r2d2.engines._ckernels", "numba": "r2d2.engines._loops"}


def loads_free() -> bool:
    """Whether the compiled loops cost nothing to load (C's; numba's take a second or so)."""
    return LOOPS == "c"


_LOADED: dict[str | None, Any] = {}


def _loops() -> Any:
    """The compiled loops' module (the same functions in C and in numba), imported on first use."""
    module = _LOADED.get(LOOPS)
    if module is None:
        if LOOPS is None:
            raise RuntimeError("no compiled loops are installed or chosen (R2D2_JIT=0)")
        module = _LOADED[LOOPS] = importlib.import_module(_MODULES[LOOPS])
    return module


def add_columns(hashes: tuple[np.ndarray, np.ndarray], entries: tuple[list[int], list[int], list[int], list[int]],
                position_keys: tuple[np.ndarray, np.ndarray], out: tuple[np.ndarray, np.ndarray]) -> None:
    """Add many columns' mixed value hashes (all from one array of hashes) into row fingerprints in
    one call: entries are (output start, rows, position in the set, start in `hashes`) lists."""
    ints = _rows(entries)
    _loops()._add_columns(_frozen(hashes[0]), _frozen(hashes[1]), ints[0], ints[1], ints[2], ints[3],
                          _frozen(position_keys[0]), _frozen(position_keys[1]), out[0], out[1])


def add_int_columns(values: np.ndarray, validity: Any, nulls: int, offset: int, add: tuple[int, int],
                    null: tuple[int, int], entries: tuple[list[int], list[int], list[int], list[int]],
                    position_keys: tuple[np.ndarray, np.ndarray], out: tuple[np.ndarray, np.ndarray]) -> None:
    """add_columns for integers (int64 as uint64 bits) whose value hashes int_lanes would give
    (x + `add` per lane, NULLs by Arrow's validity bitmap from bit `offset` as `null`), computed
    as they are added, never stored."""
    ints = _rows(entries)
    _loops()._add_int_columns(_frozen(values), _bitmap(validity, nulls), np.int64(offset), U64(add[0]), U64(add[1]),
                              U64(null[0]), U64(null[1]), ints[0], ints[1], ints[2], ints[3],
                              _frozen(position_keys[0]), _frozen(position_keys[1]), out[0], out[1])


def _rows(lists: tuple[list[int], ...]) -> np.ndarray:
    """Equally long lists of integers as the rows of one read-only int64 array (its rows are
    C-contiguous read-only views: what _frozen makes, in one conversion for all of them)."""
    table = np.array(lists, np.int64)
    table.flags.writeable = False
    return table


def _frozen(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, read-only view (a copy only when the array is not contiguous): numba compiles
    one version per argument type, writability included, so every caller passes the same kind. An
    array that is one already (Arrow's buffers, most of them) is passed as it is."""
    flags = array.flags
    if flags.c_contiguous and not flags.writeable:
        return array
    view = np.ascontiguousarray(array).view()
    view.flags.writeable = False
    return view


def group(a: np.ndarray, b: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each segment's distinct fingerprints, sorted, with counts: (a, b, count, segment starts).
    Each segment is ordered by its first lane, then its runs are counted: by the compiled loops (a
    bucket sort on the first lane's top bits), or by numpy (its argsort, then _runs_numpy). On this
    project's machine the bucket sort is 1.4x numpy's argsort and gathers on segments of 2,000 to
    50,000 rows, 2.2-2.6x on 1 to 4 million (benchmarks/kernel_bench.py, 2026-12-03)."""
    n = len(a)
    starts = starts.astype(np.int64)
    if JIT:
        sorted_a, sorted_b = np.empty(n, U64), np.empty(n, U64)
        _loops()._sort_by_first(_frozen(a), _frozen(b), _frozen(starts), sorted_a, sorted_b)
        out_a, out_b, out_count = np.empty(n, U64), np.empty(n, U64), np.empty(n, np.int64)
        out_starts = np.empty(len(starts), np.int64)
        m = _loops()._runs(_frozen(sorted_a), _frozen(sorted_b), _frozen(starts), out_a, out_b, out_count,
                           out_starts)
        if m == n:  # every fingerprint distinct (the usual case): the arrays are already the right size
            return out_a, out_b, out_count, out_starts
        return out_a[:m].copy(), out_b[:m].copy(), out_count[:m].copy(), out_starts
    return _runs_numpy(*_sorted_numpy(a, b, starts), starts)


def _sorted_numpy(a: np.ndarray, b: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with each segment ordered by its first lane, by numpy's argsort."""
    if len(starts) == 2:
        order = np.argsort(a)
    else:
        order = np.empty(len(a), np.int64)
        for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
            if hi - lo > 1:
                order[lo:hi] = np.argsort(a[lo:hi]) + lo
            elif hi > lo:
                order[lo] = lo
    return a[order], b[order]


def _runs_numpy(sa: np.ndarray, sb: np.ndarray,
                starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """_runs with numpy, each segment sorted by its first lane: runs of one (a, b) are counted.
    Equal first lanes with different second ones (about never: 64 random bits) are put in (a, b)
    order by one more sort, of the whole, by segment, a and b."""
    n = len(sa)
    segment = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    boundary = np.zeros(n, bool)
    boundary[starts[:-1][starts[:-1] < n]] = True
    same_a = np.zeros(n, bool)
    same_a[1:] = (sa[1:] == sa[:-1]) & ~boundary[1:]
    if bool(np.any(same_a[1:] & (sb[1:] != sb[:-1]))):
        order = np.lexsort((sb, sa, segment))
        sa, sb = sa[order], sb[order]
        same_a[1:] = (sa[1:] == sa[:-1]) & ~boundary[1:]
    new = np.ones(n, bool)
    new[1:] = ~(same_a[1:] & (sb[1:] == sb[:-1]))
    first = np.flatnonzero(new)
    count = np.diff(np.append(first, n)).astype(np.int64)
    out_starts = np.searchsorted(first, starts, side="left").astype(np.int64)
    return sa[first], sb[first], count, out_starts


def _missing_numpy(child: tuple[np.ndarray, ...], parent: tuple[np.ndarray, ...], bag: bool) -> tuple[int, int]:
    ca, cb, cc = child
    pa_, pb, pc = parent
    total = int(cc.sum()) if bag else len(ca)
    if len(pa_) and bool(np.any(pa_[1:] == pa_[:-1])):  # equal first lanes in the parent (rare): exactly
        have = {(int(x), int(y)): int(n) for x, y, n in zip(pa_, pb, pc)}
        found = np.array([have.get((int(x), int(y)), 0) for x, y in zip(ca, cb)], np.int64)
    else:
        at = np.minimum(np.searchsorted(pa_, ca), max(len(pa_) - 1, 0))
        hit = (pa_[at] == ca) & (pb[at] == cb) if len(pa_) else np.zeros(len(ca), bool)
        found = np.where(hit, pc[at] if len(pa_) else 0, 0)
    if bag:
        return int(np.maximum(cc - found, 0).sum()), total
    return int(np.count_nonzero(found == 0)), total


def missing(child: tuple[np.ndarray, np.ndarray, np.ndarray], parent: tuple[np.ndarray, np.ndarray, np.ndarray],
            bag: bool) -> tuple[int, int]:
    """(child rows missing from the parent, child rows) for two grouped fingerprint multisets."""
    if not JIT:
        return _missing_numpy(child, parent, bag)
    ca, cb, cc = (_frozen(x) for x in child)
    pa_, pb, pc = (_frozen(x) for x in parent)
    m, t = _loops()._missing(ca, cb, cc, pa_, pb, pc, bool(bag))
    return int(m), int(t)


def bytes_lanes(offsets: np.ndarray, data: np.ndarray, word_keys: tuple[np.ndarray, np.ndarray],
                length_odd: tuple[int, int], kind_key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes of the byte-string value hashes of values `data[offsets[i]:offsets[i+1]]`."""
    n = len(offsets) - 1
    out_a, out_b = np.empty(n, U64), np.empty(n, U64)
    words = None
    if LOOPS == "numba":  # numba reads each word through a view at every byte offset; C by itself
        if len(data) < 9:  # at least two word positions: the view's layout is then always a strided one
            data = np.concatenate([data, np.zeros(9 - len(data), np.uint8)])
        data = _frozen(data)
        words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
        words.flags.writeable = False
    else:
        data = _frozen(data)
    _loops()._bytes_lanes(_frozen(offsets), data, words, _frozen(word_keys[0]), _frozen(word_keys[1]),
                          U64(length_odd[0]), U64(length_odd[1]), U64(kind_key[0]), U64(kind_key[1]), out_a, out_b)
    return out_a, out_b


_NO_BITMAP = np.zeros(0, np.uint8)
_NO_BITMAP.flags.writeable = False


def _bitmap(validity: Any, nulls: int) -> np.ndarray:
    """Arrow's validity bitmap as bytes for the loops (empty when there are no nulls)."""
    if validity is None or nulls == 0:
        return _NO_BITMAP
    return _frozen(np.frombuffer(validity, np.uint8))


def int_lanes(x: np.ndarray, validity: Any, nulls: int, offset: int, add: tuple[int, int],
              null: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes of integer value hashes: x (int64) plus `add` per lane, NULLs (by Arrow's
    validity bitmap from bit `offset`) as `null`."""
    out_a, out_b = np.empty(len(x), U64), np.empty(len(x), U64)
    _loops()._int_lanes(_frozen(x.view(U64)), _bitmap(validity, nulls), np.int64(offset), U64(add[0]), U64(add[1]),
                        U64(null[0]), U64(null[1]), out_a, out_b)
    return out_a, out_b


def take_lanes(hashes: tuple[np.ndarray, np.ndarray], indices: np.ndarray, validity: Any, nulls: int, offset: int,
               null: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes of a dictionary array's value hashes: its dictionary's `hashes` taken by
    `indices` (int32, each within the dictionary), NULL indices (by Arrow's validity bitmap from
    bit `offset`) as `null`."""
    out_a, out_b = np.empty(len(indices), U64), np.empty(len(indices), U64)
    _loops()._take_lanes(_frozen(hashes[0]), _frozen(hashes[1]), _frozen(indices), _bitmap(validity, nulls),
                         np.int64(offset), U64(null[0]), U64(null[1]), out_a, out_b)
    return out_a, out_b


def double_lanes(v: np.ndarray, validity: Any, nulls: int, offset: int, adds: dict[str, tuple[int, int]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Both lanes of double value hashes (adds: the 'int', 'float', 'nan' and 'null' constants per
    lane), and a mask of the integral doubles of 2^63 or more in magnitude, which the caller
    hashes (None when there are none)."""
    v = _frozen(v)
    out_a, out_b, huge = np.empty(len(v), U64), np.empty(len(v), U64), np.zeros(len(v), np.uint8)
    flagged = _loops()._double_lanes(v, v.view(U64), _bitmap(validity, nulls), np.int64(offset),
                                     *(U64(adds[k][lane]) for k in ("int", "float", "nan", "null") for lane in (0, 1)),
                                     out_a, out_b, huge)
    return out_a, out_b, (huge.view(bool) if flagged else None)


def instant_lanes(counts: np.ndarray, per_second: int, ns_per_unit: int, validity: Any, nulls: int, offset: int,
                  tweak: tuple[int, int], null: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes of timestamp value hashes from raw counts of a unit (see _loops._instant_lanes)."""
    out_a, out_b = np.empty(len(counts), U64), np.empty(len(counts), U64)
    _loops()._instant_lanes(_frozen(counts), np.int64(per_second), np.int64(ns_per_unit), _bitmap(validity, nulls),
                            np.int64(offset), U64(tweak[0]), U64(tweak[1]), U64(null[0]), U64(null[1]), out_a, out_b)
    return out_a, out_b


def decimal_lanes(words: np.ndarray, scale: int, validity: Any, nulls: int, offset: int,
                  constants: dict[str, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Both lanes of decimal128 value hashes from Arrow's buffer (`words`: int64 pairs, low word
    first), and a mask of the values whose unscaled value does not fit 64 bits, which the caller
    hashes (None when there are none). constants: 'int', 'decimal' (raw tweak) and 'null'."""
    n = len(words) // 2
    out_a, out_b, wide = np.empty(n, U64), np.empty(n, U64), np.zeros(n, np.uint8)
    flagged = _loops()._decimal_lanes(_frozen(words), np.int64(scale), _bitmap(validity, nulls), np.int64(offset),
                                      *(U64(constants[k][lane]) for k in ("int", "decimal", "null") for lane in (0, 1)),
                                      out_a, out_b, wide)
    return out_a, out_b, (wide.view(bool) if flagged else None)


def warm(every: bool = False) -> None:
    """Run every loop on tiny inputs, each in the argument types the scan passes: numba's are then
    compiled (or loaded from numba's cache). `every`: each installed kind of loops in turn (`make
    setup` and the benchmarks, never beside a scan), so that no scan pays numba's compilation,
    whichever loops it runs; else the ones chosen."""
    global LOOPS
    if every and AVAILABLE:
        chosen = LOOPS
        try:
            for kind in INSTALLED:
                LOOPS = kind
                warm()
        finally:
            LOOPS = chosen
        return
    if not AVAILABLE:
        return
    import pyarrow as pa

    from r2d2.arrays import numpy_array, text_array
    from r2d2.engines.fingerprint import Keys

    keys = Keys.fresh()
    for dtype in (pa.string(), pa.large_string()):  # both offset widths, whatever kernels.JIT says now
        array = text_array(["a", "bcdefghijk", None], dtype)
        wide = pa.types.is_large_string(dtype)
        offsets = np.frombuffer(array.buffers()[1], np.int64 if wide else np.int32)[:len(array) + 1]
        bytes_lanes(offsets, np.frombuffer(array.buffers()[2], np.uint8), keys.word_keys(2), (1, 3), (5, 7))
    a, b = np.array([3, 1, 3], U64), np.array([2, 2, 2], U64)
    a.flags.writeable = b.flags.writeable = False  # as the scan's arrays from Arrow's buffers are
    grouped = group(a, b, np.array([0, 3]))
    add_columns((a, b), ([0], [3], [0], [0]), (a[:1].copy(), b[:1].copy()), (np.zeros(3, U64), np.zeros(3, U64)))
    missing(grouped[:3], grouped[:3], True)
    for valid in ([True, False, True], [True, True, True]):
        nulls = numpy_array(np.array([1, 0, 3], np.int64), valid=np.array(valid))
        validity, ints = nulls.buffers()[0], np.frombuffer(nulls.buffers()[1], np.int64)[:3]
        int_lanes(ints, validity, nulls.null_count, 0, (1, 2), (3, 4))
        take_lanes((a, b), np.zeros(3, np.int32), validity, nulls.null_count, 0, (3, 4))
        add_int_columns(ints.view(U64), validity, nulls.null_count, 0, (1, 2), (3, 4), ([0], [3], [0], [0]),
                        (a, b), (np.zeros(3, U64), np.zeros(3, U64)))
        instant_lanes(ints, 1000, 1_000_000, validity, nulls.null_count, 0, (1, 2), (3, 4))
        constants = dict.fromkeys(("int", "float", "nan", "null"), (1, 2))
        double_lanes(ints.astype(np.float64), validity, nulls.null_count, 0, constants)
        decimal_lanes(np.repeat(ints, 2), 2, validity, nulls.null_count, 0, dict(constants, decimal=(1, 2)))
