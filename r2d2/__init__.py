"""r2d2: find tables whose rows are contained in other tables of a data lake.

Implements the R2D2 pipeline (Shah et al., SIGMOD 2024, arXiv 2312.13427): schema-containment graph,
min-max pruning on Parquet/Delta statistics, sampled and then exact content checks. See
`shared/DESIGN.md` for the contracts and `r2d2.pipeline.run_scan` for the entry point.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Arrow's default pool on Linux wheels is mimalloc, which keeps the pages it frees: a scan's peak
# memory would then be what it once held, not what it holds. jemalloc gives them back (the engines
# call release_unused after each chunk). The pool is chosen when pyarrow first allocates, so this
# must come before any import of pyarrow; a user's own ARROW_DEFAULT_MEMORY_POOL wins.
if _sys.platform.startswith("linux") and "pyarrow" not in _sys.modules:
    _os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
