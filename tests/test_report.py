"""The reviewer's report, rendered for real in headless Chromium (Debian's, installed by `make setup`):
summary numbers and every deleted table on the page, sorting and filtering through the URL, a
hostile table name shown as text, a screenshot; and the Markdown report with the same facts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from benchmarks.lakegen import build_lake
from r2d2.cli import main
from r2d2.report import money, size

HOSTILE = "<img src onerror alert(1)>"  # no "=": a folder named k=v is a partition, as Spark reads it
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make setup does it)")


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report") / "lake"
    build_lake(root, n_tables=40, seed=5, with_delta=False)
    base = sorted((root / "base").iterdir())[0]
    shutil.copytree(base, root / "odd" / HOSTILE)  # a copy, so the plan deletes one of the two
    out = root.parent / "out"
    assert main(["scan", str(root), "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out), "--out", str(out), "--quiet"]) == 0
    assert (out / "report.html").exists() and (out / "report.md").exists()
    return out


class Page(HTMLParser):
    """The rendered DOM: visible text, rows of each grid table, and every element seen."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.rows: dict[str, list[dict]] = {}
        self._table: str | None = None
        self._row: dict | None = None
        self._cell: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table" and a.get("data-name"):
            self._table = a["data-name"]
            self.rows[self._table] = []
        elif tag == "tr" and self._table:
            self._row = {"hidden": "hidden" in a, "cells": {}, "values": {}}
        elif tag == "td" and self._row is not None:
            self._cell = a.get("data-key")
            self._row["cells"][self._cell] = ""
            if "data-value" in a:
                self._row["values"][self._cell] = float(a["data-value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            if self._row["cells"]:
                self.rows[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None and self._cell:
            self._row["cells"][self._cell] += data


def render(report: Path, query: str = "", screenshot: Path | None = None) -> Page:
    profile = report.parent / f".chromium-{os.getpid()}"
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1400,1600"]
    url = report.as_uri() + query
    if screenshot is not None:
        subprocess.run([*args, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
    done = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
    page = Page(done.stdout)
    assert any(tag == "body" and a.get("data-ready") == "yes" for tag, a in page.tags), "the page script did not run"
    return page


@needs_chromium
def test_summary_and_every_deletion_are_on_the_page(reported: Path, tmp_path: Path) -> None:
    plan = json.loads((reported / "plan.json").read_text())
    scan = json.loads((reported / "containment.json").read_text())
    shot = Path(os.environ.get("R2D2_SCREENSHOT_DIR", tmp_path)) / "report.png"
    page = render(reported / "report.html", "?sort=saved_bytes&dir=desc", screenshot=shot)
    assert shot.exists() and shot.stat().st_size > 10_000
    text = "".join(page.text)
    o = plan["objective"]
    for fact in (f"{len(scan['tables'])} ({size(sum(t['bytes'] for t in scan['tables']))})",
                 f"{len(plan['deletions'])}, {size(sum(d['saved_bytes'] for d in plan['deletions']))}",
                 money(o["storage_before"] - o["total"]), f"{o['solver']} ({o['status']})"):
        assert fact in text
    shown = {row["cells"]["table"] for row in page.rows["deletions"]}
    assert shown == {d["table"] for d in plan["deletions"]}
    involved = shown | {row["cells"]["source"] for row in page.rows["deletions"]}
    assert any(HOSTILE in table for table in involved)  # the hostile copy is deleted or is the source


@needs_chromium
def test_sorting_and_filtering_follow_the_url(reported: Path) -> None:
    for direction in ("desc", "asc"):
        rows = render(reported / "report.html", f"?sort=saved_bytes&dir={direction}").rows["deletions"]
        values = [r["values"]["saved_bytes"] for r in rows]
        assert values == sorted(values, reverse=direction == "desc") and len(set(values)) > 1
    plan = json.loads((reported / "plan.json").read_text())
    needle = plan["deletions"][0]["table"].split("/")[-1]
    rows = render(reported / "report.html", f"?q={needle}").rows["deletions"]
    visible = [r for r in rows if not r["hidden"]]
    assert 0 < len(visible) < len(rows)
    assert all(needle.lower() in "".join(r["cells"].values()).lower() for r in visible)
    tables = render(reported / "report.html", "?tables_q=error").rows["tables"]
    assert all("error" in "".join(r["cells"].values()).lower() for r in tables if not r["hidden"])


@needs_chromium
def test_a_hostile_table_name_is_text(reported: Path) -> None:
    page = render(reported / "report.html")
    assert not any(tag == "img" for tag, _ in page.tags)
    assert HOSTILE in "".join(page.text)


def test_markdown_report_has_the_same_facts(reported: Path) -> None:
    plan = json.loads((reported / "plan.json").read_text())
    text = (reported / "report.md").read_text()
    assert f"{len(plan['deletions'])}, {size(sum(d['saved_bytes'] for d in plan['deletions']))}" in text
    for d in plan["deletions"]:
        assert d["table"].replace("<", "&lt;").replace(">", "&gt;") in text
    assert HOSTILE not in text and "&lt;img src onerror alert(1)&gt;" in text
    assert "## Deletions" in text and "## Run" in text and "| verify |" in text


@needs_chromium
def test_a_crafted_sort_link_does_not_stop_the_page(reported: Path) -> None:
    """`?sort="]` made querySelector throw and the script stop: filtering must still run after it."""
    plan = json.loads((reported / "plan.json").read_text())
    needle = plan["deletions"][0]["table"].split("/")[-1]
    rows = render(reported / "report.html", f'?sort=%22%5D&dir=%3Cx%3E&q={needle}').rows["deletions"]
    visible = [r for r in rows if not r["hidden"]]
    assert 0 < len(visible) < len(rows)
