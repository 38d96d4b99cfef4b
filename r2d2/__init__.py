"""r2d2: find tables whose rows are contained in other tables of a data lake.

Implements the R2D2 pipeline (Shah et al., SIGMOD 2024, arXiv 2312.13427): schema-containment graph,
min-max pruning on Parquet/Delta statistics, sampled and then exact content checks. See
`shared/DESIGN.md` for the contracts and `r2d2.pipeline.run_scan` for the entry point.
"""

__version__ = "0.1.0"
