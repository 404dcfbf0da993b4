"""``majority@N[:pooled]``: self-consistency, N chains and a majority vote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from depthbench.baselines.strategies._base import (
    CallSlot,
    NChains,
    answers_of,
    bad_name,
    n_chains_min_budget,
    pos_int,
    strategy,
    tie_seed,
    vote,
)

__all__ = ["Majority"]


@strategy("majority@N[:pooled]", kinds=("parallel",), roles=("answer",), example="majority@8",
          params={"N": "chains, B/N generated tokens each", "pooled": "tokens short chains leave fund further chains"},
          summary="self-consistency: N chains of B/N, majority vote; ':pooled' shares unused tokens",
          min_budget=n_chains_min_budget)
@dataclass(frozen=True)
class Majority(NChains):
    """Self-consistency: N chains, the most frequent extracted answer wins.

    Static split (default): each chain may use B/N tokens. Pooled (``:pooled``): the
    first N chains get B/N each, and the tokens short chains leave unused fund further
    chains (waves of up to ``remaining // (B/N)`` chains) until less than one chain's
    share is left (at most 8N chains). Abstentions (no parseable answer) do not vote; ties give fractional
    credit and a seeded pick (:func:`depthbench.scorers.majority_vote`).

    References
    ----------
    Wang et al. 2023, "Self-consistency improves chain of thought reasoning in language
    models", arXiv 2203.11171.
    """

    pooled: bool = False
    max_pooled: ClassVar[int] = 8  # pooled sampling stops at 8N chains

    @classmethod
    def from_parts(cls, name, arg, opts):
        if len(opts) > 1 or (opts and opts[0] not in ("static", "pooled")):
            raise bad_name(name, "takes ':pooled' or ':static'")
        return cls(n=pos_int(arg, name, "N"), pooled=opts == ["pooled"])

    @property
    def name(self) -> str:
        return f"majority@{self.n}" + (":pooled" if self.pooled else "")

    @property
    def kind(self) -> str:
        return "parallel"

    def call_shape(self, budget):
        """Answer chains of B/N tokens: N of them, up to ``max_pooled * N`` when pooled."""
        limit = self.n * (self.max_pooled if self.pooled else 1)
        share = budget // self.n
        return lambda role, s, r: CallSlot("none", share) if role == "answer" and r == 0 and s < limit else None

    async def orchestrate(self, item, ctx):
        await super().orchestrate(item, ctx)
        share = ctx.budget.total // self.n
        if self.pooled and share >= 1:
            nxt = self.n
            while (k := min(ctx.budget.remaining // share, self.max_pooled * self.n - nxt)) >= 1:
                before = ctx.budget.generated
                await ctx.call({"messages": ctx.user_messages(), "max_tokens": share, "n": k},
                               role="answer", sample=nxt)
                nxt += k
                if ctx.budget.generated == before:  # empty completions: more waves would not end
                    break

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls)
        ans, credit, meta = vote(item, [r.get("extracted") for r in recs], tie_seed(recs, "majority", run_seed))
        return ans, credit, {**meta, "samples": len(recs)}
