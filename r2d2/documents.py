"""The documents r2d2 reads back (`containment.json`, `plan.json`) are untrusted: a file may be
hand-edited, truncated, from another version or crafted. They are parsed once, here, against a
schema; a problem is a usage error naming the file and the key, never a KeyError deep inside.
Table ids and selection files are checked to be relative names that stay inside their folders.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from r2d2.errors import UsageError
from r2d2.storage.paths import check_relative

# Counts as int64 holds them: a crafted 10**400 is a usage error, not an overflow deep in the planner.
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


def _table_id(value: str) -> str:
    try:
        return check_relative(value, "table id")
    except UsageError as exc:
        raise ValueError(str(exc)) from exc


class ScanColumn(_Doc):
    name: str = Field(min_length=1)
    type: str
    bytes: Count = 0


class ScanTable(_Doc):
    id: str
    format: str
    rows: Count
    bytes: Count
    files: Count = 0
    columns: list[ScanColumn]
    error: str | None = None
    version: str | None = None  # absent from files written before r2d2 recorded it

    _id = field_validator("id")(_table_id)


class ScanEdge(_Doc):
    parent: str
    child: str
    status: Literal["contained", "not_contained", "unknown"]
    stage: str
    reason: str


class ScanStage(_Doc):
    name: str
    pairs_in: Count
    pairs_out: Count
    seconds: float = Field(ge=0)
    bytes_read: Count
    bytes_spared: Count = 0  # absent from files written before r2d2 recorded it
    seconds_spared: float = Field(0.0, ge=0)  # likewise


class ScanDoc(_Doc):
    version: Literal[1]
    lake: str = Field(min_length=1)
    semantics: Literal["bag", "set"]
    tables: list[ScanTable]
    edges: list[ScanEdge]
    stages: list[ScanStage]
    warnings: list[str] = []  # absent from files written before r2d2 recorded them


class Recipe(_Doc):
    kind: Literal["projection", "predicate", "selection", "row_selection"]
    sql: str = Field(min_length=1)
    verified: Literal[True]
    rows: Count
    fingerprint: str
    arrow_schema: str
    selection: str | None = None
    dialect: str | None = None

    @field_validator("selection")
    @classmethod
    def _selection(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _table_id(value)
        if not value.startswith("selections/") or not value.endswith(".parquet"):
            raise ValueError(f"selection {value!r} is not a file under selections/")
        return value


class Deletion(_Doc):
    table: str
    source: str
    saved_bytes: Count
    saved_per_month: float
    rebuild_seconds: float = Field(ge=0)
    recipe: Recipe
    table_version: str | None = None  # the scan's versions of both tables (absent from older plans)
    source_version: str | None = None

    _ids = field_validator("table", "source")(_table_id)


class PlanDoc(_Doc):
    version: Literal[1]
    scan: str
    scan_sha256: str | None = None
    lake: str = Field(min_length=1)
    tables: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    deletions: list[Deletion]
    not_deleted: list[dict[str, Any]] = []
    objective: dict[str, Any]


def _parse(path: Path, model: type[_Doc], what: str) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return model.model_validate(json.loads(raw.decode("utf-8"))), raw
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                                 for e in exc.errors()[:5])
            raise UsageError(f"{path} is not a valid {what}: {problems}") from exc
        raise UsageError(f"{path} is not valid JSON: {exc}") from exc


def load_scan_doc(path: Path) -> tuple[ScanDoc, str]:
    """A containment.json, validated, and the SHA-256 of its bytes (the scan's identity)."""
    doc, raw = _parse(path, ScanDoc, "containment.json")
    return doc, hashlib.sha256(raw).hexdigest()


def load_plan_doc(path: Path) -> PlanDoc:
    doc, _ = _parse(path, PlanDoc, "plan.json")
    return doc
