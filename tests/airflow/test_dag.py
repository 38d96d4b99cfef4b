"""The r2d2 DAG in a real Airflow (3.x, SQLite): it imports cleanly, `dag.test()` runs the local back
end end to end on a generated lake (scan, plan, report, apply), a missing lake fails the scan task
with r2d2's own message, runs never share a folder, and the Databricks and EMR payloads are what
those services expect. No service is contacted: the payload tests call the functions that build
them, and check which operators the DAG hands them to."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.airflow.conftest import REPO

R2D2_BIN = os.environ.get("R2D2_BIN", str(REPO / ".venv" / "bin" / "r2d2"))
R2D2_PYTHON = os.environ.get("R2D2_PYTHON", str(REPO / ".venv" / "bin" / "python"))


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "jobs" / "airflow"))  # examples are off (conftest)
    assert bag.import_errors == {}
    return bag.get_dag("r2d2_reclaim")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lake") / "lake"
    subprocess.run([R2D2_PYTHON, "-m", "benchmarks.lakegen", str(root), "--tables", "20", "--seed", "3"],
                   cwd=REPO, check=True, capture_output=True)
    return root


def conf(lake: Path, root: Path, **extra) -> dict:
    config = root / "plan.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("storage_per_gb_month: 1000000.0\n")  # tiny tables: make deleting pay
    return {"lake": str(lake), "output_root": str(root / "r2d2"), "backend": "local", "r2d2_bin": R2D2_BIN,
            "plan_config": str(config), **extra}


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_the_dag_imports_with_no_errors(dag) -> None:
    assert dag is not None and dag.max_active_runs == 1
    assert {"prepare", "local_scan", "local_plan", "local_report", "publish", "approve", "local_apply",
            "databricks_scan", "emr_add_steps", "emr_wait"} <= set(dag.task_ids)
    assert dag.get_task("approve").downstream_task_ids == {"apply_router"}
    assert type(dag.get_task("approve")).__name__ == "ApprovalOperator"


def test_local_back_end_end_to_end(dag, lake: Path, tmp_path: Path) -> None:
    run = dag.test(run_conf=conf(lake, tmp_path, apply="auto"))
    got = states(run)
    assert str(run.state) == "success", got
    assert got["local_scan"] == got["local_plan"] == got["local_report"] == got["local_apply"] == "success"
    assert got["databricks_scan"] == got["emr_add_steps"] == "skipped"
    assert got["approve"] == "skipped"  # apply=auto: no human asked
    [folder] = (tmp_path / "r2d2" / "runs").iterdir()
    scan = json.loads((folder / "scan" / "containment.json").read_text())
    plan = json.loads((folder / "plan" / "plan.json").read_text())
    assert scan["edges"] and plan["deletions"]
    assert (folder / "plan" / "report.html").stat().st_size > 1000
    journal = [json.loads(line) for line in (folder / "plan" / "journal.jsonl").read_text().splitlines()]
    assert {r["table"] for r in journal if r["event"] == "done"} == {d["table"] for d in plan["deletions"]}
    assert (tmp_path / "r2d2" / "state" / "r2d2-state.json.gz").is_file()
    published = run.get_task_instance("publish").xcom_pull(task_ids="publish")
    assert published["tables_to_delete"] == len(plan["deletions"]) and published["report"].endswith("report.html")


def test_the_next_run_is_incremental_and_stops_at_the_report(dag, lake: Path, tmp_path: Path) -> None:
    first = dag.test(run_conf=conf(lake, tmp_path, apply="never"),
                     logical_date=datetime(2026, 3, 1, tzinfo=timezone.utc))
    second = dag.test(run_conf=conf(lake, tmp_path, apply="never"),
                      logical_date=datetime(2026, 3, 8, tzinfo=timezone.utc))
    assert str(first.state) == str(second.state) == "success"
    assert states(second)["local_apply"] == "skipped" and states(second)["approve"] == "skipped"
    folders = sorted((tmp_path / "r2d2" / "runs").iterdir())
    assert len(folders) == 2  # each run its own folder
    later = json.loads((folders[1] / "scan" / "containment.json").read_text())
    earlier = json.loads((folders[0] / "scan" / "containment.json").read_text())
    assert later["incremental_from"] == earlier["run"]
    assert not any(f.name == "journal.jsonl" for f in folders[1].rglob("*"))


def test_a_missing_lake_fails_the_scan_with_r2d2s_message(dag, tmp_path: Path, capfd) -> None:
    run = dag.test(run_conf=conf(tmp_path / "no-such-lake", tmp_path))
    assert str(run.state) == "failed"
    got = states(run)
    assert got["local_scan"] == "failed" and got["local_plan"] == "upstream_failed", got
    out = capfd.readouterr()
    assert "r2d2 scan failed (exit 2): r2d2: error: lake root" in out.out + out.err


def test_runs_never_share_a_folder() -> None:
    from r2d2_dag import run_folder

    when = datetime(2026, 3, 1, tzinfo=timezone.utc)
    a, b = run_folder("/o", when, "manual__1"), run_folder("/o", when, "manual__2")
    assert a != b and a == run_folder("/o", when, "manual__1")  # a rerun continues in its own folder


PARAMS = {"lake": "abfss://lake@acct.dfs.core.windows.net/sales", "output_root": "/Volumes/main/r2d2/out",
          "plan_config": "", "scan_args": "--semantics set", "r2d2_wheel": "dbfs:/w/r2d2-0.5.0-py3-none-any.whl",
          "databricks_cluster_id": "", "databricks_spark_version": "15.4.x-scala2.12",
          "databricks_node_type": "Standard_D4ds_v5", "databricks_workers": 2, "emr_jars": ""}


def test_databricks_payloads() -> None:
    from r2d2_dag import databricks_payload

    scan = databricks_payload("scan", PARAMS, "/Volumes/main/r2d2/out/runs/x", "manual__1")
    [task] = scan["tasks"]
    assert task["python_wheel_task"] == {"package_name": "r2d2", "entry_point": "r2d2-spark-scan", "parameters": [
        PARAMS["lake"], "--out", "/Volumes/main/r2d2/out/runs/x/scan", "--state",
        "/Volumes/main/r2d2/out/state/r2d2-state.json.gz", "--quiet", "--semantics", "set"]}
    assert task["libraries"] == [{"whl": PARAMS["r2d2_wheel"]}]
    assert task["new_cluster"]["num_workers"] == 2 and "existing_cluster_id" not in task
    existing = databricks_payload("apply", {**PARAMS, "databricks_cluster_id": "0101-abc"}, "/r", "manual__1")
    [task] = existing["tasks"]
    assert task["existing_cluster_id"] == "0101-abc" and "new_cluster" not in task
    assert task["python_wheel_task"]["entry_point"] == "r2d2"
    assert task["python_wheel_task"]["parameters"] == ["apply", "/r/plan", "--execute", "--lake", PARAMS["lake"]]


def test_emr_steps_and_operators(dag) -> None:
    from r2d2_dag import emr_steps

    steps = emr_steps(["scan", "plan", "report"], {**PARAMS, "lake": "s3://b/lake", "output_root": "s3://b/out",
                                                   "emr_jars": "s3://b/jars/delta.jar"}, "s3://b/out/runs/x")
    assert [s["Name"] for s in steps] == ["r2d2 scan", "r2d2 plan", "r2d2 report"]
    scan = steps[0]["HadoopJarStep"]
    assert scan["Jar"] == "command-runner.jar" and scan["Args"][:3] == ["spark-submit", "--deploy-mode", "client"]
    assert "--jars" in scan["Args"] and "/usr/local/bin/r2d2-spark-scan" in scan["Args"]
    assert steps[1]["HadoopJarStep"]["Args"][:2] == ["r2d2", "plan"]
    added, sensor = dag.get_task("emr_add_steps"), dag.get_task("emr_wait")
    assert type(added).__name__ == "EmrAddStepsOperator" and type(sensor).__name__ == "EmrStepSensor"
    assert added.job_flow_id == "{{ params.emr_cluster_id }}"
    assert "emr_add_steps" in sensor.step_id
    assert type(dag.get_task("databricks_scan")).__name__ == "DatabricksSubmitRunOperator"


def test_old_run_folders_are_pruned_never_the_state_or_the_current_run(tmp_path: Path) -> None:
    from r2d2_dag import prune

    runs = tmp_path / "runs"
    for day in range(1, 11):
        (runs / f"202603{day:02d}T000000_abcdef{day:02d}").mkdir(parents=True)
    (tmp_path / "state").mkdir()
    current = str(runs / "20260301T000000_abcdef01")  # the oldest name, but this run's: kept
    removed = prune(str(tmp_path), 3, current)
    assert len(removed) == 6 and current not in removed
    assert sorted(p.name for p in runs.iterdir()) == ["20260301T000000_abcdef01", "20260308T000000_abcdef08",
                                                      "20260309T000000_abcdef09", "20260310T000000_abcdef10"]
    assert (tmp_path / "state").is_dir()


def test_the_current_run_is_kept_however_its_path_is_spelt(tmp_path: Path, monkeypatch) -> None:
    """A relative output_root (./out) and a trailing slash name this run's folder differently from
    the listing's paths: it is still never removed."""
    from r2d2_dag import prune

    runs = tmp_path / "out" / "runs"
    for day in range(1, 6):
        (runs / f"202603{day:02d}T000000_abcdef{day:02d}").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    removed = prune("./out", 2, "./out/runs/20260301T000000_abcdef01/")
    assert len(removed) == 2 and (runs / "20260301T000000_abcdef01").is_dir()


def test_the_approval_form_shows_the_report_and_the_count(dag) -> None:
    """The human-in-the-loop step itself waits for a person (not run here); its form is rendered
    from the publish task's XCom, which this checks."""
    class TaskInstance:
        def xcom_pull(self, task_ids: str) -> dict:
            assert task_ids == "publish"
            return {"report": "/r2d2/runs/x/plan/report.html", "tables_to_delete": 12}

    approve = dag.get_task("approve")
    context = {"run_id": "scheduled__2026-03-01", "ti": TaskInstance()}
    assert approve.render_template(approve.subject, context) == \
        "r2d2: reclaim the storage of run scheduled__2026-03-01?"
    body = approve.render_template(approve.body, context)
    assert "/r2d2/runs/x/plan/report.html" in body and "Tables to delete: 12." in body
