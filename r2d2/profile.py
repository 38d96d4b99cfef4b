"""Profile: what footers and Delta logs say about each table (DESIGN §3, profile) — schema, rows,
bytes, per-column compressed bytes and min/max/null counts, per row group (Parquet) or per file
(Delta). Never reads a data page.

Partition keys become columns typed the way Spark infers them (see `r2d2.partition`).
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs

from r2d2.arrays import cast_value, constant_array, imported_table
from r2d2.config import ScanConfig
from r2d2.discover import TableRef
from r2d2.errors import TableReadError, concise
from r2d2.model import NESTED, Column, ColumnStats, DataFile, Fragment, TableProfile, family_of, name_key
from r2d2.parallel import each
from r2d2.partition import infer_partition_type, parse_partition_value
from r2d2.stats import (
    arrow_to_keys,
    constant_stats,
    delta_column_stats,
    parquet_column_stats,
    table_stats,
)
from r2d2.storage import Lake
from r2d2.storage.reader import leaf_ranges


def _partition_key(value: Any, dtype: pa.DataType) -> Any:
    return arrow_to_keys(constant_array(value, dtype, 1))[0]


def profile_tables(lake: Lake, refs: list[TableRef], config: ScanConfig,
                   progress: Callable[[], None] | None = None) -> list[TableProfile]:
    """Profile every table, on up to `config.workers` threads; a table that cannot be read gets an error."""

    def one(ref: TableRef) -> TableProfile:
        # Taken before anything is read: a write during the scan leaves the recorded version behind
        # the table's, so `apply` skips the table rather than trust a verdict on other rows.
        try:
            version, files = (None, []) if ref.error else ref.listing or lake.listing(ref.location)
        except OSError:
            version, files = None, []
        profile = _profile_one(ref)
        if profile.error is None and version is not None:
            profile.version = version
            profile.listing = [(e.name, e.size, e.mtime_ns) for e in files]
        return profile

    def _profile_one(ref: TableRef) -> TableProfile:
        try:
            if ref.error:
                return TableProfile(ref.id, ref.format, ref.location, error=ref.error)
            if ref.format == "delta":
                return profile_delta(lake, ref, config)
            return profile_parquet(lake, ref, config)
        except TableReadError as exc:
            return TableProfile(ref.id, ref.format, ref.location, error=str(exc))
        except Exception as exc:  # a table must never stop the scan of the rest
            return TableProfile(ref.id, ref.format, ref.location,
                                error=f"cannot profile: {type(exc).__name__}: {exc}")
        finally:
            if progress:
                progress()

    # Profiling is mostly Python (footers parsed, statistics decoded): on a local disk one thread
    # is fastest; threads join where fetching footers is most of the time (see parallel.each).
    return each(one, refs, config.workers, waited=lambda: lake.counter.waited)


def check_column_names(table_id: str, names: list[str]) -> None:
    """A table whose columns Spark could not tell apart (the same name twice, or names equal but for
    letter case) cannot take part in case-insensitive matching: it carries an error."""
    if len({name_key(name) for name in names}) == len(names):  # most tables: nothing to report
        return
    counts = Counter(names)
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name_key(name), name)
        if counts[name] > 1:
            raise TableReadError(f"column {name} appears {counts[name]} times", table=table_id)
        if other != name:
            raise TableReadError(f"columns {other} and {name} differ only by letter case; r2d2 matches names "
                                 "case-insensitively, as Spark does, and cannot tell them apart", table=table_id)


def _finish(profile: TableProfile, metas: list[tuple[int, Any]], schema: pa.Schema,
            partition_types: dict[str, pa.DataType], config: ScanConfig,
            file_schemas: list[pa.Schema] | None = None) -> TableProfile:
    """Fill columns, row-group fragments and merged stats from Parquet footers (file index, meta),
    given each footer's Arrow schema when the caller has it already (converting one costs as much
    as decoding a small file's statistics)."""
    data_fields = list(schema)
    profile.columns = [Column(f.name, f.type) for f in data_fields]
    profile.columns += [Column(name, t) for name, t in partition_types.items()]
    profile.partition_columns = list(partition_types)
    check_column_names(profile.id, [c.name for c in profile.columns])
    column_bytes = dict.fromkeys((c.name for c in profile.columns), 0)
    nested = {f.name for f in data_fields if family_of(f.type) == NESTED}
    # columns that may read as dictionaries: plain string and binary types, in every file, and
    # dictionary-encoded in every chunk seen so far
    encoded = {f.name for f in data_fields if f.type in DICTIONARY_TYPES}
    truncation = config.stats_truncation_bytes
    for number, (file_index, meta) in enumerate(metas):
        leaves = leaf_ranges(file_schemas[number] if file_schemas is not None else meta.schema.to_arrow_schema())
        datafile = profile.files[file_index]
        constants = {name: _partition_key(datafile.partition.get(name), ptype)
                     for name, ptype in partition_types.items()}
        for rg_index in range(meta.num_row_groups):
            rg = meta.row_group(rg_index)
            stats: dict[str, ColumnStats] = {}
            for f in data_fields:
                name = f.name
                if name not in leaves:  # a column missing from this file reads as NULL
                    stats[name] = ColumnStats(null_count=rg.num_rows)
                    encoded.discard(name)
                    continue
                first, count, ftype = leaves[name]
                if count == 1 and name not in nested:  # a flat column: one chunk, with statistics
                    chunk = rg.column(first)
                    column_bytes[name] += chunk.total_compressed_size
                    stats[name] = parquet_column_stats(chunk.statistics, ftype, truncation)
                    if name in encoded and (ftype not in DICTIONARY_TYPES or
                                            not dictionary_encoded(chunk, rg.num_rows)):
                        encoded.discard(name)
                else:
                    column_bytes[name] += sum(rg.column(first + i).total_compressed_size for i in range(count))
                    stats[name] = ColumnStats()
            for name, key in constants.items():
                stats[name] = constant_stats(key, rg.num_rows)
            profile.fragments.append(Fragment(file_index, rg_index, rg.num_rows, stats))
        profile.rows += meta.num_rows
    profile.column_bytes = column_bytes
    profile.dictionary_columns = frozenset(encoded)
    profile.stats = table_stats([c.name for c in profile.columns], profile.fragments)
    return profile


# Read as dictionaries only where the file and the table agree on one of these types (fixed-size
# binaries are not). Views read as dictionaries of plain strings or bytes: pyarrow decodes each
# distinct value once, where a view column was decoded value by value and then copied into plain
# strings to be hashed (TPC-H SF1, whose generator tpchgen-cli writes views: scan 3.08 -> 2.65 s).
DICTIONARY_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary(),
                     pa.binary_view())


def dictionary_encoded(chunk: Any, rows: int) -> bool:
    """Whether a string or binary column chunk holds only dictionary indices in its data pages: it
    has a dictionary page, and its data pages take at most 2 bytes a row (indices of up to 16 bits,
    before compression). A writer whose dictionary grows too large falls back to plain pages, which
    hold each value's bytes (at least the 4 of its length): such a chunk would have to be encoded
    again to be read as a dictionary, several times slower than reading it plain (5.6x, 1 million
    distinct strings); read plain, a dictionary-encoded one decodes each distinct value again for
    every row (4x slower than as a dictionary, 300 distinct strings). Footers say neither which
    encoding each page has nor how many distinct values there are: this is told from sizes."""
    start, data = chunk.dictionary_page_offset, chunk.data_page_offset
    if not chunk.has_dictionary_page or start is None or data is None or not 0 <= start < data:
        return False
    return chunk.total_compressed_size - (data - start) <= 2 * rows


def profile_parquet(lake: Lake, ref: TableRef, config: ScanConfig) -> TableProfile:
    profile = TableProfile(ref.id, "parquet", ref.location)
    keys = list(dict.fromkeys(k for p in ref.partitions for k in p))  # folder nesting order, as Spark
    partition_types = {k: infer_partition_type(p.get(k) for p in ref.partitions) for k in keys}
    metas = []
    for index, entry in enumerate(ref.files):
        try:
            meta = lake.read_footer(entry.path)
        except OSError as exc:
            raise TableReadError(f"cannot read {entry.path}: {exc}", table=ref.id, path=entry.path) from exc
        values = {k: parse_partition_value(ref.partitions[index].get(k), t) for k, t in partition_types.items()}
        profile.files.append(DataFile(entry.path, entry.size, values))
        metas.append((index, meta))
    profile.bytes = sum(f.bytes for f in profile.files)
    schemas = [m.schema.to_arrow_schema() for _, m in metas]
    schema = _unify(ref.id, [f.path for f in profile.files], schemas)
    clash = {name_key(f.name) for f in schema} & {name_key(k) for k in partition_types} if partition_types else set()
    if clash:
        raise TableReadError(f"partition key {sorted(clash)[0]} is also a column inside the data files",
                             table=ref.id)
    return _finish(profile, metas, schema, partition_types, config, schemas)


def _unify(table_id: str, paths: list[str], schemas: list[pa.Schema]) -> pa.Schema:
    if not schemas:
        return pa.schema([])
    if all(s.equals(schemas[0]) for s in schemas[1:]):
        return schemas[0].remove_metadata()
    try:
        return pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        try:  # string views beside plain strings (files of two writers): the same values, as large strings
            plain = [_without_views(s.remove_metadata()) for s in schemas]
            return pa.unify_schemas(plain, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        raise TableReadError(f"files have incompatible schemas (e.g. {paths[0]}): {exc}", table=table_id) from exc


def _without_views(schema: pa.Schema) -> pa.Schema:
    """Top-level string and binary view columns as large strings and large binaries."""
    def plain(dtype: pa.DataType) -> pa.DataType:
        if pa.types.is_string_view(dtype):
            return pa.large_string()
        return pa.large_binary() if pa.types.is_binary_view(dtype) else dtype
    return pa.schema([f.with_type(plain(f.type)) for f in schema])


def _delta_file_path(location: str, rel: str) -> str:
    """An add action's path (percent-encoded, relative to the table, or an absolute URI) as a
    file system path, `..` segments resolved so that the caller can check where it leads."""
    if "://" in rel:
        path = unquote(rel.split("://", 1)[1]) if rel.startswith("file://") else rel.split("://", 1)[1]
    else:
        path = location.rstrip("/") + "/" + unquote(rel)
    return posixpath.normpath(path)


# Delta reader features that do not change how a live file's rows read from Parquet.
SAFE_DELTA_READER_FEATURES = {"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck", "typeWidening",
                              "typeWidening-preview"}
# Reader features a Delta reader resolves (deltalake's kernel locally, delta-spark on Spark): such
# tables are read through it, not file by file.
DELTA_READER_FEATURES = {"deletionVectors", "columnMapping"}


def profile_delta(lake: Lake, ref: TableRef, config: ScanConfig) -> TableProfile:
    """A Delta table's live files and statistics come from its log, never from a listing."""
    from deltalake import DeltaTable  # imported here: only Delta lakes pay for it

    profile = TableProfile(ref.id, "delta", ref.location)
    with _delta_log_view(lake, ref) as uri:
        try:
            table = DeltaTable(uri, storage_options=lake.storage_options() or None)
        except Exception as exc:
            raise TableReadError(f"cannot read Delta log of {ref.location}: {exc}", table=ref.id) from exc
        return _profile_delta_table(lake, ref, table, profile, config)


@contextmanager
def _delta_log_view(lake: Lake, ref: TableRef) -> Iterator[str]:
    """A URI deltalake can open for the table. deltalake decodes `%XX` in a table URI (locally
    even twice, and through a link too), so a folder named `sales%20eu` cannot be opened by its own
    path: such a table's log is read from a copy of its `_delta_log` in a temporary folder of
    r2d2's, outside the lake. Data file paths never come from deltalake's URIs (they are joined to
    the table's location, see `_delta_file_path`), so the copy changes nothing else."""
    location = ref.location
    if "%" not in location and lake.deltalake_reachable:
        yield lake.table_uri(location)
        return
    with tempfile.TemporaryDirectory(prefix="r2d2-delta-") as tmp:
        view = os.path.join(tmp, "table")
        try:
            _copy_log(lake, location.rstrip("/") + "/_delta_log", os.path.join(view, "_delta_log"))
        except OSError as exc:
            raise TableReadError(f"cannot read Delta log of {location}: {exc}", table=ref.id) from exc
        yield view


def _copy_log(lake: Lake, log: str, target: str) -> None:
    for info in lake.fs.get_file_info(pafs.FileSelector(log, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        local = os.path.join(target, *posixpath.relpath(info.path, log).split("/"))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with lake.fs.open_input_stream(info.path) as src, open(local, "wb") as dst:
            dst.write(src.read())


def _profile_delta_table(lake: Lake, ref: TableRef, table: Any, profile: TableProfile,
                         config: ScanConfig) -> TableProfile:
    protocol = table.protocol()
    features = set(protocol.reader_features or [])
    # Column mapping is on through the table's configuration even at reader version 2, where no
    # reader feature names it: its files hold physical column names, and reading them by logical
    # name would yield NULLs. Unknown reader features may change what the files mean just as much.
    mapping = (table.metadata().configuration or {}).get("delta.columnMapping.mode", "none")
    if mapping != "none":
        features.add("columnMapping")
    unsupported = sorted(features - SAFE_DELTA_READER_FEATURES - DELTA_READER_FEATURES)
    if unsupported:
        raise TableReadError(f"Delta table uses {', '.join(unsupported)}; r2d2 cannot read its rows exactly "
                             "yet (so it is in no edge)", table=ref.id)
    schema = pa.schema(table.schema().to_arrow())
    if features & DELTA_READER_FEATURES:
        return _profile_through_reader(lake, ref, table, schema, profile, features & DELTA_READER_FEATURES)
    partition_names = list(table.metadata().partition_columns)
    actions = imported_table(table.get_add_actions(flatten=True))
    lake.counter.add(_delta_log_bytes(lake, ref.location))
    partition_types = {name: schema.field(name).type for name in partition_names}
    data_schema = pa.schema([f for f in schema if f.name not in partition_types])
    rows_known = actions.column("num_records").null_count == 0 if actions.num_rows else True
    for i, path in enumerate(actions.column("path").to_pylist()):
        values = {}
        for name, ptype in partition_types.items():
            raw = actions.column(f"partition.{name}")[i].as_py() if f"partition.{name}" in actions.column_names \
                else None
            values[name] = None if raw is None else cast_value(raw, ptype)
        file_path = _delta_file_path(ref.location, path)
        if not lake.contains(file_path):  # a crafted log must not make r2d2 read outside the lake
            raise TableReadError(f"Delta log lists file {path}, which is outside the lake root; r2d2 reads "
                                 "nothing outside it", table=ref.id)
        profile.files.append(DataFile(file_path, int(actions.column("size_bytes")[i].as_py()), values))
    profile.bytes = sum(f.bytes for f in profile.files)
    if not rows_known:
        # The log lacks record counts: fall back to the files' footers (still no data pages).
        metas = [(i, lake.read_footer(f.path)) for i, f in enumerate(profile.files)]
        return _finish(profile, metas, data_schema, partition_types, config)
    profile.columns = [Column(f.name, f.type) for f in schema]
    profile.partition_columns = partition_names
    profile.statistics = "delta log"
    keys: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
    for f in data_schema:
        lo_name, hi_name, n_name = f"min.{f.name}", f"max.{f.name}", f"null_count.{f.name}"
        if family_of(f.type) != NESTED and lo_name in actions.column_names and hi_name in actions.column_names:
            lo = arrow_to_keys(actions.column(lo_name))
            hi = arrow_to_keys(actions.column(hi_name))
        else:
            lo = hi = [None] * actions.num_rows
        nulls = actions.column(n_name).to_pylist() if n_name in actions.column_names else [None] * actions.num_rows
        keys[f.name] = (lo, hi, nulls)
    rows = actions.column("num_records").to_pylist()
    for i, datafile in enumerate(profile.files):
        stats = {name: delta_column_stats(lo[i], hi[i], nulls[i], data_schema.field(name).type,
                                          config.stats_truncation_bytes)
                 for name, (lo, hi, nulls) in keys.items()}
        for name, ptype in partition_types.items():
            stats[name] = constant_stats(_partition_key(datafile.partition.get(name), ptype), rows[i])
        profile.fragments.append(Fragment(i, None, rows[i], stats))
    profile.rows = sum(rows)
    # The log has no per-column sizes: spread each file's bytes over its columns by count.
    width = max(1, len(data_schema))
    profile.column_bytes = {c.name: (0 if c.name in partition_types else profile.bytes // width)
                            for c in profile.columns}
    profile.stats = table_stats([c.name for c in profile.columns], profile.fragments)
    return profile


def _profile_through_reader(lake: Lake, ref: TableRef, table: Any, schema: pa.Schema, profile: TableProfile,
                            features: set[str]) -> TableProfile:
    """A Delta table with deletion vectors or column mapping: its files' rows are not the table's
    rows (deleted rows stay in files; columns carry physical names), so it is read through a Delta
    reader, as one fragment. Its rows are counted by that reader; the log's per-file statistics are
    not used (with deletion vectors they bound rows that may be gone), so it has no bounds and
    nothing refutes by statistics. The sample stage passes it by: verify reads it whole."""
    lake.counter.add(_delta_log_bytes(lake, ref.location))
    check_column_names(ref.id, schema.names)
    actions = imported_table(table.get_add_actions(flatten=True))
    profile.columns = [Column(f.name, f.type) for f in schema]
    profile.partition_columns = list(table.metadata().partition_columns)
    for path, size in zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()):
        file_path = _delta_file_path(ref.location, path)
        if not lake.contains(file_path):
            raise TableReadError(f"Delta log lists file {path}, which is outside the lake root; r2d2 reads "
                                 "nothing outside it", table=ref.id)
        profile.files.append(DataFile(file_path, int(size)))
    profile.bytes = sum(f.bytes for f in profile.files)
    try:
        profile.rows = count_delta_rows(lake, ref.location, table)
    except Exception as exc:
        if lake.hadoop is not None:
            from r2d2.engines.spark import read_error

            raise read_error(ref.id, exc) from None
        raise TableReadError(f"cannot count the rows of Delta table {ref.location} ({', '.join(sorted(features))}): "
                             f"{concise(str(exc))}", table=ref.id) from exc
    profile.reader, profile.statistics = "delta", "none"
    profile.fragments = [Fragment(0, None, profile.rows, {c.name: ColumnStats() for c in profile.columns})]
    width = max(1, len(profile.columns) - len(profile.partition_columns))
    profile.column_bytes = {c.name: 0 if c.name in profile.partition_columns else profile.bytes // width
                            for c in profile.columns}
    profile.stats = {c.name: ColumnStats() for c in profile.columns}
    return profile


def count_delta_rows(lake: Lake, location: str, table: Any) -> int:
    """Live rows of a Delta table as its reader counts them (deletion vectors applied)."""
    if lake.hadoop is not None:  # through the Spark session, which can read the files
        return int(lake.hadoop.spark.read.format("delta").load(lake.spark_uri(location)).count())
    from deltalake import QueryBuilder

    result = QueryBuilder().register("t", table).execute("SELECT count(*) AS n FROM t").read_all()
    return int(pa.table(result).column("n")[0].as_py())


def _delta_log_bytes(lake: Lake, location: str) -> int:
    """deltalake reads the log itself; count the log files it may fetch (an upper bound)."""
    try:
        return sum(e.size for e in lake.list_dir(location.rstrip("/") + "/_delta_log") if not e.is_dir)
    except OSError:
        return 0
