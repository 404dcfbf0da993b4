"""Aggregation over the N samples of one item.

Rules shared by every reducer here:

- answers are *normalised* answers (as :func:`depthbench.scorers.extract` returns);
  ``None`` is an abstention (no answer, malformed, truncated) and never votes or wins;
- if every sample abstains the result is an abstention and earns no credit;
- a tie between different answers is never broken by list order: by default the
  result carries the *expected* credit of a uniformly random break (fractional
  credit); with ``tie="random"`` a seeded ``numpy.random.Generator`` picks one.

Correctness is given either as a gold answer (compared with ``==``) or as a
predicate ``answer -> bool`` -- the latter is needed when several answers are right
(any valid plan of a grid item), e.g. ``lambda a: verify(item, a)``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from depthbench._lazy import lazy
from depthbench.scorers._verify import verify

np = lazy("numpy")

__all__ = [
    "VoteResult",
    "majority_vote",
    "best_of_n",
    "weighted_best_of_n",
    "pass_at_k",
    "maj_at_k",
    "tie_rate",
]

Correct = Callable[[Any], bool] | Any


def _predicate(correct: Correct) -> Callable[[Any], bool]:
    if callable(correct):
        return correct
    return lambda a: a is not None and a == correct


def _sort_key(a: Hashable) -> tuple[str, str]:
    return (type(a).__name__, repr(a))


@dataclass(frozen=True)
class VoteResult:
    """Result of a reduction over the samples of one item.

    Attributes
    ----------
    answer : hashable or None
        The selected answer; None when every sample abstains. Under a tie it is a
        seeded pick among the winners when a seed / rng was given, else the first
        winner in a canonical (type, repr) order -- never the list order. In
        fractional mode score with ``credit`` / :meth:`credit_for`, not by checking
        ``answer``.
    winners : tuple
        All answers sharing the top count / score (canonical order); empty if all abstain.
    tie : bool
        More than one winner.
    counts : dict
        Votes (majority) or best / summed scores (best-of-N) per answer.
    n_abstain : int
        Samples that abstained (``None`` answers, or ``None`` / NaN scores).
    tie_mode : str
        ``"fractional"`` or ``"random"``.
    credit : float or None
        Credit in [0, 1] for the correctness given to the reducer (``item=`` or
        ``correct=``); None if none was given.
    index : int or None
        Index (in the input sequence) of a sample carrying ``answer`` -- for
        best-of-N the best-scored one; None when all abstain.
    """

    answer: Any
    winners: tuple[Any, ...]
    tie: bool
    counts: dict[Any, float] = field(default_factory=dict)
    n_abstain: int = 0
    tie_mode: str = "fractional"
    credit: float | None = None
    index: int | None = None

    @property
    def votes(self) -> dict[str, float]:
        """``counts`` with string keys in canonical order (JSON-ready)."""
        return {str(k): v for k, v in sorted(self.counts.items(), key=lambda kv: _sort_key(kv[0]))}

    def credit_for(self, correct: Correct) -> float:
        """Credit in [0, 1] given the gold answer or a correctness predicate.

        Fractional mode: (number of correct winners) / (number of winners), the
        expected credit of a uniformly random tie break. Random mode: 1.0 if the
        randomly chosen ``answer`` is correct else 0.0. All abstain: 0.0.

        Examples
        --------
        >>> majority_vote(["3", "5", None]).credit_for("3")
        0.5
        """
        if not self.winners:
            return 0.0
        ok = _predicate(correct)
        if self.tie_mode == "random" or not self.tie:
            return 1.0 if ok(self.answer) else 0.0
        return sum(1 for w in self.winners if ok(w)) / len(self.winners)

    def to_meta(self) -> dict[str, Any]:
        """JSON-ready summary for an outcome's ``meta``."""
        return {"votes": self.votes, "winners": list(self.winners), "tie": self.tie,
                "tie_mode": self.tie_mode, "n_abstain": self.n_abstain}


def _make_rng(rng: np.random.Generator | None, seed: int | None) -> np.random.Generator | None:
    if rng is not None:
        return rng
    if seed is not None:
        return np.random.default_rng(seed)
    return None


def _correctness(item: Any, correct: Any) -> Callable[[Any], bool] | None:
    if item is not None:
        return lambda a: a is not None and verify(item, a)
    if correct is not None:
        return _predicate(correct)
    return None


def _select(
    totals: dict[Any, float],
    first_index: dict[Any, int],
    n_abstain: int,
    tie: str,
    rng: np.random.Generator | None,
    correct: Callable[[Any], bool] | None,
) -> VoteResult:
    if tie not in ("fractional", "random"):
        raise ValueError(f"tie: {tie!r} is not 'fractional' or 'random'")
    if tie == "random" and rng is None:
        raise ValueError("rng: tie='random' needs a seed or a numpy.random.Generator (np.random.default_rng(seed))")
    if not totals:
        return VoteResult(None, (), False, {}, n_abstain, tie, 0.0 if correct is not None else None, None)
    top = max(totals.values())
    winners = tuple(sorted((a for a, v in totals.items() if v == top), key=_sort_key))
    if len(winners) > 1 and rng is not None:
        answer = winners[int(rng.integers(len(winners)))]
    else:
        answer = winners[0]
    res = VoteResult(answer, winners, len(winners) > 1, dict(totals), n_abstain, tie, None, first_index[answer])
    if correct is not None:
        res = replace(res, credit=res.credit_for(correct))
    return res


def majority_vote(
    answers: Sequence[Hashable | None],
    *,
    tie: str = "fractional",
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    item: Any = None,
    correct: Correct | None = None,
) -> VoteResult:
    """Majority vote (self-consistency) over normalised answers.

    Parameters
    ----------
    answers : sequence of hashable or None
        One normalised answer per sample; ``None`` abstains.
    tie : {"fractional", "random"}
        How a tie between different answers is settled (see :class:`VoteResult`).
    rng : numpy.random.Generator, optional
        Picks the reported answer under a tie; required (or ``seed``) for ``tie="random"``.
    seed : int, optional
        Seed for a fresh generator when ``rng`` is not given.
    item : mapping, optional
        A dataset item: ``credit`` is then computed with :func:`verify`.
    correct : answer or callable, optional
        Alternatively the gold answer or a predicate for ``credit``.

    Returns
    -------
    VoteResult

    Raises
    ------
    ValueError
        Unknown ``tie``, or ``tie="random"`` without ``rng`` / ``seed``.

    References
    ----------
    Wang et al. 2022, "Self-Consistency Improves Chain of Thought Reasoning in
    Language Models", arXiv 2203.11171.

    Examples
    --------
    >>> r = majority_vote(["7", None, "7", "17"], correct="7")
    >>> r.answer, r.tie, r.credit
    ('7', False, 1.0)
    >>> majority_vote(["7", "17"], correct="7").credit
    0.5
    >>> majority_vote([None, None], correct="7").credit
    0.0
    """
    counts: dict[Any, int] = {}
    first: dict[Any, int] = {}
    n_abstain = 0
    for i, a in enumerate(answers):
        if a is None:
            n_abstain += 1
            continue
        if a not in counts:
            counts[a] = 0
            first[a] = i
        counts[a] += 1
    return _select(counts, first, n_abstain, tie, _make_rng(rng, seed), _correctness(item, correct))


def _tally_scores(
    answers: Sequence[Any], scores: Sequence[float | None]
) -> tuple[dict[Any, float], dict[Any, float], dict[Any, int], int]:
    """Per answer: best score, summed score and index of the best-scored sample; abstentions.

    ``None`` answers and ``None`` / NaN scores abstain.
    """
    if len(answers) != len(scores):
        raise ValueError(f"scores: length {len(scores)} differs from answers ({len(answers)}); give one score per sample")
    best: dict[Any, float] = {}
    total: dict[Any, float] = {}
    first: dict[Any, int] = {}
    n_abstain = 0
    for i, (a, s) in enumerate(zip(answers, scores)):
        if a is None or s is None or (isinstance(s, float) and math.isnan(s)):
            n_abstain += 1
            continue
        s = float(s)
        total[a] = total.get(a, 0.0) + s
        if a not in best or s > best[a]:
            best[a] = s
            first[a] = i
    return best, total, first, n_abstain


def best_of_n(
    answers: Sequence[Hashable | None],
    scores: Sequence[float | None],
    *,
    tie: str = "fractional",
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    item: Any = None,
    correct: Correct | None = None,
) -> VoteResult:
    """Best-of-N: the answer of the highest-scoring sample.

    Parameters
    ----------
    answers : sequence of hashable or None
        Normalised answers; ``None`` abstains (never selected).
    scores : sequence of float or None
        Verifier score per sample (higher is better); ``None`` or NaN = unscored,
        treated as abstaining.
    tie, rng, seed, item, correct
        As in :func:`majority_vote`; a tie is between *different* answers whose best
        samples share the top score.

    Returns
    -------
    VoteResult
        ``counts`` holds each answer's best score.

    Raises
    ------
    ValueError
        Lengths differ, unknown ``tie``, or ``tie="random"`` without ``rng``.

    References
    ----------
    Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems", arXiv 2110.14168.

    Examples
    --------
    >>> best_of_n(["3", "5", "5"], [0.9, 0.2, 0.4]).answer
    '3'
    """
    best, _, first, n_abstain = _tally_scores(answers, scores)
    return _select(best, first, n_abstain, tie, _make_rng(rng, seed), _correctness(item, correct))


def weighted_best_of_n(
    answers: Sequence[Hashable | None],
    scores: Sequence[float | None],
    *,
    tie: str = "fractional",
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    item: Any = None,
    correct: Correct | None = None,
) -> VoteResult:
    """Weighted best-of-N: sum the scores per answer, pick the largest sum.

    Parameters
    ----------
    answers, scores, tie, rng, seed, item, correct
        As in :func:`best_of_n`. Scores should be non-negative (e.g. verifier
        probabilities).

    Returns
    -------
    VoteResult
        ``counts`` holds each answer's summed score.

    Raises
    ------
    ValueError
        Lengths differ, unknown ``tie``, or ``tie="random"`` without ``rng``.

    References
    ----------
    Li et al. 2023, "Making Language Models Better Reasoners with Step-Aware
    Verifier" (verifier-weighted voting), arXiv 2206.02336.

    Examples
    --------
    >>> weighted_best_of_n(["3", "5", "5"], [0.9, 0.5, 0.5]).answer
    '5'
    """
    _, total, first, n_abstain = _tally_scores(answers, scores)
    return _select(total, first, n_abstain, tie, _make_rng(rng, seed), _correctness(item, correct))


def tie_rate(results: Sequence[VoteResult]) -> float:
    """Fraction of results (one per item) that ended in a tie; NaN if empty."""
    return float("nan") if not results else sum(r.tie for r in results) / len(results)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator from ``n`` samples of which ``c`` are correct.

    ``pass@k = 1 - C(n - c, k) / C(n, k)``: the probability that at least one of ``k``
    samples drawn without replacement from the ``n`` is correct. Computed as a
    product to stay exact for large ``n``. This is *coverage*, an upper bound, not a
    deployable method.

    Parameters
    ----------
    n : int
        Samples drawn, ``n >= 1``.
    c : int
        Correct samples, ``0 <= c <= n``.
    k : int
        ``1 <= k <= n``.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        If the counts are out of range.

    References
    ----------
    Chen et al. 2021, "Evaluating Large Language Models Trained on Code", arXiv 2107.03374.

    Examples
    --------
    >>> pass_at_k(10, 0, 5), pass_at_k(10, 10, 1), round(pass_at_k(4, 1, 2), 4)
    (0.0, 1.0, 0.5)
    """
    for name, v in (("n", n), ("c", c), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name}: must be an int, got {v!r}")
    if n < 1 or not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need n >= 1, 0 <= c <= n, 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    prob_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_wrong *= 1.0 - k / i
    return 1.0 - prob_all_wrong


def _vote_credit(class_counts: Sequence[int], class_correct: Sequence[bool]) -> float:
    """Fractional majority credit for one subset given votes per answer class."""
    top = max(class_counts) if class_counts else 0
    if top == 0:
        return 0.0
    winners = [ok for cnt, ok in zip(class_counts, class_correct) if cnt == top]
    return sum(winners) / len(winners)


def maj_at_k(
    answers: Sequence[Hashable | None],
    correct: Correct,
    k: int,
    *,
    max_exact: int = 200_000,
    n_subsets: int = 2000,
    rng: np.random.Generator | None = None,
) -> float:
    """maj@k estimated from ``n >= k`` samples: expected majority-vote credit of a
    uniformly random size-``k`` subset (drawn without replacement).

    Ties inside a subset get fractional credit; abstentions do not vote; a subset
    that only abstains earns 0.

    Parameters
    ----------
    answers : sequence of hashable or None
        The ``n`` normalised sample answers.
    correct : answer or callable
        The gold answer, or a predicate ``answer -> bool``.
    k : int
        Subset size, ``1 <= k <= n``.
    max_exact : int
        Exact computation when the number of distinct vote-count patterns to
        enumerate is at most this (it is usually far below ``C(n, k)`` because
        subsets are grouped by how many samples they take from each answer class).
    n_subsets : int
        Otherwise the mean over this many random subsets (at least 100).
    rng : numpy.random.Generator, optional
        Required only when the Monte Carlo path is taken.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        ``k`` out of range, ``n_subsets < 100``, or Monte Carlo needed without ``rng``.

    Notes
    -----
    Exact path: with answer classes of sizes ``n_j`` (abstentions one more class), the
    number of subsets taking ``k_j`` from class ``j`` is ``prod_j C(n_j, k_j)``; the
    estimate is the weighted mean of the vote credit over all ``(k_j)`` with
    ``sum k_j = k``, divided by ``C(n, k)``.

    Examples
    --------
    >>> maj_at_k(["7", "7", "3"], "7", 1)
    0.6666666666666666
    >>> maj_at_k(["7", "7", "3"], "7", 3)
    1.0
    """
    n = len(answers)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k: need 1 <= k <= n = {n}, got {k!r}")
    if n_subsets < 100:
        raise ValueError(f"n_subsets: at least 100 random subsets are required, got {n_subsets}")
    ok = _predicate(correct)
    counts = Counter(a for a in answers if a is not None)
    classes = sorted(counts, key=_sort_key)
    sizes = [counts[a] for a in classes]
    class_ok = [bool(ok(a)) for a in classes]
    n_abs = n - sum(sizes)
    all_sizes = sizes + [n_abs]
    if _n_compositions(all_sizes, k, max_exact + 1) <= max_exact:
        total = 0
        num = 0.0
        for comp in _compositions(all_sizes, k):
            w = 1
            for nj, kj in zip(all_sizes, comp):
                w *= math.comb(nj, kj)
            total += w
            num += w * _vote_credit(comp[:-1], class_ok)
        return num / total
    if rng is None:
        raise ValueError("rng: maj_at_k needs a seeded numpy.random.Generator for the Monte Carlo path")
    labels = np.array([classes.index(a) if a is not None else -1 for a in answers])
    acc = 0.0
    n_cls = len(classes)
    for _ in range(n_subsets):
        pick = labels[rng.choice(n, size=k, replace=False)]
        cc = np.bincount(pick[pick >= 0], minlength=n_cls)
        acc += _vote_credit(cc.tolist(), class_ok)
    return acc / n_subsets


def _n_compositions(sizes: Sequence[int], k: int, cap: int) -> int:
    """Number of (k_j) with 0 <= k_j <= sizes[j], sum k_j = k; stops counting at ``cap``."""
    ways = [1] + [0] * k  # ways[s] = number of partial compositions summing to s
    for nj in sizes:
        new = [0] * (k + 1)
        for s, w in enumerate(ways):
            if w:
                for t in range(0, min(nj, k - s) + 1):
                    new[s + t] = min(cap, new[s + t] + w)
        ways = new
    return ways[k]


def _compositions(sizes: Sequence[int], k: int):
    """Yield every tuple (k_j) with 0 <= k_j <= sizes[j] and sum k_j = k."""
    suffix = list(itertools.accumulate(reversed(sizes)))[::-1] + [0]

    def rec(j: int, left: int, acc: list[int]):
        if j == len(sizes):
            if left == 0:
                yield tuple(acc)
            return
        lo = max(0, left - suffix[j + 1])
        for t in range(lo, min(sizes[j], left) + 1):
            acc.append(t)
            yield from rec(j + 1, left - t, acc)
            acc.pop()

    yield from rec(0, k, [])
