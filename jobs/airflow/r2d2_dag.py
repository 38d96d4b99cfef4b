"""r2d2 on a schedule: scan -> plan -> report -> (human approval) -> apply.

Drop this file into your Airflow DAGs folder (Airflow 3.x; the Databricks and Amazon providers are
needed only for those back ends, and are imported lazily). It does not import r2d2: on the local back
end it runs the `r2d2` command (param `r2d2_bin`), which lives in its own environment, so Airflow's
dependencies and r2d2's never meet.

Back ends (param `backend`):
- local: the embedded engine, as a subprocess on the worker;
- databricks: each step is a one-time run (`DatabricksSubmitRunOperator`) of the r2d2 wheel's entry
  points on a new job cluster or an existing cluster (`databricks_cluster_id`);
- emr: each step is an EMR step (`EmrAddStepsOperator` + `EmrStepSensor`): `spark-submit` of the scan
  job, then `r2d2 plan|report|apply` through command-runner.jar (r2d2 installed by a bootstrap action).

Every run writes into its own folder `OUTPUT_ROOT/runs/<logical date>_<run id hash>/` (scan/, plan/);
two runs never share one, and a rerun of a failed run (same run id) continues in its folder. The
incremental state lives in `OUTPUT_ROOT/state/r2d2-state.json.gz`, so each weekly scan costs what
changed (max_active_runs=1 keeps runs from racing on it). The last `keep_runs` run folders are kept.

Where the result appears: the `publish` task's log and its XCom (`return_value`: report path,
tables to delete, bytes and dollars saved per month). Apply (`apply` param): `approval` (default)
waits for a human to approve in Airflow's UI (Human-in-the-loop), `auto` applies without asking,
`never` stops at the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

DAG_ID = "r2d2_reclaim"
STAGES = ("scan", "plan", "report", "apply")

PARAMS = {
    "lake": Param("/data/lake", type="string", description="lake root: a path, s3://…, abfss://… or catalog:DB"),
    "output_root": Param("/data/r2d2", type="string",
                         description="runs/ and state/ go here (a path; dbfs:/, /Volumes or s3:// on clusters)"),
    "backend": Param("local", enum=["local", "databricks", "emr"], description="where r2d2 runs"),
    "apply": Param("approval", enum=["approval", "auto", "never"],
                   description="approval: a human approves in the UI; auto: apply without asking; never: report only"),
    "plan_config": Param("", type="string", description="YAML prices and budgets for `r2d2 plan --config`"),
    "scan_args": Param("", type="string", description="extra `r2d2 scan` arguments, e.g. --semantics set"),
    "keep_runs": Param(8, type="integer", minimum=1, description="run folders kept (the state always is)"),
    "r2d2_bin": Param("r2d2", type="string", description="local: the r2d2 command (its own venv)"),
    "r2d2_wheel": Param("dbfs:/FileStore/wheels/r2d2-0.5.0-py3-none-any.whl", type="string",
                        description="databricks: the r2d2 wheel, as a cluster library"),
    "databricks_cluster_id": Param("", type="string", description="databricks: an existing cluster (else a new one)"),
    "databricks_spark_version": Param("15.4.x-scala2.12", type="string"),
    "databricks_node_type": Param("Standard_D4ds_v5", type="string"),
    "databricks_workers": Param(2, type="integer", minimum=0),
    "emr_cluster_id": Param("", type="string", description="emr: the job flow (cluster) id, j-…"),
    "emr_jars": Param("", type="string", description="emr: --jars for spark-submit (empty: EMR's Delta)"),
}


# ---------------------------------------------------------------- payloads (plain functions, tested without services)


def run_folder(output_root: str, logical_date: datetime, run_id: str) -> str:
    """This run's own folder: never another run's, the same for a rerun of this run."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{output_root.rstrip('/')}/runs/{logical_date:%Y%m%dT%H%M%S}_{digest}"


def r2d2_args(stage: str, params: dict[str, Any], folder: str) -> list[str]:
    """The r2d2 command line of one stage (without the program)."""
    state = f"{params['output_root'].rstrip('/')}/state/r2d2-state.json.gz"
    if stage == "scan":
        return ["scan", params["lake"], "--out", f"{folder}/scan", "--state", state, "--quiet",
                *shlex.split(params.get("scan_args") or "")]
    if stage == "plan":
        config = ["--config", params["plan_config"]] if params.get("plan_config") else []
        return ["plan", f"{folder}/scan", "--out", f"{folder}/plan", "--quiet", *config]
    if stage == "report":
        return ["report", f"{folder}/plan"]
    if stage == "apply":
        return ["apply", f"{folder}/plan", "--execute", "--lake", params["lake"]]
    raise ValueError(f"unknown stage {stage}")


def databricks_payload(stage: str, params: dict[str, Any], folder: str, run_id: str) -> dict[str, Any]:
    """The Jobs API runs/submit body of one stage: a Python wheel task of the r2d2 wheel, on an
    existing cluster (whose Spark session it never stops) or on a new job cluster."""
    args = r2d2_args(stage, params, folder)
    entry, parameters = ("r2d2-spark-scan", args[1:]) if stage == "scan" else ("r2d2", args)
    task_spec: dict[str, Any] = {
        "task_key": f"r2d2_{stage}",
        "python_wheel_task": {"package_name": "r2d2", "entry_point": entry, "parameters": parameters},
        "libraries": [{"whl": params["r2d2_wheel"]}],
    }
    if params.get("databricks_cluster_id"):
        task_spec["existing_cluster_id"] = params["databricks_cluster_id"]
    else:
        task_spec["new_cluster"] = {
            "spark_version": params["databricks_spark_version"], "node_type_id": params["databricks_node_type"],
            "num_workers": int(params["databricks_workers"]),
            "spark_conf": {"spark.sql.parquet.aggregatePushdown": "true"},
        }
    return {"run_name": f"r2d2 {stage} {run_id}", "tasks": [task_spec], "timeout_seconds": 6 * 3600}


def emr_steps(stages: list[str], params: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    """EMR steps: spark-submit of the scan job (EMR's Delta or --jars), then r2d2 on the master node."""
    steps = []
    for stage in stages:
        args = r2d2_args(stage, params, folder)
        if stage == "scan":
            jars = ["--jars", params["emr_jars"]] if params.get("emr_jars") else []
            command = ["spark-submit", "--deploy-mode", "client", *jars,
                       "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
                       "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
                       "/usr/local/bin/r2d2-spark-scan", *args[1:]]
        else:
            command = ["r2d2", *args]
        steps.append({"Name": f"r2d2 {stage}", "ActionOnFailure": "CONTINUE",
                      "HadoopJarStep": {"Jar": "command-runner.jar", "Args": command}})
    return steps


def headline(plan_path: Path) -> dict[str, Any]:
    """What a reviewer wants first, from plan.json."""
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    objective = plan["objective"]
    return {"tables_to_delete": len(plan["deletions"]),
            "bytes_saved": sum(int(d["saved_bytes"]) for d in plan["deletions"]),
            "saved_per_month_usd": round(objective["storage_before"] - objective["total"], 4)}


def run_r2d2(stage: str, binary: str, args: list[str]) -> str:
    """Run one r2d2 stage; fail the task with r2d2's own message (one line), not a traceback."""
    from airflow.exceptions import AirflowException

    print("$", shlex.join([binary, *args]), flush=True)
    try:
        done = subprocess.run([binary, *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise AirflowException(f"r2d2 {stage} could not start {binary!r}: {exc}; set the r2d2_bin param") from None
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise AirflowException(f"r2d2 {stage} failed (exit {done.returncode}): {message}")
    return done.stdout


def prune(output_root: str, keep: int, current: str) -> list[str]:
    """Remove all but the newest `keep` run folders (local paths only); never the state or this run."""
    runs = Path(output_root) / "runs"
    if not runs.is_dir():
        return []
    folders = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    removed = []
    this_run = Path(current).resolve()  # `current` may be spelt differently (relative, a trailing slash)
    for old in folders[keep:]:
        if old.resolve() != this_run:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(str(old))
    return removed


# ---------------------------------------------------------------- the DAG


with DAG(
    dag_id=DAG_ID,
    description="Find redundant tables with r2d2, plan their deletion, report, and (once approved) reclaim",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs share the incremental state
    params=PARAMS,
    default_args={"retries": 0, "retry_delay": timedelta(minutes=5)},
    tags=["r2d2", "storage"],
    doc_md=__doc__,
) as dag:

    @task
    def prepare() -> dict[str, str]:
        ctx = get_current_context()
        params = ctx["params"]
        folder = run_folder(params["output_root"], ctx["logical_date"] or ctx["dag_run"].run_after, ctx["run_id"])
        if params["backend"] == "local":
            os.makedirs(f"{params['output_root'].rstrip('/')}/state", exist_ok=True)
            marker = Path(folder) / ".r2d2-run"
            if marker.exists() and marker.read_text() != ctx["run_id"]:
                from airflow.exceptions import AirflowException

                raise AirflowException(f"{folder} belongs to run {marker.read_text()}, not {ctx['run_id']}")
            Path(folder).mkdir(parents=True, exist_ok=True)
            marker.write_text(ctx["run_id"])
        print(f"r2d2 run folder: {folder}")
        return {"folder": folder, "backend": params["backend"]}

    @task.branch
    def choose_backend(prepared: dict[str, str]) -> str:
        return {"local": "local_scan", "databricks": "databricks_payloads", "emr": "emr_payload"}[prepared["backend"]]

    def local_stage(stage: str):
        @task(task_id=f"local_{stage}")
        def run(prepared: dict[str, str]) -> str:
            params = get_current_context()["params"]
            return run_r2d2(stage, params["r2d2_bin"], r2d2_args(stage, params, prepared["folder"]))
        return run

    @task
    def databricks_payloads(prepared: dict[str, str]) -> dict[str, dict[str, Any]]:
        ctx = get_current_context()
        return {s: databricks_payload(s, ctx["params"], prepared["folder"], ctx["run_id"]) for s in STAGES}

    @task
    def emr_payload(prepared: dict[str, str]) -> list[dict[str, Any]]:
        return emr_steps(["scan", "plan", "report"], get_current_context()["params"], prepared["folder"])

    @task(trigger_rule="none_failed_min_one_success")
    def publish(prepared: dict[str, str]) -> dict[str, Any]:
        params = get_current_context()["params"]
        folder = prepared["folder"]
        result: dict[str, Any] = {"folder": folder, "report": f"{folder}/plan/report.html",
                                  "backend": params["backend"]}
        plan = Path(folder) / "plan" / "plan.json"
        if plan.is_file():  # local paths; on clusters the numbers are in the stage's own log
            result.update(headline(plan))
            result["pruned"] = prune(params["output_root"], int(params["keep_runs"]), folder)
        print("r2d2 report: " + json.dumps(result, indent=2))
        return result

    @task.branch
    def gate(prepared: dict[str, str]) -> str | None:
        mode = get_current_context()["params"]["apply"]
        return {"approval": "approve", "auto": "apply_router", "never": None}[mode]

    @task.branch(trigger_rule="none_failed_min_one_success")
    def apply_router(prepared: dict[str, str]) -> str:
        return {"local": "local_apply", "databricks": "databricks_apply", "emr": "emr_apply"}[prepared["backend"]]

    prepared = prepare()
    branch = choose_backend(prepared)
    local_scan, local_plan, local_report = (local_stage(s)(prepared) for s in ("scan", "plan", "report"))
    branch >> local_scan >> local_plan >> local_report

    payloads = databricks_payloads(prepared)
    steps = emr_payload(prepared)
    branch >> [payloads, steps]
    done = publish(prepared)
    local_report >> done

    try:  # the Databricks back end needs apache-airflow-providers-databricks
        from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

        previous = payloads
        for stage in ("scan", "plan", "report"):
            submitted = DatabricksSubmitRunOperator(task_id=f"databricks_{stage}", json=payloads[stage],
                                                    databricks_conn_id="databricks_default")
            previous >> submitted
            previous = submitted
        previous >> done
        databricks_apply = DatabricksSubmitRunOperator(task_id="databricks_apply", json=payloads["apply"],
                                                       databricks_conn_id="databricks_default")
    except ImportError:
        payloads >> done
        databricks_apply = None

    try:  # the EMR back end needs apache-airflow-providers-amazon
        from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator
        from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor

        added = EmrAddStepsOperator(task_id="emr_add_steps", job_flow_id="{{ params.emr_cluster_id }}", steps=steps,
                                    aws_conn_id="aws_default")
        waited = EmrStepSensor(task_id="emr_wait", job_flow_id="{{ params.emr_cluster_id }}",
                               step_id="{{ ti.xcom_pull(task_ids='emr_add_steps')[-1] }}", aws_conn_id="aws_default")
        steps >> added >> waited >> done
        emr_apply_steps = EmrAddStepsOperator(
            task_id="emr_apply", job_flow_id="{{ params.emr_cluster_id }}", aws_conn_id="aws_default",
            steps=[{"Name": "r2d2 apply", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args": ["r2d2", "apply", "{{ ti.xcom_pull(task_ids='prepare')['folder'] }}/plan", "--execute",
                         "--lake", "{{ params.lake }}"]}}])
    except ImportError:
        steps >> done
        emr_apply_steps = None

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    approve = ApprovalOperator(
        task_id="approve", subject="r2d2: reclaim the storage of run {{ run_id }}?",
        body=("Review the report before approving: {{ ti.xcom_pull(task_ids='publish')['report'] }}\n\n"
              "Tables to delete: {{ ti.xcom_pull(task_ids='publish').get('tables_to_delete', 'see report') }}. "
              "Approving moves them into the quarantine (`r2d2 apply --execute`); `r2d2 restore` brings them back."),
        response_timeout=timedelta(days=7))
    router = apply_router(prepared)
    decided = gate(prepared)
    done >> decided >> [approve, router]
    approve >> router

    @task(task_id="local_apply")
    def local_apply(prepared: dict[str, str]) -> str:
        params = get_current_context()["params"]
        return run_r2d2("apply", params["r2d2_bin"], r2d2_args("apply", params, prepared["folder"]))

    router >> local_apply(prepared)
    if databricks_apply is not None:
        router >> databricks_apply
    if emr_apply_steps is not None:
        router >> emr_apply_steps
