"""Items for other harnesses: the family's dataset as rows, and rows back to items.

A row is the item with its nested fields as JSON text (``params_json``, ``instance_json``,
``solution_trace_json``, ``meta_json``) and ``answer`` as text
(:func:`depthbench.generators._export.flatten_item`), the form every Arrow-based tool
reads; :func:`row_item` reverses it, so the verifier sees exactly the item.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["item_rows", "row_item", "load_family_items"]

_JSON = ("params", "instance", "solution_trace", "meta")


def load_family_items(family: str, data: str | None = None, split: str = "test") -> list[dict[str, Any]]:
    """The items of ``family``: from ``data`` (any form ``eval --data`` reads) or the shipped release.

    Raises
    ------
    UserError
        Missing data, or items of another family.
    """
    from depthbench.errors import UserError
    from depthbench.generators import load_dataset

    if data is None:
        import depthbench.data

        data = str(Path(depthbench.data.__file__).parent / "v1" / family)
    p = Path(data)
    items, _ = load_dataset(p, split=split if p.is_dir() else None)
    other = sorted({str(fam) for it in items
                    if (fam := (it.get("meta") or {}).get("family") or it.get("task")) != family})
    if other:
        raise UserError(f"data: {data!r} holds items of {', '.join(other)}, not {family}; give that family's dataset")
    return items


def item_rows(items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flat rows of items (nested fields as JSON text)."""
    from depthbench.generators._export import flatten_item

    return [flatten_item(it) for it in items]


def row_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """The item a flat row (or an item itself) stands for."""
    if "instance_json" not in row:
        return dict(row)
    item = {k: v for k, v in row.items() if not k.endswith("_json")}
    for k in _JSON:
        if f"{k}_json" in row:
            item[k] = json.loads(row[f"{k}_json"])
    if item.get("answer_type") == "integer" and isinstance(item.get("answer"), str):
        try:
            item["answer"] = int(item["answer"])
        except ValueError:
            pass
    return item
