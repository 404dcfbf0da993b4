"""The one bootstrap helper: resampling indices and percentile intervals.

Every bootstrap in depthbench (curve points, curve fits, paired differences, the
breakpoint, the leaderboard's AUC) resamples with :func:`resample` and reads its interval
with :func:`percentile_interval`, so they agree on the method: the percentile interval of
Efron and Tibshirani, whose ends are *attained* replicate values (numpy's
``"inverted_cdf"`` quantile, no interpolation) -- right for discrete statistics such as a
breakpoint depth or an accuracy ``k / n`` as well as for continuous ones.

References
----------
Efron and Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13 (percentile interval).
"""

from __future__ import annotations

from depthbench._lazy import lazy

np = lazy("numpy")

__all__ = ["QUANTILE_METHOD", "resample", "percentile_interval"]

#: numpy quantile method of every bootstrap interval (attained values, no interpolation)
QUANTILE_METHOD = "inverted_cdf"


def resample(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """Indices of ``n_boot`` resamples with replacement of ``n`` units.

    Returns
    -------
    numpy.ndarray of int, shape (n_boot, n)
        Row ``b`` indexes the units drawn in replicate ``b``.
    """
    return rng.integers(0, n, size=(n_boot, n))


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The two-sided percentile interval of bootstrap replicates.

    Parameters
    ----------
    replicates : array_like, shape (n_boot,)
        The statistic on each replicate (NaN-free).
    confidence : float
        Two-sided level in (0, 1).

    Returns
    -------
    (float, float)
        ``(nan, nan)`` for no replicates.

    Examples
    --------
    >>> percentile_interval(np.arange(1, 101), 0.9)
    (5.0, 95.0)
    """
    x = np.asarray(replicates, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    a = (1 - confidence) / 2
    lo, hi = np.quantile(x, [a, 1 - a], method=QUANTILE_METHOD)
    return (float(lo), float(hi))
