"""The scan over S3: a real S3-protocol server (moto's, started here on 127.0.0.1) serves a lake;
the verdicts must be those of the same lake on local disk."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from moto.server import ThreadedMotoServer

from r2d2.cli import main
from tests.conftest import scan_edges, write_table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)


def upload(endpoint: str, bucket: str, root: Path, prefix: str) -> None:
    client = boto3.client("s3", endpoint_url=f"http://{endpoint}", region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")


def test_scan_over_s3_equals_local(s3_endpoint: str, lake: Path, tmp_path: Path) -> None:
    base = pa.table({"id": list(range(200)), "name": [f"n{i % 17}" for i in range(200)]})
    write_table(lake, "sales/all", base, row_group_size=50)
    write_table(lake, "sales/some", base.slice(20, 30))
    write_table(lake, "sales/by_name/name=n3", base.filter(pa.compute.equal(base["name"], "n3")).select(["id"]))
    write_table(lake, "other", pa.table({"id": [999]}))
    write_deltalake(str(lake / "delta_copy"), base)
    upload(s3_endpoint, "lake-bucket", lake, "warehouse")
    uri = f"s3://lake-bucket/warehouse?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    remote = scan_edges(uri, tmp_path / "out")
    local = scan_edges(lake)
    assert {k: v["status"] for k, v in remote.items()} == {k: v["status"] for k, v in local.items()}
    assert remote[("delta_copy", "sales/all")]["status"] == "contained"
    assert remote[("sales/all", "sales/by_name")]["status"] == "contained"


def test_delta_folders_named_with_percent_escapes_over_s3(s3_endpoint: str, lake: Path, tmp_path: Path) -> None:
    from tests.test_trust import write_percent_named_delta

    write_percent_named_delta(lake)
    upload(s3_endpoint, "percent-bucket", lake, "w")
    uri = f"s3://percent-bucket/w?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    edges = scan_edges(uri, tmp_path / "out")
    assert edges[("all%2Fof%25it", "sales%20eu")]["status"] == "contained"
    assert edges[("sales%20eu", "all%2Fof%25it")]["status"] == "not_contained"


def test_missing_bucket_exits_2(s3_endpoint: str, tmp_path: Path) -> None:
    uri = f"s3://no-such-bucket/x?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    assert main(["scan", uri, "--out", str(tmp_path / "o"), "--quiet"]) == 2
