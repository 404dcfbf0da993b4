"""``pass@N``: coverage, the chance that at least one of N chains is right (an upper bound)."""

from __future__ import annotations

from dataclasses import dataclass

from depthbench.baselines.strategies._base import (
    NChains,
    answers_of,
    bad_name,
    credit_of,
    n_chains_min_budget,
    pos_int,
    strategy,
    tie_seed,
    vote,
)
from depthbench.scorers import pass_at_k

__all__ = ["PassAtN"]


@strategy("pass@N", kinds=("bound",), roles=("answer",), example="pass@8",
          params={"N": "chains, B/N generated tokens each"},
          summary="coverage bound: N chains of B/N, credit if any is right (Chen et al.)",
          min_budget=n_chains_min_budget)
@dataclass(frozen=True)
class PassAtN(NChains):
    """pass@N: the chance that at least one of N chains (B/N each) is right.

    Coverage, an upper bound on any selection method, **not** a deployable strategy:
    it needs the gold answer to pick. Credit is the unbiased estimator of Chen et al.
    (with k = N samples drawn it is 1 when any sample is right); the reported answer is a
    right one if any, else the majority.

    References
    ----------
    Chen et al. 2021, "Evaluating large language models trained on code", arXiv 2107.03374.
    """

    @classmethod
    def from_parts(cls, name, arg, opts):
        if opts:
            raise bad_name(name, "takes no options")
        return cls(n=pos_int(arg, name, "N"))

    @property
    def name(self) -> str:
        return f"pass@{self.n}"

    @property
    def kind(self) -> str:
        return "bound"

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls)
        oks = [credit_of(item, r.get("extracted")) == 1.0 for r in recs]
        c = sum(oks)
        credit = float(pass_at_k(len(recs), c, min(self.n, len(recs)))) if recs else 0.0
        if c:
            ans = recs[oks.index(True)]["extracted"]
        else:
            ans, _, _ = vote(item, [r.get("extracted") for r in recs], tie_seed(recs, "pass", run_seed))
        return ans, credit, {"samples": len(recs), "correct_samples": c, "coverage": True}
