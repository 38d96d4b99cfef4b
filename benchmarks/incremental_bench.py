"""Incremental re-runs: a full scan, then 1% of the tables changed, then an incremental scan,
against a full scan of the same changed lake in the same process. Targets: the incremental scan
takes at most 10% of the full scan's time and reads at most 5% of its bytes, with the same verdicts.

    python -m benchmarks.incremental_bench [--lake generated|real] [--tables N] [--changed 0.01]

The lake is scan_bench's generated one (2,000 tables of a few KB: fixed costs such as writing
containment.json dominate both scans), its real-shaped one (800 tables, KB to MB), or `mixed`: the
real-shaped one with the TPC-H SF 1 lake beside it for the large end (hundreds of MB per table, as
issue 13 defines the benchmark lake). Lakes are copied, so the cached copies stay as built. Changes
rotate over the kinds that matter: an appended file (a duplicated row), a rewrite in another row
order, a rewrite with one cell changed, a deleted table, a new table (a subset of another), and an
added column.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.lakegen import build_lake
from benchmarks.scan_bench import cached_lake
from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan


def plain_tables(lake: Path) -> list[Path]:
    """Parquet tables with their files directly in their folder, readable."""
    found = []
    for folder in sorted(p for p in lake.rglob("*") if p.is_dir()):
        if any(part.startswith(("_", ".")) for part in folder.relative_to(lake).parts):
            continue
        entries = list(folder.iterdir())
        files = [e for e in entries if e.suffix == ".parquet"]
        if files and len(files) == len(entries):
            try:
                if all(pq.read_metadata(f).num_rows > 2 for f in files):
                    found.append(folder)
            except (OSError, pa.ArrowException):
                continue
    return found


def change(lake: Path, share: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    tables = plain_tables(lake)
    chosen = rng.sample(tables, max(1, int(len(tables) * share)))
    done = []
    for i, folder in enumerate(chosen):
        files = sorted(folder.glob("*.parquet"))
        rows = pq.read_table(files[0])
        kind = i % 6
        if kind == 0:
            pq.write_table(rows.slice(0, 1), folder / "part-appended.parquet")
        elif kind in (1, 2):
            order = list(range(rows.num_rows))
            rng.shuffle(order)
            with contextlib.suppress(pa.ArrowNotImplementedError):  # view types: keep the order
                rows = rows.take(order)
            if kind == 2:
                column = rows.column(0).to_pylist()
                column[0] = None if column[0] is not None else column[-1]
                rows = rows.set_column(0, rows.schema.field(0), pa.array(column, rows.schema.types[0]))
            pq.write_table(rows, files[0])
        elif kind == 3:
            shutil.rmtree(folder)
        elif kind == 4:
            target = lake / "added" / f"subset_{i}"
            target.mkdir(parents=True)
            pq.write_table(rows.slice(0, max(1, rows.num_rows // 2)), target / "part-0.parquet")
        else:
            for f in files:
                t = pq.read_table(f)
                pq.write_table(t.append_column("r2d2_added", pa.array([1] * t.num_rows, pa.int8())), f)
        done.append(f"{['append', 'reorder', 'edit', 'delete', 'add', 'column'][kind]} {folder.relative_to(lake)}")
    return done


def timed_scan(lake: Path, out: Path, **options) -> tuple[float, dict]:
    start = time.perf_counter()
    run_scan(str(lake), out, ScanConfig(), **options)
    return time.perf_counter() - start, json.loads((out / "containment.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", choices=["generated", "real", "mixed"], default="generated")
    parser.add_argument("--tables", type=int, help="tables in the lake (default: 2000 generated, 800 real)")
    parser.add_argument("--changed", type=float, default=0.01, help="share of the tables changed")
    parser.add_argument("--workdir", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    sources = {}
    if args.lake in ("real", "mixed"):
        from benchmarks.reallake import build_real_lake

        tables = args.tables or 800
        sources["real"] = cached_lake(args.workdir / f"real-{tables}", lambda root: build_real_lake(
            root, n_tables=tables, cache=args.workdir / "packages"))
    if args.lake == "mixed":
        from benchmarks.lakegen import build_tpch_lake

        sources["tpch"] = cached_lake(args.workdir / "tpch-sf1", lambda root: build_tpch_lake(root, scale=1.0))
    if args.lake == "generated":
        tables = args.tables or 2000
        sources["generated"] = cached_lake(args.workdir / f"generated-{tables}",
                                           lambda root: build_lake(root, n_tables=tables, seed=0, with_delta=True))
    work = args.workdir / "incremental"
    if work.exists():
        shutil.rmtree(work)
    lake = work / "lake"
    if len(sources) == 1:
        shutil.copytree(next(iter(sources.values())), lake)
    else:
        for name, source in sources.items():
            shutil.copytree(source, lake / name, ignore=shutil.ignore_patterns("_manifest.json", ".built"))
    first_s, first = timed_scan(lake, work / "out")
    changes = change(lake, args.changed, seed=1)
    full_s, full = timed_scan(lake, work / "full", full=True)
    inc_s, inc = timed_scan(lake, work / "out")
    same = {(e["parent"], e["child"]): e["status"] for e in inc["edges"]} == \
        {(e["parent"], e["child"]): e["status"] for e in full["edges"]}
    full_b = sum(s["bytes_read"] for s in full["stages"])
    inc_b = sum(s["bytes_read"] for s in inc["stages"])
    carried = sum(1 for e in inc["edges"] if e["run"] != inc["run"])
    print(f"lake: {len(full['tables'])} tables; first full scan {first_s:.1f} s; changed {len(changes)} tables "
          f"({', '.join(sorted({c.split()[0] for c in changes}))})")
    print(f"full scan of the changed lake   {full_s:8.2f} s   {full_b / 1e6:9.1f} MB read")
    print(f"incremental scan                {inc_s:8.2f} s   {inc_b / 1e6:9.1f} MB read   "
          f"({carried} of {len(inc['edges'])} verdicts carried over)")
    print(f"incremental / full              {inc_s / full_s:8.1%}     {inc_b / max(full_b, 1):9.1%}   "
          f"(targets: 10% of the time, 5% of the bytes)   verdicts identical: {same}")
    for s in inc["stages"]:
        print(f"  {s['name']:<9} {s['pairs_in']:>7} -> {s['pairs_out']:<7} {s['seconds']:7.2f} s "
              f"{s['bytes_read'] / 1e6:8.2f} MB")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
