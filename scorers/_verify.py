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
        A dataset item (``task``, ``answer``, ``answer_type``, ``instance``, ``meta``).
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
    if answer is None:
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


def _grid_tables(instance: Mapping[str, Any]) -> tuple[set[tuple[int, int]], dict[tuple[int, int], str], dict[tuple[int, int], str]]:
    walls = {(int(x), int(y)) for x, y in instance.get("walls", ())}
    keys = {(int(k["pos"][0]), int(k["pos"][1])): str(k["id"]) for k in instance.get("keys", ())}
    doors = {(int(d["pos"][0]), int(d["pos"][1])): str(d["id"]) for d in instance.get("doors", ())}
    return walls, keys, doors


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
    walls, keys_at, doors_at = _grid_tables(instance)
    w, h = int(instance["width"]), int(instance["height"])
    x, y = int(start[0]), int(start[1])
    held = set(start_keys)
    goal = (int(instance["goal"][0]), int(instance["goal"][1]))
    for i, mv in enumerate(plan):
        d = _DELTA.get(mv)
        if d is None:
            return PlanResult(False, (x, y) == goal, (x, y), frozenset(held), i)
        nx, ny = x + d[0], y + d[1]
        cell = (nx, ny)
        if not (0 <= nx < w and 0 <= ny < h) or cell in walls:
            return PlanResult(False, (x, y) == goal, (x, y), frozenset(held), i)
        door = doors_at.get(cell)
        if door is not None and door not in held:
            return PlanResult(False, (x, y) == goal, (x, y), frozenset(held), i)
        x, y = nx, ny
        key = keys_at.get(cell)
        if key is not None:
            held.add(key)
    return PlanResult(True, (x, y) == goal, (x, y), frozenset(held), None)


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
