"""Per-family verifiers: is an extracted answer correct for an item?

The instance formats are the ones in ``docs/ARCHITECTURE.md`` (section *Instance
formats*). Verifiers are pure functions of the item and the answer; they never
trust a model's own claim of correctness.

- ``graph_connectivity`` (``choice``): the label equals the gold label. A path can
  be checked separately with :func:`check_graph_path`.
- ``multihop_arithmetic`` (``integer``): equality modulo ``m``.
- ``grid_planning`` (``plan``): the plan is simulated (:func:`simulate_plan`); it is
  correct when every move is legal and it ends on the goal. Any valid plan is
  correct; :func:`plan_is_optimal` reports optimality separately.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "verify",
    "check_graph_path",
    "simulate_plan",
    "PlanResult",
    "plan_is_optimal",
]

_DELTA = {"U": (0, -1), "D": (0, 1), "L": (-1, 0), "R": (1, 0)}


def _task_of(item: Mapping[str, Any]) -> str:
    task = item.get("task")
    if task in ("graph_connectivity", "multihop_arithmetic", "grid_planning"):
        return str(task)
    at = item.get("answer_type")
    return {"choice": "graph_connectivity", "integer": "multihop_arithmetic", "plan": "grid_planning"}.get(at, "")


def _modulus(item: Mapping[str, Any]) -> int | None:
    inst = item.get("instance") or {}
    m = inst.get("modulus")
    if m is None:
        m = ((item.get("meta") or {}).get("answer_space") or {}).get("modulus")
    return m if isinstance(m, int) and m > 0 else None


def _as_int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, str):
        s = x.strip()
        if s.lstrip("+-").isdigit() and s.isascii():
            return int(s)
    return None


def verify(item: Mapping[str, Any], answer: Any) -> bool:
    """Return True if ``answer`` is a correct answer to ``item``.

    Parameters
    ----------
    item : mapping
        A dataset item (``task``, ``answer``, ``answer_type``, ``instance``, ``meta``). An
        item without ``answer`` (a hidden split's published prompt) verifies nothing.
    answer : str or int or None
        A normalised answer as returned by :func:`depthbench.scorers.extract`.
        ``None`` (no answer) is never correct.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If the item's task and answer type are both unknown.

    Examples
    --------
    >>> item = {"task": "multihop_arithmetic", "answer": 3, "answer_type": "integer",
    ...         "instance": {"modulus": 7}}
    >>> verify(item, 10), verify(item, 4), verify(item, None)
    (True, False, False)
    """
    if answer is None or "answer" not in item:
        return False
    task = _task_of(item)
    if task == "graph_connectivity":
        if isinstance(answer, bool):
            return False
        return isinstance(answer, (str, int)) and str(answer).strip() == str(item["answer"])
    if task == "multihop_arithmetic":
        a, g = _as_int(answer), _as_int(item["answer"])
        if a is None or g is None:
            return False
        m = _modulus(item)
        return a == g if m is None else (a - g) % m == 0
    if task == "grid_planning":
        if not isinstance(answer, str):
            return False
        return simulate_plan(item["instance"], answer).solved
    raise ValueError(f"item.task: {item.get('task')!r} has no verifier; expected graph_connectivity, "
                     "multihop_arithmetic or grid_planning")


def check_graph_path(instance: Mapping[str, Any], path: Sequence[Any], target: Any = None) -> bool:
    """Check a path in a graph_connectivity instance.

    The path is valid when it starts at the source, consecutive nodes are adjacent
    (edges are undirected), and it ends at ``target`` (default: either candidate
    target; a valid path to a candidate proves it is the reachable one).

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
    >>> check_graph_path(inst, [0, 1, 2]), check_graph_path(inst, ["0", "2"])
    (True, False)
    """
    nodes = [_as_int(p) for p in path]
    if not nodes or any(n is None for n in nodes):
        return False
    if nodes[0] != instance["source"]:
        return False
    if target is not None:
        t = _as_int(target)
        if t is None:
            return False
        ends = {t}
    else:
        ends = set(instance["targets"])
    if nodes[-1] not in ends:
        return False
    adj = _adjacency(instance["edges"])
    return all(b in adj.get(a, ()) for a, b in zip(nodes, nodes[1:]))


def _adjacency(edges: Iterable[Sequence[int]]) -> dict[int, set[int]]:
    adj: dict[int, set[int]] = {}
    for u, v in edges:
        adj.setdefault(u, set()).add(v)
        adj.setdefault(v, set()).add(u)
    return adj


@dataclass(frozen=True, slots=True)
class PlanResult:
    """Outcome of simulating a move plan on a grid_planning instance.

    Attributes
    ----------
    legal : bool
        Every move was legal (no wall, border, unknown letter, or door without key).
    at_goal : bool
        The final position is the goal.
    position : tuple of int
        Final ``(x, y)`` (the position before the first illegal move if not legal).
    keys : frozenset of str
        Key ids held at the end.
    first_illegal : int or None
        0-based index of the first illegal move.
    """

    legal: bool
    at_goal: bool
    position: tuple[int, int]
    keys: frozenset[str]
    first_illegal: int | None

    @property
    def solved(self) -> bool:
        """Legal and ending on the goal."""
        return self.legal and self.at_goal


_GridTables = tuple[frozenset[tuple[int, int]], dict[tuple[int, int], str], dict[tuple[int, int], str]]


@dataclass(frozen=True, slots=True)
class _Grid:
    """A grid instance parsed for fast simulation.

    Cells are numbered on the grid padded with a one-cell border,
    ``index = (y + 1) * (width + 2) + (x + 1)``, so a move is an index offset and the
    border needs no bounds check: border and wall cells are simply not ``open``.
    """

    tables: _GridTables
    stride: int
    open_plain: frozenset[int]          # free cells holding no key or door
    special: dict[int, tuple[bool, str]]  # cell -> (is_door, id)
    steps: dict[str, int]


# Parsed grids by instance object: verifying many responses to one item parses it once.
# Entries hold a reference to their instance, so an id is never reused while cached.
_GRID_CACHE: dict[int, tuple[Mapping[str, Any], _Grid]] = {}
_GRID_CACHE_MAX = 4096


def _grid(instance: Mapping[str, Any]) -> _Grid:
    hit = _GRID_CACHE.get(id(instance))
    if hit is not None and hit[0] is instance:
        return hit[1]
    walls = frozenset((int(x), int(y)) for x, y in instance.get("walls", ()))
    keys = {(int(k["pos"][0]), int(k["pos"][1])): str(k["id"]) for k in instance.get("keys", ())}
    doors = {(int(d["pos"][0]), int(d["pos"][1])): str(d["id"]) for d in instance.get("doors", ())}
    w, h = int(instance["width"]), int(instance["height"])
    stride = w + 2
    special = {(y + 1) * stride + x + 1: (False, k) for (x, y), k in keys.items() if (x, y) not in walls}
    special.update({(y + 1) * stride + x + 1: (True, d) for (x, y), d in doors.items() if (x, y) not in walls})
    plain = frozenset((y + 1) * stride + x + 1 for y in range(h) for x in range(w)
                      if (x, y) not in walls) - special.keys()
    g = _Grid((walls, keys, doors), stride, plain, special, {"U": -stride, "D": stride, "L": -1, "R": 1})
    if len(_GRID_CACHE) >= _GRID_CACHE_MAX:
        _GRID_CACHE.clear()
    _GRID_CACHE[id(instance)] = (instance, g)
    return g


def _grid_tables(instance: Mapping[str, Any]) -> _GridTables:
    """(walls, key id by cell, door id by cell) with cells as (x, y)."""
    return _grid(instance).tables


def simulate_plan(instance: Mapping[str, Any], plan: str, start_keys: Iterable[str] = ()) -> PlanResult:
    """Simulate ``plan`` on a grid_planning instance.

    Rules (``docs/ARCHITECTURE.md``): x is the column (0 left), y the row (0 top);
    ``U``: y-1, ``D``: y+1, ``L``: x-1, ``R``: x+1. Walls and the border block.
    Entering a key cell picks the key up (kept for good). A door cell can be entered
    only while holding the key with the same id. Simulation stops at the first
    illegal move.

    Parameters
    ----------
    instance : mapping
        ``{"width", "height", "walls", "start", "goal", "keys", "doors"}``.
    plan : str
        Moves over ``UDLR`` (upper case, as :func:`extract` returns them).
    start_keys : iterable of str, optional
        Keys held before the first move (used by the trace verifier for sub-plans).

    Returns
    -------
    PlanResult

    Notes
    -----
    O(len(plan) + size of the instance).

    Examples
    --------
    >>> inst = {"width": 3, "height": 1, "walls": [], "start": [0, 0], "goal": [2, 0],
    ...         "keys": [{"id": "a", "pos": [1, 0]}], "doors": []}
    >>> simulate_plan(inst, "RR").solved, simulate_plan(inst, "RRR").first_illegal
    (True, 2)
    """
    return _simulate(instance, plan, tuple(instance["start"]), start_keys)


def _simulate(instance: Mapping[str, Any], plan: str, start: Sequence[int], start_keys: Iterable[str] = ()) -> PlanResult:
    g = _grid(instance)
    stride = g.stride
    pos = (int(start[1]) + 1) * stride + int(start[0]) + 1
    goal = (int(instance["goal"][1]) + 1) * stride + int(instance["goal"][0]) + 1
    return _simulate_steps(g, plan, pos, goal, set(start_keys))


def _simulate_steps(g: _Grid, plan: str, pos: int, goal: int, held: set[str]) -> PlanResult:
    """Simulate one move at a time (plain free cells cost one set lookup per move)."""
    stride, plain, special, steps = g.stride, g.open_plain, g.special, g.steps
    first_illegal = None
    for i, mv in enumerate(plan):
        d = steps.get(mv)
        if d is None:
            first_illegal = i
            break
        nxt = pos + d
        if nxt in plain:
            pos = nxt
            continue
        sp = special.get(nxt)
        if sp is None:  # wall or border
            first_illegal = i
            break
        is_door, ident = sp
        if is_door:
            if ident not in held:
                first_illegal = i
                break
        else:
            held.add(ident)
        pos = nxt
    xy = (pos % stride - 1, pos // stride - 1)
    return PlanResult(first_illegal is None, pos == goal, xy, frozenset(held), first_illegal)


def plan_is_optimal(item: Mapping[str, Any], plan: str | None) -> bool | None:
    """Whether ``plan`` solves a grid item with the optimal number of moves.

    Parameters
    ----------
    item : mapping
        A grid_planning item with ``meta.optimal_plan_length``.
    plan : str or None

    Returns
    -------
    bool or None
        True if the plan is correct and ``len(plan) == optimal_plan_length``; False if
        incorrect or longer; None if the item records no optimal length.
    """
    opt = (item.get("meta") or {}).get("optimal_plan_length")
    if opt is None:
        return None
    if not isinstance(plan, str) or not simulate_plan(item["instance"], plan).solved:
        return False
    return len(plan) <= int(opt)
