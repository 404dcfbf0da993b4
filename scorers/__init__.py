"""Scoring: answer extraction, verification and trace checking dispatched on the item's
family (``meta.family``), aggregation over samples (majority vote, best-of-N, pass@k,
maj@k) and over items (depth curves, paired equivalence tests).

Every public name is re-exported here; implementation modules are private. The statistics
(``_curves``, ``_equivalence``, ``_paired``) are imported on first use
(``depthbench._lazy.lazy_exports``).
"""

from depthbench._lazy import lazy_exports
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

# the statistics (depth curves, equivalence tests), the diversity statistics and the gold-free
# checker only on first use: extraction and the reducers are what `depthbench strategies` needs
__getattr__, __dir__ = lazy_exports(__name__, {
    "depthbench.scorers._diversity": ("COLLAPSE_COVERAGE", "COLLAPSE_ENTROPY_BITS", "answer_entropy", "collapse_flag",
                                      "diversity_rows", "diversity_rule", "sample_diversity"),
    "depthbench.scorers._env": ("NO_STEPS_FEEDBACK", "EnvFeedback", "env_feedback"),
    "depthbench.scorers._curves": (
        "bootstrap_mean_ci", "curve_fits", "depth_auc", "depth_curves", "fit_depth_curve", "item_means",
        "wilson_interval"
    ),
    "depthbench.scorers._equivalence": (
        "VERDICTS", "TostResult", "breakpoint_depth", "breakpoint_words", "compare_strategies",
        "compute_to_target", "equivalence_end_words", "holm", "pair_words", "paired_items", "paired_tost",
        "summarize_comparison", "verdict", "verdict_words"
    ),
    "depthbench.scorers._paired": (
        "PairedTest", "difference_power", "equivalence_power", "items_to_decide", "p_value_less", "paired_test",
        "power_items", "rejection_probability", "round_credits", "score_interval", "tango_score"
    ),
})

__all__ = [
    "COLLAPSE_COVERAGE",
    "COLLAPSE_ENTROPY_BITS",
    "answer_entropy",
    "collapse_flag",
    "diversity_rows",
    "diversity_rule",
    "sample_diversity",
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
    "EnvFeedback",
    "env_feedback",
    "NO_STEPS_FEEDBACK",
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
    "summarize_comparison",
    "breakpoint_words",
    "equivalence_end_words",
    "verdict_words",
    "pair_words",
    "compute_to_target",
    "PairedTest",
    "paired_test",
    "p_value_less",
    "tango_score",
    "score_interval",
    "round_credits",
    "rejection_probability",
    "equivalence_power",
    "difference_power",
    "power_items",
    "items_to_decide",
]
