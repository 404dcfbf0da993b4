"""Paired equivalence: TOST vs statsmodels, Holm, verdicts, breakpoint, power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from depthbench.scorers import (
    breakpoint_depth,
    compare_strategies,
    compute_to_target,
    holm,
    paired_tost,
    power_items,
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
    assert verdict(0.2, 0.9, 0.001, 100) == "a_better"
    assert verdict(-0.2, 0.9, 0.001, 100) == "b_better"
    assert verdict(0.03, 0.2, 0.3, 100) == "inconclusive"
    assert verdict(0.0, 0.0, 1.0, 1) == "inconclusive"


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
                                   n_boot=400, seed=0)
    assert [r["depth"] for r in rows] == depths
    verdicts = {r["depth"]: r["verdict"] for r in rows}
    assert verdicts[1] == verdicts[2] == "equivalent"   # shared uniforms: identical below depth 8
    assert verdicts[8] == verdicts[16] == "b_better"
    assert brk["breakpoint_depth"] == breakpoint_depth(rows)
    assert brk["breakpoint_depth"] in (4, 8)
    assert brk["bp_lo"] is not None and brk["bp_lo"] <= brk["breakpoint_depth"] <= brk["bp_hi"]
    for r in rows:
        assert r["ci95_lo"] <= r["ci90_lo"] <= r["diff"] <= r["ci90_hi"] <= r["ci95_hi"]
        assert r["p_holm"] >= r["p_tost"] and r["n"] == 600
    again = compare_strategies(recs, "majority@4", "budget_forcing", task="t", budget=100, n_boot=400, seed=0)
    assert again == (rows, brk)


def test_compare_strategies_all_equivalent_has_no_breakpoint():
    acc = {1: 0.9, 2: 0.8}
    recs = _pair_outcomes(acc, acc, 500, seed=1)
    rows, brk = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=300)
    assert all(r["verdict"] == "equivalent" for r in rows)
    assert brk["breakpoint_depth"] is None and brk["bp_hi"] is None


def test_compare_uses_only_paired_items_and_averages_repeats():
    recs = _pair_outcomes({1: 0.5}, {1: 0.5}, 10, seed=2)
    recs = [r for r in recs if not (r["strategy"] == "budget_forcing" and r["item_id"] == "1-0")]
    recs.append({**recs[0], "credit": 1.0 - recs[0]["credit"]})  # a repeat of item 1-0 under majority
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=50)
    assert rows[0]["n"] == 9


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


def test_power_items_formula_and_simulation():
    assert power_items(1.0, margin=1.0) == 9  # factor (1.645 + 1.2816)^2 = 8.56 -> ceil
    assert power_items(0.2, 0.05) == int(np.ceil(8.5638 * 0.2 / 0.0025))
    # simulated power at the computed n is about 0.8 (true difference 0)
    delta, m = 0.3, 0.1
    n = power_items(delta, m)
    rng = np.random.default_rng(0)
    hits = 0
    sims = 400
    for _ in range(sims):
        disc = rng.random(n) < delta
        d = np.where(disc, rng.choice([-1.0, 1.0], size=n), 0.0)
        hits += paired_tost(d, np.zeros(n), m).p_tost < 0.05
    assert 0.72 < hits / sims < 0.88
    with pytest.raises(ValueError):
        power_items(1.5)


def test_items_needed_in_rows():
    recs = _pair_outcomes({1: 0.7}, {1: 0.7}, 200, seed=4, discord=0.2)
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", n_boot=100)
    d = np.array([1.0 if r["credit"] else 0.0 for r in recs if r["strategy"] == "majority@4"]) - \
        np.array([1.0 if r["credit"] else 0.0 for r in recs if r["strategy"] == "budget_forcing"])
    assert rows[0]["items_needed"] == power_items(float(d.var(ddof=1)), 0.05)


def test_compare_with_repeats_uses_two_stage_bootstrap():
    recs = _pair_outcomes({1: 0.6}, {1: 0.6}, 60, seed=5, discord=0.3)
    rep = [dict(r, credit=1.0 - r["credit"]) for r in recs[::7]]   # second runs of some items
    rows, _ = compare_strategies(recs + rep, "majority@4", "budget_forcing", n_boot=500, seed=1)
    assert rows[0]["n"] == 60
    assert rows[0]["ci95_lo"] <= rows[0]["diff"] <= rows[0]["ci95_hi"]
    again, _ = compare_strategies(recs + rep, "majority@4", "budget_forcing", n_boot=500, seed=1)
    assert again == rows


def test_reported_intervals_are_the_ones_the_verdict_uses():
    depths_acc_a = {1: 0.9, 2: 0.8, 4: 0.6, 8: 0.5}
    depths_acc_b = {1: 0.9, 2: 0.8, 4: 0.8, 8: 0.55}
    recs = _pair_outcomes(depths_acc_a, depths_acc_b, 400, seed=7, discord=None)
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", margin=0.05, n_boot=300, seed=2)
    m = 0.05
    for r in rows:
        sub = [x for x in recs if int(x["depth"]) == r["depth"]]
        xa = [x["credit"] for x in sorted(sub, key=lambda x: x["item_id"]) if x["strategy"] == "majority@4"]
        xb = [x["credit"] for x in sorted(sub, key=lambda x: x["item_id"]) if x["strategy"] == "budget_forcing"]
        t = paired_tost(xa, xb, m)
        # ci90/ci95 are the paired t intervals (not the bootstrap ones, kept as boot90/boot95)
        assert (r["ci90_lo"], r["ci90_hi"]) == pytest.approx(t.ci90)
        assert (r["ci95_lo"], r["ci95_hi"]) == pytest.approx(t.ci95)
        assert r["boot95_lo"] <= r["boot90_lo"] <= r["boot90_hi"] <= r["boot95_hi"]
        assert r["ci_tost_holm_lo"] <= r["ci90_lo"] and r["ci_tost_holm_hi"] >= r["ci90_hi"]
    # Holm step-down duality: equivalent <=> this depth's and every smaller-p depth's Holm interval in (-m, m)
    by_p = sorted(rows, key=lambda r: r["p_tost"])
    for i, r in enumerate(by_p):
        inside = all(-m < x["ci_tost_holm_lo"] and x["ci_tost_holm_hi"] < m for x in by_p[: i + 1])
        assert (r["verdict"] == "equivalent") == inside
        if r["verdict"] in ("a_better", "b_better"):
            assert r["ci_diff_holm_lo"] > 0 or r["ci_diff_holm_hi"] < 0


def test_floor_cells_are_flagged_and_end_the_equivalent_run():
    # both strategies at chance (0.01) at depth 12, identical and equivalent everywhere
    acc = {1: 0.9, 2: 0.8, 12: 0.0}
    recs = _pair_outcomes(acc, acc, 600, seed=8)
    rows, brk = compare_strategies(recs, "majority@4", "budget_forcing", margin=0.05, n_boot=200, chance=0.01)
    by_d = {r["depth"]: r for r in rows}
    assert all(r["verdict"] == "equivalent" for r in rows)       # the statistical verdict is kept
    assert by_d[12]["floor"] is True and by_d[1]["floor"] is False and by_d[2]["floor"] is False
    assert by_d[12]["acc_a"] == 0.0 and by_d[12]["chance"] == 0.01
    assert brk["breakpoint_depth"] == 12 and brk["floor_at_breakpoint"] is True
    assert brk["verdict_at_breakpoint"] == "equivalent"
    assert brk["bp_lo"] is not None and brk["bp_lo"] <= 12 <= brk["bp_hi"]
    # without the floor cell there is no breakpoint
    rows2, brk2 = compare_strategies([r for r in recs if r["depth"] != 12], "majority@4", "budget_forcing",
                                     n_boot=200, chance=0.01)
    assert brk2["breakpoint_depth"] is None


def test_floor_uses_chance_plus_margin():
    recs = _pair_outcomes({3: 0.5}, {3: 0.52}, 300, seed=9)
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", margin=0.05, n_boot=100, chance=0.5)
    assert rows[0]["floor"] is True
    rows, _ = compare_strategies(recs, "majority@4", "budget_forcing", margin=0.05, n_boot=100, chance=0.25)
    assert rows[0]["floor"] is False


def test_text_table_says_both_at_chance():
    from depthbench.analysis._analyze import format_table

    acc = {1: 0.9, 12: 0.0}
    rows, brk = compare_strategies(_pair_outcomes(acc, acc, 300, seed=8), "majority@4", "budget_forcing",
                                   task="t", budget=100, n_boot=100, chance=0.01)
    text = format_table({"curves": [], "fits": [], "equivalence": rows, "breakpoints": [brk], "margin": 0.05})
    line12 = next(x for x in text.splitlines() if x.startswith("t ") and x.split()[4] == "12")
    assert line12.endswith("equivalent (both at chance)")
    assert "breakpoint depth 12 (equivalent, both at chance)" in text
