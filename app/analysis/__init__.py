"""The analysis layer: re-scoring a run, analysing it, and the results contract.

Everything that turns a run folder into numbers and verdicts lives here, once:
``score_run`` (re-extract, re-verify and re-reduce every logged call), ``analyze_run``
(depth curves, fits, paired equivalence verdicts, breakpoints -> ``results.json``), and
the ``results.json`` contract itself (``load_results``, ``check_results``, verdict
wording). ``depthbench analyze``, ``report``, ``compare`` and the leaderboard all read
their numbers through this package, so they cannot disagree.
"""

from depthbench.analysis._analyze import RESULTS_FORMAT, analyze_run, default_pairs, format_table
from depthbench.analysis._rescore import load_run_items, load_run_json, read_records, score_run, strategy_info
from depthbench.analysis._results import (
    RunResults,
    VerdictSummary,
    check_results,
    load_results,
    summarize_verdicts,
    verdict_label,
)

__all__ = [
    "RESULTS_FORMAT",
    "score_run",
    "analyze_run",
    "load_run_json",
    "load_run_items",
    "read_records",
    "strategy_info",
    "default_pairs",
    "format_table",
    "RunResults",
    "VerdictSummary",
    "check_results",
    "load_results",
    "summarize_verdicts",
    "verdict_label",
]
