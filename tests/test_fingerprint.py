"""The fingerprint core (engines/fingerprint.py) realises DESIGN §2 equality: checked against the
canonical text that DuckDB computes (engines/local.py canonical_sql), an independent
implementation of the same rules, on values drawn across types of each family."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2d2.engines import kernels
from r2d2.engines.fingerprint import Keys, combine, fingerprint_rows, value_hashes
from r2d2.engines.local import canonical_sql
from r2d2.storage.reader import engine_array


@pytest.fixture(autouse=True, scope="module", params=kernels.INSTALLED or [None])
def compiled_loops(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Every test here runs with each kind of compiled loops installed (C's, numba's), so that
    each is checked bit for bit against numpy's code (its reference)."""
    before = kernels.LOOPS
    kernels.LOOPS = request.param
    try:
        yield request.param
    finally:
        kernels.LOOPS = before

KEYS = Keys.fresh()
NUMERIC_TYPES = [pa.int8(), pa.int64(), pa.uint64(), pa.float32(), pa.float64(), pa.decimal128(12, 2),
                 pa.decimal128(38, 10), pa.decimal128(38, 18), pa.decimal128(38, 0), pa.decimal256(50, 20)]


CON = duckdb.connect()


def text_of(array: pa.Array, dtype: pa.DataType, as_double: bool) -> str | None:
    CON.register("t", pa.table({"v": engine_array(array, dtype)}))
    return CON.execute(f"SELECT {canonical_sql('v', dtype, as_double)} FROM t").fetchall()[0][0]


def hash_of(array: pa.Array, dtype: pa.DataType, as_double: bool) -> tuple[int, int]:
    h = value_hashes(engine_array(array, dtype), dtype, KEYS, as_double)
    return int(h.a[0]), int(h.b[0])


def typed(value: object, dtype: pa.DataType) -> pa.Array | None:
    """`value` as a one-value array of `dtype`, when the type holds it exactly."""
    if isinstance(value, bool):
        return None
    source_type = pa.int64() if isinstance(value, int) else pa.float64() if isinstance(value, float) \
        else pa.decimal128(38, 18)
    try:
        source = pa.array([value], source_type)
        cast = pc.cast(source, dtype)
        if pc.cast(cast, source_type).to_pylist() != source.to_pylist() and value == value:  # noqa: PLR0124
            return None
        return cast
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        return None


numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 3, 2**53, 2**53 + 1, 2**62, -(2**63)]),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30),
    st.sampled_from([0.5, -0.0, 0.1, 2.5, 3.0, float(2**53), 1e-7, float("nan"), float("inf")]),
    st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=4, allow_nan=False),
    st.decimals(min_value=Decimal("-10"), max_value=Decimal("10"), places=18, allow_nan=False),
    st.sampled_from([Decimal("0.1"), Decimal("2.50"), Decimal("3.000"), Decimal("-0.0000")]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(numbers, min_size=1, max_size=4))
def test_numbers_hash_equal_exactly_when_their_canonical_texts_are(values: list) -> None:
    items = [(array, dtype) for value in values for dtype in NUMERIC_TYPES
             if (array := typed(value, dtype)) is not None]
    # each item's text and hash, compared exactly and (for a decimal against a float) as a double
    seen = [{d: (text_of(a, t, d), hash_of(a, t, d)) for d in (False, True) if d <= pa.types.is_decimal(t)}
            for a, t in items]
    for (i, (a, ta)), (j, (b, tb)) in itertools.combinations(enumerate(items), 2):
        da = pa.types.is_decimal(ta) and pa.types.is_floating(tb)
        db = pa.types.is_decimal(tb) and pa.types.is_floating(ta)
        (text_a, hash_a), (text_b, hash_b) = seen[i][da], seen[j][db]
        assert (text_a == text_b) == (hash_a == hash_b), (a.to_pylist(), ta, da, b.to_pylist(), tb, db)


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(["", "N", "|", "1:a", "a\x00"])


@settings(max_examples=40, deadline=None)
@given(st.lists(texts, min_size=2, max_size=12))
def test_strings_and_binary_hash_by_their_bytes(values: list[str]) -> None:
    for dtype in (pa.string(), pa.large_string(), pa.string_view()):
        h = value_hashes(pa.array(values, dtype), dtype, KEYS)
        pairs = {v: (int(a), int(b)) for v, a, b in zip(values, h.a, h.b)}
        assert len(set(pairs.values())) == len(set(values))
    raw = [v.encode() for v in values]
    h = value_hashes(pa.array(raw, pa.binary()), pa.binary(), KEYS)
    assert len({(int(a), int(b)) for a, b in zip(h.a, h.b)}) == len(set(raw))


def test_long_arrays_hash_as_their_parts() -> None:
    """Blocks, dictionaries and the order of values never change a value's hash."""
    values = [f"v{i % 3000}" if i % 7 else f"unique-{i}" * (i % 5) for i in range(100_000)]
    tail = value_hashes(pa.array(values[-50:]), pa.string(), KEYS)
    for dtype in (pa.string(), pa.string_view(), pa.large_string()):  # TPC-H's generator writes views
        whole = value_hashes(pa.array(values, dtype), dtype, KEYS)
        assert whole.a[-50:].tolist() == tail.a.tolist() and whole.b[-50:].tolist() == tail.b.tolist()
    unique = [f"row-{i}" for i in range(100_000)]  # not worth a dictionary
    assert value_hashes(pa.array(unique, pa.binary_view()), pa.binary_view(), KEYS).a[-1] == value_hashes(
        pa.array(unique[-1:], pa.binary()), pa.binary(), KEYS).a[0]
    ints = pa.array(list(range(-50_000, 50_000)), pa.int64())
    assert value_hashes(ints, pa.int64(), KEYS).a[-1] == value_hashes(ints.slice(99_999), pa.int64(), KEYS).a[0]


def test_decimals_agree_whichever_path_reads_them() -> None:
    """A value whose unscaled digits fit 64 bits in one decimal type and not in another hashes the
    same in both (19 significant digits is the edge)."""
    for text in ("1.234567890123456789", "-9.223372036854775807", "-9.223372036854775808", "9.223372036854775808",
                 "9.999999999999999999", "0.5"):
        hashes = {hash_of(pa.array([Decimal(text)], t), t, False)
                  for t in (pa.decimal128(38, 18), pa.decimal128(38, 30), pa.decimal256(60, 30))}
        assert len(hashes) == 1, text


def test_strings_are_never_read_as_numbers() -> None:
    """Only decimals lose trailing zeros: '1.50' is not '1.5', '-0' is not '0', in any string form."""
    values = ["1.50", "1.5", "-0", "0", "1E-3", "0.001"]
    for dtype in (pa.string(), pa.dictionary(pa.int32(), pa.string()), pa.large_string()):
        array = engine_array(pa.array(values, dtype), dtype)
        assert array.to_pylist() == values
        h = value_hashes(array, dtype, KEYS)
        assert len(set(zip(h.a.tolist(), h.b.tolist()))) == len(values)


def test_nulls_equal_nulls_and_nothing_else() -> None:
    for dtype, values in ((pa.int64(), [None, 0, None]), (pa.string(), [None, "", None]),
                          (pa.float64(), [None, float("nan"), None]), (pa.date32(), [None, dt.date(1970, 1, 1), None])):
        h = value_hashes(pa.array(values, dtype), dtype, KEYS)
        assert (h.a[0], h.b[0]) == (h.a[2], h.b[2]) != (h.a[1], h.b[1])


def test_timestamps_are_instants_whatever_the_unit() -> None:
    moments = [dt.datetime(2024, 1, 1, 12, 0, 0), dt.datetime(1969, 12, 31, 23, 59, 59), dt.datetime(2262, 4, 1)]
    hashes = set()
    for unit in ("s", "ms", "us", "ns"):
        dtype = pa.timestamp(unit)
        h = value_hashes(engine_array(pa.array(moments, dtype), dtype), dtype, KEYS)
        hashes.add(tuple(h.a.tolist()))
    assert len(hashes) == 1
    dtype = pa.timestamp("ms")
    near = value_hashes(engine_array(pa.array([moments[0] + dt.timedelta(milliseconds=1)], dtype), dtype), dtype, KEYS)
    assert near.a[0] not in hashes.pop()


def test_huge_integers_compare_by_exact_value() -> None:
    """Beyond 128 bits (decimal256 and doubles): by the exact integer, so 2^130 as a double equals
    the same decimal and differs from its neighbour."""
    wide = pa.decimal256(60, 0)
    value = 2**130
    as_decimal = hash_of(pa.array([Decimal(value)], wide), wide, False)
    assert as_decimal == hash_of(pa.array([float(value)]), pa.float64(), False)
    assert as_decimal != hash_of(pa.array([Decimal(value + 1)], wide), wide, False)
    tiny = pa.decimal256(60, 40)  # Arrow writes such values in scientific notation
    assert hash_of(pa.array([Decimal("1E-30")], tiny), tiny, False) == hash_of(
        pa.array([Decimal("1E-30")], pa.decimal128(38, 35)), pa.decimal128(38, 35), False)


def test_column_order_in_a_set_matters_and_sets_are_keyed_by_position() -> None:
    x = value_hashes(pa.array([1, 2]), pa.int64(), KEYS)
    swapped = value_hashes(pa.array([2, 1]), pa.int64(), KEYS)
    rows = combine([x, swapped], KEYS)
    assert (rows.a[0], rows.b[0]) != (rows.a[1], rows.b[1])  # (1, 2) is not (2, 1)
    table = pa.table({"c0": [1, 2, 1], "c1": ["a", "b", "a"]})
    fps = fingerprint_rows(table, [pa.int64(), pa.string()], [[(0, False), (1, False)], [(1, False)]], KEYS)
    assert fps.column("k").to_pylist() == [0, 0, 0, 1, 1, 1]
    a = fps.column("a").to_pylist()
    assert a[0] == a[2] != a[1] and a[3] == a[5] != a[4]


def test_fingerprints_depend_on_the_scan_keys() -> None:
    x = pa.array([1, 2, 3])
    assert value_hashes(x, pa.int64(), KEYS).b.tolist() != value_hashes(x, pa.int64(), Keys.fresh()).b.tolist()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=70) | st.none(), min_size=1, max_size=60),
       st.integers(0, 5))
def test_the_compiled_loops_hash_exactly_as_the_numpy_code(values: list[str | None], skip: int) -> None:
    """engines/kernels.py's loops against the numpy code they replace (its reference), bit for bit:
    strings and bytes of every length (a word's tail and the buffer's last bytes), nulls, sliced
    arrays, 32- and 64-bit offsets, dictionaries; and a column set's combination."""
    from r2d2.engines import kernels

    if not kernels.AVAILABLE:
        import pytest

        pytest.skip("no compiled loops are installed here: only the numpy code runs")
    kernels.JIT = True  # a scan before may have chosen numpy's code
    arrays = [pa.array(values, t).slice(min(skip, len(values) - 1)) for t in (pa.string(), pa.large_string())]
    raw = [None if v is None else v.encode() for v in values]
    arrays += [pa.array(raw, pa.binary()), pa.array(values, pa.string()).dictionary_encode()]
    ints = pa.array(range(len(values)), pa.int64())
    for array in arrays:
        dtype = pa.binary() if pa.types.is_binary(array.type) else pa.string()
        rows = pa.table({"c0": array, "c1": ints.slice(0, len(array))})
        sets = [[(0, False), (1, False)], [(1, False), (0, False)]]
        compiled = value_hashes(array, dtype, KEYS)
        set_compiled = fingerprint_rows(rows, [dtype, pa.int64()], sets, KEYS)
        try:
            kernels.JIT = False
            reference = value_hashes(array, dtype, KEYS)
            set_reference = fingerprint_rows(rows, [dtype, pa.int64()], sets, KEYS)
        finally:
            kernels.JIT = True
        assert compiled.a.tolist() == reference.a.tolist() and compiled.b.tolist() == reference.b.tolist()
        assert sorted(zip(*(c.to_pylist() for c in set_compiled.columns))) == \
            sorted(zip(*(c.to_pylist() for c in set_reference.columns)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=80), st.lists(st.integers(0, 80), max_size=4),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=80), st.booleans(), st.booleans())
def test_grouping_and_merging_fingerprints_count_exactly(rows: list[tuple[int, int]], cuts: list[int],
                                                         parent_rows: list[tuple[int, int]], bag: bool,
                                                         compiled: bool) -> None:
    """kernels.group against a Counter per segment (equal first lanes with different second ones
    included), and kernels.missing against the multiset difference it stands for: the compiled loops
    and numpy's code alike."""
    _check_grouping_under(compiled, rows, cuts, parent_rows, bag)


def test_grouping_segments_of_millions_of_rows_in_two_passes() -> None:
    """Segments too large for one pass of the compiled sort (two: the top bits, then the next ones
    within each bucket) group as numpy's argsort does, bit for bit: random first lanes, the lowest
    and highest ones, equal first lanes with different second ones, many copies of a few rows (a
    bucket that the second pass cannot split), beside a segment small enough for one pass."""
    import numpy as np

    if not kernels.AVAILABLE:
        pytest.skip("no compiled loops are installed here: only numpy's code runs")
    rng = np.random.default_rng(7)
    two_passes = (4 << 16) + 1000  # 16: _loops.ONE_PASS_BITS (and _ckernels.c's)
    sizes = [two_passes, 2000, 2 * two_passes]
    a = rng.integers(0, 2**64 - 1, sum(sizes), dtype=np.uint64, endpoint=True)
    b = rng.integers(0, 3, sum(sizes), dtype=np.uint64)
    a[:50], a[50:100] = 0, np.uint64(2**64 - 1)  # the edges of the first bucket and the last
    a[1000:1400] = a[999]  # one first lane, second lanes 0-2
    a[5000:9000], b[5000:9000] = a[rng.integers(5000, 5010, 4000)], 1  # copies of ten rows
    starts = np.cumsum([0, *sizes]).astype(np.int64)
    before = kernels.JIT
    try:
        kernels.JIT = True
        compiled = kernels.group(a, b, starts)
        kernels.JIT = False
        reference = kernels.group(a, b, starts)
    finally:
        kernels.JIT = before
    for got, want in zip(compiled, reference):
        assert np.array_equal(got, want)
    assert int(compiled[2].sum()) == len(a) and len(compiled[0]) < len(a)


# First lanes over all 64 bits (the compiled sort buckets rows by their top bits): a few values
# near each edge and spread between, so that rows share first lanes, buckets and top bits.
_LANES = [0, 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1, *(k * 0x9E3779B97F4A7C15 % 2**64 for k in range(1, 40))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_LANES), st.integers(0, 2)), max_size=400),
       st.lists(st.integers(0, 400), max_size=4),
       st.lists(st.tuples(st.sampled_from(_LANES), st.integers(0, 2)), max_size=400), st.booleans(), st.booleans())
def test_grouping_counts_exactly_with_first_lanes_over_all_bits(rows: list[tuple[int, int]], cuts: list[int],
                                                                parent_rows: list[tuple[int, int]], bag: bool,
                                                                compiled: bool) -> None:
    """The same checks with first lanes spread over all 64 bits and up to 400 rows a segment:
    the compiled sort's buckets (by top bits), small ones sorted by insertion and large ones (many
    copies of a row) by merging, against the same Counter."""
    _check_grouping_under(compiled, rows, cuts, parent_rows, bag)


def _check_grouping_under(compiled: bool, rows: list[tuple[int, int]], cuts: list[int],
                          parent_rows: list[tuple[int, int]], bag: bool) -> None:
    """_check_grouping with the compiled loops (skipped where none is installed) or numpy's code."""
    from r2d2.engines import kernels

    if compiled and not kernels.AVAILABLE:
        import pytest

        pytest.skip("no compiled loops are installed here: only numpy's code runs")
    before = kernels.JIT
    kernels.JIT = compiled
    try:
        _check_grouping(rows, cuts, parent_rows, bag)
    finally:
        kernels.JIT = before


def _check_grouping(rows: list[tuple[int, int]], cuts: list[int], parent_rows: list[tuple[int, int]],
                    bag: bool) -> None:
    from collections import Counter

    import numpy as np

    from r2d2.engines import kernels

    a = np.array([r[0] for r in rows], np.uint64)
    b = np.array([r[1] for r in rows], np.uint64)
    starts = np.array(sorted({0, len(rows), *(c for c in cuts if c <= len(rows))}), np.int64)
    ga, gb, count, first = kernels.group(a, b, starts)
    segments = []
    for s in range(len(starts) - 1):
        want = sorted(Counter(rows[starts[s]:starts[s + 1]]).items())
        got = [((int(ga[i]), int(gb[i])), int(count[i])) for i in range(first[s], first[s + 1])]
        assert got == want
        segments.append((ga[first[s]:first[s + 1]], gb[first[s]:first[s + 1]], count[first[s]:first[s + 1]]))
    pa_, pb, pc_, _ = kernels.group(np.array([r[0] for r in parent_rows], np.uint64),
                                    np.array([r[1] for r in parent_rows], np.uint64),
                                    np.array([0, len(parent_rows)], np.int64))
    first_rows = rows[:starts[1]] if len(starts) > 1 else []
    child, parent = Counter(first_rows), Counter(parent_rows)
    expected = (sum(max(n - parent[r], 0) for r, n in child.items()), len(first_rows)) if bag else \
        (sum(1 for r in child if r not in parent), len(child))
    empty = (np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64))
    assert kernels.missing(segments[0] if segments else empty, (pa_, pb, pc_), bag) == expected


@pytest.mark.parametrize("own_rows", [None, 1])
def test_many_tables_fingerprint_alike_in_both_paths(own_rows: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """fingerprint_many's one compiled call over every column set against its numpy path (same
    rows for every table and set, whatever their order): tables of different widths and types,
    sets sharing columns, a decimal compared as a double, an empty table. Columns are copied
    together when short (these are) or hashed from their own buffers (own_rows=1: all); either way
    each table's rows are those it gets fingerprinted alone."""
    from decimal import Decimal as D

    from r2d2.engines import fingerprint, kernels
    from r2d2.engines.fingerprint import fingerprint_many

    if own_rows is not None:
        monkeypatch.setattr(fingerprint, "OWN_STACK_ROWS", own_rows)

    if not kernels.AVAILABLE:
        pytest.skip("no compiled loops are installed here: only the numpy code runs")
    monkeypatch.setattr(kernels, "JIT", True)  # a scan before may have chosen numpy's code
    one = pa.table({"c0": pa.array([1, 2, None, 4]), "c1": pa.array(["a", "bb", "a", None]),
                    "c2": pa.array([D("1.50"), D("2"), None, D("0.1")], pa.decimal128(10, 2))})
    two = pa.table({"c0": pa.array(["x" * 20, "y", "z"]), "c1": pa.array([1.5, float("nan"), -0.0])})
    empty = pa.table({"c0": pa.array([], pa.int64())})
    # integer columns in several chunks, in no chunk at all, and of another width; slices (their
    # values and NULLs start past bit 0), in a chunk of their own and among others
    chunked = pa.table({"c0": pa.chunked_array([pa.array([9], pa.int64()),
                                                pa.array([-6, None, 5, 7], pa.int64()).slice(1)]),
                        "c1": pa.array([0, 3, None, 3, -(2**31)], pa.int32()).slice(1)})
    no_chunks = pa.table({"c0": pa.chunked_array([], pa.int64())})
    parts = [(7, one, [pa.int64(), pa.string(), pa.decimal128(10, 2)], [[(0, False), (1, False)], [(2, True)],
                                                                         [(1, False), (0, False), (2, False)]]),
             (3, two, [pa.string(), pa.float64()], [[(0, False)], [(1, False), (0, False)]]),
             (5, empty, [pa.int64()], [[(0, False)]]),
             (2, chunked, [pa.int64(), pa.int32()], [[(0, False), (1, False)], [(1, False)], [(0, False)]]),
             (4, no_chunks, [pa.int64()], [[(0, False)]])]
    compiled = fingerprint_many(parts, KEYS)
    try:
        kernels.JIT = False
        reference = fingerprint_many(parts, KEYS)
    finally:
        kernels.JIT = True
    alone = pa.concat_tables([fingerprint_many([part], KEYS) for part in parts])
    assert compiled.num_rows == reference.num_rows == 4 * 3 + 3 * 2 + 4 * 3
    assert sorted(zip(*(c.to_pylist() for c in compiled.columns))) == \
        sorted(zip(*(c.to_pylist() for c in reference.columns))) == sorted(zip(*(c.to_pylist() for c in alone.columns)))


_NUMBER_ARRAYS = [
    (pa.int8(), st.integers(-(2**7), 2**7 - 1)), (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    (pa.int64(), st.integers(-(2**63), 2**63 - 1)), (pa.uint16(), st.integers(0, 2**16 - 1)),
    (pa.float32(), st.floats(width=32)), (pa.float64(), st.floats() | st.sampled_from(
        [-0.0, 3.0, 2.0**63, -(2.0**63), 2.0**70, -1e300, float("nan"), float("inf")])),
    (pa.date32(), st.integers(-(2**31), 2**31 - 1)),
    (pa.decimal128(15, 2), st.decimals(min_value=Decimal("-9999999999999.99"), max_value=Decimal("9999999999999.99"),
                                       places=2, allow_nan=False, allow_infinity=False)),  # the widest that fit
    (pa.decimal128(38, 10), st.decimals(min_value=-(10**27), max_value=10**27, places=10, allow_nan=False,
                                        allow_infinity=False)),  # unscaled values beyond 64 bits too
    *((pa.timestamp(unit, tz), st.integers(-(2**62), 2**62))
      for unit in ("s", "ms", "us", "ns") for tz in (None, "UTC")),
]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(range(len(_NUMBER_ARRAYS))), st.integers(0, 3))
def test_the_compiled_loops_hash_numbers_exactly_as_the_numpy_code(data: st.DataObject, which: int, skip: int) -> None:
    """kernels.int_lanes, double_lanes, decimal_lanes and instant_lanes against numpy's code, bit for
    bit: every integer width, floats (integral, -0.0, NaN, infinities, integral beyond 2^63),
    decimals (trailing zeros, integral ones, unscaled values beyond 64 bits), dates, timestamps of
    every unit before and after 1970, NULLs, and arrays sliced at any offset."""
    from r2d2.engines import kernels

    if not kernels.AVAILABLE:
        import pytest

        pytest.skip("no compiled loops are installed here: only the numpy code runs")
    dtype, values = _NUMBER_ARRAYS[which]
    raw = data.draw(st.lists(values | st.none(), min_size=1, max_size=70))
    storage = pa.int64() if pa.types.is_timestamp(dtype) else pa.int32() if pa.types.is_date32(dtype) else dtype
    array = pa.array(raw, storage).cast(dtype) if storage != dtype else pa.array(raw, dtype)
    array = array.slice(min(skip, len(array) - 1))
    kernels.JIT = True  # a scan before may have chosen numpy's code
    compiled = value_hashes(array, dtype, KEYS)
    try:
        kernels.JIT = False
        reference = value_hashes(array, dtype, KEYS)
    finally:
        kernels.JIT = True
    assert compiled.a.tolist() == reference.a.tolist() and compiled.b.tolist() == reference.b.tolist()
    # Row fingerprints of it, with its NULLs and without (integers are added from their values by
    # add_int_columns, their hashes never stored), in chunks sliced at offsets, twice in a table,
    # in sets of one and two columns.
    for column in (array, array.filter(array.is_valid())):
        chunked = pa.chunked_array([column, column.slice(len(column) // 2)], dtype)
        rows = pa.table({"c0": chunked, "c1": chunked})
        sets = [[(0, False)], [(1, False), (0, False)]]
        set_compiled = fingerprint_rows(rows, [dtype, dtype], sets, KEYS)
        try:
            kernels.JIT = False
            set_reference = fingerprint_rows(rows, [dtype, dtype], sets, KEYS)
        finally:
            kernels.JIT = True
        assert set_compiled.num_rows == 2 * rows.num_rows
        assert sorted(zip(*(c.to_pylist() for c in set_compiled.columns))) == \
            sorted(zip(*(c.to_pylist() for c in set_reference.columns)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(["a", "bb", "", "ccc" * 5, None]), min_size=1, max_size=5),
                          st.lists(st.integers(0, 4) | st.none(), max_size=30), st.integers(0, 3)),
                min_size=1, max_size=6), st.booleans())
def test_dictionary_chunks_hash_as_their_values(chunks: list[tuple[list[str | None], list[int | None], int]],
                                                compiled: bool) -> None:
    """Dictionary arrays (each chunk its own dictionary, NULLs among the values and the indices,
    chunks sliced at offsets) hash as the values they stand for, chunk after chunk: the
    dictionaries hashed together with each chunk's indices moved past the ones before, by the compiled
    loops and by numpy's code."""
    from r2d2.engines import kernels

    if compiled and not kernels.AVAILABLE:
        import pytest

        pytest.skip("no compiled loops are installed here: only numpy's code runs")
    arrays = []
    for values, picks, skip in chunks:
        indices = pa.array([None if p is None else p % len(values) for p in picks], pa.int32())
        encoded = pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string()))
        arrays.append(encoded.slice(min(skip, len(encoded))))
    column = pa.chunked_array(arrays, pa.dictionary(pa.int32(), pa.string()))
    plain = pa.chunked_array([a.cast(pa.string()) for a in arrays], pa.string())
    before = kernels.JIT
    kernels.JIT = compiled
    try:
        got = value_hashes(column, pa.string(), KEYS)
        kernels.JIT = False
        want = value_hashes(plain, pa.string(), KEYS)
    finally:
        kernels.JIT = before
    assert got.a.tolist() == want.a.tolist() and got.b.tolist() == want.b.tolist()
