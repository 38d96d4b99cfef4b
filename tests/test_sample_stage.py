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


def children() -> dict[str, pa.Table]:
    window = parent_table().slice(10_000, 300)
    renamed = window.set_column(1, "name", pa.array([f"n{i:05d}x" for i in range(10_000, 10_300)]))
    shifted = window.set_column(2, "grp", pa.array([(i + 1) % 7 for i in range(10_000, 10_300)]))
    return {
        "subset": window,
        "renamed": renamed,  # every name differs; ranges still inside the parent's
        "shifted": shifted,  # grp off by one: same ranges, rows absent
        "doubled": pa.concat_tables([window.slice(0, 150), window.slice(0, 150)]),  # each row twice
    }


def build(lake: Path, only: str | None = None) -> None:
    write_table(lake, "parent", parent_table(), row_group_size=500)  # 40 row groups, sorted by id
    for name, table in children().items():
        if only in (None, name):
            write_table(lake, name, table)


def test_sample_stage_refutes_with_targeted_reads(tmp_path: Path) -> None:
    """Each child alone with the parent: a refutation spares verify reading the parent, so the
    sample stage runs, and reads far less than the parent."""
    for child in ("subset", "renamed", "shifted", "doubled"):
        lake = tmp_path / child
        build(lake, only=child)
        result = run_scan(str(lake), None, ScanConfig(sample_rows=64))
        edge = next(e for e in result.edges if (e.parent, e.child) == ("parent", child))
        sample = next(s for s in result.stages if s.name == "sample")
        parent_bytes = next(t.bytes for t in result.tables if t.id == "parent")
        if child == "subset":
            assert edge.status == "contained"
            continue
        assert edge.status == "not_contained" and edge.stage == "sample", edge.reason
        assert 0 < sample.bytes_read < parent_bytes  # targeted: far less than the parent
        assert sample.bytes_spared >= parent_bytes // 2  # the parent's compared columns, unread by verify
        if child == "doubled":
            assert "occurs 2 times" in edge.reason


def test_sample_stage_skips_pairs_whose_refutation_spares_nothing(lake: Path) -> None:
    """With four children, verify reads the parent anyway: sampling would only add reads. The
    old main sampled all four (reading the parent's row groups for nothing)."""
    build(lake)
    result = run_scan(str(lake), None, ScanConfig(sample_rows=64))
    sample = next(s for s in result.stages if s.name == "sample")
    assert sample.bytes_read == 0 and sample.pairs_in == sample.pairs_out and sample.bytes_spared == 0
    edges = {(e.parent, e.child): e.status for e in result.edges}
    assert edges[("parent", "subset")] == "contained"
    assert {edges[("parent", c)] for c in ("renamed", "shifted", "doubled")} == {"not_contained"}


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


def test_each_pruning_stage_reports_what_it_saved(tmp_path: Path) -> None:
    """A stage's cost is its seconds; its saving is what verify did not have to read because of its
    refutations (bytes_spared), priced at verify's own pace in the run (seconds_spared)."""
    lake = tmp_path / "lake"
    build(lake, only="subset")
    write_table(lake, "elsewhere", pa.table({"id": list(range(50_000, 50_300)), "name": ["z"] * 300,
                                             "grp": [1] * 300}))  # outside the parent's ranges
    result = run_scan(str(lake), tmp_path / "out", ScanConfig(sample_rows=0))
    stages = {s.name: s for s in result.stages}
    elsewhere = next(t for t in result.tables if t.id == "elsewhere")
    assert stages["minmax"].bytes_spared >= sum(elsewhere.column_bytes.values())  # never read at all
    verify = stages["verify"]
    assert verify.bytes_read > 0
    assert abs(stages["minmax"].seconds_spared
               - stages["minmax"].bytes_spared * verify.seconds / verify.bytes_read) <= 1e-6
    doc = (tmp_path / "out" / "containment.json").read_text()
    assert '"seconds_spared"' in doc and '"bytes_spared"' in doc
