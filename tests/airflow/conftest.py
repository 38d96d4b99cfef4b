"""Airflow's tests run in Airflow's own venv (`make test-airflow`, part of `make test`), on SQLite in
a temporary AIRFLOW_HOME: nothing global. The settings must be in the environment before Airflow is
first imported, hence module level. R2D2_BIN and R2D2_PYTHON name r2d2's own venv (its command, and
the Python that generates test lakes)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "jobs" / "airflow"))  # the DAG module's helpers, as Airflow itself imports it
HOME = Path(tempfile.mkdtemp(prefix="r2d2-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "jobs" / "airflow"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
})
subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ)
