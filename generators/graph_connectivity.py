"""Graph connectivity with certified depth.

An undirected graph of ``num_nodes`` nodes, a source and two candidate targets; exactly one
target is reachable. The graph is two components of ``num_nodes / 2`` nodes each: the
*main* component holds the source and the reachable target at shortest-path distance
``depth``; the *decoy* component is an isomorphic copy of it (same shape, same size) holding
the other target at the position matching the reachable one, so no local cue (degree,
being a leaf, ...) tells the targets apart. Node labels are a random permutation, the edge
list is shuffled and each edge's orientation is random.

Graph kinds (one component shown; ``M = num_nodes / 2``):

``two_paths``
    A path of ``M`` nodes; source and target lie ``depth`` steps apart at a random offset.
    The decoy is a second path of ``M`` nodes. Edges: ``num_nodes - 2``.
``bridge``
    A chain of ``depth`` petals between junctions ``j0 = source, ..., j_depth = target``.
    Each petal has a short path (one edge ``j_i - j_{i+1}``), a long path (at least two
    edges ``j_i - ... - j_{i+1}``) and a dead end (a path hanging off ``j_i``). To keep the
    edge count fixed across depths, the component always holds ``C = (M - 1) // 3``
    cycles: the ``depth`` petals plus ``C - depth`` triangles hung on dead-end tips.
    Leftover nodes lengthen long paths and dead ends at random. Edges:
    ``num_nodes - 2 + 2 C``. After the bridge graphs of Mirtaheri et al. (2025).
``random_branching``
    A path ``source - ... - target`` of ``depth`` edges, then every further node attaches
    to a uniformly chosen earlier node (a random recursive tree), giving distractor
    branches off the path and beyond it. Edges: ``num_nodes - 2``.

Cues balanced per bucket (``FAMILY.cues``): ``target_first`` (the reachable target is
listed first) and ``target_larger`` (its label is the larger of the two). The dataset
builder assigns both so that each holds in exactly half of every (split, depth) bucket
(+-1 for an odd count) and the four combinations are equally frequent; the label cue is set
by swapping the two targets' labels in the random permutation when needed (the permutation
stays uniform given the cue).

Depth is certified by an independent breadth-first search over adjacency lists built from
the edge list alone (not the builders' bookkeeping), which also checks that exactly one
target is reachable; the test suite cross-checks it against networkx on 10,000 items of
every kind. It reads every label and ``num_nodes`` only as a plain ``int`` (a JSON ``true``
is refused, not read as node 1; so are ``1.0``, ``"1"`` and numpy integers) and every edge
and the targets only as a list or tuple of two. The gold trace is the (unique) shortest path.

The search and the statement have compiled twins (``generators/_graph_c.c``), used for
instances of the canonical shape and tested equal to the Python code, which stays the
reference and the fallback (``DEPTHBENCH_PURE_PYTHON=1`` forces it).

References
----------
Mirtaheri, P., et al. (2025). Let me think! A long chain of thought can be worth
exponentially many short ones. arXiv:2505.21825.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from depthbench.generators._base import Certificate, Family, Problem, StepCheck, parse_int
from depthbench.generators._compiled import load
from depthbench.generators._seeding import uniform_rows

#: the compiled certifier, statement and batch edge lists (generators/_graph_c.c), or None: pure Python
_C = load("_graph_c")

__all__ = ["GraphConnectivityConfig", "generate", "generate_batch", "certify", "describe", "parse_prompt", "max_depth",
           "verify", "check_path", "trace_first_error", "parse_trace", "stated_steps", "format_step",
           "KINDS", "CUES", "VERSION", "FAMILY"]

VERSION = "3"
KINDS = ("two_paths", "bridge", "random_branching")
CUES = ("target_first", "target_larger")


def _component_max_depth(kind: str, m: int) -> int:
    if kind == "bridge":
        return (m - 1) // 3
    return m - 1


def max_depth(params: Any) -> int:
    """Largest depth that fits the size.

    Parameters
    ----------
    params : Mapping or GraphConnectivityConfig
        ``kind`` and ``num_nodes`` (any ``depth`` is ignored).

    Returns
    -------
    int
        ``num_nodes/2 - 1`` for ``two_paths`` and ``random_branching``;
        ``(num_nodes/2 - 1) // 3`` for ``bridge``. 0 if nothing fits.
    """
    get = params.get if isinstance(params, Mapping) else lambda k, d=None: getattr(params, k, d)
    kind = get("kind", "random_branching")
    n = get("num_nodes", 100)
    if kind not in KINDS or not isinstance(n, int) or isinstance(n, bool) or n < 4:
        return 0
    return max(0, _component_max_depth(kind, n // 2))


@dataclass(frozen=True)
class GraphConnectivityConfig:
    """Parameters of one graph connectivity problem.

    Parameters
    ----------
    depth : int
        Shortest-path distance from the source to the reachable target, >= 1.
    num_nodes : int
        Total node count (both components), even, >= 4. Fixed across a depth sweep.
    kind : str
        ``"two_paths"``, ``"bridge"`` or ``"random_branching"``.

    Raises
    ------
    ValueError
        On a wrong type, an odd, too small or too large (> ``MAX_NUM_NODES``, 1,000,000)
        ``num_nodes``, an unknown ``kind``, or a
        depth that does not fit ``num_nodes`` (the message gives the maximum).
    """

    depth: int
    num_nodes: int = 100
    kind: str = "random_branching"

    def __post_init__(self) -> None:
        for name in ("depth", "num_nodes"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.num_nodes < 4 or self.num_nodes % 2:
            raise ValueError(f"num_nodes must be an even integer >= 4 (two equal components), got {self.num_nodes}")
        if self.num_nodes > MAX_NUM_NODES:
            raise ValueError(f"num_nodes must be <= {MAX_NUM_NODES}, got {self.num_nodes}")
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        top = max_depth(self)
        if self.depth > top:
            raise ValueError(f"depth {self.depth} does not fit num_nodes={self.num_nodes} for kind={self.kind} "
                             f"(largest depth: {top}); lower the depth or raise num_nodes")


# --------------------------------------------------------------------------- components
# An item draws one vector of uniforms ``u = rng.random(K)`` (``K`` fixed by the config) and
# cuts it into: two cue coins, the component builder's draws, the label keys (``num_nodes``),
# the edge-order keys and the orientation coins (``num_edges`` each). A permutation is the
# stable argsort of its keys: uniform, and a function of ``u`` alone (a tie, below 1e-10 at
# 1,000 nodes, is broken by position the same way by every numpy).
#
# Each builder takes (m, d, its slice of u) and returns the edge ends of the whole graph as
# one flat int array: edge j of the list is (ends[2j], ends[2j + 1]). The main component's
# edges come first, over local ids 0..m-1, with local ids 0..d the source-to-target
# shortest path in order (source 0, target d); the decoy's are the same edges over ids
# m..2m-1 (node + m). ``_layout`` gives a builder's number of uniforms, the number of edges
# and the arrays it reuses, cached per (kind, m, d).

_COPY = np.array([[0], [1]])  # component index, to offset the decoy's ids by m


def _two_paths_layout(m: int, d: int) -> tuple[int, int, tuple[np.ndarray, ...]]:
    pos = np.arange(m - 1)
    path_ends = np.stack([pos, pos + 1], axis=1).ravel()  # ends as positions along the path
    return 1, 2 * (m - 1), (np.stack([path_ends, path_ends]), _COPY * m)


def _two_paths(m: int, d: int, u: np.ndarray, layout: tuple[np.ndarray, ...]) -> np.ndarray:
    # a path of m nodes whose source sits at a uniform offset start in [0, m - d): position i
    # of the path gets local id (i - start) mod m, so source and target are 0 and d
    path_ends, offset = layout
    start = int(u[0] * (m - d))
    return ((path_ends - start) % m + offset).ravel()


def _random_branching_layout(m: int, d: int) -> tuple[int, int, tuple[np.ndarray, ...]]:
    edges = np.zeros((2, m - 1, 2), dtype=np.int64)
    ids = np.arange(1, m)
    edges[:, :, 1] = ids
    edges[:, :d, 0] = ids[:d] - 1  # the path 0 - 1 - ... - d
    edges += _COPY[:, :, None] * m
    return m - 1 - d, 2 * (m - 1), (edges, ids[d:], _COPY * m)


def _random_branching(m: int, d: int, u: np.ndarray, layout: tuple[np.ndarray, ...]) -> np.ndarray:
    template, later, offset = layout
    edges = template.copy()
    # node v > d attaches to a uniform earlier node in [0, v) (truncation = floor for u >= 0)
    np.add((u * later).astype(np.int64), offset, out=edges[:, d:, 0])
    return edges.ravel()


def _bridge_layout(m: int, d: int) -> tuple[int, int, tuple[Any, ...]]:
    # Rows of the main component's edge list: d short paths (k, k + 1); the chain edges
    # (previous node, node) for the chain nodes d+1 .. d+total in chain order; d closing
    # edges (last node of long path k, k + 1); 3 rows per triangle (x, y), (y, y + 1),
    # (y + 1, x) on a dead-end tip x. Everything but the chain starts, the long paths' last
    # nodes and the tips x is the same for every item: a template.
    cycles = (m - 1) // 3
    spare = m - 1 - d - 2 * cycles  # nodes beyond the minimum, >= 0 when d <= cycles
    total = 2 * d + spare           # chain nodes (each of the 2d chains has >= 1)
    t = cycles - d                  # triangles
    rows = 2 * d + total + 3 * t
    tpl = np.zeros((2, rows, 2), dtype=np.int64)
    e = tpl[0]
    e[:d, 0], e[:d, 1] = np.arange(d), np.arange(1, d + 1)
    nodes = np.arange(d + 1, d + 1 + total)
    e[d:d + total, 0], e[d:d + total, 1] = nodes - 1, nodes
    e[d + total:2 * d + total, 1] = np.arange(1, d + 1)
    y = np.arange(d + 1 + total, m, 2)
    r = 2 * d + total
    e[r::3, 1], e[r + 1::3, 0], e[r + 1::3, 1], e[r + 2::3, 0] = y, y, y + 1, y + 1
    if d + 1 + total + 2 * t != m:  # pragma: no cover - arithmetic invariant
        raise RuntimeError(f"bridge layout uses {d + 1 + total + 2 * t} nodes, expected {m}")
    return spare + t, 2 * rows, (tpl, spare, total, r, np.arange(2 * d) % d)


def _bridge(m: int, d: int, u: np.ndarray, layout: tuple[Any, ...]) -> np.ndarray:
    # 2d chains hang off the junctions 0..d: chain k < d is petal k's long path (from junction
    # k, closed to junction k + 1), chain d + k its dead end (from junction k). Every chain has
    # one node plus its share of the spare nodes, each spare node going to a uniform chain
    # (= a multinomial with equal cell probabilities). Triangles hang on uniform dead-end tips.
    tpl, spare, total, r, chain_junction = layout
    lens = np.bincount((u[:spare] * (2 * d)).astype(np.int64), minlength=2 * d)
    lens += 1
    last = lens.cumsum()                # chain k's nodes: d + 1 + [last[k] - lens[k], last[k])
    edges = tpl.copy()
    e = edges[0]
    e[d + last - lens, 0] = chain_junction  # a chain's first node hangs on its junction
    last += d                            # now the label of each chain's last node
    e[d + total:r, 0] = last[:d]         # long path k closed at junction k + 1
    tips = last[d:][(u[spare:] * d).astype(np.int64)]  # the dead-end tip of each triangle
    e[r::3, 0] = tips
    e[r + 2::3, 1] = tips
    np.add(e, m, out=edges[1])
    return edges.ravel()


def _two_paths_rows(m: int, d: int, u: np.ndarray, layout: tuple[np.ndarray, ...]) -> np.ndarray:
    # _two_paths for every row of u (shape (rows, 1)) at once
    path_ends, offset = layout
    start = (u[:, :1] * (m - d)).astype(np.int64)
    return ((path_ends.ravel() - start) % m + np.repeat(offset.ravel(), path_ends.shape[1]))


def _random_branching_rows(m: int, d: int, u: np.ndarray, layout: tuple[np.ndarray, ...]) -> np.ndarray:
    # _random_branching for every row of u (shape (rows, m - 1 - d)) at once
    template, later, offset = layout
    edges = np.repeat(template[None], len(u), axis=0)
    edges[:, :, d:, 0] = (u * later).astype(np.int64)[:, None, :] + offset[None]
    return edges.reshape(len(u), -1)


def _rows(build: Any) -> Any:
    # a builder applied row by row (its results are equal-length flat arrays)
    def rows(m: int, d: int, u: np.ndarray, layout: tuple[Any, ...]) -> np.ndarray:
        return np.stack([build(m, d, row, layout) for row in u])
    return rows


# kind -> (layout, one-item builder, all-rows builder); the two builders give the same ends per row
_BUILDERS = {"two_paths": (_two_paths_layout, _two_paths, _two_paths_rows),
             "bridge": (_bridge_layout, _bridge, _rows(_bridge)),
             "random_branching": (_random_branching_layout, _random_branching, _random_branching_rows)}


@lru_cache(maxsize=1024)
def _layout(kind: str, m: int, d: int) -> tuple[Any, Any, int, int, tuple[Any, ...]]:
    make, build, rows = _BUILDERS[kind]
    return (build, rows, *make(m, d))


_ENDS = np.array([0, 1])  # row j of the edge list reads end first_end[j] ^ 0, then first_end[j] ^ 1


def _argsort_rows(keys: np.ndarray) -> np.ndarray:
    """The stable argsort of each row of ``keys`` (a 2-D array of uniforms).

    Computed with numpy's default (unstable, faster) sort, which gives the same result
    whenever a row has no two equal keys; a batch with a tie (below 1e-10 per item at 1,000
    nodes) is sorted again stably, so ties break by position as before.
    """
    order = keys.argsort(axis=1)
    if keys.shape[1] > 1:
        ranked = np.take_along_axis(keys, order, axis=1)
        if not (ranked[:, 1:] > ranked[:, :-1]).all():
            order = keys.argsort(axis=1, kind="stable")
    return order


def generate(config: GraphConnectivityConfig, rng: np.random.Generator,
             cues: Mapping[str, bool] | None = None) -> Problem:
    """Build one problem; pure in ``(config, rng, cues)``.

    Parameters
    ----------
    config : GraphConnectivityConfig
    rng : numpy.random.Generator
        The only source of randomness: one call ``rng.random(K)``, with ``K`` fixed by the
        config (cue coins, the component's draws, label keys, edge-order keys, orientation
        coins).
    cues : mapping, optional
        ``{"target_first": bool, "target_larger": bool}`` as assigned by the dataset
        builder (balanced per bucket); the first two uniforms decide them when omitted.

    Returns
    -------
    Problem
        ``instance`` as in the architecture contract; ``answer`` the reachable target's
        label as a string; ``solution_trace`` the shortest path's labels.

    Notes
    -----
    O(num_nodes log num_nodes) time (two argsorts), O(num_nodes) memory; numpy-vectorised.
    :func:`generate_batch` gives the same problems for many streams at once.
    """
    n, d, kind = int(config.num_nodes), int(config.depth), config.kind
    m = n // 2
    build, _, k, num_edges, layout = _layout(kind, m, d)
    u = rng.random(2 + k + n + 2 * num_edges)
    ends = build(m, d, u[2:2 + k], layout)
    if cues is None:
        first, larger = bool(u[0] < 0.5), bool(u[1] < 0.5)
    else:
        first, larger = bool(cues["target_first"]), bool(cues["target_larger"])
    a = 2 + k
    perm = u[a:a + n].argsort(kind="stable")  # label of node i: perm[i]
    # the reachable target is node d, its copy in the decoy component node d + m
    target, decoy = perm.item(d), perm.item(d + m)
    if (target > decoy) != larger:  # the label cue: swap the two targets' labels
        target, decoy = decoy, target
        perm[d], perm[d + m] = target, decoy
    # relabel, order the edges by their keys and orient each by its coin, in one gather: row j
    # of the list is edge order[j] read from end 2*order[j] + flip[j] to the other (index ^ 1)
    b = a + n
    first_end = u[b:b + num_edges].argsort(kind="stable")
    first_end <<= 1
    first_end += u[b + num_edges:] < 0.5
    edges = perm[ends][first_end[:, None] ^ _ENDS].tolist()
    return _problem(kind, n, d, num_edges, edges, perm[:d + 1].tolist(), target, decoy, first)


def _problem(kind: str, n: int, d: int, num_edges: int, edges: list[list[int]], trace: list[int],
             target: int, decoy: int, first: bool) -> Problem:
    answer, other = str(target), str(decoy)
    if first:
        targets, labels = [target, decoy], [answer, other]
    else:
        targets, labels = [decoy, target], [other, answer]
    instance = {"kind": kind, "num_nodes": n, "edges": edges, "source": trace[0], "targets": targets}
    return Problem(instance=instance, answer=answer, answer_type="choice", depth=d, solution_trace=trace,
                   size={"num_nodes": n, "num_edges": num_edges}, chance=0.5, answer_space={"labels": labels})


def generate_batch(config: GraphConnectivityConfig, rngs: Iterable[np.random.Generator],
                   cues: Sequence[Mapping[str, bool] | None]) -> list[Problem]:
    """Build one problem per (stream, cues) pair; ``Family.generate_batch``.

    Item ``j`` is exactly ``generate(config, rngs[j], cues[j])``: its ``rng.random(K)`` is
    drawn from its own stream (into row ``j`` of one ``(len(cues), K)`` array, each stream
    consumed before the next is taken, so the builder may reuse one reseeded generator), and
    every later step works row by row (a stable argsort per row), so an item never depends
    on the others in the batch. The numpy calls run once per batch, the Python work
    (lists, the problem) once per item; with the compiled module ``_graph_c`` the last
    gathers (relabel, order, orient) and the edge lists are one C pass, the same lists.

    Parameters
    ----------
    config : GraphConnectivityConfig
    rngs : iterable of numpy.random.Generator
        At least ``len(cues)`` streams, read in order.
    cues : sequence of mapping or None
        The builder's cue values per item (see :func:`generate`).

    Returns
    -------
    list of Problem
        ``len(cues)`` problems, in order.
    """
    n, d, kind = int(config.num_nodes), int(config.depth), config.kind
    m = n // 2
    _, rows_of, k, num_edges, layout = _layout(kind, m, d)
    count = len(cues)
    if not count:
        return []
    u = uniform_rows(rngs, count, 2 + k + n + 2 * num_edges)
    ends = rows_of(m, d, u[:, 2:2 + k], layout)
    first = [bool(x) for x in (u[:, 0] < 0.5).tolist()]
    larger = [bool(x) for x in (u[:, 1] < 0.5).tolist()]
    for j, c in enumerate(cues):
        if c is not None:
            first[j], larger[j] = bool(c["target_first"]), bool(c["target_larger"])
    a = 2 + k
    perm = _argsort_rows(u[:, a:a + n])  # label of node i of item j: perm[j, i]
    # the reachable target is node d, its copy in the decoy component node d + m; the label
    # cue swaps the two targets' labels where needed
    target, decoy = perm[:, d].copy(), perm[:, d + m].copy()
    swap = (target > decoy) != np.array(larger, dtype=bool)
    perm[swap, d], perm[swap, d + m] = decoy[swap], target[swap]
    # relabel, order the edges by their keys and orient each by its coin, in two gathers: row
    # i of item j's list is edge order[i] read from end 2*order[i] + flip[i] to the other (^ 1)
    b = a + n
    first_end = _argsort_rows(u[:, b:b + num_edges])
    first_end <<= 1
    first_end += u[:, b + num_edges:] < 0.5
    if _C is not None:  # the same gathers and lists in one compiled pass
        all_edges = _C.edge_lists(perm, ends, first_end)
    else:  # flat gathers: row j's entries sit at j * width + column
        first_end += np.arange(0, count * 2 * num_edges, 2 * num_edges)[:, None]
        picks = (first_end[:, :, None] ^ _ENDS).ravel()
        nodes = ends.ravel()[picks].reshape(count, -1)
        nodes += np.arange(0, count * n, n)[:, None]
        all_edges = perm.ravel()[nodes].reshape(count, num_edges, 2).tolist()
    traces = perm[:, :d + 1].tolist()
    targets_all = perm[:, d].tolist()
    decoys_all = perm[:, d + m].tolist()
    return [_problem(kind, n, d, num_edges, all_edges[j], traces[j], targets_all[j], decoys_all[j], first[j])
            for j in range(count)]


#: the largest ``num_nodes`` of a config and of an instance the certifier reads (it allocates
#: per node: a hostile ``num_nodes`` of 10**12 would exhaust memory before any other check)
MAX_NUM_NODES = 1_000_000


class CertificationError(ValueError):
    """The instance is not a valid graph connectivity problem."""


def _label_error(n: int, s: Any, t1: Any, t2: Any) -> CertificationError:
    bad = next((what, v) for what, v in (("source", s), ("target", t1), ("target", t2))
               if type(v) is not int or not 0 <= v < n)
    return CertificationError(f"{bad[0]} {bad[1]!r} is not a node label: labels are plain integers in 0..{n - 1} "
                              "(not bools, floats or strings)")


def certify(instance: Mapping[str, Any]) -> Certificate:
    """Independently solve an instance by breadth-first search.

    Parameters
    ----------
    instance : Mapping
        ``{"num_nodes", "edges", "source", "targets"}`` (``kind`` is not consulted):
        ``num_nodes`` a positive int; ``edges`` a list of ``[u, v]`` lists (or tuples);
        ``source``, the two ``targets`` and every edge end plain ints in
        ``0 .. num_nodes - 1``.

    Returns
    -------
    Certificate
        ``depth`` = shortest-path distance to the reachable target; ``answer`` its label
        (str); ``solution_trace`` a shortest path as labels.

    Raises
    ------
    CertificationError
        (a ``ValueError``) If a field is missing; if ``num_nodes``, the source, a target or
        an edge end is not a plain ``int`` (``type(x) is int``: a JSON ``true``, ``1.0``,
        ``"1"`` or a numpy integer is refused, never read as a number; ``bool`` is an
        ``int`` subclass, so ``True`` would otherwise be node 1); if ``num_nodes`` exceeds
        ``MAX_NUM_NODES`` (1,000,000, checked before anything is allocated per node); if a
        label lies outside ``0 .. num_nodes - 1``; if the targets or an edge is not a list or tuple of two; if
        the two targets are equal, or not exactly one target is reachable.

    Notes
    -----
    One BFS from the source over adjacency lists built from ``edges``:
    O(num_nodes + num_edges). Its results equal networkx's (``bidirectional_shortest_path``
    for reachability and distance) on every item of the cross-check in the test suite.
    There is no batched certifier: a batched BFS (the block-diagonal graph of 128
    instances in one ``scipy.sparse.csgraph`` search) was measured slower than this loop,
    because reading the edge lists' Python ints into arrays, with the same type checks,
    costs about as much as building the adjacency lists and searching them here.

    With the compiled module ``_graph_c`` (see :mod:`depthbench.generators._compiled`) an
    instance of the canonical shape (an exact ``dict``, exact ints, lists or tuples of
    two) is searched in C, step for step the same BFS (adjacency in edge order, FIFO
    queue), giving the same certificate; any other instance, and every one this function
    refuses, goes to the pure-Python search, whose errors are the ones raised.
    """
    if _C is not None:
        found = _C.certify(instance, MAX_NUM_NODES)
        if found is not None:
            return Certificate(*found)
    return _certify_reference(instance)


def _certify_reference(instance: Mapping[str, Any]) -> Certificate:
    """:func:`certify` in pure Python (the reference of the compiled path, and its fallback)."""
    try:
        n, s, targets, edges = instance["num_nodes"], instance["source"], instance["targets"], instance["edges"]
    except (KeyError, TypeError, IndexError):
        raise CertificationError("an instance needs the fields num_nodes, edges, source and targets") from None
    if type(n) is not int or n < 1:
        raise CertificationError(f"num_nodes must be a positive integer (not a bool, float or string), got {n!r}")
    if n > MAX_NUM_NODES:  # checked before the per-node lists are allocated
        raise CertificationError(f"num_nodes {n} is past the limit of {MAX_NUM_NODES} nodes")
    if (type(targets) is not list and type(targets) is not tuple) or len(targets) != 2:
        raise CertificationError(f"targets must be a list of two node labels, got {targets!r}")
    t1, t2 = targets
    if not (type(s) is int and type(t1) is int and type(t2) is int and 0 <= s < n and 0 <= t1 < n and 0 <= t2 < n):
        raise _label_error(n, s, t1, t2)
    if t1 == t2:
        raise CertificationError(f"need two distinct targets, got {[t1, t2]}")
    # Slots n..2n-1 hold tuples (no append): a label in n..2n-1 hits one and raises
    # AttributeError, one beyond raises IndexError; so only the types and the signs are
    # checked per edge (a negative index would wrap onto a real node: -2n..-n-1 onto 0..n-1).
    adj: list[Any] = [[] for _ in range(n)]
    adj += [()] * n
    try:
        if type(edges) is not list and type(edges) is not tuple:
            raise ValueError
        for e in edges:
            if type(e) is not list and type(e) is not tuple:
                raise ValueError
            u, v = e
            if type(u) is not int or type(v) is not int or u < 0 or v < 0:
                raise ValueError
            adj[u].append(v)
            adj[v].append(u)
    except (TypeError, ValueError, IndexError, AttributeError):
        raise CertificationError(f"edges must be a list of [u, v] pairs of labels in 0..{n - 1} "
                                 "(plain integers, not bools, floats or strings)") from None
    parent = [-1] * n
    parent[s] = s
    queue = [s]
    for u in queue:  # the list grows while it is read: a FIFO queue
        for v in adj[u]:
            if parent[v] < 0:
                parent[v] = u
                queue.append(v)
    r1, r2 = parent[t1] >= 0, parent[t2] >= 0
    if r1 == r2:
        raise CertificationError(f"{r1 + r2} targets reachable from {s}, expected exactly 1")
    t = found = t1 if r1 else t2
    path = [t]
    while t != s:
        t = parent[t]
        path.append(t)
    path.reverse()
    return Certificate(depth=len(path) - 1, answer=str(found), solution_trace=path)


# --------------------------------------------------------------------------- text
_LABEL_TABLE_MAX = 4096  # label tables cached for graphs of up to this many nodes


@lru_cache(maxsize=8)
def _label_tables(n: int) -> tuple[dict[int, str], dict[int, str]]:
    """``(first, second)`` with ``first[u] + second[v] == f"{u}-{v}"`` for labels 0..n-1.

    Dicts, not lists: a negative label is a KeyError rather than a wrapped index. Small
    (n strings each), so they stay in cache between items, unlike a table of all pairs.
    """
    return {u: f"{u}-" for u in range(n)}, {v: str(v) for v in range(n)}


def _edge_text(edges: Any, n: Any) -> str:
    if isinstance(n, int) and 0 < n <= _LABEL_TABLE_MAX:
        first, second = _label_tables(n)
        try:
            return ", ".join([first[u] + second[v] for u, v in edges])
        except (KeyError, TypeError, ValueError):  # a label outside 0..n-1, or not a pair: state it as it is
            pass
    return ", ".join([f"{u}-{v}" for u, v in edges])


def describe(instance: Mapping[str, Any]) -> str:
    """Plain-text statement of an instance (inserted as ``{{ problem }}`` in prompts).

    Every field of the instance is stated, in the instance's order, so
    :func:`parse_prompt` can recover it exactly. With the compiled module ``_graph_c``, an
    instance of exact ints, lists or tuples of two and an ASCII ``kind`` is written in C
    (the same string); otherwise the edge list is one join over cached label strings
    (graphs of up to 4,096 nodes).
    """
    if _C is not None:
        text = _C.describe(instance)
        if text is not None:
            return text
    return _describe_reference(instance)


def _describe_reference(instance: Mapping[str, Any]) -> str:
    """:func:`describe` in pure Python (the reference of the compiled path, and its fallback)."""
    n = instance["num_nodes"]
    edges = _edge_text(instance["edges"], n)
    t1, t2 = instance["targets"]
    return (f"Graph type: {instance['kind']}\n"
            f"Nodes: {n} (labelled 0 to {n - 1})\n"
            f"Edges (undirected): {edges}\n"
            f"Source: {instance['source']}\n"
            f"Targets: {t1}, {t2}")


_PARSE = re.compile(
    r"Graph type: (?P<kind>[a-z_]+)\n"
    r"Nodes: (?P<n>\d+) \(labelled 0 to \d+\)\n"
    r"Edges \(undirected\): (?P<edges>[0-9, -]*)\n"
    r"Source: (?P<s>\d+)\n"
    r"Targets: (?P<t1>\d+), (?P<t2>\d+)")


def parse_prompt(text: str) -> dict[str, Any]:
    """Recover the instance from a prompt containing :func:`describe`'s statement.

    Raises
    ------
    ValueError
        If no statement is found.
    """
    m = _PARSE.search(text)
    if m is None:
        raise ValueError("no graph connectivity statement found in the prompt")
    edges_txt = m["edges"].strip()
    edges = [[int(a), int(b)] for a, b in (e.split("-") for e in edges_txt.split(", "))] if edges_txt else []
    return {"kind": m["kind"], "num_nodes": int(m["n"]), "edges": edges, "source": int(m["s"]),
            "targets": [int(m["t1"]), int(m["t2"])]}


# --------------------------------------------------------------------------- answers and traces
def verify(item: Mapping[str, Any], answer: Any) -> bool:
    """The answer is the reachable target's label.

    Examples
    --------
    >>> verify({"answer": "7"}, "7"), verify({"answer": "7"}, " 7 "), verify({"answer": "7"}, "17")
    (True, True, False)
    """
    if isinstance(answer, bool) or not isinstance(answer, (str, int)):
        return False
    return str(answer).strip() == str(item["answer"])


def _adjacency(edges: Any) -> dict[int, set[int]]:
    adj: dict[int, set[int]] = {}
    for u, v in edges:
        adj.setdefault(u, set()).add(v)
        adj.setdefault(v, set()).add(u)
    return adj


def check_path(instance: Mapping[str, Any], path: Any, target: Any = None) -> bool:
    """Check a path: it starts at the source, consecutive nodes are adjacent (edges are
    undirected), and it ends at ``target`` (default: either candidate target; a valid path
    to a candidate proves it is the reachable one).

    Parameters
    ----------
    instance : mapping
        ``{"edges": [[u, v], ...], "source": s, "targets": [t1, t2], ...}``.
    path : sequence of int or str
        Node labels in order (strings of digits are accepted).
    target : int or str, optional
        Required end node.

    Returns
    -------
    bool

    Examples
    --------
    >>> inst = {"edges": [[0, 1], [2, 1]], "source": 0, "targets": [2, 3]}
    >>> check_path(inst, [0, 1, 2]), check_path(inst, ["0", "2"])
    (True, False)
    """
    nodes = [parse_int(p) for p in path]
    if not nodes or any(n is None for n in nodes) or nodes[0] != instance["source"]:
        return False
    if target is not None:
        t = parse_int(target)
        if t is None:
            return False
        ends = {t}
    else:
        ends = set(instance["targets"])
    if nodes[-1] not in ends:
        return False
    adj = _adjacency(instance["edges"])
    return all(b in adj.get(a, ()) for a, b in zip(nodes, nodes[1:]))


def trace_first_error(item: Mapping[str, Any], steps: Any) -> int | None:
    """First wrong step of a stated path (steps are node labels).

    Step 0 must be the source and each next node adjacent to the previous one; the trace
    is complete when it reaches the gold target (steps after it are extra, hence wrong).

    Examples
    --------
    >>> item = {"answer": "2", "solution_trace": [0, 1, 2],
    ...         "instance": {"edges": [[0, 1], [1, 2], [0, 3]], "source": 0, "targets": [2, 4]}}
    >>> trace_first_error(item, [0, 1, 2]), trace_first_error(item, [0, 3, 2]), trace_first_error(item, [0, 1])
    (None, 2, 2)
    """
    inst = item["instance"]
    adj = _adjacency(inst["edges"])
    gold = item.get("solution_trace") or []
    target = parse_int(gold[-1]) if gold else parse_int(item.get("answer"))
    steps = list(steps)
    prev = None
    for i, s in enumerate(steps):
        node = parse_int(s)
        if node is None:
            return i
        if i == 0:
            if node != inst["source"]:
                return 0
        elif node not in adj.get(prev, ()):
            return i
        prev = node
        if node == target:
            return None if i == len(steps) - 1 else i + 1
    return len(steps)


_PATH_SEP_RE = re.compile(r"->|\u2192|=>|\u2013|\u2014|-")
_INT_TOKEN_RE = re.compile(r"\d+")
_STEP_RE = re.compile(r"(?:node\s*=\s*)?(-?\d+)")


def parse_trace(item: Mapping[str, Any], text: str, answer: Any = None) -> list[Any]:
    """The node labels of the last line of ``text`` that shows a path (``3 -> 8 -> 1``)."""
    for line in reversed(text.splitlines()):
        if "->" in line or "\u2192" in line:
            nodes = []
            for part in _PATH_SEP_RE.split(line):
                found = _INT_TOKEN_RE.findall(part) if part.strip() else []
                if found:
                    nodes.append(int(found[-1]))
            if len(nodes) >= 2:
                return nodes
    return []


def stated_steps(item: Mapping[str, Any], contents: Any) -> list[Any]:
    """``Step k: node=4`` (or ``Step k: 4``) lines as node labels; the source is prepended
    when the stated path starts after it."""
    steps: list[Any] = []
    for c in contents:
        m = _STEP_RE.fullmatch(c)
        steps.append(int(m.group(1)) if m else c)
    src = (item.get("instance") or {}).get("source")
    if steps and src is not None and steps[0] != src:
        steps.insert(0, src)
    return steps


def format_step(step: Any) -> str:
    """A gold step (a node label) as ``node=LABEL``."""
    return f"node={step}"


FAMILY = Family(
    name="graph_connectivity",
    version=VERSION,
    config_cls=GraphConnectivityConfig,
    generate=generate,
    certify=certify,
    describe=describe,
    parse_prompt=parse_prompt,
    max_depth=max_depth,
    source_file=__file__,
    answer_type="choice",
    verify=verify,
    trace_first_error=trace_first_error,
    parse_trace=parse_trace,
    stated_steps=stated_steps,
    format_step=format_step,
    cues=CUES,
)


# --------------------------------------------------------------------------- gold-free feedback (Family.env_check)
def env_check(item: Mapping[str, Any], steps: Sequence[Any]) -> list[StepCheck]:
    """The graph's own verdict on each stated step of a path: is the edge in the edge list?

    Steps are node labels as :func:`stated_steps` returns them (the source first). Step 0
    must be the source; step ``k >= 1`` is ok when an edge joins it to the node of step
    ``k - 1`` (as stated, even if that step was wrong). Feedback numbers the steps by edges
    walked (the source is step 0, as in the gold trace, whose depth counts edges) and names
    the node. Judged only from ``item["instance"]``.

    Parameters
    ----------
    item : mapping
        An item (or a hidden split's prompt): only ``instance`` is read.
    steps : sequence of int or str
        The stated path.

    Returns
    -------
    list of StepCheck

    Examples
    --------
    >>> inst = {"edges": [[0, 1], [1, 2], [0, 3]], "source": 0, "targets": [2, 4], "num_nodes": 5}
    >>> [c.feedback for c in env_check({"instance": inst}, [0, 1, 3])]
    ['step 0: the path starts at the source 0', 'step 1 (node 1): edge 0-1 exists; now at 1', 'step 2 (node 3): there is no edge 1-3 in the edge list']
    """
    inst = item["instance"]
    adj = _adjacency(inst["edges"])
    src, targets = inst["source"], set(inst["targets"])
    out: list[StepCheck] = []
    prev = None
    for k, s in enumerate(steps):
        node = parse_int(s)
        if node is None:
            out.append(StepCheck(False, f"step {k}: cannot read {str(s)[:40]!r} as a node label"))
            prev = None
            continue
        if k == 0:
            ok = node == src
            out.append(StepCheck(ok, f"step 0: the path starts at the source {src}" if ok
                                 else f"step 0: the path starts at {node}, not at the source {src}"))
        elif node not in adj:
            out.append(StepCheck(False, f"step {k} (node {node}): node {node} is in no edge of the graph"))
        elif prev is None:
            out.append(StepCheck(False, f"step {k} (node {node}): the step before it is not a node label"))
        elif node in adj.get(prev, ()):
            end = f"; target {node} reached" if node in targets else ""
            out.append(StepCheck(True, f"step {k} (node {node}): edge {prev}-{node} exists; now at {node}{end}"))
        else:
            out.append(StepCheck(False, f"step {k} (node {node}): there is no edge {prev}-{node} in the edge list"))
        prev = node
    return out


def env_solved(item: Mapping[str, Any], steps: Sequence[Any], answer: Any = None) -> bool | None:
    """Gold-free: every step is ok and the path ends at a candidate target (a path proves the
    target reachable); given an ``answer``, it must be that target's label. None when no step
    is stated.

    Examples
    --------
    >>> inst = {"edges": [[0, 1], [1, 2]], "source": 0, "targets": [2, 4], "num_nodes": 5}
    >>> env_solved({"instance": inst}, [0, 1, 2], "2"), env_solved({"instance": inst}, [0, 1, 2], "4")
    (True, False)
    """
    if not steps:
        return None
    if not all(c.ok for c in env_check(item, steps)):
        return False
    last = parse_int(steps[-1])
    if last not in set(item["instance"]["targets"]):
        return False
    return answer is None or parse_int(answer) == last


FAMILY = replace(FAMILY, env_check=env_check, env_solved=env_solved, generate_batch=generate_batch)
