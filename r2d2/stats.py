"""Statistics as sound bounds: turning Parquet footer and Delta log statistics into `ColumnStats`
keys, merging them, and the two questions the pruning stages ask of them.

Soundness rule (after pyiceberg's metrics evaluators): anything missing, truncated or inexact
answers "might hold", never "cannot hold".
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from r2d2.model import BINARY, BOOLEAN, DATE, NUMERIC, STRING, TIMESTAMP, TIMESTAMP_TZ, ColumnStats, Fragment, family_of

NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_PARQUET_UNITS = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}
_EPOCH = dt.date(1970, 1, 1)


def base_type(dtype: pa.DataType) -> pa.DataType:
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def is_float(dtype: pa.DataType) -> bool:
    return pa.types.is_floating(base_type(dtype))


def arrow_to_keys(array: pa.Array | pa.ChunkedArray) -> list[Any]:
    """Comparable keys (see ColumnStats) for each value of an Arrow array; None for NULL."""
    dtype = base_type(array.type)
    if pa.types.is_dictionary(array.type):
        array = array.cast(dtype)
    family = family_of(dtype)
    if family in (TIMESTAMP, TIMESTAMP_TZ):
        factor = NS_PER_UNIT[dtype.unit]
        return [None if v is None else v * factor for v in pc.cast(array, pa.int64()).to_pylist()]
    if family == DATE:
        if pa.types.is_date64(dtype):
            array = pc.cast(array, pa.date32())
        return pc.cast(array, pa.int32()).to_pylist()
    if family == STRING:
        return [None if v is None else v.encode("utf-8") for v in array.to_pylist()]
    if family == BOOLEAN:
        return [None if v is None else int(v) for v in array.to_pylist()]
    if family in (NUMERIC, BINARY):
        if pa.types.is_float16(dtype):
            array = pc.cast(array, pa.float32())
        return array.to_pylist()
    return [None] * len(array)


def _string_stats(lo: Any, hi: Any, truncation: int, nulls: int | None) -> ColumnStats:
    lo = lo.encode("utf-8") if isinstance(lo, str) else bytes(lo)
    hi = hi.encode("utf-8") if isinstance(hi, str) else bytes(hi)
    hi_exact = len(hi) < truncation
    return ColumnStats(lo, hi, lo_exact=len(lo) < truncation, hi_exact=hi_exact, hi_prefix=not hi_exact,
                       null_count=nulls)


def parquet_column_stats(stat: Any, dtype: pa.DataType, truncation: int) -> ColumnStats:
    """ColumnStats of one Parquet column chunk. Statistics r2d2 cannot interpret give no bounds."""
    if stat is None:
        return ColumnStats()
    nulls = stat.null_count if stat.has_null_count else None
    if not stat.has_min_max:
        return ColumnStats(null_count=nulls)
    dtype = base_type(dtype)
    family = family_of(dtype)
    try:
        if family == NUMERIC:
            if pa.types.is_floating(dtype):
                if pa.types.is_float16(dtype):
                    return ColumnStats(null_count=nulls)
                lo, hi = float(stat.min), float(stat.max)
                if math.isnan(lo) or math.isnan(hi):
                    return ColumnStats(null_count=nulls)
                return ColumnStats(lo, hi, True, True, null_count=nulls)
            lo, hi = stat.min, stat.max
            if not isinstance(lo, (int, Decimal)) or not isinstance(hi, (int, Decimal)):
                return ColumnStats(null_count=nulls)
            return ColumnStats(lo, hi, True, True, null_count=nulls)
        if family in (STRING, BINARY):
            return _string_stats(stat.min_raw, stat.max_raw, truncation, nulls)
        if family == BOOLEAN:
            return ColumnStats(int(stat.min), int(stat.max), True, True, null_count=nulls)
        if family == DATE and stat.physical_type == "INT32":
            return ColumnStats(int(stat.min_raw), int(stat.max_raw), True, True, null_count=nulls)
        if family in (TIMESTAMP, TIMESTAMP_TZ) and stat.physical_type == "INT64":
            match = re.search(r"timeUnit=(\w+)", str(stat.logical_type))
            unit = _PARQUET_UNITS.get(match.group(1)) if match else None
            if unit is None:
                return ColumnStats(null_count=nulls)
            factor = NS_PER_UNIT[unit]
            return ColumnStats(stat.min_raw * factor, stat.max_raw * factor, True, True, null_count=nulls)
    except (ValueError, TypeError, UnicodeDecodeError, pa.ArrowException):
        pass
    return ColumnStats(null_count=nulls)


def delta_column_stats(lo: Any, hi: Any, nulls: int | None, dtype: pa.DataType, truncation: int) -> ColumnStats:
    """ColumnStats from one Delta add action, given its min/max already as keys (arrow_to_keys).

    Delta writers truncate string statistics (32 characters in Spark) and write timestamps at
    millisecond precision, so those become bounds, not exact values. Decimal statistics are JSON
    numbers that writers (delta-rs) round through doubles, either way, and cap: they give no bounds."""
    if lo is None or hi is None:
        return ColumnStats(null_count=nulls)
    family = family_of(base_type(dtype))
    if pa.types.is_decimal(base_type(dtype)):
        return ColumnStats(null_count=nulls)
    if family == NUMERIC:
        if isinstance(lo, float) and math.isnan(lo) or isinstance(hi, float) and math.isnan(hi):
            return ColumnStats(null_count=nulls)
        return ColumnStats(lo, hi, True, True, null_count=nulls)
    if family in (STRING, BINARY):
        return _string_stats(lo, hi, truncation, nulls)
    if family in (BOOLEAN, DATE):
        return ColumnStats(lo, hi, True, True, null_count=nulls)
    if family in (TIMESTAMP, TIMESTAMP_TZ):
        return ColumnStats(lo, hi + NS_PER_UNIT["ms"] - 1, False, False, null_count=nulls)
    return ColumnStats(null_count=nulls)


def constant_stats(key: Any, rows: int) -> ColumnStats:
    """A partition column: one value (or NULL) for every row of a file."""
    if key is None:
        return ColumnStats(null_count=rows)
    return ColumnStats(key, key, True, True, null_count=0)


def _hi_cmp(a: ColumnStats, b: ColumnStats) -> int:
    """Order upper bounds; a prefix bound p stands for 'p followed by anything'."""
    if a.hi == b.hi:
        return (a.hi_prefix > b.hi_prefix) - (a.hi_prefix < b.hi_prefix)
    if a.hi_prefix and isinstance(b.hi, bytes) and b.hi.startswith(a.hi):
        return 1
    if b.hi_prefix and isinstance(a.hi, bytes) and a.hi.startswith(b.hi):
        return -1
    return 1 if a.hi > b.hi else -1


def _merged_one(rows: int, s: ColumnStats) -> ColumnStats:
    """merge_stats of one part with rows: what its loop gives for it (the part's own stats when they
    say the same: most columns of a one-fragment table, which then share one object)."""
    if s.null_count is not None and s.null_count >= rows or not s.has_bounds:
        if s.lo is None and s.hi is None and not (s.lo_exact or s.hi_exact or s.hi_prefix):
            return s
        return ColumnStats(null_count=s.null_count)
    lo_exact, hi_exact = s.lo_exact and s.lo == s.lo, s.hi_exact and not s.hi_prefix
    if lo_exact is s.lo_exact and hi_exact is s.hi_exact:
        return s
    return ColumnStats(s.lo, s.hi, lo_exact, hi_exact, s.hi_prefix, s.null_count)


def table_stats(names: Iterable[str], fragments: list[Fragment]) -> dict[str, ColumnStats]:
    """merge_stats of each column over all of a table's fragments. A table of one fragment (most of
    a real lake's) takes its statistics from it directly, not through a list of one per column."""
    if len(fragments) == 1 and fragments[0].rows > 0:
        rows, stats = fragments[0].rows, fragments[0].stats
        return {name: _merged_one(rows, stats[name]) for name in names}
    return {name: merge_stats((fr.rows, fr.stats[name]) for fr in fragments) for name in names}


def merge_stats(parts: Iterable[tuple[int, ColumnStats]]) -> ColumnStats:
    """Statistics of a whole table from those of its fragments, as (rows, stats) pairs."""
    parts = [(rows, s) for rows, s in parts if rows > 0]
    if len(parts) == 1:  # most tables of a real lake
        return _merged_one(*parts[0])
    nulls: int | None = 0
    with_values: list[ColumnStats] = []
    for rows, s in parts:
        nulls = None if nulls is None or s.null_count is None else nulls + s.null_count
        if s.null_count is None or s.null_count < rows:
            with_values.append(s)
    if not with_values:
        return ColumnStats(null_count=nulls)
    if not all(s.has_bounds for s in with_values):
        return ColumnStats(null_count=nulls)
    try:
        lo = min(s.lo for s in with_values)
        top = max(with_values, key=functools.cmp_to_key(_hi_cmp))
    except TypeError:  # keys of different kinds (should not happen within a family): no bounds
        return ColumnStats(null_count=nulls)
    lo_exact = any(s.lo_exact for s in with_values if s.lo == lo)
    return ColumnStats(lo, top.hi, lo_exact, top.hi_exact and not top.hi_prefix, top.hi_prefix, nulls)


def comparable(a: Any, b: Any, float_mode: bool) -> tuple[Any, Any]:
    """Numbers compare as floats when either column is a float (DESIGN §2: a decimal equals the
    float nearest to it), else exactly; float() is monotone, so refutations stay sound."""
    if float_mode and isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        return float(a), float(b)
    return a, b


def below_lower(value: Any, stats: ColumnStats, float_mode: bool) -> bool:
    """True only if `value` is certainly smaller than every value the stats describe (never for a
    NaN: `value != value`, the one value unequal to itself, as math.isnan tells, in fewer steps:
    min-max asks this of every column of every pair)."""
    lo = stats.lo
    if lo is None or value is None or value != value:
        return False
    if float_mode:
        value, lo = comparable(value, lo, True)
    return bool(value < lo)


def above_upper(value: Any, stats: ColumnStats, float_mode: bool) -> bool:
    """True only if `value` is certainly greater than every value the stats describe (see below_lower)."""
    hi = stats.hi
    if hi is None or value is None or value != value:
        return False
    if float_mode:
        value, hi = comparable(value, hi, True)
    if stats.hi_prefix and isinstance(value, bytes) and value.startswith(hi):
        return False
    return bool(value > hi)


def might_hold(value: Any, stats: ColumnStats, float_mode: bool, rows: int | None = None) -> bool:
    """Could a fragment of `rows` rows with these stats hold `value` (None meaning NULL)?"""
    if value is None:
        return stats.null_count is None or stats.null_count > 0
    if rows is not None and stats.null_count is not None and stats.null_count >= rows:
        return False
    return not below_lower(value, stats, float_mode) and not above_upper(value, stats, float_mode)


def date_to_days(value: dt.date) -> int:
    return (value - _EPOCH).days
