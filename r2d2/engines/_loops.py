"""The compiled loops of engines/kernels.py (numba). Imported on first use only: numba and LLVM
take about 150 MB and 0.4 s to load, which commands that never hash (plan, report, apply) and
scans on numpy's path do not pay. Call them through kernels.py, which passes read-only contiguous
arrays (numba compiles one version per argument type) and documents what each computes."""

# mypy: ignore-errors
import numpy as np
from numba import njit

U64 = np.uint64
_M1, _M2 = U64(0xBF58476D1CE4E5B9), U64(0x94D049BB133111EB)
_S30, _S27, _S31, _S8 = U64(30), U64(27), U64(31), U64(8)
_ALL = U64(0xFFFFFFFFFFFFFFFF)


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


SMALL_BUCKET = 32  # at most this many rows: sorted by the insertion pass; more (copies of a row, mostly): a merge sort
ONE_PASS_BITS = 16  # segments of up to 65,536 rows are bucketed in one pass
TOP_BITS = 11  # larger ones in two: 2,048 buckets first, whose write positions stay in the cache


@njit(nogil=True, cache=True)
def _sort_by_first(a, b, starts, out_a, out_b):
    """(a, b) of each segment [starts[s], starts[s+1]) into out_a, out_b, ordered by a (pairs with
    equal first lanes in any order: _runs orders those by the second). First lanes are hashes,
    spread evenly: pairs are put in buckets by the top bits of a, at least as many buckets as
    pairs (half to one pair a bucket on average), then put in order where they lie (_sort_buckets).
    A segment of more than 2^ONE_PASS_BITS pairs is bucketed in two passes (TOP_BITS, then the
    next bits within each bucket): one pass over millions of rows writes to as many places as there
    are buckets, most of them out of the cache.

    Measured: see _sort_buckets."""
    counts = np.empty((1 << ONE_PASS_BITS) + 1, np.int64)
    scratch_a, scratch_b = np.empty(0, U64), np.empty(0, U64)
    for s in range(starts.shape[0] - 1):
        lo, hi = starts[s], starts[s + 1]
        src_a, src_b = a[lo:hi], b[lo:hi]
        dst_a, dst_b = out_a[lo:hi], out_b[lo:hi]
        bits = _bucket_bits(hi - lo)
        if bits <= ONE_PASS_BITS:
            _bucket(src_a, src_b, dst_a, dst_b, counts, U64(64 - bits) if bits else U64(0), bits)
            _sort_buckets(dst_a, dst_b, counts, 1 << bits)
            continue
        _bucket(src_a, src_b, dst_a, dst_b, counts, U64(64 - TOP_BITS), TOP_BITS)
        top = counts[:(1 << TOP_BITS) + 1].copy()
        for k in range(1 << TOP_BITS):
            bucket_a, bucket_b = dst_a[top[k]:top[k + 1]], dst_b[top[k]:top[k + 1]]
            size = bucket_a.shape[0]
            more = min(_bucket_bits(size), ONE_PASS_BITS, 64 - TOP_BITS)
            if more == 0:  # one pair or none: in order
                continue
            if scratch_a.shape[0] < size:
                scratch_a, scratch_b = np.empty(size, U64), np.empty(size, U64)
            part_a, part_b = scratch_a[:size], scratch_b[:size]
            _bucket(bucket_a, bucket_b, part_a, part_b, counts, U64(64 - TOP_BITS - more), more)
            _sort_buckets(part_a, part_b, counts, 1 << more)
            bucket_a[:] = part_a
            bucket_b[:] = part_b


@njit(inline="always", cache=True)
def _bucket_bits(m):
    """Bits of a that split m pairs into at least m buckets (2^bits >= m)."""
    bits = 0
    while bits < 48 and (1 << bits) < m:
        bits += 1
    return bits


@njit(inline="always", cache=True)
def _bucket(src_a, src_b, dst_a, dst_b, counts, shift, bits):
    """Pairs into dst by `bits` bits of a from bit `shift` up (all in one bucket when bits is 0);
    counts[k] is where bucket k starts, counts[k + 1] where it ends."""
    buckets = 1 << bits
    mask = U64(buckets - 1)
    counts[:buckets + 1] = 0
    if bits:
        for i in range(src_a.shape[0]):
            counts[np.intp((src_a[i] >> shift) & mask) + 1] += 1
    else:
        counts[1] = src_a.shape[0]
    for k in range(buckets):
        counts[k + 1] += counts[k]
    fill = counts[:buckets].copy()
    for i in range(src_a.shape[0]):
        k = np.intp((src_a[i] >> shift) & mask) if bits else 0
        p = fill[k]
        dst_a[p] = src_a[i]
        dst_b[p] = src_b[i]
        fill[k] = p + 1


@njit(inline="always", cache=True)
def _sort_buckets(dst_a, dst_b, counts, buckets):
    """Every bucket of dst (bucket k from counts[k] to counts[k + 1], in order of a's bits) ordered
    by a where it lies: a bucket of more than SMALL_BUCKET pairs by _merge_sort, then
    one insertion pass over all of dst. A pair is out of order only within its bucket, and buckets
    hold one pair or less on average, so the pass moves few pairs and mispredicts few branches.
    Before, buckets of about 4 pairs were each sorted on their own (kernel_bench keeps that as its
    baseline). group, kernel_bench (a tenth of the rows copies of one row; the baseline with the same
    insertion sort), ns a row before -> now: 300,000 rows in 1,000 segments 19.2 -> 12.5, in 100
    19.1 -> 13.7; 1 million in 20 25.3 -> 22.5; 300,000 in one 22.9 -> 18.8; 6 million in one (two
    passes) 35.8 -> 36.7."""
    for k in range(buckets):
        if counts[k + 1] - counts[k] > SMALL_BUCKET:
            _merge_sort(dst_a[counts[k]:counts[k + 1]], dst_b[counts[k]:counts[k + 1]])
    _insertion_sort(dst_a, dst_b)


@njit(inline="always", cache=True)
def _insertion_sort(sort_a, sort_b):
    """(sort_a, sort_b) ordered by a where they lie, by insertion: a pair already after its
    predecessor is passed over with one comparison."""
    for i in range(1, sort_a.shape[0]):
        x = sort_a[i]
        if sort_a[i - 1] <= x:
            continue
        y = sort_b[i]
        j = i - 1
        while j >= 0 and sort_a[j] > x:
            sort_a[j + 1] = sort_a[j]
            sort_b[j + 1] = sort_b[j]
            j -= 1
        sort_a[j + 1] = x
        sort_b[j + 1] = y


@njit(inline="always", cache=True)
def _merge_sort(bucket_a, bucket_b):
    """A bucket of many pairs (copies of one row, mostly) ordered by a where it lies: a merge sort,
    n log n whatever the values."""
    order = np.argsort(bucket_a, kind="mergesort")
    was_a, was_b = bucket_a.copy(), bucket_b.copy()
    for i in range(bucket_a.shape[0]):
        bucket_a[i] = was_a[order[i]]
        bucket_b[i] = was_b[order[i]]


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


@njit(nogil=True, cache=True)
def _add_columns(ha, hb, out_start, n_rows, key_index, source, key_a, key_b, out_a, out_b):
    """For each entry e (a column of a column set): out[out_start[e] + r] += fmix(hash[source[e]
    + r] + position key key_index[e]), per lane, for its n_rows[e] rows.

    The rows are indexed through slices, from 0: indexed at `o + r` and `src + r`, LLVM could not
    tell the loads from the stores apart, and the loop ran about 3x slower (6.2 against 2.0 ns a
    column value, benchmarks/kernel_bench.py)."""
    for e in range(out_start.shape[0]):
        o, n, src = out_start[e], n_rows[e], source[e]
        ka, kb = key_a[key_index[e]], key_b[key_index[e]]
        from_a, from_b = ha[src:src + n], hb[src:src + n]
        into_a, into_b = out_a[o:o + n], out_b[o:o + n]
        for r in range(n):
            into_a[r] += _fmix(from_a[r] + ka)
            into_b[r] += _fmix(from_b[r] + kb)


@njit(nogil=True, cache=True)
def _add_int_columns(x, bitmap, offset, add_a, add_b, null_a, null_b, out_start, n_rows, key_index, source,
                     key_a, key_b, out_a, out_b):
    """_add_columns of integers' value hashes, without them: the hash of x is x + add per lane
    (_int_lanes), so fmix(x + (add + key)) is added; a NULL (Arrow's validity bitmap of x, from bit
    `offset`) adds fmix(null + key)."""
    for e in range(out_start.shape[0]):
        o, n, src = out_start[e], n_rows[e], source[e]
        ka, kb = key_a[key_index[e]], key_b[key_index[e]]
        shift_a, shift_b = add_a + ka, add_b + kb
        values = x[src:src + n]
        into_a, into_b = out_a[o:o + n], out_b[o:o + n]
        if bitmap.shape[0] == 0:
            for r in range(n):
                into_a[r] += _fmix(values[r] + shift_a)
                into_b[r] += _fmix(values[r] + shift_b)
        else:
            mixed_a, mixed_b = _fmix(null_a + ka), _fmix(null_b + kb)
            for r in range(n):
                if _is_null(bitmap, offset + src, r):
                    into_a[r] += mixed_a
                    into_b[r] += mixed_b
                else:
                    into_a[r] += _fmix(values[r] + shift_a)
                    into_b[r] += _fmix(values[r] + shift_b)


@njit(inline="always", cache=True)
def _u64(x):
    """An int64 as the uint64 of the same bits (two's complement), as numpy's astype gives."""
    if x >= 0:
        return U64(x)
    return _ALL - U64(-(x + 1))


@njit(inline="always", cache=True)
def _is_null(bitmap, offset, i):
    if bitmap.shape[0] == 0:  # no validity bitmap: no nulls
        return False
    j = offset + i
    return ((bitmap[j >> 3] >> (j & 7)) & 1) == 0


@njit(nogil=True, cache=True)
def _int_lanes(x, bitmap, offset, add_a, add_b, null_a, null_b, out_a, out_b):
    """fingerprint._lanes(INT, x) with NULLs: x + the kind's mixed tweak per lane (x as uint64
    bits), a NULL its own key; nulls are told by Arrow's validity bitmap from bit `offset`."""
    for i in range(x.shape[0]):
        if _is_null(bitmap, offset, i):
            out_a[i], out_b[i] = null_a, null_b
        else:
            out_a[i] = x[i] + add_a
            out_b[i] = x[i] + add_b


@njit(nogil=True, cache=True)
def _take_lanes(ha, hb, indices, bitmap, offset, null_a, null_b, out_a, out_b):
    """The value hashes of a dictionary array: its dictionary's hashes (ha, hb) taken by each
    index, a NULL index (by Arrow's validity bitmap from bit `offset`) its own key."""
    for i in range(indices.shape[0]):
        if _is_null(bitmap, offset, i):
            out_a[i], out_b[i] = null_a, null_b
        else:
            k = indices[i]
            out_a[i] = ha[k]
            out_b[i] = hb[k]


@njit(nogil=True, cache=True)
def _double_lanes(v, bits, bitmap, offset, int_a, int_b, float_a, float_b, nan_a, nan_b, null_a, null_b,
                  out_a, out_b, huge):
    """fingerprint._double_lanes with NULLs: integral doubles below 2^63 in magnitude as INT, NaN
    as its one value, other doubles by their bits (`bits` views `v`). Integral doubles of 2^63
    and beyond are flagged in `huge` (the caller hashes their exact integers); returns how many."""
    flagged = 0
    for i in range(v.shape[0]):
        if _is_null(bitmap, offset, i):
            out_a[i], out_b[i] = null_a, null_b
            continue
        x = v[i]
        if x != x:
            out_a[i], out_b[i] = nan_a, nan_b
        elif np.isfinite(x) and np.trunc(x) == x:
            if abs(x) < 9223372036854775808.0:
                w = _u64(np.int64(x))
                out_a[i] = w + int_a
                out_b[i] = w + int_b
            else:
                huge[i] = 1
                flagged += 1
        else:  # not integral: never -0.0, so the bits are those of x + 0.0
            out_a[i] = bits[i] + float_a
            out_b[i] = bits[i] + float_b
    return flagged


@njit(nogil=True, cache=True)
def _instant_lanes(counts, per_second, ns_per_unit, bitmap, offset, tweak_a, tweak_b, null_a, null_b,
                   out_a, out_b):
    """fingerprint._lanes(INT, seconds, nanoseconds) of timestamps given as raw counts of a unit
    (floor division: an instant before 1970 has a negative second and a positive rest), NULLs
    their own key."""
    for i in range(counts.shape[0]):
        if _is_null(bitmap, offset, i):
            out_a[i], out_b[i] = null_a, null_b
            continue
        c = counts[i]
        seconds = c // per_second
        rest = U64(c - seconds * per_second) * U64(ns_per_unit)
        s = _u64(seconds)
        out_a[i] = s + _fmix(rest + tweak_a)
        out_b[i] = s + _fmix(rest + tweak_b)


@njit(nogil=True, cache=True)
def _decimal_lanes(words, scale, bitmap, offset, int_a, int_b, tweak_a, tweak_b, null_a, null_b,
                   out_a, out_b, wide):
    """fingerprint._decimal_lanes of decimal128 values (`words`: low and high 64 bits of each
    unscaled value, interleaved) whose unscaled value fits 64 bits: trailing zeros stripped, then
    integral values as INT and others as (digits, scale); NULLs their own key. Values that do not
    fit are flagged in `wide` (the caller hashes their exact text); returns how many."""
    flagged = 0
    for i in range(words.shape[0] // 2):
        if _is_null(bitmap, offset, i):
            out_a[i], out_b[i] = null_a, null_b
            continue
        low, high = words[2 * i], words[2 * i + 1]
        if high != (low >> 63):
            wide[i] = 1
            flagged += 1
            continue
        digits, s = low, scale
        while s > 0 and digits % 10 == 0:
            digits //= 10
            s -= 1
        w = _u64(digits)
        if s == 0:
            out_a[i] = w + int_a
            out_b[i] = w + int_b
        else:
            out_a[i] = w + _fmix(U64(s) + tweak_a)
            out_b[i] = w + _fmix(U64(s) + tweak_b)
    return flagged
