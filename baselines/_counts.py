"""Calls and sampled responses of one (item, strategy, budget), counted from its call records.

Token budgets are the suite's primary unit; search papers also match compute by the number of
model calls or of sampled responses (Gan, Liao and Liu 2025, arXiv 2501.15602, compare
best-of-N with tree search at a matched number of responses). These counts are derived from
the call log only -- by the runner for ``outcomes.jsonl``, again by ``depthbench score`` from
``calls.jsonl``, and by the submission validator from a submission's calls -- never read from a
field a run or a submission states.

Definitions (one call record per choice, so a request with native ``n > 1`` counts ``n`` calls,
exactly as fanning it out does; the same experiment counts the same on every backend):

``n_calls``
    every call record, of every role: answers, continuations, forced answers, revisions,
    pilots, verifier / judge / process-reward calls, calls to a second model.
``n_responses``
    the sampled responses: distinct chains of answer-bearing generation. A call whose role
    carries an answer starts a new response unless its role is ``chained`` and its parent is
    an answer-bearing call of the same unit, in which case it extends the parent's response;
    a chained call is a new response only when it branches (its parent already has an earlier
    chained child). So a budget-forcing chain -- ``answer``, its ``continue`` calls and its
    ``force_answer`` -- is one response; each ``revise`` round is a new response (a new
    attempt, not a continuation); judge and verifier calls are no response. Equivalently, the
    leaves of the forest of answer-bearing calls linked parent -> chained child. A search that
    expands a partial chain into several chained children (beam search, MCTS) thus counts every
    branch it sampled, the pruned ones included -- as best-of-N counts the N - 1 candidates it
    discards; whether a step call counts at all is its role's ``answers`` (a role that carries
    no answer is a call, never a response).
``n_judge_calls``
    the calls whose role scores another call (``verify``, ``judge``, and any scoring role a
    strategy registers, e.g. a process reward model's step scores).

:func:`response_leaves` returns the record that ends each response (the leaf), whose
extracted answer is the response's answer; the diversity statistics
(:func:`depthbench.scorers.sample_diversity`) are computed over those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from depthbench.baselines._roles import Role, roles
from depthbench.scorers import sample_diversity

__all__ = ["call_counts", "response_leaves", "outcome_diversity", "COUNT_FIELDS"]

#: The count fields every outcome record carries (outcomes.jsonl, scored.jsonl, the validator's outcomes).
COUNT_FIELDS = ("n_calls", "n_responses", "n_judge_calls")

_UNKNOWN = Role("unknown", "a role no registered strategy declares", answers=False)


def _role(rec: Mapping[str, Any]) -> Role:
    name = rec.get("role")
    return roles().get(name, _UNKNOWN) if isinstance(name, str) else _UNKNOWN


def response_leaves(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The record ending each sampled response, in call order (see the module docstring).

    Parameters
    ----------
    records : sequence of mapping
        The call records of one (item, strategy, budget): ``key``, ``role``, ``parent``.

    Returns
    -------
    list of mapping
        One record per response: an answer-bearing call that no chained answer-bearing call
        of ``records`` continues.
    """
    answering = {str(r.get("key")): r for r in records if _role(r).answers}
    continued: set[str] = set()
    for r in answering.values():
        parent = r.get("parent")
        if _role(r).chained and parent is not None and str(parent) in answering:
            continued.add(str(parent))
    return [r for k, r in answering.items() if k not in continued]


def call_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``n_calls``, ``n_responses`` and ``n_judge_calls`` of one unit's call records.

    Parameters
    ----------
    records : sequence of mapping
        The call records of one (item, strategy, budget), with ``key``, ``role`` and ``parent``.

    Returns
    -------
    dict
        ``{"n_calls": int >= 0, "n_responses": int >= 0, "n_judge_calls": int >= 0}``.

    Examples
    --------
    >>> chain = [{"key": "a", "role": "answer", "parent": None},
    ...          {"key": "b", "role": "continue", "parent": "a"},
    ...          {"key": "c", "role": "force_answer", "parent": "b"}]
    >>> call_counts(chain)
    {'n_calls': 3, 'n_responses': 1, 'n_judge_calls': 0}
    >>> call_counts([{"key": "s0", "role": "answer", "parent": None}, {"key": "s1", "role": "answer", "parent": None},
    ...              {"key": "j0", "role": "judge", "parent": "s0"}, {"key": "j1", "role": "judge", "parent": "s1"}])
    {'n_calls': 4, 'n_responses': 2, 'n_judge_calls': 2}
    """
    return {
        "n_calls": len(records),
        "n_responses": len(response_leaves(records)),
        "n_judge_calls": sum(1 for r in records if _role(r).scores),
    }


def outcome_diversity(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Diversity of one unit's sampled responses (:func:`depthbench.scorers.sample_diversity`
    over the leaves' ``extracted`` answers and ``correct`` flags); None with fewer than two."""
    leaves = response_leaves(records)
    if len(leaves) < 2:
        return None
    return sample_diversity([r.get("extracted") for r in leaves], [bool(r.get("correct")) for r in leaves])
