"""Tree search (beam@N:W), its process reward models and step-wise generation (issue 13).

The simulated reasoner is the reference: stepping a chain one call at a time must follow the
same per-step law as a whole chain (its closed form), the search must hold its budget through
the call context, and its logged calls must re-derive (score, submission validate) to the
runner's own outcome.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from depthbench.baselines._context import CallContext
from depthbench.baselines._protocol import Request
from depthbench.baselines._simulated_theory import first_error_distribution
from depthbench.baselines._stepwise import STEP_DELIMITER, chain_text, step_request
from depthbench.baselines.backends.simulated import SimulatedModel
from depthbench.baselines.strategies import parse
from depthbench.cli import main
from depthbench.errors import UserError
from depthbench.leaderboard import validate_submission
from depthbench.scorers import compare_strategies, stated_steps, summarize_comparison, trace_first_error
from depthbench.tasks import build_items

_spec = importlib.util.spec_from_file_location("_lbh", Path(__file__).parent / "_leaderboard_helpers.py")
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)


def _run(strategy: str, item, budget: int, model, seed: int = 0):
    s = parse(strategy)
    ctx = CallContext(item, s.name, budget, model, run_seed=seed)
    return asyncio.run(s.run(item, ctx)), ctx


# ------------------------------------------------------------------ names and bad input
@pytest.mark.parametrize("name", ["beam@16:4:prm=env", "beam@8:2:prm=oracle", "beam@4:4:prm=noisy:0.6,0.4",
                                  "beam@4:2:prm=self", "beam@4:2:prm=model:simulated:eps=0.3",
                                  "mcts@8:c=1.4:prm=env", "mcts@4:c=0.5:prm=noisy:0.9,0.1"])
def test_beam_names_are_canonical(name):
    s = parse(name)
    assert s.name == name and s.kind == "search"
    assert s.needs_gold == (":prm=oracle" in name or ":prm=noisy" in name)


def test_search_defaults_to_the_env_prm():
    assert parse("beam@8:2").name == "beam@8:2:prm=env"
    assert parse("mcts@8").name == "mcts@8:c=1.4:prm=env"


@pytest.mark.parametrize("name, words", [
    ("beam@4:8:prm=env", "W=8 larger than N=4; W must be at most 4"),
    ("beam@6:4:prm=env", "the smallest valid W >= 4 is 6"),
    ("beam@4:2:prm=magic", "prm='magic' is not a process reward model"),
    ("beam@4:2:prm=noisy:0.6", "prm=noisy needs true and false positive rates"),
    ("beam@4:2:prm=noisy:1.5,0.1", "prm=noisy:TPR,FPR: TPR (true positive rate) must be a probability in [0, 1], "
                                   "got '1.5'"),
    ("beam@4:2:prm=noisy:1.2,0", "TPR (true positive rate) must be a probability in [0, 1], got '1.2'"),
    ("beam@4:2:prm=noisy:0.6,-0.1", "FPR (false positive rate) must be a probability in [0, 1], got '-0.1'"),
    ("beam@4:2:prm=noisy:0.6,nan", "FPR (false positive rate) must be a probability in [0, 1], got 'nan'"),
    ("weighted_best_of@4:prm=noisy:1.2,0", "TPR (true positive rate) must be a probability in [0, 1]"),
    ("weighted_best_of@4:2", "needs weighted_best_of@N[:prm=P]"),
    ("weighted_best_of@0", "positive integer N"),
    ("beam@4:2:prm=model:nonsense", "prm=model:nonsense"),
    ("beam@4", "needs beam@N:W"),
    ("mcts@4:c=0", "has 'c=0', but c (the UCT exploration constant) must be a number in (0, 100]"),
    ("mcts@8:c=-1", "has 'c=-1', but c (the UCT exploration constant) must be a number in (0, 100]"),
    ("mcts@8:c=abc", "has 'c=abc', but c (the UCT exploration constant) must be a number in (0, 100]"),
    ("mcts@8:c=1e9", "has 'c=1e9', but c (the UCT exploration constant) must be a number in (0, 100]"),
    ("mcts@8:c=", "has 'c=', but c (the UCT exploration constant) must be a number in (0, 100]"),
    ("mcts@4:depth=3", "unknown option 'depth=3'"),
    ("mcts@0", "positive integer N"),
])
def test_bad_beam_names_are_one_line_errors(name, words):
    with pytest.raises(UserError) as e:
        parse(name)
    msg = str(e.value)
    assert words in msg and "\n" not in msg and msg.startswith("--strategy:")


def test_cli_refuses_bad_beam_input_with_exit_2(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["eval", "--task", "graph_connectivity", "--split", "dev", "--per-depth", "1", "--model", "simulated",
            "--no-progress", "--out", str(out)]
    # a budget too small for one expansion per beam: the smallest valid budget is named
    assert main(base + ["--strategy", "beam@8:2:prm=oracle", "--budget", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--budget 100" in err and "use --budget >= 128" in err and len(err.splitlines()) == 1
    assert main(base + ["--strategy", "beam@4:2:prm=self", "--budget", "150"]) == 2
    assert "use --budget >= 192" in capsys.readouterr().err
    assert main(base + ["--strategy", "beam@2:4:prm=env", "--budget", "256"]) == 2
    assert "W must be at most 2" in capsys.readouterr().err
    assert not out.exists()


def test_oracle_prm_is_refused_on_a_hidden_split(tmp_path, capsys):
    folder, _, _ = H.make_hidden_release(tmp_path / "h", depths=(1, 2), n=1)
    assert main(["eval", "--data", str(folder / "public"), "--split", "hidden", "--model", "simulated",
                 "--strategy", "beam@4:2:prm=oracle", "--budget", "256", "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "prm=oracle reads the gold trace; use beam@4:2:prm=env" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()
    assert main(["eval", "--data", str(folder / "public"), "--split", "hidden", "--model", "simulated",
                 "--strategy", "weighted_best_of@4:prm=noisy:0.6,0.4", "--budget", "256", "--out",
                 str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "prm=noisy:0.6,0.4 reads the gold trace; use weighted_best_of@4:prm=env" in err, err
    assert len(err.splitlines()) == 1 and not (tmp_path / "run").exists()


# ------------------------------------------------------------------ step-wise generation
def test_step_request_is_the_continuation_contract():
    item = build_items("graph_connectivity", "dev", depths=[2], n=1)[0]
    first = step_request(item, "", 40)
    assert "assistant_prefix" not in first and first["stop"] == [STEP_DELIMITER]
    assert first["messages"][0]["content"].startswith(item["prompt"]) and "Step 1:" in first["messages"][0]["content"]
    later = step_request(item, "Step 1: node=3\n", 40, n=2)
    assert later["assistant_prefix"] == "Step 1: node=3\n" and later["n"] == 2


@pytest.mark.parametrize("eps", [0.25])
def test_simulated_stepwise_follows_the_whole_chain_law(eps):
    """Stepping a chain one call at a time (the search's calls) gives the same first-error law as
    whole chains, and both match the closed form P(first error at k) = (1-eps)^(k-1) eps."""
    item = build_items("multihop_arithmetic", "dev", depths=[5], n=1)[0]
    model = SimulatedModel(eps=eps)
    d, n = item["depth"], 500
    law = np.array(first_error_distribution(d, eps))  # index k-1: first error at step k; index d: none

    def first_error(text: str) -> int:
        steps = stated_steps(item, text)
        fe = trace_first_error(item, steps)
        return d if fe is None else min(fe, d)

    def stepped(seed: int) -> str:
        chain = ""
        for k in range(d):
            req = step_request(item, chain + ("\n" if chain else ""), 100)
            r = model.generate_sync(Request(max_tokens=100, temperature=1.0, top_p=1.0, seeds=(seed * 100 + k,),
                                            messages=tuple(req["messages"]), assistant_prefix=req.get("assistant_prefix"),
                                            stop=tuple(req["stop"]), item=item))
            chain = chain + ("\n" if chain else "") + r.choices[0].text
        return chain

    whole = model.generate_sync(Request(max_tokens=1000, temperature=1.0, top_p=1.0, seeds=tuple(range(n)), n=n,
                                        messages=({"role": "user", "content": item["prompt"]},), item=item))
    counts_whole = np.bincount([first_error(c.text) for c in whole.choices], minlength=d + 1)
    counts_step = np.bincount([first_error(stepped(s)) for s in range(n)], minlength=d + 1)
    for counts in (counts_whole, counts_step):
        # each cell within 4.5 binomial standard errors of the closed form (fails on a wrong law)
        se = np.sqrt(n * law * (1 - law))
        assert np.all(np.abs(counts - n * law) <= 4.5 * se + 1), (counts, n * law)
    # and the two modes agree with each other (the same law, not just both near it)
    chi2 = float(np.sum((counts_whole - counts_step) ** 2 / np.maximum(1, counts_whole + counts_step)))
    assert chi2 < 22.0  # chi-square with d dof (5): p ~ 5e-4 at 22


# ------------------------------------------------------------------ the search itself
def test_beam_holds_its_budget_and_rederives_its_answer():
    items = build_items("graph_connectivity", "dev", depths=[3, 6], n=3)
    model = SimulatedModel(eps=0.2)
    for name in ("beam@4:2:prm=oracle", "beam@4:2:prm=noisy:0.7,0.3", "beam@4:2:prm=self", "mcts@4:c=1.4:prm=oracle",
                 "mcts@4:c=1.4:prm=self"):
        for it in items:
            for budget in (160, 400):
                out, ctx = _run(name, it, budget, model, seed=3)
                assert out["generated_tokens"] <= budget
                # every step call is capped at B/N and continues a parent chain of the previous round
                by_key = {r["key"]: r for r in ctx.records}
                for r in ctx.records:
                    if r["role"] == "step":
                        assert r["request"]["max_tokens"] <= budget // 4
                        assert r["request"]["stop"] == [STEP_DELIMITER]
                        if r["parent"] is not None:
                            par = by_key[r["parent"]]
                            assert par["round"] == r["round"] - 1 and par["role"] == "step"
                            assert r["request"]["assistant_prefix"] == chain_text(par["key"], by_key) + "\n"
                    else:
                        assert r["role"] == "prm" and r["target"] == r["parent"] and name.endswith("self")
                        assert r["round"] == by_key[r["parent"]]["round"] + 1
                # the pure reduction over the records gives the run's answer (what score re-derives)
                again = parse(name).final_answer(ctx.records, it, run_seed=3)
                assert (again[0], again[1]) == (out["final_answer"], out["credit"])


def test_oracle_beam_keeps_only_right_chains():
    """With the oracle PRM a kept chain is right so far whenever a right candidate existed."""
    item = build_items("multihop_arithmetic", "dev", depths=[8], n=1)[0]
    out, ctx = _run("beam@8:4:prm=oracle", item, 2000, SimulatedModel(eps=0.25), seed=1)
    assert out["correct"] and out["meta"]["upper_bound"] is True
    parents = {r["parent"] for r in ctx.records if r["parent"]}
    by_key = {r["key"]: r for r in ctx.records}
    for k in parents:  # every expanded chain is right so far
        steps = stated_steps(item, chain_text(k, by_key))
        fe = trace_first_error(item, steps)
        assert fe is None or fe >= len(steps)


def test_model_prm_tokens_are_charged_and_reported_separately():
    item = build_items("graph_connectivity", "dev", depths=[3], n=1)[0]
    s = parse("beam@2:1:prm=model:simulated:eps=0.5")
    assert s.aux_models() == {"prm": "simulated:eps=0.5"}
    judge = SimulatedModel(eps=0.5)
    ctx = CallContext(item, s.name, 400, SimulatedModel(eps=0.1), models={"prm": judge}, run_seed=0)
    out = asyncio.run(s.run(item, ctx))
    prm = [r for r in ctx.records if r["role"] == "prm"]
    assert prm and all(r["model"] == judge.name for r in prm)
    assert out["meta"]["prm_tokens"] == sum(r["usage"]["completion_tokens"] for r in prm) > 0
    assert out["meta"]["prm_model"] == judge.name
    assert out["generated_tokens"] <= 400


# ------------------------------------------------------------------ score and submission
def test_beam_run_scores_packs_and_validates(tmp_path):
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert main(["generate", H.TASK, "--depths", "1,3", "--n", "3", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    strategies = "beam@4:2:prm=oracle,beam@4:2:prm=self,mcts@4:c=1.4:prm=env,best_of@4:oracle"
    assert main(["eval", "--data", str(ds), "--model", "simulated:eps=0.2", "--strategy", strategies,
                 "--budget", "400", "--out", str(run), "--no-progress"]) == 0
    assert main(["score", str(run)]) == 0
    scored = [json.loads(x) for x in (run / "scored.jsonl").read_text().splitlines()]
    logged = {(o["item_id"], o["strategy"]): o["credit"] for o in H.read_outcomes(run)}
    assert {(o["item_id"], o["strategy"]): o["credit"] for o in scored} == logged
    assert {o["kind"] for o in scored if o["strategy"].startswith(("beam", "mcts"))} == {"search"}
    sub = tmp_path / "sim.json.gz"
    assert main(["submission", "pack", str(run), "--out", str(sub), "--submitter", "ci"]) == 0
    rep = validate_submission(sub, releases=ds)
    assert rep.problems == [] and rep.ok
    assert {(o["item_id"], o["strategy"]): o["credit"] for o in rep.outcomes} == logged


def test_validator_refuses_a_beam_call_out_of_its_tree(tmp_path):
    """A step call whose parent is not an earlier round, or a stated PRM score its text does not give."""
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert main(["generate", H.TASK, "--depths", "2", "--n", "1", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    assert main(["eval", "--data", str(ds), "--model", "simulated", "--strategy", "beam@2:1:prm=self",
                 "--budget", "300", "--out", str(run), "--no-progress"]) == 0
    import copy

    from depthbench.leaderboard import pack_run, write_submission
    sub = pack_run(run, submitter="ci")
    bad_parent, bad_score = copy.deepcopy(sub), copy.deepcopy(sub)
    calls = bad_parent["predictions"][0]["calls"]
    step = next(c for c in calls if c["role"] == "step" and c["parent"] is not None)
    step["parent"] = next(c["key"] for c in calls if c["role"] == "step" and c["round"] >= step["round"]
                          and c["key"] != step["key"])
    prm = next(c for c in bad_score["predictions"][0]["calls"] if c["role"] == "prm")
    prm["score"] = 0.25  # the judge's text gives 0, 0.5 or 1
    for obj, words in ((bad_parent, "is not an earlier call of the same chain"), (bad_score, "states score 0.25")):
        write_submission(obj, tmp_path / "bad.json.gz")
        rep = validate_submission(tmp_path / "bad.json.gz", releases=ds)
        assert any(words in p for p in rep.problems), rep.problems


# ------------------------------------------------------------------ regime 7a
def test_regime_oracle_beam_beats_best_of_and_the_gap_grows_with_depth():
    """Simulated reasoner, graph connectivity, matched budget: with the oracle PRM beam search
    beats best-of-N (the oracle verifier) and the gap grows with depth (the suite's verdicts).
    With a weak PRM (noisy 0.6, 0.4, persistent per chain) against its like-for-like baseline
    (weighted best-of-N with the same PRM): no difference shown at depth 1, where beam reduces to
    it, and at depth 8 beam leads by less than with the oracle (reward reliability decides how much
    search gains). Issue 13's stronger claim, "equivalent at every depth", does not hold here: at
    1000 items per depth beam leads by +0.10 at depth 8, shown better (benchmarks/search_regimes.py,
    BENCHMARKS.md): a weak per-step signal still compounds over a beam's rounds of pruning. With correlated
    samples it does (BENCHMARKS.md, the map over the reasoner's rho, ``--rho``): at rho = 0.9 both halves
    hold at every depth, asserted by the next test at 1000 items per depth."""
    model = SimulatedModel(eps=0.15)
    items = (build_items("graph_connectivity", "train", depths=[1], n=160)
             + build_items("graph_connectivity", "train", depths=[8], n=50))
    budget = 640
    weak, weak_base = "beam@4:2:prm=noisy:0.6,0.4", "weighted_best_of@4:prm=noisy:0.6,0.4"
    outs = []
    for name in ("beam@4:2:prm=oracle", "best_of@4:oracle", weak, weak_base, "mcts@4:c=1.4:prm=oracle"):
        for it in items:
            outs.append(_run(name, it, budget, model)[0])
    assert max(o["generated_tokens"] for o in outs) <= budget
    rows, bp = compare_strategies(outs, "beam@4:2:prm=oracle", "best_of@4:oracle", budget=budget, chance=0.5)
    v = {r["depth"]: r for r in rows}
    assert v[1]["verdict"] == "equivalent" and v[8]["verdict"] == "a_better"
    assert v[8]["diff"] > v[1]["diff"] + 0.15
    assert bp["status"] == "located" and bp["breakpoint_depth"] == 8
    assert summarize_comparison(rows)["status"] == "located"
    rows_n, _ = compare_strategies(outs, weak, weak_base, budget=budget, chance=0.5)
    vn = {r["depth"]: r for r in rows_n}
    assert vn[1]["verdict"] == "inconclusive" and abs(vn[1]["diff"]) < 0.05, vn[1]
    assert 0 < vn[8]["diff"] < v[8]["diff"] - 0.05, (vn[8]["diff"], v[8]["diff"])
    # MCTS with the oracle PRM, at the same budget: the same verdict at depth 8
    rows_m, _ = compare_strategies(outs, "mcts@4:c=1.4:prm=oracle", "best_of@4:oracle", budget=budget, chance=0.5)
    assert {r["depth"]: r["verdict"] for r in rows_m}[8] == "a_better"



def test_regime_correlated_reasoner_weak_prm_is_equivalent_at_every_depth():
    """Issue 13's regime 7a in full, on a reasoner whose samples are correlated (rho = 0.9: an
    item the model gets wrong tends to stay wrong across samples, as with real models; Gan, Liao,
    Liu 2025, arXiv 2501.15602): with the oracle PRM beam search beats its like-for-like weighted
    best-of-N and the gap grows with depth; with the weak PRM (noisy 0.6, 0.4) the two are
    equivalent at every depth (paired TOST, margin 0.05, Holm over depths). The weak pair needs
    about 1000 items per depth to decide, so this test takes about a minute of CPU; it is seeded,
    so its verdicts are exact, not a flaky sample. BENCHMARKS.md, "Search regimes", has the map
    over rho this regime comes from (no rho below 0.9 gives both halves)."""
    model = SimulatedModel(eps=0.15, rho=0.9)
    items = build_items("graph_connectivity", "train", depths=[1, 4, 8], n=1000)
    budget = 640
    pairs = [("beam@4:2:prm=oracle", "weighted_best_of@4:prm=oracle"),
             ("beam@4:2:prm=noisy:0.6,0.4", "weighted_best_of@4:prm=noisy:0.6,0.4")]
    outs = [_run(name, it, budget, model)[0] for pair in pairs for name in pair for it in items]
    assert max(o["generated_tokens"] for o in outs) <= budget
    (oa, ob), (na, nb) = pairs
    rows, bp = compare_strategies(outs, oa, ob, budget=budget, chance=0.5, margin=0.05, alpha=0.05)
    v = {r["depth"]: r for r in rows}
    assert [v[d]["verdict"] for d in (1, 4, 8)] == ["equivalent", "a_better", "a_better"], rows
    assert v[1]["diff"] < v[4]["diff"] < v[8]["diff"]
    assert bp["status"] == "located" and bp["breakpoint_depth"] == 4
    rows_n, bp_n = compare_strategies(outs, na, nb, budget=budget, chance=0.5, margin=0.05, alpha=0.05)
    assert [r["verdict"] for r in rows_n] == ["equivalent"] * 3, rows_n
    assert bp_n["status"] != "located"


# ------------------------------------------------------------------ the env PRM (gold-free)
@pytest.mark.parametrize("task", ["graph_connectivity", "multihop_arithmetic", "grid_planning"])
def test_env_prm_judges_simulated_chains_like_the_oracle(task):
    """The task's own step checks (gold-free) agree with the gold trace on the simulated reasoner's
    chains, whose wrong steps are corruptions of gold steps."""
    from depthbench.baselines._stepwise import chain_text as ct
    from depthbench.baselines.strategies._search import PRM, prm_free_score

    items = build_items(task, "dev", depths=[3], n=4)
    agree = total = 0
    for it in items:
        out, ctx = _run("beam@4:2:prm=env", it, 1200, SimulatedModel(eps=0.2), seed=2)
        by_key = {r["key"]: r for r in ctx.records}
        for r in ctx.records:
            chain = ct(r["key"], by_key)
            e = prm_free_score(PRM("env"), it, r, chain)
            o = prm_free_score(PRM("oracle"), it, r, chain)
            agree += e == o
            total += 1
        assert out["generated_tokens"] <= 1200
    assert total >= 8 and agree >= 0.9 * total, (agree, total)


def test_oracle_prm_judges_simulated_grid_chains_right():
    """Grid plans written one step per stage (``door_a:RRDD``): the oracle PRM calls every chain
    the error-free reasoner writes right, and a chain with a corrupted stage step wrong from that
    step on (the family's trace rules accept a step covering several gold subgoals)."""
    from depthbench.baselines._stepwise import chain_text as ct
    from depthbench.baselines._stepwise import STEP_ROLE
    from depthbench.baselines.strategies._search import PRM, prm_free_score

    items = build_items("grid_planning", "dev", depths=[1, 3], n=3)
    n_right = 0
    for it in items:
        out, ctx = _run("beam@4:2:prm=oracle", it, 1500, SimulatedModel(eps=0.0), seed=0)
        assert out["correct"]
        by_key = {r["key"]: r for r in ctx.records}
        for r in ctx.records:
            if r.get("role") != STEP_ROLE:
                continue
            assert prm_free_score(PRM("oracle"), it, r, ct(r["key"], by_key)) == 1.0, ct(r["key"], by_key)
            n_right += 1
        # a corrupted stage step, read from the text as the PRM reads it
        steps = stated_steps(it, ct(max(by_key, key=lambda k: len(ct(k, by_key))), by_key))
        assert len(steps) == it["depth"] and trace_first_error(it, steps) is None
        for k in range(len(steps)):
            m = steps[k]["moves"]
            bad = {**steps[k], "moves": m[:-1] + "UDLR"[("UDLR".index(m[-1]) + 1) % 4]}
            assert trace_first_error(it, steps[:k] + [bad] + steps[k + 1:]) == k
    assert n_right >= 6


def test_env_prm_runs_on_a_hidden_split(tmp_path):
    folder, _, _ = H.make_hidden_release(tmp_path / "h", depths=(1, 2), n=1)
    run = tmp_path / "run"
    assert main(["eval", "--data", str(folder / "public"), "--split", "hidden", "--model", "simulated",
                 "--strategy", "beam@4:2:prm=env", "--budget", "256", "--out", str(run), "--no-progress"]) == 0
    outcomes = H.read_outcomes(run)
    assert len(outcomes) == 2 and all(o["meta"]["prm"] == "env" and o["meta"]["upper_bound"] is False
                                      for o in outcomes)


# ------------------------------------------------------------------ replay of a step-wise search
def test_a_recorded_search_replays_to_the_same_calls_and_outcomes(tmp_path):
    """Step calls served by the replay backend from step records (role 'step', sample, round): the
    same search re-made on the recorded texts asks for the same keys and reaches the same outcomes."""
    ds, run, again = tmp_path / "ds", tmp_path / "run", tmp_path / "again"
    assert main(["generate", H.TASK, "--depths", "2,4", "--n", "2", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    common = ["eval", "--data", str(ds), "--strategy", "beam@4:2:prm=oracle,mcts@4:c=1.4:prm=env", "--budget", "300",
              "--seed", "9", "--no-progress"]
    assert main(common + ["--model", "simulated:eps=0.2", "--out", str(run)]) == 0
    from depthbench.analysis import load_run_items, load_run_json
    from depthbench.baselines._calllog import read_calls

    items = load_run_items(load_run_json(run))[0]
    calls = [rec for _, rec in read_calls(run / "calls.jsonl", items)]
    rows, seen = [], set()
    for c in calls:
        # one record per (item, sample, round): the two strategies' steps go to two files
        if c["strategy"].startswith("beam"):
            rows.append({"item_id": c["item_id"], "role": "step", "sample": c["sample"], "round": c["round"],
                         "text": c["text"], "finish_reason": c["finish_reason"],
                         "completion_tokens": c["usage"]["completion_tokens"]})
            seen.add((c["item_id"], c["sample"], c["round"]))
    assert len(seen) == len(rows)
    replay = tmp_path / "steps.jsonl"
    replay.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", "--data", str(ds), "--strategy", "beam@4:2:prm=oracle", "--budget", "300", "--seed", "9",
                 "--no-progress", "--model", f"replay:{replay}", "--out", str(again)]) == 0
    first = {o["item_id"]: o for o in H.read_outcomes(run) if o["strategy"].startswith("beam")}
    second = {o["item_id"]: o for o in H.read_outcomes(again)}
    assert first.keys() == second.keys()
    for k in first:
        assert (second[k]["final_answer"], second[k]["credit"], second[k]["calls"]) == (
            first[k]["final_answer"], first[k]["credit"], first[k]["calls"])
        assert second[k]["generated_tokens"] == first[k]["generated_tokens"]


def test_replay_without_steps_refuses_a_search_before_the_run(tmp_path, capsys):
    ds = tmp_path / "ds"
    assert main(["generate", H.TASK, "--depths", "2", "--n", "1", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    items = [json.loads(x) for x in (ds / "test.jsonl").read_text().splitlines()]
    f = tmp_path / "answers.jsonl"
    f.write_text(json.dumps({"item_id": items[0]["id"], "text": "Answer: 3"}) + "\n")
    assert main(["eval", "--data", str(ds), "--strategy", "beam@4:2:prm=oracle", "--budget", "300", "--no-progress",
                 "--model", f"replay:{f}", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "step-wise search needs" in err and "role 'step'" in err


def test_a_second_model_prm_through_the_runner_is_logged_and_its_submission_validates(tmp_path):
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert main(["generate", H.TASK, "--depths", "2", "--n", "2", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    assert main(["eval", "--data", str(ds), "--model", "simulated:eps=0.1", "--strategy",
                 "beam@2:1:prm=model:simulated:eps=0.4", "--budget", "300", "--out", str(run), "--no-progress"]) == 0
    from depthbench.analysis import load_run_items, load_run_json
    from depthbench.baselines._calllog import read_calls

    items = load_run_items(load_run_json(run))[0]
    calls = [rec for _, rec in read_calls(run / "calls.jsonl", items)]
    judged = [c for c in calls if c["role"] == "prm"]
    assert judged and {c["model"] for c in judged} == {"simulated:eps=0.4,tokens_per_step=12,spread=3,drift=0,rho=0"}
    assert {c["model"] for c in calls if c["role"] == "step"} == {"simulated:eps=0.1,tokens_per_step=12,spread=3,drift=0,rho=0"}
    for o in H.read_outcomes(run):
        assert o["meta"]["prm_model"].startswith("simulated:eps=0.4")
        assert o["generated_tokens"] <= 300
    sub = tmp_path / "s.json.gz"
    assert main(["submission", "pack", str(run), "--out", str(sub), "--submitter", "ci"]) == 0
    rep = validate_submission(sub, releases=ds)
    assert rep.problems == [] and rep.ok


# ------------------------------------------------------------------ the noisy PRM: persistent per chain
def test_noisy_prm_rates_hold_over_chains():
    """Over independent chains (one first step each), the noisy PRM scores a right chain 1 with
    probability TPR and a wrong one with FPR: observed rates within 3 standard errors."""
    from depthbench.baselines.strategies._search import PRM, _oracle_ok, prm_free_score

    items = build_items("graph_connectivity", "train", depths=[2, 6], n=60)
    prm = PRM("noisy", 0.7, 0.2)
    right, wrong = [], []
    for it in items:
        _, ctx = _run("weighted_best_of@4:prm=oracle", it, 640, SimulatedModel(eps=0.15))
        for c in ctx.records:
            ok = _oracle_ok(it, c["text"], c.get("extracted") is not None, c.get("extracted"))
            (right if ok else wrong).append(prm_free_score(prm, it, c, c["text"], run_seed=3))
    for got, p in ((right, 0.7), (wrong, 0.2)):
        n = len(got)
        assert n >= 100 and abs(sum(got) / n - p) <= 3 * (p * (1 - p) / n) ** 0.5, (p, sum(got) / n, n)


def test_noisy_prm_is_a_function_of_the_text_and_its_error_persists_along_a_chain():
    """The same text gets the same score whatever record carries it; every prefix of a chain
    shares one draw, so a right chain's prefixes all score alike, and the run seed changes it."""
    from depthbench.baselines.strategies._search import PRM, _oracle_ok, noisy_prm_draw, prm_free_score

    items = build_items("graph_connectivity", "train", depths=[6], n=20)
    prm = PRM("noisy", 0.6, 0.4)
    n_chains = 0
    draws = set()
    for it in items:
        out, ctx = _run("beam@4:2:prm=noisy:0.6,0.4", it, 640, SimulatedModel(eps=0.15))
        by_key = {r["key"]: r for r in ctx.records}
        for r in ctx.records:
            chain = chain_text(r["key"], by_key)
            u = noisy_prm_draw(it, chain)
            # a fresh record (another key) with the same text: the same score
            twin = {**r, "key": "another|key"}
            assert prm_free_score(prm, it, twin, chain) == prm_free_score(prm, it, r, chain)
            # every ancestor shares the draw
            p = r
            while p.get("parent"):
                p = by_key[p["parent"]]
                assert noisy_prm_draw(it, chain_text(p["key"], by_key)) == u
            draws.add(u)
            ok = _oracle_ok(it, chain, r.get("extracted") is not None, r.get("extracted"))
            assert prm_free_score(prm, it, r, chain) == float(u < (0.6 if ok else 0.4))
            n_chains += 1
        assert noisy_prm_draw(it, chain, run_seed=1) != noisy_prm_draw(it, chain, run_seed=0)
    assert n_chains > 100 and len(draws) >= 2 * len(items)  # 4 first steps per item, some of the same text


def test_weighted_best_of_is_beams_like_for_like_baseline():
    """weighted_best_of@N:prm=P sends the step prompt, scores whole chains with the same PRM and
    reduces by weighted best-of-N; at depth 1 (every chain finishes at its first step) beam@N:W
    makes the same decision from the same kind of chains."""
    from depthbench.baselines._stepwise import step_messages

    s = parse("weighted_best_of@4:prm=noisy:0.6,0.4")
    assert (s.name, s.kind, s.needs_gold) == ("weighted_best_of@4:prm=noisy:0.6,0.4", "parallel", True)
    assert parse("weighted_best_of@4").name == "weighted_best_of@4:prm=env"
    it = build_items("graph_connectivity", "train", depths=[3], n=1)[0]
    out, ctx = _run("weighted_best_of@4:prm=oracle", it, 640, SimulatedModel(eps=0.3))
    assert [r["request"]["messages"] for r in ctx.records][0] == step_messages(it)
    assert len(ctx.records) == 4 and out["generated_tokens"] <= 640
    # the scores are the oracle PRM's verdicts on the whole chains, summed per answer
    from depthbench.baselines.strategies._search import _oracle_ok

    want = [float(_oracle_ok(it, r["text"], True, r["extracted"])) for r in ctx.records]
    assert out["meta"]["scores"] == want and 0 < sum(want) < 4
    votes: dict = {}
    for r, w in zip(ctx.records, want):
        votes[r["extracted"]] = votes.get(r["extracted"], 0.0) + w
    assert out["meta"]["votes"] == votes and out["correct"] == (max(votes, key=votes.get) == it["answer"])
    # a judged PRM pays its calls from the chains' shares
    out, ctx = _run("weighted_best_of@4:prm=self", it, 640, SimulatedModel(eps=0.3))
    assert [r["role"] for r in ctx.records].count("prm") == 4 and out["generated_tokens"] <= 640
    assert out["meta"]["prm_tokens"] > 0
