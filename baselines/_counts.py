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
    the sampled responses: distinct chains of candidate generation (a response is a sampled
    candidate chain). Only calls of a role that carries an answer **and** is a candidate
    (``Role.response``: ``answer``, ``continue``, ``force_answer``, ``revise``, ``pilot``,
    ``step``) take part; judge, verifier, process-reward (``prm``) and ``critic`` calls are
    never responses, whatever their text says. Such a call starts a new response unless its
    role is ``chained`` or ``step`` and its parent is a response call of the same unit, in
    which case it extends the parent's response; a continuing call is a new response only when
    it branches (its parent already has an earlier continuing child). So a budget-forcing
    chain -- ``answer``, its ``continue`` calls and its ``force_answer`` -- is one response;
    each ``revise`` round is a new response (a new attempt, not a continuation). Equivalently,
    the leaves of the forest of response calls linked parent -> continuing child. A search
    that expands a partial chain into several children (beam search, MCTS) thus counts every
    branch it sampled, the pruned ones included -- as best-of-N counts the N - 1 candidates
    it discards.
``n_judge_calls``
    the calls whose role scores another call (``verify``, ``judge``, and any scoring role a
    strategy registers, e.g. a process reward model's step scores).

:func:`response_leaves` returns the record that ends each response (the leaf), whose
extracted answer is the response's answer. The diversity statistics
(:func:`depthbench.scorers.sample_diversity`, :func:`outcome_diversity`) are computed over the
**final candidates** (:func:`final_candidates`): the leaves that end their chain -- every leaf,
except that a leaf of a ``step`` role (a search step) counts only when it ends its chain
(:func:`depthbench.baselines._roles.ends_chain`: it states an answer, was cut at its cap, or
wrote nothing). A chain a search pruned or left open is a sampled response but not a candidate
the strategy chooses among, so it is not an abstaining sample; a finished chain cut at its cap
without an answer is one, as a truncated sample of majority vote is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from depthbench.baselines._roles import Role, ends_chain, roles
from depthbench import scorers  # sample_diversity on first use (scorers.lazy_exports)

__all__ = ["call_counts", "response_leaves", "final_candidates", "outcome_diversity", "COUNT_FIELDS"]

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
        One record per response: a response call (``Role.response``) that no continuing
        (``chained`` or ``step``) response call of ``records`` continues.
    """
    answering = {str(r.get("key")): r for r in records if _role(r).response}
    continued: set[str] = set()
    for r in answering.values():
        parent, role = r.get("parent"), _role(r)
        if (role.chained or role.step) and parent is not None and str(parent) in answering:
            continued.add(str(parent))
    return [r for k, r in answering.items() if k not in continued]


def final_candidates(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The responses that end their chain: the candidates the strategy chooses among (module docstring).

    Parameters
    ----------
    records : sequence of mapping
        The call records of one (item, strategy, budget).

    Returns
    -------
    list of mapping
        The :func:`response_leaves` except the leaves of a ``step`` role that leave their chain
        open (:func:`depthbench.baselines._roles.ends_chain` false), in call order.

    Examples
    --------
    >>> from depthbench.baselines.strategies import all_roles
    >>> _ = all_roles()  # the strategies' roles (step) are registered with the strategy registry
    >>> tree = [{"key": "a", "role": "step", "parent": None, "text": "Step 1: x", "parse_status": "no_answer"},
    ...         {"key": "b", "role": "step", "parent": "a", "text": "Answer: 7", "extracted": "7"},
    ...         {"key": "c", "role": "step", "parent": None, "text": "Step 1: y", "parse_status": "no_answer"}]
    >>> [r["key"] for r in response_leaves(tree)], [r["key"] for r in final_candidates(tree)]
    (['b', 'c'], ['b'])
    """
    return [r for r in response_leaves(records) if not _role(r).step or ends_chain(r)]


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
    """Diversity of one unit's final candidates (:func:`depthbench.scorers.sample_diversity`
    over the :func:`final_candidates`' ``extracted`` answers and ``correct`` flags); None with fewer than two."""
    leaves = final_candidates(records)
    if len(leaves) < 2:
        return None
    return scorers.sample_diversity([r.get("extracted") for r in leaves], [bool(r.get("correct")) for r in leaves])
