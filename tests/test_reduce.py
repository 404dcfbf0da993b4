"""Reducers over the N samples of one item, each checked against brute force."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depthbench.scorers import best_of_n, maj_at_k, majority_vote, pass_at_k, tie_rate, weighted_best_of_n

answers_st = st.lists(st.sampled_from(["1", "2", "3", None]), min_size=1, max_size=9)


def brute_majority_credit(answers, gold):
    """Expected credit of a uniformly random tie break, by listing the winners."""
    c = Counter(a for a in answers if a is not None)
    if not c:
        return Fraction(0)
    top = max(c.values())
    winners = [a for a, v in c.items() if v == top]
    return Fraction(sum(w == gold for w in winners), len(winners))


@settings(max_examples=300, deadline=None)
@given(answers=answers_st, gold=st.sampled_from(["1", "2", "3"]))
def test_majority_fractional_credit_matches_brute_force(answers, gold):
    r = majority_vote(answers, correct=gold)
    assert r.credit == pytest.approx(float(brute_majority_credit(answers, gold)))
    assert r.credit_for(gold) == r.credit
    assert r.credit_for(lambda a: a == gold) == r.credit
    assert r.n_abstain == answers.count(None)


@settings(max_examples=200, deadline=None)
@given(answers=answers_st)
def test_majority_is_order_invariant(answers):
    rev = list(reversed(answers))
    a, b = majority_vote(answers), majority_vote(rev)
    assert (a.answer, a.winners, a.tie, a.counts) == (b.answer, b.winners, b.tie, b.counts)


def test_abstentions_never_vote_or_win():
    r = majority_vote([None, None, None, "4"], correct="4")
    assert r.answer == "4" and r.credit == 1.0 and r.n_abstain == 3
    r = majority_vote([None, None], correct="4")
    assert r.answer is None and r.credit == 0.0 and r.winners == () and r.index is None
    # an empty answer cannot be right by accident
    assert majority_vote([], correct=None).credit is None
    assert majority_vote([None], correct=lambda a: True).credit == 0.0


def test_random_tie_break_is_seeded_and_fair():
    picks = Counter(majority_vote(["a", "b", "b", "a", "c"], tie="random", seed=s).answer for s in range(400))
    assert set(picks) == {"a", "b"}
    assert 150 < picks["a"] < 250
    one = majority_vote(["a", "b"], tie="random", rng=np.random.default_rng(5))
    two = majority_vote(["a", "b"], tie="random", rng=np.random.default_rng(5))
    assert one.answer == two.answer
    assert one.credit_for(one.answer) == 1.0           # random mode: all-or-nothing
    frac = majority_vote(["a", "b"], correct="a")
    assert frac.tie and frac.credit == 0.5


def test_random_tie_needs_rng():
    with pytest.raises(ValueError, match="rng"):
        majority_vote(["a", "b"], tie="random")
    with pytest.raises(ValueError, match="tie"):
        majority_vote(["a"], tie="first")


def test_majority_with_item_uses_verifier():
    item = {"task": "multihop_arithmetic", "answer": 3, "answer_type": "integer", "instance": {"modulus": 7}}
    r = majority_vote([3, 10, None, 5], item=item)   # 3 and 10 are different normalised answers
    assert r.tie is True and r.credit == pytest.approx(2 / 3)
    assert r.votes == {"10": 1, "3": 1, "5": 1}


def test_tie_rate():
    rs = [majority_vote(x) for x in (["a", "b"], ["a"], ["a", "a", "b"], [None])]
    assert tie_rate(rs) == 0.25
    assert np.isnan(tie_rate([]))


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.tuples(st.sampled_from(["1", "2", "3", None]), st.sampled_from([0.0, 0.25, 0.5, 1.0, None])),
                     min_size=1, max_size=8), gold=st.sampled_from(["1", "2", "3"]))
def test_best_of_n_and_weighted_match_brute_force(data, gold):
    answers = [a for a, _ in data]
    scores = [s for _, s in data]
    valid = [(a, s) for a, s in data if a is not None and s is not None]
    b = best_of_n(answers, scores, correct=gold)
    w = weighted_best_of_n(answers, scores, correct=gold)
    if not valid:
        assert b.answer is None and b.credit == 0.0 and w.answer is None
        return
    top = max(s for _, s in valid)
    winners = sorted({a for a, s in valid if s == top})
    assert list(b.winners) == winners
    assert b.credit == pytest.approx(sum(x == gold for x in winners) / len(winners))
    assert scores[b.index] == top and answers[b.index] == b.answer
    sums = Counter()
    for a, s in valid:
        sums[a] += s
    wtop = max(sums.values())
    wwin = sorted(a for a, v in sums.items() if v == wtop)
    assert list(w.winners) == wwin
    assert w.credit == pytest.approx(sum(x == gold for x in wwin) / len(wwin))


def test_best_of_n_length_mismatch():
    with pytest.raises(ValueError, match="scores"):
        best_of_n(["1"], [0.1, 0.2])


def test_weighted_differs_from_best():
    answers, scores = ["3", "5", "5"], [0.9, 0.5, 0.5]
    assert best_of_n(answers, scores).answer == "3"
    assert weighted_best_of_n(answers, scores).answer == "5"
    assert best_of_n(answers, [float("nan"), 0.1, 0.2]).answer == "5"


def brute_pass_at_k(n, c, k):
    items = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(items[i] for i in s) for s in subsets), len(subsets))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 10), data=st.data())
def test_pass_at_k_matches_brute_force(n, data):
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    assert pass_at_k(n, c, k) == pytest.approx(float(brute_pass_at_k(n, c, k)), abs=1e-12)


def test_pass_at_k_large_n_is_stable():
    # 1 - C(190, 10)/C(200, 10) without overflow
    from math import comb
    assert pass_at_k(200, 10, 10) == pytest.approx(1 - comb(190, 10) / comb(200, 10), rel=1e-12)


@pytest.mark.parametrize("args", [(0, 0, 1), (5, 6, 1), (5, 2, 0), (5, 2, 6), (5, 2.0, 1), (5, True, 1)])
def test_pass_at_k_rejects_bad_counts(args):
    with pytest.raises(ValueError):
        pass_at_k(*args)


def brute_maj_at_k(answers, gold, k):
    subsets = list(itertools.combinations(range(len(answers)), k))
    total = sum(brute_majority_credit([answers[i] for i in s], gold) for s in subsets)
    return total / len(subsets)


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(st.sampled_from(["1", "2", "3", None]), min_size=1, max_size=9), data=st.data(),
       gold=st.sampled_from(["1", "2", "3"]))
def test_maj_at_k_exact_matches_brute_force(answers, data, gold):
    k = data.draw(st.integers(1, len(answers)))
    assert maj_at_k(answers, gold, k) == pytest.approx(float(brute_maj_at_k(answers, gold, k)), abs=1e-12)


def test_maj_at_k_monte_carlo_agrees_with_exact():
    rng = np.random.default_rng(0)
    answers = list(rng.choice(["1", "2", "3", "4"], size=14, p=[0.4, 0.3, 0.2, 0.1])) + [None] * 2
    exact = maj_at_k(answers, "1", 5)
    mc = maj_at_k(answers, "1", 5, max_exact=0, n_subsets=4000, rng=np.random.default_rng(1))
    assert abs(mc - exact) < 0.03
    again = maj_at_k(answers, "1", 5, max_exact=0, n_subsets=4000, rng=np.random.default_rng(1))
    assert again == mc
    with pytest.raises(ValueError, match="rng"):
        maj_at_k(answers, "1", 5, max_exact=0)
    with pytest.raises(ValueError, match="n_subsets"):
        maj_at_k(answers, "1", 5, n_subsets=10)
    with pytest.raises(ValueError, match="k"):
        maj_at_k(answers, "1", 17)


def test_maj_at_1_is_accuracy_and_maj_at_n_is_majority():
    answers = ["7", "7", "3", None, "7", "3"]
    assert maj_at_k(answers, "7", 1) == pytest.approx(3 / 6)
    assert maj_at_k(answers, "7", len(answers)) == majority_vote(answers, correct="7").credit


@pytest.mark.parametrize("module", ["_extract", "_verify", "_trace", "_reduce", "_curves", "_equivalence", "_paired", "_analyze"])
def test_scorers_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"depthbench.scorers.{module}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
