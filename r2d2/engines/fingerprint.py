"""Row fingerprints over Arrow arrays: the content core that both engines share (DESIGN §2).

A row of a column set becomes a 128-bit fingerprint, two 64-bit lanes, with no text built per
value. Each column is hashed once per batch into a 128-bit value hash, whatever the number of
column sets it takes part in; a column set's fingerprint is the sum, per lane, of its columns'
value hashes mixed with a key for their position in the set. Per value, only compiled code runs:
numba's loops (engines/kernels.py) on Arrow's buffers, or numpy and pyarrow kernels where numba is
not loaded; either way the GIL is released while values are hashed.

Equality (DESIGN §2) is realised by hashing a canonical form of each value:
- numbers: an integral value (int 3, float 3.0, decimal 3.00) by its integer value; a non-integral
  float by the bits of its double (NaN one value, -0.0 is 0); a non-integral decimal by its digits
  without trailing zeros (the exact value); a decimal against a float (`as_double`) as the double
  nearest to it, correctly rounded (parsed from its exact text);
- strings and binary by their bytes (strings are UTF-8: same code points, same bytes); dates as
  days; timestamps as the instant (seconds and nanoseconds), whatever the unit; booleans as 0/1;
- other flat types (times, durations) by their raw value: only the very same type is compared;
- NULL as a value of its own, equal to NULL.

The hashes are keyed: `Keys.fresh()` draws 256 random bits per scan, so no lake can be crafted
against them. Per lane, a canonical value becomes a 64-bit word that is a bijection of its main
word (its kind and second word enter through a keyed mix); byte strings become a keyed sum of
mixed words. A column set's lane is the sum of splitmix64's finaliser (a bijection) over each
value's word plus a random key of its position. Two different rows share both lanes with
probability about 2^-128 per pair of rows (for these mixers, a heuristic rather than a proof; the
lanes use independent keys). A false "contained" needs such a collision.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from r2d2.arrays import numpy_array, numpy_values, zero_filled
from r2d2.engines import kernels
from r2d2.model import BINARY, BOOLEAN, DATE, NUMERIC, STRING, TIMESTAMP, TIMESTAMP_TZ, family_of
from r2d2.stats import NS_PER_UNIT, base_type
from r2d2.storage.reader import plain_decimal_text

U64 = np.uint64
_M1, _M2 = U64(0xBF58476D1CE4E5B9), U64(0x94D049BB133111EB)
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1

BLOCK = 32_768  # values hashed at a time: a block's temporaries stay in the CPU's cache

# Kinds of canonical values: each gets its own key, so values of different kinds never meet.
INT, BIG, FLOAT, NAN, DECIMAL, TEXT, BYTES, HUGE = range(8)
NULL_KIND = 8


def _splitmix(x: int) -> int:
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def fmix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: a bijection of 64-bit words that mixes every bit."""
    t = np.empty_like(z)
    np.right_shift(z, U64(30), out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, _M1, out=z)
    np.right_shift(z, U64(27), out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, _M2, out=z)
    np.right_shift(z, U64(31), out=t)
    np.bitwise_xor(z, t, out=z)
    return z


def _fmix_int(x: int) -> int:
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@functools.lru_cache(maxsize=4096)  # asked for the same few keys per table and per batch
def _derived(seed: tuple[int, int, int, int], lane: int, purpose: int, index: int) -> int:
    return _splitmix(seed[lane] ^ _splitmix(seed[2 + lane] + purpose * 0x100000001B3 + index))


@dataclass(frozen=True)
class Keys:
    """The secret of one scan's fingerprints: every key below derives from it. Fingerprints are
    comparable only under the same keys (engines ship them to their workers)."""

    seed: tuple[int, int, int, int]

    @staticmethod
    def fresh() -> Keys:
        raw = os.urandom(32)
        return Keys(tuple(int.from_bytes(raw[i:i + 8], "little") for i in range(0, 32, 8)))  # type: ignore[arg-type]

    def key(self, lane: int, purpose: int, index: int = 0) -> int:
        return _derived(self.seed, lane, purpose, index)

    def odd(self, lane: int, purpose: int) -> int:
        return self.key(lane, purpose) | 1

    def word_keys(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """key(lane, _WORD, j) for j < n, per lane, computed with numpy and kept (per keys) as the
        longest value seen grows."""
        have = _WORD_KEYS.get(self.seed)
        if have is not None and len(have[0]) >= n:
            return have
        size = max(n, 64, 2 * len(have[0]) if have is not None else 0)
        lanes = []
        with np.errstate(over="ignore"):
            for lane in (0, 1):
                x = np.arange(size, dtype=U64) + U64((self.seed[2 + lane] + _WORD * 0x100000001B3) & _MASK)
                inner = fmix(x + U64(_GOLDEN))
                inner ^= U64(self.seed[lane])
                lanes.append(fmix(inner + U64(_GOLDEN)))
        made = (lanes[0], lanes[1])
        _WORD_KEYS[self.seed] = made  # one assignment: threads see the old or the new pair
        return made


# Purposes of keys.
_SECOND, _KIND, _WORD, _LENGTH, _POSITION = range(1, 6)
_WORD_KEYS: dict[tuple[int, int, int, int], tuple[np.ndarray, np.ndarray]] = {}


class ValueHash:
    """The 128-bit value hashes of one column: lanes `a` and `b` (uint64 arrays)."""

    __slots__ = ("a", "b")

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b


def _lanes(keys: Keys, kind: int, x: np.ndarray, y: np.ndarray | None = None) -> ValueHash:
    """Value hashes of canonical values (kind, x, y) where x and y are 64-bit words (y = 0 when
    absent): x plus a keyed, mixed function of (kind, y). For a fixed kind and y, x -> lane is a
    bijection; `combine` mixes each lane with a key of the value's position."""
    out = []
    for lane in (0, 1):
        tweak = (keys.key(lane, _KIND, kind) + keys.key(lane, _SECOND)) & _MASK
        z = x.astype(U64, copy=True)
        if y is None:
            z += U64(_fmix_int(tweak))
        else:
            w = y.astype(U64, copy=True)
            w += U64(tweak)
            z += fmix(w)
        out.append(z)
    return ValueHash(out[0], out[1])


def _bytes_lanes(keys: Keys, kind: int, array: pa.Array) -> ValueHash:
    """Value hashes of the byte strings of a binary or string array (nulls hash as empty): per
    8-byte word, a keyed bijection of the word mixed with its position, summed per value, then mixed
    with the value's length (so zero padding cannot alias)."""
    if kernels.JIT:
        return _bytes_lanes_jit(keys, kind, array)
    array = array.cast(pa.large_binary()) if not pa.types.is_large_binary(array.type) else array
    n = len(array)
    if n == 0:
        return _zeros(0)
    offsets_buf, data_buf = array.buffers()[1], array.buffers()[2]
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[array.offset:array.offset + n + 1]
    lengths = np.diff(offsets)
    if data_buf is None or n == 0:
        data = np.zeros(8, dtype=np.uint8)
    else:
        data = np.concatenate([np.frombuffer(data_buf, dtype=np.uint8), np.zeros(8, dtype=np.uint8)])
    nwords = (lengths + 7) // 8
    words = np.ndarray(shape=(max(len(data) - 7, 1),), dtype="<u8", buffer=data, strides=(1,))
    sums = [np.zeros(n, U64), np.zeros(n, U64)]
    starts = offsets[:-1]
    rows: np.ndarray | None = None  # the values that have a word j (None: all of them)
    for j in range(int(nwords.max(initial=0))):
        if rows is None and int(nwords.min()) <= j:
            rows = np.flatnonzero(nwords > j)
        elif rows is not None:
            rows = rows[nwords[rows] > j]
        word = words[(starts if rows is None else starts[rows]) + 8 * j]
        rest = (lengths if rows is None else lengths[rows]) - 8 * j
        if int(rest.min()) < 8:  # keep only the value's own bytes of its last word
            word &= U64(_MASK) >> ((U64(8) - np.minimum(rest, 8).astype(U64)) * U64(8))
        for lane in (0, 1):
            z = word + U64(keys.key(lane, _WORD, j))
            fmix(z)
            if rows is None:
                sums[lane] += z
            else:
                sums[lane][rows] += z
    out = []
    for lane in (0, 1):
        length_key = lengths.astype(U64) * U64(keys.odd(lane, _LENGTH))
        length_key += U64(keys.key(lane, _LENGTH, kind))
        per_value = sums[lane]
        per_value ^= fmix(length_key)
        out.append(fmix(per_value))
    return ValueHash(out[0], out[1])


def _bytes_lanes_jit(keys: Keys, kind: int, array: pa.Array) -> ValueHash:
    """_bytes_lanes by the compiled loop (engines/kernels.py), straight on Arrow's buffers."""
    if not (pa.types.is_string(array.type) or pa.types.is_binary(array.type)
            or pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)):
        array = array.cast(pa.large_binary())
    n = len(array)
    if n == 0:
        return _zeros(0)
    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64 if wide else np.int32)[array.offset:array.offset + n + 1]
    data_buf = array.buffers()[2]
    data = np.zeros(0, np.uint8) if data_buf is None else np.frombuffer(data_buf, dtype=np.uint8)
    longest = int(np.diff(offsets).max(initial=0))
    a, b = kernels.bytes_lanes(offsets, data, keys.word_keys((longest + 7) // 8),
                               (keys.odd(0, _LENGTH), keys.odd(1, _LENGTH)),
                               (keys.key(0, _LENGTH, kind), keys.key(1, _LENGTH, kind)))
    return ValueHash(a, b)


def _repetitive(array: pa.Array) -> bool:
    """Whether values repeat enough that hashing each distinct value once pays, judged on values
    spread over the whole array (encoding distinct values costs about as much as hashing them)."""
    probe = array.take(numpy_array(np.linspace(0, len(array) - 1, min(len(array), 4096)).astype(np.int64)))
    return pc.count_distinct(probe).as_py() < 0.9 * len(probe)


def _text_lanes(keys: Keys, kind: int, array: pa.Array) -> ValueHash:
    """Byte-string value hashes, computed once per distinct value (most text columns repeat) unless
    the compiled loop hashes them faster than a dictionary could be built."""
    if not kernels.JIT and len(array) > 64 and not pa.types.is_dictionary(array.type) and _repetitive(array):
        array = pc.dictionary_encode(array)
    if pa.types.is_dictionary(array.type):
        inner = _bytes_lanes(keys, kind, array.dictionary)
        indices = numpy_values(array.indices).astype(np.int64, copy=False)
        if len(inner.a) == 0:
            return _zeros(len(array))
        return ValueHash(inner.a[indices], inner.b[indices])
    return _bytes_lanes(keys, kind, array)


def _ints(array: pa.Array) -> np.ndarray:
    """An integer-like array's values as int64 (nulls as 0)."""
    return numpy_values(array).astype(np.int64, copy=False)


def _exact_int_lanes(keys: Keys, values: list[int]) -> ValueHash:
    """Integers in any range: int64 ones as INT, up to 128 bits as BIG (two's complement words),
    beyond that by their decimal digits."""
    a = np.zeros(len(values), U64)
    b = np.zeros(len(values), U64)
    kinds = np.zeros(len(values), np.int8)
    huge: list[int] = []
    for i, v in enumerate(values):
        if -(1 << 63) <= v < (1 << 63):
            a[i] = v & _MASK
            kinds[i] = INT
        elif -(1 << 127) <= v < (1 << 127):
            a[i], b[i] = v & _MASK, (v >> 64) & _MASK
            kinds[i] = BIG
        else:
            kinds[i] = HUGE
            huge.append(i)
    result = _lanes(keys, INT, a)
    _put(result, kinds == BIG, _lanes(keys, BIG, a[kinds == BIG], b[kinds == BIG]))
    if huge:
        _put(result, kinds == HUGE, _text_lanes(keys, HUGE, pa.array([str(values[i]) for i in huge])))
    return result


def _put(into: ValueHash, where: np.ndarray, part: ValueHash) -> None:
    if len(part.a):
        into.a[where] = part.a
        into.b[where] = part.b


def _double_lanes(keys: Keys, values: np.ndarray) -> ValueHash:
    """Doubles by value: integral ones as integers (3.0 = 3), NaN as one value, others by bits."""
    values = values.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore"):
        integral = np.isfinite(values) & (np.trunc(values) == values)
    small = integral & (np.abs(values) < 2.0**63)
    nan = np.isnan(values)
    bits = (values + 0.0).view(U64)  # + 0.0 turns -0.0 into 0.0 (integral anyway)
    result = _lanes(keys, FLOAT, bits)
    if small.any():
        _put(result, small, _lanes(keys, INT, values[small].astype(np.int64)))
    if nan.any():
        _put(result, nan, _lanes(keys, NAN, np.zeros(int(nan.sum()), U64)))
    large = integral & ~small
    if large.any():
        _put(result, large, _exact_int_lanes(keys, [int(v) for v in values[large]]))
    return result


def _scaled_lanes(keys: Keys, unscaled: np.ndarray, scale: np.ndarray) -> ValueHash:
    """Decimals given as int64 unscaled values with their scales: trailing zeros stripped, then
    integral values as integers (so 3.00 = 3) and others as (digits, scale)."""
    unscaled = unscaled.copy()
    scale = scale.astype(np.int64, copy=True)
    for _ in range(int(scale.max(initial=0))):
        strip = (scale > 0) & (unscaled % 10 == 0)
        if not strip.any():
            break
        np.floor_divide(unscaled, 10, out=unscaled, where=strip)
        scale -= strip
    result = _lanes(keys, DECIMAL, unscaled, scale.astype(U64))
    integral = scale == 0
    if integral.any():
        _put(result, integral, _lanes(keys, INT, unscaled[integral]))
    return result


def _decimal_text_lanes(keys: Keys, texts: pa.Array) -> ValueHash:
    """Decimals from their exact text, for values whose digits exceed 64 bits."""
    plain = zero_filled(plain_decimal_text(texts))
    point = numpy_values(pc.find_substring(plain, "."))
    digits = pc.replace_substring(plain, ".", "")
    # the same test as a decimal read from Arrow's buffer passes: do the digits fit 64 bits? (19
    # digits compare as text: of equal length, text order is numeric order)
    magnitude = pc.utf8_ltrim(pc.utf8_ltrim(digits, characters="-"), characters="0")
    length = pc.utf8_length(magnitude)
    limit = pc.if_else(pc.starts_with(digits, "-"), str(1 << 63), str((1 << 63) - 1))
    fits = pc.or_(pc.less_equal(length, 18),
                  pc.and_(pc.equal(length, 19), pc.less_equal(magnitude, limit))).to_numpy(zero_copy_only=False)
    result = _text_lanes(keys, DECIMAL, plain)
    if fits.any():
        chosen = pa.array(fits)
        scale = np.where(point >= 0, numpy_values(pc.utf8_length(plain)) - point - 1, 0)
        _put(result, fits, _scaled_lanes(keys, pc.cast(pc.filter(digits, chosen), pa.int64()).to_numpy(
            zero_copy_only=False), scale[fits]))
    wide = ~fits & (point < 0)  # integers beyond 64 bits
    if wide.any():
        _put(result, wide, _exact_int_lanes(keys, [int(t) for t in pc.filter(plain, pa.array(wide)).to_pylist()]))
    return result


def _decimal_lanes(keys: Keys, array: pa.Array) -> ValueHash:
    """decimal128 values: those whose unscaled value fits 64 bits straight from Arrow's buffer,
    the others through their exact text."""
    n = len(array)
    words = np.frombuffer(array.buffers()[1], dtype=np.int64)[2 * array.offset:2 * (array.offset + n)]
    low, high = words[0::2], words[1::2]
    fits = high == (low >> 63)
    if array.null_count:
        fits |= ~numpy_values(array.is_valid())
    result = _scaled_lanes(keys, np.where(fits, low, 0), np.full(n, array.type.scale))
    if not fits.all():
        _put(result, ~fits, _decimal_text_lanes(keys, pc.cast(pc.filter(array, pa.array(~fits)), pa.string())))
    return result


def _decimal_text(array: pa.Array) -> pa.Array:
    if pa.types.is_decimal(array.type):
        return pc.cast(array, pa.string())
    return array.cast(pa.string())  # wide decimals arrive as their exact text


def value_hashes(array: pa.Array | pa.ChunkedArray, dtype: pa.DataType, keys: Keys,
                 as_double: bool = False) -> ValueHash:
    """The value hashes of one column, given in engine form (storage.reader.engine_array) for a
    table column of type `dtype`. Equal under DESIGN §2 exactly when equal here (up to the
    collision bound in the module docstring). Long arrays are hashed a block at a time, so that
    the passes over each block's temporaries stay in the CPU's cache."""
    if pa.types.is_dictionary(array.type):  # read as stored (see reader.iter_table_batches)
        return _through_dictionaries(_chunks_of(array), dtype, keys, as_double)
    array = _one_array(array)
    if pa.types.is_string_view(array.type) or pa.types.is_binary_view(array.type):
        # few kernels take views (no take, no dictionary encoding): as the same bytes in one buffer
        array = array.cast(pa.large_string() if pa.types.is_string_view(array.type) else pa.large_binary())
    if kernels.JIT:
        compiled = _numbers_jit(array, dtype, keys, as_double)
        if compiled is not None:
            return compiled
    if len(array) <= BLOCK or (kernels.JIT and family_of(base_type(dtype)) in (STRING, BINARY)):
        return _value_hashes(array, dtype, keys, as_double)  # the compiled loop needs no blocks
    if family_of(base_type(dtype)) in (STRING, BINARY) and _repetitive(array):
        # each distinct value hashed once, before blocks would split the dictionary
        encoded = pc.dictionary_encode(array)
        return _through_dictionary(encoded.dictionary, encoded.indices, dtype, keys, as_double)
    result = ValueHash(np.empty(len(array), U64), np.empty(len(array), U64))
    for start in range(0, len(array), BLOCK):
        part = _value_hashes(array.slice(start, BLOCK), dtype, keys, as_double)
        result.a[start:start + BLOCK] = part.a
        result.b[start:start + BLOCK] = part.b
    return result


def _through_dictionaries(chunks: list[pa.DictionaryArray], dtype: pa.DataType, keys: Keys,
                          as_double: bool) -> ValueHash:
    """The value hashes of dictionary arrays, one after another. Their dictionaries are hashed
    together, as one array, and each chunk's indices moved past the dictionaries before its own:
    a few calls whatever the number of chunks (a small table's column is a chunk with its own
    dictionary). Merging the dictionaries instead (what concatenating dictionary arrays does)
    would look every value up in a hash table: slower than hashing them all."""
    if not chunks:
        return _zeros(0)
    if len(chunks) == 1:
        return _through_dictionary(chunks[0].dictionary, chunks[0].indices, dtype, keys, as_double)
    dictionaries = [c.dictionary for c in chunks]
    sizes = [len(d) for d in dictionaries]
    if sum(sizes) < 2**31 and all(c.indices.type == pa.int32() for c in chunks):
        try:
            merged = pa.concat_arrays(dictionaries)
        except pa.ArrowInvalid:  # more than 2 GB of text in one string array: chunk by chunk below
            merged = None
        if merged is not None:
            indices = pa.concat_arrays([c.indices for c in chunks])  # offset 0, validity bitmaps joined
            starts = np.cumsum([0, *sizes[:-1]]).astype(np.int32)
            # a NULL's slot may hold any number: moved too, never read (take_lanes, fill_null)
            moved = np.frombuffer(indices.buffers()[1], np.int32)[:len(indices)] + np.repeat(
                starts, [len(c) for c in chunks])
            shifted = pa.Array.from_buffers(pa.int32(), len(indices), [indices.buffers()[0], pa.py_buffer(moved)],
                                            indices.null_count)
            return _through_dictionary(merged, shifted, dtype, keys, as_double)
    parts = [_through_dictionary(c.dictionary, c.indices, dtype, keys, as_double) for c in chunks]
    return ValueHash(np.concatenate([p.a for p in parts]), np.concatenate([p.b for p in parts]))


def _through_dictionary(dictionary: pa.Array, positions: pa.Array, dtype: pa.DataType, keys: Keys,
                        as_double: bool) -> ValueHash:
    """The value hashes of a dictionary-encoded array (its `dictionary` and index array
    `positions`): each value of the dictionary hashed once, then taken by index; a NULL index (or
    a NULL in the dictionary) is NULL."""
    inner = value_hashes(dictionary, dtype, keys, as_double)
    if kernels.JIT and positions.type == pa.int32() and len(inner.a) and len(positions):
        validity, data = positions.buffers()
        indices = np.frombuffer(data, np.int32)[positions.offset:positions.offset + len(positions)]
        return ValueHash(*kernels.take_lanes((inner.a, inner.b), indices, validity, positions.null_count,
                                             positions.offset, (keys.key(0, _KIND, NULL_KIND),
                                                                keys.key(1, _KIND, NULL_KIND))))
    indices = numpy_values(positions)
    result = ValueHash(inner.a[indices], inner.b[indices]) if len(inner.a) else _zeros(len(positions))
    return _with_nulls(positions, result, keys)


@functools.lru_cache(maxsize=64)
def _constants(keys: Keys) -> dict[str, tuple[int, int]]:
    """Per lane: what _lanes adds to a word of each kind without a second word, the raw tweak of
    INT (with a second word it is mixed with it) and NULL's hash."""
    def tweak(lane: int, kind: int) -> int:
        return (keys.key(lane, _KIND, kind) + keys.key(lane, _SECOND)) & _MASK

    out = {name: (_fmix_int(tweak(0, kind)), _fmix_int(tweak(1, kind)))
           for name, kind in (("int", INT), ("float", FLOAT), ("nan", NAN))}
    out["tweak"] = (tweak(0, INT), tweak(1, INT))
    out["decimal"] = (tweak(0, DECIMAL), tweak(1, DECIMAL))
    out["null"] = (keys.key(0, _KIND, NULL_KIND), keys.key(1, _KIND, NULL_KIND))
    return out


def _numbers_jit(array: pa.Array, dtype: pa.DataType, keys: Keys, as_double: bool) -> ValueHash | None:
    """The value hashes of integers (all but uint64), floats, decimal128 (unless compared as
    doubles), dates and timestamps by the compiled loops, straight from Arrow's buffers, NULLs
    included (what _value_hashes computes, in one pass instead of one per numpy operation); None
    for any other array."""
    dtype = base_type(dtype)
    family, kind = family_of(dtype), array.type
    n, offset = len(array), array.offset
    decimal = pa.types.is_decimal128(kind) and family == NUMERIC and not as_double
    if n == 0 or not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_date32(kind)
                      or pa.types.is_timestamp(kind) or decimal) or pa.types.is_uint64(kind) \
            or pa.types.is_float16(kind):
        return None
    validity, data = array.buffers()[0], array.buffers()[1]
    if data is None:
        return None
    constants = _constants(keys)
    if decimal:
        words = np.frombuffer(data, np.int64)[2 * offset:2 * (offset + n)]
        a, b, wide = kernels.decimal_lanes(words, kind.scale, validity, array.null_count, offset, constants)
        result = ValueHash(a, b)
        if wide is not None:
            _put(result, wide, _decimal_text_lanes(keys, pc.cast(pc.filter(array, pa.array(wide)), pa.string())))
        return result
    if pa.types.is_floating(kind):
        if family != NUMERIC:
            return None
        raw = np.frombuffer(data, np.float32 if kind.bit_width == 32 else np.float64)[offset:offset + n]
        a, b, huge = kernels.double_lanes(raw.astype(np.float64, copy=False), validity, array.null_count, offset,
                                          constants)
        result = ValueHash(a, b)
        if huge is not None:
            _put(result, huge, _exact_int_lanes(keys, [int(v) for v in raw[huge]]))
        return result
    values = _stored_ints(array).astype(np.int64, copy=False)
    if family in (TIMESTAMP, TIMESTAMP_TZ):
        if kind.bit_width != 64:
            return None
        a, b = kernels.instant_lanes(values, 1_000_000_000 // NS_PER_UNIT[dtype.unit], NS_PER_UNIT[dtype.unit],
                                     validity, array.null_count, offset, constants["tweak"], constants["null"])
        return ValueHash(a, b)
    if not _hashed_as_ints(array, dtype):
        return None
    a, b = kernels.int_lanes(values, validity, array.null_count, offset, constants["int"], constants["null"])
    return ValueHash(a, b)


def _hashed_as_ints(array: pa.Array, dtype: pa.DataType) -> bool:
    """Whether an array's value hashes are its values plus constants['int'] per lane, NULLs aside:
    integers but uint64, dates, and times and durations (raw counts of one and the same type), as
    the compiled loops hash them (int_lanes; add_int_columns adds them without storing them)."""
    kind, family = array.type, family_of(base_type(dtype))
    return (pa.types.is_integer(kind) or pa.types.is_date32(kind)) and not pa.types.is_uint64(kind) \
        and family not in (STRING, BINARY, BOOLEAN, TIMESTAMP, TIMESTAMP_TZ) and array.buffers()[1] is not None


def _stored_ints(array: pa.Array) -> np.ndarray:
    """An integer-typed (or date32 or timestamp) array's values as stored: a view of its buffer."""
    kind = array.type
    width = np.dtype(f"{'u' if pa.types.is_unsigned_integer(kind) else 'i'}{kind.bit_width // 8}")
    return np.frombuffer(array.buffers()[1], width)[array.offset:array.offset + len(array)]


def _value_hashes(array: pa.Array, dtype: pa.DataType, keys: Keys, as_double: bool) -> ValueHash:
    dtype = base_type(dtype)
    family = family_of(dtype)
    kind_type = array.type
    if family == NUMERIC:
        if pa.types.is_integer(kind_type):
            if pa.types.is_uint64(kind_type):
                raw = numpy_values(array)
                big = raw >= U64(1 << 63)
                result = _lanes(keys, INT, raw.view(np.int64))
                if big.any():
                    _put(result, big, _lanes(keys, BIG, raw[big], np.zeros(int(big.sum()), U64)))
            else:
                result = _lanes(keys, INT, _ints(array))
        elif pa.types.is_floating(kind_type):
            result = _double_lanes(keys, numpy_values(array))
        elif as_double:
            # the exact text parsed as a double is the correctly rounded nearest double
            doubles = pc.cast(zero_filled(plain_decimal_text(_decimal_text(array))), pa.float64())
            result = _double_lanes(keys, numpy_values(doubles))
        elif pa.types.is_decimal128(array.type):
            result = _decimal_lanes(keys, array)
        else:  # wide decimals arrive as their exact text
            result = _decimal_text_lanes(keys, array)
    elif family == STRING:
        result = _text_lanes(keys, TEXT, array)
    elif family == BINARY:
        if pa.types.is_fixed_size_binary(array.type):
            array = array.cast(pa.large_binary())
        result = _text_lanes(keys, BYTES, array)
    elif family == BOOLEAN:
        result = _lanes(keys, INT, numpy_values(array).astype(np.int64))
    elif family == DATE:
        result = _lanes(keys, INT, _ints(array.cast(pa.int32()) if pa.types.is_date32(array.type) else array))
    elif family in (TIMESTAMP, TIMESTAMP_TZ):  # engine form: the raw count of the table's unit
        per_second = 1_000_000_000 // NS_PER_UNIT[dtype.unit]
        counts = _ints(array)
        seconds, rest = np.divmod(counts, per_second)
        result = _lanes(keys, INT, seconds, (rest * NS_PER_UNIT[dtype.unit]).astype(U64))
    elif array.type == pa.null():
        result = _zeros(len(array))
    elif pa.types.is_integer(array.type):  # times and durations: raw counts of one and the same type
        result = _lanes(keys, INT, _ints(array))
    else:
        result = _text_lanes(keys, TEXT, pa.array([None if v is None else repr(v) for v in array.to_pylist()],
                                                  pa.large_string()))
    return _with_nulls(array, result, keys)


def _with_nulls(array: pa.Array, result: ValueHash, keys: Keys) -> ValueHash:
    """NULL as a value of its own."""
    if array.null_count:
        nulls = ~numpy_values(array.is_valid())
        result.a[nulls] = U64(keys.key(0, _KIND, NULL_KIND))
        result.b[nulls] = U64(keys.key(1, _KIND, NULL_KIND))
    return result


def _zeros(n: int) -> ValueHash:
    return ValueHash(np.zeros(n, U64), np.zeros(n, U64))


def combine(columns: list[ValueHash], keys: Keys) -> ValueHash:
    """A column set's row fingerprints from its columns' value hashes, in the set's order: per
    lane, the sum of each value hash mixed with its position's key (a block of rows at a time).
    numpy's path; with numba's loops, fingerprint_many adds every set's columns in one call."""
    n = len(columns[0].a) if columns else 0
    out = ValueHash(np.zeros(n, U64), np.zeros(n, U64))
    lanes = _position_keys(keys, len(columns))
    position_keys = list(zip(lanes[0], lanes[1]))
    for start in range(0, n, BLOCK):
        end = min(n, start + BLOCK)
        for (key_a, key_b), column in zip(position_keys, columns):
            out.a[start:end] += fmix(column.a[start:end] + key_a)
            out.b[start:end] += fmix(column.b[start:end] + key_b)
    return out


# A column set as the engine reads it: (position of the column in the batch, as_double) per column.
Spec = list[tuple[int, bool]]
FP_SCHEMA = pa.schema([("k", pa.int32()), ("a", pa.uint64()), ("b", pa.uint64())])
FPS_SCHEMA = pa.schema([("t", pa.int32()), *FP_SCHEMA])


Part = tuple[int, pa.RecordBatch | pa.Table, list[pa.DataType], list[Spec]]
# (t, k, rows): fingerprint_runs' rows of table t's column set k, the next `rows` of its lanes
Run = tuple[int, int, int]


def fingerprint_many(parts: list[Part], keys: Keys) -> pa.Table:
    """(t, k, a, b) for every row of every part (t, its columns in engine form, their table types,
    its column sets) and each of its column sets k: fingerprint_runs as a table (what DuckDB groups)."""
    runs, a, b = fingerprint_runs(parts, keys)
    rows = [n for _, _, n in runs]
    return pa.table([numpy_array(np.repeat(np.array([t for t, _, _ in runs], np.int32), rows)),
                     numpy_array(np.repeat(np.array([k for _, k, _ in runs], np.int32), rows)),
                     numpy_array(a), numpy_array(b)], schema=FPS_SCHEMA)


def fingerprint_runs(parts: list[Part], keys: Keys) -> tuple[list[Run], np.ndarray, np.ndarray]:
    """The fingerprints (lanes a, b) of every row of every part and each of its column sets, and
    the runs (t, k, rows) they come in, one per part and set: run i is the `rows` lanes after those
    of runs 0..i-1 (numba's path keeps the parts' order, numpy's groups sets by width). The
    in-memory store groups them run by run, with no column of t and k a row (np.repeat, which
    wrote those, held the interpreter lock for about 0.06 s of a real-shaped scan in py-spy's
    samples, and the runs were then found in them again). Same-typed columns of all parts are
    hashed in one go and same-width sets combined in one go: small tables cost a few array
    operations together, not a few per table."""
    members: dict[tuple[Any, Any, bool], list[tuple[int, int, bool]]] = {}
    seen: set[tuple[int, int, bool]] = set()
    for index, (_, data, types, specs) in enumerate(parts):
        read_types = data.schema.types
        for spec in specs:
            for position, as_double in spec:
                if (index, position, as_double) not in seen:
                    seen.add((index, position, as_double))
                    same = (_type_key(read_types[position]), _type_key(base_type(types[position])), as_double)
                    members.setdefault(same, []).append((index, position, as_double))
    stacks: list[ValueHash | pa.Array] = []  # value hashes, or (numba's) integers hashed as they are added
    offset: dict[tuple[int, int, bool], tuple[int, int]] = {}  # member -> (its stack, where it starts)
    for group in members.values():
        first, position, as_double = group[0]
        read_type = parts[first][1].schema.types[position]
        chunks = [c for i, p, _ in group for c in _chunks_of(parts[i][1].column(p))] \
            if pa.types.is_dictionary(read_type) else []
        dtype = parts[first][2][position]
        if chunks:  # each through its own dictionary
            stacks.append(_through_dictionaries(chunks, dtype, keys, as_double))
            start = 0
            for member in group:
                offset[member] = (len(stacks) - 1, start)
                start += parts[member[0]][1].num_rows
            continue
        # Each long column from its own buffers, the short ones copied together first (copying every
        # column into one array was 0.4 s of py-spy's samples of a real-shaped scan). Integers (the
        # group's one read type) are hashed as _combined adds them, from these arrays; a column without
        # a data buffer (empty) has them all hashed here.
        columns = [_one_array(parts[i][1].column(p)) for i, p, _ in group]
        ints = kernels.JIT and all(_hashed_as_ints(c, dtype) for c in columns)
        for array, where in own_stacks(columns):
            stacks.append(array if ints else value_hashes(array, dtype, keys, as_double))
            for i, start in where:
                offset[group[i]] = (len(stacks) - 1, start)
    if kernels.JIT:
        return _combined(parts, stacks, offset, keys)

    def hashed(index: int, position: int, as_double: bool) -> ValueHash:
        stack, start = offset[index, position, as_double]
        end = start + parts[index][1].num_rows
        return ValueHash(stacks[stack].a[start:end], stacks[stack].b[start:end])

    by_width: dict[int, list[tuple[int, int, list[ValueHash]]]] = {}
    for index, (number, _, _, specs) in enumerate(parts):
        for k, spec in enumerate(specs):
            by_width.setdefault(len(spec), []).append((number, k, [hashed(index, p, d) for p, d in spec]))
    runs: list[Run] = []
    lane_a, lane_b = [], []
    for width, group_sets in by_width.items():
        columns = [ValueHash(np.concatenate([c[i].a for _, _, c in group_sets]),
                             np.concatenate([c[i].b for _, _, c in group_sets])) for i in range(width)]
        runs += [(n, k, len(c[0].a)) for n, k, c in group_sets]
        fp = combine(columns, keys)
        lane_a.append(fp.a)
        lane_b.append(fp.b)
    return runs, _joined(lane_a), _joined(lane_b)


def _combined(parts: list[Part], stacks: list[ValueHash | pa.Array],
              offset: dict[tuple[int, int, bool], tuple[int, int]], keys: Keys
              ) -> tuple[list[Run], np.ndarray, np.ndarray]:
    """fingerprint_runs from the value hashes: every column of every set added in one compiled
    call per array of hashes (what `combine` computes, without copying columns). An array of
    integers (see _hashed_as_ints) is added from its values: their hashes are the value plus a
    constant per lane, NULLs aside, and are computed as they are added (no pass storing them)."""
    runs: list[Run] = []
    entries: list[tuple[list[int], list[int], list[int], list[int]]] = [([], [], [], []) for _ in stacks]
    total, width = 0, 0
    for index, (number, data, _, specs) in enumerate(parts):
        n = data.num_rows
        for k, spec in enumerate(specs):
            runs.append((number, k, n))
            for j, (position, as_double) in enumerate(spec):
                stack, start = offset[index, position, as_double]
                into = entries[stack]
                into[0].append(total)
                into[1].append(n)
                into[2].append(j)
                into[3].append(start)
            total += n
            width = max(width, len(spec))
    position_keys = _position_keys(keys, width)
    out = (np.zeros(total, U64), np.zeros(total, U64))
    constants = _constants(keys)
    for values, listed in zip(stacks, entries):
        if not listed[0]:
            continue
        if isinstance(values, ValueHash):
            kernels.add_columns((values.a, values.b), listed, position_keys, out)
        else:
            ints = _stored_ints(values).astype(np.int64, copy=False).view(U64)
            kernels.add_int_columns(ints, values.buffers()[0], values.null_count, values.offset, constants["int"],
                                    constants["null"], listed, position_keys, out)
    return runs, out[0], out[1]


@functools.lru_cache(maxsize=64)
def _position_keys(keys: Keys, width: int) -> tuple[np.ndarray, np.ndarray]:
    """key(lane, _POSITION, i) for i < width, per lane (read-only: shared by every caller)."""
    lanes = (np.array([keys.key(0, _POSITION, i) for i in range(width)], U64),
             np.array([keys.key(1, _POSITION, i) for i in range(width)], U64))
    for lane in lanes:
        lane.flags.writeable = False
    return lanes


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, U64)


# Columns of at least this many rows are hashed (integers: added) from their own buffers; shorter
# ones are copied into one array first (benchmarks/kernel_bench.py "int stacks": a call costs about
# 11 µs, what copying 2,000 values does; copying all columns, the earlier way, took 2.5x as long on
# long ones). Measured on integers; other types take the same threshold, not measured apart.
OWN_STACK_ROWS = 4096


def own_stacks(columns: list[pa.Array]) -> list[tuple[pa.Array, list[tuple[int, int]]]]:
    """The arrays same-typed columns are hashed from: each long column its own, the short ones
    together. Returns (array, [(index of a column, where its rows start in the array)])."""
    stacks: list[tuple[pa.Array, list[tuple[int, int]]]] = []
    short, where, start = [], [], 0
    for i, column in enumerate(columns):
        if len(column) >= OWN_STACK_ROWS:
            stacks.append((column, [(i, 0)]))
        else:
            short.append(column)
            where.append((i, start))
            start += len(column)
    if short:
        stacks.append((short[0] if len(short) == 1 else pa.concat_arrays(short), where))
    return stacks


# Types whose id says all about them (no unit, precision, width or value type): grouped by id, as
# hashing a type hashes its text (about 1 us a column, thousands of columns per call).
_PLAIN_TYPE_IDS = frozenset(t.id for t in (
    pa.null(), pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(),
    pa.uint64(), pa.float16(), pa.float32(), pa.float64(), pa.string(), pa.large_string(), pa.binary(),
    pa.large_binary(), pa.date32(), pa.date64(), pa.string_view(), pa.binary_view()))


def _type_key(dtype: pa.DataType) -> Any:
    """What tells types apart as cheaply as can be: the id of a plain type, else the type itself."""
    kind = dtype.id
    return kind if kind in _PLAIN_TYPE_IDS else dtype


def _one_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _chunks_of(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def fingerprint_rows(data: pa.RecordBatch | pa.Table, types: list[pa.DataType], specs: list[Spec],
                     keys: Keys) -> pa.Table:
    """(k, a, b) for every row of `data` and column set k: the rows an engine groups and counts."""
    return fingerprint_many([(0, data, types, specs)], keys).drop_columns(["t"])
