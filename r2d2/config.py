"""Scan configuration: a frozen dataclass loaded from `conf/default.yaml`-style YAML plus
`R2D2_*` environment overrides. Passed explicitly; nothing reads it from globals."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from r2d2.errors import UsageError

SEMANTICS = ("bag", "set")


@dataclass(frozen=True)
class ScanConfig:
    """Everything that steers a scan. Defaults match conf/default.yaml."""

    semantics: str = "bag"
    sample_rows: int = 256
    sample_row_groups: int = 8
    sample_max_share: float = 0.5
    seed: int = 0
    workers: int = 2
    duckdb_memory_limit: str = "4GB"
    stats_truncation_bytes: int = 32

    def __post_init__(self) -> None:
        if self.semantics not in SEMANTICS:
            raise UsageError(f"semantics must be one of {', '.join(SEMANTICS)}, not {self.semantics!r}")
        for name in ("sample_rows", "sample_row_groups", "seed", "stats_truncation_bytes"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be zero or more, not {getattr(self, name)}")
        if not 0.0 <= self.sample_max_share <= 1.0:
            raise UsageError(f"sample_max_share must be between 0 and 1, not {self.sample_max_share}")
        if self.workers < 1:
            raise UsageError(f"workers must be at least 1, not {self.workers}")

    def replace(self, **changes: Any) -> ScanConfig:
        """A copy with the given fields changed; None values are ignored (unset CLI flags)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(ScanConfig)}[name]
    try:
        if kind in ("int", int):
            return int(raw)
        return float(raw) if kind in ("float", float) else str(raw)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"config key {name!r} wants a {kind}, got {raw!r}") from exc


def read_yaml_mapping(path: Path, known: set[str] | None = None) -> dict[str, Any]:
    """A YAML file holding a mapping, with usage errors that name the file (and unknown keys)."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise UsageError(f"config file {path} must hold a mapping of keys to values")
    unknown = sorted(set(loaded) - known) if known is not None else []
    if unknown:
        raise UsageError(f"config file {path} has unknown keys: {', '.join(unknown)}")
    return loaded


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> ScanConfig:
    """Defaults, then the YAML file at `path` (if any), then R2D2_<KEY> environment variables."""
    values: dict[str, Any] = {}
    known = {f.name for f in fields(ScanConfig)}
    if path is not None:
        loaded = read_yaml_mapping(path, known)
        values.update({k: _coerce(k, v) for k, v in loaded.items()})
    env = os.environ if env is None else env
    for name in known:
        key = f"R2D2_{name.upper()}"
        if key in env:
            values[name] = _coerce(name, env[key])
    return ScanConfig(**values)


SOLVERS = ("auto", "cbc", "highs", "greedy")


@dataclass(frozen=True)
class TableOverride:
    """Settings for the tables whose id matches `match` (an id or a glob)."""

    match: str
    accesses_per_month: float | None = None
    latency_budget_s: float | None = None
    tier: str | None = None
    protected: bool | None = None


@dataclass(frozen=True)
class PlanConfig:
    """Prices, budgets and protections of the deletion plan. Defaults match conf/plan.yaml."""

    storage_per_gb_month: tuple[tuple[str, float], ...] = (("hot", 0.02), ("cool", 0.01), ("archive", 0.002))
    default_tier: str = "hot"
    compute_per_tb_read: float = 5.0
    accesses_per_month: float = 1.0
    accesses_csv: str | None = None
    latency_budget_s: float = 60.0
    rebuild_throughput_mb_s: float = 200.0
    rebuild_overhead_s: float = 5.0
    protected: tuple[str, ...] = ()
    overrides: tuple[TableOverride, ...] = ()
    solver: str = "auto"
    time_limit_s: float = 300.0
    max_in_list: int = 64

    def __post_init__(self) -> None:
        tiers = dict(self.storage_per_gb_month)
        if self.default_tier not in tiers:
            raise UsageError(f"default_tier {self.default_tier!r} is not among the storage tiers {sorted(tiers)}")
        for o in self.overrides:
            if o.tier is not None and o.tier not in tiers:
                raise UsageError(f"override for {o.match!r} names tier {o.tier!r}; tiers are {sorted(tiers)}")
        if self.solver not in SOLVERS:
            raise UsageError(f"solver must be one of {', '.join(SOLVERS)}, not {self.solver!r}")
        if self.rebuild_throughput_mb_s <= 0:
            raise UsageError("rebuild_throughput_mb_s must be positive")
        for name in ("compute_per_tb_read", "accesses_per_month", "latency_budget_s", "rebuild_overhead_s"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be zero or more")

    @property
    def tiers(self) -> dict[str, float]:
        return dict(self.storage_per_gb_month)


def load_plan_config(path: Path | None = None) -> PlanConfig:
    """Defaults, then the YAML file at `path` (keys as in conf/plan.yaml)."""
    if path is None:
        return PlanConfig()
    values: dict[str, Any] = read_yaml_mapping(path, {f.name for f in fields(PlanConfig)})
    try:
        if "storage_per_gb_month" in values:
            tiers = values["storage_per_gb_month"]
            tiers = tiers if isinstance(tiers, dict) else {"hot": tiers}  # one price for every table
            values["storage_per_gb_month"] = tuple((str(k), float(v)) for k, v in tiers.items())
        if values.get("accesses_csv"):
            values["accesses_csv"] = str((Path(path).parent / values["accesses_csv"]).resolve())
        values["protected"] = tuple(values.get("protected") or ())
        values["overrides"] = tuple(TableOverride(**o) for o in values.get("overrides") or ())
        for name in ("compute_per_tb_read", "accesses_per_month", "latency_budget_s", "rebuild_throughput_mb_s",
                     "rebuild_overhead_s", "time_limit_s"):
            if name in values:
                values[name] = float(values[name])
        return PlanConfig(**values)
    except (TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"config file {path}: {exc}") from exc
