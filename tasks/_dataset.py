"""Dataset items: generate, certify, render, deduplicate, load.

One item is assembled as follows (see :func:`make_item`):

1. the family config is ``config_cls(**spec.params, depth=d)``;
2. the item's RNG comes from :func:`depthbench.generators._seeding.item_rng` over
   (task, generator version, split, seed, depth, index, attempt), and the family's cue
   variables (``Family.cues``) from :func:`bucket_cues`, a seeded balanced assignment over
   the depth bucket's indices;
3. ``family.generate(config, rng, cues)`` builds the problem, then the family's independent
   ``certify(instance)`` re-solves it; an item whose certified depth or answer differs
   from the generator's is refused (:class:`CertificationMismatch`), never emitted;
4. the prompt is the spec's Jinja2 template with ``problem = family.describe(instance)``
   (compiled once per task: the text around ``{{ problem }}`` is rendered once and the
   statement inserted between, whenever the template allows it);
5. ``meta`` records the generator source sha256, chance rate, size measures, answer space,
   the cue values and the content sha256 (sha256 of the family name and the problem
   statement, which states the whole instance).

:func:`build_items` assembles each depth bucket with a ``_Bucket`` that computes what is
constant over the bucket once (id prefix, params, source sha256, prompt head and tail, the
content hash's prefix, the cue blocks) and re-seeds one shared stream per item
(:class:`~depthbench.generators._seeding.ItemStreams`); the items are those :func:`make_item`
builds one at a time, byte for byte; a family with ``Family.generate_batch`` generates a run
of up to ``Family.batch_size`` (default ``_BATCH``) indices of one depth in one call (each
item still from its own stream), states them with ``Family.describe_batch`` and certifies
them with ``Family.certify_batch`` when the family has those (one by one otherwise, and
whenever the batch certifier refuses the run, so that a refused item is named), then
finishes the run's items in one loop (``_Bucket._finish``).
The cyclic garbage collector is paused meanwhile and the finished items are handed to its
oldest generation at once (see ``_gc_paused``).

Items come in depth-major order (every index of the first depth, then the next depth).
Within a build no two items share a content hash: a duplicate is redrawn with the next
``attempt`` (deterministically, keeping its cue values). Dedup runs per depth (items of
different certified depth cannot be equal), which lets a shard or a worker reproduce the
exact same sequence.

Balance: cue values are assigned in blocks of ``2**k`` consecutive indices (``k`` cues),
each block a seeded shuffle of complementary pairs (a cue vector and its negation), so
every prefix of a bucket -- ``--n 3`` of ``--n 5``, or the whole bucket -- has each cue
true in exactly half of its items (+-1 for an odd count), and a full block holds every
combination once. Redrawing never changes them.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import operator
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from depthbench._lazy import lazy
from depthbench.errors import UserError
from depthbench.generators import get_family
from depthbench.generators._base import Family
from depthbench.generators._seeding import ItemStreams, block_rng, cue_draws, item_rng
from depthbench.io import canonical_json, read_jsonl, sha256_bytes, sha256_file
from depthbench.tasks._record import decode_item, item_from_record
from depthbench.tasks._spec import TaskSpec, check_params, load_spec

jinja2 = lazy("jinja2")
jinja2_meta = lazy("jinja2.meta")
jsonschema = lazy("jsonschema")

__all__ = [
    "build_items",
    "make_item",
    "bucket_cues",
    "load_dataset",
    "item_content_sha256",
    "CertificationMismatch",
    "MAX_ATTEMPTS",
]

#: Redraws allowed for one item whose content duplicates an earlier one.
MAX_ATTEMPTS = 64


class CertificationMismatch(RuntimeError):
    """The family's certifier disagrees with its generator (a generator bug, never emitted)."""


@lru_cache(maxsize=None)
def _source_sha256(path: str) -> str:
    return sha256_file(path)


@lru_cache(maxsize=1)
def _jinja() -> Any:
    """The prompt templates' Jinja2 environment (StrictUndefined), built on first use."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


_SENTINELS = ("\x00depthbench-problem-0\x00", "\x00depthbench-problem-1\x00")


class _Template:
    """A compiled prompt template whose undefined names are :class:`UserError` s.

    :meth:`render_item` inserts the problem statement between a pre-rendered head and
    tail when the template uses ``problem`` exactly once and unfiltered (checked by
    rendering with two sentinels); the pre-rendered parts are cached per answer space only
    if the template reads ``answer_space``. Otherwise every item is rendered in full.
    """

    def __init__(self, text: str) -> None:
        try:
            self._t = _jinja().from_string(text)
            used = jinja2_meta.find_undeclared_variables(_jinja().parse(text))
        except jinja2.TemplateSyntaxError as e:  # specs are checked at load; this covers hand-made ones
            raise UserError(f"prompt_template: Jinja2 syntax error at template line {e.lineno} ({e.message}); "
                            "fix the template") from None
        self.uses_space = "answer_space" in used  # the prompt depends on the item's answer space
        self._parts: dict[tuple[str, str], tuple[str, str] | None] = {}

    def render(self, **kw: Any) -> str:
        try:
            return self._t.render(**kw)
        except jinja2.UndefinedError as e:
            raise UserError(f"prompt_template: {e.message} (variables: {', '.join(kw)}); "
                            "fix the template") from None

    def render_item(self, problem: str, answer_space: Mapping[str, Any], answer_format: str) -> str:
        """``render(problem=..., answer_space=..., answer_format=...)``, fast when possible."""
        parts = self.parts(answer_space, answer_format)
        if parts is None:
            return self.render(problem=problem, answer_space=answer_space, answer_format=answer_format)
        return parts[0] + problem + parts[1]

    def parts(self, answer_space: Mapping[str, Any], answer_format: str) -> tuple[str, str] | None:
        """The prompt's text before and after the problem statement for this answer space and
        format (None: the template must be rendered in full for each problem)."""
        key = (answer_format, _space_key(answer_space) if self.uses_space else "")
        parts = self._parts.get(key, False)
        if parts is False:
            a, b = (self.render(problem=p, answer_space=answer_space, answer_format=answer_format) for p in _SENTINELS)
            parts = None
            if a.count(_SENTINELS[0]) == 1 and a.replace(_SENTINELS[0], _SENTINELS[1]) == b:
                head, tail = a.split(_SENTINELS[0])
                parts = (head, tail)
            if len(self._parts) < 4096:
                self._parts[key] = parts
        return parts


def _space_key(answer_space: Mapping[str, Any]) -> str:
    """A cache key for an answer space: its ``repr`` (answer spaces are JSON-native values, whose
    repr tells apart what renders differently: ``97`` and ``97.0``, ``1`` and ``True``, ``"1"``)."""
    return repr(answer_space)


@lru_cache(maxsize=64)
def _template(text: str) -> _Template:
    return _Template(text)


def item_content_sha256(family: str, instance: Mapping[str, Any]) -> str:
    """sha256 of an item's content: the family name and its problem statement.

    ``sha256(family + "\\n" + describe(instance))`` with the family's ``describe``; the
    statement states the whole instance (each family's ``parse_prompt`` inverts it), so
    equal hashes mean equal problems. (data/v1 hashed the canonical JSON of
    ``{"family", "instance"}``.)
    """
    return _content_sha256(family, get_family(family).describe(instance))


def _content_sha256(family: str, problem: str) -> str:
    return sha256_bytes(f"{family}\n{problem}".encode("utf-8"))


def _cue_block(draws: tuple[list[int], list[float]], names: tuple[str, ...]) -> tuple[dict[str, bool], ...]:
    """One block's cue values from its draws (``_seeding.cue_draws`` of its ``block_rng``
    stream, with ``half = 2 ** (len(names) - 1)``): complementary pairs, shuffled.

    Pair ``i`` is the cue vector ``firsts[i]`` and its complement, in that order unless the
    pair's uniform is below 0.5; the dicts returned are shared per cue vector (callers copy
    them).
    """
    mask = (1 << len(names)) - 1
    vecs = _cue_dicts(names)
    order: list[dict[str, bool]] = []
    for v, u in zip(*draws):
        order += (vecs[v ^ mask], vecs[v]) if u < 0.5 else (vecs[v], vecs[v ^ mask])
    return tuple(order)


@lru_cache(maxsize=64)
def _cue_dicts(names: tuple[str, ...]) -> tuple[dict[str, bool], ...]:
    """``{name: bit i of vec}`` for every cue vector ``vec`` in ``0 .. 2**k - 1``."""
    return tuple({name: bool(vec >> i & 1) for i, name in enumerate(names)} for vec in range(1 << len(names)))


@lru_cache(maxsize=4096)
def _block_cues(task: str, version: str, split: str, seed: int, depth: int, block: int,
                names: tuple[str, ...]) -> tuple[dict[str, bool], ...]:
    return _cue_block(cue_draws(block_rng(task, version, split, seed, depth, block, shared=True),
                                1 << (len(names) - 1)), names)


def bucket_cues(task: str, generator_version: str, split: str, seed: int, depth: int, index: int,
                names: Sequence[str]) -> dict[str, bool]:
    """The balanced cue values of item ``index`` of a (split, depth) bucket.

    Parameters
    ----------
    task, generator_version, split, seed, depth
        As for ``item_rng``.
    index : int
        Index within the depth, >= 0.
    names : sequence of str
        The family's cue names (``Family.cues``), ``k`` of them.

    Returns
    -------
    dict
        ``{name: bool}``. Over indices ``0 .. n-1`` each cue is true for ``n // 2`` or
        ``n // 2 + 1`` items (exactly ``n / 2`` for even ``n``), for every ``n``; each block
        of ``2**k`` indices holds every combination once.

    Examples
    --------
    >>> vals = [bucket_cues("t", "1", "test", 0, 3, i, ("a", "b"))["a"] for i in range(7)]
    >>> sum(vals) in (3, 4)
    True
    """
    if not names:
        return {}
    block, pos = divmod(int(index), 1 << len(names))
    return dict(_block_cues(task, generator_version, split, int(seed), int(depth), block, tuple(names))[pos])


@dataclass(frozen=True)
class _Ctx:
    spec: TaskSpec
    family: Family

    @property
    def task(self) -> str:
        return self.spec.name


def _context(spec: TaskSpec) -> _Ctx:
    return _Ctx(spec, get_family(spec.family))


def _config(ctx: _Ctx, depth: int) -> Any:
    params = dict(ctx.spec.params)
    check_params(ctx.family.name, params, ctx.spec.source or f"task {ctx.task}")  # params.<field> errors first
    try:
        top = ctx.family.max_depth(params)
    except (TypeError, ValueError, KeyError, AttributeError):
        top = None
    if top is not None and depth > top:
        raise UserError(f"--depths: depth {depth} does not fit the size of task {ctx.task} "
                        f"(largest depth for params {canonical_json(params)} is {top}); "
                        "lower the depth or enlarge params in the task spec")
    try:
        return ctx.family.config_cls(**params, depth=int(depth))
    except (TypeError, ValueError) as e:
        raise UserError(f"params: {e} (task {ctx.task}, depth {depth}); fix the task spec's params or --depths") from None


@lru_cache(maxsize=256)
def _field_pairs(config: Any) -> tuple[tuple[str, Any, bool], ...]:
    return tuple((f.name, v, isinstance(v, tuple)) for f in fields(config) for v in (getattr(config, f.name),))


def make_item(ctx_or_spec: "_Ctx | TaskSpec | str", split: str, seed: int, depth: int, index: int,
              attempt: int = 0, config: Any = None, *, rng: Any = None) -> dict[str, Any]:
    """Generate, certify and render one item.

    Parameters
    ----------
    ctx_or_spec : TaskSpec or str
        The task (a spec, or a name / path for :func:`load_spec`).
    split : str
        Split name.
    seed : int
        The split seed, >= 0.
    depth : int
        Requested depth (>= 1); the emitted item's ``depth`` is the certified one, equal to it.
    index : int
        Index within the depth, >= 0.
    attempt : int, optional
        Redraw counter (dedup), default 0.
    config : optional
        The family config for this depth (built from the spec when omitted).
    rng : numpy.random.Generator, optional
        The item's stream in the state :func:`item_rng` gives it (for batch builds).

    Returns
    -------
    dict
        The item in memory (nested ``params``, ``instance``, ``solution_trace``, ``meta``;
        typed ``answer``); its Arrow-safe release record is
        :func:`depthbench.tasks.item_record`.

    Raises
    ------
    UserError
        If the depth does not fit the spec's size or the params are invalid.
    CertificationMismatch
        If the certifier disagrees with the generator (depth or answer).
    """
    ctx = ctx_or_spec if isinstance(ctx_or_spec, _Ctx) else _context(load_spec(ctx_or_spec))
    if config is None:
        config = _config(ctx, depth)
    return _Bucket(ctx, split, seed, depth, config).item(index, attempt, rng)


class _Bucket:
    """The items of one (task, split, seed, depth) bucket.

    Everything that is the same for every item of the bucket is computed once here: the
    id prefix, the ``params`` dict, the generator source sha256, the prompt's pre-rendered
    head and tail, the content hash's prefix state, the cue blocks. :meth:`item` then
    does only the per-item work (generate, certify, describe, hash, two dicts), with the
    exact bytes of the per-item definition (tested against it).
    """

    def __init__(self, ctx: _Ctx, split: str, seed: int, depth: int, config: Any,
                 streams: ItemStreams | None = None) -> None:
        fam = ctx.family
        self.ctx, self.fam, self.config = ctx, fam, config
        self.split, self.seed, self.depth = split, int(seed), int(depth)
        self.streams = streams
        self.id_prefix = f"{ctx.task}/{split}/s{self.seed}/d{self.depth}/"
        try:
            pairs = _field_pairs(config)
        except TypeError:  # an unhashable config
            pairs = _field_pairs.__wrapped__(config)
        self.params = {k: v for k, v, _ in pairs}
        self.list_params = tuple(k for k, _, t in pairs if t)
        self.source_sha = _source_sha256(fam.source_file)
        self.template = _template(ctx.spec.prompt_template)
        self.answer_format = ctx.spec.answer_format
        self.hash_prefix = hashlib.sha256(f"{fam.name}\n".encode("utf-8"))
        self.block_size = 1 << len(fam.cues)
        self._block: tuple[int, tuple[dict[str, bool], ...]] | None = None

    def cues(self, index: int) -> dict[str, bool] | None:
        """``bucket_cues`` of ``index`` (None for a family without cues); blocks drawn once."""
        if not self.fam.cues:
            return None
        block, pos = divmod(index, self.block_size)
        if self._block is None or self._block[0] != block:
            if self.streams is not None:
                vals = _cue_block(self.streams.block_draws(self.depth, block, self.block_size >> 1), self.fam.cues)
            else:
                vals = _block_cues(self.ctx.task, self.fam.version, self.split, self.seed, self.depth, block,
                                   tuple(self.fam.cues))
            self._block = (block, vals)
        return dict(self._block[1][pos])

    def _rng(self, index: int, attempt: int) -> Any:
        if self.streams is not None:
            return self.streams.rng(self.depth, index, attempt)
        return item_rng(self.ctx.task, self.fam.version, self.split, self.seed, self.depth, index, attempt)

    def item(self, index: int, attempt: int = 0, rng: Any = None) -> dict[str, Any]:
        """Generate, certify and render item ``index`` (see :func:`make_item`)."""
        if rng is None:
            rng = self._rng(index, attempt)
        cues = self.cues(index)
        prob = self.fam.generate(self.config, rng) if cues is None else self.fam.generate(self.config, rng, cues)
        return self._finish((index,), attempt, (cues,), (prob,))[0]

    def items(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """``[self.item(i) for i in indices]`` (first attempts), the problems made by one
        ``Family.generate_batch`` call when the family has one (same items: each is drawn
        from its own stream, see the hook's contract; with shared streams they come as one
        ``StreamRun``, whose draws the family may take at once)."""
        fam = self.fam
        if fam.generate_batch is None or len(indices) < 2:
            return [self.item(i) for i in indices]
        cues = [self.cues(i) for i in indices]
        rngs = (self._rng(i, 0) for i in indices) if self.streams is None else self.streams.run(self.depth, indices)
        probs = fam.generate_batch(self.config, rngs, cues)
        instances = [p.instance for p in probs]
        texts = None if fam.describe_batch is None else fam.describe_batch(instances)
        certs = None
        if fam.certify_batch is not None:
            try:
                certs = fam.certify_batch(instances)
            except ValueError:  # certified one by one in _finish, so the refused item is named
                pass
        for hook, got in (("generate_batch", probs), ("describe_batch", texts), ("certify_batch", certs)):
            if got is not None and len(got) != len(indices):
                raise RuntimeError(f"{fam.name}: {hook} returned {len(got)} results for {len(indices)} items "
                                   "(a family bug: one result per item, in order)")
        return self._finish(indices, 0, cues, probs, texts, certs)

    def _finish(self, indices: Sequence[int], attempt: int, cues: Sequence[dict[str, bool] | None],
                probs: Sequence[Any], texts: Sequence[str] | None = None,
                certs: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Certify and render generated problems, one item each, in order.

        ``texts``: their statements, already made by ``Family.describe_batch``; ``certs``:
        their certificates, already made by ``Family.certify_batch`` (None: made here, one
        by one). What is the same for every item is looked up once per call; the items are
        those of the per-item definition, byte for byte.
        """
        fam, depth, name, version, certify = self.fam, self.depth, self.fam.name, self.fam.version, self.fam.certify
        task, split, seed, source_sha = self.ctx.task, self.split, self.seed, self.source_sha
        id_prefix, hash_prefix, params, list_params = self.id_prefix, self.hash_prefix, self.params, self.list_params
        template, answer_format = self.template, self.answer_format
        parts = None if template.uses_space else template.parts(probs[0].answer_space, answer_format)
        out = []
        for j, index in enumerate(indices):
            prob = probs[j]
            instance = prob.instance
            if certs is not None:
                cert = certs[j]
            else:
                try:
                    cert = certify(instance)
                except ValueError as e:  # a generator bug: name the item
                    raise CertificationMismatch(f"{name}: the certifier refused the generated instance "
                                                f"({self._where(index, attempt)}): {e}; item refused") from e
            if not (prob.depth == depth == cert.depth):
                raise CertificationMismatch(f"{name}: requested depth {depth}, generator built {prob.depth}, "
                                            f"certifier measured {cert.depth} ({self._where(index, attempt)}); "
                                            "item refused")
            if prob.answer_type == "plan":
                same = isinstance(cert.answer, str) and len(cert.answer) == len(str(prob.answer))
            else:
                same = cert.answer == prob.answer
            if not same:
                raise CertificationMismatch(f"{name}: generator answer {prob.answer!r} but certifier answer "
                                            f"{cert.answer!r} ({self._where(index, attempt)}); item refused")
            problem = fam.describe(instance) if texts is None else texts[j]
            h = hash_prefix.copy()
            h.update(problem.encode("utf-8"))
            space = prob.answer_space
            # Families return JSON-native values (lists, dicts, str, int, float), so the item in
            # memory equals the item read back (tested for every family) without a JSON round trip.
            meta: dict[str, Any] = {"family": name, "generator_source_sha256": source_sha, "chance": float(prob.chance),
                                    "size": dict(prob.size), "answer_space": space}
            if cert.extra:
                meta.update(cert.extra)
            if cues[j] is not None:
                meta["cues"] = cues[j]
            meta["content_sha256"] = h.hexdigest()
            item_params = params.copy()
            for k in list_params:
                item_params[k] = list(item_params[k])
            if template.uses_space:
                parts = template.parts(space, answer_format)
            out.append({
                "id": f"{id_prefix}{index}",
                "task": task,
                "generator_version": version,
                "split": split,
                "seed": seed,
                "index": int(index),
                "depth": depth,
                "params": item_params,
                "instance": instance,
                "prompt": (template.render(problem=problem, answer_space=space, answer_format=answer_format)
                           if parts is None else parts[0] + problem + parts[1]),
                "answer": prob.answer,
                "answer_type": prob.answer_type,
                "solution_trace": prob.solution_trace,
                "meta": meta,
            })
        return out

    def _where(self, index: int, attempt: int) -> str:
        return _where(self.ctx, self.split, self.seed, self.depth, index, attempt)


def _where(ctx: _Ctx, split: str, seed: int, depth: int, index: int, attempt: int) -> str:
    return f"task {ctx.task} split {split} seed {seed} depth {depth} index {index} attempt {attempt}"


# --------------------------------------------------------------------------- building

_WORKER_CTX: dict[str, _Ctx] = {}


def _worker_items(spec_dict: dict[str, Any], split: str, seed: int, keys: list[tuple[int, int]]) -> list[dict]:
    key = canonical_json(spec_dict)
    ctx = _WORKER_CTX.get(key)
    if ctx is None:
        ctx = _WORKER_CTX[key] = _context(TaskSpec.from_dict(spec_dict))
    buckets: dict[int, _Bucket] = {}
    streams = ItemStreams(ctx.task, ctx.family.version, split, seed)
    out = []
    with _gc_paused():
        for d, indices in _batches(keys, ctx.family.batch_size):
            bucket = buckets.get(d)
            if bucket is None:
                bucket = buckets[d] = _Bucket(ctx, split, seed, d, _config(ctx, d), streams)
            out.extend(bucket.items(indices))
    return out


#: Items of one depth generated per ``Family.generate_batch`` call (also the progress bar's step).
_BATCH = 128


def _batches(keys: Sequence[tuple[int, int]], size: int = 0) -> Iterator[tuple[int, list[int]]]:
    """``(depth, indices)`` runs of consecutive keys of one depth, at most ``size`` long
    (``Family.batch_size``; 0: ``_BATCH``)."""
    size = size or _BATCH
    run: list[int] = []
    cur = None
    for d, i in keys:
        if run and (d != cur or len(run) >= size):
            yield cur, run
            run = []
        cur = d
        run.append(i)
    if run:
        yield cur, run


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while items accumulate, then age them at once.

    Items hold no reference cycles, but each holds many containers (a 100-node graph has
    hundreds of edge lists): with the collector on, its passes rescan every finished item
    again and again (about 40% of a graph build). Paused, they pile up in the youngest
    generation, whose first collection afterwards would still scan each of them once, then
    again in the middle generation. So on the way out ``gc.freeze()`` + ``gc.unfreeze()``
    (two O(1) list splices) moves every tracked object straight to the oldest generation,
    where long-lived objects end up anyway: nothing is scanned now, and nothing is lost (a
    cycle there is still collected by the next full collection). Skipped when the process
    froze objects itself (``gc.get_freeze_count() > 0``), whose freeze it would undo. The
    collector's state is restored afterwards, also on error.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _as_int(x: Any) -> Any:
    """``x`` as a Python int when it is an integer of any kind (numpy too); else unchanged."""
    if isinstance(x, bool):
        return x
    try:
        return operator.index(x)
    except TypeError:
        return x


def _parse_shard(shard: "tuple[int, int] | str | None") -> tuple[int, int] | None:
    if shard is None:
        return None
    if isinstance(shard, str):
        try:
            k, n = (int(x) for x in shard.split("/"))
        except ValueError:
            raise UserError(f"--shard: {shard!r} is not K/N; write e.g. --shard 1/4") from None
    else:
        k, n = shard
    if n < 1 or not 1 <= k <= n:
        raise UserError(f"--shard: {k}/{n} is out of range; K must be in 1..N and N >= 1")
    return k, n


def build_items(spec_or_name: "TaskSpec | str | os.PathLike[str]", split: str, depths: Sequence[int] | None = None,
                n: int | None = None, seed: int | None = None, *, shard: "tuple[int, int] | str | None" = None,
                workers: int = 1, exclude: Iterable[str] = (),
                progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Generate a split in memory: certified, rendered, deduplicated items.

    Parameters
    ----------
    spec_or_name : TaskSpec, str or path
        Task spec, bundled task name, or YAML path.
    split : str
        Split name; must be one of the spec's splits unless both ``n`` and ``seed`` are given.
    depths : sequence of int, optional
        Depths to generate, in order (default: the spec's depth grid).
    n : int, optional
        Items per depth (default: the split's ``n_per_depth``), >= 1.
    seed : int, optional
        Split seed (default: the split's seed), >= 0.
    shard : (K, N) or "K/N", optional
        Return only the K-th of N contiguous parts (1-based) of the depth-major item list;
        concatenating the N shards gives the unsharded list exactly.
    workers : int, optional
        Worker processes (default 1); the result does not depend on it.
    exclude : iterable of str, optional
        Content sha256 values that must not appear (e.g. another split's items); such
        items are redrawn like duplicates.
    progress : callable, optional
        Called with the number of newly finished items (for a progress bar).

    Returns
    -------
    list of dict
        Items in depth-major order (depth as given, then index).

    Raises
    ------
    UserError
        Unknown task or split, n <= 0, seed < 0, a depth that does not fit the size,
        invalid params, or no distinct item found within ``MAX_ATTEMPTS`` redraws.
    CertificationMismatch
        On a generator bug (certifier disagrees).
    """
    spec = load_spec(spec_or_name)
    ctx = _context(spec)
    if split not in spec.splits and (n is None or seed is None):
        raise UserError(f"--split: {split!r} is not a split of task {spec.name} "
                        f"({', '.join(spec.splits)}); choose one, or give both --n and --seed")
    sp = spec.splits.get(split)
    n = sp.n_per_depth if n is None else _as_int(n)
    seed = sp.seed if seed is None else _as_int(seed)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"--n: items per depth must be an integer >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"--seed: must be an integer >= 0, got {seed!r}")
    depths = [_as_int(d) for d in (spec.depths if depths is None else depths)]
    if not depths:
        raise UserError("--depths: empty; give at least one depth, e.g. --depths 1,2,4")
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise UserError(f"--depths: depth must be an integer >= 1, got {d!r}")
    if len(set(depths)) != len(depths):
        raise UserError("--depths: a depth is listed twice; list each depth once")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"--workers: must be an integer >= 1, got {workers!r}")
    configs = {d: _config(ctx, d) for d in depths}  # validates every depth before any work

    keys = [(d, i) for d in depths for i in range(n)]
    lo, hi = 0, len(keys)
    sh = _parse_shard(shard)
    if sh is not None:
        k, parts = sh
        lo, hi = (k - 1) * len(keys) // parts, k * len(keys) // parts
    # Dedup is per depth, so start at the first index of lo's depth block.
    start = lo - (keys[lo][1] if lo < len(keys) else 0)
    todo = keys[start:hi]

    streams = ItemStreams(ctx.task, ctx.family.version, split, seed)
    buckets = {d: _Bucket(ctx, split, seed, d, configs[d], streams) for d in depths}
    if workers == 1 or len(todo) < 2 * workers:
        raw: list[dict] = []
        with _gc_paused():
            for d, indices in _batches(todo, ctx.family.batch_size):
                before = len(raw)
                raw.extend(buckets[d].items(indices))
                if progress is not None and len(raw) > lo - start:
                    progress(len(raw) - max(before, lo - start))
    else:
        chunk = max(1, min(256, len(todo) // (4 * workers)))
        chunks = [todo[j:j + chunk] for j in range(0, len(todo), chunk)]
        spec_dict = spec.to_dict()
        raw = []
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor  # only with --workers > 1

        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_die_with_parent, initargs=(os.getpid(),)) as pool, _gc_paused():
            for part in pool.map(_worker_items, [spec_dict] * len(chunks), [split] * len(chunks),
                                 [seed] * len(chunks), chunks):
                before = len(raw)
                raw.extend(part)
                if progress is not None:
                    progress(max(0, len(raw) - max(before, lo - start)))

    excluded = frozenset(exclude)
    out: list[dict] = []
    seen: set[str] = set()
    cur_depth = None
    for pos, item in enumerate(raw, start=start):
        d, i = keys[pos]
        if d != cur_depth:
            cur_depth, seen = d, set()
        attempt = 0
        h = item["meta"]["content_sha256"]
        while h in seen or h in excluded:
            attempt += 1
            if attempt >= MAX_ATTEMPTS:
                raise UserError(f"params: could not draw {n} distinct items at depth {d} for task {spec.name} "
                                f"(index {i} duplicated {MAX_ATTEMPTS} times); lower --n or enlarge params")
            item = buckets[d].item(i, attempt)
            h = item["meta"]["content_sha256"]
        seen.add(h)
        if pos >= lo:
            out.append(item)
    return out


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the parent process dies, even by SIGKILL.

    On Linux the kernel sends SIGKILL to the worker when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread also checks every 0.2 s that the
    parent is still there. Without this, a killed ``generate --workers N`` left its workers
    (and multiprocessing's resource tracker, which waits for them) running.
    """
    import threading

    if os.getppid() != parent_pid:  # the parent died before this worker started
        os._exit(1)
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog below still ends the worker
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        import time

        while True:
            time.sleep(0.2)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="depthbench-parent-watch", daemon=True).start()


# --------------------------------------------------------------------------- loading

def load_dataset(path: "str | os.PathLike[str]", split: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Load items from a dataset folder (with ``manifest.json``) or one ``.jsonl`` file.

    Every line is checked against the item schema (``depthbench.schemas/item.schema.json``)
    before anything is returned, so a run never starts on a malformed item. A hidden split's
    public folder (``manifest.json`` of format ``depthbench-hidden-split/1`` beside
    ``<split>.prompts.jsonl``) loads too: its items carry no answer (schema
    ``prompt_item.schema.json``) and the dataset sha256 is that of the public manifest.

    Parameters
    ----------
    path : path-like
        A folder written by ``depthbench generate`` (or ``data/v1/<task>``, or a hidden
        split's ``public/`` folder), or a JSONL file.
    split : str, optional
        For a folder: load only ``<split>.jsonl`` (default: every JSONL file in the manifest,
        in name order).

    Returns
    -------
    items : list of dict
    manifest_sha256 : str
        sha256 of the manifest file bytes (the *dataset sha256*); for a lone JSONL file with
        no manifest beside it that lists it, the sha256 of the file itself.

    Raises
    ------
    UserError
        Missing path/manifest/split, a file whose sha256 differs from the manifest, a
        corrupt line, or a line that fails the item schema (file, line and field named).
    """
    p = Path(path)
    if not p.exists():
        raise UserError(f"dataset: {str(p)!r} does not exist; give a dataset folder or a .jsonl file")
    if p.is_dir():
        mpath = p / "manifest.json"
        if not mpath.is_file():
            raise UserError(f"dataset: {str(p)!r} has no manifest.json; generate it with `depthbench generate`")
        mbytes = mpath.read_bytes()
        try:
            manifest = json.loads(mbytes)
        except json.JSONDecodeError as e:
            raise UserError(f"dataset: {mpath} is not valid JSON ({e.msg}); regenerate the dataset") from None
        if isinstance(manifest, dict) and manifest.get("format") == "depthbench-hidden-split/1":
            return _load_public_prompts(p, manifest, mbytes, split)
        files = manifest.get("files", {}) if isinstance(manifest, dict) else {}
        names = sorted(f for f in files if f.endswith(".jsonl"))
        if split is not None:
            want = f"{split}.jsonl"
            if want not in files:
                have = ", ".join(f[:-6] for f in names) or "none"
                raise UserError(f"--split: no split {split!r} in {str(p)!r} (splits: {have}); choose one of them")
            names = [want]
        if not names:
            raise UserError(f"dataset: {str(p)!r} holds no .jsonl split; generate it with --format jsonl")
        items: list[dict] = []
        for name in names:
            fp = p / name
            if not fp.is_file():
                raise UserError(f"dataset: {fp} listed in the manifest is missing; regenerate the dataset")
            want_sha = files[name].get("sha256")
            if not want_sha or sha256_file(fp) != want_sha:
                raise UserError(f"dataset: {fp} does not match its sha256 in manifest.json (file changed); "
                                "regenerate the dataset or restore the file")
            got = _read_items(fp)
            want_n = files[name].get("items")
            if isinstance(want_n, int) and want_n != len(got):
                raise UserError(f"dataset: {fp} holds {len(got)} items but manifest.json lists {want_n}; "
                                "regenerate the dataset")
            want_depths = files[name].get("per_depth")
            if isinstance(want_depths, dict):
                have = Counter(str(it.get("depth")) for it in got)
                if have != Counter({str(d): c for d, c in want_depths.items() if c}):
                    d = next(d for d in sorted(set(have) | set(want_depths)) if have[d] != want_depths.get(d, 0))
                    raise UserError(f"dataset: {fp} holds {have[d]} items of depth {d} but manifest.json's per_depth "
                                    f"lists {want_depths.get(d, 0)}; regenerate the dataset")
            items.extend(got)
        return items, sha256_bytes(mbytes)
    items = _read_items(p)
    if split is not None:
        items = [it for it in items if it.get("split") == split]
    mpath = p.parent / "manifest.json"
    if mpath.is_file():
        mbytes = mpath.read_bytes()
        try:
            manifest = json.loads(mbytes)
        except json.JSONDecodeError:
            manifest = {}
        entry = manifest.get("files", {}).get(p.name) if isinstance(manifest, dict) else None
        if entry and entry.get("sha256") == sha256_file(p):
            return items, sha256_bytes(mbytes)
    return items, sha256_file(p)


def _load_public_prompts(folder: Path, manifest: Mapping[str, Any], mbytes: bytes,
                         split: str | None) -> tuple[list[dict[str, Any]], str]:
    """The prompts of a hidden split's public folder (no answers), and the public manifest's sha256."""
    hidden = str(manifest.get("split") or "")
    name = f"{hidden}.prompts.jsonl"
    if split is not None and split != hidden:
        raise UserError(f"--split: {str(folder)!r} is the public folder of hidden split {hidden!r}; "
                        f"give --split {hidden}")
    entry = (manifest.get("files") or {}).get(name)
    fp = folder / name
    if not isinstance(entry, Mapping) or not fp.is_file():
        raise UserError(f"dataset: {str(folder)!r} is a hidden split's public manifest without its prompts "
                        f"({name}); ask the maintainers for the complete public folder")
    if sha256_file(fp) != entry.get("sha256"):
        raise UserError(f"dataset: {fp} does not match its sha256 in manifest.json (file changed); "
                        "download the public folder again")
    return _read_items(fp, schema="prompt_item"), sha256_bytes(mbytes)


@lru_cache(maxsize=2)
def _item_validator(schema: str) -> Any:
    text = resources.files("depthbench.schemas").joinpath(f"{schema}.schema.json").read_text("utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


#: files (by sha256 and schema) whose every line already passed the schema in this process
_VALIDATED: set[tuple[str, str]] = set()


def _read_items(path: Path, schema: str = "item_decoded") -> list[dict]:
    """Items of one JSONL file: release records (item format 2) decoded, nested items as they are;
    each then checked against ``schema`` (``item_decoded`` or ``prompt_item``)."""
    bad: list = []
    items = []
    for lineno, row in enumerate(read_jsonl(path, bad=bad), 1):
        try:
            # a row with any *_json column is a record (format 2), even when instance_json is the one missing
            items.append(item_from_record(row) if any(k.endswith("_json") for k in row) else decode_item(row))
        except ValueError as e:
            raise UserError(f"dataset: {path} line {lineno}: {e}; regenerate the file") from None
    if bad:
        b = bad[0]
        raise UserError(f"dataset: {path} line {b.lineno}: {b.reason}; regenerate the file")
    key = (sha256_file(path), schema)
    if key in _VALIDATED:
        return items
    validator = _item_validator(schema)
    lines = iter(_line_numbers(path))
    for item in items:
        lineno = next(lines)
        if validator.is_valid(item):
            continue
        err = min(validator.iter_errors(item), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
        where = ".".join(str(x) for x in err.absolute_path)
        if err.validator == "required":
            missing = next((f for f in err.validator_value if f not in err.instance), None)
            where = f"{where}.{missing}" if where and missing else (missing or where)
            what = "missing"
        else:
            what = err.message if len(err.message) <= 120 else err.message[:120] + "..."
        item_id = item.get("id") if isinstance(item.get("id"), str) else None
        raise UserError(f"dataset: {path} line {lineno}{f' (item {item_id!r})' if item_id else ''}: field "
                        f"{where or '(item)'!r}: {what}; fix the line or regenerate the file with "
                        "'depthbench generate'")
    _VALIDATED.add(key)
    return items


def _line_numbers(path: Path) -> Iterable[int]:
    """The 1-based line numbers of the non-blank lines of ``path`` (the lines ``read_jsonl`` yields)."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                yield lineno
