"""The task's own feedback on a response: its stated steps checked on the instance, gold-free.

A family with ``Family.env_check`` judges each ``Step k: ...`` line of a response from the
instance alone (grids simulate the moves, graphs look the edges up, programs recompute each
value from its operands; ``depthbench/generators/<family>.py``), and ``Family.env_solved``
says whether the steps end solved. :func:`env_feedback` runs both on a response's text and
writes the one or two sentences a critic or an author is shown. It never reads the item's
``answer``, ``solution_trace`` or gold-derived ``meta``, so it runs on a hidden split's
prompts and may drive a deployable search (Mind Evolution's evaluator feedback, Lee et al.
2025, arXiv:2501.09891).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from depthbench.generators import StepCheck
from depthbench.scorers._family import extract_answer, family_of
from depthbench.scorers._trace import stated_steps

__all__ = ["EnvFeedback", "env_feedback", "NO_STEPS_FEEDBACK"]

#: what a response that states no ``Step k:`` line is told
NO_STEPS_FEEDBACK = ("no steps are stated: write each intermediate result on its own line as "
                     "'Step 1: ...', 'Step 2: ...', then the Answer line")


@dataclass(frozen=True)
class EnvFeedback:
    """The task's gold-free verdict on one response (:func:`env_feedback`).

    Attributes
    ----------
    steps : list
        The stated steps (``Family.stated_steps`` of the ``Step k:`` lines).
    checks : list of StepCheck
        One per step (``Family.env_check``).
    answer : object or None
        The extracted, normalised final answer.
    first_error : int or None
        Index into ``steps`` of the first step that is not ok; None when every step is ok.
    solved : bool
        Every step is ok, the steps end solved and the final answer is what they reach
        (``Family.env_solved(item, steps, answer)`` is True; False without an answer).
    feedback : str
        The sentence(s) shown to a critic: the first failing step's feedback (and how many
        later steps fail too), or, when every step checks out, whether the task is solved
        (``"... continue after step K"`` when it is not yet).
    """

    steps: list[Any]
    checks: list[StepCheck]
    answer: Any
    first_error: int | None
    solved: bool
    feedback: str

    @property
    def ok_steps(self) -> int:
        """Steps that check out before the first one that does not (``len(steps)`` if all do)."""
        return len(self.steps) if self.first_error is None else self.first_error


def env_feedback(item: Mapping[str, Any], text: str | None, finish_reason: str | None = None) -> EnvFeedback | None:
    """Check a response's stated steps with the task's own rules, without the gold answer.

    Parameters
    ----------
    item : mapping
        A dataset item or a hidden split's prompt (``meta.family`` and ``instance`` are read;
        ``answer``, ``solution_trace`` and the rest of ``meta`` never are).
    text : str or None
        The response.
    finish_reason : str, optional
        As logged (a response cut at its cap has its answer read as the extractor does).

    Returns
    -------
    EnvFeedback or None
        None when the item's family has no ``env_check``.

    Raises
    ------
    UserError
        If the item names no registered family.

    Examples
    --------
    >>> item = {"meta": {"family": "multihop_arithmetic", "answer_space": {"modulus": 10}},
    ...         "instance": {"modulus": 10, "query": "b", "order": "topological",
    ...                      "statements": [{"var": "a", "op": "=", "args": [3]}, {"var": "b", "op": "*", "args": ["a", 3]}]}}
    >>> env_feedback(item, "Step 1: a=3\\nStep 2: b=8\\nAnswer: 8").feedback
    'step 2: b = a * 3 = 3 * 3 = 9 (mod 10), not 8'
    >>> env_feedback(item, "Step 1: a=3\\nStep 2: b=9\\nAnswer: 9").solved
    True
    """
    fam = family_of(item)
    if fam.env_check is None:
        return None
    steps = stated_steps(item, text)
    answer = extract_answer(item, text or "", finish_reason).answer
    if not steps:
        return EnvFeedback([], [], answer, None, False, NO_STEPS_FEEDBACK)
    checks = fam.env_check(item, steps)
    bad = [i for i, c in enumerate(checks) if not c.ok]
    if bad:
        more = len(bad) - 1
        fb = checks[bad[0]].feedback + (f" ({more} later step{'s' if more > 1 else ''} also fail{'' if more > 1 else 's'})"
                                        if more else "")
        return EnvFeedback(steps, checks, answer, bad[0], False, fb)
    done = fam.env_solved(item, steps, None) if fam.env_solved is not None else None
    solved = bool(done) and answer is not None and fam.env_solved(item, steps, answer) is True
    last = checks[-1].feedback
    label = last.split(":", 1)[0].split(" (", 1)[0]  # "step K"
    if solved:
        fb = f"every step checks out and the task is solved ({last})"
    elif done:
        fb = f"every step checks out ({last}), but the Answer line does not state what the steps reach"
    else:
        fb = f"every step checks out ({last}), but the steps do not finish the task: continue after {label}"
    return EnvFeedback(steps, checks, answer, None, solved, fb)
