"""Verify compares twin tables (the same rows under the same schema) once per pair of twin classes,
and every pair it decides by reasoning instead gets the verdict a comparison would give."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from r2d2.engines.local import LocalEngine
from tests.conftest import scan_edges, write_table

N = 400


def base() -> pa.Table:
    # shuffled copies have min/max statistics equal to the base's: only verify can tell them apart
    ids = [(i * 37) % N for i in range(N)]
    return pa.table({"id": ids, "name": [f"n{i % 50}" for i in ids], "x": [i * 0.5 for i in ids]})


@pytest.fixture
def twins_lake(lake: Path) -> Path:
    t = base()
    for name in ("a", "b", "c"):  # three copies, rows in different orders
        write_table(lake, name, t.take(pa.array([(i * 7 + len(name)) % N for i in range(N)]))
                    if name != "a" else t)
    changed = t.to_pydict()
    changed["name"][5] = "n1x"  # within the column's min and max: statistics cannot refute it
    write_table(lake, "d", pa.table(changed))  # same schema and size: one cell differs
    write_table(lake, "e", pa.table(changed))  # a twin of d
    write_table(lake, "s", t.slice(0, 100))  # a subset of a, b and c; not of d and e (row 5 changed)
    return lake


def test_twin_verdicts_equal_what_comparisons_give(twins_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    original = LocalEngine.compare

    def counting(self, checks, semantics):  # type: ignore[no-untyped-def]
        compared.extend((c.parent, c.child) for c in checks)
        return original(self, checks, semantics)

    monkeypatch.setattr(LocalEngine, "compare", counting)
    edges = scan_edges(twins_lake, sample_rows=0)
    copies = ("a", "b", "c")
    for p in copies:
        for c in copies:
            if p != c:
                assert edges[(p, c)]["status"] == "contained", (p, c, edges[(p, c)])
        assert edges[(p, "s")]["status"] == "contained"
        for other in ("d", "e"):  # one row differs: missing both ways, the same count
            assert edges[(p, other)]["status"] == edges[(other, p)]["status"] == "not_contained"
            assert edges[(p, other)]["reason"].startswith("1 of 400 child rows not in the parent")
            assert edges[(other, p)]["reason"].startswith("1 of 400 child rows not in the parent")
    assert edges[("d", "e")]["status"] == edges[("e", "d")]["status"] == "contained"
    # row 5 of the base is in s; d and e changed it, so they do not contain s
    assert edges[("d", "s")]["status"] == edges[("e", "s")]["status"] == "not_contained"
    verified = {k for k, v in edges.items() if v["status"] != "not_contained" or v["stage"] == "verify"}
    assert len(set(compared)) < len(verified) / 2, (len(set(compared)), len(verified))


def test_twins_reach_the_same_verdicts_as_set_semantics_on_distinct_rows(twins_lake: Path) -> None:
    """The rows are distinct, so bag and set semantics agree pair by pair; set semantics compares
    every pair (no twin reasoning), so it checks the reasoning's verdicts."""
    bag = scan_edges(twins_lake, sample_rows=0)
    sets = scan_edges(twins_lake, sample_rows=0, semantics="set")
    assert {k: v["status"] for k, v in bag.items()} == {k: v["status"] for k, v in sets.items()}


def test_only_pairs_comparing_every_column_exactly_may_chain() -> None:
    """A decimal compared against a float is compared as its nearest double, which is not transitive
    (0.10000000000000001 ~ 0.1 ~ 0.1 as decimals that differ): such a pair is not `exact`, so a proof
    of it never settles another pair by transitivity; every other pair is."""
    from r2d2.model import Candidate, Column, TableProfile
    from r2d2.verify import is_exact, pair_check

    def table(name: str, **types: pa.DataType) -> TableProfile:
        return TableProfile(name, "parquet", name, columns=[Column(c, t) for c, t in types.items()])

    dec, flt = pa.decimal128(38, 27), pa.float64()
    p, b, c = table("p", id=pa.int64(), v=dec), table("b", id=pa.int64(), v=flt), table("c", id=pa.int64(), v=dec)
    both = (("id", "id"), ("v", "v"))
    assert not is_exact(pair_check(Candidate("p", "b", both), p, b))  # the parent's decimal as a double
    assert not is_exact(pair_check(Candidate("b", "c", both), b, c))  # the child's decimal as a double
    assert is_exact(pair_check(Candidate("p", "c", both), p, c))  # decimals against decimals
    assert is_exact(pair_check(Candidate("p", "b", (("id", "id"),)), p, b))  # the float is not compared
    assert is_exact(pair_check(Candidate("b", "b", both), b, b))
