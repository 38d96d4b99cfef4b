# r2d2 — `make help` lists the targets. Every target sets up .venv itself on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py r2d2/engines/_ckernels.c requirements/lock.txt | cksum | cut -d' ' -f1)
JARS   := spark-jars/lib/.fetched-$(shell cat spark-jars/pom.xml | cksum | cut -d' ' -f1)
AZURITE := tools/node_modules/.bin/azurite
LOCK   := requirements/lock.txt
DEMO   := .demo
# Airflow gets its own venv and lock (its constraints file is not reachable; the lock is ours).
AIRFLOW_VENV  := .airflow-venv
AIRFLOW_LOCK  := requirements/airflow-lock.txt
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell cat $(AIRFLOW_LOCK) | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup demo spark-demo test test-core test-airflow test-notebooks lint bench clean lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: $(STAMP) $(JARS) $(AZURITE) ## create .venv with r2d2 and its dev extras, fetch Spark's jars (Maven) and Azurite (npm)

$(JARS): spark-jars/pom.xml
	@command -v mvn >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's maven to fetch the Spark jars"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends maven >/dev/null; \
	  else echo "make setup needs Maven (mvn) to fetch the Spark jars: install it (apt-get install maven)"; exit 1; fi; }
	rm -rf spark-jars/lib
	mvn -q -B -f spark-jars/pom.xml dependency:copy-dependencies -DoutputDirectory=lib -DexcludeTransitive=true
	touch $@

$(AZURITE): tools/package.json tools/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make setup needs npm (Node 20) for Azurite, the ADLS/Blob test server"; exit 1; }
	cd tools && npm ci --silent --no-audit --no-fund
	touch $@

$(STAMP): pyproject.toml $(LOCK)
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the report tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-dejavu-core >/dev/null || echo "note: chromium could not be installed; browser tests will skip"; \
	else echo "note: chromium is not installed (needs root and apt-get); the browser report tests will skip"; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	$(BIN)/python -c "from r2d2.engines.kernels import warm; warm(every=True)"  # compile numba's loops once (its cache)
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup ## build a ~300-table lake from real public data, scan it, plan deletions, say where the output is
	rm -rf $(DEMO)/lake $(DEMO)/out
	$(BIN)/python -m benchmarks.lakegen $(DEMO)/lake --tables 300 --seed 0 --bad
	$(BIN)/r2d2 scan $(DEMO)/lake --out $(DEMO)/out
	@echo
	$(BIN)/r2d2 plan $(DEMO)/out --out $(DEMO)/out
	@echo
	@echo "containment: $(DEMO)/out/containment.json (schema graph with verdicts: $(DEMO)/out/containment.graphml)"
	@echo "plan:        $(DEMO)/out/plan.json  (try: $(BIN)/r2d2 rebuild $(DEMO)/out/plan.json TABLE_ID --out $(DEMO)/restored)"
	@echo "report:      $(DEMO)/out/report.html  (and report.md)"
	@echo "reclaim:     $(BIN)/r2d2 apply $(DEMO)/out   (a dry run; --execute moves the tables into a quarantine)"
	@echo "notebook:    notebooks/review.ipynb  (R2D2_OUT=$(DEMO)/out)"

spark-demo: setup ## scan the demo lake with spark-submit --master local[2] (the Spark engine, Spark's readers)
	@[ -d $(DEMO)/lake ] || $(BIN)/python -m benchmarks.lakegen $(DEMO)/lake --tables 300 --seed 0 --bad
	PYSPARK_PYTHON=$(abspath $(BIN)/python) SPARK_LOCAL_IP=127.0.0.1 $(BIN)/spark-submit --master "local[2]" \
	  --jars "$$(ls spark-jars/lib/*.jar | paste -sd, -)" \
	  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
	  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
	  --conf spark.hadoop.parquet.hadoop.vectored.io.enabled=false \
	  --conf spark.ui.showConsoleProgress=false jobs/spark_scan.py $(DEMO)/lake --out $(DEMO)/spark-out \
	  --spark-conf conf/spark/local.yaml
	@echo "containment (Spark engine): $(DEMO)/spark-out/containment.json"

test: setup ## the core-install check, every test (Spark, moto and Azurite start themselves), Airflow's and the notebooks
	$(MAKE) --no-print-directory test-core
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-airflow

$(AIRFLOW_STAMP): $(AIRFLOW_LOCK)
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r $(AIRFLOW_LOCK)
	rm -f $(AIRFLOW_VENV)/.installed-*
	touch $@

test-airflow: setup $(AIRFLOW_STAMP) ## the DAG in a real Airflow 3 (its own venv; SQLite in a temporary folder)
	R2D2_BIN=$(abspath $(BIN)/r2d2) R2D2_PYTHON=$(abspath $(BIN)/python) \
	  $(AIRFLOW_VENV)/bin/python -m pytest tests/airflow --confcutdir=tests/airflow -p no:cacheprovider

test-core: ## pip install . alone into a fresh venv, then scan -> plan -> report -> rebuild a small lake
	PYTHON=$(PYTHON) bash tests/core/check_core_install.sh

lock: ## re-resolve the newest versions pyproject.toml allows into requirements/lock.txt (then run make test)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet '.[dev]'
	{ sed -n '1,2p' $(LOCK); .lock-venv/bin/pip freeze --exclude-editable | grep -v '^r2d2'; } > $(LOCK).new && mv $(LOCK).new $(LOCK)
	rm -rf .lock-venv

lint: setup ## ruff and mypy
	$(BIN)/ruff check r2d2 tests benchmarks jobs
	$(BIN)/mypy r2d2

bench: setup ## scan benchmark against a brute-force EXCEPT ALL baseline, then the planner's (takes a while)
	$(BIN)/python -m benchmarks.scan_bench
	$(BIN)/python -m benchmarks.plan_bench
	$(BIN)/python -m benchmarks.spark_bench

clean: ## remove the venv, jars, Azurite, demo and benchmark outputs
	rm -rf $(VENV) $(AIRFLOW_VENV) $(DEMO) .bench .pytest_cache .mypy_cache .ruff_cache spark-jars/lib tools/node_modules
