"""``ratio@NxR``: N parallel chains of R revision rounds, N*R fixed (the sequential:parallel ratio)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from depthbench._lazy import lazy
from depthbench.baselines._budget import MIN_CALL_TOKENS
from depthbench.baselines.strategies._base import (
    CallSlot,
    Strategy,
    answers_of,
    bad_name,
    last_answer,
    pos_int,
    strategy,
    tie_seed,
    vote,
)
from depthbench.baselines.strategies.revision import revision_chain

asyncio = lazy("asyncio")
__all__ = ["Ratio"]


@strategy("ratio@NxR", kinds=("parallel", "sequential"), roles=("answer", "revise"), example="ratio@4x2",
          params={"N": "parallel chains", "R": "revision rounds per chain, B/(N*R) tokens each"},
          summary="N parallel chains x R revision rounds, each round B/(N*R); majority over chains",
          min_budget=lambda s: s.n * s.r * MIN_CALL_TOKENS)
@dataclass(frozen=True)
class Ratio(Strategy):
    """N parallel chains of R sequential revision rounds each, every round B/(N*R).

    Sweeping N x R with N*R fixed trades parallel for sequential compute at one budget;
    the final answer is the majority over the chains' last answers. Kind ``parallel``
    when N > 1, else ``sequential``.

    References
    ----------
    Snell et al. 2024, arXiv 2408.03314 (the sequential-to-parallel ratio).
    """

    n: int = 2
    r: int = 2
    needs: ClassVar[tuple[str, ...]] = ("new_text",)
    fewer_hint: ClassVar[str] = " or fewer chains or rounds"

    @classmethod
    def from_parts(cls, name, arg, opts):
        a, x, b = (arg or "").partition("x")
        if opts or not x:
            raise bad_name(name, "needs NxR, e.g. ratio@4x2")
        return cls(n=pos_int(a, name, "N"), r=pos_int(b, name, "R"))

    def allowance(self, budget: int) -> str:
        return f"gives each of {self.n} chains x {self.r} rounds {(budget // self.n) // self.r} tokens"

    @property
    def name(self) -> str:
        return f"ratio@{self.n}x{self.r}"

    @property
    def kind(self) -> str:
        return "parallel" if self.n > 1 else "sequential"

    def call_shape(self, budget):
        """N chains of R rounds (answer, then revisions of the previous round), B/(N*R) tokens each."""
        per = (budget // self.n) // self.r
        return lambda role, s, r: (CallSlot("none" if r == 0 else "prev", per)
                                   if s < self.n and r < self.r and role == ("answer" if r == 0 else "revise") else None)

    async def orchestrate(self, item, ctx):
        chains = ctx.budget.split(self.n)
        await asyncio.gather(*(revision_chain(ctx, b, sample=i, rounds=self.r) for i, b in enumerate(chains)))

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls)
        finals = []
        for i in sorted({r["sample"] for r in recs}):
            ans, _ = last_answer([r for r in recs if r["sample"] == i])
            finals.append(ans)
        ans, credit, meta = vote(item, finals, tie_seed(recs, "ratio", run_seed))
        return ans, credit, {**meta, "chains": len(finals)}
