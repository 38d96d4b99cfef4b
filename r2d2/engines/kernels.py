"""Compiled loops of the fingerprint core (numba), one pass over Arrow's buffers each.

They compute exactly what the numpy code in engines/fingerprint.py computes (that code is their
reference, tested bit for bit against them, and runs instead when numba cannot be imported or
`R2D2_JIT=0`). numpy needs a pass per operation and a gather per 8-byte word position, which costs
~100 ns per string value; these loops hash a short string in a few nanoseconds and release the GIL,
so both cores hash at once.

Compiled code is cached on disk (numba's cache: beside this file, or the user's cache folder when
that is read-only), so only the first scan on a machine pays the compilation (about a second).
"""

from __future__ import annotations

import os

import numpy as np

try:  # pragma: no cover - exercised by whichever of the two is installed
    if os.environ.get("R2D2_JIT", "1") == "0":
        raise ImportError("R2D2_JIT=0")
    from numba import njit
    JIT = True
except ImportError:  # numba missing (or switched off): fingerprint.py's numpy code runs
    JIT = False

U64 = np.uint64
_M1, _M2 = U64(0xBF58476D1CE4E5B9), U64(0x94D049BB133111EB)
_S30, _S27, _S31, _S8 = U64(30), U64(27), U64(31), U64(8)
_ALL = U64(0xFFFFFFFFFFFFFFFF)

if JIT:
    @njit(inline="always", cache=True)
    def _fmix(z):
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)

    @njit(nogil=True, cache=True)
    def _bytes_lanes(offsets, data, words, wka, wkb, length_a, length_b, kind_a, kind_b,
                     out_a, out_b):
        """fingerprint._bytes_lanes, a value at a time: per 8-byte word j of the value (its last
        word zero-padded), fmix(word + key_j) summed per lane; then xor fmix(length * odd + kind key)
        and fmix. `words` views `data` as little-endian uint64 at every byte offset (stride 1)."""
        n = offsets.shape[0] - 1
        safe = words.shape[0]  # words[p] is inside the buffer for p < safe
        for i in range(n):
            start, end = offsets[i], offsets[i + 1]
            sum_a, sum_b = U64(0), U64(0)
            j, p = 0, start
            while p < end:
                rest = end - p
                if p < safe:
                    w = words[p]
                    if rest < 8:
                        w &= _ALL >> (U64(8 - rest) * _S8)
                else:  # the buffer's last bytes: assembled one at a time
                    w = U64(0)
                    for q in range(min(rest, 8)):
                        w |= U64(data[p + q]) << (U64(q) * _S8)
                sum_a += _fmix(w + wka[j])
                sum_b += _fmix(w + wkb[j])
                j += 1
                p += 8
            size = U64(end - start)
            sum_a ^= _fmix(size * length_a + kind_a)
            sum_b ^= _fmix(size * length_b + kind_b)
            out_a[i] = _fmix(sum_a)
            out_b[i] = _fmix(sum_b)

    @njit(nogil=True, cache=True)
    def _add_mixed(out, column, key):
        """out += fmix(column + key), in one pass."""
        for i in range(out.shape[0]):
            out[i] += _fmix(column[i] + key)


    @njit(nogil=True, cache=True)
    def _runs(sa, sb, starts, out_a, out_b, out_count, out_starts):
        """For each segment [starts[s], starts[s+1]) of (sa, sb), already sorted by sa: its distinct
        pairs in (a, b) order with their counts, written from out_starts[s]. Returns how many."""
        m = 0
        for s in range(starts.shape[0] - 1):
            lo, hi = starts[s], starts[s + 1]
            out_starts[s] = m
            i = lo
            while i < hi:
                j = i + 1
                while j < hi and sa[j] == sa[i]:
                    j += 1
                same = True
                for q in range(i + 1, j):
                    if sb[q] != sb[i]:
                        same = False
                        break
                if same:  # one row (the same row again, mostly): no copy, no sort
                    out_a[m], out_b[m], out_count[m] = sa[i], sb[i], j - i
                    m += 1
                else:  # equal first lanes, different second ones: order by the second
                    run = np.sort(sb[i:j])
                    k = 0
                    while k < j - i:
                        q = k + 1
                        while q < j - i and run[q] == run[k]:
                            q += 1
                        out_a[m], out_b[m], out_count[m] = sa[i], run[k], q - k
                        m += 1
                        k = q
                i = j
        out_starts[starts.shape[0] - 1] = m
        return m

    @njit(nogil=True, cache=True)
    def _missing(ca, cb, cc, pa, pb, pc, bag):
        """Child rows (bag) or distinct rows (set) whose fingerprint the parent lacks (or has fewer
        times), and the child's total, both sides distinct and sorted by (a, b). A child much
        smaller than its parent searches it; otherwise the two are merged."""
        missing, total = 0, 0
        n_parent = pa.shape[0]
        search = ca.shape[0] * 16 < n_parent
        j = 0
        for i in range(ca.shape[0]):
            x, y = ca[i], cb[i]
            if search:  # the first parent entry >= (x, y), from j on
                lo, hi = j, n_parent
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if pa[mid] < x or (pa[mid] == x and pb[mid] < y):
                        lo = mid + 1
                    else:
                        hi = mid
                j = lo
            else:
                while j < n_parent and (pa[j] < x or (pa[j] == x and pb[j] < y)):
                    j += 1
            found = pc[j] if j < n_parent and pa[j] == x and pb[j] == y else 0
            if bag:
                total += cc[i]
                if cc[i] > found:
                    missing += cc[i] - found
            else:
                total += 1
                if found == 0:
                    missing += 1
        return missing, total


if JIT:
    @njit(nogil=True, cache=True)
    def _add_columns(ha, hb, out_start, n_rows, key_index, source, key_a, key_b, out_a, out_b):
        """For each entry e (a column of a column set): out[out_start[e] + r] += fmix(hash[source[e]
        + r] + position key key_index[e]), per lane, for its n_rows[e] rows."""
        for e in range(out_start.shape[0]):
            o, n, src = out_start[e], n_rows[e], source[e]
            ka, kb = key_a[key_index[e]], key_b[key_index[e]]
            for r in range(n):
                out_a[o + r] += _fmix(ha[src + r] + ka)
                out_b[o + r] += _fmix(hb[src + r] + kb)


def add_columns(hashes: tuple[np.ndarray, np.ndarray], entries: tuple[list[int], list[int], list[int], list[int]],
                position_keys: tuple[np.ndarray, np.ndarray], out: tuple[np.ndarray, np.ndarray]) -> None:
    """Add many columns' mixed value hashes (all from one array of hashes) into row fingerprints in
    one call: entries are (output start, rows, position in the set, start in `hashes`) lists."""
    ints = [_frozen(np.array(x, np.int64)) for x in entries]
    _add_columns(_frozen(hashes[0]), _frozen(hashes[1]), ints[0], ints[1], ints[2], ints[3],
                 _frozen(position_keys[0]), _frozen(position_keys[1]), out[0], out[1])


def _frozen(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, read-only view (a copy only when the array is not contiguous): numba compiles
    one version per argument type, writability included, so every caller passes the same kind."""
    view = np.ascontiguousarray(array).view()
    view.flags.writeable = False
    return view


def group(a: np.ndarray, b: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each segment's distinct fingerprints, sorted, with counts: (a, b, count, segment starts).
    numpy sorts (its vectorised argsort: several times numba's), the compiled loop counts."""
    n = len(a)
    starts = starts.astype(np.int64)
    if len(starts) == 2:
        order = np.argsort(a)
    else:
        order = np.empty(n, np.int64)
        for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
            if hi - lo > 1:
                order[lo:hi] = np.argsort(a[lo:hi]) + lo
            elif hi > lo:
                order[lo] = lo
    out_a, out_b, out_count = np.empty(n, U64), np.empty(n, U64), np.empty(n, np.int64)
    out_starts = np.empty(len(starts), np.int64)
    m = _runs(_frozen(a[order]), _frozen(b[order]), _frozen(starts), out_a, out_b, out_count, out_starts)
    return out_a[:m].copy(), out_b[:m].copy(), out_count[:m].copy(), out_starts


def missing(child: tuple[np.ndarray, np.ndarray, np.ndarray], parent: tuple[np.ndarray, np.ndarray, np.ndarray],
            bag: bool) -> tuple[int, int]:
    """(child rows missing from the parent, child rows) for two grouped fingerprint multisets."""
    ca, cb, cc = (_frozen(x) for x in child)
    pa_, pb, pc = (_frozen(x) for x in parent)
    m, t = _missing(ca, cb, cc, pa_, pb, pc, bool(bag))
    return int(m), int(t)


def bytes_lanes(offsets: np.ndarray, data: np.ndarray, word_keys: tuple[np.ndarray, np.ndarray],
                length_odd: tuple[int, int], kind_key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes of the byte-string value hashes of values `data[offsets[i]:offsets[i+1]]`."""
    n = len(offsets) - 1
    out_a, out_b = np.empty(n, U64), np.empty(n, U64)
    if len(data) < 9:  # at least two word positions: the view's layout is then always a strided one
        data = np.concatenate([data, np.zeros(9 - len(data), np.uint8)])
    data = _frozen(data)
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    words.flags.writeable = False
    _bytes_lanes(_frozen(offsets), data, words, _frozen(word_keys[0]), _frozen(word_keys[1]),
                 U64(length_odd[0]), U64(length_odd[1]), U64(kind_key[0]), U64(kind_key[1]), out_a, out_b)
    return out_a, out_b


def add_mixed(out: np.ndarray, column: np.ndarray, key: np.uint64) -> None:
    """out += fmix(column + key) (uint64 arrays of one length)."""
    _add_mixed(out, _frozen(column), U64(key))


def warm() -> None:
    """Compile (or load from numba's cache) every loop on tiny inputs, each in the argument types
    the scan passes: `make setup` and the benchmarks call this, so no scan pays the compilation."""
    if not JIT:
        return
    import pyarrow as pa

    from r2d2.engines.fingerprint import Keys, combine, value_hashes

    keys = Keys.fresh()
    for dtype in (pa.string(), pa.large_string()):
        hashed = value_hashes(pa.array(["a", "bcdefghijk", None], dtype), pa.string(), keys)
    combine([hashed, hashed], keys)
    table = pa.table({"a": pa.array([3, 1, 3], pa.uint64()), "b": pa.array([2, 2, 2], pa.uint64())})
    a, b = table.column("a").to_numpy(), table.column("b").to_numpy()
    grouped = group(a, b, np.array([0, 3]))
    add_columns((a, b), ([0], [3], [0], [0]), (a[:1].copy(), b[:1].copy()), (np.zeros(3, U64), np.zeros(3, U64)))
    missing(grouped[:3], grouped[:3], True)
