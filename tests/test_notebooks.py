"""The notebooks run clean, top to bottom: the review notebook (nbclient, a real Jupyter kernel) on
the demo lake, and the Databricks notebook (source format) on a Hive-metastore schema in the test
Spark session. Databricks' `dbutils.widgets` and `display` do not exist outside Databricks: a
stand-in gives the widgets their defaults and collects what is displayed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from r2d2.cli import main

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo lake (as `make demo` builds it), scanned and planned."""
    root = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-m", "benchmarks.lakegen", str(root / "lake"), "--tables", "300", "--seed", "0",
                    "--bad"], cwd=REPO, check=True, capture_output=True)
    assert main(["scan", str(root / "lake"), "--out", str(root / "out"), "--quiet"]) == 0
    assert main(["plan", str(root / "out"), "--out", str(root / "out"), "--quiet"]) == 0
    return root / "out"


def test_notebooks_are_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOKS / "review.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_the_review_notebook_runs_clean_on_the_demo_lake(demo: Path, monkeypatch) -> None:
    monkeypatch.setenv("R2D2_OUT", str(demo))
    nb = nbformat.read(NOTEBOOKS / "review.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 3  # the family, savings, what-if charts
    text = "".join(o.get("text", "") for o in outputs)
    plan = json.loads((demo / "plan.json").read_text())
    assert f"{len(plan['deletions'])} deletions" in text and "is rebuilt from" in text
    assert "HiGHS" not in text  # the solver's banner stays out of the notebook


class _Widgets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def text(self, name: str, default: str, label: str = "") -> None:
        self.values.setdefault(name, default)

    def get(self, name: str) -> str:
        return self.values[name]


class _DbUtils:
    """Databricks' dbutils, as much as the notebook uses (widgets), with values set by the test."""

    def __init__(self, values: dict[str, str]) -> None:
        self.widgets = _Widgets(values)


def test_the_databricks_notebook_runs_on_a_catalog_schema(spark, tmp_path: Path) -> None:
    spark.sql("CREATE DATABASE IF NOT EXISTS notebook_shop")
    orders = spark.range(0, 300).selectExpr("id", "id % 7 AS customer", "id * 1.5 AS amount")
    orders.write.format("parquet").mode("overwrite").saveAsTable("notebook_shop.orders")
    orders.where("customer < 3").write.format("delta").mode("overwrite").saveAsTable("notebook_shop.orders_small")
    source = (NOTEBOOKS / "databricks_review.py").read_text()
    assert source.startswith("# Databricks notebook source\n")
    cells = re.split(r"^# COMMAND -+\n", source, flags=re.M)
    shown: list[object] = []
    namespace = {"spark": spark, "display": shown.append,
                 "dbutils": _DbUtils({"schema": "notebook_shop", "out": str(tmp_path / "out")})}
    for cell in cells:  # `# MAGIC` lines (markdown, %pip) are comments to Python
        exec(compile(cell, str(NOTEBOOKS / "databricks_review.py"), "exec"), namespace)
    doc = json.loads((tmp_path / "out" / "containment.json").read_text())
    assert {t["id"] for t in doc["tables"]} == {"notebook_shop.orders", "notebook_shop.orders_small"}
    contained = shown[0]
    assert list(contained[["parent", "child"]].itertuples(index=False, name=None)) == [
        ("notebook_shop.orders", "notebook_shop.orders_small")]
    sweep = shown[2]
    assert list(sweep["deletions"]) == [1, 1, 1, 1]
