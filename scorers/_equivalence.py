"""Paired equivalence of two strategies on the same items, depth by depth.

Design (``../shared/DESIGN.md``, *Statistics*): the same items under strategies A and
B; per depth the paired difference ``A - B`` of per-item credit, its paired bootstrap
intervals, and a TOST equivalence test with margin ``m`` (default 0.05).

Verdict per depth, after Holm's correction across the depths of one comparison:

``equivalent``
    the Holm-adjusted TOST p-value is below ``alpha``;
``a_better`` / ``b_better``
    not equivalent, and the Holm-adjusted two-sided paired t-test p-value is below
    ``alpha``, by the sign of the difference;
``inconclusive``
    otherwise, and whenever fewer than two paired items exist.

The intervals reported with a verdict are the paired t intervals the tests are dual
to: ``ci90`` / ``ci95`` are the unadjusted 90% / 95% t intervals (at one depth,
equivalent <=> ``ci90`` inside ``(-m, m)``, different <=> ``ci95`` excludes 0).
With several depths the verdict uses Holm's levels: ``ci_tost_holm`` is the t
interval at level ``1 - 2 * alpha / k`` and ``ci_diff_holm`` the one at
``1 - alpha / k``, where ``k = D - r + 1`` for the depth's rank ``r`` (1 = smallest
raw p-value) among the ``D`` depths. A depth is ``equivalent`` iff its
``ci_tost_holm`` lies inside ``(-m, m)`` and so does that of every depth with a
smaller raw TOST p-value (Holm's step-down); likewise for a difference with
``ci_diff_holm`` excluding 0. Paired percentile-bootstrap intervals are reported
separately (``boot90`` / ``boot95``) and do not enter the verdict.

A difference that is significant but smaller than the margin is reported
``equivalent`` (the margin is the size that matters).

**Floor cells.** A depth where both strategies' accuracies (means over the paired
items) are at most ``chance + margin`` is flagged ``floor``: both sit at chance, so
an ``equivalent`` verdict there says nothing about the strategies. The verdict is
kept; the flag travels with it.

The **breakpoint** is the first depth whose verdict is not ``equivalent`` *or* that
is a floor cell (a floor cell is inconclusive-at-chance for the breakpoint: the
equivalence shown ends where both strategies reach chance). Its interval comes from
a paired bootstrap over items (within each depth) of the whole procedure, floor
flags included.

References
----------
Schuirmann 1987, "A comparison of the two one-sided tests procedure and the power
approach for assessing the equivalence of average bioavailability", J.
Pharmacokinetics and Biopharmaceutics 15(6). Holm 1979, "A simple sequentially
rejective multiple test procedure", Scandinavian Journal of Statistics 6(2).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from depthbench._lazy import lazy
from depthbench.scorers._curves import _credit, derive_rng, ragged, resampled_item_means

stats = lazy("scipy.stats")

np = lazy("numpy")
__all__ = [
    "VERDICTS",
    "TostResult",
    "paired_tost",
    "holm",
    "verdict",
    "paired_items",
    "compare_strategies",
    "breakpoint_depth",
    "compute_to_target",
    "power_items",
]

VERDICTS = ("equivalent", "a_better", "b_better", "inconclusive")


@dataclass(frozen=True)
class TostResult:
    """Paired TOST and two-sided t-test on differences ``d_i = a_i - b_i``.

    Attributes
    ----------
    n : int
        Pairs.
    diff : float
        Mean difference.
    se : float
        Standard error used (see :func:`paired_tost` for the all-equal case).
    p_tost : float
        ``max`` of the two one-sided p-values (H0: ``|diff| >= margin``).
    p_diff : float
        Two-sided p-value (H0: ``diff == 0``).
    ci90, ci95 : (float, float)
        t-based intervals of the mean difference.
    """

    n: int
    diff: float
    se: float
    p_tost: float
    p_diff: float
    ci90: tuple[float, float]
    ci95: tuple[float, float]


def paired_tost(a: Sequence[float], b: Sequence[float], margin: float = 0.05) -> TostResult:
    """Two one-sided paired t-tests for ``-margin < mean(a - b) < margin``.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Per-item scores (credit in [0, 1]) of the two strategies on the same items.
    margin : float
        Equivalence margin ``m > 0`` in accuracy units.

    Returns
    -------
    TostResult

    Raises
    ------
    ValueError
        Lengths differ, or ``margin <= 0``.

    Notes
    -----
    Matches ``statsmodels.stats.weightstats.ttost_paired(a, b, -m, m)`` whenever the
    differences are not all equal. When they are all equal (sample variance 0, e.g.
    no discordant item), the t statistic is undefined; the standard deviation is then
    replaced by ``sqrt(3 / n)``, the "rule of three" 95% upper bound on the
    discordance rate, so that a handful of concordant items is never called
    equivalent with certainty. With ``n < 2`` every p-value is 1.

    Examples
    --------
    >>> r = paired_tost([1, 0, 1, 1] * 50, [1, 1, 0, 1] * 50, margin=0.2)
    >>> r.diff, r.p_tost < 0.05
    (0.0, True)
    """
    if margin <= 0:
        raise ValueError(f"margin: must be > 0, got {margin}")
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"a, b: need the same items in both, got lengths {x.size} and {y.size}")
    d = x - y
    n = int(d.size)
    if n < 2:
        mean = float(d.mean()) if n else float("nan")
        return TostResult(n, mean, float("nan"), 1.0, 1.0, (float("nan"),) * 2, (float("nan"),) * 2)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        sd = math.sqrt(3.0 / n)
    se = sd / math.sqrt(n)
    df = n - 1
    p_lower = float(stats.t.sf((mean + margin) / se, df))   # H0: diff <= -m
    p_upper = float(stats.t.cdf((mean - margin) / se, df))  # H0: diff >= +m
    p_diff = float(2 * stats.t.sf(abs(mean) / se, df))
    q90 = float(stats.t.ppf(0.95, df))
    q95 = float(stats.t.ppf(0.975, df))
    return TostResult(n, mean, se, max(p_lower, p_upper), min(1.0, p_diff),
                      (mean - q90 * se, mean + q90 * se), (mean - q95 * se, mean + q95 * se))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control).

    Parameters
    ----------
    pvalues : sequence of float
        Raw p-values.

    Returns
    -------
    list of float
        Adjusted p-values in the input order, each in [0, 1]; NaN inputs stay NaN and
        do not count towards the family size.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    idx = np.flatnonzero(ok)
    m = idx.size
    if m == 0:
        return out.tolist()
    order = idx[np.argsort(p[idx], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return [float(v) for v in out]


def verdict(diff: float, p_tost_adj: float, p_diff_adj: float, n: int, alpha: float = 0.05) -> str:
    """Verdict from (Holm-adjusted) p-values; see the module docstring."""
    if n < 2 or math.isnan(p_tost_adj):
        return "inconclusive"
    if p_tost_adj < alpha:
        return "equivalent"
    if p_diff_adj < alpha:
        return "a_better" if diff > 0 else "b_better"
    return "inconclusive"


def paired_items(
    outcomes: Iterable[Mapping[str, Any]], a: str, b: str, *, task: str | None = None, budget: int | None = None,
    raw: dict[int, tuple[list[list[float]], list[list[float]]]] | None = None,
) -> dict[int, tuple[list[str], np.ndarray, np.ndarray]]:
    """Per depth: item ids run under both strategies and their mean credits.

    If ``raw`` is given it receives, per depth, the lists of repeated credits of each
    item under ``a`` and under ``b`` (same item order).

    Returns
    -------
    dict
        ``depth -> (item_ids, credits_a, credits_b)``, items sorted, repeats averaged;
        items missing under either strategy are left out.
    """
    acc: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in outcomes:
        if task is not None and r["task"] != task:
            continue
        if budget is not None and int(r["budget"]) != int(budget):
            continue
        if r["strategy"] not in (a, b):
            continue
        acc[(r["strategy"], int(r["depth"]))][str(r["item_id"])].append(_credit(r))
    out = {}
    for depth in sorted({d for _, d in acc}):
        ma, mb = acc.get((a, depth), {}), acc.get((b, depth), {})
        ids = sorted(set(ma) & set(mb))
        if not ids:
            continue
        xa = np.array([sum(ma[i]) / len(ma[i]) for i in ids])
        xb = np.array([sum(mb[i]) / len(mb[i]) for i in ids])
        out[depth] = (ids, xa, xb)
        if raw is not None:
            raw[depth] = ([ma[i] for i in ids], [mb[i] for i in ids])
    return out


def _boot_tost_pvalues(d: np.ndarray, idx: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised TOST / t-test p-values on bootstrap resamples ``d[idx]`` (B, n)."""
    s = d[idx]
    n = s.shape[1]
    mean = s.mean(axis=1)
    if n < 2:
        ones = np.ones_like(mean)
        return mean, ones, ones
    sd = s.std(axis=1, ddof=1)
    sd = np.where(sd == 0.0, math.sqrt(3.0 / n), sd)
    se = sd / math.sqrt(n)
    df = n - 1
    p_tost = np.maximum(stats.t.sf((mean + margin) / se, df), stats.t.cdf((mean - margin) / se, df))
    p_diff = np.minimum(1.0, 2 * stats.t.sf(np.abs(mean) / se, df))
    return mean, p_tost, p_diff


def _holm_rows(p: np.ndarray) -> np.ndarray:
    """Holm adjustment along axis 1 of a (B, D) matrix without NaNs."""
    b, m = p.shape
    order = np.argsort(p, axis=1, kind="stable")
    sp = np.take_along_axis(p, order, axis=1) * (m - np.arange(m))[None, :]
    adj = np.minimum(np.maximum.accumulate(sp, axis=1), 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=1)
    return out


def compare_strategies(
    outcomes: Iterable[Mapping[str, Any]],
    a: str,
    b: str,
    *,
    task: str | None = None,
    budget: int | None = None,
    margin: float = 0.05,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    chance: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-depth paired comparison of strategies ``a`` and ``b`` at one budget.

    Parameters
    ----------
    outcomes : iterable of mapping
        Outcome (or scored) records.
    a, b : str
        Strategy names; ``diff = accuracy(a) - accuracy(b)``.
    task : str, optional
        Restrict to one task.
    budget : int, optional
        Restrict to one budget (the comparison is meant at a matched budget).
    margin : float
        Equivalence margin ``m`` (accuracy units).
    alpha : float
        Family-wise level across depths (Holm).
    n_boot : int
        Paired bootstrap replicates (intervals and the breakpoint interval).
    seed : int
        Bootstrap seed.
    chance : float, optional
        Chance accuracy of the task, for the ``floor`` flag (None: 0).

    Returns
    -------
    rows : list of dict
        One per depth (``equivalence`` rows of ``results.json``): ``task, budget, a, b,
        depth, n, diff``; ``ci90_lo, ci90_hi, ci95_lo, ci95_hi`` (paired t intervals,
        unadjusted), ``ci_tost_holm_lo/hi`` and ``ci_diff_holm_lo/hi`` (the t
        intervals at the Holm levels the verdict uses, see the module docstring),
        ``boot90_lo/hi``, ``boot95_lo/hi`` (paired percentile bootstrap over items,
        and over repeats within items when an item was run more than once),
        ``p_tost, p_diff`` (raw), ``p_holm`` (Holm-adjusted TOST p), ``p_diff_holm``,
        ``verdict``, ``margin``, ``items_needed`` (items per depth for 80% power to
        show equivalence at this margin, from :func:`power_items` with the observed
        variance of the per-item difference, floored at ``1/n``), ``acc_a``,
        ``acc_b`` (accuracies on the paired items), ``chance`` and ``floor`` (both
        accuracies ``<= chance + margin``).
    breakpoint : dict
        ``task, budget, a, b, margin, breakpoint_depth`` (first depth not equivalent
        or at floor, or None), ``bp_lo, bp_hi`` (percentile bootstrap interval; None
        stands for "no breakpoint within the depths measured"),
        ``verdict_at_breakpoint``, ``floor_at_breakpoint``.

    Raises
    ------
    ValueError
        If ``margin <= 0``.
    """
    if margin <= 0:
        raise ValueError(f"margin: must be > 0, got {margin}")
    floor_at = (0.0 if chance is None else float(chance)) + margin
    raw: dict[int, tuple[list[list[float]], list[list[float]]]] = {}
    data = paired_items(outcomes, a, b, task=task, budget=budget, raw=raw)
    depths = sorted(data)
    rows: list[dict[str, Any]] = []
    tosts = []
    for depth in depths:
        _, xa, xb = data[depth]
        tosts.append(paired_tost(xa, xb, margin))
    p_holm = holm([t.p_tost for t in tosts])
    p_diff_holm = holm([t.p_diff for t in tosts])
    k_tost = _holm_divisors([t.p_tost for t in tosts])
    k_diff = _holm_divisors([t.p_diff for t in tosts])
    boot_rng = derive_rng(seed, "equivalence", task, budget, a, b)
    diffs = {d: data[d][1] - data[d][2] for d in depths}
    boot_idx = {d: boot_rng.integers(0, diffs[d].size, size=(n_boot, diffs[d].size)) for d in depths}
    for j, (depth, t, ph, pdh) in enumerate(zip(depths, tosts, p_holm, p_diff_holm)):
        ra, rb = raw[depth]
        if not n_boot:
            means = np.array([t.diff])
        elif max(map(len, ra)) == 1 and max(map(len, rb)) == 1:
            means = diffs[depth][boot_idx[depth]].mean(axis=1)
        else:  # repeats: resample items, then each item's repeats under a and under b
            va, ca = ragged(ra)
            vb, cb = ragged(rb)
            idx = boot_idx[depth]
            means = (resampled_item_means(va, ca, idx, boot_rng) - resampled_item_means(vb, cb, idx, boot_rng)).mean(axis=1)
        q = np.quantile(means, [0.05, 0.95, 0.025, 0.975])
        th = _t_interval(t, 1 - 2 * alpha / k_tost[j])
        dh = _t_interval(t, 1 - alpha / k_diff[j])
        acc_a, acc_b = float(data[depth][1].mean()), float(data[depth][2].mean())
        rows.append({
            "task": task, "budget": budget, "a": a, "b": b, "depth": depth, "n": t.n, "diff": t.diff,
            "ci90_lo": t.ci90[0], "ci90_hi": t.ci90[1], "ci95_lo": t.ci95[0], "ci95_hi": t.ci95[1],
            "ci_tost_holm_lo": th[0], "ci_tost_holm_hi": th[1], "ci_diff_holm_lo": dh[0], "ci_diff_holm_hi": dh[1],
            "boot90_lo": float(q[0]), "boot90_hi": float(q[1]), "boot95_lo": float(q[2]), "boot95_hi": float(q[3]),
            "p_tost": t.p_tost, "p_diff": t.p_diff, "p_holm": ph, "p_diff_holm": pdh,
            "verdict": verdict(t.diff, ph, pdh, t.n, alpha), "margin": margin,
            "items_needed": _items_needed(diffs[depth], margin, alpha),
            "acc_a": acc_a, "acc_b": acc_b, "chance": chance,
            "floor": bool(acc_a <= floor_at + 1e-12 and acc_b <= floor_at + 1e-12),
        })
    bp = breakpoint_depth(rows)
    bp_lo = bp_hi = None
    if depths and n_boot:
        pt = np.empty((n_boot, len(depths)))
        pdf = np.empty_like(pt)
        mn = np.empty_like(pt)
        small = np.array([diffs[d].size < 2 for d in depths])
        floor_b = np.empty(pt.shape, dtype=bool)
        for j, d in enumerate(depths):
            mn[:, j], pt[:, j], pdf[:, j] = _boot_tost_pvalues(diffs[d], boot_idx[d], margin)
            xa, xb = data[d][1], data[d][2]
            floor_b[:, j] = ((xa[boot_idx[d]].mean(axis=1) <= floor_at + 1e-12)
                             & (xb[boot_idx[d]].mean(axis=1) <= floor_at + 1e-12))
        eq = (_holm_rows(pt) < alpha) & ~floor_b
        eq[:, small] = False
        first = np.where(eq.all(axis=1), len(depths), np.argmax(~eq, axis=1))
        depth_arr = np.array(depths + [np.inf], dtype=float)
        bps = depth_arr[first]
        lo, hi = np.quantile(bps, [0.025, 0.975], method="inverted_cdf")
        bp_lo = None if math.isinf(lo) else int(lo)
        bp_hi = None if math.isinf(hi) else int(hi)
    brk = {"task": task, "budget": budget, "a": a, "b": b, "margin": margin,
           "breakpoint_depth": bp, "bp_lo": bp_lo, "bp_hi": bp_hi,
           "verdict_at_breakpoint": next((r["verdict"] for r in rows if r["depth"] == bp), None),
           "floor_at_breakpoint": next((r["floor"] for r in rows if r["depth"] == bp), None)}
    return rows, brk


def _holm_divisors(pvalues: Sequence[float]) -> list[int]:
    """Holm's divisor ``k = D - r + 1`` of each p-value (rank ``r`` among the non-NaN ones)."""
    p = np.asarray(pvalues, dtype=float)
    idx = np.flatnonzero(~np.isnan(p))
    out = [1] * p.size
    order = idx[np.argsort(p[idx], kind="stable")]
    for r, i in enumerate(order):
        out[int(i)] = int(idx.size - r)
    return out


def _t_interval(t: TostResult, level: float) -> tuple[float, float]:
    """Paired t interval of the mean difference at ``level`` (same se as the tests)."""
    if t.n < 2:
        return (float("nan"), float("nan"))
    q = float(stats.t.ppf(0.5 + level / 2, t.n - 1))
    return (t.diff - q * t.se, t.diff + q * t.se)


def _items_needed(d: np.ndarray, margin: float, alpha: float) -> int | None:
    n = d.size
    if n < 2:
        return None
    var = min(1.0, max(float(d.var(ddof=1)), 1.0 / n))
    return power_items(var, margin=margin, alpha=alpha)


def breakpoint_depth(rows: Sequence[Mapping[str, Any]]) -> int | None:
    """First depth (ascending) whose verdict is not ``equivalent`` or that is a floor cell.

    A row with ``floor: true`` (both strategies at chance) is not evidence of
    equivalence, so it ends the equivalent run like any other verdict. None if every
    depth is equivalent and above the floor.

    Examples
    --------
    >>> breakpoint_depth([{"depth": 1, "verdict": "equivalent"}, {"depth": 4, "verdict": "inconclusive"}])
    4
    >>> breakpoint_depth([{"depth": 1, "verdict": "equivalent"}, {"depth": 4, "verdict": "equivalent", "floor": True}])
    4
    """
    for r in sorted(rows, key=lambda r: r["depth"]):
        if r["verdict"] != "equivalent" or r.get("floor"):
            return int(r["depth"])
    return None


def compute_to_target(
    outcomes: Iterable[Mapping[str, Any]],
    a: str,
    b: str,
    target: float,
    *,
    task: str | None = None,
    depth: int | None = None,
) -> dict[str, Any]:
    """Compute each strategy needs to reach a target accuracy, and their ratio.

    For each strategy the (mean generated tokens G, accuracy) points over its budgets
    are sorted by budget; the cost to target is G at the first budget whose accuracy
    reaches ``target``, linearly interpolated from the previous budget's point.

    Parameters
    ----------
    outcomes : iterable of mapping
        Outcome records over several budgets.
    a, b : str
        Strategies.
    target : float
        Accuracy in [0, 1].
    task, depth : optional
        Restrict to one task and/or one depth.

    Returns
    -------
    dict
        ``a, b, task, depth, target, cost_a, cost_b`` (mean generated tokens per item,
        None if never reached) and ``ratio = cost_a / cost_b`` (None unless both reach it).

    Examples
    --------
    >>> recs = [{"strategy": s, "budget": bud, "item_id": "i", "task": "t", "depth": 1, "credit": c,
    ...          "generated_tokens": bud} for s, bud, c in [("p", 100, 0.0), ("p", 200, 1.0), ("q", 100, 1.0)]]
    >>> compute_to_target(recs, "p", "q", 0.5)["ratio"]
    1.5
    """
    pts: dict[str, dict[int, list[tuple[float, float]]]] = {a: defaultdict(list), b: defaultdict(list)}
    for r in outcomes:
        if r["strategy"] not in pts:
            continue
        if task is not None and r["task"] != task:
            continue
        if depth is not None and int(r["depth"]) != int(depth):
            continue
        pts[r["strategy"]][int(r["budget"])].append((_credit(r), float(r.get("generated_tokens") or 0)))

    def cost(s: str) -> float | None:
        prev = None
        for bud in sorted(pts[s]):
            recs = pts[s][bud]
            acc = sum(c for c, _ in recs) / len(recs)
            g = sum(t for _, t in recs) / len(recs)
            if acc >= target:
                if prev is None or prev[0] >= acc:
                    return g
                pa, pg = prev
                return pg + (g - pg) * (target - pa) / (acc - pa)
            prev = (acc, g)
        return None

    ca, cb = cost(a), cost(b)
    ratio = ca / cb if ca is not None and cb not in (None, 0.0) else None
    return {"a": a, "b": b, "task": task, "depth": depth, "target": target, "cost_a": ca, "cost_b": cb, "ratio": ratio}


def power_items(discordance: float, margin: float = 0.05, alpha: float = 0.05, power: float = 0.8) -> int:
    """Items per depth needed for a paired TOST to show equivalence.

    ``n = (z_{1-alpha} + z_{1-(1-power)/2})**2 * sigma**2 / margin**2`` with the true
    difference 0 and ``sigma**2`` the variance of the per-item difference -- for one
    sample per item about the discordance rate (share of items where exactly one
    strategy is right). With the defaults the factor is about 8.56.

    Parameters
    ----------
    discordance : float
        Discordance rate (or per-item difference variance) in [0, 1].
    margin : float
        Equivalence margin ``m > 0``.
    alpha : float
        One-sided level of each of the two tests.
    power : float
        Target power in (0, 1).

    Returns
    -------
    int
        Items needed (rounded up, at least 2).

    Raises
    ------
    ValueError
        Out-of-range arguments.

    References
    ----------
    Chow, Shao and Wang 2008, *Sample Size Calculations in Clinical Research*, 2nd ed.,
    section 3.2 (paired equivalence).

    Examples
    --------
    >>> power_items(0.2, margin=0.05)
    686
    """
    if not 0 <= discordance <= 1:
        raise ValueError(f"discordance: must be in [0, 1], got {discordance}")
    if margin <= 0:
        raise ValueError(f"margin: must be > 0, got {margin}")
    if not 0 < alpha < 0.5 or not 0 < power < 1:
        raise ValueError(f"alpha, power: need 0 < alpha < 0.5 and 0 < power < 1, got {alpha}, {power}")
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(1 - (1 - power) / 2)
    return max(2, math.ceil(z * z * discordance / (margin * margin)))
