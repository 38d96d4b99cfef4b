"""ADLS Gen2 / Blob lakes (`abfs[s]://`) against Azurite, the Azure Storage emulator, started here on
127.0.0.1 (`make setup` installs azurite@3.35.0 with npm; it runs on Node 20).

Azurite serves the blob endpoint only, with no hierarchical namespace. Tested here: pyarrow's
AzureFileSystem listing and reading a lake (local engine, and Spark tasks reading with pyarrow),
Delta tables written and read by deltalake with storage options, and the errors. Not tested (no
server here serves them): DFS-endpoint operations (hierarchical-namespace listings and atomic
renames) and Spark's own ABFS reader (hadoop-azure 3.5 removed WASB, and its ABFS client does not
talk plain HTTP to Azurite: "SSL socket factory may not be null")."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from r2d2.cli import main
from tests.conftest import free_port, write_table
from tests.oracle import oracle_edges

AZURITE = Path(__file__).resolve().parents[1] / "tools" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account and key (public, not a secret)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@contextmanager
def azurite_server(location: Path) -> Iterator[str]:
    """Azurite's blob endpoint on a free port of 127.0.0.1, storing under `location`, until the
    block ends (tests and benchmarks start their own)."""
    if not AZURITE.exists():
        raise RuntimeError("Azurite is missing: run `make setup` (it installs azurite@3.35.0 into tools/ with npm)")
    port = free_port()
    process = subprocess.Popen([str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                                str(location), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        fs = _filesystem(f"127.0.0.1:{port}")
        for _ in range(100):
            try:
                fs.get_file_info(pafs.FileSelector("", recursive=False))
                break
            except OSError:
                if process.poll() is not None:
                    detail = process.stderr.read().decode()[:500] if process.stderr else ""
                    raise RuntimeError(f"Azurite did not start: {detail}") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with azurite_server(tmp_path_factory.mktemp("azurite")) as endpoint:
            yield endpoint
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _filesystem(endpoint: str) -> pafs.AzureFileSystem:
    return pafs.AzureFileSystem(account_name=ACCOUNT, account_key=KEY, blob_storage_authority=endpoint,
                                dfs_storage_authority=endpoint, blob_storage_scheme="http", dfs_storage_scheme="http")


def _uri(container: str, path: str, endpoint: str) -> str:
    return f"abfs://{container}@{ACCOUNT}.dfs.core.windows.net/{path}?endpoint_override={endpoint}&scheme=http"


def _edges(uri: str, tmp_path: Path, name: str, *extra: str) -> list[dict]:
    import json

    out = tmp_path / name
    assert main(["scan", uri, "--out", str(out), "--quiet", *extra]) == 0
    doc = json.loads((out / "containment.json").read_text())
    return sorted(({k: e[k] for k in ("parent", "child", "status", "stage", "reason")} for e in doc["edges"]),
                  key=lambda e: (e["parent"], e["child"]))


@pytest.fixture
def azure_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_KEY", KEY)


def test_abfs_lake_on_azurite_equals_the_same_lake_on_disk(azurite: str, azure_key: None, lake: Path,
                                                            tmp_path: Path) -> None:
    base = pa.table({"id": list(range(300)), "name": [f"n{i % 11}" for i in range(300)]})
    write_table(lake, "sales/all", base, row_group_size=64)
    write_table(lake, "sales/some", base.slice(40, 25))
    write_table(lake, "sales/by_name/name=n3", base.filter(pa.compute.equal(base["name"], "n3")).select(["id"]))
    write_table(lake, "other", pa.table({"id": [999, 1000]}))
    write_deltalake(str(lake / "delta_copy"), base)
    fs = _filesystem(azurite)
    fs.create_dir("lakes")
    pafs.copy_files(str(lake), "lakes/warehouse", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    # a Delta table written straight to Azurite by deltalake, with storage options
    options = {"account_name": ACCOUNT, "account_key": KEY, "azure_storage_endpoint": f"http://{azurite}/{ACCOUNT}",
               "allow_http": "true"}
    write_deltalake("abfs://lakes/warehouse/delta_remote", base.slice(0, 100), storage_options=options)
    write_deltalake(str(lake / "delta_remote"), base.slice(0, 100))
    assert DeltaTable("abfs://lakes/warehouse/delta_remote", storage_options=options).to_pyarrow_table().num_rows == 100
    on_disk = _edges(str(lake), tmp_path, "disk")
    on_azure = _edges(_uri("lakes", "warehouse", azurite), tmp_path, "azure")
    assert on_azure == on_disk
    assert {(e["parent"], e["child"]) for e in on_azure if e["status"] == "contained"} == oracle_edges(lake)
    assert ("delta_copy", "delta_remote") in {(e["parent"], e["child"]) for e in on_azure if e["status"] == "contained"}


def test_abfs_lake_through_spark_tasks_reading_with_pyarrow(azurite: str, azure_key: None, spark, lake: Path,
                                                             tmp_path: Path) -> None:
    from r2d2.config import ScanConfig
    from r2d2.pipeline import run_scan

    base = pa.table({"id": list(range(120)), "v": [i * 0.5 for i in range(120)]})
    write_table(lake, "all", base, row_group_size=30)
    write_table(lake, "part", base.slice(10, 20))
    fs = _filesystem(azurite)
    fs.create_dir("sparklake")
    pafs.copy_files(str(lake), "sparklake/lake", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    uri = _uri("sparklake", "lake", azurite)
    on_spark = run_scan(uri, None, ScanConfig(), engine="spark", spark=spark, read="pyarrow")
    local = run_scan(uri, None, ScanConfig())
    assert [(e.parent, e.child, e.status, e.stage, e.reason) for e in on_spark.edges] == \
        [(e.parent, e.child, e.status, e.stage, e.reason) for e in local.edges]
    assert ("all", "part") in {(e.parent, e.child) for e in local.edges if e.status == "contained"}


def test_azure_errors_exit_2_without_secrets(azurite: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AZURE_STORAGE_KEY", KEY)
    assert main(["scan", _uri("nosuchcontainer", "lake", azurite), "--out", str(tmp_path / "a")]) == 2
    assert "nosuchcontainer" in capsys.readouterr().err
    assert main(["scan", f"abfs://{ACCOUNT}.dfs.core.windows.net/lake", "--out", str(tmp_path / "b")]) == 2
    assert "CONTAINER@ACCOUNT" in capsys.readouterr().err
    fs = _filesystem(azurite)
    fs.create_dir("keyed")
    pq.write_table(pa.table({"id": [1]}), "keyed/lake/t/part-0.parquet", filesystem=fs)
    wrong = "A" * 86 + "=="
    monkeypatch.setenv("AZURE_STORAGE_KEY", wrong)  # a wrong key: the server refuses to list
    assert main(["scan", _uri("keyed", "lake", azurite), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "keyed" in err and wrong not in err and KEY not in err


def test_apply_restore_and_purge_on_azurite(azurite: str, azure_key: None, lake: Path, tmp_path: Path) -> None:
    """Blob storage without a hierarchical namespace: tables move by copy, read back and checked, then
    removal of the originals; a kill after the first copy is finished by the re-run."""
    from tests.conftest import write_sales_lake
    from tests.test_apply import remote_round_trip

    write_sales_lake(lake)
    fs = _filesystem(azurite)
    fs.create_dir("reclaim")
    pafs.copy_files(str(lake), "reclaim/lake", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    remote_round_trip(_uri("reclaim", "lake", azurite), fs, "reclaim/lake", tmp_path / "plan",
                      {"AZURE_STORAGE_KEY": KEY}, ["apply.copied"])


def test_purge_on_azurite_rebuilds_first(azurite: str, azure_key: None, lake: Path, tmp_path: Path) -> None:
    from tests.conftest import write_sales_lake
    from tests.test_apply import remote_purge_cycle

    write_sales_lake(lake)
    fs = _filesystem(azurite)
    fs.create_dir("purging")
    pafs.copy_files(str(lake), "purging/lake", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    quarantine = f"abfs://purging@{ACCOUNT}.dfs.core.windows.net/r2d2-q?endpoint_override={azurite}&scheme=http"
    remote_purge_cycle(_uri("purging", "lake", azurite), quarantine, fs, "purging/lake", "purging/r2d2-q",
                       tmp_path / "plan", {"AZURE_STORAGE_KEY": KEY})
