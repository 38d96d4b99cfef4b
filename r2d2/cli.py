"""The `r2d2` command line. Exit codes (DESIGN §4): 0 done, 2 bad usage or unreadable lake root,
1 anything else. Errors are one line on stderr; --debug adds the traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from r2d2 import __version__
from r2d2.config import SEMANTICS, load_config
from r2d2.engines import ENGINES
from r2d2.errors import R2D2Error, UsageError
from r2d2.storage.paths import scrub, uri_secrets

SCAN_HELP = """\
Find every table whose rows are contained in another table of the lake.

LAKE is a folder of tables: a local path, s3://BUCKET/PATH (tested on moto) or
abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH (tested on Azurite's blob endpoint); with
--engine spark also catalog:DB[/GLOB], the tables of a metastore database. A table is a folder of
Parquet files (Hive partition folders key=value become columns) or a Delta table (a folder with
_delta_log/). Contained means every column of the child matches a parent column (name
case-insensitive, same type family) and every child row occurs in the parent, as often as in the
child (bag semantics; --semantics set counts distinct rows).

Writes OUT/containment.json (every schema-compatible pair with its verdict and evidence) and
OUT/containment.graphml, and prints a summary. Nothing in the lake is ever changed.

Incremental: each scan also writes OUT/r2d2-state.json.gz (each table's version and profile, each
pair's verdict). The next scan into the same OUT re-profiles only new and changed tables (any file
added, removed, resized or rewritten), keeps the verdicts of pairs whose tables did not change (with
the run that decided them), and decides the rest. --full ignores the state; deleting the file resets it.

examples:
  r2d2 scan ./lake --out ./out
  r2d2 scan ./lake --out ./out --semantics set --sample-rows 1000 --workers 4
  R2D2_DUCKDB_MEMORY_LIMIT=8GB r2d2 scan ./lake --out ./out --quiet
  r2d2 scan s3a://bucket/lake --out ./out --engine spark --master 'local[4]'
  r2d2 scan catalog:sales --out ./out --engine spark
"""


PLAN_HELP = """\
Choose which contained tables to delete, and from which kept table to rebuild each, minimising
storage cost plus the cost of rebuilding on demand, within each table's latency budget.

Reads SCAN_DIR/containment.json, solves the integer program of DESIGN §6 (HiGHS or CBC; a greedy plan
when the solver cannot finish), finds for every deletion the simplest SQL that rebuilds the table
(projection, predicate, or stored key selection) and proves it by rebuilding the table and comparing
rows. Writes DIR/plan.json (and DIR/selections/ for key lists). Nothing is deleted.

examples:
  r2d2 plan ./out --out ./out
  r2d2 plan ./out --out ./plan --config my-prices.yaml
"""

REPORT_HELP = """\
Write DIR/report.html (one self-contained page: open it from a laptop, an artifact store or a
Databricks workspace, no network needed) and DIR/report.md (the same facts for a pull request or a
ticket) from DIR/plan.json and the containment.json it was planned from. `r2d2 plan` writes them too.

The page's tables sort on a click and filter as you type; the URL keeps the view
(?q=text&sort=column&dir=desc), so a link shows a colleague exactly what you checked.
"""

REBUILD_HELP = """\
Rebuild a table the plan deletes from its source with the plan's recipe, write it as Parquet, and
check it has the recorded row count and fingerprint (exit 1 if not).

example:
  r2d2 rebuild ./out/plan.json sales/2024 --out ./restored
"""


APPLY_HELP = """\
Reclaim the storage of the tables a plan deletes, safely. A dry run unless --execute is given: it
prints what would move, how much it frees, and which tables would be skipped and why.

With --execute, for each deletion: check that the table and its source are exactly as the scan saw
them (every file's path, size and modification time; a changed table is skipped), record the table's
files with their SHA-256 in the journal (PLAN_DIR/journal.jsonl, mirrored beside the quarantine),
then move the table into the quarantine (a rename on a local disk; on S3 and Azure a copy, read
back and checked, before the original is removed). Nothing is deleted. A run that dies (kill -9, a
lost machine) is finished by running apply again, or undone by `r2d2 restore`. One apply, restore or
purge runs per plan folder at a time (PLAN_DIR/apply.lock).

examples:
  r2d2 apply ./plan                      # dry run
  r2d2 apply ./plan --execute
  r2d2 apply ./plan --execute --quarantine s3://bucket/r2d2-quarantine
"""

RESTORE_HELP = """\
Put quarantined tables back where they were, byte for byte (every file is checked against the
SHA-256 the journal recorded). A table whose quarantined copy was purged is rebuilt from its source
with the plan's recipe, checked against the recorded fingerprint, and written as Parquet (Delta for a
Delta table). A dry run unless --execute is given. A location that holds files again is left alone.

examples:
  r2d2 restore ./plan --execute                  # every table the plan quarantined
  r2d2 restore ./plan/journal.jsonl sales/2024 --execute
"""

PURGE_HELP = """\
Delete quarantined tables for good once they have been in the quarantine longer than --older-than
days. Before each deletion the table is rebuilt from its source with the plan's recipe and its rows
compared (fingerprint) with those of the quarantined copy: a table that cannot come back is kept,
with the reason. A dry run unless --execute is given.

examples:
  r2d2 purge ./plan --older-than 30              # dry run
  r2d2 purge ./plan --older-than 30 --execute
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="r2d2", description="Find redundant tables in a data lake.")
    parser.add_argument("--version", action="version", version=f"r2d2 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    scan = sub.add_parser("scan", help="find contained tables (the R2D2 pipeline)", description=SCAN_HELP,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    scan.add_argument("lake", metavar="LAKE", help="lake root: a folder of tables (local path, s3://, abfss://), "
                      "or with --engine spark a metastore database: catalog:DB[/GLOB] or catalog:CATALOG.SCHEMA")
    scan.add_argument("--out", required=True, metavar="DIR",
                      help="where to write containment.json: a folder, or a URI such as s3://bucket/out")
    scan.add_argument("--semantics", choices=SEMANTICS, help="bag (default: duplicates count) or set")
    scan.add_argument("--sample-rows", type=int, metavar="N",
                      help="rows sampled per child before the exact check (default 256; 0 skips sampling)")
    scan.add_argument("--workers", type=int, metavar="N",
                      help="threads for reading and hashing, for footers on remote storage, and for DuckDB (default 2)")
    scan.add_argument("--engine", choices=ENGINES, default="local",
                      help="local (embedded pyarrow + DuckDB, the default) or spark")
    scan.add_argument("--master", metavar="URL", help="Spark master, e.g. local[2] (spark engine; default: "
                      "what spark-submit or the cluster sets)")
    scan.add_argument("--spark-conf", type=Path, metavar="FILE",
                      help="Spark settings profile, e.g. conf/spark/emr.yaml (spark engine)")
    scan.add_argument("--read", choices=("spark", "pyarrow"), default=None,
                      help="spark engine: how data is read. spark (the default): Spark's own readers and file "
                      "systems with the session's credentials (Delta through delta-spark; needed on Databricks "
                      "with Unity Catalog and for catalog: lakes). pyarrow: tasks read files with pyarrow (EMR "
                      "with instance profiles, where it can be faster)")
    scan.add_argument("--full", action="store_true",
                      help="ignore the state of the previous scan in --out and scan everything (the state is "
                      "replaced); by default a scan into the same --out redoes only what changed")
    scan.add_argument("--state", metavar="FILE", help="where the incremental state is read and written (a path or "
                      "URI; default: OUT/r2d2-state.json.gz), e.g. one state for scans into dated folders")
    scan.add_argument("--config", type=Path, metavar="FILE", help="YAML config (see conf/default.yaml)")
    scan.add_argument("--quiet", action="store_true", help="no progress bars and no summary")
    scan.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    plan = sub.add_parser("plan", help="choose which contained tables to delete, with verified rebuild recipes",
                          description=PLAN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("scan_dir", metavar="SCAN_DIR", type=Path, help="the --out folder of `r2d2 scan`")
    plan.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to write plan.json")
    plan.add_argument("--config", type=Path, metavar="FILE", help="YAML prices and budgets (see conf/plan.yaml)")
    plan.add_argument("--quiet", action="store_true", help="no summary")
    plan.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    report = sub.add_parser("report", help="write report.html and report.md for reviewers",
                            description=REPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("folder", metavar="DIR", type=Path, help="a plan's --out folder (or a scan's)")
    report.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    rebuild = sub.add_parser("rebuild", help="rebuild a table the plan deletes, from its recipe",
                             description=REBUILD_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    rebuild.add_argument("plan", metavar="PLAN", type=Path, help="plan.json, or the folder holding it")
    rebuild.add_argument("table", metavar="TABLE_ID", help="the deleted table's id")
    rebuild.add_argument("--out", required=True, type=Path, metavar="DIR",
                         help="writes DIR/TABLE_ID/part-00000.parquet")
    rebuild.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    apply = sub.add_parser("apply", help="move the tables a plan deletes into a quarantine (dry run by default)",
                           description=APPLY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    apply.add_argument("plan", metavar="PLAN", type=Path, help="plan.json, or the folder holding it")
    apply.add_argument("--execute", action="store_true", help="really move the tables (default: a dry run)")
    apply.add_argument("--quarantine", metavar="URI", help="where tables go, on the lake's storage (default: "
                       "LAKE/.r2d2-quarantine, which scans pass over)")
    apply.add_argument("--lake", metavar="URI", help="refuse unless the plan is for this lake")
    restore = sub.add_parser("restore", help="put quarantined (or purged) tables back", description=RESTORE_HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    restore.add_argument("plan", metavar="PLAN|JOURNAL", type=Path, help="the plan's folder or its journal.jsonl")
    restore.add_argument("tables", metavar="TABLE", nargs="*", help="only these tables (default: all)")
    restore.add_argument("--execute", action="store_true", help="really put them back (default: a dry run)")
    purge = sub.add_parser("purge", help="delete quarantined tables past their retention, after a rebuild check",
                           description=PURGE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    purge.add_argument("plan", metavar="PLAN|JOURNAL", type=Path, help="the plan's folder or its journal.jsonl")
    purge.add_argument("--older-than", type=float, required=True, metavar="DAYS",
                       help="purge tables quarantined at least this many days ago")
    purge.add_argument("--execute", action="store_true", help="really delete (default: a dry run)")
    for command in (apply, restore, purge):
        command.add_argument("--quiet", action="store_true", help="print only errors")
        command.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    # Credentials a URI argument carries are never printed, whatever a library puts in a message.
    secrets = [s for value in vars(args).values() if isinstance(value, str) for s in uri_secrets(value)]
    try:
        return {"scan": _scan, "plan": _plan, "report": _report, "rebuild": _rebuild, "apply": _apply,
                "restore": _restore, "purge": _purge}[args.command](args)
    except UsageError as exc:
        _fail(exc, debug, secrets)
        return 2
    except BrokenPipeError:  # `r2d2 ... | head`: the reader left; the work itself is done
        _silence_stdout()
        return 0
    except (R2D2Error, OSError) as exc:
        _fail(exc, debug, secrets)
        return 1
    except KeyboardInterrupt:
        print("r2d2: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # the promise is one line, not a traceback, unless --debug
        _fail(exc, debug, secrets, prefix=f"internal error ({type(exc).__name__}): ")
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _fail(exc: BaseException, debug: bool, secrets: list[str], prefix: str = "") -> None:
    if debug:
        import traceback

        text = "".join(traceback.format_exception(exc))
        print(scrub(text, secrets), file=sys.stderr, end="")
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(scrub(f"r2d2: error: {prefix}{message}", secrets), file=sys.stderr)


def _scan(args: argparse.Namespace) -> int:
    from r2d2.output import summary
    from r2d2.pipeline import run_scan

    config = load_config(args.config).replace(semantics=args.semantics, sample_rows=args.sample_rows,
                                              workers=args.workers)
    progress = not args.quiet and sys.stderr.isatty()
    options: dict[str, Any] = {}
    if args.engine == "spark":
        from r2d2.engines.spark import load_spark_conf

        options = {"master": args.master, "spark_conf": load_spark_conf(args.spark_conf),
                   "read": args.read or "spark"}
        if args.debug:
            os.environ.setdefault("R2D2_SPARK_LOG_LEVEL", "ERROR")
    elif args.master or args.spark_conf or args.read:
        raise UsageError("--master, --spark-conf and --read go with --engine spark")
    result = run_scan(args.lake, args.out, config, engine=args.engine, progress=progress, full=args.full,
                      state=args.state, **options)
    if not args.quiet:
        print(summary(result, args.out))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from r2d2.config import load_plan_config
    from r2d2.pipeline import Progress
    from r2d2.plan import run_plan, savings_summary
    from r2d2.report import write_report

    with Progress(not args.quiet and sys.stderr.isatty()).bar("recipes", None) as tick:
        doc = run_plan(args.scan_dir, args.out, load_plan_config(args.config), tick)
    html_path, _ = write_report(args.out)
    if not args.quiet:
        print(savings_summary(doc, args.out))
        print(f"  report   {html_path} (and report.md)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from r2d2.report import write_report

    html_path, md_path = write_report(args.folder)
    print(f"report: {html_path}\n        {md_path}")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from r2d2.recipe import rebuild_table

    path, rows = rebuild_table(args.plan, args.table, args.out)
    print(f"rebuilt {args.table}: {rows} rows, matching the plan's fingerprint -> {path}")
    return 0


def _reclaim(command: str, args: argparse.Namespace) -> int:
    from r2d2 import apply

    bars = args.execute and not args.quiet and sys.stderr.isatty()
    if command == "apply":
        lines, setting = apply.apply_plan(args.plan, args.execute, args.quarantine, args.lake, progress=bars)
    elif command == "restore":
        lines, setting = apply.restore(args.plan, args.tables, args.execute, progress=bars)
    else:
        lines, setting = apply.purge(args.plan, args.older_than, args.execute, progress=bars)
    if args.execute and (setting.folder / "plan.json").is_file():
        from r2d2.report import write_report

        try:
            write_report(setting.folder)
        except UsageError as exc:  # the report is a view; the journal is the record
            print(f"r2d2: warning: report not updated: {exc}", file=sys.stderr)
    if not args.quiet:
        print(apply.summary(command, lines, setting, args.execute))
    return 1 if any(line.verb == "failed" for line in lines) else 0


def _apply(args: argparse.Namespace) -> int:
    return _reclaim("apply", args)


def _restore(args: argparse.Namespace) -> int:
    return _reclaim("restore", args)


def _purge(args: argparse.Namespace) -> int:
    return _reclaim("purge", args)


if __name__ == "__main__":
    sys.exit(main())
