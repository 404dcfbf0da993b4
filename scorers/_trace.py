"""Trace verifier: where does a model's chain of intermediate results first go wrong?

Each family's gold ``solution_trace`` (``docs/ARCHITECTURE.md``) lists the intermediate
results in order, and the family owns the rules for its steps (``Family.parse_trace``,
``stated_steps``, ``trace_first_error``; ``depthbench/generators/<family>.py``): a step is
right when it is a *valid* step of some correct solution, not only when it copies the gold
one (a graph may have several shortest paths, statements several evaluation orders).
This module finds the steps in a response and dispatches on the item's ``meta.family``:

- free text (:func:`parse_trace`): graph paths ``3 -> 8 -> 1``, assignments
  ``x4 = x2 * 3 = 21``, the final plan cut at each subgoal;
- ``Step k: CONTENT`` lines (:func:`stated_steps`), the form the simulated reasoner writes
  (``node=4``, ``x3=4``, ``key_a:RRD``).

If every step given is right but the trace stops early, the first missing step
(``len(steps)``) is the first error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from depthbench.scorers._extract import extract
from depthbench.scorers._family import family_of

__all__ = ["trace_first_error", "trace_score", "parse_trace", "stated_steps", "trace_verifier_score"]

_STEP_LINE_RE = re.compile(r"(?im)^\s*step\s+\d+\s*[:.)]\s*(\S+)")


def trace_first_error(item: Mapping[str, Any], model_steps: Sequence[Any]) -> int | None:
    """Return the 0-based index of the first wrong step of a model's trace.

    Parameters
    ----------
    item : mapping
        A dataset item with ``meta.family``, ``instance`` and ``solution_trace``.
    model_steps : sequence
        The model's intermediate results in order, in the family's step format.

    Returns
    -------
    int or None
        Index of the first wrong (or first missing) step; None when the whole trace
        is right and complete.

    Examples
    --------
    >>> item = {"answer": "2", "solution_trace": [0, 1, 2], "meta": {"family": "graph_connectivity"},
    ...         "instance": {"edges": [[0, 1], [1, 2], [0, 3]], "source": 0, "targets": [2, 4]}}
    >>> trace_first_error(item, [0, 1, 2]), trace_first_error(item, [0, 3, 2]), trace_first_error(item, [0, 1])
    (None, 2, 2)
    """
    return family_of(item).trace_first_error(item, list(model_steps))


def _after_think(text: str) -> str:
    return text[text.rfind("</think>") + 8:] or text if "</think>" in text else text


def parse_trace(item: Mapping[str, Any], text: str | None) -> list[Any]:
    """Read a model's intermediate steps from its raw text (the family's free-text rule).

    Parameters
    ----------
    item : mapping
        The dataset item (its ``meta.family`` selects the rule).
    text : str or None
        The model's response; text before a ``</think>`` is ignored.

    Returns
    -------
    list
        graph_connectivity: node labels of the last line that shows a path
        (``3 -> 8 -> 1``); multihop_arithmetic: ``{"var", "value"}`` for every line
        that assigns a variable and ends in a number (``x4 = x2 * 3 = 21``);
        grid_planning: one move string per gold subgoal, cut from the final plan at
        the moves where the plan reaches each subgoal in order.
    """
    if not text:
        return []
    fam = family_of(item)
    text = _after_think(text)
    answer = extract(text, fam.answer_type, (item.get("meta") or {}).get("answer_space") or {},
                     normalize=fam.normalize).answer
    return fam.parse_trace(item, text, answer)


def stated_steps(item: Mapping[str, Any], text: str | None) -> list[Any]:
    """The intermediate results a response states as ``Step k: CONTENT`` lines.

    The first token of each line's content is read with the family's rule
    (``Family.stated_steps``): ``node=4`` or ``4`` (graph; the source is prepended when the
    stated path starts after it), ``x3=4`` (arithmetic), ``key_a:RRD`` or a bare move
    string (grid). Contents that do not parse are kept as raw strings (wrong steps).
    """
    contents = [c.strip().rstrip(".") for c in _STEP_LINE_RE.findall(text or "")]
    return family_of(item).stated_steps(item, contents) if contents else []


def trace_score(item: Mapping[str, Any], text: str | None) -> float:
    """Fraction of the gold trace a response gets right before its first error (free text).

    Parameters
    ----------
    item : mapping
        The dataset item.
    text : str or None
        The model's raw response; steps are read with :func:`parse_trace`.

    Returns
    -------
    float
        In [0, 1]: 1.0 when the trace is right and complete, else (gold steps covered
        before the first error) / (gold trace length), capped below 1.

    Examples
    --------
    >>> item = {"meta": {"family": "multihop_arithmetic"}, "instance": {"modulus": 10, "query": "b",
    ...         "statements": [{"var": "a", "op": "=", "args": [3]}, {"var": "b", "op": "*", "args": ["a", 3]}]},
    ...         "solution_trace": [{"var": "a", "value": 3}, {"var": "b", "value": 9}]}
    >>> trace_score(item, "a = 3\\nb = a * 3 = 9\\nAnswer: 9"), trace_score(item, "a = 3\\nb = 8")
    (1.0, 0.5)
    """
    gold = list(item.get("solution_trace") or [])
    if not gold:
        return 0.0
    steps = parse_trace(item, text)
    if not steps:
        return 0.0
    fam = family_of(item)
    idx = fam.trace_first_error(item, steps)
    if idx is None:
        return 1.0
    covered = fam.steps_covered(item, steps, idx) if fam.steps_covered is not None else idx
    return min(covered, len(gold) - 1) / len(gold)


def trace_verifier_score(item: Mapping[str, Any], text: str | None) -> float:
    """The score ``best_of@N:trace`` gives a candidate, in [0, 1].

    :func:`trace_score` when the text states steps in free form; otherwise its
    ``Step k: ...`` lines (:func:`stated_steps`) checked with :func:`trace_first_error`:
    1.0 when right and complete, else (index of the first error) / (gold trace length).
    A response that states no steps scores 0.
    """
    if parse_trace(item, text):
        return float(trace_score(item, text))
    steps = stated_steps(item, text)
    if not steps:
        return 0.0
    first = trace_first_error(item, steps)
    if first is None:
        return 1.0
    return min(1.0, first / max(1, len(item.get("solution_trace") or [])))
