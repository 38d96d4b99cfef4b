"""Stage 2, min-max: refute candidate pairs with statistics alone (DESIGN §3).

Under bag semantics a child cannot have more rows, or more NULLs in a column, than its parent.
Under both semantics a child column's true minimum below the parent's lower bound (or true maximum
above its upper bound) refutes, as does a non-NULL child column against an all-NULL parent column.
Only exact child-side values refute; parent-side bounds may be truncated or widened. Numbers
compare as floats when either side is a float (see stats.comparable).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from r2d2.model import BOOLEAN, DATE, STRING, TIMESTAMP, TIMESTAMP_TZ, Candidate, ColumnStats, TableProfile
from r2d2.stats import above_upper, below_lower

_EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1)


def show(value: Any, family: str) -> str:
    """A statistic as a data engineer would write it (keys are days, nanoseconds, bytes, 0/1)."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace") if family == STRING else value.hex()
        return repr(text if len(text) <= 40 else text[:37] + "...")
    if family == DATE:
        return (_EPOCH_DAY + dt.timedelta(days=value)).isoformat()
    if family in (TIMESTAMP, TIMESTAMP_TZ):
        seconds, nanos = divmod(value, 1_000_000_000)
        moment = _EPOCH + dt.timedelta(seconds=seconds)
        text = moment.isoformat(sep=" ") + (f".{nanos:09d}".rstrip("0") if nanos else "")
        return text + ("Z" if family == TIMESTAMP_TZ else "")
    if family == BOOLEAN:
        return "true" if value else "false"
    return str(value)


def refute_by_minmax(candidate: Candidate, parent: TableProfile, child: TableProfile,
                     semantics: str) -> str | None:
    """The reason statistics prove the child is not contained in the parent, or None."""
    if semantics == "bag" and child.rows > parent.rows:
        return f"child has {child.rows} rows, parent only {parent.rows}"
    child_kinds, parent_kinds = child.kinds(), parent.kinds()
    for child_col, parent_col in candidate.comparable:
        cs: ColumnStats = child.stats[child_col]
        ps: ColumnStats = parent.stats[parent_col]
        if cs.null_count is not None and ps.null_count is not None:
            if semantics == "bag" and cs.null_count > ps.null_count:
                return f"{child_col} has {cs.null_count} NULLs, parent {parent_col} only {ps.null_count}"
            if semantics == "set" and cs.null_count > 0 and ps.null_count == 0:
                return f"{child_col} has NULLs, parent {parent_col} has none"
            if cs.null_count < child.rows and ps.null_count >= parent.rows:
                return f"{child_col} has values, parent {parent_col} is entirely NULL"
        child_float, family = child_kinds[child_col]
        float_mode = child_float or parent_kinds[parent_col][0]
        if cs.lo_exact and below_lower(cs.lo, ps, float_mode):
            return f"min({child_col}) {show(cs.lo, family)} < parent min({parent_col}) {show(ps.lo, family)}"
        if cs.hi_exact and above_upper(cs.hi, ps, float_mode):
            return f"max({child_col}) {show(cs.hi, family)} > parent max({parent_col}) {show(ps.hi, family)}"
    return None
