"""``single``: one chain with ``max_tokens = B``, the baseline every other strategy is matched to."""

from __future__ import annotations

from dataclasses import dataclass

from depthbench.baselines.strategies._base import CallSlot, Strategy, answers_of, bad_name, credit_of, strategy

__all__ = ["Single"]


@strategy("single", kinds=("single",), roles=("answer",), example="single",
          summary="one chain with max_tokens = B")
@dataclass(frozen=True)
class Single(Strategy):
    """One chain with ``max_tokens = B``: the baseline every other strategy is matched to."""

    name = "single"  # type: ignore[assignment]
    kind = "single"  # type: ignore[assignment]

    @classmethod
    def from_parts(cls, name, arg, opts):
        if arg is not None or opts:
            raise bad_name(name, "takes no parameters")
        return cls()

    def call_shape(self, budget):
        """One answer call of at most B tokens."""
        return lambda role, s, r: CallSlot("none", budget) if (role, s, r) == ("answer", 0, 0) else None

    async def orchestrate(self, item, ctx):
        await ctx.call({"messages": ctx.user_messages()}, role="answer", sample=0)

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls)
        answer = recs[0].get("extracted") if recs else None
        return answer, credit_of(item, answer), {}
