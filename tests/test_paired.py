"""Exact tests for paired proportions: size by enumeration, monotonicity, power, rounding, bad input.

The size checks enumerate every ``(n10, n01)`` (no Monte Carlo): the probability that the
verdict "equivalent" is given when the true difference is exactly the margin, and that
"a better" / "b better" is given when it is 0, for the cells where the paired t-test is
worst (``BENCHMARKS.md``, *Verdict calibration*).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from depthbench.scorers import (
    difference_power,
    equivalence_power,
    items_to_decide,
    p_value_less,
    paired_test,
    power_items,
    rejection_probability,
    round_credits,
    score_interval,
    tango_score,
)
from depthbench.scorers import _paired

ALPHA, M = 0.05, 0.05


def _t_tost_pvalues(n: int, margin: float) -> np.ndarray:
    """The paired t TOST (what main used) at every (n10, n01): differences are +1, -1, 0."""
    x, y = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    mean = (x - y) / n
    var = np.maximum((x + y) - (x - y) ** 2 / n, 0) / (n - 1)
    sd = np.where(var > 0, np.sqrt(var), math.sqrt(3.0 / n))
    se = sd / math.sqrt(n)
    p = np.maximum(stats.t.sf((mean + margin) / se, n - 1), stats.t.cdf((mean - margin) / se, n - 1))
    return np.where(x + y <= n, p, 2.0)


def _holm_fwer(level_prob) -> float:
    """Family-wise rate of five independent depths at the same null under Holm: P(min p <= alpha/5)."""
    return 1.0 - (1.0 - level_prob(ALPHA / 5)) ** 5


# ---------------------------------------------------------------------------------- size

WORST = [(100, 0.05), (100, 0.06), (300, 0.06)]


@pytest.mark.parametrize(("n", "q"), WORST, ids=[f"n{n}-q{q}" for n, q in WORST])
def test_size_of_equivalent_at_the_margin_is_at_most_alpha(n, q):
    for sign in (1, -1):   # delta = +m and -m
        p10, p01 = ((q + M) / 2, (q - M) / 2) if sign > 0 else ((q - M) / 2, (q + M) / 2)
        one = rejection_probability(n, p10, p01, margin=M, level=ALPHA)
        five = _holm_fwer(lambda u: rejection_probability(n, p10, p01, margin=M, level=u))
        assert one <= ALPHA and five <= ALPHA, (n, q, sign, one, five)
    # the paired t-test fails in the same cell (so this check can fail)
    if n == 100:
        t_size = float(np.sum(_paired._trinomial(n, (q + M) / 2, (q - M) / 2) * (_t_tost_pvalues(n, M) < ALPHA)))
        assert t_size > 0.08, t_size


@pytest.mark.parametrize(("n", "q"), WORST, ids=[f"n{n}-q{q}" for n, q in WORST])
def test_size_of_a_difference_at_zero_is_at_most_alpha(n, q):
    one = rejection_probability(n, q / 2, q / 2, margin=M, level=ALPHA, outcome="different")
    five = _holm_fwer(lambda u: rejection_probability(n, q / 2, q / 2, margin=M, level=u, outcome="different"))
    assert 0 < one <= ALPHA and five <= ALPHA, (one, five)


def test_size_holds_between_the_grid_points():
    """The corner bound covers every nuisance value, not only the grid's."""
    n = 100
    theta = np.linspace(0.0, (1 - M) / 2 - 1e-9, 397)   # not the corner grid
    sizes = [rejection_probability(n, t + M, t, margin=M, level=ALPHA) for t in theta]
    assert max(sizes) <= ALPHA
    assert max(sizes) > 0.03   # and the test is not trivially conservative


def test_enumerated_probability_matches_the_p_value_table():
    n = 60
    up = np.nan_to_num(_paired._p_table(n, M, 0.5), nan=2.0)   # per-point agreement: the next test
    tost = np.maximum(up, up.T)
    for p10, p01 in [(0.08, 0.03), (0.3, 0.25), (0.05, 0.0)]:
        w = _paired._trinomial(n, p10, p01)
        for level in (0.05, 0.01):
            assert rejection_probability(n, p10, p01, margin=M, level=level) == pytest.approx(
                float(np.sum(w * (tost <= level))), abs=1e-12)


def test_table_and_per_point_p_values_agree():
    n = 80
    table = _paired._p_table(n, M, 0.5)
    for x, y in [(0, 0), (1, 0), (0, 3), (2, 2), (5, 1), (10, 12)]:
        if table[x, y] < 1:
            assert table[x, y] == pytest.approx(p_value_less(x, y, n, M), rel=1e-9)


# ------------------------------------------------------------------- monotone, intervals

def test_score_is_monotone_in_the_counts():
    for n in (7, 60, 400):
        x, y = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        for d in (0.0, 0.05, 0.3):
            z = np.where(x + y <= n, tango_score(x, y, n, d), np.nan)
            assert np.nanmin(np.diff(z, axis=0)) > 0 and np.nanmax(np.diff(z, axis=1)) < 0


def test_p_values_are_monotone_in_the_evidence():
    n = 120
    # fewer discordant pairs is more evidence of equivalence; zero discordance is the strongest
    p = [paired_test(k, k, n).p_tost for k in range(6)]
    assert p == sorted(p) and p[0] < p[1]
    # one more item where A wins is more evidence that A is better
    q = [paired_test(10 + k, 10, n).p_diff for k in range(0, 15, 3)]
    assert q == sorted(q, reverse=True)
    up = np.array([[p_value_less(x, y, 24, M) for y in range(0, 25 - x)] + [np.nan] * x for x in range(25)])
    assert np.nanmin(np.diff(up, axis=0)) >= 0 and np.nanmax(np.diff(up, axis=1)) <= 0


def test_zero_discordance_is_a_regular_point():
    assert paired_test(0, 0, 20).p_tost > 0.3          # 20 identical items prove little
    assert paired_test(0, 0, 300).p_tost < 1e-3        # 300 do
    assert paired_test(0, 0, 300).p_diff == 1.0
    assert paired_test(0, 0, 300).p_tost < paired_test(1, 0, 300).p_tost


def test_intervals_stay_inside_minus_one_one():
    lo, hi = score_interval(100, 0, 100)
    assert hi == 1.0 and 0.9 < lo < 1.0
    lo, hi = score_interval(0, 100, 100)
    assert lo == -1.0 and -1.0 < hi < -0.9
    for x, y, n in [(3, 5, 50), (0, 0, 10), (40, 2, 60)]:
        lo90, hi90 = score_interval(x, y, n, 0.90)
        lo95, hi95 = score_interval(x, y, n, 0.95)
        assert -1 <= lo95 <= lo90 <= (x - y) / n <= hi90 <= hi95 <= 1


def test_two_sided_p_value_and_directions():
    r = paired_test(30, 10, 200)
    assert r.p_diff == pytest.approx(2 * r.p_a_better) and r.p_b_better == 1.0 and r.diff == 0.1
    # the exact unconditional test is at least as good as the exact conditional (binomial) McNemar
    assert r.p_diff <= stats.binomtest(30, 40, 0.5).pvalue + 1e-12


# ------------------------------------------------------------------------------- power

def test_power_helper_matches_the_exact_power():
    for n, q in [(300, 0.06), (300, 0.1), (150, 0.03)]:
        exact = rejection_probability(n, q / 2, q / 2, margin=M, level=ALPHA)
        assert equivalence_power(n, q, margin=M) == pytest.approx(exact, abs=0.03)
    exact = rejection_probability(250, 0.12, 0.04, margin=M, level=ALPHA, outcome="a_better")
    assert difference_power(250, 0.16, 0.08) == pytest.approx(exact, abs=0.03)


def test_power_items_accounts_for_holm():
    one, five = power_items(0.06, M), power_items(0.06, M, n_tests=5)
    assert five > one * 1.1
    # the exact per-depth power of five depths under Holm at the helper's n is 80% +- 3%
    n = five

    def level_prob(u):
        return rejection_probability(n, 0.03, 0.03, margin=M, level=u)

    exact_holm = _paired.holm_power(level_prob, ALPHA, 5)
    assert 0.77 <= exact_holm <= 0.83, exact_holm
    assert power_items(0.2, M, diff=0.06) is None            # |diff| >= margin: never equivalent


def test_holm_power_is_exact_for_independent_tests():
    rng = np.random.default_rng(0)
    g = lambda u: min(1.0, 8 * u)   # noqa: E731  a test whose p-value has CDF min(1, 8u)
    p = rng.random((200_000, 5)) / 8              # P(p <= u) = min(1, 8u)
    order = np.sort(p, axis=1)
    passed = order <= ALPHA / (5 - np.arange(5))
    rejected = np.cumprod(passed, axis=1).sum(axis=1)
    assert _paired.holm_power(g, ALPHA, 5) == pytest.approx(rejected.mean() / 5, abs=0.005)


def test_items_to_decide():
    eq = items_to_decide(0.05, 0.0, M)            # no difference: the equivalence side decides
    assert eq == power_items(0.05, M)
    diff = items_to_decide(0.3, 0.2, M)           # far beyond the margin: the difference side decides
    assert diff is not None and diff < 200


@pytest.mark.parametrize("q, d, exact", [
    (0.04, 1.0 - 0.96, 0.04),          # 0.040000000000000036: |diff| above q by float error
    (0.04, -(1.0 - 0.96), -0.04),
    (0.3, 0.1 + 0.2, 0.3),             # 0.30000000000000004
    (0.1, 0.7 - 0.6, 0.1),             # 0.09999999999999998: just below, nothing to clamp
])
def test_items_to_decide_when_every_discordant_item_goes_one_way(q, d, exact):
    """|diff| = discordance up to float error (all discordant items favour one side) is the exact
    case, not a math domain error; a real excess is still refused."""
    n = items_to_decide(q, d, M, n_tests=3)
    assert n is not None and n == items_to_decide(q, exact, M, n_tests=3)


def test_items_to_decide_refuses_a_difference_beyond_the_discordance():
    with pytest.raises(ValueError, match="discordance"):
        items_to_decide(0.04, 0.05, M)


# ----------------------------------------------------------------------------- rounding

def test_rounding_keeps_binary_credit_and_the_expected_difference():
    ids = [f"i{k}" for k in range(4000)]
    a = np.tile([1.0, 0.5, 0.5, 0.0], 1000)
    b = np.tile([1.0, 0.5, 0.0, 0.5], 1000)
    ra, rb, frac = round_credits(a, b, ids, seed=3)
    assert frac and set(np.unique(ra)) <= {0.0, 1.0}
    assert ra[0] == rb[0] == 1.0 and ra[3] == 0.0
    assert np.all(ra[1::4] == rb[1::4])                    # equal credits round together
    assert (ra - rb).mean() == pytest.approx((a - b).mean(), abs=0.03)
    again = round_credits(a, b, ids, seed=3)
    assert np.array_equal(again[0], ra) and np.array_equal(again[1], rb)
    other = round_credits(a, b, ids, seed=4)
    assert not np.array_equal(other[0], ra)
    x, y, frac = round_credits([1.0, 0.0], [0.0, 0.0], ["p", "q"])
    assert not frac and list(x) == [1.0, 0.0]


def test_fractional_credit_keeps_the_level():
    """Half-credit ties at a true difference of exactly +m and the worst discordance (Monte Carlo)."""
    rng = np.random.default_rng(1)
    kinds = np.array([[1.0, 0.5], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0], [0.0, 0.0]])
    probs = [0.08, 0.01, 0.20, 0.50, 0.21]          # E[a - b] = 0.08 * 0.5 + 0.01 = 0.05 = m
    n, reps, hits = 100, 1500, 0
    for r in range(reps):
        pairs = kinds[rng.choice(len(kinds), size=n, p=probs)]
        ra, rb, frac = round_credits(pairs[:, 0], pairs[:, 1], [f"i{i}" for i in range(n)], seed=r)
        n10, n01 = int(np.sum(ra > rb)), int(np.sum(rb > ra))
        hits += max(p_value_less(n10, n01, n, M), p_value_less(n01, n10, n, M)) <= ALPHA   # paired_test's p_tost
    rate, se = hits / reps, math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert rate <= ALPHA + 3 * se, (rate, se)
    assert rate > 0.01     # the boundary case does reject sometimes: the check can fail


# ---------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_with_the_field_named():
    with pytest.raises(ValueError, match="margin"):
        paired_test(1, 1, 10, margin=0.5)
    with pytest.raises(ValueError, match="margin"):
        paired_test(1, 1, 10, margin=0.0)
    with pytest.raises(ValueError, match="counts"):
        paired_test(6, 6, 10)
    with pytest.raises(ValueError, match="counts"):
        paired_test(1.5, 0, 10)
    with pytest.raises(ValueError, match="credits"):
        round_credits([1.2], [0.0], ["i"])
    with pytest.raises(ValueError, match="one credit per item"):
        round_credits([1.0, 0.0], [0.0], ["i", "j"])
    with pytest.raises(ValueError, match="discordance"):
        power_items(1.5)
