"""``beam@N:W[:prm=P]``: beam search over reasoning steps scored by a process reward model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from depthbench._lazy import lazy
from depthbench.baselines._budget import BudgetExhausted
from depthbench.baselines._context import strategy_rng
from depthbench.baselines._stepwise import chain_text, next_steps
from depthbench.baselines.strategies._base import bad_name, pos_int, strategy
from depthbench.baselines.strategies._search import (
    PRM,
    PRM_CALL_TOKENS,
    SEARCH_ROLES,
    SearchStrategy,
    finished,
    search_min_budget,
    split_prm,
)

asyncio = lazy("asyncio")
__all__ = ["Beam"]


@strategy("beam@N:W[:prm=P]", kinds=("search",), roles=SEARCH_ROLES, example="beam@16:4:prm=env",
          params={"N": "beams: candidates sampled per step (each call at most B/N tokens)",
                  "W": "width: children per kept beam; the top N/W chains by PRM score are kept (W divides N)",
                  "prm": "process reward model: oracle (upper bound, needs gold) | noisy:TPR,FPR (needs gold) | "
                         "env (default) | self | model:SPEC"},
          summary="beam search over steps (Snell et al. 2024): N candidates per step, keep the top N/W by PRM, "
                  "W children each; weighted best-of-N over finished chains",
          min_budget=lambda s: search_min_budget(s.n, s.prm))
@dataclass(frozen=True)
class Beam(SearchStrategy):
    """Beam search over reasoning steps guided by a process reward model.

    Step 0 samples ``N`` first steps of the step prompt
    (:func:`~depthbench.baselines._stepwise.step_messages`). At each step every candidate
    chain is scored by the PRM (``prm=``, :mod:`~depthbench.baselines.strategies._search`);
    chains that state an answer (or were cut at their cap) are set aside as finished, and
    of the others the ``N / W`` best by score are kept (ties by a seeded draw from the run
    seed and the call keys), each continued by ``W`` sampled next steps
    (:func:`~depthbench.baselines._stepwise.next_steps`: the same assistant turn, stopped
    at the next ``Step`` line). The search ends when no chain is left open, ``N`` chains have
    finished (as many candidates as best-of-N has) or the budget is used; as chains finish,
    fewer beams are kept (``ceil((N - finished) / W)``, at most ``N / W``). The final answer is weighted best-of-N over the finished chains: each votes
    for its answer with its PRM score.

    Budget: every call (steps, judged PRM calls) is charged to the item's B. A step call
    may generate at most ``B / N`` tokens (a chain's share under best-of-N) and at most an
    equal share of what is left among the step's calls (their judged PRM calls' worst case
    held back), so the beams never overrun B together.

    Parameters
    ----------
    n : int
        Beams ``N`` (candidates per step), >= 1.
    width : int
        Beam width ``W`` (children per kept chain), ``1 <= W <= N``, dividing ``N``.
    prm : PRM
        The process reward model (default ``env``).

    References
    ----------
    Snell, Lee, Xu, Kumar 2024, "Scaling LLM test-time compute optimally can be more
    effective than scaling model parameters", arXiv 2408.03314 (Sec. 5.1, beam search
    against a PRM, final weighted best-of-N).
    """

    n: int = 16
    width: int = 4
    fewer_hint: ClassVar[str] = " or fewer beams"
    tag: ClassVar[str] = "beam"

    @classmethod
    def from_parts(cls, name, arg, opts):
        n = pos_int(arg, name, "N (beams)")
        rest, prm = split_prm(name, opts)
        if len(rest) != 1:
            raise bad_name(name, "needs beam@N:W[:prm=P], e.g. beam@16:4:prm=env")
        w = pos_int(rest[0], name, "W (beam width)")
        if w > n:
            raise bad_name(name, f"has beam width W={w} larger than N={n}; W must be at most {n}")
        if n % w:
            smallest = next(k for k in range(w, n + 1) if n % k == 0)
            raise bad_name(name, f"has beam width W={w}, which does not divide N={n}; the smallest valid W >= {w} "
                                 f"is {smallest}")
        return cls(n=n, width=w, prm=prm or PRM())

    @property
    def name(self) -> str:
        return f"beam@{self.n}:{self.width}:prm={self.prm.name}"

    async def orchestrate(self, item, ctx):
        budget = ctx.budget
        cap = budget.total // self.n
        keep = self.n // self.width
        by_key: dict[str, Any] = {}
        memo: dict[str, str] = {}
        frontier: list[tuple[dict[str, Any] | None, str]] = [(None, "")]
        rnd = n_done = 0
        while frontier:
            per = self.n if rnd == 0 else self.width
            n_calls = len(frontier) * per
            hold = n_calls * (PRM_CALL_TOKENS if self.prm.judged else 0)
            forced = len(frontier) if rnd else 0
            mt = min(cap, (budget.remaining - hold - forced) // n_calls)
            if mt < 1:
                return

            async def grow(rank: int, parent: dict[str, Any] | None, chain: str) -> list[dict[str, Any]]:
                try:
                    return await next_steps(ctx, parent, chain, sample=rank * per, round=rnd, n=per, max_tokens=mt)
                except BudgetExhausted:
                    return []

            groups = await asyncio.gather(*(grow(i, p, c) for i, (p, c) in enumerate(frontier)))
            cands = [r for g in groups for r in g]
            if not cands:
                return
            for r in ctx.records:
                by_key.setdefault(r["key"], r)
            chains = {r["key"]: chain_text(r["key"], by_key, memo) for r in cands}
            scores = await self._score(item, ctx, cands, chains)
            n_done += sum(1 for r in cands if finished(r))
            pool = [r for r in cands if not finished(r)]
            pool.sort(key=lambda r: (-scores[r["key"]], strategy_rng(ctx.run_seed, r["key"], "beam-keep").random()))
            # N finished chains end the search (as many candidates as best-of-N has); until then
            # the open beams shrink with the chains still to finish
            left = self.n - n_done
            frontier = [(r, chains[r["key"]]) for r in pool[:min(keep, -(-left // self.width))]] if left > 0 else []
            rnd += 1

    async def _score(self, item, ctx, cands, chains) -> dict[str, float]:
        vals = await asyncio.gather(*(self.value(item, ctx, r, chains[r["key"]]) for r in cands))
        return {r["key"]: v for r, v in zip(cands, vals)}
