"""The Spark engine, run for real in local mode (one session for every test): on generated lakes
it must reach exactly the local engine's verdicts, and both must equal the oracle (DESIGN §5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from benchmarks.lakegen import build_lake
from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan
from tests.conftest import write_table
from tests.oracle import oracle_edges

pyspark = pytest.importorskip("pyspark", reason="pyspark is part of the dev extras; make setup installs it")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from r2d2.engines.spark import spark_session

    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"})
    yield session
    session.stop()


def edges(root: Path | str, engine: str, spark: object = None, out: Path | None = None, **config) -> list[dict]:
    options = {"spark": spark} if engine == "spark" else {}
    result = run_scan(str(root), out, ScanConfig(**config), engine=engine, **options)
    return [{"parent": e.parent, "child": e.child, "status": e.status, "stage": e.stage, "reason": e.reason}
            for e in sorted(result.edges, key=lambda e: (e.parent, e.child))]


@pytest.mark.parametrize("seed, semantics", [(11, "bag"), (12, "set")])
def test_spark_and_local_reach_the_same_verdicts_as_the_oracle(spark, tmp_path: Path, seed: int,
                                                               semantics: str) -> None:
    root = tmp_path / "lake"
    build_lake(root, n_tables=50, seed=seed, with_delta=True, with_bad=True)
    local = edges(root, "local", semantics=semantics)
    on_spark = edges(root, "spark", spark, tmp_path / "out", semantics=semantics)
    assert on_spark == local
    contained = {(e["parent"], e["child"]) for e in on_spark if e["status"] == "contained"}
    assert contained == oracle_edges(root, semantics=semantics)
    doc = json.loads((tmp_path / "out" / "containment.json").read_text())
    assert [s["name"] for s in doc["stages"]] == ["discover", "profile", "schema", "minmax", "sample", "verify"]
    assert next(s for s in doc["stages"] if s["name"] == "verify")["bytes_read"] > 0  # counted on executors


def test_spark_sample_stage_and_partial_fingerprints(spark, lake: Path, monkeypatch) -> None:
    """Large tables are split into units fingerprinted by different tasks; the sums must be right."""
    import r2d2.engines.spark as spark_engine

    monkeypatch.setattr(spark_engine, "UNIT_ROWS", 1_000)
    ids = list(range(20_000))
    parent = pa.table({"id": ids, "name": [f"n{i:05d}" for i in ids], "g": [i % 7 for i in ids]})
    write_table(lake, "parent", parent, row_group_size=500)
    write_table(lake, "dup", pa.concat_tables([parent.slice(0, 5_000), parent.slice(0, 5_000)]), row_group_size=700)
    write_table(lake, "window", parent.slice(10_000, 300))
    shifted = parent.slice(10_000, 300).set_column(2, "g", pa.array([(i + 1) % 7 for i in range(10_000, 10_300)]))
    write_table(lake, "shifted", shifted)
    assert edges(lake, "spark", spark) == edges(lake, "local")
    got = {(e["parent"], e["child"]): e for e in edges(lake, "spark", spark)}
    assert got[("parent", "window")]["status"] == "contained"
    assert got[("parent", "shifted")]["status"] == "not_contained"
    assert got[("parent", "dup")]["status"] == "not_contained" and got[("dup", "window")]["status"] == "not_contained"
    # The sample stage runs where a refutation spares verify a read: the parent with one child.
    solo = lake.parent / "solo"
    write_table(solo, "parent", parent, row_group_size=500)
    write_table(solo, "shifted", shifted)
    alone = {(e["parent"], e["child"]): e for e in edges(solo, "spark", spark)}
    assert alone[("parent", "shifted")]["stage"] == "sample"
    assert alone == {(e["parent"], e["child"]): e for e in edges(solo, "local")}
