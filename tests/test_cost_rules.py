"""The rules that decide how much work a stage does: what a refutation spares verify, and how
comparisons are batched. Pure functions on profiles; no data is read."""

from __future__ import annotations

import pyarrow as pa

from r2d2.model import Candidate, Column, TableProfile
from r2d2.pipeline import compare_batches, spared_by_refuting


def profile(table_id: str, rows: int, column_bytes: dict[str, int]) -> TableProfile:
    return TableProfile(table_id, "parquet", table_id, columns=[Column(c, pa.int64()) for c in column_bytes],
                        rows=rows, bytes=sum(column_bytes.values()), column_bytes=column_bytes)


def pair(parent: str, child: str, columns: list[str]) -> Candidate:
    return Candidate(parent, child, tuple((c, c) for c in columns))


def test_a_refutation_spares_only_tables_no_other_pair_needs() -> None:
    profiles = {
        "big": profile("big", 1000, {"a": 700, "b": 300}),
        "solo": profile("solo", 10, {"a": 7}),
        "x": profile("x", 10, {"a": 5}),
        "y": profile("y", 10, {"a": 6}),
        "hub": profile("hub", 100, {"a": 50, "b": 50}),
    }
    pairs = [pair("big", "solo", ["a"]), pair("hub", "x", ["a"]), pair("hub", "y", ["a"])]
    spared = spared_by_refuting(pairs, profiles)
    assert spared[("big", "solo")] == 700 + 7  # both tables: only this pair needs them; column a only
    assert spared[("hub", "x")] == 5  # hub is still read for y: only x is spared
    assert spared[("hub", "y")] == 6


def test_comparisons_are_batched_by_pairs_and_by_child_rows() -> None:
    profiles = {t: profile(t, rows, {"a": 1}) for t, rows in
                (("p", 10**9), ("c1", 600), ("c2", 500), ("c3", 2000), ("c4", 10))}
    ordered = [pair("p", c, ["a"]) for c in ("c1", "c2", "c3", "c4")]
    batches = [[c.child for c in b] for b in compare_batches(ordered, profiles, max_pairs=3, max_rows=1000)]
    assert batches == [["c1"], ["c2"], ["c3"], ["c4"]]  # c3 alone exceeds the bound: one pair still goes
    batches = [[c.child for c in b] for b in compare_batches(ordered, profiles, max_pairs=2, max_rows=10**6)]
    assert batches == [["c1", "c2"], ["c3", "c4"]]
    assert [c for b in compare_batches(ordered, profiles, 1, 1) for c in b] == ordered
