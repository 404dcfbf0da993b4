"""Verification: is an extracted answer correct for an item? Dispatched on the item's family.

The verifier is the family's own (``Family.verify`` in ``depthbench/generators/<family>.py``):
graph connectivity compares labels, multi-hop arithmetic compares modulo ``m``, grid
planning simulates the plan (any valid plan is correct). The family is the item's
``meta.family`` -- never its task (spec) name, so spec variants such as
``graph_connectivity_bridge`` and new families are scored by the right rules.
Verifiers are pure functions of the item and the answer; they never trust a model's own
claim of correctness.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from depthbench.scorers._family import family_of

__all__ = ["verify"]


def verify(item: Mapping[str, Any], answer: Any) -> bool:
    """Return True if ``answer`` is a correct answer to ``item``.

    Parameters
    ----------
    item : mapping
        A dataset item (``meta.family``, ``answer``, ``instance``, ``meta``). An item
        without ``answer`` (a hidden split's published prompt) verifies nothing.
    answer : str or int or None
        A normalised answer as returned by :func:`depthbench.scorers.extract`.
        ``None`` (no answer) is never correct.

    Returns
    -------
    bool

    Raises
    ------
    UserError
        If the item's family is missing or not registered (:func:`family_of`).

    Examples
    --------
    >>> item = {"answer": 3, "instance": {"modulus": 7}, "meta": {"family": "multihop_arithmetic"}}
    >>> verify(item, 10), verify(item, 4), verify(item, None)
    (True, False, False)
    """
    if answer is None or "answer" not in item:
        return False
    return bool(family_of(item).verify(item, answer))
