"""``revision_feedback@K:R``: Sequential-Revision+ -- K independent threads of critique-and-revise
turns with the task's own feedback; and the critic/author turn ``evolve`` shares.

Each thread starts with a fresh answer; while the task's gold-free checker
(:func:`depthbench.scorers.env_feedback`) does not accept its latest candidate, a *critic* call reads
that candidate with the checker's feedback and an *author* call writes the revised candidate
(:mod:`depthbench.baselines._feedback`). A thread stops at an accepted candidate. The final answer is an
accepted candidate's (a seeded pick if several threads got one), else that of a candidate with the
most steps checking out (seeded pick on ties). Nothing reads the gold answer: the strategy runs on a
hidden split's prompts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from depthbench._lazy import lazy
from depthbench.baselines._budget import MIN_CALL_TOKENS, Budget, BudgetExhausted
from depthbench.baselines._context import CallContext, strategy_rng
from depthbench.baselines._feedback import AUTHOR_INSTRUCTION, CRITIC_INSTRUCTION, candidates_text, feedback_request
from depthbench.baselines._roles import Role
from depthbench.baselines.strategies._base import CallSlot, Strategy, bad_name, credit_of, strategy
from depthbench.errors import UserError
from depthbench import scorers  # env_feedback on first use (scorers.lazy_exports)

asyncio = lazy("asyncio")
__all__ = ["RevisionFeedback", "Candidate", "evaluate", "critic_then_author", "choose_final", "turn_caps",
           "CRITIC_ROLE", "CANDIDATE_ROLES", "NO_FEEDBACK"]

#: the critic's call: it reads candidates and the task's feedback and says what to change. Its text is
#: read like any reply (a critic may state an answer), but it is never a candidate: not a response
#: (``n_responses``) and not a sample of the diversity statistics (``Role.candidate``).
CRITIC_ROLE = Role("critic", "reads candidates with the task's feedback and says what to keep and fix "
                   "(evolve, revision_feedback); never a candidate itself", candidate=False)
#: the roles whose texts are candidate solutions (fresh answers, the author's revisions)
CANDIDATE_ROLES = ("answer", "revise")
#: the feedback shown when the item's family has no gold-free checker
NO_FEEDBACK = "the task gives no automatic feedback on this problem"


@dataclass(frozen=True)
class Candidate:
    """A candidate solution as the task's checker sees it.

    Attributes
    ----------
    key : str
        Its call key.
    text : str
        Its text.
    feedback : str
        The checker's sentence (:attr:`depthbench.scorers.EnvFeedback.feedback`).
    fitness : int
        Steps that check out before the first that does not (gold-free), >= 0.
    solved : bool
        The checker accepts it (every step ok, solved, the answer what the steps reach).
    """

    key: str
    text: str
    feedback: str
    fitness: int
    solved: bool


def evaluate(item: Mapping[str, Any], rec: Mapping[str, Any]) -> Candidate:
    """The checker's verdict on one call record (pure; reads ``text`` and ``finish_reason``)."""
    fb = scorers.env_feedback(item, rec.get("text") or "", rec.get("finish_reason"))
    if fb is None:
        return Candidate(rec["key"], rec.get("text") or "", NO_FEEDBACK, 0, False)
    return Candidate(rec["key"], rec.get("text") or "", fb.feedback, fb.ok_steps, fb.solved)


def turn_caps(budget: int, candidates: int) -> tuple[int, int]:
    """``(author cap, critic cap)`` when ``budget`` pays for ``candidates`` candidate turns: each
    turn's share ``S = budget // candidates`` goes a quarter to the critic, the rest to the author
    (a fresh answer gets the author's cap)."""
    share = budget // candidates
    return share - share // 4, share // 4


def critic_messages(ctx: CallContext, shown: Sequence[Candidate],
                    history: list[dict[str, str]] | None) -> list[dict[str, str]]:
    """The critic's chat. In a running conversation (``history`` ends with its latest candidate, the
    one shown) a user turn with the checker's feedback and the critic instruction; a conversation
    that starts on candidates written elsewhere (``history`` None: evolve's parents) shows them with
    their feedback (reasoning blocks removed) in the first user turn."""
    if history is not None:
        return history + [{"role": "user", "content": feedback_request(shown[-1].feedback)}]
    msgs = ctx.user_messages()
    texts = [(ctx.assistant_turn(c.text)["content"], c.feedback) for c in shown]
    last = msgs[-1]["content"] + "\n\n" + candidates_text(texts) + "\n\n" + CRITIC_INSTRUCTION
    return msgs[:-1] + [{"role": "user", "content": last}]


async def critic_then_author(ctx: CallContext, item: Mapping[str, Any], shown: Sequence[Candidate], *,
                             history: list[dict[str, str]] | None, sample: int, round: int, parent: str | None,
                             caps: tuple[int, int], budget: Budget) -> tuple[Candidate, list[dict[str, str]]]:
    """One refinement turn of a conversation: a critic call (``round``) on the candidates ``shown``
    with their feedback, then an author call (``round + 1``, parent the critic) writing the new
    candidate. The conversation keeps its whole history (every earlier candidate, feedback and
    critique stays in the context, as the call tree's parents say); returns the new candidate and
    the history ending with it.

    Raises
    ------
    BudgetExhausted
        When ``budget`` cannot pay for one of the two calls.
    """
    author_cap, critic_cap = caps
    msgs = critic_messages(ctx, shown, history)
    [crit] = await ctx.call({"messages": msgs, "max_tokens": critic_cap}, role="critic", sample=sample,
                            round=round, parent=parent, budget=budget)
    msgs = msgs + [ctx.assistant_turn(crit["text"]), {"role": "user", "content": AUTHOR_INSTRUCTION}]
    [auth] = await ctx.call({"messages": msgs, "max_tokens": author_cap}, role="revise", sample=sample,
                            round=round + 1, parent=crit["key"], budget=budget)
    return evaluate(item, auth), msgs + [ctx.assistant_turn(auth["text"])]


def choose_final(calls: Sequence[Mapping[str, Any]], item: Mapping[str, Any], run_seed: int,
                 tag: str) -> tuple[Any, float, dict[str, Any]]:
    """The final answer among the candidate calls (pure): an accepted candidate (seeded pick among
    the accepted), else one with the highest fitness (seeded pick on ties); None without candidates."""
    cands = sorted((c for c in calls if c.get("role") in CANDIDATE_ROLES), key=lambda c: (c["sample"], c["round"]))
    if not cands:
        return None, 0.0, {"candidates": 0, "accepted": 0, "chosen": None, "fitness": None}
    evals = [evaluate(item, c) for c in cands]
    accepted = [i for i, e in enumerate(evals) if e.solved]
    if accepted:
        pool = accepted
    else:
        top = max(e.fitness for e in evals)
        pool = [i for i, e in enumerate(evals) if e.fitness == top]
    pick = pool[0] if len(pool) == 1 else pool[int(strategy_rng(run_seed, "\n".join(sorted(cands[i]["key"] for i in pool)),
                                                                f"{tag}:final").integers(len(pool)))]
    rec = cands[pick]
    answer = rec.get("extracted")
    meta = {"candidates": len(cands), "accepted": len(accepted), "chosen": rec["key"],
            "fitness": evals[pick].fitness, "solved": bool(evals[pick].solved)}
    return answer, credit_of(item, answer), meta


def int_option(name: str, opt: str, key: str, value: str, least: int) -> int:
    """An integer option ``key=value`` of strategy ``name``, at least ``least``, else a one-line error."""
    # plain ASCII digits without a leading zero, so one setting has one name ('\u0663' is not 3)
    if not re.fullmatch(r"[1-9][0-9]{0,5}|0", value) or int(value) < least:
        raise UserError(f"--strategy: {name!r}: {key} must be an integer >= {least} (the smallest valid value is "
                        f"{least}), in plain digits, got {opt!r}")
    return int(value)


def _min_budget(s: "RevisionFeedback") -> int:
    """Each of the K*R turns' shares must give its critic ``MIN_CALL_TOKENS``: ``4 * 16 * K * R``."""
    return 4 * MIN_CALL_TOKENS * s.threads * s.turns


@strategy("revision_feedback@K:R", kinds=("sequential",), roles=("answer", CRITIC_ROLE, "revise"),
          example="revision_feedback@4:4",
          params={"K": "independent threads, B/K tokens each (K >= 1)",
                  "R": "candidates per thread: a fresh answer, then R-1 critique-and-revise turns (R >= 2)"},
          summary="Sequential-Revision+: K threads of R turns (critic, then author) with the task's own feedback",
          min_budget=_min_budget)
@dataclass(frozen=True)
class RevisionFeedback(Strategy):
    """Sequential-Revision+: K independent threads of critique-and-revise turns with task feedback.

    Thread k (sample k) answers afresh (round 0, cap ``A``); then, until the task's gold-free checker
    accepts its latest candidate or R candidates are written, a critic call (odd round, cap ``C``)
    reads that candidate with the checker's feedback and an author call (the next round, cap ``A``)
    writes the revision. With ``S = B // (K * R)``, ``C = S // 4`` and ``A = S - C``; a thread never
    spends more than ``B // K``. The checker is :func:`depthbench.scorers.env_feedback` (the family's
    ``env_check``): grids simulate the moves, graphs look the edges up, programs recompute each value.
    Final answer: an accepted candidate (seeded pick among threads), else one with the most steps
    checking out (seeded pick on ties).

    Parameters
    ----------
    threads : int
        K >= 1.
    turns : int
        R >= 2 candidates per thread.

    References
    ----------
    Lee et al. 2025, "Evolving Deeper LLM Thinking", arXiv 2501.09891 (Sequential-Revision+: 10
    threads of 80 turns on TravelPlanner, 82.8% against Mind Evolution's 95.6%).
    """

    threads: int = 4
    turns: int = 4
    fewer_hint: ClassVar[str] = " or fewer threads or turns"
    needs: ClassVar[tuple[str, ...]] = ("new_text",)

    @classmethod
    def from_parts(cls, name, arg, opts):
        if arg is None or len(opts) != 1:
            raise bad_name(name, "needs revision_feedback@K:R, e.g. revision_feedback@4:4")
        k = int_option(name, arg, "K (threads)", arg, 1)
        r = int_option(name, opts[0], "R (candidates per thread)", opts[0], 2)
        return cls(threads=k, turns=r)

    @property
    def name(self) -> str:
        return f"revision_feedback@{self.threads}:{self.turns}"

    @property
    def kind(self) -> str:
        return "sequential"

    @property
    def needs_gold(self) -> bool:
        """The task's checker reads only the instance: deployable on a hidden split."""
        return False

    def allowance(self, budget: int) -> str:
        a, c = turn_caps(budget, self.threads * self.turns)
        return (f"gives each of {self.threads} threads {self.turns} turns of {a} tokens per candidate and {c} per "
                "critic call")

    def call_shape(self, budget):
        """Sample k < K: round 0 answer; odd rounds critic, even rounds >= 2 revise, both continuing
        the previous round; at most R candidates."""
        a, c = turn_caps(budget, self.threads * self.turns)
        last = 2 * self.turns - 2

        def slot(role: str, s: int, r: int) -> CallSlot | None:
            if s >= self.threads or r > last:
                return None
            if r == 0:
                return CallSlot("none", a) if role == "answer" else None
            if r % 2 == 1:
                return CallSlot("prev", c) if role == "critic" else None
            return CallSlot("prev", a) if role == "revise" else None
        return slot

    async def orchestrate(self, item, ctx):
        caps = turn_caps(ctx.budget.total, self.threads * self.turns)
        if min(caps) < 1:
            return
        share = ctx.budget.total // self.threads

        async def thread(k: int) -> None:
            b = Budget(share, parent=ctx.budget)
            try:
                [rec] = await ctx.call({"messages": ctx.user_messages(), "max_tokens": caps[0]}, role="answer",
                                       sample=k, budget=b)
                cand = evaluate(item, rec)
                history = ctx.user_messages() + [ctx.assistant_turn(rec["text"])]
                for t in range(1, self.turns):
                    if cand.solved:
                        return
                    cand, history = await critic_then_author(ctx, item, [cand], history=history, sample=k,
                                                             round=2 * t - 1, parent=cand.key, caps=caps, budget=b)
            except BudgetExhausted:
                return

        await asyncio.gather(*(thread(k) for k in range(self.threads)))

    def final_answer(self, calls, item, *, run_seed=0):
        return choose_final(calls, item, run_seed, "revision_feedback")
