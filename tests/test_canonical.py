"""DESIGN §2 value equality as the local engine realises it (canonical text in DuckDB)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from r2d2.engines.local import canonical_sql, fingerprint_sql
from r2d2.storage.reader import engine_array


def canon(values: list, dtype: pa.DataType) -> list:
    array = engine_array(pa.array(values, dtype), dtype)
    con = duckdb.connect()
    con.register("t", pa.table({"v": array}))
    return [r[0] for r in con.execute(f"SELECT {canonical_sql('v', dtype)} FROM t").fetchall()]


def test_numbers_equal_by_value_across_types() -> None:
    ints = canon([3, -7, 0], pa.int8())
    assert canon([3, -7, 0], pa.int64()) == ints
    assert canon([3.0, -7.0, -0.0], pa.float64()) == ints
    assert canon([3.0, -7.0, 0.0], pa.float32()) == ints
    assert canon([Decimal("3.00"), Decimal("-7.00"), Decimal("0.00")], pa.decimal128(10, 2)) == ints


def test_non_integral_numbers() -> None:
    floats = canon([0.1, 2.5, 1e-7], pa.float64())
    assert canon([Decimal("0.10"), Decimal("2.50"), None], pa.decimal128(12, 2))[:2] == floats[:2]
    # two different decimals never collapse, whatever their scale
    a, b = canon([Decimal("0.1"), Decimal("0.10000000000000000555")], pa.decimal128(38, 20))
    assert a != b
    # a float32 value is the double it widens to, not the decimal it was typed as
    assert canon([0.1], pa.float32()) != canon([0.1], pa.float64())


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
