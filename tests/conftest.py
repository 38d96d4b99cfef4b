"""Shared fixtures: tiny lakes written as real Parquet/Delta in tmp_path."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan

# Airflow's tests run in Airflow's own venv (`make test-airflow`), not in r2d2's.
collect_ignore = ["airflow"]


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
          "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 for the whole session (Spark's S3A is pointed at it)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def spark(moto_s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local Spark session for every Spark test: Delta (jars from `make setup`), an embedded
    Hive metastore (Derby) in a temporary folder, and S3A pointed at the moto server, with
    credentials from the environment (S3A's default provider chain), never from a URI."""
    pytest.importorskip("pyspark", reason="pyspark is part of the dev extras; make setup installs it")
    from r2d2.engines.spark import jar_folder, spark_session

    if jar_folder() is None:
        pytest.fail("the Spark jars are missing: run `make setup` (it fetches them with Maven into spark-jars/lib)")
    home = tmp_path_factory.mktemp("spark")
    saved = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(S3_ENV)  # the JVM inherits them at launch; S3A's default chain reads them
    try:
        session = spark_session("local[2]", {
            "spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false",
            "spark.sql.catalogImplementation": "hive",
            "spark.sql.warehouse.dir": str(home / "warehouse"),
            "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={home / 'metastore'};create=true",
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={home}",
            "spark.hadoop.fs.s3a.endpoint": f"http://{moto_s3}",
            "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        })
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield session
    session.stop()


def write_sales_lake(lake: Path) -> None:
    """A small lake of Parquet (row groups, Hive partitions) and Delta tables, for the object stores."""
    from deltalake import write_deltalake

    base = pa.table({"id": list(range(200)), "name": [f"n{i % 17}" for i in range(200)]})
    write_table(lake, "sales/all", base, row_group_size=50)
    write_table(lake, "sales/some", base.slice(20, 30))
    write_table(lake, "sales/by_name/name=n3", base.filter(pa.compute.equal(base["name"], "n3")).select(["id"]))
    write_table(lake, "other", pa.table({"id": [999]}))
    write_deltalake(str(lake / "delta_copy"), base)


def upload(endpoint: str, bucket: str, root: Path, prefix: str) -> None:
    """Every file under `root` into s3://bucket/prefix/ on the moto server at `endpoint`."""
    import boto3

    client = boto3.client("s3", endpoint_url=f"http://{endpoint}", region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
