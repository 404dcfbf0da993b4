"""Paired comparison: the reference t TOST vs statsmodels, Holm, verdicts, the breakpoint rule, rows."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from scipy import stats as st
from statsmodels.stats.weightstats import ttost_paired

from depthbench.scorers import (
    breakpoint_depth,
    compare_strategies,
    compute_to_target,
    holm,
    paired_test,
    paired_tost,
    power_items,
    score_interval,
    summarize_comparison,
    verdict,
)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("margin", [0.03, 0.05, 0.1])
def test_tost_matches_statsmodels(seed, margin):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    pa, pb = rng.uniform(0.3, 0.9, size=2)
    a = (rng.random(n) < pa).astype(float)
    b = (rng.random(n) < pb).astype(float)
    if seed % 2:  # fractional credits too
        a = a * rng.choice([1.0, 0.5], size=n)
    r = paired_tost(a, b, margin)
    p_sm, lower, upper = ttost_paired(a, b, -margin, margin)
    assert r.p_tost == pytest.approx(p_sm, rel=1e-9, abs=1e-12)
    assert r.p_diff == pytest.approx(st.ttest_rel(a, b).pvalue, rel=1e-9)
    assert r.ci90[0] < r.diff < r.ci90[1]
    # equivalence at one depth <=> the 90% t interval lies inside (-m, m)
    assert (r.p_tost < 0.05) == (-margin < r.ci90[0] and r.ci90[1] < margin)
    assert (r.p_diff < 0.05) == (r.ci95[0] > 0 or r.ci95[1] < 0)


def test_tost_degenerate_cases():
    few = paired_tost([1, 1, 0], [1, 1, 0], 0.05)
    assert few.diff == 0 and few.p_tost > 0.05      # 3 concordant items prove nothing
    many = paired_tost([1, 0] * 150, [1, 0] * 150, 0.05)
    assert many.p_tost < 0.05                        # 300 concordant items do
    one = paired_tost([1], [0], 0.05)
    assert one.p_tost == 1.0 and one.p_diff == 1.0
    with pytest.raises(ValueError, match="margin"):
        paired_tost([1, 0], [1, 0], 0.0)
    with pytest.raises(ValueError, match="same items"):
        paired_tost([1, 0], [1], 0.05)


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    p = np.random.default_rng(seed).random(int(seed) + 3) ** 3
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-12)


def test_holm_ignores_nan():
    out = holm([0.01, float("nan"), 0.02])
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_verdict_rules():
    assert verdict(0.0, 0.01, 1.0, 100) == "equivalent"
    assert verdict(0.01, 0.01, 0.001, 100) == "equivalent"   # significant but inside the margin
    assert verdict(0.0, 0.05, 1.0, 100) == "equivalent"      # exact p-values: p <= alpha rejects
    assert verdict(0.2, 0.9, 0.001, 100) == "a_better"
    assert verdict(-0.2, 0.9, 0.001, 100) == "b_better"
    assert verdict(0.03, 0.2, 0.3, 100) == "inconclusive"
    assert verdict(0.0, float("nan"), float("nan"), 1) == "not_testable"


def _pair_outcomes(acc_a, acc_b, n, seed=0, budget=100, task="t", discord=None):
    """Paired outcomes per depth: acc_a / acc_b dicts depth -> accuracy."""
    rng = np.random.default_rng(seed)
    out = []
    for d in sorted(acc_a):
        u = rng.random(n)
        a = u < acc_a[d]
        b = (u < acc_b[d]) if discord is None else np.where(rng.random(n) < discord, ~a, a)
        for i in range(n):
            for s, ok in (("majority@4", a[i]), ("budget_forcing", b[i])):
                out.append({"item_id": f"{d}-{i}", "task": task, "strategy": s, "budget": budget, "depth": d,
                            "credit": float(ok), "correct": bool(ok), "generated_tokens": budget})
    return out


def test_compare_strategies_finds_breakpoint():
    depths = [1, 2, 4, 8, 16]
    acc_a = {1: 0.95, 2: 0.9, 4: 0.8, 8: 0.5, 16: 0.5}
    acc_b = {1: 0.95, 2: 0.9, 4: 0.8, 8: 0.8, 16: 0.75}
    recs = _pair_outcomes(acc_a, acc_b, 600, seed=3)
    rows, brk = compare_strategies(recs, "majority@4", "budget_forcing", task="t", budget=100, margin=0.05,
                                   n_boot=400, seed=0, words=("parallel better", "sequential better"))
    assert [r["depth"] for r in rows] == depths
    verdicts = {r["depth"]: r["verdict"] for r in rows}
    assert verdicts[1] == verdicts[2] == verdicts[4] == "equivalent"   # shared uniforms: identical below 8
    assert verdicts[8] == verdicts[16] == "b_better"
    assert brk["status"] == "located" and brk["breakpoint_depth"] == 8 == breakpoint_depth(rows)
    assert (brk["bp_lo"], brk["bp_hi"]) == (5, 8) and brk["direction"] == "b_better"
    assert brk["text"] == ("equivalent up to depth 4, sequential better from depth 8 "
                           "(breakpoint: depth 8; the break lies in depths 5-8)")
    for r in rows:
        assert -1 <= r["ci95_lo"] <= r["ci90_lo"] <= r["diff"] <= r["ci90_hi"] <= r["ci95_hi"] <= 1
        assert r["p_holm"] >= r["p_tost"] and r["n"] == 600 and r["unpaired_a"] == r["unpaired_b"] == 0
        assert r["n10"] - r["n01"] == round(r["diff"] * 600)
    again = compare_strategies(recs, "majority@4", "budget_forcing", task="t", budget=100, n_boot=400, seed=0,
                               words=("parallel better", "sequential better"))
    assert again == (rows, brk)


def test_compare_strategies_all_equivalent_has_no_breakpoint():
    acc = {1: 0.9, 2: 0.8}
    recs = _pair_outcomes(acc, acc, 500, seed=1)
    rows, brk = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=300)
    assert all(r["verdict"] == "equivalent" for r in rows)
    assert brk["status"] == "equivalent_throughout" and brk["breakpoint_depth"] is None
    assert brk["bp_lo"] == 3 and brk["bp_hi"] is None   # equivalence ends, if at all, after depth 2


def test_compare_uses_only_paired_items_and_averages_repeats():
    recs = _pair_outcomes({1: 0.5}, {1: 0.5}, 10, seed=2)
    recs = [r for r in recs if not (r["strategy"] == "budget_forcing" and r["item_id"] == "1-0")]
    recs.append({**recs[0], "credit": 1.0 - recs[0]["credit"]})  # a repeat of item 1-0 under majority
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=50)
    assert rows[0]["n"] == 9 and (rows[0]["unpaired_a"], rows[0]["unpaired_b"]) == (1, 0)


def test_compute_to_target():
    recs = []
    for bud, acc_p, acc_s in [(100, 0.2, 0.5), (200, 0.5, 0.7), (400, 0.8, 0.9)]:
        for i in range(10):
            recs.append({"strategy": "p", "budget": bud, "item_id": str(i), "task": "t", "depth": 2,
                         "credit": float(i < acc_p * 10), "generated_tokens": bud})
            recs.append({"strategy": "s", "budget": bud, "item_id": str(i), "task": "t", "depth": 2,
                         "credit": float(i < acc_s * 10), "generated_tokens": bud})
    r = compute_to_target(recs, "p", "s", 0.7)
    assert r["cost_b"] == pytest.approx(200)
    assert r["cost_a"] == pytest.approx(200 + 200 * (0.7 - 0.5) / (0.8 - 0.5))
    assert r["ratio"] == pytest.approx(r["cost_a"] / 200)
    assert compute_to_target(recs, "p", "s", 0.95)["ratio"] is None


def test_items_needed_in_rows_account_for_holm_and_discordance():
    recs = _pair_outcomes({1: 0.7, 2: 0.7, 3: 0.7}, {1: 0.7, 2: 0.7, 3: 0.7}, 200, seed=4, discord=0.2)
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=100)
    for r in rows:
        q = np.ceil((r["n10"] + r["n01"]) / r["n"] * 1000 - 1e-9) / 1000
        assert r["items_needed"] == power_items(q, 0.05, n_tests=3)
        assert r["items_needed"] > power_items(q, 0.05)          # Holm over three depths costs items
        if r["verdict"] == "inconclusive":
            assert r["items_to_decide"] is not None and r["items_to_decide"] > r["n"]
        else:
            assert r["items_to_decide"] is None


def test_compare_with_repeats_rounds_fractional_credit_with_a_seed():
    recs = _pair_outcomes({1: 0.6}, {1: 0.6}, 60, seed=5, discord=0.3)
    rep = [dict(r, credit=1.0 - r["credit"]) for r in recs[::7]]   # second runs of some items
    rows, _ = compare_strategies(recs + rep, "majority@4", "budget_forcing", n_boot=500, seed=1)
    r = rows[0]
    assert r["n"] == 60 and r["rounded"] is True
    assert r["boot95_lo"] <= r["diff"] <= r["boot95_hi"]
    again, _ = compare_strategies(recs + rep, "majority@4", "budget_forcing", n_boot=500, seed=1)
    assert again == rows
    binary, _ = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=50)
    assert binary[0]["rounded"] is False


def test_rows_carry_the_exact_tests_the_verdict_uses():
    depths_acc_a = {1: 0.9, 2: 0.8, 4: 0.6, 8: 0.5}
    depths_acc_b = {1: 0.9, 2: 0.8, 4: 0.8, 8: 0.55}
    recs = _pair_outcomes(depths_acc_a, depths_acc_b, 400, seed=7, discord=None)
    alpha, m = 0.05, 0.05
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", margin=m, n_boot=300, seed=2)
    for r in rows:
        t = paired_test(r["n10"], r["n01"], r["n"], m)
        assert (r["p_tost"], r["p_diff"], r["p_upper"], r["p_lower"]) == (t.p_tost, t.p_diff, t.p_upper, t.p_lower)
        assert (r["ci90_lo"], r["ci90_hi"]) == pytest.approx(score_interval(r["n10"], r["n01"], r["n"], 0.90))
        assert r["boot95_lo"] <= r["boot90_lo"] <= r["boot90_hi"] <= r["boot95_hi"]
    assert [r["p_holm"] for r in rows] == holm([r["p_tost"] for r in rows])
    assert [r["p_diff_holm"] for r in rows] == holm([r["p_diff"] for r in rows])
    for r in rows:
        assert (r["verdict"] == "equivalent") == (r["p_holm"] <= alpha)
        if r["verdict"] in ("a_better", "b_better"):
            assert r["p_diff_holm"] <= alpha and (r["diff"] > 0) == (r["verdict"] == "a_better")


def test_not_testable_rows_and_unpaired_depths():
    recs = _pair_outcomes({1: 0.9, 2: 0.8, 3: 0.7}, {1: 0.9, 2: 0.8, 3: 0.7}, 300, seed=6)
    recs = [r for r in recs if r["depth"] != 2 or r["item_id"] == "2-0"]           # depth 2: one pair
    recs = [r for r in recs if not (r["depth"] == 3 and r["strategy"] == "budget_forcing")]  # depth 3: none
    rows, brk = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=100)
    by_d = {r["depth"]: r for r in rows}
    assert [r["depth"] for r in rows] == [1, 2, 3]
    assert by_d[2]["verdict"] == by_d[3]["verdict"] == "not_testable"
    assert by_d[2]["n"] == 1 and by_d[2]["p_tost"] is None and "1 paired item" in by_d[2]["reason"]
    assert by_d[3]["n"] == 0 and by_d[3]["unpaired_a"] == 300 and "300 only under majority@4" in by_d[3]["reason"]
    assert by_d[1]["p_holm"] == by_d[1]["p_tost"]                 # a Holm family of one testable depth
    assert brk["not_testable_depths"] == [2, 3] and brk["status"] == "no_difference"
    assert "not testable at depths 2-3" in brk["text"] and "nan" not in brk["text"].lower()


def test_margin_and_alpha_are_checked():
    recs = _pair_outcomes({1: 0.9}, {1: 0.9}, 50)
    for bad in (0.0, 0.5, 0.7, -0.1):
        with pytest.raises(ValueError, match="margin"):
            compare_strategies(recs, "majority@4", "budget_forcing", margin=bad)
    with pytest.raises(ValueError, match="alpha"):
        compare_strategies(recs, "majority@4", "budget_forcing", alpha=0.6)


@pytest.mark.parametrize(("verdicts", "status", "bp", "lo_hi", "tail"), [
    ("EEEBB", "located", 4, (4, 4), "(breakpoint: depth 4)"),
    ("EUUBB", "not_located", None, (2, 4), "(breakpoint not located: equivalence ends somewhere in depths 2-4)"),
    ("UUUBB", "not_located", None, (None, 4), "(no breakpoint named: equivalence is not shown before depth 4)"),
    ("BBBBB", "different_from_first", None, (None, 1), "(no breakpoint: a difference is shown from the first"),
    ("EEEEE", "equivalent_throughout", None, (6, None), "(no breakpoint within the depths measured)"),
    ("EEUUU", "no_difference", None, (3, None), "(no breakpoint: no difference is shown)"),
    ("EEFBB", "not_located", None, (3, 4), "equivalent (both at chance) at depth 3"),
    ("EABEE", "located", 2, (2, 2), "(breakpoint: depth 2)"),
    ("NNNNN", "not_testable", None, (None, None), "(nothing testable)"),
], ids=["located", "gap", "undetermined-first", "different-first", "all-equivalent", "no-difference", "floor",
        "alternating", "nothing"])
def test_breakpoint_rule(verdicts, status, bp, lo_hi, tail):
    code = {"E": "equivalent", "F": "equivalent", "A": "a_better", "B": "b_better", "U": "inconclusive",
            "N": "not_testable"}
    rows = [{"depth": d, "verdict": code[v], "floor": v == "F", "items_to_decide": 250 if v == "U" else None,
             "n": 1 if v == "N" else 100} for d, v in enumerate(verdicts, start=1)]
    s = summarize_comparison(rows, ("parallel better", "sequential better"))
    assert (s["status"], s["breakpoint_depth"], (s["bp_lo"], s["bp_hi"])) == (status, bp, lo_hi)
    assert tail in s["text"]
    if "U" in verdicts:
        assert "not determined at depth" in s["text"] and "about 250 items per depth would decide" in s["text"]
    assert breakpoint_depth(rows) == bp


def test_floor_cells_are_flagged_and_are_not_shown_equivalence():
    # both strategies at chance (0.01) at depth 12, identical and equivalent everywhere
    acc = {1: 0.9, 2: 0.8, 12: 0.0}
    recs = _pair_outcomes(acc, acc, 600, seed=8)
    rows, brk = compare_strategies(recs, "majority@4", "budget_forcing", margin=0.05, n_boot=200, chance=0.01)
    by_d = {r["depth"]: r for r in rows}
    assert all(r["verdict"] == "equivalent" for r in rows)       # the statistical verdict is kept
    assert by_d[12]["floor"] is True and by_d[1]["floor"] is False and by_d[2]["floor"] is False
    assert by_d[12]["acc_a"] == 0.0 and by_d[12]["chance"] == 0.01
    # equivalence at chance is not evidence: no break is shown, and the run of shown equivalence ends at 2
    assert brk["status"] == "no_difference" and brk["breakpoint_depth"] is None
    assert (brk["bp_lo"], brk["bp_hi"]) == (3, None) and brk["undetermined_depths"] == [12]
    assert "equivalent (both at chance) at depth 12" in brk["text"]
    rows2, brk2 = compare_strategies([r for r in recs if r["depth"] != 12], "majority@4", "budget_forcing",
                                     n_boot=200, chance=0.01)
    assert brk2["status"] == "equivalent_throughout"


def test_floor_uses_chance_plus_margin():
    recs = _pair_outcomes({3: 0.5}, {3: 0.52}, 300, seed=9)
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", margin=0.05, n_boot=100, chance=0.5)
    assert rows[0]["floor"] is True
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", margin=0.05, n_boot=100, chance=0.25)
    assert rows[0]["floor"] is False


def test_text_table_says_both_at_chance_and_never_nan():
    from depthbench.scorers._analyze import format_table

    acc = {1: 0.9, 12: 0.0}
    recs = _pair_outcomes(acc, acc, 300, seed=8)
    recs = [r for r in recs if r["depth"] == 1 or r["item_id"] in ("12-0",)] + \
        [r for r in _pair_outcomes({5: 0.9}, {5: 0.1}, 300, seed=9)]
    recs += [r for r in _pair_outcomes(acc, acc, 300, seed=8) if r["depth"] == 12 and r["item_id"] != "12-0"]
    rows, brk = compare_strategies(recs, "majority@4", "budget_forcing", task="t", budget=100, n_boot=100,
                                   chance=0.01)
    text = format_table({"curves": [], "fits": [], "equivalence": rows, "breakpoints": [brk], "margin": 0.05})
    line12 = next(x for x in text.splitlines() if x.startswith("t ") and x.split()[4] == "12")
    assert line12.endswith("equivalent (both at chance)")
    assert "t @ 100: majority@4 vs budget_forcing: equivalent at depth 1, majority@4 better at depth 5, " \
           "equivalent (both at chance) at depth 12 (breakpoint: depth 5; the break lies in depths 2-5)" in text
    assert "nan" not in text.lower()
    one = [r for r in _pair_outcomes({1: 0.9}, {1: 0.9}, 1, seed=1)]
    rows1, brk1 = compare_strategies(one, "majority@4", "budget_forcing", task="t", budget=100, n_boot=100)
    text1 = format_table({"curves": [], "fits": [], "equivalence": rows1, "breakpoints": [brk1], "margin": 0.05})
    assert "not testable (1 paired item (need at least 2))" in text1 and "nan" not in text1.lower()
