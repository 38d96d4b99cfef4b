"""The conformance suite (DESIGN §5): every read path reaches the same verdicts, and they equal the
oracle's. The paths are the local engine, the Spark engine reading with pyarrow in its tasks, and
the Spark engine reading through Spark (its Hadoop file systems, delta-spark, the catalog). Spark
runs for real in local mode, in one session for the whole test run (tests/conftest.py: Delta jars
from `make setup`, a Derby Hive metastore, S3A pointed at moto's server on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from benchmarks.lakegen import build_lake
from r2d2.cli import main
from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan
from tests.conftest import write_table
from tests.oracle import oracle_edges

pyspark = pytest.importorskip("pyspark", reason="pyspark is part of the dev extras; make setup installs it")

PATHS = ["local", "spark-pyarrow", "spark"]


def edges(root: Path | str, path: str, spark: object = None, out: Path | None = None, **config) -> list[dict]:
    """The verdicts of a scan on one read path, sorted."""
    if path == "local":
        result = run_scan(str(root), out, ScanConfig(**config))
    else:
        read = "pyarrow" if path == "spark-pyarrow" else "spark"
        result = run_scan(str(root), out, ScanConfig(**config), engine="spark", spark=spark, read=read)
    return [{"parent": e.parent, "child": e.child, "status": e.status, "stage": e.stage, "reason": e.reason}
            for e in sorted(result.edges, key=lambda e: (e.parent, e.child))]


def contained_pairs(found: list[dict]) -> set[tuple[str, str]]:
    return {(e["parent"], e["child"]) for e in found if e["status"] == "contained"}


def assert_conform(by_path: dict[str, list[dict]]) -> None:
    """Every path's edges (status, stage, reason) equal the local engine's."""
    local = by_path["local"]
    assert local, "no edges: the lake tests nothing"
    for path, found in by_path.items():
        assert found == local, f"{path} differs from the local engine"


@pytest.mark.parametrize("seed, semantics", [(11, "bag"), (12, "set")])
def test_generated_lakes_conform_on_every_read_path(spark, tmp_path: Path, seed: int, semantics: str) -> None:
    root = tmp_path / "lake"
    build_lake(root, n_tables=50, seed=seed, with_delta=True, with_bad=True)
    by_path = {p: edges(root, p, spark, tmp_path / f"out-{p}", semantics=semantics) for p in PATHS}
    assert_conform(by_path)
    assert contained_pairs(by_path["local"]) == oracle_edges(root, semantics=semantics)
    doc = json.loads((tmp_path / "out-spark" / "containment.json").read_text())
    assert [s["name"] for s in doc["stages"]] == ["discover", "profile", "schema", "minmax", "sample", "verify"]
    assert next(s for s in doc["stages"] if s["name"] == "verify")["bytes_read"] > 0
    assert {t["statistics"] for t in doc["tables"] if t["error"] is None} == {"parquet footers", "delta log"}


def test_partial_fingerprints_and_the_sample_stage(spark, lake: Path, monkeypatch) -> None:
    """Large tables are split into units fingerprinted by different tasks (pyarrow path) or into
    Spark's own splits (Spark path); the sums must be right either way."""
    import r2d2.engines.spark as spark_engine

    monkeypatch.setattr(spark_engine, "UNIT_ROWS", 1_000)
    ids = list(range(20_000))
    parent = pa.table({"id": ids, "name": [f"n{i:05d}" for i in ids], "g": [i % 7 for i in ids]})
    write_table(lake, "parent", parent, row_group_size=500)
    write_table(lake, "dup", pa.concat_tables([parent.slice(0, 5_000), parent.slice(0, 5_000)]), row_group_size=700)
    write_table(lake, "window", parent.slice(10_000, 300))
    shifted = parent.slice(10_000, 300).set_column(2, "g", pa.array([(i + 1) % 7 for i in range(10_000, 10_300)]))
    write_table(lake, "shifted", shifted)
    by_path = {p: edges(lake, p, spark) for p in PATHS}
    assert_conform(by_path)
    got = {(e["parent"], e["child"]): e for e in by_path["spark"]}
    assert got[("parent", "window")]["status"] == "contained"
    assert got[("parent", "shifted")]["status"] == "not_contained"
    assert got[("parent", "dup")]["status"] == "not_contained" and got[("dup", "window")]["status"] == "not_contained"
    # The sample stage runs where a refutation spares verify a read: the parent with one child.
    solo = lake.parent / "solo"
    write_table(solo, "parent", parent, row_group_size=500)
    write_table(solo, "shifted", shifted)
    alone = {p: edges(solo, p, spark) for p in PATHS}
    assert_conform(alone)
    assert alone["spark"][0]["stage"] == "sample" and alone["spark"][0]["child"] == "shifted"


def _delta_features_lake(spark, root: Path) -> None:
    """Delta tables written by delta-spark with deletion vectors (rows deleted: still in the files)
    and with column mapping (a renamed column: files hold physical names)."""
    frame = spark.range(0, 600).selectExpr("id", "cast(id % 7 as string) AS g", "id * 1.5 AS x")
    frame.write.format("delta").save(str(root / "base"))
    frame.write.format("delta").option("delta.enableDeletionVectors", "true").save(str(root / "deleted"))
    spark.sql(f"DELETE FROM delta.`{root / 'deleted'}` WHERE id % 3 = 0")
    (frame.where("id % 3 = 0").write.format("delta").option("delta.columnMapping.mode", "name")
     .option("delta.minReaderVersion", "2").option("delta.minWriterVersion", "5").save(str(root / "mapped")))
    spark.sql(f"ALTER TABLE delta.`{root / 'mapped'}` RENAME COLUMN x TO x_old")
    spark.sql(f"ALTER TABLE delta.`{root / 'mapped'}` RENAME COLUMN x_old TO x")
    # a copy of the deleted rows' complement under deletion vectors, and one row that was deleted
    frame.where("id % 3 != 0").write.format("delta").save(str(root / "kept"))
    frame.where("id = 3").write.format("parquet").save(str(root / "a_deleted_row"))


def test_delta_deletion_vectors_and_column_mapping_conform(spark, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _delta_features_lake(spark, root)
    by_path = {p: edges(root, p, spark) for p in PATHS}
    assert_conform(by_path)
    found = contained_pairs(by_path["local"])
    assert found == oracle_edges(root)
    assert ("base", "deleted") in found and ("deleted", "kept") in found and ("kept", "deleted") in found
    assert ("base", "mapped") in found and ("deleted", "a_deleted_row") not in found
    assert ("base", "a_deleted_row") in found


def test_catalog_lake_matches_its_folders_and_the_oracle(spark, tmp_path: Path) -> None:
    """`catalog:DB` scans a Hive-metastore database: ids are qualified names, views are listed and
    skipped, and the verdicts equal those of the same tables scanned as folders."""
    spark.sql("CREATE DATABASE IF NOT EXISTS shop")
    orders = spark.range(0, 400).selectExpr("id", "id % 13 AS customer", "cast(id * 2.5 AS decimal(12,2)) AS amount")
    orders.write.format("parquet").mode("overwrite").saveAsTable("shop.orders")
    orders.where("customer < 4").write.format("delta").mode("overwrite").saveAsTable("shop.orders_small")
    orders.select("id", "customer").write.format("parquet").partitionBy("customer").mode("overwrite") \
        .saveAsTable("shop.orders_by_customer")
    spark.range(0, 5).selectExpr("id + 1000 AS id").write.mode("overwrite").saveAsTable("shop.other")
    spark.sql("CREATE OR REPLACE VIEW shop.recent AS SELECT * FROM shop.orders WHERE id > 300")
    result = run_scan("catalog:shop", tmp_path / "out", ScanConfig(sample_rows=0), engine="spark", spark=spark)
    on_catalog = {(e.parent, e.child): (e.status, e.stage, e.reason) for e in result.edges}
    assert any("shop.recent" in w for w in result.warnings)
    assert {t.id for t in result.tables} == {"shop.orders", "shop.orders_small", "shop.orders_by_customer",
                                             "shop.other"}
    assert {t.reader for t in result.tables} == {"catalog"}
    warehouse = Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:")) / "shop.db"
    as_folders = {(f"shop.{e['parent']}", f"shop.{e['child']}"): (e["status"], e["stage"], e["reason"])
                  for e in edges(warehouse, "local", sample_rows=0)}
    assert on_catalog == as_folders  # statistics from the same footers and logs: the same stages and reasons
    assert any(stage == "minmax" for _, stage, _ in on_catalog.values())
    assert {t.statistics for t in result.tables} == {"parquet footers", "delta log"}
    found = {k for k, v in on_catalog.items() if v[0] == "contained"}
    assert found == {(f"shop.{p}", f"shop.{c}") for p, c in oracle_edges(warehouse)}
    assert ("shop.orders", "shop.orders_small") in found
    # plan and report take the qualified ids; recipes for catalog tables are not built: kept, saying why
    assert main(["plan", str(tmp_path / "out"), "--out", str(tmp_path / "plan"), "--quiet"]) == 0
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert plan["deletions"] == [] and {d["table"] for d in plan["not_deleted"]} >= {"shop.orders_small"}
    assert all("catalog tables" in d["reason"] for d in plan["not_deleted"])
    assert main(["report", str(tmp_path / "plan")]) == 0
    assert "shop.orders_small" in (tmp_path / "plan" / "report.html").read_text()


def test_catalog_errors(spark, tmp_path: Path, capsys) -> None:
    assert main(["scan", "catalog:no_such_db", "--out", str(tmp_path / "o"), "--engine", "spark"]) == 2
    assert "no_such_db" in capsys.readouterr().err
    assert main(["scan", "catalog:", "--out", str(tmp_path / "o"), "--engine", "spark"]) == 2
    assert main(["scan", "catalog:shop", "--out", str(tmp_path / "o"), "--engine", "spark", "--read", "pyarrow"]) == 2
    assert "Java" not in capsys.readouterr().err


def test_unreadable_table_carries_the_error_and_the_scan_goes_on(spark, lake: Path) -> None:
    """A table whose footer reads but whose data Spark cannot read: its row carries Spark's
    message (one line), the other tables are scanned, no Java stack trace is in the message."""
    base = pa.table({"id": list(range(2_000)), "name": [f"name {i}" for i in range(2_000)]})
    write_table(lake, "all", base)
    write_table(lake, "some", base.slice(0, 10))
    broken = write_table(lake, "broken", base.slice(0, 1_500), compression="snappy") / "part-00000.parquet"
    data = bytearray(broken.read_bytes())
    data[100:4_000] = bytes(3_900)  # data pages zeroed, footer intact
    broken.write_bytes(bytes(data))
    result = run_scan(str(lake), None, ScanConfig(sample_rows=0), engine="spark", spark=spark)
    errors = {t.id: t.error for t in result.tables if t.error}
    assert list(errors) == ["broken"] and "\tat " not in errors["broken"] and "\n" not in errors["broken"]
    assert ("all", "some") in {(e.parent, e.child) for e in result.edges if e.status == "contained"}


def test_s3a_lake_conforms(spark, moto_s3: str, lake: Path, monkeypatch) -> None:
    """The same lake on moto's S3: pyarrow paths reach it by s3:// with the endpoint in the URI,
    Spark's readers by s3a:// with the session's settings and environment credentials."""
    from tests.conftest import S3_ENV, upload, write_sales_lake

    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    write_sales_lake(lake)
    upload(moto_s3, "conformance", lake, "lake")
    query = f"?endpoint_override={moto_s3}&scheme=http&region=us-east-1"
    by_path = {"local": edges(f"s3://conformance/lake{query}", "local"),
               "spark-pyarrow": edges(f"s3://conformance/lake{query}", "spark-pyarrow", spark),
               "spark": edges("s3a://conformance/lake", "spark", spark),
               "on disk": edges(lake, "local")}
    assert_conform(by_path)
    assert contained_pairs(by_path["spark"]) == oracle_edges(lake)
    with pytest.raises(Exception, match="credentials in the URI"):
        edges("s3a://key:secret@conformance/lake", "spark", spark)


def test_missing_connector_and_jar_messages(spark, tmp_path: Path, capsys) -> None:
    """A lake whose scheme has no Hadoop connector exits 2 in one line; a session without Delta's
    jars names the jar and `make setup` (tested by the message: this session has them)."""
    from r2d2.engines.spark import missing_jars_hint

    assert main(["scan", "gs://bucket/lake", "--out", str(tmp_path / "o"), "--engine", "spark"]) == 2
    err = capsys.readouterr().err
    assert "gs://" in err and "\n" not in err.strip() and "\tat " not in err
    hint = missing_jars_hint("delta")
    assert "io.delta:delta-spark_4.2_2.13:4.4.0" in hint and "make setup" in hint
    assert "hadoop-aws" in missing_jars_hint("s3a://b") and "hadoop-azure" in missing_jars_hint("abfss://c@a")


def test_links_out_of_the_lake_are_not_followed_through_spark(spark, lake: Path, tmp_path: Path) -> None:
    outside = write_table(tmp_path, "outside", pa.table({"x": list(range(10))}))
    (lake / "link").symlink_to(outside, target_is_directory=True)
    write_table(lake, "inside", pa.table({"x": [1, 2]}))
    write_table(lake, "more", pa.table({"x": [1, 2, 3]}))
    result = run_scan(str(lake), None, ScanConfig(), engine="spark", spark=spark)
    assert sorted(t.id for t in result.tables) == ["inside", "more"]
    assert edges(lake, "spark", spark) == edges(lake, "local")
