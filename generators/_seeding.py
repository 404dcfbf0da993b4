"""Per-item random streams.

Every item draws from its own PCG64 stream whose 256-bit starting point is the sha256 of
the item's key (task, generator version, split, split seed, depth, index, attempt): the
first 128 bits are the generator's state, the last 128 bits (made odd) its increment, so
two keys never share a stream and nothing is derived as ``seed + index`` (which would make
seed s+1 a shifted copy of seed s). No global random state is read or written.

sha256 already mixes its input completely, which is the job ``numpy.random.SeedSequence``
does for low-entropy seeds; setting the PCG64 state from the digest directly costs a few
microseconds instead of the ~40 of a SeedSequence (item-key format ``depthbench-item/2``;
data/v1 was made with ``PCG64(SeedSequence(sha256))`` over the ``depthbench-item/1`` key,
see :func:`item_rng_v1`). Balanced cue assignment per depth bucket draws from a second,
block-level stream (:func:`block_rng`).

A batch build hands a family's ``generate_batch`` a :class:`StreamRun` (the streams of a run
of items): iterated, it is the reseeded generators as before; its ``uniforms(k)`` gives each
item's first ``k`` uniform draws at once, computed by the optional compiled module
``_stream_c`` (bit for bit numpy's PCG64) or else by numpy, one stream at a time.
"""

from __future__ import annotations

import hashlib
import operator
import threading
from collections.abc import Iterable, Iterator, Sequence

from depthbench._lazy import lazy
from depthbench.generators._compiled import load
from depthbench.io import canonical_json

np = lazy("numpy")

__all__ = ["item_key", "item_entropy", "item_rng", "item_rng_v1", "block_rng", "ItemStreams", "StreamRun",
           "uniform_rows", "cue_draws"]

_C = load("_stream_c")

#: longest row :meth:`StreamRun.uniforms` fills (the compiled module's limit too)
MAX_UNIFORMS = 1 << 24

_KEY = "depthbench-item/2"
_BLOCK_KEY = "depthbench-block/2"


def item_key(task: str, generator_version: str, split: str, seed: int, depth: int, index: int,
             attempt: int = 0) -> str:
    """Canonical text of an item's identity (the input of :func:`item_entropy`).

    ``attempt`` counts redraws after a duplicate (content-hash dedup); 0 for almost every item.
    """
    return canonical_json([_KEY, task, generator_version, split, int(seed), int(depth), int(index), int(attempt)])


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


def _state(entropy: int) -> dict:
    return {"bit_generator": "PCG64", "state": {"state": entropy >> 128, "inc": (entropy & ((1 << 128) - 1)) | 1},
            "has_uint32": 0, "uinteger": 0}


def item_rng(task: str, generator_version: str, split: str, seed: int, depth: int, index: int,
             attempt: int = 0) -> np.random.Generator:
    """The item's own random generator (PCG64 started at the sha256 of the item key).

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
        A new generator (its own bit generator); :class:`ItemStreams` gives the same
        streams without allocating one per item.

    Examples
    --------
    >>> a = item_rng("t", "1", "test", 1, 2, 0).integers(1 << 30)
    >>> b = item_rng("t", "1", "test", 1, 2, 0).integers(1 << 30)
    >>> bool(a == b)
    True
    """
    bg = np.random.PCG64(0)
    bg.state = _state(item_entropy(task, generator_version, split, seed, depth, index, attempt))
    return np.random.Generator(bg)


def item_rng_v1(task: str, generator_version: str, split: str, seed: int, depth: int, index: int,
                attempt: int = 0) -> np.random.Generator:
    """The stream data/v1 was generated with: ``PCG64(SeedSequence(sha256(key v1)))``.

    Kept so the frozen release's seeding stays documented and checkable; generators of
    the current version never use it.
    """
    key = canonical_json(["depthbench-item/1", task, generator_version, split, int(seed), int(depth), int(index),
                          int(attempt)])
    entropy = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


_SHARED = threading.local()


def block_rng(task: str, generator_version: str, split: str, seed: int, depth: int, block: int, *,
              shared: bool = False) -> np.random.Generator:
    """The stream that assigns balanced cue values to one block of a depth bucket.

    Keyed like an item (``depthbench-block/2``) with the block number instead of the
    index, so a block's assignment does not depend on how many items are generated.
    With ``shared=True`` the generator is one object per thread, re-seeded by each such
    call (draw from it at once; a new ``PCG64`` costs more than a block's draws).
    """
    key = canonical_json([_BLOCK_KEY, task, generator_version, split, int(seed), int(depth), int(block)])
    if shared:
        gen = getattr(_SHARED, "gen", None)
        if gen is None:
            gen = _SHARED.gen = np.random.Generator(np.random.PCG64(0))
        bg = gen.bit_generator
    else:
        bg = np.random.PCG64(0)
        gen = np.random.Generator(bg)
    bg.state = _state(int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big"))
    return gen


def cue_draws(rng: "np.random.Generator", half: int) -> tuple[list[int], list[float]]:
    """A cue block's draws: ``rng.permutation(half)`` then ``rng.random(half)``, as lists.

    The permutation is drawn as ``arange`` + ``shuffle`` (what ``permutation`` of an int
    does); ``ItemStreams.block_draws`` gives the same values, compiled when it can.

    Parameters
    ----------
    rng : numpy.random.Generator
        The block's stream (:func:`block_rng`), consumed.
    half : int
        Half the block's size (>= 1).

    Returns
    -------
    tuple of (list of int, list of float)
        A permutation of ``0 .. half - 1`` and ``half`` uniforms in ``[0, 1)``.
    """
    firsts = np.arange(half)
    rng.shuffle(firsts)
    return firsts.tolist(), rng.random(half).tolist()


class _Reseeder:
    """Re-seeds one PCG64 from 32-byte sha256 digests (state = first 128 bits, increment =
    last 128 bits made odd) through the ``bit_generator.state`` setter."""

    def __init__(self) -> None:
        self.bg = np.random.PCG64(0)
        self.gen = np.random.Generator(self.bg)

    def __call__(self, digest: bytes) -> "np.random.Generator":
        self.bg.state = _state(int.from_bytes(digest, "big"))
        return self.gen


class ItemStreams:
    """Item streams for one (task, version, split, seed) without a new object per item.

    ``streams.rng(depth, index, attempt)`` returns a generator in the same state as
    :func:`item_rng` with those arguments, and ``streams.block(depth, block)`` one in the
    state of :func:`block_rng` (``streams.block_draws`` gives its :func:`cue_draws`); each
    is one shared object whose state is reset on each call (so use it for one item, or one
    block, at a time). ``streams.run(depth, indices)`` is a run's :class:`StreamRun`. One
    instance per thread.
    """

    def __init__(self, task: str, generator_version: str, split: str, seed: int) -> None:
        self._prefix = canonical_json([_KEY, task, generator_version, split, int(seed)])[:-1] + ","
        self._block_prefix = canonical_json([_BLOCK_KEY, task, generator_version, split, int(seed)])[:-1] + ","
        self._items = _Reseeder()
        self._blocks = _Reseeder()
        self._local = threading.get_ident()

    def run(self, depth: int, indices: Sequence[int], attempt: int = 0) -> "StreamRun":
        """The streams of items ``indices`` of ``depth`` (this attempt) as one :class:`StreamRun`."""
        return StreamRun(self, depth, indices, attempt)

    def rng(self, depth: int, index: int, attempt: int = 0) -> np.random.Generator:
        if threading.get_ident() != self._local:  # pragma: no cover - misuse guard
            raise RuntimeError("ItemStreams is not shared between threads; make one per thread")
        key = "%s%d,%d,%d]" % (self._prefix, depth, index, attempt)
        return self._items(hashlib.sha256(key.encode("utf-8")).digest())

    def block(self, depth: int, block: int) -> np.random.Generator:
        return self._blocks(self._block_digest(depth, block))

    def block_draws(self, depth: int, block: int, half: int) -> tuple[list[int], list[float]]:
        """:func:`cue_draws` of ``block(depth, block)`` (computed by ``_stream_c`` when loaded)."""
        if _C is None:
            return cue_draws(self.block(depth, block), half)
        return _C.cue_draws(self._block_digest(depth, block), half)

    def _block_digest(self, depth: int, block: int) -> bytes:
        if threading.get_ident() != self._local:  # pragma: no cover - misuse guard
            raise RuntimeError("ItemStreams is not shared between threads; make one per thread")
        key = "%s%d,%d]" % (self._block_prefix, depth, block)
        return hashlib.sha256(key.encode("utf-8")).digest()


class StreamRun:
    """The streams of a run of items of one depth (what a batch build gives ``generate_batch``).

    Iterating it yields, item by item, the shared generator of its :class:`ItemStreams` in
    the state ``streams.rng(depth, index, attempt)`` gives it (take each one before the next,
    as ``Family.generate_batch`` does), so any family can read it as an iterable of
    generators. :meth:`uniforms` instead returns every item's first ``k`` ``random()`` draws
    at once, as a ``(count, k)`` array.

    Parameters
    ----------
    streams : ItemStreams
        The (task, version, split, seed) streams (used from the thread that made them).
    depth : int
        The items' depth.
    indices : sequence of int
        The items' indices, in order (``count = len(indices)``).
    attempt : int, optional
        Their redraw counter (default 0).

    Attributes
    ----------
    digests : bytes
        The ``count`` concatenated 32-byte sha256 digests of the items' keys (each starts
        its stream: see the module docstring).
    """

    __slots__ = ("_reseed", "digests")

    def __init__(self, streams: ItemStreams, depth: int, indices: Sequence[int], attempt: int = 0) -> None:
        if threading.get_ident() != streams._local:  # pragma: no cover - misuse guard
            raise RuntimeError("ItemStreams is not shared between threads; make one per thread")
        sha = hashlib.sha256
        head, tail = ("%s%d," % (streams._prefix, depth)).encode("utf-8"), b",%d]" % attempt
        self.digests = b"".join([sha(b"%s%d%s" % (head, i, tail)).digest() for i in indices])
        self._reseed = streams._items

    def __len__(self) -> int:
        return len(self.digests) >> 5

    def __iter__(self) -> Iterator["np.random.Generator"]:
        reseed, d = self._reseed, self.digests
        for j in range(0, len(d), 32):
            yield reseed(d[j:j + 32])

    def uniforms(self, k: int, count: int | None = None) -> "np.ndarray":
        """The first ``k`` draws of ``Generator.random`` of each of the first ``count`` streams.

        Parameters
        ----------
        k : int
            Draws per stream, in ``[0, MAX_UNIFORMS]``.
        count : int, optional
            Streams to draw from, in ``[0, len(self)]`` (default: all).

        Returns
        -------
        numpy.ndarray
            ``(count, k)`` float64 in ``[0, 1)``; row ``j`` is bit for bit
            ``rng.random(k)`` of the ``j``-th stream (compiled when ``_stream_c`` is loaded,
            else that very call per stream).

        Raises
        ------
        ValueError
            If ``k`` or ``count`` is out of range.
        """
        k = operator.index(k)
        n = len(self) if count is None else operator.index(count)
        if not 0 <= k <= MAX_UNIFORMS:
            raise ValueError(f"uniforms: k must be in [0, {MAX_UNIFORMS}], got {k}")
        if not 0 <= n <= len(self):
            raise ValueError(f"uniforms: count must be in [0, {len(self)}] (the run's streams), got {n}")
        out = np.empty((n, k))
        if _C is not None:
            _C.uniforms(self.digests[:32 * n], k, out)
        else:
            for row, rng in zip(out, self):
                rng.random(out=row)
        return out


def uniform_rows(rngs: Iterable["np.random.Generator"], count: int, k: int) -> "np.ndarray":
    """``count`` rows of ``k`` uniform draws, row ``j`` drawn from the ``j``-th of ``rngs``.

    What a family's ``generate_batch`` fills its draw array with: ``rngs.uniforms(k, count)``
    when ``rngs`` is a :class:`StreamRun`, else ``rng.random(out=row)`` for each stream in
    turn (the same values either way).

    Parameters
    ----------
    rngs : StreamRun or iterable of numpy.random.Generator
        At least ``count`` streams, read in order.
    count, k : int
        Rows and draws per row (``k`` in ``[0, MAX_UNIFORMS]``).

    Returns
    -------
    numpy.ndarray
        ``(count, k)`` float64.

    Raises
    ------
    ValueError
        If ``rngs`` holds fewer than ``count`` streams.
    """
    if isinstance(rngs, StreamRun):
        if len(rngs) < count:
            raise too_few_streams(len(rngs), count)
        return rngs.uniforms(k, count)
    out = np.empty((count, k))
    filled = 0
    for row, rng in zip(out, rngs):
        rng.random(out=row)
        filled += 1
    if filled < count:  # a row without a stream would hold np.empty's leftover bytes
        raise too_few_streams(filled, count)
    return out


def too_few_streams(streams: int, count: int) -> ValueError:
    """The error of a batch given fewer streams than items (``generate_batch``'s ``rngs``)."""
    return ValueError(f"rngs: {streams} stream{'s' if streams != 1 else ''} for {count} cues; pass one "
                      "stream per item")
