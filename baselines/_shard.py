"""``eval --shard K/N``: a balanced part of the items.

Shards are balanced across depths: the items (after ``--limit``) in depth order, then
dataset order, are dealt round-robin, so every shard has every depth and shard sizes
differ by at most one, per depth and in all. ``depthbench merge``
(:mod:`depthbench.baselines._merge`) joins the shards' run folders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from depthbench.errors import UserError

__all__ = ["parse_shard", "shard_items"]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/8"`` -> ``(2, 8)`` (1-based); None stays None.

    Raises
    ------
    UserError
        Not of the form K/N with 1 <= K <= N.
    """
    if text is None:
        return None
    k, sep, n = str(text).partition("/")
    if not (sep and re.fullmatch(r"[0-9]+", k.strip()) and re.fullmatch(r"[0-9]+", n.strip())
            and 1 <= int(k) <= int(n)):
        raise UserError(f"--shard: {text!r} is not K/N with 1 <= K <= N; e.g. --shard 3/8 "
                        "(with Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
    return int(k), int(n)


def shard_items(items: Sequence[Mapping[str, Any]], shard: tuple[int, int]) -> list[Mapping[str, Any]]:
    """The items of shard ``(k, n)``, in dataset order (see the module docstring)."""
    k, n = shard
    order = sorted(range(len(items)), key=lambda i: (items[i].get("depth") is None, items[i].get("depth") or 0, i))
    chosen = set(order[k - 1::n])
    return [it for i, it in enumerate(items) if i in chosen]
