"""`r2d2 plan` end to end on a generated lake: every deletion carries a verified recipe, and
`r2d2 rebuild` of each deleted table reproduces it exactly (same row multiset, read by the
independent oracle, and the same schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.lakegen import build_lake
from r2d2.cli import main
from tests.conftest import write_table
from tests.oracle import load_table, row_multiset


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("plan") / "lake"
    build_lake(root, n_tables=60, seed=3, with_delta=True)
    out = root.parent / "out"
    assert main(["scan", str(root), "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 0
    return root, out


def test_every_deletion_has_a_verified_recipe(planned: tuple[Path, Path]) -> None:
    _, out = planned
    plan = json.loads((out / "plan.json").read_text())
    assert set(plan) >= {"version", "scan", "prices", "tables", "candidates", "deletions", "objective"}
    assert plan["deletions"], "a generated lake has copies and projections to delete"
    kinds = {d["recipe"]["kind"] for d in plan["deletions"]}
    assert {"projection", "predicate", "row_selection"} <= kinds
    candidates = {(c["parent"], c["child"]) for c in plan["candidates"]}
    deleted = {d["table"] for d in plan["deletions"]}
    for d in plan["deletions"]:
        assert d["recipe"]["verified"] is True and d["recipe"]["sql"].startswith(("SELECT ", "WITH "))
        assert (d["recipe"].get("dialect") == "duckdb") == (d["recipe"]["kind"] == "row_selection")
        assert (d["source"], d["table"]) in candidates and d["source"] not in deleted
    used = {d["recipe"]["selection"] for d in plan["deletions"] if "selection" in d["recipe"]}
    stored = {f"selections/{p.name}" for p in (out / "selections").glob("*")} if used else set()
    assert stored == used  # every stored list is used by the plan, and none is left over
    o = plan["objective"]
    assert o["status"] == "optimal" and o["total"] == pytest.approx(o["storage_after"] + o["rebuild_cost"])


def test_rebuild_reproduces_each_deleted_table(planned: tuple[Path, Path], tmp_path: Path) -> None:
    root, out = planned
    plan = json.loads((out / "plan.json").read_text())
    scan = json.loads((out / "containment.json").read_text())
    tables = {t["id"]: t for t in scan["tables"]}
    for d in plan["deletions"]:
        assert main(["rebuild", str(out / "plan.json"), d["table"], "--out", str(tmp_path)]) == 0
        rebuilt_file = tmp_path / d["table"] / "part-00000.parquet"
        schema = pq.read_schema(rebuilt_file)
        expected = tables[d["table"]]["columns"]
        assert [(f.name, str(f.type)) for f in schema] == [(c["name"], c["type"]) for c in expected], d["table"]
        original = load_table(d["table"], root / d["table"], tables[d["table"]]["format"])
        rebuilt = load_table(d["table"], tmp_path / d["table"], "parquet")
        names = tuple(sorted(original.columns))
        assert tuple(sorted(rebuilt.columns)) == names
        assert row_multiset(rebuilt, names) == row_multiset(original, names), d["table"]


def test_protected_tables_stay_and_unknown_ids_are_usage_errors(lake: Path, tmp_path: Path) -> None:
    t = pa.table({"id": list(range(100)), "v": [i % 5 for i in range(100)]})
    write_table(lake, "all", t)
    write_table(lake, "copy", t)
    write_table(lake, "first_half", t.slice(0, 50))
    out = tmp_path / "out"
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("protected: ['copy']\n")
    assert main(["scan", str(lake), "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--config", str(cfg), "--quiet"]) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert {d["table"] for d in plan["deletions"]} == {"first_half"}
    assert plan["deletions"][0]["recipe"]["kind"] == "predicate"
    assert "`id` BETWEEN 0 AND 49" in plan["deletions"][0]["recipe"]["sql"]
    assert main(["rebuild", str(out / "plan.json"), "copy", "--out", str(tmp_path / "r")]) == 2


def test_rebuild_notices_a_changed_source(lake: Path, tmp_path: Path) -> None:
    t = pa.table({"id": list(range(100)), "s": [f"x{i}" for i in range(100)]})
    write_table(lake, "all", t)
    write_table(lake, "part", t.filter(pa.compute.less(t["id"], 30)))
    out = tmp_path / "out"
    assert main(["scan", str(lake), "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 0
    changed = t.set_column(1, "s", pa.array([f"y{i}" for i in range(100)]))
    write_table(lake, "all", changed)
    assert main(["rebuild", str(out / "plan.json"), "part", "--out", str(tmp_path / "r")]) == 1
