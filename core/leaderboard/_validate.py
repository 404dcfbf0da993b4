"""Validate and re-score a leaderboard submission: nothing it states is trusted.

A submission is read as a stream (``_safety.open_submission``: one prediction in memory
at a time) and checked in this order; every problem found is reported:

1. the file is safe to read (size, gzip, strict JSON, per-prediction and count caps);
2. the JSON Schema ``depthbench-submission/1``: the header first, then each prediction;
3. metadata: names (no path traversal, no control characters), a real calendar date,
   raw completions present (a submission without them cannot be re-scored and is
   refused), strategies known to the registry and written canonically;
4. the dataset sha256 equals the manifest sha256 of a known release: the shipped data,
   or a folder given with ``--releases`` (a hidden split's ``private/`` dataset, found
   by its private manifest or by the public manifest its submitters ran on) with the
   same task and split;
5. per prediction, every stated field against what can be recomputed:
   ``key`` (from item, strategy, budget, sample, round and role), ``seed`` (derived from
   ``sampling.seed`` and the call's coordinates), ``parent`` and ``target`` (a call of
   the same chain, one round earlier), the calls' shape (roles, samples, rounds and
   per-call token caps that the strategy can produce), ``score`` (a self-judge's verdict
   is re-read from its text with the strategy's own rule; a score no rule can re-read is
   refused), ``generated_tokens`` and ``processed_tokens`` (see ``_tokens``: recounted
   with the model's tokenizer where one is available, else bounded below by a calibrated
   pre-token count), the budget (per item, per strategy ceiling, pooled for
   dataset-level strategies), and ``final_answer`` (re-extracted from the raw texts with
   ``depthbench.scorers.extract``, marked with ``verify`` and reduced with the strategy's
   ``final_answer``; a stated answer that differs is a problem); a prediction with no
   calls is refused;
6. coverage: every release item exactly once per (strategy, budget).

Credit always comes from ``depthbench.scorers.verify`` on the re-derived answer.
**Verified** (ranked on the leaderboard) means valid *and* on a hidden split: on a public
release the gold answers are public, so a valid submission there is shown as "public data,
self-run", never ranked.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from depthbench.errors import UserError
from depthbench.io import BadLine, read_jsonl, sha256_bytes
from depthbench.leaderboard._safety import DEFAULT_LIMITS, Limits, name_problems, open_submission
from depthbench.leaderboard._submission import SUBMISSION_FORMAT, load_schema
from depthbench.leaderboard._tokens import TokenRule, simulated_text_problem, token_rule

__all__ = ["Release", "ValidationReport", "find_releases", "default_releases_dir", "validate_submission",
           "validate_object", "count_simulated_tokens", "token_counter", "MAX_LISTED_PROBLEMS"]

_MAX_LISTED_IDS = 5
#: problems kept in a report (a hostile file could otherwise produce millions); the rest are counted
MAX_LISTED_PROBLEMS = 1000
_ANSWER_ROLES_EXCLUDED = ("verify", "judge")
_HIDDEN_FORMAT = "depthbench-hidden-split/1"


# ----------------------------------------------------------------------------- releases

@dataclass
class Release:
    """One released dataset: its manifest sha256, task and item folder.

    Attributes
    ----------
    sha256 : str
        The sha256 a submission names: of the dataset manifest, or (hidden split) of the
        public manifest the submitters ran on.
    task : str
    folder : Path
        The folder holding ``<split>.jsonl`` with answers (a hidden split's ``private/``).
    manifest : dict
        The dataset manifest of ``folder``.
    hidden : bool
        True for a hidden split (answers held by the maintainers).
    public_manifest : Path or None
        A hidden split's public manifest (answer commitments), when present.
    """

    sha256: str
    task: str
    folder: Path
    manifest: Mapping[str, Any]
    hidden: bool = False
    public_manifest: Path | None = None
    #: the sha256 tables group by: a hidden split's public manifest sha256, else ``sha256``
    board_sha256: str = ""
    _loaded: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The release a folder belongs to, e.g. ``"v2"`` for ``.../data/v2/<task>``, ``"hidden split NAME"``
        for a hidden split's ``NAME/private``; else the folder name."""
        parent = self.folder.parent.name
        if self.hidden:
            return f"hidden split {parent}"
        return parent if re.fullmatch(r"v\d+", parent) else self.folder.name

    def load_split(self, split: str) -> list[dict[str, Any]]:
        """The items of ``split`` (``<split>.jsonl`` in the folder), decoded.

        For a hidden split with a public manifest, the answers are first checked against the
        published commitments (``salts.jsonl``), so a private folder that was changed after
        publication is refused.

        Raises
        ------
        UserError
            The file is missing, differs from its sha256 in the manifest (named), has a
            corrupt line, or (hidden split) its answers do not match the public commitments.
        """
        if split in self._loaded:
            return self._loaded[split]
        from depthbench.generators import load_dataset

        items, _ = load_dataset(self.folder, split=split)
        if self.hidden and self.public_manifest is not None and (self.folder / "salts.jsonl").is_file():
            from depthbench.leaderboard._hidden import check_commitments

            salts = {str(r["id"]): str(r["salt"]) for r in read_jsonl(self.folder / "salts.jsonl")}
            probs = check_commitments(self.public_manifest, items, salts)
            if probs:
                raise UserError(f"release {str(self.folder)!r}: the private items do not match the public "
                                f"commitments in {str(self.public_manifest)!r} ({probs[0]}); restore the private "
                                "folder that was published")
        self._loaded[split] = items
        return items


def default_releases_dir() -> Path:
    """The folder of the shipped releases (package ``depthbench.data``)."""
    import depthbench.data

    return Path(depthbench.data.__file__).parent


def _manifests(root: Path) -> Iterator[Path]:
    if (root / "manifest.json").is_file():
        yield root / "manifest.json"
    for pattern in ("*/manifest.json", "*/*/manifest.json", "*/*/*/manifest.json"):
        yield from sorted(root.glob(pattern))


def _read_json(path: Path) -> tuple[Any, bytes] | None:
    try:
        data = path.read_bytes()
        return json.loads(data), data
    except (OSError, ValueError):
        return None


def _index_root(root: Path, found: dict[str, Release]) -> None:
    for mpath in _manifests(root):
        got = _read_json(mpath)
        if got is None or not isinstance(got[0], dict):
            continue
        manifest, data = got
        fmt = str(manifest.get("format", ""))
        if fmt.startswith("depthbench-dataset/"):
            private = mpath.parent
            hidden = (private / "salts.jsonl").is_file()
            public = private.parent / "public" / "manifest.json"
            pub = _read_json(public) if hidden and public.is_file() else None
            pub_ok = pub is not None and isinstance(pub[0], dict) and pub[0].get("format") == _HIDDEN_FORMAT
            board = sha256_bytes(pub[1]) if pub_ok and pub is not None else sha256_bytes(data)
            rel = Release(sha256_bytes(data), str(manifest.get("task")), private, manifest, hidden=hidden,
                          public_manifest=public if pub_ok else None, board_sha256=board)
            found.setdefault(rel.sha256, rel)
            if pub_ok:
                found.setdefault(board, Release(board, rel.task, private, manifest, hidden=True,
                                                public_manifest=public, board_sha256=board, _loaded=rel._loaded))
        elif fmt == _HIDDEN_FORMAT:
            private = mpath.parent.parent / "private"
            got_private = _read_json(private / "manifest.json")
            if got_private is None or not isinstance(got_private[0], dict):
                continue  # public commitments only: nothing to score against here
            sha = sha256_bytes(data)
            found.setdefault(sha, Release(sha, str(manifest.get("task")), private, got_private[0], hidden=True,
                                          public_manifest=mpath, board_sha256=sha))


def find_releases(root: str | Path | Sequence[str | Path] | None = None) -> dict[str, Release]:
    """Index the known releases by the sha256 a submission names.

    The shipped releases (``depthbench.data``) are always known; ``root`` adds folders
    searched for ``manifest.json`` up to three levels down: dataset folders, and hidden
    splits written by ``depthbench generate --secret-seed-file`` (``OUT/private`` with
    ``OUT/public``), which are indexed under both their private and their public manifest.

    Parameters
    ----------
    root : path-like or sequence of path-like, optional
        Extra release folders (``--releases``).

    Raises
    ------
    UserError
        A given folder does not exist.
    """
    roots = [] if root is None else [root] if isinstance(root, (str, Path)) else list(root)
    found: dict[str, Release] = {}
    for r in roots:
        p = Path(r)
        if not p.is_dir():
            raise UserError(f"--releases: {str(p)!r} is not a folder of dataset releases")
        _index_root(p, found)
    _index_root(default_releases_dir(), found)
    return found


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
    #: The release the submission's dataset belongs to (``"v1"``, ``"v2"``, ``"hidden split NAME"``, or a
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
    from depthbench.leaderboard._tokens import SIMULATED_RULE

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


def _scoring_api() -> tuple[Any, Any, Any]:
    from depthbench.baselines.strategies import parse
    from depthbench.scorers import extract, verify

    return parse, extract, verify


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


def _same_answer(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return str(a).strip() == str(b).strip()


def _safe_verify(verify: Any, item: Mapping[str, Any], answer: Any) -> bool:
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


# ----------------------------------------------------------------------------- the strategy's call shapes

@dataclass(frozen=True)
class _Slot:
    """What a strategy may log at one (role, sample, round)."""

    parent: str | None  # "none", "prev" (same sample, previous round) or None (not checked)
    cap: int | None     # most tokens one such call can generate, or None when the strategy sets no static cap


def _shape(strat: Any, budget: int) -> Callable[[str, int, int], _Slot | None]:
    """``(role, sample, round) -> slot`` for the calls strategy ``strat`` makes at ``budget``, or None."""
    from depthbench.baselines import strategies as S

    if isinstance(strat, S.Single):
        return lambda role, s, r: _Slot("none", budget) if (role, s, r) == ("answer", 0, 0) else None
    if isinstance(strat, S.BudgetForcing):
        def bf(role: str, s: int, r: int) -> _Slot | None:
            if s != 0:
                return None
            if role == "answer" and r == 0:
                return _Slot("none", strat.think_cap(budget))
            if role == "continue" and strat.mode == "wait" and 1 <= r <= strat.max_waits:
                return _Slot("prev", budget)
            if role == "force_answer" and 1 <= r <= strat.max_waits + 1:
                return _Slot("prev", budget)
            return None
        return bf
    if isinstance(strat, S.Revision):
        per = budget // strat.rounds
        return lambda role, s, r: (_Slot("none" if r == 0 else "prev", per)
                                   if s == 0 and r < strat.rounds and role == ("answer" if r == 0 else "revise") else None)
    if isinstance(strat, S.Ratio):
        per = (budget // strat.n) // strat.r
        return lambda role, s, r: (_Slot("none" if r == 0 else "prev", per)
                                   if s < strat.n and r < strat.r and role == ("answer" if r == 0 else "revise") else None)
    if isinstance(strat, S.Adaptive):
        share = budget // strat.n
        pilots = strat.pilots
        # phase 2 adds at most (extra allocation // share) chains, the allocation being <= max_factor x B
        most = pilots + (strat.max_factor + 1) * strat.n

        def ad(role: str, s: int, r: int) -> _Slot | None:
            if r != 0:
                return None
            if role == "pilot" and s < pilots:
                return _Slot("none", share)
            if role == "answer" and pilots <= s < most:
                return _Slot("none", share)
            return None
        return ad
    if isinstance(strat, S.BestOfN) and strat.verifier == "self":
        share = budget // strat.n

        def bs(role: str, s: int, r: int) -> _Slot | None:
            if s >= strat.n:
                return None
            if role == "answer" and r == 0:
                return _Slot("none", share - share // 4)
            if role == "judge" and r == 1:
                return _Slot("prev", share)
            return None
        return bs
    if isinstance(strat, S.Majority):
        limit = strat.n * (strat.max_pooled if strat.pooled else 1)
        share = budget // strat.n
        return lambda role, s, r: _Slot("none", share) if role == "answer" and r == 0 and s < limit else None
    if isinstance(strat, (S.BestOfN, S.PassAtN)):
        share = budget // strat.n
        return lambda role, s, r: _Slot("none", share) if role == "answer" and r == 0 and s < strat.n else None
    return lambda role, s, r: _Slot(None, None)  # a strategy this validator has no shape for: no shape check


#: the texts budget forcing may insert before a ``force_answer`` call besides ``"\nAnswer:"``:
#: closing a reasoning block first (s1 for models with ``<think>``), or nothing (``cap`` mode
#: on an endpoint that cannot continue a turn asks for the answer in a new user turn)
CLOSE_THEN_ANSWER = "\n</think>\nAnswer:"
USER_TURN = ""


def _forced_text(strat: Any, call: Mapping[str, Any], chain: str) -> tuple[str, str | None]:
    """``(text the harness inserted before the call, problem or None)`` for budget forcing.

    The text is the harness's own, never free text from the submission: a stated ``forced``
    only picks one of the fixed variants of a ``force_answer``, and each is accepted only
    where the harness inserts it -- :data:`CLOSE_THEN_ANSWER` when the chain so far (``chain``,
    forced texts included) ends inside an open ``<think>`` block, :data:`USER_TURN` only in
    ``cap`` mode. Either narrows extraction (an open block is closed exactly where the
    harness closed it; a user turn's reply must state its own answer), never widens it.
    """
    from depthbench.baselines import strategies as S
    from depthbench.baselines._continuation import Think, inside_thinking

    if not isinstance(strat, S.BudgetForcing):
        return "", None
    role = call["role"]
    default = {"continue": S.WAIT, "force_answer": S.FORCE_ANSWER}.get(role, "")
    if role != "force_answer" or "forced" not in call:
        return default, None
    stated = call["forced"]
    if stated == CLOSE_THEN_ANSWER and inside_thinking(chain, Think(), bool(call.get("think_open"))):
        return stated, None
    if stated == USER_TURN and strat.mode == "cap":
        return stated, None
    return default, (f"states forced text {stated!r}, which the harness inserts only "
                     + ("in budget_forcing:cap mode" if stated == USER_TURN else "when the chain is inside <think>"))


def _recomputed_score(role: str, text: str) -> float | None:
    """The score a call's own text gives under the strategy's rule (self-judge verdicts), or None."""
    if role == "judge":
        from depthbench.baselines.strategies import judge_score

        return float(judge_score(text))
    return None


# ----------------------------------------------------------------------------- the checker

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
        from depthbench.baselines._context import call_key, derive_seed

        self.rep, self.meta, self.release, self.items = rep, meta, release, items
        self.strategies, self.rule, self.limits = strategies, rule, limits
        self._call_key, self._derive_seed = call_key, derive_seed
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
        _, self.extract, self.verify = _scoring_api()

    # -- per-problem kinds counted once with examples
    def _counted(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= _MAX_LISTED_IDS:
            self.rep.problem(text)

    def prediction(self, i: int, p: Any) -> None:
        rep = self.rep
        if self.total_calls > self.limits.max_total_calls:
            return
        probs = _schema_messages(self.pred_schema, p, f"predictions[{i}]")
        if probs:
            for x in probs:
                rep.problem(x)
            return
        calls = p["calls"]
        w = _where(i, p)
        if len(calls) > self.limits.max_calls_per_prediction:
            rep.problem(f"predictions[{i}].calls: {len(calls)} calls exceed the limit of "
                        f"{self.limits.max_calls_per_prediction}")
            return
        self.total_calls += len(calls)
        if self.total_calls > self.limits.max_total_calls:
            rep.problem(f"predictions: more than {self.limits.max_total_calls} calls in all exceed the limit; "
                        "split the submission")
            return
        strategy, budget, item_id = p["strategy"], p["budget"], p["item_id"]
        if strategy not in self.meta["strategies"]:
            self.unlisted_strats[strategy] += 1
        if budget not in self.budgets:
            self.unlisted_budgets[budget] += 1
        self.seen[(strategy, budget)][item_id] += 1
        item = self.items.get(item_id)
        if self.items and item is None:
            self._counted("unknown_item", f"{w}: item id not in the release (task {self.meta['dataset']['task']!r}, "
                                          f"split {self.meta['dataset']['split']!r})")
        if not calls:
            self._counted("no_calls", f"{w}: no calls; a prediction is re-derived from its calls' raw texts, so one "
                                      "without calls is refused")
            return
        strat = self.strategies.get(strategy)
        missing_text = sum(not isinstance(c.get("text"), str) for c in calls)
        if missing_text:
            rep.problem(f"{w}: {missing_text} call(s) lack text (raw completions are required)")
            return
        by_key = {c["key"]: c for c in calls}
        if not self._structure(w, p, calls, by_key, strat):
            return
        floors = self._tokens(w, p, calls, by_key, item, strat)
        if floors is None:  # texts longer than the budget allows: refused, not worth extracting from
            return
        if item is not None and strat is not None:
            rep.outcomes.append(self._rescore(i, p, item, strat, floors))

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
        shape = _shape(strat, p["budget"]) if strat is not None else None
        seeds_ok: dict[tuple[int, str], set[int]] = defaultdict(set)
        if self.run_seed is not None:
            for c in calls:
                seeds_ok[(c["round"], c["role"])].add(
                    self._derive_seed(self.run_seed, p["item_id"], c["sample"], c["round"], c["role"]))
        for j, c in enumerate(calls):
            want = self._call_key(p["item_id"], p["strategy"], p["budget"], c["sample"], c["round"], c["role"])
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
            elif parent is not None and (parent["sample"] != c["sample"] or parent["round"] >= c["round"]):
                rep.problem(f"{w}: calls[{j}] parent {c['parent']!r} is not an earlier call of the same chain")
                ok = False
            if c["role"] in _ANSWER_ROLES_EXCLUDED:
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
        ceiling = (1 + int(getattr(strat, "max_factor", 0))) * budget if dataset_level else budget
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
        shape = _shape(strat, budget) if strat is not None else None
        for j, c in enumerate(calls):
            text = c["text"]
            if rule.simulated:
                why = simulated_text_problem(text, c["role"])
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
        space = (item.get("meta") or {}).get("answer_space")
        records = []
        bad_score = False
        chain = ""  # budget forcing: the chain's text so far (forced texts included)
        for j, c in enumerate(p["calls"]):
            forced, bad_forced = _forced_text(strat, c, chain)
            if bad_forced:
                rep.problem(f"{_where(i, p)}: calls[{j}] ({c['role']}) {bad_forced}")
            chain += forced + c["text"]
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
            if c["role"] in _ANSWER_ROLES_EXCLUDED:
                score = _recomputed_score(c["role"], c["text"])
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
                ex = self.extract(forced + c["text"], item["answer_type"], space, finish_reason=c["finish_reason"],
                                  reasoning_end=0 if c["role"] == "force_answer" else None,
                                  think_open=bool(c.get("think_open")))
                rec["extracted"] = ex.answer
                rec["parse_status"] = ex.parse_status
                rec["correct"] = _safe_verify(self.verify, item, ex.answer)
            records.append(rec)
        stated = p["final_answer"]
        try:
            answer, credit, meta_out = strat.final_answer(records, item, run_seed=self.run_seed if isinstance(self.run_seed, int) else 0)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            rep.problem(f"{_where(i, p)}: the calls do not fit strategy {p['strategy']!r}; cannot re-derive the final "
                        f"answer ({type(e).__name__}: {str(e)[:120]})")
            answer, credit, meta_out = None, 0.0, {}
        rep.rescored += 1
        last = next((r for r in reversed(records) if r["role"] not in _ANSWER_ROLES_EXCLUDED), None)
        parse_status = "ok" if answer is not None else (last["parse_status"] if last else "no_answer")
        if not _same_answer(answer, stated):
            rep.mismatches += 1
            self._counted("answer", f"{_where(i, p)}: stated final answer {stated!r} contradicts the answer {answer!r} "
                                    "re-extracted from the raw completions")
        elif bad_score:
            rep.mismatches += 1
        correct = _safe_verify(self.verify, item, answer)
        if credit is None:
            credit = 1.0 if correct else 0.0
        return {
            "item_id": p["item_id"], "task": item.get("task"), "depth": item.get("depth"),
            "strategy": p["strategy"], "budget": p["budget"], "final_answer": answer,
            "parse_status": parse_status, "correct": correct, "credit": float(credit),
            "generated_tokens": sum(c["generated_tokens"] for c in p["calls"]),
            "processed_tokens": sum(c["processed_tokens"] for c in p["calls"]),
            "n_calls": len(p["calls"]), "meta": {k: v for k, v in dict(meta_out or {}).items() if k != "votes"},
            "kind": getattr(strat, "kind", None), "chance": (item.get("meta") or {}).get("chance"),
        }

    # -- after the last prediction
    def finish(self) -> None:
        rep, meta, rule = self.rep, self.meta, self.rule
        for kind, n in sorted(self.counts.items()):
            if n > _MAX_LISTED_IDS:
                rep.problem(f"... {n} problems of this kind in all ({kind.replace('_', ' ')})")
        for name, n in sorted(self.unlisted_strats.items()):
            rep.problem(f"predictions: {n} prediction(s) use strategy {name!r}, which is not listed in "
                        "metadata.strategies")
        for b, n in sorted(self.unlisted_budgets.items()):
            rep.problem(f"predictions: {n} prediction(s) use budget {b}, which is not listed in metadata.budgets")
        for (name, budget), g in sorted(self.groups.items()):
            if g.stated_gen < rule.pooled_least(g.counted_gen):
                rep.problem(f"coverage ({name}, budget {budget}): the calls state {g.stated_gen} generated tokens in all "
                            f"but their texts hold at least {rule.pooled_least(g.counted_gen)} under the {rule.name} "
                            "(token counts understated)")
            if g.stated_prompt < rule.pooled_least(g.counted_prompt):
                rep.problem(f"coverage ({name}, budget {budget}): the calls state {g.stated_prompt} prompt tokens in "
                            f"all but their prompts hold at least {rule.pooled_least(g.counted_prompt)} under the "
                            f"{rule.name} (processed tokens understated)")
            strat = self.strategies.get(name)
            if strat is not None and getattr(strat, "dataset_level", False):
                n_items = len(self.items) if self.items else len(self.seen[(name, budget)])
                if g.generated > n_items * budget:
                    rep.problem(f"coverage ({name}, budget {budget}): generated tokens {g.generated} exceed the pooled "
                                f"budget {n_items} items x {budget} = {n_items * budget} (budget overrun)")
                elif g.floor > n_items * budget:
                    rep.problem(f"coverage ({name}, budget {budget}): the call texts need at least {g.floor} generated "
                                f"tokens, over the pooled budget {n_items} items x {budget} = {n_items * budget} "
                                "(token counts understated; budget overrun)")
        if self.items:
            for strat_name in meta["strategies"]:
                for budget in sorted(self.budgets):
                    counts = self.seen.get((strat_name, budget), Counter())
                    missing = [iid for iid in self.items if iid not in counts]
                    dups = sorted(iid for iid, n in counts.items() if n > 1)
                    if missing:
                        rep.problem(f"coverage ({strat_name}, budget {budget}): {len(missing)} of {len(self.items)} "
                                    f"release items missing, e.g. {', '.join(map(repr, missing[:_MAX_LISTED_IDS]))}")
                    if dups:
                        rep.problem(f"coverage ({strat_name}, budget {budget}): {len(dups)} item(s) present more than "
                                    f"once (duplicate), e.g. {', '.join(map(repr, dups[:_MAX_LISTED_IDS]))}")
        rep.token_check = rule.label


# ----------------------------------------------------------------------------- entry points

def _check_header(rep: ValidationReport, header: Mapping[str, Any], has_predictions: bool,
                  releases: Any) -> tuple[Release | None, dict[str, Any], dict[str, dict[str, Any]]] | None:
    """Format, schema and metadata checks; returns (release, strategies, items) or None to stop."""
    fmt = header.get("format")
    if fmt != SUBMISSION_FORMAT:
        rep.problem(f"format: {fmt!r} is not a supported schema version; expected {SUBMISSION_FORMAT!r} "
                    "(re-pack with this depthbench)")
        return None
    whole = dict(header)
    if has_predictions:
        whole["predictions"] = []
    for x in _schema_messages(_schema_validator(None), whole):
        rep.problem(x)
    if rep.problems:
        return None
    meta = header["metadata"]
    for fname, value in (("metadata.model.name", meta["model"]["name"]), ("metadata.submitter", meta["submitter"]),
                         ("metadata.model.revision", meta["model"]["revision"])):
        if value is not None:
            for x in name_problems(fname, value):
                rep.problem(x)
    why = _date_problem(meta["date"])
    if why:
        rep.problem(why)
    if not meta["raw_completions"]:
        rep.problem("metadata.raw_completions: false; every answer and token count is recomputed from the raw texts, "
                    "so a submission without them cannot be scored: pack the run again without --no-raw")
    from depthbench import __version__

    if meta["suite_version"] != __version__:
        rep.notes.append(f"metadata.suite_version {meta['suite_version']!r} differs from this validator "
                         f"({__version__!r}); answers were re-scored with depthbench {__version__}")
    parse, _, _ = _scoring_api()
    strategies: dict[str, Any] = {}
    for name in meta["strategies"]:
        try:
            strat = parse(name)
        except (UserError, ValueError, KeyError) as e:
            why = str(e).splitlines()[0] if str(e) else "not registered"
            rep.problem(f"metadata.strategies: unknown strategy {name!r} ({why})")
            continue
        if getattr(strat, "name", name) != name:
            rep.problem(f"metadata.strategies: {name!r} is not the canonical name; write {strat.name!r}")
            continue
        strategies[name] = strat
    ds = meta["dataset"]
    index = find_releases(releases)
    release = index.get(ds["sha256"])
    items: dict[str, dict[str, Any]] = {}
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
            items = {str(it["id"]): it for it in release.load_split(ds["split"])}
        except UserError as e:  # a release whose files do not match its manifest is refused
            rep.problem(f"metadata.dataset: {e}")
        else:
            rep.release = release.name
            rep.hidden = release.hidden
            rep.board_sha256 = release.board_sha256 or release.sha256
        if release.name == "v1":
            rep.notes.append("metadata.dataset: release v1 (frozen; the canonical release is now v2, whose "
                             "buckets are balanced against no-skill cues)")
    return release, strategies, items


def _validate(rep: ValidationReport, header: Mapping[str, Any], predictions: Iterable[Any] | None,
              releases: Any, limits: Limits, tokenizers: Mapping[str, str] | None) -> ValidationReport:
    rep.submission = {k: header[k] for k in ("format", "metadata") if k in header}
    got = _check_header(rep, header, predictions is not None, releases)
    if got is None:
        return rep
    release, strategies, items = got
    rule = token_rule(header["metadata"], tokenizers)
    checker = _Checker(rep, header["metadata"], release, items, strategies, rule, limits)
    try:
        for i, p in enumerate(predictions or ()):
            checker.prediction(i, p)
    except UserError as e:  # a fault further into the file (the stream is read twice)
        rep.problem(str(e))
        return rep
    checker.finish()
    if not rep.hidden and items:
        rep.notes.append("public data, self-run: the gold answers of this release are public, so the submission is "
                         "listed but not ranked; the leaderboard ranks hidden-split submissions only")
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
