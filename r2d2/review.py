"""What a reviewer looks at, as plain data for notebooks (notebooks/): the families of contained
tables, savings by folder and tier, one table's evidence, and what-if plans under other prices or
budgets. No pandas or plotting here (the core install has neither); notebooks chart these.

    from r2d2.review import Review
    review = Review.load(".demo/out")            # a plan's folder (or a scan's: no savings then)
    review.families()[0]                         # the largest family of contained tables
    review.savings("folder")                     # [(folder, bytes, dollars per month)]
    review.evidence("sales/2024")                # why it may go, and how it comes back
    review.what_if(storage_per_gb_month=0.01)    # the plan again, under other prices
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from r2d2.config import PlanConfig
from r2d2.model import CONTAINED


@dataclass
class Review:
    folder: Path
    scan: dict[str, Any]
    plan: dict[str, Any] | None

    @classmethod
    def load(cls, folder: Path | str) -> Review:
        """The scan and (when there is one) the plan in a folder, validated as `r2d2 report` does."""
        from r2d2.report import load_inputs

        scan, plan, _ = load_inputs(Path(folder))
        return cls(Path(folder), scan, plan)

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return {t["id"]: t for t in self.scan["tables"]}

    @property
    def deletions(self) -> dict[str, dict[str, Any]]:
        return {d["table"]: d for d in (self.plan or {}).get("deletions", [])}

    def graph(self) -> nx.DiGraph:
        """Contained edges, parent -> child; nodes carry bytes and a role (deleted, source, kept)."""
        from r2d2.report import containment_graph

        return containment_graph(self.scan, self.deletions)

    def families(self) -> list[set[str]]:
        """Groups of tables linked by containment, the most bytes first."""
        graph = self.graph()
        groups = [set(c) for c in nx.weakly_connected_components(graph)]
        return sorted(groups, key=lambda g: (-sum(graph.nodes[t]["bytes"] for t in g), min(g)))

    def savings(self, by: str = "folder") -> list[tuple[str, int, float]]:
        """(folder or tier, bytes freed, dollars saved per month) of the plan's deletions, largest first."""
        from r2d2.report import savings_by, top_folder

        if by not in ("folder", "tier"):
            raise ValueError("savings by 'folder' or 'tier'")
        tiers = {t["id"]: t.get("tier", "hot") for t in (self.plan or {}).get("tables", [])}
        return savings_by(self.deletions.values(), top_folder if by == "folder" else lambda t: tiers.get(t, "hot"))

    def evidence(self, table: str) -> dict[str, Any]:
        """Everything that says whether `table` may go: the deletion and its recipe, the verdict of
        the pair it is rebuilt from, its other parents, and the pairs that refuted containment."""
        if table not in self.tables:
            raise KeyError(f"{table} is not a table of this scan")
        as_child = [e for e in self.scan["edges"] if e["child"] == table]
        deletion = self.deletions.get(table)
        kept = [n for n in (self.plan or {}).get("not_deleted", []) if n["table"] == table]
        return {
            "table": self.tables[table],
            "deletion": deletion,
            "verdict": next((e for e in as_child if deletion and e["parent"] == deletion["source"]), None),
            "parents": sorted(e["parent"] for e in as_child if e["status"] == CONTAINED),
            "refuted": [e for e in as_child if e["status"] != CONTAINED],
            "not_deleted": kept,
        }

    def what_if(self, config: Path | str | None = None, **changes: Any) -> dict[str, Any]:
        """The optimal plan over this scan's verified edges under other settings: the plan's prices,
        then the YAML `config` (the one the plan was made with, for its overrides and protections),
        then `changes` (any PlanConfig key, e.g. storage_per_gb_month=0.01, latency_budget_s=600).
        Recipes are not searched: this says what would be deleted; `r2d2 plan --config` then proves
        each recipe."""
        from r2d2.config import load_plan_config
        from r2d2.plan import build_inputs, choose_deletions, evaluate

        base = load_plan_config(Path(config)).model_dump() if config else self._config()
        settings = PlanConfig(**{**base, **changes})
        inputs = build_inputs(self.scan, settings)
        solution, _ = choose_deletions(inputs, settings)
        objective = evaluate(inputs.tables, inputs.candidates, solution.deletions)
        return {"deletions": len(solution.deletions),
                "saved_bytes": sum(inputs.tables[c].bytes for c in solution.deletions),
                "storage_before": objective.storage_before, "storage_after": objective.storage_after,
                "rebuild_cost": objective.rebuild_cost,
                "saved_per_month": objective.storage_before - objective.total, "solver": solution.solver}

    def _config(self) -> dict[str, Any]:
        """The plan's own prices and default tier (plan.json records them), so a what-if changes only
        what it names."""
        prices = (self.plan or {}).get("prices", {})
        base: dict[str, Any] = {}
        tiers = prices.get("storage_tiers")
        if tiers is not None:
            base["storage_per_gb_month"] = tiers
            default = prices.get("default_tier")
            if default is None and isinstance(tiers, dict) and "hot" not in tiers:
                # a plan written before it recorded its default tier: the tier at the plan's price
                priced = [name for name, price in tiers.items() if price == prices.get("storage_per_gb_month")]
                default = priced[0] if len(priced) == 1 else None
            if default is not None:
                base["default_tier"] = default
        if "compute_per_tb_read" in prices:
            base["compute_per_tb_read"] = prices["compute_per_tb_read"]
        return base
