"""Stage 0, discover: find the tables of a lake (DESIGN §1).

A folder holding `_delta_log/` is a Delta table. Otherwise a folder whose data files are Parquet,
directly or under Hive partition folders (`key=value/`), is one Parquet table. Names starting with
`_` or `.` are not data. Folders that are neither are walked into. What cannot be a table (mixed
formats, inconsistent partition folders, non-Parquet files only) is still listed, with an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from r2d2.errors import LakeNotFoundError
from r2d2.partition import parse_partition_folder, partition_folder_problem
from r2d2.storage import Entry, Lake
from r2d2.storage.paths import unsafe_name

PARQUET_SUFFIXES = (".parquet", ".parq", ".pqt")


@dataclass
class TableRef:
    """A table found by listing: where it is, what format, which files (Parquet only; Delta files
    come from the log), and the Hive partition values of each file as raw strings."""

    id: str
    format: str
    location: str
    files: list[Entry] = field(default_factory=list)
    partitions: list[dict[str, str | None]] = field(default_factory=list)
    error: str | None = None
    links: list[str] = field(default_factory=list)  # symbolic links met inside the table's folders
    # (version, files) of the table's folder when the scan already listed it (Lake.listing), so
    # that profiling does not list it again
    listing: tuple[str, list[Entry]] | None = None


def is_hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def discover_tables(lake: Lake) -> tuple[list[TableRef], list[str]]:
    """Every table under the lake root, sorted by id, and warnings about what was passed over.

    The walk keeps its own stack (a lake may nest folders thousands deep). Raises
    LakeNotFoundError when the root itself is a Delta table or cannot be listed."""
    tables: list[TableRef] = []
    warnings: list[str] = []
    stack = [lake.path]
    while stack:
        stack.extend(reversed(_visit(lake, stack.pop(), tables, warnings)))
    return sorted(tables, key=lambda t: t.id), warnings


def _visit(lake: Lake, path: str, tables: list[TableRef], warnings: list[str]) -> list[str]:
    """Look at one folder: record the table it is, or return the sub-folders to walk into."""
    table_id = lake.relative(path)
    if unsafe_name(table_id):  # its id would carry the character into outputs, plans and terminals
        warnings.append(f"skipped folder {table_id!r}: its name holds a control character or a backslash, "
                        "which r2d2 does not put in a table id")
        return []
    links: list[str] = []
    listed = time.time_ns()
    try:
        entries = lake.list_dir(path, links)
    except OSError as exc:
        if not table_id:
            raise LakeNotFoundError(f"lake root {lake.uri} cannot be listed: {exc}") from exc
        tables.append(TableRef(table_id, "unknown", path, error=f"cannot list folder: {exc}"))
        return []
    if any(e.is_dir and e.name == "_delta_log" for e in entries):
        if not table_id:
            raise LakeNotFoundError(f"lake root {lake.uri} is itself a Delta table; point r2d2 at the folder "
                                    "that holds the tables")
        tables.append(TableRef(table_id, "delta", path))
        return []
    visible = [e for e in entries if not is_hidden(e.name)]
    files = [e for e in visible if not e.is_dir]
    partition_dirs = [e for e in visible if e.is_dir and parse_partition_folder(e.name)]
    other_dirs = [e for e in visible if e.is_dir and not parse_partition_folder(e.name)]
    if files or partition_dirs:
        if not table_id:
            warnings.append(f"{len(files)} file(s) directly in the lake root are not in a table folder; skipped")
        else:
            ref = _parquet_table(lake, table_id, path, files, partition_dirs)
            if not links and not any(e.is_dir for e in entries):
                # a flat folder: this listing is the table's whole listing (Lake.listing), which
                # profile would otherwise fetch again (on an object store, one more LIST a table)
                flat = [e for e in entries if not e.is_dir]
                ref.listing = (lake.folder_version(flat, listed), flat)
            tables.append(ref)
            ref_links = links + ref.links
            if ref_links:  # the table would silently lose what the link holds
                problem = (f"holds symbolic link {lake.relative(ref_links[0])}, which r2d2 does not follow; "
                           "its rows would be incomplete")
                ref.error = f"{ref.error}; {problem}" if ref.error else problem
            return [sub.path for sub in other_dirs]
    for link in links:
        warnings.append(f"skipped symbolic link {lake.relative(link) or link}: r2d2 does not follow links")
    return [sub.path for sub in other_dirs]


def _parquet_table(lake: Lake, table_id: str, path: str, files: list[Entry],
                   partition_dirs: list[Entry]) -> TableRef:
    ref = TableRef(table_id, "parquet", path)
    found: list[tuple[Entry, dict[str, str | None]]] = [(f, {}) for f in files]
    problems: list[str] = []
    if files and partition_dirs:
        problems.append(f"holds both data files ({files[0].name}) and partition folders ({partition_dirs[0].name})")
    for d in partition_dirs:
        _collect_partition(lake, d, {}, found, problems, ref.links)
    found.sort(key=lambda fp: fp[0].path)
    is_data = [_is_data(lake, f) for f, _ in found]  # once: an extensionless file costs a read
    data = [fp for fp, yes in zip(found, is_data) if yes]
    other = [f for (f, _), yes in zip(found, is_data) if not yes]
    key_sets = {tuple(p) for _, p in data}
    if len(key_sets) > 1:
        problems.append("partition folders nest inconsistently: " + " vs ".join("/".join(k) or "(none)"
                                                                                 for k in sorted(key_sets)))
    if other and data:
        problems.append(f"mixed formats: {other[0].name} beside Parquet files; r2d2 reads Parquet and Delta")
    elif other:
        problems.append(f"holds no Parquet data files (found {other[0].name}"
                        f"{f' and {len(other) - 1} more' if len(other) > 1 else ''})")
    if problems:
        ref.error = "; ".join(problems)
    ref.files = [f for f, _ in data]
    ref.partitions = [p for _, p in data]
    return ref


def _is_data(lake: Lake, entry: Entry) -> bool:
    """A Parquet data file: named so, or extensionless (Hive) and ending with Parquet's magic."""
    lower = entry.name.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return True
    if "." in entry.name:
        return False
    try:
        return lake.is_parquet(entry.path, entry.size)
    except OSError:
        return True  # unreadable: profile reports it, naming the file


def _collect_partition(lake: Lake, top: Entry, values: dict[str, str | None],
                       found: list[tuple[Entry, dict[str, str | None]]], problems: list[str],
                       links: list[str]) -> None:
    """Every file under partition folder `top`, with its partition values (an explicit stack:
    partition folders may nest deeply)."""
    stack = [(top, values)]
    while stack:
        folder, above = stack.pop()
        parsed = parse_partition_folder(folder.name)
        if parsed is None:  # only partition folders are stacked
            continue
        problem = partition_folder_problem(folder.name)
        if problem:
            problems.append(problem)
            continue
        key, value = parsed
        here = {**above, key: value}
        try:
            entries = lake.list_dir(folder.path, links)
        except OSError as exc:
            problems.append(f"cannot list {folder.path}: {exc}")
            continue
        for e in reversed(entries):
            if is_hidden(e.name):
                continue
            if not e.is_dir:
                found.append((e, here))
            elif parse_partition_folder(e.name):
                stack.append((e, here))
            else:
                problems.append(f"folder {e.name} inside partition folder {folder.name} is not key=value")
