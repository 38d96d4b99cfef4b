"""Stage 1, schema graph: candidate pairs P ⊇ C where every column of C matches a column of P by
case-insensitive name and type family (DESIGN §2.1).

Found through an inverted index from match key to tables: a child's candidate parents are the
intersection of the posting lists of its columns, rarest first, so no all-pairs loop is run.
The result is a networkx DiGraph, parent → child, that later stages annotate.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from r2d2.model import Candidate, TableProfile, match_key, name_key, unsupported_reason


def build_schema_graph(profiles: list[TableProfile]) -> tuple[nx.DiGraph, list[Candidate]]:
    """The schema-containment graph over usable tables and its candidate pairs, sorted."""
    usable = [p for p in profiles if p.usable]
    index: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in usable:
        for col in p.columns:
            index[match_key(col.name, col.type)].add(p.id)
    by_id = {p.id: p for p in usable}
    graph = nx.DiGraph()
    graph.add_nodes_from((p.id, {"format": p.format, "rows": p.rows, "bytes": p.bytes}) for p in usable)
    candidates: list[Candidate] = []
    for child in usable:
        keys = sorted((match_key(c.name, c.type) for c in child.columns), key=lambda k: len(index[k]))
        parents = set(index[keys[0]])
        for key in keys[1:]:
            parents &= index[key]
            if len(parents) <= 1:
                break
        parents.discard(child.id)
        for parent_id in sorted(parents):
            candidate = pair_columns(by_id[parent_id], child)
            candidates.append(candidate)
            graph.add_edge(parent_id, child.id, columns=len(candidate.columns))
    candidates.sort(key=lambda c: c.key)
    return graph, candidates


def pair_columns(parent: TableProfile, child: TableProfile) -> Candidate:
    """Match each child column to its parent column; the parent must hold every child key."""
    by_key = {match_key(c.name, c.type): c.name for c in parent.columns}
    columns = []
    unsupported = []
    for col in sorted(child.columns, key=lambda c: (name_key(c.name), c.name)):
        parent_col = parent.column(by_key[match_key(col.name, col.type)])
        columns.append((col.name, parent_col.name))
        if unsupported_reason(col.type) or unsupported_reason(parent_col.type):
            unsupported.append(col.name)
    return Candidate(parent.id, child.id, tuple(columns), tuple(unsupported))
