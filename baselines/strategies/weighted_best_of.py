"""``weighted_best_of@N[:prm=P]``: weighted best-of-N, a PRM scores N whole chains and the answers vote with their scores.

The like-for-like baseline of ``beam@N:W:prm=P``: the same step prompt, the same process
reward model on the same kind of chain, the same final reduction (weighted best-of-N,
:func:`depthbench.scorers.weighted_best_of_n`), the same budget -- only the search is missing.
So ``beam@N:W:prm=P`` against ``weighted_best_of@N:prm=P`` asks what searching over steps adds
for a given PRM, the comparison of Snell et al. 2024 (arXiv 2408.03314, Sec. 5, "best-of-N
weighted" against beam search with the same PRM) and of Gan, Liao, Liu 2025 (arXiv 2501.15602).
``best_of@N:V`` instead picks the single best-scored chain with an outcome verifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from depthbench._lazy import lazy
from depthbench.baselines._budget import MIN_CALL_TOKENS, Budget, BudgetExhausted
from depthbench.baselines._stepwise import step_messages
from depthbench.baselines.strategies._base import CallSlot, NChains, answers_of, bad_name, pos_int, strategy, tie_seed
from depthbench.baselines.strategies._search import (
    PRM,
    PRM_CALL_TOKENS,
    PRM_ROLE,
    check_prm_items,
    prm_free_score,
    prm_judge,
    search_tokens_by_model,
    split_prm,
)
from depthbench.baselines.strategies.best_of import judge_score
from depthbench.scorers import weighted_best_of_n

asyncio = lazy("asyncio")
__all__ = ["WeightedBestOfN"]


@strategy("weighted_best_of@N[:prm=P]", kinds=("parallel",), roles=("answer", PRM_ROLE),
          example="weighted_best_of@4:prm=env",
          params={"N": "whole chains of the step prompt, B/N generated tokens each (a judged PRM's call included)",
                  "prm": "process reward model, as for beam: oracle (upper bound, needs gold) | noisy:TPR,FPR "
                         "(needs gold) | env (default) | self | model:SPEC"},
          summary="weighted best-of-N (Snell et al. 2024): N chains scored by a PRM, answers vote with their "
                  "scores; beam@N:W:prm=P's like-for-like baseline",
          min_budget=lambda s: s.n * (MIN_CALL_TOKENS + (PRM_CALL_TOKENS if s.prm.judged else 0)))
@dataclass(frozen=True)
class WeightedBestOfN(NChains):
    """Weighted best-of-N over N whole chains scored by a process reward model.

    ``N`` chains answer the step prompt (:func:`~depthbench.baselines._stepwise.step_messages`:
    the item's prompt with the ``Step k:`` format instruction, what ``beam`` sends for its first
    step) with ``B / N`` tokens each. The PRM (``prm=``,
    :mod:`~depthbench.baselines.strategies._search`) scores each finished chain as a whole,
    exactly as it scores a finished chain of a beam search (same text, same score: the noisy
    PRM's draw is keyed on the chain's content, not on the call). Each answer then votes with
    its chain's score and the largest sum wins (weighted best-of-N; ties share credit, a
    seeded pick reports one). A judged PRM (``self``, ``model:SPEC``) makes one call per chain
    of at most ``PRM_CALL_TOKENS`` tokens, paid from the chain's share.

    Parameters
    ----------
    n : int
        Chains ``N``, >= 1.
    prm : PRM
        The process reward model (default ``env``).

    References
    ----------
    Snell, Lee, Xu, Kumar 2024, "Scaling LLM test-time compute optimally can be more effective
    than scaling model parameters", arXiv 2408.03314 (Sec. 5.1: best-of-N weighted with a PRM,
    the baseline of beam search against the same PRM); Li et al. 2023, arXiv 2206.02336
    (verifier-weighted voting).
    """

    n: int = 8
    prm: PRM = field(default_factory=PRM)
    tag: ClassVar[str] = "weighted_best_of"

    @classmethod
    def from_parts(cls, name, arg, opts):
        n = pos_int(arg, name, "N (chains)")
        rest, prm = split_prm(name, opts)
        if rest:
            raise bad_name(name, "needs weighted_best_of@N[:prm=P], e.g. weighted_best_of@4:prm=env")
        return cls(n=n, prm=prm or PRM())

    @property
    def name(self) -> str:
        return f"weighted_best_of@{self.n}:prm={self.prm.name}"

    @property
    def kind(self) -> str:
        return "parallel"

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("new_text",) if self.prm.judged else ()

    @property
    def needs_gold(self) -> bool:
        """The oracle and noisy PRMs read the gold trace."""
        return self.prm.needs_gold

    def gold_free_hint(self) -> str:
        return f"prm={self.prm.name} reads the gold trace; use weighted_best_of@{self.n}:prm=env (gold-free) or prm=self"

    def check_items(self, items):
        check_prm_items(self.prm, items, self.name)

    def aux_models(self) -> dict[str, str]:
        return {"prm": self.prm.spec} if self.prm.kind == "model" and self.prm.spec else {}

    def _cand_tokens(self, budget: int) -> int:
        return budget // self.n - (PRM_CALL_TOKENS if self.prm.judged else 0)

    def allowance(self, budget: int) -> str:
        if not self.prm.judged:
            return super().allowance(budget)
        return (f"gives each of {self.n} chains {self._cand_tokens(budget)} tokens and its PRM call "
                f"{PRM_CALL_TOKENS}")

    def call_shape(self, budget):
        """N answer chains (round 0); with a judged PRM each is followed by its PRM call (round 1)."""
        cand = self._cand_tokens(budget)

        def slot(role: str, s: int, r: int) -> CallSlot | None:
            if s >= self.n:
                return None
            if role == "answer" and r == 0:
                return CallSlot("none", cand)
            if role == PRM_ROLE.name and r == 1 and self.prm.judged:
                return CallSlot("prev", PRM_CALL_TOKENS)
            return None
        return slot

    def call_score(self, role, text):
        """A judged PRM's verdict, re-read from its text (:func:`~depthbench.baselines.strategies.best_of.judge_score`)."""
        return float(judge_score(text)) if self.prm.judged and role == PRM_ROLE.name else None

    async def orchestrate(self, item, ctx):
        cand = self._cand_tokens(ctx.budget.total)
        if cand < 1:
            return
        if not self.prm.judged:
            await ctx.call({"messages": step_messages(item), "max_tokens": cand, "n": self.n}, role="answer", sample=0)
            return

        async def one(i: int, b: Budget) -> None:
            try:
                [c] = await ctx.call({"messages": step_messages(item), "max_tokens": cand}, role="answer", sample=i,
                                     budget=b)
                await prm_judge(ctx, self.prm, c, (c.get("forced") or "") + (c.get("text") or ""), budget=b)
            except BudgetExhausted:
                return

        await asyncio.gather(*(one(i, b) for i, b in enumerate(ctx.budget.split(self.n))))

    def scores(self, calls, item, *, run_seed: int = 0) -> dict[str, float]:
        """The PRM score of each answer chain, by key (pure: re-derived from the logged texts;
        a judged PRM's verdict re-read from its call, 0 without one)."""
        cands = answers_of(calls, ("answer",))
        if self.prm.judged:
            judged = {c.get("target"): judge_score(c.get("text") or "") for c in calls
                      if c.get("role") == PRM_ROLE.name}
            return {c["key"]: float(judged.get(c["key"], 0.0)) for c in cands}
        return {c["key"]: prm_free_score(self.prm, item, c, (c.get("forced") or "") + (c.get("text") or ""),
                                         run_seed=run_seed) for c in cands}

    def final_answer(self, calls, item, *, run_seed=0):
        cands = answers_of(calls, ("answer",))
        sc = self.scores(calls, item, run_seed=run_seed)
        res = weighted_best_of_n([c.get("extracted") for c in cands], [sc[c["key"]] for c in cands],
                                 seed=tie_seed(cands, self.tag, run_seed), item=item)
        chosen = cands[res.index]["key"] if cands and res.index is not None else None
        return res.answer, float(res.credit), {**res.to_meta(), "scores": [sc[c["key"]] for c in cands],
                                               "chosen": chosen, "prm": self.prm.name,
                                               "upper_bound": self.prm.needs_gold, **search_tokens_by_model(calls)}
