"""Rebuild recipes: for a table the plan deletes, the simplest SQL that rebuilds it from its source
as the same multiset of rows with the same column names, order and types, proven by rebuilding it.

Kinds, simplest first:
- projection: the child is all of the parent's rows on its columns (equal row counts);
- predicate: a projection with a WHERE on one or two columns (ranges or IN-lists), found from the
  child's statistics and values, all candidates counted in one pass over the parent;
- selection: a projection of the parent's rows whose unique key is in a stored key list;
- row_selection: the parent's rows whose fingerprints (with counts) are stored beside the plan, for
  subsets of parents with duplicate rows and no key. Its SQL uses DuckDB's fingerprint function,
  so the recipe says `"dialect": "duckdb"`.

The SQL names the source `parent` (and the key list `selection`), quotes names with backticks and
casts with type names that DuckDB and Spark SQL both read. A recipe is verified by running it on
DuckDB, casting the result to the child's Arrow schema, and comparing the fingerprint multisets of
the rebuilt and the original rows (see engines/local.py for the fingerprint).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from r2d2.engines.local import fingerprint_sql
from r2d2.errors import UsageError
from r2d2.model import BOOLEAN, DATE, NUMERIC, OTHER, STRING, TIMESTAMP, TIMESTAMP_TZ, TableProfile, family_of
from r2d2.stats import base_type
from r2d2.storage import Lake
from r2d2.storage.reader import engine_array, read_rows, stream_table

FINGERPRINT_PRIME = 18446744073709551557  # the largest prime below 2^64
# Families whose native DuckDB form differs from the engine form the fingerprint expects.
TEMPORAL = (TIMESTAMP, TIMESTAMP_TZ, OTHER)
MAX_PREDICATE_COLUMNS = 12  # columns tried for predicates (pairs of them: up to 66 more filters)
MAX_PREDICATE_TRIES = 3  # predicates with the right row count that are verified by a rebuild


@dataclass
class Recipe:
    kind: str
    sql: str
    rows: int
    fingerprint: str
    schema: str  # the child's Arrow schema, serialised and base64-encoded
    selection: str | None = None  # path of the stored key list or row fingerprints, relative to the plan
    dialect: str | None = None  # set when the SQL runs on that engine only (else DuckDB and Spark SQL)

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "sql": self.sql, "verified": True, "rows": self.rows,
                               "fingerprint": self.fingerprint, "arrow_schema": self.schema}
        if self.selection:
            doc["selection"] = self.selection
        if self.dialect:
            doc["dialect"] = self.dialect
        return doc


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def sql_type(dtype: pa.DataType) -> str | None:
    """A type name DuckDB and Spark SQL both accept, or None (then only the Arrow cast applies)."""
    dtype = base_type(dtype)
    names = {pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT",
             pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.date32(): "DATE"}
    if dtype in names:
        return names[dtype]
    if pa.types.is_decimal(dtype) and dtype.precision <= 38:
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if family_of(dtype) == STRING:
        return "STRING"
    return None


def literal(value: Any, dtype: pa.DataType) -> str | None:
    """A SQL literal both dialects read the same way, or None when there is none."""
    family = family_of(base_type(dtype))
    if value is None:
        return None
    if family == NUMERIC and isinstance(value, (int, Decimal)):
        return str(value)
    if family == NUMERIC and isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if family == BOOLEAN:
        return "TRUE" if value else "FALSE"
    if family == DATE and isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if family == STRING and isinstance(value, str) and "'" not in value and "\\" not in value:
        return f"'{value}'"
    return None


def projection_sql(parent: TableProfile, child: TableProfile, mapping: dict[str, str]) -> str:
    exprs = []
    for col in child.columns:
        source = parent.column(mapping[col.name])
        ref = quote(source.name)
        target = sql_type(col.type)
        if source.type != col.type and target is not None:
            ref = f"CAST({ref} AS {target})"
        exprs.append(ref if ref == quote(col.name) else f"{ref} AS {quote(col.name)}")
    return f"SELECT {', '.join(exprs)} FROM parent"


class RecipeFinder:
    """Finds and verifies a recipe for one (parent, child) pair on a DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, lake: Lake, parent: TableProfile, child: TableProfile,
                 mapping: dict[str, str], out_dir: Path, max_in_list: int) -> None:
        self.con, self.lake, self.parent, self.child, self.mapping = con, lake, parent, child, mapping
        self.out_dir, self.max_in_list = out_dir, max_in_list
        self.child_names = [c.name for c in child.columns]
        self.schema = pa.schema([pa.field(c.name, c.type) for c in child.columns])
        self.child_rows = read_rows(lake, child, self.child_names, native=True)
        store_multiset(con, "__child_fp", self.child_rows, self.schema)

    def find(self) -> Recipe | str:
        """A verified recipe, or the reason there is none."""
        base = projection_sql(self.parent, self.child, self.mapping)
        tried = []
        if self.parent.rows == self.child.rows:
            tried.append("projection")
            if self.verify(base):
                return self.recipe("projection", base)
        for predicate in self.matching_predicates()[:MAX_PREDICATE_TRIES]:  # each try rebuilds the table
            sql = f"{base} WHERE {predicate}"
            tried.append("predicate")
            if self.verify(sql):
                return self.recipe("predicate", sql)
        key = self.unique_key()
        if key is not None:
            sql = f"{base} WHERE {quote(self.mapping[key])} IN (SELECT `key` FROM selection)"
            selection = self.store_selection(key)
            if self.verify(sql, selection):
                return self.recipe("selection", sql, selection)
            (self.out_dir / selection).unlink()  # no stale lists beside the plan
            tried.append("selection")
        if not any(family_of(base_type(c.type)) in TEMPORAL for c in self.child.columns):
            sql, selection = self.row_selection()
            if self.verify(sql, selection):
                return self.recipe("row_selection", sql, selection, dialect="duckdb")
            (self.out_dir / selection).unlink()
            tried.append("row_selection")
        return ("no recipe rebuilds it exactly: " + (f"tried {', '.join(dict.fromkeys(tried))}; " if tried else "")
                + "no predicate on one or two columns selects exactly its rows, the parent has no unique key "
                  "column, and a selection by row fingerprints does not work for its time columns")

    # -- candidates -----------------------------------------------------------------------------
    def single_predicates(self) -> list[tuple[int, str, str]]:
        """(literals, column, predicate): ranges from the child's min/max and IN-lists of its few
        distinct values, on each column that has literals both dialects read alike."""
        found = []
        for col in self.child.columns[:MAX_PREDICATE_COLUMNS]:
            family = family_of(base_type(col.type))
            if family not in (NUMERIC, STRING, DATE, BOOLEAN):
                continue
            ref = quote(self.mapping[col.name])
            values = self.child_rows.column(col.name)
            distinct = sorted(v for v in values.unique().to_pylist() if v is not None)
            if family == NUMERIC and any(isinstance(v, float) and math.isnan(v) for v in distinct):
                continue
            lits = [literal(v, col.type) for v in distinct]
            if any(x is None for x in lits):
                continue
            null_part = f" OR {ref} IS NULL" if values.null_count else ""
            if not distinct:
                found.append((1, col.name, f"{ref} IS NULL"))
                continue
            if family != BOOLEAN:
                found.append((2, col.name, f"({ref} BETWEEN {lits[0]} AND {lits[-1]}{null_part})"))
            if len(distinct) <= self.max_in_list:
                found.append((len(lits), col.name, f"({ref} IN ({', '.join(str(x) for x in lits)}){null_part})"))
        return found

    def matching_predicates(self) -> list[str]:
        """Predicates on one or two columns that select exactly as many parent rows as the child has,
        fewest literals first, all counted in one pass over the parent."""
        singles = self.single_predicates()
        pairs = [(n1 + n2, f"{p1} AND {p2}") for i, (n1, c1, p1) in enumerate(singles)
                 for n2, c2, p2 in singles[i + 1:] if c1 != c2]
        candidates = sorted([(n, p) for n, _, p in singles] + pairs, key=lambda c: c[0])
        if not candidates:
            return []
        columns = list(dict.fromkeys(self.mapping[c] for c in self.child_names))
        self.con.register("parent", stream_table(self.lake, self.parent, columns, native=True))
        try:
            counts = self.con.execute("SELECT " + ", ".join(f"count(*) FILTER (WHERE {p})" for _, p in candidates)
                                      + " FROM parent").fetchall()[0]
        except duckdb.Error:
            return []
        finally:
            self.con.unregister("parent")
        return [p for (_, p), n in zip(candidates, counts) if n == self.child.rows]

    def unique_key(self) -> str | None:
        """A child column whose parent column is never NULL and never repeats."""
        if len(self.child_rows) > 5_000_000:
            return None  # a key list that long is no better than the table
        options = [c.name for c in self.child.columns
                   if family_of(base_type(c.type)) in (NUMERIC, STRING, DATE)]
        if not options:
            return None
        parent_cols = [self.mapping[c] for c in options]
        self.con.register("parent", stream_table(self.lake, self.parent, list(dict.fromkeys(parent_cols)), native=True))
        try:
            row = self.con.execute("SELECT count(*), " + ", ".join(
                f"count(DISTINCT {quote(p)}), count({quote(p)})" for p in parent_cols) + " FROM parent").fetchall()[0]
        finally:
            self.con.unregister("parent")
        total = row[0]
        for i, name in enumerate(options):
            if row[1 + 2 * i] == total and row[2 + 2 * i] == total:
                return name
        return None

    def row_selection(self) -> tuple[str, str]:
        """The last resort: store each child row's fingerprint and count; the SQL numbers equal parent
        rows and keeps as many of each as the child has. DuckDB SQL (its fingerprint function)."""
        relative = f"selections/{self.child.id.replace('/', '__')}.rows.parquet"
        path = self.out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.con.sql("SELECT hex(fp) AS fp, cnt FROM __child_fp").to_arrow_table()
        pq.write_table(rows, path)
        parent_cols = [self.parent.column(self.mapping[c.name]) for c in self.child.columns]
        fingerprint = fingerprint_sql([quote(c.name) for c in parent_cols], [c.type for c in parent_cols])
        projection = projection_sql(self.parent, self.child, self.mapping).removesuffix(" FROM parent")
        names = ", ".join(quote(c.name) for c in self.child.columns)
        sql = (f"WITH src AS ({projection}, hex({fingerprint}) AS `__fp` FROM parent), "
               "numbered AS (SELECT *, row_number() OVER (PARTITION BY `__fp`) AS `__n` FROM src) "
               f"SELECT {names} FROM numbered JOIN selection ON numbered.`__fp` = selection.fp "
               "WHERE numbered.`__n` <= selection.cnt")
        return sql, relative

    def store_selection(self, key: str) -> str:
        relative = f"selections/{self.child.id.replace('/', '__')}.parquet"
        path = self.out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"key": self.child_rows.column(key)}), path)
        return relative

    # -- verification ---------------------------------------------------------------------------
    def verify(self, sql: str, selection: str | None = None) -> bool:
        """Run the recipe, cast to the child's schema, and compare the row multisets."""
        try:
            rebuilt = run_recipe(self.con, self.lake, self.parent, sql, self.schema,
                                 self.out_dir / selection if selection else None)
        except (duckdb.Error, pa.ArrowException):
            return False
        if rebuilt.num_rows != self.child.rows:
            return False
        store_multiset(self.con, "__rebuilt_fp", rebuilt, self.schema)
        differing = self.con.execute("SELECT count(*) FROM __rebuilt_fp r FULL OUTER JOIN __child_fp c "
                                     "ON r.fp = c.fp WHERE r.cnt IS DISTINCT FROM c.cnt").fetchall()[0][0]
        return differing == 0

    def recipe(self, kind: str, sql: str, selection: str | None = None, dialect: str | None = None) -> Recipe:
        return Recipe(kind, sql, self.child.rows, stored_fingerprint(self.con, "__child_fp", self.child.rows),
                      base64.b64encode(self.schema.serialize().to_pybytes()).decode("ascii"), selection, dialect)


def recipe_connection() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that cannot touch a file: recipes read only the registered `parent`
    and `selection`, so no recipe (even from a tampered plan) can COPY, ATTACH or read files."""
    con = duckdb.connect(config={"threads": 2, "enable_external_access": False})
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con


def check_recipe_sql(sql: str) -> None:
    """A recipe is one SELECT (or WITH … SELECT) statement, nothing else."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"recipe SQL does not parse: {exc}") from exc
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError("recipe SQL must be a single SELECT statement")


def run_recipe(con: duckdb.DuckDBPyConnection, lake: Lake, parent: TableProfile, sql: str, schema: pa.Schema,
               selection: Path | None) -> pa.Table:
    """Rebuild a table: the recipe's SQL over the parent (streamed), cast to the recorded schema."""
    check_recipe_sql(sql)
    con.register("parent", stream_table(lake, parent, [c.name for c in parent.columns], native=True))
    if selection is not None:
        con.register("selection", pq.read_table(selection))
    try:
        result = con.sql(sql).to_arrow_table()
        if result is None:
            raise duckdb.InvalidInputException("the recipe returned no result")
    finally:
        con.unregister("parent")
        if selection is not None:
            con.unregister("selection")
    return result.rename_columns(schema.names).cast(schema)


def _engine_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.table({f"c{i}": engine_array(table.column(i).combine_chunks(), f.type)
                     for i, f in enumerate(schema)})


def store_multiset(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, schema: pa.Schema) -> None:
    """The table's rows as a DuckDB table `name`(fp, cnt) (DESIGN §2 equality). Kept in DuckDB:
    fetching 128-bit fingerprints into Python costs more than computing them."""
    con.register("__rows", _engine_table(table, schema))
    try:
        refs = [f"c{i}" for i in range(len(schema))]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {fingerprint_sql(refs, list(schema.types))} "
                    "AS fp, count(*) AS cnt FROM __rows GROUP BY fp")
    finally:
        con.unregister("__rows")


def stored_fingerprint(con: duckdb.DuckDBPyConnection, name: str, rows: int) -> str:
    """An order-independent fingerprint of a stored multiset: Σ count·fp mod a prime below 2^64."""
    # The prime exceeds BIGINT, and a bare literal that large would make DuckDB compute in DOUBLE.
    prime = f"CAST('{FINGERPRINT_PRIME}' AS UHUGEINT)"
    total = con.execute(f"SELECT coalesce(sum(CAST(fp % {prime} * CAST(cnt AS UHUGEINT) % {prime} AS HUGEINT)), 0) "
                        f"% CAST('{FINGERPRINT_PRIME}' AS HUGEINT) FROM {name}").fetchall()[0][0]
    return f"{rows}:{int(total):016x}"


def table_fingerprint(con: duckdb.DuckDBPyConnection, table: pa.Table, schema: pa.Schema) -> str:
    store_multiset(con, "__table_fp", table, schema)
    return stored_fingerprint(con, "__table_fp", table.num_rows)


def schema_from_recipe(encoded: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded)))


def rebuild_table(plan_path: Path, table_id: str, out_dir: Path) -> tuple[Path, int]:
    """Rebuild a deleted table from its plan recipe into OUT/<table id>/part-00000.parquet and check
    it against the recorded row count and fingerprint. Returns (file, rows)."""
    from r2d2.documents import load_plan_doc
    from r2d2.errors import R2D2Error
    from r2d2.plan import TableSource
    from r2d2.storage.paths import check_relative, confine, refuse_inside_lake

    plan_file = plan_path / "plan.json" if plan_path.is_dir() else plan_path
    plan = load_plan_doc(plan_file)
    check_relative(table_id, "table id")
    deletion = next((d for d in plan.deletions if d.table == table_id), None)
    if deletion is None:
        known = ", ".join(d.table for d in plan.deletions[:5]) or "none"
        raise UsageError(f"{table_id} is not deleted by plan {plan_file} (deleted tables: {known})")
    refuse_inside_lake(plan.lake, out_dir, "output folder")
    target = confine(out_dir, f"{table_id}/part-00000.parquet", "table id")
    refuse_inside_lake(plan.lake, target, "rebuilt table")
    recipe = deletion.recipe.model_dump()
    source = deletion.source
    try:
        schema = schema_from_recipe(recipe["arrow_schema"])
    except (ValueError, pa.ArrowException) as exc:
        raise UsageError(f"plan {plan_file}: the recipe of {table_id} has an unreadable arrow_schema") from exc
    tables = TableSource(plan.lake)
    selection = confine(plan_file.parent, recipe["selection"], "selection file") if recipe.get("selection") else None
    con = recipe_connection()
    try:
        rebuilt = run_recipe(con, tables.lake, tables.profile(source), recipe["sql"], schema, selection)
        fingerprint = table_fingerprint(con, rebuilt, schema)
    except (duckdb.Error, pa.ArrowException) as exc:
        raise R2D2Error(f"rebuilding {table_id} from {source} failed: {exc}") from exc
    if fingerprint != recipe["fingerprint"]:
        raise R2D2Error(f"rebuilt {table_id} does not match the plan: {rebuilt.num_rows} rows, fingerprint "
                        f"{fingerprint}; the plan recorded {recipe['rows']} rows, {recipe['fingerprint']}. "
                        f"Has {source} changed since the plan?")
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(rebuilt, target)
    return target, rebuilt.num_rows
