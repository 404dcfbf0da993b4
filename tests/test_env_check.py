"""The families' gold-free env checks (``Family.env_check`` / ``env_solved``) and ``scorers.env_feedback``.

The checks must (1) accept every gold trace, (2) fail a corrupted step exactly at that step with
feedback naming what is wrong, and (3) never read gold: the same verdicts on an item whose
answer, trace and gold-derived meta are removed, or replaced by lies.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depthbench.generators import StepCheck, get_family
from depthbench.scorers import env_feedback, family_of, verify
from depthbench.tasks import build_items

TASKS = ["graph_connectivity", "graph_connectivity_bridge", "graph_connectivity_two_paths",
         "multihop_arithmetic", "grid_planning"]


def _prompt_only(item):
    """What a hidden split's submitter sees: no answer, trace or seed; meta cut to three fields."""
    out = {k: v for k, v in item.items() if k not in ("answer", "solution_trace", "seed")}
    out["meta"] = {k: item["meta"][k] for k in ("answer_space", "chance", "family")}
    return out


def _lying(item):
    """The item with every gold field replaced by something wrong."""
    out = copy.deepcopy(item)
    out["answer"] = "UUUU" if item["answer_type"] == "plan" else "0"
    out["solution_trace"] = [] if item["depth"] % 2 else list(reversed(item["solution_trace"]))
    out["meta"] = {**out["meta"], "optimal_plan_length": 1, "answer_space": item["meta"]["answer_space"]}
    return out


def _checks(item, steps):
    fam = family_of(item)
    return fam.env_check(item, steps), fam.env_solved(item, steps, None)


@pytest.fixture(scope="module", params=TASKS)
def items(request):
    return build_items(request.param, "dev", n=2)


def test_every_family_has_an_env_check():
    for name in ("graph_connectivity", "multihop_arithmetic", "grid_planning"):
        fam = get_family(name)
        assert fam.env_check is not None and fam.env_solved is not None


def test_gold_trace_is_all_ok_and_solved(items):
    for it in items:
        fam = family_of(it)
        checks = fam.env_check(it, it["solution_trace"])
        assert len(checks) == len(it["solution_trace"])
        assert all(isinstance(c, StepCheck) and c.ok for c in checks), [c.feedback for c in checks if not c.ok]
        assert fam.env_solved(it, it["solution_trace"], it["answer"]) is True
        short = it["solution_trace"][:-1]
        assert fam.env_solved(it, short) is (None if not short else False)
        assert fam.env_solved(it, []) is None


def test_the_check_never_reads_gold(items):
    for it in items:
        steps = it["solution_trace"]
        want = _checks(it, steps)
        assert _checks(_prompt_only(it), steps) == want
        assert _checks(_lying(it), steps) == want
        bad = _corrupt(it, len(steps) // 2)
        assert _checks(_prompt_only(it), bad) == _checks(it, bad) == _checks(_lying(it), bad)


def _corrupt(item, k):
    """The gold steps with step ``k`` made wrong in the family's typical way."""
    steps = copy.deepcopy(list(item["solution_trace"]))
    inst = item["instance"]
    fam = item["meta"]["family"]
    if fam == "graph_connectivity":
        k = max(k, 1)
        adj = {v for e in inst["edges"] for v in e if steps[k - 1] in e}
        steps[k] = next(v for v in range(inst["num_nodes"]) if v not in adj and v != steps[k - 1])
    elif fam == "multihop_arithmetic":
        steps[k]["value"] = (steps[k]["value"] + 1) % inst["modulus"]
    else:
        mv = steps[k]["moves"]
        j = len(mv) // 2
        steps[k]["moves"] = mv[:j] + {"U": "D", "D": "U", "L": "R", "R": "L"}[mv[j]] + mv[j + 1:]
    return steps


def test_a_corrupted_step_fails_at_that_step(items):
    for it in items:
        for k in range(len(it["solution_trace"])):
            if it["meta"]["family"] == "graph_connectivity" and k == 0:
                continue
            checks = family_of(it).env_check(it, _corrupt(it, k))
            first = next(i for i, c in enumerate(checks) if not c.ok)
            assert first == k, (it["id"], k, checks[first].feedback)
            label = f"step {k}" if it["meta"]["family"] == "graph_connectivity" else f"step {k + 1}"
            assert checks[k].feedback.startswith(label + ":") or checks[k].feedback.startswith(label + " (")
            assert family_of(it).env_solved(it, _corrupt(it, k)) is False


GRID = {"width": 4, "height": 3, "walls": [[1, 1]], "start": [0, 2], "goal": [3, 0],
        "keys": [{"id": "a", "pos": [0, 0]}], "doors": [{"id": "a", "pos": [2, 0]}]}
GRAPH = {"kind": "two_paths", "num_nodes": 6, "edges": [[0, 1], [1, 2], [3, 4], [4, 5]], "source": 0, "targets": [2, 5]}
PROG = {"modulus": 7, "query": "c", "order": "topological",
        "statements": [{"var": "a", "op": "=", "args": [5]}, {"var": "b", "op": "+", "args": ["a", 4]},
                       {"var": "c", "op": "*", "args": ["b", "a"]}]}

CASES = [  # (family, instance, steps, index of the first failing step or None, its feedback)
    ("grid_planning", GRID, ["RR", "UU"], 1, "step 2: move 2 (U, up) from (2, 1) enters door a at (2, 0) without key a"),
    ("grid_planning", GRID, ["R", "U"], 1, "step 2: move 1 (U, up) from (1, 2) hits a wall at (1, 1)"),
    ("grid_planning", GRID, ["D"], 0, "step 1: move 1 (D, down) from (0, 2) leaves the grid"),
    ("grid_planning", GRID, [{"subgoal": "key a", "moves": "U"}], 0, "step 1: the moves end at (0, 1), not at key a (0, 0)"),
    ("grid_planning", GRID, [{"subgoal": "key z", "moves": "UU"}], 0, "step 1: there is no key z in this grid"),
    ("grid_planning", GRID, ["U?"], 0, "step 1: cannot read 'U?' as SUBGOAL:MOVES over U, D, L, R"),
    ("grid_planning", GRID, [{"subgoal": "key a", "moves": "UU"}, {"subgoal": "door a", "moves": "RR"},
                             {"subgoal": "goal", "moves": "R"}], None, "step 3: reached the goal at (3, 0)"),
    ("graph_connectivity", GRAPH, [3, 4], 0, "step 0: the path starts at 3, not at the source 0"),
    ("graph_connectivity", GRAPH, [0, 1, 4], 2, "step 2 (node 4): there is no edge 1-4 in the edge list"),
    ("graph_connectivity", GRAPH, [0, 9], 1, "step 1 (node 9): node 9 is in no edge of the graph"),
    ("graph_connectivity", GRAPH, [0, "x"], 1, "step 1: cannot read 'x' as a node label"),
    ("graph_connectivity", GRAPH, [0, 1, 2], None, "step 2 (node 2): edge 1-2 exists; now at 2; target 2 reached"),
    ("multihop_arithmetic", PROG, [{"var": "a", "value": 5}, {"var": "b", "value": 3}], 1,
     "step 2: b = a + 4 = 5 + 4 = 2 (mod 7), not 3"),
    ("multihop_arithmetic", PROG, [{"var": "b", "value": 2}], 0, "step 1: b uses a, whose value is not stated before it"),
    ("multihop_arithmetic", PROG, [{"var": "z", "value": 2}], 0, "step 1: the program defines no variable z"),
    ("multihop_arithmetic", PROG, ["a5"], 0, "step 1: cannot read 'a5' as VARIABLE=VALUE"),
    ("multihop_arithmetic", PROG, [{"var": "a", "value": 12}, {"var": "b", "value": 2}, {"var": "c", "value": 3}],
     None, "step 3: c = 3 checks out"),
]


@pytest.mark.parametrize("family,instance,steps,first,feedback", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_feedback_table(family, instance, steps, first, feedback):
    checks = get_family(family).env_check({"instance": instance}, steps)
    bad = [i for i, c in enumerate(checks) if not c.ok]
    assert (bad[0] if bad else None) == first
    assert checks[first if first is not None else -1].feedback == feedback


def test_checks_are_local_to_the_stated_steps():
    """A step after a wrong one is judged from what the steps before it state."""
    prog = get_family("multihop_arithmetic").env_check(
        {"instance": PROG}, [{"var": "a", "value": 6}, {"var": "b", "value": 3}, {"var": "c", "value": 4}])
    assert [c.ok for c in prog] == [False, True, True]  # b = 6 + 4 = 3 and c = 3 * 6 = 4 (mod 7)
    grid = get_family("grid_planning").env_check(
        {"instance": GRID}, [{"subgoal": "key a", "moves": "RU"}, {"subgoal": "door a", "moves": "RR"}])
    assert [c.ok for c in grid] == [False, True]  # step 2 starts on key a (held), as step 1 says


def _item(family, instance, answer_space):
    return {"meta": {"family": family, "answer_space": answer_space}, "instance": instance}


@pytest.mark.parametrize("text,solved,feedback", [
    ("Step 1: key_a:UU\nStep 2: door_a:RR\nStep 3: goal:R\nAnswer: UURRR", True,
     "every step checks out and the task is solved (step 3: reached the goal at (3, 0))"),
    ("Step 1: key_a:UU\nStep 2: door_a:RR\nAnswer: UURR", False,
     "every step checks out (step 2: reached door a at (2, 0)), but the steps do not finish the task: "
     "continue after step 2"),
    ("Step 1: key_a:UU\nStep 2: door_a:RR\nStep 3: goal:R\nAnswer: UURRD", False,
     "every step checks out (step 3: reached the goal at (3, 0)), but the Answer line does not state what the "
     "steps reach"),
    ("Step 1: RU\nStep 2: RD\nAnswer: RURD", False,
     "step 1: move 2 (U, up) from (1, 2) hits a wall at (1, 1) (1 later step also fails)"),
    ("I think it is RRUU\nAnswer: RRUU", False, "no steps are stated: write each intermediate result on its own "
     "line as 'Step 1: ...', 'Step 2: ...', then the Answer line"),
])
def test_env_feedback_sentences(text, solved, feedback):
    fb = env_feedback(_item("grid_planning", GRID, {"moves": "UDLR"}), text)
    assert (fb.solved, fb.feedback) == (solved, feedback)


def test_env_feedback_none_without_an_env_check():
    import tests._toy_family as toy
    from depthbench.generators import register_family, unregister_family
    register_family(toy.FAMILY)
    try:
        assert toy.FAMILY.env_check is None
        assert env_feedback({"meta": {"family": "toy_letters", "answer_space": {}}, "instance": {}},
                            "Step 1: a\nAnswer: a") is None
    finally:
        unregister_family("toy_letters")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task=st.sampled_from(TASKS), depth_pick=st.integers(0, 10**6), seed=st.integers(0, 2**31 - 1),
       k_pick=st.integers(0, 10**6))
def test_generated_items_gold_ok_and_corruption_located(task, depth_pick, seed, k_pick):
    from depthbench.tasks import load_spec
    depths = load_spec(task).depths
    it = build_items(task, "test", depths=[depths[depth_pick % len(depths)]], n=1, seed=seed)[0]
    fam = family_of(it)
    assert all(c.ok for c in fam.env_check(it, it["solution_trace"]))
    assert fam.env_solved(_prompt_only(it), it["solution_trace"], it["answer"]) is True
    lo = 1 if it["meta"]["family"] == "graph_connectivity" else 0
    k = lo + k_pick % (len(it["solution_trace"]) - lo)
    bad = _corrupt(it, k)
    checks = fam.env_check(_prompt_only(it), bad)
    assert [c.ok for c in checks[:k + 1]] == [True] * k + [False]
    assert not verify(it, it["answer"]) or fam.env_solved(it, bad, it["answer"]) is False


@pytest.mark.parametrize("task", ["graph_connectivity", "multihop_arithmetic", "grid_planning"])
def test_env_feedback_accepts_exactly_the_simulated_reasoners_right_chains(task):
    """On the simulated reasoner's text (eps 0.3: many wrong chains), env acceptance, computed
    on the prompt alone, equals correctness for every complete chain."""
    from depthbench.baselines import Request, load_model
    model = load_model("simulated:eps=0.3")
    seen = {True: 0, False: 0}
    for it in build_items(task, "dev", n=2):
        resp = model.generate_sync(Request(max_tokens=4096, temperature=1.0, top_p=1.0, seeds=tuple(range(6)), n=6,
                                           messages=[{"role": "user", "content": it["prompt"]}], item=it))
        for ch in resp.choices:
            fb = env_feedback(_prompt_only(it), ch.text)
            right = fb.answer is not None and verify(it, fb.answer)
            assert fb.solved == right, (it["id"], ch.text[:200], fb.feedback)
            seen[right] += 1
    assert seen[True] > 5 and seen[False] > 5
