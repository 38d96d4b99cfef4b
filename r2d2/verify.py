"""Stage 3b, verify: the exact check of every surviving pair (DESIGN §3).

Each table is scanned once: one pass computes the fingerprint multiset of every column set the
table is needed on (as a child: its own comparable columns; as a parent: each child's columns).
Pairs are then compared smallest gap first, so that P ⊇ B and B ⊇ C, once proven, settle P ⊇ C
by transitivity without comparing it (such edges say `"stage": "transitive"`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from r2d2.model import Candidate, TableProfile

# A column set to fingerprint: (column name, as_double) in the pair's column order. `as_double` is
# set on a decimal column whose partner in the pair is a float: DESIGN §2 compares such a decimal
# as the double nearest to it; every other value is compared exactly.
ColumnSet = tuple[tuple[str, bool], ...]


@dataclass
class FingerprintJob:
    table: TableProfile
    colsets: list[ColumnSet]


@dataclass(frozen=True)
class PairCheck:
    parent: str
    child: str
    parent_colset: ColumnSet
    child_colset: ColumnSet
    exact: bool = field(compare=False)  # see is_exact; no default: a caller must say


def pair_check(candidate: Candidate, parent: TableProfile, child: TableProfile) -> PairCheck:
    cols = candidate.comparable
    (child_decimals, child_floats), (parent_decimals, parent_floats) = child.doubles_apart(), parent.doubles_apart()
    # a decimal column compares as doubles against a float partner, every other column exactly
    parent_colset = tuple((p, p in parent_decimals and c in child_floats) for c, p in cols)
    child_colset = tuple((c, c in child_decimals and p in parent_floats) for c, p in cols)
    # told once here: asked for every proven pair, a pass over sets of up to hundreds of columns
    exact = not (parent_decimals and child_floats or child_decimals and parent_floats) or \
        not any(d for _, d in parent_colset + child_colset)
    return PairCheck(candidate.parent, candidate.child, parent_colset, child_colset, exact)


def is_exact(check: PairCheck) -> bool:
    """Whether the pair compares every column by exact value (no decimal as a double): only such
    proven edges may be chained by transitivity."""
    return check.exact


def plan_fingerprints(pairs: list[Candidate], profiles: dict[str, TableProfile],
                      check_of: Callable[[Candidate], PairCheck] | None = None) -> list[FingerprintJob]:
    """Every table once, with all the column sets its pairs need."""
    needs: dict[str, set[ColumnSet]] = defaultdict(set)
    for cand in pairs:
        check = check_of(cand) if check_of else pair_check(cand, profiles[cand.parent], profiles[cand.child])
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


def signature(table: TableProfile) -> tuple[int, tuple[tuple[str, str], ...]]:
    """Row count and exact schema: tables with equal signatures and equal rows are interchangeable
    in every pair (same columns matched, same values compared)."""
    return table.rows, tuple((c.name, str(c.type)) for c in table.columns)


class Twins:
    """Classes of tables proven to hold the same multiset of rows under the same exact schema
    (union-find). Under bag semantics, a twin of P contains a twin of C exactly when P contains C,
    with the same count of missing rows, so one comparison decides a whole class pair."""

    def __init__(self) -> None:
        self._up: dict[str, str] = {}

    def find(self, table: str) -> str:
        root = table
        while self._up.get(root, root) != root:
            root = self._up[root]
        while table != root:  # path compression
            self._up[table], table = root, self._up.get(table, table)
        return root

    def pair(self, a: str, b: str) -> tuple[str, str]:
        """The classes of two tables, in a fixed order."""
        ra, rb = self.find(a), self.find(b)
        return (ra, rb) if ra <= rb else (rb, ra)

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._up[max(ra, rb)] = min(ra, rb)
