"""Scoring: answer extraction, verification and trace checking dispatched on the item's
family (``meta.family``), aggregation over samples (majority vote, best-of-N, pass@k,
maj@k) and over items (depth curves, paired equivalence tests).

Every public name is re-exported here; implementation modules are private.
"""

from depthbench.scorers._curves import (
    bootstrap_mean_ci,
    curve_fits,
    depth_auc,
    depth_curves,
    fit_depth_curve,
    item_means,
    wilson_interval,
)
from depthbench.scorers._equivalence import (
    VERDICTS,
    TostResult,
    breakpoint_depth,
    compare_strategies,
    compute_to_target,
    holm,
    paired_items,
    paired_tost,
    power_items,
    verdict,
)
from depthbench.scorers._extract import ANSWER_TYPES, PARSE_STATUSES, Extraction, extract, normalize_answer
from depthbench.scorers._family import extract_answer, family_of
from depthbench.scorers._reduce import (
    VoteResult,
    best_of_n,
    maj_at_k,
    majority_vote,
    pass_at_k,
    tie_rate,
    weighted_best_of_n,
)
from depthbench.scorers._trace import parse_trace, stated_steps, trace_first_error, trace_score, trace_verifier_score
from depthbench.scorers._verify import verify

__all__ = [
    "ANSWER_TYPES",
    "PARSE_STATUSES",
    "Extraction",
    "extract",
    "normalize_answer",
    "verify",
    "family_of",
    "extract_answer",
    "trace_first_error",
    "trace_score",
    "parse_trace",
    "stated_steps",
    "trace_verifier_score",
    "VoteResult",
    "majority_vote",
    "best_of_n",
    "weighted_best_of_n",
    "tie_rate",
    "pass_at_k",
    "maj_at_k",
    "wilson_interval",
    "bootstrap_mean_ci",
    "item_means",
    "depth_curves",
    "fit_depth_curve",
    "depth_auc",
    "curve_fits",
    "VERDICTS",
    "TostResult",
    "paired_tost",
    "holm",
    "verdict",
    "paired_items",
    "compare_strategies",
    "breakpoint_depth",
    "compute_to_target",
    "power_items",
]
