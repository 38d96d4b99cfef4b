"""DESIGN §2 value equality as the local engine realises it (canonical text in DuckDB)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from r2d2.engines.local import canonical_sql, fingerprint_sql
from r2d2.storage.reader import engine_array


def canon(values: list, dtype: pa.DataType, as_double: bool = False) -> list:
    array = engine_array(pa.array(values, dtype), dtype)
    con = duckdb.connect()
    con.register("t", pa.table({"v": array}))
    return [r[0] for r in con.execute(f"SELECT {canonical_sql('v', dtype, as_double)} FROM t").fetchall()]


def test_numbers_equal_by_value_across_types() -> None:
    ints = canon([3, -7, 0], pa.int8())
    assert canon([3, -7, 0], pa.int64()) == ints
    assert canon([3.0, -7.0, -0.0], pa.float64()) == ints
    assert canon([3.0, -7.0, 0.0], pa.float32()) == ints
    assert canon([Decimal("3.00"), Decimal("-7.00"), Decimal("0.00")], pa.decimal128(10, 2)) == ints


def test_non_integral_numbers() -> None:
    floats = canon([0.1, 2.5, 1e-7], pa.float64())
    # against a float column, a decimal compares as its nearest double
    assert canon([Decimal("0.10"), Decimal("2.50"), None], pa.decimal128(12, 2), as_double=True)[:2] == floats[:2]
    # against decimals and integers, by exact value: two different decimals never collapse
    a, b = canon([Decimal("0.1"), Decimal("0.10000000000000000555")], pa.decimal128(38, 20))
    assert a != b
    assert canon([Decimal("2.50")], pa.decimal128(12, 2)) == canon([Decimal("2.5")], pa.decimal128(38, 10))
    # a float32 value is the double it widens to, not the decimal it was typed as
    assert canon([0.1], pa.float32()) != canon([0.1], pa.float64())


def test_decimal_against_float_is_the_nearest_double() -> None:
    """DESIGN §2: a decimal compared with a float compares as the double a widening cast gives,
    correctly rounded (DuckDB's own DECIMAL→DOUBLE cast is not)."""
    exact = Decimal(0.1)  # 0.1000000000000000055511151231257827021181583404541015625
    d27 = pa.decimal128(38, 27)
    held = exact.quantize(Decimal(1).scaleb(-27))  # the double's value to 27 places: nearest double is 0.1
    assert canon([held], d27, as_double=True) == canon([0.1], pa.float64())
    assert canon([Decimal("0.10000000000000001")], d27, as_double=True) == canon([0.1], pa.float64())
    assert canon([Decimal("0.1000000000000001")], d27, as_double=True) != canon([0.1], pa.float64())
    # values whose nearest double a two-step cast (integer to double, then divide) gets wrong
    for text in ("0.123456789012345678901234567", "9.999999999999999999999999999", "1.000000000000000055511151232"):
        value = Decimal(text)
        assert canon([value], d27, as_double=True) == canon([float(value)], pa.float64()), text


def test_wide_decimals_beyond_duckdb() -> None:
    wide = pa.decimal256(60, 10)
    big = Decimal("123456789012345678901234567890123456789012345.5")
    assert canon([big], wide)[0] == "123456789012345678901234567890123456789012345.5"
    assert canon([Decimal("12.5000000000")], wide) == canon([Decimal("12.50")], pa.decimal128(10, 2))
    assert canon([Decimal("7")], wide) == canon([7], pa.int64())
    assert canon([big], wide, as_double=True) == canon([float(big)], pa.float64())
    assert canon([Decimal(10) ** 40], pa.decimal256(45, 0), as_double=True) == canon([1e40], pa.float64())
    assert canon([Decimal(10) ** 40], pa.decimal256(45, 0)) == [str(10**40)]


def test_nan_null_and_signed_zero() -> None:
    assert canon([float("nan")], pa.float64()) == canon([float("nan")], pa.float32())
    assert canon([None], pa.float64()) == [None]
    assert canon([-0.0], pa.float64()) == canon([0.0], pa.float64())


def test_big_integers_stay_exact() -> None:
    big = 2**53 + 1
    assert canon([big], pa.int64()) != canon([float(big)], pa.float64())
    assert canon([2**64 - 1], pa.uint64()) == [str(2**64 - 1)]


def test_timestamps_compare_as_instants_across_units() -> None:
    ms = canon([1_000, 1_500], pa.timestamp("ms"))
    assert canon([1_000_000, 1_500_000], pa.timestamp("us")) == ms
    assert canon([1_000_000_000, 1_500_000_000], pa.timestamp("ns")) == ms
    assert canon([1], pa.timestamp("s")) == ms[:1]


def test_strings_dictionary_and_binary() -> None:
    assert canon(["a", "é"], pa.string()) == canon(["a", "é"], pa.large_string())
    assert canon(["x"], pa.dictionary(pa.int32(), pa.string())) == canon(["x"], pa.string())
    assert canon([b"\x00\xff"], pa.binary()) == canon([b"\x00\xff"], pa.large_binary())


@pytest.mark.parametrize("rows", [[("a", "bc"), ("ab", "c")], [(None, "x"), ("N", "x")], [("1:a", ""), ("", "1:a")],
                                  [("a|b", "c"), ("a", "b|c")], [("", None), (None, "")], [("1:|", "x"), ("|", "1:x")]])
def test_row_fingerprints_do_not_confuse_neighbouring_values(rows: list[tuple]) -> None:
    table = pa.table({"a": [r[0] for r in rows], "b": [r[1] for r in rows]})
    con = duckdb.connect()
    con.register("t", table)
    fps = con.execute(f"SELECT {fingerprint_sql(['a', 'b'], [pa.string(), pa.string()])} FROM t").fetchall()
    assert fps[0] != fps[1]


def test_mixed_row_fingerprints_separate_nulls_nan_and_text() -> None:
    table = pa.table({"f": [float("nan"), None, 1.0, 1.0], "s": ["x", "x", "|N", "N|"], "b": [True, True, None, None]})
    con = duckdb.connect()
    con.register("t", table)
    sql = fingerprint_sql(["f", "s", "b"], [pa.float64(), pa.string(), pa.bool_()])
    fps = [r[0] for r in con.execute(f"SELECT {sql} FROM t").fetchall()]
    assert len(set(fps)) == 4
