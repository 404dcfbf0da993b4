"""Items for other harnesses: the family's dataset as rows, and rows back to items.

A row is the item's release record (item format 2, ``tasks/_record.py``: flat, one
type per column in every family, nested fields as ``*_json`` text), the form every
Arrow-based tool reads; :func:`row_item` decodes a record (and leaves a nested item as it
is), so the verifier sees exactly the item.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depthbench.errors import UserError
from depthbench.tasks._dataset import load_dataset
from depthbench.tasks._record import decode_item, item_record
from depthbench.tasks._releases import release_dir

__all__ = ["item_rows", "row_item", "load_family_items"]


def load_family_items(family: str, data: str | None = None, split: str = "test") -> list[dict[str, Any]]:
    """The items of ``family``: from ``data`` (a dataset folder or ``.jsonl`` file) or the canonical shipped release.

    Raises
    ------
    UserError
        Missing data, or items of another family.
    """
    if data is None:
        data = str(release_dir(task=family))
    p = Path(data)
    items, _ = load_dataset(p, split=split if p.is_dir() else None)
    other = sorted({str(fam) for it in items
                    if (fam := (it.get("meta") or {}).get("family") or it.get("task")) != family})
    if other:
        raise UserError(f"data: {data!r} holds items of {', '.join(other)}, not {family}; give that family's dataset")
    return items


def item_rows(items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Release records of items (flat, Arrow-safe)."""
    return [item_record(it) for it in items]


def row_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """The item a row stands for (a release record decoded; a nested item as it is)."""
    return decode_item(dict(row))
