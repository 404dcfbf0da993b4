"""Reports of analysed runs: figures, an HTML report, a markdown summary, comparisons.

Everything here reads a run's ``results.json`` (the contract in
``docs/ARCHITECTURE.md``, written by ``depthbench analyze``) and never re-scores.

Examples
--------
>>> from depthbench.report import load_run, write_report  # doctest: +SKIP
>>> write_report(load_run("runs/smollm2"), "runs/smollm2/report")  # doctest: +SKIP
"""

from depthbench.report._compare import CompareFiles, check_same_data, compare_runs
from depthbench.report._html import ReportFiles, render_html, render_markdown, write_report
from depthbench.report._plots import RenderedFigure, render_figures, render_overview
from depthbench.report._results import (
    RESULTS_FORMAT,
    RunResults,
    VerdictSummary,
    check_results,
    load_run,
    summarize_verdicts,
    verdict_label,
)

__all__ = [
    "RESULTS_FORMAT",
    "CompareFiles",
    "RenderedFigure",
    "ReportFiles",
    "RunResults",
    "VerdictSummary",
    "check_results",
    "check_same_data",
    "compare_runs",
    "load_run",
    "render_figures",
    "render_html",
    "render_markdown",
    "render_overview",
    "summarize_verdicts",
    "verdict_label",
    "write_report",
]
