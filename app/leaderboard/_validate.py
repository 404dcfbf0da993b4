"""Validate and re-score a leaderboard submission: nothing it states is trusted.

A submission is read as a stream (``_safety.open_submission``: one prediction in memory
at a time) and checked by the list :data:`CHECKS`, in order, each reporting every problem
it finds (a failed format or schema check stops the rest, whose inputs would not be sound):

1. ``_check_format``: a JSON object of format ``depthbench-submission/1`` (the file itself
   was read safely first: size, gzip, strict JSON, count caps);
2. ``_check_schema``: the JSON Schema of the header (role and endpoint-kind lists from the
   registries); each prediction is checked against its part of the schema as it streams;
3. ``_check_names``: no path traversal or control characters in shown names;
4. ``_check_date``: a real calendar date;
5. ``_check_raw_completions``: raw completions present (a submission without them cannot
   be re-scored and is refused);
6. ``_check_suite_version``: another version is a note;
7. ``_check_strategies``: strategies known to the strategy registry, written canonically;
8. ``_check_release``: the dataset sha256 equals the manifest sha256 of a known release
   (:func:`depthbench.tasks.find_releases`: the shipped data, or a folder given with
   ``--releases``, e.g. a hidden split's ``private/`` dataset found by its private
   manifest or by the public manifest its submitters ran on) with the same task and split;
9. ``_check_predictions``: each prediction, streamed, through :data:`PREDICTION_CHECKS`:
   its schema and call limits; ``item_sha256`` (the release item's content sha256: a
   prediction made on another release's item of the same id is refused naming that
   release, a hash no known release holds is refused); ``key`` (from item, strategy, budget, sample, round and
   role), ``seed`` (derived from ``sampling.seed`` and the call's coordinates), ``parent``
   and ``target`` (a call of the same chain, one round earlier), the calls' shape (roles,
   samples, rounds and per-call token caps the strategy can produce:
   ``Strategy.call_shape``), the calls themselves (the strategy's own control flow replayed over the
   submitted calls must ask for exactly them, none missing and none extra, with the same parents;
   ``_replay_check.replay_problems``), ``score`` (a self-judge's verdict is re-read from its text
   with the strategy's own rule, ``Strategy.call_score``; a score no rule can re-read is
   refused), ``generated_tokens`` and ``processed_tokens`` (see ``_tokens``: recounted
   with the model's tokenizer where one is available, else bounded below by a calibrated
   pre-token count), the budget (per item, per strategy ceiling ``item_ceiling``), and
   ``final_answer`` (re-extracted from the raw texts with the item's family's rules,
   verified, and reduced with the strategy's ``final_answer``; a stated answer that
   differs is a problem); a prediction with no calls is refused;
10. ``_check_item_binding``: predictions without ``item_sha256`` (packed by an earlier
    depthbench) are refused on the canonical shipped release and noted on any other;
    ``_check_pooled_budgets``: per (strategy, budget), the pooled token counts, and the
    pooled budget of a strategy sharing its budget across items;
11. ``_check_coverage``: every release item exactly once per (strategy, budget);
12. ``_check_public_data``: a valid submission on public data is a note (listed, not ranked).

A new check is one function appended to :data:`CHECKS` (the header and the totals) or to
:data:`PREDICTION_CHECKS` (each prediction).

Credit always comes from ``depthbench.scorers.verify`` on the re-derived answer.
**Verified** (ranked on the leaderboard) means valid *and* on a hidden split: on a public
release the gold answers are public, so a valid submission there is shown as "public data,
self-run", never ranked.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from depthbench import __version__
from depthbench._lazy import lazy
from depthbench.baselines._context import call_key, derive_seed
from depthbench.baselines._counts import call_counts, outcome_diversity
from depthbench.baselines._roles import get_role
from depthbench.baselines.backends._continuation import chain_text
from depthbench.baselines.strategies import all_roles, parse
from depthbench.baselines.strategies.budget_forcing import USER_TURN
from depthbench.errors import UserError
from depthbench.io import sha256_file
from depthbench.leaderboard._replay_check import replay_problems
from depthbench.leaderboard._safety import DEFAULT_LIMITS, Limits, name_problems, open_submission
from depthbench.leaderboard._submission import SUBMISSION_FORMAT, load_schema
from depthbench.leaderboard._tokens import SIMULATED_RULE, TokenRule, token_rule
from depthbench.scorers import extract_answer, verify
from depthbench.tasks import Release, canonical_release, default_releases_dir, find_releases

jsonschema = lazy("jsonschema")

__all__ = ["Release", "ValidationReport", "CHECKS", "PREDICTION_CHECKS", "find_releases", "default_releases_dir",
           "validate_submission", "validate_object", "count_simulated_tokens", "token_counter",
           "MAX_LISTED_PROBLEMS"]

_MAX_LISTED_IDS = 5
#: problems kept in a report (a hostile file could otherwise produce millions); the rest are counted
MAX_LISTED_PROBLEMS = 1000


# ----------------------------------------------------------------------------- report

@dataclass
class ValidationReport:
    """The result of validating one submission.

    Attributes
    ----------
    path : str
        The file validated (or ``"<object>"``).
    problems : list of str
        Problems found (at most :data:`MAX_LISTED_PROBLEMS`, then a count); empty means valid.
    submission : dict or None
        The submission's header: ``format`` and ``metadata`` (predictions are streamed, not kept).
    outcomes : list of dict
        Re-scored outcome records, one per prediction (credit from the verifier).
    mismatches : int
        Predictions whose stated final answer (or judge score) contradicts the re-derived one.
    rescored : int
        Predictions re-derived from their raw texts.
    notes : list of str
        Remarks that do not invalidate the submission (e.g. another suite version).
    hidden : bool
        The dataset is a hidden split (the submitters never saw its answers).
    token_check : str or None
        How the stated token counts were checked: ``"recounted (<tokenizer>)"`` or
        ``"bounded (pre-token bound)"``.
    n_problems : int
        Every problem found, including those not listed.
    """

    path: str
    problems: list[str] = field(default_factory=list)
    submission: dict[str, Any] | None = None
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    mismatches: int = 0
    rescored: int = 0
    notes: list[str] = field(default_factory=list)
    hidden: bool = False
    #: The release the submission's dataset belongs to (``"v1"``, ``"v2"``, ``"v3"``, ``"hidden split NAME"``, or a
    #: folder name); None if unmatched.
    release: str | None = None
    token_check: str | None = None
    n_problems: int = 0
    #: the dataset the submission is grouped under (a hidden split's public manifest sha256)
    board_sha256: str | None = None

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def verified(self) -> bool:
        """Valid and on a hidden split: every answer re-derived from raw texts, every stated
        field recomputed or bounded, and the gold answers were never public."""
        return self.ok and self.hidden and bool(self.outcomes) and self.rescored == len(self.outcomes)

    def problem(self, text: str) -> None:
        """Record one problem (listed up to :data:`MAX_LISTED_PROBLEMS`)."""
        self.n_problems += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(text)
        elif len(self.problems) == MAX_LISTED_PROBLEMS:
            self.problems.append("... further problems not listed (the count is in the summary)")


def count_simulated_tokens(text: str) -> int:
    """Tokens of ``text`` under the simulated backend's rule (one token = one whitespace-separated word)."""
    return SIMULATED_RULE.count(text)


def token_counter(meta: Mapping[str, Any], tokenizers: Mapping[str, str] | None = None) -> tuple[str, Any]:
    """``(rule name, count(text) -> int)`` the validator checks this submission's texts with.

    See :func:`depthbench.leaderboard._tokens.token_rule`; the bound rule is returned when no
    tokenizer of the model is available locally.
    """
    rule = token_rule(meta, tokenizers)
    return rule.name, rule.count


# ----------------------------------------------------------------------------- helpers

@lru_cache(maxsize=None)
def _schema_validator(part: str | None) -> Any:
    """A cached validator of the submission schema (``part``: a ``$defs`` entry, or None for all)."""
    schema = load_schema()
    if part is not None:
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{part}"}
    return jsonschema.Draft202012Validator(schema)


def _schema_messages(validator: Any, obj: Any, prefix: str = "") -> list[str]:
    probs = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        where = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        where = where.lstrip(".")
        msg = err.message
        if len(msg) > 200:
            msg = msg[:200] + "..."
        probs.append(f"schema: {where or '(top level)'}: {msg}")
    return probs


def _role_answers(role: Any) -> bool:
    """The call's role carries an answer (re-extracted and verified), by the role registry."""
    r = all_roles().get(role) if isinstance(role, str) else None
    return bool(r is not None and r.answers)


def _role_chained(role: Any) -> bool:
    """The call continues its parent's chain (its answer is read from the chained text)."""
    r = all_roles().get(role) if isinstance(role, str) else None
    return bool(r is not None and r.chained)


def _same_answer(a: Any, b: Any) -> bool:
    """The stated final answer is the re-derived one, as text: exactly (``'5\\n'`` or ``' 5'`` is
    not ``5``; extraction already normalises what it returns)."""
    if a is None or b is None:
        return a is None and b is None
    return str(a) == str(b)


def _safe_verify(item: Mapping[str, Any], answer: Any) -> bool:
    if answer is None:
        return False
    try:
        return bool(verify(item, answer))
    except (TypeError, ValueError, KeyError):
        return False


def _where(i: int, p: Mapping[str, Any]) -> str:
    return f"predictions[{i}] (item {p['item_id']!r}, {p['strategy']}, budget {p['budget']})"


def _date_problem(text: str) -> str | None:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return f"metadata.date: {text!r} is not a real date; write YYYY-MM-DD, e.g. 2026-11-29"
    return None


# ----------------------------------------------------------------------------- one prediction

@dataclass
class _Prediction:
    """One streamed prediction and what its checks established."""

    i: int
    p: Any
    w: str = ""
    item: Mapping[str, Any] | None = None
    strat: Any = None
    by_key: dict[str, Any] = field(default_factory=dict)
    least: dict[str, int] | None = None


#: A prediction check reports through the checker and returns False to end this prediction's
#: checks (the later ones would not be sound), else None.
PredictionCheck = Callable[["_Checker", _Prediction], "bool | None"]


@dataclass
class _Group:
    stated_gen: int = 0
    counted_gen: int = 0
    stated_prompt: int = 0
    counted_prompt: int = 0
    generated: int = 0       # stated, for the pooled budget of dataset-level strategies
    floor: int = 0           # fewest tokens the texts need, idem


class _Checker:
    """Checks the stream of predictions of one submission against its header and release."""

    def __init__(self, rep: ValidationReport, meta: Mapping[str, Any], release: Release | None,
                 items: Mapping[str, Mapping[str, Any]], strategies: Mapping[str, Any], rule: TokenRule,
                 limits: Limits) -> None:
        self.rep, self.meta, self.release, self.items = rep, meta, release, items
        self.strategies, self.rule, self.limits = strategies, rule, limits
        self.run_seed = meta["sampling"].get("seed")
        self.budgets = set(meta["budgets"])
        self.seen: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
        self.unlisted_strats: Counter[str] = Counter()
        self.unlisted_budgets: Counter[int] = Counter()
        self.groups: dict[tuple[str, int], _Group] = defaultdict(_Group)
        self.counts: dict[str, int] = Counter()
        self.prompt_counts: dict[str, int] = {}
        self.total_calls = 0
        self.pred_schema = _schema_validator("prediction")
        #: predictions on a release item that carry no ``item_sha256`` (named by id only)
        self.unbound = 0
        self.n_predictions = 0
        #: the known releases (``find_releases``), to name the one a mismatched item_sha256 belongs to
        self.index: Mapping[str, Release] = {}
        self._elsewhere: dict[str, dict[str, str]] | None = None

    def made_on(self, item_id: str, sha: str) -> str | None:
        """The other known release whose item ``item_id`` has content sha256 ``sha`` (``"data/v2"`` for a
        shipped one), or None; the releases of the same task and split are read on first use."""
        if self._elsewhere is None:
            self._elsewhere = defaultdict(dict)
            ds = self.meta["dataset"]
            here = self.release.folder.resolve() if self.release is not None else None
            seen: set[Path] = set()
            for rel in sorted(self.index.values(), key=lambda r: (r.hidden, r.name)):
                folder = rel.folder.resolve()
                if rel.task != ds["task"] or folder == here or folder in seen:
                    continue
                seen.add(folder)
                if f"{ds['split']}.jsonl" not in (rel.manifest.get("files") or {}):
                    continue
                label = _release_label(rel)
                try:
                    for it in rel.load_split(ds["split"]):
                        content = (it.get("meta") or {}).get("content_sha256")
                        if isinstance(content, str):
                            self._elsewhere[str(it["id"])].setdefault(content, label)
                except UserError:
                    continue  # a release whose files do not match its manifest names nothing
        return self._elsewhere.get(item_id, {}).get(sha)

    # -- per-problem kinds counted once with examples
    def _counted(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= _MAX_LISTED_IDS:
            self.rep.problem(text)

    def prediction(self, i: int, p: Any) -> None:
        """Check one prediction with :data:`PREDICTION_CHECKS`, in order (a check returning
        False ends this prediction's checks)."""
        pred = _Prediction(i, p)
        for check in PREDICTION_CHECKS:
            if check(self, pred) is False:
                return

    # -- keys, seeds, parents, targets, roles
    def _structure(self, w: str, p: Mapping[str, Any], calls: list[dict[str, Any]], by_key: Mapping[str, Any],
                   strat: Any) -> bool:
        rep = self.rep
        ok = True
        keys = Counter(c["key"] for c in calls)
        for k, n in sorted(keys.items()):
            if n > 1:
                rep.problem(f"{w}: call key {k!r} appears {n} times")
                ok = False
        shape = strat.call_shape(p["budget"]) if strat is not None else None
        branching = bool(getattr(strat, "branching", False))  # tree search: parents checked by round only
        seeds_ok: dict[tuple[int, str], set[int]] = defaultdict(set)
        if self.run_seed is not None:
            for c in calls:
                seeds_ok[(c["round"], c["role"])].add(
                    derive_seed(self.run_seed, p["item_id"], c["sample"], c["round"], c["role"]))
        for j, c in enumerate(calls):
            want = call_key(p["item_id"], p["strategy"], p["budget"], c["sample"], c["round"], c["role"])
            if c["key"] != want:
                self._counted("key", f"{w}: calls[{j}] key {c['key']!r} is not the key of its coordinates, {want!r}")
                ok = False
            seed = c.get("seed")
            if seed is not None and seed not in seeds_ok.get((c["round"], c["role"]), ()):
                self._counted("seed", f"{w}: calls[{j}] seed {seed} is not the seed derived from sampling.seed "
                                      f"{self.run_seed} for this call (derive_seed); submit the run's own seeds")
                ok = False
            if c["processed_tokens"] < c["generated_tokens"]:
                rep.problem(f"{w}: calls[{j}] processed tokens {c['processed_tokens']} are fewer than generated "
                            f"tokens {c['generated_tokens']}")
                ok = False
            parent = by_key.get(c["parent"]) if c["parent"] is not None else None
            if c["parent"] is not None and parent is None:
                rep.problem(f"{w}: calls[{j}] parent {c['parent']!r} is not a call of this prediction")
                ok = False
            elif parent is not None and ((parent["sample"] != c["sample"] and not branching)
                                         or parent["round"] >= c["round"]):
                rep.problem(f"{w}: calls[{j}] parent {c['parent']!r} is not an earlier call of the same chain")
                ok = False
            if not _role_answers(c["role"]):
                if c.get("target") != c["parent"] or c["parent"] is None:
                    rep.problem(f"{w}: calls[{j}] ({c['role']}) target {c.get('target')!r} is not the call it read "
                                f"(its parent {c['parent']!r})")
                    ok = False
            elif c.get("target") is not None or c.get("score") is not None:
                rep.problem(f"{w}: calls[{j}] ({c['role']}) states a score or target; only judge calls have them")
                ok = False
            if shape is not None:
                slot = shape(c["role"], c["sample"], c["round"])
                if slot is None:
                    self._counted("shape", f"{w}: calls[{j}] ({c['role']}, sample {c['sample']}, round {c['round']}) is "
                                           f"not a call strategy {p['strategy']} makes")
                    ok = False
                elif slot.parent == "none" and c["parent"] is not None:
                    self._counted("shape", f"{w}: calls[{j}] ({c['role']}) starts a chain but names parent "
                                           f"{c['parent']!r}")
                    ok = False
                elif slot.parent == "prev" and (parent is None or parent["round"] != c["round"] - 1):
                    self._counted("shape", f"{w}: calls[{j}] ({c['role']}, round {c['round']}) must continue the "
                                           "same chain's previous round (its parent)")
                    ok = False
        return ok

    # -- token counts
    def _prompt_count(self, item: Mapping[str, Any]) -> int:
        iid = str(item["id"])
        if iid not in self.prompt_counts:
            self.prompt_counts[iid] = self.rule.count(str(item.get("prompt") or ""))
        return self.prompt_counts[iid]

    def _tokens(self, w: str, p: Mapping[str, Any], calls: list[dict[str, Any]], by_key: Mapping[str, Any],
                item: Mapping[str, Any] | None, strat: Any) -> dict[str, int] | None:
        """Check stated token counts; returns each call's least token count by key, or None when the
        texts cannot fit the budget (the prediction is refused and not re-scored)."""
        rep, rule = self.rep, self.rule
        budget = int(p["budget"])
        dataset_level = strat is not None and getattr(strat, "dataset_level", False)
        ceiling = strat.item_ceiling(budget) if strat is not None else budget
        group = self.groups[(p["strategy"], budget)]
        counts: dict[str, int] = {}
        least: dict[str, int] = {}
        # refuse, before counting anything, a text that cannot fit the budget under any tokenization
        for j, c in enumerate(calls):
            n_bytes = len(c["text"].encode("utf-8"))
            if -(-n_bytes // rule.max_token_bytes) > ceiling:
                self._counted("too_long", f"{w}: calls[{j}] text of {n_bytes} bytes is more than {ceiling} tokens "
                                          f"under the {rule.name} (no token is longer than {rule.max_token_bytes} bytes); "
                                          "budget overrun")
                return None
        shape = strat.call_shape(budget) if strat is not None else None
        for j, c in enumerate(calls):
            text = c["text"]
            if rule.simulated:
                why = rule.text_problem(text, c["role"])
                if why is not None:
                    self._counted("simulated", f"{w}: calls[{j}] text is not simulated-reasoner output ({why}); the "
                                               "word rule applies only to that reasoner's texts: declare the real "
                                               "endpoint and model")
            n = rule.count(text)
            counts[c["key"]] = n
            stated = c["generated_tokens"]
            floor = rule.least(text, n)
            least[c["key"]] = max(stated, floor)
            group.stated_gen += stated
            group.counted_gen += n
            if stated < floor:
                self._counted("understated", f"{w}: calls[{j}] states {stated} generated tokens but its text is at "
                                             f"least {floor} under the {rule.name} (token count understated; submit the "
                                             "run's own usage)")
            if shape is not None:
                slot = shape(c["role"], c["sample"], c["round"])
                if slot is not None and slot.cap is not None and least[c["key"]] > slot.cap:
                    self._counted("cap", f"{w}: calls[{j}] ({c['role']}) has at least {least[c['key']]} generated "
                                         f"tokens, over the {slot.cap} that {p['strategy']} gives such a call at budget "
                                         f"{budget} (budget overrun)")
        if item is not None:
            base, prompt = self._prompt_count(item), str(item.get("prompt") or "")
            for j, c in enumerate(calls):
                # the prompt of every call holds the item's prompt and the texts of the chain before it:
                # bounded by the rule's floor of that text (for the bound, eval's least_tokens, byte floor
                # included), as eval bounds the prompt count a server reports
                ctx_n, ctx, k, hops = base, [prompt], c["parent"], 0
                while k is not None and k in by_key and hops < len(calls):
                    ctx_n += counts[k]
                    ctx.append(by_key[k]["text"])
                    k, hops = by_key[k]["parent"], hops + 1
                stated_prompt = c["processed_tokens"] - c["generated_tokens"]
                group.stated_prompt += stated_prompt
                group.counted_prompt += ctx_n
                floor = rule.least("\n".join(ctx), ctx_n)
                if stated_prompt < floor:
                    self._counted("prompt", f"{w}: calls[{j}] states {stated_prompt} prompt tokens (processed minus "
                                            f"generated) but its prompt holds at least {floor} under the {rule.name} "
                                            "(processed tokens understated)")
        # the budget, with each call at the larger of its stated and its least count
        gen = sum(c["generated_tokens"] for c in calls)
        need = sum(least.values())
        if dataset_level:
            group.generated += gen
            group.floor += need
        if gen > ceiling:
            rep.problem(f"{w}: generated tokens {gen} exceed the budget {ceiling} (budget overrun)"
                        if not dataset_level else
                        f"{w}: generated tokens {gen} exceed this strategy's per-item ceiling {ceiling} (budget overrun)")
        elif need > ceiling:
            rep.problem(f"{w}: the call texts need at least {need} generated tokens, over the "
                        + (f"budget {ceiling}" if not dataset_level else f"strategy's per-item ceiling {ceiling}")
                        + " (token counts understated; budget overrun)")
            return None
        return least

    # -- re-derive the answer
    def _rescore(self, i: int, p: Mapping[str, Any], item: Mapping[str, Any], strat: Any,
                 least: Mapping[str, int]) -> dict[str, Any]:
        rep = self.rep
        records = []
        bad_score = False
        texts: dict[str, str] = {}  # each call's chained text (forced texts included), by key
        for j, c in enumerate(p["calls"]):
            chained = _role_chained(c["role"])
            before = texts.get(c["parent"], "") if chained and c["parent"] is not None else ""
            forced, bad_forced = strat.forced_text(c, before)
            if bad_forced:
                rep.problem(f"{_where(i, p)}: calls[{j}] ({c['role']}) {bad_forced}")
            rec: dict[str, Any] = {
                "key": c["key"], "item_id": p["item_id"], "task": item.get("task"), "depth": item.get("depth"),
                "strategy": p["strategy"], "budget": p["budget"], "sample": c["sample"], "round": c["round"],
                "role": c["role"], "parent": c["parent"], "text": c["text"], "forced": forced,
                "finish_reason": c["finish_reason"], "seed": c.get("seed"),
                "usage": {"prompt_tokens": c["processed_tokens"] - c["generated_tokens"],
                          "completion_tokens": c["generated_tokens"], "forced_tokens": 0,
                          "prompt_source": "submission", "completion_source": "submission"},
                "extracted": None, "parse_status": "ok", "correct": None,
            }
            if c.get("think_open"):
                rec["think_open"] = True
            if chained and c.get("forced") == USER_TURN and forced == USER_TURN:
                rec["continuation"] = "user_turn"  # the format's "forced": "" (accepted): asked in a new user turn
            texts[c["key"]] = text = chain_text(before, rec)  # the runner's and score's rule
            if not _role_answers(c["role"]):
                score = strat.call_score(c["role"], c["text"])
                if score is None:
                    rep.problem(f"{_where(i, p)}: calls[{j}] ({c['role']}) has a score no rule can re-read from its "
                                "text; this suite's strategies make no such call")
                    bad_score = True
                    score = 0.0
                elif c.get("score") is not None and abs(float(c["score"]) - score) > 1e-9:
                    self._counted("score", f"{_where(i, p)}: calls[{j}] states score {c['score']!r} but its text gives "
                                           f"{score!r} (a self-judge's verdict is re-read from its text)")
                    bad_score = True
                rec["score"] = score
                rec["target"] = c.get("target")
            else:
                # think_open only narrows extraction (nothing before </think> counts), so it is taken as stated
                ex = extract_answer(item, text, finish_reason=c["finish_reason"],
                                    reasoning_end=(len(text) - len(forced + c["text"])
                                                   if get_role(c["role"]).ends_reasoning else None),
                                    think_open=bool(c.get("think_open")))
                rec["extracted"] = ex.answer
                rec["parse_status"] = ex.parse_status
                rec["correct"] = _safe_verify(item, ex.answer)
            records.append(rec)
        stated = p["final_answer"]
        try:
            answer, credit, meta_out = strat.final_answer(records, item, run_seed=self.run_seed if isinstance(self.run_seed, int) else 0)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            rep.problem(f"{_where(i, p)}: the calls do not fit strategy {p['strategy']!r}; cannot re-derive the final "
                        f"answer ({type(e).__name__}: {str(e)[:120]})")
            answer, credit, meta_out = None, 0.0, {}
        rep.rescored += 1
        last = next((r for r in reversed(records) if _role_answers(r["role"])), None)
        parse_status = "ok" if answer is not None else (last["parse_status"] if last else "no_answer")
        if not _same_answer(answer, stated):
            rep.mismatches += 1
            self._counted("answer", f"{_where(i, p)}: stated final answer {stated!r} contradicts the answer {answer!r} "
                                    "re-extracted from the raw completions")
        elif bad_score:
            rep.mismatches += 1
        correct = _safe_verify(item, answer)
        if credit is None:
            credit = 1.0 if correct else 0.0
        return {
            "item_id": p["item_id"], "task": item.get("task"), "depth": item.get("depth"),
            "strategy": p["strategy"], "budget": p["budget"], "final_answer": answer,
            "parse_status": parse_status, "correct": correct, "credit": float(credit),
            "generated_tokens": sum(c["generated_tokens"] for c in p["calls"]),
            "processed_tokens": sum(c["processed_tokens"] for c in p["calls"]),
            **call_counts(records), "diversity": outcome_diversity(records),  # counted from the calls themselves
            "meta": {k: v for k, v in dict(meta_out or {}).items() if k != "votes"},
            "kind": getattr(strat, "kind", None), "chance": (item.get("meta") or {}).get("chance"),
        }


def _p_within_limits(ck: _Checker, x: _Prediction) -> bool | None:
    """Its part of the schema; the per-prediction and total call limits."""
    rep, limits, i, p = ck.rep, ck.limits, x.i, x.p
    if ck.total_calls > limits.max_total_calls:
        return False  # reported once, when the total was first exceeded
    probs = _schema_messages(ck.pred_schema, p, f"predictions[{i}]")
    if probs:
        for m in probs:
            rep.problem(m)
        return False
    calls = p["calls"]
    x.w = _where(i, p)
    if len(calls) > limits.max_calls_per_prediction:
        rep.problem(f"predictions[{i}].calls: {len(calls)} calls exceed the limit of "
                    f"{limits.max_calls_per_prediction}")
        return False
    ck.total_calls += len(calls)
    if ck.total_calls > limits.max_total_calls:
        rep.problem(f"predictions: more than {limits.max_total_calls} calls in all exceed the limit; "
                    "split the submission")
        return False
    return None


def _p_tally(ck: _Checker, x: _Prediction) -> bool | None:
    """Strategy and budget listed in metadata, coverage counts, an item of the release."""
    strategy, budget, item_id = x.p["strategy"], x.p["budget"], x.p["item_id"]
    if strategy not in ck.meta["strategies"]:
        ck.unlisted_strats[strategy] += 1
    if budget not in ck.budgets:
        ck.unlisted_budgets[budget] += 1
    ck.seen[(strategy, budget)][item_id] += 1
    x.item = ck.items.get(item_id)
    if ck.items and x.item is None:
        ck._counted("unknown_item", f"{x.w}: item id not in the release (task {ck.meta['dataset']['task']!r}, "
                                    f"split {ck.meta['dataset']['split']!r})")
    x.strat = ck.strategies.get(strategy)
    return None


def _release_label(rel: Release | None) -> str:
    if rel is None:
        return "the release"
    shipped = not rel.hidden and rel.folder.resolve().parent.parent == default_releases_dir().resolve()
    return f"data/{rel.name}" if shipped else rel.name


def _p_item(ck: _Checker, x: _Prediction) -> bool | None:
    """``item_sha256`` is the release item's content sha256 (``meta.content_sha256``): ids repeat across
    releases, so a prediction made on another release's item (named) or with a forged hash is refused and
    not re-scored. A prediction without the field is counted (:func:`_check_item_binding`)."""
    ck.n_predictions += 1
    if x.item is None:
        return None
    stated = x.p.get("item_sha256")
    want = (x.item.get("meta") or {}).get("content_sha256")
    if stated is None:
        ck.unbound += 1
        return None
    if stated == want:
        return None
    here = _release_label(ck.release)
    other = ck.made_on(str(x.p["item_id"]), stated)
    if other is not None:
        ck._counted("item_sha256", f"{x.w}: prediction for {x.p['item_id']!r} was made on {other}'s item, not "
                                   f"{here}'s (item_sha256 {stated[:12]}... is that item's content sha256); "
                                   f"evaluate every item on {here} and pack the run again")
    else:
        has = f"{want[:12]}..." if isinstance(want, str) else "which has no content sha256"
        ck._counted("item_sha256", f"{x.w}: item_sha256 {stated[:12]}... is not the content sha256 of item "
                                   f"{x.p['item_id']!r} in {here} ({has}) nor of that id in any known "
                                   "release; the prediction is bound to an item no release holds (forged or "
                                   "corrupted): pack the run again with 'depthbench submission pack'")
    return False


def _p_texts(ck: _Checker, x: _Prediction) -> bool | None:
    """Calls present, each with its raw text."""
    calls = x.p["calls"]
    if not calls:
        ck._counted("no_calls", f"{x.w}: no calls; a prediction is re-derived from its calls' raw texts, so one "
                                "without calls is refused")
        return False
    missing_text = sum(not isinstance(c.get("text"), str) for c in calls)
    if missing_text:
        ck.rep.problem(f"{x.w}: {missing_text} call(s) lack text (raw completions are required)")
        return False
    x.by_key = {c["key"]: c for c in calls}
    return None


def _p_structure(ck: _Checker, x: _Prediction) -> bool | None:
    """Keys, seeds, parents, targets and the strategy's call shape (:meth:`_Checker._structure`)."""
    return None if ck._structure(x.w, x.p, x.p["calls"], x.by_key, x.strat) else False


def _p_replay(ck: _Checker, x: _Prediction) -> bool | None:
    """The strategy's own control flow, replayed over the submitted calls, asks for exactly them
    (:func:`depthbench.leaderboard._replay_check.replay_problems`): none missing, none extra."""
    if x.item is None or x.strat is None:
        return None
    for m in replay_problems(x.p, x.item, x.strat, ck.meta):
        ck._counted("replay", f"{x.w}: {m}")
    return None  # the token counts and the answer are still checked (and reported) as submitted


def _p_tokens(ck: _Checker, x: _Prediction) -> bool | None:
    """Stated token counts and the budget (:meth:`_Checker._tokens`); texts that cannot fit are refused."""
    x.least = ck._tokens(x.w, x.p, x.p["calls"], x.by_key, x.item, x.strat)
    return False if x.least is None else None


def _p_rescore(ck: _Checker, x: _Prediction) -> bool | None:
    """Re-derive the final answer and credit from the raw texts (:meth:`_Checker._rescore`)."""
    if x.item is not None and x.strat is not None and x.least is not None:
        ck.rep.outcomes.append(ck._rescore(x.i, x.p, x.item, x.strat, x.least))
    return None


#: The checks of each streamed prediction, in order: a new one is one function appended here
#: (or inserted before the re-scoring).
PREDICTION_CHECKS: tuple[PredictionCheck, ...] = (
    _p_within_limits,
    _p_tally,
    _p_item,
    _p_texts,
    _p_structure,
    _p_replay,
    _p_tokens,
    _p_rescore,
)


# ----------------------------------------------------------------------------- the checks

@dataclass
class _Validation:
    """What the checks of one submission share: the header, the stream of predictions, the
    report, and what earlier checks established (the parsed strategies, the release and its
    items, the token rule, the prediction checker with its per-(strategy, budget) tallies)."""

    header: Mapping[str, Any]
    predictions: Iterable[Any] | None
    rep: ValidationReport
    releases: Any
    limits: Limits
    tokenizers: Mapping[str, str] | None
    strategies: dict[str, Any] = field(default_factory=dict)
    release: Release | None = None
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    checker: _Checker | None = None
    index: dict[str, Release] = field(default_factory=dict)

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.header["metadata"]


#: A check reports through ``v.rep`` and returns False to stop the ones after it (their
#: inputs are not sound), else None.
Check = Callable[[_Validation], "bool | None"]


def _check_format(v: _Validation) -> bool | None:
    """A supported submission format."""
    fmt = v.header.get("format")
    if fmt != SUBMISSION_FORMAT:
        v.rep.problem(f"format: {fmt!r} is not a supported schema version; expected {SUBMISSION_FORMAT!r} "
                      "(re-pack with this depthbench)")
        return False
    return None


def _check_schema(v: _Validation) -> bool | None:
    """The JSON Schema of the header (predictions are checked one by one as they stream)."""
    whole = dict(v.header)
    if v.predictions is not None:
        whole["predictions"] = []
    for x in _schema_messages(_schema_validator(None), whole):
        v.rep.problem(x)
    return False if v.rep.problems else None


def _check_names(v: _Validation) -> None:
    """No path traversal or control characters in the names shown on the site."""
    meta = v.meta
    for fname, value in (("metadata.model.name", meta["model"]["name"]), ("metadata.submitter", meta["submitter"]),
                         ("metadata.model.revision", meta["model"]["revision"])):
        if value is not None:
            for x in name_problems(fname, value):
                v.rep.problem(x)


def _check_date(v: _Validation) -> None:
    """A real calendar date."""
    why = _date_problem(v.meta["date"])
    if why:
        v.rep.problem(why)


def _check_raw_completions(v: _Validation) -> None:
    """Raw completions present: every answer and token count is recomputed from them."""
    if not v.meta["raw_completions"]:
        v.rep.problem("metadata.raw_completions: false; every answer and token count is recomputed from the raw "
                      "texts, so a submission without them cannot be scored: pack the run again without --no-raw")


def _check_suite_version(v: _Validation) -> None:
    """Another suite version is a note: answers are re-scored with this one."""
    if v.meta["suite_version"] != __version__:
        v.rep.notes.append(f"metadata.suite_version {v.meta['suite_version']!r} differs from this validator "
                           f"({__version__!r}); answers were re-scored with depthbench {__version__}")


def _check_strategies(v: _Validation) -> None:
    """Every listed strategy is registered and written canonically."""
    for name in v.meta["strategies"]:
        try:
            strat = parse(name)
        except (UserError, ValueError, KeyError) as e:
            why = str(e).splitlines()[0] if str(e) else "not registered"
            v.rep.problem(f"metadata.strategies: unknown strategy {name!r} ({why})")
            continue
        if getattr(strat, "name", name) != name:
            v.rep.problem(f"metadata.strategies: {name!r} is not the canonical name; write {strat.name!r}")
            continue
        v.strategies[name] = strat


def _check_release(v: _Validation) -> None:
    """The dataset sha256 is a known release's (shipped, or ``--releases``), of the same task, with the split."""
    rep, ds = v.rep, v.meta["dataset"]
    index = v.index = find_releases(v.releases)
    release = index.get(ds["sha256"])
    v.release = release
    if release is None:
        rep.problem(f"metadata.dataset.sha256: {ds['sha256']} matches no released dataset manifest "
                    f"({len(index)} releases known); evaluate on a released dataset (or give the maintainers' "
                    "hidden split with --releases)")
    elif release.task != ds["task"]:
        rep.problem(f"metadata.dataset.task: {ds['task']!r} but the release with this sha256 is task {release.task!r}")
    elif f"{ds['split']}.jsonl" not in (release.manifest.get("files") or {}):
        rep.problem(f"metadata.dataset.split: release {release.task!r} has no split {ds['split']!r}")
    else:
        try:
            v.items = {str(it["id"]): it for it in release.load_split(ds["split"])}
        except UserError as e:  # a release whose files do not match its manifest is refused
            rep.problem(f"metadata.dataset: {e}")
        else:
            rep.release = release.name
            rep.hidden = release.hidden
            rep.board_sha256 = release.board_sha256 or release.sha256
        if release.frozen:
            rep.notes.append(f"metadata.dataset: release {release.name} (frozen: it still validates, but the "
                             f"canonical release is now {canonical_release()}; see its README for what changed)")


def _check_predictions(v: _Validation) -> bool | None:
    """Stream the predictions through :data:`PREDICTION_CHECKS` (one in memory at a time)."""
    rule = token_rule(v.meta, v.tokenizers)
    ck = v.checker = _Checker(v.rep, v.meta, v.release, v.items, v.strategies, rule, v.limits)
    ck.index = v.index
    try:
        for i, p in enumerate(v.predictions or ()):
            ck.prediction(i, p)
    except UserError as e:  # a fault further into the file (the stream is read twice)
        v.rep.problem(str(e))
        return False
    rep = v.rep
    for kind, n in sorted(ck.counts.items()):
        if n > _MAX_LISTED_IDS:
            rep.problem(f"... {n} problems of this kind in all ({kind.replace('_', ' ')})")
    for name, n in sorted(ck.unlisted_strats.items()):
        rep.problem(f"predictions: {n} prediction(s) use strategy {name!r}, which is not listed in "
                    "metadata.strategies")
    for b, n in sorted(ck.unlisted_budgets.items()):
        rep.problem(f"predictions: {n} prediction(s) use budget {b}, which is not listed in metadata.budgets")
    rep.token_check = rule.label
    return None


@lru_cache(maxsize=4)
def _canonical_manifests(root: str, name: str) -> frozenset[str]:
    """sha256 of each task manifest of the shipped canonical release (``root/name/*/manifest.json``)."""
    return frozenset(sha256_file(m) for m in sorted(Path(root, name).glob("*/manifest.json")))


def _check_item_binding(v: _Validation) -> None:
    """Predictions that name their item by id only (no ``item_sha256``; files packed by an earlier
    depthbench): refused on the canonical shipped release, where ``pack`` always binds them; on any other
    release they validate by id as before, with a note that their items could not be checked."""
    ck = v.checker
    if ck is None or not ck.unbound or v.release is None or not v.items:
        return
    n, total, here = ck.unbound, ck.n_predictions, _release_label(v.release)
    if not v.release.hidden and v.release.sha256 in _canonical_manifests(str(default_releases_dir()),
                                                                          canonical_release()):
        v.rep.problem(f"predictions: {n} of {total} prediction(s) name their item by id only (no item_sha256); on "
                      f"the canonical release {here} each must carry its item's content sha256, since item ids repeat "
                      "across releases: pack the run again with 'depthbench submission pack RUN_DIR --out "
                      "FILE.json.gz' (no re-run needed)")
    else:
        v.rep.notes.append(f"predictions: {n} of {total} prediction(s) name their item by id only (no item_sha256: "
                           "packed by an earlier depthbench, or where the run's dataset was not at hand): they were "
                           f"scored as {here}'s items by id, and whether they were made on those items could not be "
                           "checked")


def _check_pooled_budgets(v: _Validation) -> None:
    """Per (strategy, budget): the pooled token counts against the rule, and a strategy sharing its
    budget across items within ``items x budget`` in all."""
    ck = v.checker
    if ck is None:
        return
    rep, rule = v.rep, ck.rule
    for (name, budget), g in sorted(ck.groups.items()):
        if g.stated_gen < rule.pooled_least(g.counted_gen):
            rep.problem(f"coverage ({name}, budget {budget}): the calls state {g.stated_gen} generated tokens in all "
                        f"but their texts hold at least {rule.pooled_least(g.counted_gen)} under the {rule.name} "
                        "(token counts understated)")
        if g.stated_prompt < rule.pooled_least(g.counted_prompt):
            rep.problem(f"coverage ({name}, budget {budget}): the calls state {g.stated_prompt} prompt tokens in "
                        f"all but their prompts hold at least {rule.pooled_least(g.counted_prompt)} under the "
                        f"{rule.name} (processed tokens understated)")
        strat = v.strategies.get(name)
        if strat is not None and strat.dataset_level:
            n_items = len(v.items) if v.items else len(ck.seen[(name, budget)])
            if g.generated > n_items * budget:
                rep.problem(f"coverage ({name}, budget {budget}): generated tokens {g.generated} exceed the pooled "
                            f"budget {n_items} items x {budget} = {n_items * budget} (budget overrun)")
            elif g.floor > n_items * budget:
                rep.problem(f"coverage ({name}, budget {budget}): the call texts need at least {g.floor} generated "
                            f"tokens, over the pooled budget {n_items} items x {budget} = {n_items * budget} "
                            "(token counts understated; budget overrun)")


def _check_coverage(v: _Validation) -> None:
    """Every release item exactly once per listed (strategy, budget)."""
    ck = v.checker
    if ck is None or not v.items:
        return
    for strat_name in v.meta["strategies"]:
        for budget in sorted(ck.budgets):
            counts = ck.seen.get((strat_name, budget), Counter())
            missing = [iid for iid in v.items if iid not in counts]
            dups = sorted(iid for iid, n in counts.items() if n > 1)
            if missing:
                v.rep.problem(f"coverage ({strat_name}, budget {budget}): {len(missing)} of {len(v.items)} "
                              f"release items missing, e.g. {', '.join(map(repr, missing[:_MAX_LISTED_IDS]))}")
            if dups:
                v.rep.problem(f"coverage ({strat_name}, budget {budget}): {len(dups)} item(s) present more than "
                              f"once (duplicate), e.g. {', '.join(map(repr, dups[:_MAX_LISTED_IDS]))}")


def _check_gold_free(v: _Validation) -> None:
    """A hidden split's submission uses no strategy that picks with the gold answer or trace
    (``best_of@N:oracle``, ``beam@N:W:prm=oracle``, ...): its gold is not the submitter's to read."""
    if not v.rep.hidden:
        return
    for name, strat in v.strategies.items():
        if getattr(strat, "needs_gold", False):
            hint = strat.gold_free_hint() if hasattr(strat, "gold_free_hint") else ""
            v.rep.problem(f"metadata.strategies: {name} picks with the gold answer or trace, which a hidden split "
                          f"does not give; " + (hint or "submit gold-free strategies only"))


def _check_public_data(v: _Validation) -> None:
    """On a public release the gold answers are public: listed, never ranked."""
    if not v.rep.hidden and v.items:
        v.rep.notes.append("public data, self-run: the gold answers of this release are public, so the submission "
                           "is listed but not ranked; the leaderboard ranks hidden-split submissions only")


#: The validator, in order: a new check is one function appended here (or inserted before the
#: predictions). Every problem found is reported, except that a failed format or schema check
#: (or a fault further into the stream) stops the checks after it.
CHECKS: tuple[Check, ...] = (
    _check_format,
    _check_schema,
    _check_names,
    _check_date,
    _check_raw_completions,
    _check_suite_version,
    _check_strategies,
    _check_release,
    _check_gold_free,
    _check_predictions,
    _check_item_binding,
    _check_pooled_budgets,
    _check_coverage,
    _check_public_data,
)


# ----------------------------------------------------------------------------- entry points

def _validate(rep: ValidationReport, header: Mapping[str, Any], predictions: Iterable[Any] | None,
              releases: Any, limits: Limits, tokenizers: Mapping[str, str] | None) -> ValidationReport:
    rep.submission = {k: header[k] for k in ("format", "metadata") if k in header}
    v = _Validation(header, predictions, rep, releases, limits, tokenizers)
    for check in CHECKS:
        if check(v) is False:
            break
    return rep


def validate_object(sub: Any, releases: Any = None, limits: Limits = DEFAULT_LIMITS, path: str = "<object>",
                    tokenizers: Mapping[str, str] | None = None) -> ValidationReport:
    """Validate an already-parsed submission object; see :func:`validate_submission`."""
    rep = ValidationReport(path=path)
    if not isinstance(sub, dict):
        rep.problem(f"submission: top level must be a JSON object, got {type(sub).__name__}")
        return rep
    header = {k: v for k, v in sub.items() if k != "predictions"}
    preds = sub.get("predictions")
    if "predictions" in sub and not isinstance(preds, list):
        header["predictions"] = preds
        preds = None
    if isinstance(preds, list) and len(preds) > limits.max_predictions:
        rep.problem(f"predictions: {len(preds)} entries exceed the limit of {limits.max_predictions}")
        return rep
    return _validate(rep, header, preds, releases, limits, tokenizers)


def validate_submission(path: str | Path, releases: Any = None, limits: Limits = DEFAULT_LIMITS,
                        tokenizers: Mapping[str, str] | None = None) -> ValidationReport:
    """Read, check and re-score one submission file, streaming its predictions.

    Parameters
    ----------
    path : path-like
        The ``.json.gz`` submission.
    releases : path-like or sequence of path-like, optional
        Extra folders of dataset releases (a hidden split's folder, ...); the shipped
        releases are always known.
    limits : Limits
        Size and count limits for untrusted input.
    tokenizers : mapping, optional
        Maintainer's tokenizers to recount with: model name (or ``""`` for any) -> path
        of a ``.gguf`` or ``tokenizer.json``.

    Returns
    -------
    ValidationReport
        ``report.problems`` lists the problems; empty means valid. Memory stays bounded
        by one prediction plus one compact outcome per prediction.
    """
    rep = ValidationReport(path=str(path))
    try:
        stream = open_submission(path, limits)
    except UserError as e:
        rep.problem(str(e))
        return rep
    return _validate(rep, stream.header, stream.predictions() if stream.has_predictions else None, releases,
                     limits, tokenizers)
