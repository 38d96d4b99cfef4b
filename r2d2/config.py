"""Configuration: frozen, validated settings (pydantic) loaded from `conf/default.yaml`-style YAML
plus `R2D2_*` environment overrides, and the plan's prices from `conf/plan.yaml`. Every file is
untrusted: wrong types, unknown keys, NaN and negative prices are usage errors naming the key.
Passed explicitly; nothing reads it from globals."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from r2d2.errors import UsageError

SEMANTICS = ("bag", "set")
MAX_WORKERS = 256  # threads and DuckDB threads; more only thrash a machine
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_bytes(value: str) -> int:
    """Bytes of a validated size such as `512MB` or `2GiB` (units as DuckDB reads them)."""
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]  # strict: no "5", no true
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


class _Settings(BaseModel):
    """Frozen, validated settings: unknown keys, wrong types, NaN and out-of-range values are
    errors that name the key."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def replace(self, **changes: Any) -> Any:
        """A validated copy with the given fields changed; None values are ignored (unset CLI flags)."""
        updated = {**self.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        return validated(type(self), updated, "settings")


class ScanConfig(_Settings):
    """Everything that steers a scan. Defaults match conf/default.yaml."""

    semantics: Literal["bag", "set"] = "bag"
    sample_rows: int = Field(256, ge=0)
    sample_row_groups: int = Field(8, ge=0)
    sample_max_share: float = Field(0.5, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0)
    workers: int = Field(2, ge=1, le=MAX_WORKERS)
    duckdb_memory_limit: str = "4GB"
    fingerprint_store: Literal["auto", "memory", "duckdb"] = "auto"
    stats_truncation_bytes: int = Field(32, ge=0)

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("must be a size such as 512MB, 4GB or 2GiB")
        return value.strip()


def validated(model: type[Any], values: Mapping[str, Any], source: str) -> Any:
    """`model(**values)`, with a UsageError naming the source and each offending key."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            given = err.get("input")
            shown = "" if isinstance(given, dict) else f" (got {given!r})"
            problems.append(f"{key}: {err['msg']}{shown}")
        raise UsageError(f"{source}: " + "; ".join(problems)) from exc


def read_yaml_mapping(path: Path, known: set[str] | None = None) -> dict[str, Any]:
    """A YAML file holding a mapping, with usage errors that name the file (and unknown keys)."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise UsageError(f"config file {path} must hold a mapping of keys to values")
    unknown = sorted(str(k) for k in set(loaded) - known) if known is not None else []
    if unknown:
        raise UsageError(f"config file {path} has unknown keys: {', '.join(unknown)}")
    return loaded


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> ScanConfig:
    """Defaults, then the YAML file at `path` (if any), then R2D2_<KEY> environment variables."""
    known = set(ScanConfig.model_fields)
    values: dict[str, Any] = read_yaml_mapping(path, known) if path is not None else {}
    env = os.environ if env is None else env
    for name in known:
        key = f"R2D2_{name.upper()}"
        if key in env:
            values[name] = env[key]  # validated (and converted from text) below, named by key
    return validated(ScanConfig, values, f"config file {path}" if path is not None else "settings")


class TableOverride(_Settings):
    """Settings for the tables whose id matches `match` (an id or a glob)."""

    match: str = Field(min_length=1)
    accesses_per_month: NonNegative | None = None
    latency_budget_s: NonNegative | None = None
    tier: str | None = None
    protected: StrictBool | None = None


class PlanConfig(_Settings):
    """Prices, budgets and protections of the deletion plan. Defaults match conf/plan.yaml."""

    storage_per_gb_month: dict[str, NonNegative] = Field(
        default_factory=lambda: {"hot": 0.02, "cool": 0.01, "archive": 0.002}, min_length=1)
    default_tier: str = "hot"
    compute_per_tb_read: NonNegative = 5.0
    accesses_per_month: NonNegative = 1.0
    accesses_csv: str | None = None
    latency_budget_s: NonNegative = 60.0
    rebuild_throughput_mb_s: Positive = 200.0
    rebuild_overhead_s: NonNegative = 5.0
    protected: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    overrides: tuple[TableOverride, ...] = ()
    solver: Literal["auto", "cbc", "highs", "greedy"] = "auto"
    time_limit_s: NonNegative = 300.0
    max_in_list: int = Field(64, ge=1, le=10_000)

    @field_validator("storage_per_gb_month", mode="before")
    @classmethod
    def _one_price(cls, value: Any) -> Any:
        # A single number is one price for every tier r2d2 uses by default.
        return {"hot": value} if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _tiers_exist(self) -> PlanConfig:
        tiers = self.storage_per_gb_month
        if self.default_tier not in tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not among the storage tiers {sorted(tiers)}")
        for o in self.overrides:
            if o.tier is not None and o.tier not in tiers:
                raise ValueError(f"override for {o.match!r} names tier {o.tier!r}; tiers are {sorted(tiers)}")
        return self

    @property
    def tiers(self) -> dict[str, float]:
        return dict(self.storage_per_gb_month)


def load_plan_config(path: Path | None = None) -> PlanConfig:
    """Defaults, then the YAML file at `path` (keys as in conf/plan.yaml)."""
    if path is None:
        return PlanConfig()
    values: dict[str, Any] = read_yaml_mapping(path, set(PlanConfig.model_fields))
    csv_path = values.get("accesses_csv")
    if isinstance(csv_path, str) and csv_path:
        values["accesses_csv"] = str((Path(path).parent / csv_path).resolve())
    for key in ("protected", "overrides"):
        if values.get(key) is None and key in values:
            values[key] = ()
    return validated(PlanConfig, values, f"config file {path}")

