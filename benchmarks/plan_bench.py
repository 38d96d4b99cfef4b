"""Plan benchmark: ILP solve time and the greedy planner's gap on synthetic containment graphs
shaped like real lakes: many small families (a base with copies, projections, filters and chains)
and a few huge hubs (a wide raw table that hundreds of extracts are contained in).

    python -m benchmarks.plan_bench [--sizes 1000 10000 100000] [--seed 0]

Prints per size: tables, candidate edges, components, ILP seconds and status, greedy seconds, and
how much worse greedy's monthly cost is than the ILP's.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from r2d2.plan import PlanEdge, PlanTable, _components, evaluate, solve_greedy, solve_ilp

GB = 1e9


def synthetic(n_tables: int, seed: int) -> tuple[dict[str, PlanTable], list[PlanEdge]]:
    rng = random.Random(seed)
    tables: dict[str, PlanTable] = {}
    edges: list[PlanEdge] = []

    def table(name: str, size: int) -> str:
        tables[name] = PlanTable(name, size, rng.choice([0.1, 1, 1, 4, 30, 720]), rng.choice([30.0, 60.0, 600.0]),
                                 rng.random() < 0.02, rng.choice([0.02, 0.02, 0.01]))
        return name

    def edge(parent: str, child: str, share: float) -> None:
        rebuild = int(tables[parent].bytes * share)
        seconds = rebuild / 200e6 + 5.0
        if seconds <= tables[child].latency_budget_s and not (tables[parent].protected or tables[child].protected):
            edges.append(PlanEdge(parent, child, rebuild, seconds,
                                  tables[child].accesses_per_month * rebuild / 1e12 * 5.0))

    hubs = [table(f"hub{i}", int(rng.lognormvariate(25, 1))) for i in range(max(1, n_tables // 20_000))]
    family = 0
    while len(tables) < n_tables:
        family += 1
        base = table(f"f{family}/base", int(rng.lognormvariate(21, 2)))
        members = [base]
        for j in range(rng.randint(1, 6)):
            kind = rng.choice(["copy", "projection", "filter", "chain"])
            share = 1.0 if kind == "copy" else rng.uniform(0.05, 0.9)
            source = members[-1] if kind == "chain" else base
            child = table(f"f{family}/{kind}{j}", max(1, int(tables[source].bytes * share)))
            edge(source, child, share)
            if kind == "chain" and source != base:
                edge(base, child, share)  # the transitive edge
            if kind == "copy":
                edge(child, base, 1.0)
            members.append(child)
        if rng.random() < 0.3:  # extracts of a hub
            edge(rng.choice(hubs), rng.choice(members), rng.uniform(0.001, 0.05))
    return tables, edges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solver", default="auto", choices=["auto", "cbc", "highs"])
    args = parser.parse_args(argv)
    print(f"{'tables':>8}{'edges':>9}{'comps':>8}{'ILP s':>9}  {'status':<9}{'greedy s':>9}"
          f"{'ILP $/mo':>12}{'greedy $/mo':>13}{'greedy gap':>11}{'deleted':>9}")
    for n in args.sizes:
        tables, edges = synthetic(n, args.seed)
        components = len(_components(edges))
        start = time.perf_counter()
        ilp = solve_ilp(tables, edges, args.solver, time_limit_s=3600)
        ilp_s = time.perf_counter() - start
        greedy = solve_greedy(tables, edges)
        best = evaluate(tables, edges, ilp.deletions).total
        other = evaluate(tables, edges, greedy.deletions).total
        gap = (other - best) / best if best else 0.0
        print(f"{len(tables):>8}{len(edges):>9}{components:>8}{ilp_s:>9.1f}  {ilp.status:<9}{greedy.seconds:>9.2f}"
              f"{best:>12.2f}{other:>13.2f}{100 * gap:>10.3f}%{len(ilp.deletions):>9}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
