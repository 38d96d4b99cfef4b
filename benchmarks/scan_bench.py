"""Scan benchmark: r2d2's scan against a brute-force baseline, in one process.

The baseline is what a data engineer would write without r2d2: for every schema-compatible pair,
DuckDB `EXCEPT ALL` (bag) of the child's rows minus the parent's, reading both tables in full,
through the same readers and DESIGN §2 equality as DuckDB canonical text (engines/local.py canonical_sql,
an implementation independent of the fingerprint core), so verdicts must agree exactly.

    python -m benchmarks.scan_bench [--tables 2000] [--real-tables 800] [--tpch-scale 1] [--skip-tpch] [--repeat 5]
                                    [--skip-real] [--skip-generated] [--workdir .bench]

Lakes: the generated one (`benchmarks.lakegen`), the real-shaped one (`benchmarks.reallake`: real
package data, heavy-tailed sizes, near-copies statistics cannot refute) and TPC-H.

Prints, per lake: per-stage pairs in/out, seconds and bytes read as a share of lake bytes; the read
floor (every live data file read once, all columns, pyarrow on the same number of threads); the
baseline's time; the ratios scan/floor and baseline/scan; throughput in MB/s per core and the
projected hours for 1 TB on 64 cores; whether verdicts agree; peak memory of the scan and of the
baseline, each measured in its own process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from r2d2.config import ScanConfig
from r2d2.discover import discover_tables
from r2d2.engines.local import canonical_sql
from r2d2.model import CONTAINED, TableProfile
from r2d2.pipeline import run_scan
from r2d2.profile import profile_tables
from r2d2.schema_graph import build_schema_graph
from r2d2.storage import Lake, open_lake
from r2d2.storage.reader import stream_table


def baseline(lake_root: Path, semantics: str, workers: int) -> tuple[set[tuple[str, str]], float, int]:
    """Brute force: EXCEPT ALL for every schema-compatible pair. Returns (contained, seconds, pairs)."""
    start = time.perf_counter()
    lake = open_lake(str(lake_root))
    refs, _ = discover_tables(lake)
    profiles = {p.id: p for p in profile_tables(lake, refs, ScanConfig(workers=workers))}
    _, candidates = build_schema_graph(list(profiles.values()))
    con = duckdb.connect(config={"threads": workers})
    found = set()
    op = "EXCEPT ALL" if semantics == "bag" else "EXCEPT"
    pairs = 0
    for cand in candidates:
        if cand.unsupported:
            continue
        pairs += 1
        if pairs % 2000 == 0:
            print(f"  baseline: {pairs} pairs in {time.perf_counter() - start:.0f} s", flush=True)
        child_sql = _projection(con, lake, "c", profiles[cand.child], [c for c, _ in cand.columns])
        parent_sql = _projection(con, lake, "p", profiles[cand.parent], [p for _, p in cand.columns])
        missing = con.execute(f"SELECT count(*) FROM ({child_sql} {op} {parent_sql})").fetchall()[0][0]
        con.unregister("c")
        con.unregister("p")
        if missing == 0:
            found.add(cand.key)
    return found, time.perf_counter() - start, pairs


def _projection(con: duckdb.DuckDBPyConnection, lake: Lake, name: str, profile: TableProfile,
                columns: list[str]) -> str:
    con.register(name, stream_table(lake, profile, columns))
    exprs = ", ".join(canonical_sql(f"c{i}", profile.column(c).type) for i, c in enumerate(columns))
    return f"SELECT {exprs} FROM {name}"


PEAK_RSS_MB = (
    "def peak_rss_mb():\n"
    "    # The high-water mark of this process's own memory (VmHWM): ru_maxrss would include the\n"
    "    # parent's, which Linux carries across fork and exec.\n"
    "    try:\n"
    "        for line in open('/proc/self/status'):\n"
    "            if line.startswith('VmHWM:'):\n"
    "                return int(line.split()[1]) / 1024\n"
    "    except OSError:\n"
    "        pass\n"
    "    import resource\n"
    "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
)


def read_floor(lake_root: Path, workers: int) -> tuple[float, int]:
    """Seconds to read every live data file of the lake once, all columns, on `workers` threads (the
    floor of any exact content check), and the bytes of those files."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    lake = open_lake(str(lake_root))
    refs, _ = discover_tables(lake)
    files = [f.path for p in profile_tables(lake, refs, ScanConfig(workers=workers)) if not p.error
             for f in p.files]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda path: pq.read_table(path, use_threads=False).num_rows, files))
    return time.perf_counter() - start, sum(lake.size(f) for f in files)


def measure_baseline(lake_root: Path, semantics: str, workers: int) -> dict:
    """The brute force in a child process, so that its peak memory is its own."""
    code = (
        "import json\nfrom pathlib import Path\nfrom benchmarks.scan_bench import baseline\n" + PEAK_RSS_MB +
        f"found, seconds, pairs = baseline(Path({str(lake_root)!r}), {semantics!r}, {workers})\n"
        "print(json.dumps({'contained': sorted(found), 'seconds': seconds, 'pairs': pairs, "
        "'peak_mb': peak_rss_mb()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_scan(lake_root: Path, out: Path, semantics: str, workers: int) -> dict:
    """Run the scan in a child process so its peak memory is its own."""
    code = (
        "import json, sys, time\n" + PEAK_RSS_MB +
        "from r2d2.config import ScanConfig\nfrom r2d2.pipeline import run_scan\n"
        "t = time.perf_counter()\n"
        f"r = run_scan({str(lake_root)!r}, __import__('pathlib').Path({str(out)!r}), "
        f"ScanConfig(semantics={semantics!r}, workers={workers}), full=True)\n"  # never incremental here
        "print(json.dumps({'seconds': time.perf_counter() - t, "
        "'peak_mb': peak_rss_mb()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# Scans and floors measured per lake, alternately: within one run they spread by up to 40% (scans)
# and 80% (floors) on this project's machine, so their medians are compared.
REPEAT = 5


def report(name: str, lake_root: Path, workdir: Path, semantics: str, workers: int,
           speedup_target: float = 20, repeat: int = REPEAT) -> None:
    out = workdir / f"out-{name}-{semantics}"
    # The scan and the floor alternately, `repeat` times each: this machine's speed drifts, so one
    # of each can be minutes apart in effect; the medians are compared, the highest peak reported.
    runs, floors = [], []
    for _ in range(repeat):
        runs.append(measure_scan(lake_root, out, semantics, workers))
        floors.append(read_floor(lake_root, workers))
    run = {"seconds": statistics.median(r["seconds"] for r in runs), "peak_mb": max(r["peak_mb"] for r in runs)}
    floor, floor_bytes = statistics.median(f for f, _ in floors), floors[0][1]
    doc = json.loads((out / "containment.json").read_text())
    lake_bytes = sum(t["bytes"] for t in doc["tables"])
    ours = {(e["parent"], e["child"]) for e in doc["edges"] if e["status"] == CONTAINED}
    print(f"\n== {name}: {len(doc['tables'])} tables, {lake_bytes / 1e6:.1f} MB, {semantics} semantics")
    print(f"{'stage':<10}{'pairs in':>10}{'pairs out':>11}{'seconds':>10}{'bytes read':>14}{'% of lake':>11}")
    for s in doc["stages"]:
        share = 100 * s["bytes_read"] / lake_bytes if lake_bytes else 0.0
        print(f"{s['name']:<10}{s['pairs_in']:>10}{s['pairs_out']:>11}{s['seconds']:>10.2f}"
              f"{s['bytes_read']:>14}{share:>10.2f}%")
    early = sum(s["bytes_read"] for s in doc["stages"] if s["name"] in ("discover", "profile", "schema", "minmax"))
    print(f"profile + stages 1-2 read {100 * early / max(lake_bytes, 1):.3f}% of lake bytes")
    each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    print(f"r2d2 scan: {run['seconds']:.2f} s (median of {each}), "
          f"peak RSS {run['peak_mb']:.0f} MB (the highest)")
    print(f"read floor (every live file once, all columns, {workers} threads): {floor:.2f} s (median of "
          f"{', '.join(f'{f:.2f}' for f, _ in floors)}) for {floor_bytes / 1e6:.1f} MB; "
          f"scan / floor = {run['seconds'] / floor:.2f}x")
    per_core = lake_bytes / 1e6 / run["seconds"] / workers
    print(f"throughput: {per_core:.2f} MB/s per core; 1 TB on 64 cores: {1e6 / (per_core * 64) / 3600:.2f} h")
    base = measure_baseline(lake_root, semantics, workers)
    truth = {tuple(k) for k in base["contained"]}
    print(f"baseline (EXCEPT ALL on {base['pairs']} pairs): {base['seconds']:.1f} s, peak RSS {base['peak_mb']:.0f} MB")
    print(f"speed-up: {base['seconds'] / run['seconds']:.1f}x; peak RSS r2d2 / baseline = "
          f"{run['peak_mb'] / base['peak_mb']:.2f}; verdicts identical: {ours == truth} "
          f"({len(ours)} contained; only r2d2: {len(ours - truth)}, only baseline: {len(truth - ours)})")
    targets = [(f"scan / floor {run['seconds'] / floor:.2f}x <= 2x", run["seconds"] / floor <= 2),
               (f"speed-up {base['seconds'] / run['seconds']:.1f}x >= {speedup_target:g}x",
                base["seconds"] / run["seconds"] >= speedup_target),
               (f"peak RSS {run['peak_mb']:.0f} MB <= baseline's {base['peak_mb']:.0f} MB",
                run["peak_mb"] <= base["peak_mb"]),
               ("verdicts identical to the baseline", ours == truth)]
    print("targets (issue 13): " + "; ".join(f"{text}: {'met' if ok else 'MISSED'}" for text, ok in targets))


def check_oracle(lake_root: Path, workdir: Path, workers: int) -> None:
    """The scan's contained edges against the independent brute-force oracle, both semantics."""
    from tests.oracle import oracle_edges

    for semantics in ("bag", "set"):
        result = run_scan(str(lake_root), None, ScanConfig(semantics=semantics, workers=workers))
        ours = {(e.parent, e.child) for e in result.edges if e.status == CONTAINED}
        start = time.perf_counter()
        truth = oracle_edges(lake_root, semantics=semantics)
        print(f"oracle ({semantics}, {time.perf_counter() - start:.0f} s): {len(truth)} contained; r2d2 equal: "
              f"{ours == truth} (only r2d2: {len(ours - truth)}, only oracle: {len(truth - ours)})")


def cached_lake(root: Path, build: Callable[[Path], object]) -> Path:
    """Build a benchmark lake once; later runs reuse it (a `.built` marker says it is complete)."""
    if not (root / ".built").exists():
        print(f"building {root} ...", flush=True)
        build(root)
        (root / ".built").write_text("")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--tpch-scale", type=float, default=1.0)
    parser.add_argument("--skip-tpch", action="store_true")
    parser.add_argument("--skip-generated", action="store_true", help="not the generated lake")
    parser.add_argument("--real-tables", type=int, default=800)
    parser.add_argument("--skip-real", action="store_true", help="not the real-shaped lake")
    parser.add_argument("--semantics", choices=["bag", "set"], default="bag")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path(".bench"))
    parser.add_argument("--repeat", type=int, default=REPEAT, help="scans and floors measured, alternately (medians)")
    args = parser.parse_args(argv)
    from benchmarks.lakegen import build_lake, build_tpch_lake
    from benchmarks.reallake import build_real_lake

    args.workdir.mkdir(parents=True, exist_ok=True)
    from r2d2.engines.kernels import warm

    warm(every=True)  # numba compiles once per machine (cached on disk): no measured scan pays it
    # pip byte-compiles an installed r2d2; an editable checkout under PYTHONDONTWRITEBYTECODE (set
    # on this project's machines) would compile its modules from source in every measured scan,
    # about 0.15 s each: compiled once here, as an install does (the read floor imports nothing)
    import compileall

    import r2d2

    compileall.compile_dir(str(Path(r2d2.__file__).parent), quiet=1)
    if not args.skip_generated:
        lake = cached_lake(args.workdir / f"lake-{args.tables}", lambda root: build_lake(root, n_tables=args.tables))
        report(f"generated-{args.tables}", lake, args.workdir, args.semantics, args.workers, repeat=args.repeat)
        check_oracle(lake, args.workdir, args.workers)
    if not args.skip_real:
        real = cached_lake(args.workdir / f"real-wide-{args.real_tables}", lambda root: build_real_lake(
            root, n_tables=args.real_tables, cache=args.workdir / "packages"))
        report(f"real-shaped-{args.real_tables}", real, args.workdir, args.semantics, args.workers,
               repeat=args.repeat)
        check_oracle(real, args.workdir, args.workers)
    if not args.skip_tpch:
        tpch = cached_lake(args.workdir / f"tpch-sf{args.tpch_scale:g}",
                           lambda root: build_tpch_lake(root, scale=args.tpch_scale))
        # its true containments need full reads: the issue asks 2x over the brute force here
        report(f"tpch-sf{args.tpch_scale:g}", tpch, args.workdir, args.semantics, args.workers, speedup_target=2,
               repeat=args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
