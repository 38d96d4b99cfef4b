"""Regression tests for issue 8 (trust): wrong verdicts on odd input, writes into the lake, leaked
secrets. Each test failed on the main before the fix."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from r2d2.cli import main
from r2d2.config import ScanConfig
from r2d2.errors import UsageError
from r2d2.model import name_key
from r2d2.pipeline import run_scan
from r2d2.storage.paths import confine, is_inside, redact_uri, uri_secrets
from tests.conftest import load_json, scan_edges, write_table


def test_delta_column_mapping_is_never_read_as_nulls(lake: Path) -> None:
    from deltalake import write_deltalake

    mapped = {"delta.columnMapping.mode": "name"}
    write_deltalake(str(lake / "a"), pa.table({"x": [1, 2, 3]}), configuration=mapped)
    write_deltalake(str(lake / "b"), pa.table({"x": [7, 8, 9]}), configuration=mapped)
    write_deltalake(str(lake / "c"), pa.table({"x": [3, 1]}), configuration=mapped)
    result = run_scan(str(lake), None, ScanConfig())
    assert [t.error for t in result.tables] == [None, None, None]
    assert {t.reader for t in result.tables} == {"delta"}  # through deltalake's kernel, not file by file
    verdicts = {(e.parent, e.child): e.status for e in result.edges}
    # read as NULLs, a and b would be "contained" in each other (as they once were)
    assert verdicts[("a", "b")] == verdicts[("b", "a")] == "not_contained"
    assert verdicts[("a", "c")] == "contained" and verdicts[("b", "c")] == "not_contained"


def test_delta_decimal_statistics_never_refute(lake: Path) -> None:
    from deltalake import write_deltalake

    value = Decimal("0.123456789012345678")
    write_deltalake(str(lake / "p"), pa.table({"d": pa.array([value], pa.decimal128(38, 18))}))
    write_table(lake, "c", pa.table({"d": pa.array([value], pa.decimal128(38, 18))}))
    edges = scan_edges(lake)
    assert edges[("p", "c")]["status"] == "contained", edges[("p", "c")]


def test_decimal_holding_a_doubles_value_equals_the_float(lake: Path) -> None:
    exact = Decimal(0.1).quantize(Decimal(1).scaleb(-27))
    write_table(lake, "floats", pa.table({"v": [0.1, 0.25]}))
    write_table(lake, "exact", pa.table({"v": pa.array([exact], pa.decimal128(38, 27))}))
    write_table(lake, "nearest", pa.table({"v": pa.array([Decimal("0.10000000000000001")], pa.decimal128(38, 27))}))
    edges = scan_edges(lake)
    assert edges[("floats", "exact")]["status"] == "contained"
    assert edges[("floats", "nearest")]["status"] == "contained"
    assert edges[("exact", "nearest")]["status"] == "not_contained"  # decimals compare exactly


def test_sample_covers_every_parents_column_set(lake: Path) -> None:
    """A child whose pairs compare different column sets was sampled on the first pair's columns.
    On the old main, d (decimal256) was uncomparable against a_wide only, so the sample held just
    `id`, and b_narrow was refuted at the sample stage ("sampled row {id: 0} is not in the parent");
    with the columns the other way round, a KeyError stopped the scan."""
    n = 4000
    ids = list(range(n))
    d = [Decimal(i) / 4 for i in ids]
    write_table(lake, "child", pa.table({"id": ids[:100], "d": pa.array(d[:100], pa.decimal128(10, 2))}))
    write_table(lake, "a_wide", pa.table({"id": ids, "d": pa.array(d, pa.decimal256(40, 2))}), row_group_size=500)
    write_table(lake, "b_narrow", pa.table({"id": ids, "d": pa.array(d, pa.decimal128(10, 2))}), row_group_size=500)
    edges = scan_edges(lake, sample_rows=16)
    assert edges[("a_wide", "child")]["status"] == "contained", edges[("a_wide", "child")]
    assert edges[("b_narrow", "child")]["status"] == "contained", edges[("b_narrow", "child")]


def test_late_failures_leave_no_edges(lake: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(lake / "d"), pa.table({"x": [1, 2, 3]}))
    write_table(lake, "c", pa.table({"x": [1, 2]}))
    write_table(lake, "copy", pa.table({"x": [1, 2, 3]}))
    for f in (lake / "d").glob("*.parquet"):
        f.unlink()  # the log lists a file that is gone: found only when rows are read
    result = run_scan(str(lake), None, ScanConfig(sample_rows=0))
    errors = {t.id: t.error for t in result.tables}
    assert errors["d"]
    assert all("d" not in (e.parent, e.child) for e in result.edges)
    assert any((e.parent, e.child) == ("copy", "c") and e.status == "contained" for e in result.edges)


def write_percent_named_delta(lake: Path) -> None:
    """Delta tables in folders whose names hold `%XX` (deltalake cannot even write there: it decodes
    the path, so the table is written elsewhere and renamed; its log holds relative paths)."""
    from deltalake import write_deltalake

    write_deltalake(str(lake / "tmp"), pa.table({"x": [1, 2, 3]}), partition_by=None)
    (lake / "tmp").rename(lake / "sales%20eu")
    write_deltalake(str(lake / "tmp"), pa.table({"x": [1, 2, 3, 4]}))
    (lake / "tmp").rename(lake / "all%2Fof%25it")


def test_delta_folders_named_with_percent_escapes_are_read(lake: Path) -> None:
    write_percent_named_delta(lake)
    edges = scan_edges(lake)  # before: "cannot read Delta log ... File not found: .../sales eu/_delta_log"
    assert edges[("all%2Fof%25it", "sales%20eu")]["status"] == "contained"
    assert edges[("sales%20eu", "all%2Fof%25it")]["status"] == "not_contained"


@pytest.mark.parametrize("a, b, same", [
    ("straße", "STRASSE", False), ("Name", "NAME", True), ("ΣΊΣΥΦΟΣ", "σίσυφος", True), ("İd", "id", True),
    ("id", "ıd", True), ("ǅ", "ǆ", True),
])
def test_names_match_as_spark_resolves_them(a: str, b: str, same: bool) -> None:
    assert (name_key(a) == name_key(b)) is same


def test_straße_does_not_match_strasse(lake: Path) -> None:
    write_table(lake, "p", pa.table({"STRASSE": ["a", "b"]}))
    write_table(lake, "c", pa.table({"straße": ["a"]}))
    assert scan_edges(lake) == {}


def test_two_columns_of_one_name_are_named_as_such(lake: Path) -> None:
    import pyarrow.parquet as pq

    (lake / "t").mkdir()
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["id", "id"])
    pq.write_table(table, lake / "t" / "part-0.parquet")
    result = run_scan(str(lake), None, ScanConfig())
    assert "appears 2 times" in (result.tables[0].error or "")


# -- never write inside the lake ---------------------------------------------------------------

def test_scan_refuses_an_output_inside_the_lake(lake: Path, capsys: pytest.CaptureFixture) -> None:
    write_table(lake, "t", pa.table({"x": [1]}))
    before = sorted(p for p in lake.rglob("*"))
    assert main(["scan", str(lake), "--out", str(lake / "t" / "out"), "--quiet"]) == 2
    assert "inside the lake" in capsys.readouterr().err
    link = lake.parent / "sneaky"
    link.symlink_to(lake / "t")
    assert main(["scan", str(lake), "--out", str(link), "--quiet"]) == 2
    assert sorted(p for p in lake.rglob("*")) == before


def test_outputs_record_an_absolute_lake(lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_table(lake, "t", pa.table({"x": [1]}))
    monkeypatch.chdir(lake.parent)
    assert main(["scan", "lake", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert load_json(tmp_path / "out")["lake"] == str(lake)


def test_unwritable_output_fails_before_the_scan(lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        out = blocker / "out"  # a folder under a file cannot be made, even by root
    else:
        out = tmp_path / "ro" / "out"
        (tmp_path / "ro").mkdir(mode=0o500)
    write_table(lake, "t", pa.table({"x": [1]}))
    assert main(["scan", str(lake), "--out", str(out), "--quiet"]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err


# -- secrets ------------------------------------------------------------------------------------

def test_credentials_in_uris_are_redacted() -> None:
    uri = "s3://AKIAKEY:s3cr3t%2Fx@bucket/lake?region=eu-west-1&secret_key=zzz&endpoint_override=127.0.0.1:9"
    shown = redact_uri(uri)
    assert "AKIAKEY" not in shown and "s3cr3t" not in shown and "zzz" not in shown
    assert shown == "s3://bucket/lake?region=eu-west-1&endpoint_override=127.0.0.1:9"
    assert {"AKIAKEY", "s3cr3t%2Fx", "s3cr3t/x", "zzz"} <= set(uri_secrets(uri))
    azure = "abfss://container@account.dfs.core.windows.net/lake?account_key=abc123"
    assert redact_uri(azure) == "abfss://container@account.dfs.core.windows.net/lake"


def test_no_secret_reaches_stderr(capsys: pytest.CaptureFixture) -> None:
    assert main(["scan", "s3://AKIAKEY:topsecretvalue@no-such-bucket/lake?endpoint_override=127.0.0.1:1&scheme=http",
                 "--out", "/tmp/r2d2-never", "--quiet"]) == 2  # an unreachable root is a usage error
    captured = capsys.readouterr()
    assert "topsecretvalue" not in captured.err + captured.out and "AKIAKEY" not in captured.err + captured.out


def test_paths_inside_and_confined(tmp_path: Path) -> None:
    assert is_inside("s3://bucket/lake", "s3://bucket/lake/out")
    assert not is_inside("s3://bucket/lake", "s3://bucket/lake2/out")
    assert is_inside(str(tmp_path), str(tmp_path / "a" / ".." / "b"))
    for bad in ("../../x", "/etc/passwd", "a/../../b", "a//b", "C:x", "s3://b/x"):
        with pytest.raises(UsageError):
            confine(tmp_path, bad, "table id")
    assert confine(tmp_path, "sales/2024", "table id") == tmp_path / "sales" / "2024"


def test_containment_json_records_the_absolute_lake(lake: Path, tmp_path: Path) -> None:
    write_table(lake, "t", pa.table({"x": [1]}))
    run_scan(str(lake), tmp_path / "out", ScanConfig())
    doc = json.loads((tmp_path / "out" / "containment.json").read_text())
    assert doc["lake"] == str(lake)


# -- plans are data, not code -------------------------------------------------------------------

@pytest.fixture
def planned(lake: Path, tmp_path: Path) -> tuple[Path, Path]:
    write_table(lake, "p", pa.table({"id": list(range(50)), "v": [i * 2 for i in range(50)]}))
    write_table(lake, "c", pa.table({"id": list(range(10))}))
    out = tmp_path / "out"
    assert main(["scan", str(lake), "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--quiet", "--config", str(_cheap(tmp_path))]) == 0
    return lake, out


def _cheap(tmp_path: Path) -> Path:
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("storage_per_gb_month: 1000000.0\n")  # tiny tables: make deleting pay
    return cfg


def _tamper(out: Path, change) -> None:
    doc = json.loads((out / "plan.json").read_text())
    change(doc)
    (out / "plan.json").write_text(json.dumps(doc))


def test_tampered_recipe_sql_never_runs(planned: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    lake, out = planned
    evil = lake / "pwned.csv"
    _tamper(out, lambda d: d["deletions"][0]["recipe"].update(sql=f"COPY (SELECT 1) TO '{evil}'"))
    assert main(["rebuild", str(out), "c", "--out", str(tmp_path / "r")]) == 2
    assert "single SELECT" in capsys.readouterr().err
    _tamper(out, lambda d: d["deletions"][0]["recipe"].update(sql=f"SELECT * FROM read_csv('{lake}/x')"))
    assert main(["rebuild", str(out), "c", "--out", str(tmp_path / "r")]) != 0
    assert not evil.exists()


@pytest.mark.parametrize("field, value", [("table", "../../x"), ("table", "/etc/x"), ("source", "../p")])
def test_tampered_table_ids_are_refused(planned: tuple[Path, Path], tmp_path: Path, field: str, value: str) -> None:
    _, out = planned
    _tamper(out, lambda d: d["deletions"][0].update({field: value}))
    assert main(["rebuild", str(out), "c" if field == "source" else value, "--out", str(tmp_path / "r" / "s")]) == 2
    assert not (tmp_path / "x").exists()


def test_tampered_selection_path_is_refused(planned: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = planned
    _tamper(out, lambda d: d["deletions"][0]["recipe"].update(selection="selections/../../../etc/passwd.parquet"))
    assert main(["rebuild", str(out), "c", "--out", str(tmp_path / "r")]) == 2


def test_rebuild_and_plan_refuse_outputs_inside_the_lake(planned: tuple[Path, Path]) -> None:
    lake, out = planned
    before = sorted(lake.rglob("*"))
    assert main(["rebuild", str(out), "c", "--out", str(lake)]) == 2  # would duplicate c's rows
    assert main(["plan", str(out), "--out", str(lake / "plans"), "--quiet"]) == 2
    assert sorted(lake.rglob("*")) == before


@pytest.mark.parametrize("change", [
    lambda d: d.pop("deletions"), lambda d: d["deletions"][0].pop("recipe"),
    lambda d: d["deletions"][0].update(saved_bytes="lots"), lambda d: d.update(version=7),
])
def test_malformed_plans_are_usage_errors(planned: tuple[Path, Path], tmp_path: Path, change,
                                          capsys: pytest.CaptureFixture) -> None:
    _, out = planned
    _tamper(out, change)
    assert main(["rebuild", str(out), "c", "--out", str(tmp_path / "r")]) == 2
    assert main(["report", str(out)]) == 2
    assert "internal error" not in capsys.readouterr().err


def test_malformed_containment_json_is_a_usage_error(planned: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    _, out = planned
    doc = json.loads((out / "containment.json").read_text())
    doc["edges"].append({"parent": "nope", "child": "c", "status": "contained", "stage": "verify", "reason": ""})
    (out / "containment.json").write_text(json.dumps(doc))
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err


def test_counts_beyond_int64_in_containment_json_are_a_usage_error(planned: tuple[Path, Path],
                                                                   capsys: pytest.CaptureFixture) -> None:
    _, out = planned  # the old main: "internal error (OverflowError): int too large to convert to float"
    doc = json.loads((out / "containment.json").read_text())
    doc["tables"][0]["bytes"] = 10**400
    (out / "containment.json").write_text(json.dumps(doc))
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 2
    assert "tables.0.bytes" in capsys.readouterr().err


def test_report_refuses_a_plan_of_another_scan(planned: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    lake, out = planned
    other = tmp_path / "other"
    write_table(other, "t", pa.table({"x": [1]}))
    assert main(["report", str(out)]) == 0
    assert main(["scan", str(other), "--out", str(out), "--quiet"]) == 0  # rescanned into the same folder
    assert main(["report", str(out)]) == 2
    assert "run `r2d2 plan` again" in capsys.readouterr().err


# -- weak behaviours: clear errors, nothing lost -----------------------------------------------

def test_deeply_nested_folders_do_not_lose_the_scan(lake: Path) -> None:
    deep = lake
    for _ in range(1100):  # one level at a time (os.makedirs recurses); one-letter names stay below PATH_MAX
        deep = deep / "a"
        deep.mkdir()
    write_table(lake, "top", pa.table({"x": [1, 2]}))
    write_table(lake, "top2", pa.table({"x": [1]}))
    try:
        result = run_scan(str(lake), None, ScanConfig())
        assert {t.id for t in result.tables} == {"top", "top2"}
    finally:  # bottom-up: Python 3.11's rmtree (pytest's clean-up) would recurse 1,100 deep
        while deep != lake:
            deep.rmdir()
            deep = deep.parent


def test_symbolic_links_are_reported(lake: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_table(outside, "x", pa.table({"v": [9]}))
    write_table(lake / "t", "k=1", pa.table({"v": [1]}))
    (lake / "t" / "k=2").symlink_to(outside / "x", target_is_directory=True)  # a partition behind a link
    (lake / "elsewhere").symlink_to(outside, target_is_directory=True)
    result = run_scan(str(lake), None, ScanConfig())
    errors = {t.id: t.error for t in result.tables}
    assert "symbolic link" in (errors["t"] or "")
    assert any("symbolic link elsewhere" in w for w in result.warnings)


def test_a_delta_table_as_the_lake_root_is_a_usage_error(lake: Path, tmp_path: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(lake / "d"), pa.table({"x": [1]}))
    assert main(["scan", str(lake / "d"), "--out", str(tmp_path / "o"), "--quiet"]) == 2


def test_delta_paths_outside_the_lake_are_never_read(lake: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(lake / "d"), pa.table({"x": [1]}))
    log = next((lake / "d" / "_delta_log").glob("*.json"))
    text = log.read_text()
    name = json.loads(next(line for line in text.splitlines() if '"add"' in line))["add"]["path"]
    for bad in ("../../../etc/passwd", "file:///etc/passwd"):
        log.write_text(text.replace(json.dumps(name), json.dumps(bad)))
        result = run_scan(str(lake), None, ScanConfig())
        assert "outside the lake root" in (result.tables[0].error or ""), bad


def test_extensionless_junk_is_not_parquet(lake: Path) -> None:
    write_table(lake, "t", pa.table({"x": [1]}))
    (lake / "t" / "README").write_text("not data")
    (lake / "junk").mkdir()
    (lake / "junk" / "NOTES").write_text("not data either")
    write_table(lake, "hive", pa.table({"x": [1]}), name="000000_0")
    errors = {t.id: t.error for t in run_scan(str(lake), None, ScanConfig()).tables}
    assert "mixed formats: README" in (errors["t"] or "")
    assert "holds no Parquet data files" in (errors["junk"] or "")
    assert errors["hive"] is None


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from r2d2 import output

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "chmod", full)  # fails after the data is written, like a full disk
    with pytest.raises(OSError):
        output.write_atomic(tmp_path / "containment.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_a_closed_pipe_is_not_an_error(lake: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    write_table(lake, "t", pa.table({"x": [1]}))
    cmd = (f"{sys.executable} -m r2d2.cli scan {lake} --out {tmp_path / 'o'} | head -c 1 >/dev/null; "
           "echo ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "0" and "Broken pipe" not in done.stderr


def test_a_page_failing_its_checksum_is_an_error_not_data(lake: Path) -> None:
    import pyarrow.parquet as pq

    (lake / "p").mkdir()
    (lake / "c").mkdir()
    values = list(range(1000, 3000))
    pq.write_table(pa.table({"x": values}), lake / "p" / "part-0.parquet", write_page_checksum=True,
                   compression="none", use_dictionary=False, write_statistics=False)
    pq.write_table(pa.table({"x": values[:10]}), lake / "c" / "part-0.parquet")
    path = lake / "p" / "part-0.parquet"
    data = bytearray(path.read_bytes())
    data[4 + 40] ^= 0xFF  # a byte inside the first data page's values
    path.write_bytes(bytes(data))
    result = run_scan(str(lake), None, ScanConfig(sample_rows=0))
    errors = {t.id: t.error for t in result.tables}
    assert errors["p"] and "CRC" in errors["p"].upper(), errors
    assert all("p" not in (e.parent, e.child) for e in result.edges)


@pytest.fixture(scope="module")
def wide_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tables whose fingerprinting needs more than a few MB of DuckDB memory."""
    import numpy as np
    import pyarrow.compute as pc

    root = tmp_path_factory.mktemp("wide") / "lake"
    n = 1_500_000
    ids = np.arange(n)
    base = pa.table({"id": ids, "s": pc.cast(ids, pa.string())})
    for name, rows in (("all", n), ("half", n // 2), ("third", n // 3)):
        write_table(root, name, base.slice(0, rows), row_group_size=200_000)
    return root


def test_duckdb_spills_and_retries_alone_under_a_small_memory_limit(wide_lake: Path) -> None:
    """22MB is short for DuckDB's work on two threads, and enough alone on one thread. Measured with
    the pinned DuckDB (2.0.1) and the numpy fingerprint core: without the retry, 20MB to 24MB leave
    all three pairs unknown (the comparison runs out of memory); with it, 20MB and up decide them
    and 16MB does not. The old main (no database file, no retry) needed 50MB for a lake twice this
    size."""
    edges = scan_edges(wide_lake, duckdb_memory_limit="22MB", workers=2, sample_rows=0)
    assert {k: v["status"] for k, v in edges.items() if v["status"] != "not_contained"} == {
        ("all", "half"): "contained", ("all", "third"): "contained", ("half", "third"): "contained"}


def test_a_hopeless_memory_limit_gives_unknown_with_a_short_reason(wide_lake: Path) -> None:
    edges = scan_edges(wide_lake, duckdb_memory_limit="12MB", workers=2, sample_rows=0)
    truth = {("all", "half"), ("all", "third"), ("half", "third")}
    for key, edge in edges.items():
        if edge["status"] == "unknown":
            assert "raise duckdb_memory_limit" in edge["reason"] and len(edge["reason"]) < 300, edge
        else:  # never a wrong verdict
            assert (edge["status"] == "contained") is (key in truth), (key, edge)
    assert any(edge["status"] == "unknown" for edge in edges.values())


@pytest.mark.parametrize("message, expected", [
    ("Out of Memory Error: could not allocate\n\nPossible solutions:\n* Reducing the number of threads",
     "Out of Memory Error: could not allocate"),
    ("Generic error: x\n\nStack backtrace:\n   0: std::backtrace\n   1: deltalake::open", "Generic error: x"),
    ("Kernel error: Json error: Truncated record\n   0: <unknown>\n  12: start_thread\n   at ./nptl/pthread.c:442",
     "Kernel error: Json error: Truncated record"),
    ("Local path does not exist\nError: Os {\n  code: 2,\n  kind: NotFound }",
     "Local path does not exist; Error: Os {; code: 2,; kind: NotFound }"),
])
def test_library_messages_are_made_concise(message: str, expected: str) -> None:
    from r2d2.errors import MESSAGE_CHARS, concise

    assert concise(message) == expected
    long = concise("ObjectStore { source: " * 100)
    assert len(long) == MESSAGE_CHARS and long.endswith("…")


def test_one_line_messages_pass_concise_unchanged_only_when_nothing_would_change() -> None:
    """concise returns a printable, single-spaced line of at most MESSAGE_CHARS as it is: every
    character Python splits words or lines on (but the ASCII space) is not printable, so such a
    message goes the whole way, as before."""
    import sys

    from r2d2.errors import MESSAGE_CHARS, concise

    breaking = [chr(i) for i in range(sys.maxunicode + 1)
                if chr(i) != " " and (chr(i).isspace() or len(f"a{chr(i)}b".splitlines()) > 1)]
    assert breaking and not any(c.isprintable() for c in breaking)
    for c in breaking:
        assert concise(f"a{c}b") in ("a b", "a; b"), repr(c)
    for text, expected in [("x" * MESSAGE_CHARS, "x" * MESSAGE_CHARS), (" a", "a"), ("a ", "a"), ("a  b", "a b"),
                           ("x" * (MESSAGE_CHARS + 1), "x" * (MESSAGE_CHARS - 1) + "…"), ("", "")]:
        assert concise(text) == expected, text

def test_folders_named_with_control_characters_are_skipped_with_a_warning(lake: Path, tmp_path: Path) -> None:
    """A table id with a newline was written to containment.json, which `plan` then refused."""
    write_table(lake, "a\nb", pa.table({"x": [1, 2]}))
    write_table(lake, "esc\x1b[2J", pa.table({"x": [1, 2]}))
    write_table(lake, "c", pa.table({"x": [1]}))
    out = tmp_path / "out"
    assert main(["scan", str(lake), "--out", str(out), "--quiet"]) == 0
    doc = load_json(out)
    assert [t["id"] for t in doc["tables"]] == ["c"]
    assert sum("control character" in w for w in doc["warnings"]) == 2
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 0
