"""``best_of@N:V``: best-of-N, a verifier scores N chains and the best-scored answer is final."""

from __future__ import annotations

import re
from dataclasses import dataclass

from depthbench._lazy import lazy
from depthbench.baselines._budget import Budget, BudgetExhausted
from depthbench.baselines._context import strategy_rng
from depthbench.baselines.strategies._base import (
    CallSlot,
    NChains,
    answers_of,
    bad_name,
    credit_of,
    n_chains_min_budget,
    pos_int,
    prob,
    strategy,
    tie_seed,
)
from depthbench.scorers import best_of_n, trace_verifier_score

asyncio = lazy("asyncio")
__all__ = ["BestOfN", "judge_score", "JUDGE_INSTRUCTION"]

JUDGE_INSTRUCTION = (
    "Here is a proposed solution to the problem above. Check it briefly, step by step. "
    "Then reply on the last line with exactly 'Verdict: yes' if its final answer is correct "
    "or 'Verdict: no' if it is not."
)
_VERDICT_RE = re.compile(r"verdict\s*[:=]?\s*\**\s*(yes|no|correct|incorrect)\b", re.IGNORECASE)


def judge_score(text: str) -> float:
    """Score a self-judge reply: 1.0 for a last verdict of yes, 0.0 for no, 0.5 if none."""
    found = _VERDICT_RE.findall(text or "")
    if not found:
        return 0.5
    return 1.0 if found[-1].lower() in ("yes", "correct") else 0.0


@strategy("best_of@N:oracle|trace|self|noisy:TPR,FPR", kinds=("parallel", "bound"), roles=("answer", "judge"),
          example="best_of@8:trace",
          params={"N": "chains, B/N generated tokens each",
                  "oracle": "the gold check (an upper bound, kind bound)",
                  "trace": "the family's trace verifier on the stated steps",
                  "self": "the model judges each candidate (judge call charged, >= B/(4N) tokens)",
                  "noisy:TPR,FPR": "accepts a right answer with probability TPR, a wrong one with FPR"},
          summary="N chains of B/N, pick by verifier: oracle (bound), trace, noisy:TPR,FPR, self (charged)",
          min_budget=lambda s: n_chains_min_budget(s) * (4 if s.verifier == "self" else 1))
@dataclass(frozen=True)
class BestOfN(NChains):
    """Best-of-N: N chains, a verifier scores each, the best-scored answer is final.

    Verifiers: ``oracle`` (the gold check; an upper bound, kind ``"bound"``), ``trace``
    (the family's trace verifier from :mod:`depthbench.scorers` on the steps the model
    stated: the fraction of steps before the first error), ``noisy:TPR,FPR`` (accepts a
    right answer with probability TPR and a wrong one with FPR, one independent draw per
    candidate from the run seed and its call key), ``self`` (the model judges each candidate in a second call; each chain's
    share B/N pays for its candidate and its judge, the judge getting at least B/(4N)).
    Ties among the best scores are broken by a seeded pick.

    References
    ----------
    Cobbe et al. 2021, "Training verifiers to solve math word problems", arXiv 2110.14168;
    Snell et al. 2024, arXiv 2408.03314 (best-of-N against a verifier).
    """

    verifier: str = "oracle"
    tpr: float = 1.0
    fpr: float = 0.0

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("new_text",) if self.verifier == "self" else ()

    @property
    def needs_gold(self) -> bool:
        """The oracle, trace and noisy verifiers read the gold answer or instance; ``self`` does not."""
        return self.verifier != "self"

    def call_shape(self, budget):
        """N answer chains; with the ``self`` verifier each is followed by its judge call
        (round 1), the candidate getting its share minus the judge's quarter."""
        if self.verifier != "self":
            return super().call_shape(budget)
        share = budget // self.n

        def slot(role: str, s: int, r: int) -> CallSlot | None:
            if s >= self.n:
                return None
            if role == "answer" and r == 0:
                return CallSlot("none", share - share // 4)
            if role == "judge" and r == 1:
                return CallSlot("prev", share)
            return None
        return slot

    def call_score(self, role: str, text: str) -> float | None:
        """A self-judge's verdict, re-read from its text (:func:`judge_score`)."""
        return float(judge_score(text)) if role == "judge" else None

    @classmethod
    def from_parts(cls, name, arg, opts):
        n = pos_int(arg, name, "N")
        v, vp = (opts[0], opts[1:]) if opts else ("", [])
        if v in ("oracle", "trace", "self") and not vp:
            return cls(n=n, verifier=v)
        if v == "noisy":
            parts = vp[0].split(",") if len(vp) == 1 else []
            if len(parts) != 2:
                raise bad_name(name, "needs noisy:TPR,FPR, e.g. best_of@8:noisy:0.9,0.1")
            return cls(n=n, verifier="noisy", tpr=prob(parts[0], name, "noisy:TPR,FPR: TPR (true positive rate)"),
                       fpr=prob(parts[1], name, "noisy:TPR,FPR: FPR (false positive rate)"))
        raise bad_name(name, "needs a verifier: oracle, trace, self or noisy:TPR,FPR")

    def allowance(self, budget: int) -> str:
        if self.verifier != "self":
            return super().allowance(budget)
        share = budget // self.n
        judge = share // 4
        return f"gives each of {self.n} chains {share - judge} tokens for its candidate and {judge} for its self-judge call"

    @property
    def name(self) -> str:
        v = f"noisy:{_fmt(self.tpr)},{_fmt(self.fpr)}" if self.verifier == "noisy" else self.verifier
        return f"best_of@{self.n}:{v}"

    @property
    def kind(self) -> str:
        return "bound" if self.verifier == "oracle" else "parallel"

    async def orchestrate(self, item, ctx):
        if self.verifier != "self":
            return await super().orchestrate(item, ctx)
        share = ctx.budget.total // self.n
        if share < 1:
            return
        judge_tokens = max(1, share // 4)
        cand_tokens = share - judge_tokens
        if cand_tokens < 1:
            return
        chains = ctx.budget.split(self.n)

        async def one(i: int, b: Budget) -> None:
            try:
                [cand] = await ctx.call({"messages": ctx.user_messages(), "max_tokens": cand_tokens},
                                        role="answer", sample=i, budget=b)
                msgs = ctx.user_messages() + [ctx.assistant_turn(cand["text"]),
                                              {"role": "user", "content": JUDGE_INSTRUCTION}]
                await ctx.call({"messages": msgs}, role="judge", sample=i, round=1, parent=cand["key"],
                               budget=b, judge=judge_score, target=cand["key"])
            except BudgetExhausted:
                return

        await asyncio.gather(*(one(i, b) for i, b in enumerate(chains)))

    def scores(self, calls, item, *, run_seed: int = 0) -> dict[str, float]:
        """Verifier score of each candidate, by key (pure; noisy draws from the run seed and the key)."""
        cands = answers_of(calls)
        out: dict[str, float] = {}
        if self.verifier == "self":
            # the verdict is re-read from the judge's text, never taken from a logged score
            judged = {c.get("target"): judge_score(c.get("text") or "") for c in calls if c.get("role") == "judge"}
            for c in cands:
                s = judged.get(c["key"])
                out[c["key"]] = float(s) if s is not None else 0.0
        elif self.verifier == "oracle":
            for c in cands:
                out[c["key"]] = credit_of(item, c.get("extracted"))
        elif self.verifier == "noisy":
            for c in cands:
                ok = credit_of(item, c.get("extracted")) == 1.0
                # one independent draw per candidate, from the run seed and the call key
                u = strategy_rng(run_seed, c["key"], "noisy-verifier").random()
                accept = u < (self.tpr if ok else self.fpr)
                out[c["key"]] = 1.0 if (accept and c.get("extracted") is not None) else 0.0
        else:  # trace
            for c in cands:
                out[c["key"]] = trace_verifier_score(item, c["text"])
        return out

    def final_answer(self, calls, item, *, run_seed=0):
        cands = answers_of(calls)
        sc = self.scores(calls, item, run_seed=run_seed)
        res = best_of_n([c.get("extracted") for c in cands], [sc[c["key"]] for c in cands],
                                seed=tie_seed(cands, "best_of", run_seed), item=item)
        chosen = cands[res.index]["key"] if res.index is not None else None
        return res.answer, float(res.credit), {**res.to_meta(), "scores": [sc[c["key"]] for c in cands],
                                               "chosen": chosen, "upper_bound": self.verifier == "oracle"}


def _fmt(x: float) -> str:
    return f"{x:g}"
