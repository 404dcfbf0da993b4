"""The critic-then-author conversation of ``evolve`` and ``revision_feedback``: its prompts,
and how a feedback sentence or a critique is read back.

Mind Evolution's refinement through critical conversation (Lee et al. 2025, arXiv:2501.09891)
shows the model one or more candidate solutions with the task's textual feedback on each
(here :func:`depthbench.scorers.env_feedback`: the family's gold-free step checks), asks it as a
*critic* what to keep and what to change, then as an *author* for an improved solution. Both
are ordinary chat calls whose tokens count in the item's budget. The prompts live here, beside
the two rules the simulated reasoner uses to answer them (:func:`kept_steps`,
:func:`read_critique`), so strategy and reasoner agree on one contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CRITIC_INSTRUCTION",
    "AUTHOR_INSTRUCTION",
    "FEEDBACK_HEADER",
    "candidates_text",
    "kept_steps",
    "critique_text",
    "read_critique",
    "is_critic_request",
    "is_author_request",
    "solutions_in",
    "feedback_request",
    "shown_solutions",
]

FEEDBACK_HEADER = "Feedback from the task's own checker:"

CRITIC_INSTRUCTION = (
    "You are the critic. Using the checker's feedback, say which solution to build on, how many of "
    "its steps are right and should be kept, and what the first wrong or missing step should do "
    "instead. Do not write a new solution yet."
)

AUTHOR_INSTRUCTION = (
    "You are the author. Write an improved solution: keep the steps the critic says are right, fix "
    "the first wrong step and go on from there to the end. Write each intermediate result on its own "
    "line as 'Step k: ...' and end with the final answer on its own line as 'Answer: <answer>'."
)

_CONTINUE_RE = re.compile(r"continue after step (\d+)")
_STEP_RE = re.compile(r"^step (\d+)\b")
_CRITIQUE_RE = re.compile(r"(?m)^Critique: keep (\d+) steps? of solution (\d+)\b")
_SOLUTION_RE = re.compile(r"(?ms)^Solution (\d+):\n(.*?)\n" + re.escape(FEEDBACK_HEADER) + r" ([^\n]*)$")


def candidates_text(candidates: Sequence[tuple[str, str]]) -> str:
    """Candidate solutions with the feedback on each, as shown to the critic.

    Parameters
    ----------
    candidates : sequence of (text, feedback)
        Solution texts (reasoning blocks already removed) and their feedback sentences.

    Examples
    --------
    >>> print(candidates_text([("Step 1: x=3\\nAnswer: 3", "step 1: x = 4 checks out")]))
    Solution 1:
    Step 1: x=3
    Answer: 3
    Feedback from the task's own checker: step 1: x = 4 checks out
    """
    return "\n\n".join(f"Solution {j}:\n{text.strip()}\n{FEEDBACK_HEADER} {fb}"
                       for j, (text, fb) in enumerate(candidates, 1))


def kept_steps(feedback: str, stated: int) -> int:
    """How many leading ``Step k:`` lines a feedback sentence says are right.

    ``"step N: ..."`` / ``"step N (node x): ..."`` (the first failing step) keeps ``N - 1``;
    ``"... continue after step K"`` keeps ``K``; ``"every step checks out ..."`` keeps all
    ``stated``; anything else (no steps stated) keeps none.

    Examples
    --------
    >>> kept_steps("step 3: move 1 (U, up) from (1, 2) hits a wall at (1, 1)", 5)
    2
    >>> kept_steps("every step checks out (step 2: now at (3, 3)), but the steps do not finish the task: "
    ...            "continue after step 2", 2)
    2
    """
    m = _CONTINUE_RE.search(feedback)
    if m:
        return min(stated, int(m.group(1)))
    if feedback.startswith("every step checks out"):
        return stated
    m = _STEP_RE.match(feedback)
    return max(0, min(stated, int(m.group(1)) - 1)) if m else 0


def critique_text(keep: int, solution: int) -> str:
    """The first line of the simulated critic's reply (read back by :func:`read_critique`)."""
    return f"Critique: keep {keep} step{'s' if keep != 1 else ''} of solution {solution}"


def read_critique(text: str) -> tuple[int, int] | None:
    """``(steps to keep, solution number)`` from a critique written as :func:`critique_text`, else None."""
    m = _CRITIQUE_RE.search(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def solutions_in(text: str) -> dict[int, tuple[str, str]]:
    """The numbered solutions of a critic prompt (:func:`candidates_text`): ``{j: (text, feedback)}``.

    Examples
    --------
    >>> solutions_in(candidates_text([("Step 1: a=1", "step 1: a = 2 checks out"), ("x", "no")]))
    {1: ('Step 1: a=1', 'step 1: a = 2 checks out'), 2: ('x', 'no')}
    """
    return {int(j): (body, fb) for j, body, fb in _SOLUTION_RE.findall(text or "")}


def is_critic_request(last_user: str) -> bool:
    """Whether a user turn asks for a critique (ends with :data:`CRITIC_INSTRUCTION`)."""
    return last_user.rstrip().endswith(CRITIC_INSTRUCTION)


def is_author_request(last_user: str) -> bool:
    """Whether a user turn asks the author for an improved solution."""
    return last_user.strip() == AUTHOR_INSTRUCTION


def feedback_request(feedback: str) -> str:
    """The critic's turn in a running conversation: the checker's feedback on the conversation's
    latest candidate (its last assistant turn), then :data:`CRITIC_INSTRUCTION`."""
    return f"{FEEDBACK_HEADER} {feedback}\n\n{CRITIC_INSTRUCTION}"


def shown_solutions(messages: Sequence[Mapping[str, Any]]) -> dict[int, tuple[str, str]]:
    """The solutions a chat ending in a critic request shows, ``{j: (text, feedback)}``: the numbered
    ones of :func:`candidates_text`, else the conversation's last assistant turn with the feedback of
    :func:`feedback_request`.

    Examples
    --------
    >>> msgs = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Step 1: a=1"},
    ...         {"role": "user", "content": feedback_request("step 1: a = 2, not 1")}]
    >>> shown_solutions(msgs)
    {1: ('Step 1: a=1', 'step 1: a = 2, not 1')}
    """
    if not messages:
        return {}
    last = str(messages[-1].get("content", ""))
    found = solutions_in(last)
    if found or not last.startswith(FEEDBACK_HEADER) or len(messages) < 2 or messages[-2].get("role") != "assistant":
        return found
    feedback = last[len(FEEDBACK_HEADER):].split("\n\n", 1)[0].strip()
    return {1: (str(messages[-2].get("content", "")), feedback)}
