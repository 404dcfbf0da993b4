"""Process reward models (PRMs) and what the tree-search strategies share.

A **process reward model** scores a partial chain step by step. The search strategies
(``beam@N:W``, ``mcts@N``, one module each beside this one) take one as the parameter ``prm=P``; the table :data:`PRMS`
(listed by ``depthbench strategies -v``) holds every option:

==================  ========  ====================================================================
``prm=``            gold      what scores a partial chain
==================  ========  ====================================================================
``oracle``          needs     right so far against the gold trace (the family's
                              ``trace_first_error``); an **upper bound**, not a method
``noisy:TPR,FPR``   needs     the oracle's verdict seen through a noisy channel: a right chain
                              scores 1 with probability TPR, a wrong one with FPR; the error
                              persists per chain (:func:`noisy_prm_draw`: one draw per chain,
                              keyed on its content, so the same text always gets the same score)
``env``             free      the task's own gold-free checks of the stated steps (the family's
                              ``env_check``: grid moves simulated, graph edges looked up,
                              arithmetic recomputed from the stated operands)
``self``            free      the model judges its own partial chain (a ``prm`` call, its tokens
                              charged to the item's budget)
``model:SPEC``      free      a second backend judges (``Strategy.aux_models``: slot ``prm``); its
                              tokens are charged to the same budget and reported separately
==================  ========  ====================================================================

A chain's score is the PRM's judgement of the whole prefix at its latest step (the *last
step* aggregation of Snell et al. 2024, arXiv 2408.03314, Sec. 5): 1.0 when every stated
step so far is right, else 0.0 (the judged PRMs: the verdict read from the judge's text,
:func:`~depthbench.baselines.strategies.best_of.judge_score`, 0.5 without one). A finished
chain (one that states its answer) is right only when its steps are complete and, for the
oracle, its answer is correct. Scores are re-derived from the logged texts, so ``score``
and the submission validator recompute them; nothing a record states is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from depthbench.baselines._budget import MIN_CALL_TOKENS, Budget, BudgetExhausted
from depthbench.baselines._context import CallContext, strategy_rng
from depthbench.baselines._roles import Role
from depthbench.baselines._stepwise import (
    STEP_DELIMITER,
    STEP_JOIN,
    STEP_ROLE,
    chain_finished,
    chain_text,
    step_messages,
)
from depthbench.baselines import backends  # the package only: its registry is loaded on first use
from depthbench.baselines.strategies._base import CallSlot, Strategy, bad_name, prob, tie_seed
from depthbench.baselines.strategies.best_of import judge_score
from depthbench.errors import UserError
from depthbench.scorers import family_of, stated_steps, trace_first_error, verify, weighted_best_of_n

__all__ = ["SearchStrategy", "PRM", "PRMS", "parse_prm", "STEP", "PRM_ROLE", "SEARCH_ROLES", "PRM_CALL_TOKENS", "PRM_INSTRUCTION",
           "search_final_answer", "prm_free_score", "noisy_prm_draw", "chain_root", "prm_judge", "split_prm", "search_call_shape",
           "search_tokens_by_model", "check_prm_items", "search_min_budget", "finished"]

#: the role of a step call: the next step(s) of its parent chain (its text may end the chain with an answer)
STEP = Role(STEP_ROLE, "the next reasoning step of its parent chain, continued in the same assistant turn "
                       "(stops at the next 'Step' line; an 'Answer:' ends the chain)", step=True)
#: the role of a judged PRM's call: its verdict on the partial chain ending at its parent
PRM_ROLE = Role("prm", "a process reward model's verdict on the partial chain ending at its parent step "
                       "(re-read from the text)", answers=False, scores=True)
SEARCH_ROLES = (STEP, PRM_ROLE)
#: tokens a judged PRM call may generate (it states a short check and 'Verdict: yes|no')
PRM_CALL_TOKENS = 32
PRM_INSTRUCTION = (
    "Above is a partial solution, written one step per line. Check its steps so far. Reply on the last line "
    "with exactly 'Verdict: yes' if every step so far is correct, or 'Verdict: no' if one is wrong."
)

#: the PRM options, ``name pattern -> (needs gold, what it is)`` (``depthbench strategies -v``)
PRMS: dict[str, tuple[bool, str]] = {
    "oracle": (True, "right so far against the gold trace (trace_first_error); an upper bound"),
    "noisy:TPR,FPR": (True, "the oracle's verdict seen with true/false positive rates TPR/FPR; its error persists "
                            "per chain (one draw per chain, keyed on the run seed, the item and the chain's first "
                            "step: the same text always gets the same score)"),
    "env": (False, "the task's own gold-free checks of the stated steps (the family's env_check)"),
    "self": (False, f"the model judges its own partial chain (a prm call of <= {PRM_CALL_TOKENS} tokens, charged)"),
    "model:SPEC": (False, f"a second backend judges (<= {PRM_CALL_TOKENS} tokens per call, charged to the same "
                          "budget and reported separately)"),
}
_VALID = "oracle, noisy:TPR,FPR, env, self or model:SPEC"


@dataclass(frozen=True)
class PRM:
    """One process reward model option (see the module docstring).

    Attributes
    ----------
    kind : str
        ``"oracle"``, ``"noisy"``, ``"env"``, ``"self"`` or ``"model"``.
    tpr, fpr : float
        The noisy PRM's true and false positive rates, in [0, 1].
    spec : str or None
        The judge's model spec (``model:SPEC``).
    """

    kind: str = "env"
    tpr: float = 1.0
    fpr: float = 0.0
    spec: str | None = None

    @property
    def name(self) -> str:
        """The canonical option text (``noisy:0.6,0.4``)."""
        if self.kind == "noisy":
            return f"noisy:{self.tpr:g},{self.fpr:g}"
        if self.kind == "model":
            return f"model:{self.spec}"
        return self.kind

    @property
    def needs_gold(self) -> bool:
        """The oracle and noisy PRMs read the gold trace (refused on hidden splits)."""
        return self.kind in ("oracle", "noisy")

    @property
    def judged(self) -> bool:
        """The PRM is a model call (``self``, ``model:SPEC``), charged to the budget."""
        return self.kind in ("self", "model")

    @property
    def slot(self) -> str | None:
        """The second model's slot (``model:SPEC``), else None (the run's model)."""
        return "prm" if self.kind == "model" else None


def parse_prm(text: str, name: str) -> PRM:
    """Read a ``prm=`` value; a one-line :func:`bad_name` error for an unknown or malformed one.

    Examples
    --------
    >>> parse_prm("noisy:0.6,0.4", "beam@8:2:prm=noisy:0.6,0.4").name
    'noisy:0.6,0.4'
    """
    head, _, rest = text.partition(":")
    if head in ("oracle", "env", "self") and not rest:
        return PRM(kind=head)
    if head == "noisy":
        parts = rest.split(",")
        if len(parts) != 2:
            raise bad_name(name, "prm=noisy needs true and false positive rates, e.g. prm=noisy:0.9,0.1")
        return PRM(kind="noisy", tpr=prob(parts[0], name, "prm=noisy:TPR,FPR: TPR (true positive rate)"),
                   fpr=prob(parts[1], name, "prm=noisy:TPR,FPR: FPR (false positive rate)"))
    if head == "model":
        if not rest:
            raise bad_name(name, "prm=model needs a model spec, e.g. prm=model:simulated:eps=0.01")
        try:
            backends.check_model_spec(rest)
        except UserError as e:
            raise bad_name(name, f"prm=model:{rest}: {str(e).splitlines()[0]}") from None
        return PRM(kind="model", spec=rest)
    raise bad_name(name, f"prm={text!r} is not a process reward model; use prm= one of {_VALID}")


def split_prm(name: str, opts: Sequence[str]) -> tuple[list[str], PRM | None]:
    """``(options before prm=, the PRM or None)``: ``prm=`` is the last option and keeps its colons."""
    for i, o in enumerate(opts):
        if o.startswith("prm="):
            return list(opts[:i]), parse_prm(":".join([o[4:], *opts[i + 1:]]), name)
    return list(opts), None


# ----------------------------------------------------------------------------------
# scoring a chain
# ----------------------------------------------------------------------------------
#: oracle verdicts already computed, by (item id, content hash, chain, finished, answer): the search
#: scores a chain when it grows it and again when it reduces the finished ones (bounded; cleared when full)
_ORACLE_MEMO: dict[tuple[Any, ...], bool] = {}


def _oracle_ok(item: Mapping[str, Any], chain: str, finished: bool, answer: Any) -> bool:
    key = (item.get("id"), (item.get("meta") or {}).get("content_sha256"), chain, finished, repr(answer))
    hit = _ORACLE_MEMO.get(key)
    if hit is None:
        if len(_ORACLE_MEMO) >= 8192:
            _ORACLE_MEMO.clear()
        hit = _ORACLE_MEMO[key] = _oracle_verdict(item, chain, finished, answer)
    return hit


def _oracle_verdict(item: Mapping[str, Any], chain: str, finished: bool, answer: Any) -> bool:
    steps = stated_steps(item, chain)
    first = trace_first_error(item, steps)
    if finished:
        return first is None and (answer is None or verify(item, answer))
    return first is None or first >= len(steps)


def _no_env(fam: Any, name: str) -> UserError:
    return UserError(f"--strategy {name}: prm=env needs the family's gold-free env_check, which family {fam.name!r} "
                     "lacks; use prm=self, prm=model:SPEC or (an upper bound) prm=oracle")


def check_prm_items(prm: PRM, items: Sequence[Mapping[str, Any]], name: str) -> None:
    """Refuse ``prm=env`` before a run when an item's family has no ``env_check``."""
    if prm.kind != "env":
        return
    for fam in {id(f): f for f in (family_of(it) for it in items)}.values():
        if fam.env_check is None:
            raise _no_env(fam, name)


def _env_ok(item: Mapping[str, Any], chain: str, finished: bool, answer: Any) -> bool:
    """Every stated step passes the family's ``env_check``; a finished chain must also end solved
    with the answer its steps reach (``env_solved``, when the family has it). Gold-free."""
    fam = family_of(item)
    if fam.env_check is None:
        raise _no_env(fam, "prm=env")
    steps = stated_steps(item, chain)
    if not all(c.ok for c in fam.env_check(item, steps)):
        return False
    if finished and fam.env_solved is not None:
        return fam.env_solved(item, steps, answer) is True
    return True


def prm_free_score(prm: PRM, item: Mapping[str, Any], rec: Mapping[str, Any], chain: str, *,
                   run_seed: int = 0) -> float:
    """The score of a PRM that makes no call (``oracle``, ``noisy``, ``env``) of the chain ending at ``rec``.

    Parameters
    ----------
    prm : PRM
    item : mapping
    rec : mapping
        The call record ending the chain (its ``extracted`` answer marks a finished chain).
    chain : str
        The chain's text (:func:`~depthbench.baselines._stepwise.chain_text`).
    run_seed : int
        The run's ``--seed``.

    Returns
    -------
    float
        1.0 or 0.0.
    """
    finished = rec.get("extracted") is not None
    if prm.kind == "env":
        return 1.0 if _env_ok(item, chain, finished, rec.get("extracted")) else 0.0
    ok = _oracle_ok(item, chain, finished, rec.get("extracted"))
    if prm.kind == "oracle":
        return 1.0 if ok else 0.0
    return 1.0 if noisy_prm_draw(item, chain, run_seed) < (prm.tpr if ok else prm.fpr) else 0.0


def chain_root(chain: str) -> str:
    """The text of a chain's first step: everything before the second ``Step`` line
    (:data:`~depthbench.baselines._stepwise.STEP_DELIMITER`), stripped. A chain that a search grew
    step by step and one written whole share it when their first steps are the same text."""
    return chain.strip().split(STEP_DELIMITER, 1)[0].strip()


def noisy_prm_draw(item: Mapping[str, Any], chain: str, run_seed: int = 0) -> float:
    """The noisy PRM's latent draw ``u`` in [0, 1) for ``chain``: one per chain, persistent.

    ``prm=noisy:TPR,FPR`` scores a prefix 1.0 when ``u < TPR`` (the prefix is right so far) or
    ``u < FPR`` (it is wrong), so over chains ``P(1 | right) = TPR`` and ``P(1 | wrong) = FPR``.
    ``u`` is drawn once per chain, keyed on the run seed, the item (id and content hash) and the
    chain's first step (:func:`chain_root`), never on a call key or the backend's seed. So the
    same text always gets the same score, whoever asks (beam, MCTS, ``weighted_best_of``, the
    validator), and the PRM's error persists along the chain: a chain it over- or under-rates it
    keeps rating so at every later step (every continuation of one first step shares ``u``),
    and only the chain's correctness can change its verdict (so among the continuations of one
    first step it never ranks a wrong one above a right one). A search that re-scores a chain at
    every step therefore gets no fresh look at it -- the model of a real PRM, a deterministic
    function of the text whose errors are correlated along a chain, not of a channel that
    re-draws per call (which lets beam search average many independent looks).

    Parameters
    ----------
    item : mapping
        The dataset item (``id``, ``meta.content_sha256``).
    chain : str
        The chain's text (any prefix of it gives the same draw).
    run_seed : int
        The run's ``--seed``.

    Returns
    -------
    float
        ``u`` in [0, 1).
    """
    key = "\n".join((str(item.get("id")), str((item.get("meta") or {}).get("content_sha256")), chain_root(chain)))
    return float(strategy_rng(run_seed, key, "prm-noisy").random())


async def prm_judge(ctx: CallContext, prm: PRM, rec: Mapping[str, Any], chain: str, *,
                    budget: Budget | None = None) -> float:
    """A judged PRM's call on the chain ending at step call ``rec``; returns its score.

    The call (role ``prm``, sample of ``rec``, round ``rec.round + 1``, parent and target
    ``rec``) sees the step prompt, the chain as an earlier assistant turn (reasoning blocks
    removed, :meth:`CallContext.assistant_turn`) and :data:`PRM_INSTRUCTION`; it may generate
    :data:`PRM_CALL_TOKENS`. Raises ``BudgetExhausted`` when too little is left.
    """
    msgs = step_messages(ctx.item) + [ctx.assistant_turn(chain), {"role": "user", "content": PRM_INSTRUCTION}]
    [j] = await ctx.call({"messages": msgs, "max_tokens": PRM_CALL_TOKENS}, role=PRM_ROLE.name,
                         sample=int(rec["sample"]), round=int(rec["round"]) + 1, parent=rec["key"], budget=budget,
                         judge=judge_score, target=rec["key"], model=prm.slot)
    return float(judge_score(j.get("text") or ""))


def chain_scores(prm: PRM, calls: Sequence[Mapping[str, Any]], item: Mapping[str, Any], *,
                 run_seed: int = 0) -> dict[str, float]:
    """The PRM score of every step call's chain, by key (pure: judged scores re-read from the texts)."""
    by_key = {c["key"]: c for c in calls}
    memo: dict[str, str] = {}
    out: dict[str, float] = {}
    if prm.judged:
        judged = {c.get("target"): judge_score(c.get("text") or "") for c in calls if c.get("role") == PRM_ROLE.name}
        for c in calls:
            if c.get("role") == STEP_ROLE:
                out[c["key"]] = float(judged.get(c["key"], 0.0))
        return out
    for c in calls:
        if c.get("role") == STEP_ROLE:
            out[c["key"]] = prm_free_score(prm, item, c, chain_text(c["key"], by_key, memo), run_seed=run_seed)
    return out


def search_final_answer(prm: PRM, calls: Sequence[Mapping[str, Any]], item: Mapping[str, Any], *,
                        run_seed: int = 0, tag: str = "search") -> tuple[Any, float, dict[str, Any]]:
    """Weighted best-of-N over the finished chains (each step call that states an answer).

    Each finished chain votes for its answer with its PRM score; the answer with the largest
    sum wins (:func:`depthbench.scorers.weighted_best_of_n`, Snell et al. 2024's final
    selection; ties share credit, a seeded pick reports one). Pure: everything is re-derived
    from the records' texts.
    """
    steps = sorted((c for c in calls if c.get("role") == STEP_ROLE), key=lambda c: (c["round"], c["sample"]))
    done = [c for c in steps if c.get("extracted") is not None]
    sc = chain_scores(prm, calls, item, run_seed=run_seed) if done else {}
    res = weighted_best_of_n([c.get("extracted") for c in done], [sc[c["key"]] for c in done],
                             seed=tie_seed(done, tag, run_seed), item=item)
    chosen = done[res.index]["key"] if done and res.index is not None else None
    meta = {**res.to_meta(), "finished": len(done), "steps": 1 + max((c["round"] for c in steps), default=-1),
            "step_calls": len(steps), "scores": [sc[c["key"]] for c in done], "chosen": chosen,
            "prm": prm.name, "upper_bound": prm.needs_gold, **search_tokens_by_model(calls)}
    return res.answer, float(res.credit), meta


def search_tokens_by_model(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Generated tokens of the PRM's calls (``prm_tokens``; G includes them) and, for a second
    model, its name (``prm_model``)."""
    prm_calls = [c for c in calls if c.get("role") == PRM_ROLE.name]
    out: dict[str, Any] = {"prm_tokens": sum(int((c.get("usage") or {}).get("completion_tokens", 0)) for c in prm_calls)}
    models = sorted({str(c.get("model")) for c in prm_calls if c.get("model")})
    if models:
        out["prm_model"] = models[0] if len(models) == 1 else models
    return out


def search_call_shape(cap: int, prm: PRM):
    """The calls a search makes: step calls of at most ``cap`` tokens whose parent is any earlier
    step (not checked by sample), and judged PRM calls continuing their step's round."""
    def slot(role: str, s: int, r: int) -> CallSlot | None:
        if role == STEP_ROLE:
            return CallSlot(None, cap)
        if role == PRM_ROLE.name and prm.judged and r >= 1:
            return CallSlot(None, PRM_CALL_TOKENS)
        return None
    return slot


def search_min_budget(n: int, prm: PRM) -> int:
    """One expansion per beam (``MIN_CALL_TOKENS`` each), plus its judged PRM call."""
    return n * (MIN_CALL_TOKENS + (PRM_CALL_TOKENS if prm.judged else 0))


def finished(rec: Mapping[str, Any]) -> bool:
    """See :func:`~depthbench.baselines._stepwise.chain_finished`."""
    return chain_finished(rec)


# ----------------------------------------------------------------------------------
# the base of the search strategies
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchStrategy(Strategy):
    """What ``beam`` and ``mcts`` share: a PRM parameter, step calls, a tree of calls.

    Subclasses have ``n`` (each step call is capped at B/n) and implement ``name``,
    ``from_parts`` and ``orchestrate``; the final answer is :func:`search_final_answer`.
    """

    prm: PRM = field(default_factory=PRM)
    #: a kept chain's children take other samples' slots: the validator checks parents by round
    branching: ClassVar[bool] = True
    #: the tie-break tag of the final reduction
    tag: ClassVar[str] = "search"

    @property
    def kind(self) -> str:
        return "search"

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        """Step calls (a continuing backend, or replay of recorded steps); new text for a judged PRM."""
        return ("steps", "new_text") if self.prm.judged else ("steps",)

    @property
    def needs_gold(self) -> bool:
        """The oracle and noisy PRMs read the gold trace."""
        return self.prm.needs_gold

    def gold_free_hint(self) -> str:
        """What to use instead when a hidden split refuses a gold-reading PRM."""
        head = self.name[: -len(f"prm={self.prm.name}")]
        return f"prm={self.prm.name} reads the gold trace; use {head}prm=env (gold-free) or prm=self"

    def check_items(self, items):
        check_prm_items(self.prm, items, self.name)

    def allowance(self, budget: int) -> str:
        return f"gives each step call {budget // self.n} tokens (B/N)" + (  # type: ignore[attr-defined]
            f" and its PRM call {PRM_CALL_TOKENS}" if self.prm.judged else "")

    def aux_models(self) -> dict[str, str]:
        return {"prm": self.prm.spec} if self.prm.kind == "model" and self.prm.spec else {}

    def call_shape(self, budget):
        return search_call_shape(budget // self.n, self.prm)  # type: ignore[attr-defined]

    def forced_text(self, call, chain):
        """The newline re-opening the step line before every step that continues a parent."""
        return (STEP_JOIN if call.get("role") == STEP_ROLE and call.get("parent") is not None else ""), None

    def call_score(self, role, text):
        """A judged PRM's verdict, re-read from its text (:func:`~depthbench.baselines.strategies.best_of.judge_score`)."""
        return float(judge_score(text)) if self.prm.judged and role == PRM_ROLE.name else None

    async def value(self, item, ctx, rec, chain: str) -> float:
        """The PRM's score of the chain ending at step call ``rec`` (a judged PRM makes its call;
        0 when the budget has no room for it)."""
        if not self.prm.judged:
            return prm_free_score(self.prm, item, rec, chain, run_seed=ctx.run_seed)
        try:
            return await prm_judge(ctx, self.prm, rec, chain)
        except BudgetExhausted:
            return 0.0

    def final_answer(self, calls, item, *, run_seed=0):
        return search_final_answer(self.prm, calls, item, run_seed=run_seed, tag=self.tag)
