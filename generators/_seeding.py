"""Per-item random streams.

Every item draws from its own ``numpy.random.Generator``, seeded by a
``numpy.random.SeedSequence`` whose entropy is the sha256 of the item's key
(task, generator version, split, split seed, depth, index, attempt). Nothing is derived
as ``seed + index`` (which would make seed s+1 a shifted copy of seed s), and no global
random state is read or written.
"""

from __future__ import annotations

import hashlib

from depthbench._lazy import lazy
from depthbench.io import canonical_json

np = lazy("numpy")

__all__ = ["item_key", "item_entropy", "item_rng"]


def item_key(task: str, generator_version: str, split: str, seed: int, depth: int, index: int,
             attempt: int = 0) -> str:
    """Canonical JSON text of an item's identity (the input of :func:`item_entropy`).

    ``attempt`` counts redraws after a duplicate (content-hash dedup); 0 for almost every item.
    """
    return canonical_json(["depthbench-item/1", task, generator_version, split, int(seed), int(depth),
                           int(index), int(attempt)])


def item_entropy(task: str, generator_version: str, split: str, seed: int, depth: int, index: int,
                 attempt: int = 0) -> int:
    """256-bit integer entropy of an item: the sha256 of :func:`item_key`.

    Returns
    -------
    int
        In ``[0, 2**256)``.
    """
    key = item_key(task, generator_version, split, seed, depth, index, attempt)
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big")


def item_rng(task: str, generator_version: str, split: str, seed: int, depth: int, index: int,
             attempt: int = 0) -> np.random.Generator:
    """The item's own random generator (PCG64 over a SeedSequence of the key's sha256).

    Parameters
    ----------
    task : str
        Task name.
    generator_version : str
        Family version (bumping it changes every item).
    split : str
        Split name (``"test"``, ``"dev"``, ...).
    seed : int
        The split's seed (>= 0).
    depth : int
        Requested depth (part of the key so a sweep's depths never share a stream).
    index : int
        Index of the item within its depth (>= 0).
    attempt : int, optional
        Redraw counter after a duplicate (default 0).

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> a = item_rng("t", "1", "test", 1, 2, 0).integers(1 << 30)
    >>> b = item_rng("t", "1", "test", 1, 2, 0).integers(1 << 30)
    >>> bool(a == b)
    True
    """
    ss = np.random.SeedSequence(item_entropy(task, generator_version, split, seed, depth, index, attempt))
    return np.random.Generator(np.random.PCG64(ss))
