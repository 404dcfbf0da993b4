"""Calls and sampled responses per outcome, ``analyze --match``, and the diversity diagnostics.

Counts come from the call records only (``baselines._counts``); the diversity statistics and the
collapse flag are ``scorers._diversity``; the flag's calibration table is
``benchmarks/diversity_calibration.py`` (BENCHMARKS.md), whose worst cells are re-run here.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from depthbench.analysis import analyze_run, load_results, score_run
from depthbench.baselines._counts import call_counts, response_leaves
from depthbench.baselines._simulated_theory import simulate_batch
from depthbench.cli import main
from depthbench.scorers import (
    COLLAPSE_COVERAGE,
    COLLAPSE_ENTROPY_BITS,
    answer_entropy,
    collapse_flag,
    compare_strategies,
    diversity_rows,
    sample_diversity,
)

# ----------------------------------------------------------------------------- per item

DIVERSITY_CASES = [
    # id, answers, correct, distinct, entropy, abstain, modal, pass, maj
    ("unanimous_right", ["7"] * 4, [True] * 4, 1, 0.0, 0.0, 1.0, 1, 1.0),
    ("unanimous_wrong", ["3"] * 4, [False] * 4, 1, 0.0, 0.0, 1.0, 0, 0.0),
    ("even_split", ["7", "3", "7", "3"], [True, False, True, False], 2, 1.0, 0.0, 0.5, 1, 0.5),
    ("four_ways", ["1", "2", "3", "4"], [False, False, False, True], 4, 2.0, 0.0, 0.25, 1, 0.25),
    ("abstentions_left_out", ["7", None, "7", None], [True, False, True, False], 1, 0.0, 0.5, 0.5, 1, 1.0),
    ("all_abstain", [None, None, None], [False] * 3, 0, 0.0, 1.0, 0.0, 0, 0.0),
    ("minority_right", ["3", "3", "3", "7"], [False, False, False, True], 2, 0.8112781, 0.0, 0.75, 1, 0.0),
    ("integers", [5, 5, 6], [True, True, False], 2, 0.9182958, 0.0, 2 / 3, 1, 1.0),
]


@pytest.mark.parametrize("case", DIVERSITY_CASES, ids=[c[0] for c in DIVERSITY_CASES])
def test_sample_diversity_table(case):
    _, answers, correct, distinct, entropy, abstain, modal, pas, maj = case
    d = sample_diversity(answers, correct)
    assert d["k"] == len(answers)
    assert d["distinct"] == distinct
    assert d["entropy_bits"] == pytest.approx(entropy, abs=1e-6)
    assert d["abstain"] == pytest.approx(abstain)
    assert d["modal_share"] == pytest.approx(modal)
    assert d["pass"] == pas
    assert d["maj"] == pytest.approx(maj)


def test_one_sample_has_no_diversity_and_lengths_must_agree():
    assert sample_diversity(["7"], [True]) is None
    with pytest.raises(ValueError, match="2 answers but 1"):
        sample_diversity(["7", "3"], [True])


def test_entropy_is_the_plug_in_estimate_in_bits():
    rng = np.random.default_rng(3)
    xs = rng.integers(0, 5, size=200).tolist()
    p = np.bincount(xs) / len(xs)
    p = p[p > 0]
    assert answer_entropy(xs) == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert answer_entropy(list(range(16))) == pytest.approx(4.0)


def test_collapse_flag_thresholds_are_inclusive_and_both_needed():
    assert collapse_flag(COLLAPSE_ENTROPY_BITS, COLLAPSE_COVERAGE) is True
    assert collapse_flag(COLLAPSE_ENTROPY_BITS + 0.01, 0.0) is False
    assert collapse_flag(0.0, COLLAPSE_COVERAGE + 0.01) is False


def test_diversity_rows_average_repeats_within_an_item_first():
    def rec(item, answers, correct):
        return {"task": "t", "strategy": "majority@4", "budget": 64, "depth": 2, "item_id": item,
                "diversity": sample_diversity(answers, correct)}
    outs = [rec("a", ["1", "1"], [True, True]), rec("a", ["1", "2"], [True, False]),  # item a twice
            rec("b", ["3", "3"], [False, False]),
            {"task": "t", "strategy": "single", "budget": 64, "depth": 2, "item_id": "a", "diversity": None}]
    [row] = diversity_rows(outs)
    assert row["strategy"] == "majority@4" and row["n"] == 2
    assert row["answer_entropy"] == pytest.approx((0.5 * 1.0 + 0.0) / 2)   # item a: mean of 0 and 1 bit
    assert row["coverage"] == pytest.approx(0.5)
    assert row["majority_accuracy"] == pytest.approx((0.75 + 0.0) / 2)     # a: (1 + 0.5) / 2
    assert row["coverage_gap"] == pytest.approx(0.5 - 0.375)
    assert row["collapsed"] is True  # 0.25 bit, coverage 0.5


# ----------------------------------------------------------------------------- counts

def _r(key, role, parent=None):
    return {"key": key, "role": role, "parent": parent}


COUNT_CASES = [
    ("single", [_r("s0", "answer")], (1, 1, 0)),
    ("majority_native_n_or_fanned", [_r(f"s{i}", "answer") for i in range(8)], (8, 8, 0)),
    ("budget_forcing_chain", [_r("a", "answer"), _r("c1", "continue", "a"), _r("c2", "continue", "c1"),
                              _r("f", "force_answer", "c2")], (4, 1, 0)),
    ("self_judge", [_r("s0", "answer"), _r("j0", "judge", "s0"), _r("s1", "answer"), _r("j1", "judge", "s1")],
     (4, 2, 2)),
    ("revision_rounds_are_new_attempts", [_r("r0", "answer"), _r("r1", "revise", "r0"), _r("r2", "revise", "r1")],
     (3, 3, 0)),
    ("branching_continuations", [_r("a", "answer"), _r("b1", "continue", "a"), _r("b2", "continue", "a"),
                                 _r("b3", "continue", "b1")], (4, 2, 0)),
    ("pilots_count", [_r("p0", "pilot"), _r("p1", "pilot"), _r("x", "answer")], (3, 3, 0)),
    ("unknown_role_is_a_call_only", [_r("s0", "answer"), _r("z", "no_such_role", "s0")], (2, 1, 0)),
]


@pytest.mark.parametrize("case", COUNT_CASES, ids=[c[0] for c in COUNT_CASES])
def test_call_counts_table(case):
    _, recs, (calls, responses, judges) = case
    assert call_counts(recs) == {"n_calls": calls, "n_responses": responses, "n_judge_calls": judges}


def test_a_chain_leaf_is_its_last_call():
    recs = [_r("a", "answer"), _r("c1", "continue", "a"), _r("f", "force_answer", "c1")]
    assert [r["key"] for r in response_leaves(recs)] == ["f"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "div"
    assert main(["eval", "--model", "simulated:eps=0.2,rho=0.5", "--task", "graph_connectivity", "--split", "dev",
                 "--limit", "20", "--strategy", "single,majority@4,budget_forcing,best_of@4:self,revision@3,pass@4",
                 "--budget", "300,600", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture
def run(small_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(small_run, dst)
    return dst


def _outcomes(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_counts_of_todays_strategies_in_outcomes_and_scored(run):
    logged = _outcomes(run / "outcomes.jsonl")
    score_run(run)
    scored = {(o["item_id"], o["strategy"], o["budget"]): o for o in _outcomes(run / "scored.jsonl")}
    calls = [json.loads(x) for x in (run / "calls.jsonl").read_text().splitlines()]
    for o in logged:
        s = scored[(o["item_id"], o["strategy"], o["budget"])]
        assert (s["n_calls"], s["n_responses"], s["n_judge_calls"]) == \
            (o["n_calls"], o["n_responses"], o["n_judge_calls"])
        assert s["n_calls"] == len(o["calls"])
        expect = {"single": (1, 0), "majority@4": (4, 0), "pass@4": (4, 0), "best_of@4:self": (4, 4),
                  "revision@3": (3, 0), "budget_forcing": (1, 0)}[o["strategy"]]
        assert (s["n_responses"], s["n_judge_calls"]) == expect, o["strategy"]
    bf = [s for s in scored.values() if s["strategy"] == "budget_forcing"]
    assert max(s["n_calls"] for s in bf) > 1  # continuations are calls, not responses
    assert len(calls) == sum(s["n_calls"] for s in scored.values())  # every logged call counted once


def test_score_counts_from_the_calls_not_from_a_stated_field(run):
    lines = _outcomes(run / "outcomes.jsonl")
    for o in lines:
        o.update(n_calls=999, n_responses=999, n_judge_calls=999, diversity={"k": 99})
    (run / "outcomes.jsonl").write_text("".join(json.dumps(o) + "\n" for o in lines))
    score_run(run)
    scored = _outcomes(run / "scored.jsonl")
    assert all(s["n_calls"] == len(s["calls"]) for s in scored)
    assert max(s["n_responses"] for s in scored) == 4 and max(s["n_judge_calls"] for s in scored) == 4
    assert all(s["diversity"] is None or s["diversity"]["k"] in (3, 4) for s in scored)


def test_curves_show_calls_and_responses_and_the_table_prints_them(run, capsys):
    assert main(["score", str(run)]) == 0
    assert main(["analyze", str(run), "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert " calls " in out and " resp" in out
    res = load_results(run).results
    by = {(c["strategy"], c["budget"], c["depth"]): c for c in res["curves"]}
    assert by[("best_of@4:self", 300, 1)]["mean_calls"] == 8.0
    assert by[("best_of@4:self", 300, 1)]["mean_responses"] == 4.0
    assert by[("best_of@4:self", 300, 1)]["mean_judge_calls"] == 4.0
    assert by[("single", 600, 2)]["mean_calls"] == 1.0
    cells = {(d["strategy"], d["budget"]) for d in res["diversity"]}
    assert ("majority@4", 300) in cells and ("revision@3", 600) in cells
    assert not any(s in ("single", "budget_forcing") for s, _ in cells)  # one response: no diversity
    assert res["diversity_rule"]["entropy_max_bits"] == COLLAPSE_ENTROPY_BITS


# ----------------------------------------------------------------------------- --match

def test_match_responses_pairs_equal_counts_across_budgets_with_the_same_verdicts(run, capsys):
    score_run(run)
    res = analyze_run(run, n_boot=100, match="responses", err=None)
    m = res["matched"]
    groups = {(b["a"], b["budget_a"], b["b"], b["budget_b"]) for b in m["breakpoints"]}
    # 1 response: single and budget_forcing; 4: majority@4 and best_of@4:self (revision@3 has 3, pass@4 is a bound)
    assert ("budget_forcing", 300, "single", 600) in groups or ("single", 600, "budget_forcing", 300) in groups
    assert ("best_of@4:self", 300, "majority@4", 600) in groups
    assert not any("revision@3" in (g[0], g[2]) or "pass@4" in (g[0], g[2]) for g in groups)
    assert all(r["count_a"] == r["count_b"] for r in m["equivalence"])
    # at equal budgets a matched pair's rows are compare_strategies' own rows for that pair
    recs = _outcomes(run / "scored.jsonl")
    rows, brk = compare_strategies(recs, "best_of@4:self", "majority@4", task="graph_connectivity", budget=300,
                                   n_boot=100)
    mine = [r for r in m["equivalence"] if (r["a"], r["budget_a"], r["b"], r["budget_b"]) ==
            ("best_of@4:self", 300, "majority@4", 300)]
    assert [(r["depth"], r["verdict"], r["p_holm"], r["p_diff_holm"], r["n10"], r["n01"]) for r in mine] == \
        [(r["depth"], r["verdict"], r["p_holm"], r["p_diff_holm"], r["n10"], r["n01"]) for r in rows]
    [mb] = [b for b in m["breakpoints"] if (b["a"], b["budget_a"], b["b"], b["budget_b"]) ==
            ("best_of@4:self", 300, "majority@4", 300)]
    assert (mb["status"], mb["breakpoint_depth"]) == (brk["status"], brk["breakpoint_depth"])
    # the contract holds (validated on write) and survives a reload
    assert load_results(run).results["matched"]["by"] == "responses"


def test_match_tolerance_and_declared_n(run):
    score_run(run)
    res = analyze_run(run, n_boot=100, match="responses", match_tolerance=0.25, match_n=4, err=None)
    names = {r["a"] for r in res["matched"]["breakpoints"]} | {r["b"] for r in res["matched"]["breakpoints"]}
    assert names == {"majority@4", "best_of@4:self", "revision@3"}  # 3 is within 25% of 4


@pytest.mark.parametrize("argv, code, msg", [
    (["--match", "calls", "--match-n", "7"], 1, "--match calls: no two strategies have matched mean calls per item equal to 7"),
    (["--match-tolerance", "0.2"], 2, "--match-tolerance / --match-n: apply to --match calls"),
    (["--match", "calls", "--match-tolerance", "1.5"], 2, "--match-tolerance: must be in [0, 1)"),
    (["--match", "calls", "--match-n", "0"], 2, "--match-n: must be a whole number"),
])
def test_match_errors_are_one_line_and_write_nothing(run, capsys, argv, code, msg):
    assert main(["score", str(run)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(run), *argv]) == code
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (run / "results.json").exists()


def test_match_on_a_log_without_counts_says_to_score(run, capsys):
    lines = _outcomes(run / "outcomes.jsonl")
    for o in lines:
        for k in ("n_calls", "n_responses", "n_judge_calls"):
            o.pop(k)
    (run / "outcomes.jsonl").write_text("".join(json.dumps(o) + "\n" for o in lines))
    assert main(["analyze", str(run), "--match", "calls"]) == 2
    assert "run `depthbench score RUN_DIR` first" in capsys.readouterr().err


# ----------------------------------------------------------------------------- calibration

def _fire_rate(answers, n, eps, rho, *, items=30, runs=100, seed=0):
    codes = simulate_batch(4, 10_000, items * runs, n, eps=eps, rho=rho, n_answers=answers, seed=seed).codes
    fired = 0
    for r in range(runs):
        outs = [{"task": "t", "strategy": "s", "budget": 1, "depth": 4, "item_id": str(i),
                 "diversity": sample_diversity([int(c) for c in row], [c == 0 for c in row])}
                for i, row in enumerate(codes[r * items:(r + 1) * items])]
        fired += bool(diversity_rows(outs)[0]["collapsed"])
    return fired / runs


def test_calibration_worst_cells():
    """The guard-band worst cells of benchmarks/diversity_calibration.py (BENCHMARKS.md, 400 runs there,
    100 here), 30 items a cell. Clearly collapsed (population entropy <= 0.25 bit, coverage <= 0.35):
    binary answers, N = 8, accuracy 0.13, rho = 0.8 fires in 99.3% of cells. Clearly not (entropy >= 0.75
    or coverage >= 0.65): the same model with independent samples (rho = 0; its wrong samples agree on the
    one wrong label, coverage 0.67) fires in 4%; 97 answers, N = 16, accuracy 0.41, rho = 0.9 in 1.8%."""
    assert _fire_rate(2, 8, 0.4, 0.8) >= 0.93
    assert _fire_rate(2, 8, 0.4, 0.0) <= 0.12
    assert _fire_rate(97, 16, 0.2, 0.9) <= 0.10
    assert _fire_rate(2, 8, 0.2, 0.0) == 0.0  # independent samples at accuracy 0.41: covered, never flagged


# ----------------------------------------------------------------------------- 7c: rho drives the flag

@pytest.fixture(scope="module")
def deep_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "gc"
    assert main(["generate", "graph_connectivity", "--depths", "2,8", "--n", "24", "--split", "dev",
                 "--out", str(data)]) == 0
    return data


@pytest.mark.parametrize("rho, fires", [(0.98, True), (0.0, False)])
def test_low_diversity_sampler_makes_the_flag_fire(deep_data, tmp_path, rho, fires):
    """Issue 13, 7c (the flag part): the simulated reasoner with rho near 1 (samples copy one draw)
    collapses onto one answer at depth 8, where one chain is right with probability about 0.8^8 = 0.17:
    the flag fires and majority@8 gains nothing over its own coverage; with independent samples
    (rho = 0) the same model is diverse and covered, and the flag stays down."""
    out = tmp_path / f"rho{rho}"
    assert main(["eval", "--model", f"simulated:eps=0.2,rho={rho}", "--data", str(deep_data), "--split", "dev",
                 "--strategy", "majority@8", "--budget", "1024", "--out", str(out), "--no-progress"]) == 0
    score_run(out)
    res = analyze_run(out, n_boot=100, err=None)
    cells = {d["depth"]: d for d in res["diversity"]}
    deep = cells[8]
    assert deep["n"] == 24 and deep["mean_samples"] == 8
    assert deep["collapsed"] is fires
    if fires:
        assert deep["answer_entropy"] <= 0.25 and deep["coverage"] <= 0.35 and deep["coverage_gap"] <= 0.1
    else:  # wrong chains of a binary task agree (one wrong label), but the samples still cover the answer
        assert deep["coverage"] >= 0.65 and deep["coverage_gap"] >= 0.4 and deep["distinct_answers"] >= 1.5
    assert cells[2]["collapsed"] is False  # shallow: the one answer is mostly right (coverage > 0.5)
    assert not math.isnan(deep["answer_entropy"])


# ----------------------------------------------------------------------------- report and contract

def test_report_shows_the_diversity_figure_and_tables(run, tmp_path, capsys):
    assert main(["score", str(run)]) == 0
    assert main(["analyze", str(run), "--n-boot", "100", "--match", "responses"]) == 0
    out = tmp_path / "rep"
    assert main(["report", str(run), "--out", str(out)]) == 0
    png = out / "figures" / "graph_connectivity-diversity.png"
    assert png.stat().st_size > 10_000
    md = (out / "summary.md").read_text()
    assert "## Diversity of the samples" in md and "| majority@4 | 300 |" in md
    assert "## Comparisons at matched responses" in md and "best_of@4:self @ 300" in md
    html = (out / "report.html").read_text()
    assert 'id="fig-graph_connectivity-diversity"' in html and "Comparisons at matched responses" in html
    first = png.read_bytes()
    assert main(["report", str(run), "--out", str(tmp_path / "rep2")]) == 0
    assert (tmp_path / "rep2" / "figures" / "graph_connectivity-diversity.png").read_bytes() == first
    capsys.readouterr()


@pytest.mark.parametrize("field, value, msg", [
    ("answer_entropy", -0.1, "diversity[0].answer_entropy"),
    ("coverage", 1.5, "diversity[0].coverage"),
    ("collapsed", "yes", "diversity[0].collapsed"),
])
def test_results_contract_checks_diversity_rows(run, field, value, msg):
    score_run(run)
    res = analyze_run(run, n_boot=100, write=False, err=None)
    res["diversity"][0][field] = value
    (run / "results.json").write_text(json.dumps(res))
    with pytest.raises(Exception, match=msg.replace("[", r"\[").replace("]", r"\]")):
        load_results(run)


@pytest.mark.parametrize("module", ["depthbench.scorers._diversity", "depthbench.baselines._counts",
                                    "depthbench.analysis._format"])
def test_docstring_examples(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module))
    assert res.failed == 0 and res.attempted > 0
