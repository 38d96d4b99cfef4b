"""The command line: exit codes and messages of DESIGN §4, help that teaches, outputs on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from r2d2.cli import main
from tests.conftest import write_table


def test_scan_writes_json_graphml_and_summary(lake: Path, tmp_path: Path, capsys) -> None:
    write_table(lake, "a", pa.table({"id": [1, 2, 3], "name": ["x", "y", "z"]}))
    write_table(lake, "b", pa.table({"ID": [2, 3]}))
    out = tmp_path / "out"
    assert main(["scan", str(lake), "--out", str(out)]) == 0
    doc = json.loads((out / "containment.json").read_text())
    assert set(doc) == {"version", "lake", "semantics", "tables", "edges", "stages", "warnings", "run",
                        "incremental_from"}
    assert doc["incremental_from"] is None and doc["run"]
    assert doc["edges"] == [{"parent": "a", "child": "b", "status": "contained", "stage": "verify",
                             "reason": "all 2 rows found", "run": doc["run"]}]
    assert [s["name"] for s in doc["stages"]] == ["discover", "profile", "schema", "minmax", "sample", "verify"]
    assert (out / "containment.graphml").exists()
    printed = capsys.readouterr().out
    assert "1 contained" in printed and "containment.json" in printed


def test_missing_lake_root_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["scan", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err and "Traceback" not in err


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert main(["scan", str(tmp_path)]) == 2  # --out missing
    assert main(["scan", str(tmp_path), "--out", str(tmp_path / "o"), "--semantics", "fuzzy"]) == 2
    assert main([]) == 2


def test_bad_config_file_exits_2(lake: Path, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sample_rowz: 3\n")
    assert main(["scan", str(lake), "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "unknown keys: sample_rowz" in capsys.readouterr().err


def test_empty_lake_is_fine(lake: Path, tmp_path: Path) -> None:
    assert main(["scan", str(lake), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert json.loads((tmp_path / "o" / "containment.json").read_text())["tables"] == []


def test_console_script_help_teaches() -> None:
    done = subprocess.run([sys.executable, "-m", "r2d2.cli", "scan", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for words in ("--semantics", "--sample-rows", "--workers", "bag semantics", "examples:"):
        assert words in done.stdout


def test_graphml_reads_back_with_every_name_count_and_verdict(lake: Path, tmp_path: Path) -> None:
    """containment.graphml, written by hand for speed, is GraphML that networkx reads back: names
    that need escaping, numbers, and each edge's verdict and reason as the scan decided them."""
    import networkx as nx

    from r2d2.config import ScanConfig
    from r2d2.pipeline import run_scan

    write_table(lake, 'a&b<"c">', pa.table({"x": [1, 2], "y": ["<p>", "&amp;"]}))
    write_table(lake, "d'e", pa.table({"x": [1], "y": ["<p>"]}))
    write_table(lake, "f", pa.table({"x": [3], "y": ["q"]}))
    result = run_scan(str(lake), tmp_path / "out", ScanConfig())
    graph = nx.read_graphml(tmp_path / "out" / "containment.graphml")
    tables = {t.id: t for t in result.tables}
    assert {n: (d["rows"], d["bytes"], d["format"]) for n, d in graph.nodes(data=True)} == {
        t.id: (t.rows, t.bytes, t.format) for t in tables.values() if t.usable}
    decided = {(e.parent, e.child): (e.status, e.stage, e.reason, 2) for e in result.edges}
    read = {(p, c): (d["status"], d["stage"], d["reason"], d["columns"]) for p, c, d in graph.edges(data=True)}
    assert read == decided
    assert decided[('a&b<"c">', "d'e")][0] == "contained" and len(decided) == 6
