"""The Arrow-safe release record of an item (item format ``depthbench-item/2``).

A dataset file holds one *record* per item -- the same flat columns in JSONL, Parquet and
a Hugging Face ``datasets`` folder -- so every column has one type across rows, splits and
families, and ``datasets.load_dataset("json" | "parquet", ...)`` reads any release file
without guessing (schema ``depthbench/schemas/item.schema.json``):

=======================  =========  ===========================================================
column                   type       holds
=======================  =========  ===========================================================
``id``                   string     ``<task>/<split>/s<seed>/d<depth>/<index>``
``task``                 string     task name
``family``               string     generator family (``meta.family``)
``generator_version``    string     family version
``split``                string     split name
``seed``                 int64      split seed
``index``                int64      index within the depth
``depth``                int64      certified depth
``prompt``               string     the rendered prompt
``answer``               string     gold answer as text (an integer answer in decimal)
``answer_type``          string     ``choice`` | ``integer`` | ``plan``
``chance``               float64    ``meta.chance`` (a uniform guess's success rate)
``params_json``          string     canonical JSON of the family config
``instance_json``        string     canonical JSON of the machine-readable problem
``solution_trace_json``  string     canonical JSON of the gold trace
``meta_json``            string     canonical JSON of ``meta`` (``chance`` included, exactly)
=======================  =========  ===========================================================

The family-specific parts (instance, trace, params, meta) are canonical JSON text: their
shapes differ by family and, inside a family, by row (a grid's ``meta.necessary`` has one
key per key id), which no single Arrow struct holds. Floats survive: ``chance`` is a
float64 column and its exact decimal text is also in ``meta_json``.

In memory an item is *decoded* (nested dicts, typed ``answer``): :func:`item_record` and
:func:`item_from_record` convert, and ``item_from_record(item_record(x)) == x``.
``depthbench.tasks.load_dataset`` decodes records and also reads the nested lines of
data/v1 (item format 1) unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from depthbench.io import canonical_json

__all__ = ["ITEM_FORMAT", "RECORD_COLUMNS", "item_record", "item_from_record", "is_record", "decode_item"]

ITEM_FORMAT = "depthbench-item/2"

#: (column, Arrow type name) in file order.
RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "string"), ("task", "string"), ("family", "string"), ("generator_version", "string"),
    ("split", "string"), ("seed", "int64"), ("index", "int64"), ("depth", "int64"), ("prompt", "string"),
    ("answer", "string"), ("answer_type", "string"), ("chance", "float64"), ("params_json", "string"),
    ("instance_json", "string"), ("solution_trace_json", "string"), ("meta_json", "string"),
)
_JSON = ("params", "instance", "solution_trace", "meta")
#: an integer answer's text: ASCII decimal digits, no sign, space, underscore or leading zero
#: (the record schema's pattern; ``int()`` alone would also take ``'5\n'``, ``' 5'``, ``'5_0'``, ``'\u0665'``)
_DECIMAL = re.compile(r"0|[1-9][0-9]*").fullmatch


def item_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """The release record of a decoded item (flat, Arrow-safe; see the module docstring).

    Examples
    --------
    >>> from depthbench.generators import build_items
    >>> it = build_items("multihop_arithmetic", "dev", depths=[1], n=1)[0]
    >>> rec = item_record(it)
    >>> type(rec["answer"]).__name__, rec["family"], item_from_record(rec) == it
    ('str', 'multihop_arithmetic', True)
    """
    meta = item["meta"]
    row: dict[str, Any] = {
        "id": item["id"], "task": item["task"], "family": meta["family"],
        "generator_version": item["generator_version"], "split": item["split"], "seed": int(item["seed"]),
        "index": int(item["index"]), "depth": int(item["depth"]), "prompt": item["prompt"],
        "answer": str(item["answer"]), "answer_type": item["answer_type"], "chance": float(meta["chance"]),
    }
    for k in _JSON:
        row[f"{k}_json"] = canonical_json(item[k])
    return row


def is_record(row: Mapping[str, Any]) -> bool:
    """Whether ``row`` is a release record (format 2) rather than a nested item (format 1)."""
    return "instance_json" in row


def item_from_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Decode a release record into an item.

    Raises
    ------
    ValueError
        A missing column, a JSON column that is not valid JSON, an ``answer`` for
        ``answer_type`` integer that is not plain decimal digits (``'5\\n'``, ``' 5'``, ``'05'``,
        ``'5_0'`` are refused: the record schema's rule), or ``family`` / ``chance`` disagreeing with
        ``meta_json`` (the message names the column).
    """
    missing = [c for c, _ in RECORD_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"record lacks column(s) {', '.join(missing)}")
    out: dict[str, Any] = {k: row[k] for k in ("id", "task", "generator_version", "split", "seed", "index", "depth",
                                                "prompt", "answer_type")}
    for k in _JSON:
        try:
            out[k] = json.loads(row[f"{k}_json"])
        except (TypeError, ValueError):
            raise ValueError(f"column {k}_json is not valid JSON text") from None
    answer = row["answer"]
    if row["answer_type"] == "integer":
        if not isinstance(answer, str) or not _DECIMAL(answer):
            raise ValueError(f"column answer {answer!r} is not a decimal integer in plain digits (answer_type "
                             "integer)")
        answer = int(answer)
    out["answer"] = answer
    meta = out["meta"]
    if not isinstance(meta, dict) or meta.get("family") != row["family"]:
        raise ValueError("column family disagrees with meta_json.family")
    if not isinstance(row["chance"], int | float) or float(meta.get("chance", -1.0)) != float(row["chance"]):
        raise ValueError("column chance disagrees with meta_json.chance")
    return out


def decode_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """A file row as an item: records are decoded, nested (format 1) items returned as they are."""
    return item_from_record(row) if is_record(row) else dict(row)
