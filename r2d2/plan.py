"""The deletion plan (DESIGN §6, after R2D2 §6): choose which contained tables to delete and from
which kept parent to rebuild each, minimising storage plus rebuild cost within latency budgets.

    minimise   Σ_t (1 - x_t)·s_t·p_t  +  Σ_PC y_PC·f_C·r_PC·q
    subject to Σ_P y_PC = x_C,   y_PC ≤ 1 - x_P,   y_PC = 0 unless the edge is a candidate

The problem splits into the connected components of the candidate graph; each is solved as an
integer program with PuLP (HiGHS when installed, else CBC). A greedy planner serves as a baseline
and as the fallback when the solver fails or hits its time limit.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from r2d2.config import PlanConfig
from r2d2.errors import TableReadError, UsageError
from r2d2.model import CONTAINED, name_key

GB = 1e9
TB = 1e12
BATCH_EDGES = 20_000  # edges of independent components solved in one model


@dataclass
class PlanTable:
    id: str
    bytes: int
    accesses_per_month: float
    latency_budget_s: float
    protected: bool
    price_per_gb_month: float
    tier: str = "hot"
    readable: bool = True

    @property
    def storage_cost(self) -> float:
        return self.bytes / GB * self.price_per_gb_month


@dataclass(frozen=True)
class PlanEdge:
    """A verified P ⊇ C the planner may use: rebuild C from P."""

    parent: str
    child: str
    rebuild_bytes: int
    rebuild_seconds: float
    rebuild_cost_per_month: float


@dataclass
class Solution:
    deletions: dict[str, str]  # deleted child -> the parent it is rebuilt from
    solver: str
    status: str
    seconds: float


@dataclass
class Objective:
    storage_before: float
    storage_after: float
    rebuild_cost: float

    @property
    def total(self) -> float:
        return self.storage_after + self.rebuild_cost


@dataclass
class PlanInputs:
    tables: dict[str, PlanTable]
    candidates: list[PlanEdge]
    excluded: dict[tuple[str, str], str] = field(default_factory=dict)  # contained edges left out, and why


def read_accesses(path: str) -> dict[str, float]:
    """A CSV of table,accesses (per month)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise UsageError(f"cannot read accesses CSV {path}: {exc.strerror or exc}") from exc
    try:
        return {row["table"]: float(row["accesses"]) for row in rows}
    except (KeyError, ValueError) as exc:
        raise UsageError(f"accesses CSV {path} needs columns table,accesses with numbers: {exc}") from exc


def table_settings(table_id: str, size: int, config: PlanConfig, accesses: dict[str, float]) -> PlanTable:
    """Defaults, then the accesses CSV, then overrides in order (the last match wins)."""
    tier = config.default_tier
    per_month = accesses.get(table_id, config.accesses_per_month)
    budget = config.latency_budget_s
    protected = any(fnmatch.fnmatchcase(table_id, g) for g in config.protected)
    for o in config.overrides:
        if o.match == table_id or fnmatch.fnmatchcase(table_id, o.match):
            per_month = per_month if o.accesses_per_month is None else o.accesses_per_month
            budget = budget if o.latency_budget_s is None else o.latency_budget_s
            tier = tier if o.tier is None else o.tier
            protected = protected if o.protected is None else o.protected
    return PlanTable(table_id, size, per_month, budget, protected, config.tiers[tier], tier)


def build_inputs(scan: dict[str, Any], config: PlanConfig) -> PlanInputs:
    """Tables and candidate edges from a containment.json document."""
    accesses = read_accesses(config.accesses_csv) if config.accesses_csv else {}
    tables = {}
    column_bytes: dict[str, dict[str, int]] = {}
    column_names: dict[str, list[str]] = {}
    for t in scan["tables"]:
        table = table_settings(t["id"], int(t["bytes"]), config, accesses)
        table.readable = t.get("error") is None
        tables[t["id"]] = table
        if all("bytes" in c for c in t["columns"]):
            column_bytes[t["id"]] = {name_key(c["name"]): int(c["bytes"]) for c in t["columns"]}
        column_names[t["id"]] = [c["name"] for c in t["columns"]]
    inputs = PlanInputs(tables, [])
    throughput = config.rebuild_throughput_mb_s * 1e6
    for e in scan["edges"]:
        if e["status"] != CONTAINED:
            continue
        parent, child = tables[e["parent"]], tables[e["child"]]
        # Columns match by name case-insensitively (DESIGN §2), so the parent's bytes for the
        # child's columns are found by folded name. Scans without per-column bytes: all of them.
        pbytes = column_bytes.get(parent.id)
        rebuild_bytes = (parent.bytes if pbytes is None
                         else sum(pbytes.get(name_key(name), 0) for name in column_names[child.id]))
        seconds = rebuild_bytes / throughput + config.rebuild_overhead_s
        edge = PlanEdge(parent.id, child.id, rebuild_bytes, seconds,
                        child.accesses_per_month * rebuild_bytes / TB * config.compute_per_tb_read)
        reason = None
        if parent.protected or child.protected:
            reason = f"{'parent' if parent.protected else 'child'} is protected"
        elif not child.readable or not parent.readable:
            reason = "a table of the pair has a read error"
        elif seconds > child.latency_budget_s:
            reason = f"rebuild takes {seconds:.1f} s, over the {child.latency_budget_s:g} s budget"
        if reason:
            inputs.excluded[(parent.id, child.id)] = reason
        else:
            inputs.candidates.append(edge)
    return inputs


def evaluate(tables: dict[str, PlanTable], candidates: list[PlanEdge], deletions: dict[str, str]) -> Objective:
    """The objective of a set of deletions (checked to be feasible)."""
    by_key = {(e.parent, e.child): e for e in candidates}
    before = sum(t.storage_cost for t in tables.values())
    after = before - sum(tables[c].storage_cost for c in deletions)
    rebuild = 0.0
    for child, parent in deletions.items():
        if (parent, child) not in by_key:
            raise ValueError(f"{child} is rebuilt from {parent}, which is not a candidate edge")
        if parent in deletions:
            raise ValueError(f"{child} is rebuilt from {parent}, which is itself deleted")
        rebuild += by_key[(parent, child)].rebuild_cost_per_month
    return Objective(before, after, rebuild)


def _components(candidates: list[PlanEdge]) -> list[list[PlanEdge]]:
    graph = nx.Graph()
    graph.add_edges_from((e.parent, e.child) for e in candidates)
    index = {node: i for i, comp in enumerate(nx.connected_components(graph)) for node in comp}
    groups: dict[int, list[PlanEdge]] = defaultdict(list)
    for e in candidates:
        groups[index[e.child]].append(e)
    return list(groups.values())


def solve_greedy(tables: dict[str, PlanTable], candidates: list[PlanEdge]) -> Solution:
    """Delete the tables that save most first, each from its cheapest kept parent; a table already
    serving as a source stays. Feasible, not always optimal."""
    start = time.perf_counter()
    by_child: dict[str, list[PlanEdge]] = defaultdict(list)
    for e in candidates:
        by_child[e.child].append(e)
    gain = {c: tables[c].storage_cost - min(e.rebuild_cost_per_month for e in es) for c, es in by_child.items()}
    deletions: dict[str, str] = {}
    sources: set[str] = set()
    for child in sorted(by_child, key=lambda c: (-gain[c], c)):
        if gain[child] <= 0 or child in sources:
            continue
        options = [e for e in by_child[child] if e.parent not in deletions]
        if not options:
            continue
        best = min(options, key=lambda e: (e.rebuild_cost_per_month, e.parent))
        if tables[child].storage_cost - best.rebuild_cost_per_month > 0:
            deletions[child] = best.parent
            sources.add(best.parent)
    return Solution(deletions, "greedy", "feasible", time.perf_counter() - start)


@functools.cache
def _silence_highs_banner() -> None:
    """HiGHS prints a banner to the process's stdout (C-level) the first time a solver is made,
    whatever its options: make that first one with stdout pointed at /dev/null, so that `--quiet`
    is quiet and notebooks stay clean."""
    try:
        import highspy
    except ImportError:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def solve_ilp(tables: dict[str, PlanTable], candidates: list[PlanEdge], solver: str = "auto",
              time_limit_s: float = 300.0) -> Solution:
    """The optimal deletions, one integer program per connected component of the candidate graph."""
    import pulp

    _silence_highs_banner()
    start = time.perf_counter()
    name = "HiGHS" if solver == "highs" or (solver == "auto" and pulp.HiGHS().available()) else "CBC"
    deletions: dict[str, str] = {}
    status = "optimal"
    batch: list[PlanEdge] = []
    components = _components(candidates)
    for i, component in enumerate(components):
        if len(component) == 1:
            deletions.update(_solve_single(tables, component[0]))
        else:
            batch.extend(component)  # independent components share one model: fewer solver calls
        if batch and (len(batch) >= BATCH_EDGES or i == len(components) - 1):
            deadline = time_limit_s - (time.perf_counter() - start)
            if deadline <= 0:
                raise TimeoutError(f"the solver ran out of time ({time_limit_s:g} s)")
            chosen, optimal = _solve_component(tables, batch, name, deadline)
            deletions.update(chosen)
            status = status if optimal else "feasible"
            batch = []
    return Solution(deletions, name, status, time.perf_counter() - start)


def _solve_single(tables: dict[str, PlanTable], e: PlanEdge) -> dict[str, str]:
    """One child, one parent: delete when that saves money."""
    return {e.child: e.parent} if tables[e.child].storage_cost - e.rebuild_cost_per_month > 0 else {}


def _solve_component(tables: dict[str, PlanTable], edges: list[PlanEdge], solver: str,
                     time_limit_s: float) -> tuple[dict[str, str], bool]:
    import pulp

    problem = pulp.LpProblem("r2d2_plan", pulp.LpMinimize)
    children = sorted({e.child for e in edges})
    x = {c: pulp.LpVariable(f"x_{i}", cat="Binary") for i, c in enumerate(children)}
    y = {(e.parent, e.child): pulp.LpVariable(f"y_{i}", cat="Binary") for i, e in enumerate(edges)}
    # Storage of kept tables is a constant minus what deleting saves.
    # Costs as whole units scaled so that the largest is ~1e11, solved to a zero gap: a small table
    # saves ~1e-7 $ a month and two of them differ by far less, which in dollars (or any fixed unit)
    # would sit below the solver's tolerances and be ignored.
    unit = _cost_unit([tables[c].storage_cost for c in children] + [e.rebuild_cost_per_month for e in edges])
    problem += (pulp.lpSum(-round(tables[c].storage_cost / unit) * x[c] for c in children)
                + pulp.lpSum(round(e.rebuild_cost_per_month / unit) * y[(e.parent, e.child)] for e in edges))
    incoming: dict[str, list[Any]] = defaultdict(list)
    for e in edges:
        incoming[e.child].append(y[(e.parent, e.child)])
        if e.parent in x:  # a source must be kept
            problem += y[(e.parent, e.child)] <= 1 - x[e.parent]
    for c in children:
        problem += pulp.lpSum(incoming[c]) == x[c]
    if solver == "HiGHS":
        backend = pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=0.5)
    else:
        backend = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=0.5)
    problem.solve(backend)
    status = pulp.LpStatus[problem.status]
    if status not in ("Optimal",) and not all(v.value() is not None for v in y.values()):
        raise RuntimeError(f"the solver returned {status}")
    chosen = {child: parent for (parent, child), var in y.items() if (var.value() or 0) > 0.5}
    return chosen, status == "Optimal"


def _cost_unit(costs: list[float]) -> float:
    """The dollars one objective unit stands for: the largest cost becomes 1e11 units, so each cost
    is resolved to 1e-11 of the largest, and a model's sums (at most BATCH_EDGES edges and their
    children) stay whole numbers a double holds exactly (below 2**53)."""
    largest = max((abs(c) for c in costs), default=0.0)
    return largest / 1e11 if largest > 0 else 1.0


def choose_deletions(inputs: PlanInputs, config: PlanConfig) -> tuple[Solution, str | None]:
    """The ILP's plan, or the greedy one when the ILP cannot finish (and why)."""
    if config.solver == "greedy" or not inputs.candidates:
        solution = solve_greedy(inputs.tables, inputs.candidates)
        if not inputs.candidates:
            solution.status = "optimal"
        return solution, None
    try:
        return solve_ilp(inputs.tables, inputs.candidates, config.solver, config.time_limit_s), None
    except Exception as exc:  # the greedy plan is always feasible; the plan says why it was used
        fallback = solve_greedy(inputs.tables, inputs.candidates)
        fallback.status = "fallback"
        return fallback, f"{type(exc).__name__}: {exc}"


def load_scan(scan_dir: Path) -> tuple[Path, dict[str, Any], str]:
    """containment.json validated (see r2d2.documents), as a dict, with the SHA-256 of its bytes."""
    from r2d2.documents import load_scan_doc

    path = Path(scan_dir)
    path = path / "containment.json" if path.is_dir() else path
    if not path.exists():
        raise UsageError(f"cannot read {path}: no such file; run `r2d2 scan` first")
    doc, digest = load_scan_doc(path)
    ids = {t.id for t in doc.tables}
    for e in doc.edges:
        if e.parent not in ids or e.child not in ids:
            raise UsageError(f"{path} is not a valid containment.json: edge {e.parent} -> {e.child} names a "
                             "table it does not list")
    return path, doc.model_dump(), digest


def run_plan(scan_dir: Path, out_dir: Path, config: PlanConfig,
             progress: Callable[[], None] | None = None) -> dict[str, Any]:
    """Plan from a scan's containment.json: solve, find and verify a recipe for each deletion, and
    re-solve without the pairs whose recipe cannot be verified. Writes and returns plan.json."""
    from r2d2.recipe import Recipe, recipe_connection
    from r2d2.storage.paths import refuse_inside_lake

    scan_path, scan, digest = load_scan(scan_dir)
    refuse_inside_lake(scan["lake"], out_dir, "output folder")
    inputs = build_inputs(scan, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = TableSource(scan["lake"])
    rejected: dict[tuple[str, str], str] = {}
    recipes: dict[tuple[str, str], Recipe] = {}
    con = recipe_connection()
    try:
        solution, fallback, usable = _plan_with_recipes(inputs, config, tables, con, out_dir, recipes, rejected,
                                                        progress)
    finally:
        con.close()
    for (parent, child), recipe in recipes.items():  # lists of recipes the final plan does not use
        if recipe.selection and solution.deletions.get(child) != parent:
            (out_dir / recipe.selection).unlink(missing_ok=True)
    doc = plan_json(scan_path, scan, config, inputs, usable, solution, fallback, recipes, rejected)
    doc["scan_sha256"] = digest  # the report refuses a containment.json other than this one
    _write_json(out_dir / "plan.json", doc)
    return doc


def _plan_with_recipes(inputs: PlanInputs, config: PlanConfig, tables: TableSource, con: Any, out_dir: Path,
                       recipes: dict[tuple[str, str], Any], rejected: dict[tuple[str, str], str],
                       progress: Callable[[], None] | None) -> tuple[Solution, str | None, list[PlanEdge]]:
    """Solve; find a recipe for each new deletion; re-solve without the pairs that have none."""
    from r2d2.recipe import Recipe, RecipeFinder

    while True:
        usable = [e for e in inputs.candidates if (e.parent, e.child) not in rejected]
        solution, fallback = choose_deletions(PlanInputs(inputs.tables, usable), config)
        fresh = [(p, c) for c, p in solution.deletions.items() if (p, c) not in recipes]
        for key in fresh:
            try:
                found: Recipe | str = RecipeFinder(con, tables.lake, tables.profile(key[0]), tables.profile(key[1]),
                                                   tables.mapping(*key), out_dir, config.max_in_list).find()
            except TableReadError as exc:  # a recipe that cannot be built is a table that is not deleted
                found = f"recipe search failed: {exc}"
            except Exception as exc:
                found = f"recipe search failed: {type(exc).__name__}: {exc}"
            if isinstance(found, str):
                rejected[key] = found
            else:
                recipes[key] = found
            if progress:
                progress()
        if not any(key in rejected for key in fresh):
            return solution, fallback, usable


class TableSource:
    """Profiles of the lake's tables, read (footers only) when a recipe first needs them."""

    def __init__(self, lake_uri: str) -> None:
        from r2d2.discover import discover_tables
        from r2d2.storage import open_lake

        self._profiles: dict[str, Any] = {}
        self.lake: Any = None
        self.catalog = lake_uri.startswith("catalog:")
        if self.catalog:  # a metastore database: its tables are reached through Spark only
            self._refs: dict[str, Any] = {}
            return
        self.lake = open_lake(lake_uri)
        refs, _ = discover_tables(self.lake)
        self._refs = {r.id: r for r in refs}

    def profile(self, table_id: str) -> Any:
        from r2d2.config import ScanConfig
        from r2d2.profile import profile_tables

        if self.catalog:
            raise TableReadError("recipes for catalog tables are not built yet: rebuilding and verifying one needs "
                                 "Spark, and `r2d2 plan` runs on DuckDB; the table is kept", table=table_id)
        if table_id not in self._profiles:
            if table_id not in self._refs:
                raise TableReadError(f"table {table_id} is no longer in the lake", table=table_id)
            self._profiles[table_id] = profile_tables(self.lake, [self._refs[table_id]], ScanConfig(workers=1))[0]
            if self._profiles[table_id].error:
                raise TableReadError(self._profiles[table_id].error, table=table_id)
        return self._profiles[table_id]

    def mapping(self, parent: str, child: str) -> dict[str, str]:
        from r2d2.schema_graph import pair_columns

        return dict(pair_columns(self.profile(parent), self.profile(child)).columns)


def plan_json(scan_path: Path, scan: dict[str, Any], config: PlanConfig, inputs: PlanInputs,
              usable: list[PlanEdge], solution: Solution, fallback: str | None, recipes: dict[tuple[str, str], Any],
              rejected: dict[tuple[str, str], str]) -> dict[str, Any]:
    """plan.json as DESIGN §6, plus `not_deleted` (contained tables left in place, and why)."""
    objective = evaluate(inputs.tables, usable, solution.deletions)
    by_key = {(e.parent, e.child): e for e in usable}
    deletions = []
    versions = {t["id"]: t.get("version") for t in scan["tables"]}
    for child, parent in sorted(solution.deletions.items()):
        edge, table = by_key[(parent, child)], inputs.tables[child]
        deletions.append({"table": child, "source": parent, "saved_bytes": table.bytes,
                          "saved_per_month": table.storage_cost - edge.rebuild_cost_per_month,
                          "rebuild_seconds": edge.rebuild_seconds, "recipe": recipes[(parent, child)].as_json(),
                          "table_version": versions.get(child), "source_version": versions.get(parent)})
    not_deleted = [{"table": c, "source": p, "reason": r}
                   for (p, c), r in sorted({**inputs.excluded, **rejected}.items(), key=lambda kv: (kv[0][1], kv[0][0]))
                   if c not in solution.deletions]
    return {
        "version": 1,
        "scan": str(scan_path),
        "lake": scan["lake"],
        "prices": {"storage_per_gb_month": config.tiers[config.default_tier],
                   "compute_per_tb_read": config.compute_per_tb_read, "storage_tiers": config.tiers,
                   "default_tier": config.default_tier},
        "tables": [{"id": t.id, "bytes": t.bytes, "accesses_per_month": t.accesses_per_month,
                    "latency_budget_s": t.latency_budget_s, "protected": t.protected, "tier": t.tier}
                   for t in sorted(inputs.tables.values(), key=lambda t: t.id)],
        "candidates": [{"parent": e.parent, "child": e.child, "rebuild_bytes": e.rebuild_bytes,
                        "rebuild_seconds": e.rebuild_seconds, "rebuild_cost_per_month": e.rebuild_cost_per_month}
                       for e in sorted(usable, key=lambda e: (e.parent, e.child))],
        "deletions": deletions,
        "not_deleted": not_deleted,
        "objective": {"storage_before": objective.storage_before, "storage_after": objective.storage_after,
                      "rebuild_cost": objective.rebuild_cost, "total": objective.total, "solver": solution.solver,
                      "status": solution.status, "seconds": round(solution.seconds, 4),
                      **({"fallback_reason": fallback} if fallback else {})},
    }


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    import json

    from r2d2.output import write_atomic

    write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def savings_summary(doc: dict[str, Any], out_dir: Path) -> str:
    """The one-screen summary of a plan."""
    o = doc["objective"]
    saved_bytes = sum(d["saved_bytes"] for d in doc["deletions"])
    lines = [
        f"r2d2 plan from {doc['scan']}",
        f"  delete {len(doc['deletions'])} of {len(doc['tables'])} tables, {saved_bytes / 1e6:,.1f} MB",
        f"  per month: storage {_money(o['storage_before'])} -> {_money(o['storage_after'])}, rebuilds "
        f"{_money(o['rebuild_cost'])}, saving {_money(o['storage_before'] - o['total'])}",
        f"  solver   {o['solver']} ({o['status']}, {o['seconds']:.2f} s) over {len(doc['candidates'])} candidate edges",
    ]
    if "fallback_reason" in o:
        lines.append(f"  note     the solver could not finish ({o['fallback_reason']}); this is the greedy plan")
    kinds: dict[str, int] = defaultdict(int)
    for d in doc["deletions"]:
        kinds[d["recipe"]["kind"]] += 1
    if kinds:
        lines.append("  recipes  " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ", all verified")
    for d in sorted(doc["deletions"], key=lambda d: -d["saved_bytes"])[:5]:
        lines.append(f"    {d['table']} <- {d['source']}  ({d['saved_bytes'] / 1e6:.1f} MB, "
                     f"rebuild {d['rebuild_seconds']:.1f} s, {d['recipe']['kind']})")
    unverified = [n for n in doc["not_deleted"] if n["reason"].startswith(("no recipe", "recipe"))]
    if unverified:
        lines.append(f"  kept     {len(unverified)} contained tables whose recipe could not be verified "
                     "(see plan.json)")
    lines.append(f"  output   {out_dir / 'plan.json'}")
    return "\n".join(lines)


def _money(dollars: float) -> str:
    """Dollars as people read them; tiny sample lakes get significant digits instead of $0.00."""
    return f"${dollars:,.2f}" if abs(dollars) >= 0.01 or dollars == 0 else f"${dollars:.2g}"
