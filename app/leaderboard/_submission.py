"""Pack a run directory into a leaderboard submission (``depthbench-submission/1``).

A submission holds predictions, never scores: the metadata of the run and, per
(item, strategy, budget), the item's content sha256 (``item_sha256``: the item it was run
on, since ids repeat across releases), the stated final answer and every call's token usage
and raw completion text (the validator re-derives everything from the texts). The output is
canonical JSON inside a gzip stream with a zero timestamp and no file name, so packing
the same run twice gives the same bytes.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from depthbench import __version__
from depthbench.analysis._rescore import item_hashes, load_run_items, load_run_json, outcomes_on_other_items
from depthbench.baselines._calllog import read_calls
from depthbench.baselines.backends import backends, endpoint_kind
from depthbench.baselines.strategies import all_roles
from depthbench.baselines.strategies.budget_forcing import CLOSE_THEN_ANSWER, USER_TURN
from depthbench.errors import UserError
from depthbench.io import BadLine, atomic_write_bytes, canonical_json, read_jsonl
from depthbench.leaderboard._safety import name_problems

__all__ = ["SUBMISSION_FORMAT", "endpoint_kinds", "pack_run", "write_submission", "submission_bytes",
           "load_schema"]

SUBMISSION_FORMAT = "depthbench-submission/1"


def endpoint_kinds() -> tuple[str, ...]:
    """The accepted ``metadata.endpoint.kind`` values: every registered backend, then ``"other"``."""
    return (*backends(), "other")


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the submission format, with its enums filled from the registries.

    The shipped file (``depthbench/schemas/submission.schema.json``) leaves two lists open:
    ``metadata.endpoint.kind`` gets the backend registry's names and ``"other"``, and a
    call's ``role`` every role of the strategy registry, so a new backend or strategy needs
    no schema edit (``tests/test_submission.py`` checks both).
    """
    text = resources.files("depthbench.schemas").joinpath("submission.schema.json").read_text("utf-8")
    schema = json.loads(text)
    schema["properties"]["metadata"]["properties"]["endpoint"]["properties"]["kind"]["enum"] = list(endpoint_kinds())
    schema["$defs"]["call"]["properties"]["role"]["enum"] = list(all_roles())
    return schema


def _first(d: Mapping[str, Any], *paths: str, default: Any = None) -> Any:
    """The first present value among dotted ``paths`` of a nested mapping."""
    for path in paths:
        cur: Any = d
        for part in path.split("."):
            if isinstance(cur, Mapping) and part in cur:
                cur = cur[part]
            else:
                break
        else:
            if cur is not None:
                return cur
    return default




def _model_name(spec: str, calls: list[dict[str, Any]]) -> str:
    for c in calls:
        if isinstance(c.get("model"), str) and c["model"]:
            return c["model"]
    kind = endpoint_kind(spec)
    if kind != "other" and backends()[kind].model_in_spec and ":" in spec:
        return spec.split(":", 1)[1]
    return spec or "unknown"


def _read_log(path: Path, what: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"RUN_DIR: {path.name} missing in {str(path.parent)!r}; run 'depthbench eval --out RUN_DIR' first")
    bad: list[BadLine] = []
    if what == "calls.jsonl":  # compact call records expanded (no dataset needed: texts, tokens, call tree)

        rows = [rec for _, rec in read_calls(path, None, bad)]
    else:
        rows = list(read_jsonl(path, bad))
    torn_ok = [b for b in bad if b.reason != "torn last line"]
    if torn_ok:
        b = torn_ok[0]
        raise UserError(f"RUN_DIR: {what} line {b.lineno}: {b.reason}; repair or re-run the evaluation")
    return rows


def _item_hashes(run: Mapping[str, Any]) -> dict[str, str]:
    """Item id -> content sha256 (``meta.content_sha256``) of the run's dataset: binds outcomes logged
    without ``item_sha256`` (runs of an earlier depthbench), and an outcome logged with another item's
    hash (a run on another release appended to the folder) is refused. The dataset is the one ``run.json``
    names, checked against its recorded sha256 (:func:`depthbench.analysis.load_run_items`), so
    each id names one item. Empty when that dataset is not at hand (the predictions then name
    their items by id only, which ``submission validate`` notes, or refuses on the canonical release)."""
    try:
        items, _ = load_run_items(run, answers=False)
    except UserError:
        return {}
    return item_hashes(items)


def role_scores(role: Any) -> bool:
    """The role judges another call (its entry carries ``score`` and ``target``)."""
    r = all_roles().get(role) if isinstance(role, str) else None
    return bool(r is not None and r.scores)


def _role_ends_reasoning(role: Any) -> bool:
    """The role is a harness-forced answer (its forced text ends the reasoning)."""
    r = all_roles().get(role) if isinstance(role, str) else None
    return bool(r is not None and r.ends_reasoning)


def _call_entry(c: Mapping[str, Any], raw: bool) -> dict[str, Any]:
    usage = c.get("usage") or {}
    gen = usage.get("completion_tokens")
    prompt = usage.get("prompt_tokens")
    key = c.get("key")
    if not isinstance(gen, int) or not isinstance(prompt, int):
        raise UserError(f"RUN_DIR: call {key!r} has no integer usage.prompt_tokens/completion_tokens; "
                        "the run log is incomplete")
    entry: dict[str, Any] = {
        "key": key,
        "role": c.get("role"),
        "sample": c.get("sample", 0),
        "round": c.get("round", 0),
        "parent": c.get("parent"),
        "generated_tokens": gen,
        "processed_tokens": prompt + gen,
        "finish_reason": c.get("finish_reason"),
        "seed": c.get("seed") if isinstance(c.get("seed"), int) else None,
    }
    if raw:
        entry["text"] = c.get("text") if isinstance(c.get("text"), str) else ""
    if c.get("think_open") is True:
        entry["think_open"] = True
    if _role_ends_reasoning(c.get("role")) and c.get("forced") in (USER_TURN, CLOSE_THEN_ANSWER):
        entry["forced"] = c["forced"]  # which of the harness's texts preceded it (checked by validate)
    if role_scores(c.get("role")):
        entry["score"] = c.get("score")
        entry["target"] = c.get("target")
    return entry


def pack_run(run_dir: str | Path, *, submitter: str = "anonymous", model_name: str | None = None,
             model_revision: str | None = None, raw: bool = True, date: str | None = None) -> dict[str, Any]:
    """Build the submission object of a finished run directory.

    Parameters
    ----------
    run_dir : path-like
        Output folder of ``depthbench eval`` (``run.json``, ``calls.jsonl``, ``outcomes.jsonl``).
    submitter : str
        Who submits (person or group).
    model_name : str, optional
        Overrides the name taken from the call log / model spec.
    model_revision : str, optional
        Model revision (commit, checkpoint, quantisation).
    raw : bool
        Include raw completion texts (default). Without them the validator refuses the
        submission (nothing could be re-derived); ``False`` is for private archives only.
    date : str, optional
        ``YYYY-MM-DD`` (a real calendar date); defaults to the run's start date, so packing
        is deterministic.

    Returns
    -------
    dict
        The submission, ready for :func:`write_submission`.

    Raises
    ------
    UserError
        If the run directory is missing files or fields, or ``date`` is not a real date.
    """
    if date is not None:
        try:
            datetime.date.fromisoformat(date)
        except ValueError:
            raise UserError(f"--date: {date!r} is not a real date; write YYYY-MM-DD, e.g. 2026-11-29") from None
    rd = Path(run_dir)
    run = load_run_json(rd)
    calls = _read_log(rd / "calls.jsonl", "calls.jsonl")
    outcomes = _read_log(rd / "outcomes.jsonl", "outcomes.jsonl")
    if not outcomes:
        raise UserError("RUN_DIR: outcomes.jsonl holds no finished items; finish the evaluation first")

    spec = str(_first(run, "config.model", "model.spec", "model", default="") or "")
    if isinstance(_first(run, "config.model", "model"), Mapping):
        spec = str(_first(run, "config.model.spec", "model.spec", default=""))
    sha = _first(run, "dataset_sha256", "dataset.sha256", "config.dataset_sha256")
    if not isinstance(sha, str):
        raise UserError("RUN_DIR: run.json has no dataset_sha256; the run did not record its dataset")
    task = _first(run, "dataset.task", "task", "config.task") or (outcomes[0].get("task"))
    split = _first(run, "dataset.split", "split", "config.split", default="test")
    sampling_src = _first(run, "config.sampling", "sampling", default={}) or {}
    sampling: dict[str, Any] = {
        "temperature": _first(sampling_src, "temperature", default=_first(run, "config.temperature", default=0.0)),
        "top_p": _first(sampling_src, "top_p", default=_first(run, "config.top_p", default=1.0)),
        "seed": _first(run, "config.seed", "seed", default=_first(sampling_src, "seed")),
    }
    allowed = load_schema()["properties"]["metadata"]["properties"]["sampling"]["properties"]
    for k, v in sorted(sampling_src.items()):  # standard sampler names only (the schema's list)
        if k in allowed and k not in sampling and (v is None or isinstance(v, (int, float, str, bool))):
            sampling[k] = v
    started = str(_first(run, "start_time", "started", "started_at", "created", default="") or "")
    date = date or (started[:10] if len(started) >= 10 else "1970-01-01")
    suite = _first(run, "versions.depthbench", "depthbench_version", default=__version__)

    by_key = {c["key"]: c for c in calls if isinstance(c.get("key"), str)}
    latest: dict[tuple[str, str, int], Mapping[str, Any]] = {}
    for o in outcomes:
        latest[(str(o["item_id"]), str(o["strategy"]), int(o["budget"]))] = o
    hashes = _item_hashes(run)
    foreign = outcomes_on_other_items(latest, hashes)
    if foreign:  # e.g. a run on another release appended to this folder: ids repeat across releases
        iid, other = foreign[0]
        raise UserError(f"RUN_DIR: {len(foreign)} outcome(s) of outcomes.jsonl were made on other items than those of "
                        f"the dataset run.json names (e.g. {iid!r}: item_sha256 {other[:12]}..., the dataset's item "
                        f"{hashes[iid][:12]}...): the folder mixes runs on two datasets; pack a folder holding one "
                        "run, or evaluate those items again on the run's dataset")
    predictions = []
    for (item_id, strategy, budget), o in sorted(latest.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        entries = []
        for key in o.get("calls") or []:
            if key not in by_key:
                raise UserError(f"RUN_DIR: outcome of {item_id!r} ({strategy}, {budget}) names call {key!r} "
                                "missing from calls.jsonl; the run log is incomplete")
            entries.append(_call_entry(by_key[key], raw))
        pred: dict[str, Any] = {"item_id": item_id, "strategy": strategy, "budget": budget,
                                "final_answer": o.get("final_answer"), "calls": entries}
        bound = o.get("item_sha256") if isinstance(o.get("item_sha256"), str) else hashes.get(item_id)
        if bound is not None:
            pred["item_sha256"] = bound
        predictions.append(pred)

    run_strats = _first(run, "config.strategies", "strategies", default=None)
    seen_strats = sorted({p["strategy"] for p in predictions})
    strategies = [s for s in run_strats if s in seen_strats] if isinstance(run_strats, list) else seen_strats
    strategies += [s for s in seen_strats if s not in strategies]
    # refuse names the validator would reject, before anything is written
    for field_name, flag, value in (("metadata.submitter", "--submitter", submitter),
                                    ("metadata.model.name", "--model-name", model_name),
                                    ("metadata.model.revision", "--model-revision", model_revision)):
        if isinstance(value, str):
            for problem in name_problems(field_name, value):
                raise UserError(f"{flag}: {problem}")
    return {
        "format": SUBMISSION_FORMAT,
        "metadata": {
            "submitter": submitter,
            "model": {"name": model_name or _model_name(spec, calls), "revision": model_revision},
            "endpoint": {"kind": endpoint_kind(spec), "spec": spec[:500]},
            "sampling": sampling,
            "strategies": strategies,
            "budgets": sorted({p["budget"] for p in predictions}),
            "suite_version": str(suite),
            "dataset": {"task": str(task), "split": str(split), "sha256": sha},
            "date": date,
            "raw_completions": raw,
        },
        "predictions": predictions,
    }


def submission_bytes(submission: Mapping[str, Any]) -> bytes:
    """Canonical JSON of ``submission`` in a deterministic gzip stream (mtime 0, no name)."""
    payload = canonical_json(submission).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as g:
        g.write(payload)
    return buf.getvalue()


def write_submission(submission: Mapping[str, Any], out: str | Path) -> Path:
    """Write ``submission`` atomically as ``.json.gz`` and return the path.

    Raises
    ------
    UserError
        If ``out`` does not end with ``.json.gz`` or cannot be written (no partial file is left).
    """
    out = Path(out)
    if not out.name.endswith(".json.gz"):
        raise UserError(f"--out: {out.name!r} must end with .json.gz")
    data = submission_bytes(submission)
    try:
        atomic_write_bytes(out, data)
    except OSError as e:
        raise UserError(f"--out: cannot write {str(out)!r} ({e.strerror or type(e).__name__}); "
                        "choose a writable path") from None
    return out
