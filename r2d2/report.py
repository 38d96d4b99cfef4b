"""The reviewer's report: `report.html` (one self-contained file: inline CSS, SVG and a small script,
no network) and `report.md` (the same facts for a pull request or a ticket), from a scan's
containment.json and, when there is one, the plan.json made from it.

Every name from the lake is escaped where it is written; the page's script only reorders and hides
rows that are already there and never turns data into markup. Sorting and filtering follow the URL
(`?q=text&sort=column&dir=asc|desc`), so a reviewer can link to exactly the view they checked.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from r2d2.errors import UsageError
from r2d2.model import CONTAINED
from r2d2.output import size_text as size
from r2d2.output import write_atomic

MAX_DRAWN_TABLES = 300  # beyond this the graph shows the largest families and says how many it left out
MAX_PAIRS_SHOWN = 3  # refuted pairs listed per kept table


@dataclass
class Facts:
    """Everything the report says, computed once and rendered twice (HTML and Markdown)."""

    lake: str
    semantics: str
    summary: dict[str, Any]
    deletions: list[dict[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    folders: list[tuple[str, int, float]] = field(default_factory=list)
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    reclaimed: list[dict[str, Any]] = field(default_factory=list)  # what apply/restore/purge did (the journal)


def load_inputs(folder: Path) -> tuple[dict[str, Any], dict[str, Any] | None, Path]:
    """containment.json and plan.json for a report in `folder` (the plan's --out, or a scan's)."""
    from r2d2.documents import load_plan_doc, load_scan_doc

    plan_path = folder / "plan.json"
    plan_doc = load_plan_doc(plan_path) if plan_path.exists() else None
    scan_path = Path(plan_doc.scan) if plan_doc else folder / "containment.json"
    if not scan_path.is_file():
        scan_path = folder / "containment.json"
    if not scan_path.is_file():
        raise UsageError(f"no containment.json for the report in {folder}: run `r2d2 scan` first")
    scan_doc, digest = load_scan_doc(scan_path)
    if plan_doc is not None:
        # The plan and the scan must belong together: the same lake, and the very scan planned from
        # (a rescan into the same folder is another scan).
        if plan_doc.lake != scan_doc.lake:
            raise UsageError(f"{plan_path} was planned for lake {plan_doc.lake}, but {scan_path} scanned "
                             f"{scan_doc.lake}; run `r2d2 plan` again")
        if plan_doc.scan_sha256 is not None and plan_doc.scan_sha256 != digest:
            raise UsageError(f"{plan_path} was planned from another scan than {scan_path} (it has changed "
                             "since); run `r2d2 plan` again")
    plan = plan_doc.model_dump() if plan_doc else None
    return scan_doc.model_dump(), plan, scan_path


def gather_facts(scan: dict[str, Any], plan: dict[str, Any] | None) -> Facts:
    tables = {t["id"]: t for t in scan["tables"]}
    contained = [e for e in scan["edges"] if e["status"] == CONTAINED]
    deletions = {d["table"]: d for d in (plan or {}).get("deletions", [])}
    sources = defaultdict(list)
    for d in deletions.values():
        sources[d["source"]].append(d["table"])
    settings = {t["id"]: t for t in (plan or {}).get("tables", [])}
    not_deleted = defaultdict(list)
    for n in (plan or {}).get("not_deleted", []):
        not_deleted[n["table"]].append(n)
    edge_of = {(e["parent"], e["child"]): e for e in scan["edges"]}
    objective = (plan or {}).get("objective", {})
    summary = {
        "tables": len(tables), "lake_bytes": sum(t["bytes"] for t in tables.values()),
        "errors": sum(1 for t in tables.values() if t["error"]), "pairs": len(scan["edges"]),
        "contained_pairs": len(contained), "contained_tables": len({e["child"] for e in contained}),
        "planned": plan is not None, "deletions": len(deletions),
        "saved_bytes": sum(d["saved_bytes"] for d in deletions.values()),
        "storage_before": objective.get("storage_before", 0.0), "storage_after": objective.get("storage_after", 0.0),
        "rebuild_cost": objective.get("rebuild_cost", 0.0),
        "saved_per_month": objective.get("storage_before", 0.0) - objective.get("total", 0.0),
        "solver": objective.get("solver", "none"), "status": objective.get("status", "no plan"),
    }
    facts = Facts(scan["lake"], scan["semantics"], summary, stages=scan["stages"])
    for d in sorted(deletions.values(), key=lambda d: -d["saved_bytes"]):
        edge = edge_of.get((d["source"], d["table"]), {})
        recipe = d["recipe"]
        facts.deletions.append({
            "table": d["table"], "source": d["source"], "saved_bytes": d["saved_bytes"],
            "saved_per_month": d["saved_per_month"], "rebuild_seconds": d["rebuild_seconds"],
            "budget": settings.get(d["table"], {}).get("latency_budget_s", math.inf),
            "kind": recipe["kind"], "sql": recipe["sql"],
            "evidence": f"{edge.get('stage', '?')}: {edge.get('reason', '')}; recipe rebuilt {recipe['rows']} rows, "
                        f"fingerprint {recipe['fingerprint']}",
        })
    by_child = defaultdict(list)
    for e in scan["edges"]:
        by_child[e["child"]].append(e)
    for tid, t in sorted(tables.items()):
        facts.tables.append(explain_table(t, deletions, sources, not_deleted, by_child[tid]))
    facts.folders = savings_by(deletions.values(), top_folder)
    facts.graph = containment_graph(scan, deletions)
    return facts


def top_folder(table_id: str) -> str:
    return table_id.split("/")[0] if "/" in table_id else "(top level)"


def savings_by(deletions: Iterable[dict[str, Any]], key: Callable[[str], str]) -> list[tuple[str, int, float]]:
    """(key of the deleted table, bytes freed, dollars saved per month), the most bytes first."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for d in deletions:
        totals[key(d["table"])][0] += d["saved_bytes"]
        totals[key(d["table"])][1] += d["saved_per_month"]
    return sorted(((k, int(b), m) for k, (b, m) in totals.items()), key=lambda x: (-x[1], x[0]))


def containment_graph(scan: dict[str, Any], deletions: dict[str, dict[str, Any]]) -> nx.DiGraph:
    """Contained edges, parent -> child (each with its stage, reason, and whether the plan rebuilds
    the child from that parent); nodes carry bytes and a role: deleted, source or kept."""
    tables = {t["id"]: t for t in scan["tables"]}
    sources = {d["source"] for d in deletions.values()}
    graph = nx.DiGraph()
    for e in scan["edges"]:
        if e["status"] == CONTAINED:
            graph.add_edge(e["parent"], e["child"], stage=e["stage"], reason=e["reason"],
                           used=deletions.get(e["child"], {}).get("source") == e["parent"])
    for node in graph:
        graph.nodes[node]["role"] = "deleted" if node in deletions else "source" if node in sources else "kept"
        graph.nodes[node]["bytes"] = tables[node]["bytes"]
    return graph


def explain_table(t: dict[str, Any], deletions: dict[str, Any], sources: dict[str, list[str]],
                  not_deleted: dict[str, list[dict[str, Any]]], as_child: list[dict[str, Any]]) -> dict[str, Any]:
    """Why a table is, or is not, deletable, in one sentence, with the pairs (as a child) that say so."""
    refuted = [e for e in as_child if e["status"] != CONTAINED]
    parents = [e["parent"] for e in as_child if e["status"] == CONTAINED]
    if t["error"]:
        verdict, why = "error", f"cannot be read: {t['error']}"
    elif t["id"] in deletions:
        d = deletions[t["id"]]
        verdict, why = "delete", f"contained in {d['source']}; rebuilt by a verified {d['recipe']['kind']} recipe"
    elif t["id"] in sources:
        verdict, why = "keep", f"source for rebuilding {', '.join(sorted(sources[t['id']]))}"
    elif not_deleted.get(t["id"]):
        n = not_deleted[t["id"]][0]
        verdict, why = "keep", f"contained in {n['source']}, but {n['reason']}"
    elif parents:
        verdict, why = "keep", (f"contained in {', '.join(sorted(parents)[:3])}, but deleting it would not pay "
                                "or its parents are deleted themselves")
    elif t["rows"] == 0 or not t["columns"]:
        verdict, why = "keep", "empty: never part of a containment"
    elif not as_child:
        verdict, why = "keep", "no other table has all of its columns"
    else:
        verdict, why = "keep", "not contained in any table"
    pairs = [f"{e['parent']}: {e['status'].replace('_', ' ')} ({e['stage']}: {e['reason']})"
             for e in refuted[:MAX_PAIRS_SHOWN]]
    if len(refuted) > MAX_PAIRS_SHOWN:
        pairs.append(f"… and {len(refuted) - MAX_PAIRS_SHOWN} more")
    return {"id": t["id"], "bytes": t["bytes"], "rows": t["rows"], "verdict": verdict, "why": why, "pairs": pairs}


def circle_layout(graph: nx.DiGraph) -> dict[Any, tuple[float, float]]:
    """Nodes evenly on the unit circle, in graph order (networkx's circular_layout needs numpy,
    which the core install does not have)."""
    n = len(graph)
    return {node: (math.cos(2 * math.pi * i / n), math.sin(2 * math.pi * i / n)) for i, node in enumerate(graph)}


def write_report(folder: Path) -> tuple[Path, Path]:
    """Write folder/report.html and folder/report.md; returns their paths."""
    from r2d2.apply import states_for_report

    scan, plan, _ = load_inputs(folder)
    facts = gather_facts(scan, plan)
    sizes = {d["table"]: d["saved_bytes"] for d in facts.deletions}
    facts.reclaimed = [{"table": t, "state": st.state + (f" ({st.open.action} unfinished)" if st.open else ""),
                        "since": st.since or "", "reason": st.reason or "", "bytes": sizes.get(t, 0)}
                       for t, st in sorted(states_for_report(folder).items())]
    html_path, md_path = folder / "report.html", folder / "report.md"
    write_atomic(html_path, render_html(facts))
    write_atomic(md_path, render_markdown(facts))
    return html_path, md_path


# -- formatting ---------------------------------------------------------------------------------

def money(dollars: float) -> str:
    return f"${dollars:,.2f}" if abs(dollars) >= 0.01 or dollars == 0 else f"${dollars:.2g}"


def seconds(s: float) -> str:
    return "∞" if math.isinf(s) else f"{s:,.1f} s"


def summary_lines(facts: Facts) -> list[tuple[str, str]]:
    s = facts.summary
    lines = [("Lake", facts.lake),
             ("Tables scanned", f"{s['tables']} ({size(s['lake_bytes'])}), {s['errors']} with errors"),
             ("Contained pairs", f"{s['contained_pairs']} of {s['pairs']} schema-compatible pairs "
                                 f"({s['contained_tables']} tables contained in another, {facts.semantics} semantics)")]
    if s["planned"]:
        lines += [("Tables to delete", f"{s['deletions']}, {size(s['saved_bytes'])}"),
                  ("Saved per month", f"{money(s['saved_per_month'])} (storage {money(s['storage_before'])} → "
                                      f"{money(s['storage_after'])}, rebuilds {money(s['rebuild_cost'])})"),
                  ("Solver", f"{s['solver']} ({s['status']})")]
    else:
        lines.append(("Plan", "none yet: run `r2d2 plan` for deletions and savings"))
    return lines


# -- HTML ---------------------------------------------------------------------------------------

def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2733;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d9dee4}
.sub{color:#5b6875}dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;
background:#fff;border:1px solid #d9dee4;border-radius:6px;padding:12px 16px}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d9dee4}
th,td{padding:5px 8px;border-bottom:1px solid #eef1f4;text-align:left;vertical-align:top}
th{background:#f1f4f7;position:sticky;top:0;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.num{text-align:right;white-space:nowrap}code{font:12px ui-monospace,Menlo,monospace;white-space:pre-wrap;
word-break:break-word}.filter{margin:6px 0;padding:5px 8px;width:320px;border:1px solid #c3cbd3;border-radius:4px}
.count{color:#5b6875;margin-left:8px}.over{color:#b02a37;font-weight:600}
.delete{color:#b02a37}.keep{color:#1e7b34}.error{color:#8a6d00}.legend span{margin-right:14px}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px}
svg text{font:11px system-ui,sans-serif}.scroll{max-height:620px;overflow:auto}
td[data-key=table],td[data-key=source],td[data-key=id]{min-width:180px;max-width:260px;overflow-wrap:anywhere}
td[data-key=recipe]{min-width:360px;max-width:520px}td[data-key=evidence]{min-width:220px;max-width:340px}
td[data-key=why]{min-width:320px}
"""

SCRIPT = """
(function () {
  var params = new URLSearchParams(location.search);
  function value(row, key) {
    var cell = row.querySelector('[data-key="' + key + '"]');
    if (!cell) return '';
    var n = cell.getAttribute('data-value');
    return n === null ? cell.textContent.toLowerCase() : parseFloat(n);
  }
  function setup(table) {
    var name = table.getAttribute('data-name');
    var prefix = name === 'deletions' ? '' : name + '_';
    var input = document.querySelector('input[data-for="' + name + '"]');
    var count = document.querySelector('span[data-count="' + name + '"]');
    var body = table.tBodies[0];
    var keys = Array.prototype.map.call(table.querySelectorAll('th[data-key]'),
                                        function (th) { return th.getAttribute('data-key'); });
    var wanted = params.get(prefix + 'sort') || '';
    // A link may carry anything: only a column of this table sorts, only asc/desc orders.
    var state = {q: params.get(prefix + 'q') || '', sort: keys.indexOf(wanted) >= 0 ? wanted : '',
                 dir: params.get(prefix + 'dir') === 'desc' ? 'desc' : 'asc'};
    function apply() {
      var rows = Array.prototype.slice.call(body.rows);
      if (state.sort) {
        rows.sort(function (a, b) {
          var x = value(a, state.sort), y = value(b, state.sort);
          var c = x < y ? -1 : x > y ? 1 : 0;
          return state.dir === 'desc' ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      var q = state.q.toLowerCase(), shown = 0;
      rows.forEach(function (r) {
        var hide = q !== '' && r.textContent.toLowerCase().indexOf(q) < 0;
        if (hide) { r.setAttribute('hidden', ''); } else { r.removeAttribute('hidden'); shown++; }
      });
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
        var key = th.getAttribute('data-key');
        if (key === state.sort) th.setAttribute('aria-sort', state.dir === 'desc' ? 'descending' : 'ascending');
        else th.removeAttribute('aria-sort');
      });
      if (count) count.textContent = shown + ' of ' + rows.length + ' shown';
      if (input && input.value !== state.q) input.value = state.q;
      var url = new URLSearchParams(location.search);
      [['q', state.q], ['sort', state.sort], ['dir', state.sort ? state.dir : '']].forEach(function (kv) {
        if (kv[1]) url.set(prefix + kv[0], kv[1]); else url.delete(prefix + kv[0]);
      });
      try { history.replaceState(null, '', '?' + url.toString()); } catch (e) { /* file:// in some browsers */ }
    }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener('click', function () {
        var key = th.getAttribute('data-key');
        state.dir = state.sort === key && state.dir === 'asc' ? 'desc' : 'asc';
        state.sort = key;
        apply();
      });
    });
    if (input) input.addEventListener('input', function () { state.q = input.value; apply(); });
    apply();
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.grid'), setup);
  document.body.setAttribute('data-ready', 'yes');
})();
"""

COLORS = {"deleted": "#d9534f", "source": "#2f6fce", "kept": "#3c9a52"}


def _cell(key: str, text: str, value: float | None = None, css: str = "") -> str:
    num = "" if value is None else f' data-value="{value if math.isfinite(value) else 1e308}"'
    cls = f' class="{css}"' if css else ""
    return f'<td data-key="{key}"{num}{cls}>{text}</td>'


def _grid(name: str, headers: list[tuple[str, str]], rows: list[str], placeholder: str) -> str:
    head = "".join(f'<th data-key="{k}">{esc(label)}</th>' for k, label in headers)
    return (f'<input class="filter" type="search" data-for="{name}" placeholder="{esc(placeholder)}">'
            f'<span class="count" data-count="{name}"></span>'
            f'<div class="scroll"><table class="grid" data-name="{name}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def render_html(facts: Facts) -> str:
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>r2d2 report: {esc(facts.lake)}"
             f"</title><meta name=viewport content='width=device-width'><style>{CSS}</style></head><body>",
             f"<h1>r2d2 report</h1><div class=sub>{esc(facts.lake)}</div>",
             "<h2 id=summary>Summary</h2><dl class=summary>"]
    for label, text in summary_lines(facts):
        parts.append(f"<dt>{esc(label)}</dt><dd>{esc(text)}</dd>")
    parts.append("</dl>")
    if facts.summary["planned"]:
        rows = []
        for d in facts.deletions:
            over = d["rebuild_seconds"] > d["budget"]
            rows.append("<tr>" + _cell("table", esc(d["table"])) + _cell("source", esc(d["source"]))
                        + _cell("saved_bytes", esc(size(d["saved_bytes"])), d["saved_bytes"], "num")
                        + _cell("saved_per_month", esc(money(d["saved_per_month"])), d["saved_per_month"], "num")
                        + _cell("rebuild", esc(f"{seconds(d['rebuild_seconds'])} / {seconds(d['budget'])}"),
                                d["rebuild_seconds"], "num over" if over else "num")
                        + _cell("recipe", f"<b>{esc(d['kind'])}</b><br><code>{esc(d['sql'])}</code>")
                        + _cell("evidence", esc(d["evidence"])) + "</tr>")
        parts.append("<h2 id=deletions>Deletions</h2>")
        parts.append(_grid("deletions", [("table", "table"), ("source", "rebuilt from"),
                                         ("saved_bytes", "saved"), ("saved_per_month", "saved / month"),
                                         ("rebuild", "rebuild / budget"), ("recipe", "recipe (SQL)"),
                                         ("evidence", "evidence")], rows, "filter deletions…"))
        if facts.folders:
            parts.append("<h2 id=folders>Savings by folder</h2>" + folder_chart(facts.folders))
    if facts.reclaimed:
        rows = ["<tr>" + _cell("table", esc(r["table"])) + _cell("state", esc(r["state"]), None, r["state"])
                + _cell("bytes", esc(size(r["bytes"])), r["bytes"], "num") + _cell("since", esc(r["since"]))
                + _cell("reason", esc(r["reason"])) + "</tr>" for r in facts.reclaimed]
        parts.append("<h2 id=reclaimed>Reclaimed (from the apply journal)</h2>")
        parts.append(_grid("reclaimed", [("table", "table"), ("state", "state"), ("bytes", "size"),
                                          ("since", "since"), ("reason", "why skipped / failed")], rows,
                           "filter…"))
    parts.append("<h2 id=graph>Containment graph</h2>" + graph_svg(facts.graph))
    rows = []
    for t in facts.tables:
        pairs = "".join(f"<div>{esc(p)}</div>" for p in t["pairs"])
        rows.append("<tr>" + _cell("id", esc(t["id"])) + _cell("verdict", esc(t["verdict"]), None, t["verdict"])
                    + _cell("size", esc(size(t["bytes"])), t["bytes"], "num")
                    + _cell("why", esc(t["why"]) + (f"<br><small>{pairs}</small>" if pairs else "")) + "</tr>")
    parts.append("<h2 id=tables>Every table: why it is or is not deletable</h2>")
    parts.append(_grid("tables", [("id", "table"), ("verdict", "verdict"), ("size", "size"), ("why", "why")],
                       rows, "filter tables…"))
    parts.append("<h2 id=stages>Run</h2><table><thead><tr><th>stage</th><th>pairs in</th><th>pairs out</th>"
                 "<th>seconds</th><th>bytes read</th></tr></thead><tbody>")
    for s in facts.stages:
        parts.append(f"<tr><td>{esc(s['name'])}</td><td class=num>{s['pairs_in']}</td><td class=num>{s['pairs_out']}"
                     f"</td><td class=num>{s['seconds']:.2f}</td><td class=num>{esc(size(s['bytes_read']))}</td></tr>")
    parts.append(f"</tbody></table><script>{SCRIPT}</script></body></html>")
    return "".join(parts)


def folder_chart(folders: list[tuple[str, int, float]], top: int = 15) -> str:
    shown = folders[:top]
    width, bar_h = 820, 22
    biggest = max(b for _, b, _ in shown) or 1
    rows = []
    for i, (folder, saved, per_month) in enumerate(shown):
        w = max(2, int(300 * saved / biggest))
        y = i * (bar_h + 6)
        rows.append(f'<text x="0" y="{y + 15}">{esc(folder[:40])}</text>'
                    f'<rect x="250" y="{y}" width="{w}" height="{bar_h}" fill="#2f6fce">'
                    f'<title>{esc(folder)}</title></rect>'
                    f'<text x="{256 + w}" y="{y + 15}">{esc(size(saved))}, {esc(money(per_month))}/month</text>')
    note = f"<div class=sub>{len(folders) - top} more folders not shown</div>" if len(folders) > top else ""
    return (f'<svg role="img" aria-label="savings by folder" width="{width}" height="{len(shown) * (bar_h + 6)}">'
            + "".join(rows) + "</svg>" + note)


def graph_svg(graph: nx.DiGraph) -> str:
    """Families of tables (connected components of contained edges), each laid out in its own cell:
    red is deleted, blue is a rebuild source, green is kept. Beyond MAX_DRAWN_TABLES tables only the
    largest families are drawn."""
    if not graph:
        return "<div class=sub>No table is contained in another.</div>"
    families = sorted((graph.subgraph(c) for c in nx.weakly_connected_components(graph)),
                      key=lambda g: (-sum(g.nodes[n]["bytes"] for n in g), min(g.nodes)))
    drawn: list[nx.DiGraph] = []
    total = 0
    for fam in families:
        if total + len(fam) > MAX_DRAWN_TABLES and drawn:
            break
        drawn.append(fam)
        total += len(fam)
    cell, columns = 150, 6
    rows = math.ceil(len(drawn) / columns)
    out = []
    for i, fam in enumerate(drawn):
        ox, oy = (i % columns) * cell, (i // columns) * cell
        pos = circle_layout(fam) if len(fam) > 2 else {n: (j * 1.2 - 0.6, 0) for j, n in enumerate(sorted(fam))}
        point = {n: (ox + cell / 2 + 55 * x, oy + cell / 2 + 55 * y) for n, (x, y) in pos.items()}
        for u, v, data in fam.edges(data=True):
            (x1, y1), (x2, y2) = point[u], point[v]
            stroke = "#333" if data.get("used") else "#b8c0c8"
            out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
                       f'stroke-width="{2 if data.get("used") else 1}"/>')
        for n in fam:
            x, y = point[n]
            role = fam.nodes[n]["role"]
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{COLORS[role]}"><title>{esc(n)} ({role})'
                       "</title></circle>")
        label = esc(min(fam.nodes, key=len).split("/")[-1][:22])
        out.append(f'<text x="{ox + 6}" y="{oy + cell - 8}" fill="#5b6875">{label} ({len(fam)})</text>')
    legend = ("<div class=legend>" + "".join(f'<span><i class=dot style="background:{c}"></i>{r}</span>'
                                             for r, c in COLORS.items())
              + "<span>dark line: the rebuild source of a deleted table</span></div>")
    left_out = len(families) - len(drawn)
    note = (f"<div class=sub>{len(drawn)} of {len(families)} families drawn (the largest); {left_out} more "
            "are listed in the table below.</div>") if left_out else ""
    return (legend + f'<div class=scroll><svg role="img" aria-label="containment graph" width="{columns * cell}" '
            f'height="{rows * cell}">' + "".join(out) + "</svg></div>" + note)


# -- Markdown -----------------------------------------------------------------------------------

def md(value: Any) -> str:
    """Text safe in a Markdown table cell: no pipes, no raw HTML, no line breaks."""
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


def md_code(value: str) -> str:
    text = md(value)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render_markdown(facts: Facts) -> str:
    lines = [f"# r2d2 report: {md(facts.lake)}", "", "## Summary", ""]
    lines += [f"- **{label}:** {md(text)}" for label, text in summary_lines(facts)]
    if facts.summary["planned"]:
        lines += ["", "## Deletions", "",
                  "| table | rebuilt from | saved | saved / month | rebuild / budget | recipe | evidence |",
                  "|---|---|---:|---:|---:|---|---|"]
        for d in facts.deletions:
            lines.append(f"| {md(d['table'])} | {md(d['source'])} | {size(d['saved_bytes'])} | "
                         f"{money(d['saved_per_month'])} | {seconds(d['rebuild_seconds'])} / {seconds(d['budget'])} | "
                         f"{md(d['kind'])}: {md_code(d['sql'])} | {md(d['evidence'])} |")
        if facts.folders:
            lines += ["", "## Savings by folder", "", "| folder | saved | saved / month |", "|---|---:|---:|"]
            lines += [f"| {md(f)} | {size(b)} | {money(m)} |" for f, b, m in facts.folders]
    if facts.reclaimed:
        lines += ["", "## Reclaimed (from the apply journal)", "",
                  "| table | state | size | since | why skipped / failed |", "|---|---|---:|---|---|"]
        lines += [f"| {md(r['table'])} | {md(r['state'])} | {size(r['bytes'])} | {md(r['since'])} | {md(r['reason'])} |"
                  for r in facts.reclaimed]
    lines += ["", "## Every table: why it is or is not deletable", "", "| table | verdict | why |", "|---|---|---|"]
    for t in facts.tables:
        extra = "; ".join(t["pairs"])
        lines.append(f"| {md(t['id'])} | {t['verdict']} | {md(t['why'])}{'; ' + md(extra) if extra else ''} |")
    lines += ["", "## Run", "", "| stage | pairs in | pairs out | seconds | bytes read |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {md(s['name'])} | {s['pairs_in']} | {s['pairs_out']} | {s['seconds']:.2f} | {size(s['bytes_read'])} |"
              for s in facts.stages]
    return "\n".join(lines) + "\n"
