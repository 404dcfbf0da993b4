"""Items for other harnesses: the family's dataset as rows, and rows back to items.

A row is the item's release record (item format 2, ``generators/_record.py``: flat, one
type per column in every family, nested fields as ``*_json`` text), the form every
Arrow-based tool reads; :func:`row_item` decodes a record (and leaves a nested item as it
is), so the verifier sees exactly the item.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["item_rows", "row_item", "load_family_items"]


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

        data = str(Path(depthbench.data.__file__).parent / "v2" / family)
    p = Path(data)
    items, _ = load_dataset(p, split=split if p.is_dir() else None)
    other = sorted({str(fam) for it in items
                    if (fam := (it.get("meta") or {}).get("family") or it.get("task")) != family})
    if other:
        raise UserError(f"data: {data!r} holds items of {', '.join(other)}, not {family}; give that family's dataset")
    return items


def item_rows(items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Release records of items (flat, Arrow-safe)."""
    from depthbench.generators._record import item_record

    return [item_record(it) for it in items]


def row_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """The item a row stands for (a release record decoded; a nested item as it is)."""
    from depthbench.generators._record import decode_item

    return decode_item(dict(row))
