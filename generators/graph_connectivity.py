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
every kind. The gold trace is the (unique) shortest path.

References
----------
Mirtaheri, P., et al. (2025). Let me think! A long chain of thought can be worth
exponentially many short ones. arXiv:2505.21825.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from depthbench.generators._base import Certificate, Family, Problem, StepCheck, parse_int

__all__ = ["GraphConnectivityConfig", "generate", "certify", "describe", "parse_prompt", "max_depth",
           "verify", "check_path", "trace_first_error", "parse_trace", "stated_steps", "format_step",
           "KINDS", "CUES", "VERSION", "FAMILY"]

VERSION = "2"
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
        On a wrong type, an odd or too small ``num_nodes``, an unknown ``kind``, or a
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
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        top = max_depth(self)
        if self.depth > top:
            raise ValueError(f"depth {self.depth} does not fit num_nodes={self.num_nodes} for kind={self.kind} "
                             f"(largest depth: {top}); lower the depth or raise num_nodes")


# --------------------------------------------------------------------------- components
# Each builder returns (edges as an (E, 2) int array over local ids 0..m-1, path) where
# path lists the local ids of the source-to-target shortest path.

def _two_paths(m: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(m)
    edges = np.stack([ids[:-1], ids[1:]], axis=1)
    start = int(rng.integers(0, m - d))
    return edges, np.arange(start, start + d + 1)


def _random_branching(m: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    edges = np.empty((m - 1, 2), dtype=np.int64)
    ids = np.arange(m)
    edges[:, 1] = ids[1:]
    edges[:d, 0] = ids[:d]  # the path 0 - 1 - ... - d
    # node v > d attaches to a uniform earlier node in [0, v) (truncation = floor for u >= 0)
    edges[d:, 0] = (rng.random(m - 1 - d) * ids[d + 1:]).astype(np.int64)
    return edges, ids[:d + 1]


def _bridge(m: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cycles = (m - 1) // 3
    spare = m - 1 - d - 2 * cycles  # nodes beyond the minimum, >= 0 when d <= cycles
    # extra nodes for each of the d long paths and d dead ends (each has 1 already)
    extra = rng.multinomial(spare, np.full(2 * d, 1.0 / (2 * d)))
    long_len = 1 + extra[:d]   # internal nodes of each long path
    dead_len = 1 + extra[d:]   # nodes of each dead end
    tri_at = rng.integers(0, d, size=cycles - d)  # petal whose dead-end tip gets a triangle
    edges: list[tuple[int, int]] = []
    nxt = d + 1  # junctions are 0..d
    tips = np.empty(d, dtype=np.int64)
    for i in range(d):
        a, b = i, i + 1
        edges.append((a, b))                          # short path
        internal = range(nxt, nxt + int(long_len[i]))  # long path a - internal... - b
        nxt += int(long_len[i])
        chain = [a, *internal, b]
        edges.extend(zip(chain[:-1], chain[1:]))
        dead = [a, *range(nxt, nxt + int(dead_len[i]))]  # dead end off junction a
        nxt += int(dead_len[i])
        edges.extend(zip(dead[:-1], dead[1:]))
        tips[i] = dead[-1]
    for p in tri_at:
        x, y, z = int(tips[p]), nxt, nxt + 1
        nxt += 2
        edges.extend([(x, y), (y, z), (z, x)])
    if nxt != m:  # pragma: no cover - arithmetic invariant
        raise RuntimeError(f"bridge builder used {nxt} nodes, expected {m}")
    return np.asarray(edges, dtype=np.int64), np.arange(d + 1)


_BUILDERS = {"two_paths": _two_paths, "bridge": _bridge, "random_branching": _random_branching}


def generate(config: GraphConnectivityConfig, rng: np.random.Generator,
             cues: Mapping[str, bool] | None = None) -> Problem:
    """Build one problem; pure in ``(config, rng, cues)``.

    Parameters
    ----------
    config : GraphConnectivityConfig
    rng : numpy.random.Generator
        The only source of randomness.
    cues : mapping, optional
        ``{"target_first": bool, "target_larger": bool}`` as assigned by the dataset
        builder (balanced per bucket); drawn from ``rng`` when omitted.

    Returns
    -------
    Problem
        ``instance`` as in the architecture contract; ``answer`` the reachable target's
        label as a string; ``solution_trace`` the shortest path's labels.

    Notes
    -----
    O(num_nodes) time and memory.
    """
    n, d, kind = int(config.num_nodes), int(config.depth), config.kind
    m = n // 2
    local, path = _BUILDERS[kind](m, d, rng)
    edges = np.concatenate([local, local + m])          # decoy: an isomorphic copy
    if cues is None:
        first, larger = (bool(x) for x in rng.random(2) < 0.5)
    else:
        first, larger = bool(cues["target_first"]), bool(cues["target_larger"])
    perm = rng.permutation(n)
    t_node, d_node = int(path[-1]), int(path[-1]) + m
    if (perm[t_node] > perm[d_node]) != larger:  # the label cue: swap the two targets' labels
        perm[t_node], perm[d_node] = perm[d_node], perm[t_node]
    num_edges = int(edges.shape[0])
    # relabel, shuffle the list and orient each edge at random, in one gather:
    # row k is (u, v) of edge order[k], swapped when flip[k]
    order = rng.permutation(num_edges)
    flip = (rng.random(num_edges) < 0.5).view(np.int8)
    first_end = 2 * order + flip  # the other end is first_end ^ 1 = 2 * order + 1 - flip
    edges = perm[edges].ravel()[np.stack([first_end, first_end ^ 1], axis=1)]
    source = int(perm[path[0]])
    target = int(perm[t_node])
    decoy = int(perm[d_node])
    targets = [target, decoy] if first else [decoy, target]
    instance = {"kind": kind, "num_nodes": n, "edges": edges.tolist(), "source": source, "targets": targets}
    return Problem(
        instance=instance,
        answer=str(target),
        answer_type="choice",
        depth=d,
        solution_trace=perm[path].tolist(),
        size={"num_nodes": n, "num_edges": num_edges},
        chance=0.5,
        answer_space={"labels": [str(t) for t in targets]},
    )


class CertificationError(ValueError):
    """The instance is not a valid graph connectivity problem."""


def certify(instance: Mapping[str, Any]) -> Certificate:
    """Independently solve an instance by breadth-first search.

    Parameters
    ----------
    instance : Mapping
        ``{"num_nodes", "edges", "source", "targets"}`` (``kind`` is not consulted).

    Returns
    -------
    Certificate
        ``depth`` = shortest-path distance to the reachable target; ``answer`` its label
        (str); ``solution_trace`` a shortest path as labels.

    Raises
    ------
    CertificationError
        If labels are out of range, there are not two distinct targets, or not exactly
        one target is reachable.

    Notes
    -----
    One BFS from the source over adjacency lists built from ``edges``:
    O(num_nodes + num_edges). Its results equal networkx's (``bidirectional_shortest_path``
    for reachability and distance) on every item of the cross-check in the test suite.
    """
    n = int(instance["num_nodes"])
    s = instance["source"]
    targets = instance["targets"]
    if len(targets) != 2 or targets[0] == targets[1]:
        raise CertificationError(f"need two distinct targets, got {list(targets)}")
    for v in (s, *targets):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < n:
            raise CertificationError(f"node {v!r} outside 0..{n - 1}")
    adj: list[list[int]] = [[] for _ in range(n)]
    try:
        for u, v in instance["edges"]:
            if not (0 <= u < n and 0 <= v < n):
                raise CertificationError(f"edges must be [u, v] pairs of labels in 0..{n - 1}")
            adj[u].append(v)
            adj[v].append(u)
    except (TypeError, ValueError):
        raise CertificationError(f"edges must be [u, v] pairs of labels in 0..{n - 1}") from None
    parent = [-1] * n
    parent[s] = s
    frontier = [s]
    while frontier:
        nxt = []
        for u in frontier:
            for v in adj[u]:
                if parent[v] < 0:
                    parent[v] = u
                    nxt.append(v)
        frontier = nxt
    found = [t for t in targets if parent[t] >= 0]
    if len(found) != 1:
        raise CertificationError(f"{len(found)} targets reachable from {s}, expected exactly 1")
    t = found[0]
    path = [t]
    while path[-1] != s:
        path.append(parent[path[-1]])
    path.reverse()
    return Certificate(depth=len(path) - 1, answer=str(t), solution_trace=path)


# --------------------------------------------------------------------------- text
def describe(instance: Mapping[str, Any]) -> str:
    """Plain-text statement of an instance (inserted as ``{{ problem }}`` in prompts).

    Every field of the instance is stated, in the instance's order, so
    :func:`parse_prompt` can recover it exactly.
    """
    n = instance["num_nodes"]
    edges = ", ".join([f"{u}-{v}" for u, v in instance["edges"]])
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


FAMILY = replace(FAMILY, env_check=env_check, env_solved=env_solved)
