"""spark-submit / Databricks script-task entry point: `r2d2.spark_job` does the work (see its
docstring); a Databricks Python wheel task calls the same code as the console script
`r2d2-spark-scan`.

    spark-submit --master yarn jobs/spark_scan.py s3://bucket/lake --out s3://bucket/r2d2-out \\
        --spark-conf conf/spark/emr.yaml
"""

import sys

from r2d2.spark_job import main

if __name__ == "__main__":
    sys.exit(main())
