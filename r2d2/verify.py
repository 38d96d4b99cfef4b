"""Stage 3b, verify: the exact check of every surviving pair (DESIGN §3).

Each table is scanned once: one pass computes the fingerprint multiset of every column set the
table is needed on (as a child: its own comparable columns; as a parent: each child's columns).
Pairs are then compared smallest gap first, so that P ⊇ B and B ⊇ C, once proven, settle P ⊇ C
by transitivity without comparing it (such edges say `"stage": "transitive"`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from r2d2.model import Candidate, TableProfile


@dataclass
class FingerprintJob:
    table: TableProfile
    colsets: list[tuple[str, ...]]


@dataclass(frozen=True)
class PairCheck:
    parent: str
    child: str
    parent_colset: tuple[str, ...]
    child_colset: tuple[str, ...]


def pair_check(candidate: Candidate) -> PairCheck:
    cols = candidate.comparable
    return PairCheck(candidate.parent, candidate.child, tuple(p for _, p in cols), tuple(c for c, _ in cols))


def plan_fingerprints(pairs: list[Candidate], profiles: dict[str, TableProfile]) -> list[FingerprintJob]:
    """Every table once, with all the column sets its pairs need."""
    needs: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for cand in pairs:
        check = pair_check(cand)
        needs[cand.child].add(check.child_colset)
        needs[cand.parent].add(check.parent_colset)
    return [FingerprintJob(profiles[t], sorted(sets)) for t, sets in sorted(needs.items())]


def comparison_order(pairs: list[Candidate], profiles: dict[str, TableProfile]) -> list[Candidate]:
    """Closest pairs first (row gap, then column gap): their verdicts can settle wider pairs."""
    def gap(c: Candidate) -> tuple[int, int, str, str]:
        p, ch = profiles[c.parent], profiles[c.child]
        return abs(p.rows - ch.rows), len(p.columns) - len(ch.columns), c.parent, c.child
    return sorted(pairs, key=gap)


def transitive_via(candidate: Candidate, contained: set[tuple[str, str]],
                   children: dict[str, set[str]]) -> str | None:
    """A table B with parent ⊇ B and B ⊇ child both proven, if there is one."""
    for middle in sorted(children.get(candidate.parent, ())):
        if middle != candidate.child and (middle, candidate.child) in contained:
            return middle
    return None
