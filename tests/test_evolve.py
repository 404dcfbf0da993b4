"""``evolve`` (Mind Evolution) and ``revision_feedback`` (Sequential-Revision+) with the task's own feedback.

The regime test (issue 13, 7b) is judged by the suite's own verdicts (``compare_strategies`` /
``summarize_comparison``); the simulated reasoner's critic/author mode is checked against its closed
forms; budgets, re-scoring, submissions, bad names and the CLI as a user runs them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from depthbench.baselines import Request, load_model
from depthbench.baselines._feedback import AUTHOR_INSTRUCTION, CRITIC_INSTRUCTION, candidates_text, feedback_request
from depthbench.baselines._simulated_theory import (
    feedback_thread_success,
    revision_correct_probability,
    revision_feedback_accuracy,
)
from depthbench.baselines.strategies import parse
from depthbench.baselines.strategies.evolve import boltzmann_pick
from depthbench.cli import main
from depthbench.scorers import compare_strategies, env_feedback, summarize_comparison, verify
from depthbench.tasks import build_items

EVOLVE, REVISION, BEST_OF = "evolve@6", "revision_feedback@4:6", "best_of@24:self"


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------ 7b: the regime test


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """Grid planning at depths 3 and 5 on a weak simulated reasoner (eps 0.7 per step), 40 items per
    depth, the three strategies at one budget (24 candidate turns of 128 tokens each)."""
    root = tmp_path_factory.mktemp("evolve")
    ds, run = root / "ds", root / "run"
    assert main(["generate", "grid_planning", "--depths", "3,5", "--n", "40", "--out", str(ds), "--quiet"]) == 0
    assert main(["eval", "--data", str(ds), "--model", "simulated:eps=0.7", "--strategy", f"{EVOLVE},{REVISION},{BEST_OF}",
                 "--budget", "3072", "--out", str(run), "--no-progress"]) == 0
    return run


def _verdicts(outcomes, a, b):
    rows, _ = compare_strategies(outcomes, a, b, budget=3072, n_boot=200)
    return {r["depth"]: r["verdict"] for r in rows}, summarize_comparison(rows)


def test_evolve_beats_best_of_self_and_revision_feedback_at_depth_3_and_up(grid_run):
    outcomes = _read(grid_run / "outcomes.jsonl")
    acc = {}
    for o in outcomes:
        acc.setdefault((o["strategy"], o["depth"]), []).append(o["credit"])
    acc = {k: sum(v) / len(v) for k, v in acc.items()}
    by_depth, summary = _verdicts(outcomes, EVOLVE, BEST_OF)
    assert by_depth == {3: "a_better", 5: "a_better"}, acc
    assert summary["status"] == "different_from_first" and summary["direction"] == "a_better"
    by_depth, summary = _verdicts(outcomes, EVOLVE, REVISION)
    assert by_depth[5] == "a_better" and by_depth[3] in ("a_better", "inconclusive"), acc
    assert acc[(EVOLVE, 3)] >= acc[(REVISION, 3)] and acc[(EVOLVE, 5)] - acc[(REVISION, 5)] >= 0.15, acc


def test_every_call_counts_and_the_budget_holds(grid_run):
    from depthbench.baselines._calllog import read_calls
    from depthbench.tasks import load_dataset
    items = {it["id"]: it for it in load_dataset(grid_run.parent / "ds")[0]}
    calls = [rec for _, rec in read_calls(grid_run / "calls.jsonl", items)]
    by_unit = {}
    for c in calls:
        by_unit.setdefault((c["item_id"], c["strategy"]), []).append(c)
    roles = Counter(c["role"] for c in calls if c["strategy"] == EVOLVE)
    assert roles["critic"] > 0 and roles["revise"] == roles["critic"] and roles["answer"] > 0
    for o in _read(grid_run / "outcomes.jsonl"):
        unit = by_unit[(o["item_id"], o["strategy"])]
        g = sum(c["usage"]["completion_tokens"] for c in unit)
        p = sum(c["usage"]["prompt_tokens"] + c["usage"]["completion_tokens"] for c in unit)
        assert (o["generated_tokens"], o["processed_tokens"]) == (g, p) and g <= 3072
        assert sorted(o["calls"]) == sorted(c["key"] for c in unit)
        if o["strategy"] != BEST_OF:
            caps = parse(o["strategy"]).call_shape(3072)
            for c in unit:
                slot = caps(c["role"], c["sample"], c["round"])
                assert slot is not None and c["usage"]["completion_tokens"] <= slot.cap == c["request"]["max_tokens"]
            # it stops at an accepted candidate, and only there
            accepted = [c for c in unit if c["role"] in ("answer", "revise")
                        and env_feedback(items[o["item_id"]], c["text"]).solved]
            assert bool(accepted) == o["meta"]["solved"] == bool(o["meta"]["accepted"])
            assert o["correct"] == bool(accepted)  # the checker accepts exactly the right plans


def _only(sub, strategies):
    """A packed submission (object or file) cut to some of its strategies."""
    if not isinstance(sub, dict):
        import gzip
        sub = json.loads(gzip.decompress(Path(sub).read_bytes()))
    sub["predictions"] = [p for p in sub["predictions"] if p["strategy"] in strategies]
    sub["metadata"]["strategies"] = [s for s in sub["metadata"]["strategies"] if s in strategies]
    return sub


def test_score_rescoring_and_submission_validate(grid_run, tmp_path, capsys):
    assert main(["score", str(grid_run)]) == 0
    out = capsys.readouterr().out
    assert "0 outcome(s) differ from outcomes.jsonl" in out
    sub = tmp_path / "s.json.gz"
    assert main(["submission", "pack", str(grid_run), "--out", str(sub), "--submitter", "ci"]) == 0
    from depthbench.leaderboard import validate_submission, write_submission
    sub = write_submission(_only(sub, (EVOLVE, REVISION)), tmp_path / "two.json.gz")  # best_of's 48 calls/item: slow
    rep = validate_submission(sub, releases=grid_run.parent / "ds")
    assert rep.problems == [] and rep.ok, rep.problems[:5]
    assert rep.token_check == "recounted (simulated word rule)"
    logged = {(o["item_id"], o["strategy"]): o["credit"] for o in _read(grid_run / "outcomes.jsonl")
              if o["strategy"] != BEST_OF}
    assert {(o["item_id"], o["strategy"]): o["credit"] for o in rep.outcomes} == logged


def test_the_validator_refuses_a_call_over_its_cap(grid_run, tmp_path):
    from depthbench.leaderboard import pack_run, validate_submission, write_submission
    sub = _only(pack_run(grid_run, submitter="ci"), (EVOLVE,))
    pred = next(p for p in sub["predictions"] if p["strategy"] == EVOLVE and any(c["role"] == "critic" for c in p["calls"]))
    critic = next(c for c in pred["calls"] if c["role"] == "critic")
    critic["text"] += " so" * 40
    critic["generated_tokens"] += 40
    critic["processed_tokens"] += 40
    rep = validate_submission(write_submission(sub, tmp_path / "bad.json.gz"), releases=grid_run.parent / "ds")
    assert any("over the 32 that evolve@6 gives such a call" in p for p in rep.problems), rep.problems[:3]


# ------------------------------------------------------------------ C: the simulated critic and author


def _grid_item(depth=4):
    return build_items("grid_planning", "dev", depths=[depth], n=1)[0]


def _chain(item, eps, seed, max_tokens=4096):
    m = load_model(f"simulated:eps={eps}")
    r = m.generate_sync(Request(max_tokens=max_tokens, temperature=1.0, top_p=1.0, seeds=(seed,),
                                messages=[{"role": "user", "content": item["prompt"]}], item=item))
    return r.choices[0].text


def _critic_author(item, text, eps, seeds, rho=0.0):
    """The simulated critic on one candidate, then the author, for each seed."""
    m = load_model(f"simulated:eps={eps},rho={rho}")
    fb = env_feedback(item, text)
    msgs = [{"role": "user", "content": item["prompt"]}, {"role": "assistant", "content": text},
            {"role": "user", "content": feedback_request(fb.feedback)}]
    crit = m.generate_sync(Request(max_tokens=64, temperature=1.0, top_p=1.0, seeds=(1,), messages=msgs, item=item))
    msgs = msgs + [{"role": "assistant", "content": crit.choices[0].text}, {"role": "user", "content": AUTHOR_INSTRUCTION}]
    auth = m.generate_sync(Request(max_tokens=4096, temperature=1.0, top_p=1.0, seeds=tuple(seeds), n=len(seeds),
                                   messages=msgs, item=item))
    return fb, crit.choices[0].text, [c.text for c in auth.choices]


def _steps(text):
    return [line.split()[2] for line in text.splitlines() if line.startswith("Step ")]


def test_critic_names_the_kept_prefix_and_author_keeps_it_and_resamples_from_there():
    item = _grid_item(4)
    wrong = next(t for s in range(200) if not env_feedback(item, t := _chain(item, 0.3, s)).solved
                 and env_feedback(item, t).first_error >= 1)
    fb, crit, revised = _critic_author(item, wrong, 0.3, range(1500))
    k = fb.first_error
    assert crit.startswith(f"Critique: keep {k} step")
    for r in revised[:50]:
        assert _steps(r)[:k] == _steps(wrong)[:k]
    right = np.mean([verify(item, env_feedback(item, r).answer or "") for r in revised])
    want = revision_correct_probability(4, k, 4096, eps=0.3, chance=0.0)
    assert abs(right - want) < 4 * np.sqrt(want * (1 - want) / len(revised)), (right, want)
    # an ordinary fresh chain is right with (1 - eps)**d: the revision is better because it keeps k steps
    assert want > (1 - 0.3) ** 4


def test_a_collapsed_reasoner_ignores_feedback():
    """rho = 1: every sample, and every revision, is the item's one shared chain."""
    item = _grid_item(4)
    m = load_model("simulated:eps=0.3,rho=1")
    fresh = m.generate_sync(Request(max_tokens=4096, temperature=1.0, top_p=1.0, seeds=(5,),
                                    messages=[{"role": "user", "content": item["prompt"]}], item=item)).choices[0].text
    _, _, revised = _critic_author(item, fresh, 0.3, range(20), rho=1.0)
    assert set(revised) == {fresh}


@pytest.mark.parametrize("threads,turns", [(1, 3), (2, 3)])
def test_revision_feedback_on_the_simulated_reasoner_matches_its_closed_form(tmp_path, threads, turns):
    """Arithmetic at depth 4, eps 0.4: the run's accuracy against revision_feedback_accuracy (exact
    feedback, caps large enough for every chain)."""
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert main(["generate", "multihop_arithmetic", "--depths", "4", "--n", "150", "--out", str(ds), "--quiet"]) == 0
    name = f"revision_feedback@{threads}:{turns}"
    assert main(["eval", "--data", str(ds), "--model", "simulated:eps=0.4", "--strategy", name,
                 "--budget", str(threads * turns * 128), "--out", str(run), "--no-progress"]) == 0
    acc = np.mean([o["credit"] for o in _read(run / "outcomes.jsonl")])
    want = revision_feedback_accuracy(4, threads, turns, eps=0.4)
    assert abs(acc - want) < 4 * np.sqrt(want * (1 - want) / 150), (acc, want)


def test_closed_forms():
    # a thread of one candidate is a fresh chain; with rho = 1 nothing beyond the shared chain
    assert feedback_thread_success(5, 1, eps=0.2) == pytest.approx(0.8 ** 5)
    assert revision_feedback_accuracy(5, 8, 8, eps=0.2, rho=1.0) == pytest.approx(0.8 ** 5)
    # more turns and more threads help, and feedback beats independent samples at equal candidates
    a = [revision_feedback_accuracy(5, 2, r, eps=0.4) for r in (2, 4, 8)]
    assert a[0] < a[1] < a[2]
    assert revision_feedback_accuracy(5, 2, 4, eps=0.4) > 1 - (1 - 0.6 ** 5) ** 8
    # Monte Carlo of the Markov chain itself
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(20000):
        kept, ok = 0, False
        for _t in range(3):
            m = 0
            while kept + m < 5 and rng.random() > 0.4:
                m += 1
            kept += m
            if kept == 5:
                ok = True
                break
        hits += ok
    assert hits / 20000 == pytest.approx(feedback_thread_success(5, 3, eps=0.4), abs=0.015)


def test_boltzmann_pick_prefers_the_fit_and_draws_distinct_parents():
    rng = np.random.default_rng(0)
    picks = Counter(boltzmann_pick([0.0, 1.0, 3.0], 1, rng)[0] for _ in range(6000))
    w = np.exp([0.0, 1.0, 3.0])
    for j in range(3):
        assert picks[j] / 6000 == pytest.approx(w[j] / w.sum(), abs=0.02)
    assert sorted(boltzmann_pick([5.0, 5.0], 2, rng)) == [0, 1]
    assert boltzmann_pick([1.0], 3, rng) == [0]


# ------------------------------------------------------------------ F: names, bad input, the CLI


@pytest.mark.parametrize("name,canonical,kind,min_budget", [
    ("evolve", "evolve@6", "search", 1536),
    ("evolve@3:turns=2:islands=4", "evolve@3:islands=4:turns=2", "search", 3072),
    ("evolve@2:reset=0:migrate=0", "evolve@2:reset=0:migrate=0", "search", 512),
    ("revision_feedback@4:6", "revision_feedback@4:6", "sequential", 1536),
])
def test_names(name, canonical, kind, min_budget):
    s = parse(name)
    assert (s.name, s.kind, s.min_budget(), parse(s.name) == s, s.needs_gold) == (canonical, kind, min_budget, True, False)


@pytest.mark.parametrize("name,message", [
    ("evolve@0", "G (generations) must be an integer >= 1 (the smallest valid value is 1)"),
    ("evolve@3:islands=0", "islands must be an integer >= 1 (the smallest valid value is 1)"),
    ("evolve@3:convs=0", "convs must be an integer >= 1 (the smallest valid value is 1)"),
    ("evolve@3:turns=two", "turns must be an integer >= 1 (the smallest valid value is 1)"),
    ("evolve@3:reset=-1", "reset must be an integer >= 0 (the smallest valid value is 0)"),
    ("evolve@3:size=4", "takes options islands=N, convs=N, turns=N, reset=N, migrate=N"),
    ("evolve@3:turns=2:turns=3", "gives turns twice"),
    ("evolve@2:migrate=99", "migrate=99, not below an island's population of 2 candidates (convs x turns) after a "
                            "generation; the largest valid value is migrate=1"),
    ("evolve@2:convs=3:turns=2:migrate=6", "the largest valid value is migrate=5"),
    ("evolve@2:convs=1:migrate=1", "the largest valid value is migrate=0"),
    ("revision_feedback@0:4", "K (threads) must be an integer >= 1 (the smallest valid value is 1)"),
    ("revision_feedback@4:1", "R (candidates per thread) must be an integer >= 2 (the smallest valid value is 2)"),
    ("revision_feedback@4", "needs revision_feedback@K:R"),
])
def test_bad_names_are_one_line_errors_exit_2(tmp_path, capsys, name, message):
    out = tmp_path / "run"
    code = main(["eval", "--task", "grid_planning", "--split", "dev", "--model", "simulated", "--strategy", name,
                 "--budget", "4096", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and not out.exists(), err


def test_too_small_a_budget_names_the_minimum(tmp_path, capsys):
    code = main(["eval", "--task", "grid_planning", "--split", "dev", "--model", "simulated", "--strategy", "evolve",
                 "--budget", "1000", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "1536" in err and "evolve@6" in err and len(err.splitlines()) == 1, err


def test_strategies_lists_both(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "evolve@G[:islands=I][:convs=C][:turns=T][:reset=K][:migrate=M]" in out
    assert "revision_feedback@K:R" in out


def test_replay_refuses_them_before_the_run(tmp_path, capsys):
    rp = tmp_path / "r.jsonl"
    it = build_items("grid_planning", "dev", n=1)[0]
    rp.write_text(json.dumps({"item_id": it["id"], "text": "Answer: U"}) + "\n")
    code = main(["eval", "--task", "grid_planning", "--split", "dev", "--limit", "1", "--model", f"replay:{rp}",
                 "--strategy", "evolve", "--budget", "2048", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "evolve@6" in err and not (tmp_path / "run").exists(), err


def test_the_critic_of_several_parents_builds_on_the_one_with_most_steps_right():
    item = _grid_item(5)
    texts = {}
    for s in range(400):
        t = _chain(item, 0.35, s)
        fb = env_feedback(item, t)
        if not fb.solved and fb.first_error is not None:
            texts.setdefault(fb.first_error, t)
        if len(texts) >= 3:
            break
    ks = sorted(texts)[:3]
    shown = [(texts[k], env_feedback(item, texts[k]).feedback) for k in (ks[1], ks[2], ks[0])]
    m = load_model("simulated:eps=0.35")
    msgs = [{"role": "user", "content": item["prompt"] + "\n\n" + candidates_text(shown) + "\n\n" + CRITIC_INSTRUCTION}]
    crit = m.generate_sync(Request(max_tokens=64, temperature=1.0, top_p=1.0, seeds=(2,), messages=msgs, item=item))
    assert crit.choices[0].text.startswith(f"Critique: keep {ks[2]} step") and f"of solution 2 " in crit.choices[0].text
    msgs += [{"role": "assistant", "content": crit.choices[0].text}, {"role": "user", "content": AUTHOR_INSTRUCTION}]
    auth = m.generate_sync(Request(max_tokens=4096, temperature=1.0, top_p=1.0, seeds=(3,), messages=msgs, item=item))
    assert _steps(auth.choices[0].text)[:ks[2]] == _steps(texts[ks[2]])[:ks[2]]


def test_runs_on_a_hidden_splits_prompts(tmp_path):
    """Gold-free: evolve and revision_feedback run on prompts without answers (gold-dependent strategies
    are refused there), and what the checker accepted on the prompts is right against the private answers."""
    secret = tmp_path / "secret"
    secret.write_text("s3cret-for-the-test")
    h = tmp_path / "h"
    assert main(["generate", "grid_planning", "--split", "hidden", "--secret-seed-file", str(secret), "--depths", "2",
                 "--n", "3", "--out", str(h), "--quiet"]) == 0
    run = tmp_path / "run"
    assert main(["eval", "--data", str(h / "public"), "--split", "hidden", "--model", "simulated:eps=0.3", "--strategy",
                 "evolve@2:islands=1,revision_feedback@2:2", "--budget", "512", "--out", str(run), "--no-progress"]) == 0
    outcomes = _read(run / "outcomes.jsonl")
    assert len(outcomes) == 6 and all("solved" in o["meta"] for o in outcomes)
    assert any(o["meta"]["solved"] for o in outcomes)
    from depthbench.tasks import load_dataset
    private = {it["id"]: it for it in load_dataset(h / "private", split="hidden")[0]}
    for o in outcomes:  # accepted on the prompt alone <=> right against the private answers
        assert o["meta"]["solved"] == (o["final_answer"] is not None and verify(private[o["item_id"]], o["final_answer"]))


def test_same_command_same_bytes_and_a_crashed_run_resumes_without_duplicates(tmp_path):
    argv = ["eval", "--task", "grid_planning", "--split", "dev", "--limit", "8", "--model", "simulated:eps=0.5",
            "--strategy", "evolve@4,revision_feedback@2:4", "--budget", "2048", "--no-progress", "--out"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(argv + [str(a)]) == 0 and main(argv + [str(b)]) == 0
    assert (a / "outcomes.jsonl").read_bytes() == (b / "outcomes.jsonl").read_bytes()
    calls = (b / "calls.jsonl").read_text().splitlines(keepends=True)
    (b / "calls.jsonl").write_text("".join(calls[:len(calls) * 6 // 10]))  # the crash: a tail of the log lost
    outs = (b / "outcomes.jsonl").read_text().splitlines(keepends=True)
    (b / "outcomes.jsonl").write_text("".join(outs[:len(outs) // 3]))
    assert main(argv + [str(b)]) == 0
    assert sorted((a / "outcomes.jsonl").read_text().splitlines()) == sorted((b / "outcomes.jsonl").read_text().splitlines())
    assert len((b / "calls.jsonl").read_text().splitlines()) == len(calls)
