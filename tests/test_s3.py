"""The scan over S3: a real S3-protocol server (moto's, started here on 127.0.0.1) serves a lake;
the verdicts must be those of the same lake on local disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from r2d2.cli import main
from tests.conftest import scan_edges, upload, write_sales_lake


@pytest.fixture
def s3_endpoint(moto_s3: str) -> str:
    return moto_s3  # the session's moto server (tests/conftest.py)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)


def test_scan_over_s3_equals_local(s3_endpoint: str, lake: Path, tmp_path: Path) -> None:
    write_sales_lake(lake)
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


def test_profile_fetches_footers_on_more_threads_over_s3(s3_endpoint: str, lake: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Over an object store most of profile's time is spent waiting for footers: threads join
    (parallel.each), and the profiles are those of the same lake on local disk, which one thread
    profiles (Python work: more threads would only slow it)."""
    import threading

    import pyarrow as pa
    import pyarrow.parquet as pq

    from r2d2 import profile as profile_module
    from r2d2.config import ScanConfig
    from r2d2.discover import discover_tables
    from r2d2.storage import open_lake

    for i in range(60):
        (lake / f"t{i:02d}").mkdir()
        pq.write_table(pa.table({"id": list(range(i, i + 50)), "name": [f"n{j}" for j in range(50)]}),
                       lake / f"t{i:02d}" / "part-0.parquet")
    upload(s3_endpoint, "threads-bucket", lake, "w")
    threads: set[int] = set()
    profile_parquet = profile_module.profile_parquet

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.add(threading.get_ident())
        return profile_parquet(*args, **kwargs)

    monkeypatch.setattr(profile_module, "profile_parquet", recorded)

    def profiles(uri: str) -> dict:
        remote = open_lake(uri)
        refs, _ = discover_tables(remote)
        found = profile_module.profile_tables(remote, refs, ScanConfig(workers=2))
        assert remote.counter.waited > 0
        return {p.id: (p.error, p.rows, [c.name for c in p.columns], p.stats["id"]) for p in found}

    over_s3 = profiles(f"s3://threads-bucket/w?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1")
    assert len(threads) == 2
    threads.clear()
    assert profiles(str(lake)) == over_s3 and len(over_s3) == 60
    assert threads == {threading.get_ident()}


def test_footers_longer_and_shorter_than_one_fetch_read_alike_over_s3(s3_endpoint: str, lake: Path) -> None:
    """Over an object store profile fetches a file's last FOOTER_GUESS_BYTES in one request; a longer
    footer takes a second one for the rest. Both give the footer a local read gives."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from r2d2.config import ScanConfig
    from r2d2.discover import discover_tables
    from r2d2.profile import profile_tables
    from r2d2.storage import FOOTER_GUESS_BYTES, open_lake

    (lake / "wide").mkdir()
    wide = pa.table({f"column_{i:03d}": list(range(i, i + 40)) for i in range(300)})
    pq.write_table(wide, lake / "wide" / "part-0.parquet", row_group_size=20)
    (lake / "narrow").mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3]}), lake / "narrow" / "part-0.parquet")
    footers = {name: int.from_bytes((lake / name / "part-0.parquet").read_bytes()[-8:-4], "little")
               for name in ("wide", "narrow")}
    assert footers["wide"] + 8 > FOOTER_GUESS_BYTES > footers["narrow"] + 8  # one of each kind
    upload(s3_endpoint, "footer-bucket", lake, "w")

    fetched: dict[str, int] = {}

    def profiles(uri: str) -> dict:
        found = open_lake(uri)
        refs, _ = discover_tables(found)
        result = {p.id: (p.error, p.rows, len(p.fragments), p.column_bytes, p.stats)
                  for p in profile_tables(found, refs, ScanConfig(workers=1))}
        fetched[uri] = found.counter.total
        return result

    remote = f"s3://footer-bucket/w?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    over_s3 = profiles(remote)
    assert over_s3 == profiles(str(lake))
    assert over_s3["wide"][:3] == (None, 40, 2) and over_s3["narrow"][:2] == (None, 3)
    # what each fetched: locally the trailers and footers alone; over S3 the narrow file's last
    # bytes (here the whole file) in one read, the wide one's tail and then the rest of its footer
    narrow_size = (lake / "narrow" / "part-0.parquet").stat().st_size
    assert fetched[str(lake)] == footers["wide"] + footers["narrow"] + 16
    assert fetched[remote] == min(narrow_size, FOOTER_GUESS_BYTES) + footers["wide"] + 8
