"""Tests of the brute-force oracle (DESIGN §1, §2) on hand-made lakes, and of the lake generator."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.lakegen import build_lake
from tests.oracle import discover, oracle_edges, oracle_tables


def put(root: Path, table_id: str, table: pa.Table | dict, name: str = "part-00000.parquet") -> Path:
    """Write one Parquet data file into a table folder (created if needed); return the file."""
    folder = root / table_id
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table if isinstance(table, pa.Table) else pa.table(table), folder / name)
    return folder / name


def both_ways(a: str, b: str) -> set[tuple[str, str]]:
    """The two edges of two tables that contain each other."""
    return {(a, b), (b, a)}


# --------------------------------------------------------------------------- hand-made lakes


def test_projection_is_contained_not_the_reverse(tmp_path: Path) -> None:
    put(tmp_path, "p", {"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [1.5, 2.5, 3.5]})
    put(tmp_path, "c", {"c": [3.5, 1.5], "a": [3, 1]})
    assert oracle_edges(tmp_path) == {("p", "c")}


def test_one_changed_cell_is_not_contained(tmp_path: Path) -> None:
    put(tmp_path, "p", {"a": [1, 2, 3], "b": ["x", "y", "z"]})
    put(tmp_path, "c", {"a": [1, 2, 3], "b": ["x", "y", "Z"]})
    assert oracle_edges(tmp_path) == set()


def test_duplicate_rows_bag_versus_set(tmp_path: Path) -> None:
    put(tmp_path, "base", {"a": [1, 2, 3]})
    put(tmp_path, "dup", {"a": [1, 2, 3, 3]})
    assert oracle_edges(tmp_path, "bag") == {("dup", "base")}
    assert oracle_edges(tmp_path, "set") == both_ways("dup", "base")
    with pytest.raises(ValueError):
        oracle_edges(tmp_path, "multiset")


def test_int_float_decimal_compare_by_value(tmp_path: Path) -> None:
    put(tmp_path, "ints", pa.table({"x": pa.array([1, 2, 3], pa.int32())}))
    put(tmp_path, "floats", pa.table({"x": pa.array([3.0, 2.0, 1.0], pa.float64())}))
    put(tmp_path, "decimals", pa.table({"x": pa.array([Decimal("1.00"), Decimal("2.00"), Decimal("3.00")],
                                                      pa.decimal128(18, 2))}))
    put(tmp_path, "uints", pa.table({"X": pa.array([1, 2, 3], pa.uint8())}))
    edges = oracle_edges(tmp_path)
    names = ["ints", "floats", "decimals", "uints"]
    assert edges == {(a, b) for a in names for b in names if a != b}


def test_non_integral_decimal_equals_nearest_double_only(tmp_path: Path) -> None:
    put(tmp_path, "f64", pa.table({"x": pa.array([0.1, 2.5], pa.float64())}))
    put(tmp_path, "dec", pa.table({"x": pa.array([Decimal("0.10"), Decimal("2.50")], pa.decimal128(10, 2))}))
    put(tmp_path, "f32", pa.table({"x": pa.array([0.1, 2.5], pa.float32())}))  # 0.1f is not 0.1
    put(tmp_path, "big", pa.table({"x": pa.array([2**53 + 1], pa.int64())}))
    put(tmp_path, "big_f", pa.table({"x": pa.array([float(2**53)], pa.float64())}))
    assert oracle_edges(tmp_path) == both_ways("f64", "dec")


def test_nan_negative_zero_and_null(tmp_path: Path) -> None:
    put(tmp_path, "p", {"v": [math.nan, -0.0, None, 1.0]})
    put(tmp_path, "c", {"v": [None, 0.0, math.nan, 1.0]})
    put(tmp_path, "nans", {"v": [math.nan, math.nan]})
    put(tmp_path, "nulls", pa.table({"v": pa.array([None, None], pa.float64())}))
    assert oracle_edges(tmp_path) == both_ways("p", "c")  # p holds one NaN and one NULL: bag says no
    assert oracle_edges(tmp_path, "set") == both_ways("p", "c") | {
        (parent, child) for parent in ("p", "c") for child in ("nans", "nulls")}  # but NaN is not NULL


def test_names_match_case_insensitively_and_types_by_family(tmp_path: Path) -> None:
    put(tmp_path, "p", {"Price": [1, 2], "Item": ["a", "b"]})
    put(tmp_path, "upper", {"PRICE": [2, 1], "ITEM": ["b", "a"]})
    put(tmp_path, "renamed", {"cost": [1, 2], "Item": ["a", "b"]})
    put(tmp_path, "string_price", {"price": ["1", "2"]})  # string family never matches numeric
    assert oracle_edges(tmp_path) == both_ways("p", "upper")


def test_timestamps_compare_as_instants_but_tz_is_a_family(tmp_path: Path) -> None:
    ms = pa.array([1_600_000_000_123, None], pa.timestamp("ms"))
    put(tmp_path, "ms", pa.table({"t": ms}))
    put(tmp_path, "us", pa.table({"t": ms.cast(pa.timestamp("us"))}))
    put(tmp_path, "ns", pa.table({"t": ms.cast(pa.timestamp("ns"))}))
    put(tmp_path, "utc", pa.table({"t": ms.cast(pa.timestamp("us", "UTC"))}))
    paris = ms.cast(pa.timestamp("ms", "UTC")).cast(pa.timestamp("ms", "Europe/Paris"))
    put(tmp_path, "paris", pa.table({"t": paris}))
    put(tmp_path, "d32", pa.table({"d": pa.array([18_000], pa.date32())}))
    put(tmp_path, "d64", pa.table({"d": pa.array([18_000 * 86_400_000], pa.date64())}))
    edges = oracle_edges(tmp_path)
    naive = ["ms", "us", "ns"]
    expected = {(a, b) for a in naive for b in naive if a != b} | both_ways("utc", "paris")
    assert edges == expected | both_ways("d32", "d64")


def test_hive_partitions_are_typed_like_spark(tmp_path: Path) -> None:
    put(tmp_path, "flat", {"k": [1, 2, None], "s": ["a/b", "x", None], "v": [10, 20, 30]})
    put(tmp_path, "part/k=1/s=a%2Fb", {"v": [10]})
    put(tmp_path, "part/k=2/s=x", {"v": [20]})
    put(tmp_path, "part/k=__HIVE_DEFAULT_PARTITION__/s=__HIVE_DEFAULT_PARTITION__", {"v": [30]})
    put(tmp_path, "part/_temporary/junk", {"v": [99]})  # hidden: not data
    put(tmp_path, "zero_padded/k=01", {"v": [10]})  # "01" is the int 1, not a string
    put(tmp_path, "zero_padded/k=2", {"v": [20]})
    put(tmp_path, "mixed/k=1", {"v": [10]})  # "1" and "b" resolve to strings
    put(tmp_path, "mixed/k=b", {"v": [20]})
    put(tmp_path, "dated/d=2019-04-14", {"v": [10]})
    put(tmp_path, "dates", pa.table({"d": pa.array([date(2019, 4, 14)], pa.date32()), "v": [10]}))
    tables = oracle_tables(tmp_path)
    assert tables["part"].columns["k"].family == "numeric"
    assert tables["mixed"].columns["k"].values == ["1", "b"]
    assert tables["dated"].columns["d"].family == "date"
    edges = oracle_edges(tmp_path)
    assert both_ways("flat", "part") <= edges
    assert ("flat", "zero_padded") in edges and ("part", "zero_padded") in edges
    assert not {e for e in edges if "mixed" in e}
    assert both_ways("dated", "dates") <= edges


def test_delta_reads_live_files_only(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    full = pa.table({"a": [1, 2, 3, 4], "k": ["x", "x", "y", "y"]})
    put(tmp_path, "full", full)
    write_deltalake(str(tmp_path / "dl"), full, partition_by=["k"])
    write_deltalake(str(tmp_path / "dl"), full.slice(0, 2), mode="overwrite")  # old files stay, dead
    write_deltalake(str(tmp_path / "dl_append"), full.slice(0, 1))
    write_deltalake(str(tmp_path / "dl_append"), full.slice(1), mode="append")
    tables = oracle_tables(tmp_path)
    assert tables["dl"].format == "delta" and tables["dl"].rows == 2
    assert oracle_edges(tmp_path) == {("full", "dl"), ("dl_append", "dl")} | both_ways("full", "dl_append")


def test_discovery_junk_empty_unreadable_nested(tmp_path: Path) -> None:
    put(tmp_path, "lake/a", {"x": [1, 2]})
    (tmp_path / "lake/a/_SUCCESS").write_bytes(b"")
    (tmp_path / "lake/a/.part-00000.parquet.crc").write_bytes(b"\x00crc")
    put(tmp_path, "lake/b", {"x": [1, 2]}, name="part-00000.parquet")
    put(tmp_path, "lake/b", {"x": [2]}, name="part-00001.parquet")
    put(tmp_path, "lake/empty", pa.table({"x": pa.array([], pa.int64())}))
    put(tmp_path, "lake/mixed", {"x": [1]})
    (tmp_path / "lake/mixed/extra.csv").write_text("x\n1\n")
    (tmp_path / "lake/corrupt").mkdir()
    (tmp_path / "lake/corrupt/part-0.parquet").write_bytes(b"PAR1 not really")
    put(tmp_path, ".hidden/t", {"x": [1, 2]})
    nested = pa.table({"x": [1, 2], "s": pa.array([{"a": 1}, {"a": 2}])})
    put(tmp_path, "nest/n1", nested)
    put(tmp_path, "nest/n2", nested)
    put(tmp_path, "nest/flat", {"x": [2, 1]})
    ids = [tid for tid, _, _ in discover(tmp_path)]
    assert ids == ["lake/a", "lake/b", "lake/corrupt", "lake/empty", "lake/mixed", "nest/flat", "nest/n1",
                   "nest/n2"]
    tables = oracle_tables(tmp_path)
    assert tables["lake/corrupt"].error and tables["lake/mixed"].error and not tables["lake/b"].error
    flat_twins = both_ways("lake/a", "nest/flat")
    assert oracle_edges(tmp_path) == {("lake/b", "lake/a"), ("lake/b", "nest/flat"), ("nest/n1", "nest/flat"),
                                      ("nest/n2", "nest/flat"), ("nest/n1", "lake/a"), ("nest/n2", "lake/a")
                                      } | flat_twins


# --------------------------------------------------------------------------- generated lakes


@pytest.fixture(scope="module")
def twin_lakes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path, dict]:
    """Two lakes built with the same seed, with Delta and bad tables."""
    first, second = tmp_path_factory.mktemp("lake1"), tmp_path_factory.mktemp("lake2")
    m1 = build_lake(first, n_tables=40, seed=1, with_bad=True)
    m2 = build_lake(second, n_tables=40, seed=1, with_bad=True)
    return first, m1, second, m2


def test_generated_lake_is_deterministic(twin_lakes: tuple[Path, dict, Path, dict]) -> None:
    first, m1, second, m2 = twin_lakes
    assert m1 == m2
    assert json.loads((first / "_manifest.json").read_text()) == m1
    assert [t for t, _, _ in discover(first)] == sorted(m1["tables"])
    assert oracle_edges(first) == oracle_edges(second)


def test_generated_lake_has_edges_but_not_for_empty_or_bad(twin_lakes: tuple[Path, dict, Path, dict]) -> None:
    first, manifest, _, _ = twin_lakes
    edges = oracle_edges(first)
    assert len(edges) >= 5
    in_edges = {t for edge in edges for t in edge}
    kinds = {t: info["kind"] for t, info in manifest["tables"].items()}
    excluded = {t for t, kind in kinds.items() if kind == "empty" or kind.startswith("bad")}
    assert excluded and not excluded & in_edges
    tables = oracle_tables(first)
    assert all(tables[t].error for t, info in manifest["tables"].items() if info.get("expect_error"))
    for parent, child in edges:
        assert kinds[child] not in {"changed_cell", "nulled", "nested", "nested_copy"}, (parent, child)
    kept = {"projection", "filter", "chain_projection", "floats_pos_zero", "timestamps_us", "unicode_upper",
            "delta_overwritten", "partition_escapes"}
    sources = {(info["source"][0], t) for t, info in manifest["tables"].items() if info["kind"] in kept}
    assert sources <= edges
