"""Grid planning with ordered key/door stages.

A ``width x height`` grid holds walls, a start ``S``, a goal ``G`` and ``k`` keys and
doors. A door can be entered only while holding the key with the same id; stepping on a
key picks it up for good. The **depth** is ``k``, the number of key/door stages, each of
which is *necessary*: with that stage's key removed the goal is unreachable.

Construction (``generate``, version 3)
    All random numbers of an attempt come from one ``rng.random`` block whose layout is fixed
    by the grid size (never by ``k``).

    1. A perfect maze: maze cells sit at even coordinates ``(x, y)``, the cells between two
       maze cells are passages, the cells with two odd coordinates are always wall. A random
       spanning tree of the maze-cell lattice decides which passages are open: randomized
       Kruskal [3]_, i.e. the minimum spanning tree for i.i.d. uniform edge weights (the edges
       taken in the order of a uniform permutation, each kept unless it closes a cycle).
       Every maze therefore has the same number of walls, whatever the depth.
    2. Start: a uniform maze cell; goal: a uniform maze cell among those whose tree
       distance from the start is at least 3/4 of the largest one. The start-goal path is
       unique (the open cells form a tree).
    3. *Branch points* are the path's maze cells (the goal excluded) with a side branch (a
       subtree hanging off the path). While the path has fewer than the grid's
       :func:`max_depth` -- *whatever* ``k`` is -- a path cell ``p`` without a side branch
       is joined to a lattice neighbour ``q`` off the path and ``q``'s edge towards the
       path is removed (``q``'s subtree now hangs off ``p``; the pair is uniform among those
       that cost no other path cell its last branch). The tree stays a perfect maze and the
       start-goal path is unchanged. Only when no pair is left (about 5.4% of 21 x 21 mazes,
       1.0% at 15 x 15, none at 9 x 9: measured over 1,000-3,300 items each) is the maze
       redrawn (bounded number of attempts, then ``RuntimeError``).
    4. ``k`` of the branch points ``b_1 < ... < b_k`` (in path order) are drawn uniformly;
       key ``i`` goes to a uniform maze cell of the side branches at ``b_i`` and door ``i``
       to a uniform passage of the path between ``b_i`` and ``b_(i+1)`` (the goal for the
       last door). Each door is a cut cell between the start and the goal, and key
       ``i + 1`` lies behind door ``i``, so the stages must be done in order and each needs
       a detour into a dead end.
    5. Key ids are distinct random letters (not ``g``, ``l`` or ``s``), so an id does not
       reveal a stage's position.

    Steps 1-3 do not depend on ``k``, so the maze, start and goal have the same
    distribution at every depth: with the same ``rng`` state, depths 1 and 8 give the same
    maze and differ only in keys and doors (tested). The gold plan is read off the tree:
    the tree paths start -> key 1 -> ... -> key k -> goal. Version 2 drew a uniform spanning
    tree (Wilson's algorithm [1]_) and redrew it until the path had enough branch points
    (about 2.9 mazes per 21 x 21 item); randomized Kruskal mazes have more, shorter dead
    ends and somewhat shorter start-goal paths (mean optimal plan at 15 x 15, depth 1: 43
    moves).

Certification (``certify``)
    Independent of the maze bookkeeping, from the instance alone (walls, doors, keys):
    breadth-first search over states ``(keys held, position)`` gives the optimal plan, its
    length and the number of optimal plans. Each key's necessity is a reachability question
    with that key deleted: keys are kept and moves are reversible, so the reachable cells
    are a closure (a door opens once its key is picked up anywhere already reached),
    computed on the free cells cut into door-free regions and door cells. The certified
    depth is the number of keys that are necessary in this sense. (Cross-checked against
    version 2's certifier, one search over states per deleted key, and against a
    frozenset-state BFS in the tests.)

Chance
    ``meta.chance`` is the probability that a move string drawn uniformly among the
    ``4**L`` strings of the optimal length ``L`` is a correct plan: (number of optimal
    plans) / ``4**L`` (in a perfect maze the optimal plan is unique, so ``4**-L``). A
    guesser free to pick another length still needs every move to be legal; in a tree maze
    about half of the four moves from a cell are legal, so a guess of any length ``>= L``
    succeeds with probability of order ``2**-L`` at most. Both are negligible for the
    default 15 x 15 grid (plans of 20 moves or more: below ``1e-6``), so chance-adjusted
    fits effectively use ``c = 0``. The value is floored at ``1e-300`` to stay a positive
    float.

Instance format (``docs/ARCHITECTURE.md``)::

    {"width": W, "height": H, "walls": [[x, y], ...],   # row-major order (by y, then x)
     "start": [x, y], "goal": [x, y],
     "keys": [{"id": "a", "pos": [x, y]}, ...],          # sorted by id
     "doors": [{"id": "a", "pos": [x, y]}, ...]}         # sorted by id

x = column (0 left), y = row (0 top); ``U``: y-1, ``D``: y+1, ``L``: x-1, ``R``: x+1.
Answer: one optimal move string over ``UDLR`` (any correct plan is accepted by the
verifier). Trace: ``[{"subgoal": "key a" | "door a" | "goal", "moves": "..."}]``; the
moves concatenate to the answer. ``Certificate.extra["optimal_plan_length"]`` is recorded.

References
----------
.. [1] D. B. Wilson, "Generating random spanning trees more quickly than the cover time",
   STOC 1996 (version 2's mazes).
.. [2] Chevalier-Boisvert et al., "Minigrid & Miniworld: Modular & Customizable
   Reinforcement Learning Environments for Goal-Oriented Tasks", NeurIPS 2023,
   arXiv:2306.13831 (key/door grid worlds).
.. [3] J. B. Kruskal, "On the shortest spanning subtree of a graph and the traveling
   salesman problem", Proc. AMS 7(1), 1956.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np

from depthbench.generators._base import Certificate, Family, Problem, StepCheck

__all__ = [
    "GridPlanningConfig",
    "generate",
    "certify",
    "describe",
    "parse_prompt",
    "max_depth",
    "verify",
    "simulate_plan",
    "PlanResult",
    "plan_is_optimal",
    "trace_first_error",
    "parse_trace",
    "stated_steps",
    "format_step",
    "FAMILY",
]

VERSION = "3"
KEY_IDS = "abcdefhijkmnopqrtuvwxyz"  # no g/s (clash with G/S), no l (reads like 1)
#: the most cells (width x height) the certifier reads: it allocates per cell
MAX_CELLS = 1_000_000
CELLS_PER_STAGE = 8
#: the certifier's search visits at most ``max((key ids + 1) * cells, SEARCH_STATES)`` states
#: (keys held, cell): a chain of k ordered stages reaches k + 1 sets of keys held (every item the
#: generator makes does), while k keys free to be picked up in any order reach up to 2**k sets
#: (23 keys in a 15 x 15 room: 1.9e9 states, about an hour and tens of GB; the measured figures
#: are in tests/test_grid_planning.py)
SEARCH_STATES = 1 << 20
_MAX_ATTEMPTS = 200


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------


def _max_depth_for(width: int, height: int) -> int:
    cells = ((width + 1) // 2) * ((height + 1) // 2)
    return min(len(KEY_IDS), cells // CELLS_PER_STAGE)


@dataclass(frozen=True)
class GridPlanningConfig:
    """Parameters of one grid planning problem.

    Parameters
    ----------
    depth : int
        Number of key/door stages ``k``, ``1 <= k <= max_depth(config)``.
    width, height : int, optional
        Grid size in cells, odd and at least 5; fixed across depths. Default 15 x 15.

    Raises
    ------
    ValueError
        If a size is even or too small, or the depth does not fit the grid
        (``max_depth = min(23, maze_cells // 8)`` with
        ``maze_cells = ((width + 1) // 2) * ((height + 1) // 2)``).
    """

    depth: int
    width: int = 15
    height: int = 15

    def __post_init__(self) -> None:
        for name in ("depth", "width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}: expected an integer, got {value!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value < 5 or value % 2 == 0:
                raise ValueError(f"{name}: must be an odd integer >= 5 (maze layout), got {value}")
        if self.depth < 1:
            raise ValueError(f"depth: must be >= 1, got {self.depth}")
        limit = _max_depth_for(self.width, self.height)
        if self.depth > limit:
            raise ValueError(
                f"depth: {self.depth} stages do not fit a {self.width}x{self.height} grid "
                f"(at most {limit}); lower the depth or enlarge the grid"
            )


def max_depth(config: GridPlanningConfig | Mapping[str, Any]) -> int:
    """Largest number of stages the grid size supports.

    Parameters
    ----------
    config : GridPlanningConfig or mapping
        A config, or its size parameters as a mapping (``depth`` not needed).

    Returns
    -------
    int
        ``min(23, maze_cells // 8)``: a stage uses a branch point, a dead end and a door
        on the start-goal path; one in eight maze cells keeps the branch growth short and
        redraws rare.
    """
    if isinstance(config, Mapping):
        default = {f.name: f.default for f in fields(GridPlanningConfig) if f.name != "depth"}
        return _max_depth_for(int(config.get("width", default["width"])), int(config.get("height", default["height"])))
    return _max_depth_for(config.width, config.height)


# ---------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _lattice_neighbours(cw: int, ch: int) -> tuple[tuple[int, ...], ...]:
    """Neighbours of each cell ``y*cw+x`` of the ``cw x ch`` lattice (up, down, left, right).

    Depends on the size only, so it is computed once per size and shared (read-only).
    """
    nbrs = []
    for c in range(cw * ch):
        x, y = c % cw, c // cw
        nbrs.append(tuple(c2 for c2, ok in ((c - cw, y > 0), (c + cw, y < ch - 1), (c - 1, x > 0), (c + 1, x < cw - 1))
                          if ok))
    return tuple(nbrs)


@lru_cache(maxsize=32)
def _lattice(cw: int, ch: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int, int], ...],
                                        dict[tuple[int, int], int]]:
    """The ``cw x ch`` maze-cell lattice: its edges and the wall template of the grid.

    Returns ``(ends_a, ends_b, template, edge_id)``: edge ``e`` joins maze cells ``ends_a[e] <
    ends_b[e]`` (cell ids ``y*cw+x``) and ``edge_id[a, b] == e``; ``template`` lists, in
    row-major order, every grid cell ``(x, y)`` that is not a maze cell with the edge whose
    passage it is (``-1``: both coordinates odd, always wall). Depends on the size only, so
    it is computed once per size and shared (read-only).
    """
    ends_a, ends_b, passage = [], [], {}
    for y in range(ch):
        for x in range(cw):
            c = y * cw + x
            for d, ok, px, py in ((c + 1, x < cw - 1, 2 * x + 1, 2 * y), (c + cw, y < ch - 1, 2 * x, 2 * y + 1)):
                if ok:
                    passage[(px, py)] = len(ends_a)
                    ends_a.append(c)
                    ends_b.append(d)
    w, h = 2 * cw - 1, 2 * ch - 1
    template = tuple((x, y, passage.get((x, y), -1)) for y in range(h) for x in range(w) if (x | y) & 1)
    edge_id = {(a, b): e for e, (a, b) in enumerate(zip(ends_a, ends_b))}
    return tuple(ends_a), tuple(ends_b), template, edge_id


def _kruskal_maze(cw: int, ch: int, order: list[int]) -> tuple[list[list[int]], list[bool]]:
    """Random spanning tree of the ``cw x ch`` lattice: Kruskal's algorithm on the edges in ``order``.

    ``order`` is a uniformly random permutation of the lattice's edges, so the tree is the
    minimum spanning tree for i.i.d. uniform edge weights ("randomized Kruskal"). Returns
    the adjacency lists of cell ids ``y*cw+x`` and, per edge, whether it is in the tree.
    """
    ends_a, ends_b, _, _ = _lattice(cw, ch)
    n = cw * ch
    root = list(range(n))
    adj: list[list[int]] = [[] for _ in range(n)]
    in_tree = [False] * len(ends_a)
    joined = 1
    for e in order:
        a = ra = ends_a[e]
        while root[ra] != ra:
            root[ra] = ra = root[root[ra]]  # path halving
        b = rb = ends_b[e]
        while root[rb] != rb:
            root[rb] = rb = root[root[rb]]
        if ra != rb:
            root[ra] = rb
            adj[a].append(b)
            adj[b].append(a)
            in_tree[e] = True
            joined += 1
            if joined == n:
                break
    return adj, in_tree


def _tree_bfs(tree: list[list[int]], start: int, n: int) -> tuple[list[int], list[int]]:
    """Distances and parents (towards ``start``; ``-1`` at the start) of the tree's cells."""
    dist = [-1] * n
    parent = [-1] * n
    dist[start] = 0
    queue = [start]
    for c in queue:
        dc = dist[c] + 1
        for d in tree[c]:
            if dist[d] < 0:
                dist[d], parent[d] = dc, c
                queue.append(d)
    return dist, parent


def _grow_branches(tree: list[list[int]], in_tree: list[bool], parent: list[int], path: list[int], need: int,
                   draws: list[float], cw: int, ch: int) -> bool:
    """Give at least ``need`` cells of the start-goal ``path`` (the goal excluded) a side branch.

    A branch point is a path cell with a tree neighbour off the path. While there are too
    few, one path cell ``p`` without a side branch is joined to a lattice neighbour ``q`` off
    the path, and ``q``'s edge towards the path is removed: ``q``'s subtree now hangs off
    ``p``, the tree stays a spanning tree, the start-goal path is unchanged and no other path
    cell loses its last side branch. The pair is drawn uniformly among the eligible ones
    (one draw each from ``draws``). Edits ``tree``, ``in_tree`` and ``parent`` in place.

    Returns False when no eligible pair is left (the caller redraws the maze).
    """
    _, _, _, edge_id = _lattice(cw, ch)
    nbrs = _lattice_neighbours(cw, ch)
    last = len(path) - 1
    index = {c: j for j, c in enumerate(path)}

    def sides(j: int) -> int:  # tree neighbours of path[j] off the path (the path uses 1 at the start, 2 after)
        return len(tree[path[j]]) - (1 if j == 0 else 2)

    count = sum(sides(j) > 0 for j in range(last))
    if count >= need:
        return True
    # Eligibility only shrinks as pairs are used: p gains a branch, r may lose one, q now
    # hangs off p (whose only branch it is), so the list is filtered, not rebuilt.
    eligible = [(p, q) for j in range(last) if sides(j) == 0 for p in (path[j],) for q in nbrs[p]
                if q not in index and not (parent[q] in index and sides(index[parent[q]]) == 1)]
    for draw in draws:
        if not eligible:
            return False
        p, q = eligible[int(draw * len(eligible))]
        r = parent[q]
        tree[q].remove(r)
        tree[r].remove(q)
        tree[p].append(q)
        tree[q].append(p)
        in_tree[edge_id[min(q, r), max(q, r)]] = False
        in_tree[edge_id[min(p, q), max(p, q)]] = True
        parent[q] = p
        count += 1
        if count >= need:
            return True
        eligible = [(p2, q2) for p2, q2 in eligible if p2 != p and q2 != q
                    and not (parent[q2] == r and r in index and sides(index[r]) == 1)]
    return count >= need


def _attempt(config: GridPlanningConfig, rng: np.random.Generator) -> Problem | None:
    w, h, k = config.width, config.height, config.depth
    cw, ch = (w + 1) // 2, (h + 1) // 2
    n = cw * ch
    ends_a, ends_b, template, _ = _lattice(cw, ch)
    m = len(ends_a)
    # One block of uniforms per attempt, its layout fixed by the grid size alone (never by k),
    # so the maze, start and goal are the same at every depth for the same rng state.
    u = rng.random(m + n + 2 + 4 * len(KEY_IDS))
    tree, in_tree = _kruskal_maze(cw, ch, np.argsort(u[:m], kind="stable").tolist())
    rest = u[m:].tolist()
    z = len(KEY_IDS)
    draw_start, draw_goal, rank_branch = rest[0], rest[1], rest[2:2 + n]
    rank_id, draw_key, draw_door, draw_swap = (rest[2 + n + i * z:2 + n + (i + 1) * z] for i in range(4))

    def pos(c: int) -> tuple[int, int]:
        return (2 * (c % cw), 2 * (c // cw))

    # Start: a uniform maze cell; goal: a uniform maze cell among those whose tree distance
    # from the start is at least 3/4 of the largest one.
    start = int(draw_start * n)
    dist, parent = _tree_bfs(tree, start, n)
    threshold = -(-3 * max(dist) // 4)  # ceil(0.75 * largest distance)
    far = [c for c in range(n) if dist[c] >= threshold]
    goal = far[int(draw_goal * len(far))]
    path = [goal]
    while path[-1] != start:
        path.append(parent[path[-1]])
    path.reverse()
    if not _grow_branches(tree, in_tree, parent, path, _max_depth_for(w, h), draw_swap, cw, ch):
        return None
    on_path = {c: j for j, c in enumerate(path)}  # path cell -> index

    # k of the path's branch points (the goal excluded), uniformly; key i in the side
    # subtrees at branch point i, door i on a passage of the path before branch point i+1.
    candidates = [j for j, c in enumerate(path[:-1]) if len(tree[c]) > (1 if j == 0 else 2)]
    chosen = sorted(candidates[i] for i in sorted(range(len(candidates)), key=rank_branch.__getitem__)[:k])
    # Key ids: k distinct letters, assigned to the stages in random order (an id's rank
    # says nothing about its stage).
    stage_ids = [KEY_IDS[i] for i in sorted(range(len(KEY_IDS)), key=rank_id.__getitem__)[:k]]
    keys, doors = [], []
    key_stage: dict[int, int] = {}  # key maze cell -> stage
    door_stage: dict[tuple[int, int], int] = {}  # door passage (maze cells, path order) -> stage
    for i, j in enumerate(chosen):
        cells, stack = [], [d for d in tree[path[j]] if d not in on_path]
        seen = {path[j]}
        while stack:
            e = stack.pop()
            if e not in seen:
                seen.add(e)
                cells.append(e)
                stack.extend(f for f in tree[e] if f not in seen)
        key_cell = cells[int(draw_key[i] * len(cells))]
        nxt_j = chosen[i + 1] if i + 1 < k else len(path) - 1
        t = j + int(draw_door[i] * (nxt_j - j))  # the passage path[t] -> path[t+1]
        (x1, y1), (x2, y2) = pos(path[t]), pos(path[t + 1])
        key_stage[key_cell] = i
        door_stage[(path[t], path[t + 1])] = i
        keys.append({"id": stage_ids[i], "pos": list(pos(key_cell))})
        doors.append({"id": stage_ids[i], "pos": [(x1 + x2) // 2, (y1 + y2) // 2]})

    # Walls: every always-wall cell and the passage of every lattice edge not in the tree.
    walls = [[x, y] for x, y, e in template if e < 0 or not in_tree[e]]

    # The optimal plan: tree paths start -> key 1 -> ... -> key k -> goal (the order is
    # forced and tree paths are unique), cut at each key pick-up and door entry. A maze
    # step is two grid moves (the passage, then the next maze cell).
    def climb(c: int) -> list[int]:  # c, its parent, ... up to the first path cell
        up = [c]
        while up[-1] not in on_path:
            up.append(parent[up[-1]])
        return up

    def tree_path(a: int, b: int) -> list[int]:
        up_a, up_b = climb(a), climb(b)
        i, j = on_path[up_a[-1]], on_path[up_b[-1]]
        return up_a[:-1] + (path[i:j + 1] if i <= j else path[j:i + 1][::-1]) + up_b[-2::-1]

    letter = {-cw: "UU", cw: "DD", -1: "LL", 1: "RR"}
    stops = [start] + [c for c, _ in sorted(key_stage.items(), key=lambda kv: kv[1])] + [goal]
    route = [start]
    cuts = []  # (moves before the cut, subgoal reached there)
    for i, (a, b) in enumerate(zip(stops[:-1], stops[1:])):
        route += tree_path(a, b)[1:]
        if i < k:
            cuts.append((2 * len(route) - 2, f"key {stage_ids[i]}"))
    steps = list(zip(route[:-1], route[1:]))
    # A door is entered once (in stage order), on the first of the step's two moves.
    cuts += [(2 * j + 1, f"door {stage_ids[door_stage[st]]}") for j, st in enumerate(steps) if st in door_stage]
    plan = "".join([letter[d - c] for c, d in steps])
    trace: list[dict[str, str]] = []
    done = 0
    for at, subgoal in sorted(cuts):
        trace.append({"subgoal": subgoal, "moves": plan[done:at]})
        done = at
    trace.append({"subgoal": "goal", "moves": plan[done:]})
    instance = {
        "width": w,
        "height": h,
        "walls": walls,
        "start": list(pos(start)),
        "goal": list(pos(goal)),
        "keys": sorted(keys, key=lambda e: e["id"]),
        "doors": sorted(doors, key=lambda e: e["id"]),
    }
    return Problem(
        instance=instance,
        answer=plan,
        answer_type="plan",
        depth=k,
        solution_trace=trace,
        size={"width": w, "height": h, "num_walls": len(walls)},
        chance=_chance(1, len(plan)),
        answer_space={"moves": "UDLR"},
    )


def _chance(num_plans: int, length: int) -> float:
    """``num_plans / 4**length``, kept a positive float (floored at 1e-300)."""
    return max(num_plans / 4**length, 1e-300)


def generate(config: GridPlanningConfig, rng: np.random.Generator, cues: Any = None) -> Problem:
    """Generate one grid with exactly ``config.depth`` necessary key/door stages.

    Parameters
    ----------
    config : GridPlanningConfig
        Validated parameters.
    rng : numpy.random.Generator
        The only source of randomness.
    cues : None
        No cue variable is balanced: the answer is a whole plan checked by simulation, so
        no placement feature of start, goal, keys or doors names it (the no-skill rules of
        the release tests, fixed and template plans, score 0); accepted for the common
        signature.

    Returns
    -------
    Problem
        ``answer`` is an optimal move string; ``size`` holds ``width``, ``height`` and
        ``num_walls`` (all independent of depth); ``chance`` as in the module docstring.
        The optimal plan length is ``len(answer)``.

    Raises
    ------
    RuntimeError
        If ``_MAX_ATTEMPTS`` mazes in a row cannot be given enough branch points on the
        start-goal path (not observed at the default sizes; about 1.07 mazes are drawn per
        21 x 21 item, 1.00 at 15 x 15).

    Notes
    -----
    About O(W * H) per maze (Kruskal's union-find, one tree search, the branch growth);
    certification runs one search over (keys held, cell) and a flood of the free cells.
    """
    for _ in range(_MAX_ATTEMPTS):
        problem = _attempt(config, rng)
        if problem is not None:
            return problem
    raise RuntimeError(
        f"grid_planning: no maze with {config.depth} stages in {_MAX_ATTEMPTS} attempts on a "
        f"{config.width}x{config.height} grid; lower the depth or enlarge the grid"
    )


# ---------------------------------------------------------------------------------------
# Independent certifier
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _grid_neighbours(w: int, h: int) -> tuple[tuple[int, ...], ...]:
    """For each cell ``y*w+x`` of a ``w x h`` grid, the cells one move away that stay on the
    grid, in the move order U, D, L, R (walls ignored).

    Depends on the size only, so it is computed once per size and shared (read-only).
    """
    return tuple(
        tuple(d for d, ok in ((c - w, c >= w), (c + w, c < w * (h - 1)), (c - 1, c % w > 0), (c + 1, c % w < w - 1))
              if ok)
        for c in range(w * h))


_WALL = -1


class _Grid:
    """The instance compiled for search.

    Cells are numbered ``y * width + x``. ``code[c]`` is ``0`` for a plain free cell,
    ``_WALL`` for a wall and ``1`` for a cell holding a door or a key, whose bits (over the
    sorted key/door ids) are ``door[c]`` and ``key[c]``. ``nbrs[c]`` lists the cells one
    move away (shared per grid size), so compiling an instance costs O(walls + keys), not
    O(cells).
    """

    def __init__(self, instance: Mapping[str, Any]) -> None:
        try:
            w, h = instance["width"], instance["height"]
            keys, doors = list(instance["keys"]), list(instance["doors"])
            ids = [e["id"] for e in keys] + [e["id"] for e in doors]
            instance["walls"], instance["start"], instance["goal"]
        except (KeyError, TypeError, IndexError):
            raise ValueError("grid_planning: an instance needs width, height, walls, start, goal and lists of "
                             "keys and doors, each an object with id and pos") from None
        if type(w) is not int or type(h) is not int or w < 1 or h < 1:
            raise ValueError(f"grid_planning: width and height must be integers >= 1, got {w!r} x {h!r}")
        if w * h > MAX_CELLS:  # checked before anything is allocated per cell
            raise ValueError(f"grid_planning: a {w} x {h} grid is past the limit of {MAX_CELLS} cells")
        for kid in ids:  # the map draws an id as one letter (a door as its uppercase)
            if type(kid) is not str or len(kid) != 1 or kid not in KEY_IDS:
                raise ValueError(f"grid_planning: key/door id {kid!r} is not one of the letters {KEY_IDS} "
                                 "(the map draws it as one character)")
        self.w, self.h, self.n = w, h, w * h
        self.nbrs = _grid_neighbours(w, h)
        self.code = code = [0] * (w * h)
        walls = instance["walls"]
        try:  # inline: the walls are most of an instance
            for x, y in walls:
                if type(x) is not int or type(y) is not int or not (0 <= x < w and 0 <= y < h):
                    raise ValueError
                code[y * w + x] = _WALL
        except (TypeError, ValueError):
            for xy in walls:
                self.cell(xy, "wall")  # raises, naming the wall
            raise
        self.ids = sorted(set(ids))
        self.key_ids = len({e["id"] for e in keys})
        self.bit = {kid: 1 << i for i, kid in enumerate(self.ids)}
        self.door, self.key = [0] * self.n, [0] * self.n
        self.door_at: dict[int, int] = {}  # cell -> bit (the last door listed on a cell wins)
        self.key_at: dict[int, int] = {}
        for table, at, things in ((self.door, self.door_at, instance["doors"]),
                                  (self.key, self.key_at, instance["keys"])):
            for e in things:
                c = self.free_cell(e["pos"], f"{'door' if table is self.door else 'key'} {e['id']!r}")
                table[c] = at[c] = self.bit[e["id"]]
                code[c] = 1
        self.name = {b: kid for kid, b in self.bit.items()}
        self.start = self.free_cell(instance["start"], "start")
        self.goal = self.free_cell(instance["goal"], "goal")

    def cell(self, xy: Any, what: str = "position") -> int:
        """The cell number of ``[x, y]``; ValueError unless both are ints inside the grid."""
        try:
            x, y = xy
        except (TypeError, ValueError):
            x = y = None
        if type(x) is not int or type(y) is not int or not (0 <= x < self.w and 0 <= y < self.h):
            raise ValueError(f"grid_planning: {what} {xy!r} is not a cell [x, y] of the {self.w} x {self.h} grid")
        return y * self.w + x

    def free_cell(self, xy: Any, what: str) -> int:
        """:meth:`cell`, and ValueError if that cell is a wall."""
        c = self.cell(xy, what)
        if self.code[c] == _WALL:
            raise ValueError(f"grid_planning: {what} {xy!r} is on a wall")
        return c


def _search(grid: _Grid) -> tuple[int | None, list[int], list[int], int]:
    """Level-by-level BFS over states ``(keys held, cell)`` from the start.

    A state is the int ``slot * cells + cell``, where ``slot`` numbers the sets of keys held
    in the order they are first reached (``masks[slot]`` is the bit mask).

    Returns
    -------
    (goal_state, parent, masks, num_optimal_plans)
        The first goal state reached in the move order U, D, L, R (``None`` if unreachable),
        the BFS parent of every reached state (``-1`` at the start), the masks of the slots
        and the number of shortest move strings that reach the goal.
    """
    n, goal, nbrs, code, doors, keys = grid.n, grid.goal, grid.nbrs, grid.code, grid.door, grid.key
    start = grid.start
    most_sets = max(grid.key_ids + 1, SEARCH_STATES // n)  # sets of keys held the search may reach
    masks = [keys[start]]
    slot = {masks[0]: 0}
    dist, count, parent = [-1] * n, [0] * n, [-1] * n
    dist[start], count[start] = 0, 1
    frontier = [start]
    level = 0
    while frontier:
        goals = [s for s in range(goal, len(dist), n) if dist[s] == level]  # one state per slot
        if goals:
            goals.sort(key=frontier.index)  # the first reached, in the move order
            return goals[0], parent, masks, sum(count[s] for s in goals)
        level += 1
        layer: list[int] = []
        push = layer.append
        for s in frontier:
            c = s % n
            base = s - c
            cs = count[s]
            for d in nbrs[c]:
                cd = code[d]
                if cd:
                    if cd == _WALL:
                        continue
                    held = masks[base // n]
                    if doors[d] and not held & doors[d]:
                        continue
                    if keys[d] & ~held:  # a new key: the state moves to the slot of the larger set
                        new = held | keys[d]
                        b = slot.get(new)
                        if b is None:
                            if len(masks) >= most_sets:  # checked before the slot's lists are allocated
                                raise ValueError(
                                    f"grid_planning: keys: the {grid.key_ids} keys can be picked up in more than "
                                    f"{most_sets} orders (sets of keys held) on {n} cells, past the search limit of "
                                    f"max((keys + 1) x cells, {SEARCH_STATES}) states; put the keys behind doors in "
                                    "stage order or use fewer keys")
                            b = slot[new] = len(masks)
                            masks.append(new)
                            dist += [-1] * n
                            count += [0] * n
                            parent += [-1] * n
                        t = b * n + d
                    else:
                        t = base + d
                else:
                    t = base + d
                dt = dist[t]
                if dt < 0:
                    dist[t], count[t], parent[t] = level, cs, s
                    push(t)
                elif dt == level:  # another shortest way into a state of this layer
                    count[t] += cs
        frontier = layer
    return None, parent, masks, 0


def _necessary(grid: _Grid, key_ids: Sequence[str]) -> dict[str, bool]:
    """Per key id, whether the goal is unreachable once that key is deleted.

    Keys are kept for good and moves are reversible, so the cells reachable with a key
    deleted are a closure: flood the free cells from the start, a door passable once its key
    has been picked up anywhere in the flooded part. The free cells are cut into nodes --
    regions without doors and one node per door cell -- each flooded the first time a
    closure reaches it (regions no closure enters, such as the goal's when every key is
    necessary, are never flooded); each key's closure runs on that small graph.
    """
    n, nbrs, code, doors, keys = grid.n, grid.nbrs, grid.code, grid.door, grid.key
    node = [-1] * n
    node_keys: list[int] = []
    node_door: list[int] = []  # door bits of a door node, 0 for a region
    adj: list[set[int]] = []
    pending: list[list[int]] = []  # free cells next to a node, outside it, not yet in any node

    def make(seed: int) -> int:
        v, is_door = len(node_door), doors[seed]
        node_door.append(is_door)
        node_keys.append(0)
        adj.append(set())
        pending.append([])
        node[seed] = v
        cells = [seed]
        for c in cells:  # a door node keeps its one cell; a region floods its door-free cells
            if code[c] > 0:
                node_keys[v] |= keys[c]
            for d in nbrs[c]:
                u = node[d]
                if u == v or code[d] == _WALL:
                    continue
                if u >= 0:
                    adj[v].add(u)
                    adj[u].add(v)
                elif is_door or doors[d]:
                    pending[v].append(d)
                else:
                    node[d] = v
                    cells.append(d)
        return v

    def neighbours(v: int) -> set[int]:
        for d in pending[v]:  # the nodes across v's border exist once these are made
            if node[d] < 0:
                make(d)
        pending[v] = []
        return adj[v]

    s0 = make(grid.start)
    out = {}
    for kid in key_ids:
        keep = ~grid.bit[kid]
        reached = {s0}
        held = node_keys[s0] & keep
        stack, parked = [s0], []
        while True:
            while stack:
                for u in neighbours(stack.pop()):
                    if u in reached:
                        continue
                    if node_door[u] and not held & node_door[u]:
                        parked.append(u)
                        continue
                    reached.add(u)
                    held |= node_keys[u] & keep
                    stack.append(u)
            opened = [u for u in parked if u not in reached and held & node_door[u]]
            if not opened:
                break
            parked = [u for u in parked if u not in reached and not held & node_door[u]]
            for u in opened:
                if u not in reached:
                    reached.add(u)
                    held |= node_keys[u] & keep
                    stack.append(u)
        out[kid] = node[grid.goal] not in reached  # -1 (never flooded) is never reached
    return out


def certify(instance: Mapping[str, Any]) -> Certificate:
    """Solve the instance by search over (position, keys held) and certify each stage.

    Parameters
    ----------
    instance : mapping
        A grid_planning instance (see the module docstring).

    Returns
    -------
    Certificate
        ``depth`` = number of keys without which the goal is unreachable;
        ``answer`` = one optimal plan (moves tried in the order U, D, L, R);
        ``solution_trace`` = the plan cut at each subgoal (first pick-up of a key, first
        entry through a door, the goal); ``extra`` holds ``optimal_plan_length``,
        ``num_optimal_plans``, ``chance``, ``stage_order`` (key ids in the plan's order) and
        ``necessary`` (per key id).

    Raises
    ------
    ValueError
        If the goal is unreachable even with every key, or the instance is malformed: a
        missing field (never a ``KeyError`` or ``TypeError``), a width or height that is not
        an int >= 1, more than ``MAX_CELLS`` (1,000,000) cells (checked before anything is
        allocated per cell), a key or door id that is not one letter of ``KEY_IDS`` (the
        map draws it as one character; ``s``/``g`` would draw as the start/goal), a wall,
        key, door, start or goal that is not an ``[x, y]`` pair of ints inside the grid, or
        a key, door, start or goal on a wall; or keys that can be picked up in so many orders
        that the search would visit more than ``max((keys + 1) * cells, SEARCH_STATES)``
        states (``SEARCH_STATES`` = 2**20, checked before each set of keys held is allocated;
        every generated item reaches keys + 1 sets).

    Notes
    -----
    The search is O(cells * 2**keys) in the worst case and O(cells * (keys + 1)) when
    stages are ordered, hence the bound above (2**20 states take about 2 s at ~2-5 us each;
    23 ordered stages on 999 x 999 cells are 24e6 states); the necessity checks cost one
    flood of the free cells plus, per key, a closure over the door-free regions and door
    cells.

    Examples
    --------
    A corridor ``S a . A . . G``:

    >>> inst = {"width": 7, "height": 1, "walls": [], "start": [0, 0], "goal": [6, 0],
    ...         "keys": [{"id": "a", "pos": [1, 0]}], "doors": [{"id": "a", "pos": [3, 0]}]}
    >>> cert = certify(inst)
    >>> cert.depth, cert.answer, [t["subgoal"] for t in cert.solution_trace]
    (1, 'RRRRRR', ['key a', 'door a', 'goal'])
    """
    grid = _Grid(instance)
    found, parent, masks, count = _search(grid)  # count: number of optimal plans
    if found is None:
        raise ValueError("grid_planning: the goal is unreachable from the start")
    n, w = grid.n, grid.w
    states = [found]
    while parent[states[-1]] >= 0:
        states.append(parent[states[-1]])
    states.reverse()
    letter = {-w: "U", w: "D", -1: "L", 1: "R"}
    cells = [s % n for s in states]
    slots = [s // n for s in states]
    plan = "".join([letter[d - c] for c, d in zip(cells[:-1], cells[1:])])

    # Cut the plan at each first pick-up of a key and each first entry through a door.
    trace: list[dict[str, str]] = []
    stage_order: list[str] = []
    passed: set[int] = set()
    done = 0
    door_at = grid.door_at
    for i in [i for i in range(1, len(states)) if slots[i] != slots[i - 1] or cells[i] in door_at]:
        gained = masks[slots[i]] & ~masks[slots[i - 1]]
        if gained:
            kid = grid.name[gained]
            stage_order.append(kid)
            subgoal = f"key {kid}"
        elif cells[i] not in passed:
            passed.add(cells[i])
            subgoal = f"door {grid.name[door_at[cells[i]]]}"
        else:
            continue
        trace.append({"subgoal": subgoal, "moves": plan[done:i]})
        done = i
    trace.append({"subgoal": "goal", "moves": plan[done:]})

    necessary = _necessary(grid, sorted(e["id"] for e in instance["keys"]))
    n_opt = count
    return Certificate(
        depth=sum(necessary.values()),
        answer=plan,
        solution_trace=trace,
        extra={
            "optimal_plan_length": len(plan),
            "num_optimal_plans": n_opt,
            "chance": _chance(n_opt, len(plan)),
            "stage_order": stage_order,
            "necessary": necessary,
        },
    )


# ---------------------------------------------------------------------------------------
# Prompt text
# ---------------------------------------------------------------------------------------

_HEADER_RE = re.compile(r"^Grid: (\d+) columns x (\d+) rows\.", re.M)
_MAP_LINE = "Map (one text row per grid row, top row first):"


def describe(instance: Mapping[str, Any]) -> str:
    """Draw the instance as a text map with the rules (inserted as ``{{ problem }}``).

    Parameters
    ----------
    instance : mapping
        A grid_planning instance.

    Returns
    -------
    str
        Rules, legend and a ``height``-line map using ``#`` wall, ``.`` floor, ``S`` start,
        ``G`` goal, lowercase key, uppercase door; no trailing newline.
    """
    w, h = int(instance["width"]), int(instance["height"])
    rows = [["."] * w for _ in range(h)]
    for x, y in instance["walls"]:
        rows[y][x] = "#"
    for e in instance["keys"]:
        rows[e["pos"][1]][e["pos"][0]] = e["id"]
    for e in instance["doors"]:
        rows[e["pos"][1]][e["pos"][0]] = e["id"].upper()
    rows[instance["start"][1]][instance["start"][0]] = "S"
    rows[instance["goal"][1]][instance["goal"][0]] = "G"
    lines = [
        f"Grid: {w} columns x {h} rows. Position (x, y): x is the column (0 = left), y is the row (0 = top).",
        "Legend: # wall, . floor, S start, G goal, lowercase letter = key, "
        "uppercase letter = door that opens only while you hold the key with the same letter.",
        "Moves: U (up, y-1), D (down, y+1), L (left, x-1), R (right, x+1). You may not move into a wall, "
        "off the grid, or into a door without its key. Stepping on a key picks it up; keys are never used up.",
        _MAP_LINE,
        *("".join(r) for r in rows),
    ]
    return "\n".join(lines)


def parse_prompt(prompt_text: str) -> dict[str, Any]:
    """Recover the instance from a prompt that contains ``describe(instance)``.

    Parameters
    ----------
    prompt_text : str
        A full prompt (text around the statement is ignored).

    Returns
    -------
    dict
        The instance; ``parse_prompt(describe(x)) == x`` for every valid instance.

    Raises
    ------
    ValueError
        If the header or the map is missing, truncated or malformed.
    """
    header = _HEADER_RE.search(prompt_text)
    if header is None:
        raise ValueError("no grid_planning map found in the prompt")
    w, h = int(header.group(1)), int(header.group(2))
    lines = prompt_text[header.start():].split("\n")
    try:
        first = lines.index(_MAP_LINE) + 1
    except ValueError:
        raise ValueError("map line missing after the grid header") from None
    rows = lines[first : first + h]
    if len(rows) != h or any(len(r) != w for r in rows):
        raise ValueError(f"expected {h} map rows of {w} characters")
    walls, keys, doors = [], [], []
    start = goal = None
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            if ch == "#":
                walls.append([x, y])
            elif ch == "S":
                start = [x, y]
            elif ch == "G":
                goal = [x, y]
            elif ch.islower():
                keys.append({"id": ch, "pos": [x, y]})
            elif ch.isupper():
                doors.append({"id": ch.lower(), "pos": [x, y]})
            elif ch != ".":
                raise ValueError(f"unknown map symbol {ch!r} at ({x}, {y})")
    if start is None or goal is None:
        raise ValueError("the map lacks a start S or a goal G")
    return {
        "width": w,
        "height": h,
        "walls": walls,
        "start": start,
        "goal": goal,
        "keys": sorted(keys, key=lambda e: e["id"]),
        "doors": sorted(doors, key=lambda e: e["id"]),
    }


# ---------------------------------------------------------------------------------------
# Answers and traces: the plan simulator, the verifier, the trace rules
# ---------------------------------------------------------------------------------------

_DELTA = {"U": (0, -1), "D": (0, 1), "L": (-1, 0), "R": (1, 0)}


@dataclass(frozen=True, slots=True)
class PlanResult:
    """Outcome of simulating a move plan (:func:`simulate_plan`).

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


@dataclass(frozen=True, slots=True)
class _Board:
    """An instance compiled for fast simulation.

    Cells are numbered on the grid padded with a one-cell border,
    ``index = (y + 1) * (width + 2) + (x + 1)``, so a move is an index offset and the
    border needs no bounds check: border and wall cells are simply not open.
    """

    key_at: dict[tuple[int, int], str]
    door_at: dict[tuple[int, int], str]
    stride: int
    open_plain: frozenset[int]          # free cells holding no key or door
    special: dict[int, tuple[bool, str]]  # cell -> (is_door, id)
    steps: dict[str, int]


# Compiled boards by instance object: verifying many responses to one item compiles it
# once. Entries hold a reference to their instance, so an id is never reused while cached.
_BOARDS: dict[int, tuple[Mapping[str, Any], _Board]] = {}
_BOARDS_MAX = 4096


def _board(instance: Mapping[str, Any]) -> _Board:
    hit = _BOARDS.get(id(instance))
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
    b = _Board(keys, doors, stride, plain, special, {"U": -stride, "D": stride, "L": -1, "R": 1})
    if len(_BOARDS) >= _BOARDS_MAX:
        _BOARDS.clear()
    _BOARDS[id(instance)] = (instance, b)
    return b


def simulate_plan(instance: Mapping[str, Any], plan: str, start_keys: Any = ()) -> PlanResult:
    """Simulate ``plan`` on an instance.

    Rules: x is the column (0 left), y the row (0 top); ``U``: y-1, ``D``: y+1, ``L``:
    x-1, ``R``: x+1. Walls and the border block. Entering a key cell picks the key up
    (kept for good). A door cell can be entered only while holding the key with the same
    id. Simulation stops at the first illegal move.

    Parameters
    ----------
    instance : mapping
        ``{"width", "height", "walls", "start", "goal", "keys", "doors"}``.
    plan : str
        Moves over ``UDLR`` (upper case, as extraction returns them).
    start_keys : iterable of str, optional
        Keys held before the first move (the trace verifier's sub-plans).

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
    return _simulate_from(instance, plan, tuple(instance["start"]), start_keys)


def _simulate_from(instance: Mapping[str, Any], plan: str, start: Any, start_keys: Any = ()) -> PlanResult:
    b = _board(instance)
    stride, plain, special, steps = b.stride, b.open_plain, b.special, b.steps
    pos = (int(start[1]) + 1) * stride + int(start[0]) + 1
    goal = (int(instance["goal"][1]) + 1) * stride + int(instance["goal"][0]) + 1
    held = set(start_keys)
    first_illegal = None
    for i, mv in enumerate(plan):  # plain free cells cost one set lookup per move
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


def verify(item: Mapping[str, Any], answer: Any) -> bool:
    """The plan is correct when every move is legal and it ends on the goal (any valid
    plan, optimal or not; :func:`plan_is_optimal` reports optimality)."""
    return isinstance(answer, str) and simulate_plan(item["instance"], answer).solved


def plan_is_optimal(item: Mapping[str, Any], plan: str | None) -> bool | None:
    """Whether ``plan`` solves the item with the optimal number of moves.

    Returns
    -------
    bool or None
        True if the plan is correct and ``len(plan) == meta.optimal_plan_length``; False
        if incorrect or longer; None if the item records no optimal length.
    """
    opt = (item.get("meta") or {}).get("optimal_plan_length")
    if opt is None:
        return None
    if not isinstance(plan, str) or not simulate_plan(item["instance"], plan).solved:
        return False
    return len(plan) <= int(opt)


def _subgoal_cells(item: Mapping[str, Any]) -> list[tuple[int, int] | None]:
    """The cell of each gold subgoal (``key a``, ``door a``, ``goal``), None if unknown."""
    inst = item["instance"]
    b = _board(inst)
    key_pos = {v: k for k, v in b.key_at.items()}
    door_pos = {v: k for k, v in b.door_at.items()}
    cells: list[tuple[int, int] | None] = []
    for g in item.get("solution_trace") or []:
        sub = str(g["subgoal"])
        if sub == "goal":
            cells.append((int(inst["goal"][0]), int(inst["goal"][1])))
        else:
            kind, _, ident = sub.partition(" ")
            cells.append((key_pos if kind == "key" else door_pos).get(ident))
    return cells


def _walk_trace(item: Mapping[str, Any], steps: Sequence[Any]) -> tuple[int | None, int]:
    """``(first_error, gold steps covered before it)`` of a stated plan (see :func:`trace_first_error`)."""
    inst = item["instance"]
    cells = _subgoal_cells(item)
    names = [str(g["subgoal"]) for g in item.get("solution_trace") or []]
    pos = (int(inst["start"][0]), int(inst["start"][1]))
    held: frozenset[str] = frozenset()
    j = 0  # gold subgoals reached so far
    for i, s in enumerate(steps):
        if j >= len(cells):
            return i, j
        moves = s.get("moves") if isinstance(s, Mapping) else s
        if not isinstance(moves, str):
            return i, j
        moves = moves.upper()
        named = str(s.get("subgoal") or "").replace("_", " ").strip() if isinstance(s, Mapping) else ""
        target = names.index(named, j) if named in names[j:] else j
        res = _simulate_from(inst, moves, pos, held)
        if not res.legal or res.position != cells[target] or any(c is None for c in cells[j:target + 1]):
            return i, j
        x, y, k = pos[0], pos[1], j  # the walk must reach subgoals j..target in order
        for mv in moves:
            dx, dy = _DELTA[mv]
            x, y = x + dx, y + dy
            while k <= target and cells[k] == (x, y):
                k += 1
        if k <= target:
            return i, j
        pos, held, j = res.position, res.keys, target + 1
    return (None if j >= len(cells) else len(steps)), j


def trace_first_error(item: Mapping[str, Any], steps: Any) -> int | None:
    """First wrong step of a stated plan, its steps covering the gold subgoals in order.

    Steps are ``{"subgoal", "moves"}`` or bare move strings. A step's moves must be legal
    from where the previous step ended. A bare string (or a step naming no gold subgoal
    still ahead) covers the next gold subgoal and must end on its cell; a step naming a gold
    subgoal ahead (``door a``, ``goal``) covers every gold subgoal up to that one: its walk
    must reach each of their cells in order and end on the named one. So a plan written one
    step per subgoal (``key_a:RR``, ``door_a:DD``) and one written one step per stage
    (``door_a:RRDD``, as the simulated reasoner writes it) are judged alike. The trace is
    complete when the last gold subgoal (the goal) is reached; a step after it is wrong.
    """
    return _walk_trace(item, list(steps))[0]


def steps_covered(item: Mapping[str, Any], steps: Sequence[Any], first_error: int) -> int:
    """Gold subgoals covered by the stated steps before ``first_error`` (a stage step such
    as ``door_a:RRDD`` covers its key and its door)."""
    return _walk_trace(item, list(steps)[:first_error])[1]


def parse_trace(item: Mapping[str, Any], text: str, answer: Any = None) -> list[Any]:
    """The final plan (``answer``) cut into one segment per gold subgoal, where it first
    reaches each subgoal in order (moves left over form a last segment)."""
    if not isinstance(answer, str) or not answer:
        return []
    inst = item["instance"]
    cells = _subgoal_cells(item)
    segs: list[str] = []
    x, y = int(inst["start"][0]), int(inst["start"][1])
    cut = j = 0
    for i, mv in enumerate(answer):
        d = _DELTA.get(mv, (0, 0))
        x, y = x + d[0], y + d[1]
        while j < len(cells) and cells[j] == (x, y):
            segs.append(answer[cut:i + 1])
            cut = i + 1
            j += 1
    if cut < len(answer):
        segs.append(answer[cut:])
    return segs


def stated_steps(item: Mapping[str, Any], contents: Any) -> list[Any]:
    """``Step k: key_a:RRD`` lines as ``{"subgoal": "key a", "moves": "RRD"}`` (a bare move
    string stays a string)."""
    out: list[Any] = []
    for c in contents:
        head, sep, moves = c.rpartition(":")
        moves = moves.strip()
        if set(moves) <= set("UDLR"):
            out.append({"subgoal": head.replace("_", " ").strip(), "moves": moves} if sep else moves)
        else:
            out.append(c)
    return out


def format_step(step: Mapping[str, Any]) -> str:
    """A gold step as ``SUBGOAL:MOVES`` with spaces as ``_`` (``key_a:RRD``)."""
    return f"{str(step['subgoal']).replace(' ', '_')}:{step.get('moves', '')}"


FAMILY = Family(
    name="grid_planning",
    version=VERSION,
    config_cls=GridPlanningConfig,
    generate=generate,
    certify=certify,
    describe=describe,
    parse_prompt=parse_prompt,
    max_depth=max_depth,
    source_file=__file__,
    answer_type="plan",
    verify=verify,
    trace_first_error=trace_first_error,
    parse_trace=parse_trace,
    stated_steps=stated_steps,
    format_step=format_step,
    steps_covered=steps_covered,
)


# ---------------------------------------------------------------------------------------
# Gold-free feedback: the stated moves simulated on the instance (Family.env_check)
# ---------------------------------------------------------------------------------------

_MOVE_WORD = {"U": "up", "D": "down", "L": "left", "R": "right"}


def _xy(cell: Any) -> str:
    return f"({int(cell[0])}, {int(cell[1])})"


def _named_cell(instance: Mapping[str, Any], subgoal: str) -> tuple[str, tuple[int, int] | None] | None:
    """``(label, cell)`` of a stated subgoal (``key a``, ``door a``, ``goal``); cell None when the
    instance has no such key or door; None when the text names no subgoal kind at all."""
    words = subgoal.lower().split()
    if words == ["goal"]:
        return "the goal", (int(instance["goal"][0]), int(instance["goal"][1]))
    if len(words) == 2 and words[0] in ("key", "door"):
        for thing in instance.get(words[0] + "s", ()):
            if str(thing["id"]).lower() == words[1]:
                return f"{words[0]} {thing['id']}", (int(thing["pos"][0]), int(thing["pos"][1]))
        return f"{words[0]} {words[1]}", None
    return None


def env_check(item: Mapping[str, Any], steps: Sequence[Any]) -> list[StepCheck]:
    """The grid's own verdict on each stated step: its moves simulated on the instance.

    A step (``{"subgoal", "moves"}`` as :func:`stated_steps` returns it, or a bare move
    string) is ok when every move is legal from where the previous step ended (no wall, no
    border, no door without its key) and, when it names a subgoal (``key a``, ``door a``,
    ``goal``), it ends on that subgoal's cell. After a wrong step the next one starts where
    that step says it ends (its subgoal's cell), else where its last legal move led.
    Judged only from ``item["instance"]``.

    Parameters
    ----------
    item : mapping
        An item (or a hidden split's prompt): only ``instance`` is read.
    steps : sequence
        The stated steps in order.

    Returns
    -------
    list of StepCheck
        One per step; ``feedback`` names the step (1-based) and the first illegal move or
        the cell reached.

    Examples
    --------
    >>> inst = {"width": 3, "height": 2, "walls": [[1, 1]], "start": [0, 1], "goal": [2, 1],
    ...         "keys": [{"id": "a", "pos": [0, 0]}], "doors": []}
    >>> [c.feedback for c in env_check({"instance": inst}, [{"subgoal": "key a", "moves": "U"}, "R"])]
    ['step 1: reached key a at (0, 0)', 'step 2: now at (1, 0)']
    >>> env_check({"instance": inst}, ["R"])[0].feedback
    'step 1: move 1 (R, right) from (0, 1) hits a wall at (1, 1)'
    """
    inst = item["instance"]
    b = _board(inst)
    w, h = int(inst["width"]), int(inst["height"])
    walls = {(int(x), int(y)) for x, y in inst.get("walls", ())}
    goal = (int(inst["goal"][0]), int(inst["goal"][1]))
    pos = (int(inst["start"][0]), int(inst["start"][1]))
    held: set[str] = set()
    out: list[StepCheck] = []
    for i, s in enumerate(steps, 1):
        if isinstance(s, Mapping):
            moves, named = s.get("moves"), _named_cell(inst, str(s.get("subgoal", "")))
        else:
            moves, named = s, None
        if not isinstance(moves, str) or not set(moves.upper()) <= set("UDLR"):
            out.append(StepCheck(False, f"step {i}: cannot read {str(s)[:40]!r} as SUBGOAL:MOVES over U, D, L, R"))
            continue
        problem = None
        picked = []
        for j, mv in enumerate(moves.upper(), 1):
            dx, dy = _DELTA[mv]
            nxt = (pos[0] + dx, pos[1] + dy)
            where = f"move {j} ({mv}, {_MOVE_WORD[mv]}) from {_xy(pos)}"
            if not (0 <= nxt[0] < w and 0 <= nxt[1] < h):
                problem = f"{where} leaves the grid"
            elif nxt in walls:
                problem = f"{where} hits a wall at {_xy(nxt)}"
            elif nxt in b.door_at and b.door_at[nxt] not in held:
                d = b.door_at[nxt]
                problem = f"{where} enters door {d} at {_xy(nxt)} without key {d}"
            if problem:
                break
            pos = nxt
            if pos in b.key_at and b.key_at[pos] not in held:
                held.add(b.key_at[pos])
                picked.append(b.key_at[pos])
        if named is not None and problem is None:
            label, cell = named
            if cell is None:
                problem = f"there is no {label} in this grid"
            elif cell != pos:
                problem = f"the moves end at {_xy(pos)}, not at {label} {_xy(cell)}"
        if problem is not None:
            out.append(StepCheck(False, f"step {i}: {problem}"))
            if named is not None and named[1] is not None:  # the next step starts where this one says it ends
                pos = named[1]
                if named[0].startswith("key ") and pos in b.key_at:
                    held.add(b.key_at[pos])
            continue
        if named is not None:
            fb = f"step {i}: reached {named[0]} at {_xy(pos)}"
        else:
            fb = f"step {i}: now at {_xy(pos)}" + (" (the goal)" if pos == goal else "")
        if picked and (named is None or not named[0].startswith("key ")):
            fb += f", picked up key {', '.join(picked)}"
        out.append(StepCheck(True, fb))
    return out


def env_solved(item: Mapping[str, Any], steps: Sequence[Any], answer: Any = None) -> bool | None:
    """Gold-free: every stated step is ok and the moves end on the goal (and, given a plan
    ``answer``, that plan is legal and reaches the goal). None when no step is stated.

    Examples
    --------
    >>> inst = {"width": 3, "height": 1, "walls": [], "start": [0, 0], "goal": [2, 0], "keys": [], "doors": []}
    >>> env_solved({"instance": inst}, ["R", "R"]), env_solved({"instance": inst}, ["R"]), env_solved({"instance": inst}, [])
    (True, False, None)
    """
    if not steps:
        return None
    checks = env_check(item, steps)
    if not all(c.ok for c in checks):
        return False
    plan = "".join((s.get("moves") if isinstance(s, Mapping) else s).upper() for s in steps)
    if not simulate_plan(item["instance"], plan).solved:
        return False
    return answer is None or (isinstance(answer, str) and simulate_plan(item["instance"], answer.upper()).solved)


FAMILY = replace(FAMILY, env_check=env_check, env_solved=env_solved)
