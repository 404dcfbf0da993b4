"""The family of an item, and answer extraction with the family's rules.

Everything in the scorers that depends on a task family goes through
:func:`family_of`, which reads the item's ``meta.family`` (never its task name) and
returns the registered :class:`~depthbench.generators.Family`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from depthbench.errors import UserError
from depthbench.generators import Family, families, get_family
from depthbench.scorers._extract import Extraction, extract

__all__ = ["family_of", "extract_answer"]


def family_of(item: Mapping[str, Any]) -> Family:
    """The registered family of a dataset item, from ``meta.family``.

    Raises
    ------
    UserError
        If the item has no ``meta.family`` or names a family that is not registered.

    Examples
    --------
    >>> family_of({"meta": {"family": "grid_planning"}}).answer_type
    'plan'
    """
    meta = item.get("meta") if isinstance(item, Mapping) else None
    name = meta.get("family") if isinstance(meta, Mapping) else None
    if isinstance(name, str):
        try:
            return get_family(name)
        except UserError:
            pass
    what = "has no meta.family" if name is None else f"names family {name!r}, which is not registered"
    where = item.get("id", "?") if isinstance(item, Mapping) else "?"
    raise UserError(f"item {where}: {what}; items made by `depthbench generate` record one of "
                    f"{', '.join(families())}")


def extract_answer(item: Mapping[str, Any], text: str | None, finish_reason: str | None = None, *,
                   think_open: bool = False, reasoning_end: int | None = None) -> Extraction:
    """Extract the final answer of a response to ``item`` with its family's rules.

    :func:`depthbench.scorers.extract` with the family's ``answer_type`` (and its own
    ``normalize`` when it has one) and the item's ``meta.answer_space``; ``think_open`` and
    ``reasoning_end`` as there.

    Examples
    --------
    >>> item = {"meta": {"family": "multihop_arithmetic", "answer_space": {"modulus": 97}}}
    >>> extract_answer(item, "so x3 = 100\nAnswer: 100")
    Extraction(answer=3, parse_status='ok')
    """
    fam = family_of(item)
    return extract(text, fam.answer_type, (item.get("meta") or {}).get("answer_space") or {},
                   finish_reason=finish_reason, think_open=think_open, reasoning_end=reasoning_end,
                   normalize=fam.normalize)
