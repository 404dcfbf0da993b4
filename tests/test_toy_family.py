"""A family owns everything specific to it: a fourth family (a test fixture) runs end to end.

``tests/_toy_family.py`` is one module (generator, certifier, its own answer type and
normalisation, verifier, trace rules) plus a spec; nothing else in depthbench is edited.
Generation, the simulated reasoner, extraction, verification, the trace verifier of
``best_of@N:trace``, ``depthbench score`` and ``analyze`` must all use its rules. The same
dispatch (on ``meta.family``, never the task name) is checked for the bundled spec variants
``graph_connectivity_bridge`` and ``graph_connectivity_two_paths``, whose gold traces the
trace verifier used to score 0.
"""

from __future__ import annotations

import json

import pytest

import tests._toy_family as toy
from depthbench.analysis import analyze_run, score_run
from depthbench.baselines import EvalConfig, run_eval
from depthbench.baselines._calllog import read_calls
from depthbench.generators import families, register_family, unregister_family
from depthbench.scorers import extract_answer, parse_trace, stated_steps, trace_verifier_score, verify
from depthbench.tasks import build_items, load_spec, write_dataset


@pytest.fixture()
def toy_spec(tmp_path):
    register_family(toy.FAMILY)
    path = tmp_path / "toy_letters.yaml"
    path.write_text(toy.SPEC)
    yield path
    unregister_family("toy_letters")
    assert "toy_letters" not in families()


def _gold_text(item, fmt):
    return "\n".join(f"Step {k}: {fmt(s)} so then" for k, s in enumerate(item["solution_trace"], 1)) + \
        f"\nAnswer: {item['answer']}"


def test_toy_family_items_extraction_verification_and_traces(toy_spec):
    items = build_items(toy_spec, "test")
    assert len(items) == 4 * 12 and {it["depth"] for it in items} == {1, 2, 4, 8}
    it = items[-1]
    assert it["meta"]["family"] == "toy_letters" and it["answer_type"] == "letter"
    # its own answer type: extraction uses the family's normalisation
    assert extract_answer(it, f"so ...\nAnswer: letter {it['answer'].lower()}").answer == it["answer"]
    assert extract_answer(it, "Answer: 12").parse_status == "malformed"
    assert verify(it, it["answer"]) and not verify(it, "#")
    # its own trace rules, both forms
    gold = _gold_text(it, toy.format_step)
    assert stated_steps(it, gold) == it["solution_trace"]
    assert trace_verifier_score(it, gold) == 1.0
    arrows = " -> ".join(it["solution_trace"]) + f"\nAnswer: {it['answer']}"
    assert parse_trace(it, arrows) == it["solution_trace"]
    assert trace_verifier_score(it, arrows) == 1.0
    wrong = list(it["solution_trace"])
    wrong[1] = "A" if wrong[1] != "A" else "B"
    score = trace_verifier_score(it, " -> ".join(wrong))
    assert 0.0 < score < 1.0 and score == pytest.approx(1 / len(wrong))


def test_toy_family_runs_end_to_end(toy_spec, tmp_path):
    spec = load_spec(toy_spec)
    items = build_items(spec, "test")
    data = tmp_path / "data"
    write_dataset(data, spec, {"test": items})
    run = tmp_path / "run"
    strategies = ["single", "majority@4", "best_of@4:trace", "budget_forcing"]
    run_eval(EvalConfig(model="simulated:eps=0.05", strategies=[",".join(strategies)], budgets=[256],
                        out=str(run), data=str(data), progress=False, fsync=False))
    summary = score_run(run)
    assert summary["outcomes"] == len(items) * len(strategies) and summary["changed_outcomes"] == 0
    results = analyze_run(run, n_boot=200)
    assert {r["strategy"] for r in results["curves"]} == set(strategies)
    acc = {(r["strategy"], r["depth"]): r["accuracy"] for r in results["curves"]}
    assert acc[("single", 1)] > 0.8  # the simulated reasoner solves shallow toy items
    scored = [json.loads(line) for line in (run / "scored.jsonl").read_text().splitlines()]
    by_id = {it["id"]: it for it in items}
    calls = {c["key"]: c for _, c in read_calls(run / "calls.jsonl", by_id)}  # compact records expanded
    n_full = 0
    for o in scored:
        if o["strategy"] != "best_of@4:trace":
            continue
        cands = sorted((calls[k] for k in o["calls"]), key=lambda c: c["sample"])
        for c, s in zip(cands, o["meta"]["scores"]):
            item = by_id[o["item_id"]]
            complete = stated_steps(item, c["text"]) == item["solution_trace"]
            assert (s == 1.0) == complete, (c["text"], s)
            n_full += complete
    assert n_full > len(items)  # the trace verifier recognises the family's steps (it used to score 0)


@pytest.mark.parametrize("task", ["graph_connectivity_bridge", "graph_connectivity_two_paths", "graph_connectivity"])
def test_spec_variants_are_scored_by_their_family_not_their_name(task):
    items = build_items(task, "dev", depths=[2, 3], n=2)
    fam = families()["graph_connectivity"]
    for it in items:
        assert it["task"] == task and it["meta"]["family"] == "graph_connectivity"
        assert trace_verifier_score(it, _gold_text(it, fam.format_step)) == 1.0
        path = " -> ".join(str(v) for v in it["solution_trace"])
        assert trace_verifier_score(it, f"Path: {path}\nAnswer: {it['answer']}") == 1.0
        assert verify(it, it["answer"])


def test_best_of_trace_on_a_spec_variant_picks_by_trace(tmp_path):
    """On graph_connectivity_bridge the trace verifier scores correct chains 1.0, so
    best_of@N:trace is not a seeded random pick among candidates."""
    run = tmp_path / "run"
    run_eval(EvalConfig(model="simulated:eps=0.15", strategies=["best_of@4:trace"], budgets=[512],
                        out=str(run), task="graph_connectivity_bridge", split="dev", limit=8, progress=False,
                        fsync=False))
    outcomes = [json.loads(line) for line in (run / "outcomes.jsonl").read_text().splitlines()]
    scores = [s for o in outcomes for s in o["meta"]["scores"]]
    assert max(scores) == 1.0 and sum(s == 1.0 for s in scores) >= len(scores) // 2
