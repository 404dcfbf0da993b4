"""Read the logs of lm-evaluation-harness and inspect_ai as replay records.

``depthbench eval --model replay:PATH`` accepts, besides depthbench's own replay JSONL:

* an lm-eval ``samples_<task>_<time>.jsonl`` (``lm_eval --log_samples``): one line per
  document; the item is ``doc["id"]``, the texts are ``resps[0]`` (one per repeat, in
  order: samples 0, 1, ...). Lines of filters other than the first seen for a document
  are skipped (the raw responses are the same);
* an inspect ``.eval`` (or ``.json``) log: one sample per (item, epoch); the item is the
  sample ``id``, the text ``output.completion``, the sample index ``epoch - 1``, the
  generated tokens ``output.usage.output_tokens`` when the provider reported them,
  ``stop_reason`` ``max_tokens`` read as ``finish_reason`` ``length``.

Both carry the exported item record (lm-eval's ``doc``, inspect's ``metadata["item"]``), so
each record also gets ``item_sha256``, the item's content sha256: replaying a log made on one
release against another release's items of the same ids is refused.

Their generations then get depthbench's own re-extraction, verification, per-depth
curves and verdicts (``depthbench score`` / ``analyze``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from depthbench.errors import UserError

__all__ = ["foreign_records", "read_lm_eval_samples", "read_inspect_log"]


def _first_object(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    obj = json.loads(line)
                    return obj if isinstance(obj, dict) else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


def foreign_records(path: str | Path) -> list[dict[str, Any]] | None:
    """Replay records of an lm-eval or inspect log, or None when ``path`` is neither."""
    p = Path(path)
    if p.suffix == ".eval":
        return read_inspect_log(p)
    first = _first_object(p)
    if first is None:
        return None
    if "doc_id" in first and "resps" in first and "doc" in first:
        return read_lm_eval_samples(p)
    if p.suffix == ".json" and "eval" in first and "samples" in first:
        return read_inspect_log(p)
    return None


def read_lm_eval_samples(path: str | Path) -> list[dict[str, Any]]:
    """Replay records from an lm-eval ``samples_*.jsonl``.

    Raises
    ------
    UserError
        A line without ``doc.id`` (a task that is not depthbench's) or without texts.
    """
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"lm-eval samples {path} line {lineno}"
            try:
                rec = json.loads(line)
            except ValueError:
                raise UserError(f"{where}: not valid JSON; fix or remove the line") from None
            doc = rec.get("doc") if isinstance(rec, dict) else None
            if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
                raise UserError(f"{where}: doc has no 'id'; use the depthbench lm-eval tasks "
                                "(depthbench export lm-eval), whose documents carry the item id")
            if rec.get("doc_id") in seen:
                continue
            seen.add(rec.get("doc_id"))
            resps = rec.get("resps")
            texts = resps[0] if isinstance(resps, list) and resps and isinstance(resps[0], list) else None
            if not texts or not all(isinstance(t, str) for t in texts):
                raise UserError(f"{where}: resps holds no generated text; log a generate_until task with --log_samples")
            bound = _content_sha256(doc)
            for k, text in enumerate(texts):
                out.append({"item_id": doc["id"], "sample": k, "text": text, "finish_reason": "stop", **bound})
    if not out:
        raise UserError(f"--model replay:{path}: the lm-eval samples file holds no documents")
    return out


def _content_sha256(row: Any) -> dict[str, str]:
    """``{"item_sha256": ...}`` from an exported item row (``meta_json`` holds ``content_sha256``), else ``{}``."""
    meta = row.get("meta_json") if isinstance(row, dict) else None
    try:
        content = json.loads(meta).get("content_sha256") if isinstance(meta, str) else None
    except (ValueError, AttributeError):
        content = None
    return {"item_sha256": content} if isinstance(content, str) and len(content) == 64 else {}


def read_inspect_log(path: str | Path) -> list[dict[str, Any]]:
    """Replay records from an inspect ``.eval`` / ``.json`` log (needs inspect_ai installed).

    Raises
    ------
    UserError
        inspect_ai missing, an unreadable log, or a log without samples.
    """
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise UserError(f"--model replay:{path}: reading inspect logs needs inspect-ai: "
                        "pip install 'depthbench[harness]'") from None
    try:
        log = read_eval_log(str(path))
    except Exception as e:  # inspect raises several types for damaged logs
        raise UserError(f"--model replay:{path}: not a readable inspect log ({type(e).__name__}: {e})") from None
    out: list[dict[str, Any]] = []
    for s in log.samples or []:
        out_ = s.output
        text = out_.completion if out_ is not None else ""
        rec: dict[str, Any] = {"item_id": str(s.id), "sample": int(s.epoch) - 1, "text": text,
                               "finish_reason": "length" if out_ is not None and out_.stop_reason == "max_tokens"
                               else "stop"}
        rec.update(_content_sha256((s.metadata or {}).get("item")))
        usage = getattr(out_, "usage", None) if out_ is not None else None
        if usage is not None and isinstance(getattr(usage, "output_tokens", None), int):
            rec["completion_tokens"] = int(usage.output_tokens)
        if usage is not None and isinstance(getattr(usage, "input_tokens", None), int):
            rec["prompt_tokens"] = int(usage.input_tokens)
        out.append(rec)
    if not out:
        raise UserError(f"--model replay:{path}: the inspect log holds no samples (was it run with --no-log-samples?)")
    return out
