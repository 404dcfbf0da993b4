"""``budget_forcing``: s1 budget forcing, the length of one chain controlled at test time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from depthbench.baselines._budget import MIN_CALL_TOKENS, BudgetExhausted, forced_token_estimate
from depthbench.baselines._context import CallContext
from depthbench.baselines._roles import answer_roles, get_role
from depthbench.baselines.backends._continuation import Think, chain_text, inside_thinking
from depthbench.baselines.strategies._base import (
    CallSlot,
    Strategy,
    answers_of,
    bad_name,
    credit_of,
    pos_int,
    strategy,
)
from depthbench.errors import UserError
from depthbench.scorers import extract_answer

__all__ = ["BudgetForcing", "WAIT", "FORCE_ANSWER", "FORCE_ANSWER_INSTRUCTION", "CLOSE_THEN_ANSWER", "USER_TURN"]

WAIT = "\nWait,"
FORCE_ANSWER = "\nAnswer:"
FORCE_ANSWER_INSTRUCTION = (
    "Your reasoning above reached its token budget. Give the final answer now, on its own line as "
    "'Answer: <answer>'."
)
#: the texts budget forcing may insert before a ``force_answer`` call besides ``"\nAnswer:"``:
#: closing a reasoning block first (s1 for models with ``<think>``), or nothing (``cap`` mode
#: on an endpoint that cannot continue a turn asks for the answer in a new user turn)
CLOSE_THEN_ANSWER = "\n</think>\nAnswer:"
USER_TURN = ""


@strategy("budget_forcing[:cap|:max_waits=K]", kinds=("sequential",),
          roles=("answer", "continue", "force_answer"), example="budget_forcing",
          params={"max_waits": "most 'Wait' extensions (default 32)",
                  "cap": "no 'Wait'; only force 'Answer:' at the cap"},
          summary="s1: insert 'Wait' on early stop (inside the thinking of reasoning models) until B "
                  "is used or K Waits (default 32); ':cap' inserts no Wait, forces 'Answer:' at B",
          min_budget=lambda s: s.smallest_budget())
@dataclass(frozen=True)
class BudgetForcing(Strategy):
    """s1 budget forcing: control the length of one chain at test time.

    ``wait`` mode: when the chain stops before the budget is used, ``"Wait"`` is
    inserted and the model continues, until B is used or ``max_waits`` Waits
    (default 32; ``budget_forcing:max_waits=K``) were inserted; a chain that reaches
    the cap without an answer gets ``"Answer:"`` appended and is made to answer with a
    small reserved tail. ``cap`` mode inserts no Wait and only does the latter. The
    outcome's ``meta.stopped`` says why the chain ended: ``"max_waits"`` (the Wait cap),
    ``"budget"`` (B used, or too little left for another Wait) or ``"model"`` (cap mode:
    the model stopped on its own). Inserted text is charged as generated tokens
    (:func:`~depthbench.baselines._budget.forced_token_estimate`).

    Reasoning models (a backend with ``think`` delimiters): as in s1, the end-of-thinking
    delimiter is suppressed -- it is a stop string of every thinking segment -- and
    ``"Wait"`` goes *inside* the still-open thinking; when no further Wait is given (the
    cap, or the budget), or the budget cuts the chain inside its thinking, the harness
    closes the thinking block and then forces ``"Answer:"``. A model without delimiters
    gets ``"Wait"`` after its own stop, as before.

    Every continuation continues the same assistant turn under the model's chat template
    (the continuation contract, :mod:`depthbench.baselines.backends._continuation`): the
    request is the question plus ``assistant_prefix`` = the transcript so far. ``wait``
    mode therefore needs a backend that can continue a turn (``eval`` refuses it up front
    otherwise); ``cap`` mode on such an endpoint asks for the answer in a new user turn
    instead (logged as ``continuation: "user_turn"``).

    References
    ----------
    Muennighoff et al. 2025, "s1: Simple test-time scaling", arXiv 2501.19393.
    """

    mode: str = "wait"
    max_waits: int = 32
    default_max_waits: ClassVar[int] = 32
    min_extension: ClassVar[int] = 8

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("force_answer", "new_text") if self.mode == "cap" else ("continuation", "new_text")

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

    def tail(self, budget: int, forced: str = FORCE_ANSWER) -> int:
        """Tokens kept back for the forced answer: its reserve, and at least the forced text
        (``forced``; longer when it also closes a thinking block) plus one token."""
        return max(self.answer_reserve(budget), forced_token_estimate(forced) + 1)

    def think_cap(self, budget: int, forced: str = FORCE_ANSWER) -> int:
        """``max_tokens`` of the first segment: B minus the :meth:`tail`."""
        return max(1, budget - self.tail(budget, forced))

    def smallest_budget(self) -> int:
        """The smallest B whose first segment gets ``MIN_CALL_TOKENS`` after the answer reserve."""
        return next(b for b in range(MIN_CALL_TOKENS, 4 * MIN_CALL_TOKENS) if self.think_cap(b) >= MIN_CALL_TOKENS)

    def allowance(self, budget: int) -> str:
        return f"gives its first segment {self.think_cap(budget)} tokens (after the answer reserve)"

    def call_shape(self, budget):
        """Sample 0 only: the first segment (capped by :meth:`think_cap`), up to ``max_waits``
        continuations (``wait`` mode) and one forced answer, each continuing the previous round."""
        def slot(role: str, s: int, r: int) -> CallSlot | None:
            if s != 0:
                return None
            if role == "answer" and r == 0:
                return CallSlot("none", self.think_cap(budget))
            if role == "continue" and self.mode == "wait" and 1 <= r <= self.max_waits:
                return CallSlot("prev", budget)
            if role == "force_answer" and 1 <= r <= self.max_waits + 1:
                return CallSlot("prev", budget)
            return None
        return slot

    def forced_text(self, call, chain):
        """``"\nWait,"`` before a continuation, ``"\nAnswer:"`` before a forced answer; a
        record's stated ``forced`` only picks one of the fixed variants of a forced answer,
        each accepted only where the harness inserts it -- :data:`CLOSE_THEN_ANSWER` when the
        chain so far ends inside an open ``<think>`` block, :data:`USER_TURN` only in ``cap``
        mode. Either narrows extraction (an open block is closed exactly where the harness
        closed it; a user turn's reply must state its own answer), never widens it."""
        role = call["role"]
        default = {"continue": WAIT, "force_answer": FORCE_ANSWER}.get(role, "")
        if role != "force_answer" or "forced" not in call:
            return default, None
        stated = call["forced"]
        if stated == CLOSE_THEN_ANSWER and inside_thinking(chain, Think(), bool(call.get("think_open"))):
            return stated, None
        if stated == USER_TURN and self.mode == "cap":
            return stated, None
        return default, (f"states forced text {stated!r}, which the harness inserts only "
                         + ("in budget_forcing:cap mode" if stated == USER_TURN else "when the chain is inside <think>"))

    @staticmethod
    def _continuation(ctx: CallContext, transcript: str) -> dict[str, Any]:
        """The continuation request: the question, the assistant turn holding ``transcript``."""
        if not ctx.capabilities.assistant_prefix:
            raise UserError(f"--strategy budget_forcing: --model {getattr(ctx.model, 'name', '?')} cannot continue an "
                            "assistant turn; use budget_forcing:cap or revision@R (eval refuses this before the run)")
        return {"messages": ctx.user_messages(), "assistant_prefix": transcript}

    @staticmethod
    def _forced_answer(ctx: CallContext, transcript: str) -> str:
        """What closes a chain: ``"Answer:"``, after closing the thinking block if it is open."""
        if ctx.inside_thinking(transcript):
            return "\n" + ctx.think.close + FORCE_ANSWER
        return FORCE_ANSWER

    async def orchestrate(self, item, ctx):
        B = ctx.budget.total
        # the longest text that may be forced at the end: closing a thinking block, then "Answer:"
        closing = ("\n" + ctx.think.close + FORCE_ANSWER) if ctx.think is not None else FORCE_ANSWER
        tail = self.tail(B, closing)
        think_cap = self.think_cap(B, closing)
        # s1 for reasoning models: the end-of-thinking delimiter is suppressed while waiting
        stop = (ctx.think.close,) if (ctx.think is not None and self.mode == "wait") else ()
        first: dict[str, Any] = {"messages": ctx.user_messages(), "max_tokens": think_cap}
        if stop:
            first["stop"] = stop
        try:
            [rec] = await ctx.call(first, role="answer", sample=0, round=0)
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
                if stop and ctx.inside_thinking(prefix):
                    req["stop"] = stop
                [rec] = await ctx.call(req, role="continue", sample=0, round=r, parent=rec["key"],
                                       forced=WAIT, extract_prefix=transcript)
                transcript = prefix + rec["text"]
        # force the answer at the budget, and close thinking the harness kept open
        if rec["finish_reason"] == "length" or (stop and ctx.inside_thinking(transcript)):
            r += 1
            if ctx.capabilities.assistant_prefix:
                forced = self._forced_answer(ctx, transcript)
                req = self._continuation(ctx, transcript + forced)
            else:  # an endpoint that cannot continue: ask in a new user turn (recorded as such)
                forced = ""
                req = {"messages": ctx.user_messages() + [ctx.assistant_turn(transcript),
                                                          {"role": "user", "content": FORCE_ANSWER_INSTRUCTION}]}
            try:
                await ctx.call(req, role="force_answer", sample=0, round=r, parent=rec["key"],
                               forced=forced, extract_prefix=transcript)
            except BudgetExhausted:
                pass

    @staticmethod
    def transcript(calls: Sequence[Mapping[str, Any]]) -> str:
        """The chain's text the answer is read from: each segment preceded by the text forced
        before it, joined by :func:`~depthbench.baselines.backends._continuation.chain_text`
        (a forced answer asked for in a new user turn is read on its own)."""
        recs = sorted((c for c in calls if c.get("sample") == 0 and c.get("role") in answer_roles()),
                      key=lambda c: c["round"])
        text = ""
        for c in recs:
            text = chain_text(text, c)
        return text

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
                    if isinstance(c.get("usage"), Mapping) and c["role"] != "force_answer")
            stops = (recs[0].get("request") or {}).get("stop") or []
            closing = next(("\n" + s + FORCE_ANSWER for s in stops if s.startswith("</")), FORCE_ANSWER)
            room = (int(budget) - g - forced_token_estimate(WAIT) - self.tail(int(budget), closing)
                    if isinstance(budget, int) else self.min_extension)
            stopped = "max_waits" if waits >= self.max_waits and room >= self.min_extension else "budget"
        else:
            stopped = "model"
        meta = {"segments": len(recs), "waits": waits,
                "forced_answer": any(c["role"] == "force_answer" for c in recs), "stopped": stopped}
        if self.mode == "wait":
            meta["max_waits"] = self.max_waits
        return ex.answer, credit_of(item, ex.answer), meta
