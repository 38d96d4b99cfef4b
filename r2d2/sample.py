"""Stage 3a, sample: refute pairs by a seeded sample of the child's rows that is missing from the
parent (DESIGN §3). The sample comes from at most `sample_row_groups` fragments of the child. For
each parent only the fragments whose statistics could hold a sampled row are read; rows that no
fragment could hold refute the pair without reading the parent at all. Under bag semantics a
sampled value drawn k times must occur at least k times among those fragments, which hold every
parent row equal to it.

Sampling pays only when it reads much less than the parent, whose reading in verify a refutation
spares: a pair is sampled when the child's sample and the parent row groups its statistics point
to (bounded before reading, then known exactly) are each at most `sample_max_share` of the parent's
rows. Other pairs go straight to verify, which reads every survivor once anyway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from r2d2.arrays import numpy_array
from r2d2.model import Candidate, TableProfile
from r2d2.stats import (
    NS_PER_UNIT,
    above_upper,
    arrow_to_keys,
    base_type,
    below_lower,
    is_float,
    merge_stats,
    might_hold,
)
from r2d2.verify import ColumnSet

MAX_SHOWN_COLUMNS = 8


@dataclass
class ChildSample:
    """Sampled rows of one child on its comparable columns (engine form, columns c0..cN)."""

    child: TableProfile
    columns: list[str]
    types: list[pa.DataType]
    rows: pa.Table
    keys: list[list[Any]] = field(default_factory=list)  # per column, per row: statistics keys


@dataclass
class SampleCheck:
    """A pair to probe: the child's sample on the pair's comparable child columns, in the pair's
    order, and the column sets (with their as-double flags) both sides are fingerprinted on."""

    candidate: Candidate
    sample: ChildSample
    parent_colset: ColumnSet
    child_colset: ColumnSet


@dataclass
class ParentProbe:
    """One read of a parent: the fragments any of its children's samples could be in."""

    parent: TableProfile
    fragments: list[int]
    checks: list[SampleCheck]


def choose_fragments(profile: TableProfile, max_fragments: int, seed: int) -> list[int]:
    """Seeded choice of the child fragments the sample is drawn from."""
    nonempty = [i for i, f in enumerate(profile.fragments) if f.rows > 0]
    if len(nonempty) <= max_fragments:
        return nonempty
    return sorted(random.Random(f"{seed}:{profile.id}:fragments").sample(nonempty, max_fragments))


def row_share(profile: TableProfile, fragments: list[int]) -> float:
    """The share of a table's rows that reading these fragments touches."""
    return sum(profile.fragments[i].rows for i in fragments) / profile.rows if profile.rows else 1.0


def probe_share_bound(child: TableProfile, fragments: list[int], candidate: Candidate,
                      parent: TableProfile) -> float:
    """An upper bound, from statistics alone, on the share of the parent a probe would read for a
    sample drawn from these child fragments: the parent row groups whose ranges overlap the
    sampled fragments' ranges on every column. Lets the stage skip reading a sample no probe
    could use."""
    sampled = {c: merge_stats((child.fragments[i].rows, child.fragments[i].stats[c]) for i in fragments)
               for c, _ in candidate.comparable}
    touched = 0
    for frag in parent.fragments:
        overlaps = True
        for child_col, parent_col in candidate.comparable:
            cs, ps = sampled[child_col], frag.stats[parent_col]
            float_mode = child.kind(child_col)[0] or parent.kind(parent_col)[0]
            if cs.has_bounds and (below_lower(cs.hi, ps, float_mode) or above_upper(cs.lo, ps, float_mode)):
                overlaps = False
                break
        touched += frag.rows if overlaps else 0
    return touched / parent.rows if parent.rows else 1.0


def take_sample(rows: pa.Table, n: int, seed: int, table_id: str) -> pa.Table:
    """Seeded sample of `n` rows (all of them when there are fewer)."""
    if rows.num_rows <= n:
        return rows
    picks = sorted(random.Random(f"{seed}:{table_id}:rows").sample(range(rows.num_rows), n))
    return rows.take(numpy_array(np.array(picks, np.int64)))


def engine_keys(array: pa.Array | pa.ChunkedArray, dtype: pa.DataType) -> list[Any]:
    """Statistics keys for a column in engine form (timestamps arrive as raw unit counts)."""
    if pa.types.is_timestamp(base_type(dtype)):
        factor = NS_PER_UNIT[base_type(dtype).unit]
        return [None if v is None else v * factor for v in array.to_pylist()]
    if pa.types.is_decimal(dtype) and dtype.precision > 38:  # wide decimals arrive as their text
        return [None if v is None else Decimal(v) for v in array.to_pylist()]
    return arrow_to_keys(array)


def make_sample(child: TableProfile, columns: list[str], rows: pa.Table) -> ChildSample:
    types = [child.column(c).type for c in columns]
    keys = [engine_keys(rows.column(i), t) for i, t in enumerate(types)]
    return ChildSample(child, columns, types, rows, keys)


def project_sample(sample: ChildSample, columns: list[str]) -> ChildSample:
    """The same sampled rows on some of their columns, in the given order: a child's pairs compare
    different column sets (a column unsupported against one parent is compared against another),
    so the sample is drawn once on all of them and each pair sees its own."""
    index = [sample.columns.index(c) for c in columns]
    rows = pa.table([sample.rows.column(i) for i in index], names=[f"c{j}" for j in range(len(index))])
    return ChildSample(sample.child, list(columns), [sample.types[i] for i in index], rows,
                       [sample.keys[i] for i in index])


def target_fragments(sample: ChildSample, candidate: Candidate,
                     parent: TableProfile) -> tuple[list[int], int | None]:
    """Parent fragments that might hold some sampled row, and the first sampled row that no
    fragment can hold (None when every row might be somewhere)."""
    mapping = dict(candidate.comparable)
    parent_cols = [mapping[c] for c in sample.columns]
    float_mode = [is_float(t) or is_float(parent.column(p).type) for t, p in zip(sample.types, parent_cols)]
    n_rows = sample.rows.num_rows
    covered = [False] * n_rows
    needed = []
    for index, frag in enumerate(parent.fragments):
        if frag.rows == 0:
            continue
        stats = [frag.stats[p] for p in parent_cols]
        hit = False
        for r in range(n_rows):
            if covered[r] and hit:
                continue
            if all(might_hold(sample.keys[j][r], stats[j], float_mode[j], frag.rows) for j in range(len(stats))):
                covered[r] = True
                hit = True
        if hit:
            needed.append(index)
    missing = next((r for r in range(n_rows) if not covered[r]), None)
    return needed, missing


def describe_row(sample: ChildSample, i: int) -> str:
    """One sampled row as `{col: value, ...}` in the child's own types, for a refutation reason."""
    shown = []
    for j, (name, dtype) in enumerate(zip(sample.columns, sample.types)):
        if j == MAX_SHOWN_COLUMNS:
            shown.append("…")
            break
        value = sample.rows.column(j)[i]
        if pa.types.is_timestamp(base_type(dtype)):
            value = pc.cast(pa.array([value.as_py()], pa.int64()), base_type(dtype))[0]
        text = repr(value.as_py())
        shown.append(f"{name}: {text if len(text) <= 40 else text[:37] + '...'}")
    return "{" + ", ".join(shown) + "}"
