#!/usr/bin/env bash
# The core install works alone: a fresh venv with `pip install .` (no extras), then scan -> plan ->
# report -> rebuild on a small lake. Run by `make test` (target test-core).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet -c requirements/lock.txt .  # the versions CI pins
bin="$work/venv/bin"
"$bin/python" - "$work/lake" <<'PY'
import sys, pathlib
import pyarrow as pa, pyarrow.parquet as pq
root = pathlib.Path(sys.argv[1])
for name, rows in {"sales/all": range(200), "sales/recent": range(150, 200), "other": range(5)}.items():
    (root / name).mkdir(parents=True)
    pq.write_table(pa.table({"id": list(rows), "amount": [i * 1.5 for i in rows]}), root / name / "part-0.parquet")
PY
printf 'storage_per_gb_month: 1000000.0\n' > "$work/plan.yaml"  # tiny tables: make deleting pay
"$bin/r2d2" scan "$work/lake" --out "$work/out" --quiet
"$bin/r2d2" plan "$work/out" --out "$work/out" --config "$work/plan.yaml" --quiet
"$bin/r2d2" report "$work/out" > /dev/null
"$bin/r2d2" rebuild "$work/out" sales/recent --out "$work/restored"
before=$(sha256sum "$work/lake/sales/recent/part-0.parquet" | cut -d' ' -f1)
"$bin/r2d2" apply "$work/out" --quiet                      # a dry run: nothing moves
test -f "$work/lake/sales/recent/part-0.parquet"
"$bin/r2d2" apply "$work/out" --execute --quiet
test ! -e "$work/lake/sales/recent"
"$bin/r2d2" restore "$work/out" --execute --quiet
test "$(sha256sum "$work/lake/sales/recent/part-0.parquet" | cut -d' ' -f1)" = "$before"  # byte for byte
"$bin/r2d2" apply "$work/out" --execute --quiet
"$bin/r2d2" purge "$work/out" --older-than 0 --execute --quiet
test ! -e "$work/lake/sales/recent"
"$bin/r2d2" restore "$work/out" --execute --quiet           # rebuilt from its recipe
"$bin/python" - "$work" <<'PY'
import json, sys, pathlib
work = pathlib.Path(sys.argv[1])
plan = json.loads((work / "out" / "plan.json").read_text())
assert [d["table"] for d in plan["deletions"]] == ["other", "sales/recent"], plan["deletions"]
assert (work / "out" / "report.html").stat().st_size > 1000
import pyarrow.parquet as pq
assert pq.read_table(work / "restored" / "sales" / "recent" / "part-00000.parquet").num_rows == 50
assert pq.read_table(work / "lake" / "sales" / "recent").num_rows == 50
states = [json.loads(line) for line in (work / "out" / "journal.jsonl").read_text().splitlines()]
assert [r["action"] for r in states if r["event"] == "done" and r.get("table") == "sales/recent"] == [
    "quarantine", "restore", "quarantine", "purge", "rebuild"], states
PY
echo 'core install check: scan, plan, report, rebuild, apply, restore and purge work on pip install . alone'
