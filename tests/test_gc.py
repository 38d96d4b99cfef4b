"""A scan keeps Python's full garbage collections off its long-lived objects (pipeline.py: fewer
full collections, profiles frozen), and leaves the collector as it found it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import r2d2.pipeline as pipeline
from r2d2.config import ScanConfig
from tests.conftest import write_sales_lake


def _frozen_during_scan(lake: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    seen: list[int] = []
    build = pipeline.build_schema_graph

    def recorded(profiles):  # type: ignore[no-untyped-def]
        seen.append(gc.get_freeze_count())
        return build(profiles)

    monkeypatch.setattr(pipeline, "build_schema_graph", recorded)
    result = pipeline.run_scan(str(lake), None, ScanConfig(workers=1))
    assert any(e.status == "contained" for e in result.edges)
    return seen[0]


def test_profiles_are_frozen_while_the_scan_runs_and_unfrozen_after(lake: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_sales_lake(lake)
    thresholds = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    assert _frozen_during_scan(lake, monkeypatch) > 0
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


def test_a_process_that_froze_objects_of_its_own_keeps_them_as_they_were(lake: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    write_sales_lake(lake)
    sentinel = [object()]  # a container: tracked by the collector, frozen below
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        # frozen objects may still be freed as their last reference goes, never added by r2d2
        assert 0 < _frozen_during_scan(lake, monkeypatch) <= before
        assert not any(o is sentinel for o in gc.get_objects())  # still frozen: r2d2 unfroze nothing
    finally:
        gc.unfreeze()
    assert any(o is sentinel for o in gc.get_objects())  # what the check above looks for
