"""End to end: on generated lakes of real data, the scan's contained edges equal those of the
independent brute-force oracle, under bag and under set semantics (DESIGN §7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.lakegen import build_lake
from tests.conftest import contained, load_json, scan_edges
from tests.oracle import oracle_edges


@pytest.fixture(scope="module", params=[1, 2])
def generated(request, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(f"gen{request.param}") / "lake"
    build_lake(root, n_tables=60, seed=request.param, with_delta=True, with_bad=True)
    return root


@pytest.mark.parametrize("semantics", ["bag", "set"])
def test_contained_edges_equal_the_oracle(generated: Path, semantics: str, tmp_path: Path) -> None:
    edges = scan_edges(generated, tmp_path / "out", semantics=semantics)
    expected = oracle_edges(generated, semantics=semantics)
    got = contained(edges)
    assert got - expected == set(), "r2d2 says contained, the oracle does not"
    unknown = {k for k, v in edges.items() if v["status"] == "unknown"}
    assert expected - got - unknown == set(), "the oracle says contained, r2d2 refuted it"
    assert expected & unknown == set() or all("not compared yet" in edges[k]["reason"] for k in expected & unknown)
    doc = load_json(tmp_path / "out")
    broken = {t["id"] for t in doc["tables"] if t["error"]}
    assert not any(e["parent"] in broken or e["child"] in broken for e in doc["edges"])


def test_both_fingerprint_stores_give_the_same_edges(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-memory multisets (sorted arrays, merged by numba's loops or searched by numpy) and
    DuckDB's (grouped and joined in SQL) are implementations of one comparison: every edge, reason
    included, is the same, whichever code hashes (numba's loops run from 0 bytes read here; their
    merges on both workers, a few pairs a task, so that pairs of several tasks meet in one batch)."""
    import r2d2.engines.local as local
    from r2d2.engines import kernels

    for semantics in ("bag", "set"):
        duck = scan_edges(generated, fingerprint_store="duckdb", semantics=semantics)
        assert scan_edges(generated, fingerprint_store="memory", semantics=semantics) == duck  # numpy's code
        if kernels.AVAILABLE:
            with monkeypatch.context() as patch:
                patch.setattr(local, "JIT_MIN_BYTES", 0)
                patch.setattr(local, "COMPARE_SLICE", 3)
                assert scan_edges(generated, fingerprint_store="memory", semantics=semantics, workers=2) == duck
                assert kernels.JIT


def test_sampling_off_gives_the_same_verdicts(generated: Path) -> None:
    with_sample = scan_edges(generated, sample_rows=256, sample_max_share=1.0)
    without = scan_edges(generated, sample_rows=0)
    assert {k: v["status"] for k, v in with_sample.items()} == {k: v["status"] for k, v in without.items()}


def test_the_database_is_opened_only_when_a_stage_needs_it(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fingerprints kept in memory with no sampled probe never open DuckDB (about 30 MB of a scan's
    peak); fingerprints stored in DuckDB open it once, and the same edges come out."""
    import duckdb

    import r2d2.engines.local as local

    opened: list[str] = []
    real = duckdb.connect

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(str(args[0]) if args else "")
        return real(*args, **kwargs)

    monkeypatch.setattr(local.duckdb, "connect", counting)
    in_memory = scan_edges(generated, fingerprint_store="memory", sample_rows=0)
    assert opened == []
    assert scan_edges(generated, fingerprint_store="duckdb", sample_rows=0) == in_memory
    assert len(opened) == 1


def test_full_collections_are_rarer_during_a_scan_and_thresholds_come_back(lake: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """While scans run (two at once here), Python's oldest generation waits for FULL_COLLECTION_EVERY
    younger collections; the process's own thresholds are back once the last scan ends."""
    import gc
    import threading

    import pyarrow as pa

    import r2d2.pipeline as pipeline
    from tests.conftest import write_table

    write_table(lake, "p", pa.table({"x": [1, 2, 3]}))
    write_table(lake, "c", pa.table({"x": [1, 2]}))
    seen: list[tuple[int, int, int]] = []
    both_in = threading.Barrier(2, timeout=60)
    original = pipeline.build_schema_graph

    def watched(profiles):
        both_in.wait()
        seen.append(gc.get_threshold())
        return original(profiles)

    monkeypatch.setattr(pipeline, "build_schema_graph", watched)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        found: list[dict] = []
        scans = [threading.Thread(target=lambda: found.append(scan_edges(lake))) for _ in range(2)]
        for scan in scans:
            scan.start()
        for scan in scans:
            scan.join()
        assert seen == [(700, 10, pipeline.FULL_COLLECTION_EVERY)] * 2 and len(found) == 2
        assert all(contained(edges) == {("p", "c")} for edges in found)
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
