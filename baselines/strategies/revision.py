"""``revision@R[:maj]``: sequential self-revision, and the revision chain ``ratio`` reuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from depthbench.baselines._budget import MIN_CALL_TOKENS, Budget, BudgetExhausted
from depthbench.baselines._context import CallContext
from depthbench.baselines.strategies._base import (
    CallSlot,
    Strategy,
    answers_of,
    bad_name,
    credit_of,
    last_answer,
    pos_int,
    strategy,
    tie_seed,
    vote,
)

__all__ = ["Revision", "revision_chain", "REVISE_INSTRUCTION"]

REVISE_INSTRUCTION = (
    "Review your previous attempt step by step. If you find a mistake, correct it. "
    "End with the final answer on its own line as 'Answer: <answer>'."
)


@strategy("revision@R[:maj]", kinds=("sequential",), roles=("answer", "revise"), example="revision@4",
          params={"R": "rounds, B/R generated tokens each", "maj": "majority over the rounds instead of the last"},
          summary="R self-revision rounds of B/R tokens; ':maj' votes over rounds",
          min_budget=lambda s: s.rounds * MIN_CALL_TOKENS)
@dataclass(frozen=True)
class Revision(Strategy):
    """Sequential self-revision: R rounds of at most B/R tokens each.

    Round 0 answers the question; round r sees the question and every earlier attempt
    (as a chat: attempt, "review and correct", attempt, ...) and writes a new attempt.
    The final answer is the last round's (``:last``, the default; if the last round gave
    none, the latest earlier answer) or the majority over the rounds (``:maj``).

    References
    ----------
    Snell et al. 2024, "Scaling LLM test-time compute optimally can be more effective
    than scaling model parameters", arXiv 2408.03314 (sequential revisions).
    """

    rounds: int = 2
    final: str = "last"
    fewer_hint: ClassVar[str] = " or fewer rounds"
    needs: ClassVar[tuple[str, ...]] = ("new_text",)

    @classmethod
    def from_parts(cls, name, arg, opts):
        if len(opts) > 1 or (opts and opts[0] not in ("last", "maj")):
            raise bad_name(name, "takes ':maj' or ':last'")
        return cls(rounds=pos_int(arg, name, "R"), final=opts[0] if opts else "last")

    def allowance(self, budget: int) -> str:
        return f"gives each of {self.rounds} rounds {budget // self.rounds} tokens"

    @property
    def name(self) -> str:
        return f"revision@{self.rounds}" + (":maj" if self.final == "maj" else "")

    @property
    def kind(self) -> str:
        return "sequential"

    def call_shape(self, budget):
        """Round 0 answers, rounds 1..R-1 revise the previous round, B/R tokens each."""
        per = budget // self.rounds
        return lambda role, s, r: (CallSlot("none" if r == 0 else "prev", per)
                                   if s == 0 and r < self.rounds and role == ("answer" if r == 0 else "revise") else None)

    async def orchestrate(self, item, ctx):
        await revision_chain(ctx, ctx.budget, sample=0, rounds=self.rounds)

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls)
        if self.final == "maj":
            ans, credit, meta = vote(item, [r.get("extracted") for r in recs], tie_seed(recs, "revision", run_seed))
            return ans, credit, {**meta, "rounds": len(recs)}
        ans, rec = last_answer(recs)
        return ans, credit_of(item, ans), {"rounds": len(recs), "from_round": rec["round"] if rec else None}


def _chat_history(ctx: CallContext, attempts: Sequence[str]) -> list[dict[str, str]]:
    """The revision context: the question, then each attempt (its reasoning blocks removed,
    :meth:`CallContext.assistant_turn`) followed by the review instruction."""
    msgs = ctx.user_messages()
    for a in attempts:
        msgs.append(ctx.assistant_turn(a))
        msgs.append({"role": "user", "content": REVISE_INSTRUCTION})
    return msgs


async def revision_chain(ctx: CallContext, budget: Budget, *, sample: int, rounds: int) -> None:
    """One chain of ``rounds`` revision rounds, each capped at ``budget.total // rounds``."""
    per_round = budget.total // rounds
    attempts: list[str] = []
    parent = None
    for r in range(rounds):
        try:
            [rec] = await ctx.call({"messages": _chat_history(ctx, attempts), "max_tokens": per_round},
                                   role="answer" if r == 0 else "revise", sample=sample, round=r,
                                   parent=parent, budget=budget)
        except BudgetExhausted:
            return
        attempts.append(rec["text"])
        parent = rec["key"]
