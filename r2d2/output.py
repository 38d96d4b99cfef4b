"""The scan's outputs: `containment.json` exactly as DESIGN §4, the schema graph as GraphML with
each edge's final verdict, and the one-screen summary."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import networkx as nx

from r2d2.errors import UsageError
from r2d2.model import CONTAINED, ScanResult, TableProfile
from r2d2.storage.paths import is_uri, redact_uri, refuse_inside_lake

FORMAT_VERSION = 1


def table_json(p: TableProfile) -> dict[str, Any]:
    return {"id": p.id, "format": p.format, "rows": p.rows, "bytes": p.bytes, "files": len(p.files),
            "columns": [{"name": c.name, "type": str(c.type), "bytes": p.column_bytes.get(c.name, 0)}
                        for c in p.columns], "reader": p.reader, "statistics": p.statistics, "version": p.version,
            "error": p.error}


def result_json(result: ScanResult) -> dict[str, Any]:
    """containment.json's document; its tables as an iterator (each made as json_pieces writes it)."""
    return {
        "version": FORMAT_VERSION,
        "lake": result.lake,
        "semantics": result.semantics,
        "tables": (table_json(p) for p in sorted(result.tables, key=lambda t: t.id)),
        "run": result.run,
        "incremental_from": result.previous_run,  # null for a full scan
        "edges": [{"parent": e.parent, "child": e.child, "status": e.status, "stage": e.stage, "reason": e.reason,
                   "run": e.run} for e in sorted(result.edges, key=lambda e: (e.parent, e.child))],
        "stages": [{"name": s.name, "pairs_in": s.pairs_in, "pairs_out": s.pairs_out, "seconds": s.seconds,
                    "bytes_read": s.bytes_read, "bytes_spared": s.bytes_spared, "seconds_spared": s.seconds_spared}
                   for s in result.stages],
        "warnings": list(result.warnings),  # what discover passed over (links, odd folders)
    }


_CHUNK = 1000  # items of a list dumped at a time in compact JSON
_SPACED = json.JSONEncoder(ensure_ascii=False)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumper(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """encoder.encode, without the encoder `encode` makes anew for every call (a third of the time
    of dumping a document's thousands of small items one at a time), where json has its C encoder."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    try:
        one = make(None, encoder.default, json.encoder.encode_basestring, None, encoder.key_separator,
                   encoder.item_separator, False, False, True)
    except TypeError:  # another signature than CPython's: the public way
        return encoder.encode
    return lambda value: "".join(one(value, 0))


_DUMP_SPACED, _DUMP_COMPACT = _dumper(_SPACED), _dumper(_COMPACT)


def json_pieces(doc: dict[str, Any], compact: bool = False) -> Iterator[str]:
    """A document's JSON text in pieces, one line per top-level key and per item of a top-level
    list: as easy to read and diff as indented JSON for a document of thousands of edges, and
    written by json's C encoder (indented output goes through its pure-Python one, several times
    slower); `compact`: no spaces or line breaks. A top-level list may come as an iterator: each
    item is then made, dumped and dropped in turn, so that a document of thousands of tables is
    never whole in memory, as objects or as text."""
    dump = _DUMP_COMPACT if compact else _DUMP_SPACED
    comma, opening, between, closing = (",", "[", ",", "]") if compact else (",\n", "[\n    ", ",\n    ", "\n  ]")
    yield "{" if compact else "{\n"
    for number, (key, value) in enumerate(doc.items()):
        yield (comma if number else "") + (f"{dump(key)}:" if compact else f"  {dump(key)}: ")
        if compact and isinstance(value, list):  # a list already made: in chunks, not a call per item
            yield "["
            for start in range(0, len(value), _CHUNK):
                yield ("," if start else "") + dump(value[start:start + _CHUNK])[1:-1]
            yield "]"
        elif isinstance(value, (list, Iterator)):
            empty = True
            for item in value:
                yield (opening if empty else between) + dump(item)
                empty = False
            yield "[]" if empty else closing
        else:
            yield dump(value)
    yield "}" if compact else "\n}\n"


def write_atomic(path: Path, text: str | bytes | Iterable[str]) -> None:
    """Write next to the target and rename, so a reader never sees half a file, and a failure (a
    full disk) leaves neither half a file nor a hidden temporary one. The file gets the usual
    permissions (mkstemp alone would make it private to its owner). Text may come in pieces
    (written as they come: never whole in memory)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(text, (str, bytes)):
                handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            else:
                for piece in text:
                    handle.write(piece.encode("utf-8"))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_output(out: Path | str, lake: str) -> None:
    """Before any work: refuse an output inside the lake root, create the folder and prove it is
    writable, so a scan never runs for an hour to fail at its last step."""
    refuse_inside_lake(lake, out, "output folder")
    try:
        if isinstance(out, str) and is_uri(out):
            import pyarrow.fs as pafs

            fs, root = pafs.FileSystem.from_uri(out)
            fs.create_dir(root, recursive=True)
            probe = f"{root.rstrip('/')}/.r2d2-write-check"
            with fs.open_output_stream(probe) as sink:
                sink.write(b"")
            fs.delete_file(probe)
            return
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".r2d2-write-check.")
        os.close(fd)
        os.unlink(tmp)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write to the output folder {redact_uri(str(out))}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from exc


def write_outputs(result: ScanResult, graph: nx.DiGraph, out: Path | str) -> None:
    """Write containment.json and containment.graphml to a folder, or to a URI (s3://…, abfss://…)
    through pyarrow's file systems."""
    if isinstance(out, str) and is_uri(out):
        import shutil

        import pyarrow.fs as pafs

        local = Path(tempfile.mkdtemp(prefix="r2d2-out-"))
        try:
            write_outputs(result, graph, local)
            fs, root = pafs.FileSystem.from_uri(out)
            fs.create_dir(root, recursive=True)
            for name in ("containment.json", "containment.graphml"):
                with fs.open_output_stream(f"{root.rstrip('/')}/{name}") as sink:
                    sink.write((local / name).read_bytes())
        finally:
            shutil.rmtree(local, ignore_errors=True)
        return
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "containment.json", json_pieces(result_json(result)))
    write_atomic(out_dir / "containment.graphml", graphml(graph, result))


_GRAPHML_KEYS = (("d0", "node", "format", "string"), ("d1", "node", "rows", "long"),
                 ("d2", "node", "bytes", "long"), ("d3", "edge", "columns", "long"),
                 ("d4", "edge", "status", "string"), ("d5", "edge", "stage", "string"),
                 ("d6", "edge", "reason", "string"))


def graphml(graph: nx.DiGraph, result: ScanResult) -> str:
    """The schema graph with each edge's verdict, as GraphML (what networkx writes and reads; written
    directly, as networkx's writer takes seconds on a graph of this size)."""
    edges = {(e.parent, e.child): e for e in result.edges}
    lines = ['<?xml version=\'1.0\' encoding=\'utf-8\'?>',
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation='
             '"http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">']
    lines += [f'  <key id="{k}" for="{kind}" attr.name="{name}" attr.type="{kind_type}" />'
              for k, kind, name, kind_type in _GRAPHML_KEYS]
    lines.append('  <graph edgedefault="directed">')
    # each table's id is quoted once, however many edges it has; numbers need no escaping
    quoted = {str(node): quoteattr(str(node)) for node in graph.nodes}

    def text(value: Any) -> str:
        return str(value) if isinstance(value, int) else escape(str(value))

    node_keys = [(k, name) for k, kind, name, _ in _GRAPHML_KEYS if kind == "node"]
    edge_keys = [(k, name) for k, kind, name, _ in _GRAPHML_KEYS if kind == "edge"]
    edge_key = {name: k for k, name in edge_keys}
    columns, status, stage, reason = (f'      <data key="{edge_key[name]}">'
                                      for name in ("columns", "status", "stage", "reason"))

    def element(opening: str, closing: str, keys: list[tuple[str, str]], values: Any) -> str:
        return "\n".join([opening, *(f'      <data key="{k}">{text(values[name])}</data>'
                                      for k, name in keys if name in values), closing])

    for node, data in graph.nodes(data=True):
        lines.append(element(f"    <node id={quoted[str(node)]}>", "    </node>", node_keys, data))
    for parent, child, data in graph.edges(data=True):
        opening = f"    <edge source={quoted[str(parent)]} target={quoted[str(child)]}>"
        edge = edges.get((parent, child))
        if edge is not None and len(data) == 1 and type(data.get("columns")) is int:  # every edge of a scan: at once
            lines.append(f'{opening}\n{columns}{data["columns"]}</data>\n{status}{escape(str(edge.status))}</data>\n'
                         f'{stage}{escape(str(edge.stage))}</data>\n{reason}{escape(str(edge.reason))}</data>\n'
                         '    </edge>')
            continue
        values = dict(data)
        if edge is not None:
            values.update(status=edge.status, stage=edge.stage, reason=edge.reason)
        lines.append(element(opening, "    </edge>", edge_keys, values))
    lines += ["  </graph>", "</graphml>"]
    return "\n".join(lines) + "\n"


def summary(result: ScanResult, out_dir: Path | None) -> str:
    """The one-screen summary printed at the end of a scan."""
    tables = result.tables
    lake_bytes = sum(t.bytes for t in tables)
    errors = [t for t in tables if t.error]
    statuses = Counter(e.status for e in result.edges)
    lines = [
        f"r2d2 scan of {result.lake} ({result.semantics} semantics)",
        f"  tables   {len(tables)} ({size_text(lake_bytes)}), {len(errors)} with errors, "
        f"{sum(1 for t in tables if not t.error and t.rows == 0)} empty",
        f"  pairs    {len(result.edges)} schema-compatible: {statuses[CONTAINED]} contained, "
        f"{statuses['not_contained']} not contained, {statuses['unknown']} unknown",
        "  stage      pairs in → out     seconds   bytes read",
    ]
    if result.previous_run:
        carried = sum(1 for e in result.edges if e.run != result.run)
        lines.insert(3, f"  since    run {result.previous_run} (incremental): {carried} of {len(result.edges)} "
                     "verdicts carried over, the rest decided now (--full rescans everything)")
    for s in result.stages:
        share = f" ({100 * s.bytes_read / lake_bytes:.2f}% of lake)" if lake_bytes else ""
        spared = f"; spared verify {size_text(s.bytes_spared)} (~{s.seconds_spared:.2f} s)" if s.bytes_spared else ""
        lines.append(f"  {s.name:<9}{s.pairs_in:>9} → {s.pairs_out:<8}{s.seconds:>9.2f}   "
                     f"{size_text(s.bytes_read)}{share}{spared}")
    parents: dict[str, list[str]] = {}
    for e in result.edges:
        if e.status == CONTAINED:
            parents.setdefault(e.child, []).append(e.parent)
    if parents:
        size = {t.id: t.bytes for t in tables}
        lines.append(f"  {len(parents)} tables are contained in another; the largest (child ⊆ parent):")
        for child in sorted(parents, key=lambda c: (-size.get(c, 0), c))[:5]:
            more = f" and {len(parents[child]) - 1} more" if len(parents[child]) > 1 else ""
            lines.append(f"    {child} ⊆ {sorted(parents[child])[0]}{more}  [{size_text(size.get(child, 0))}]")
    for t in errors[:5]:
        lines.append(f"  error    {t.id}: {t.error}")
    if len(errors) > 5:
        lines.append(f"  … and {len(errors) - 5} more tables with errors (see containment.json)")
    for w in result.warnings:
        lines.append(f"  warning  {w}")
    if out_dir is not None:
        lines.append(f"  output   {redact_uri(str(out_dir)).rstrip('/')}/containment.json (and containment.graphml)")
    return "\n".join(lines)


def size_text(n: float) -> str:
    """Bytes as a person reads them (decimal units): the summary, the report and apply all use it."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"
