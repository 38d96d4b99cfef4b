"""Property tests: min-max pruning and sample targeting never refute a true containment, even when
statistics are missing, truncated or inexact (DESIGN §3)."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2d2.config import ScanConfig
from r2d2.discover import discover_tables
from r2d2.minmax import refute_by_minmax
from r2d2.model import ColumnStats, TableProfile
from r2d2.profile import profile_tables
from r2d2.sample import make_sample, target_fragments
from r2d2.schema_graph import pair_columns
from r2d2.stats import merge_stats
from r2d2.storage import open_lake
from r2d2.storage.reader import read_rows

TYPES = {
    "int": (st.integers(-(2**40), 2**40), [pa.int64(), pa.float64(), pa.decimal128(20, 0)]),
    "float": (st.floats(allow_infinity=False, width=64) | st.sampled_from([0.0, -0.0, float("nan")]),
              [pa.float64()]),
    "str": (st.text(alphabet="ab\u00e9\u4e2d", max_size=12), [pa.string(), pa.large_string()]),
    "dec": (st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False), [pa.decimal128(12, 2)]),
    "ts": (st.integers(-(10**12), 10**12), [pa.timestamp("ms"), pa.timestamp("us")]),
}


def _cast(values: list, kind: str, dtype: pa.DataType) -> pa.Array:
    if kind == "ts":
        factor = {"ms": 1, "us": 1000}[dtype.unit]
        return pa.array([None if v is None else v * factor for v in values], dtype)
    if kind == "int" and pa.types.is_floating(dtype):
        return pa.array([None if v is None else float(v) for v in values], dtype)
    if kind == "int" and pa.types.is_decimal(dtype):
        return pa.array([None if v is None else Decimal(v) for v in values], dtype)
    return pa.array(values, dtype)


def degrade(profile: TableProfile, rng: random.Random) -> None:
    """What other writers do: drop statistics, truncate strings to a prefix (Delta, arrow-rs),
    round bounds outwards (arrow-rs increments a truncated max; Delta rounds timestamps)."""
    for frag in profile.fragments:
        for name, s in frag.stats.items():
            roll = rng.random()
            if roll < 0.15:
                frag.stats[name] = ColumnStats(null_count=s.null_count if rng.random() < 0.5 else None)
            elif roll < 0.6 and isinstance(s.lo, bytes) and s.has_bounds:
                k = rng.randint(0, 2)
                if rng.random() < 0.5:
                    frag.stats[name] = dataclasses.replace(s, lo=s.lo[:k], hi=s.hi[:k], lo_exact=False,
                                                           hi_exact=False, hi_prefix=True)
                else:  # truncated and incremented: still an upper bound, but not a value
                    hi = s.hi[:k] + b"\xff"
                    frag.stats[name] = dataclasses.replace(s, lo=s.lo[:k], hi=hi, lo_exact=False, hi_exact=False)
            elif roll < 0.6 and isinstance(s.lo, int) and s.has_bounds:
                d = rng.randint(1, 10**6)
                frag.stats[name] = dataclasses.replace(s, lo=s.lo - d, hi=s.hi + d, lo_exact=False, hi_exact=False)
    profile.stats = {c.name: merge_stats((f.rows, f.stats[c.name]) for f in profile.fragments)
                     for c in profile.columns}


@st.composite
def containment_case(draw: st.DrawFn) -> dict:
    kinds = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=3))
    n = draw(st.integers(1, 40))
    columns = {}
    for i, kind in enumerate(kinds):
        values = draw(st.lists(TYPES[kind][0] | st.none(), min_size=n, max_size=n))
        columns[f"c{i}_{kind}"] = (kind, values)
    picks = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    keep = draw(st.lists(st.booleans(), min_size=len(kinds), max_size=len(kinds)))
    if not any(keep):
        keep[0] = True
    return {"columns": columns, "n": n, "picks": picks, "keep": keep,
            "parent_types": [draw(st.sampled_from(TYPES[k][1])) for k in kinds],
            "child_types": [draw(st.sampled_from(TYPES[k][1])) for k in kinds],
            "rg": draw(st.integers(1, 10)), "seed": draw(st.integers(0, 1000))}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=containment_case())
def test_true_containment_is_never_refuted(tmp_path_factory, case: dict) -> None:
    root: Path = tmp_path_factory.mktemp("lake")
    names = list(case["columns"])
    parent = pa.table({name: _cast(case["columns"][name][1], case["columns"][name][0], t)
                       for name, t in zip(names, case["parent_types"])})
    child_names = [n for n, k in zip(names, case["keep"]) if k]
    child_values = {n: [case["columns"][n][1][i] for i in case["picks"]] for n in child_names}
    child_types = dict(zip(names, case["child_types"]))
    child = pa.table({n.upper(): _cast(child_values[n], case["columns"][n][0], child_types[n]) for n in child_names})
    for tid, table in (("p", parent), ("c", child)):
        (root / tid).mkdir()
        pq.write_table(table, root / tid / "part-0.parquet", row_group_size=case["rg"])
    lake = open_lake(str(root))
    refs, _ = discover_tables(lake)
    profiles = {p.id: p for p in profile_tables(lake, refs, ScanConfig())}
    rng = random.Random(case["seed"])
    degrade(profiles["p"], rng)
    degrade(profiles["c"], rng)
    cand = pair_columns(profiles["p"], profiles["c"])
    for semantics in ("bag", "set"):
        assert refute_by_minmax(cand, profiles["p"], profiles["c"], semantics) is None
    columns = [c for c, _ in cand.comparable]
    sample = make_sample(profiles["c"], columns, read_rows(lake, profiles["c"], columns,
                                                           list(range(len(profiles["c"].fragments)))))
    _, missing = target_fragments(sample, cand, profiles["p"])
    assert missing is None


def test_merge_keeps_prefix_bounds_sound() -> None:
    exact = ColumnStats(b"a", b"abc", True, True, False, 0)
    prefix = ColumnStats(b"a", b"ab", False, False, True, 0)  # true max may be "abz"
    merged = merge_stats([(1, exact), (1, prefix)])
    from r2d2.stats import above_upper

    assert not above_upper(b"abz", merged, False)
    assert above_upper(b"b", merged, False)


_BOUND = st.none() | st.integers(-5, 5) | st.floats(-5, 5) | st.binary(max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), _BOUND, _BOUND, st.booleans(), st.booleans(), st.booleans(), st.none() | st.integers(0, 6))
def test_merging_one_fragment_is_the_general_merge(rows: int, lo, hi, lo_exact: bool, hi_exact: bool,
                                                   hi_prefix: bool, nulls: int | None) -> None:
    """merge_stats' shortcut for a single fragment against the general merge: the same fragment
    beside an all-NULL one, which adds its NULL to the count and nothing else."""
    if type(lo) is not type(hi):
        hi = lo
    part = ColumnStats(lo, hi, lo_exact, hi_exact, hi_prefix, nulls)
    one = merge_stats([(rows, part), (0, ColumnStats(b"zz", b"zz", True, True, False, 0))])
    general = merge_stats([(rows, part), (1, ColumnStats(null_count=1))])
    assert dataclasses.replace(one, null_count=None if nulls is None else nulls + 1) == general


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5), _BOUND, _BOUND, st.booleans(), st.booleans(), st.booleans(), st.none() | st.integers(0, 6),
       st.booleans())
def test_table_stats_merge_every_column(rows: int, lo, hi, lo_exact: bool, hi_exact: bool, hi_prefix: bool,
                                        nulls: int | None, two: bool) -> None:
    """table_stats (one fragment: without merge_stats' loop) gives what merge_stats gives per column,
    for a table of one fragment (empty ones included) and of two."""
    from r2d2.model import Fragment
    from r2d2.stats import table_stats

    if type(lo) is not type(hi):
        hi = lo
    part = ColumnStats(lo, hi, lo_exact, hi_exact, hi_prefix, nulls)
    fragments = [Fragment(0, 0, rows, {"x": part, "y": ColumnStats(null_count=rows)})]
    if two:
        fragments.append(Fragment(1, 0, 2, {"x": ColumnStats(b"zz", b"zz", True, True, False, 0),
                                            "y": ColumnStats(3, 4, True, True, False, 0)}))
    assert table_stats(["x", "y"], fragments) == {
        name: merge_stats((f.rows, f.stats[name]) for f in fragments) for name in ("x", "y")}


def test_minmax_reasons_read_like_values() -> None:
    from r2d2.minmax import show
    from r2d2.model import BOOLEAN, DATE, TIMESTAMP, TIMESTAMP_TZ

    assert show(19_723, DATE) == "2024-01-01"
    assert show(1_704_067_200_500_000_000, TIMESTAMP) == "2024-01-01 00:00:00.5"
    assert show(0, TIMESTAMP_TZ) == "1970-01-01 00:00:00Z"
    assert show(1, BOOLEAN) == "true"
