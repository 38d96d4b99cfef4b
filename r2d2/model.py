"""The data model every stage shares: type families (DESIGN §2), column statistics, table profiles,
candidate pairs, edges and stage reports. Pure dataclasses; no I/O."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

NUMERIC = "numeric"
STRING = "string"
BOOLEAN = "boolean"
DATE = "date"
TIMESTAMP = "timestamp"
TIMESTAMP_TZ = "timestamp_tz"
BINARY = "binary"
NESTED = "nested"
OTHER = "other"

# Statuses of an edge (DESIGN §4).
CONTAINED = "contained"
NOT_CONTAINED = "not_contained"
UNKNOWN = "unknown"


_FAMILY_BY_ID: dict[int, str] = {}  # families told by the type's id alone (all but timestamps and dictionaries)
_BY_VALUE = {pa.timestamp("s").id, pa.dictionary(pa.int32(), pa.int32()).id}


def family_of(dtype: pa.DataType) -> str:
    """The DESIGN §2 type family of an Arrow type; values compare only within one family."""
    family = _FAMILY_BY_ID.get(dtype.id)  # asked of every column of every file and pair: once per kind
    if family is None:
        family = _family_of(dtype)
        if dtype.id not in _BY_VALUE:
            _FAMILY_BY_ID[dtype.id] = family
    return family


def _family_of(dtype: pa.DataType) -> str:
    if pa.types.is_dictionary(dtype):
        return family_of(dtype.value_type)
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return NUMERIC
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return STRING
    if pa.types.is_boolean(dtype):
        return BOOLEAN
    if pa.types.is_date(dtype):
        return DATE
    if pa.types.is_timestamp(dtype):
        return TIMESTAMP_TZ if dtype.tz is not None else TIMESTAMP
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype):
        return BINARY
    if pa.types.is_binary_view(dtype):
        return BINARY
    if pa.types.is_nested(dtype):
        return NESTED
    return OTHER


def unsupported_reason(dtype: pa.DataType) -> str | None:
    """Why r2d2 cannot compare values of this type yet, or None when it can."""
    if family_of(dtype) == NESTED:
        return "nested values are not compared yet"
    if pa.types.is_decimal(dtype) and dtype.scale < 0:
        return "decimals with a negative scale are not compared yet"
    return None


def _fold_char(ch: str) -> str:
    """One character as Java's `String.equalsIgnoreCase` compares it: the lower case of its upper
    case, with single-character (simple) case mappings. Python's mappings may expand ('ß'.upper() is
    'SS'); Java's per-character ones do not, so an expanding mapping leaves the character as it is."""
    upper = ch.upper()
    if len(upper) != 1:
        title = ch.title()
        upper = title if len(title) == 1 else ch
    lower = upper.lower()
    return lower if len(lower) == 1 else lower[0]  # 'İ' lowers to 'i' + a combining dot; Java: 'i'


@functools.lru_cache(maxsize=65_536)  # a lake repeats its column names across many pairs
def name_key(name: str) -> str:
    """The key under which Spark's case-insensitive resolution (`equalsIgnoreCase`) finds a column:
    two names match exactly when their keys are equal. Not Unicode case folding: 'straße' and
    'STRASSE' differ, as they do in Spark."""
    return "".join(_fold_char(ch) for ch in name)


@functools.lru_cache(maxsize=65_536)  # called per column of every pair: names and types repeat
def match_key(name: str, dtype: pa.DataType) -> tuple[str, str]:
    """What must be equal for a child column to match a parent column (DESIGN §2.1): the name
    case-insensitively as Spark resolves it, and the type family; 'other' and nested types must be
    the very same type."""
    family = family_of(dtype)
    if family in (NESTED, OTHER):
        family = f"{family}:{dtype}"
    return name_key(name), family


@dataclass
class ColumnStats:
    """What statistics tell about one column of a table or fragment, as sound bounds.

    Keys are comparable Python values per family: numbers as int/float/Decimal, strings and binary
    as bytes (UTF-8 byte order is code-point order), booleans as 0/1, dates as days and timestamps as
    nanoseconds since the epoch. `lo` is at most every non-null value and `hi` at least every one,
    unless `hi_prefix`: then `hi` may be a truncated prefix of the true maximum. `*_exact` says the
    bound is a value that really occurs (only exact bounds may refute a containment on the child side).
    """

    lo: Any = None
    hi: Any = None
    lo_exact: bool = False
    hi_exact: bool = False
    hi_prefix: bool = False
    null_count: int | None = None

    @property
    def has_bounds(self) -> bool:
        return self.lo is not None and self.hi is not None


@dataclass
class DataFile:
    """One data file of a table, with the values its Hive partition folders (or Delta log) give it."""

    path: str
    bytes: int
    partition: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fragment:
    """The unit statistics describe: a row group of a file, or a whole file (`row_group` None)."""

    file: int  # index into TableProfile.files
    row_group: int | None
    rows: int
    stats: dict[str, ColumnStats]  # by column name as in TableProfile.columns


@dataclass
class Column:
    name: str
    type: pa.DataType

    @property
    def family(self) -> str:
        return family_of(self.type)


@dataclass
class TableProfile:
    """A table as the footers or the Delta log describe it; `error` set when it cannot be read."""

    id: str
    format: str
    location: str
    files: list[DataFile] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    partition_columns: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    column_bytes: dict[str, int] = field(default_factory=dict)
    stats: dict[str, ColumnStats] = field(default_factory=dict)
    fragments: list[Fragment] = field(default_factory=list)
    error: str | None = None
    # How rows are read: "files" (its Parquet files, row group by row group), "delta" (through a
    # Delta reader: deletion vectors or column mapping), "catalog" (by name, through Spark).
    reader: str = "files"
    # Where statistics came from: "parquet footers", "delta log", or "none" (no bounds: nothing is refuted).
    statistics: str = "parquet footers"
    # The folder's version when the scan began reading it (Lake.version); None for catalog tables.
    version: str | None = None
    # The files that version was computed from: (path relative to the table, size, mtime in ns).
    listing: list[tuple[str, int, int]] | None = field(default=None, repr=False)
    # String and binary columns stored dictionary-encoded in every chunk of every file (see
    # profile.dictionary_encoded): verify reads them as dictionaries and hashes each distinct value
    # once. Worked out from the footers; not kept in the state (a profile from it has none).
    dictionary_columns: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def usable(self) -> bool:
        """Only readable tables with rows and columns take part in edges (DESIGN §2)."""
        return self.error is None and self.rows > 0 and bool(self.columns)

    def _per_columns(self, name: str, build: Callable[[], Any]) -> Any:
        """What `build` works out from the column list, kept until the list changes (stages ask per
        pair and per column; the list is replaced or extended only while profiling)."""
        built = self.__dict__.get(name)
        # the list itself is kept (not its id, which a new list could reuse once the old one is gone)
        if built is None or built[0] is not self.columns or built[1] != len(self.columns):
            built = self.__dict__[name] = (self.columns, len(self.columns), build())
        return built[2]

    def column(self, name: str) -> Column:
        return self.columns_by_name()[name]

    def columns_by_name(self) -> dict[str, Column]:
        """Its columns by name (the first of a name, as a search would find it)."""
        return self._per_columns("_by_name_built", self._first_of_names)

    def _first_of_names(self) -> dict[str, Column]:
        found: dict[str, Column] = {}
        for col in self.columns:  # the first column of a name, as a search would find it
            found.setdefault(col.name, col)
        return found

    def doubles_apart(self) -> tuple[frozenset[str], frozenset[str]]:
        """The names of its decimal columns and of its float columns: what tells, per pair, which
        columns compare as doubles (DESIGN §2)."""
        return self._per_columns("_numbers_built", self._numbers)

    def _numbers(self) -> tuple[frozenset[str], frozenset[str]]:
        from r2d2.stats import base_type  # stats imports this module

        bases = {name: base_type(col.type)
                 for name, col in self.columns_by_name().items()}
        return (frozenset(n for n, t in bases.items() if pa.types.is_decimal(t)),
                frozenset(n for n, t in bases.items() if pa.types.is_floating(t)))

    def kind(self, name: str) -> tuple[bool, str]:
        """A column's (whether it is a float, its type family): what comparing its statistics
        needs (min-max and sampling ask for every column of every pair)."""
        return self.kinds()[name]

    def kinds(self) -> dict[str, tuple[bool, str]]:
        """kind() of every column, by name (asked once per pair, not once per column)."""
        return self._per_columns("_kinds_built", self._kinds)

    def _kinds(self) -> dict[str, tuple[bool, str]]:
        from r2d2.stats import is_float  # stats imports this module

        first = self.columns_by_name()
        return {name: (is_float(col.type), family_of(col.type)) for name, col in first.items()}


@dataclass(frozen=True)
class Candidate:
    """A pair that passed the schema stage: every child column matched a parent column."""

    parent: str
    child: str
    columns: tuple[tuple[str, str], ...]  # (child column, parent column), ordered by folded name
    unsupported: tuple[str, ...] = ()  # child columns whose values r2d2 cannot compare yet

    @property
    def key(self) -> tuple[str, str]:
        return self.parent, self.child

    @property
    def comparable(self) -> tuple[tuple[str, str], ...]:
        """The column pairs r2d2 compares. Every stage asks, for every pair: most pairs have no
        unsupported column, and give their columns as they are (functools.cached_property takes a
        lock on every first access, which cost more than this)."""
        if not self.unsupported:
            return self.columns
        return tuple(c for c in self.columns if c[0] not in self.unsupported)


@dataclass
class Edge:
    parent: str
    child: str
    status: str
    stage: str
    reason: str
    run: str | None = None  # the run that decided it (an incremental scan carries older verdicts over)


@dataclass
class StageReport:
    name: str
    pairs_in: int = 0
    pairs_out: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    bytes_spared: int = 0  # what the stage's refutations spared verify from reading (min-max, sample)
    seconds_spared: float = 0.0  # bytes_spared at verify's measured pace in this run: what the stage saved


@dataclass
class ScanResult:
    lake: str
    semantics: str
    tables: list[TableProfile]
    edges: list[Edge]
    stages: list[StageReport]
    warnings: list[str] = field(default_factory=list)
    run: str | None = None  # this run's id (its start, UTC)
    previous_run: str | None = None  # the run whose state an incremental scan started from
