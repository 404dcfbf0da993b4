"""``budget_forcing``: s1 budget forcing, the length of one chain controlled at test time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from depthbench.baselines._budget import MIN_CALL_TOKENS, BudgetExhausted, forced_token_estimate
from depthbench.baselines._context import CallContext
from depthbench.baselines._roles import answer_roles, get_role
from depthbench.baselines.strategies._base import Strategy, answers_of, bad_name, credit_of, pos_int, strategy
from depthbench.scorers import extract_answer

__all__ = ["BudgetForcing", "WAIT", "FORCE_ANSWER", "CONTINUE_INSTRUCTION"]

WAIT = "\nWait,"
FORCE_ANSWER = "\nAnswer:"
CONTINUE_INSTRUCTION = (
    "Wait. Continue your reasoning from where you stopped, double-check it, and end with the "
    "final answer on its own line as 'Answer: <answer>'."
)


@strategy("budget_forcing[:cap|:max_waits=K]", kinds=("sequential",),
          roles=("answer", "continue", "force_answer"), example="budget_forcing",
          params={"max_waits": "most 'Wait' extensions (default 32)",
                  "cap": "no 'Wait'; only force 'Answer:' at the cap"},
          summary="s1: append 'Wait' on early stop until B is used or K Waits (default 32); "
                  "':cap' appends no Wait, forces 'Answer:' at B",
          min_budget=lambda s: s.smallest_budget())
@dataclass(frozen=True)
class BudgetForcing(Strategy):
    """s1 budget forcing: control the length of one chain at test time.

    ``wait`` mode: when the chain stops before the budget is used, ``"Wait"`` is
    appended and the model continues, until B is used or ``max_waits`` Waits
    (default 32; ``budget_forcing:max_waits=K``) were appended; a chain that reaches
    the cap without an answer gets ``"Answer:"`` appended and is made to answer with a
    small reserved tail. ``cap`` mode appends no Wait and only does the latter. The
    outcome's ``meta.stopped`` says why the chain ended: ``"max_waits"`` (the Wait cap),
    ``"budget"`` (B used, or too little left for another Wait) or ``"model"`` (cap mode:
    the model stopped on its own). Inserted text is
    charged as generated tokens (:func:`~depthbench.baselines._budget.forced_token_estimate`).

    The continuation uses an assistant prefix where the backend supports it, a raw
    completion prompt otherwise, and as a last resort a new user turn asking to continue.

    References
    ----------
    Muennighoff et al. 2025, "s1: Simple test-time scaling", arXiv 2501.19393.
    """

    mode: str = "wait"
    max_waits: int = 32
    default_max_waits: ClassVar[int] = 32
    min_extension: ClassVar[int] = 8

    @classmethod
    def from_parts(cls, name, arg, opts):
        if arg is not None or len(opts) > 1:
            raise bad_name(name, "takes ':cap', ':wait' or ':max_waits=K'")
        mode = opts[0] if opts else "wait"
        if mode.startswith("max_waits="):
            return cls(mode="wait", max_waits=pos_int(mode.partition("=")[2], name, "K in max_waits=K"))
        if mode not in ("wait", "cap"):
            raise bad_name(name, "takes ':cap', ':wait' or ':max_waits=K'")
        return cls(mode=mode)

    @property
    def name(self) -> str:
        if self.mode == "cap":
            return "budget_forcing:cap"
        return "budget_forcing" + ("" if self.max_waits == self.default_max_waits else f":max_waits={self.max_waits}")

    @property
    def kind(self) -> str:
        return "sequential"

    @staticmethod
    def answer_reserve(budget: int) -> int:
        """Tokens held back for a forced answer: 1/16 of B, between 4 and 16."""
        return min(16, max(4, budget // 16))

    def think_cap(self, budget: int) -> int:
        """``max_tokens`` of the first segment: B minus the answer reserve (and ``"Answer:"``)."""
        return max(1, budget - max(self.answer_reserve(budget), forced_token_estimate(FORCE_ANSWER) + 1))

    def smallest_budget(self) -> int:
        """The smallest B whose first segment gets ``MIN_CALL_TOKENS`` after the answer reserve."""
        return next(b for b in range(MIN_CALL_TOKENS, 4 * MIN_CALL_TOKENS) if self.think_cap(b) >= MIN_CALL_TOKENS)

    def allowance(self, budget: int) -> str:
        return f"gives its first segment {self.think_cap(budget)} tokens (after the answer reserve)"

    def _continuation(self, ctx: CallContext, transcript: str) -> dict[str, Any]:
        caps = ctx.capabilities
        if caps.assistant_prefix:
            return {"messages": ctx.user_messages(), "assistant_prefix": transcript}
        if caps.completions:
            return {"prompt": ctx.item["prompt"] + "\n\n" + transcript}
        msgs = ctx.user_messages() + [{"role": "assistant", "content": transcript},
                                      {"role": "user", "content": CONTINUE_INSTRUCTION}]
        return {"messages": msgs}

    async def orchestrate(self, item, ctx):
        B = ctx.budget.total
        tail = self.answer_reserve(B)
        think_cap = self.think_cap(B)
        try:
            [rec] = await ctx.call({"messages": ctx.user_messages(), "max_tokens": think_cap},
                                   role="answer", sample=0, round=0)
        except BudgetExhausted:
            return
        transcript = rec["text"]
        r = 0
        if self.mode == "wait":
            wait_cost = forced_token_estimate(WAIT)
            while (rec["finish_reason"] == "stop" and r < self.max_waits
                   and ctx.budget.remaining - wait_cost - tail >= self.min_extension):
                r += 1
                prefix = transcript + WAIT
                req = self._continuation(ctx, prefix)
                req["max_tokens"] = ctx.budget.remaining - wait_cost - tail
                [rec] = await ctx.call(req, role="continue", sample=0, round=r, parent=rec["key"],
                                       forced=WAIT, extract_prefix=transcript)
                transcript = prefix + rec["text"]
        if rec["finish_reason"] == "length":
            r += 1
            prefix = transcript + FORCE_ANSWER
            req = self._continuation(ctx, prefix)
            try:
                await ctx.call(req, role="force_answer", sample=0, round=r, parent=rec["key"],
                               forced=FORCE_ANSWER, extract_prefix=transcript)
            except BudgetExhausted:
                pass

    @staticmethod
    def transcript(calls: Sequence[Mapping[str, Any]]) -> str:
        """The chain's full text: each segment preceded by the text forced before it."""
        recs = sorted((c for c in calls if c.get("sample") == 0 and c.get("role") in answer_roles()),
                      key=lambda c: c["round"])
        return "".join(c.get("forced", "") + c["text"] for c in recs)

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls)
        if not recs:
            return None, 0.0, {"segments": 0}
        text = self.transcript(calls)
        forced_at = None  # where the harness forced "Answer:" (the end of the reasoning)
        if get_role(recs[-1].get("role")).ends_reasoning:
            forced_at = len(text) - len(recs[-1].get("forced", "") + recs[-1]["text"])
        ex = extract_answer(item, text, finish_reason=recs[-1].get("finish_reason"),
                            think_open=bool(recs[0].get("think_open")), reasoning_end=forced_at)
        waits = sum(1 for c in recs if c["role"] == "continue")
        last = [c for c in recs if c["role"] != "force_answer"][-1]
        if last.get("finish_reason") == "length":
            stopped = "budget"
        elif self.mode == "wait":
            # the Wait cap stopped it only if the budget still allowed another extension
            budget = last.get("budget")
            g = sum(int(c["usage"]["completion_tokens"]) + int(c["usage"].get("forced_tokens", 0)) for c in recs
                    if isinstance(c.get("usage"), Mapping))
            room = (int(budget) - g - forced_token_estimate(WAIT) - self.answer_reserve(int(budget))
                    if isinstance(budget, int) else self.min_extension)
            stopped = "max_waits" if waits >= self.max_waits and room >= self.min_extension else "budget"
        else:
            stopped = "model"
        meta = {"segments": len(recs), "waits": waits,
                "forced_answer": any(c["role"] == "force_answer" for c in recs), "stopped": stopped}
        if self.mode == "wait":
            meta["max_waits"] = self.max_waits
        return ex.answer, credit_of(item, ex.answer), meta
