"""Stage 1, schema graph: candidate pairs P ⊇ C where every column of C matches a column of P by
case-insensitive name and type family (DESIGN §2.1).

Found through an inverted index from match key to tables: a child's candidate parents are the
intersection of the posting lists of its columns, rarest first, so no all-pairs loop is run.
The result is a networkx DiGraph, parent → child, that later stages annotate.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from r2d2.model import Candidate, Column, TableProfile, match_key, name_key, unsupported_reason


def build_schema_graph(profiles: list[TableProfile]) -> tuple[nx.DiGraph, list[Candidate]]:
    """The schema-containment graph over usable tables and its candidate pairs, sorted."""
    usable = [p for p in profiles if p.usable]
    index: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in usable:
        for col in p.columns:
            index[match_key(col.name, col.type)].add(p.id)
    graph = nx.DiGraph()
    graph.add_nodes_from((p.id, {"format": p.format, "rows": p.rows, "bytes": p.bytes}) for p in usable)
    candidates: list[Candidate] = []
    keys_of = {p.id: _keys(p) for p in usable}
    odd = {p.id: _odd(p) for p in usable}
    for child in usable:
        ordered = [(c, match_key(c.name, c.type)) for c in _ordered(child)]
        keys = sorted((k for _, k in ordered), key=lambda k: len(index[k]))
        parents = set(index[keys[0]])
        for key in keys[1:]:
            parents &= index[key]
            if len(parents) <= 1:
                break
        parents.discard(child.id)
        candidates.extend(_pair(parent_id, child.id, ordered, keys_of[parent_id], odd) for parent_id in sorted(parents))
    graph.add_edges_from((c.parent, c.child, {"columns": len(c.columns)}) for c in candidates)
    candidates.sort(key=lambda c: c.key)
    return graph, candidates


def _pair(parent: str, child: str, ordered: list[tuple[Column, tuple[str, str]]],
          parent_keys: dict[tuple[str, str], Column], odd: dict[str, set[str]]) -> Candidate:
    """pair_columns with the child's columns in order with their keys, the parent's keys and both
    tables' unsupported columns known."""
    child_odd, parent_odd = odd[child], odd[parent]
    if not child_odd and not parent_odd:  # most pairs: every column supported
        return Candidate(parent, child, tuple([(col.name, parent_keys[key].name) for col, key in ordered]))
    columns = []
    unsupported = []
    for col, key in ordered:
        parent_col = parent_keys[key]
        columns.append((col.name, parent_col.name))
        if col.name in child_odd or parent_col.name in parent_odd:
            unsupported.append(col.name)
    return Candidate(parent, child, tuple(columns), tuple(unsupported))


def pair_columns(parent: TableProfile, child: TableProfile) -> Candidate:
    """Match each child column to its parent column; the parent must hold every child key."""
    return _pair(parent.id, child.id, [(c, match_key(c.name, c.type)) for c in _ordered(child)], _keys(parent),
                 {t.id: _odd(t) for t in (parent, child)})


def _ordered(table: TableProfile) -> list[Column]:
    return sorted(table.columns, key=lambda c: (name_key(c.name), c.name))


def _keys(table: TableProfile) -> dict[tuple[str, str], Column]:
    return {match_key(c.name, c.type): c for c in table.columns}


def _odd(table: TableProfile) -> set[str]:
    return {c.name for c in table.columns if unsupported_reason(c.type)}
