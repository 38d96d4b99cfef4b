"""The apply journal: what `apply`, `restore` and `purge` did to the lake, one JSON object per line,
each written and synced before the step it announces (an `intent`) and after it (a `done`). A crash
at any point leaves a journal from which the next run knows exactly which table was mid-move, with
the manifest (every file, its size and SHA-256) needed to finish or undo the move.

The journal is untrusted when read back: every line is checked against a schema; a torn last line
(the process died while writing it) is dropped, because its step had not begun.

Records (`event`):
- `begin`: the plan being applied (its SHA-256, lake, quarantine, deletions with recipes and versions);
- `run`: a command started (apply, restore or purge; dry runs write nothing);
- `intent` / `done` / `failed`: an action on one table (quarantine, restore, rebuild, purge);
- `skip`: a table left alone, and why (changed since the scan, say).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from r2d2.errors import R2D2Error, UsageError
from r2d2.storage.paths import check_relative

JOURNAL = "journal.jsonl"
ACTIONS = ("quarantine", "restore", "rebuild", "purge")


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    mtime_ns: int | None = None  # as listed when hashed: a change before the originals go stops the move


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    seq: int = Field(ge=0)
    at: str
    event: Literal["begin", "run", "intent", "done", "failed", "skip"]
    table: str | None = None
    action: Literal["quarantine", "restore", "rebuild", "purge"] | None = None
    manifest: list[FileEntry] | None = None


@dataclass
class TableState:
    """Where one table of the plan stands, folded from the journal."""

    table: str
    state: str = "pending"  # pending, skipped, quarantined, restored, purged, failed
    since: str | None = None  # when the state was reached
    reason: str | None = None  # why skipped or failed
    manifest: list[dict[str, Any]] = field(default_factory=list)  # the files as quarantined
    open: Record | None = None  # an intent without its done: the action the last run did not finish


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Journal:
    """The journal file in a plan's folder; `mirror` (when set) gets the whole journal after every
    record, beside the quarantine, so the quarantine carries its own history."""

    def __init__(self, path: Path, records: list[Record], mirror: Any = None) -> None:
        self.path = path
        self.records = records
        self.mirror = mirror

    @classmethod
    def load(cls, path: Path) -> Journal:
        """The journal at `path` (an empty one when there is none), validated."""
        if not path.exists():
            return cls(path, [])
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read journal {path}: {exc.strerror or exc}") from exc
        lines = raw.split(b"\n")
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(Record.model_validate(json.loads(line.decode("utf-8"))))
            except (ValueError, UnicodeDecodeError) as exc:
                if number == len(lines) and not raw.endswith(b"\n"):
                    break  # torn while written: that record's step never began
                problem = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                raise UsageError(f"journal {path} line {number} is not a valid record: {problem}") from exc
        for r in records:
            if r.table is not None:
                check_relative(r.table, f"journal {path}: table id")
            for f in r.manifest or []:
                check_relative(f.path, f"journal {path}: file")
        if records and records[0].event != "begin":
            raise UsageError(f"journal {path} does not start with its plan (a `begin` record)")
        return cls(path, records)

    def _drop_torn_tail(self) -> None:
        """A record torn by a crash (no newline at the end) would swallow the next one: cut it off
        before appending (load() has already left it out)."""
        with open(self.path, "rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())

    @property
    def begin(self) -> Record | None:
        return self.records[0] if self.records else None

    def append(self, event: str, **fields: Any) -> Record:
        """Write one record and sync it to disk before returning."""
        fault("journal.write")
        record = Record.model_validate({"seq": len(self.records), "at": now(), "event": event, **fields})
        line = json.dumps(record.model_dump(exclude_none=True), ensure_ascii=False, separators=(",", ":")) + "\n"
        new = not self.path.exists()
        if not new:
            self._drop_torn_tail()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:  # the file's name must survive a crash too
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        self.records.append(record)
        if self.mirror is not None:
            self.mirror(self.path.read_bytes())
        return record

    def states(self) -> dict[str, TableState]:
        """Each table's state after the records so far."""
        states: dict[str, TableState] = {}
        for r in self.records:
            if r.table is None:
                continue
            s = states.setdefault(r.table, TableState(r.table))
            if r.event == "intent":
                s.open = r
            elif r.event == "skip":  # a skipped restore or purge leaves the table where it was
                s.reason, s.open = getattr(r, "reason", None), None
                if r.action == "quarantine" and s.state in ("pending", "skipped", "failed", "restored"):
                    s.state, s.since = "skipped", r.at
            elif r.event == "failed":
                s.open = None
                s.reason = getattr(r, "error", None)
                if s.state in ("pending", "skipped"):
                    s.state, s.since = "failed", r.at
            elif r.event == "done":
                s.open = None
                s.reason = None
                if r.action == "quarantine":
                    s.state, s.since = "quarantined", r.at
                    s.manifest = [f.model_dump() for f in r.manifest or []]
                elif r.action in ("restore", "rebuild"):
                    s.state, s.since = "restored", r.at
                elif r.action == "purge":
                    s.state, s.since = "purged", r.at
        return states


class FaultInjected(R2D2Error):
    pass


_fault_counts: dict[str, int] = {}


def fault(point: str) -> None:
    """A test hook: `R2D2_FAULT=POINT[@N]=ACTION[,...]` makes the N-th arrival (default the first) at
    a named point kill the process (kill, with SIGKILL: no cleanup runs), or fail as a full disk
    (enospc) or a refused permission (eacces) would. Unset, it costs a dictionary lookup."""
    spec = os.environ.get("R2D2_FAULT")
    if not spec:
        return
    _fault_counts[point] = _fault_counts.get(point, 0) + 1
    for item in spec.split(","):
        where, _, action = item.partition("=")
        name, _, nth = where.partition("@")
        if name != point or _fault_counts[point] != int(nth or 1):
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "enospc":
            raise OSError(errno.ENOSPC, f"No space left on device (injected at {point})")
        if action == "eacces":
            raise PermissionError(errno.EACCES, f"Permission denied (injected at {point})")
        raise FaultInjected(f"unknown fault action {action!r} at {point}")
