"""Tests of the grid_planning family: necessary stages, optimal plans, sizes, prompts, seeding."""

from __future__ import annotations

import os
import random
import sys
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _family_helpers import built_items  # noqa: E402

from depthbench.generators import grid_planning as gp  # noqa: E402
from depthbench.io import canonical_json, sha256_bytes  # noqa: E402


@st.composite
def configs(draw, max_side: int = 21):
    width = draw(st.sampled_from(range(5, max_side + 1, 2)))
    height = draw(st.sampled_from(range(5, max_side + 1, 2)))
    top = gp.max_depth({"width": width, "height": height})
    return gp.GridPlanningConfig(depth=draw(st.integers(1, top)), width=width, height=height)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _reference_shortest(instance, without=None):
    """A second solver for the tests: BFS over (cell, frozenset of keys), no shared code."""
    walls = {tuple(c) for c in instance["walls"]}
    keys = {tuple(e["pos"]): e["id"] for e in instance["keys"] if e["id"] != without}
    doors = {tuple(e["pos"]): e["id"] for e in instance["doors"]}
    w, h = instance["width"], instance["height"]
    s0 = (tuple(instance["start"]), frozenset())
    seen = {s0: 0}
    queue = deque([s0])
    while queue:
        (x, y), held = state = queue.popleft()
        if [x, y] == instance["goal"]:
            return seen[state]
        for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            c = (x + dx, y + dy)
            if not (0 <= c[0] < w and 0 <= c[1] < h) or c in walls:
                continue
            if c in doors and doors[c] not in held:
                continue
            nxt = (c, held | {keys[c]} if c in keys else held)
            if nxt not in seen:
                seen[nxt] = seen[state] + 1
                queue.append(nxt)
    return None


# --------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**32 - 1))
def test_certified_depth_every_stage_necessary_and_plan_optimal(config, seed):
    problem = gp.generate(config, _rng(seed))
    inst = problem.instance
    cert = gp.certify(inst)
    assert cert.depth == config.depth == problem.depth == len(inst["keys"]) == len(inst["doors"])
    assert all(cert.extra["necessary"].values())
    # Goal reachable; the gold plan is legal, reaches the goal and is optimal.
    reached, where, held = _sim(inst, problem.answer)
    assert reached and list(where) == inst["goal"] and len(held) == config.depth
    length = _reference_shortest(inst)
    assert length == len(problem.answer) == cert.extra["optimal_plan_length"]
    assert cert.answer == problem.answer and cert.solution_trace == problem.solution_trace
    # Every stage is necessary, by the independent solver as well.
    for e in inst["keys"]:
        assert _reference_shortest(inst, without=e["id"]) is None
    # Trace: key x, door x, key y, door y, ..., goal; moves concatenate to the plan.
    order = cert.extra["stage_order"]
    expected = [f"{kind} {kid}" for kid in order for kind in ("key", "door")] + ["goal"]
    assert [t["subgoal"] for t in problem.solution_trace] == expected
    assert sorted(order) == [e["id"] for e in inst["keys"]]
    assert "".join(t["moves"] for t in problem.solution_trace) == problem.answer
    assert all(t["moves"] for t in problem.solution_trace)
    assert 0 < problem.chance <= 4.0 ** -len(problem.answer) * cert.extra["num_optimal_plans"] + 1e-300


@settings(max_examples=40, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**32 - 1))
def test_instance_is_well_formed(config, seed):
    inst = gp.generate(config, _rng(seed)).instance
    w, h = config.width, config.height
    walls = [tuple(c) for c in inst["walls"]]
    assert walls == sorted(walls, key=lambda c: (c[1], c[0])) and len(set(walls)) == len(walls)
    special = [tuple(inst["start"]), tuple(inst["goal"])]
    special += [tuple(e["pos"]) for e in inst["keys"]] + [tuple(e["pos"]) for e in inst["doors"]]
    assert len(set(special)) == len(special)
    assert not set(special) & set(walls)
    assert all(0 <= x < w and 0 <= y < h for x, y in walls + special)
    ids = [e["id"] for e in inst["keys"]]
    assert ids == sorted(ids) == [e["id"] for e in inst["doors"]] and len(set(ids)) == len(ids)
    assert set(ids) <= set(gp.KEY_IDS)


@settings(max_examples=25, deadline=None)
@given(width=st.sampled_from([5, 9, 15, 21]), height=st.sampled_from([5, 11, 15]), seed=st.integers(0, 2**32 - 1))
def test_size_is_equal_across_a_depth_sweep(width, height, seed):
    top = gp.max_depth({"width": width, "height": height})
    cells = ((width + 1) // 2) * ((height + 1) // 2)
    sizes, lengths = set(), set()
    for d in range(1, top + 1):
        p = gp.generate(gp.GridPlanningConfig(depth=d, width=width, height=height), _rng(seed))
        sizes.add(canonical_json(p.size))
        lengths.add(len(gp.describe(p.instance)))
    # A perfect maze: every maze cell and (cells - 1) passages are open, the rest is wall.
    assert sizes == {canonical_json({"width": width, "height": height, "num_walls": width * height - 2 * cells + 1})}
    assert len(lengths) == 1  # the prompt text has the same length at every depth


@settings(max_examples=60, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**32 - 1), before=st.text(max_size=30), after=st.text(max_size=30))
def test_prompt_round_trip(config, seed, before, after):
    inst = gp.generate(config, _rng(seed)).instance
    text = gp.describe(inst)
    assert gp.parse_prompt(text) == inst
    assert gp.parse_prompt(f"{before}\n{text}\n{after}\nAnswer: RRD") == inst


@settings(max_examples=20, deadline=None)
@given(config=configs(max_side=15), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_problem_and_global_rng_ignored(config, seed):
    first = gp.generate(config, _rng(seed))
    random.seed(seed ^ 0x5A5A)
    np.random.seed(seed % 2**32 ^ 99)
    second = gp.generate(config, _rng(seed))
    random.seed(3)
    np.random.seed(3)
    assert first == second == gp.generate(config, _rng(seed))


@settings(max_examples=15, deadline=None)
@given(width=st.sampled_from([7, 11, 15, 19]), height=st.sampled_from([7, 15]), seed=st.integers(0, 2**32 - 1))
def test_maze_distribution_does_not_depend_on_depth(width, height, seed):
    """Same rng state: every depth gets the same maze, start and goal; only keys/doors differ."""
    top = gp.max_depth({"width": width, "height": height})
    layouts, key_counts = set(), []
    for d in range(1, top + 1):
        inst = gp.generate(gp.GridPlanningConfig(depth=d, width=width, height=height), _rng(seed)).instance
        layouts.add(canonical_json([inst["walls"], inst["start"], inst["goal"]]))
        key_counts.append(len(inst["keys"]))
    assert len(layouts) == 1
    assert key_counts == list(range(1, top + 1))


def test_different_seeds_differ_and_answers_vary():
    config = gp.GridPlanningConfig(depth=3)
    problems = [gp.generate(config, _rng(s)) for s in range(40)]
    assert len({canonical_json(p.instance) for p in problems}) == 40
    assert len({p.answer for p in problems}) == 40


# --------------------------------------------------------------------------- certifier and simulator

# S a . A . . G   (7 x 1 corridor)
CORRIDOR = {
    "width": 7, "height": 1, "walls": [], "start": [0, 0], "goal": [6, 0],
    "keys": [{"id": "a", "pos": [1, 0]}], "doors": [{"id": "a", "pos": [3, 0]}],
}


def test_certifier_on_a_corridor():
    cert = gp.certify(CORRIDOR)
    assert (cert.depth, cert.answer) == (1, "RRRRRR")
    assert cert.solution_trace == [
        {"subgoal": "key a", "moves": "R"}, {"subgoal": "door a", "moves": "RR"}, {"subgoal": "goal", "moves": "RRR"}
    ]
    assert cert.extra["optimal_plan_length"] == 6 and cert.extra["necessary"] == {"a": True}


def test_unnecessary_key_is_not_counted_and_unreachable_goal_raises():
    spare = dict(CORRIDOR, keys=CORRIDOR["keys"] + [{"id": "b", "pos": [5, 0]}])
    cert = gp.certify(spare)
    assert cert.depth == 1 and cert.extra["necessary"] == {"a": True, "b": False}
    locked = dict(CORRIDOR, keys=[{"id": "a", "pos": [5, 0]}])  # key behind its own door
    with pytest.raises(ValueError, match="unreachable"):
        gp.certify(locked)


@pytest.mark.parametrize(("change", "message"), [
    ({"start": [7, 0]}, r"start \[7, 0\] is not a cell"),        # x = width: would wrap onto the next row
    ({"start": [-1, 0]}, r"start \[-1, 0\] is not a cell"),      # would wrap onto the last cell
    ({"goal": [0, 1]}, r"goal \[0, 1\] is not a cell"),          # y = height
    ({"walls": [[2, 1]]}, r"wall \[2, 1\] is not a cell"),
    ({"walls": [[7, 0]]}, r"wall \[7, 0\] is not a cell"),       # would wall off (0, 1): silently wrong
    ({"walls": [[1.0, 0]]}, r"wall \[1.0, 0\] is not a cell"),
    ({"walls": [[1, 0, 0]]}, r"is not a cell"),
    ({"walls": [[2, 0]], "start": [2, 0], "goal": [6, 0]}, r"start \[2, 0\] is on a wall"),
    ({"walls": [[6, 0]]}, r"goal \[6, 0\] is on a wall"),
    ({"walls": [[1, 0]]}, r"key 'a' \[1, 0\] is on a wall"),
    ({"walls": [[3, 0]]}, r"door 'a' \[3, 0\] is on a wall"),
    ({"keys": [{"id": "a", "pos": [9, 0]}]}, r"key 'a' \[9, 0\] is not a cell"),
    ({"width": "7"}, r"width and height must be integers"),
    ({"height": 0}, r"width and height must be integers"),
])
def test_certifier_refuses_malformed_instances(change, message):
    """A position outside the grid is refused, not wrapped onto another cell by its index."""
    with pytest.raises(ValueError, match=message):
        gp.certify(dict(CORRIDOR, **change))


def test_certifier_counts_optimal_plans():
    # Open 3 x 3 room, S top-left, G bottom-right: C(4, 2) = 6 shortest plans of 4 moves.
    open_room = {"width": 3, "height": 3, "walls": [], "start": [0, 0], "goal": [2, 2], "keys": [], "doors": []}
    cert = gp.certify(open_room)
    assert cert.depth == 0 and len(cert.answer) == 4
    assert cert.extra["num_optimal_plans"] == 6
    assert cert.extra["chance"] == pytest.approx(6 / 4**4)


def _sim(instance, moves):
    """(solved, where the plan stopped, keys held) from the family's plan simulator."""
    r = gp.simulate_plan(instance, moves)
    return r.solved, r.position, sorted(r.keys)


@pytest.mark.parametrize(
    "moves, ok, where, held",
    [
        ("RRRRRR", True, (6, 0), ["a"]),
        ("RRRRR", False, (5, 0), ["a"]),           # stops short of the goal
        ("RRRRRRR", False, (6, 0), ["a"]),         # walks off the grid
        ("L", False, (0, 0), []),                  # off the grid at once
        ("U", False, (0, 0), []),
        ("RRX", False, (2, 0), ["a"]),             # unknown move letter
        ("", False, (0, 0), []),
    ],
)
def test_simulate_corridor(moves, ok, where, held):
    assert _sim(CORRIDOR, moves) == (ok, where, held)


def test_simulate_blocks_doors_without_key_and_walls():
    no_key = dict(CORRIDOR, keys=[])
    assert _sim(no_key, "RRRRRR") == (False, (2, 0), [])
    walled = dict(CORRIDOR, walls=[[4, 0]])
    assert _sim(walled, "RRRRRR") == (False, (3, 0), ["a"])


def test_gold_plans_pass_the_simulator_and_mutations_fail():
    for seed in range(10):
        p = gp.generate(gp.GridPlanningConfig(depth=4), _rng(seed))
        assert gp.simulate_plan(p.instance, p.answer).solved
        assert not gp.simulate_plan(p.instance, p.answer[:-1]).solved
        # Skipping the first key's detour: the remaining moves from the start must fail.
        first = p.solution_trace[0]["moves"]
        assert not gp.simulate_plan(p.instance, p.answer[len(first):]).solved


def test_parse_prompt_rejects_missing_or_truncated_map():
    text = gp.describe(gp.generate(gp.GridPlanningConfig(depth=2), _rng(1)).instance)
    with pytest.raises(ValueError):
        gp.parse_prompt("no grid here")
    with pytest.raises(ValueError):
        gp.parse_prompt("\n".join(text.split("\n")[:-1]))
    head, rows = text.split("\n")[:-15], text.split("\n")[-15:]
    with pytest.raises(ValueError, match="unknown map symbol"):
        gp.parse_prompt("\n".join(head + [r.replace(".", "?") for r in rows]))
    with pytest.raises(ValueError, match="start"):
        gp.parse_prompt("\n".join(head + [r.replace("S", ".") for r in rows]))


# --------------------------------------------------------------------------- config and limits


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"depth": 0}, "depth"),
        ({"depth": 9}, "depth"),
        ({"depth": 1.5}, "depth"),
        ({"depth": 1, "width": 14}, "width"),
        ({"depth": 1, "height": 3}, "height"),
        ({"depth": 2, "width": 5, "height": 5}, "depth"),
    ],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        gp.GridPlanningConfig(**kwargs)


def test_default_size_reaches_depth_8():
    assert gp.max_depth(gp.GridPlanningConfig(depth=1)) == 8 == gp.max_depth({})
    for seed in range(5):
        p = gp.generate(gp.GridPlanningConfig(depth=8), _rng(seed))
        assert gp.certify(p.instance).depth == 8


def _open_cells(inst):
    walls = {tuple(c) for c in inst["walls"]}
    return {(x, y) for x in range(inst["width"]) for y in range(inst["height"]) if (x, y) not in walls}


def _tree_path(inst, a, b):
    """The cells of the unique open path a -> b, read from the instance (walls only)."""
    free = _open_cells(inst)
    parent = {a: None}
    queue = deque([a])
    while queue:
        c = queue.popleft()
        for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            d = (c[0] + dx, c[1] + dy)
            if d in free and d not in parent:
                parent[d] = c
                queue.append(d)
    assert len(parent) == len(free)  # every open cell is reachable from the start
    path = [b]
    while path[-1] != a:
        path.append(parent[path[-1]])
    return path[::-1], free


@pytest.mark.parametrize("width, height", [(5, 5), (9, 9), (15, 15), (21, 21), (5, 21), (21, 7)])
def test_start_goal_path_has_room_for_the_largest_depth(width, height, monkeypatch):
    """Version 3 grows side branches on the start-goal path instead of redrawing the maze: the
    path of every maze has at least max_depth branch points, the open cells form one tree
    (connected, and the wall count of a perfect maze), and a redraw is rare."""
    top = gp.max_depth({"width": width, "height": height})
    calls = []
    attempt = gp._attempt

    def counted(config, rng):
        calls.append(1)
        return attempt(config, rng)

    monkeypatch.setattr(gp, "_attempt", counted)
    problems = [gp.generate(gp.GridPlanningConfig(depth=1, width=width, height=height), _rng(s)) for s in range(60)]
    assert len(calls) <= 60 * (1.25 if width * height >= 21 * 21 else 1.05)
    for p in problems:
        inst = p.instance
        path, free = _tree_path(inst, tuple(inst["start"]), tuple(inst["goal"]))
        maze_cells = ((width + 1) // 2) * ((height + 1) // 2)
        assert len(free) == 2 * maze_cells - 1  # a spanning tree: n maze cells, n - 1 passages
        on_path = set(path)
        branch_points = 0
        for x, y in path[:-1]:
            if x % 2 or y % 2:
                continue  # a passage
            side = [(x + dx, y + dy) for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0))]
            branch_points += any(c in free and c not in on_path for c in side)
        assert branch_points >= top, (inst["start"], inst["goal"], branch_points)


def _reference_count(instance):
    """Length and number of shortest plans by BFS over (cell, frozenset of keys) (no shared code)."""
    walls = {tuple(c) for c in instance["walls"]}
    keys = {tuple(e["pos"]): e["id"] for e in instance["keys"]}
    doors = {tuple(e["pos"]): e["id"] for e in instance["doors"]}
    w, h = instance["width"], instance["height"]
    start = tuple(instance["start"])
    s0 = (start, frozenset([keys[start]] if start in keys else []))
    dist, ways = {s0: 0}, {s0: 1}
    queue = deque([s0])
    best = None
    while queue:
        state = queue.popleft()
        (x, y), held = state
        if best is not None and dist[state] >= best:
            continue
        for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            c = (x + dx, y + dy)
            if not (0 <= c[0] < w and 0 <= c[1] < h) or c in walls or (c in doors and doors[c] not in held):
                continue
            nxt = (c, held | {keys[c]} if c in keys else held)
            if nxt not in dist:
                dist[nxt], ways[nxt] = dist[state] + 1, ways[state]
                queue.append(nxt)
                if list(c) == instance["goal"] and best is None:
                    best = dist[nxt]
            elif dist[nxt] == dist[state] + 1:
                ways[nxt] += ways[state]
    if best is None:
        return None, 0
    return best, sum(v for (cell, _), v in ways.items() if list(cell) == instance["goal"] and dist[(cell, _)] == best)


@settings(max_examples=60, deadline=None)
@given(config=configs(max_side=15), seed=st.integers(0, 2**32 - 1), opened=st.floats(0.0, 0.6),
       drop=st.integers(0, 3), extra=st.integers(0, 2))
def test_certifier_matches_a_reference_search_off_the_generator(config, seed, opened, drop, extra):
    """Instances the generator never makes (walls knocked out, so many optimal plans and regions
    joined around doors; keys deleted or added anywhere): length, number of optimal plans and
    each key's necessity equal an independent frozenset-state search."""
    inst = dict(gp.generate(config, _rng(seed)).instance)
    r = random.Random(seed)
    walls = [c for c in inst["walls"] if r.random() >= opened]
    inst["walls"] = walls
    taken = {tuple(c) for c in walls} | {tuple(inst["start"]), tuple(inst["goal"])}
    taken |= {tuple(e["pos"]) for e in inst["keys"] + inst["doors"]}
    keys = [e for e in inst["keys"] if r.random() >= drop / 4]
    spare = [c for c in ((x, y) for x in range(config.width) for y in range(config.height)) if c not in taken]
    for kid, cell in zip("zyx"[:extra], r.sample(spare, extra)):
        keys.append({"id": kid, "pos": list(cell)})
    inst["keys"] = sorted(keys, key=lambda e: e["id"])
    length, ways = _reference_count(inst)
    if length is None:
        with pytest.raises(ValueError, match="unreachable"):
            gp.certify(inst)
        return
    cert = gp.certify(inst)
    assert (cert.extra["optimal_plan_length"], cert.extra["num_optimal_plans"]) == (length, ways)
    assert len(cert.answer) == length and gp.simulate_plan(inst, cert.answer).solved
    expected = {e["id"]: _reference_shortest(inst, without=e["id"]) is None for e in inst["keys"]}
    assert cert.extra["necessary"] == expected and cert.depth == sum(expected.values())


def test_generator_gives_up_with_a_clear_error(monkeypatch):
    calls = []
    monkeypatch.setattr(gp, "_attempt", lambda config, rng: calls.append(1))
    with pytest.raises(RuntimeError, match="no maze with 3 stages"):
        gp.generate(gp.GridPlanningConfig(depth=3), _rng(0))
    assert len(calls) == gp._MAX_ATTEMPTS


def test_golden_output_is_pinned():
    """Any change of the random stream or the construction changes this hash: bump VERSION."""
    p = gp.generate(gp.GridPlanningConfig(depth=3), _rng(20250101))
    digest = sha256_bytes(canonical_json({"instance": p.instance, "answer": p.answer}).encode())
    assert (gp.VERSION, len(p.answer), digest[:16]) == GOLDEN


GOLDEN = ("3", 54, "ffd079292cd24ace")


# --------------------------------------------------------------------------- item builder


def test_items_through_the_builder_validate_and_verify():
    from depthbench.scorers import verify

    items = built_items(gp, "grid_planning", [1, 8], 3)  # schema, parse_prompt, verify(gold)
    assert [it["depth"] for it in items] == [1, 1, 1, 8, 8, 8]
    for it in items:
        assert it["meta"]["optimal_plan_length"] == len(it["answer"])
        assert it["meta"]["size"] == {"width": 15, "height": 15, "num_walls": 98}
        assert not verify(it, it["answer"][:-1])


def test_docstring_examples():
    import doctest

    assert doctest.testmod(gp, verbose=False).failed == 0


# --------------------------------------------------------------------- trace rules: stage steps
def _stage(trace, k_from, k_to):
    """Gold subgoal entries k_from..k_to as one step named by the last one."""
    g = trace[k_from:k_to + 1]
    return {"subgoal": g[-1]["subgoal"], "moves": "".join(e["moves"] for e in g)}


def test_trace_rules_accept_stage_steps_and_per_subgoal_steps():
    """A plan written one step per gold subgoal or one step per stage (``door_a:RRDD``, as the
    simulated reasoner writes it) is right; a corrupted stage step is caught at that step."""
    from depthbench.baselines.backends.simulated import _stage_steps

    for it in built_items(gp, "grid_planning", depths=[1, 3], n=3):
        gold, d = list(it["solution_trace"]), int(it["depth"])
        assert gp.trace_first_error(it, gold) is None
        assert gp.trace_first_error(it, [g["moves"] for g in gold]) is None
        stages = _stage_steps(gold, d)
        assert len(stages) == d and stages[-1]["subgoal"] == "goal"
        assert gp.trace_first_error(it, stages) is None
        # read back from the text the reasoner writes
        assert gp.trace_first_error(it, gp.stated_steps(it, [gp.format_step(s) for s in stages])) is None
        mixed = gold[:2] + [_stage(gold, 2, len(gold) - 1)]  # per subgoal, then one step to the goal
        assert gp.trace_first_error(it, mixed) is None
        for k, s in enumerate(stages):
            moves = s["moves"]
            i = len(moves) - 1  # the last move: the step then misses its subgoal's cell
            bad = {**s, "moves": moves[:i] + "UDLR"[("UDLR".index(moves[i]) + 1) % 4]}
            assert gp.trace_first_error(it, stages[:k] + [bad] + stages[k + 1:]) == k
            covered = 2 * k  # stages before k cover their key and door
            assert gp.steps_covered(it, stages[:k] + [bad], k) == covered
        assert gp.trace_first_error(it, stages[:-1]) == d - 1  # missing the last stage
        assert gp.trace_first_error(it, stages + [stages[-1]]) == d  # a step after the goal


def test_a_stage_step_must_reach_its_subgoals_in_order():
    """A step naming a gold subgoal ahead must end on that subgoal's cell; a name that is no gold
    subgoal ahead leaves the step covering just the next subgoal (as a bare move string)."""
    it = built_items(gp, "grid_planning", depths=[2], n=1)[0]
    gold = list(it["solution_trace"])
    # the first key's moves, named as the goal: ends on the key, not on the goal -> wrong at 0
    assert gp.trace_first_error(it, [{"subgoal": "goal", "moves": gold[0]["moves"]}]) == 0
    assert gp.trace_first_error(it, [{"subgoal": "nowhere", "moves": gold[0]["moves"]}] + gold[1:]) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"height": 10**7}, r"a 7 x 10000000 grid is past the limit of 1000000 cells"),  # was a MemoryError
    ({"keys": [{"id": ["a"], "pos": [1, 0]}]}, r"key/door id \['a'\] is not one of the letters"),  # TypeError
    ({"keys": [{"id": "a\nGoal", "pos": [1, 0]}], "doors": [{"id": "a\nGoal", "pos": [3, 0]}]},
     r"is not one of the letters"),  # accepted: the map row held a newline
    ({"keys": [{"id": "s", "pos": [1, 0]}], "doors": [{"id": "s", "pos": [3, 0]}]},
     r"'s' is not one of the letters"),  # accepted: its door drew as S, the start's symbol
    ({"keys": [{"id": "ab", "pos": [1, 0]}], "doors": [{"id": "ab", "pos": [3, 0]}]}, r"is not one of the letters"),
    ({"goal": None}, r"is not a cell"),
    ({"keys": None}, r"an instance needs width, height"),  # was a TypeError
    ({"doors": [{"pos": [3, 0]}]}, r"an instance needs width, height"),  # was a KeyError
])
def test_certifier_refuses_hostile_instances_with_a_value_error(change, message):
    with pytest.raises(ValueError, match=message):
        gp.certify(dict(CORRIDOR, **change))
    inst = dict(CORRIDOR)
    del inst["goal"]
    with pytest.raises(ValueError, match="an instance needs width, height"):  # was a KeyError
        gp.certify(inst)


# ----------------------------------------------------------------------------- the search bound
# Measured (2026-12-02, load ~2.3, .venv python, /tmp probe of open rooms with the goal walled in):
# the search costs ~2-5 us per (keys held, cell) state; k keys free to be taken in any order reach
# 2**k sets, so 15 x 15 with 12 keys took 1.6 s, 14 keys 6.7 s, and 23 keys would be ~1.9e9 states
# (about an hour and tens of GB). Every generated item reaches keys + 1 sets (5x5 d1, 15x15 d1/d8,
# 61x61 d23, 201x201 d23 probed), so the bound max((keys + 1) * cells, 2**20) accepts them all.


def _room(w, h, k, *, goal_reachable=True):
    """A w x h room without walls, the start top left, k keys in the first row(s) after it, no doors."""
    cells = [[x, y] for y in range(h) for x in range(w)][1:]
    goal = [w - 1, h - 1]
    walls = [] if goal_reachable else [[w - 1, h - 2], [w - 2, h - 1]]
    free = [c for c in cells if c != goal and c not in walls]
    return {"width": w, "height": h, "walls": sorted(walls, key=lambda c: (c[1], c[0])), "start": [0, 0],
            "goal": goal, "keys": [{"id": gp.KEY_IDS[i], "pos": free[i]} for i in range(k)], "doors": []}


@pytest.mark.parametrize("w,h,k,refused", [
    # (width, height, keys free in any order, refused): sets reachable 2**k vs max(k + 1, 2**20 // cells)
    (15, 15, 4, False),    # 16 sets <= 4660
    (15, 15, 12, None),    # 4096 sets <= 4660: accepted (not run: ~2 s)
    (15, 15, 13, True),    # 8192 sets > 4660
    (15, 15, 23, True),    # 8.4e6 sets: was about an hour
    (101, 101, 7, True),   # 128 sets > 102
    (101, 101, 6, False),  # 64 sets <= 102
    (401, 401, 3, True),   # 8 sets > max(4, 6): on large grids little more than a chain of stages
])
def test_the_search_refuses_keys_free_in_too_many_orders(w, h, k, refused):
    most = max(k + 1, gp.SEARCH_STATES // (w * h))
    assert (2 ** k > most) == (refused is True)
    if refused is None or (not refused and w * h > 1000):
        return  # the arithmetic above is the case; the run costs seconds
    inst = _room(w, h, k)
    if refused:
        with pytest.raises(ValueError) as e:
            gp.certify(inst)
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith("grid_planning: keys:") and f"{gp.SEARCH_STATES}" in msg, msg
        assert f"more than {most} orders" in msg
    else:
        cert = gp.certify(inst)
        assert cert.depth == 0 and len(cert.answer) == (w - 1) + (h - 1)


@pytest.mark.parametrize("w,h,depth", [(5, 5, 1), (15, 15, 1), (15, 15, 8), (61, 61, 23), (7, 41, 4)])
def test_generated_items_at_the_configs_extremes_pass_the_bound(w, h, depth):
    cfg = gp.GridPlanningConfig(depth=depth, width=w, height=h)
    for seed in range(3):
        p = gp.generate(cfg, _rng(seed))
        cert = gp.certify(p.instance)
        assert cert.depth == depth and cert.answer == p.answer
        _, _, masks, _ = gp._search(gp._Grid(p.instance))
        assert len(masks) == depth + 1  # a chain of stages: keys + 1 sets of keys held


def test_every_shipped_v3_grid_item_passes_the_bound():
    from depthbench.tasks import default_releases_dir, load_dataset
    items, _ = load_dataset(default_releases_dir() / "v3" / "grid_planning")
    assert len(items) == 840
    for it in items:
        cert = gp.certify(it["instance"])
        assert cert.depth == it["depth"] and len(cert.answer) == len(it["answer"])
