"""Brute-force containment oracle for evaluation lakes (DESIGN §1 and §2).

Written independently of the ``r2d2`` package, on purpose: it must never import it. It discovers the
tables of a local lake folder itself, reads every row of every table into plain Python values that
are normalised per type family, and compares the row multisets of every ordered pair of tables with
``collections.Counter``. It is meant to be obviously correct rather than fast.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
SEMANTICS = ("bag", "set")

_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_MS_PER_DAY = 86_400_000
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)

_INT_RE = re.compile(r"[+-]?[0-9]+")
_DOUBLE_RE = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)")
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9])?")
_BIGDEC_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_JAVA_TRIM = "".join(chr(c) for c in range(33))


class _NaN:
    """The single key every NaN normalises to, so that NaN equals NaN."""

    def __repr__(self) -> str:
        return "NaN"


NAN = _NaN()


class OracleError(Exception):
    """A table that cannot be read; it is listed with an error and never part of an edge."""


@dataclass
class Column:
    """One column: its name as stored, its type family and its normalised values. Numbers stay
    Python numbers, which compare by exact value across int, float and Decimal; `kind` says
    whether they are decimals or floats, because a decimal compared with a float compares as the
    double nearest to it."""

    name: str
    family: str
    values: list[Any]
    kind: str = ""  # "decimal", "float" or "" (integers and non-numbers)


@dataclass
class OracleTable:
    """One discovered table (DESIGN §1) with its normalised content or the reason it is unreadable."""

    id: str
    path: Path
    format: str
    rows: int = 0
    columns: dict[str, Column] = field(default_factory=dict)
    error: str | None = None

    @property
    def eligible(self) -> bool:
        """Whether the table can be in an edge at all: readable, at least one row and one column."""
        return self.error is None and self.rows > 0 and len(self.columns) > 0

    @property
    def has_nested(self) -> bool:
        """Whether any column is of a nested type (such a table is never a child)."""
        return any(c.family == "nested" for c in self.columns.values())


# --------------------------------------------------------------------------- type families (§2)


def type_family(t: pa.DataType) -> str:
    """Return the DESIGN §2 type family of an Arrow type (dictionaries count as their value type)."""
    if pa.types.is_dictionary(t):
        return type_family(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp_tz" if t.tz else "timestamp"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_binary_view(t):
        return "binary"
    if pa.types.is_nested(t):
        return "nested"
    return f"other:{t}"


# --------------------------------------------------------------------------- value normalisation


def numeric_key(v: Any) -> Any:
    """Normalise a number for exact comparison: Python's int, float and Decimal already compare by
    exact value (3 == 3.0 == Decimal("3.00"), Decimal("0.1") != 0.1); only NaN needs a key that
    equals itself."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return NAN
    if isinstance(v, Decimal) and v.is_nan():
        return NAN
    return v


def as_double(v: Any) -> Any:
    """A decimal as the double nearest to it (Python's float(Decimal) rounds correctly)."""
    return v if v is None or v is NAN else float(v)


def numeric_kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return "decimal" if pa.types.is_decimal(t) else "float" if pa.types.is_floating(t) else ""


def _decode_dictionary(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Replace a dictionary-encoded column by its plain values."""
    if not pa.types.is_dictionary(arr.type):
        return arr
    return arr.cast(arr.type.value_type)


def normalise(arr: pa.ChunkedArray, family: str) -> list[Any]:
    """Return the column's values as hashable Python keys compared the DESIGN §2 way."""
    arr = _decode_dictionary(arr)
    if family == "numeric":
        return [numeric_key(v) for v in arr.to_pylist()]
    if family == "date":
        if pa.types.is_date64(arr.type):
            return [None if v is None else v // _MS_PER_DAY for v in arr.cast(pa.int64()).to_pylist()]
        return arr.cast(pa.int32()).to_pylist()
    if family in ("timestamp", "timestamp_tz"):
        factor = _NS_PER_UNIT[arr.type.unit]
        return [None if v is None else v * factor for v in arr.cast(pa.int64()).to_pylist()]
    if family == "nested":
        return []
    return arr.to_pylist()


def columns_of(table: pa.Table) -> dict[str, Column]:
    """Normalise every column of an Arrow table, keyed by lower-cased name."""
    out: dict[str, Column] = {}
    for name, arr in zip(table.column_names, table.columns, strict=True):
        key = name.lower()
        if key in out:
            raise OracleError(f"duplicate column name (case-insensitive): {name}")
        family = type_family(arr.type)
        out[key] = Column(name, family, normalise(arr, family), numeric_kind(arr.type))
    return out


# --------------------------------------------------------------------------- Hive partition values


def _decimal_integer(raw: str) -> int | None:
    """Java's BigDecimal(raw) when it has no fractional digits and at most 38 digits."""
    m = _BIGDEC_RE.fullmatch(raw)
    if not m or not (m.group(2) or m.group(3)):
        return None
    frac = m.group(3) or ""
    exp = int(m.group(4) or 0)
    if len(frac) - exp > 0 or exp - len(frac) > 40:
        return None
    value = int((m.group(2) or "") + frac or "0") * 10 ** (exp - len(frac))
    return None if len(str(value)) > 38 else (-value if m.group(1) == "-" else value)


def _classify_partition_value(raw: str) -> tuple[str, Any]:
    """Infer one partition value like Spark: int/long, else decimal, else double, else timestamp,
    else date, else string."""
    if _INT_RE.fullmatch(raw) and -(2**63) <= int(raw) < 2**63:
        return "int", int(raw)
    if _decimal_integer(raw) is not None:
        return "decimal", Decimal(_decimal_integer(raw))
    trimmed = raw.strip(_JAVA_TRIM)
    if _DOUBLE_RE.fullmatch(trimmed):
        text = trimmed.rstrip("fFdD") if trimmed[-1:] in "fFdD" and "Infinity" not in trimmed else trimmed
        return "double", float(text.replace("Infinity", "inf"))
    if _TIMESTAMP_RE.fullmatch(raw):
        try:
            return "timestamp", _parse_timestamp(raw)
        except ValueError:
            pass
    if _DATE_RE.fullmatch(raw):
        try:
            return "date", (date.fromisoformat(raw) - _EPOCH_DATE).days
        except ValueError:
            pass
    return "string", raw


def _parse_timestamp(raw: str) -> int:
    """Nanoseconds since the epoch of a ``YYYY-MM-DD HH:MM:SS[.f]`` text read as a naive timestamp."""
    whole, _, fraction = raw.partition(".")
    seconds = int((datetime.fromisoformat(whole) - _EPOCH).total_seconds())
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))


def partition_column(raw_values: list[str | None]) -> tuple[str, list[Any]]:
    """Type one partition key's values together the way Spark resolves them; return family, keys."""
    kinds = [None if v is None else _classify_partition_value(v) for v in raw_values]
    present = {k[0] for k in kinds if k is not None}
    if present and present <= {"int", "double"}:
        to_double = "double" in present  # Spark widens int + double to double
        return "numeric", [None if k is None else numeric_key(float(k[1]) if to_double else k[1])
                           for k in kinds]
    if present and present <= {"int", "decimal"}:  # Spark widens int + decimal to decimal
        return "numeric", [None if k is None else Decimal(k[1]) for k in kinds]
    if present == {"date"}:
        return "date", [None if k is None else k[1] for k in kinds]
    if present and present <= {"date", "timestamp"}:
        return "timestamp", [None if v is None else _date_or_timestamp_ns(v) for v in raw_values]
    return "string", list(raw_values)


def _date_or_timestamp_ns(raw: str) -> int:
    """Nanoseconds since the epoch of a date (at midnight) or timestamp partition value."""
    if _DATE_RE.fullmatch(raw):
        return (date.fromisoformat(raw) - _EPOCH_DATE).days * 86_400 * 1_000_000_000
    return _parse_timestamp(raw)


# --------------------------------------------------------------------------- discovery (§1)


def _hidden(name: str) -> bool:
    """Files and folders starting with ``_`` or ``.`` are not data."""
    return name.startswith(("_", "."))


def _partition_dir(name: str) -> bool:
    """Whether a folder name is a Hive partition ``key=value`` (Spark escapes any other '=')."""
    return not _hidden(name) and name.count("=") == 1 and not name.startswith("=")


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    """Sorted entries of a folder, symlinks excluded (they are never followed)."""
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.is_symlink()), key=lambda e: e.name)


def discover(lake_root: Path) -> list[tuple[str, Path, str]]:
    """Return (id, folder, format) of every table under the lake root, per DESIGN §1."""
    found: list[tuple[str, Path, str]] = []
    _walk(Path(lake_root), Path(lake_root), found)
    return sorted(found)


def _walk(folder: Path, root: Path, found: list[tuple[str, Path, str]]) -> None:
    """Recurse into folders until one is a Delta table or holds data files or partition folders."""
    entries = _entries(folder)
    table_id = folder.relative_to(root).as_posix()
    if folder != root and any(e.name == "_delta_log" and e.is_dir() for e in entries):
        found.append((table_id, folder, "delta"))
        return
    visible = [e for e in entries if not _hidden(e.name)]
    has_files = any(e.is_file() for e in visible)
    has_parts = any(e.is_dir() and _partition_dir(e.name) for e in visible)
    if folder != root and (has_files or has_parts):
        found.append((table_id, folder, "parquet"))
        return
    for e in visible:
        if e.is_dir():
            _walk(Path(e.path), root, found)


# --------------------------------------------------------------------------- reading tables


def _data_files(folder: Path, keys: tuple[tuple[str, str | None], ...] = ()) -> list[tuple[Path, tuple]]:
    """Every visible data file below a Parquet table folder with its partition (key, raw value) pairs."""
    out: list[tuple[Path, tuple]] = []
    for e in _entries(folder):
        if _hidden(e.name):
            continue
        if e.is_file():
            out.append((Path(e.path), keys))
        elif e.is_dir() and _partition_dir(e.name):
            k, v = e.name.split("=", 1)
            value = None if v == HIVE_NULL else urllib.parse.unquote(v)
            out.extend(_data_files(Path(e.path), (*keys, (urllib.parse.unquote(k), value))))
        else:
            raise OracleError(f"unexpected entry in a Parquet table: {e.name}")
    return out


def _read_file(path: Path) -> pa.Table:
    """Read one Parquet file on its own (no dataset discovery, no partition guessing)."""
    try:
        return pq.ParquetFile(path).read()
    except Exception as exc:  # a corrupt, truncated or non-Parquet file makes the table unreadable
        raise OracleError(f"{path.name}: {exc}") from exc


def _merge(into: dict[str, Column], part: dict[str, Column]) -> None:
    """Append one file's normalised columns to the table's; files must agree on names and families.

    Column order may differ between files (columns are matched by name, case-insensitively).
    """
    if {k: c.family for k, c in into.items()} != {k: c.family for k, c in part.items()}:
        raise OracleError("data files have different schemas")
    for k, c in part.items():
        into[k].values.extend(c.values)


def read_parquet_table(folder: Path) -> tuple[int, dict[str, Column]]:
    """Rows and normalised columns of a Parquet table folder, Hive partition keys included."""
    files = _data_files(folder)
    if not files:
        raise OracleError("no data files")
    key_names = {tuple(k for k, _ in keys) for _, keys in files}
    if len(key_names) != 1:
        raise OracleError("inconsistent partition folders")
    columns: dict[str, Column] | None = None
    raw: dict[str, list[str | None]] = {k: [] for k in next(iter(key_names))}
    rows = 0
    for path, keys in files:
        table = _read_file(path)
        part = columns_of(table)
        if columns is None:
            columns = part
        else:
            _merge(columns, part)
        rows += table.num_rows
        for k, v in keys:
            raw[k].extend([v] * table.num_rows)
    assert columns is not None
    for k, values in raw.items():
        if k.lower() in columns:
            raise OracleError(f"partition column {k} is also a column of the files")
        family, keys_ = partition_column(values)
        kind = next((("float" if isinstance(v, float) else "decimal" if isinstance(v, Decimal) else "")
                     for v in keys_ if v is not None and v is not NAN), "")
        columns[k.lower()] = Column(k, family, keys_, kind)
    return rows, columns


def read_delta_table(folder: Path) -> tuple[int, dict[str, Column]]:
    """Rows and normalised columns of a Delta table: only the live files of its log."""
    from deltalake import DeltaTable

    try:
        delta = DeltaTable(str(folder))
        if {"deletionVectors", "columnMapping"} & set(delta.protocol().reader_features or []) or \
                (delta.metadata().configuration or {}).get("delta.columnMapping.mode", "none") != "none":
            from deltalake import QueryBuilder  # the kernel applies deletion vectors and column mapping

            table = pa.table(QueryBuilder().register("t", delta).execute("SELECT * FROM t").read_all())
        else:
            table = delta.to_pyarrow_table()
    except Exception as exc:  # an unreadable log or data file makes the table unreadable
        raise OracleError(f"delta: {exc}") from exc
    return table.num_rows, columns_of(table)


def load_table(table_id: str, folder: Path, fmt: str) -> OracleTable:
    """Read one discovered table; an unreadable one carries its error instead of content."""
    table = OracleTable(table_id, folder, fmt)
    try:
        reader = read_delta_table if fmt == "delta" else read_parquet_table
        table.rows, table.columns = reader(folder)
    except (OracleError, pa.ArrowException, OSError, ValueError) as exc:  # e.g. invalid UTF-8 data
        table.error = f"{type(exc).__name__}: {exc}"
    return table


def oracle_tables(lake_root: Path) -> dict[str, OracleTable]:
    """Every table of the lake by id, with rows and normalised columns or an error."""
    return {tid: load_table(tid, folder, fmt) for tid, folder, fmt in discover(Path(lake_root))}


# --------------------------------------------------------------------------- containment (§2)


def matched_columns(parent: OracleTable, child: OracleTable) -> tuple[str, ...] | None:
    """Child's columns (lower-cased, sorted) if each matches a parent column by name and family."""
    for key, col in child.columns.items():
        other = parent.columns.get(key)
        if other is None or other.family != col.family:
            return None
    return tuple(sorted(child.columns))


def row_multiset(table: OracleTable, names: tuple[str, ...], doubles: frozenset[str] = frozenset()) -> Counter:
    """Multiset of the table's rows projected on the given columns; the columns in `doubles` (its
    decimals whose partner is a float) as their nearest doubles."""
    values = [[as_double(v) for v in table.columns[n].values] if n in doubles else table.columns[n].values
              for n in names]
    return Counter(zip(*values, strict=True))


def double_columns(table: OracleTable, other: OracleTable, names: tuple[str, ...]) -> frozenset[str]:
    """The table's decimal columns whose partner in `other` is a float."""
    return frozenset(n for n in names if table.columns[n].kind == "decimal" and other.columns[n].kind == "float")


def contains(parent_rows: Counter, child_rows: Counter, semantics: str) -> bool:
    """Bag: every child row occurs at least as often in the parent. Set: every child row occurs."""
    if semantics == "set":
        return all(row in parent_rows for row in child_rows)
    return all(parent_rows[row] >= n for row, n in child_rows.items())


def edges_of(tables: dict[str, OracleTable], semantics: str = "bag") -> set[tuple[str, str]]:
    """Every (parent, child) pair of distinct eligible tables with parent ⊇ child."""
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics must be one of {SEMANTICS}, not {semantics!r}")
    eligible = [t for t in tables.values() if t.eligible]
    cache: dict[tuple[str, tuple[str, ...], frozenset[str]], Counter] = {}

    def rows(t: OracleTable, other: OracleTable, names: tuple[str, ...]) -> Counter:
        doubles = double_columns(t, other, names)
        if (t.id, names, doubles) not in cache:
            cache[(t.id, names, doubles)] = row_multiset(t, names, doubles)
        return cache[(t.id, names, doubles)]

    edges: set[tuple[str, str]] = set()
    for child in eligible:
        if child.has_nested:
            continue
        for parent in eligible:
            names = None if parent is child else matched_columns(parent, child)
            if names is not None and contains(rows(parent, child, names), rows(child, parent, names), semantics):
                edges.add((parent.id, child.id))
    return edges


def oracle_edges(lake_root: Path, semantics: str = "bag") -> set[tuple[str, str]]:
    """Every (parent_id, child_id) with parent ⊇ child in the lake, by brute force over all pairs."""
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics must be one of {SEMANTICS}, not {semantics!r}")
    return edges_of(oracle_tables(lake_root), semantics)
