"""The Spark scan as a job: the same entry point for spark-submit (EMR steps, YARN, local), a
Databricks Python script task or Python wheel task (`r2d2-spark-scan`), run unchanged. It parses
arguments, takes the session (the cluster's when there is one, which it never stops), scans, and
writes containment.json to any folder or URI the driver can write (a local path, s3://, abfss://,
/dbfs/...).

    spark-submit --master yarn jobs/spark_scan.py s3://bucket/lake --out s3://bucket/r2d2-out \\
        --spark-conf conf/spark/emr.yaml
    python jobs/spark_scan.py catalog:main.sales --out /dbfs/r2d2/sales     # a Databricks task

Exit codes as `r2d2 scan`: 0 done, 2 bad input (a lake or catalog that does not exist, a missing
jar), 1 anything else; errors are one line unless --debug.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark_scan", description="r2d2 scan on Spark (see the module docstring)")
    parser.add_argument("lake", help="lake root URI (s3://, abfss://, a path) or catalog:DB[/GLOB]")
    parser.add_argument("--out", required=True, help="output folder or URI")
    parser.add_argument("--semantics", choices=["bag", "set"])
    parser.add_argument("--sample-rows", type=int)
    parser.add_argument("--read", choices=["spark", "pyarrow"], default="spark",
                        help="spark (default): Spark's readers and credentials; pyarrow: tasks read files with pyarrow")
    parser.add_argument("--config", type=Path, help="scan settings (conf/default.yaml keys)")
    parser.add_argument("--spark-conf", type=Path, help="Spark settings profile (conf/spark/*.yaml)")
    parser.add_argument("--state", help="incremental state file or URI (default: OUT/r2d2-state.json.gz)")
    parser.add_argument("--full", action="store_true", help="ignore the incremental state: scan everything")
    parser.add_argument("--quiet", action="store_true", help="no summary")
    parser.add_argument("--debug", action="store_true", help="tracebacks and Spark's own errors on the console")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:
        os.environ.setdefault("R2D2_SPARK_LOG_LEVEL", "ERROR")
    from pyspark.sql import SparkSession

    from r2d2.config import load_config
    from r2d2.engines.spark import load_spark_conf, spark_session
    from r2d2.errors import R2D2Error, UsageError
    from r2d2.output import summary
    from r2d2.pipeline import run_scan

    started_here = SparkSession.getActiveSession() is None
    try:
        config = load_config(args.config).replace(semantics=args.semantics, sample_rows=args.sample_rows)
        spark = spark_session(conf=load_spark_conf(args.spark_conf))  # spark-submit or the cluster sets the master
    except R2D2Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = run_scan(args.lake, args.out, config, engine="spark", spark=spark, read=args.read, full=args.full,
                          state=args.state)
        if not args.quiet:
            print(summary(result, None))
            print(f"  output   {args.out}/containment.json")
        return 0
    except UsageError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except R2D2Error as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if started_here:  # a cluster's session (Databricks) belongs to the cluster
            spark.stop()


def entry_point() -> None:
    """Console script `r2d2-spark-scan` (a Databricks Python wheel task's entry point)."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
