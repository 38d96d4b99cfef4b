"""The Spark engine: the same stages as Spark jobs, for lakes that outgrow one machine (DESIGN §5).

The driver plans (which tables, fragments and column sets); executors do the reading. Every task
uses the same pyarrow readers and the same canonical values and 128-bit row fingerprints as the
local engine (engines/fingerprint.py, under keys the driver draws and ships with the tasks; the
sample stage runs the local engine inside each task), so both engines reach the same verdicts
by construction, and no Spark data source (nor any jar) is needed: Delta tables are read as the
live Parquet files their log lists, and S3/ADLS through pyarrow.

- profile: the table list is distributed; footers and Delta logs are read on executors.
- sample: the drawn samples travel as broadcast data; each task probes whole parents.
- verify: each table's fragments are split into units (each fragment in exactly one unit); tasks
  emit partial (table, column set, fingerprint, count) rows; Spark sums them and joins them per
  pair to count missing rows, so no table is read twice and no join runs on the driver.

This is the only module that imports pyspark, and only when a Spark engine is made.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from r2d2.config import ScanConfig, read_yaml_mapping
from r2d2.discover import TableRef
from r2d2.engines.fingerprint import Keys
from r2d2.engines.local import colset_specs
from r2d2.errors import EngineError, R2D2Error, TableReadError, UsageError
from r2d2.model import TableProfile
from r2d2.sample import ParentProbe
from r2d2.storage import Lake
from r2d2.verify import ColumnSet, FingerprintJob, PairCheck

UNIT_ROWS = 2_000_000  # rows of one table fingerprinted by one task at most (pyarrow read path)
NATIVE_BATCH_TABLES = 64  # tables read by Spark's readers in one job (a union of their scans)
READ_PATHS = ("spark", "pyarrow")
FP_SCHEMA = "t int, k int, a long, b long, cnt long, note string"
SPARK_DEFAULTS = {"spark.ui.showConsoleProgress": "false", "spark.sql.execution.arrow.pyspark.enabled": "true"}


def load_spark_conf(path: Path | None) -> dict[str, str]:
    """Spark settings from a conf/spark/*.yaml profile (a mapping under `spark:`)."""
    if path is None:
        return {}
    settings = read_yaml_mapping(path, {"spark"}).get("spark", {})
    if not isinstance(settings, dict):
        raise UsageError(f"Spark profile {path} needs a mapping under `spark:`")
    return {str(k): str(v) for k, v in settings.items()}


# The jars `make setup` fetches (spark-jars/pom.xml) and what each is for.
JARS = {
    "delta": ("io.delta:delta-spark_4.2_2.13:4.4.0", "io.delta.sql.DeltaSparkSessionExtension"),
    "s3a": ("org.apache.hadoop:hadoop-aws:3.5.0", "org.apache.hadoop.fs.s3a.S3AFileSystem"),
    "abfs": ("org.apache.hadoop:hadoop-azure:3.5.0", "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem"),
}
DELTA_CONF = {"spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
              "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog"}


def jar_folder() -> Path | None:
    """Where `make setup` put the jars: $R2D2_SPARK_JARS, else spark-jars/lib in a source checkout."""
    folder = Path(os.environ.get("R2D2_SPARK_JARS") or Path(__file__).resolve().parents[2] / "spark-jars" / "lib")
    return folder if folder.is_dir() and any(folder.glob("*.jar")) else None


def missing_jars_hint(what: str) -> str:
    """One line saying which jar a Spark session lacks for `what` (a URI scheme or a format) and
    how to get it."""
    kind = "delta" if "delta" in what else "abfs" if "abfs" in what else "s3a" if "s3" in what else None
    if kind is None:
        return f"this Spark session has no Hadoop file system for {what.split('://')[0]}:// (add its connector jar)"
    return (f"the Spark session lacks {JARS[kind][0]}: `make setup` fetches it with Maven into spark-jars/lib "
            "(local sessions use it), or give it to spark-submit with --packages/--jars; Databricks has Delta "
            "built in")


def read_error(table_id: str, exc: Exception) -> TableReadError:
    """A table Spark could not read, as one line (a missing Delta jar said so, with the fix)."""
    message = _concise_java(exc)
    if "DATA_SOURCE_NOT_FOUND" in message or "delta.DefaultSource" in message:
        message = missing_jars_hint("delta")
    return TableReadError(f"Spark cannot read {table_id}: {message}", table=table_id)


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """A session for r2d2. Python workers run this interpreter unless PYSPARK_PYTHON says otherwise
    (on a cluster, the packed virtualenv sets it). A local session gets the jars `make setup`
    fetched (Delta, S3A, ABFS) and Delta's SQL extension and catalog."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    local = (master or os.environ.get("MASTER", "")).startswith("local")
    if local:  # a local session talks to itself over loopback only
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                # Hadoop 3.5's vectored reads of local files fail near a file's end ("Read past End
                # of File") on some Parquet files pyarrow writes; plain reads are correct.
                "spark.hadoop.parquet.hadoop.vectored.io.enabled": "false", **(conf or {})}
        jars = jar_folder()
        if jars is not None and "spark.jars" not in conf:
            conf = {"spark.jars": ",".join(str(j) for j in sorted(jars.glob("*.jar"))), **DELTA_CONF, **conf}

    builder = SparkSession.builder.appName("r2d2")
    if master:
        builder = builder.master(master)
    for key, value in {**SPARK_DEFAULTS, **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # A table Spark cannot read is reported in its row; its task's Java stack trace, which Spark
    # logs at ERROR, is shown with R2D2_SPARK_LOG_LEVEL=ERROR (or --debug) only.
    session.sparkContext.setLogLevel(os.environ.get("R2D2_SPARK_LOG_LEVEL", "FATAL"))
    return session


# -- executor side: module-level functions, shipped by pickling ----------------------------------

def _task_engine(lake: Lake, config: ScanConfig) -> Any:
    from r2d2.engines.local import LocalEngine

    return LocalEngine(lake, config.replace(workers=1))


def _indices(batches: Iterator[pa.RecordBatch]) -> Iterator[int]:
    """The unit numbers a mapInArrow task was given."""
    for batch in batches:
        yield from batch.column("i").to_pylist()


def _profile_batches(lake: Lake, config: ScanConfig, shared: Any
                     ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from r2d2.profile import profile_tables

        refs: list[TableRef] = shared.value
        for i in _indices(batches):
            before = lake.counter.total
            profile = profile_tables(lake, [refs[i]], config.replace(workers=1))[0]
            yield pa.record_batch({"i": pa.array([i], pa.int32()), "profile": [pickle.dumps(profile)],
                                   "bytes": pa.array([lake.counter.total - before], pa.int64())})
    return run


def _probe_batches(lake: Lake, config: ScanConfig, shared: Any
                   ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        probes: list[ParentProbe] = shared.value  # the drawn samples, broadcast to every executor
        engine = _task_engine(lake, config)
        try:
            for i in _indices(batches):
                before = lake.counter.total
                verdicts, failed = engine.probe_samples([probes[i]], lambda: None)
                rows: list[tuple[str, str, str | None, bytes | None]]
                rows = [(p, c, r, None) for (p, c), r in verdicts.items()]
                rows += [(t, "", None, pickle.dumps(e)) for t, e in failed.items()]
                rows.append(("", "", str(lake.counter.total - before), None))
                yield pa.record_batch({"parent": [r[0] for r in rows], "child": [r[1] for r in rows],
                                       "reason": [r[2] for r in rows], "error": [r[3] for r in rows]},
                                      schema=PROBE_SCHEMA)
        finally:
            engine.close()
    return run


PROBE_SCHEMA = pa.schema([("parent", pa.string()), ("child", pa.string()), ("reason", pa.string()),
                          ("error", pa.binary())])


def _fingerprint_batches(lake: Lake, keys: Keys, shared: Any
                         ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from r2d2.engines.fingerprint import fingerprint_rows
        from r2d2.engines.local import colset_specs
        from r2d2.storage.reader import iter_table_batches

        units: list[tuple[int, TableProfile, list, list[int]]] = shared.value
        for i in _indices(batches):
            number, profile, colsets, fragments = units[i]
            before = lake.counter.total
            try:
                columns, types, specs = colset_specs(profile, colsets)
                parts = [fingerprint_rows(batch, types, specs, keys)
                         for batch in iter_table_batches(lake, profile, columns, fragments)]
                if parts:
                    yield _counted(number, pa.concat_tables(parts))
            except Exception as exc:  # reported per table, never fatal
                problem = exc if isinstance(exc, R2D2Error) else EngineError(
                    f"cannot compare values of {profile.id}: {exc}")
                yield _note(number, "error:" + pickle.dumps(problem).hex())
            yield _note(number, f"bytes:{lake.counter.total - before}")
    return run


def _native_fingerprints(tables: dict[int, tuple[list[pa.DataType], list]], keys: Keys
                         ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow over the batches Spark's readers hand over: column t (the table's number), then
    its columns c0..cN (tables of one column-type signature share one function, so Python is
    entered once per signature and partition, not once per table). Each table's rows are hashed by
    the same canonical value hashes as every other path (engines/fingerprint.py) under its column
    sets, and grouped per batch. Values are hashed by the type Spark gives them: canonical values do
    not depend on the type (3 as int, long or decimal(20,0) hashes alike; instants by their time,
    whatever the unit)."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow.compute as pc

        for batch in batches:
            if batch.num_rows == 0:
                continue
            numbers = batch.column(0)
            for number in pc.unique(numbers).to_pylist():
                part = batch if len(tables) == 1 else batch.filter(pc.equal(numbers, number))
                yield _fingerprint_part(number, part, *tables[number], keys)
    return run


def _fingerprint_part(number: int, batch: pa.RecordBatch, table_types: list[pa.DataType], specs: list,
                      keys: Keys) -> pa.RecordBatch:
    from r2d2.engines.fingerprint import fingerprint_rows
    from r2d2.storage.reader import engine_array

    columns = [batch.column(i) for i in range(1, batch.num_columns)]
    types = [_hash_type(c.type, table_types[i]) for i, c in enumerate(columns)]
    data = pa.record_batch([engine_array(c, t) for c, t in zip(columns, types)],
                           names=[f"c{i}" for i in range(len(columns))])
    return _counted(number, fingerprint_rows(data, types, specs, keys))


def _counted(number: int, fingerprints: pa.Table) -> pa.RecordBatch:
    """Table `number`'s row fingerprints (k, a, b) grouped with their counts, as the rows the
    fingerprint jobs return to the driver."""
    counted = fingerprints.group_by(["k", "a", "b"], use_threads=False).aggregate([([], "count_all")])
    n = counted.num_rows
    return pa.record_batch({
        "t": pa.array(np.full(n, number, np.int32)), "k": counted.column("k").combine_chunks(),
        # Spark has no unsigned longs: the same 64 bits, signed
        "a": pa.array(counted.column("a").to_numpy().view(np.int64)),
        "b": pa.array(counted.column("b").to_numpy().view(np.int64)),
        "cnt": counted.column("count_all").combine_chunks(), "note": pa.nulls(n, pa.string())})


def _hash_type(spark_type: pa.DataType, table_type: pa.DataType) -> pa.DataType:
    """The type a column Spark handed over is hashed as: its own, except raw counts of a
    timestamp column (Spark's `nanosAsLong`), which keep the table's type."""
    if pa.types.is_integer(spark_type) and pa.types.is_timestamp(table_type):
        return table_type
    return spark_type


def _note(number: int, note: str) -> pa.RecordBatch:
    return pa.record_batch({"t": pa.array([number], pa.int32()), "k": pa.array([-1], pa.int32()),
                            "a": pa.array([0], pa.int64()), "b": pa.array([0], pa.int64()),
                            "cnt": pa.array([0], pa.int64()), "note": pa.array([note])})


# -- driver side ---------------------------------------------------------------------------------

def quote_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal_path(uri: str) -> str:
    """A file URI for Spark's reader with glob characters escaped (it globs every path it is given)."""
    return "".join("\\" + ch if ch in "[]{}*?" else ch for ch in uri)


def _concise_java(exc: Exception) -> str:
    from r2d2.errors import concise
    from r2d2.storage.hadoop import java_message

    return concise(java_message(exc))


def spark_type(dtype: pa.DataType) -> Any:
    """The Spark type Spark's Parquet reader gives a column of this Arrow type."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_type

    if pa.types.is_dictionary(dtype):
        return spark_type(dtype.value_type)
    if pa.types.is_unsigned_integer(dtype):  # Parquet's unsigned ints, widened as Spark reads them
        return {8: T.ShortType(), 16: T.IntegerType(), 32: T.LongType()}.get(dtype.bit_width, T.DecimalType(20, 0))
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return T.StringType()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype) or pa.types.is_fixed_size_binary(dtype):
        return T.BinaryType()
    if pa.types.is_timestamp(dtype):
        return T.TimestampType() if dtype.tz is not None else T.TimestampNTZType()
    if pa.types.is_float16(dtype):
        return T.FloatType()
    return from_arrow_type(dtype)


def spark_schema(profile: TableProfile) -> Any:
    from pyspark.sql import types as T

    try:
        return T.StructType([T.StructField(c.name, spark_type(c.type)) for c in profile.columns])
    except Exception as exc:
        raise EngineError(f"Spark cannot hold a column type of {profile.id}: {exc}") from exc


CATALOG_PREFIX = "catalog:"


def parse_catalog_uri(uri: str) -> tuple[str, str]:
    """`catalog:DB[/GLOB]` or `catalog:CATALOG.SCHEMA[/GLOB]` as (database, table-name glob)."""
    rest = uri[len(CATALOG_PREFIX):]
    database, _, pattern = rest.partition("/")
    if not database or not all(part.strip() for part in database.split(".")) or len(database.split(".")) > 2:
        raise UsageError(f"{uri!r}: name a database as catalog:DB or catalog:CATALOG.SCHEMA, optionally "
                         "followed by /GLOB for table names (catalog:sales/orders_*)")
    return database, pattern or "*"


def open_spark_scan(lake_uri: str, config: ScanConfig, *, spark: Any = None, master: str | None = None,
                    spark_conf: dict[str, str] | None = None, read: str = "spark") -> tuple[Lake, SparkEngine]:
    """The lake and the engine of a Spark scan. With the default read path the lake is reached
    through the session (its Hadoop file systems, or its catalog for `catalog:` lakes); with
    `read="pyarrow"` through pyarrow, on the driver and in every task."""
    from r2d2.storage import open_lake

    engine = SparkEngine(None, config, spark, master, spark_conf, read)
    try:
        if lake_uri.startswith(CATALOG_PREFIX):
            if read != "spark":
                raise UsageError("a catalog is read through Spark's readers: drop --read pyarrow")
            database, _ = parse_catalog_uri(lake_uri)
            if not _database_exists(engine.spark, database):
                raise UsageError(f"catalog database {database} does not exist or this Spark session cannot see it")
            engine.lake = Lake(uri=lake_uri, fs=pafs.LocalFileSystem(), path="")
        elif read == "spark":
            from r2d2.storage.hadoop import open_hadoop_lake

            engine.lake = open_hadoop_lake(lake_uri, engine.spark)
        else:
            engine.lake = open_lake(lake_uri)
    except BaseException:
        engine.close()
        raise
    return engine.lake, engine


def _database_exists(spark: Any, database: str) -> bool:
    try:
        return bool(spark.catalog.databaseExists(database))
    except Exception:
        return False


def _arrow_type(dtype: Any) -> pa.DataType:
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_type

    if isinstance(dtype, T.TimestampType):
        return pa.timestamp("us", tz="UTC")
    return to_arrow_type(dtype)


class SparkEngine:
    """Runs the content work of a scan as Spark jobs; see the module docstring."""

    name = "spark"
    compare_batch = 4096  # a Spark job costs seconds: compare in large batches
    compare_rows = 2**62  # executors hold the join: no bound from the driver

    def __init__(self, lake: Lake | None, config: ScanConfig, spark: Any = None, master: str | None = None,
                 spark_conf: dict[str, str] | None = None, read: str = "spark") -> None:
        try:
            import pyspark  # noqa: F401
        except ImportError as exc:
            raise UsageError("the Spark engine needs pyspark: pip install 'r2d2[spark]'") from exc
        if read not in READ_PATHS:
            raise UsageError(f"unknown read path {read!r}; choose one of {', '.join(READ_PATHS)}")
        self.config, self.read = config, read
        from pyspark.sql import SparkSession

        # A session r2d2 did not start (a notebook's, a Databricks cluster's) is never stopped by it.
        self._own_session = spark is None and SparkSession.getActiveSession() is None
        self.spark = spark if spark is not None else spark_session(master, spark_conf)
        self.lake: Lake = lake if lake is not None else Lake(uri="", fs=None, path="")
        self.sc = self.spark.sparkContext
        self._tables: dict[str, int] = {}
        self._colsets: dict[str, dict[ColumnSet, int]] = {}
        self._fps: Any = None
        self._parts: list[Any] = []  # checkpointed grouped fingerprints of Spark reads, one per batch of tables
        self.stage_groups: list[str] = []
        self._run = f"r2d2-{id(self)}"
        self.keys = Keys.fresh()  # shipped to every task: fingerprints are comparable across tasks

    def _parallel(self, n: int) -> Any:
        """A DataFrame of indices 0..n-1 spread over the cluster's cores."""
        slices = max(1, min(n, self.sc.defaultParallelism * 4))
        return self.spark.createDataFrame([(i,) for i in range(n)], "i int").repartition(slices)

    def begin_stage(self, name: str) -> None:
        group = f"{self._run}:{name}"
        self.stage_groups.append(group)
        self.sc.setJobGroup(group, f"r2d2 {name}")

    def jobs_and_tasks(self) -> dict[str, tuple[int, int]]:
        """Spark jobs and tasks each stage of this scan ran (for the benchmark)."""
        tracker = self.sc.statusTracker()
        counts = {}
        for group in self.stage_groups:
            jobs = tracker.getJobIdsForGroup(group)
            tasks = 0
            for job in jobs:
                info = tracker.getJobInfo(job)
                for stage in (info.stageIds if info else []):
                    stage_info = tracker.getStageInfo(stage)
                    tasks += stage_info.numTasks if stage_info else 0
            counts[group.split(":", 1)[1]] = (len(jobs), tasks)
        return counts

    def discover(self, lake: Lake) -> tuple[list[TableRef], list[str]]:
        """The tables of the lake: its folders, or for `catalog:` lakes the catalog's tables (views
        are passed by and listed in the warnings)."""
        from fnmatch import fnmatchcase

        from r2d2.discover import discover_tables

        if not lake.uri.startswith(CATALOG_PREFIX):
            return discover_tables(lake)
        database, pattern = parse_catalog_uri(lake.uri)
        try:
            listed = self.spark.catalog.listTables(database)
        except Exception as exc:
            raise UsageError(f"cannot list catalog database {database}: {_concise_java(exc)}") from None
        from r2d2.storage.paths import unsafe_name

        refs, views, warnings = [], [], []
        qualified = ".".join(quote_name(part) for part in database.split("."))
        for table in listed:
            if not fnmatchcase(table.name, pattern):
                continue
            name = f"{database}.{table.name}"
            if unsafe_name(name):
                warnings.append(f"skipped table {name!r}: its name holds a control character or a backslash")
            elif table.isTemporary or (table.tableType or "").upper() == "VIEW":
                views.append(name)
            else:  # located by its quoted identifier: any character of a name reads as itself
                refs.append(TableRef(name, "catalog", f"{qualified}.{quote_name(table.name)}"))
        if views:
            warnings.append(f"{len(views)} view(s) skipped (r2d2 compares stored tables): {', '.join(sorted(views))}")
        return sorted(refs, key=lambda r: r.id), warnings

    def _profile_catalog(self, ref: TableRef, progress: Callable[[], None]) -> TableProfile:
        """A catalog table as the session sees it. Delta and Parquet tables whose files the session
        reaches are profiled from their log or footers (see _catalog_file_profile). Others get their
        schema from the catalog, rows counted by Spark (Parquet from footers), size from the plan's
        statistics, and no column bounds: nothing is refuted by statistics. Catalog tables are
        always read by name, and the sample stage passes them by."""
        from r2d2.model import Column, ColumnStats, DataFile, Fragment
        from r2d2.profile import check_column_names

        profile = TableProfile(ref.id, "unknown", ref.location, reader="catalog", statistics="none")
        try:
            frame = self.spark.table(ref.location)
            detail = {r["col_name"]: r["data_type"] for r in self.spark.sql(
                f"DESCRIBE TABLE EXTENDED {ref.location}").collect()}
            profile.format = str(detail.get("Provider") or "unknown").lower()
            from_files = self._catalog_file_profile(ref, frame, profile.format, detail.get("Location"))
            if from_files is not None:
                return from_files
            profile.columns = [Column(f.name, _arrow_type(f.dataType)) for f in frame.schema.fields]
            check_column_names(ref.id, [c.name for c in profile.columns])
            profile.rows = int(frame.count())
            profile.bytes = self._catalog_bytes(frame)
        except R2D2Error as exc:
            profile.error = str(exc)
        except Exception as exc:
            profile.error = str(read_error(ref.id, exc))
        finally:
            progress()
        if profile.error is None:
            profile.files = [DataFile(ref.location, profile.bytes)]
            profile.fragments = [Fragment(0, None, profile.rows, {c.name: ColumnStats() for c in profile.columns})]
            width = max(1, len(profile.columns))
            profile.column_bytes = {c.name: profile.bytes // width for c in profile.columns}
            profile.stats = {c.name: ColumnStats() for c in profile.columns}
        return profile

    def _catalog_file_profile(self, ref: TableRef, frame: Any, provider: str, location: str | None
                              ) -> TableProfile | None:
        """A Delta or Parquet catalog table whose files the session reaches, profiled from its log or
        from the footers of exactly the files Spark reads for it (`inputFiles`), so min-max works on
        it as on a folder; read by name all the same. None when the files cannot tell (another
        format, files outside the location, folders that are not Hive partitions)."""
        from r2d2.partition import parse_partition_folder
        from r2d2.profile import profile_delta, profile_parquet
        from r2d2.storage import Entry
        from r2d2.storage.hadoop import lake_at, path_in

        if provider not in ("delta", "parquet") or not location:
            return None
        lake = lake_at(self.spark, location)
        if provider == "delta":
            profile = profile_delta(lake, TableRef(ref.id, "delta", lake.path), self.config)
        else:
            entries, partitions = [], []
            for uri in sorted(frame.inputFiles()):
                path = path_in(lake, uri)
                if path is None:
                    return None
                folders = path[len(lake.path.rstrip("/")) + 1:].split("/")[:-1]
                parsed = [parse_partition_folder(f) for f in folders]
                if any(p is None for p in parsed):
                    return None
                entries.append(Entry(path.rsplit("/", 1)[1], path, False, lake.size(path)))
                partitions.append({k: v for k, v in parsed if k is not None})  # type: ignore[misc]
            profile = profile_parquet(lake, TableRef(ref.id, "parquet", lake.path, entries, partitions), self.config)
        self.lake.counter.add(lake.counter.total)
        profile.location, profile.reader = ref.location, "catalog"
        return profile

    def _catalog_bytes(self, frame: Any) -> int:
        """A catalog table's stored bytes: the plan's statistics when the catalog knows them (Delta
        does), else the sizes of the files Spark would read (a listing, no data)."""
        size = int(str(frame._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
        if size < 2**62:  # Spark's "unknown" is spark.sql.defaultSizeInBytes, Long.MaxValue
            return size
        jvm, conf = self.spark._jvm, self.spark._jsc.hadoopConfiguration()
        total = 0
        for name in frame.inputFiles():
            path = jvm.org.apache.hadoop.fs.Path(name)
            total += int(path.getFileSystem(conf).getFileStatus(path).getLen())
        return total

    def profile_tables(self, refs: list[TableRef], progress: Callable[[], None]) -> list[TableProfile]:
        if not refs:
            return []
        if self.read == "spark":  # footers and logs through the session's file system, on the driver
            from r2d2.profile import profile_tables

            found = [self._profile_catalog(r, progress) for r in refs if r.format.startswith("catalog")]
            by_id = {p.id: p for p in found}
            paths = [r for r in refs if not r.format.startswith("catalog")]
            by_id.update((p.id, p) for p in profile_tables(self.lake, paths, self.config, progress))
            return [by_id[r.id] for r in refs]
        shared = self.sc.broadcast(refs)
        rows = (self._parallel(len(refs))
                .mapInArrow(_profile_batches(self.lake, self.config, shared), "i int, profile binary, bytes long")
                .collect())
        shared.unpersist()
        profiles: dict[int, TableProfile] = {}
        for row in rows:
            profiles[row["i"]] = pickle.loads(row["profile"])
            self.lake.counter.add(row["bytes"])
            progress()
        return [profiles[i] for i in range(len(refs))]

    def probe_samples(self, probes: list[ParentProbe], tick: Callable[[], None]
                      ) -> tuple[dict[tuple[str, str], str | None], dict[str, R2D2Error]]:
        verdicts: dict[tuple[str, str], str | None] = {}
        failed: dict[str, R2D2Error] = {}
        if not probes:
            return verdicts, failed
        if self.read == "spark":  # the chosen row groups, through the session's file system
            engine = _task_engine(self.lake, self.config)
            try:
                return engine.probe_samples(probes, tick)
            finally:
                engine.close()
        schema = "parent string, child string, reason string, error binary"
        shared = self.sc.broadcast(probes)
        rows = self._parallel(len(probes)).mapInArrow(_probe_batches(self.lake, self.config, shared), schema).collect()
        shared.unpersist()
        for row in rows:
            if row["error"] is not None:
                failed[row["parent"]] = pickle.loads(row["error"])
            elif row["parent"] == "":
                self.lake.counter.add(int(row["reason"]))
                tick()
            else:
                verdicts[(row["parent"], row["child"])] = row["reason"]
        return verdicts, failed

    def fingerprint(self, jobs: list[FingerprintJob], tick: Callable[[], None]) -> dict[str, R2D2Error]:
        for job in jobs:
            self._tables.setdefault(job.table.id, len(self._tables))
            self._colsets[job.table.id] = {cs: k for k, cs in enumerate(job.colsets)}
        if self.read == "spark":
            return self._fingerprint_native(jobs, tick)
        return self._fingerprint_pyarrow(jobs, tick)

    def _fingerprint_pyarrow(self, jobs: list[FingerprintJob], tick: Callable[[], None]) -> dict[str, R2D2Error]:
        from pyspark.sql import functions as F

        units: list[tuple[int, TableProfile, list, list[int]]] = []
        for job in jobs:
            number = self._tables[job.table.id]
            chunk: list[int] = []
            rows = 0
            for index, fragment in enumerate(job.table.fragments):
                if chunk and rows + fragment.rows > UNIT_ROWS:
                    units.append((number, job.table, job.colsets, chunk))
                    chunk, rows = [], 0
                chunk.append(index)
                rows += fragment.rows
            units.append((number, job.table, job.colsets, chunk))
        failed: dict[str, R2D2Error] = {}
        if not units:
            return failed
        shared = self.sc.broadcast(units)
        raw = self._parallel(len(units)).mapInArrow(_fingerprint_batches(self.lake, self.keys, shared), FP_SCHEMA)
        raw = raw.persist()
        names = {number: tid for tid, number in self._tables.items()}
        for row in raw.filter(F.col("note").isNotNull()).select("t", "note").collect():
            kind, _, payload = row["note"].partition(":")
            if kind == "bytes":
                self.lake.counter.add(int(payload))
            else:
                failed[names[row["t"]]] = pickle.loads(bytes.fromhex(payload))
        self._fps = (raw.filter(F.col("note").isNull()).groupBy("t", "k", "a", "b").agg(F.sum("cnt").alias("cnt"))
                     .persist())
        self._fps.count()
        raw.unpersist()
        shared.unpersist()
        for _ in jobs:
            tick()
        return failed

    def _fingerprint_native(self, jobs: list[FingerprintJob], tick: Callable[[], None]) -> dict[str, R2D2Error]:
        """Each table read by Spark's own reader (Parquet, Delta, or the catalog), its batches
        fingerprinted in Python workers; tables go NATIVE_BATCH_TABLES to a job. A job that fails
        (a file Spark cannot read) is run again table by table, so only the bad table carries the
        error."""
        failed: dict[str, R2D2Error] = {}
        for start in range(0, len(jobs), NATIVE_BATCH_TABLES):
            batch = jobs[start:start + NATIVE_BATCH_TABLES]
            scans = self._table_scans(batch, failed)
            try:
                self._keep(self._fingerprinted(scans))
            except Exception:
                for table_id, scan in scans.items():
                    job = scan[0]
                    try:
                        self._keep(self._fingerprinted({table_id: scan}))
                    except Exception as exc:
                        failed[job.table.id] = read_error(job.table.id, exc)
            for job in batch:
                if job.table.id not in failed:  # what the footers say these columns take
                    columns = colset_specs(job.table, job.colsets)[0]
                    self.lake.counter.add(sum(job.table.column_bytes.get(c, 0) for c in columns))
                tick()
        parts = self._parts
        self._fps = parts[0] if len(parts) == 1 else None
        if len(parts) > 1:
            from functools import reduce

            self._fps = reduce(lambda a, b: a.unionByName(b), parts)
        return failed

    def _table_scans(self, jobs: list[FingerprintJob], failed: dict[str, R2D2Error]
                     ) -> dict[str, tuple[FingerprintJob, Any, str, list[pa.DataType], list]]:
        """Per table: its scan (t, c0..cN), the scan's schema, and its column types and sets."""
        scans = {}
        for job in jobs:
            try:
                columns, types, specs = colset_specs(job.table, job.colsets)
                frame = self.table_frame(job.table, columns, self._tables[job.table.id])
                scans[job.table.id] = (job, frame, frame.schema.simpleString(), types, specs)
            except R2D2Error as exc:
                failed[job.table.id] = exc
            except Exception as exc:
                failed[job.table.id] = read_error(job.table.id, exc)
        return scans

    def _fingerprinted(self, scans: dict[str, tuple[FingerprintJob, Any, str, list[pa.DataType], list]]) -> list[Any]:
        """The fingerprints of these scans: one mapInArrow per schema over the union of its tables."""
        from functools import reduce

        by_schema: dict[str, list[tuple[FingerprintJob, Any, list[pa.DataType], list]]] = {}
        for job, frame, schema, types, specs in scans.values():
            by_schema.setdefault(schema, []).append((job, frame, types, specs))
        frames = []
        for group in by_schema.values():
            union = reduce(lambda a, b: a.unionByName(b), [frame for _, frame, _, _ in group])
            tables = {self._tables[job.table.id]: (types, specs) for job, _, types, specs in group}
            frames.append(union.mapInArrow(_native_fingerprints(tables, self.keys), FP_SCHEMA))
        return frames

    def _keep(self, frames: list[Any]) -> None:
        """Group the fingerprints of these scans and keep them on the executors (one Spark job). A
        local checkpoint, not a cache: the kept plan is a scan of blocks, so later unions and joins
        do not re-analyse dozens of table scans, and Spark's cache manager does not compare every
        new plan with every kept one."""
        from functools import reduce

        from pyspark.sql import functions as F

        present = [f for f in frames if f is not None]
        if not present:
            return
        union = reduce(lambda a, b: a.unionByName(b), present)
        # Small tables are one split each: a task per table would cost more than its reading.
        # Coalescing (no shuffle) runs several tables' scans in one task, the cluster's cores busy.
        union = union.coalesce(self.sc.defaultParallelism * 2)  # fewer partitions already: unchanged
        self._parts.append(union.groupBy("t", "k", "a", "b").agg(F.sum("cnt").alias("cnt")).localCheckpoint())

    def table_frame(self, profile: TableProfile, columns: list[str], number: int = 0) -> Any:
        """A table's number (as t) and columns (as c0..cN) as Spark's own reader gives them, with the
        session's credentials: catalog tables by name, Delta through delta-spark (deletion vectors,
        column mapping), Parquet files under the table's schema (partition values typed as
        profiled, absent columns NULL)."""
        if profile.reader == "catalog":
            frame = self.spark.table(profile.location)
        elif profile.format == "delta":
            frame = self.spark.read.format("delta").load(self.lake.spark_uri(profile.location))
        else:
            frame = (self.spark.read.schema(spark_schema(profile)).option("basePath", self.lake.spark_uri(
                profile.location)).parquet(*[_literal_path(self.lake.spark_uri(f.path)) for f in profile.files]))
        # renamed c0..cN: mapInArrow looks its input columns up by unquoted name ('price.eur' fails);
        # one selectExpr is one call into the JVM, a column object per name would be two each
        return frame.selectExpr(f"CAST({int(number)} AS INT) AS t",
                                *[f"{quote_name(c)} AS c{i}" for i, c in enumerate(columns)])

    def compare(self, checks: list[PairCheck], semantics: str) -> list[tuple[int, int]]:
        from pyspark.sql import functions as F

        if not checks:
            return []
        pairs = self.spark.createDataFrame(
            [(i, self._tables[c.child], self._colsets[c.child][c.child_colset], self._tables[c.parent],
              self._colsets[c.parent][c.parent_colset]) for i, c in enumerate(checks)],
            "i int, ct int, ck int, pt int, pk int")
        child = self._fps.select(F.col("t").alias("ct"), F.col("k").alias("ck"), "a", "b", F.col("cnt").alias("c_cnt"))
        parent = self._fps.select(F.col("t").alias("pt"), F.col("k").alias("pk"), "a", "b", F.col("cnt").alias("p_cnt"))
        joined = pairs.join(child, ["ct", "ck"]).join(parent, ["pt", "pk", "a", "b"], "left")
        if semantics == "bag":
            missing = F.sum(F.greatest(F.col("c_cnt") - F.coalesce(F.col("p_cnt"), F.lit(0)), F.lit(0)))
            total = F.sum("c_cnt")
        else:
            missing = F.sum(F.when(F.col("p_cnt").isNull(), 1).otherwise(0))
            total = F.count(F.lit(1))
        found = {row["i"]: (int(row["missing"] or 0), int(row["total"] or 0))
                 for row in joined.groupBy("i").agg(missing.alias("missing"), total.alias("total")).collect()}
        return [found.get(i, (0, 0)) for i in range(len(checks))]

    def close(self) -> None:
        for part in self._parts:
            part.unpersist()
        if self._fps is not None:
            self._fps.unpersist()
        if self._own_session:
            self.spark.stop()

