"""Verifiers and the trace verifier, on hand-built items and on generated ones."""

from __future__ import annotations

import pytest

from depthbench.errors import UserError
from depthbench.generators.graph_connectivity import check_path as check_graph_path
from depthbench.generators.grid_planning import plan_is_optimal, simulate_plan
from depthbench.generators.multihop_arithmetic import evaluate as arithmetic_values
from depthbench.scorers import extract, parse_trace, trace_first_error, trace_score, verify

# --- hand-built items in the ARCHITECTURE instance formats ---------------------------

GRAPH = {
    "id": "g1", "task": "graph_connectivity", "answer": "7", "answer_type": "choice", "depth": 3,
    "instance": {"kind": "two_paths", "num_nodes": 8, "edges": [[0, 4], [4, 2], [7, 2], [1, 5], [5, 17], [3, 6]],
                 "source": 0, "targets": [7, 17]},
    "solution_trace": [0, 4, 2, 7],
    "meta": {"family": "graph_connectivity", "answer_space": {"labels": ["7", "17"]}, "chance": 0.5},
}

ARITH = {
    "id": "a1", "task": "multihop_arithmetic", "answer": 6, "answer_type": "integer", "depth": 3,
    "instance": {"modulus": 11, "query": "x3", "order": "shuffled", "statements": [
        {"var": "x3", "op": "*", "args": ["x2", 2]},
        {"var": "x1", "op": "=", "args": [4]},
        {"var": "x9", "op": "-", "args": ["x1", 7]},
        {"var": "x2", "op": "+", "args": ["x1", 10]},
    ]},
    # x1 = 4, x2 = 14 mod 11 = 3, x3 = 6; distractor x9 = -3 mod 11 = 8
    "solution_trace": [{"var": "x1", "value": 4}, {"var": "x2", "value": 3}, {"var": "x3", "value": 6}],
    "meta": {"family": "multihop_arithmetic", "answer_space": {"modulus": 11}, "chance": 1 / 11},
}

#   x: 0 1 2 3 4
# y=0  S a # . .
# y=1  . . A . G
# y=2  # # # # #
# key a at (1,0), door a at (2,1): the only way to the goal passes the door.
GRID = {
    "id": "p1", "task": "grid_planning", "answer_type": "plan", "depth": 1,
    "answer": "RDRRR",
    "instance": {"width": 5, "height": 3, "walls": [[2, 0], [0, 2], [1, 2], [2, 2], [3, 2], [4, 2]],
                 "start": [0, 0], "goal": [4, 1],
                 "keys": [{"id": "a", "pos": [1, 0]}], "doors": [{"id": "a", "pos": [2, 1]}]},
    "solution_trace": [{"subgoal": "key a", "moves": "R"}, {"subgoal": "door a", "moves": "DR"},
                       {"subgoal": "goal", "moves": "RR"}],
    "meta": {"family": "grid_planning", "answer_space": {"moves": "UDLR"}, "optimal_plan_length": 5, "chance": 0.0},
}


@pytest.mark.parametrize("answer,ok", [("7", True), ("17", False), (None, False), ("", False), (7, True), (True, False)])
def test_graph_label(answer, ok):
    assert verify(GRAPH, answer) is ok


def test_graph_17_never_matches_7():
    assert verify({**GRAPH, "answer": "17"}, "7") is False


@pytest.mark.parametrize("path,target,ok", [
    ([0, 4, 2, 7], None, True),
    (["0", "4", "2", "7"], "7", True),
    ([0, 4, 2, 4, 2, 7], None, True),     # walks are allowed, only adjacency matters
    ([0, 2, 7], None, False),             # 0-2 not an edge
    ([4, 2, 7], None, False),             # wrong start
    ([0, 4, 2], None, False),             # does not end at a target
    ([0, 4, 2, 7], "17", False),          # wrong target requested
    ([], None, False),
    (["0", "x"], None, False),
])
def test_graph_path(path, target, ok):
    assert check_graph_path(GRAPH["instance"], path, target) is ok


@pytest.mark.parametrize("answer,ok", [(6, True), (17, True), (-5, True), ("6", True), (5, False), (None, False),
                                       ("six", False), (6.0, False), (False, False)])
def test_arithmetic_mod_equality(answer, ok):
    assert verify(ARITH, answer) is ok


def test_arithmetic_values_independent_evaluator():
    assert arithmetic_values(ARITH["instance"]) == {"x1": 4, "x2": 3, "x3": 6, "x9": 8}
    bad = {"modulus": 5, "statements": [{"var": "a", "op": "+", "args": ["b", 1]}, {"var": "b", "op": "+", "args": ["a", 1]}]}
    with pytest.raises(ValueError, match="cyclic"):
        arithmetic_values(bad)


@pytest.mark.parametrize("plan,solved,first_illegal", [
    ("RDRRR", True, None),
    ("DRRRR", False, 2),        # reaches the door without the key
    ("RDRRRL", False, None),    # legal but ends off the goal
    ("RR", False, 1),           # wall at (2,0)
    ("U", False, 0),            # border
    ("L", False, 0),
    ("RDRRX", False, 4),        # not a move
    ("RLRDRRR", True, None),    # longer but valid
    ("", False, None),
])
def test_grid_simulation(plan, solved, first_illegal):
    res = simulate_plan(GRID["instance"], plan)
    assert res.solved is solved
    assert res.first_illegal == first_illegal
    assert verify(GRID, plan) is solved


def test_grid_keys_are_kept_and_doors_need_same_id():
    inst = {**GRID["instance"], "keys": [{"id": "b", "pos": [1, 0]}]}
    assert simulate_plan(inst, "RDRRR").first_illegal == 2
    assert simulate_plan(GRID["instance"], "RLRDRRR").keys == frozenset({"a"})


def test_grid_optimality_is_separate():
    assert plan_is_optimal(GRID, "RDRRR") is True
    assert plan_is_optimal(GRID, "RLRDRRR") is False
    assert verify(GRID, "RLRDRRR") is True
    assert plan_is_optimal(GRID, "DRRRR") is False
    assert plan_is_optimal({**GRID, "meta": {}}, "RDRRR") is None


def test_an_item_without_a_registered_family_is_a_clear_error():
    with pytest.raises(UserError, match="item c1: has no meta.family; items made by `depthbench generate`"):
        verify({"id": "c1", "task": "chess", "answer": "e4", "answer_type": "move"}, "e4")
    with pytest.raises(UserError, match="names family 'chess', which is not registered"):
        verify({"id": "c1", "task": "graph_connectivity", "meta": {"family": "chess"}, "answer": "7"}, "7")


# --- trace verifier -----------------------------------------------------------------

@pytest.mark.parametrize("steps,expected", [
    ([0, 4, 2, 7], None),
    (["0", "4", "2", "7"], None),
    ([0, 4, 2], 3),          # stops early: the first missing step
    ([1, 4, 2, 7], 0),       # wrong start
    ([0, 4, 7], 2),          # 4-7 not adjacent
    ([0, 4, 2, 7, 2], 4),    # extra step after the target
    ([], 0),
])
def test_trace_graph(steps, expected):
    assert trace_first_error(GRAPH, steps) == expected


@pytest.mark.parametrize("steps,expected", [
    ([{"var": "x1", "value": 4}, {"var": "x2", "value": 3}, {"var": "x3", "value": 6}], None),
    ([{"var": "x1", "value": 4}, {"var": "x9", "value": 8}, {"var": "x2", "value": 14},
      {"var": "x3", "value": 6}], None),                     # distractor and unreduced value are fine
    ([("x1", 4), ("x2", 4), ("x3", 6)], 1),
    ([{"var": "x1", "value": 4}, {"var": "x2", "value": 3}], 2),
    ([{"var": "x7", "value": 4}], 0),                          # unknown variable
    ([4, 3, 6], None),                                         # bare values, positional
    ([4, 3, 7], 2),
    ([4], 1),
])
def test_trace_arithmetic(steps, expected):
    assert trace_first_error(ARITH, steps) == expected


@pytest.mark.parametrize("steps,expected", [
    (["R", "DR", "RR"], None),
    ([{"subgoal": "key a", "moves": "R"}, {"subgoal": "door a", "moves": "dr"}, {"subgoal": "goal", "moves": "RR"}], None),
    (["RL", "DR", "RR"], 0),      # does not end on the key
    (["R", "RD", "RR"], 1),       # wall
    (["R", "DR"], 2),
    (["R", "DR", "RR", "L"], 3),
])
def test_trace_grid(steps, expected):
    assert trace_first_error(GRID, steps) == expected


def test_trace_score_from_text():
    assert trace_score(ARITH, "x1 = 4\nx2 = x1 + 10 = 14 = 3\nx3 = x2 * 2 = 6\nAnswer: 6") == 1.0
    assert trace_score(ARITH, "x1 = 4\nx2 = x1 + 10 = 5\nx3 = 10\nAnswer: 10") == pytest.approx(1 / 3)
    assert trace_score(ARITH, "no steps") == 0.0
    assert parse_trace(GRAPH, "Path: 0 -> 4 -> 2 -> 7\nAnswer: 7") == [0, 4, 2, 7]
    assert trace_score(GRAPH, "Path: 0 -> 4 -> 2 -> 7\nAnswer: 7") == 1.0
    assert trace_score(GRAPH, "Path: 0 -> 4 -> 7\nAnswer: 7") == pytest.approx(2 / 4)
    assert parse_trace(GRID, "Answer: R D R R R") == ["R", "DR", "RR"]
    assert trace_score(GRID, "Answer: RDRRR") == 1.0
    assert trace_score(GRID, "Answer: RDD") == pytest.approx(1 / 3)


# --- real generated items ----------------------------------------------------------

def _generated(task):
    from depthbench.tasks import build_items

    return build_items(task, "dev", depths=None, n=2, seed=7)


@pytest.mark.parametrize("task", ["graph_connectivity", "multihop_arithmetic", "grid_planning"])
def test_gold_answers_and_traces_verify_on_generated_items(task):
    items = _generated(task)
    assert items
    for it in items:
        space = it["meta"]["answer_space"]
        gold = it["answer"]
        assert verify(it, gold), it["id"]
        # the gold answer written as a model would write it extracts and verifies
        ex = extract(f"Let me work through it.\nAnswer: {gold}", it["answer_type"], space)
        assert ex.parse_status == "ok" and verify(it, ex.answer), it["id"]
        assert trace_first_error(it, it["solution_trace"]) is None, it["id"]
        if task == "graph_connectivity":
            other = [lab for lab in space["labels"] if lab != gold]
            assert other and not verify(it, other[0])
            assert check_graph_path(it["instance"], it["solution_trace"], gold)
            assert len(it["solution_trace"]) - 1 == it["depth"]
        elif task == "multihop_arithmetic":
            m = space["modulus"]
            assert not verify(it, (gold + 1) % m)
            assert arithmetic_values(it["instance"])[it["instance"]["query"]] == gold
        else:
            plan = "".join(step["moves"] for step in it["solution_trace"])
            assert verify(it, plan) and plan_is_optimal(it, plan)
            assert len(plan) == it["meta"]["optimal_plan_length"]



# --- the simulator against a naive reference written from the contract ---------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def naive_simulate(inst, plan):
    walls = {tuple(c) for c in inst["walls"]}
    keys = {tuple(k["pos"]): k["id"] for k in inst["keys"]}
    doors = {tuple(d["pos"]): d["id"] for d in inst["doors"]}
    x, y = inst["start"]
    held = set()
    for i, mv in enumerate(plan):
        dx, dy = {"U": (0, -1), "D": (0, 1), "L": (-1, 0), "R": (1, 0)}[mv]
        nx, ny = x + dx, y + dy
        if not (0 <= nx < inst["width"] and 0 <= ny < inst["height"]) or (nx, ny) in walls:
            return False, (x, y), i
        if (nx, ny) in doors and doors[(nx, ny)] not in held:
            return False, (x, y), i
        x, y = nx, ny
        if (x, y) in keys:
            held.add(keys[(x, y)])
    return True, (x, y), None


@st.composite
def grids(draw):
    w, h = draw(st.integers(1, 6)), draw(st.integers(2, 6))
    cells = draw(st.permutations([(x, y) for x in range(w) for y in range(h)]))
    start, goal, rest = cells[0], cells[1], cells[2:]
    n_walls = draw(st.integers(0, len(rest) // 2))
    walls, free = rest[:n_walls], rest[n_walls:]
    keys = [{"id": c, "pos": list(free[2 * i])} for i, c in enumerate("ab") if len(free) >= 2 * i + 2]
    doors = [{"id": c, "pos": list(free[2 * i + 1])} for i, c in enumerate("ab") if len(free) >= 2 * i + 2]
    return {"width": w, "height": h, "walls": [list(c) for c in walls], "start": list(start), "goal": list(goal),
            "keys": keys, "doors": doors}


@settings(max_examples=300, deadline=None)
@given(inst=grids(), plan=st.text(alphabet="UDLR", max_size=30))
def test_simulator_matches_naive_reference(inst, plan):
    legal, pos, first = naive_simulate(inst, plan)
    res = simulate_plan(inst, plan)
    assert (res.legal, res.position, res.first_illegal) == (legal, pos, first)
    assert res.solved == (legal and pos == tuple(inst["goal"]))


def test_trace_verifier_score_from_stated_steps():
    from depthbench.scorers import stated_steps, trace_verifier_score

    # graph: the source is prepended when the stated path starts after it
    assert stated_steps(GRAPH, "Step 1: node=4\nStep 2: node=2\nStep 3: node=7\nAnswer: 7") == [0, 4, 2, 7]
    assert trace_verifier_score(GRAPH, "Step 1: node=4\nStep 2: node=2\nStep 3: node=7\nAnswer: 7") == 1.0
    # first error at step index 2 of a 4-step gold trace: 2/4
    assert trace_verifier_score(GRAPH, "Step 1: node=0\nStep 2: node=4\nStep 3: node=9\nAnswer: 7") == 0.5
    assert trace_verifier_score(ARITH, "Step 1: x1=4\nStep 2: x2=5\nAnswer: 10") == pytest.approx(1 / 3)
    assert trace_verifier_score(ARITH, "Step 1: x1=4\nStep 2: x2=3\nStep 3: x3=6\nAnswer: 6") == 1.0
    assert trace_verifier_score(GRID, "Step 1: key_a:R\nStep 2: door_a:DR\nAnswer: RDRRR") == 1.0  # free-text plan wins
    assert trace_verifier_score(GRID, "Step 1: key_a:R\nStep 2: door_a:UR") == pytest.approx(1 / 3)
    assert trace_verifier_score(GRAPH, "no steps at all") == 0.0
