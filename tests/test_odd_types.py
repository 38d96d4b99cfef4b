"""Odd types never stop a scan: what r2d2 cannot compare makes the pair `unknown` with the reason,
and everything else still gets a verdict (DESIGN §2, 'other')."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from tests.conftest import scan_edges, write_table

N = 30


def odd_table() -> pa.Table:
    return pa.table({
        "i": list(range(N)),
        "t64": pa.array([i * 1000 for i in range(N)], pa.time64("us")),
        "t32": pa.array(list(range(N)), pa.time32("s")),
        "dur": pa.array(list(range(N)), pa.duration("ms")),
        "big": pa.array([Decimal(10**30 + i) for i in range(N)], pa.decimal128(38, 0)),
        "nul": pa.nulls(N),
        "dict": pa.array([f"v{i % 3}" for i in range(N)]).dictionary_encode(),
        "fsb": pa.array([bytes([i]) * 4 for i in range(N)], pa.binary(4)),
        "tz": pa.array(list(range(N)), pa.timestamp("ns", tz="Europe/Paris")),
        "d64": pa.array([dt.date(2020, 1, 1 + i % 28) for i in range(N)], pa.date64()),
        "ü名": [f"ü{i}" for i in range(N)],
    })


def test_other_types_are_compared_by_value(lake: Path) -> None:
    t = odd_table()
    write_table(lake, "odd", t)
    write_table(lake, "half", t.slice(0, 15))
    changed = t.to_pydict()
    changed["t64"][3] = 999_999
    write_table(lake, "changed", pa.table(changed, schema=t.schema))
    edges = scan_edges(lake)
    assert edges[("odd", "half")]["status"] == "contained"
    assert edges[("changed", "half")]["status"] == "not_contained"
    assert edges[("odd", "changed")]["status"] == "not_contained"


def test_uncomparable_columns_make_pairs_unknown_not_errors(lake: Path) -> None:
    t = odd_table().append_column("wide", pa.array([Decimal(i) / 4 for i in range(N)], pa.decimal256(40, 2)))
    t = t.append_column("lst", pa.array([[i] for i in range(N)]))
    write_table(lake, "a", t)
    write_table(lake, "b", t.slice(0, 10))
    write_table(lake, "flat", pa.table({"i": list(range(5))}))
    edges = scan_edges(lake)
    assert edges[("a", "b")]["status"] == "unknown"
    assert "nested" in edges[("a", "b")]["reason"] and "decimal" not in edges[("a", "b")]["reason"]
    assert edges[("a", "flat")]["status"] == "contained"  # a nested parent still contains a flat child
    assert edges[("b", "a")]["status"] == "not_contained"  # row counts refute whatever the types


def test_wide_decimals_are_compared_exactly(lake: Path) -> None:
    """decimal256 beyond DuckDB's 38 digits: compared by exact value (and against a float as the
    nearest double), not reported as unsupported."""
    big = Decimal("123456789012345678901234567890123456789012.25")
    off = Decimal("123456789012345678901234567890123456789012.26")  # literal: Python's context rounds sums
    wide = pa.array([big, Decimal("123456789012345678901234567890123456789013.25"), Decimal("0.5")],
                    pa.decimal256(50, 2))
    write_table(lake, "p", pa.table({"d": wide}))
    write_table(lake, "same", pa.table({"d": pa.array([big, Decimal("0.5")], pa.decimal256(60, 4))}))
    write_table(lake, "off", pa.table({"d": pa.array([off], pa.decimal256(50, 2))}))
    write_table(lake, "as_float", pa.table({"d": pa.array([float(big), 0.5], pa.float64())}))
    edges = scan_edges(lake)
    assert edges[("p", "same")]["status"] == "contained"
    assert edges[("p", "off")]["status"] == "not_contained"
    assert edges[("p", "as_float")]["status"] == "contained"  # the nearest double of big is float(big)
    assert edges[("as_float", "off")]["status"] == "contained"  # so is that of big + 0.01


def test_nan_signed_zero_and_null_heavy_floats(lake: Path) -> None:
    write_table(lake, "p", pa.table({"f": [float("nan"), 0.0, None, None, 1.5]}))
    write_table(lake, "c", pa.table({"f": [float("nan"), -0.0, None]}))
    write_table(lake, "c2", pa.table({"f": pa.array([None, None, None], pa.float64())}))
    edges = scan_edges(lake)
    assert edges[("p", "c")]["status"] == "contained"
    assert edges[("p", "c2")]["status"] == "not_contained"  # three NULLs, the parent has two
    assert scan_edges(lake, semantics="set")[("p", "c2")]["status"] == "contained"


def test_two_thousand_columns(lake: Path) -> None:
    write_table(lake, "wide", pa.table({f"c{i}": [i, i + 1] for i in range(2000)}))
    write_table(lake, "WIDE_COPY", pa.table({f"C{i}": [i + 1] for i in range(2000)}))
    assert scan_edges(lake)[("wide", "WIDE_COPY")]["status"] == "contained"
