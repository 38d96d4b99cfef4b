"""Stream the rows of a profiled table: chosen columns, chosen fragments, partition values filled
in, every file's columns cast to the table's types. Memory stays at one batch per file whatever the
table's size. Values are handed to engines in a normalised Arrow form (see `engine_array`)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from r2d2.arrays import constant_array, text_scalar
from r2d2.errors import TableReadError, concise
from r2d2.model import DataFile, TableProfile
from r2d2.storage import Lake

BATCH_ROWS = 65_536
# A file read whole is fetched in one request and decoded from memory: for small files this is far
# cheaper than pyarrow's coalesced chunk reads (pre_buffer), which cost about 80 us a file even on
# a local disk (measured: 205 against 120 us a file on the 2,000-table lake). Files up to
# SMALL_FILE_BYTES are read whole when a whole table is read; files up to WHOLE_FILE_BYTES when the
# columns wanted are at least half of the table's bytes (fewer would fetch mostly unwanted bytes).
SMALL_FILE_BYTES = 256 * 1024
WHOLE_FILE_BYTES = 8 * 1024 * 1024


_STRUCT = pa.struct([]).id


def leaf_count(dtype: pa.DataType) -> int:
    """How many Parquet leaf columns an Arrow field of this type is stored as."""
    if not dtype.num_fields and dtype.id != _STRUCT:  # not nested (told at once: asked of every column of every file)
        return 1
    if pa.types.is_struct(dtype):
        return sum(leaf_count(dtype.field(i).type) for i in range(dtype.num_fields))
    if pa.types.is_map(dtype):
        return leaf_count(dtype.key_type) + leaf_count(dtype.item_type)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype):
        return leaf_count(dtype.value_type)
    return 1


def leaf_ranges(schema: pa.Schema) -> dict[str, tuple[int, int, pa.DataType]]:
    """Per top-level field of a Parquet file's Arrow schema: its first leaf column, how many leaves
    it is stored as, and its type."""
    ranges, start = {}, 0
    for field in schema:
        count = leaf_count(field.type)
        ranges[field.name] = (start, count, field.type)
        start += count
    return ranges


def chunk_bytes(meta: pq.FileMetaData, row_groups: list[int] | None, columns: list[str]) -> int:
    """The stored bytes of these columns' chunks in these row groups (all when None): what reading
    them fetches (pyarrow reads each column chunk whole, dictionary page included)."""
    ranges = leaf_ranges(meta.schema.to_arrow_schema())
    leaves = [leaf for c in columns if c in ranges for leaf in range(ranges[c][0], ranges[c][0] + ranges[c][1])]
    total = 0
    for index in range(meta.num_row_groups) if row_groups is None else row_groups:
        group = meta.row_group(index)
        total += sum(group.column(leaf).total_compressed_size for leaf in leaves)
    return total


def engine_type(dtype: pa.DataType) -> pa.DataType:
    """The Arrow type an engine receives for a column of `dtype`: timestamps, times and durations as
    their raw int64 counts (DuckDB would otherwise round nanoseconds), dictionaries decoded.
    String and binary views pass as they are: DuckDB reads them without a copy."""
    if pa.types.is_dictionary(dtype):
        return engine_type(dtype.value_type)
    if pa.types.is_timestamp(dtype) or pa.types.is_time(dtype) or pa.types.is_duration(dtype):
        return pa.int64()
    if pa.types.is_date64(dtype):
        return pa.date32()
    if pa.types.is_float16(dtype):
        return pa.float32()
    if pa.types.is_decimal(dtype) and dtype.precision > 38:
        return pa.string()  # DuckDB holds at most 38 digits: the exact decimal text instead
    if pa.types.is_decimal256(dtype):
        return pa.decimal128(dtype.precision, dtype.scale)
    return dtype


def plain_decimal_text(texts: pa.Array) -> pa.Array:
    """Decimal text as Arrow writes it ('-12.500', '1.0E-10', '0E-20') in plain canonical form: no
    exponent, no trailing fractional zeros, no '-0' ('-12.5', '0.0000000001', '0'). The same value,
    the same text; NULL stays NULL."""
    if pc.any(pc.match_substring(texts, "E")).as_py():  # Arrow's scientific form, for tiny values
        texts = pa.array([t if t is None or "E" not in t else format(Decimal(t).normalize(), "f")
                          for t in texts.to_pylist()], pa.string())
    dotted = pc.match_substring(texts, ".")
    trimmed = pc.if_else(dotted, pc.utf8_rtrim(pc.utf8_rtrim(texts, characters="0"), characters="."), texts)
    return pc.if_else(pc.equal(trimmed, text_scalar("-0", trimmed.type)), text_scalar("0", trimmed.type), trimmed)


def engine_array(array: pa.Array, dtype: pa.DataType) -> pa.Array:
    """`array` (of the table's type `dtype`) in the engine's form."""
    target = engine_type(dtype)
    if target == array.type:
        return array
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_time32(array.type):
        return pc.cast(array.view(pa.int32()), pa.int64())
    if pa.types.is_time64(array.type) or pa.types.is_duration(array.type) or pa.types.is_timestamp(array.type):
        return array.view(pa.int64())  # the raw counts; a view keeps the array's offset
    if pa.types.is_decimal(array.type):  # wide decimals: their exact text, never in scientific notation
        return plain_decimal_text(pc.cast(array, target))
    return pc.cast(array, target)


def dictionary_type(dtype: pa.DataType) -> pa.DataType:
    """The engine type of a column read as a dictionary (see `iter_table_batches`)."""
    return pa.dictionary(pa.int32(), engine_type(dtype))


def iter_table_batches(lake: Lake, profile: TableProfile, columns: list[str],
                       fragments: list[int] | None = None, batch_rows: int = BATCH_ROWS,
                       native: bool = False, dictionaries: bool = False,
                       threads: bool = True) -> Iterator[pa.RecordBatch]:
    """Batches of the given fragments (all when None): columns c0..cN (= `columns`) in engine form,
    or, with `native`, under their own names and types (what rebuild recipes run on). With
    `dictionaries`, the profile's dictionary_columns among them come as dictionaries (as stored:
    each distinct value decoded once), for an engine that takes them. With `threads`, pyarrow
    decodes a large file's columns on its own threads (a caller running threads of its own does
    better without: they only contend with them).

    Raises TableReadError naming the table and file when a data page cannot be read."""
    types = [profile.column(c).type for c in columns]
    encoded = _read_as_dictionaries(profile, columns, native, dictionaries)
    schema = _schema(columns, types, native, set(encoded))
    # A file whose columns read as exactly these (all in the file, so none a partition key; nothing
    # to convert: most files) is handed on as read, with no step per column and batch. Told by one
    # schema comparison (the lists of names and types a schema gives cost 70 us for 200 columns),
    # by names and types apart only where that fails (a column the file's schema calls required).
    as_read = pa.schema([pa.field(c, t) for c, t in zip(columns, schema.types)])

    def read_as_is(read: pa.Schema) -> bool:
        return read.equals(as_read) or (read.names, read.types) == (as_read.names, as_read.types)

    def convert(array: pa.Array, dtype: pa.DataType, target: pa.DataType) -> pa.Array:
        if native or array.type == target:
            return array
        if pa.types.is_dictionary(target):  # read as a dictionary: its values in the engine's type
            return array.cast(target) if pa.types.is_dictionary(array.type) else pc.dictionary_encode(
                engine_array(array, dtype)).cast(target)
        return engine_array(array, dtype)

    if profile.reader == "delta":
        yield from _delta_reader_batches(lake, profile, columns, types, schema, convert, batch_rows)
        return
    chosen = profile.fragments if fragments is None else [profile.fragments[i] for i in fragments]
    wanted_bytes = sum(profile.column_bytes.get(c, 0) for c in columns if c not in profile.partition_columns)
    limit = _whole_file_limit(profile, wanted_bytes) if fragments is None else 0
    # A whole Parquet table's chunk bytes are in its profile (summed from the same footers); files
    # read whole count their own size.
    counted = fragments is None and profile.format == "parquet" and all(f.bytes > limit for f in profile.files)
    if counted:
        lake.counter.add(wanted_bytes)
    by_file: dict[int, list[int]] = defaultdict(list)
    whole: set[int] = set()
    for frag in chosen:
        if frag.row_group is None:
            whole.add(frag.file)
        else:
            by_file[frag.file].append(frag.row_group)
    for file_index in sorted(set(by_file) | whole):
        datafile = profile.files[file_index]
        raw: pa.NativeFile | None = None
        try:
            row_groups = None if file_index in whole else sorted(set(by_file[file_index]))
            # a page failing its CRC is an error, not data
            if datafile.bytes <= limit:  # one read; the footer is parsed from the bytes read
                pf = _open_whole(lake, datafile, encoded)
                meta = pf.metadata
            else:  # pyarrow's own file (no Python in the read path); the bytes it fetches are the chunks'
                meta = lake.read_footer(datafile.path)
                raw = lake.open_native(datafile.path)
                pf = pq.ParquetFile(raw, metadata=meta, pre_buffer=True, page_checksum_verification=True,
                                    read_dictionary=encoded)
            present = set(pf.schema_arrow.names)
            wanted = [c for c in columns if c in present and c not in profile.partition_columns]
            n = sum(meta.row_group(i).num_rows for i in (row_groups or range(meta.num_row_groups)))
            if not wanted:  # only partition columns or absent columns: rows from the footer
                yield from _constant_batches(n, columns, types, datafile.partition, schema, batch_rows, native)
                continue
            if not counted and raw is not None:
                lake.counter.add(chunk_bytes(meta, row_groups, wanted))
            batches: Iterator[pa.RecordBatch] | list[pa.RecordBatch]
            if n <= batch_rows:  # one read, no batch machinery (most files of a real lake)
                rows = pf.read_row_groups(row_groups if row_groups is not None else range(meta.num_row_groups),
                                          columns=wanted, use_threads=False)
                if read_as_is(rows.schema):
                    if rows.num_rows:  # a batch per row group: no copy
                        yield from pa.Table.from_arrays(rows.columns, schema=schema).to_batches()
                    continue
                batches = rows.to_batches() if rows.num_rows else []
            else:
                batches = pf.iter_batches(batch_size=batch_rows, row_groups=row_groups, columns=wanted,
                                          use_threads=threads)
            for batch in batches:
                arrays = []
                # by position (by name is a search per column); a name twice in the file is pyarrow's
                # error, as by name
                where = {name: i for i, name in enumerate(batch.schema.names)}
                if len(where) != batch.num_columns:
                    where = {}
                for col, dtype, target in zip(columns, types, schema.types):
                    if col in profile.partition_columns:
                        arrays.append(constant_array(datafile.partition.get(col), dtype, batch.num_rows))
                    elif col in present:
                        arr = batch.column(where.get(col, col))
                        dictionary = pa.types.is_dictionary(arr.type) and pa.types.is_dictionary(target)
                        arrays.append(arr if arr.type == dtype or dictionary else pc.cast(arr, dtype))
                    else:
                        arrays.append(pa.nulls(batch.num_rows, target if pa.types.is_dictionary(target) else dtype))
                yield pa.record_batch([convert(a, t, g) for a, t, g in zip(arrays, types, schema.types)],
                                      schema=schema)
        except (KeyError, OSError, pa.ArrowException) as exc:
            raise _read_error(profile, datafile, exc) from exc
        finally:
            if raw is not None:
                raw.close()


def _whole_file_limit(profile: TableProfile, wanted_bytes: int) -> int:
    """Files up to this size are read whole when a whole table is read (their size checked against
    the listing or Delta log): SMALL_FILE_BYTES, or WHOLE_FILE_BYTES when the columns wanted are at
    least half of the table's bytes."""
    if profile.reader != "files" or not wanted_bytes:
        return 0
    return WHOLE_FILE_BYTES if 2 * wanted_bytes >= sum(profile.column_bytes.values()) else SMALL_FILE_BYTES


def _open_whole(lake: Lake, datafile: DataFile, encoded: list[str]) -> pq.ParquetFile:
    """A file fetched in one read, its footer parsed from the bytes read; a page failing its CRC
    is an error, not data."""
    return pq.ParquetFile(pa.BufferReader(lake.read_whole(datafile.path, datafile.bytes)),
                          page_checksum_verification=True, read_dictionary=encoded)


def _read_error(profile: TableProfile, datafile: DataFile, exc: Exception) -> TableReadError:
    """What a failed read of one of a table's files is reported as, naming the table and file."""
    if isinstance(exc, TableReadError):
        return exc
    if isinstance(exc, KeyError):  # read_dictionary names a column the file lacks: it changed since profiling
        return TableReadError(f"cannot read {datafile.path}: it has no column {concise(str(exc))} (the "
                              "file changed during the scan)", table=profile.id, path=datafile.path)
    return TableReadError(f"cannot read {datafile.path}: {exc}", table=profile.id, path=datafile.path)


def _delta_reader_batches(lake: Lake, profile: TableProfile, columns: list[str], types: list[pa.DataType],
                          schema: pa.Schema, convert: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of a Delta table read through deltalake's kernel (deletion vectors applied, column
    mapping resolved): the whole table, one fragment (see profile._profile_through_reader)."""
    from deltalake import DeltaTable, QueryBuilder

    if not lake.deltalake_reachable:
        raise TableReadError(f"{profile.location} is read through Spark's readers in this scan, not deltalake",
                             table=profile.id)
    try:
        table = DeltaTable(lake.table_uri(profile.location), storage_options=lake.storage_options() or None)
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns) or "1 AS one"
        query = QueryBuilder().register("t", table).execute(f"SELECT {quoted} FROM t")
        stream = pa.RecordBatchReader.from_stream(query)
        lake.counter.add(sum(profile.column_bytes.get(c, 0) for c in columns))  # an upper bound: whole columns
        for batch in stream:
            for start in range(0, batch.num_rows, batch_rows):
                part = batch.slice(start, batch_rows)
                arrays = [part.column(i) if part.column(i).type == t else pc.cast(part.column(i), t)
                          for i, t in enumerate(types)] if columns else []
                yield pa.record_batch([convert(a, t, g) for a, t, g in zip(arrays, types, schema.types)],
                                      schema=schema)
    except TableReadError:
        raise
    except Exception as exc:
        raise TableReadError(f"cannot read Delta table {profile.location}: {concise(str(exc))}",
                             table=profile.id, path=profile.location) from exc


def _constant_batches(n: int, columns: list[str], types: list[pa.DataType], partition: dict,
                      schema: pa.Schema, batch_rows: int, native: bool) -> Iterator[pa.RecordBatch]:
    for start in range(0, n, batch_rows):
        size = min(batch_rows, n - start)
        arrays = [pa.nulls(size, target) if pa.types.is_dictionary(target) else  # a column absent from the file
                  constant_array(partition.get(c), t, size) for c, t, target in zip(columns, types, schema.types)]
        yield pa.record_batch(arrays if native else [a if a.type == target else engine_array(a, t)
                                                     for a, t, target in zip(arrays, types, schema.types)],
                              schema=schema)


def _read_as_dictionaries(profile: TableProfile, columns: list[str], native: bool, dictionaries: bool) -> list[str]:
    """The columns iter_table_batches reads as dictionaries: asked for, and dictionary-encoded
    throughout the table's files (never partition columns: they are in no file)."""
    if native or not dictionaries or profile.reader != "files":
        return []
    return [c for c in dict.fromkeys(columns) if c in profile.dictionary_columns and c not in profile.partition_columns]


def table_schema(profile: TableProfile, columns: list[str], native: bool = False,
                 dictionaries: bool = False) -> pa.Schema:
    """The schema iter_table_batches yields for these columns."""
    return _schema(columns, [profile.column(c).type for c in columns], native,
                   set(_read_as_dictionaries(profile, columns, native, dictionaries)))


def _schema(columns: list[str], types: list[pa.DataType], native: bool, encoded: set[str]) -> pa.Schema:
    if native:
        return pa.schema([pa.field(c, t) for c, t in zip(columns, types)])
    return pa.schema([_engine_field(i, t, c in encoded) for i, (c, t) in enumerate(zip(columns, types))])


@functools.lru_cache(maxsize=4096)
def _engine_field(i: int, dtype: pa.DataType, as_dictionary: bool) -> pa.Field:
    """Field c{i} of an engine schema: worked out once (a scan asks for thousands of tables' columns)."""
    return pa.field(f"c{i}", dictionary_type(dtype) if as_dictionary else engine_type(dtype))


def stream_table(lake: Lake, profile: TableProfile, columns: list[str], fragments: list[int] | None = None,
                 native: bool = False) -> pa.RecordBatchReader:
    """iter_table_batches as a RecordBatchReader, which DuckDB scans without loading it whole."""
    return pa.RecordBatchReader.from_batches(table_schema(profile, columns, native),
                                             iter_table_batches(lake, profile, columns, fragments, native=native))


def read_rows(lake: Lake, profile: TableProfile, columns: list[str], fragments: list[int] | None = None,
              native: bool = False, dictionaries: bool = False) -> pa.Table:
    """All rows of some fragments in memory (used for samples and small tables)."""
    if fragments is None and not native:
        rows = _read_whole_files(lake, profile, columns, dictionaries)
        if rows is not None:
            return rows
    batches = list(iter_table_batches(lake, profile, columns, fragments, native=native, dictionaries=dictionaries))
    # every batch has the schema table_schema gives (worked out again only when there is none)
    return pa.Table.from_batches(batches, schema=batches[0].schema if batches else
                                 table_schema(profile, columns, native, dictionaries))


def _read_whole_files(lake: Lake, profile: TableProfile, columns: list[str], dictionaries: bool) -> pa.Table | None:
    """A whole table in engine form, read file by file, when every file is read whole and reads as
    the engine takes it (all columns in it, none a partition key, no conversion): most small tables
    of a real lake; pyarrow hands the columns over in the order asked for, whatever the file's.
    None otherwise, for iter_table_batches to read. Its steps per file and batch cost a quarter of
    reading such a file (100 of 400 us a table on the 2,000-table lake, one thread)."""
    if profile.reader != "files" or not columns or any(c in profile.partition_columns for c in columns):
        return None
    by_name = profile.columns_by_name()
    types = [by_name[c].type for c in columns]
    encoded = _read_as_dictionaries(profile, columns, False, dictionaries)
    limit = _whole_file_limit(profile, sum(profile.column_bytes.get(c, 0) for c in columns))
    if any(f.bytes > limit for f in profile.files):
        return None
    as_dictionaries = set(encoded)
    schema = _schema(columns, types, False, as_dictionaries)
    wanted = schema.types
    # a column the engine takes in another type (timestamps as counts, say) is converted batch by
    # batch: told here, before any file is read (the 800-table real-shaped lake: 47 tables)
    if any((w.value_type if c in as_dictionaries else w) != t for c, t, w in zip(columns, types, wanted)):
        return None
    parts = []
    for datafile in profile.files:
        try:
            pf = _open_whole(lake, datafile, encoded)
            rows = pf.read_row_groups(range(pf.metadata.num_row_groups), columns=columns, use_threads=False)
        except (KeyError, OSError, pa.ArrowException) as exc:
            raise _read_error(profile, datafile, exc) from exc
        if rows.column_names != columns or rows.schema.types != wanted:
            return None  # a column missing from the file (or in it twice), or one to convert
        parts.append(rows)
    if len(parts) == 1:
        return pa.Table.from_arrays(parts[0].columns, schema=schema)
    return pa.Table.from_arrays([pa.chunked_array([c for part in parts for c in part.column(i).chunks], t)
                                 for i, t in enumerate(wanted)], schema=schema)
