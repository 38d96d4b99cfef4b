"""Stage 3a on a parent with many row groups: refutations come from targeted reads (or from
statistics alone), read a small part of the parent, and never touch true containments."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan
from tests.conftest import write_table

N = 20_000


def parent_table() -> pa.Table:
    ids = list(range(N))
    return pa.table({"id": ids, "name": [f"n{i:05d}" for i in ids], "grp": [i % 7 for i in ids]})


def build(lake: Path) -> None:
    parent = parent_table()
    write_table(lake, "parent", parent, row_group_size=500)  # 40 row groups, sorted by id
    window = parent.slice(10_000, 300)
    write_table(lake, "subset", window)
    renamed = window.set_column(1, "name", pa.array([f"n{i:05d}x" for i in range(10_000, 10_300)]))
    write_table(lake, "renamed", renamed)  # every name differs; ranges still inside the parent's
    shifted = window.set_column(2, "grp", pa.array([(i + 1) % 7 for i in range(10_000, 10_300)]))
    write_table(lake, "shifted", shifted)  # grp off by one: same ranges, rows absent
    doubled = pa.concat_tables([window.slice(0, 150), window.slice(0, 150)])
    write_table(lake, "doubled", doubled)  # 300 rows, each twice: not contained under bag


def test_sample_stage_refutes_with_targeted_reads(lake: Path) -> None:
    build(lake)
    result = run_scan(str(lake), None, ScanConfig(sample_rows=64))
    edges = {(e.parent, e.child): e for e in result.edges}
    assert edges[("parent", "subset")].status == "contained"
    for child in ("renamed", "shifted", "doubled"):
        assert edges[("parent", child)].status == "not_contained"
        assert edges[("parent", child)].stage == "sample", edges[("parent", child)].reason
    assert "occurs 2 times" in edges[("parent", "doubled")].reason
    sample = next(s for s in result.stages if s.name == "sample")
    parent_bytes = next(t.bytes for t in result.tables if t.id == "parent")
    assert 0 < sample.bytes_read < parent_bytes  # targeted: far less than the parent


def test_statistics_alone_can_place_a_sampled_row_nowhere(lake: Path) -> None:
    parent = parent_table()
    write_table(lake, "parent", parent, row_group_size=500)
    # id 10 sits in the first row group, whose names stop at n00499; n15000 sits with ids 15000+
    write_table(lake, "odd", pa.table({"id": [10, 12_000], "name": ["n15000", "n12000"], "grp": [3, 2]}))
    result = run_scan(str(lake), None, ScanConfig())
    edge = next(e for e in result.edges if (e.parent, e.child) == ("parent", "odd"))
    assert edge.status == "not_contained" and edge.stage == "sample"
    assert "cannot be in any parent row group" in edge.reason


def test_bag_semantics_are_sampled_too_but_set_semantics_accept(lake: Path) -> None:
    build(lake)
    result = run_scan(str(lake), None, ScanConfig(semantics="set"))
    edges = {(e.parent, e.child): e for e in result.edges}
    assert edges[("parent", "doubled")].status == "contained"


def test_the_row_shown_as_evidence_is_the_missing_one(lake: Path) -> None:
    parent = parent_table()
    write_table(lake, "parent", parent, row_group_size=500)
    window = parent.slice(10_000, 300).to_pydict()
    window["name"][137] = "n10137x"  # the one row of the child that the parent lacks
    write_table(lake, "one_off", pa.table(window, schema=parent.schema))
    result = run_scan(str(lake), None, ScanConfig(sample_rows=1_000))
    edge = next(e for e in result.edges if (e.parent, e.child) == ("parent", "one_off"))
    assert edge.stage == "sample" and "'n10137x'" in edge.reason and "10137" in edge.reason, edge.reason
