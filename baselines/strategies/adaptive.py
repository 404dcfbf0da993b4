"""``adaptive@N``: adaptive allocation across items at the uniform strategy's dataset budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from depthbench._lazy import lazy
from depthbench.baselines._context import CallContext
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

asyncio = lazy("asyncio")
__all__ = ["Adaptive"]


@strategy("adaptive[@N]", kinds=("parallel",), roles=("pilot", "answer"), example="adaptive@8",
          params={"N": "chains of B/N tokens per item on average (bare adaptive: N = 8)"},
          summary="pilot chains (charged), then more chains of B/N to items whose votes disagree",
          min_budget=n_chains_min_budget)
@dataclass(frozen=True)
class Adaptive(NChains):
    """Adaptive allocation across items at the uniform strategy's total budget.

    Phase 1 (pilot): every item gets ``max(2, N // 4)`` chains of B/N tokens; these
    pilot samples are charged. Phase 2: the dataset budget ``len(items) * B`` minus all
    pilot tokens is shared equally among the items whose pilot votes disagree (or
    abstain), at most 4B extra per item, spent as further chains of B/N. Final answer: majority over all of an
    item's chains. An item may so use more than B; the dataset total never exceeds
    ``len(items) * B`` — the same as ``majority@N`` — and each item's allocation is
    recorded in its outcome (``meta.allocated``).

    References
    ----------
    Snell et al. 2024, arXiv 2408.03314 (compute-optimal allocation by difficulty);
    Wang et al. 2023, arXiv 2203.11171 (the vote).
    """

    dataset_level: ClassVar[bool] = True
    max_factor: ClassVar[int] = 4

    @classmethod
    def from_parts(cls, name, arg, opts):
        if opts:
            raise bad_name(name, "takes no options")
        return cls() if arg is None else cls(n=pos_int(arg, name, "N"))  # bare adaptive = adaptive@8

    def allowance(self, budget: int) -> str:
        return f"gives each of its chains {budget // self.n} tokens (B/{self.n})"

    def item_ceiling(self, budget: int) -> int:
        """One item's pilots (at most B) plus at most ``max_factor * B`` extra tokens."""
        return (1 + self.max_factor) * int(budget)

    @property
    def name(self) -> str:
        return f"adaptive@{self.n}"

    @property
    def kind(self) -> str:
        return "parallel"

    def call_shape(self, budget):
        """Pilots, then answer chains of B/N tokens; phase 2 adds at most (extra allocation //
        share) chains, the allocation being at most ``max_factor`` x B."""
        share = budget // self.n
        pilots = self.pilots
        most = pilots + (self.max_factor + 1) * self.n

        def slot(role: str, s: int, r: int) -> CallSlot | None:
            if r != 0:
                return None
            if role == "pilot" and s < pilots:
                return CallSlot("none", share)
            if role == "answer" and pilots <= s < most:
                return CallSlot("none", share)
            return None
        return slot

    @property
    def pilots(self) -> int:
        return max(2, self.n // 4)

    async def pilot(self, item, ctx: CallContext) -> None:
        """Phase 1 on one item."""
        share = ctx.budget_tokens // self.n
        if share >= 1:
            await ctx.call({"messages": ctx.user_messages(), "max_tokens": share, "n": self.pilots},
                           role="pilot", sample=0)

    def uncertain(self, calls) -> bool:
        """True when the pilot answers are not unanimous (an abstention counts)."""
        answers = [c.get("extracted") for c in calls if c.get("role") == "pilot"]
        return not answers or any(a is None for a in answers) or len(set(map(repr, answers))) > 1

    async def run_dataset(self, items: Sequence[Mapping[str, Any]], make_ctx: Callable[[Mapping[str, Any]], CallContext],
                          emit: Callable[[dict[str, Any]], None], done: set[str] | None = None,
                          concurrency: int = 8) -> None:
        """Run both phases over ``items``; ``emit`` receives each item's outcome.

        Items whose outcome is in ``done`` are replayed from the log (their pilots are
        needed to size the pool) but not emitted again.
        """
        done = done or set()
        sem = asyncio.Semaphore(max(1, concurrency))
        ctxs = [make_ctx(it) for it in items]
        for c in ctxs:
            c.budget.total = c.budget_tokens  # phase-1 cap; raised in phase 2

        async def guarded(fn, *args):
            async with sem:
                return await fn(*args)

        await asyncio.gather(*(guarded(self.pilot, it, c) for it, c in zip(items, ctxs)))
        B = ctxs[0].budget_tokens if ctxs else 0
        share = B // self.n
        pool = len(items) * B - sum(c.budget.generated for c in ctxs)
        unsure = {i for i, c in enumerate(ctxs) if self.uncertain(c.records)}
        unsure_ids = {ctxs[i].item["id"] for i in unsure}
        extra = min(pool // len(unsure), self.max_factor * B) if unsure else 0
        for i, c in enumerate(ctxs):
            c.budget.total = c.budget.generated + (extra if i in unsure else 0)

        async def phase2(it, c: CallContext) -> None:
            k = (c.budget.remaining // share) if share else 0
            if k >= 1:
                await c.call({"messages": c.user_messages(), "max_tokens": share, "n": k},
                             role="answer", sample=self.pilots, parent=None)
            ans, credit, meta = self.final_answer(c.records, it, run_seed=c.run_seed)
            meta.update(allocated=c.budget.total, dataset_budget=len(items) * B, uncertain=c.item["id"] in unsure_ids)
            if it["id"] not in done:
                emit(c.outcome(ans, credit, meta))

        await asyncio.gather(*(guarded(phase2, it, c) for it, c in zip(items, ctxs)))

    async def run(self, item, ctx):
        """Single-item fallback: pilots plus the rest of the item's own budget."""
        out: list[dict[str, Any]] = []
        await self.run_dataset([item], lambda it: ctx, out.append)
        return out[0]

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls, roles=("pilot", "answer"))
        ans, credit, meta = vote(item, [r.get("extracted") for r in recs], tie_seed(recs, "adaptive", run_seed))
        return ans, credit, {**meta, "samples": len(recs)}
