# Databricks notebook source
# MAGIC %md
# MAGIC # r2d2 on Databricks: scan a catalog schema, then review it
# MAGIC
# MAGIC Import this file into a workspace (it is in Databricks' source format). It scans the tables of
# MAGIC one schema with r2d2's Spark engine, reading through Spark with this cluster's credentials
# MAGIC (Unity Catalog or the Hive metastore), writes `containment.json` to a folder (a volume), plans,
# MAGIC and shows the families of contained tables and what deleting them would save.
# MAGIC
# MAGIC Catalog tables are kept by `r2d2 plan` for now (rebuild recipes for catalog tables are not
# MAGIC built yet), so the savings below are the what-if plan over the verified containments.

# COMMAND ----------

# MAGIC %pip install /Volumes/main/default/wheels/r2d2-0.5.0-py3-none-any.whl

# COMMAND ----------

dbutils.widgets.text("schema", "main.sales", "Schema to scan (CATALOG.SCHEMA or a Hive database)")  # noqa: F821
dbutils.widgets.text("out", "/Volumes/main/default/r2d2/sales", "Output folder (a volume path)")  # noqa: F821
schema = dbutils.widgets.get("schema")  # noqa: F821
out = dbutils.widgets.get("out")  # noqa: F821

# COMMAND ----------

from pathlib import Path  # noqa: E402

from r2d2.config import ScanConfig, load_plan_config  # noqa: E402
from r2d2.output import summary  # noqa: E402
from r2d2.pipeline import run_scan  # noqa: E402
from r2d2.plan import run_plan  # noqa: E402
from r2d2.review import Review  # noqa: E402

# `spark` is the cluster's session: r2d2 uses it and never stops it. A scan into the same `out`
# next time is incremental (only changed tables are read again).
result = run_scan(f"catalog:{schema}", out, ScanConfig(), engine="spark", spark=spark, read="spark")  # noqa: F821
print(summary(result, out))
run_plan(Path(out), Path(out), load_plan_config())
review = Review.load(out)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Families of contained tables, and the pairs that were refuted

# COMMAND ----------

import pandas as pd  # noqa: E402

families = review.families()
contained = pd.DataFrame([e for e in review.scan["edges"] if e["status"] == "contained"],
                         columns=["parent", "child", "stage", "reason"])
print(f"{len(families)} families, {len(contained)} contained pairs")
display(contained)  # noqa: F821

# COMMAND ----------

# MAGIC %md
# MAGIC ## What deleting them would save (the plan re-solved over the verified containments)

# COMMAND ----------

import matplotlib.pyplot as plt  # noqa: E402

prices = [0.005, 0.01, 0.02, 0.04]
sweep = pd.DataFrame([{"storage $/GB-month": p, **review.what_if(storage_per_gb_month=p)} for p in prices])
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(sweep["storage $/GB-month"], sweep["saved_per_month"], marker="o")
ax.set_xlabel("storage price, $ per GB-month")
ax.set_ylabel("$ saved per month")
ax.set_title(f"{schema}: savings against the storage price")
display(fig)  # noqa: F821
display(sweep)  # noqa: F821
