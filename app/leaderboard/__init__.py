"""Leaderboard submissions: pack, validate and re-score, static site, hidden test split.

A submission (format ``depthbench-submission/1``, JSON Schema
``depthbench.schemas/submission.schema.json``) holds predictions, never scores. The
validator re-derives every score from the predictions against a released dataset;
the site is built only from re-scored outcomes.
"""

from depthbench.leaderboard._safety import DEFAULT_LIMITS, Limits, load_submission_file, safe_slug
from depthbench.leaderboard._site import LEADERBOARD_FORMAT, SiteResult, build_leaderboard
from depthbench.leaderboard._submission import SUBMISSION_FORMAT, load_schema, pack_run, write_submission
from depthbench.leaderboard._validate import ValidationReport, find_releases, validate_submission
from depthbench.tasks._hidden import HIDDEN_FORMAT, check_commitments, write_private_split

__all__ = [
    "SUBMISSION_FORMAT",
    "LEADERBOARD_FORMAT",
    "Limits",
    "DEFAULT_LIMITS",
    "pack_run",
    "write_submission",
    "load_schema",
    "load_submission_file",
    "safe_slug",
    "validate_submission",
    "ValidationReport",
    "find_releases",
    "build_leaderboard",
    "SiteResult",
    "HIDDEN_FORMAT",
    "write_private_split",
    "check_commitments",
]
