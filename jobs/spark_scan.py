"""spark-submit entry point: scan a lake with the Spark engine and write containment.json to any
folder or URI the driver can write (local path, s3://…, abfss://…). Thin on purpose: it parses
arguments, builds the session and calls the library.

    spark-submit --master yarn jobs/spark_scan.py s3://bucket/lake --out s3://bucket/r2d2-out \
        --spark-conf conf/spark/emr.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark_scan", description="r2d2 scan on Spark")
    parser.add_argument("lake", help="lake root URI")
    parser.add_argument("--out", required=True, help="output folder or URI")
    parser.add_argument("--semantics", choices=["bag", "set"])
    parser.add_argument("--sample-rows", type=int)
    parser.add_argument("--config", type=Path, help="scan settings (conf/default.yaml keys)")
    parser.add_argument("--spark-conf", type=Path, help="Spark settings profile (conf/spark/*.yaml)")
    args = parser.parse_args(argv)

    from r2d2.config import load_config
    from r2d2.engines.spark import load_spark_conf, spark_session
    from r2d2.output import summary
    from r2d2.pipeline import run_scan

    config = load_config(args.config).replace(semantics=args.semantics, sample_rows=args.sample_rows)
    spark = spark_session(conf=load_spark_conf(args.spark_conf))  # spark-submit sets the master
    try:
        result = run_scan(args.lake, args.out, config, engine="spark", spark=spark)
        print(summary(result, None))
        print(f"  output   {args.out}/containment.json")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
