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


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> ScanConfig:
    """Defaults, then the YAML file at `path` (if any), then R2D2_<KEY> environment variables."""
    values: dict[str, Any] = {}
    known = {f.name for f in fields(ScanConfig)}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise UsageError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise UsageError(f"config file {path} must hold a mapping of keys to values")
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise UsageError(f"config file {path} has unknown keys: {', '.join(unknown)}")
        values.update({k: _coerce(k, v) for k, v in loaded.items()})
    env = os.environ if env is None else env
    for name in known:
        key = f"R2D2_{name.upper()}"
        if key in env:
            values[name] = _coerce(name, env[key])
    return ScanConfig(**values)
