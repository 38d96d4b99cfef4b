"""Shared fixtures: tiny lakes written as real Parquet/Delta in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan


def write_table(root: Path, table_id: str, table: pa.Table, name: str = "part-00000.parquet", **kw) -> Path:
    folder = root / table_id
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name, **kw)
    return folder


def scan_edges(root: Path | str, out: Path | None = None, **config) -> dict[tuple[str, str], dict]:
    result = run_scan(str(root), out, ScanConfig(**config))
    return {(e.parent, e.child): {"status": e.status, "stage": e.stage, "reason": e.reason} for e in result.edges}


def contained(edges: dict[tuple[str, str], dict]) -> set[tuple[str, str]]:
    return {k for k, v in edges.items() if v["status"] == "contained"}


def load_json(out: Path) -> dict:
    return json.loads((out / "containment.json").read_text(encoding="utf-8"))


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    return root
