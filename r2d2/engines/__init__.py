"""Engines run the content work of the pipeline (DESIGN §5). The stage modules decide *what* to
read and compare; an engine reads and compares. Engines are loaded lazily by name so that pyspark
is imported only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from r2d2.config import ScanConfig
    from r2d2.discover import TableRef
    from r2d2.errors import R2D2Error
    from r2d2.model import TableProfile
    from r2d2.sample import ParentProbe
    from r2d2.storage import Lake
    from r2d2.verify import FingerprintJob, PairCheck

ENGINES = ("local", "spark")


class Engine(Protocol):
    """What the pipeline asks of an engine. Every method reads each table at most once."""

    name: str
    compare_batch: int  # pairs compared at once; proven edges settle later batches by transitivity
    compare_rows: int  # child rows joined at once (at least one pair): bounds a comparison's memory

    def begin_stage(self, name: str) -> None:
        """Called as each stage starts (Spark labels its jobs with it)."""

    def profile_tables(self, refs: list[TableRef], progress: Callable[[], None]) -> list[TableProfile]:
        """Profile: footers and Delta logs of every table, never data pages."""

    def probe_samples(self, probes: list[ParentProbe], tick: Callable[[], None]
                      ) -> tuple[dict[tuple[str, str], str | None], dict[str, R2D2Error]]:
        """Stage 3a: per (parent, child) pair the refutation reason or None, and the parents that
        could not be probed."""

    def fingerprint(self, jobs: list[FingerprintJob], tick: Callable[[], None]) -> dict[str, R2D2Error]:
        """Stage 3b: scan each job's table once, computing every row-fingerprint multiset it is
        needed for; returns the tables that could not be read (TableReadError) or compared
        (EngineError)."""

    def compare(self, checks: list[PairCheck], semantics: str) -> list[tuple[int, int]]:
        """Stage 3b: (child rows missing from the parent, child rows) for each pair, in bulk."""

    def close(self) -> None:
        """Release temporary state."""


def make_engine(name: str, lake: Lake, config: ScanConfig, **options: Any) -> Engine:
    if name == "local":
        from r2d2.engines.local import LocalEngine

        return LocalEngine(lake, config)
    if name == "spark":
        from r2d2.engines.spark import SparkEngine

        return SparkEngine(lake, config, **options)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
