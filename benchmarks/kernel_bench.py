"""Kernel benchmark: the fingerprint core's compiled loops against their earlier forms, in one
process, on the same arrays (every result checked equal to the baseline's, bit for bit).

    python -m benchmarks.kernel_bench [--repeat 7] [--loops numba|c]

The baselines are numba loops (the earlier forms); r2d2's side runs numba's loops too unless
`--loops c` chooses the C ones (r2d2/engines/_ckernels.c, the same algorithms), which then
compares languages as well as forms.

Prints, per loop and shape: nanoseconds per value for the baseline and for r2d2's loop (the best
of `--repeat` runs each, taken alternately), and their ratio.

- add_columns: adding each column's mixed value hashes into its sets' row fingerprints. The
  baseline indexes its arrays at `start + r`, as the loop did before; r2d2's indexes slices from 0,
  which lets LLVM tell the loads from the stores apart.
- add_int_columns: adding integer columns (a NULL in one row of 17, or none) into
  row fingerprints. The baseline stores their value hashes first (int_lanes), then adds them
  (add_columns), as fingerprint_many did before; r2d2's computes each hash as it adds it.
- int stacks: integer columns of many tables (small tables are hashed many at a time) added into
  their row fingerprints. The baseline copies them into one array first, as fingerprint_many did
  before; r2d2's adds each long column from its own buffers, one call per column, and copies
  only the short ones into one array (a call costs about what copying 2,000 values does).
- group: each segment's distinct fingerprints, sorted, with counts. The baseline orders each
  segment by numpy's argsort and gathers both lanes, as group did before; r2d2's buckets the
  fingerprints by their first lane's top bits and puts them in order where they lie. Both count the
  runs with the same loop. Also against group's buckets before (about 4 pairs each, a sort per
  bucket), on segments of 300 to 6 million rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
from numba import njit

from r2d2.engines import kernels
from r2d2.engines._loops import SMALL_BUCKET, _bucket, _fmix, _insertion_sort, _merge_sort, _runs
from r2d2.engines.fingerprint import own_stacks

U64 = np.uint64


@njit(nogil=True)
def _add_columns_offsets(ha, hb, out_start, n_rows, key_index, source, key_a, key_b, out_a, out_b):  # type: ignore[no-untyped-def]
    """The baseline: _loops._add_columns as it was, indexed at offsets."""
    for e in range(out_start.shape[0]):
        o, n, src = out_start[e], n_rows[e], source[e]
        ka, kb = key_a[key_index[e]], key_b[key_index[e]]
        for r in range(n):
            out_a[o + r] += _fmix(ha[src + r] + ka)
            out_b[o + r] += _fmix(hb[src + r] + kb)


def compare(label: str, baseline: Callable[[], tuple[np.ndarray, ...]], ours: Callable[[], tuple[np.ndarray, ...]],
            values: int, repeat: int) -> None:
    """Time both alternately (this machine's speed drifts), check they agree, print ns per value."""
    first = baseline(), ours()  # compiled (or loaded from numba's cache) before timing
    if not all(np.array_equal(x, y) for x, y in zip(*first)):
        raise SystemExit(f"{label}: r2d2's loop and the baseline differ")
    best = {baseline: float("inf"), ours: float("inf")}
    for _ in range(repeat):
        for run in (baseline, ours):
            start = time.perf_counter()
            run()
            best[run] = min(best[run], time.perf_counter() - start)
    base, mine = best[baseline] * 1e9 / values, best[ours] * 1e9 / values
    print(f"{label:<40}{base:>13.2f}{mine:>9.2f}{base / mine:>7.2f}x")


def bench_add_columns(rows: int, sets: int, width: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, rows * width, dtype=np.int64).view(U64)
    ha, hb = hashes, hashes[::-1].copy()
    # each set adds the same `width` columns of the stack; its rows follow the previous set's
    out_start = np.repeat(np.arange(sets, dtype=np.int64) * rows, width)
    n_rows = np.full(sets * width, rows, np.int64)
    key_index = np.tile(np.arange(width, dtype=np.int64), sets)
    source = np.tile(np.arange(width, dtype=np.int64) * rows, sets)
    keys_a = rng.integers(0, 2**63, width, dtype=np.int64).view(U64)
    keys_b = keys_a[::-1].copy()
    entries = (out_start.tolist(), n_rows.tolist(), key_index.tolist(), source.tolist())

    def ours() -> tuple[np.ndarray, ...]:
        out = (np.zeros(rows * sets, U64), np.zeros(rows * sets, U64))
        kernels.add_columns((ha, hb), entries, (keys_a, keys_b), out)
        return out

    def baseline() -> tuple[np.ndarray, ...]:
        out = (np.zeros(rows * sets, U64), np.zeros(rows * sets, U64))
        _add_columns_offsets(ha, hb, out_start, n_rows, key_index, source, keys_a, keys_b, *out)
        return out

    compare(f"add_columns {rows:,} rows x {sets} sets x {width}", baseline, ours, rows * sets * width, repeat)


def bench_int_columns(rows: int, sets: int, nulls_every: int, repeat: int) -> None:
    import pyarrow as pa

    rng = np.random.default_rng(0)
    values = rng.integers(-(2**40), 2**40, rows, dtype=np.int64)
    array = pa.array(values, mask=(np.arange(rows) % nulls_every == 0) if nulls_every else None)
    validity, x = array.buffers()[0], np.frombuffer(array.buffers()[1], np.int64)[:rows]
    keys_a = rng.integers(0, 2**63, sets, dtype=np.int64).view(U64)
    keys_b = keys_a[::-1].copy()
    # the column at position k of set k, each set's rows after the previous set's
    entries = ([k * rows for k in range(sets)], [rows] * sets, list(range(sets)), [0] * sets)
    add, null = (int(keys_a[0]), int(keys_b[0])), (12345, 67890)

    def ours() -> tuple[np.ndarray, ...]:
        out = (np.zeros(rows * sets, U64), np.zeros(rows * sets, U64))
        kernels.add_int_columns(x.view(U64), validity, array.null_count, 0, add, null, entries, (keys_a, keys_b), out)
        return out

    def baseline() -> tuple[np.ndarray, ...]:
        out = (np.zeros(rows * sets, U64), np.zeros(rows * sets, U64))
        hashes = kernels.int_lanes(x, validity, array.null_count, 0, add, null)
        kernels.add_columns(hashes, entries, (keys_a, keys_b), out)
        return out

    shown = f", NULL/{nulls_every}" if nulls_every else ""
    compare(f"add_int_columns {rows:,} x {sets}{shown}", baseline, ours, rows * sets, repeat)


def bench_int_stacks(tables: int, rows: int, nulls_every: int, repeat: int) -> None:
    """Integer columns of many tables added into their row fingerprints (one set each). The
    baseline copies them into one array first (pa.concat_arrays), then adds it in one call, as
    fingerprint_many did before; r2d2's adds each long column from its own buffers, a call each,
    and copies only the short ones together (fingerprint.own_stacks)."""
    import pyarrow as pa

    rng = np.random.default_rng(0)
    columns = [pa.array(rng.integers(-(2**40), 2**40, rows, dtype=np.int64),
                        mask=(np.arange(rows) % nulls_every == 0) if nulls_every else None) for _ in range(tables)]
    keys = rng.integers(0, 2**63, 2, dtype=np.int64).view(U64)
    position_keys = (keys[:1].copy(), keys[1:].copy())
    add, null = (int(keys[0]), int(keys[1])), (12345, 67890)

    def added(column: pa.Array, entries: tuple[list[int], ...], out: tuple[np.ndarray, ...]) -> None:
        x = np.frombuffer(column.buffers()[1], np.int64)[column.offset:column.offset + len(column)]
        kernels.add_int_columns(x.view(U64), column.buffers()[0], column.null_count, column.offset, add, null,
                                entries, position_keys, out)

    def ours() -> tuple[np.ndarray, ...]:
        out = (np.zeros(rows * tables, U64), np.zeros(rows * tables, U64))
        for array, where in own_stacks(columns):
            added(array, ([t * rows for t, _ in where], [rows] * len(where), [0] * len(where),
                          [start for _, start in where]), out)
        return out

    def baseline() -> tuple[np.ndarray, ...]:
        out = (np.zeros(rows * tables, U64), np.zeros(rows * tables, U64))
        starts = [t * rows for t in range(tables)]
        added(pa.concat_arrays(columns), (starts, [rows] * tables, [0] * tables, starts), out)
        return out

    shown = f", NULL/{nulls_every}" if nulls_every else ""
    compare(f"int stacks {tables} x {rows:,}{shown}", baseline, ours, rows * tables, repeat)


def _group_argsort(a: np.ndarray, b: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """The baseline: kernels.group as it was, each segment ordered by numpy's argsort and gathers."""
    order = np.empty(len(a), np.int64)
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
        order[lo:hi] = np.argsort(a[lo:hi]) + lo
    n = len(a)
    out = np.empty(n, U64), np.empty(n, U64), np.empty(n, np.int64), np.empty(len(starts), np.int64)
    m = _runs(a[order], b[order], starts, *out)
    return out[0][:m], out[1][:m], out[2][:m], out[3]


@njit(nogil=True)
def _sort_per_bucket(a, b, starts, out_a, out_b):
    """The baseline: _loops._sort_by_first's buckets as they were, about 4 pairs a bucket, each
    sorted on its own (_sort_bucket on a slice of it), one pass up to 2^15 buckets, two beyond. Its
    insertion and merge sorts are today's (_loops._insertion_sort, which passes over a pair already
    in order, and _loops._merge_sort), so only the buckets differ."""
    counts = np.empty((1 << 15) + 1, np.int64)
    scratch_a, scratch_b = np.empty(0, U64), np.empty(0, U64)
    for s in range(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        dst_a, dst_b = out_a[lo:hi], out_b[lo:hi]
        bits = _old_bucket_bits(hi - lo)
        if bits <= 15:
            _bucket(a[lo:hi], b[lo:hi], dst_a, dst_b, counts, U64(64 - bits) if bits else U64(0), bits)
            for k in range(1 << bits):
                _sort_bucket(dst_a[counts[k]:counts[k + 1]], dst_b[counts[k]:counts[k + 1]])
            continue
        _bucket(a[lo:hi], b[lo:hi], dst_a, dst_b, counts, U64(64 - 11), 11)
        top = counts[:(1 << 11) + 1].copy()
        for k in range(1 << 11):
            bucket_a, bucket_b = dst_a[top[k]:top[k + 1]], dst_b[top[k]:top[k + 1]]
            size = bucket_a.shape[0]
            more = min(_old_bucket_bits(size), 15)
            if more == 0:
                _sort_bucket(bucket_a, bucket_b)
                continue
            if scratch_a.shape[0] < size:
                scratch_a, scratch_b = np.empty(size, U64), np.empty(size, U64)
            part_a, part_b = scratch_a[:size], scratch_b[:size]
            _bucket(bucket_a, bucket_b, part_a, part_b, counts, U64(64 - 11 - more), more)
            for q in range(1 << more):
                _sort_bucket(part_a[counts[q]:counts[q + 1]], part_b[counts[q]:counts[q + 1]])
            bucket_a[:] = part_a
            bucket_b[:] = part_b


@njit(inline="always")
def _sort_bucket(bucket_a, bucket_b):
    """The baseline's sort of one bucket: by insertion up to SMALL_BUCKET pairs, else merge sort."""
    if bucket_a.shape[0] <= SMALL_BUCKET:
        _insertion_sort(bucket_a, bucket_b)
    else:
        _merge_sort(bucket_a, bucket_b)


@njit(inline="always")
def _old_bucket_bits(m):
    bits = 0
    while bits < 48 and (4 << (bits + 1)) <= m:
        bits += 1
    return bits


def _group_per_bucket(a: np.ndarray, b: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(a)
    sorted_a, sorted_b = np.empty(n, U64), np.empty(n, U64)
    _sort_per_bucket(a, b, starts, sorted_a, sorted_b)
    out = np.empty(n, U64), np.empty(n, U64), np.empty(n, np.int64), np.empty(len(starts), np.int64)
    m = _runs(sorted_a, sorted_b, starts, *out)
    return out[0][:m], out[1][:m], out[2][:m], out[3]


def bench_group(rows: int, segments: int, repeat: int, baseline: str = "argsort") -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, rows, dtype=np.int64).view(U64)
    b = rng.integers(0, 2**63, rows, dtype=np.int64).view(U64)
    a[::10], b[::10] = a[0], b[0]  # a tenth of the rows: copies of one row
    starts = np.linspace(0, rows, segments + 1).astype(np.int64)
    base = _group_argsort if baseline == "argsort" else _group_per_bucket
    compare(f"group {rows:,} rows in {segments} segments" if baseline == "argsort" else
            f"group {rows:,} in {segments:,}, per-bucket sorts",
            lambda: base(a, b, starts), lambda: kernels.group(a, b, starts), rows, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--loops", choices=["numba", "c"], default="numba",
                        help="r2d2's loops to time against the (numba) baselines")
    args = parser.parse_args(argv)
    if args.loops not in kernels.INSTALLED:
        print(f"{args.loops}'s loops are not installed here: nothing to measure")
        return 1
    kernels.LOOPS, kernels.JIT = args.loops, True  # whatever R2D2_KERNELS says
    print(f"{'loop and shape':<40}{'baseline ns':>13}{'r2d2 ns':>9}{'ratio':>8}")
    for rows, sets, width in ((2_000, 20, 8), (20_000, 4, 8), (200_000, 3, 30), (2_000_000, 2, 10)):
        bench_add_columns(rows, sets, width, args.repeat)
    for rows, sets, nulls_every in ((20_000, 1, 0), (2_000_000, 1, 0), (2_000_000, 1, 17), (2_000_000, 3, 17)):
        bench_int_columns(rows, sets, nulls_every, args.repeat)
    for tables, rows, nulls_every in ((500, 300, 0), (500, 3_000, 17), (50, 100_000, 0), (50, 100_000, 17)):
        bench_int_stacks(tables, rows, nulls_every, args.repeat)
    for rows, segments in ((20_000, 10), (200_000, 4), (1_000_000, 1), (4_000_000, 2)):
        bench_group(rows, segments, args.repeat)
    for rows, segments in ((300_000, 1_000), (300_000, 100), (1_000_000, 20), (300_000, 1), (6_000_000, 1)):
        bench_group(rows, segments, args.repeat, baseline="per bucket")
    return 0


if __name__ == "__main__":
    sys.exit(main())
