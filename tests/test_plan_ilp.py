"""The deletion plan's optimisation (DESIGN §6): the ILP is optimal against brute-force enumeration
on small random instances, and greedy is never better than it."""

from __future__ import annotations

import itertools
import random

import pytest

from r2d2.config import PlanConfig, TableOverride
from r2d2.plan import PlanInputs, build_inputs, evaluate, solve_greedy, solve_ilp


def random_scan(rng: random.Random) -> tuple[dict, PlanConfig]:
    n = rng.randint(2, 7)
    ids = [f"t{i}" for i in range(n)]
    tables = [{"id": t, "bytes": rng.choice([10**6, 10**9, 5 * 10**10, 3 * 10**11]), "error": None,
               "columns": [{"name": "a", "bytes": 0}, {"name": "b", "bytes": 0}]} for t in ids]
    for t in tables:  # rebuild bytes are the parent's bytes for the child's columns
        t["columns"][0]["bytes"] = t["bytes"] // 2
        t["columns"][1]["bytes"] = t["bytes"] - t["bytes"] // 2
    edges = []
    for p, c in itertools.permutations(ids, 2):
        if rng.random() < 0.45:
            edges.append({"parent": p, "child": c, "status": "contained", "stage": "verify", "reason": ""})
    if rng.random() < 0.5 and n >= 3:  # a chain with its transitive edge, and equal tables
        for p, c in (("t0", "t1"), ("t1", "t2"), ("t0", "t2"), ("t2", "t1")):
            if not any(e["parent"] == p and e["child"] == c for e in edges):
                edges.append({"parent": p, "child": c, "status": "contained", "stage": "verify", "reason": ""})
    overrides = []
    for t in ids:
        roll = rng.random()
        if roll < 0.15:
            overrides.append(TableOverride(match=t, protected=True))
        elif roll < 0.35:
            overrides.append(TableOverride(match=t, latency_budget_s=rng.choice([1.0, 30.0, 600.0])))
        elif roll < 0.6:
            overrides.append(TableOverride(match=t, accesses_per_month=rng.choice([0.0, 5.0, 500.0, 50_000.0])))
    return {"tables": tables, "edges": edges}, PlanConfig(overrides=tuple(overrides))


def brute_force(inputs: PlanInputs) -> float:
    by_child: dict[str, list] = {}
    for e in inputs.candidates:
        by_child.setdefault(e.child, []).append(e)
    children = sorted(by_child)
    base = sum(t.storage_cost for t in inputs.tables.values())
    best = base
    for mask in range(1 << len(children)):
        deleted = {c for i, c in enumerate(children) if mask >> i & 1}
        total = base
        for c in deleted:
            options = [e.rebuild_cost_per_month for e in by_child[c] if e.parent not in deleted]
            if not options:
                break
            total += min(options) - inputs.tables[c].storage_cost
        else:
            best = min(best, total)
    return best


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_ilp_is_optimal_and_greedy_never_better(solver: str) -> None:
    rng = random.Random(7)
    checked = 0
    for _ in range(120):
        scan, config = random_scan(rng)
        inputs = build_inputs(scan, config)
        ilp = solve_ilp(inputs.tables, inputs.candidates, solver)
        greedy = solve_greedy(inputs.tables, inputs.candidates)
        best = brute_force(inputs)
        ilp_total = evaluate(inputs.tables, inputs.candidates, ilp.deletions).total
        greedy_total = evaluate(inputs.tables, inputs.candidates, greedy.deletions).total
        assert ilp.status == "optimal"
        assert ilp_total == pytest.approx(best, rel=1e-9, abs=1e-6)  # the solver works in nano-dollars
        assert greedy_total >= ilp_total - 1e-9
        checked += len(inputs.candidates) > 1
    assert checked > 50  # most instances needed a real solve


def test_candidates_respect_protection_budgets_and_errors() -> None:
    scan = {"tables": [{"id": i, "bytes": 10**10, "error": None, "columns": [{"name": "a", "bytes": 10**10}]}
                       for i in ("big", "small", "locked", "slow")],
            "edges": [{"parent": "big", "child": c, "status": "contained", "stage": "verify", "reason": ""}
                      for c in ("small", "locked", "slow")]
            + [{"parent": "small", "child": "big", "status": "not_contained", "stage": "minmax", "reason": ""}]}
    config = PlanConfig(protected=("lock*",), overrides=(TableOverride(match="slow", latency_budget_s=1.0),))
    inputs = build_inputs(scan, config)
    assert [(e.parent, e.child) for e in inputs.candidates] == [("big", "small")]
    assert inputs.excluded[("big", "locked")] == "child is protected"
    assert "budget" in inputs.excluded[("big", "slow")]
    edge = inputs.candidates[0]
    assert edge.rebuild_bytes == 10**10 and edge.rebuild_seconds == pytest.approx(10**10 / 200e6 + 5.0)


def test_equal_tables_keep_exactly_one() -> None:
    scan = {"tables": [{"id": i, "bytes": 10**11, "error": None, "columns": [{"name": "a", "bytes": 10**11}]}
                       for i in ("a", "b")],
            "edges": [{"parent": p, "child": c, "status": "contained", "stage": "verify", "reason": ""}
                      for p, c in (("a", "b"), ("b", "a"))]}
    inputs = build_inputs(scan, PlanConfig(latency_budget_s=10_000))
    assert len(solve_ilp(inputs.tables, inputs.candidates).deletions) == 1


def test_tiny_tables_are_still_planned_exactly() -> None:
    """Savings of ~1e-7 $ a month must not vanish under the solver's tolerances."""
    ids = ["a", "b", "c", "d"]
    scan = {"tables": [{"id": i, "bytes": 5_000 + n, "error": None, "columns": [{"name": "x", "bytes": 5_000 + n}]}
                       for n, i in enumerate(ids)],
            "edges": [{"parent": p, "child": c, "status": "contained", "stage": "verify", "reason": ""}
                      for p in ids for c in ids if p != c]}
    inputs = build_inputs(scan, PlanConfig())
    solution = solve_ilp(inputs.tables, inputs.candidates)
    assert len(solution.deletions) == 3 and set(solution.deletions.values()) == {"a"}  # keep the smallest
    assert evaluate(inputs.tables, inputs.candidates, solution.deletions).total == pytest.approx(brute_force(inputs))


def test_accesses_csv_tiers_and_glob_overrides(tmp_path) -> None:
    from r2d2.config import load_plan_config

    (tmp_path / "accesses.csv").write_text("table,accesses\nraw/a,12\nraw/b,0.5\n")
    (tmp_path / "plan.yaml").write_text(
        "accesses_csv: accesses.csv\n"
        "overrides:\n  - {match: 'raw/*', tier: cool}\n  - {match: raw/b, accesses_per_month: 3, protected: true}\n")
    config = load_plan_config(tmp_path / "plan.yaml")
    from r2d2.plan import table_settings

    a = table_settings("raw/a", 10**9, config, {"raw/a": 12.0, "raw/b": 0.5})
    b = table_settings("raw/b", 10**9, config, {"raw/a": 12.0, "raw/b": 0.5})
    other = table_settings("clean/c", 10**9, config, {})
    assert (a.accesses_per_month, a.tier, a.price_per_gb_month, a.protected) == (12.0, "cool", 0.01, False)
    assert (b.accesses_per_month, b.protected) == (3.0, True)
    assert (other.accesses_per_month, other.tier, other.storage_cost) == (1.0, "hot", pytest.approx(0.02))
    scan = {"tables": [{"id": i, "bytes": 10**9, "error": None, "columns": [{"name": "x", "bytes": 10**9}]}
                       for i in ("raw/a", "raw/b", "clean/c")], "edges": []}
    assert build_inputs(scan, config).tables["raw/a"].accesses_per_month == 12.0


def test_solver_time_limit_falls_back_to_greedy() -> None:
    from r2d2.plan import choose_deletions

    rng = random.Random(3)
    scan, config = random_scan(rng)
    while len(build_inputs(scan, config).candidates) < 3:
        scan, config = random_scan(rng)
    inputs = build_inputs(scan, config)
    solution, reason = choose_deletions(inputs, PlanConfig(time_limit_s=0.0))
    assert solution.solver == "greedy" and solution.status == "fallback" and "time" in reason
    assert solution.deletions == solve_greedy(inputs.tables, inputs.candidates).deletions


def test_what_if_keeps_the_plans_own_storage_tiers() -> None:
    """A plan made with tiers of other names (no `hot`) is re-solved under its own default tier,
    whether plan.json records it or (an older plan) only its price."""
    from pathlib import Path

    from r2d2.review import Review

    scan = {"tables": [{"id": i, "bytes": 10**9, "error": None, "columns": [{"name": "x", "bytes": 10**9}]}
                       for i in ("a", "b")],
            "edges": [{"parent": "a", "child": "b", "status": "contained", "stage": "verify", "reason": ""}]}
    prices = {"storage_per_gb_month": 0.02, "compute_per_tb_read": 5.0,
              "storage_tiers": {"standard": 0.02, "archive": 0.001}, "default_tier": "standard"}
    recorded = Review(Path("."), scan, {"prices": prices, "deletions": []}).what_if(latency_budget_s=10_000)
    older = {k: v for k, v in prices.items() if k != "default_tier"}
    inferred = Review(Path("."), scan, {"prices": older, "deletions": []}).what_if(latency_budget_s=10_000)
    assert recorded["deletions"] == inferred["deletions"] == 1
    assert recorded["storage_before"] == inferred["storage_before"] == pytest.approx(2 * 0.02, rel=0.1)
