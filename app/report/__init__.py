"""Reports of analysed runs: figures, an HTML report, a markdown summary, comparisons.

Everything here reads a run's ``results.json`` (the contract in
``docs/ARCHITECTURE.md``, written by ``depthbench analyze``) and never re-scores.

Examples
--------
>>> from depthbench.analysis import load_results  # doctest: +SKIP
>>> from depthbench.report import write_report  # doctest: +SKIP
>>> write_report(load_results("runs/smollm2"), "runs/smollm2/report")  # doctest: +SKIP
"""

from depthbench.report._compare import CompareFiles, check_same_data, compare_runs
from depthbench.report._html import ReportFiles, render_html, render_markdown, write_report
from depthbench.report._plots import RenderedFigure, render_figures, render_overview

__all__ = [
    "CompareFiles",
    "RenderedFigure",
    "ReportFiles",
    "check_same_data",
    "compare_runs",
    "render_figures",
    "render_html",
    "render_markdown",
    "render_overview",
    "write_report",
]
