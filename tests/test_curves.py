"""Depth curves: Wilson intervals, bootstrap, the c + (1 - c) p^d fit, AUC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from depthbench.scorers import (
    bootstrap_mean_ci,
    curve_fits,
    depth_auc,
    depth_curves,
    fit_depth_curve,
    wilson_interval,
)


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (57, 100), (1, 1000), (999, 1000)])
@pytest.mark.parametrize("conf", [0.9, 0.95])
def test_wilson_matches_statsmodels(k, n, conf):
    lo, hi = wilson_interval(k, n, conf)
    slo, shi = proportion_confint(k, n, alpha=1 - conf, method="wilson")
    assert lo == pytest.approx(slo, abs=1e-12) and hi == pytest.approx(shi, abs=1e-12)


def test_wilson_edge_cases():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = np.random.default_rng(0).random(50)
    a = bootstrap_mean_ci(x, rng=np.random.default_rng(3), n_boot=500)
    b = bootstrap_mean_ci(x, rng=np.random.default_rng(3), n_boot=500)
    assert a == b
    assert a[0] < x.mean() < a[1]


def _outcomes(p, c, depths, n_items, seed=0, strategy="single", budget=100, repeats=1):
    rng = np.random.default_rng(seed)
    out = []
    for d in depths:
        acc = c + (1 - c) * p ** d
        for i in range(n_items):
            for _ in range(repeats):
                ok = bool(rng.random() < acc)
                out.append({"item_id": f"d{d}-{i}", "task": "t", "strategy": strategy, "budget": budget, "depth": d,
                            "credit": float(ok), "correct": ok, "final_answer": "x" if ok or i % 4 else None,
                            "parse_status": "ok" if ok or i % 4 else "no_answer",
                            "generated_tokens": 10 * d, "processed_tokens": 10 * d + 50})
    return out


def test_depth_curves_rows():
    recs = _outcomes(0.9, 0.5, [1, 2, 4], 40, repeats=2)
    rows = depth_curves(recs, chance={"t": 0.5}, kinds={"single": "single"}, n_boot=300, seed=1)
    assert [r["depth"] for r in rows] == [1, 2, 4]
    for r in rows:
        assert r["n"] == 40 and r["n_outcomes"] == 80
        sub = [x for x in recs if x["depth"] == r["depth"]]
        assert r["accuracy"] == pytest.approx(np.mean([x["credit"] for x in sub]))
        assert r["wilson_lo"] <= r["accuracy"] <= r["wilson_hi"]
        assert r["boot_lo"] <= r["accuracy"] <= r["boot_hi"]
        assert r["mean_generated_tokens"] == 10 * r["depth"]
        assert r["mean_processed_tokens"] == 10 * r["depth"] + 50
        assert r["chance"] == 0.5 and r["kind"] == "single"
        assert r["no_answer_rate"] == pytest.approx(np.mean([x["parse_status"] != "ok" for x in sub]))
    assert rows == depth_curves(recs, chance={"t": 0.5}, kinds={"single": "single"}, n_boot=300, seed=1)


def _brute_mle(per_depth, c):
    grid = np.linspace(0, 1, 200001)
    ll = np.zeros_like(grid)
    for d, v in per_depth.items():
        q = np.clip(c + (1 - c) * grid ** d, 1e-12, 1 - 1e-12)
        k, n = np.sum(v), len(v)
        ll += k * np.log(q) + (n - k) * np.log1p(-q)
    return grid[np.argmax(ll)]


@pytest.mark.parametrize("p,c", [(0.9, 0.5), (0.97, 0.0), (0.8, 0.1), (0.6, 0.25)])
def test_fit_mle_matches_brute_force_grid(p, c):
    recs = _outcomes(p, c, [1, 2, 3, 5, 8], 60, seed=int(p * 100))
    per = {}
    for r in recs:
        per.setdefault(r["depth"], []).append(r["credit"])
    fit = fit_depth_curve(per, c, n_boot=400, rng=np.random.default_rng(0))
    assert fit["p"] == pytest.approx(_brute_mle(per, c), abs=2e-5)
    assert fit["p_lo"] <= fit["p"] <= fit["p_hi"]
    assert fit["d50"] == pytest.approx(math.log(0.5) / math.log(fit["p"]))
    assert fit["d50_lo"] <= fit["d50"] <= fit["d50_hi"]
    assert 0 <= fit["auc"] <= 1


def test_fit_recovers_true_p_with_many_items():
    recs = _outcomes(0.92, 0.5, [1, 2, 4, 8, 16], 2000, seed=5)
    per = {}
    for r in recs:
        per.setdefault(r["depth"], []).append(r["credit"])
    fit = fit_depth_curve(per, 0.5, n_boot=300, rng=np.random.default_rng(1))
    assert fit["p_lo"] < 0.92 < fit["p_hi"]
    assert abs(fit["p"] - 0.92) < 0.005


def test_fit_perfect_accuracy_has_no_finite_d50():
    fit = fit_depth_curve({1: [1.0] * 20, 4: [1.0] * 20}, 0.5, n_boot=100, rng=np.random.default_rng(0))
    assert fit["p"] == 1.0 and fit["d50"] is None and fit["d50_hi"] is None
    fit0 = fit_depth_curve({1: [0.0] * 20}, 0.0, n_boot=0)
    assert fit0["p"] == 0.0 and fit0["d50"] == 0.0


def test_fit_bad_input():
    with pytest.raises(ValueError, match="chance"):
        fit_depth_curve({1: [1.0]}, 1.0, n_boot=0)
    with pytest.raises(ValueError, match="per_depth"):
        fit_depth_curve({}, 0.0, n_boot=0)
    with pytest.raises(ValueError, match="rng"):
        fit_depth_curve({1: [1.0]}, 0.0, n_boot=10)


def test_auc():
    assert depth_auc([1, 2, 4], [1.0, 0.5, 0.5]) == pytest.approx(np.trapezoid([1.0, 0.5, 0.5], [1, 2, 4]) / 3)
    assert depth_auc([3], [0.4]) == 0.4
    assert depth_auc([4, 1], [0.0, 1.0]) == 0.5


def test_curve_fits_rows_are_deterministic():
    recs = _outcomes(0.9, 0.5, [1, 2, 4], 30) + _outcomes(0.8, 0.5, [1, 2, 4], 30, strategy="majority@4")
    a = curve_fits(recs, {"t": 0.5}, n_boot=200, seed=2)
    assert [(r["strategy"], r["budget"]) for r in a] == [("majority@4", 100), ("single", 100)]
    assert a == curve_fits(recs, {"t": 0.5}, n_boot=200, seed=2)


def test_tie_rate_in_curves():
    recs = _outcomes(0.9, 0.5, [1], 4)
    assert depth_curves(recs, n_boot=100)[0]["tie_rate"] is None
    for r, tie in zip(recs, [True, False, False, False]):
        r["meta"] = {"tie": tie}
    assert depth_curves(recs, n_boot=100)[0]["tie_rate"] == 0.25


def test_two_stage_bootstrap_with_repeats():
    from depthbench.scorers._curves import ragged, resampled_item_means

    vals, counts = ragged([[1.0], [0.0, 1.0], [1.0, 1.0, 0.0]])
    assert counts.tolist() == [1, 2, 3] and vals.shape == (3, 3)
    rng = np.random.default_rng(0)
    idx = np.tile(np.arange(3), (20000, 1))
    m = resampled_item_means(vals, counts, idx, rng)
    # items fixed: only repeats vary; item means are unbiased and item 0 never varies
    assert np.all(m[:, 0] == 1.0)
    assert m[:, 1].mean() == pytest.approx(0.5, abs=0.02) and m[:, 2].mean() == pytest.approx(2 / 3, abs=0.02)
    assert set(np.unique(m[:, 1])) <= {0.0, 0.5, 1.0}
    # a curve with repeated outcomes per item takes the two-stage path
    recs = _outcomes(0.7, 0.0, [1], 40, repeats=3, seed=3)
    row = depth_curves(recs, n_boot=2000, seed=0)[0]
    assert row["n"] == 40 and row["boot_lo"] < row["accuracy"] < row["boot_hi"]


def test_fit_interval_contains_estimate_when_every_depth_is_all_or_nothing():
    # accuracies 1, 1, 0, 0, 0 by depth: every bootstrap replicate is the same data
    per = {d: [1.0 if i < 2 else 0.0] * 20 for i, d in enumerate([1, 2, 3, 6, 12])}
    fit = fit_depth_curve(per, 0.0, n_boot=300, rng=np.random.default_rng(0))
    assert fit["p_lo"] < fit["p"] < fit["p_hi"]                 # not degenerate, contains its estimate
    assert fit["d50_lo"] < fit["d50"] < fit["d50_hi"]
    assert fit["gof_p"] < 1e-3 and fit["gof_max_abs_resid"] > 0.3  # a step is not a geometric decay


@pytest.mark.parametrize("seed", range(8))
def test_fit_interval_always_contains_estimate(seed):
    rng = np.random.default_rng(seed)
    per = {d: list((rng.random(int(rng.integers(3, 12))) < 0.9 ** d).astype(float)) for d in (1, 2, 4, 8)}
    fit = fit_depth_curve(per, 0.25, n_boot=200, rng=rng)
    assert fit["p_lo"] <= fit["p"] <= fit["p_hi"]


def test_fit_flags_extrapolated_d50_and_reports_goodness_of_fit():
    per = {d: [1.0] * (99 - d) + [0.0] * (1 + d) for d in (1, 2, 4)}
    fit = fit_depth_curve(per, 0.0, n_boot=100, rng=np.random.default_rng(0))
    assert fit["max_depth"] == 4 and fit["d50"] > 4 and fit["d50_extrapolated"] is True
    assert fit["gof_p"] > 0.05 and fit["gof_max_abs_resid"] < 0.05
    inside = fit_depth_curve({1: [1.0] * 9 + [0.0], 2: [1.0] * 81 + [0.0] * 19, 8: [1.0] * 43 + [0.0] * 57},
                             0.0, n_boot=0)
    assert inside["d50_extrapolated"] is False and inside["max_depth"] == 8
    assert fit_depth_curve({1: [1.0] * 5}, 0.5, n_boot=0)["d50_extrapolated"] is True   # p = 1: never halves
    from depthbench.analysis._analyze import format_table

    text = format_table({"curves": [], "equivalence": [], "breakpoints": [], "margin": 0.05,
                         "fits": [{"task": "t", "strategy": "s", "budget": 1, **fit}]})
    assert "> max depth 4" in text
