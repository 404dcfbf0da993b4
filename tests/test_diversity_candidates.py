"""Diversity over a strategy's final candidates, and ``n_responses`` without critic / judge / PRM calls.

A search's step calls and a critic's call are calls, not samples: diversity is measured over the
chains a strategy chooses among (``baselines._counts.final_candidates``), and a response is a
sampled candidate chain (``Role.response``), never a judging or critiquing call.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from depthbench.baselines._context import CallContext
from depthbench.baselines._counts import call_counts, final_candidates, outcome_diversity, response_leaves
from depthbench.baselines.backends.simulated import SimulatedModel
from depthbench.baselines.strategies import all_roles, parse
from depthbench.tasks import build_items


def _run(strategy: str, item, budget: int, model, seed: int = 0):
    s = parse(strategy)
    ctx = CallContext(item, s.name, budget, model, run_seed=seed)
    return asyncio.run(s.run(item, ctx)), ctx


def _step(key, parent=None, answer=None, text=None, finish="stop"):
    return {"key": key, "role": "step", "parent": parent, "text": text or (f"Answer: {answer}" if answer else "Step 1: x"),
            "extracted": answer, "parse_status": "ok" if answer else "no_answer", "finish_reason": finish}


FINAL_CASES = [
    # id, records, response leaf keys, final candidate keys
    ("pruned_branches_are_responses_not_candidates",
     [_step("a"), _step("b"), _step("a1", "a"), _step("a2", "a"), _step("a1x", "a1", "7"), _step("a1y", "a1", "7")],
     ["b", "a2", "a1x", "a1y"], ["a1x", "a1y"]),
    ("a chain cut at its cap is a finished candidate without an answer",
     [_step("a"), _step("a1", "a", finish="length"), _step("a2", "a", "3")], ["a1", "a2"], ["a1", "a2"]),
    ("an empty step ends its chain", [_step("a"), _step("a1", "a", text=" ")], ["a1"], ["a1"]),
    ("prm calls are neither", [_step("a", answer="7"), {"key": "p", "role": "prm", "parent": "a", "text": "Verdict: yes"},
                               _step("b", answer="7")], ["a", "b"], ["a", "b"]),
    ("a critic is no candidate even when it states an answer",
     [{"key": "x", "role": "answer", "parent": None, "extracted": "3"},
      {"key": "c", "role": "critic", "parent": "x", "extracted": "7"},
      {"key": "r", "role": "revise", "parent": "c", "extracted": "7"}], ["x", "r"], ["x", "r"]),
    ("an answer without an answer is still a candidate (it abstains)",
     [{"key": "s0", "role": "answer", "parent": None, "extracted": None, "parse_status": "no_answer"},
      {"key": "s1", "role": "answer", "parent": None, "extracted": "7"}], ["s0", "s1"], ["s0", "s1"]),
]


@pytest.mark.parametrize("case", FINAL_CASES, ids=[c[0] for c in FINAL_CASES])
def test_response_leaves_and_final_candidates_table(case):
    all_roles()  # registers the strategies' roles (step, prm, critic)
    _, recs, leaves, finals = case
    assert [r["key"] for r in response_leaves(recs)] == leaves
    assert [r["key"] for r in final_candidates(recs)] == finals


@pytest.mark.parametrize("strategy", ["beam@8:2:prm=oracle", "mcts@8:c=1.4:prm=oracle", "beam@4:2:prm=self"])
def test_search_diversity_is_over_its_finished_chains(strategy):
    """The issue's case: at depth 8 every step call used to count as an abstaining sample (k = 64)."""
    item = build_items("graph_connectivity", "dev", depths=[8], n=1)[0]
    out, ctx = _run(strategy, item, 4000, SimulatedModel(eps=0.1), seed=1)
    steps = [r for r in ctx.records if r["role"] == "step"]
    finished = [r for r in steps if r.get("extracted") is not None]
    d = outcome_diversity(ctx.records)
    assert len(finished) == out["meta"]["finished"] >= 2 and len(steps) > len(finished)
    assert d is not None and d["k"] == len(finished) and d["abstain"] == 0.0
    top = Counter(r["extracted"] for r in finished).most_common(1)[0][1]
    assert d["modal_share"] == top / len(finished)
    assert d["distinct"] == len({r["extracted"] for r in finished})


def test_beam_self_prm_calls_are_judge_calls_not_responses():
    item = build_items("graph_connectivity", "dev", depths=[3], n=1)[0]
    out, ctx = _run("beam@4:2:prm=self", item, 1200, SimulatedModel(eps=0.2), seed=2)
    roles = Counter(r["role"] for r in ctx.records)
    assert roles["prm"] > 0
    c = call_counts(ctx.records)
    assert c["n_judge_calls"] == roles["prm"] and c["n_calls"] == len(ctx.records)
    assert c["n_responses"] == len(response_leaves(ctx.records)) <= roles["step"]
    assert all(r["role"] == "step" for r in response_leaves(ctx.records))


@pytest.mark.parametrize("strategy, budget", [("revision_feedback@2:3", 2048), ("evolve@2:islands=1:convs=2", 4096)])
def test_critic_calls_are_neither_responses_nor_samples(strategy, budget):
    item = build_items("grid_planning", "dev", depths=[4], n=1)[0]
    out, ctx = _run(strategy, item, budget, SimulatedModel(eps=0.7), seed=3)
    roles = Counter(r["role"] for r in ctx.records)
    assert roles["critic"] > 0, roles
    cands = [r for r in ctx.records if r["role"] in ("answer", "revise")]
    c = call_counts(ctx.records)
    assert c["n_responses"] == len(cands) == roles["answer"] + roles["revise"]
    assert c["n_calls"] == len(ctx.records) > c["n_responses"]
    d = outcome_diversity(ctx.records)
    assert d is not None and d["k"] == len(cands)
    assert d["abstain"] == sum(r.get("extracted") is None for r in cands) / len(cands)
