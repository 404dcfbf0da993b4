"""Exact tests for the difference of two paired proportions, and their power.

Paired binary outcomes: on each of ``n`` items strategy A is right or wrong and so is
strategy B. Of the four counts only the discordant ones carry information about the
difference of accuracies ``delta = p10 - p01``: ``n10`` (A right, B wrong) and ``n01``
(A wrong, B right). The discordance ``q = p10 + p01`` is a nuisance parameter, and it
is what breaks the paired t-test: when the two strategies rarely disagree (``q`` close
to the margin) the t statistic's variance estimate is too small and TOST calls
"equivalent" up to 2.4 times too often (``BENCHMARKS.md``, *Verdict calibration*).

**The primitive.** :func:`p_value_less` is the p-value of ``H0: delta >= delta0``
against ``delta < delta0``. It is an *exact unconditional* test: the sample space of
``(n10, n01)`` is ordered by Tango's score statistic ``Z(delta0)`` (small = evidence
against ``H0``), and the p-value is the largest tail probability ``P(Z <= z_obs)`` over
every distribution of the null. Two facts make that maximum computable:

* Tango's ``Z`` increases with ``n10`` and decreases with ``n01`` (checked on the whole
  grid in the tests), so ``{Z <= t}`` is a region closed under "fewer n10, more n01".
  Moving probability from ``10`` to concordant or from concordant to ``01`` can only
  raise its probability, so the maximum over ``delta >= delta0`` lies on the boundary
  ``delta = delta0``, a one-parameter family ``(p10, p01) = (theta + delta0, theta)``.
* For ``theta`` in a cell ``[theta_j, theta_j+1]`` the same argument bounds the
  probability by that of the *corner* ``(theta_j + delta0, theta_j+1)``. The p-value is
  the maximum over the corners of a grid uniform in ``sqrt(theta)`` with step
  ``0.03 / sqrt(2 n)`` (0.03 standard errors of ``delta``; 325 corners at n = 100, 1027 at
  n = 1000, at most 4000, reached near 15,000 items): an upper bound of the exact p-value,
  so the size is at most the level at *every* nuisance value, not only on the grid, at a
  cost of about 0.03 standard errors of margin.

The p-value is a nondecreasing function of ``z_obs`` (a maximum of distribution
functions), hence monotone in the evidence, and ``n10 = n01 = 0`` is an ordinary
point of the sample space (no special case). Each tail probability is a sum over
``n01`` of a binomial term times a binomial distribution function (``n10`` given
``n01``), restricted to 10 standard deviations of ``n01``.

Tests built on it (:func:`paired_test`): the equivalence TOST with margin ``m`` is
``max(p_upper, p_lower)`` with ``p_upper = p_value_less(n10, n01, n, m)`` (``H0: delta >=
m``) and ``p_lower`` the mirror image (``H0: delta <= -m``); a difference in favour of A
is shown by ``p_value_less(n01, n10, n, 0)`` (``H0: delta <= 0``, ordered by the
McNemar statistic, Tango's ``Z(0)``), of B by the mirror, and the two-sided p-value is
twice the smaller, so "A better" at level ``alpha`` is a one-sided level ``alpha / 2``
test. The displayed interval is Tango's score interval (asymptotic; inside [-1, 1] by
construction); the verdicts come from the exact p-values.

**Fractional credit** (vote ties give 0.5; repeats are averaged per item) is reduced to
binary for the test by a seeded randomised rounding (:func:`round_credits`): one
uniform ``u_i`` per item, ``a_i* = 1[u_i < a_i]`` and ``b_i* = 1[u_i < b_i]``. The
rounding keeps each item's expected difference and adds the least discordance
possible (``|a_i - b_i|``); the rounded pairs are independent binary pairs with the same
``delta``, so the exact tests keep their level. The price is some power, and a verdict
that may depend on the seed when it is close to a threshold.

**Power** (:func:`equivalence_power`, :func:`power_items`) uses the normal
approximation of Tango's statistic under the alternative (the restricted maximum
likelihood estimate at its limit), and Holm's step-down across ``n_tests`` depths that
share the truth (computed exactly over the ordered p-values); the calibration script
checks it against the exact power of the exact test.

References
----------
Tango 1998, "Equivalence test and confidence interval for the difference in
proportions for the paired-sample design", Statistics in Medicine 17(8):891-908.
Suissa and Shuster 1991, "The 2 x 2 matched-pairs trial: exact unconditional design and
analysis", Biometrics 47(2):361-372. Berger and Boos 1994, "P values maximized over a
confidence set for the nuisance parameter", JASA 89(427):1012-1016 (a refinement not
used here: the maximum is taken over the whole nuisance range). Schuirmann 1987
(TOST); Holm 1979 (step-down).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from depthbench._lazy import lazy

np = lazy("numpy")
optimize = lazy("scipy.optimize")
special = lazy("scipy.special")
stats = lazy("scipy.stats")

__all__ = [
    "METHOD",
    "PairedTest",
    "tango_score",
    "p_value_less",
    "paired_test",
    "score_interval",
    "critical_score",
    "rejection_probability",
    "round_credits",
    "equivalence_power",
    "difference_power",
    "holm_power",
    "power_items",
    "items_to_decide",
    "check_margin",
]

#: One line naming the tests, written into ``results.json`` (``equivalence_method``).
METHOD = ("exact unconditional tests for paired proportions ordered by Tango's score (TOST at +-margin, "
          "two-sided difference), nuisance discordance maximised over a corner grid; Holm across depths; "
          "fractional credit rounded to 0/1 by a seeded draw per item")

_GRID_STEP = 0.03      # corner grid step, in standard errors of the difference
_MIN_CORNERS = 32
_MAX_CORNERS = 4000
_WINDOW_SD = 10.0      # n01 terms kept: mean +- 10 sd
_CHUNK = 512
_NEEDED_CAP = 10**6    # power searches give up beyond this many items
_TABLE_MAX = 200       # power helper: exact p-value tables up to this many items


def check_margin(margin: float) -> float:
    """The margin as a float, or ``ValueError`` unless ``0 < margin < 0.5``."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin < 0.5 \
            or not math.isfinite(margin):
        raise ValueError(f"margin: must be in (0, 0.5) accuracy units, got {margin!r}; e.g. 0.05")
    return float(margin)


def _check_counts(n10: int, n01: int, n: int) -> tuple[int, int, int]:
    x, y, m = int(n10), int(n01), int(n)
    if x != n10 or y != n01 or m != n or x < 0 or y < 0 or x + y > m or m < 1:
        raise ValueError(f"counts: need integers 0 <= n10, n01 and n10 + n01 <= n, n >= 1; got n10={n10}, "
                         f"n01={n01}, n={n}")
    return x, y, m


def tango_score(n10: np.ndarray | int, n01: np.ndarray | int, n: int, delta0: float) -> np.ndarray:
    """Tango's score statistic for ``H0: p10 - p01 = delta0`` (paired proportions).

    ``Z = (n10 - n01 - n delta0) / sqrt(n (2 p01~ + delta0 (1 - delta0)))`` with ``p01~``
    the maximum likelihood estimate of ``p01`` under ``H0`` (a root of a quadratic).

    Parameters
    ----------
    n10, n01 : int or array_like of int
        Discordant counts (broadcast together).
    n : int
        Pairs.
    delta0 : float
        Null difference in (-1, 1) (``+-1`` give ``-inf`` / ``+inf`` unless the data sit on it).

    Returns
    -------
    numpy.ndarray
        ``Z`` (0 where numerator and variance are both 0, e.g. no discordant pair at
        ``delta0 = 0``; ``+-inf`` where only the variance is 0).

    References
    ----------
    Tango 1998, Statistics in Medicine 17(8):891-908, equations (3)-(5).

    Examples
    --------
    >>> round(float(tango_score(12, 4, 100, 0.0)), 4)  # McNemar's z at delta0 = 0
    2.0
    """
    b = np.asarray(n10, dtype=float)
    c = np.asarray(n01, dtype=float)
    d = float(delta0)
    if d < 0:
        return -tango_score(c, b, n, -d)
    if d == 0:                       # McNemar: (b - c) / sqrt(b + c), 0 with no discordant pair
        s = b + c
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s > 0, (b - c) / np.sqrt(np.where(s > 0, s, 1.0)), 0.0)
    qb = (2.0 * n - b + c) * d - (b + c)
    p01 = (np.sqrt(qb * qb + (8.0 * n * d * (1.0 - d)) * c) - qb) / (4.0 * n)
    num = b - c - n * d
    if d < 1:                        # the variance is at least n d (1 - d) > 0
        return num / np.sqrt(n * (2.0 * p01 + d * (1.0 - d)))
    v = n * 2.0 * p01
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(v > 0, num / np.sqrt(np.where(v > 0, v, 1.0)), np.sign(num) * np.inf)
    return np.where((v <= 0) & (num == 0), 0.0, z)


@lru_cache(maxsize=64)
def _corners(n: int, delta0: float) -> tuple[np.ndarray, np.ndarray]:
    """Corner distributions ``(p10, p01)`` bounding the null boundary ``p10 - p01 = delta0``."""
    lo = max(0.0, -delta0)
    hi = (1.0 - delta0) / 2.0
    g = math.ceil(math.sqrt(hi - lo) * math.sqrt(2.0 * n) / _GRID_STEP)
    g = min(_MAX_CORNERS, max(_MIN_CORNERS, g))
    theta = lo + (hi - lo) * (np.arange(g + 1) / g) ** 2
    return theta[:-1] + delta0, theta[1:]


@lru_cache(maxsize=512)
def _log_factorials(n: int) -> np.ndarray:
    return special.gammaln(np.arange(n + 1) + 1.0)


def _row_bounds(c: np.ndarray, y: np.ndarray, n: int, delta0: float, mirror: bool) -> np.ndarray:
    """Per threshold ``c[l]`` and row ``n01 = y[w]``: where the region ``{Z <= c}`` ends in ``n10``.

    ``mirror=False``: the largest ``n10`` in ``[0, n - y]`` with ``Z(n10, y) <= c``, or -1
    (``Z`` increases in ``n10``). ``mirror=True``: the smallest ``n10`` with the mirrored
    score ``Z(y, n10) <= c``, or ``n - y + 1`` (the region of the test of the other side).
    Vectorised bisection over both axes, shape ``(len(c), len(y))``, started from a
    bracket around the solution with Tango's variance replaced by its unrestricted form
    (the bracket is checked and widened to the whole row where it misses).
    """
    c = np.asarray(c, dtype=float).reshape(-1, 1)
    yy = np.broadcast_to(np.asarray(y, dtype=int).reshape(1, -1), (c.shape[0], np.size(y)))
    tol = np.where(np.isfinite(c), 1e-9 * (1.0 + np.abs(np.where(np.isfinite(c), c, 0.0))), 0.0)
    top = n - yy

    def good(x: np.ndarray) -> np.ndarray:
        """True left of the answer: inside the region (plain) / outside it (mirror)."""
        xc = np.clip(x, 0, top)
        z = tango_score(yy, xc, n, delta0) if mirror else tango_score(xc, yy, n, delta0)
        inside = z <= c + tol
        return np.where(x < 0, True, np.where(x > top, False, ~inside if mirror else inside))

    cc = np.where(np.isfinite(c), c, np.sign(c) * 50.0)
    c2 = cc * cc
    with np.errstate(invalid="ignore"):
        if mirror:   # y - x - n d0 = u, variance ~ 2y - n d0 (1 + d0) - u
            k = np.maximum(2.0 * yy - n * delta0 * (1 + delta0), 0.0)
            u = np.where(cc < 0, (-c2 - np.sqrt(c2 * c2 + 4 * c2 * k)) / 2, (-c2 + np.sqrt(c2 * c2 + 4 * c2 * k)) / 2)
            guess = yy - n * delta0 - u
        else:        # x - y - n d0 = u, variance ~ 2y + n d0 (1 - d0) + u
            k = np.maximum(2.0 * yy + n * delta0 * (1 - delta0), 0.0)
            u = np.where(cc < 0, (c2 - np.sqrt(c2 * c2 + 4 * c2 * k)) / 2, (c2 + np.sqrt(c2 * c2 + 4 * c2 * k)) / 2)
            guess = yy + n * delta0 + u
    guess = np.nan_to_num(guess, nan=0.0, posinf=n, neginf=-1)
    width = 3 + np.ceil(0.05 * np.abs(np.nan_to_num(u)))
    lo = np.clip(np.floor(guess) - width, -1, top + 1).astype(int)
    hi = np.clip(np.ceil(guess) + width, -1, top + 1).astype(int)
    g_lo, g_hi = good(lo), good(hi)
    # invariant wanted: good(lo) and not good(hi); widen to the row's ends where the bracket misses
    lo, hi = np.where(g_lo, lo, -1), np.where(g_lo, hi, np.where(g_hi, hi, lo))
    lo, hi = np.where(g_hi & g_lo, hi, lo), np.where(g_hi & g_lo, top + 1, hi)
    while True:
        gap = hi - lo > 1
        if not gap.any():
            break
        mid = (lo + hi) // 2
        ok = good(mid)
        lo = np.where(gap & ok, mid, lo)
        hi = np.where(gap & ~ok, mid, hi)
    return lo + 1 if mirror else lo


def _largest_x(t: float, n: int, delta0: float) -> np.ndarray:
    """Per ``n01 = y`` (0..n): the largest ``n10`` with ``Z(n10, y) <= t``, or -1."""
    return _row_bounds(np.array([t]), np.arange(n + 1), n, delta0, mirror=False)[0]


def _smallest_x_mirror(c: float, n: int, delta0: float) -> np.ndarray:
    """Per ``y`` (0..n): the smallest ``n10`` whose mirrored score ``Z(y, n10)`` is ``<= c``, or ``n - y + 1``."""
    return _row_bounds(np.array([c]), np.arange(n + 1), n, delta0, mirror=True)[0]


def _tail(t: float, n: int, delta0: float, p10: np.ndarray, p01: np.ndarray) -> np.ndarray:
    """``P(Z(delta0) <= t)`` under each distribution ``(p10[j], p01[j])``."""
    f = _largest_x(t, n, delta0)
    lf = _log_factorials(n)
    out = np.empty(p10.size)
    for s in range(0, p10.size, _CHUNK):
        a, q = p10[s:s + _CHUNK], p01[s:s + _CHUNK]
        sd = np.sqrt(n * q * (1.0 - q))
        lo = np.clip(np.floor(n * q - _WINDOW_SD * sd - 2), 0, n).astype(int)
        hi = np.clip(np.ceil(n * q + _WINDOW_SD * sd + 2), 0, n).astype(int)
        y = lo[:, None] + np.arange(int((hi - lo).max()) + 1)[None, :]
        inside = y <= hi[:, None]
        y = np.minimum(y, n)
        with np.errstate(divide="ignore"):
            lpm = (lf[n] - lf[y] - lf[n - y] + special.xlogy(y, q[:, None])
                   + special.xlog1py(n - y, -q[:, None]))
        pm = np.where(inside, np.exp(lpm), 0.0)
        fy, rest = f[y], n - y
        cdf = np.where(fy >= rest, 1.0, 0.0)
        mid = (fy >= 0) & (fy < rest) & (pm > 0)
        pi = np.broadcast_to((a / (1.0 - q))[:, None], y.shape)
        cdf[mid] = special.bdtr(fy[mid], rest[mid], pi[mid])
        out[s:s + _CHUNK] = (pm * cdf).sum(axis=1)
    return out


def _max_tail(t: float, n: int, delta0: float) -> float:
    p10, p01 = _corners(n, delta0)
    return float(min(1.0, _tail(t, n, delta0, p10, p01).max()))


@lru_cache(maxsize=8192)
def _p_less_cached(x: int, y: int, n: int, delta0: float) -> float:
    return _max_tail(float(tango_score(x, y, n, delta0)), n, delta0)


def p_value_less(n10: int, n01: int, n: int, delta0: float) -> float:
    """Exact unconditional p-value of ``H0: p10 - p01 >= delta0`` against ``< delta0``.

    See the module docstring for the construction (Tango's score order, the maximum over
    the nuisance discordance bounded on a corner grid).

    Parameters
    ----------
    n10, n01 : int
        Discordant counts: A right and B wrong, A wrong and B right.
    n : int
        Pairs (``n10 + n01 <= n``).
    delta0 : float
        Null bound in (-1, 1).

    Returns
    -------
    float
        p-value in (0, 1]; for ``H0: delta <= delta0`` use ``p_value_less(n01, n10, n, -delta0)``.

    Raises
    ------
    ValueError
        Counts that are not integers with ``n10 + n01 <= n``, or ``delta0`` outside (-1, 1).

    Notes
    -----
    Cost: about ``0.03^-1 sqrt(2n)`` corners times ``20 sqrt(n q)`` binomial terms (5 ms at
    n = 100, 0.1 s at n = 1000 on one core); results are cached.

    Examples
    --------
    >>> p_value_less(0, 0, 300, 0.05) < 0.001    # 300 concordant pairs rule out delta >= 0.05
    True
    >>> p_value_less(0, 0, 20, 0.05) > 0.3        # 20 do not
    True
    """
    x, y, m = _check_counts(n10, n01, n)
    if not -1.0 < float(delta0) < 1.0:
        raise ValueError(f"delta0: must be in (-1, 1), got {delta0}")
    return _p_less_cached(x, y, m, float(delta0))


@dataclass(frozen=True)
class PairedTest:
    """Exact tests on one depth's paired binary outcomes (see :func:`paired_test`).

    Attributes
    ----------
    n, n10, n01 : int
        Pairs and discordant counts.
    diff : float
        ``(n10 - n01) / n``.
    p_upper, p_lower : float
        ``H0: delta >= m`` and ``H0: delta <= -m``.
    p_tost : float
        ``max(p_upper, p_lower)`` (``H0: |delta| >= m``).
    p_a_better, p_b_better : float
        ``H0: delta <= 0`` and ``H0: delta >= 0``.
    p_diff : float
        Two-sided, ``min(1, 2 min(p_a_better, p_b_better))``.
    ci90, ci95 : (float, float)
        Tango score intervals of ``delta``, inside [-1, 1].
    """

    n: int
    n10: int
    n01: int
    diff: float
    p_upper: float
    p_lower: float
    p_tost: float
    p_a_better: float
    p_b_better: float
    p_diff: float
    ci90: tuple[float, float]
    ci95: tuple[float, float]


def paired_test(n10: int, n01: int, n: int, margin: float = 0.05) -> PairedTest:
    """TOST equivalence and two-sided difference tests for paired binary outcomes.

    Parameters
    ----------
    n10, n01 : int
        Items where only A is right, where only B is right.
    n : int
        Paired items, ``n >= 1``.
    margin : float
        Equivalence margin ``m`` in (0, 0.5), accuracy units.

    Returns
    -------
    PairedTest

    Raises
    ------
    ValueError
        Bad counts or margin.

    Examples
    --------
    >>> r = paired_test(3, 2, 400, margin=0.05)
    >>> r.p_tost < 0.05, r.p_diff > 0.05
    (True, True)
    >>> paired_test(0, 0, 300).p_tost < paired_test(1, 0, 300).p_tost   # monotone in the evidence
    True
    """
    x, y, nn = _check_counts(n10, n01, n)
    m = check_margin(margin)
    p_up = p_value_less(x, y, nn, m)
    p_lo = p_value_less(y, x, nn, m)
    # The side away from the data has p >= 1/2 (its tail holds every point with n10 <= n01 or
    # the reverse), so the two-sided p-value min(1, 2 min(.)) never needs it: it is reported as 1.
    p_a = p_value_less(y, x, nn, 0.0) if x > y else 1.0
    p_b = p_value_less(x, y, nn, 0.0) if y > x else 1.0
    return PairedTest(nn, x, y, (x - y) / nn, p_up, p_lo, max(p_up, p_lo), p_a, p_b, min(1.0, 2 * min(p_a, p_b)),
                      score_interval(x, y, nn, 0.90), score_interval(x, y, nn, 0.95))


def score_interval(n10: int, n01: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Tango's score interval for the paired difference ``p10 - p01``.

    The set of ``delta0`` whose two-sided score test does not reject at ``1 - confidence``,
    found by bisection (Tango's ``Z`` decreases in ``delta0``); always inside [-1, 1].

    Parameters
    ----------
    n10, n01, n : int
        Counts as in :func:`paired_test`.
    confidence : float
        Two-sided level in (0, 1).

    Returns
    -------
    (float, float)

    References
    ----------
    Tango 1998, Statistics in Medicine 17(8):891-908 (coverage studied there; ours is in
    ``BENCHMARKS.md``).

    Examples
    --------
    >>> lo, hi = score_interval(100, 0, 100)          # A always right, B always wrong
    >>> round(lo, 3), hi
    (0.926, 1.0)
    """
    x, y, nn = _check_counts(n10, n01, n)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    z = float(stats.norm.isf((1 - confidence) / 2))

    def score(d: float) -> float:
        return float(tango_score(x, y, nn, d))

    # Z decreases in delta0: the interval is [smallest d with Z(d) <= z, largest d with Z(d) >= -z]
    edge = 1.0 - 1e-12
    if score(-edge) <= z:
        lower = -1.0
    else:
        lower = optimize.brentq(lambda d: score(d) - z, -edge, edge, xtol=1e-12)
    if score(edge) >= -z:
        upper = 1.0
    else:
        upper = optimize.brentq(lambda d: score(d) + z, -edge, edge, xtol=1e-12)
    return (max(-1.0, lower), min(1.0, upper))


@lru_cache(maxsize=1024)
def critical_score(n: int, delta0: float, level: float) -> float:
    """The critical value ``c`` of :func:`p_value_less`: ``p <= level`` iff ``Z(delta0) <= c``.

    ``c`` is the largest attainable score whose p-value is at most ``level`` (``-inf``
    when none is); the p-value is a nondecreasing function of the score, so the rejection
    region at ``level`` is exactly ``{Z <= c}``.

    Parameters
    ----------
    n : int
        Pairs.
    delta0 : float
        Null bound in (-1, 1).
    level : float
        Level in (0, 1).

    Returns
    -------
    float
    """
    if not 0 < level < 1:
        raise ValueError(f"level: must be in (0, 1), got {level}")
    x, y = np.nonzero(np.add.outer(np.arange(n + 1), np.arange(n + 1)) <= n)
    z = np.unique(tango_score(x, y, n, delta0))
    z = z[np.isfinite(z)] if np.isfinite(z).any() else z
    if _max_tail(float(z[0]), n, delta0) > level:
        return -math.inf
    lo, hi = 0, z.size - 1          # z[lo] passes; find the last passing index
    if _max_tail(float(z[hi]), n, delta0) <= level:
        return float(z[hi])
    guess = int(np.searchsorted(z, float(stats.norm.ppf(level))))
    for probe in (max(guess - 1, 0), min(guess + 1, hi)):   # tighten the bracket around the normal guess
        if lo < probe < hi:
            if _max_tail(float(z[probe]), n, delta0) <= level:
                lo = probe
            else:
                hi = probe
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _max_tail(float(z[mid]), n, delta0) <= level:
            lo = mid
        else:
            hi = mid
    return float(z[lo])


def _binom_cdf(k: np.ndarray, trials: np.ndarray, p: float) -> np.ndarray:
    """``P(Binomial(trials, p) <= k)`` elementwise (0 for ``k < 0``, 1 for ``k >= trials``)."""
    k, trials = np.broadcast_arrays(k, trials)
    out = np.where(k >= trials, 1.0, 0.0)
    mid = (k >= 0) & (k < trials)
    out[mid] = special.bdtr(k[mid], trials[mid], p)
    return out


def _rows_probability(n: int, p10: float, p01: float, y: np.ndarray, upper: np.ndarray, lower: np.ndarray
                      ) -> np.ndarray:
    """``P(n01 = y, lower <= n10 <= upper)`` summed over the rows ``y`` under the trinomial ``(p10, p01)``.

    ``upper`` / ``lower`` have shape ``(L, len(y))`` (one region per row of the result).
    """
    lf = _log_factorials(n)
    with np.errstate(divide="ignore"):
        pm = np.exp(lf[n] - lf[y] - lf[n - y] + special.xlogy(y, p01) + special.xlog1py(n - y, -p01))
    rest = np.broadcast_to(n - y, upper.shape)
    pi = 0.0 if p01 >= 1 else min(1.0, p10 / (1.0 - p01))
    inside = _binom_cdf(np.minimum(upper, rest), rest, pi) - _binom_cdf(np.minimum(lower, rest + 1) - 1, rest, pi)
    return np.sum(pm * np.clip(inside, 0.0, 1.0), axis=1)


def _region_probability(n: int, p10: float, p01: float, upper: np.ndarray, lower: np.ndarray) -> float:
    """``P(lower[y] <= n10 <= upper[y])`` under the trinomial ``(p10, p01)``, by rows of ``n01 = y``."""
    y = np.arange(n + 1)
    return float(_rows_probability(n, p10, p01, y, upper[None, :], lower[None, :])[0])


def rejection_probability(n: int, p10: float, p01: float, *, margin: float = 0.05, level: float = 0.05,
                          outcome: str = "equivalent") -> float:
    """Exact probability that :func:`paired_test` shows ``outcome`` at ``level``.

    Enumerates ``(n10, n01)`` (rows of ``n01``, each a binomial distribution function of
    ``n10``), so there is no Monte Carlo error.

    Parameters
    ----------
    n : int
        Pairs.
    p10, p01 : float
        True probabilities of the two discordant kinds (``p10 + p01 <= 1``).
    margin : float
        Equivalence margin.
    level : float
        Level the p-value is compared with (a Holm level ``alpha / k`` for Holm's k-th step).
    outcome : {"equivalent", "a_better", "b_better", "different"}
        ``p_tost <= level``; ``p_diff <= level`` with A ahead / B ahead / either.

    Returns
    -------
    float
    """
    m = check_margin(margin)
    if outcome == "equivalent":
        c = critical_score(n, m, level)
        if not math.isfinite(c):
            return 0.0
        return _region_probability(n, p10, p01, _largest_x(c, n, m), _smallest_x_mirror(c, n, m))
    if outcome in ("a_better", "b_better", "different"):
        c = critical_score(n, 0.0, level / 2)
        if not math.isfinite(c):
            return 0.0
        a = _region_probability(n, p10, p01, np.arange(n, -1, -1), _smallest_x_mirror(c, n, 0.0)) \
            if outcome != "b_better" else 0.0
        b = _region_probability(n, p10, p01, _largest_x(c, n, 0.0), np.zeros(n + 1, dtype=int)) \
            if outcome != "a_better" else 0.0
        return a + b
    raise ValueError(f"outcome: one of equivalent, a_better, b_better, different; got {outcome!r}")


def _unit(item_id: str, seed: int) -> float:
    h = hashlib.sha256(f"depthbench-rounding/1\0{int(seed)}\0{item_id}".encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def round_credits(a: Sequence[float], b: Sequence[float], item_ids: Sequence[str], seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Seeded randomised rounding of paired credits in [0, 1] to 0/1 (comonotone).

    Item ``i`` gets ``u_i`` in [0, 1) from a hash of ``(seed, item_id)`` and becomes
    ``(1[u_i < a_i], 1[u_i < b_i])``: the expected difference is kept, the discordance is
    the smallest possible (``|a_i - b_i|``), and binary credits are unchanged. The same
    item gets the same ``u_i`` in every comparison of a run.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Per-item credits (means over repeats) of the two strategies.
    item_ids : sequence of str, length n
        The items, for the seeded draw.
    seed : int
        Seed (``analyze --seed``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, bool)
        The rounded credits (float 0/1) and whether any credit was fractional.

    Raises
    ------
    ValueError
        Lengths differ or a credit lies outside [0, 1].
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape or x.shape != (len(item_ids),):
        raise ValueError(f"a, b, item_ids: need one credit per item under each strategy, got {x.size}, {y.size}, "
                         f"{len(item_ids)}")
    if x.size and (np.nanmin(np.minimum(x, y)) < 0 or np.nanmax(np.maximum(x, y)) > 1 or np.isnan(x + y).any()):
        raise ValueError("a, b: credits must lie in [0, 1]")
    frac = bool(np.any((x % 1) != 0) or np.any((y % 1) != 0))
    if not frac:
        return x.copy(), y.copy(), False
    u = np.array([_unit(str(i), seed) for i in item_ids])
    return (u < x).astype(float), (u < y).astype(float), True


# ----------------------------------------------------------------------------------- power

def _p_table(n: int, delta0: float, level_max: float) -> np.ndarray:
    """:func:`p_value_less` at every ``(n10, n01)`` whose p-value may be ``<= level_max``; 1 elsewhere.

    NaN where ``n10 + n01 > n``. Sorts the sample space by the score once, then per corner
    distribution takes the cumulative sum of its probabilities in that order (the same
    corners and tolerance as the per-point sums, so the values agree to rounding; tested).
    Only points with a score below ``ndtri(level_max) + 0.5`` are evaluated (widened until
    the last one's p-value exceeds ``level_max``): the power helper asks about small levels.
    """
    cut = float(special.ndtri(level_max)) + 0.5
    while True:
        out = _p_table_cut(n, delta0, round(cut, 6))
        if cut > 40 or np.nanmax(np.where(out < 1.0, out, -1.0), initial=-1.0) > level_max \
                or np.all(np.isnan(out) | (out < 1.0)):
            return out
        cut += 1.0


@lru_cache(maxsize=128)
def _p_table_cut(n: int, delta0: float, cut: float) -> np.ndarray:
    x, y = np.nonzero(np.add.outer(np.arange(n + 1), np.arange(n + 1)) <= n)
    z = tango_score(x, y, n, delta0)
    out = np.full((n + 1, n + 1), np.nan)
    out[x, y] = 1.0
    keep = z <= cut
    x, y, z = x[keep], y[keep], z[keep]
    order = np.argsort(z, kind="stable")
    zs = z[order]
    tie_end = np.searchsorted(zs, zs + 1e-9 * (1.0 + np.abs(zs)), side="right") - 1
    xs, ys = x[order], y[order]
    lf = _log_factorials(n)
    base = lf[n] - lf[xs] - lf[ys] - lf[n - xs - ys]
    best = np.zeros(zs.size)
    p10, p01 = _corners(n, delta0)
    logs = np.log(np.maximum(np.stack([p10, p01, 1.0 - p10 - p01]), 1e-300))   # 0 * log(tiny) = 0 where a count is 0
    counts = np.stack([xs, ys, n - xs - ys]).astype(float)
    block = max(1, 2_000_000 // max(1, zs.size))
    for s in range(0, p10.size, block):
        lp = base[None, :] + logs[:, s:s + block].T @ counts
        np.maximum(best, np.cumsum(np.exp(lp), axis=1)[:, tie_end].max(axis=0), out=best)
    out[xs, ys] = np.minimum(best, 1.0)
    out.flags.writeable = False    # cached: shared between callers
    return out


def _trinomial(n: int, p10: float, p01: float) -> np.ndarray:
    """``P(n10 = x, n01 = y)`` on the (n + 1, n + 1) grid (0 outside ``x + y <= n``)."""
    x, y = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    rest = n - x - y
    ok = rest >= 0
    rest = np.where(ok, rest, 0)
    lf = _log_factorials(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = (lf[n] - lf[x] - lf[y] - lf[rest] + special.xlogy(x, p10) + special.xlogy(y, p01)
              + special.xlogy(rest, max(0.0, 1.0 - p10 - p01)))
    return np.where(ok, np.exp(lp), 0.0)


def _reject_levels(n: int, p10: float, p01: float, delta0: float, levels: Sequence[float],
                   equivalence: bool) -> np.ndarray:
    """Probabilities that the exact test rejects at each level (the power helper's core).

    Up to ``_TABLE_MAX`` items it is exact: the p-value table times the trinomial
    probabilities. Above, the sample space is still enumerated exactly (rows of ``n01``
    within 10 standard deviations of its mean), but the exact critical value is replaced
    by the normal quantile moved by the corner grid's step (``-z_level - 0.03``), which
    avoids the maximisation over the nuisance (about 2 ms for five levels);
    ``benchmarks/verdict_calibration.py`` measures the difference (at most 0.02 on its
    grid). For a difference (``equivalence=False``) the event is "A ahead" at ``level``.
    """
    levels = np.asarray(levels, dtype=float)
    if n <= _TABLE_MAX:
        t = _p_table(n, delta0, float(levels.max()))
        p = np.nan_to_num(np.fmax(t, t.T) if equivalence else t.T, nan=2.0)
        w = _trinomial(n, p10, p01)
        return np.array([float(np.sum(w * (p <= u))) for u in levels])
    c = special.ndtri(levels) - _GRID_STEP
    sd = math.sqrt(n * p01 * (1.0 - p01))
    y = np.arange(int(max(0, math.floor(n * p01 - _WINDOW_SD * sd - 2))),
                  int(min(n, math.ceil(n * p01 + _WINDOW_SD * sd + 2))) + 1)
    lower = _row_bounds(c, y, n, delta0, mirror=True)
    upper = _row_bounds(c, y, n, delta0, mirror=False) if equivalence else np.broadcast_to(n - y, lower.shape)
    return _rows_probability(n, p10, p01, y, upper, lower)


def _check_truth(discordance: float, diff: float) -> tuple[float, float]:
    q, d = float(discordance), float(diff)
    if not 0 <= q <= 1 or abs(d) > q + 1e-12:
        raise ValueError(f"discordance, diff: need 0 <= |diff| <= discordance <= 1, got {discordance}, {diff}")
    # |diff| == discordance up to float error (0.04 against 1.0 - 0.96): clamp, so that the
    # discordant cell behind, (q - |d|) / 2, is exactly 0 and never a tiny negative probability
    return q, math.copysign(min(abs(d), q), d)


def holm_power(power_at: Callable[[float], float], alpha: float, n_tests: int) -> float:
    """Per-test power of Holm's step-down over ``n_tests`` tests sharing one truth.

    Parameters
    ----------
    power_at : callable
        ``level -> P(p <= level)`` for one test.
    alpha : float
        Family-wise level.
    n_tests : int
        Number of tests (depths), ``>= 1``.

    Returns
    -------
    float
        ``E[R] / n_tests`` where ``R`` is the number Holm rejects, computed exactly for
        independent tests from the probabilities at the levels ``alpha / k``.

    Examples
    --------
    >>> round(holm_power(lambda u: min(1.0, 10 * u), 0.05, 1), 3)
    0.5
    """
    k = int(n_tests)
    if k < 1:
        raise ValueError(f"n_tests: must be >= 1, got {n_tests}")
    if k == 1:
        return float(power_at(alpha))
    cum = [min(1.0, max(0.0, float(power_at(alpha / (k - i))))) for i in range(k)]
    cum = list(np.maximum.accumulate(cum))
    dist = np.zeros(k + 1)
    dist[0] = 1.0
    prev, expected = 0.0, 0.0
    for i in range(k):
        rest = 1.0 - prev
        share = 0.0 if rest <= 0 else min(1.0, max(0.0, (cum[i] - prev) / rest))
        new = np.zeros(k + 1)
        for have in range(k + 1):
            if dist[have]:
                left = k - have
                new[have:] += dist[have] * np.array([math.comb(left, j) * share**j * (1.0 - share) ** (left - j)
                                                     for j in range(left + 1)])
        new[: i + 1] = 0.0          # the (i+1)-th smallest p-value must pass alpha / (k - i)
        dist, prev = new, cum[i]
        expected += float(dist.sum())
    return expected / k


def _holm_power_of(reject_at: Callable[[np.ndarray], np.ndarray], alpha: float, n_tests: int) -> float:
    """:func:`holm_power` with the rejection probabilities at all of Holm's levels computed at once."""
    k = int(n_tests)
    levels = np.array([alpha / (k - i) for i in range(k)])
    probs = dict(zip(levels.tolist(), np.asarray(reject_at(levels), dtype=float).tolist()))
    return holm_power(lambda u: probs[u], alpha, k)


def equivalence_power(n: int, discordance: float, *, diff: float = 0.0, margin: float = 0.05,
                      alpha: float = 0.05, n_tests: int = 1) -> float:
    """Power of the equivalence verdict at one depth (normal approximation of the exact TOST).

    Parameters
    ----------
    n : int
        Items per depth.
    discordance : float
        True ``p10 + p01``.
    diff : float
        True difference ``p10 - p01`` (``|diff| <= discordance``).
    margin, alpha : float
        Margin; family-wise level (each one-sided test of the TOST at ``alpha``).
    n_tests : int
        Depths tested with Holm, all at this truth.

    Returns
    -------
    float
    """
    m = check_margin(margin)
    q, d = _check_truth(discordance, diff)
    p10, p01 = (q + d) / 2, (q - d) / 2

    return _holm_power_of(lambda levels: _reject_levels(int(n), p10, p01, m, levels, True), alpha, n_tests)


def difference_power(n: int, discordance: float, diff: float, *, alpha: float = 0.05, n_tests: int = 1) -> float:
    """Power of the verdict "A better" (``diff > 0``) or "B better" (``diff < 0``) at one depth.

    Normal approximation of the exact two-sided test (one side at ``alpha / 2``), with
    Holm over ``n_tests`` depths sharing the truth.
    """
    q, d = _check_truth(discordance, diff)
    if d == 0:
        return 0.0
    ahead, behind = (q + abs(d)) / 2, (q - abs(d)) / 2     # by symmetry: A ahead
    return _holm_power_of(lambda levels: _reject_levels(int(n), ahead, behind, 0.0, np.asarray(levels) / 2, False),
                          alpha, n_tests)


def _normal_one_sided(n: int, p10: float, p01: float, d0: float, level: float) -> float:
    """Closed-form normal approximation of ``P(Z(d0) <= -z_level)`` under ``(p10, p01)``, ``d0 >= 0``.

    ``n10 - n01`` is normal with mean ``n delta`` and variance ``n (q - delta^2)``; Tango's
    variance is taken at its limit (the restricted estimate at the true proportions).
    Only a starting point for the search in :func:`_smallest_n`.
    """
    delta, q = p10 - p01, p10 + p01
    qb = -q + (2.0 - p10 + p01) * d0
    qc = -p01 * d0 * (1.0 - d0)
    v0 = 2.0 * (-qb + math.sqrt(max(qb * qb - 8.0 * qc, 0.0))) / 4.0 + d0 * (1.0 - d0)
    num = float(special.ndtri(level)) * math.sqrt(v0) - math.sqrt(n) * (delta - d0)
    s2 = q - delta * delta
    if s2 <= 1e-15:
        return 1.0 if num > 0 else 0.0
    return float(special.ndtr(num / math.sqrt(s2)))


def _planned(n: int) -> int:
    """Sample sizes the power searches try: every n above ``_TABLE_MAX``, multiples of 10 up to it.

    Exact power is a saw-tooth in n for small n (each n its own p-value table), so unit
    resolution there means nothing and would cost a table per n tried.
    """
    return int(n) if n > _TABLE_MAX else min(_TABLE_MAX, 10 * math.ceil(n / 10))


def _smallest_n(accurate: Callable[[int], float], rough: Callable[[int], float], target: float) -> int | None:
    """Smallest ``n`` (>= 2) with ``accurate(n) >= target``, searched near the ``rough`` answer.

    ``rough`` (closed form) is bisected first; ``accurate`` is then bracketed around its
    answer and bisected to 1% of ``n``, so it is evaluated about five times. Powers of
    exact tests are not monotone in ``n`` (the saw-tooth of discrete tests): the answer is
    an ``n`` whose power reaches the target while the bracket's lower end does not.
    """
    def search(f: Callable[[int], float], lo: int, hi: int, relative: bool = False) -> int:
        while hi - lo > (max(1, hi // 100) if relative else 1):
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if f(mid) >= target else (mid, hi)
        return hi

    if rough(_NEEDED_CAP) < target and accurate(_NEEDED_CAP) < target:
        return None
    n0 = 2 if rough(2) >= target else search(rough, 2, _NEEDED_CAP)
    if accurate(n0) >= target:
        hi = n0
        lo = max(1, int(n0 / 1.04))
        while lo > 1 and accurate(lo) >= target:
            hi, lo = lo, max(1, int(lo / 1.15))
        if lo == 1:
            return 2 if accurate(2) >= target else search(accurate, 2, hi, relative=True)
    else:
        lo = n0
        hi = min(_NEEDED_CAP, int(n0 * 1.04) + 1)
        while accurate(hi) < target:
            if hi >= _NEEDED_CAP:
                return None
            lo, hi = hi, min(_NEEDED_CAP, int(hi * 1.15) + 1)
    return search(accurate, lo, hi, relative=True)


def power_items(discordance: float, margin: float = 0.05, alpha: float = 0.05, power: float = 0.8, *,
                n_tests: int = 1, diff: float = 0.0) -> int | None:
    """Items per depth for the equivalence verdict to have the given power.

    The smallest ``n`` whose :func:`equivalence_power` reaches ``power``: the exact TOST of
    :func:`paired_test` (its normal approximation), at the true difference ``diff``
    (default 0) and discordance, with Holm across ``n_tests`` depths that share this truth.
    When the other depths are not equivalent (beyond a breakpoint), a depth is tested at
    a smaller Holm level and the power is lower, down to the Bonferroni level
    ``alpha / n_tests``.

    Parameters
    ----------
    discordance : float
        Share of items where exactly one strategy is right, in [0, 1] (after rounding of
        fractional credit: the mean of ``|a_i - b_i|``).
    margin : float
        Equivalence margin ``m`` in (0, 0.5).
    alpha : float
        Family-wise level; each one-sided test of the TOST is at this level.
    power : float
        Target power per depth, in (0, 1).
    n_tests : int
        Depths in the Holm family.
    diff : float
        True difference, ``|diff| < margin``.

    Returns
    -------
    int or None
        Items per depth (a multiple of 10 up to 200 items, where the exact test's power
        is a saw-tooth in n); None if more than a million would be needed or
        ``|diff| >= margin``.

    Raises
    ------
    ValueError
        Out-of-range arguments.

    References
    ----------
    Tango 1998 (the statistic and its asymptotic distribution); Holm 1979. Checked
    against the exact power in ``benchmarks/verdict_calibration.py``.

    Examples
    --------
    >>> power_items(0.2, margin=0.05)
    713
    >>> power_items(0.2, margin=0.05, n_tests=5) > power_items(0.2, margin=0.05)
    True
    """
    m = check_margin(margin)
    q, d = _check_truth(discordance, diff)
    if not 0 < alpha < 0.5 or not 0 < power < 1:
        raise ValueError(f"alpha, power: need 0 < alpha < 0.5 and 0 < power < 1, got {alpha}, {power}")
    return _power_items(q, d, m, float(alpha), float(power), int(n_tests))


@lru_cache(maxsize=4096)
def _power_items(q: float, d: float, m: float, alpha: float, power: float, n_tests: int) -> int | None:
    if abs(d) >= m:
        return None
    p10, p01 = (q + d) / 2, (q - d) / 2

    def rough(n: int) -> float:
        return holm_power(lambda u: max(0.0, _normal_one_sided(n, p10, p01, m, u)
                                        + _normal_one_sided(n, p01, p10, m, u) - 1.0), alpha, n_tests)

    found = _smallest_n(lambda n: equivalence_power(_planned(n), q, diff=d, margin=m, alpha=alpha, n_tests=n_tests),
                        rough, power)
    return None if found is None else _planned(found)


def items_to_decide(discordance: float, diff: float, margin: float = 0.05, alpha: float = 0.05,
                    power: float = 0.8, *, n_tests: int = 1) -> int | None:
    """Items per depth that would decide an undetermined depth, taking the estimates as the truth.

    The smaller of the items needed to show equivalence (if ``|diff| < margin``) and to
    show the difference (if ``diff != 0``) with the given power, Holm over ``n_tests``.
    A planning figure ("about N items per depth would decide it"), not a test.

    Returns
    -------
    int or None
        None if neither is reachable within a million items.
    """
    m = check_margin(margin)
    q, d = _check_truth(discordance, diff)
    return _items_to_decide(q, d, m, float(alpha), float(power), int(n_tests))


@lru_cache(maxsize=4096)
def _items_to_decide(q: float, d: float, m: float, alpha: float, power: float, n_tests: int) -> int | None:
    options = []
    if abs(d) < m:
        options.append(_power_items(q, d, m, alpha, power, n_tests))
    if d != 0:
        ahead, behind = (q + abs(d)) / 2, (q - abs(d)) / 2
        found = _smallest_n(
            lambda n: difference_power(_planned(n), q, d, alpha=alpha, n_tests=n_tests),
            lambda n: holm_power(lambda u: _normal_one_sided(n, behind, ahead, 0.0, u / 2), alpha, n_tests), power)
        options.append(None if found is None else _planned(found))
    found = [o for o in options if o is not None]
    return min(found) if found else None
