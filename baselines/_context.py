"""The call context of one (item, strategy, budget): every model call goes through it.

:meth:`CallContext.call` is the only way a strategy talks to a model. For each call it

1. builds the call keys ``"<item_id>|<strategy>|<budget>|s<sample>|r<round>|<role>"``
   (one per choice; a request with ``n > 1`` covers samples ``sample .. sample+n-1``);
2. serves every key already in the run log from the log (resume: nothing is redone and
   nothing is logged twice), charging its logged tokens to the budget;
3. for the missing keys, derives one seed per sample from (run seed, item id, sample,
   round, role) — a hash fed to :class:`numpy.random.SeedSequence`, never ``seed + i`` —
   reserves the worst case in the :class:`~depthbench.baselines._budget.Budget` (which
   cuts ``max_tokens`` to what is left), calls the model (or a second model the strategy
   declared, ``model=slot``), extracts the answer with the item's family's rules
   (:func:`depthbench.scorers.extract_answer`) and verifies it
   (:func:`depthbench.scorers.verify`) when the call's role carries an answer
   (:mod:`depthbench.baselines._roles`), appends one call record per choice to the log,
   and settles the budget.

Token counts a backend reports (a server's ``usage``, its ``/tokenize``, a replay file's
counts) are not trusted: each choice's count is bounded below by
:func:`~depthbench.baselines.backends._tokenizer.least_tokens` of its text, the same floor the
submission validator applies (:func:`bound_reported`). A count under the floor is raised to
it (or to the backend's local tokenizer's count, when it has one and that is higher), the
call record keeps the reported count in ``usage.reported_completion_tokens`` and the rule in
``usage.count_corrected``, and one warning per run says so; a corrected count over the
call's ``max_tokens`` is a reply cut at the budget (text cut conservatively, finish reason
``length``), so nothing past the budget is credited. The reported prompt count (processed
tokens, P) is bounded the same way by the floor of the text the request sent
(:meth:`~depthbench.baselines._protocol.Request.sent_text`, :func:`bound_prompt`): raised,
with the reported value in ``usage.reported_prompt_tokens`` and the rule in
``usage.prompt_count_corrected``, and its own one warning per run. Backends that count in
process with the model's own tokenizer or rule (``counts_locally = True``: llamacpp,
simulated) are not bounded.

The seed deliberately leaves out the strategy and the budget: sample ``s`` of
``majority@8`` and the chain of ``single`` start from the same seed (common random
numbers), which makes paired comparisons between strategies less noisy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from depthbench._lazy import lazy
from depthbench.baselines._budget import Budget, BudgetExceededError, forced_token_estimate
from depthbench.baselines._counts import call_counts, outcome_diversity
from depthbench.baselines._protocol import Choice, Model, Request
from depthbench.baselines._roles import get_role
from depthbench.baselines.backends._continuation import chain_text, inside_thinking, strip_reasoning
from depthbench.baselines.backends._tokenizer import cut_to_budget, least_tokens
from depthbench.scorers import extract_answer, verify

np = lazy("numpy")

__all__ = ["CallContext", "derive_seed", "strategy_rng", "call_key", "bound_reported", "bound_prompt"]


def derive_seed(run_seed: int, item_id: str, sample: int, round: int = 0, role: str = "answer") -> int:
    """The seed sent for one choice: a hash of its coordinates through ``SeedSequence``.

    Returns a non-negative 31-bit integer (accepted by every server we know).

    Examples
    --------
    >>> derive_seed(0, "gc-1", 0) == derive_seed(0, "gc-1", 0)
    True
    >>> derive_seed(0, "gc-1", 0) != derive_seed(0, "gc-1", 1)
    True
    """
    tag = f"depthbench/sample-seed/v1|{int(run_seed)}|{item_id}|{int(sample)}|{int(round)}|{role}"
    entropy = int.from_bytes(hashlib.sha256(tag.encode("utf-8")).digest()[:16], "big")
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def strategy_rng(run_seed: int, key: str, purpose: str) -> np.random.Generator:
    """The random stream of one decision a strategy makes (noisy verifier draw, tie break).

    Seeded from the run seed and the call's key (or a canonical join of the keys the
    decision depends on) and a purpose tag -- never from the seed a backend reports,
    which may be null (replay) or shared, so every decision gets its own stream and the
    same run gives the same decisions on every backend and on re-scoring.

    Parameters
    ----------
    run_seed : int
        The run's ``--seed`` (``run.json`` ``config.seed``; a submission's ``sampling.seed``).
    key : str
        The call key (``call_key``) or the joined keys of the calls involved.
    purpose : str
        What is decided, e.g. ``"noisy-verifier"``, ``"tie:majority"``.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> a = strategy_rng(0, "gc/1|best_of@4:noisy:0.9,0.1|64|s0|r0|answer", "noisy-verifier").random()
    >>> b = strategy_rng(0, "gc/1|best_of@4:noisy:0.9,0.1|64|s1|r0|answer", "noisy-verifier").random()
    >>> a != b
    True
    """
    tag = f"depthbench/strategy-rng/v1|{int(run_seed)}|{purpose}|{key}"
    entropy = int.from_bytes(hashlib.sha256(tag.encode("utf-8")).digest(), "big")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def call_key(item_id: str, strategy: str, budget: int, sample: int, round: int, role: str) -> str:
    """The unique key of one logged choice (see ARCHITECTURE.md, call record)."""
    return f"{item_id}|{strategy}|{int(budget)}|s{int(sample)}|r{int(round)}|{role}"


def _extract(item: Mapping[str, Any], text: str, finish_reason: str | None, *, reasoning_end: int | None = None,
             think_open: bool = False) -> tuple[Any, str, bool]:
    ex = extract_answer(item, text, finish_reason=finish_reason, reasoning_end=reasoning_end, think_open=think_open)
    answer = ex.answer
    correct = bool(answer is not None and verify(item, answer))
    return answer, ex.parse_status, correct


log = logging.getLogger("depthbench.baselines")
#: backends already warned about corrected counts, by kind ("completion", "prompt"): one warning per run
_WARNED: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()


def _raised_count(text: str, reported: int,
                  tokenizer: Callable[[str], int] | None) -> tuple[int, str] | None:
    """The count ``text`` must at least have when ``reported`` is under its floor, else None.

    Returns ``(tokens, rule)``: the pre-token floor (:func:`least_tokens`), or the local
    tokenizer's count when there is one and it gives more (rule ``"tokenizer"``).
    """
    floor = least_tokens(text)
    if floor <= reported:
        return None
    if tokenizer is not None:
        n = int(tokenizer(text))
        if n > floor:
            return n, "tokenizer"
    return floor, "pre-token floor"


def bound_reported(choice: Choice, max_tokens: int,
                   tokenizer: Callable[[str], int] | None = None) -> tuple[Choice, dict[str, Any] | None]:
    """``choice`` with its reported token count bounded below (see the module docstring).

    Parameters
    ----------
    choice : Choice
        As the backend returned it.
    max_tokens : int
        The call's cap (tokens).
    tokenizer : callable, optional
        The backend's local tokenizer (``text -> tokens``), used for a corrected count
        when it gives more than the floor.

    Returns
    -------
    (Choice, dict or None)
        The choice to log (unchanged when its count is at least the floor) and, when
        corrected, ``{"reported_completion_tokens": int, "count_corrected": "pre-token floor" |
        "tokenizer"}``.
    """
    text, reported = choice.text, int(choice.completion_tokens)
    raised = _raised_count(text, reported, tokenizer)
    if raised is None:
        return choice, None
    corrected, rule = raised
    finish = choice.finish_reason
    if corrected > max_tokens:
        text = cut_to_budget(text, corrected, max_tokens, tokenizer)
        corrected, finish = max_tokens, "length"
    return (dataclasses.replace(choice, text=text, completion_tokens=corrected, finish_reason=finish),
            {"reported_completion_tokens": reported, "count_corrected": rule})


def bound_prompt(request: Request, reported: int,
                 tokenizer: Callable[[str], int] | None = None) -> tuple[int, dict[str, Any] | None]:
    """A reported prompt count bounded below by the text the request sent.

    The floor is :func:`~depthbench.baselines.backends._tokenizer.least_tokens` of
    :meth:`Request.sent_text() <depthbench.baselines._protocol.Request.sent_text>` (the
    messages' contents and assistant prefix, or the raw prompt). A chat template only adds
    tokens around those contents (role markers, turn delimiters), so the floor of the
    contents alone stays a valid lower bound on the tokens the server processed.

    Parameters
    ----------
    request : Request
        The request as sent.
    reported : int
        The backend's prompt count (tokens): ``usage.prompt_tokens``, its ``/tokenize``,
        a replay file's ``prompt_tokens``.
    tokenizer : callable, optional
        The backend's local tokenizer (``text -> tokens``), used for the corrected count
        when it gives more than the floor.

    Returns
    -------
    (int, dict or None)
        The count to log (``reported`` when it is at least the floor) and, when corrected,
        ``{"reported_prompt_tokens": int, "prompt_count_corrected": "pre-token floor" |
        "tokenizer"}``.

    Examples
    --------
    >>> req = Request(max_tokens=8, temperature=0.0, top_p=1.0, seeds=(0,),
    ...               messages=({"role": "user", "content": "word " * 1000},))
    >>> bound_prompt(req, 1)
    (798, {'reported_prompt_tokens': 1, 'prompt_count_corrected': 'pre-token floor'})
    >>> bound_prompt(req, 1200)
    (1200, None)
    """
    reported = int(reported)
    raised = _raised_count(request.sent_text(), reported, tokenizer)
    if raised is None:
        return reported, None
    corrected, rule = raised
    return corrected, {"reported_prompt_tokens": reported, "prompt_count_corrected": rule}


class CallContext:
    """Everything one strategy run on one item at one budget needs.

    Parameters
    ----------
    item : dict
        The dataset item.
    strategy : str
        Canonical strategy name (part of every key).
    budget : int
        The per-item budget B.
    model : Model
        The backend.
    models : mapping, optional
        Second models the strategy declared (:meth:`Strategy.aux_models`), by slot.
    run_seed : int
        The run's ``--seed``.
    temperature, top_p : float
        Sampling parameters sent with every call unless a call overrides them.
    cache : mapping, optional
        Call records already in the log, by key (resume).
    sink : callable, optional
        Receives each new call record (the runner appends it to ``calls.jsonl``).
    on_call : callable, optional
        Called with each new record after logging (progress bars).

    Attributes
    ----------
    budget : Budget
        The item's budget; strategies split it or draw from it.
    records : list of dict
        The call records of this run in call order (from the log or new).
    """

    def __init__(self, item: Mapping[str, Any], strategy: str, budget: int, model: Model, *,
                 models: Mapping[str, Model] | None = None, run_seed: int = 0, temperature: float = 0.7, top_p: float = 1.0,
                 cache: Mapping[str, dict[str, Any]] | None = None,
                 sink: Callable[[dict[str, Any]], None] | None = None,
                 on_call: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.item = item
        self.strategy = strategy
        self.budget_tokens = int(budget)
        self.budget = Budget(int(budget))
        self.model = model
        self.models: dict[str, Model] = dict(models or {})
        self.run_seed = int(run_seed)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self._cache = cache if cache is not None else {}
        self._sink = sink
        self._on_call = on_call
        self.records: list[dict[str, Any]] = []
        self.served_from_log = 0

    # ------------------------------------------------------------------------------
    def key(self, sample: int, round: int, role: str) -> str:
        """The call key for this item, strategy and budget."""
        return call_key(self.item["id"], self.strategy, self.budget_tokens, sample, round, role)

    def seed(self, sample: int, round: int = 0, role: str = "answer") -> int:
        """The seed of one choice (see :func:`derive_seed`)."""
        return derive_seed(self.run_seed, self.item["id"], sample, round, role)

    @property
    def capabilities(self):
        """The backend's :class:`~depthbench.baselines._protocol.Capabilities`."""
        return self.model.capabilities

    @property
    def think(self):
        """The backend's reasoning delimiters (:class:`~depthbench.baselines.backends._continuation.Think`) or None."""
        return getattr(self.model, "think", None)

    def inside_thinking(self, text: str) -> bool:
        """Whether the assistant's text so far ends inside an open reasoning block."""
        t = self.think
        return inside_thinking(text, t, bool(t is not None and t.in_prompt))

    def assistant_turn(self, text: str) -> dict[str, str]:
        """An earlier attempt as an assistant message of a multi-turn context (revision,
        judging): its reasoning blocks removed, as reasoning models' templates and APIs
        expect of past turns, identically on every backend."""
        t = self.think
        return {"role": "assistant", "content": strip_reasoning(text, t, bool(t is not None and t.in_prompt))}

    def user_messages(self) -> list[dict[str, str]]:
        """The item's prompt as a one-turn chat."""
        return [{"role": "user", "content": self.item["prompt"]}]

    # ------------------------------------------------------------------------------
    async def call(self, request: Mapping[str, Any], *, role: str = "answer", sample: int = 0, round: int = 0,
                   parent: str | None = None, budget: Budget | None = None, forced: str = "",
                   extract_prefix: str = "", min_tokens: int = 1,
                   judge: Callable[[str], float] | None = None, target: str | None = None,
                   model: str | None = None) -> list[dict[str, Any]]:
        """Make (or replay from the log) one request; return one call record per choice.

        Parameters
        ----------
        request : mapping
            ``messages`` or ``prompt``, optional ``assistant_prefix``, ``max_tokens``
            (``None`` or missing: all that is left), ``stop``, ``n``, ``temperature``,
            ``top_p``.
        role : str
            A registered role (:func:`depthbench.baselines._roles.roles`).
        sample, round : int
            Coordinates of the first choice; choice ``i`` gets sample ``sample + i``.
        parent : str, optional
            Key of the call whose output this call consumes (the call tree).
        budget : Budget, optional
            Budget to draw from (a chain's share); default the item's budget.
        forced : str
            Harness-inserted text preceding this generation (``"\\nWait,"``,
            ``"\\nAnswer:"``); charged as generated tokens.
        extract_prefix : str
            Text the answer is extracted from together with the generated text (the
            transcript so far for a continuation), joined by
            :func:`~depthbench.baselines.backends._continuation.chain_text` (a reply in a
            new user turn is read on its own).
        min_tokens : int
            Smallest useful ``max_tokens``; fewer left raises
            :class:`~depthbench.baselines._budget.BudgetExhausted`.
        judge : callable, optional
            For ``judge``/``verify`` roles: maps the generated text to a score, logged
            as ``score`` with ``target``.
        target : str, optional
            Key of the call being judged.
        model : str, optional
            Slot of a second model (:meth:`Strategy.aux_models`); default the run's model.
            Its tokens are charged to the same budget; the record's ``model`` names it.

        Raises
        ------
        BudgetExhausted
            Fewer than ``min_tokens`` are left.
        BudgetExceededError
            The backend returned more tokens than allowed.
        """
        role_info = get_role(role)
        backend = self.model if model is None else self.models[model]
        b = budget if budget is not None else self.budget
        n = int(request.get("n", 1))
        keys = [self.key(sample + i, round, role) for i in range(n)]
        out: list[dict[str, Any] | None] = [self._cache.get(k) for k in keys]
        self._serve_logged(b, out)
        missing = [i for i, rec in enumerate(out) if rec is None]
        if not missing:
            return [r for r in out if r is not None]
        # forced tokens are charged once per request (on its first new choice)
        forced_tokens = forced_token_estimate(forced)
        if any(out[i] is not None and out[i]["usage"].get("forced_tokens") for i in range(n)):
            forced_tokens = 0
        res = b.reserve(max_tokens=request.get("max_tokens"), n=len(missing), forced_tokens=forced_tokens,
                        min_tokens=min_tokens)
        seeds = tuple(self.seed(sample + i, round, role) for i in missing)
        try:
            req = self._request(request, res.max_tokens, seeds, tuple(sample + i for i in missing), role, round)
            resp = await backend.generate(req)
        except BaseException:
            res.cancel()
            raise
        fixes: list[dict[str, Any] | None] = [None] * len(resp.choices)
        prompt_fix: dict[str, Any] | None = None
        if not getattr(backend, "counts_locally", False):
            tok = getattr(backend, "tokenizer", None)
            tok = tok if callable(tok) else None
            bounded = [bound_reported(ch, req.max_tokens, tok) for ch in resp.choices]
            fixes = [f for _, f in bounded]
            if any(fixes):
                resp = dataclasses.replace(resp, choices=tuple(ch for ch, _ in bounded))
                self._warn_corrected(backend, "completion", next(f for f in fixes if f is not None))
            pt, prompt_fix = bound_prompt(req, resp.prompt_tokens, tok)
            if prompt_fix is not None:
                resp = dataclasses.replace(resp, prompt_tokens=pt)
                self._warn_corrected(backend, "prompt", prompt_fix)
        where = dict(round=round, role=role, parent=parent, request=req.to_log(),
                     prefixed=request.get("assistant_prefix") is not None, chained=role_info.chained)
        new: list[dict[str, Any]] = []
        for j, (i, ch) in enumerate(zip(missing, resp.choices)):
            first = j == 0
            rec = self._record(keys[i], sample + i, where, backend, resp, ch,
                               seed=ch.seed if ch.seed is not None else (seeds[j] if backend.capabilities.seed else None),
                               forced=forced if first else "", forced_tokens=forced_tokens if first else 0)
            if fixes[j] is not None:
                rec["usage"].update(fixes[j])
            if prompt_fix is not None:
                rec["usage"].update(prompt_fix)
            if role_info.answers:
                # the chain so far and this call's text, by the one chaining rule (a reply in a new
                # user turn restarts it); a harness-forced "Answer:" ends the reasoning: what follows
                # it is the answer
                text = chain_text(extract_prefix, rec)
                own = len(rec["forced"]) + len(ch.text)
                ans, status, ok = _extract(self.item, text, ch.finish_reason,
                                           reasoning_end=len(text) - own if role_info.ends_reasoning else None,
                                           think_open=bool(rec.get("think_open")))
                rec.update(extracted=ans, parse_status=status, correct=ok)
            else:
                rec.update(extracted=None, parse_status="ok", correct=None,
                           score=float(judge(ch.text)) if judge is not None else None, target=target)
            new.append(rec)
            out[i] = rec
        if len(resp.choices) == len(missing):
            for rec in new:
                self._log(rec)
        # settle after logging: tokens spent are on record even if the cap was broken
        res.settle([int(ch.completion_tokens) for ch in resp.choices], [int(resp.prompt_tokens)] * len(resp.choices))
        return [r for r in out if r is not None]

    def _serve_logged(self, b: Budget, out: list[dict[str, Any] | None]) -> None:
        """Replay the choices the log already holds, in order, through the same budget checks."""
        for rec in out:
            if rec is None:
                continue
            usage = rec["usage"]
            res = b.reserve(max_tokens=rec["request"]["max_tokens"], n=1,
                            forced_tokens=int(usage.get("forced_tokens", 0)), min_tokens=1)
            self.records.append(rec)
            self.served_from_log += 1
            res.settle([int(usage["completion_tokens"])], [int(usage["prompt_tokens"])])

    def _request(self, request: Mapping[str, Any], max_tokens: int, seeds: tuple[int, ...],
                 samples: tuple[int, ...], role: str, round: int = 0) -> Request:
        """The backend request for the missing choices (sampling parameters always explicit)."""
        msgs = request.get("messages")
        return Request(
            max_tokens=max_tokens,
            temperature=float(request.get("temperature", self.temperature)),
            top_p=float(request.get("top_p", self.top_p)),
            seeds=seeds,
            messages=tuple(dict(m) for m in msgs) if msgs is not None else None,
            prompt=request.get("prompt"),
            assistant_prefix=request.get("assistant_prefix"),
            stop=tuple(request.get("stop", ())),
            n=len(seeds),
            item=self.item,
            samples=samples,
            role=role,
            round=int(round),
        )

    def _record(self, key: str, sample: int, where: Mapping[str, Any], backend: Model, resp: Any, ch: Any, *,
                seed: int | None, forced: str, forced_tokens: int) -> dict[str, Any]:
        """One call record (ARCHITECTURE.md, call record), before extraction."""
        rec = {
            "key": key,
            "item_id": self.item["id"],
            "task": self.item.get("task"),
            "depth": self.item.get("depth"),
            "strategy": self.strategy,
            "budget": self.budget_tokens,
            "sample": sample,
            "round": where["round"],
            "role": where["role"],
            "parent": where["parent"],
            "request": where["request"],
            "seed": seed,
            "text": ch.text,
            "finish_reason": ch.finish_reason,
            "usage": {
                "prompt_tokens": int(resp.prompt_tokens),
                "completion_tokens": int(ch.completion_tokens),
                "prompt_source": resp.prompt_token_source,
                "completion_source": ch.token_source,
                "forced_tokens": forced_tokens,
            },
            "forced": forced,
            "latency_s": round_float(resp.latency_s),
            "attempts": int(resp.attempts),
            "model": resp.model or getattr(backend, "name", ""),
        }
        _note_continuation(rec, where, backend.capabilities)
        if ch.reasoning_field:
            rec["reasoning_field"] = ch.reasoning_field
        if ch.reasoning_tokens is not None:
            rec["usage"]["reasoning_tokens"] = int(ch.reasoning_tokens)
        if getattr(backend, "opens_think", False):  # the chat template opens <think> in the prompt
            rec["think_open"] = True
        return rec

    def _warn_corrected(self, backend: Model, kind: str, fix: dict[str, Any]) -> None:
        """One warning per run (per backend) for each kind of corrected count."""
        try:
            seen = _WARNED.setdefault(backend, set())
            if kind in seen:
                return
            seen.add(kind)
        except TypeError:  # not weak-referenceable: warn every time rather than never
            pass
        name = getattr(backend, "name", "the backend")
        if kind == "prompt":
            log.warning("%s reported fewer prompt tokens than the request sent holds (e.g. %d where the %s gives "
                        "more); such counts are raised to the floor (usage.prompt_count_corrected in calls.jsonl)",
                        name, fix["reported_prompt_tokens"], fix["prompt_count_corrected"])
        else:
            log.warning("%s reported fewer tokens than its text holds (e.g. %d where the %s gives more); such "
                        "counts are raised to the floor and cut at the budget (usage.count_corrected in calls.jsonl)",
                        name, fix["reported_completion_tokens"], fix["count_corrected"])

    def _log(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        if self._sink is not None:
            self._sink(rec)
        if self._on_call is not None:
            self._on_call(rec)

    # ------------------------------------------------------------------------------
    def outcome(self, answer: Any, credit: float, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The outcome record of this run (ARCHITECTURE.md, outcome record).

        G and P are recomputed from the call records and checked against the budget.
        """
        recs = self.records
        g = sum(int(r["usage"]["completion_tokens"]) + int(r["usage"].get("forced_tokens", 0)) for r in recs)
        p = sum(int(r["usage"]["prompt_tokens"]) for r in recs) + g
        if g != self.budget.generated:
            raise RuntimeError(f"token bookkeeping mismatch: records {g}, budget {self.budget.generated}")
        if g > self.budget.total:
            raise BudgetExceededError(f"budget: item {self.item['id']} used {g} tokens over a cap of {self.budget.total}")
        if answer is not None:
            status = "ok"
        else:
            statuses = [r["parse_status"] for r in recs if get_role(r["role"]).answers]
            status = statuses[-1] if statuses else "no_answer"
            if status == "ok":
                status = "no_answer"
        correct = bool(answer is not None and verify(self.item, answer))
        content = (self.item.get("meta") or {}).get("content_sha256")
        return {
            "item_id": self.item["id"],
            # the item's content sha256: binds the outcome (and the submission's prediction) to the
            # item it was run on, not only to its id, which is the same in every release
            **({"item_sha256": content} if isinstance(content, str) else {}),
            "task": self.item.get("task"),
            "depth": self.item.get("depth"),
            "strategy": self.strategy,
            "budget": self.budget_tokens,
            "final_answer": answer,
            "parse_status": status,
            "correct": correct,
            "credit": float(credit),
            "generated_tokens": g,
            "processed_tokens": p,
            **call_counts(recs),  # n_calls, n_responses, n_judge_calls (baselines._counts)
            "diversity": outcome_diversity(recs),
            "calls": [r["key"] for r in recs],
            "parents": {r["key"]: r.get("parent") for r in recs},
            "meta": dict(meta or {}),
        }


def _note_continuation(rec: dict[str, Any], where: Mapping[str, Any], caps: Any) -> None:
    """Record how a continuation call was realised: the backend's continuation mode when the
    request continued the assistant turn, ``"user_turn"`` for a chained call (a continuation
    or a forced answer) asked for in a new user turn (endpoints that cannot continue; not the
    same token sequence)."""
    if where["prefixed"]:
        rec["continuation"] = getattr(caps, "continuation", "none")
    elif where["chained"]:
        rec["continuation"] = "user_turn"


def round_float(x: float) -> float:
    """Latency rounded to microseconds (keeps the log compact)."""
    return round(float(x), 6)
