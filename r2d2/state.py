"""The scan's state, for incremental re-runs: `OUT/r2d2-state.json.gz`, written beside
containment.json by every scan into a folder or URI.

It holds, per table, the version the scan saw (every file's path, size and modification time,
hashed: see `Lake.version`) and its profile (schema, row counts, file list, per-fragment
statistics), and every pair's verdict with the run that decided it. The next scan into the same
output re-profiles only tables whose version changed or that are new, carries over the verdict of
every pair whose two tables are unchanged, and decides the others as a full scan would (min-max,
sample, verify: reading the changed tables and, for pairs that survive min-max, their unchanged
partners). Deleted tables drop out.

Why not fingerprints of the unchanged partners: a stored multiset costs 24 bytes per distinct row
and column set, as much as the data for narrow tables, and it must be rewritten whenever the
canonical encoding or the hash keys change; reading the partner again costs only the pairs that a
change touches and that min-max cannot settle. The state stays a few KB per table (its statistics).

The state is untrusted on read: it is parsed against a schema, and ignored, with a warning and a full
scan that replaces it, when it belongs to another lake (whose containment.json the scan overwrites
as well), was written by another r2d2 version (whose verdicts may follow other rules), another
engine or under other semantics, or is corrupt.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import itertools
import json
import math
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

from r2d2 import __version__
from r2d2.errors import UsageError
from r2d2.model import Column, ColumnStats, DataFile, Edge, Fragment, TableProfile
from r2d2.output import json_pieces, write_atomic
from r2d2.profile import DICTIONARY_TYPES
from r2d2.storage.paths import check_relative, is_uri, redact_uri

STATE = "r2d2-state.json.gz"
FORMAT = 1
# Bump whenever what makes a verdict changes (DESIGN §2 equality, the canonical encoding, a stage's
# rules): verdicts of states written under other rules are not carried over, whatever the version.
VERDICT_RULES = 1


class _Unstorable(Exception):
    """A value the state cannot encode: its table is simply profiled again next time."""


def _value(v: Any) -> Any:
    """A statistics or partition value as tagged JSON (exact: floats by their hex, decimals as text)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        return {"f": v.hex() if math.isfinite(v) else repr(v)}
    if isinstance(v, Decimal):
        return {"d": str(v)}
    if isinstance(v, bytes):
        return {"b": base64.b64encode(v).decode("ascii")}
    if isinstance(v, dt.datetime):
        return {"ts": v.isoformat()}
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    raise _Unstorable(type(v).__name__)


def _unvalue(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if not isinstance(v, dict) or len(v) != 1:
        raise ValueError(f"not a stored value: {v!r}")
    (tag, text), = v.items()
    if not isinstance(text, str):
        raise ValueError(f"not a stored value: {v!r}")
    if tag == "i":
        return int(text)
    if tag == "f":
        return float.fromhex(text) if text not in ("nan", "inf", "-inf") else float(text)
    if tag == "d":  # never NaN or infinite (a decimal statistic is a value): a forged one would break comparisons
        value = Decimal(text)
        if not value.is_finite():
            raise ValueError(f"not a finite decimal: {text[:40]!r}")
        return value
    if tag == "b":
        return base64.b64decode(text, validate=True)
    if tag == "ts":
        return dt.datetime.fromisoformat(text)
    if tag == "date":
        return dt.date.fromisoformat(text)
    raise ValueError(f"unknown value tag {tag!r}")


def _stats(s: ColumnStats) -> list[Any]:
    return [_value(s.lo), _value(s.hi), s.lo_exact, s.hi_exact, s.hi_prefix, s.null_count]


def _unstats(v: Any) -> ColumnStats:
    lo, hi, lo_exact, hi_exact, hi_prefix, nulls = v
    if not all(isinstance(b, bool) for b in (lo_exact, hi_exact, hi_prefix)) or \
            not (nulls is None or (isinstance(nulls, int) and nulls >= 0)):
        raise ValueError("bad statistics flags")
    return ColumnStats(_unvalue(lo), _unvalue(hi), lo_exact, hi_exact, hi_prefix, nulls)


def profile_json(p: TableProfile) -> dict[str, Any] | None:
    """A readable table's profile as JSON, or None when a value cannot be stored."""
    if p.error is not None or p.version is None:
        return None
    try:
        schema = pa.schema([pa.field(c.name, c.type) for c in p.columns])
        return {
            "id": p.id, "format": p.format, "location": p.location, "version": p.version,
            "schema": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
            "partition_columns": p.partition_columns, "rows": p.rows, "bytes": p.bytes,
            "column_bytes": p.column_bytes, "reader": p.reader, "statistics": p.statistics,
            "files": [[f.path, f.bytes, {k: _value(v) for k, v in f.partition.items()}] for f in p.files],
            # a table of one fragment whose statistics are that fragment's (profile.py merges them)
            # stores them once, as null here: 621 of the real-shaped benchmark lake's 800 tables
            "stats": None if len(p.fragments) == 1 and p.fragments[0].stats == p.stats else
            {k: _stats(s) for k, s in p.stats.items()},
            "fragments": [[f.file, f.row_group, f.rows, {k: _stats(s) for k, s in f.stats.items()}]
                          for f in p.fragments],
            "listing": [list(entry) for entry in p.listing or []],
            "dictionary_columns": sorted(p.dictionary_columns),
        }
    except (_Unstorable, pa.ArrowException):
        return None


def _statistics(d: dict[str, Any], files: int) -> tuple[dict[str, ColumnStats], list[Fragment]]:
    """A stored profile's statistics: the table's, and each fragment's."""
    fragments = []
    for file, row_group, rows, stats in d["fragments"]:
        if not (isinstance(file, int) and 0 <= file < files) or not isinstance(rows, int) or rows < 0 \
                or not (row_group is None or isinstance(row_group, int)):
            raise ValueError(f"bad fragment of {d['id']}")
        fragments.append(Fragment(file, row_group, rows, {str(k): _unstats(s) for k, s in stats.items()}))
    if d["stats"] is None:  # the one fragment's (see profile_json)
        if len(fragments) != 1:
            raise ValueError(f"bad statistics of {d['id']}")
        return dict(fragments[0].stats), fragments
    return {str(k): _unstats(s) for k, s in d["stats"].items()}, fragments


def profile_from_json(d: dict[str, Any], statistics: bool = True) -> TableProfile:
    """A stored profile; without `statistics` its stats and fragments are left empty (State.hydrate
    fills them for the tables whose pairs are decided again: most tables need only their schema)."""
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(d["schema"], validate=True)))
    check_relative(d["id"], "state table id")
    files = [DataFile(str(path), int(size), {str(k): _unvalue(v) for k, v in part.items()})
             for path, size, part in d["files"]]
    stats, fragments = _statistics(d, len(files)) if statistics else ({}, [])
    listing = []
    for name, size_, mtime in d.get("listing", []):
        if not (isinstance(name, str) and isinstance(size_, int) and isinstance(mtime, int)):
            raise ValueError(f"bad listing of {d['id']}")
        listing.append((name, size_, mtime))
    rows, size = d["rows"], d["bytes"]
    if not (isinstance(rows, int) and isinstance(size, int) and rows >= 0 and size >= 0):
        raise ValueError(f"bad counts of {d['id']}")
    # Columns every file stores dictionary-encoded (told from the footers, which an unchanged table
    # keeps): read as dictionaries. Only string and binary columns of the files can be (a state
    # before this was stored, or a forged one, reads the others plain: slower, the same rows).
    readable = {f.name for f in schema if f.type in DICTIONARY_TYPES} - set(d["partition_columns"])
    encoded = d.get("dictionary_columns", [])
    if not isinstance(encoded, list):
        raise ValueError(f"bad dictionary columns of {d['id']}")
    return TableProfile(
        id=d["id"], format=str(d["format"]), location=str(d["location"]), files=files,
        columns=[Column(f.name, f.type) for f in schema], partition_columns=[str(c) for c in d["partition_columns"]],
        rows=rows, bytes=size, column_bytes={str(k): int(v) for k, v in d["column_bytes"].items()},
        stats=stats, fragments=fragments,
        reader=str(d["reader"]), statistics=str(d["statistics"]), version=str(d["version"]), listing=listing,
        dictionary_columns=frozenset(c for c in encoded if c in readable))


_VERDICT_KEYS = {"parent", "child", "status", "stage", "reason", "run"}
_STATUSES = {"contained", "not_contained", "unknown"}


class _StateDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    format: int
    rules: int = 0
    r2d2: str
    lake: str
    semantics: str
    engine: str
    run: str
    tables: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class State:
    """A previous scan, as the next one uses it."""

    def __init__(self, run: str, profiles: dict[str, TableProfile], verdicts: dict[tuple[str, str], Edge],
                 stored: dict[str, dict[str, Any]] | None = None) -> None:
        self.run = run
        self.profiles = profiles  # by table id; each carries the version it was profiled at
        self.verdicts = verdicts
        self.stored = stored or {}  # each profile as stored: written back as it is while the table is unchanged
        self._hydrated: set[str] = set()

    def hydrate(self, profile: TableProfile) -> bool:
        """Decode the statistics of a profile taken from this state (once). False when they do not
        decode: the table must be profiled again."""
        stored = self.stored.get(profile.id)
        if self.profiles.get(profile.id) is not profile or stored is None or profile.id in self._hydrated:
            return True
        try:
            profile.stats, profile.fragments = _statistics(stored, len(profile.files))
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):  # a forged shape too
            return False
        self._hydrated.add(profile.id)
        return True

    def stored_form(self, profile: TableProfile) -> dict[str, Any] | None:
        """The stored JSON of a profile taken from this state unchanged, else None."""
        return self.stored.get(profile.id) if self.profiles.get(profile.id) is profile else None


def state_location(out: Path | str, state: Path | str | None = None) -> tuple[Any, str]:
    """The state file's file system and path: `state` when given (a file path or URI), else
    STATE in the output folder or URI."""
    import pyarrow.fs as pafs

    if state is not None:
        if isinstance(state, str) and is_uri(state):
            return pafs.FileSystem.from_uri(state)
        return pafs.LocalFileSystem(), str(Path(state).resolve())
    if isinstance(out, str) and is_uri(out):
        fs, root = pafs.FileSystem.from_uri(out)
        return fs, f"{root.rstrip('/')}/{STATE}"
    return pafs.LocalFileSystem(), str(Path(out).resolve() / STATE)


def load_state(out: Path | str, lake_uri: str, semantics: str, engine: str, warnings: list[str],
               state: Path | str | None = None) -> State | None:
    """The previous scan's state (in `out`, or at `state`), or None (no state, or one that must not
    be used: then a warning says why and the scan is a full one)."""
    import pyarrow.fs as pafs

    fs, path = state_location(out, state)
    try:
        if fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with fs.open_input_stream(path, compression=None) as f:  # not by its name: the bytes are checked
            raw = gzip.decompress(f.read())
        doc = _StateDoc.model_validate(json.loads(raw.decode("utf-8")))
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        problem = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        warnings.append(f"the state {redact_uri(path)} is unreadable ({problem[:200]}): a full scan replaces it")
        return None
    if doc.lake != lake_uri:  # its containment.json is overwritten too: the state goes with it
        warnings.append(f"the state in {redact_uri(str(out))} is of lake {doc.lake[:200]!r}, not this one: "
                        "a full scan replaces it")
        return None
    if doc.format != FORMAT or doc.r2d2 != __version__ or doc.rules != VERDICT_RULES:
        warnings.append(f"the state in {redact_uri(str(out))} was written by r2d2 {doc.r2d2[:40]!r} (format "
                        f"{doc.format}, verdict rules {doc.rules}); this is {__version__} (rules {VERDICT_RULES}): "
                        "a full scan replaces it")
        return None
    if doc.engine != engine:
        warnings.append(f"the state in {redact_uri(str(out))} was written by the {doc.engine[:40]!r} engine, "
                        f"not {engine}: a full scan replaces it")
        return None
    if doc.semantics != semantics:
        warnings.append(f"the state in {redact_uri(str(out))} is for {doc.semantics[:20]!r} semantics, "
                        f"not {semantics}: a full scan replaces it")
        return None
    profiles: dict[str, TableProfile] = {}
    stored: dict[str, dict[str, Any]] = {}
    for d in doc.tables:
        try:
            p = profile_from_json(d, statistics=False)
        except (KeyError, TypeError, ValueError, AttributeError, UsageError, pa.ArrowException,
                ArithmeticError) as exc:  # AttributeError: a list where a mapping belongs, say
            warnings.append(f"the state's profile of {str(d.get('id'))[:100]!r} is unreadable ({exc}); "
                            "profiled again")
            continue
        profiles[p.id] = p
        stored[p.id] = d
    verdicts = {}
    for e in doc.edges:  # checked by hand: tens of thousands of them, a model each would cost more than the rest
        if set(e) != _VERDICT_KEYS or not all(isinstance(v, str) for v in e.values()) or e["status"] not in _STATUSES:
            warnings.append(f"the state {redact_uri(path)} holds a malformed verdict: a full scan replaces it")
            return None
        verdicts[(e["parent"], e["child"])] = Edge(e["parent"], e["child"], e["status"], e["stage"], e["reason"],
                                                   e["run"])
    return State(doc.run, profiles, verdicts, stored)


def save_state(out: Path | str, lake_uri: str, semantics: str, engine: str, run: str, tables: list[TableProfile],
               edges: list[Edge], state: Path | str | None = None, previous: State | None = None) -> None:
    def stored(p: TableProfile) -> dict[str, Any] | None:
        return (previous.stored_form(p) if previous else None) or profile_json(p)

    doc = {
        "format": FORMAT, "rules": VERDICT_RULES, "r2d2": __version__, "lake": lake_uri, "semantics": semantics,
        "engine": engine, "run": run,
        # made one at a time as json_pieces writes them: never the whole tree in memory
        "tables": (j for j in (stored(p) for p in sorted(tables, key=lambda t: t.id)) if j is not None),
        "edges": [{"parent": e.parent, "child": e.child, "status": e.status, "stage": e.stage, "reason": e.reason,
                   "run": e.run or run} for e in sorted(edges, key=lambda e: (e.parent, e.child))],
    }
    data = _gzipped(json_pieces(doc, compact=True))  # never the whole document in memory, as text
    fs, path = state_location(out, state)
    import pyarrow.fs as pafs

    if not isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(path.rpartition("/")[0], recursive=True)
        with fs.open_output_stream(path, compression=None) as sink:
            sink.write(data)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)


_BLOCK = 1 << 18  # characters of JSON handed to the compressing thread at a time


def _gzipped(pieces: Iterator[str]) -> bytes:
    """The pieces' UTF-8 text, gzipped. zlib lets go of the interpreter lock: a thread compresses
    each block of text while this one encodes the next (the state of a 2,000-table scan is 8 MB of
    JSON; compressing it took a fifth of writing it). At most two blocks wait for it."""
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=3, mtime=0) as zipped, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="r2d2-gzip") as pool:
        waiting: deque[Future[int]] = deque()
        block: list[str] = []
        size = 0
        for piece in itertools.chain(pieces, [""]):
            block.append(piece)
            size += len(piece)
            if size >= _BLOCK or not piece:  # "" closes the text
                waiting.append(pool.submit(zipped.write, "".join(block).encode("utf-8")))
                block, size = [], 0
            while len(waiting) > 2 or not piece and waiting:
                waiting.popleft().result()  # a failed write raises here
    return packed.getvalue()


# How a table changed since the state's scan, when that can be told from its files alone.
SAME, GROWN, SHRUNK, REWRITTEN = "same", "grown", "shrunk", "rewritten"
_COMMIT = re.compile(r"^_delta_log/(\d{20})\.json$")
_LOG_BOOKKEEPING = re.compile(r"^_delta_log/(_last_checkpoint|\d{20}\.checkpoint(\.\d+\.\d+)?\.parquet|\d{20}\.crc)$")


def change_kind(lake: Any, old: TableProfile, new: TableProfile) -> str:
    """GROWN when the table only gained rows since `old` (Parquet: files added, none changed or
    removed; Delta: only commits that add files), SHRUNK when it only lost rows (files removed;
    commits that only remove), else REWRITTEN. Either way the schema must be the same, and the old
    version settled (not taken within a second of a write)."""
    if old.listing is None or new.listing is None or "unsettled" in (old.version or "unsettled") \
            or [(c.name, str(c.type)) for c in old.columns] != [(c.name, str(c.type)) for c in new.columns] \
            or old.partition_columns != new.partition_columns or old.format != new.format:
        return REWRITTEN
    before = {name: (size, mtime) for name, size, mtime in old.listing}
    after = {name: (size, mtime) for name, size, mtime in new.listing}
    if new.format == "delta":
        return _delta_change(lake, new, before, after)
    changed = any(after.get(name) not in (None, entry) for name, entry in before.items())
    added = [name for name in after if name not in before]
    removed = [name for name in before if name not in after]
    if changed or any(_hidden(name) for name in added + removed):
        return REWRITTEN
    if added and not removed and new.rows >= old.rows:
        return GROWN
    if removed and not added and new.rows <= old.rows:
        return SHRUNK
    return REWRITTEN


def _hidden(name: str) -> bool:
    return any(part.startswith(("_", ".")) for part in name.split("/"))


def _delta_change(lake: Any, new: TableProfile, before: dict[str, Any], after: dict[str, Any]) -> str:
    """Read the commits added since: only `add` actions is growth, only `remove` is shrinkage."""
    for name, entry in before.items():
        if after.get(name) != entry and not _LOG_BOOKKEEPING.match(name):
            return REWRITTEN  # a file changed or vanished (VACUUM, log clean-up): not provably monotone
    old_versions = [int(m.group(1)) for n in before if (m := _COMMIT.match(n))]
    new_commits = sorted((int(m.group(1)), n) for n in after if n not in before and (m := _COMMIT.match(n)))
    if not old_versions or not new_commits or \
            [v for v, _ in new_commits] != list(range(max(old_versions) + 1, max(old_versions) + 1 + len(new_commits))):
        return REWRITTEN
    kinds = set()
    for _, name in new_commits:
        try:
            with lake.open(f"{new.location.rstrip('/')}/{name}") as f:
                lines = f.read().decode("utf-8").splitlines()
            actions = [json.loads(line) for line in lines if line.strip()]
        except (OSError, ValueError, UnicodeDecodeError):
            return REWRITTEN
        for action in actions:
            if not isinstance(action, dict) or len(action) != 1:
                return REWRITTEN
            (kind, body), = action.items()
            if kind in ("commitInfo", "txn"):
                continue
            if kind not in ("add", "remove") or not isinstance(body, dict) or body.get("dataChange") is not True \
                    or body.get("deletionVector"):
                return REWRITTEN
            kinds.add(kind)
    return {frozenset({"add"}): GROWN, frozenset({"remove"}): SHRUNK}.get(frozenset(kinds), REWRITTEN)
