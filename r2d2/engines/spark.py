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

from r2d2.config import ScanConfig, read_yaml_mapping
from r2d2.discover import TableRef
from r2d2.engines.fingerprint import Keys
from r2d2.errors import EngineError, R2D2Error, UsageError
from r2d2.model import TableProfile
from r2d2.sample import ParentProbe
from r2d2.storage import Lake
from r2d2.verify import ColumnSet, FingerprintJob, PairCheck

UNIT_ROWS = 2_000_000  # rows of one table fingerprinted by one task at most
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
    """One line saying which jar a Spark session lacks and how to get it."""
    kind = "delta" if "delta" in what else "abfs" if ("abfs" in what or "wasb" in what) else "s3a"
    return (f"the Spark session lacks {JARS[kind][0]}: `make setup` fetches it with Maven into spark-jars/lib "
            "(used by local sessions), or give it to spark-submit with --packages/--jars; Databricks has Delta "
            "built in")


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """A session for r2d2. Python workers run this interpreter unless PYSPARK_PYTHON says otherwise
    (on a cluster, the packed virtualenv sets it). A local session gets the jars `make setup`
    fetched (Delta, S3A, ABFS) and Delta's SQL extension and catalog."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    local = (master or os.environ.get("MASTER", "")).startswith("local")
    if local:  # a local session talks to itself over loopback only
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", **(conf or {})}
        jars = jar_folder()
        if jars is not None and "spark.jars" not in conf:
            conf = {"spark.jars": ",".join(str(j) for j in sorted(jars.glob("*.jar"))), **DELTA_CONF, **conf}

    builder = SparkSession.builder.appName("r2d2")
    if master:
        builder = builder.master(master)
    for key, value in {**SPARK_DEFAULTS, **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("R2D2_SPARK_LOG_LEVEL", "WARN"))  # INFO buries the summary
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
                    counted = pa.concat_tables(parts).group_by(["k", "a", "b"], use_threads=False).aggregate(
                        [([], "count_all")])
                    n = counted.num_rows
                    yield pa.record_batch({
                        "t": pa.array(np.full(n, number, np.int32)), "k": counted.column("k").combine_chunks(),
                        # Spark has no unsigned longs: the same 64 bits, signed
                        "a": pa.array(counted.column("a").to_numpy().view(np.int64)),
                        "b": pa.array(counted.column("b").to_numpy().view(np.int64)),
                        "cnt": counted.column("count_all").combine_chunks(), "note": pa.nulls(n, pa.string())})
            except Exception as exc:  # reported per table, never fatal
                problem = exc if isinstance(exc, R2D2Error) else EngineError(
                    f"cannot compare values of {profile.id}: {exc}")
                yield _note(number, "error:" + pickle.dumps(problem).hex())
            yield _note(number, f"bytes:{lake.counter.total - before}")
    return run


def _note(number: int, note: str) -> pa.RecordBatch:
    return pa.record_batch({"t": pa.array([number], pa.int32()), "k": pa.array([-1], pa.int32()),
                            "a": pa.array([0], pa.int64()), "b": pa.array([0], pa.int64()),
                            "cnt": pa.array([0], pa.int64()), "note": pa.array([note])})


# -- driver side ---------------------------------------------------------------------------------

class SparkEngine:
    """Runs the content work of a scan as Spark jobs; see the module docstring."""

    name = "spark"
    compare_batch = 4096  # a Spark job costs seconds: compare in large batches
    compare_rows = 2**62  # executors hold the join: no bound from the driver

    def __init__(self, lake: Lake, config: ScanConfig, spark: Any = None, master: str | None = None,
                 spark_conf: dict[str, str] | None = None) -> None:
        try:
            import pyspark  # noqa: F401
        except ImportError as exc:
            raise UsageError("the Spark engine needs pyspark: pip install 'r2d2[spark]'") from exc
        self.lake, self.config = lake, config
        self._own_session = spark is None
        self.spark = spark if spark is not None else spark_session(master, spark_conf)
        self.sc = self.spark.sparkContext
        self._tables: dict[str, int] = {}
        self._colsets: dict[str, dict[ColumnSet, int]] = {}
        self._fps: Any = None
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

    def profile_tables(self, refs: list[TableRef], progress: Callable[[], None]) -> list[TableProfile]:
        if not refs:
            return []
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
        from pyspark.sql import functions as F

        units: list[tuple[int, TableProfile, list, list[int]]] = []
        for job in jobs:
            number = self._tables.setdefault(job.table.id, len(self._tables))
            self._colsets[job.table.id] = {cs: k for k, cs in enumerate(job.colsets)}
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
        if self._fps is not None:
            self._fps.unpersist()
        if self._own_session:
            self.spark.stop()

