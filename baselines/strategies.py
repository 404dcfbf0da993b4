"""Reference test-time strategies at a matched token budget, and their registry.

Every strategy is a small orchestration over :class:`~depthbench.baselines._context.CallContext`
(fork, then reduce): ``run(item, ctx)`` makes the calls, and the pure
``final_answer(calls, item)`` reduces the logged call records to
``(answer, credit, meta)`` with the reducers of :mod:`depthbench.scorers`, so
``depthbench score`` can re-reduce a run without the model.

Names (``depthbench strategies`` prints this table):

================================ ============ ==================================================
name                             kind         what
================================ ============ ==================================================
``single``                       single       one chain, ``max_tokens = B``
``budget_forcing[:max_waits=K]`` sequential   s1: an early stop gets ``"Wait"`` appended, until B
                                              is used or after K Waits (default 32)
``budget_forcing:cap``           sequential   s1 cap mode: no Wait; at B the answer is forced
``revision@R[:maj]``             sequential   R self-revision rounds of B/R; last answer / majority
``majority@N[:pooled]``          parallel     self-consistency, N chains of B/N (or a shared pool)
``best_of@N:V``                  parallel     N chains, verifier V picks (``oracle`` is a bound)
``pass@N``                       bound        coverage: any of N chains right (not deployable)
``ratio@NxR``                    parallel     N chains x R revisions, N*R fixed (Snell et al.)
``adaptive@N``                   parallel     pilots, then more chains where votes disagree
================================ ============ ==================================================

Budget rule: G (generated tokens over all calls, verifier/judge/pilot included) never
exceeds B per item; ``adaptive`` instead keeps the dataset total at ``len(items) * B``
(the uniform strategy's) and records each item's allocation.

Minimum budget: :meth:`Strategy.min_budget` is the smallest B that gives every planned
call (each chain, round, first segment or judge) at least
:data:`~depthbench.baselines._budget.MIN_CALL_TOKENS` (16) generated tokens, e.g.
``16 * N`` for ``majority@N`` and ``64 * N`` for ``best_of@N:self``; ``depthbench eval``
refuses smaller budgets.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


from depthbench.baselines._budget import MIN_CALL_TOKENS, Budget, BudgetExhausted, forced_token_estimate
from depthbench.baselines._context import ANSWER_ROLES, CallContext, strategy_rng
from depthbench.errors import UserError

__all__ = [
    "Strategy",
    "parse",
    "list_strategies",
    "Single",
    "BudgetForcing",
    "Revision",
    "Majority",
    "BestOfN",
    "PassAtN",
    "Ratio",
    "Adaptive",
]

KINDS = ("single", "parallel", "sequential", "bound")

REVISE_INSTRUCTION = (
    "Review your previous attempt step by step. If you find a mistake, correct it. "
    "End with the final answer on its own line as 'Answer: <answer>'."
)
CONTINUE_INSTRUCTION = (
    "Wait. Continue your reasoning from where you stopped, double-check it, and end with the "
    "final answer on its own line as 'Answer: <answer>'."
)
JUDGE_INSTRUCTION = (
    "Here is a proposed solution to the problem above. Check it briefly, step by step. "
    "Then reply on the last line with exactly 'Verdict: yes' if its final answer is correct "
    "or 'Verdict: no' if it is not."
)
WAIT = "\nWait,"
FORCE_ANSWER = "\nAnswer:"


# ----------------------------------------------------------------------------------
# helpers shared by the reductions (pure functions of call records)
# ----------------------------------------------------------------------------------
def _space(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return item.get("meta", {}).get("answer_space", {})


def _answers_of(calls: Sequence[Mapping[str, Any]], roles: Sequence[str] = ANSWER_ROLES) -> list[Mapping[str, Any]]:
    return sorted((c for c in calls if c.get("role") in roles), key=lambda c: (c["sample"], c["round"]))


def _tie_seed(calls: Sequence[Mapping[str, Any]], tag: str, run_seed: int = 0) -> int:
    """A seed for a tie break: the run seed and the logged call keys (pure, reproducible).

    Drawn through :func:`~depthbench.baselines._context.strategy_rng`, like every random
    decision of a strategy; the backend's seed field is never consulted.
    """
    keys = "\n".join(sorted(c["key"] for c in calls))
    return int(strategy_rng(run_seed, keys, f"tie:{tag}").integers(1 << 62))


def _vote(item: Mapping[str, Any], answers: Sequence[Any], seed: int) -> tuple[Any, float, dict[str, Any]]:
    """Majority vote through :func:`depthbench.scorers.majority_vote`.

    Abstentions do not vote; a tie earns fractional credit (the expected credit of a
    uniform break) and the reported answer is a seeded pick among the winners.
    """
    from depthbench import scorers

    res = scorers.majority_vote(list(answers), seed=seed, item=item)
    return res.answer, float(res.credit), res.to_meta()


def stated_steps(item: Mapping[str, Any], text: str) -> list[Any]:
    """The intermediate results a response states, as ``Step k: ...`` lines.

    Contents are read per family: ``node=4`` or ``4`` (graph; the source is prepended
    when the stated path starts after it), ``x3=4`` (arithmetic), ``key_a:RRD`` or a
    bare move string (grid). Lines that do not parse are kept as raw strings (they then
    count as wrong steps).
    """
    steps: list[Any] = []
    task = item.get("task")
    for content in _STEP_LINE_RE.findall(text or ""):
        content = content.strip().rstrip(".")
        if task == "graph_connectivity":
            m = re.fullmatch(r"(?:node\s*=\s*)?(-?\d+)", content)
            steps.append(int(m.group(1)) if m else content)
        elif task == "multihop_arithmetic":
            m = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*(-?\d+)", content)
            steps.append({"var": m.group(1), "value": int(m.group(2))} if m else content)
        elif task == "grid_planning":
            head, sep, moves = content.rpartition(":")
            moves = moves.strip()
            if set(moves) <= set("UDLR"):
                steps.append({"subgoal": head.replace("_", " ").strip(), "moves": moves} if sep else moves)
            else:
                steps.append(content)
        else:
            steps.append(content)
    if task == "graph_connectivity" and steps:
        src = (item.get("instance") or {}).get("source")
        if src is not None and steps[0] != src:
            steps.insert(0, src)
    return steps


_STEP_LINE_RE = re.compile(r"(?im)^\s*step\s+\d+\s*[:.)]\s*(\S+)")


def trace_score(item: Mapping[str, Any], text: str) -> float:
    """Trace verifier score in [0, 1]: the share of the gold trace stated before the
    first wrong step.

    Uses :func:`depthbench.scorers.trace_score` (which reads paths, assignments and
    plans from free text); when that finds no steps, the ``Step k: ...`` lines of
    :func:`stated_steps` are checked with :func:`depthbench.scorers.trace_first_error`.
    """
    from depthbench import scorers

    if scorers.parse_trace(item, text):
        return float(scorers.trace_score(item, text))
    steps = stated_steps(item, text)
    if not steps:
        return 0.0
    first = scorers.trace_first_error(item, steps)
    if first is None:
        return 1.0
    return min(1.0, first / max(1, len(item.get("solution_trace") or [])))


def _credit(item: Mapping[str, Any], answer: Any) -> float:
    from depthbench import scorers

    return 1.0 if answer is not None and scorers.verify(item, answer) else 0.0


def _last_answer(recs: Sequence[Mapping[str, Any]]) -> tuple[Any, Mapping[str, Any] | None]:
    """The answer of the last record, or of the latest earlier one that gave an answer."""
    for r in reversed(recs):
        if r.get("extracted") is not None:
            return r["extracted"], r
    return None, (recs[-1] if recs else None)


def _chat_history(ctx: CallContext, attempts: Sequence[str]) -> list[dict[str, str]]:
    msgs = ctx.user_messages()
    for a in attempts:
        msgs.append({"role": "assistant", "content": a})
        msgs.append({"role": "user", "content": REVISE_INSTRUCTION})
    return msgs


# ----------------------------------------------------------------------------------
# the base class
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Strategy:
    """A test-time strategy.

    Attributes
    ----------
    name : str
        Canonical name (``parse(s.name) == s``).
    kind : str
        ``"single"``, ``"parallel"``, ``"sequential"`` or ``"bound"``.
    dataset_level : bool
        True when the strategy allocates budget across items (``adaptive``); the runner
        then calls :meth:`run_dataset` instead of :meth:`run`.
    """

    dataset_level: ClassVar[bool] = False
    summary: ClassVar[str] = ""

    @property
    def name(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def kind(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    async def run(self, item: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Run on one item; return the outcome record."""
        await self.orchestrate(item, ctx)
        answer, credit, meta = self.final_answer(ctx.records, item, run_seed=ctx.run_seed)
        return ctx.outcome(answer, credit, meta)

    async def orchestrate(self, item: Mapping[str, Any], ctx: CallContext) -> None:  # pragma: no cover
        raise NotImplementedError

    def final_answer(self, calls: Sequence[Mapping[str, Any]], item: Mapping[str, Any], *,
                     run_seed: int = 0) -> tuple[Any, float, dict[str, Any]]:
        """Reduce logged call records to ``(answer, credit, meta)`` (pure).

        ``run_seed`` (the run's ``--seed``) seeds the reduction's random decisions (tie
        breaks, noisy verifier draws) together with the call keys.
        """
        raise NotImplementedError  # pragma: no cover

    #: advice appended to a too-small-budget refusal (e.g. ``" or fewer samples"``)
    fewer_hint: ClassVar[str] = ""

    def min_budget(self) -> int:
        """The smallest budget B at which every planned call gets at least
        :data:`~depthbench.baselines._budget.MIN_CALL_TOKENS` generated tokens.

        Returns
        -------
        int
            ``depthbench eval`` refuses budgets below it.

        Examples
        --------
        >>> [parse(s).min_budget() for s in ("single", "majority@8", "best_of@4:self", "ratio@2x3")]
        [16, 128, 256, 96]
        """
        return MIN_CALL_TOKENS

    def allowance(self, budget: int) -> str:
        """How ``budget`` is shared among the calls, as a phrase for error messages.

        Examples
        --------
        >>> parse("majority@8").allowance(4)
        'gives each of 8 chains 0 tokens'
        """
        return f"gives its one chain {budget} tokens"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class _NChains(Strategy):
    """Base of the strategies that sample ``n`` chains of ``B // n`` tokens each."""

    n: int = 8
    fewer_hint: ClassVar[str] = " or fewer samples"

    def min_budget(self) -> int:
        return self.n * MIN_CALL_TOKENS

    def allowance(self, budget: int) -> str:
        return f"gives each of {self.n} chains {budget // self.n} tokens"

    async def orchestrate(self, item, ctx):
        """One request for the ``n`` chains, ``B // n`` tokens each (none if that is 0)."""
        share = ctx.budget.total // self.n
        if share >= 1:
            await ctx.call({"messages": ctx.user_messages(), "max_tokens": share, "n": self.n}, role="answer", sample=0)


# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Single(Strategy):
    """One chain with ``max_tokens = B``: the baseline every other strategy is matched to."""

    summary: ClassVar[str] = "one chain with max_tokens = B"
    name = "single"  # type: ignore[assignment]
    kind = "single"  # type: ignore[assignment]

    async def orchestrate(self, item, ctx):
        await ctx.call({"messages": ctx.user_messages()}, role="answer", sample=0)

    def final_answer(self, calls, item, *, run_seed=0):
        recs = _answers_of(calls)
        answer = recs[0].get("extracted") if recs else None
        return answer, _credit(item, answer), {}


# ----------------------------------------------------------------------------------
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
    summary: ClassVar[str] = ("s1: append 'Wait' on early stop until B is used or K Waits (default 32); "
                              "':cap' appends no Wait, forces 'Answer:' at B")

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

    def min_budget(self) -> int:
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
        recs = sorted((c for c in calls if c.get("sample") == 0 and c.get("role") in ANSWER_ROLES),
                      key=lambda c: c["round"])
        return "".join(c.get("forced", "") + c["text"] for c in recs)

    def final_answer(self, calls, item, *, run_seed=0):
        from depthbench import scorers

        recs = _answers_of(calls)
        if not recs:
            return None, 0.0, {"segments": 0}
        text = self.transcript(calls)
        forced_at = None  # where the harness forced "Answer:" (the end of the reasoning)
        if recs[-1].get("role") == "force_answer":
            forced_at = len(text) - len(recs[-1].get("forced", "") + recs[-1]["text"])
        ex = scorers.extract(text, item["answer_type"], _space(item), finish_reason=recs[-1].get("finish_reason"),
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
        return ex.answer, _credit(item, ex.answer), meta


# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Revision(Strategy):
    """Sequential self-revision: R rounds of at most B/R tokens each.

    Round 0 answers the question; round r sees the question and every earlier attempt
    (as a chat: attempt, "review and correct", attempt, ...) and writes a new attempt.
    The final answer is the last round's (``:last``, the default; if the last round gave
    none, the latest earlier answer) or the majority over the rounds (``:maj``).

    References
    ----------
    Snell et al. 2024, "Scaling LLM test-time compute optimally can be more effective
    than scaling model parameters", arXiv 2408.03314 (sequential revisions).
    """

    rounds: int = 2
    final: str = "last"
    summary: ClassVar[str] = "R self-revision rounds of B/R tokens; ':maj' votes over rounds"
    fewer_hint: ClassVar[str] = " or fewer rounds"

    def min_budget(self) -> int:
        return self.rounds * MIN_CALL_TOKENS

    def allowance(self, budget: int) -> str:
        return f"gives each of {self.rounds} rounds {budget // self.rounds} tokens"

    @property
    def name(self) -> str:
        return f"revision@{self.rounds}" + (":maj" if self.final == "maj" else "")

    @property
    def kind(self) -> str:
        return "sequential"

    async def orchestrate(self, item, ctx):
        await revision_chain(ctx, ctx.budget, sample=0, rounds=self.rounds)

    def final_answer(self, calls, item, *, run_seed=0):
        recs = _answers_of(calls)
        if self.final == "maj":
            ans, credit, meta = _vote(item, [r.get("extracted") for r in recs], _tie_seed(recs, "revision", run_seed))
            return ans, credit, {**meta, "rounds": len(recs)}
        ans, rec = _last_answer(recs)
        return ans, _credit(item, ans), {"rounds": len(recs), "from_round": rec["round"] if rec else None}


async def revision_chain(ctx: CallContext, budget: Budget, *, sample: int, rounds: int) -> None:
    """One chain of ``rounds`` revision rounds, each capped at ``budget.total // rounds``."""
    per_round = budget.total // rounds
    attempts: list[str] = []
    parent = None
    for r in range(rounds):
        try:
            [rec] = await ctx.call({"messages": _chat_history(ctx, attempts), "max_tokens": per_round},
                                   role="answer" if r == 0 else "revise", sample=sample, round=r,
                                   parent=parent, budget=budget)
        except BudgetExhausted:
            return
        attempts.append(rec["text"])
        parent = rec["key"]


# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Majority(_NChains):
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
    summary: ClassVar[str] = "self-consistency: N chains of B/N, majority vote; ':pooled' shares unused tokens"

    @property
    def name(self) -> str:
        return f"majority@{self.n}" + (":pooled" if self.pooled else "")

    @property
    def kind(self) -> str:
        return "parallel"

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
        recs = _answers_of(calls)
        ans, credit, meta = _vote(item, [r.get("extracted") for r in recs], _tie_seed(recs, "majority", run_seed))
        return ans, credit, {**meta, "samples": len(recs)}


# ----------------------------------------------------------------------------------
_VERDICT_RE = re.compile(r"verdict\s*[:=]?\s*\**\s*(yes|no|correct|incorrect)\b", re.IGNORECASE)


def judge_score(text: str) -> float:
    """Score a self-judge reply: 1.0 for a last verdict of yes, 0.0 for no, 0.5 if none."""
    found = _VERDICT_RE.findall(text or "")
    if not found:
        return 0.5
    return 1.0 if found[-1].lower() in ("yes", "correct") else 0.0


@dataclass(frozen=True)
class BestOfN(_NChains):
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
    summary: ClassVar[str] = "N chains of B/N, pick by verifier: oracle (bound), trace, noisy:TPR,FPR, self (charged)"

    def min_budget(self) -> int:
        # self: each chain's share pays a candidate and a judge of share // 4 (>= 16 each)
        return super().min_budget() * (4 if self.verifier == "self" else 1)

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
                msgs = ctx.user_messages() + [
                    {"role": "assistant", "content": cand["text"]},
                    {"role": "user", "content": JUDGE_INSTRUCTION},
                ]
                await ctx.call({"messages": msgs}, role="judge", sample=i, round=1, parent=cand["key"],
                               budget=b, judge=judge_score, target=cand["key"])
            except BudgetExhausted:
                return

        await asyncio.gather(*(one(i, b) for i, b in enumerate(chains)))

    def scores(self, calls, item, *, run_seed: int = 0) -> dict[str, float]:
        """Verifier score of each candidate, by key (pure; noisy draws from the run seed and the key)."""
        cands = _answers_of(calls)
        out: dict[str, float] = {}
        if self.verifier == "self":
            judged = {c.get("target"): c.get("score") for c in calls if c.get("role") == "judge"}
            for c in cands:
                s = judged.get(c["key"])
                out[c["key"]] = float(s) if s is not None else 0.0
        elif self.verifier == "oracle":
            for c in cands:
                out[c["key"]] = _credit(item, c.get("extracted"))
        elif self.verifier == "noisy":
            for c in cands:
                ok = _credit(item, c.get("extracted")) == 1.0
                # one independent draw per candidate, from the run seed and the call key
                u = strategy_rng(run_seed, c["key"], "noisy-verifier").random()
                accept = u < (self.tpr if ok else self.fpr)
                out[c["key"]] = 1.0 if (accept and c.get("extracted") is not None) else 0.0
        else:  # trace
            for c in cands:
                out[c["key"]] = trace_score(item, c["text"])
        return out

    def final_answer(self, calls, item, *, run_seed=0):
        from depthbench import scorers

        cands = _answers_of(calls)
        sc = self.scores(calls, item, run_seed=run_seed)
        res = scorers.best_of_n([c.get("extracted") for c in cands], [sc[c["key"]] for c in cands],
                                seed=_tie_seed(cands, "best_of", run_seed), item=item)
        chosen = cands[res.index]["key"] if res.index is not None else None
        return res.answer, float(res.credit), {**res.to_meta(), "scores": [sc[c["key"]] for c in cands],
                                               "chosen": chosen, "upper_bound": self.verifier == "oracle"}


def _fmt(x: float) -> str:
    return f"{x:g}"


# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PassAtN(_NChains):
    """pass@N: the chance that at least one of N chains (B/N each) is right.

    Coverage, an upper bound on any selection method, **not** a deployable strategy:
    it needs the gold answer to pick. Credit is the unbiased estimator of Chen et al.
    (with k = N samples drawn it is 1 when any sample is right); the reported answer is a
    right one if any, else the majority.

    References
    ----------
    Chen et al. 2021, "Evaluating large language models trained on code", arXiv 2107.03374.
    """

    summary: ClassVar[str] = "coverage bound: N chains of B/N, credit if any is right (Chen et al.)"

    @property
    def name(self) -> str:
        return f"pass@{self.n}"

    @property
    def kind(self) -> str:
        return "bound"

    def final_answer(self, calls, item, *, run_seed=0):
        from depthbench import scorers

        recs = _answers_of(calls)
        oks = [_credit(item, r.get("extracted")) == 1.0 for r in recs]
        c = sum(oks)
        credit = float(scorers.pass_at_k(len(recs), c, min(self.n, len(recs)))) if recs else 0.0
        if c:
            ans = recs[oks.index(True)]["extracted"]
        else:
            ans, _, _ = _vote(item, [r.get("extracted") for r in recs], _tie_seed(recs, "pass", run_seed))
        return ans, credit, {"samples": len(recs), "correct_samples": c, "coverage": True}


# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ratio(Strategy):
    """N parallel chains of R sequential revision rounds each, every round B/(N*R).

    Sweeping N x R with N*R fixed trades parallel for sequential compute at one budget;
    the final answer is the majority over the chains' last answers.

    References
    ----------
    Snell et al. 2024, arXiv 2408.03314 (the sequential-to-parallel ratio).
    """

    n: int = 2
    r: int = 2
    summary: ClassVar[str] = "N parallel chains x R revision rounds, each round B/(N*R); majority over chains"
    fewer_hint: ClassVar[str] = " or fewer chains or rounds"

    def min_budget(self) -> int:
        return self.n * self.r * MIN_CALL_TOKENS

    def allowance(self, budget: int) -> str:
        return f"gives each of {self.n} chains x {self.r} rounds {(budget // self.n) // self.r} tokens"

    @property
    def name(self) -> str:
        return f"ratio@{self.n}x{self.r}"

    @property
    def kind(self) -> str:
        return "parallel" if self.n > 1 else "sequential"

    async def orchestrate(self, item, ctx):
        chains = ctx.budget.split(self.n)
        await asyncio.gather(*(revision_chain(ctx, b, sample=i, rounds=self.r) for i, b in enumerate(chains)))

    def final_answer(self, calls, item, *, run_seed=0):
        recs = _answers_of(calls)
        finals = []
        for i in sorted({r["sample"] for r in recs}):
            ans, _ = _last_answer([r for r in recs if r["sample"] == i])
            finals.append(ans)
        ans, credit, meta = _vote(item, finals, _tie_seed(recs, "ratio", run_seed))
        return ans, credit, {**meta, "chains": len(finals)}


# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adaptive(_NChains):
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
    summary: ClassVar[str] = "pilot chains (charged), then more chains of B/N to items whose votes disagree"

    def allowance(self, budget: int) -> str:
        return f"gives each of its chains {budget // self.n} tokens (B/{self.n})"

    @property
    def name(self) -> str:
        return f"adaptive@{self.n}"

    @property
    def kind(self) -> str:
        return "parallel"

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
        recs = _answers_of(calls, roles=("pilot", "answer"))
        ans, credit, meta = _vote(item, [r.get("extracted") for r in recs], _tie_seed(recs, "adaptive", run_seed))
        return ans, credit, {**meta, "samples": len(recs)}


# ----------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------
_GRAMMAR = [
    ("single", "single", Single),
    ("budget_forcing[:cap|:max_waits=K]", "budget_forcing", BudgetForcing),
    ("revision@R[:maj]", "revision@4", Revision),
    ("majority@N[:pooled]", "majority@8", Majority),
    ("best_of@N:oracle|trace|self|noisy:TPR,FPR", "best_of@8:trace", BestOfN),
    ("pass@N", "pass@8", PassAtN),
    ("ratio@NxR", "ratio@4x2", Ratio),
    ("adaptive[@N]", "adaptive@8", Adaptive),
]


def _bad(name: str, why: str) -> UserError:
    return UserError(f"--strategy: {name!r} {why}; run `depthbench strategies` for the accepted names")


def _pos_int(text: str, name: str, what: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,5}", text or ""):
        raise _bad(name, f"needs a positive integer {what}, got {text!r}")
    return int(text)


def _prob(text: str, name: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise _bad(name, f"needs probabilities in [0, 1], got {text!r}") from None
    if not 0.0 <= x <= 1.0:
        raise _bad(name, f"needs probabilities in [0, 1], got {text!r}")
    return x


def parse(name: str) -> Strategy:
    """Parse a strategy name with parameters into a :class:`Strategy`.

    Raises
    ------
    UserError
        If the name or a parameter is invalid (names ``--strategy``).

    Examples
    --------
    >>> parse("majority@8").name, parse("best_of@4:noisy:0.9,0.1").name, parse("ratio@4x2").kind
    ('majority@8', 'best_of@4:noisy:0.9,0.1', 'parallel')
    """
    s = (name or "").strip()
    base, _, param = s.partition("@")
    if base == "single" and not param:
        return Single()
    if base == "budget_forcing" or s.startswith("budget_forcing:"):
        mode = s.partition(":")[2] or "wait"
        if mode.startswith("max_waits="):
            return BudgetForcing(mode="wait", max_waits=_pos_int(mode.partition("=")[2], s, "K in max_waits=K"))
        if mode not in ("wait", "cap"):
            raise _bad(s, "takes ':cap', ':wait' or ':max_waits=K'")
        return BudgetForcing(mode=mode)
    if s == "adaptive":  # the default pool size, named canonically as adaptive@8
        return Adaptive()
    if not param:
        raise _bad(s, "is not a known strategy")
    num, _, opt = param.partition(":")
    if base == "revision":
        if opt not in ("", "last", "maj"):
            raise _bad(s, "takes ':maj' or ':last'")
        return Revision(rounds=_pos_int(num, s, "R"), final=opt or "last")
    if base == "majority":
        if opt not in ("", "static", "pooled"):
            raise _bad(s, "takes ':pooled' or ':static'")
        return Majority(n=_pos_int(num, s, "N"), pooled=opt == "pooled")
    if base == "best_of":
        n = _pos_int(num, s, "N")
        v, _, vp = opt.partition(":")
        if v in ("oracle", "trace", "self") and not vp:
            return BestOfN(n=n, verifier=v)
        if v == "noisy":
            parts = vp.split(",")
            if len(parts) != 2:
                raise _bad(s, "needs noisy:TPR,FPR, e.g. best_of@8:noisy:0.9,0.1")
            return BestOfN(n=n, verifier="noisy", tpr=_prob(parts[0], s), fpr=_prob(parts[1], s))
        raise _bad(s, "needs a verifier: oracle, trace, self or noisy:TPR,FPR")
    if base == "pass" and not opt:
        return PassAtN(n=_pos_int(num, s, "N"))
    if base == "ratio" and not opt:
        a, x, b = num.partition("x")
        if not x:
            raise _bad(s, "needs NxR, e.g. ratio@4x2")
        return Ratio(n=_pos_int(a, s, "N"), r=_pos_int(b, s, "R"))
    if base == "adaptive" and not opt:
        return Adaptive(n=_pos_int(num, s, "N"))
    raise _bad(s, "is not a known strategy")


def list_strategies() -> list[tuple[str, str, str]]:
    """``(pattern, kind, one-line description)`` for every strategy family."""
    out = []
    for pattern, example, cls in _GRAMMAR:
        kind = {Ratio: "parallel|sequential", BestOfN: "parallel|bound"}.get(cls, parse(example).kind)
        out.append((pattern, kind, cls.summary))
    return out
