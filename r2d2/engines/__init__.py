"""Engines run the content work of the pipeline (DESIGN §5). The stage modules decide *what* to
read and compare; an engine reads and compares. Engines are loaded lazily by name so that pyspark
is imported only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from r2d2.config import ScanConfig
    from r2d2.errors import R2D2Error
    from r2d2.sample import ParentProbe
    from r2d2.storage import Lake
    from r2d2.verify import FingerprintJob, PairCheck

ENGINES = ("local",)


class Engine(Protocol):
    """What the pipeline asks of an engine. Every method reads each table at most once."""

    name: str

    def probe_samples(self, probe: ParentProbe) -> dict[tuple[str, str], str | None]:
        """Stage 3a for one parent: the refutation reason per (parent, child) pair, or None."""

    def fingerprint(self, jobs: list[FingerprintJob], tick: Callable[[], None]) -> dict[str, R2D2Error]:
        """Stage 3b: scan each job's table once, computing every row-fingerprint multiset it is
        needed for; returns the tables that could not be read (TableReadError) or compared
        (EngineError)."""

    def compare(self, checks: list[PairCheck], semantics: str) -> list[tuple[int, int]]:
        """Stage 3b: (child rows missing from the parent, child rows) for each pair, in bulk."""

    def close(self) -> None:
        """Release temporary state."""


def make_engine(name: str, lake: Lake, config: ScanConfig) -> Engine:
    if name == "local":
        from r2d2.engines.local import LocalEngine

        return LocalEngine(lake, config)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
