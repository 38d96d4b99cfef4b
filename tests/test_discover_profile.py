"""Discovery and profiling (DESIGN §1, §3): Parquet folders, Hive partitions typed like Spark,
Delta live files from the log, and bad input reported per table without stopping the scan."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from r2d2.config import ScanConfig
from r2d2.discover import discover_tables
from r2d2.partition import infer_partition_type, parse_partition_folder, parse_partition_value
from r2d2.pipeline import run_scan
from r2d2.profile import profile_tables
from r2d2.storage import open_lake
from tests.conftest import write_table


def profiles(root: Path) -> dict:
    lake = open_lake(str(root))
    refs, _ = discover_tables(lake)
    return {p.id: p for p in profile_tables(lake, refs, ScanConfig())}


@pytest.mark.parametrize("values, expected", [
    (["1", "2"], pa.int32()), (["1", str(2**40)], pa.int64()), (["1", "2.5"], pa.float64()),
    (["2024-01-02"], pa.date32()), (["2024-01-02 03:04:05"], pa.timestamp("us", tz="UTC")),
    (["a", "1"], pa.string()), ([None, None], pa.string()), (["2024-13-45"], pa.string()),
    (["01", None], pa.int32()),
    # Checked against Spark 4 (spark.read.parquet of folders named so):
    (["123456789012345678901234567890123456789"], pa.float64()),  # 39 digits: no decimal holds it
    (["12345678901234567890"], pa.decimal128(20, 0)), (["1", "12345678901234567890"], pa.decimal128(20, 0)),
    (["1e5"], pa.decimal128(6, 0)), (["1", "1e5"], pa.decimal128(10, 0)),
    (["12345678901234567890", "1.5"], pa.string()),  # a double beside a decimal
    ([" 1"], pa.float64()), (["1 "], pa.float64()), (["1d"], pa.float64()), (["NaN"], pa.float64()),
    (["a b"], pa.string()), (["1_000"], pa.string()), (["0x10"], pa.string()),
    (["2024-01-01T10:00:00"], pa.string()), (["2024-01-01 10:00:00.1"], pa.timestamp("us", tz="UTC")),
    (["2024-01-01 10:00:00.123456"], pa.string()), (["2024-1-1"], pa.string()),
    (["2024-01-01", "2024-01-01 10:00:00"], pa.timestamp("us", tz="UTC")), (["1", "2024-01-01"], pa.string()),
])
def test_partition_types_follow_spark(values: list, expected: pa.DataType) -> None:
    assert infer_partition_type(values) == expected


@pytest.mark.parametrize("raw, dtype, value", [
    (" 1", pa.float64(), 1.0), ("123456789012345678901234567890123456789", pa.float64(), 1.2345678901234568e38),
    ("1e5", pa.decimal128(6, 0), Decimal(100000)), ("+7", pa.int32(), 7),
])
def test_partition_values_parse_as_spark_reads_them(raw: str, dtype: pa.DataType, value: object) -> None:
    assert infer_partition_type([raw]) == dtype
    assert parse_partition_value(raw, dtype) == value


@pytest.mark.parametrize("name, parsed", [
    ("k=a%2Fb", ("k", "a/b")), ("k=a%20", ("k", "a ")), ("k=%2", ("k", "%2")), ("k=%C3%A9", ("k", "\u00c3\u00a9")),
    ("k=__HIVE_DEFAULT_PARTITION__", ("k", None)), ("a=b=c", ("a", "b=c")), ("a", None),
])
def test_partition_folders_unescape_as_spark(name: str, parsed: tuple | None) -> None:
    assert parse_partition_folder(name) == parsed  # checked against Spark 4.3: a=b=c reads as a = 'b=c'


def test_partition_folders_spark_refuses_make_the_table_an_error(lake: Path) -> None:
    """Spark 4.3 refuses `p=` (EMPTY_PARTITION_COLUMN_VALUE) and `=x` (EMPTY_PARTITION_COLUMN_NAME);
    the old main read `p=` as the string '' and `=x` as a nested table."""
    t = pa.table({"v": [1]})
    for folder in ("empty_value/p=1", "empty_value/p=", "empty_name/=x", "two_signs/a=b=c"):
        write_table(lake, folder, t)
    errors = {t.id: t.error for t in run_scan(str(lake), None, ScanConfig()).tables}
    assert "empty value" in (errors["empty_value"] or "")
    assert "empty column name" in (errors["empty_name"] or "")
    assert errors["two_signs"] is None


def test_hive_partitions_become_columns_and_junk_is_ignored(lake: Path) -> None:
    t = pa.table({"v": [1, 2]})
    for folder in ("sales/year=2024/region=eu", "sales/year=2023/region=__HIVE_DEFAULT_PARTITION__",
                   "sales/year=2023/region=a%2Fb"):
        write_table(lake, folder, t)
    (lake / "sales" / "_SUCCESS").write_text("")
    (lake / "sales" / "year=2024" / "region=eu" / ".part-00000.parquet.crc").write_text("x")
    p = profiles(lake)["sales"]
    assert p.error is None
    assert [(c.name, str(c.type)) for c in p.columns] == [("v", "int64"), ("year", "int32"), ("region", "string")]
    assert p.rows == 6 and len(p.files) == 3
    assert p.stats["region"].null_count == 2
    assert p.stats["year"].lo == 2023 and p.stats["year"].hi == 2024


def test_nested_folders_give_ids_relative_to_the_root(lake: Path) -> None:
    write_table(lake, "a/b/ç", pa.table({"x": [1]}))
    write_table(lake, "top", pa.table({"x": [1]}))
    assert sorted(profiles(lake)) == ["a/b/ç", "top"]


def test_delta_live_files_come_from_the_log(lake: Path) -> None:
    path = lake / "d"
    write_deltalake(str(path), pa.table({"k": [1, 2, 3], "p": ["x", "y", "y"]}), partition_by=["p"])
    write_deltalake(str(path), pa.table({"k": [9], "p": ["x"]}), partition_by=["p"], mode="overwrite")
    p = profiles(lake)["d"]
    assert p.format == "delta" and p.error is None
    assert p.rows == 1 and p.stats["k"].lo == 9
    assert {c.name for c in p.columns} == {"k", "p"}


def test_bad_tables_get_errors_and_the_rest_is_profiled(lake: Path) -> None:
    write_table(lake, "good", pa.table({"x": [1]}))
    (lake / "corrupt").mkdir()
    (lake / "corrupt" / "part-0.parquet").write_bytes(b"not parquet at all, sorry")
    good = write_table(lake, "truncated", pa.table({"x": list(range(1000))}))
    data = (good / "part-00000.parquet").read_bytes()
    (good / "part-00000.parquet").write_bytes(data[: len(data) - 20])
    write_table(lake, "mixed", pa.table({"x": [1]}))
    (lake / "mixed" / "extra.csv").write_text("x\n1\n")
    (lake / "notes").mkdir()
    (lake / "notes" / "README.txt").write_text("hello")
    write_table(lake, "empty", pa.table({"x": pa.array([], pa.int64())}))
    write_table(lake, "cases", pa.table({"a": [1], "A": [2]}))
    got = profiles(lake)
    assert got["good"].error is None and got["good"].usable
    assert "not a Parquet file" in got["corrupt"].error and "part-0.parquet" in got["corrupt"].error
    assert "truncated Parquet file" in got["truncated"].error and "part-00000.parquet" in got["truncated"].error
    assert "mixed formats" in got["mixed"].error
    assert "no Parquet data files" in got["notes"].error
    assert got["empty"].error is None and not got["empty"].usable
    assert "letter case" in got["cases"].error


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file; permission errors cannot be staged")
def test_unreadable_file_is_reported(lake: Path) -> None:
    folder = write_table(lake, "locked", pa.table({"x": [1]}))
    (folder / "part-00000.parquet").chmod(0)
    assert "locked" in profiles(lake) and profiles(lake)["locked"].error


def test_symlinks_are_not_followed(lake: Path, tmp_path: Path) -> None:
    outside = write_table(tmp_path, "outside", pa.table({"x": [1]}))
    (lake / "link").symlink_to(outside, target_is_directory=True)
    write_table(lake, "inside", pa.table({"x": [1]}))
    assert sorted(profiles(lake)) == ["inside"]


def test_schema_evolution_across_files(lake: Path) -> None:
    folder = write_table(lake, "t", pa.table({"x": pa.array([1], pa.int32())}), name="a.parquet")
    pq.write_table(pa.table({"x": pa.array([2], pa.int64()), "y": ["b"]}), folder / "b.parquet")
    p = profiles(lake)["t"]
    assert p.error is None
    assert {c.name: str(c.type) for c in p.columns} == {"x": "int64", "y": "string"}
    assert p.stats["y"].null_count == 1


def test_profile_reads_only_footers(lake: Path) -> None:
    write_table(lake, "big", pa.table({"x": list(range(200_000)), "s": [str(i) for i in range(200_000)]}))
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    profile_tables(root, refs, ScanConfig())
    assert root.counter.total < 0.01 * sum(f.size for r in refs for f in r.files)


def test_a_footer_is_read_once_per_scan(lake: Path) -> None:
    """Profile fetches each footer; later stages parse the fetched bytes again instead of fetching
    them again (kept as fetched: parsed, they take 10-20 times the memory)."""
    write_table(lake, "t", pa.table({"x": list(range(1000))}))
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    path = refs[0].files[0].path
    first = root.read_footer(path)
    fetched = root.counter.total
    again = root.read_footer(path)
    assert fetched > 0 and again.equals(first) and again.num_rows == 1000 and root.counter.total == fetched


def test_a_folder_with_several_equals_signs_is_a_partition_split_at_the_first(lake: Path) -> None:
    """As Spark reads it (checked against Spark 4.3): the folder is partition `<img src` = 'x onerror=alert(1)>'."""
    write_table(lake, "odd/<img src=x onerror=alert(1)>", pa.table({"x": [1]}))
    write_table(lake, "dates/day=2024-01-01", pa.table({"x": [1]}))
    found = profiles(lake)
    assert sorted(found) == ["dates", "odd"]
    assert [c.name for c in found["odd"].columns] == ["x", "<img src"]


def test_small_files_are_read_whole_in_one_read_and_a_rewritten_one_is_an_error(lake: Path) -> None:
    """A small table's file is fetched whole (its own bytes, counted as fetched); a file whose size
    is not the one it was listed with is reported by name, never read as the table's rows."""
    from r2d2.errors import TableReadError
    from r2d2.storage.reader import SMALL_FILE_BYTES, read_rows

    folder = write_table(lake, "small", pa.table({"x": list(range(100)), "s": [str(i) for i in range(100)]}))
    write_table(lake, "wide", pa.table({"x": list(range(200_000)), "s": [f"value {i}" for i in range(200_000)]}))
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    got = {p.id: p for p in profile_tables(root, refs, ScanConfig())}
    small, wide = got["small"], got["wide"]
    assert small.bytes <= SMALL_FILE_BYTES < wide.bytes
    before = root.counter.total
    assert read_rows(root, small, ["x"]).column(0).to_pylist() == list(range(100))
    assert root.counter.total - before == small.bytes  # the whole file, in one read
    before = root.counter.total
    assert read_rows(root, wide, ["x"]).num_rows == 200_000
    assert 0 < root.counter.total - before < wide.bytes - wide.column_bytes["s"] // 2  # its chunks only
    pq.write_table(pa.table({"x": list(range(101)), "s": [str(i) for i in range(101)]}), folder / "part-00000.parquet")
    with pytest.raises(TableReadError, match=r"part-00000.parquet is \d+ bytes, not the \d+ bytes it was listed"):
        read_rows(root, small, ["x"])
    write_deltalake(str(lake / "delta"), pa.table({"x": list(range(50))}))
    refs, _ = discover_tables(root)
    delta = {p.id: p for p in profile_tables(root, refs, ScanConfig())}["delta"]
    before = root.counter.total
    assert delta.reader == "files" and sorted(read_rows(root, delta, ["x"]).column(0).to_pylist()) == list(range(50))
    assert root.counter.total - before == delta.bytes  # Delta files too, at the size the log records
    small.files[0].bytes = 10  # a log that understates the size: refused, nothing read
    before = root.counter.total
    with pytest.raises(TableReadError, match=r"is \d+ bytes, not the 10 bytes"):
        read_rows(root, small, ["x"])
    assert root.counter.total == before


def test_whole_small_tables_read_in_one_step_equal_their_batches(lake: Path) -> None:
    """read_rows takes a small table's files whole and as read (_read_whole_files) when each holds
    every column asked for in the table's type (pyarrow hands them over in the order asked for,
    whatever the file's: two same-typed columns swapped in a file come back by name); a narrower
    type, a missing column, a partition key or a column to convert (a timestamp, told before
    reading) go through iter_table_batches. Either way the rows are the batches'."""
    from r2d2.storage.reader import _read_whole_files, iter_table_batches, read_rows

    base = pa.table({"a": [1, 2, 3], "b": [10, 20, 30], "s": ["x", "y", None]})
    folder = write_table(lake, "two", base)
    pq.write_table(base, folder / "part-00001.parquet")
    folder = write_table(lake, "swapped", base)
    pq.write_table(base.select(["b", "a", "s"]), folder / "part-00001.parquet")
    folder = write_table(lake, "narrow", base)
    pq.write_table(base.set_column(0, "a", pa.array([4, 5, 6], pa.int32())), folder / "part-00001.parquet")
    folder = write_table(lake, "lacking", base)
    pq.write_table(base.drop_columns(["b"]), folder / "part-00001.parquet")
    write_table(lake / "parted", "g=1", base)
    write_table(lake, "stamped", base.append_column("t", pa.array([1, 2, 3], pa.timestamp("us"))))
    got = profiles(lake)
    root = open_lake(str(lake))
    before = root.counter.total  # a column the engine takes converted is told before any file is read
    assert _read_whole_files(root, got["stamped"], ["a", "t"], False) is None and root.counter.total == before
    fast = {"two": True, "swapped": True, "narrow": False, "lacking": False, "parted": False, "stamped": False}
    for table_id, expected in fast.items():
        table = got[table_id]
        columns = [c.name for c in table.columns]
        for dictionaries in (False, True):
            whole = _read_whole_files(root, table, columns, dictionaries)
            assert (whole is not None) is expected, table_id
            batches = list(iter_table_batches(root, table, columns, dictionaries=dictionaries))
            want = pa.Table.from_batches(batches)
            rows = read_rows(root, table, columns, dictionaries=dictionaries)
            assert rows.schema == want.schema and rows.to_pylist() == want.to_pylist(), table_id
    assert read_rows(root, got["swapped"], ["a", "b"]).column(0).to_pylist() == [1, 2, 3, 1, 2, 3]

def test_what_a_profile_works_out_from_its_columns_follows_the_columns() -> None:
    """column(), kind() and doubles_apart() are worked out once per column list, and again each
    time the list is extended or replaced (as profiling does)."""
    from r2d2.model import NUMERIC, STRING, Column, TableProfile

    p = TableProfile("t", "parquet", "/t")
    p.columns = [Column("a", pa.decimal128(10, 2))]
    for _ in range(2):  # asked twice: the kept answer
        assert p.column("a").type == pa.decimal128(10, 2) and p.kind("a") == (False, NUMERIC)
        assert p.doubles_apart() == (frozenset({"a"}), frozenset())
    p.columns.append(Column("b", pa.float32()))
    for _ in range(2):
        assert p.kind("b") == (True, NUMERIC) and p.doubles_apart() == (frozenset({"a"}), frozenset({"b"}))
    p.columns = [Column("a", pa.string())]
    for _ in range(2):
        assert p.column("a").type == pa.string() and p.kind("a") == (False, STRING)
        assert p.doubles_apart() == (frozenset(), frozenset())


def test_dictionary_encoded_columns_read_as_dictionaries_hash_as_plain_ones(lake: Path) -> None:
    """Profiling tells which string and binary columns every file stores dictionary-encoded
    (not a writer's fallback to plain pages, not a column some file lacks). verify reads those as
    dictionaries; their row fingerprints are the very ones plain reading gives, across files with
    different dictionaries, row groups, NULLs and a large_string file in a string table. A file
    rewritten without such a column is an error naming it, not a crash."""
    from r2d2.engines import kernels
    from r2d2.engines.fingerprint import Keys, fingerprint_rows, value_hashes
    from r2d2.errors import TableReadError
    from r2d2.storage.reader import read_rows

    cities = [None if i % 7 == 0 else f"city {i % 30}" for i in range(3000)]
    first = pa.table({"city": cities, "code": [f"c{i % 5}".encode() for i in range(3000)],
                      "unique": [f"id-{i:012d}-{i * 7919 % 100003}" for i in range(3000)], "n": list(range(3000))})
    # `unique`'s dictionary outgrows 4 KB within each row group: the writer falls back to plain pages
    folder = write_table(lake, "t", first, row_group_size=1000, dictionary_pagesize_limit=4096, write_batch_size=64)
    second = pa.table({"city": pa.array([f"town {i % 3}" for i in range(500)] + [None], pa.large_string()),
                       "code": [b"c9"] * 501, "unique": [f"x{i}" for i in range(501)], "n": list(range(501))})
    pq.write_table(second, folder / "part-00001.parquet")
    write_table(lake, "lacks", first)  # one file: `unique` is all dictionary there
    pq.write_table(first.drop_columns(["city"]), lake / "lacks" / "part-00001.parquet")
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    got = {p.id: p for p in profile_tables(root, refs, ScanConfig())}
    table = got["t"]
    assert table.dictionary_columns == {"city", "code"}
    assert got["lacks"].dictionary_columns == {"code", "unique"}
    columns = ["n", "city", "code", "unique"]
    types = [table.column(c).type for c in columns]
    specs = [[(0, False), (1, False)], [(1, False), (2, False), (3, False)], [(2, False)]]
    keys = Keys.fresh()
    as_stored = read_rows(root, table, columns, dictionaries=True)
    assert [pa.types.is_dictionary(t) for t in as_stored.schema.types] == [False, True, True, False]
    plain = read_rows(root, table, columns)
    assert as_stored.num_rows == plain.num_rows == 3501
    before = kernels.JIT
    try:
        for compiled in {False, kernels.AVAILABLE}:
            kernels.JIT = compiled
            want = fingerprint_rows(plain, types, specs, keys)
            assert fingerprint_rows(as_stored, types, specs, keys).equals(want)
            for position, dtype in enumerate(types):  # whole columns, each chunk through its own dictionary
                got = value_hashes(as_stored.column(position), dtype, keys)
                expected = value_hashes(plain.column(position), dtype, keys)
                assert got.a.tolist() == expected.a.tolist() and got.b.tolist() == expected.b.tolist()
            for batch in as_stored.to_batches():  # a batch at a time, as large tables stream
                assert fingerprint_rows(batch, types, specs, keys).num_rows == batch.num_rows * len(specs)
    finally:
        kernels.JIT = before
    pq.write_table(second.drop_columns(["city"]), folder / "part-00001.parquet")
    table.files[1].bytes = (folder / "part-00001.parquet").stat().st_size  # as if listed so
    with pytest.raises(TableReadError, match=r"part-00001.parquet: it has no column .*city"):
        read_rows(root, table, columns, dictionaries=True)


def test_view_columns_stored_dictionary_encoded_read_as_dictionaries(lake: Path) -> None:
    """String and binary views (what arrow-rs writers store: tpchgen-cli, TPC-H's generator
    here) that every file stores dictionary-encoded read as dictionaries too, pyarrow decoding each
    distinct value once, where they were read as views and copied into plain strings to be hashed:
    two files with their own dictionaries, NULLs among the values. Their row fingerprints
    and value hashes are the ones plain reading gives, by numba's loops and numpy's code."""
    from r2d2.engines import kernels
    from r2d2.engines.fingerprint import Keys, fingerprint_rows, value_hashes
    from r2d2.storage.reader import read_rows

    names = [None if i % 11 == 0 else f"a name long enough not to be inlined {i % 40}" for i in range(2000)]
    tags = pa.array([b"t%d" % (i % 3) for i in range(2000)], pa.binary_view())
    views = pa.table({"name": pa.array(names, pa.string_view()), "tag": tags, "n": list(range(2000))})
    write_table(lake, "v", views, row_group_size=700)
    write_table(lake, "v", views.slice(100, 500), name="part-00001.parquet")  # its own dictionaries
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    got = {p.id: p for p in profile_tables(root, refs, ScanConfig())}
    table = got["v"]
    assert table.error is None and table.dictionary_columns == {"name", "tag"}
    columns = ["name", "tag", "n"]
    types = [table.column(c).type for c in columns]
    as_stored = read_rows(root, table, columns, dictionaries=True)
    assert [pa.types.is_dictionary(t) for t in as_stored.schema.types] == [True, True, False]
    plain = read_rows(root, table, columns)
    assert not any(pa.types.is_dictionary(t) for t in plain.schema.types)
    specs = [[(0, False), (1, False), (2, False)], [(1, False)]]
    keys = Keys.fresh()
    before = kernels.JIT
    try:
        for compiled in {False, kernels.AVAILABLE}:
            kernels.JIT = compiled
            assert fingerprint_rows(as_stored, types, specs, keys).equals(fingerprint_rows(plain, types, specs, keys))
            for position, dtype in enumerate(types):
                stored, read = value_hashes(as_stored.column(position), dtype, keys), \
                    value_hashes(plain.column(position), dtype, keys)
                assert stored.a.tolist() == read.a.tolist() and stored.b.tolist() == read.b.tolist()
    finally:
        kernels.JIT = before


def test_view_files_beside_plain_ones_are_one_table(lake: Path) -> None:
    """A table whose files store a column as string (or binary) views in some files and plain in
    others (two writers: an arrow-rs one and pyarrow, say) is one table of large strings,
    read alike from both kinds of file: it and a plain copy of its rows contain each other. Types
    that cannot meet are still an error naming a file."""
    from tests.conftest import scan_edges

    rows = pa.table({"s": [f"value {i}" if i % 9 else None for i in range(600)],
                     "b": [b"x%d" % (i % 4) for i in range(600)], "n": list(range(600))})
    viewed = rows.cast(pa.schema([("s", pa.string_view()), ("b", pa.binary_view()), ("n", pa.int64())]))
    write_table(lake, "mixed", viewed.slice(0, 250))
    write_table(lake, "mixed", rows.slice(250), name="part-00001.parquet")
    write_table(lake, "plain", rows)
    write_table(lake, "clash", viewed)
    numbers = pa.table({"s": list(range(600)), "b": rows["b"], "n": rows["n"]})  # s: integers, not text
    write_table(lake, "clash", numbers, name="part-00001.parquet")
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    got = {p.id: p for p in profile_tables(root, refs, ScanConfig())}
    assert got["mixed"].error is None
    assert [c.type for c in got["mixed"].columns] == [pa.large_string(), pa.large_binary(), pa.int64()]
    assert got["clash"].error is not None and "incompatible schemas" in got["clash"].error
    edges = scan_edges(lake, semantics="bag")
    assert edges[("mixed", "plain")]["status"] == edges[("plain", "mixed")]["status"] == "contained"


def test_a_column_reads_as_a_dictionary_only_where_every_file_stores_plain_bytes(lake: Path) -> None:
    """A binary table one of whose files stores the column as fixed-size binary (the schema merge
    allows it), dictionary-encoded: that file's type is not one read as a dictionary, so the
    column reads plain, though each file's chunks are dictionary-encoded."""
    from r2d2.profile import dictionary_encoded

    folder = write_table(lake, "t", pa.table({"s": pa.array([b"ab", b"cd"] * 500)}))
    pq.write_table(pa.table({"s": pa.array([b"abcd", b"efgh"] * 500, pa.binary(4))}), folder / "part-00001.parquet")
    for path in sorted(folder.glob("*.parquet")):
        assert dictionary_encoded(pq.read_metadata(path).row_group(0).column(0), 1000)
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    (profile,) = profile_tables(root, refs, ScanConfig())
    assert profile.error is None and profile.column("s").type == pa.binary()
    assert profile.dictionary_columns == frozenset()
