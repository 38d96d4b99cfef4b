"""Reclaiming storage: `apply` moves the tables a plan deletes into a quarantine, `restore` puts them
back, `purge` deletes quarantined tables past their retention. All three are dry runs unless given
`--execute`, take a lock in the plan's folder, and record every step in the journal (r2d2/journal.py)
before and after it happens.

Safety, in order:
- a table moves only while it and its source are exactly as the scan saw them (their versions:
  every file's path, size and modification time);
- nothing is deleted by apply: the table's files are moved (a rename on a local disk; elsewhere a
  copy, read back and checked against the SHA-256 of the original, before the original is removed);
- a crash anywhere is finished by the next run (an intent without its done names the table, and its
  manifest tells which files belong where), or undone by `restore`;
- restore checks every file it puts back against the manifest, byte for byte (SHA-256);
- purge deletes a quarantined table only after rebuilding it from its source with the plan's recipe
  and finding the same rows (fingerprint) as in the quarantined copy itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow.fs as pafs

from r2d2 import __version__
from r2d2.errors import R2D2Error, UsageError
from r2d2.journal import JOURNAL, Journal, TableState, fault
from r2d2.storage import Entry, Lake, open_lake
from r2d2.storage.paths import check_relative, is_uri, lake_uri, location, redact_uri

QUARANTINE = ".r2d2-quarantine"  # default: hidden inside the lake root (scans pass over it), same storage
LOCK = "apply.lock"
CHUNK = 8 << 20
MOVED = {"quarantined", "restored", "purged", "rebuilt", "would quarantine", "would restore", "would purge",
         "would rebuild"}


class ApplyError(R2D2Error):
    pass


# ---------------------------------------------------------------- files, hashes and moves


def sha256_file(fs: pafs.FileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def manifest(lake: Lake, files: list[Entry]) -> list[dict[str, Any]]:
    """Each file of a table folder (as Lake.listing gives them) with its size, time and SHA-256:
    what restore must bring back."""
    return [{"path": e.name, "size": e.size, "sha256": sha256_file(lake.fs, e.path), "mtime_ns": e.mtime_ns}
            for e in files]


def _exists(fs: pafs.FileSystem, path: str) -> pafs.FileType:
    return fs.get_file_info(path).type


def _parent(path: str) -> str:
    return path.rstrip("/").rpartition("/")[0]


class Mover:
    """Moves a table folder within one file system: a rename where the file system renames folders
    atomically (a local disk), else a copy of every file, checked by reading it back, and then the
    removal of the originals. Either way resumable: each step looks at what is already where."""

    def __init__(self, lake: Lake, point: str) -> None:
        self.lake, self.fs, self.point = lake, lake.fs, point
        self.hns: bool | None = None  # whether an Azure account renames folders (learnt on first try)

    def renames(self, src: str, dst: str) -> bool:
        if not self.lake.is_local:
            return False
        existing = dst
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        return os.stat(existing).st_dev == os.stat(src if os.path.exists(src) else _parent(src)).st_dev

    def move(self, src: str, dst: str, files: list[dict[str, Any]]) -> None:
        """Bring the folder `src` (whose files are `files`) to `dst`, finishing a move a crash cut short."""
        if self.lake.is_local and self.renames(src, dst):
            self._rename(src, dst, files)
        elif not (isinstance(self.fs, pafs.AzureFileSystem) and self._directory_rename(src, dst, files)):
            self._copy(src, dst, files)

    def _directory_rename(self, src: str, dst: str, files: list[dict[str, Any]]) -> bool:
        """ADLS Gen2 (hierarchical namespace): one atomic rename of the folder through the DFS
        endpoint. False when the account has no hierarchical namespace (plain blob storage, Azurite)
        or when a move is half done: the copy path then takes over, and checks every file."""
        if self.hns is False or _exists(self.fs, dst) != pafs.FileType.NotFound:
            return False
        try:
            self.fs.create_dir(_parent(dst), recursive=True)
            fault(f"{self.point}.rename")
            self.fs.move(src, dst)
        except NotImplementedError:  # pyarrow: "not implemented ... without Hierarchical Namespace"
            self.hns = False
            return False
        self.hns = True
        fault(f"{self.point}.moved")
        try:
            self.check(dst, files, hashes=False)
        except ApplyError:  # a writer added or changed a file since the manifest: put it all back
            self.fs.move(dst, src)
            raise
        return True

    def _rename(self, src: str, dst: str, files: list[dict[str, Any]]) -> None:
        here, there = os.path.isdir(src), os.path.isdir(dst)
        if here and there and not os.listdir(dst):
            os.rmdir(dst)  # an empty folder left by a restore that had not begun
            there = False
        if here and not there:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            fault(f"{self.point}.rename")
            os.rename(src, dst)
            fault(f"{self.point}.moved")
            try:
                self.check(dst, files, hashes=False, times=self.point == "apply")
            except ApplyError:  # a writer added or changed a file since the manifest: put it all back
                os.rename(dst, src)
                raise
            return
        if here and there:
            raise ApplyError(f"both {src} and {dst} exist; move one of them away and run again")
        if not there:
            raise ApplyError(f"neither {src} nor {dst} exists: the table's files are gone")
        self.check(dst, files, hashes=False)

    def _copy(self, src: str, dst: str, files: list[dict[str, Any]]) -> None:
        for f in files:
            s, d = f"{src}/{f['path']}", f"{dst}/{f['path']}"
            if _exists(self.fs, d) == pafs.FileType.File and sha256_file(self.fs, d) == f["sha256"]:
                continue  # copied (and checked) before a crash
            if _exists(self.fs, s) != pafs.FileType.File:
                raise ApplyError(f"{s} is missing and its copy {d} is not whole: the file is lost")
            self.fs.create_dir(_parent(d), recursive=True)
            self.fs.copy_file(s, d)
            fault(f"{self.point}.copied")
            if sha256_file(self.fs, d) != f["sha256"]:
                self.fs.delete_file(d)
                raise ApplyError(f"the copy of {s} at {d} does not match the original (SHA-256); nothing removed")
        fault(f"{self.point}.moved")
        known = {f["path"]: f for f in files}
        if _exists(self.fs, src) == pafs.FileType.Directory:  # the last look before the originals go
            now = self.lake.walk(src)
            extra = [e.name for e in now if e.name not in known]
            if extra:
                raise ApplyError(f"{len(extra)} file(s) appeared in {src} while it was moved (e.g. {extra[0]}); "
                                 "the originals are left in place")
            # the recorded times are the lake's files' (apply moves those; a restore's source is copies)
            times = self.point == "apply"
            changed = [e.name for e in now if known[e.name]["size"] != e.size
                       or (times and known[e.name].get("mtime_ns") not in (None, e.mtime_ns))]
            if changed:
                raise ApplyError(f"{changed[0]} in {src} was rewritten while the table was moved; the originals are "
                                 "left in place")
        for f in files:
            s = f"{src}/{f['path']}"
            if _exists(self.fs, s) == pafs.FileType.File:
                self.fs.delete_file(s)
                fault(f"{self.point}.deleted")
        self._remove_empty(src)

    def _remove_empty(self, folder: str) -> None:
        """Remove a folder left empty (its sub-folders too); never a folder that still holds a file."""
        if _exists(self.fs, folder) != pafs.FileType.Directory:
            return
        if self.lake.walk(folder):
            raise ApplyError(f"{folder} still holds files that are not the table's; left in place")
        self.fs.delete_dir(folder)

    def check(self, folder: str, files: list[dict[str, Any]], hashes: bool = True, times: bool = False) -> None:
        """The folder holds exactly these files, with these sizes (and, with `hashes`, these bytes;
        with `times`, the modification times the manifest recorded: a rename keeps them, so a file
        rewritten with the same size since its hash is caught without hashing it again)."""
        found = {e.name: e for e in self.lake.walk(folder)}
        want = {f["path"]: f for f in files}
        if set(found) != set(want):
            missing, extra = sorted(set(want) - set(found)), sorted(set(found) - set(want))
            raise ApplyError(f"{folder} does not hold the table's files: missing {missing[:3]}, unexpected {extra[:3]}")
        for name, f in want.items():
            if found[name].size != f["size"]:
                raise ApplyError(f"{found[name].path} has {found[name].size} bytes, not {f['size']}")
            if times and f.get("mtime_ns") not in (None, found[name].mtime_ns):
                raise ApplyError(f"{found[name].path} was rewritten after it was hashed (its time changed)")
            if hashes and sha256_file(self.fs, found[name].path) != f["sha256"]:
                raise ApplyError(f"{found[name].path} does not have the bytes it was quarantined with (SHA-256)")

    def undo(self, src: str, dst: str, files: list[dict[str, Any]]) -> None:
        """Undo a copy-move that failed part way: every original back in `src`, the copies removed."""
        for f in files:
            s, d = f"{src}/{f['path']}", f"{dst}/{f['path']}"
            if _exists(self.fs, s) != pafs.FileType.File:
                self.fs.create_dir(_parent(s), recursive=True)
                self.fs.copy_file(d, s)
                if sha256_file(self.fs, s) != f["sha256"]:
                    raise ApplyError(f"could not put {s} back from {d}: the copy does not match")
        for f in files:
            d = f"{dst}/{f['path']}"
            if _exists(self.fs, d) == pafs.FileType.File:
                self.fs.delete_file(d)
        if _exists(self.fs, dst) == pafs.FileType.Directory and not self.lake.walk(dst):
            self.fs.delete_dir(dst)


# ---------------------------------------------------------------- where things are


@dataclass
class Setting:
    """The plan folder, the journal, the lake and the quarantine of one apply."""

    folder: Path
    journal: Journal
    lake: Lake
    quarantine: str  # the quarantine root, as the lake's file system names it
    apply_id: str
    deletions: dict[str, dict[str, Any]]  # table id -> the plan's deletion (recipe, versions, format)

    @property
    def area(self) -> str:
        return f"{self.quarantine.rstrip('/')}/{self.apply_id}"

    def location(self, table: str) -> str:
        return f"{self.lake.path.rstrip('/')}/{table}"

    def quarantined(self, table: str) -> str:
        return f"{self.area}/tables/{table}"


def quarantine_path(lake: Lake, given: str | None) -> str:
    """The quarantine root as the lake's file system names it: by default `.r2d2-quarantine` in the
    lake root; else a folder on the same storage (a local path, or a URI with the lake's scheme and
    bucket or container)."""
    if given is None:
        return f"{lake.path.rstrip('/')}/{QUARANTINE}"
    if lake.is_local:
        if is_uri(given):
            raise UsageError(f"quarantine {redact_uri(given)} is not on the lake's storage (a local folder)")
        return os.path.abspath(given)
    if not is_uri(given):
        raise UsageError(f"quarantine {given} must be a URI on the lake's storage, e.g. "
                         f"{urlsplit(lake.uri).scheme}://{urlsplit(lake.uri).netloc}/quarantine")
    lake_parts, parts = urlsplit(lake.uri), urlsplit(given)
    if (parts.scheme, parts.netloc) != (lake_parts.scheme, lake_parts.netloc):
        raise UsageError(f"quarantine {redact_uri(given)} is not on the lake's storage "
                         f"({lake_parts.scheme}://{lake_parts.netloc}): moves stay within one bucket or container")
    top = lake.path[: len(lake.path) - len(unquote(lake_parts.path).strip("/"))].rstrip("/")
    return f"{top}/{unquote(parts.path).strip('/')}".rstrip("/")


def check_quarantine(lake: Lake, quarantine: str, tables: list[str]) -> None:
    """Refuse a quarantine inside a table, around the lake, or visible to a scan of the lake."""
    q = quarantine.rstrip("/")
    root = lake.path.rstrip("/")
    for t in tables:
        loc = f"{root}/{t}"
        if q == loc or q.startswith(loc + "/"):
            raise UsageError(f"quarantine {q} is inside table {t}; choose a folder outside every table")
    if q == root or root.startswith(q + "/"):
        raise UsageError(f"quarantine {q} holds the lake root {root}; choose a folder beside or inside it")
    if q.startswith(root + "/"):
        below = q[len(root) + 1 :].split("/")
        if not all(part.startswith((".", "_")) for part in below):
            raise UsageError(f"quarantine {q} is inside the lake and visible to scans; name it with a leading "
                             "'.' or '_' (the default is .r2d2-quarantine) or put it outside the lake")


@contextmanager
def locked(folder: Path, command: str) -> Iterator[None]:
    """One apply, restore or purge per plan folder at a time. A lock left by a process that died is
    taken over (its journal says where it stopped)."""
    path = folder / LOCK
    me = f"{os.getpid()} {socket.gethostname()} {command}\n"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                pid_text, host, *rest = path.read_text(encoding="utf-8").split()
                pid = int(pid_text)
            except (OSError, ValueError):
                raise UsageError(f"{path} exists and is not r2d2's lock; remove it if no r2d2 runs") from None
            if host == socket.gethostname() and not _alive(pid):
                path.unlink(missing_ok=True)  # its owner died (kill -9, a crash): the journal takes over
                continue
            raise UsageError(f"another r2d2 {' '.join(rest)} (pid {pid} on {host}) is working on {folder}; "
                             f"wait for it to finish (or remove {path} if it is gone)") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(me)
        break
    else:
        raise UsageError(f"could not take the lock {path}")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _mirror(lake: Lake, area: str) -> Any:
    def write(data: bytes) -> None:
        lake.fs.create_dir(area, recursive=True)
        with lake.fs.open_output_stream(f"{area}/{JOURNAL}") as out:
            out.write(data)

    return write


# ---------------------------------------------------------------- loading a plan


def plan_file(path: Path) -> Path:
    return path / "plan.json" if path.is_dir() else path


def load_for_apply(plan_path: Path, quarantine: str | None, lake_check: str | None) -> Setting:
    """Read and cross-check the plan, its scan and any journal; nothing is moved by this."""
    from r2d2.documents import load_plan_doc, load_scan_doc

    path = plan_file(plan_path)
    plan = load_plan_doc(path)
    raw = path.read_bytes()
    plan_sha = hashlib.sha256(raw).hexdigest()
    if plan.lake.startswith("catalog:"):
        raise UsageError("apply does not move catalog tables yet (plans do not delete them)")
    if lake_check is not None and location(lake_uri(lake_check)) != location(plan.lake):
        raise UsageError(f"plan {path} is for lake {plan.lake}, not {redact_uri(lake_check)}")
    scan_path = Path(plan.scan)
    if not scan_path.is_file():
        scan_path = path.parent / "containment.json"
    if not scan_path.is_file():
        raise UsageError(f"the scan of plan {path} ({plan.scan}) is not there; apply checks every deletion "
                         "against it")
    scan, digest = load_scan_doc(scan_path)
    if plan.scan_sha256 is not None and digest != plan.scan_sha256:
        raise UsageError(f"{scan_path} is not the scan plan {path} was made from (its SHA-256 differs); "
                         "run `r2d2 plan` again")
    if scan.lake != plan.lake:
        raise UsageError(f"plan {path} is for lake {plan.lake} but its scan {scan_path} is of {scan.lake}")
    tables = {t.id: t for t in scan.tables}
    contained = {(e.parent, e.child) for e in scan.edges if e.status == "contained"}
    protected = {t["id"] for t in plan.tables if isinstance(t, dict) and t.get("protected") is True}
    deleted = [d.table for d in plan.deletions]
    deletions: dict[str, dict[str, Any]] = {}
    for d in plan.deletions:
        where = f"plan {path}: deletion of {d.table}"
        if (d.source, d.table) not in contained:
            raise UsageError(f"{where} from {d.source}: the scan did not find {d.table} contained in {d.source}")
        if d.table in deletions:
            raise UsageError(f"{where} is listed twice")
        if d.source in deleted:
            raise UsageError(f"{where}: its source {d.source} is deleted too")
        if d.table in protected:
            raise UsageError(f"{where}: the plan marks it protected")
        for table, given in ((d.table, d.table_version), (d.source, d.source_version)):
            recorded = tables[table].version
            if recorded is None:
                raise UsageError(f"{where}: the scan recorded no version of {table} (a scan by an older r2d2, or "
                                 "a catalog table); scan and plan again")
            if given is not None and given != recorded:
                raise UsageError(f"{where}: the plan's version of {table} is not the scan's (tampered plan?)")
        deletions[d.table] = {**d.model_dump(), "format": tables[d.table].format,
                              "table_version": tables[d.table].version, "source_version": tables[d.source].version}
    lake = open_lake(plan.lake)
    q = quarantine_path(lake, quarantine)
    check_quarantine(lake, q, list(tables))
    journal = Journal.load(path.parent / JOURNAL)
    begin = journal.begin
    apply_id = plan_sha[:16]
    if begin is not None:
        if getattr(begin, "plan_sha256", None) != plan_sha:
            raise UsageError(f"{journal.path} records another plan than {path} (it changed since apply began); "
                             "restore with that journal, or plan into a new folder")
        if quarantine is not None and getattr(begin, "quarantine", None) != q:
            raise UsageError(f"{journal.path} quarantines in {getattr(begin, 'quarantine', None)}, not {q}")
        q = str(begin.quarantine)  # type: ignore[attr-defined]
    return Setting(path.parent, journal, lake, q, apply_id, deletions)


def load_for_journal(given: Path) -> Setting:
    """restore and purge: everything comes from the journal (the plan may be gone)."""
    path = given / JOURNAL if given.is_dir() else given
    if not path.is_file():
        raise UsageError(f"no journal at {path}: nothing was applied from this plan (run `r2d2 apply` first)")
    journal = Journal.load(path)
    begin = journal.begin
    if begin is None:
        raise UsageError(f"journal {path} is empty: nothing was applied")
    try:
        uri, q, apply_id = str(begin.lake), str(begin.quarantine), str(begin.apply_id)  # type: ignore[attr-defined]
        deletions = {d["table"]: d for d in begin.deletions}  # type: ignore[attr-defined]
        for d in deletions.values():
            check_relative(d["table"], "journal table id")
            check_relative(d["source"], "journal source id")
        if apply_id != str(begin.plan_sha256)[:16]:  # type: ignore[attr-defined]
            raise ValueError("apply_id")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"journal {path}: its begin record is not apply's ({exc})") from exc
    lake = open_lake(uri)
    check_quarantine(lake, q, list(deletions))
    setting = Setting(path.parent, journal, lake, q, apply_id, deletions)
    _check_mirror(setting, path)
    return setting


def _check_mirror(setting: Setting, path: Path) -> None:
    """The quarantine a journal names must hold that journal's mirror, beginning with the same
    record: a journal edited to point elsewhere moves or deletes nothing."""
    mirror = f"{setting.area}/{JOURNAL}"
    with path.open("rb") as local:
        expected = local.readline().rstrip(b"\n")  # the begin record: every deletion, can pass 1 MiB
    try:
        with setting.lake.fs.open_input_stream(mirror) as f:
            first = f.read(len(expected) + 1)
    except OSError:
        first = b""
    if first not in (expected, expected + b"\n"):
        raise UsageError(f"journal {path} names the quarantine {setting.area}, which does not hold its mirror "
                         f"({JOURNAL} with the same first record); nothing was changed")


# ---------------------------------------------------------------- the commands


@dataclass
class Line:
    table: str
    verb: str  # what happened or would happen
    detail: str
    bytes: int = 0


def _bar(items: list[Any], desc: str, enabled: bool) -> Iterator[Any]:
    """The items, with the scan's progress bar over them on stderr when enabled (hashing and moving
    terabytes takes a while)."""
    from r2d2.pipeline import Progress

    with Progress(enabled).bar(desc, len(items)) as tick:
        for item in items:
            yield item
            tick()


def _begin(setting: Setting, plan_path: Path) -> None:
    if setting.journal.begin is not None:
        return
    raw = plan_path.read_bytes()
    setting.journal.append("begin", plan=str(plan_path), plan_sha256=hashlib.sha256(raw).hexdigest(),
                           lake=setting.lake.uri, quarantine=setting.quarantine, apply_id=setting.apply_id,
                           r2d2=__version__, deletions=list(setting.deletions.values()))


def _copy_plan_files(setting: Setting) -> None:
    """The plan and its key lists go beside the quarantine, so a purged table can be rebuilt even
    when the plan's folder is lost."""
    fs = setting.lake.fs
    fs.create_dir(f"{setting.area}/selections", recursive=True)
    for d in setting.deletions.values():
        sel = d["recipe"].get("selection")
        if sel and (setting.folder / sel).is_file():
            with fs.open_output_stream(f"{setting.area}/{sel}") as out:
                out.write((setting.folder / sel).read_bytes())


def finish_open(setting: Setting, states: dict[str, TableState]) -> list[Line]:
    """Finish every action a crash cut short (the journal has its intent but not its done)."""
    lines = []
    for table, s in sorted(states.items()):
        if s.open is None:
            continue
        r = s.open
        files = [f.model_dump() for f in r.manifest or []]
        if r.action == "quarantine":
            Mover(setting.lake, "apply").move(setting.location(table), setting.quarantined(table), files)
            setting.journal.append("done", table=table, action="quarantine", manifest=files, resumed=True)
        elif r.action == "restore":
            _restore_files(setting, table, files, hashes=True)
            setting.journal.append("done", table=table, action="restore", resumed=True)
        elif r.action == "rebuild":  # a rebuild that did not finish: start it over
            _rebuild_in_place(setting, table, resumed=True)
        elif r.action == "purge":
            _purge_files(setting, table, files)
            setting.journal.append("done", table=table, action="purge", resumed=True)
        lines.append(Line(table, f"finished {r.action}", "(cut short by an earlier run)"))
    return lines


def apply_plan(plan_path: Path, execute: bool, quarantine: str | None = None,
               lake_check: str | None = None, progress: bool = False) -> tuple[list[Line], Setting]:
    """Dry run (execute=False): what would move. Execute: move each deletion into the quarantine."""
    path = plan_file(plan_path)
    setting = load_for_apply(path, quarantine, lake_check)
    if not execute:
        return _apply_lines(setting, dry=True), setting
    with locked(setting.folder, "apply"):
        setting = load_for_apply(path, quarantine, lake_check)  # re-read under the lock
        setting.journal.mirror = _mirror(setting.lake, setting.area)
        _begin(setting, path)
        setting.journal.append("run", command="apply")
        _copy_plan_files(setting)
        lines = finish_open(setting, setting.journal.states())
        lines += _apply_lines(setting, dry=False, progress=progress)
    return lines, setting


def _apply_lines(setting: Setting, dry: bool, progress: bool = False) -> list[Line]:
    states = setting.journal.states()
    lines = []
    for table, d in _bar(sorted(setting.deletions.items()), "apply", progress):
        s = states.get(table, TableState(table))
        if s.state in ("quarantined", "purged"):
            lines.append(Line(table, s.state, f"since {s.since}"))
            continue
        if s.open is not None:
            lines.append(Line(table, "unfinished", f"{s.open.action} cut short; `apply --execute` finishes it"))
            continue
        changed, found = _changed(setting, table, d)
        if changed:
            lines.append(Line(table, "skip", changed))
            if not dry:
                setting.journal.append("skip", table=table, action="quarantine", reason=changed)
            continue
        src, dst = setting.location(table), setting.quarantined(table)
        size = sum(e.size for e in found)
        if dry:
            lines.append(Line(table, "would quarantine", f"{len(found)} files -> {dst}", size))
            continue
        try:
            files = manifest(setting.lake, found)
            if setting.lake.version(src) != d["table_version"]:
                raise ApplyError("it changed while being hashed")
        except (OSError, ApplyError) as exc:
            setting.journal.append("skip", table=table, action="quarantine", reason=f"cannot read it: {exc}")
            lines.append(Line(table, "skip", f"cannot read it: {exc}"))
            continue
        setting.journal.append("intent", table=table, action="quarantine", manifest=files,
                               source=d["source"], to=dst)
        fault("apply.intent")
        mover = Mover(setting.lake, "apply")
        try:
            mover.move(src, dst, files)
        except (OSError, ApplyError) as exc:
            try:
                if not (setting.lake.is_local and mover.renames(src, dst)):
                    mover.undo(src, dst, files)
            except (OSError, ApplyError) as undo_exc:
                raise ApplyError(f"moving {table} failed ({exc}) and so did putting it back ({undo_exc}); "
                                 f"run `r2d2 apply --execute` again to finish, or `r2d2 restore` to undo") from exc
            setting.journal.append("failed", table=table, action="quarantine", error=str(exc))
            lines.append(Line(table, "failed", f"{exc}; nothing moved"))
            continue
        setting.journal.append("done", table=table, action="quarantine", manifest=files)
        fault("apply.done")
        lines.append(Line(table, "quarantined", f"{len(files)} files -> {dst}", size))
    return lines


def _changed(setting: Setting, table: str, d: dict[str, Any]) -> tuple[str | None, list[Entry]]:
    """Why the table or its source is not as the scan saw it (None when both are), and the table's
    files as just listed."""
    files: list[Entry] = []
    for name, want, role in ((table, d["table_version"], "the table"),
                             (d["source"], d["source_version"], "its source")):
        loc = setting.location(name)
        try:
            if _exists(setting.lake.fs, loc) != pafs.FileType.Directory:
                return f"{role} {name} is gone", files
            now_version, listed = setting.lake.listing(loc)
        except OSError as exc:
            return f"cannot list {role} {name}: {exc}", files
        if now_version != want:
            return f"{role} {name} changed since the scan (version {want} -> {now_version})", files
        files = files or listed
    return None, files


def _restore_files(setting: Setting, table: str, files: list[dict[str, Any]], hashes: bool) -> None:
    """Move a table back and check it: names and sizes always; the bytes too when `hashes` (a
    restore cut short; a whole one checked the bytes in the quarantine before moving)."""
    mover = Mover(setting.lake, "restore")
    mover.move(setting.quarantined(table), setting.location(table), files)
    mover.check(setting.location(table), files, hashes=hashes)


def restore(given: Path, tables: list[str], execute: bool, progress: bool = False) -> tuple[list[Line], Setting]:
    """Put quarantined tables back (all, or those named); purged ones are rebuilt from their recipe."""
    setting = load_for_journal(given)
    unknown = [t for t in tables if t not in setting.deletions]
    if unknown:
        raise UsageError(f"{unknown[0]} is not in journal {setting.journal.path} (its tables: "
                         f"{', '.join(sorted(setting.deletions)[:5])})")
    if not execute:
        return _restore_lines(setting, tables, dry=True), setting
    with locked(setting.folder, "restore"):
        setting = load_for_journal(given)
        setting.journal.mirror = _mirror(setting.lake, setting.area)
        setting.journal.append("run", command="restore", tables=tables)
        lines = finish_open(setting, setting.journal.states())
        lines += _restore_lines(setting, tables, dry=False, progress=progress)
    return lines, setting


def _restore_lines(setting: Setting, only: list[str], dry: bool, progress: bool = False) -> list[Line]:
    lines = []
    for table, s in _bar(sorted(setting.journal.states().items()), "restore", progress):
        if only and table not in only:
            continue
        if s.open is not None:
            lines.append(Line(table, "unfinished", f"{s.open.action} cut short; `restore --execute` finishes it first"))
            continue
        if s.state not in ("quarantined", "purged"):
            continue
        loc = setting.location(table)
        if _exists(setting.lake.fs, loc) != pafs.FileType.NotFound and setting.lake.walk(loc):
            reason = f"{loc} holds files again; restore will not overwrite them"
            lines.append(Line(table, "skip", reason))
            if not dry:
                setting.journal.append("skip", table=table, action="restore", reason=reason)
            continue
        size = sum(f["size"] for f in s.manifest)
        if s.state == "purged":
            if dry:
                lines.append(Line(table, "would rebuild", f"from {setting.deletions[table]['source']} (purged)"))
            else:
                rows = _rebuild_in_place(setting, table)
                lines.append(Line(table, "rebuilt", f"{rows} rows from {setting.deletions[table]['source']}"))
            continue
        if dry:
            lines.append(Line(table, "would restore", f"{len(s.manifest)} files -> {loc}", size))
            continue
        try:  # every byte checked where it lies, before anything moves back
            Mover(setting.lake, "restore").check(setting.quarantined(table), s.manifest, hashes=True)
        except (OSError, ApplyError) as exc:
            reason = f"the quarantined copy is not as it was quarantined: {exc}; left in the quarantine"
            setting.journal.append("skip", table=table, action="restore", reason=reason)
            lines.append(Line(table, "failed", reason))
            continue
        setting.journal.append("intent", table=table, action="restore", manifest=s.manifest)
        fault("restore.intent")
        _restore_files(setting, table, s.manifest, hashes=False)
        setting.journal.append("done", table=table, action="restore")
        fault("restore.done")
        lines.append(Line(table, "restored", f"{len(s.manifest)} files, byte-identical -> {loc}", size))
    return lines


def _rebuild_in_place(setting: Setting, table: str, resumed: bool = False) -> int:
    """A purged table rebuilt from its recipe at its own location, checked against the recorded
    fingerprint before it is written (Parquet, or Delta for a Delta table)."""
    d = setting.deletions[table]
    rebuilt = rebuild_rows(setting, table)
    loc = setting.location(table)
    setting.journal.append("intent", table=table, action="rebuild", rows=rebuilt.num_rows, **(
        {"resumed": True} if resumed else {}))
    fs = setting.lake.fs
    if _exists(fs, loc) == pafs.FileType.Directory:  # a rebuild cut short: only r2d2's own file is there
        fs.delete_dir(loc)
    if d.get("format") == "delta":
        from deltalake import write_deltalake

        write_deltalake(setting.lake.table_uri(loc), rebuilt, storage_options=setting.lake.storage_options() or None)
    else:
        import pyarrow.parquet as pq

        fs.create_dir(loc, recursive=True)
        with fs.open_output_stream(f"{loc}/part-00000.parquet") as out:
            pq.write_table(rebuilt, out)
    fault("rebuild.written")
    setting.journal.append("done", table=table, action="rebuild", rows=rebuilt.num_rows)
    return rebuilt.num_rows


def _selection_file(setting: Setting, recipe: dict[str, Any]) -> Path | None:
    sel = recipe.get("selection")
    if not sel:
        return None
    from r2d2.storage.paths import confine

    local = confine(setting.folder, sel, "selection file")
    if local.is_file():
        return local
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".parquet")
    with os.fdopen(fd, "wb") as out, setting.lake.fs.open_input_stream(f"{setting.area}/{sel}") as src:
        out.write(src.read())
    return Path(tmp)


def rebuild_rows(setting: Setting, table: str) -> Any:
    """The table rebuilt from its source with its recipe, checked against the recipe's fingerprint."""
    import duckdb
    import pyarrow as pa

    from r2d2.plan import TableSource
    from r2d2.recipe import recipe_connection, run_recipe, schema_from_recipe, table_fingerprint

    d = setting.deletions[table]
    recipe = d["recipe"]
    schema = schema_from_recipe(recipe["arrow_schema"])
    source = TableSource(setting.lake.uri)
    con = recipe_connection()
    try:
        rebuilt = run_recipe(con, source.lake, source.profile(d["source"]), recipe["sql"], schema,
                             _selection_file(setting, recipe))
        got = table_fingerprint(con, rebuilt, schema)
    except (duckdb.Error, pa.ArrowException) as exc:
        raise ApplyError(f"rebuilding {table} from {d['source']} failed: {exc}") from exc
    finally:
        con.close()
    if got != recipe["fingerprint"]:
        raise ApplyError(f"{table} rebuilt from {d['source']} has fingerprint {got}, not the recorded "
                         f"{recipe['fingerprint']}: {d['source']} changed, so {table} cannot be rebuilt")
    return rebuilt


def quarantined_fingerprint(setting: Setting, table: str) -> str:
    """The fingerprint of the rows of the quarantined copy itself (read from the quarantine)."""
    from r2d2.config import ScanConfig
    from r2d2.discover import discover_tables
    from r2d2.profile import profile_tables
    from r2d2.recipe import recipe_connection, schema_from_recipe, table_fingerprint
    from r2d2.storage.reader import read_rows

    schema = schema_from_recipe(setting.deletions[table]["recipe"]["arrow_schema"])
    q = Lake(uri=setting.lake.uri, fs=setting.lake.fs, path=f"{setting.area}/tables", options=setting.lake.options)
    refs = {r.id: r for r in discover_tables(q)[0]}
    if table not in refs:
        raise ApplyError(f"the quarantined copy of {table} is not in {setting.area}/tables")
    profile = profile_tables(q, [refs[table]], ScanConfig(workers=1))[0]
    if profile.error:
        raise ApplyError(f"the quarantined copy of {table} cannot be read: {profile.error}")
    rows = read_rows(q, profile, schema.names, native=True)
    con = recipe_connection()
    try:
        return table_fingerprint(con, rows.rename_columns(schema.names).cast(schema), schema)
    finally:
        con.close()


def _purge_files(setting: Setting, table: str, files: list[dict[str, Any]]) -> None:
    fs = setting.lake.fs
    folder = setting.quarantined(table)
    for f in files:
        p = f"{folder}/{f['path']}"
        if _exists(fs, p) == pafs.FileType.File:
            fs.delete_file(p)
            fault("purge.deleted")
    if _exists(fs, folder) == pafs.FileType.Directory:
        Mover(setting.lake, "purge")._remove_empty(folder)


def purge(given: Path, older_than_days: float, execute: bool,
          clock: dt.datetime | None = None, progress: bool = False) -> tuple[list[Line], Setting]:
    """Delete quarantined tables quarantined more than `older_than_days` ago, each only after a
    rebuild from its source reproduces the quarantined rows."""
    if older_than_days < 0:
        raise UsageError("--older-than must be 0 or more days")
    setting = load_for_journal(given)
    if not execute:
        return _purge_lines(setting, older_than_days, clock, dry=True), setting
    with locked(setting.folder, "purge"):
        setting = load_for_journal(given)
        setting.journal.mirror = _mirror(setting.lake, setting.area)
        setting.journal.append("run", command="purge", older_than_days=older_than_days)
        lines = finish_open(setting, setting.journal.states())
        lines += _purge_lines(setting, older_than_days, clock, dry=False, progress=progress)
    return lines, setting


def _purge_lines(setting: Setting, days: float, clock: dt.datetime | None, dry: bool,
                 progress: bool = False) -> list[Line]:
    now_at = clock or dt.datetime.now(dt.timezone.utc)
    lines = []
    for table, s in _bar(sorted(setting.journal.states().items()), "purge", progress):
        if s.state != "quarantined" or s.open is not None:
            continue
        age = now_at - dt.datetime.fromisoformat(str(s.since))
        size = sum(f["size"] for f in s.manifest)
        if age < dt.timedelta(days=days):
            lines.append(Line(table, "kept", f"quarantined {age.days} days ago, retention {days:g} days"))
            continue
        try:
            Mover(setting.lake, "purge").check(setting.quarantined(table), s.manifest, hashes=not dry)
            if dry:
                source = setting.deletions[table]["source"]
                lines.append(Line(table, "would purge", f"after rebuilding it from {source} and comparing", size))
                continue
            rebuilt = rebuild_rows(setting, table)
            kept = quarantined_fingerprint(setting, table)
            if kept != setting.deletions[table]["recipe"]["fingerprint"]:
                raise ApplyError(f"the quarantined rows have fingerprint {kept}, not the recipe's; "
                                 "the recipe does not rebuild this table")
        except (OSError, ApplyError, R2D2Error) as exc:
            lines.append(Line(table, "kept", f"cannot purge: {exc}"))
            if not dry:
                setting.journal.append("skip", table=table, action="purge", reason=str(exc))
            continue
        setting.journal.append("intent", table=table, action="purge", manifest=s.manifest,
                               verified_rows=rebuilt.num_rows)
        fault("purge.intent")
        _purge_files(setting, table, s.manifest)
        setting.journal.append("done", table=table, action="purge")
        lines.append(Line(table, "purged", f"rebuilt and compared first ({rebuilt.num_rows} rows)", size))
    return lines


def summary(command: str, lines: list[Line], setting: Setting, execute: bool) -> str:
    from r2d2.report import size as human

    out = []
    width = max((len(line.table) for line in lines), default=10)
    for line in lines:
        size = f" ({human(line.bytes)})" if line.bytes else ""
        out.append(f"  {line.verb:<17} {line.table:<{width}}  {line.detail}{size}")
    moved = [line for line in lines if line.verb in MOVED]
    total = sum(line.bytes for line in moved)
    head = {"apply": "frees", "restore": "puts back", "purge": "deletes"}[command]
    if execute:
        out.append(f"r2d2 {command}: {len(moved)} table(s), {human(total)}; journal {setting.journal.path}")
    else:
        out.append(f"r2d2 {command} (dry run): {head} {human(total)} in {len(moved)} table(s); nothing was changed. "
                   f"Run again with --execute to do it.")
    if not lines:
        out.insert(0, "  nothing to do")
    return "\n".join(out)


def states_for_report(folder: Path) -> dict[str, TableState]:
    """What the journal in a plan folder says of each table (empty when nothing was applied)."""
    path = folder / JOURNAL
    return Journal.load(path).states() if path.exists() else {}
