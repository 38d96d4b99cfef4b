"""The embedded engine: pyarrow reads (through the lake's counting file system), numpy hashes,
DuckDB groups and compares.

Rows are fingerprinted by engines/fingerprint.py: 128-bit keyed hashes of canonical values that
realise DESIGN §2's equality (numbers by value, NaN = NaN, -0.0 = 0.0, NULL = NULL, timestamps as
instants), computed over Arrow batches without building text. Bag containment is then
`count(fp in child) <= count(fp in parent)` for every fingerprint; a false "contained" needs a
128-bit collision. DuckDB holds the fingerprint multisets and joins them; it runs in memory and
spills to a temporary folder beyond its memory limit.

The canonical text of values in DuckDB SQL (`canonical_sql`, `fingerprint_sql`) stays here for the
rebuild recipes, whose verification runs inside DuckDB, and for the benchmark's brute force.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

from r2d2.arrays import numpy_array
from r2d2.config import ScanConfig, memory_bytes
from r2d2.discover import TableRef
from r2d2.engines import kernels
from r2d2.engines.fingerprint import FP_SCHEMA, Keys, Run, Spec, fingerprint_many, fingerprint_rows, fingerprint_runs
from r2d2.errors import EngineError, R2D2Error, TableReadError
from r2d2.model import (
    BINARY,
    BOOLEAN,
    DATE,
    NUMERIC,
    OTHER,
    STRING,
    TIMESTAMP,
    TIMESTAMP_TZ,
    TableProfile,
    family_of,
)
from r2d2.parallel import each
from r2d2.profile import profile_tables
from r2d2.sample import ParentProbe, describe_row
from r2d2.stats import NS_PER_UNIT, base_type
from r2d2.storage import Lake
from r2d2.storage.reader import iter_table_batches, read_rows
from r2d2.verify import ColumnSet, FingerprintJob, PairCheck


class _DuckDB:
    """The duckdb module, imported when first used (0.04-0.06 s): a scan whose fingerprints stay in
    memory and whose sample stage probes nothing never needs it."""

    def __getattr__(self, name: str) -> Any:
        import duckdb as module  # the import system's locks make a first use from two threads safe

        return getattr(module, name)


if TYPE_CHECKING:
    import duckdb
else:
    duckdb = _DuckDB()

# Tables up to this size (rows and file bytes) are read whole and their fingerprints are grouped
# many tables at a time; larger ones stream into DuckDB batch by batch.
SMALL_TABLE_ROWS = 200_000
SMALL_TABLE_BYTES = 32_000_000
# File bytes of small tables read, then hashed, together: 1 MB keeps the rows and hashes in flight
# small (4 MB raised the peak by ~50 MB on the 2,000-table lake) at no measured cost in time.
READ_CHUNK_BYTES = 1_000_000
# Stored fingerprint multisets: table t, column set k, the two lanes as one 128-bit key, count.
FPS_TABLE = "(t INTEGER, k INTEGER, fp UHUGEINT, cnt BIGINT)"
FP = "(CAST(a AS UHUGEINT) << 64) | b AS fp"
# Table bytes to read in verify from which loading numba's loops pays (engines/kernels.py; the C
# loops load in a millisecond and always run when built).
JIT_MIN_BYTES = 64_000_000
# Bytes a fingerprint row takes while a table is hashed and grouped in memory (two lanes, a count,
# and the sort's temporaries): what decides whether the lake's multisets fit in memory.
MEMORY_BYTES_PER_ROW = 40
# Pairs per task when in-memory multisets are compared on the workers: a task costs a hand-over of
# the interpreter lock (~0.1 ms), a pair's merge from microseconds to milliseconds.
COMPARE_SLICE = 64

T = TypeVar("T")


class _ShortOfMemory(EngineError):
    """DuckDB ran out of memory on this work beside other work: worth one more try alone."""

# Below this DuckDB memory limit the scan's database is a file (slower: it syncs its log on commit).
ON_DISK_BELOW_BYTES = 1_000_000_000


def _double_text(d: str) -> str:
    """Canonical text of a DOUBLE expression: NaN, ±inf, integral values as exact integers (so
    3.0 = 3), others as DuckDB's shortest round-trip text (distinct doubles, distinct texts)."""
    return (f"CASE WHEN isnan({d}) THEN 'NaN' WHEN isinf({d}) THEN CASE WHEN {d} > 0 THEN 'inf' ELSE '-inf' END "
            f"WHEN {d} = trunc({d}) AND abs({d}) < 1e38 THEN CAST(CAST({d} AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({d} AS VARCHAR) END")


def is_wide_decimal(dtype: pa.DataType) -> bool:
    """Decimals DuckDB cannot hold (over 38 digits): the engine receives their exact text."""
    return pa.types.is_decimal(dtype) and dtype.precision > 38


def canonical_sql(ref: str, dtype: pa.DataType, as_double: bool = False) -> str:
    """DuckDB SQL giving the canonical text of one value (NULL stays NULL). Two values are equal
    under DESIGN §2 exactly when their canonical texts are equal.

    Numbers compare by exact value: integers as their digits, a float as the exact value of its
    double, a decimal as its digits without trailing zeros. The one exception is a decimal whose
    partner column is a float (`as_double`): it compares as the double nearest to it, which
    DuckDB's text-to-double parse gives correctly rounded (its DECIMAL-to-DOUBLE cast does not)."""
    dtype = base_type(dtype)
    family = family_of(dtype)
    if family == NUMERIC:
        if pa.types.is_integer(dtype):
            return f"CAST({ref} AS VARCHAR)"
        if pa.types.is_floating(dtype):
            return _double_text(f"CAST({ref} AS DOUBLE)")
        text = f"CAST({ref} AS VARCHAR)"  # exact digits; wide decimals arrive as that text already
        if as_double:
            return _double_text(f"CAST({text} AS DOUBLE)")
        if is_wide_decimal(dtype) or dtype.scale > 0:
            # '12.500' -> '12.5', '12.000' -> '12': the same text as the integer 12 or decimal 12.5.
            return f"CASE WHEN contains({text}, '.') THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END"
        return f"CAST(CAST({ref} AS HUGEINT) AS VARCHAR)"
    if family == STRING:
        return f"CAST({ref} AS VARCHAR)"
    if family == BINARY:
        return f"hex({ref})"
    if family == BOOLEAN:
        return f"CASE WHEN {ref} THEN 't' ELSE 'f' END"
    if family == DATE:
        return f"CAST({ref} AS VARCHAR)"
    if family in (TIMESTAMP, TIMESTAMP_TZ):  # the engine receives the raw count of units
        return f"CAST(CAST({ref} AS HUGEINT) * {NS_PER_UNIT[dtype.unit]} AS VARCHAR)"
    return f"CAST({ref} AS VARCHAR)"


def fingerprint_sql(refs: list[str], types: list[pa.DataType], doubles: list[bool] | None = None) -> str:
    """A 128-bit fingerprint of a row: MD5 of its values' canonical texts joined by '|', NULL as 'N'.

    Numbers, dates, booleans, timestamps and hex never contain '|' or equal 'N'; strings and other
    texts are length-prefixed. So no two different rows share an encoding."""
    parts = []
    for ref, dtype, as_double in zip(refs, types, doubles or [False] * len(refs)):
        text = canonical_sql(ref, dtype, as_double)
        if family_of(base_type(dtype)) in (STRING, OTHER):
            parts.append(f"CASE WHEN {ref} IS NULL THEN 'N' ELSE CAST(length({text}) AS VARCHAR) || ':' || {text} END")
        else:
            parts.append(f"coalesce({text}, 'N')")
    return f"md5_number(concat_ws('|', {', '.join(parts)}))"


def _is_small(table: TableProfile) -> bool:
    return table.rows <= SMALL_TABLE_ROWS and table.bytes <= SMALL_TABLE_BYTES


def colset_specs(profile: TableProfile, colsets: list[ColumnSet]) -> tuple[list[str], list[pa.DataType], list[Spec]]:
    """The columns to read for these column sets (in table order), their types, and each set as
    positions into them."""
    wanted = {c for cs in colsets for c, _ in cs}
    chosen = [x for name, x in profile.columns_by_name().items() if name in wanted]  # in table order
    columns = [x.name for x in chosen]
    position = {c: i for i, c in enumerate(columns)}
    return columns, [x.type for x in chosen], [[(position[c], d) for c, d in cs] for cs in colsets]


def _chunks(jobs: list[FingerprintJob], max_bytes: int) -> Iterator[list[FingerprintJob]]:
    """Consecutive runs of jobs whose tables add up to at most `max_bytes` (at least one job)."""
    chunk: list[FingerprintJob] = []
    size = 0
    for job in jobs:
        if chunk and size + job.table.bytes > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append(job)
        size += job.table.bytes
    if chunk:
        yield chunk


def _engine_error(table_id: str, exc: Exception) -> EngineError:
    kind = _ShortOfMemory if isinstance(exc, duckdb.OutOfMemoryException) else EngineError
    return kind(f"cannot compare values of {table_id}: {exc}")


class LocalEngine:
    """DuckDB over Arrow streams: one database per scan, spilling to a temporary folder beyond
    `duckdb_memory_limit` (a file in that folder when the limit is under ON_DISK_BELOW_BYTES, so
    that the fingerprints it stores can leave memory too), and retrying on one thread what runs out
    of memory beside other work; worker threads use their own cursors on it."""

    name = "local"
    compare_batch = 4096  # each query scans the stored fingerprints: few large batches
    compare_rows = 16_000_000  # child rows per query: the join holds them, so memory stays bounded

    def __init__(self, lake: Lake, config: ScanConfig) -> None:
        self.lake = lake
        self.config = config
        self._dir: Path | None = None
        self._con: duckdb.DuckDBPyConnection | None = None  # opened on first use (see con)
        self._con_lock = threading.Lock()
        self.keys = Keys.fresh()
        self._warming: threading.Thread | None = None
        # pyarrow decodes a large file on threads of its own only when the scan runs none: beside
        # the scan's, they contend (benchmarks/scan_bench.py lakes, 2 workers, without them:
        # real-shaped 4.09 -> 3.93 s, TPC-H SF 1 2.95 -> 2.85 s, generated unchanged)
        self._decode_threads = config.workers < 2
        self._tables: dict[str, int] = {}  # table id -> its number t in `fps`
        self._colsets: dict[str, dict[ColumnSet, int]] = {}
        self._job_specs: dict[str, tuple[FingerprintJob, tuple[list[str], list[pa.DataType], list[Spec]]]] = {}
        # In memory (see fingerprint_store): (t, k) -> distinct fingerprints sorted by lanes (a, b),
        # and their counts; a multiset absent here is empty. None: the multisets are in DuckDB.
        self._grouped: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The scan's database, opened on first use: a scan whose fingerprints stay in memory and
        whose sample stage probes nothing never pays for it (about 30 MB)."""
        with self._con_lock:
            if self._con is None:
                self._dir = Path(tempfile.mkdtemp(prefix="r2d2-duckdb-"))
                # Under a small memory limit the stored fingerprints must be able to leave memory, which
                # only a database file allows; above it an in-memory database is faster (no WAL syncs).
                on_disk = memory_bytes(self.config.duckdb_memory_limit) < ON_DISK_BELOW_BYTES
                con = duckdb.connect(str(self._dir / "scan.duckdb") if on_disk else ":memory:", config={
                    "threads": self.config.workers, "memory_limit": self.config.duckdb_memory_limit,
                    "temp_directory": str(self._dir / "spill"), "preserve_insertion_order": False,
                })
                con.execute("SET enable_progress_bar = false")
                # Every fingerprint multiset: table number t, column set k, fingerprint, count.
                con.execute(f"CREATE TABLE fps {FPS_TABLE}")
                self._con = con
            return self._con

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """DuckDB on one thread: each thread of an operator needs its own buffers, so a query that
        ran out of memory beside others may fit alone."""
        self.con.execute("SET threads = 1")
        try:
            yield
        finally:
            self.con.execute(f"SET threads = {self.config.workers}")

    def _out_of_memory(self, what: str) -> EngineError:
        return EngineError(f"DuckDB ran out of memory {what}, even alone on one thread, within "
                           f"duckdb_memory_limit {self.config.duckdb_memory_limit} (it spills what it can "
                           "to a temporary folder); raise duckdb_memory_limit")

    def _retry_alone(self, what: str, run: Callable[[], T]) -> T:
        """`run`, and when DuckDB runs out of memory, `run` again on one thread."""
        try:
            return run()
        except duckdb.OutOfMemoryException:
            with self._one_thread():
                try:
                    return run()
                except duckdb.OutOfMemoryException as exc:
                    raise self._out_of_memory(what) from exc

    def _group_into(self, cursor: duckdb.DuckDBPyConnection, target: str, number: int, profile: TableProfile,
                    colsets: list[ColumnSet], fragments: list[int] | None) -> None:
        """One streaming pass over a table's fragments: INSERT INTO `target` (t, k, fp, cnt) the
        fingerprint multiset of each column set k."""
        columns, types, specs = colset_specs(profile, colsets)
        fps = pa.RecordBatchReader.from_batches(FP_SCHEMA, (
            part for batch in iter_table_batches(self.lake, profile, columns, fragments, threads=self._decode_threads)
            for part in fingerprint_rows(batch, types, specs, self.keys).to_batches()))
        cursor.register("__fp", fps)
        try:
            cursor.execute(f"INSERT INTO {target} SELECT {number}, k, {FP}, count(*) FROM __fp GROUP BY ALL")
        finally:
            cursor.unregister("__fp")

    def begin_stage(self, name: str) -> None:
        pass

    def profile_tables(self, refs: list[TableRef], progress: Callable[[], None]) -> list[TableProfile]:
        profiles = profile_tables(self.lake, refs, self.config, progress)
        if kernels.AVAILABLE and not kernels.loads_free() and self._warming is None and \
                sum(p.bytes for p in profiles if p.error is None) >= JIT_MIN_BYTES:
            # likely to hash enough to pay for numba: load it beside the schema and min-max stages
            self._warming = threading.Thread(target=kernels.warm, name="r2d2-warm", daemon=True)
            self._warming.start()
        return profiles

    def _choose_loops(self, jobs: list[FingerprintJob]) -> None:
        """The C loops; numba's for this verify when its reads are large enough to pay for loading
        them (measured: about 0.4 s and 150 MB; on a 26 MB lake numpy's code was as fast); else
        numpy's code, which computes the same hashes."""
        kernels.JIT = kernels.AVAILABLE and (kernels.loads_free() or sum(j.table.bytes for j in jobs) >= JIT_MIN_BYTES)

    # Stage 3a -----------------------------------------------------------------------------------
    def probe_samples(self, probes: list[ParentProbe], tick: Callable[[], None]
                      ) -> tuple[dict[tuple[str, str], str | None], dict[str, R2D2Error]]:
        verdicts: dict[tuple[str, str], str | None] = {}
        failed: dict[str, R2D2Error] = {}
        for probe in probes:
            try:
                verdicts.update(self._probe_samples(probe))
            except (TableReadError, EngineError) as exc:
                failed[probe.parent.id] = exc
            except (duckdb.Error, pa.ArrowException) as exc:
                failed[probe.parent.id] = EngineError(f"cannot probe {probe.parent.id}: {exc}")
            tick()
        return verdicts, failed

    def _probe_samples(self, probe: ParentProbe) -> dict[tuple[str, str], str | None]:
        colsets = sorted({check.parent_colset for check in probe.checks})
        self.con.execute(f"CREATE OR REPLACE TABLE __probe {FPS_TABLE}")
        self._retry_alone(f"fingerprinting the sampled fragments of {probe.parent.id}", lambda: self._group_into(
            self.con, "__probe", 0, probe.parent, colsets, probe.fragments))
        index = {cs: k for k, cs in enumerate(colsets)}
        verdicts: dict[tuple[str, str], str | None] = {}
        for check in probe.checks:
            sample = check.sample
            spec = [(i, d) for i, (_, d) in enumerate(check.child_colset)]
            rows = fingerprint_rows(sample.rows, sample.types, [spec], self.keys)
            # An explicit row index: the row shown as evidence must be the one that is missing.
            numbered = rows.append_column("i", numpy_array(np.arange(rows.num_rows, dtype=np.int64)))
            self.con.register("__sample", numbered)
            try:
                row = self.con.execute(
                    f"WITH c AS (SELECT {FP}, count(*) AS cnt, min(i) AS i FROM __sample GROUP BY ALL) "
                    "SELECT c.i, c.cnt, coalesce(p.cnt, 0) FROM c LEFT JOIN __probe p "
                    f"ON p.fp = c.fp AND p.k = {index[check.parent_colset]} "
                    f"WHERE coalesce(p.cnt, 0) < {'c.cnt' if self.config.semantics == 'bag' else '1'} "
                    f"ORDER BY c.i LIMIT 1").fetchall()
            finally:
                self.con.unregister("__sample")
            if not row:
                verdicts[check.candidate.key] = None
            else:
                i, in_sample, in_parent = row[0]
                shown = describe_row(sample, int(i))
                verdicts[check.candidate.key] = (
                    f"sampled row {shown} is not in the parent" if in_parent == 0 else
                    f"sampled row {shown} occurs {in_sample} times in the child's sample, {in_parent} in the parent")
        self.con.execute("DROP TABLE IF EXISTS __probe")
        return verdicts

    # Stage 3b -----------------------------------------------------------------------------------
    def fingerprint(self, jobs: list[FingerprintJob], tick: Callable[[], None]) -> dict[str, R2D2Error]:
        """Fingerprint every job's table once, on `workers` threads; returns the tables that could
        not be read (TableReadError) or compared (EngineError).

        Large tables stream, a batch at a time. Small tables (most of a typical lake) are read and
        hashed a chunk at a time (READ_CHUNK_BYTES of files), many tables per call. Their
        fingerprints are grouped in memory (see in_memory), or in DuckDB: one grouped INSERT per
        large table and per chunk of small ones, as DuckDB's fixed cost per query would otherwise
        dominate."""
        failed: dict[str, R2D2Error] = {}
        for job in jobs:
            self._tables[job.table.id] = len(self._tables)
            self._colsets[job.table.id] = {cs: k for k, cs in enumerate(job.colsets)}
        self._choose_loops(jobs)
        if self._grouped is None and self.in_memory(jobs):
            self._grouped = {}
        small = [j for j in jobs if _is_small(j.table)]
        large = [j for j in jobs if not _is_small(j.table)]

        def run(task: FingerprintJob | list[FingerprintJob]) -> dict[str, R2D2Error]:
            if isinstance(task, FingerprintJob):  # a large table, streamed
                problem = self._fingerprint_large(task)
                tick()
                return {} if problem is None else {task.table.id: problem}
            problems: dict[str, R2D2Error] = {}
            read = []
            for job in task:
                rows = self._read_small(job)
                if isinstance(rows, R2D2Error):
                    problems[job.table.id] = rows
                else:
                    read.append((job, rows))
                tick()
            problems.update(self._store_small(read))
            return problems

        # Each thread takes the next large table or chunk of small ones, reads it and hashes it: while
        # one thread hashes (numba and numpy let go of the interpreter lock), the other reads, and at
        # most `workers` chunks of rows are in memory. A task per chunk, not per table: a task costs
        # the threads a hand-over of the lock (see parallel.each).
        tasks: list[FingerprintJob | list[FingerprintJob]] = [*large, *_chunks(small, READ_CHUNK_BYTES)]
        for problems in each(run, tasks, self.config.workers):
            failed.update(problems)
        retry = [job for job in jobs if isinstance(failed.get(job.table.id), _ShortOfMemory)]
        if retry:  # nothing of theirs was stored (each INSERT is atomic): again, one at a time
            with self._one_thread():
                for job in retry:
                    problem = self._fingerprint_large(job)
                    if isinstance(problem, _ShortOfMemory):
                        problem = self._out_of_memory(f"fingerprinting {job.table.id}")
                    if problem is None:
                        del failed[job.table.id]
                    else:
                        failed[job.table.id] = problem
        return failed

    def in_memory(self, jobs: list[FingerprintJob]) -> bool:
        """Whether the multisets are kept in memory: `fingerprint_store`, or under auto, when every
        job's rows fit in a quarter of duckdb_memory_limit (grouped and compared by numba's loops,
        or by numpy's sorts and searches when verify reads too little for numba to pay)."""
        store = self.config.fingerprint_store
        if store == "duckdb":
            return False
        rows = sum(job.table.rows * len(job.colsets) for job in jobs)
        return store == "memory" or rows * MEMORY_BYTES_PER_ROW <= memory_bytes(self.config.duckdb_memory_limit) // 4

    def _keep(self, fingerprints: tuple[list[Run], np.ndarray, np.ndarray]) -> None:
        """Group fingerprint_runs' runs into the in-memory store, each its multiset (a run of no
        rows stores none: an absent multiset is empty)."""
        assert self._grouped is not None
        runs, lanes_a, lanes_b = fingerprints
        runs = [run for run in runs if run[2]]
        if not runs:
            return
        starts = np.cumsum([0] + [n for _, _, n in runs], dtype=np.int64)
        a, b, count, first = kernels.group(lanes_a, lanes_b, starts)
        for s, (t, k, _) in enumerate(runs):
            self._grouped[t, k] = (a[first[s]:first[s + 1]], b[first[s]:first[s + 1]], count[first[s]:first[s + 1]])

    def _keep_large(self, job: FingerprintJob) -> None:
        """One streaming pass over a large table, its fingerprints grouped per column set in memory
        (each batch's fingerprints are runs of one set each: kept per set, never all sorted at once)."""
        columns, types, specs = colset_specs(job.table, job.colsets)
        number = self._tables[job.table.id]
        lanes: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in range(len(specs))}
        for batch in iter_table_batches(self.lake, job.table, columns, dictionaries=True,
                                        threads=self._decode_threads):
            runs, a, b = fingerprint_runs([(number, batch, types, specs)], self.keys)
            start = 0
            for _, k, n in runs:
                if n:
                    lanes[k].append((a[start:start + n], b[start:start + n]))
                start += n
        assert self._grouped is not None
        for k, parts in lanes.items():
            if parts:
                a = np.concatenate([p[0] for p in parts])
                b = np.concatenate([p[1] for p in parts])
                parts.clear()
                ga, gb, count, _ = kernels.group(a, b, np.array([0, len(a)]))
                self._grouped[number, k] = (ga, gb, count)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = self.con.cursor()
        cursor.execute("SET enable_progress_bar = false")
        return cursor

    def _fingerprint_large(self, job: FingerprintJob) -> R2D2Error | None:
        if self._grouped is not None:
            try:
                self._keep_large(job)
                return None
            except TableReadError as exc:
                return exc
            except (pa.ArrowException, ValueError, OverflowError, MemoryError) as exc:
                return _engine_error(job.table.id, exc)
        cursor = self._cursor()
        try:
            self._group_into(cursor, "fps", self._tables[job.table.id], job.table, job.colsets, None)
            pa.default_memory_pool().release_unused()  # a large table's batches are gone: give their memory back
            return None
        except TableReadError as exc:
            return exc
        except (duckdb.Error, pa.ArrowException, ValueError, OverflowError) as exc:
            return _engine_error(job.table.id, exc)
        finally:
            cursor.close()

    def _read_small(self, job: FingerprintJob) -> pa.Table | R2D2Error:
        try:
            return read_rows(self.lake, job.table, self._specs(job)[0], dictionaries=True)
        except TableReadError as exc:
            return exc
        except pa.ArrowException as exc:
            return EngineError(f"cannot read values of {job.table.id}: {exc}")

    def _store_small(self, read: list[tuple[FingerprintJob, pa.Table]]) -> dict[str, R2D2Error]:
        """Fingerprint many small tables together and store their multisets in one query (or
        group them in memory); when that fails, table by table to find which cannot be compared."""
        if not read:
            return {}
        failed: dict[str, R2D2Error] = {}
        if self._grouped is not None:
            try:
                self._keep(fingerprint_runs([self._part(job, rows) for job, rows in read], self.keys))
            except (pa.ArrowException, ValueError, OverflowError):
                for job, rows in read:
                    try:
                        self._keep(fingerprint_runs([self._part(job, rows)], self.keys))
                    except (pa.ArrowException, ValueError, OverflowError) as exc:
                        failed[job.table.id] = _engine_error(job.table.id, exc)
            read.clear()
            return failed
        cursor = self._cursor()
        try:
            try:
                self._store(cursor, fingerprint_many([self._part(job, rows) for job, rows in read], self.keys))
                read.clear()  # the rows are hashed: their memory can go back
                pa.default_memory_pool().release_unused()
                return {}
            except (duckdb.Error, pa.ArrowException, ValueError, OverflowError):
                for job, rows in read:
                    try:
                        self._store(cursor, fingerprint_many([self._part(job, rows)], self.keys))
                    except (duckdb.Error, pa.ArrowException, ValueError, OverflowError) as exc:
                        failed[job.table.id] = _engine_error(job.table.id, exc)
                return failed
        finally:
            cursor.close()

    def _part(self, job: FingerprintJob, rows: pa.Table) -> tuple[int, pa.Table, list[pa.DataType], list[Spec]]:
        _, types, specs = self._specs(job)
        return self._tables[job.table.id], rows, types, specs

    def _specs(self, job: FingerprintJob) -> tuple[list[str], list[pa.DataType], list[Spec]]:
        """colset_specs of a job, worked out once (its rows are read, then hashed)."""
        found = self._job_specs.get(job.table.id)
        if found is None or found[0] is not job:
            found = self._job_specs[job.table.id] = (job, colset_specs(job.table, job.colsets))
        return found[1]

    @staticmethod
    def _store(cursor: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
        cursor.register("__rows", rows)
        try:
            cursor.execute(f"INSERT INTO fps SELECT t, k, {FP}, count(*) FROM __rows GROUP BY ALL")
        finally:
            cursor.unregister("__rows")

    def compare(self, checks: list[PairCheck], semantics: str) -> list[tuple[int, int]]:
        """(child rows missing from the parent, child rows) for each pair, in one query (or, in
        memory, a merge of the two sorted multisets per pair)."""
        if not checks:
            return []
        if self._grouped is not None:
            grouped = self._grouped
            empty = (np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64))

            def merge(some: Sequence[PairCheck]) -> list[tuple[int, int]]:
                out = []
                for check in some:
                    child = grouped.get((self._tables[check.child], self._colsets[check.child][check.child_colset]))
                    parent = grouped.get(
                        (self._tables[check.parent], self._colsets[check.parent][check.parent_colset]))
                    out.append(kernels.missing(child or empty, parent or empty, semantics == "bag"))
                return out

            if not kernels.JIT:  # numpy's searches hold the interpreter lock between calls: one thread
                return merge(checks)
            # numba's merges let go of the lock: on every worker, a slice of pairs at a time
            slices = [checks[i:i + COMPARE_SLICE] for i in range(0, len(checks), COMPARE_SLICE)]
            return [count for part in each(merge, slices, self.config.workers) for count in part]
        pairs = pa.table({
            "i": list(range(len(checks))),
            "ct": [self._tables[c.child] for c in checks],
            "ck": [self._colsets[c.child][c.child_colset] for c in checks],
            "pt": [self._tables[c.parent] for c in checks],
            "pk": [self._colsets[c.parent][c.parent_colset] for c in checks],
        })
        if semantics == "bag":
            missing, total = "sum(greatest(c.cnt - coalesce(p.cnt, 0), 0))", "sum(c.cnt)"
        else:
            missing, total = "count(*) FILTER (WHERE p.fp IS NULL)", "count(*)"
        self.con.register("__pairs", pairs)
        try:
            rows = self._retry_alone("comparing fingerprints", lambda: self.con.execute(
                # the parents' side holds only this batch's parents: the join's table stays small
                "WITH p AS (SELECT * FROM fps SEMI JOIN (SELECT DISTINCT pt, pk FROM __pairs) s "
                "ON fps.t = s.pt AND fps.k = s.pk) "
                f"SELECT q.i, coalesce({missing}, 0), coalesce({total}, 0) FROM __pairs q "
                "JOIN fps c ON c.t = q.ct AND c.k = q.ck "
                "LEFT JOIN p ON p.t = q.pt AND p.k = q.pk AND p.fp = c.fp GROUP BY q.i").fetchall())
        finally:
            self.con.unregister("__pairs")
        found = {int(i): (int(m), int(t)) for i, m, t in rows}
        return [found.get(i, (0, 0)) for i in range(len(checks))]

    def close(self) -> None:
        try:
            if self._con is not None:
                self._con.close()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
