"""Commands ``report``, ``compare`` and ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _cmd_report(args: argparse.Namespace) -> int:
    from depthbench.report import load_run, summarize_verdicts, write_report

    run = load_run(args.run_dir, "RUN_DIR")
    out = Path(args.out) if args.out else run.run_dir / "report"
    files = write_report(run, out)
    print(f"report: {files.html}")
    print(f"summary: {files.markdown}")
    for s in summarize_verdicts(run.results):
        print(f"  {s.text}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from depthbench.report import compare_runs, load_run
    from depthbench.report._plots import slug

    a = load_run(args.run_a, "RUN_A")
    b = load_run(args.run_b, "RUN_B")
    out = Path(args.out) if args.out else a.run_dir / f"compare-vs-{slug(b.run_dir.name)}"
    files = compare_runs(a, b, out, force=args.force)
    print(f"comparison: {files.html}")
    print(f"summary: {files.markdown}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from depthbench.demo import run_demo

    run_demo(Path(args.out), seed=args.seed)
    return 0


def register(subparsers: Any) -> None:
    """Add ``report``, ``compare`` and ``demo`` to the ``depthbench`` parser."""
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

    p = subparsers.add_parser(
        "demo", help="the whole pipeline on the simulated reasoner, offline, in a minute or two",
        description="Generate small datasets for the three task families, run the simulated reasoner under "
                    "single, budget_forcing, majority@N and revision@R at two budgets, analyse, and write "
                    "the report. No network, no GPU.")
    p.add_argument("--out", metavar="DIR", default="depthbench-demo", help="output folder (default: ./depthbench-demo)")
    p.add_argument("--seed", type=int, default=0, help="dataset and sampling seed (default: 0)")
    p.set_defaults(func=_cmd_demo)
