"""Depth curves: accuracy against certified depth, with intervals and a decay fit.

One curve point per (task, strategy, budget, depth) over the outcome records of a run
(``docs/ARCHITECTURE.md``, outcome record). Accuracy is the mean *credit* per item
(fractional credit for vote ties); an item evaluated several times (repeated seeds)
counts once, with the mean of its credits, and the bootstrap then resamples items and,
within each, its repeats.

The decay model is ``acc(d) = c + (1 - c) * p**d``: a chain of ``d`` steps each right
with probability ``p``, and a chance-level guess ``c`` otherwise. ``d50`` is the depth
where accuracy has fallen halfway from 1 to chance, ``p**d50 = 1/2``.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from depthbench._lazy import lazy
from depthbench.scorers._bootstrap import percentile_interval, resample

optimize = lazy("scipy.optimize")
stats = lazy("scipy.stats")

np = lazy("numpy")
__all__ = [
    "wilson_interval",
    "bootstrap_mean_ci",
    "item_means",
    "depth_curves",
    "fit_depth_curve",
    "depth_auc",
    "curve_fits",
    "derive_rng",
    "ragged",
    "resampled_item_means",
]


def derive_rng(seed: int, *labels: Any) -> np.random.Generator:
    """A generator seeded from ``seed`` and labels (stable across runs and platforms)."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(x).encode("utf-8")) for x in labels]
    return np.random.default_rng(np.random.SeedSequence(words))


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes : float
        Number of successes (a sum of fractional credits is accepted), ``0 <= successes <= n``.
    n : int
        Trials, ``n >= 0``.
    confidence : float
        Two-sided level in (0, 1).

    Returns
    -------
    (float, float)
        Lower and upper bound in [0, 1]; ``(nan, nan)`` when ``n == 0``.

    Raises
    ------
    ValueError
        If the counts or the level are out of range.

    References
    ----------
    Wilson 1927, "Probable inference, the law of succession, and statistical inference",
    JASA 22(158). Brown, Cai and DasGupta 2001, "Interval estimation for a binomial
    proportion", Statistical Science 16(2).

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, float(centre - half)), min(1.0, float(centre + half)))


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean (resampling the values with replacement).

    Parameters
    ----------
    values : array_like, shape (n,)
        One value per item.
    rng : numpy.random.Generator
        Seeded generator (results are reproducible from the seed).
    n_boot : int
        Bootstrap replicates.
    confidence : float
        Two-sided level.

    Returns
    -------
    (float, float)
        ``(nan, nan)`` for an empty input.

    References
    ----------
    Efron and Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13
    (:mod:`depthbench.scorers._bootstrap`: the percentile ends are attained replicate values).
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    return percentile_interval(x[resample(rng, x.size, n_boot)].mean(axis=1), confidence)


def ragged(groups: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Pack per-item lists of repeated values into a zero-padded (n, r_max) matrix and counts."""
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    out = np.zeros((len(groups), int(counts.max()) if len(groups) else 0))
    for i, g in enumerate(groups):
        out[i, : len(g)] = g
    return out, counts


def resampled_item_means(values: np.ndarray, counts: np.ndarray, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two-stage bootstrap: item means after resampling each chosen item's repeats.

    Parameters
    ----------
    values : ndarray, shape (n, r_max)
        Repeated values per item, zero-padded (see :func:`ragged`).
    counts : ndarray, shape (n,)
        Repeats per item, >= 1.
    idx : ndarray of int, shape (B, n)
        Items chosen in each replicate (first stage).
    rng : numpy.random.Generator
        Draws the repeats (second stage).

    Returns
    -------
    ndarray, shape (B, n)
        Mean of the resampled repeats of each chosen item.

    References
    ----------
    Davison and Hinkley 1997, *Bootstrap Methods and their Application*, section 3.8
    (hierarchical data: resample clusters, then units within them).
    """
    if values.shape[1] == 1:
        return values[idx, 0]
    c = counts[idx]
    r = values.shape[1]
    picks = np.minimum((rng.random(idx.shape + (r,)) * c[..., None]).astype(np.int64), c[..., None] - 1)
    drawn = values[idx[..., None], picks]
    mask = np.arange(r) < c[..., None]
    return (drawn * mask).sum(axis=-1) / c


def item_means(records: Iterable[Mapping[str, Any]], field: str = "credit") -> dict[str, float]:
    """Mean of ``field`` per ``item_id`` (repeats of one item count once)."""
    acc: dict[str, list[float]] = defaultdict(list)
    for r in records:
        acc[str(r["item_id"])].append(float(r.get(field) or 0.0))
    return {k: sum(v) / len(v) for k, v in acc.items()}


def _credit(r: Mapping[str, Any]) -> float:
    c = r.get("credit")
    if c is None:
        c = 1.0 if r.get("correct") else 0.0
    return float(c)


def depth_curves(
    outcomes: Iterable[Mapping[str, Any]],
    *,
    chance: Mapping[str, float] | None = None,
    kinds: Mapping[str, str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """Accuracy per (task, strategy, budget, depth) with intervals and token means.

    Parameters
    ----------
    outcomes : iterable of mapping
        Outcome (or scored) records: ``item_id, task, strategy, budget, depth, credit``
        (or ``correct``), ``parse_status``, ``generated_tokens``, ``processed_tokens``.
    chance : mapping of str to float, optional
        Chance accuracy per task (copied into each row; None if unknown).
    kinds : mapping of str to str, optional
        Strategy kind per strategy name (copied into each row).
    n_boot : int
        Replicates of the bootstrap over items.
    seed : int
        Bootstrap seed; each row derives its own stream from (seed, row key).
    confidence : float
        Level of both intervals.

    Returns
    -------
    list of dict
        Sorted by (task, strategy, budget, depth); fields as ``curves`` in
        ``results.json``: ``n`` (distinct items), ``accuracy``, ``wilson_lo/hi``,
        ``boot_lo/hi``, ``no_answer_rate`` (share of outcomes without a final answer,
        i.e. ``parse_status != "ok"``), ``mean_generated_tokens``,
        ``mean_processed_tokens``, ``chance``, ``kind``, ``n_outcomes``, ``tie_rate``
        (share of outcomes whose vote ended in a tie, from ``meta.tie``; None when the
        strategy records no votes), ``mean_calls``, ``mean_responses``, ``mean_judge_calls``
        (per-outcome means of ``n_calls``, ``n_responses``, ``n_judge_calls``; None when no
        record carries the count).
    """
    groups: dict[tuple[str, str, int, int], list[Mapping[str, Any]]] = defaultdict(list)
    for r in outcomes:
        groups[(str(r["task"]), str(r["strategy"]), int(r["budget"]), int(r["depth"]))].append(r)
    rows = []
    for key in sorted(groups):
        task, strategy, budget, depth = key
        recs = groups[key]
        per_item: dict[str, list[float]] = defaultdict(list)
        for r in recs:
            per_item[str(r["item_id"])].append(_credit(r))
        groups_ = [v for _, v in sorted(per_item.items())]
        vals = np.array([sum(v) / len(v) for v in groups_])
        n = int(vals.size)
        acc = float(vals.mean())
        lo, hi = wilson_interval(acc * n, n, confidence)
        rng = derive_rng(seed, *key)
        if max(len(v) for v in groups_) == 1:
            blo, bhi = bootstrap_mean_ci(vals, rng=rng, n_boot=n_boot, confidence=confidence)
        else:  # repeated outcomes of an item: resample items, then repeats within each
            reps, counts = ragged(groups_)
            means = resampled_item_means(reps, counts, resample(rng, n, n_boot), rng).mean(axis=1)
            blo, bhi = percentile_interval(means, confidence)
        rows.append({
            "task": task, "strategy": strategy, "kind": (kinds or {}).get(strategy), "budget": budget, "depth": depth,
            "n": n, "n_outcomes": len(recs), "accuracy": acc, "wilson_lo": lo, "wilson_hi": hi,
            "boot_lo": blo, "boot_hi": bhi,
            "no_answer_rate": sum(1 for r in recs if r.get("parse_status", "ok") != "ok" or r.get("final_answer") is None) / len(recs),
            "mean_generated_tokens": float(np.mean([float(r.get("generated_tokens") or 0) for r in recs])),
            "mean_processed_tokens": float(np.mean([float(r.get("processed_tokens") or 0) for r in recs])),
            "chance": (chance or {}).get(task),
            "tie_rate": _tie_rate(recs),
            "mean_calls": _mean_count(recs, "n_calls"),
            "mean_responses": _mean_count(recs, "n_responses"),
            "mean_judge_calls": _mean_count(recs, "n_judge_calls"),
        })
    return rows


def _mean_count(recs: Sequence[Mapping[str, Any]], field: str) -> float | None:
    """Mean of an outcome count (``n_calls`` ...) over the records that carry it; None if none does
    (an outcome log written before the counts existed, or outcomes kept unscored)."""
    vals = [r[field] for r in recs if isinstance(r.get(field), int) and not isinstance(r.get(field), bool)]
    return sum(vals) / len(vals) if vals else None


def _tie_rate(recs: Sequence[Mapping[str, Any]]) -> float | None:
    flags = [bool(r["meta"]["tie"]) for r in recs if isinstance(r.get("meta"), Mapping) and "tie" in r["meta"]]
    return sum(flags) / len(flags) if flags else None


# ---------------------------------------------------------------------------------
# the decay fit
# ---------------------------------------------------------------------------------

_EPS = 1e-12


@lru_cache(maxsize=1)
def _p_grid() -> np.ndarray:
    """The p grid of the fit: 0, then p = 1 - exp(-t) for t in (0, 16], then 1 (dense near 0 and 1)."""
    t = np.linspace(0.0, 16.0, 3201)
    return np.concatenate([[0.0], -np.expm1(-t[1:]), [1.0]])


def _loglik_matrix(depths: np.ndarray, k: np.ndarray, n: np.ndarray, c: float, grid: np.ndarray) -> np.ndarray:
    """Log-likelihood for every row of ``k`` (shape (B, D)) at every grid ``p``: (B, P)."""
    q = c + (1 - c) * np.power.outer(grid, depths)  # (P, D)
    q = np.clip(q, _EPS, 1 - _EPS)
    return k @ np.log(q).T + (n - k) @ np.log1p(-q).T


def _refine(depths: np.ndarray, k: np.ndarray, n: np.ndarray, c: float, i: int) -> float:
    lo, hi = _p_grid()[max(i - 1, 0)], _p_grid()[min(i + 1, _p_grid().size - 1)]
    if hi <= lo:
        return float(_p_grid()[i])

    def nll(p: float) -> float:
        return _nll(p, depths, k, n, c)

    res = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    best = float(res.x)
    # keep the grid point if the boundary (e.g. p = 1 exactly) is better
    return best if nll(best) <= nll(float(_p_grid()[i])) else float(_p_grid()[i])


def _d50(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(p >= 1.0, np.inf, np.where(p <= 0.0, 0.0, math.log(0.5) / np.log(np.clip(p, 1e-300, 1.0))))
    return out


def depth_auc(depths: Sequence[float], accuracy: Sequence[float]) -> float:
    """Area under the accuracy-vs-depth curve scaled to [0, 1].

    Trapezoidal area over the observed depth range divided by its width, i.e. the
    average accuracy over depth (a single depth gives its accuracy).

    Examples
    --------
    >>> depth_auc([1, 2, 4], [1.0, 0.5, 0.5])
    0.5833333333333334
    """
    d = np.asarray(depths, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if d.size == 0:
        return float("nan")
    order = np.argsort(d)
    d, a = d[order], a[order]
    if d[-1] == d[0]:
        return float(a.mean())
    area = float(np.sum((d[1:] - d[:-1]) * (a[1:] + a[:-1]) / 2))
    return area / float(d[-1] - d[0])


def fit_depth_curve(
    per_depth: Mapping[int, Sequence[float]],
    chance: float,
    *,
    n_boot: int = 1000,
    rng: np.random.Generator | None = None,
    confidence: float = 0.95,
) -> dict[str, float | None]:
    """Fit ``acc(d) = c + (1 - c) * p**d`` by maximum likelihood, with bootstrap intervals.

    Parameters
    ----------
    per_depth : mapping of int to sequence of float
        For each depth, one credit in [0, 1] per item.
    chance : float
        Chance accuracy ``c`` in [0, 1).
    n_boot : int
        Bootstrap replicates (items resampled within each depth); 0 skips intervals.
    rng : numpy.random.Generator, optional
        Required when ``n_boot > 0``.
    confidence : float
        Two-sided level of the percentile intervals.

    Returns
    -------
    dict
        ``p``, ``p_lo``, ``p_hi`` (per-step reliability in [0, 1]); ``d50``,
        ``d50_lo``, ``d50_hi`` (None when infinite, i.e. p = 1); ``max_depth`` (the
        largest depth measured); ``d50_extrapolated`` (True when ``d50`` is infinite
        or beyond ``max_depth``: the curve never fell halfway to chance within the
        depths measured, so ``d50`` is the model's extrapolation); goodness of fit
        ``gof_max_abs_resid`` (largest ``|accuracy - fitted|`` over depths),
        ``gof_chi2`` and ``gof_p`` (Pearson chi-square of the per-depth counts with
        ``D - 1`` degrees of freedom; None with one depth); ``auc`` (see
        :func:`depth_auc`); ``chance``.

    Raises
    ------
    ValueError
        If ``chance`` is outside [0, 1), there is no data, or ``rng`` is missing.

    Notes
    -----
    Binomial likelihood with the summed credit as the success count (fractional
    credits give a quasi-likelihood). The maximum is found on a grid dense near 0 and
    1 (``p = 1 - exp(-t)``) and polished with a bounded scalar search; the bootstrap
    replicates are evaluated on the grid in one matrix product, O(B * D * P).

    The interval of ``p`` is the hull of the likelihood-ratio (Wilks) interval
    ``{p : 2 (l(p_hat) - l(p)) <= chi2_1(confidence)}`` and the percentile bootstrap
    interval (items resampled within each depth), so it always contains ``p`` and is
    not degenerate when every depth is all-right or all-wrong (where every bootstrap
    replicate is the same). ``d50`` is increasing in ``p``; its interval is the image
    of the ``p`` interval. With ``n_boot = 0`` the interval is the likelihood-ratio one.

    Examples
    --------
    >>> fit = fit_depth_curve({1: [1] * 9 + [0], 2: [1] * 81 + [0] * 19}, 0.0, n_boot=0)
    >>> round(fit["p"], 4), round(fit["d50"], 3)
    (0.9, 6.579)
    """
    if not 0 <= chance < 1:
        raise ValueError(f"chance: must be in [0, 1), got {chance}")
    ds = sorted(d for d, v in per_depth.items() if len(v))
    if not ds:
        raise ValueError("per_depth: no items to fit")
    depths = np.array(ds, dtype=float)
    vals = [np.asarray(per_depth[d], dtype=float) for d in ds]
    n = np.array([v.size for v in vals], dtype=float)
    k = np.array([v.sum() for v in vals], dtype=float)
    if n_boot > 0 and rng is None:
        raise ValueError("rng: fit_depth_curve needs a seeded numpy.random.Generator for the bootstrap")
    ll = _loglik_matrix(depths, k[None, :], n, chance, _p_grid())[0]
    p_hat = _refine(depths, k, n, chance, int(np.argmax(ll)))
    acc = [float(v.mean()) for v in vals]
    d50 = float(_d50(p_hat))
    fitted = np.clip(chance + (1 - chance) * p_hat ** depths, _EPS, 1 - _EPS)
    resid = np.asarray(acc) - fitted
    chi2 = float(np.sum((k - n * fitted) ** 2 / (n * fitted * (1 - fitted))))
    out: dict[str, Any] = {
        "p": p_hat, "p_lo": None, "p_hi": None, "d50": _none_if_inf(d50), "d50_lo": None, "d50_hi": None,
        "max_depth": int(ds[-1]), "d50_extrapolated": bool(not math.isfinite(d50) or d50 > ds[-1]),
        "gof_max_abs_resid": float(np.max(np.abs(resid))),
        "gof_chi2": chi2 if len(ds) > 1 else None,
        "gof_p": float(stats.chi2.sf(chi2, len(ds) - 1)) if len(ds) > 1 else None,
        "auc": depth_auc(ds, acc), "chance": chance,
    }
    lo, hi = _lr_interval(depths, k, n, chance, p_hat, confidence)
    if n_boot > 0:
        kb = np.empty((n_boot, len(ds)))
        for j, v in enumerate(vals):
            kb[:, j] = v[resample(rng, v.size, n_boot)].sum(axis=1)
        llb = _loglik_matrix(depths, kb, n, chance, _p_grid())
        blo, bhi = percentile_interval(_p_grid()[np.argmax(llb, axis=1)], confidence)
        lo, hi = min(lo, blo), max(hi, bhi)
    lo, hi = min(lo, p_hat), max(hi, p_hat)
    out.update(p_lo=lo, p_hi=hi, d50_lo=_none_if_inf(float(_d50(lo))), d50_hi=_none_if_inf(float(_d50(hi))))
    return out


def _nll(p: float, depths: np.ndarray, k: np.ndarray, n: np.ndarray, c: float) -> float:
    q = np.clip(c + (1 - c) * p ** depths, _EPS, 1 - _EPS)
    return -float(np.sum(k * np.log(q) + (n - k) * np.log1p(-q)))


def _lr_interval(depths: np.ndarray, k: np.ndarray, n: np.ndarray, c: float, p_hat: float,
                 confidence: float) -> tuple[float, float]:
    """Likelihood-ratio interval of ``p``: the hull of the grid points within the chi-square cut, refined."""
    cut = float(stats.chi2.ppf(confidence, 1)) / 2
    base = _nll(p_hat, depths, k, n, c)
    dev = -_loglik_matrix(depths, k[None, :], n, c, _p_grid())[0] - base - cut  # <= 0 inside
    inside = np.flatnonzero(dev <= 0)
    if inside.size == 0:
        return (p_hat, p_hat)

    def f(p: float) -> float:
        return _nll(p, depths, k, n, c) - base - cut

    i, j = int(inside[0]), int(inside[-1])
    lo = float(_p_grid()[i]) if i == 0 else float(optimize.brentq(f, _p_grid()[i - 1], _p_grid()[i])) \
        if f(float(_p_grid()[i - 1])) > 0 >= f(float(_p_grid()[i])) else float(_p_grid()[i])
    last = _p_grid().size - 1
    hi = float(_p_grid()[j]) if j == last else float(optimize.brentq(f, _p_grid()[j], _p_grid()[j + 1])) \
        if f(float(_p_grid()[j + 1])) > 0 >= f(float(_p_grid()[j])) else float(_p_grid()[j])
    return (min(lo, p_hat), max(hi, p_hat))


def _none_if_inf(x: float) -> float | None:
    return None if not math.isfinite(x) else x


def curve_fits(
    outcomes: Iterable[Mapping[str, Any]],
    chance: Mapping[str, float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Fit :func:`fit_depth_curve` for every (task, strategy, budget).

    Parameters
    ----------
    outcomes : iterable of mapping
        Outcome records (see :func:`depth_curves`).
    chance : mapping of str to float
        Chance accuracy per task; tasks without one are fitted with ``c = 0``.
    n_boot, seed
        Bootstrap replicates and seed (each fit derives its stream from the seed and its key).

    Returns
    -------
    list of dict
        ``fits`` rows of ``results.json``: ``task, strategy, budget, p, p_lo, p_hi,
        d50, d50_lo, d50_hi, auc, chance`` and ``max_depth, d50_extrapolated,
        gof_max_abs_resid, gof_chi2, gof_p`` (see :func:`fit_depth_curve`).
    """
    groups: dict[tuple[str, str, int], dict[int, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in outcomes:
        groups[(str(r["task"]), str(r["strategy"]), int(r["budget"]))][int(r["depth"])][str(r["item_id"])].append(_credit(r))
    rows = []
    for key in sorted(groups):
        task, strategy, budget = key
        per_depth = {d: [sum(v) / len(v) for _, v in sorted(items.items())] for d, items in groups[key].items()}
        c = float(chance.get(task) or 0.0)
        fit = fit_depth_curve(per_depth, c, n_boot=n_boot, rng=derive_rng(seed, "fit", *key))
        rows.append({"task": task, "strategy": strategy, "budget": budget, **fit})
    return rows
