"""Incremental scans: a scan into an --out that holds an earlier scan's state redoes only what
changed. After every kind of change that matters, its edges must equal a full scan's, for both
engines, and it must actually have carried verdicts over and read less."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from benchmarks.lakegen import build_lake
from r2d2.cli import main
from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan
from tests.oracle import oracle_edges


def verdicts(doc: dict) -> dict[tuple[str, str], str]:
    return {(e["parent"], e["child"]): e["status"] for e in doc["edges"]}


def scan(lake: Path, out: Path, **options) -> dict:
    run_scan(str(lake), out, ScanConfig(), **options)
    return json.loads((out / "containment.json").read_text())


def read_bytes(doc: dict) -> int:
    return sum(s["bytes_read"] for s in doc["stages"])


def _rows(path: Path) -> int:
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException):
        return 0  # one of the lake's deliberately broken files


def plain_tables(lake: Path) -> list[Path]:
    """Readable Parquet tables whose data files sit directly in their folder (no partitions), smallest first."""
    found = []
    for folder in sorted(p for p in lake.rglob("*") if p.is_dir()):
        files = sorted(folder.glob("*.parquet"))
        if files and not (folder / "_delta_log").exists() and not any(p.is_dir() for p in folder.iterdir()) \
                and not any(part.startswith(("_", ".")) for part in folder.relative_to(lake).parts) \
                and all(_rows(f) > 1 for f in files) and len(list(folder.iterdir())) == len(files):
            found.append(folder)
    return sorted(found, key=lambda f: (sum(x.stat().st_size for x in f.glob("*.parquet")), str(f)))


def delta_tables(lake: Path) -> list[Path]:
    return sorted(p.parent for p in lake.rglob("_delta_log"))


def contained_children(doc: dict) -> set[str]:
    return {e["child"] for e in doc["edges"] if e["status"] == "contained"}


def append_rows(folder: Path, rows: pa.Table, name: str) -> None:
    schema = pq.read_schema(next(folder.glob("*.parquet")))
    pq.write_table(rows.select(schema.names).cast(schema), folder / name)


# Each change takes the lake, the last full scan and a random source; it changes the lake in place.
def append_to_a_child(lake: Path, doc: dict, rng: random.Random) -> None:
    folder = next(f for f in plain_tables(lake) if f.relative_to(lake).as_posix() in contained_children(doc))
    rows = pq.read_table(next(folder.glob("*.parquet")))
    append_rows(folder, rows.slice(0, 1), "part-appended-child.parquet")  # one row twice: bag containment breaks


def append_to_a_parent(lake: Path, doc: dict, rng: random.Random) -> None:
    parents = {e["parent"] for e in doc["edges"] if e["status"] == "contained"}
    folder = next(f for f in plain_tables(lake) if f.relative_to(lake).as_posix() in parents)
    rows = pq.read_table(next(folder.glob("*.parquet")))
    append_rows(folder, rows, "part-appended-parent.parquet")  # every row twice: new bag containments appear


def rewrite_a_table(lake: Path, doc: dict, rng: random.Random) -> None:
    def takes(folder: Path) -> bool:  # pyarrow's take has no kernel for view types
        return not any(pa.types.is_string_view(t) or pa.types.is_binary_view(t)
                       for t in pq.read_schema(next(folder.glob("*.parquet"))).types)

    for folder, edit in zip([f for f in plain_tables(lake) if takes(f)][2:4], (False, True)):
        files = sorted(folder.glob("*.parquet"))
        rows = pa.concat_tables([pq.read_table(f) for f in files]).combine_chunks()
        rows = rows.take(list(reversed(range(rows.num_rows))))  # the same rows in another order
        if edit:  # and one cell changed in the other table
            column = next(i for i, t in enumerate(rows.schema.types)
                          if pa.types.is_integer(t) or pa.types.is_floating(t))
            values = rows.column(column).to_pylist()
            values[0] = (values[0] or 0) + 1
            rows = rows.set_column(column, rows.schema.field(column), pa.array(values, rows.schema.types[column]))
        for f in files:
            f.unlink()
        pq.write_table(rows, folder / "part-rewritten.parquet")


def delete_a_table(lake: Path, doc: dict, rng: random.Random) -> None:
    parents = {e["parent"] for e in doc["edges"] if e["status"] == "contained"}
    folder = next(f for f in plain_tables(lake) if f.relative_to(lake).as_posix() in parents)
    shutil.rmtree(folder)


def add_a_table(lake: Path, doc: dict, rng: random.Random) -> None:
    source = plain_tables(lake)[-1]
    rows = pq.read_table(next(source.glob("*.parquet")))
    (lake / "added" / "subset").mkdir(parents=True)
    pq.write_table(rows.slice(1, max(1, rows.num_rows // 3)), lake / "added" / "subset" / "part-0.parquet")


def change_a_schema(lake: Path, doc: dict, rng: random.Random) -> None:
    folder = next(f for f in plain_tables(lake) if f.relative_to(lake).as_posix() in contained_children(doc))
    for f in sorted(folder.glob("*.parquet")):
        rows = pq.read_table(f)
        pq.write_table(rows.append_column("added_flag", pa.array([True] * rows.num_rows)), f)


def update_and_delete_in_delta(lake: Path, doc: dict, rng: random.Random) -> None:
    """A Delta delete (deletion of rows: a rewrite), an update, and an append (a new commit only)."""
    tables = delta_tables(lake)
    assert len(tables) >= 3, tables

    def int_column(table: Path) -> str:
        schema = DeltaTable(str(table)).to_pyarrow_table().schema
        return next(f.name for f in schema if pa.types.is_integer(f.type))

    DeltaTable(str(tables[0])).delete(f'"{int_column(tables[0])}" % 3 = 0')
    column = int_column(tables[1])
    DeltaTable(str(tables[1])).update(updates={f'"{column}"': f'"{column}" + 1'})
    rows = DeltaTable(str(tables[2])).to_pyarrow_table()
    write_deltalake(str(tables[2]), rows.slice(0, 1), mode="append")


CHANGES = [append_to_a_child, append_to_a_parent, rewrite_a_table, delete_a_table, add_a_table, change_a_schema,
           update_and_delete_in_delta]


@pytest.mark.parametrize("semantics", ["bag", "set"])
def test_every_kind_of_change_gives_the_full_scans_edges(tmp_path: Path, semantics: str) -> None:
    lake = tmp_path / "lake"
    build_lake(lake, n_tables=40, seed=21, with_delta=True, with_bad=True)
    config = ScanConfig(semantics=semantics)
    out = tmp_path / "incremental"
    run_scan(str(lake), out, config)
    rng = random.Random(5)
    for step, change in enumerate(CHANGES):
        full_out = tmp_path / f"full-{step}"
        before = json.loads((out / "containment.json").read_text())
        change(lake, before, rng)
        run_scan(str(lake), full_out, config)
        run_scan(str(lake), out, config)
        full = json.loads((full_out / "containment.json").read_text())
        inc = json.loads((out / "containment.json").read_text())
        assert verdicts(inc) == verdicts(full), change.__name__
        assert [(t["id"], t["rows"], t["version"]) for t in inc["tables"]] == \
            [(t["id"], t["rows"], t["version"]) for t in full["tables"]], change.__name__
        carried = [e for e in inc["edges"] if e["run"] != inc["run"]]
        assert inc["incremental_from"] == before["run"] and carried, change.__name__
        for e in carried:  # a carried verdict keeps the stage, reason and run that decided it
            old = next(o for o in before["edges"] if (o["parent"], o["child"]) == (e["parent"], e["child"]))
            assert (e["stage"], e["reason"], e["run"]) == (old["stage"], old["reason"], old["run"])
        assert read_bytes(inc) < read_bytes(full), change.__name__
    assert {k for k, v in verdicts(inc).items() if v == "contained"} == oracle_edges(lake, semantics=semantics)


def test_an_unchanged_lake_reads_nothing_and_full_rescans(lake: Path, tmp_path: Path, capsys) -> None:
    build_lake(lake, n_tables=30, seed=4, with_delta=True)
    out = tmp_path / "out"
    first = scan(lake, out)
    second = scan(lake, out)
    assert verdicts(second) == verdicts(first)
    redone = [e for e in second["edges"] if e["run"] != first["run"]]
    assert {e["status"] for e in redone} == {"unknown"}  # nested columns: decided again, in case it was a failure
    assert next(s for s in second["stages"] if s["name"] == "profile")["bytes_read"] == 0
    assert read_bytes(second) < read_bytes(first) / 20
    assert main(["scan", str(lake), "--out", str(out), "--full", "--quiet"]) == 0
    third = json.loads((out / "containment.json").read_text())
    assert third["incremental_from"] is None and read_bytes(third) > 0
    assert main(["scan", str(lake), "--out", str(out)]) == 0
    assert "incremental" in capsys.readouterr().out


def test_a_state_that_must_not_be_trusted(lake: Path, tmp_path: Path, capsys) -> None:
    build_lake(lake, n_tables=20, seed=6, with_delta=False)
    out = tmp_path / "out"
    scan(lake, out)
    state = out / "r2d2-state.json.gz"
    good = state.read_bytes()
    doc = json.loads(gzip.decompress(good))

    def rewrite(change) -> None:
        edited = json.loads(json.dumps(doc))
        change(edited)
        state.write_bytes(gzip.compress(json.dumps(edited).encode()))

    # another lake, r2d2 version, semantics or engine, or a corrupt file: a full scan, with a warning
    for change, words in ((lambda d: d.update(lake="/elsewhere"), "of lake '/elsewhere'"),
                          (lambda d: d.update(r2d2="0.0.1"), "written by r2d2 '0.0.1'"),
                          (lambda d: d.update(rules=0), "verdict rules 0"),
                          (lambda d: d.update(semantics="set"), "'set' semantics"),
                          (lambda d: d.update(engine="spark/spark"), "'spark/spark' engine"),
                          (lambda d: d["tables"][0].update(schema="!!"), "profiled again"),
                          (lambda d: d["tables"][0].update(column_bytes=[1]), "profiled again"),
                          (lambda d: [t.update(stats=[1]) for t in d["tables"]], "statistics of"),
                          (lambda d: [f[3].update({k: [{"i": "x"}, None, 1, 1, 1, 1] for k in f[3]})
                                      for t in d["tables"] for f in t["fragments"]], "statistics of"),
                          (lambda d: d["edges"][0].update(status="maybe"), "malformed verdict")):
        rewrite(change)
        assert main(["scan", str(lake), "--out", str(out)]) == 0
        assert words in capsys.readouterr().out
    state.write_bytes(b"\x1f\x8b garbage")
    assert main(["scan", str(lake), "--out", str(out)]) == 0
    assert "unreadable" in capsys.readouterr().out
    full = json.loads((out / "containment.json").read_text())
    assert full["incremental_from"] is None
    assert {k for k, v in verdicts(full).items() if v == "contained"} == oracle_edges(lake)


def test_a_forged_verdict_is_carried_only_for_unchanged_tables(lake: Path, tmp_path: Path) -> None:
    """The state is the scan's own output: a verdict in it is believed while both tables are
    unchanged (as containment.json is), and redone as soon as either changes. Here the state is
    forged to say "not contained" of a true containment: the next scan carries that while nothing
    changed, and drops it once the child's file is rewritten (with the same rows). (A child that
    only grew keeps a "not contained": more rows cannot make it contained.)"""
    a = pa.table({"id": list(range(50))})
    for name, rows in (("a", a), ("b", a.slice(0, 10))):
        (lake / name).mkdir()
        pq.write_table(rows, lake / name / "part-0.parquet")
    out = tmp_path / "out"
    assert verdicts(scan(lake, out))[("a", "b")] == "contained"
    state_file = out / "r2d2-state.json.gz"
    state = json.loads(gzip.decompress(state_file.read_bytes()))
    forged = [e for e in state["edges"] if (e["parent"], e["child"]) == ("a", "b")]
    assert len(forged) == 1
    forged[0].update(status="not_contained", stage="minmax", reason="forged")
    state_file.write_bytes(gzip.compress(json.dumps(state).encode()))
    assert verdicts(scan(lake, out))[("a", "b")] == "not_contained"  # unchanged tables: carried
    time.sleep(0.01)
    pq.write_table(a.slice(0, 10), lake / "b" / "part-0.parquet")  # the same rows, rewritten
    assert verdicts(scan(lake, out))[("a", "b")] == "contained"  # b changed: decided again


def test_incremental_scans_of_an_s3_lake(moto_s3: str, tmp_path: Path, monkeypatch) -> None:
    """Object stores keep whole-second times: a table written just before a scan is profiled
    again next time (its version is unsettled), later ones are carried over."""
    from tests.conftest import S3_ENV, upload, write_sales_lake

    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    local = tmp_path / "lake"
    write_sales_lake(local)
    upload(moto_s3, "incremental", local, "lake")
    uri = f"s3://incremental/lake?endpoint_override={moto_s3}&scheme=http&region=us-east-1"
    out = tmp_path / "out"
    run_scan(uri, out, ScanConfig())
    first = json.loads((out / "containment.json").read_text())
    assert all("unsettled" in t["version"] for t in first["tables"])
    time.sleep(2.1)
    run_scan(uri, out, ScanConfig())
    second = json.loads((out / "containment.json").read_text())
    assert not any(e["run"] == first["run"] for e in second["edges"])  # nothing was settled: all redone
    assert not any("unsettled" in t["version"] for t in second["tables"])
    run_scan(uri, out, ScanConfig())
    third = json.loads((out / "containment.json").read_text())
    assert read_bytes(third) == 0 and verdicts(third) == verdicts(first)


def test_incremental_on_spark_equals_a_full_scan(spark, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    build_lake(lake, n_tables=30, seed=23, with_delta=True)
    out = tmp_path / "incremental"
    options = {"engine": "spark", "spark": spark, "read": "spark"}
    first = scan(lake, out, **options)
    rng = random.Random(1)
    for change in (append_to_a_child, rewrite_a_table, delete_a_table, add_a_table, update_and_delete_in_delta):
        change(lake, first, rng)
    full = scan(lake, tmp_path / "full", **options)
    inc = scan(lake, out, **options)
    assert verdicts(inc) == verdicts(full)
    assert inc["incremental_from"] == first["run"] and any(e["run"] == first["run"] for e in inc["edges"])
    assert read_bytes(inc) < read_bytes(full)


def test_tables_that_only_grew_or_shrank_keep_the_verdicts_they_cannot_change(lake: Path, tmp_path: Path) -> None:
    """A parent that only gained rows still contains its children, and a child that only gained
    rows is still not contained: such pairs are not read again. Parquet growth is files added (none
    changed); Delta growth is commits that only add files, read from the log."""
    base = pa.table({"id": list(range(100)), "v": [i * 0.5 for i in range(100)]})
    (lake / "parent").mkdir()
    pq.write_table(base.slice(0, 60), lake / "parent" / "part-0.parquet")
    pq.write_table(base.slice(60, 40), lake / "parent" / "part-1.parquet")
    (lake / "child").mkdir()
    pq.write_table(base.slice(0, 10), lake / "child" / "part-0.parquet")
    pq.write_table(base.slice(70, 10), lake / "child" / "part-1.parquet")
    (lake / "stray").mkdir()
    pq.write_table(pa.table({"id": [5, 500], "v": [2.5, 1.0]}), lake / "stray" / "part-0.parquet")
    write_deltalake(str(lake / "delta_parent"), base)
    out = tmp_path / "out"
    scan(lake, out)

    def step(change, name: str, kept: dict[tuple[str, str], str]) -> dict:
        change()
        full = scan(lake, tmp_path / f"full-{name}")
        inc = scan(lake, out)
        assert verdicts(inc) == verdicts(full), name
        edges = {(e["parent"], e["child"]): e for e in inc["edges"]}
        for key, words in kept.items():
            assert words in edges[key]["reason"], (name, key, edges[key]["reason"])
        return inc

    more = pa.table({"id": [100, 101], "v": [50.0, 50.5]})
    inc = step(lambda: pq.write_table(more, lake / "parent" / "part-2.parquet"), "parent grew",
               {("parent", "child"): "parent only gained rows", ("delta_parent", "child"): "all 20 rows found"})
    assert next(s for s in inc["stages"] if s["name"] == "verify")["pairs_in"] < len(inc["edges"])
    step(lambda: (lake / "child" / "part-1.parquet").unlink(), "child shrank",
         {("parent", "child"): "child only lost rows", ("delta_parent", "child"): "child only lost rows"})
    step(lambda: pq.write_table(pa.table({"id": [900], "v": [9.0]}), lake / "stray" / "part-1.parquet"),
         "stray grew", {("parent", "stray"): "stray only gained rows"})
    step(lambda: write_deltalake(str(lake / "delta_parent"), more, mode="append"), "delta append",
         {("delta_parent", "child"): "delta_parent only gained rows"})
    inc = step(lambda: DeltaTable(str(lake / "delta_parent")).delete("id < 5"), "delta delete", {})
    assert "still so" not in {(e["parent"], e["child"]): e for e in inc["edges"]}[("delta_parent", "child")]["reason"]


def test_an_incremental_scan_lists_each_table_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing that tells a changed table from an unchanged one is the one its profile keeps:
    on an object store each listing is a recursive LIST, so a changed table is not listed twice."""
    from collections import Counter

    from r2d2.storage import Lake

    lake, out = tmp_path / "lake", tmp_path / "out"
    build_lake(lake, n_tables=12, seed=3)
    scan(lake, out)
    changed = plain_tables(lake)[0]
    append_rows(changed, pq.read_table(next(changed.glob("*.parquet"))).slice(0, 1), "part-late.parquet")
    listed: Counter[str] = Counter()
    real = Lake.listing

    def counting(self: Lake, path: str):  # type: ignore[no-untyped-def]
        listed[path.rstrip("/")] += 1
        return real(self, path)

    monkeypatch.setattr(Lake, "listing", counting)
    doc = scan(lake, out)
    assert doc["incremental_from"] is not None
    assert listed and max(listed.values()) == 1, listed.most_common(3)
    assert listed[str(changed)] == 1


def test_a_full_scan_lists_each_flat_table_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """discover's listing of a table folder without sub-folders is the table's listing: profile
    does not list it again (on an object store, one LIST a table less), and the version recorded
    is the one Lake.listing computes. A folder with a (hidden) sub-folder is walked whole."""
    from collections import Counter

    from r2d2.discover import discover_tables
    from r2d2.storage import Lake, open_lake

    lake = tmp_path / "lake"
    build_lake(lake, n_tables=8, seed=5)
    flat = [Path(r.location) for r in discover_tables(open_lake(str(lake)))[0]
            if r.format == "parquet" and not r.error and not any(p.is_dir() for p in Path(r.location).iterdir())]
    nested = flat.pop()
    (nested / ".staging").mkdir()
    (nested / ".staging" / "leftover").write_bytes(b"x")
    listed: Counter[str] = Counter()
    real = Lake.list_dir

    def counting(self: Lake, path: str, links: list[str] | None = None):  # type: ignore[no-untyped-def]
        listed[path.rstrip("/")] += 1
        return real(self, path, links)

    monkeypatch.setattr(Lake, "list_dir", counting)
    result = run_scan(str(lake), None, ScanConfig(workers=2), full=True)
    assert flat and all(listed[str(t)] == 1 for t in flat), listed.most_common(3)
    assert listed[str(nested)] == 2  # discover's look, then the whole walk (the sub-folder included)
    monkeypatch.setattr(Lake, "list_dir", real)
    opened = open_lake(str(lake))
    versions = {t.location.rstrip("/"): t.version for t in result.tables}
    for ref in discover_tables(opened)[0]:
        if not ref.error:
            assert versions[ref.location.rstrip("/")] == opened.listing(ref.location)[0], ref.id


def test_outputs_are_written_a_table_at_a_time() -> None:
    """containment.json and the state are written as their tables are made: each table's JSON is
    out before the next table's object exists (a lake of 100,000 tables is never whole in memory
    as objects), and the text is JSON equal to the document, in both layouts (compact: the very
    text json.dumps gives, though long lists are dumped in chunks)."""
    from r2d2.output import json_pieces

    events: list[str] = []

    def tables():  # type: ignore[no-untyped-def]
        for i in range(3):
            events.append(f"made {i}")
            yield {"id": f"t{i}", "name": "é"}

    for compact in (False, True):
        events.clear()
        pieces = []
        for piece in json_pieces({"version": 1, "tables": tables(), "edges": [], "other": [1, 2],
                                  "many": [{"n": i, "s": "a,b}{"} for i in range(2500)]}, compact):
            if '"id"' in piece:
                events.append("wrote")
            pieces.append(piece)
        assert [e.split()[0] for e in events] == ["made", "wrote"] * 3
        whole = {"version": 1, "tables": [{"id": f"t{i}", "name": "é"} for i in range(3)], "edges": [],
                 "other": [1, 2], "many": [{"n": i, "s": "a,b}{"} for i in range(2500)]}
        assert json.loads("".join(pieces)) == whole
        if compact:  # lists dumped in chunks give the very text of one dump
            assert "".join(pieces) == json.dumps(whole, ensure_ascii=False, separators=(",", ":"))


def _scanned(lake: Path, out: Path) -> tuple:
    """Scan `lake` into `out`: the lake opened, its tables profiled afresh, and the state loaded."""
    from r2d2.discover import discover_tables
    from r2d2.profile import profile_tables
    from r2d2.state import load_state
    from r2d2.storage import open_lake

    run_scan(str(lake), out, ScanConfig())
    root = open_lake(str(lake))
    refs, _ = discover_tables(root)
    fresh = {p.id: p for p in profile_tables(root, refs, ScanConfig())}
    state = load_state(out, root.uri, "bag", "local", [])
    assert state is not None
    return root, fresh, state


def test_a_stored_profile_keeps_the_columns_read_as_dictionaries(lake: Path, tmp_path: Path) -> None:
    """An unchanged table's profile, taken from the state, reads the same string columns as
    dictionaries as a fresh profile does (they were read plain, as the state did not keep them).
    The state is untrusted: a stored name that is no string or binary column of the table, or a
    partition key, is dropped, and a list that is not one has the table profiled again."""
    from r2d2.state import STATE, load_state

    build_lake(lake, n_tables=12, seed=5)
    out = tmp_path / "out"
    root, fresh, state = _scanned(lake, out)
    stored = {t: p.dictionary_columns for t, p in state.profiles.items()}
    assert stored == {t: fresh[t].dictionary_columns for t in stored} and any(stored.values())

    doc = json.loads(gzip.decompress((out / STATE).read_bytes()))
    table = next(t for t in doc["tables"] if t["dictionary_columns"])
    strings = set(table["dictionary_columns"])
    others = [c.name for c in fresh[table["id"]].columns if c.name not in strings]
    table["dictionary_columns"] += [*others, "no such column"]
    (out / STATE).write_bytes(gzip.compress(json.dumps(doc).encode()))
    state = load_state(out, root.uri, "bag", "local", [])
    assert state is not None and state.profiles[table["id"]].dictionary_columns == strings
    table["dictionary_columns"] = "all"
    (out / STATE).write_bytes(gzip.compress(json.dumps(doc).encode()))
    warnings: list[str] = []
    state = load_state(out, root.uri, "bag", "local", warnings)
    assert state is not None and table["id"] not in state.profiles and len(state.profiles) == len(stored) - 1
    assert warnings == [f"the state's profile of {table['id']!r} is unreadable (bad dictionary columns of "
                        f"{table['id']}); profiled again"]


def test_stored_statistics_are_a_fresh_profiles(lake: Path, tmp_path: Path) -> None:
    """A table of one fragment stores its statistics once (the table's are the fragment's); each
    table's statistics and fragments, taken from the state, equal a fresh profile's. The state is
    untrusted: statistics left out for a table of several fragments have it profiled again."""
    from r2d2.state import STATE, load_state

    build_lake(lake, n_tables=12, seed=5)
    (lake / "two_files").mkdir()
    pq.write_table(pa.table({"x": [5, 1], "s": ["b", None]}), lake / "two_files" / "part-0.parquet")
    pq.write_table(pa.table({"x": [9, 3], "s": ["a", "c"]}), lake / "two_files" / "part-1.parquet")
    (lake / "row_groups").mkdir()
    pq.write_table(pa.table({"x": list(range(10)), "s": ["z"] * 10}), lake / "row_groups" / "part-0.parquet",
                   row_group_size=4)
    out = tmp_path / "out"
    root, fresh, state = _scanned(lake, out)
    assert set(state.profiles) == set(fresh)
    for table_id, profile in state.profiles.items():
        assert state.hydrate(profile)
        assert (profile.stats, profile.fragments) == (fresh[table_id].stats, fresh[table_id].fragments)

    doc = json.loads(gzip.decompress((out / STATE).read_bytes()))
    one = [t for t in doc["tables"] if len(t["fragments"]) == 1]
    several = [t for t in doc["tables"] if len(t["fragments"]) > 1]
    # stored once where the table's statistics are its fragment's (not so for an empty table: no
    # NULL count in its footer, 0 NULLs once merged)
    assert one and all((t["stats"] is None) == (fresh[t["id"]].stats == fresh[t["id"]].fragments[0].stats)
                       for t in one)
    assert sum(t["stats"] is None for t in one) > len(one) / 2
    assert {t["id"] for t in several} >= {"two_files", "row_groups"} and all(t["stats"] for t in several)
    several[0]["stats"] = None
    (out / STATE).write_bytes(gzip.compress(json.dumps(doc).encode()))
    state = load_state(out, root.uri, "bag", "local", [])
    assert state is not None
    assert not state.hydrate(state.profiles[several[0]["id"]])
    assert state.hydrate(state.profiles[one[0]["id"]])


def test_a_stored_decimal_that_is_no_number_has_its_table_profiled_again(tmp_path: Path) -> None:
    """The state is untrusted: a decimal statistic forged to NaN, sNaN or infinity (whose comparison
    raises, or means nothing) does not decode, so its table is profiled again, and the next scan's
    edges are a full scan's."""
    from decimal import Decimal

    from r2d2.state import STATE, _unvalue, load_state
    from r2d2.storage import open_lake

    assert _unvalue({"d": "-12.50"}) == Decimal("-12.50")
    lake = tmp_path / "lake"
    for name, values in (("p", ["1.50", "2.25", "9.00"]), ("c", ["2.25", "9.00"])):
        (lake / name).mkdir(parents=True)
        pq.write_table(pa.table({"d": pa.array([Decimal(v) for v in values], pa.decimal128(10, 2))}),
                       lake / name / "part-0.parquet")
    out = tmp_path / "out"
    full = scan(lake, out, full=True)
    for forged in ("NaN", "sNaN", "Infinity"):
        with pytest.raises(ValueError):
            _unvalue({"d": forged})
        doc = json.loads(gzip.decompress((out / STATE).read_bytes()))
        table = next(t for t in doc["tables"] if t["id"] == "c")
        stats = table["stats"] or table["fragments"][0][3]
        stats["d"][0] = {"d": forged}  # the child's minimum
        (out / STATE).write_bytes(gzip.compress(json.dumps(doc).encode()))
        state = load_state(out, open_lake(str(lake)).uri, "bag", "local", [])
        assert state is not None and not state.hydrate(state.profiles["c"])  # it does not decode
        assert verdicts(scan(lake, out)) == verdicts(full)
