"""Spark engine benchmark: on the 2,000-table generated lake, each stage's time on the Spark engine
(local[2]) next to the local engine's, and the Spark jobs and tasks each stage ran; then the
driver-side steps (schema graph, min-max, planning the verify work) on 100,000 synthetic profiles,
which is what stays on the driver however large the cluster.

    python -m benchmarks.spark_bench [--tables 2000] [--driver-tables 100000] [--workdir .bench]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

import pyarrow as pa

from benchmarks.scan_bench import cached_lake
from r2d2.config import ScanConfig
from r2d2.minmax import refute_by_minmax
from r2d2.model import Column, ColumnStats, DataFile, Fragment, TableProfile
from r2d2.pipeline import Progress, Scan
from r2d2.schema_graph import build_schema_graph
from r2d2.storage import open_lake
from r2d2.verify import comparison_order, plan_fingerprints


def compare_engines(lake_root: Path, master: str) -> None:
    """Each stage's seconds on the local engine (the baseline, same process), on Spark reading with
    pyarrow in its tasks, and on Spark reading through its own readers; ratios against local."""
    from r2d2.engines.local import LocalEngine
    from r2d2.engines.spark import open_spark_scan, spark_session

    config = ScanConfig()
    lake = open_lake(str(lake_root))
    local_engine = LocalEngine(lake, config)
    start = time.perf_counter()
    local, _ = Scan(lake, config, local_engine, Progress(False)).run()
    local_total = time.perf_counter() - start
    local_engine.close()
    spark = spark_session(master, {"spark.sql.shuffle.partitions": "8", "spark.ui.enabled": "false"})
    spark.range(1).count()  # JVM and Python workers up before timing
    runs = {}
    for read in ("pyarrow", "spark"):
        lake, engine = open_spark_scan(str(lake_root), config, spark=spark, read=read)
        start = time.perf_counter()
        result, _ = Scan(lake, config, engine, Progress(False)).run()
        runs[read] = (result, time.perf_counter() - start, engine.jobs_and_tasks())
        engine.close()
    print(f"\n== {lake_root}: {len(local.tables)} tables; Spark master {master}")
    print(f"{'stage':<10}{'local s':>9}{'pyarrow s':>11}{'x':>7}{'jobs':>6}{'spark s':>9}{'x':>7}{'jobs':>6}"
          f"{'tasks':>7}")
    for i, a in enumerate(local.stages):
        row = f"{a.name:<10}{a.seconds:>9.2f}"
        for read in ("pyarrow", "spark"):
            b = runs[read][0].stages[i]
            jobs, tasks = runs[read][2].get(a.name, (0, 0))
            width = 11 if read == "pyarrow" else 9
            row += f"{b.seconds:>{width}.2f}{b.seconds / max(a.seconds, 1e-3):>7.1f}{jobs:>6}"
        print(row + f"{tasks:>7}")
    line = f"{'total':<10}{local_total:>9.2f}"
    for read in ("pyarrow", "spark"):
        total = runs[read][1]
        line += f"{total:>{11 if read == 'pyarrow' else 9}.2f}{total / local_total:>7.1f}{'':>6}"
    print(line)
    for read in ("pyarrow", "spark"):
        same = [(e.parent, e.child, e.status, e.stage, e.reason) for e in local.edges] == \
            [(e.parent, e.child, e.status, e.stage, e.reason) for e in runs[read][0].edges]
        print(f"identical verdicts, local vs Spark ({read} reads): {same}")
    spark.stop()


def synthetic_profiles(n: int, seed: int) -> list[TableProfile]:
    """Tables shaped like a lake's: families sharing a base's columns (projections and filters of it)."""
    rng = random.Random(seed)
    vocabulary = [f"col{i}" for i in range(3000)]
    types = [pa.int64(), pa.float64(), pa.string(), pa.date32()]
    profiles: list[TableProfile] = []
    family = 0
    while len(profiles) < n:
        family += 1
        names = rng.sample(vocabulary, rng.randint(3, 20))
        kinds = {c: rng.choice(types) for c in names}
        rows = rng.randint(1_000, 10_000_000)
        lo = {c: rng.randint(0, 1000) for c in names}
        for j in range(rng.randint(1, 8)):
            cols = names if j == 0 or rng.random() < 0.5 else rng.sample(names, rng.randint(1, len(names)))
            r = rows if j == 0 else rng.randint(1, rows)
            stats = {}
            for c in cols:
                if kinds[c] == pa.string():
                    stats[c] = ColumnStats(b"a%d" % lo[c], b"z%d" % lo[c], True, True, False, 0)
                else:
                    a = lo[c] + (0 if j == 0 else rng.randint(0, 50))
                    stats[c] = ColumnStats(a, a + rng.randint(1, 10_000), True, True, False, 0)
            p = TableProfile(f"f{family}/t{j}", "parquet", "", files=[DataFile("x", 1)],
                             columns=[Column(c, kinds[c]) for c in cols], rows=r, bytes=r * 20, stats=stats,
                             fragments=[Fragment(0, 0, r, stats)])
            profiles.append(p)
    return profiles[:n]


def driver_steps(n: int) -> None:
    profiles = synthetic_profiles(n, 0)
    by_id = {p.id: p for p in profiles}
    start = time.perf_counter()
    _, candidates = build_schema_graph(profiles)
    schema_s = time.perf_counter() - start
    start = time.perf_counter()
    survivors = [c for c in candidates if refute_by_minmax(c, by_id[c.parent], by_id[c.child], "bag") is None]
    minmax_s = time.perf_counter() - start
    start = time.perf_counter()
    jobs = plan_fingerprints(survivors, by_id)
    comparison_order(survivors, by_id)
    plan_s = time.perf_counter() - start
    print(f"\n== driver-side steps on {n} synthetic profiles")
    print(f"schema graph: {len(candidates)} candidate pairs in {schema_s:.1f} s")
    print(f"min-max:      {len(survivors)} survivors in {minmax_s:.1f} s")
    print(f"verify plan:  {len(jobs)} fingerprint jobs, pairs ordered, in {plan_s:.1f} s")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--driver-tables", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workdir", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    from benchmarks.lakegen import build_lake

    args.workdir.mkdir(parents=True, exist_ok=True)
    lake = cached_lake(args.workdir / f"lake-{args.tables}", lambda root: build_lake(root, n_tables=args.tables))
    compare_engines(lake, args.master)
    driver_steps(args.driver_tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
