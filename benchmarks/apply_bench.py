"""`r2d2 apply` and `restore`: seconds per table and per GB moved, on a local disk, on S3 (moto on
127.0.0.1) and on Azure blob storage (Azurite on 127.0.0.1), against a bare move of the same files in
the same process (a rename locally; copy + delete of each object elsewhere) with no version check,
hashing, journal or read-back.

    python -m benchmarks.apply_bench [--pairs 10] [--mb 200] [--remote-mb 40] [--workdir .bench/apply]

The lake holds `--pairs` pairs of tables (a table and its copy, random numbers that do not compress):
the plan deletes one of each pair. Remote servers keep objects in memory or on local disk, so their
figures measure r2d2's overhead, not a cloud's bandwidth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from r2d2.apply import apply_plan, restore
from r2d2.cli import main


def make_lake(root: Path, pairs: int, total_mb: float) -> None:
    rows = max(1000, int(total_mb * 1e6 / (2 * pairs) / 24))  # three 8-byte columns per row
    rng = np.random.default_rng(0)
    for i in range(pairs):
        table = pa.table({"a": rng.integers(0, 2**62, rows), "b": rng.random(rows), "c": rng.integers(0, 2**40, rows)})
        for name in (f"t{i:03d}/base", f"t{i:03d}/copy"):
            (root / name).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, root / name / "part-00000.parquet", compression="none", row_group_size=rows // 2)


def scan_and_plan(uri: str, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    assert main(["scan", uri, "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 0


def measure(name: str, uri: str, fs: pafs.FileSystem, root: str, bare_root: str, out: Path) -> None:
    """apply and restore on the lake at `root`; the baseline moves the same tables, bare, in an
    identical copy of the lake at `bare_root` (written the same way, so the store treats both alike)."""
    if not isinstance(fs, pafs.LocalFileSystem):
        time.sleep(2.1)  # whole-second object times: versions of just-written objects are unsettled (skipped)
    scan_and_plan(uri, out)
    start = time.perf_counter()
    lines, _ = apply_plan(out, execute=True)
    skipped = [line for line in lines if line.verb != "quarantined"]
    if skipped:
        print(f"{name}: {len(skipped)} not moved, e.g. {skipped[0].table}: {skipped[0].detail}")
    applied = time.perf_counter() - start
    moved = [line for line in lines if line.verb == "quarantined"]
    total = sum(line.bytes for line in moved)
    start = time.perf_counter()
    restore(out, [], execute=True)
    restored = time.perf_counter() - start
    start = time.perf_counter()
    for line in moved:
        bare_move(fs, f"{bare_root}/{line.table}", f"{bare_root}/.moved/{line.table}")
    bare = time.perf_counter() - start
    n, gb = max(1, len(moved)), max(total, 1) / 1e9
    print(f"{name:<8} {len(moved):>3} tables {total / 1e6:>8.1f} MB | apply {applied:7.2f} s = "
          f"{applied / n:6.3f} s/table {applied / gb:7.1f} s/GB | restore {restored:7.2f} s | bare move "
          f"{bare:6.2f} s -> apply/bare {applied / max(bare, 1e-6):6.1f}x")


def bare_move(fs: pafs.FileSystem, src: str, dst: str) -> None:
    if isinstance(fs, pafs.LocalFileSystem):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)
        return
    for info in fs.get_file_info(pafs.FileSelector(src, recursive=True)):
        if info.type == pafs.FileType.File:
            target = dst + info.path[len(src):]
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            fs.copy_file(info.path, target)
            fs.delete_file(info.path)


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--mb", type=float, default=200.0, help="local lake size")
    parser.add_argument("--remote-mb", type=float, default=40.0, help="S3 and Azure lake size")
    parser.add_argument("--workdir", type=Path, default=Path(".bench/apply"))
    args = parser.parse_args()
    work = args.workdir.resolve()
    if work.exists():
        shutil.rmtree(work)
    local = work / "local"
    make_lake(local, args.pairs, args.mb)
    shutil.copytree(local, work / "local-bare")
    measure("local", str(local), pafs.LocalFileSystem(), str(local), str(work / "local-bare"), work / "plan-local")

    remote = work / "remote"
    make_lake(remote, args.pairs, args.remote_mb)
    import logging

    from moto.server import ThreadedMotoServer

    from tests.conftest import S3_ENV, free_port, upload

    os.environ.update(S3_ENV)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        upload(f"127.0.0.1:{port}", "bench", remote, "lake")
        upload(f"127.0.0.1:{port}", "bare", remote, "lake")
        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1")
        measure("s3/moto", f"s3://bench/lake?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1",
                fs, "bench/lake", "bare/lake", work / "plan-s3")
    finally:
        server.stop()

    from tests.test_azure import ACCOUNT, KEY, _filesystem, azurite_server

    try:
        with azurite_server(work / "azurite") as endpoint:
            fs = _filesystem(endpoint)
            fs.create_dir("bench")
            for prefix in ("bench/lake", "bench/bare"):
                pafs.copy_files(str(remote), prefix, source_filesystem=pafs.LocalFileSystem(),
                                destination_filesystem=fs)
            os.environ["AZURE_STORAGE_KEY"] = KEY
            uri = f"abfs://bench@{ACCOUNT}.dfs.core.windows.net/lake?endpoint_override={endpoint}&scheme=http"
            measure("azurite", uri, fs, "bench/lake", "bench/bare", work / "plan-azure")
    except RuntimeError as exc:
        print(f"azure    skipped: {exc}")


if __name__ == "__main__":
    sys.exit(main_bench())
