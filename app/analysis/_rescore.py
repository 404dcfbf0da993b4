"""Re-score a run folder from the raw responses (``depthbench score RUN_DIR``).

Nothing the model run recorded about correctness is trusted: every call of
``calls.jsonl`` is re-extracted from its ``text`` (with its ``finish_reason``) and
re-verified against the dataset item, self-judge calls get their score re-read from
their text, then every (item, strategy, budget) is reduced
again with the strategy's own pure ``final_answer(calls, item)`` from the strategy
registry. The result is ``scored.jsonl``: one line per (item, strategy, budget) in a
fixed order, written atomically, so running ``score`` twice gives the same bytes.

Corrupt or torn lines of ``calls.jsonl`` / ``outcomes.jsonl`` are reported on stderr
by line number and skipped; every other line is used. An outcome whose logged call
list (``outcomes.jsonl`` ``calls``) is not fully readable is **not** re-reduced from
the calls that remain (a majority@8 vote over 3 surviving samples is a different
outcome): the logged outcome is kept as it is, marked ``"rescored": false`` with a
``rescore_reason``, and named (item, strategy, budget) on stderr.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from depthbench.analysis._format import clean_json
from depthbench.baselines._calllog import read_calls
from depthbench.baselines._counts import COUNT_FIELDS, call_counts, outcome_diversity
from depthbench.baselines._roles import Role
from depthbench.baselines._runner import load_run_json
from depthbench.baselines.backends._continuation import chain_text
from depthbench.baselines.strategies import all_roles, parse
from depthbench.errors import UserError
from depthbench.io import BadLine, canonical_json, sha256_bytes, write_jsonl_atomic
from depthbench.progress import Progress
from depthbench.scorers import extract_answer, majority_vote, verify
from depthbench.tasks import build_items, load_any

__all__ = ["score_run", "load_run_json", "load_run_items", "read_records", "strategy_info"]

_CALL_FIELDS = ("key", "item_id", "strategy", "budget", "sample", "round", "role", "text")


def read_records(path: str | Path, bad: list[BadLine]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for the JSON-object lines of a JSONL file.

    Corrupt lines, torn last lines and non-objects are appended to ``bad`` (1-based
    line numbers) and skipped; blank lines are ignored.
    """
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                torn = not raw.endswith(b"\n")
                bad.append(BadLine(lineno, "torn last line" if torn else f"invalid JSON ({e})"))
                continue
            if not isinstance(obj, dict):
                bad.append(BadLine(lineno, "not a JSON object"))
                continue
            yield lineno, obj


def item_hashes(items: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Item id -> content sha256 (``meta.content_sha256``) of the items that carry one."""
    out = {}
    for iid, it in items.items():
        content = (it.get("meta") or {}).get("content_sha256")
        if isinstance(content, str):
            out[iid] = content
    return out


def outcomes_on_other_items(outcomes: Mapping[tuple[str, str, int], Mapping[str, Any]],
                            hashes: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(item id, item_sha256)`` of each outcome (keyed by item id, strategy, budget) whose stated
    ``item_sha256`` is not the content sha256 in ``hashes`` of the item with its id, sorted by key:
    ids repeat across releases, so those outcomes answer another release's items. Outcomes without
    the field, or of ids ``hashes`` lacks, are not listed."""
    return [(k[0], o["item_sha256"]) for k, o in sorted(outcomes.items())
            if isinstance(o.get("item_sha256"), str) and hashes.get(k[0], o["item_sha256"]) != o["item_sha256"]]


def load_run_items(run: Mapping[str, Any], *, answers: bool = True) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The dataset items of a run, by id, as the run's config names them.

    ``run.json`` ``config`` holds either ``data`` (a dataset folder or ``.jsonl``,
    or any form :func:`depthbench.tasks.load_any` reads, with the run's ``split`` and ``data_config``) or
    ``task`` (regenerated with :func:`depthbench.tasks.build_items` from the
    task, ``split`` and ``per_depth``). This is the only place that loads items for
    scoring and analysis.

    Parameters
    ----------
    run : mapping
        The parsed ``run.json``.
    answers : bool
        Refuse items without answers (a hidden split's published prompts), which cannot be
        scored (default); False for readers that need only the items' ids and hashes
        (``submission pack``).

    Returns
    -------
    items : dict
        Item id -> item.
    sha256 : str or None
        The dataset sha256 recomputed the way the runner computes it.

    Raises
    ------
    UserError
        If the config names no dataset, the dataset is missing, or its sha256 differs
        from the one recorded in ``run.json``.
    """
    cfg = run.get("config") or run
    data, task = cfg.get("data"), cfg.get("task")
    split = cfg.get("split") or "test"
    if data:
        path = Path(data)
        if not path.exists() and str(data).startswith("/"):
            raise UserError(f"run.json config.data: dataset {data!r} does not exist; restore it at that path")
        items, sha = load_any(data, split=split, config=cfg.get("data_config"))
    elif task:
        items = build_items(task, split, n=cfg.get("per_depth"))
        sha = sha256_bytes("\n".join(canonical_json(it) for it in items).encode("utf-8"))
    else:
        raise UserError("run.json config: names neither 'data' nor 'task'; this run folder cannot be re-scored")
    want = cfg.get("dataset_sha256") or run.get("dataset_sha256")
    if want and sha != want:
        raise UserError(f"run.json config.dataset_sha256: the dataset now hashes to {sha[:12]}..., the run used "
                        f"{str(want)[:12]}...; re-score against the dataset the run used")
    if answers and any("answer" not in it for it in items):
        raise UserError("run.json config.data: the run's items carry no answers (a hidden split's published prompts), "
                        "so only the maintainers can score it: pack it with 'depthbench submission pack RUN_DIR --out "
                        "FILE.json.gz' and send them FILE", exit_code=1)
    return {str(it["id"]): it for it in items}, sha


def strategy_info(name: str) -> tuple[str, Callable[[Sequence[Mapping[str, Any]], Mapping[str, Any]], tuple[Any, float, dict[str, Any]]]]:
    """``(kind, final_answer)`` of a strategy name, from the strategy registry.

    Falls back, when :mod:`depthbench.baselines.strategies` does not know the name,
    to a kind inferred from the name (``majority@`` /
    ``best_of@`` / ``ratio@`` / ``adaptive@`` parallel, ``pass@`` bound, ``single``
    single, anything else sequential) and a reduction that takes the majority of the
    answer calls for ``majority@`` names and the last answer otherwise.
    """
    try:
        strat = parse(name)
        return str(strat.kind), strat.final_answer
    except (UserError, AttributeError, ValueError):
        pass
    if name.startswith(("majority@", "best_of@", "ratio@", "adaptive@")):
        kind = "parallel"
    elif name.startswith("pass@"):
        kind = "bound"
    elif name == "single":
        kind = "single"
    else:
        kind = "sequential"

    def fallback(calls: Sequence[Mapping[str, Any]], item: Mapping[str, Any], *,
                 run_seed: int = 0) -> tuple[Any, float, dict[str, Any]]:
        recs = [c for c in calls if _answers(c.get("role"))]
        if name.startswith("majority@"):
            res = majority_vote([c.get("extracted") for c in recs], item=item)
            return res.answer, float(res.credit or 0.0), {"votes": res.votes, "tie": res.tie, "fallback": True}
        answer = next((c.get("extracted") for c in reversed(recs) if c.get("extracted") is not None), None)
        return answer, 1.0 if answer is not None and verify(item, answer) else 0.0, {"fallback": True}

    return kind, fallback


def _report(bad: list[BadLine], fname: str, err: TextIO) -> None:
    for b in bad:
        print(f"{fname}: line {b.lineno}: {b.reason}; skipped", file=err)


def _int(x: Any) -> int:
    """A token count :func:`_call_problem` has checked: a JSON integer, or 0 where none is logged."""
    return x if type(x) is int else 0


def _whole(x: Any, least: int) -> bool:
    """``x`` is a JSON integer (not a bool, float or digit string) >= ``least``."""
    return type(x) is int and x >= least


_USAGE_COUNTS = ("completion_tokens", "forced_tokens", "prompt_tokens")


def _call_problem(rec: Mapping[str, Any]) -> str | None:
    """Why a call record's budget or token counts cannot be used, or None.

    The runner logs them as JSON integers; ``int()`` would also take ``"300\n"``,
    ``"\u0663\u0660\u0660"`` (300 in Arabic-Indic digits), ``300.7`` or ``true``, and a
    negative count would lower the summed tokens, so anything else makes the line bad. (A
    ``sample`` or ``round`` of the wrong type is left to the strategy's reduction, which
    refuses it: that outcome is skipped as unreducible.)
    """
    if not _whole(rec["budget"], 1):
        return f"budget {rec['budget']!r} is not a positive integer"
    usage = rec.get("usage")
    if usage is None:
        return None
    if not isinstance(usage, Mapping):
        return f"usage {usage!r} is not an object"
    for f in _USAGE_COUNTS:
        if usage.get(f) is not None and not _whole(usage[f], 0):
            return f"usage.{f} {usage[f]!r} is not a token count (an integer >= 0)"
    return None


def score_run(run_dir: str | Path, *, items: Mapping[str, Mapping[str, Any]] | None = None,
              err: TextIO | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Re-score a run folder and write ``scored.jsonl``.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``depthbench eval`` (``run.json``, ``calls.jsonl``, and
        usually ``outcomes.jsonl``).
    items : mapping, optional
        Items by id (default: loaded with :func:`load_run_items`).
    err : text stream, optional
        Where bad lines and warnings are reported (default ``sys.stderr``).
    progress : bool or None
        Progress over the re-scored calls (:class:`depthbench.progress.Progress`): None
        shows a bar on a terminal and a line every ~30 s elsewhere; False shows nothing.

    Returns
    -------
    dict
        Summary: ``calls`` (records used), ``bad_lines``, ``duplicates``,
        ``unknown_items``, ``outcomes`` (lines written), ``unreducible`` (groups whose
        records the strategy could not reduce, reported and skipped), ``not_rescored``
        (logged outcomes kept as logged because some of their calls are unreadable),
        ``changed_extractions`` (calls
        whose re-extracted answer or status differs from the log), ``changed_outcomes``
        (credit or final answer differs from ``outcomes.jsonl``), ``path``.

    Raises
    ------
    UserError
        Missing or unreadable run files, or no call matches a dataset item.

    Notes
    -----
    Each ``scored.jsonl`` line is an outcome record (``docs/ARCHITECTURE.md``) with
    fields recomputed from the calls -- ``final_answer``, ``parse_status``,
    ``correct``, ``credit``, ``generated_tokens``, ``processed_tokens``, ``n_calls``,
    ``n_responses``, ``n_judge_calls`` (:func:`depthbench.baselines._counts.call_counts`),
    ``diversity`` (the sampled responses' answers, or null with fewer than two), ``calls``,
    ``meta`` -- plus ``kind``, ``chance`` (the item's chance accuracy), ``finished``
    (the run logged an outcome for it), ``changed`` (credit or answer differs from
    the logged outcome; null when there is none or it was not re-scored) and
    ``rescored`` (false: a logged outcome whose call list is not fully readable in
    ``calls.jsonl``, kept as logged, with ``rescore_reason``; its counts and ``diversity``
    are null, as they cannot be counted from the log). Order: task, strategy,
    budget, item id.
    """
    err = err if err is not None else sys.stderr
    rd = Path(run_dir)
    run = load_run_json(rd)
    calls_path = rd / "calls.jsonl"
    if not calls_path.exists():
        raise UserError(f"RUN_DIR: {str(rd)!r} has no calls.jsonl; nothing to score")
    if items is None:
        items, _ = load_run_items(run)
    run_seed = _run_seed(run)  # seeds the strategies' random decisions, as in the run

    calls, bad, duplicates, unknown = _read_calls(calls_path, items)
    changed_ex = _reextract(calls, items, progress)
    _report(sorted(bad, key=lambda b: b.lineno), "calls.jsonl", err)
    if unknown:
        print(f"calls.jsonl: {len(unknown)} item id(s) not in the run's dataset (e.g. {sorted(unknown)[0]!r}); "
              "their calls are skipped", file=err)
    if not calls:
        raise UserError(f"RUN_DIR: no usable call records in {str(calls_path)!r} match the run's dataset; nothing to score")
    logged, bad_out = _read_outcomes(rd / "outcomes.jsonl", err)
    foreign = outcomes_on_other_items(logged, item_hashes(items))
    if foreign:  # ids repeat across releases: those calls answer other questions than these items ask
        raise UserError(f"RUN_DIR: {len(foreign)} outcome(s) of outcomes.jsonl were made on other items than those of "
                        f"the dataset run.json names (e.g. {foreign[0][0]!r}: its item_sha256 is not that item's content "
                        "sha256); re-score the run against the dataset it was run on")

    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for rec in calls.values():
        groups[(str(rec["item_id"]), str(rec["strategy"]), _int(rec["budget"]))].append(rec)
    infos: dict[str, tuple[str, Any]] = {}
    out_rows = []
    counts = {"changed": 0, "failed": 0, "kept": 0}
    for gk in sorted(set(groups) | {k for k in logged if k[0] in items}):
        strategy = gk[1]
        if strategy not in infos:
            infos[strategy] = strategy_info(strategy)
        row = _outcome(gk, items[gk[0]], groups.get(gk, []), logged.get(gk), calls, infos[strategy], run_seed,
                       counts, err)
        if row is not None:
            out_rows.append(row)
    out_rows.sort(key=lambda r: (str(r["task"]), r["strategy"], r["budget"], r["item_id"]))
    path = rd / "scored.jsonl"
    write_jsonl_atomic(path, out_rows)
    return {"calls": len(calls), "bad_lines": len(bad), "bad_outcome_lines": len(bad_out), "duplicates": duplicates,
            "unknown_items": len(unknown), "outcomes": len(out_rows), "unreducible": counts["failed"],
            "not_rescored": counts["kept"], "changed_extractions": changed_ex,
            "changed_outcomes": counts["changed"], "path": str(path)}


def _read_calls(path: Path, items: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[BadLine], int, set[str]]:
    """The usable call records by key (the first of a duplicated key), the bad lines, the
    number of duplicates and the item ids not in the dataset."""
    bad: list[BadLine] = []
    calls: dict[str, dict[str, Any]] = {}
    duplicates = 0
    unknown: set[str] = set()
    for lineno, rec in read_calls(path, items, bad):  # compact lines expanded (baselines._calllog)
        missing = [f for f in _CALL_FIELDS if f not in rec]
        if missing:
            bad.append(BadLine(lineno, f"call record lacks {', '.join(missing)}"))
            continue
        problem = _call_problem(rec)
        if problem:
            bad.append(BadLine(lineno, problem))
            continue
        key = str(rec["key"])
        if key in calls:
            duplicates += 1
            continue
        if str(rec["item_id"]) not in items:
            unknown.add(str(rec["item_id"]))
            continue
        calls[key] = dict(rec)
    return calls, bad, duplicates, unknown


def _reextract(calls: Mapping[str, dict[str, Any]], items: Mapping[str, Any], progress: bool | None = None) -> int:
    """Re-extract and re-verify every answer-bearing call in place (as the runner did, from the
    chain so far); returns how many differ from the log."""
    changed = 0
    texts: dict[str, str] = {}
    bar = Progress(len(calls), "score", "calls", enabled=progress)
    for key, rec in calls.items():
        bar.update(1)
        if not _answers(rec["role"]):
            continue  # judge/verify calls: the strategy's reduction re-reads their texts
        item = items[str(rec["item_id"])]
        text = _extraction_text(key, calls, texts)
        own = str(rec.get("forced") or "") + str(rec.get("text") or "")
        ex = extract_answer(item, text, finish_reason=rec.get("finish_reason"), think_open=bool(rec.get("think_open")),
                            reasoning_end=len(text) - len(own) if _role(rec["role"]).ends_reasoning else None)
        if ex.answer != rec.get("extracted") or ex.parse_status != rec.get("parse_status"):
            changed += 1
        rec["extracted"] = ex.answer
        rec["parse_status"] = ex.parse_status
        rec["correct"] = bool(ex.answer is not None and verify(item, ex.answer))
    bar.close()
    return changed


def _read_outcomes(path: Path, err: TextIO) -> tuple[dict[tuple[str, str, int], dict[str, Any]], list[BadLine]]:
    """The logged outcomes by (item, strategy, budget) (the first of each), and the bad lines."""
    logged: dict[tuple[str, str, int], dict[str, Any]] = {}
    bad: list[BadLine] = []
    if path.exists():
        for lineno, o in read_records(path, bad):
            try:
                k = (str(o["item_id"]), str(o["strategy"]), o["budget"])
            except (KeyError, TypeError):
                bad.append(BadLine(lineno, "outcome record lacks item_id, strategy or budget"))
                continue
            if not _whole(k[2], 1):  # int() would read "300\n" or "\u0663\u0660\u0660" as 300
                bad.append(BadLine(lineno, f"outcome budget {k[2]!r} is not a positive integer"))
                continue
            logged.setdefault(k, o)
        _report(bad, "outcomes.jsonl", err)
    return logged, bad


def _outcome(gk: tuple[str, str, int], item: Mapping[str, Any], recs: list[dict[str, Any]],
             log: Mapping[str, Any] | None, calls: Mapping[str, Any], info: tuple[str, Any], run_seed: int,
             counts: dict[str, int], err: TextIO) -> dict[str, Any] | None:
    """The ``scored.jsonl`` row of one (item, strategy, budget): re-reduced from its calls, or the
    logged outcome kept as it is when some of its logged calls are unreadable; None when the
    strategy cannot reduce the calls (reported)."""
    item_id, strategy, budget = gk
    kind, final_answer = info
    lost = [str(k) for k in log["calls"] if str(k) not in calls] if log and isinstance(log.get("calls"), list) else []
    if log is not None and (lost or not recs):
        counts["kept"] += 1
        n_logged = len(log["calls"]) if isinstance(log.get("calls"), list) else 0
        reason = (f"{len(lost)} of {n_logged} logged call(s) unreadable in calls.jsonl (e.g. {lost[0]!r})" if lost
                  else "no readable call in calls.jsonl")
        print(f"calls.jsonl: {item_id} | {strategy} | {budget}: {reason}; not re-scored, the logged outcome "
              "is kept (rescored: false)", file=err)
        return {
            "item_id": item_id, "task": log.get("task", item.get("task")), "depth": log.get("depth", item.get("depth")),
            "strategy": strategy, "kind": kind, "budget": budget,
            "final_answer": log.get("final_answer"), "parse_status": log.get("parse_status"),
            "correct": bool(log.get("correct")), "credit": float(log.get("credit") or 0.0),
            "generated_tokens": log.get("generated_tokens"), "processed_tokens": log.get("processed_tokens"),
            **dict.fromkeys(COUNT_FIELDS), "diversity": None,  # not countable from the unreadable calls
            "calls": log.get("calls"), "meta": clean_json(log.get("meta")),
            "chance": (item.get("meta") or {}).get("chance"), "finished": True, "changed": None,
            "rescored": False, "rescore_reason": reason,
        }
    if log and isinstance(log.get("calls"), list):
        pos = {k: i for i, k in enumerate(log["calls"])}
        recs.sort(key=lambda c: pos.get(c["key"], len(pos)))  # stable: unknown keys keep log order
    try:
        answer, credit, meta = final_answer(recs, item, run_seed=run_seed)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        counts["failed"] += 1
        print(f"calls.jsonl: {item_id} | {strategy} | {budget}: cannot reduce its calls ({type(e).__name__}: {e}); "
              "this outcome is skipped", file=err)
        return None
    answer_recs = [c for c in recs if _answers(c.get("role"))]
    if answer is not None:
        status = "ok"
    else:
        status = answer_recs[-1].get("parse_status", "no_answer") if answer_recs else "no_answer"
        if status == "ok":
            status = "no_answer"
    g = sum(_int((c.get("usage") or {}).get("completion_tokens")) + _int((c.get("usage") or {}).get("forced_tokens"))
            for c in recs)
    p = g + sum(_int((c.get("usage") or {}).get("prompt_tokens")) for c in recs)
    changed = None
    if log is not None:
        changed = bool(log.get("final_answer") != answer or abs(float(log.get("credit") or 0.0) - float(credit)) > 1e-9)
        counts["changed"] += changed
    return {
        "item_id": item_id, "task": item.get("task"), "depth": item.get("depth"), "strategy": strategy,
        "kind": kind, "budget": budget, "final_answer": answer, "parse_status": status,
        "correct": bool(answer is not None and verify(item, answer)),
        "credit": float(credit), "generated_tokens": g, "processed_tokens": p,
        **call_counts(recs), "diversity": clean_json(outcome_diversity(recs)),  # from the calls, never the log's outcome
        "calls": [c["key"] for c in recs], "meta": clean_json(meta),
        "chance": (item.get("meta") or {}).get("chance"), "finished": log is not None, "changed": changed,
        "rescored": True,
    }


_NO_ROLE = Role("unknown", "a role no registered strategy declares", answers=False)


def _role(role: Any) -> Role:
    """The registered role of a call record (an unknown role carries nothing)."""
    return all_roles().get(role, _NO_ROLE) if isinstance(role, str) else _NO_ROLE


def _answers(role: Any) -> bool:
    """The call's role carries an answer (re-extracted and re-verified); unknown roles do not."""
    return _role(role).answers


def _chained(role: Any) -> bool:
    return _role(role).chained


def _run_seed(run: Mapping[str, Any]) -> int:
    """The run's ``--seed`` from ``run.json`` (0 when absent, as ``eval``'s default)."""
    seed = (run.get("config") or run).get("seed", 0)
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _extraction_text(key: str, calls: Mapping[str, Mapping[str, Any]], memo: dict[str, str]) -> str:
    """The text a call's answer is extracted from, as the runner extracts it.

    ``forced + text`` (the harness-inserted text, e.g. ``"\\nAnswer:"``, then the
    generation); a ``continue`` / ``force_answer`` call continues its parent's chain,
    so the parent's extraction text comes first (the transcript so far), joined by the
    runner's rule (:func:`~depthbench.baselines.backends._continuation.chain_text`: a reply
    in a new user turn is read on its own).
    """
    if key in memo:
        return memo[key]
    chain = []
    k: str | None = key
    seen = set()
    while k is not None and k in calls and k not in seen and k not in memo:
        seen.add(k)
        chain.append(k)
        c = calls[k]
        k = c.get("parent") if _chained(c.get("role")) else None
    prefix = memo.get(k, "") if k is not None else ""
    for ck in reversed(chain):
        prefix = chain_text(prefix, calls[ck])
        memo[ck] = prefix
    return memo[key]


