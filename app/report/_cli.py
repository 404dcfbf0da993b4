"""Commands ``report`` and ``compare``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from depthbench.analysis import load_results, summarize_verdicts
from depthbench.report import compare_runs, write_report
from depthbench.report._plots import slug

__all__ = ["register"]


def _cmd_report(args: argparse.Namespace) -> int:

    run = load_results(args.run_dir, "RUN_DIR")
    out = Path(args.out) if args.out else run.run_dir / "report"
    files = write_report(run, out)
    print(f"report: {files.html}")
    print(f"summary: {files.markdown}")
    for s in summarize_verdicts(run.results):
        print(f"  {s.text}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:

    a = load_results(args.run_a, "RUN_A")
    b = load_results(args.run_b, "RUN_B")
    out = Path(args.out) if args.out else a.run_dir / f"compare-vs-{slug(b.run_dir.name)}"
    files = compare_runs(a, b, out, force=args.force)
    print(f"comparison: {files.html}")
    print(f"summary: {files.markdown}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``report`` and ``compare`` to the ``depthbench`` parser."""
    p = subparsers.add_parser(
        "report", help="plots, an HTML report and a markdown summary of an analysed run",
        description="Render a run's results.json (written by `depthbench analyze`) as figures (PNG and SVG), "
                    "one self-contained HTML report and a markdown summary.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory holding results.json (or the results.json file)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/report)")
    p.set_defaults(func=_cmd_report)

    p = subparsers.add_parser(
        "compare", help="two runs (two models, or two settings) on the same data, side by side",
        description="Compare two analysed runs made on the same dataset: accuracy against depth, breakpoints "
                    "and curve fits side by side. Refuses when the dataset sha256 values differ.")
    p.add_argument("run_a", metavar="RUN_A", help="first run directory (or its results.json)")
    p.add_argument("run_b", metavar="RUN_B", help="second run directory (or its results.json)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN_A/compare-vs-<RUN_B name>)")
    p.add_argument("--force", action="store_true", help="compare even if the runs used different datasets")
    p.set_defaults(func=_cmd_compare)
