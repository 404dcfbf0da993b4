"""Paired comparison of two strategies on the same items, depth by depth: verdicts and breakpoint.

Design (``../shared/DESIGN.md``, *Statistics*): the same items under strategies A and
B; the item is the unit (repeats of an item are averaged). Per depth, the counts of
items where only A is right (``n10``) and only B is right (``n01``) go to the exact
tests of :mod:`depthbench.scorers._paired` (fractional credit is first rounded to 0/1
by a seeded draw per item, which keeps the expected difference): a TOST of
``|delta| >= m`` (margin ``m``, default 0.05) and a two-sided test of ``delta = 0``,
each Holm-corrected across the testable depths of the comparison.

**Three outcomes per depth** (``verdict``):

``equivalent``
    the Holm-adjusted TOST p-value is at most ``alpha`` (a difference that is shown but
    smaller than the margin still reads ``equivalent``: the margin is the size that
    matters);
``a_better`` / ``b_better``
    not equivalent, and the Holm-adjusted two-sided p-value is at most ``alpha``; the
    direction is the sign of the difference (each direction is a one-sided test at
    ``alpha / 2``);
``inconclusive``
    neither: *not determined at this n*; the row's ``items_to_decide`` says about how
    many items per depth would decide it (taking the estimates as the truth);

and ``not_testable`` for a depth with fewer than two paired items (no p-values; it is
left out of the Holm family).

**Floor cells.** A depth where both accuracies (on the paired items) are at most
``chance + margin`` is flagged ``floor``: an ``equivalent`` verdict there reads
"equivalent (both at chance)", since two strategies that both fail agree without that
saying anything about them. For the breakpoint a floor cell is not shown equivalence.

**Breakpoint** (:func:`summarize_comparison`, the one rule every view uses): the first
depth with a shown difference, if the depth measured just before it shows equivalence
(not at chance). When depths before the first shown difference are not determined (or
at chance, or not testable) no breakpoint is named and the text says so. The record's
``bp_lo`` / ``bp_hi`` bound the depth at which equivalence truly ends, under a step
model (difference below the margin before it, at least the margin from it): ``bp_hi`` is
the first depth with a shown difference, ``bp_lo`` one more than the last depth shown
equivalent before it (null: unbounded). It covers the true step unless a test errs, so
with probability at least ``1 - 2 alpha`` and, when the step is large, ``1 - alpha``
(``benchmarks/verdict_calibration.py``: 95% or more in the step scenario).

References
----------
Schuirmann 1987, "A comparison of the two one-sided tests procedure and the power
approach for assessing the equivalence of average bioavailability", J.
Pharmacokinetics and Biopharmaceutics 15(6). Holm 1979, "A simple sequentially
rejective multiple test procedure", Scandinavian Journal of Statistics 6(2). Tango
1998, Statistics in Medicine 17(8):891-908.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from depthbench.scorers._curves import _credit, derive_rng, ragged, resampled_item_means
from depthbench.scorers._paired import check_margin, items_to_decide, paired_test, power_items, round_credits

__all__ = [
    "VERDICTS",
    "TostResult",
    "paired_tost",
    "holm",
    "verdict",
    "paired_items",
    "compare_strategies",
    "breakpoint_depth",
    "summarize_comparison",
    "breakpoint_words",
    "verdict_words",
    "pair_words",
    "compute_to_target",
    "power_items",
]

VERDICTS = ("equivalent", "a_better", "b_better", "inconclusive", "not_testable")

#: Breakpoint ``status`` values (see :func:`summarize_comparison`).
BREAKPOINT_STATUSES = ("located", "not_located", "different_from_first", "equivalent_throughout",
                       "no_difference", "not_testable")


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
    """Two one-sided paired t-tests for ``-margin < mean(a - b) < margin`` (reference only).

    **Not what the verdicts use.** On paired binary outcomes this test does not hold its
    level when the strategies rarely disagree: at a true difference of ``+margin`` it
    calls "equivalent" up to 2.4 times too often (``BENCHMARKS.md``, *Verdict
    calibration*, which this function reproduces). Verdicts come from the exact tests
    of :func:`depthbench.scorers.paired_test`.

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
    """Verdict code from Holm-adjusted p-values; see the module docstring.

    Examples
    --------
    >>> verdict(0.01, 0.02, 0.3, 200), verdict(-0.2, 0.9, 0.001, 200), verdict(0.0, 0.2, 1.0, 200)
    ('equivalent', 'b_better', 'inconclusive')
    >>> verdict(0.0, float("nan"), float("nan"), 1)
    'not_testable'
    """
    if n < 2 or math.isnan(p_tost_adj) or math.isnan(p_diff_adj):
        return "not_testable"
    if p_tost_adj <= alpha:
        return "equivalent"
    if p_diff_adj <= alpha and diff != 0:
        return "a_better" if diff > 0 else "b_better"
    return "inconclusive"


def paired_items(
    outcomes: Iterable[Mapping[str, Any]], a: str, b: str, *, task: str | None = None, budget: int | None = None,
    raw: dict[int, tuple[list[list[float]], list[list[float]]]] | None = None,
    unpaired: dict[int, tuple[int, int]] | None = None,
) -> dict[int, tuple[list[str], np.ndarray, np.ndarray]]:
    """Per depth: item ids run under both strategies and their mean credits.

    If ``raw`` is given it receives, per depth, the lists of repeated credits of each
    item under ``a`` and under ``b`` (same item order). If ``unpaired`` is given it
    receives, for every depth with an item under either strategy, the numbers of items
    present only under ``a`` and only under ``b``.

    Returns
    -------
    dict
        ``depth -> (item_ids, credits_a, credits_b)``, items sorted, repeats averaged;
        items missing under either strategy are left out (depths without a pair too).
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
        if unpaired is not None:
            unpaired[depth] = (len(set(ma) - set(mb)), len(set(mb) - set(ma)))
        if not ids:
            continue
        xa = np.array([sum(ma[i]) / len(ma[i]) for i in ids])
        xb = np.array([sum(mb[i]) / len(mb[i]) for i in ids])
        out[depth] = (ids, xa, xb)
        if raw is not None:
            raw[depth] = ([ma[i] for i in ids], [mb[i] for i in ids])
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
    words: tuple[str, str] | None = None,
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
        Equivalence margin ``m`` in (0, 0.5), accuracy units.
    alpha : float
        Family-wise level across depths (Holm), in (0, 0.5).
    n_boot : int
        Paired bootstrap replicates for the reference intervals ``boot90`` / ``boot95``.
    seed : int
        Seed of the bootstrap and of the rounding of fractional credit.
    chance : float, optional
        Chance accuracy of the task, for the ``floor`` flag (None: 0).
    words : (str, str), optional
        What ``a_better`` / ``b_better`` read as in the breakpoint's ``text`` (see
        :func:`pair_words`; default ``"<a> better"``, ``"<b> better"``).

    Returns
    -------
    rows : list of dict
        One per depth with an item under either strategy (``equivalence`` rows of
        ``results.json``): ``task, budget, a, b, depth, n`` (paired items),
        ``unpaired_a, unpaired_b`` (items under only one strategy, left out), ``diff``
        (mean credit difference, before rounding), ``n10, n01`` (discordant counts the
        tests use, after rounding), ``discordance`` (``(n10 + n01) / n``), ``rounded``
        (fractional credit was rounded), ``ci90_lo/hi``, ``ci95_lo/hi`` (Tango score
        intervals of the difference, in [-1, 1]), ``boot90_lo/hi``, ``boot95_lo/hi``
        (paired percentile bootstrap over items, then repeats; reference only),
        ``p_upper, p_lower`` (``H0: delta >= m``, ``delta <= -m``), ``p_tost``,
        ``p_diff`` (raw), ``p_holm`` (Holm-adjusted TOST p), ``p_diff_holm``,
        ``verdict``, ``margin``, ``items_needed`` (items per depth for 80% power to show
        equivalence at a true difference of 0 and this discordance, Holm over the
        testable depths; :func:`power_items`), ``items_to_decide`` (inconclusive rows:
        items per depth that would decide it; else None), ``acc_a, acc_b, chance,
        floor`` and ``reason`` (why a row is ``not_testable``, else None). A
        ``not_testable`` row has None for every statistic.
    breakpoint : dict
        ``task, budget, a, b, margin`` and the fields of :func:`summarize_comparison`
        (``status, breakpoint_depth, bp_lo, bp_hi, first_difference_depth, direction,
        equivalent_depths, undetermined_depths, not_testable_depths, text``), plus
        ``verdict_at_breakpoint`` and ``floor_at_breakpoint``.

    Raises
    ------
    ValueError
        If ``margin`` is outside (0, 0.5) or ``alpha`` outside (0, 0.5).
    """
    m = check_margin(margin)
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha: must be in (0, 0.5), got {alpha}")
    floor_at = (0.0 if chance is None else float(chance)) + m
    raw: dict[int, tuple[list[list[float]], list[list[float]]]] = {}
    unpaired: dict[int, tuple[int, int]] = {}
    data = paired_items(outcomes, a, b, task=task, budget=budget, raw=raw, unpaired=unpaired)
    depths = sorted(unpaired)
    boot_rng = derive_rng(seed, "equivalence", task, budget, a, b)
    tests: dict[int, Any] = {}
    extra: dict[int, dict[str, Any]] = {}
    for depth in depths:
        if depth not in data or len(data[depth][0]) < 2:
            continue
        ids, xa, xb = data[depth]
        ra, rb, rounded = round_credits(xa, xb, ids, seed)
        n10 = int(np.sum((ra == 1) & (rb == 0)))
        n01 = int(np.sum((ra == 0) & (rb == 1)))
        tests[depth] = paired_test(n10, n01, len(ids), m)
        # planning discordance: the expected one after rounding (mean |a - b|), at least 1/n, rounded up
        # to 0.001 so that rows with nearly the same discordance share the (cached) power search
        plan_q = max(float(np.mean(np.abs(xa - xb))), 1.0 / len(ids))
        extra[depth] = {"rounded": rounded, "plan_q": min(1.0, math.ceil(plan_q * 1000 - 1e-9) / 1000)}
    testable = [d for d in depths if d in tests]
    p_holm = dict(zip(testable, holm([tests[d].p_tost for d in testable])))
    p_diff_holm = dict(zip(testable, holm([tests[d].p_diff for d in testable])))
    family = max(1, len(testable))
    rows: list[dict[str, Any]] = []
    for depth in depths:
        only_a, only_b = unpaired[depth]
        base = {"task": task, "budget": budget, "a": a, "b": b, "depth": depth, "unpaired_a": only_a,
                "unpaired_b": only_b, "margin": m, "chance": chance}
        if depth not in tests:
            n = len(data[depth][0]) if depth in data else 0
            acc_a = float(data[depth][1].mean()) if n else None
            acc_b = float(data[depth][2].mean()) if n else None
            rows.append({**base, "n": n, "diff": None if not n else acc_a - acc_b, **dict.fromkeys(_STAT_FIELDS),
                         "verdict": "not_testable", "acc_a": acc_a, "acc_b": acc_b, "floor": False,
                         "reason": f"{n} paired item{'s' if n != 1 else ''} (need at least 2)"
                                   + (f"; {only_a} only under {a}, {only_b} only under {b}" if only_a or only_b else "")})
            continue
        t = tests[depth]
        ids, xa, xb = data[depth]
        diff = float(np.mean(xa) - np.mean(xb))
        means = _boot_means(raw[depth], xa - xb, n_boot, boot_rng)
        q = np.quantile(means, [0.05, 0.95, 0.025, 0.975])
        v = verdict(diff, p_holm[depth], p_diff_holm[depth], t.n, alpha)
        plan_q = extra[depth]["plan_q"]
        acc_a, acc_b = float(xa.mean()), float(xb.mean())
        rows.append({
            **base, "n": t.n, "diff": diff, "n10": t.n10, "n01": t.n01, "discordance": (t.n10 + t.n01) / t.n,
            "rounded": extra[depth]["rounded"],
            "ci90_lo": t.ci90[0], "ci90_hi": t.ci90[1], "ci95_lo": t.ci95[0], "ci95_hi": t.ci95[1],
            "boot90_lo": float(q[0]), "boot90_hi": float(q[1]), "boot95_lo": float(q[2]), "boot95_hi": float(q[3]),
            "p_upper": t.p_upper, "p_lower": t.p_lower, "p_tost": t.p_tost, "p_diff": t.p_diff,
            "p_holm": p_holm[depth], "p_diff_holm": p_diff_holm[depth], "verdict": v,
            "items_needed": power_items(plan_q, m, alpha, n_tests=family),
            "items_to_decide": items_to_decide(plan_q, max(-plan_q, min(plan_q, round(diff, 3))), m, alpha,
                                               n_tests=family)
            if v == "inconclusive" else None,
            "acc_a": acc_a, "acc_b": acc_b,
            "floor": bool(acc_a <= floor_at + 1e-12 and acc_b <= floor_at + 1e-12), "reason": None,
        })
    summary = summarize_comparison(rows, words=words or (f"{a} better", f"{b} better"))
    at = {r["depth"]: r for r in rows}.get(summary["breakpoint_depth"])
    brk = {"task": task, "budget": budget, "a": a, "b": b, "margin": m, **summary,
           "verdict_at_breakpoint": None if at is None else at["verdict"],
           "floor_at_breakpoint": None if at is None else at["floor"]}
    return rows, brk


_STAT_FIELDS = ("n10", "n01", "discordance", "rounded", "ci90_lo", "ci90_hi", "ci95_lo", "ci95_hi", "boot90_lo",
                "boot90_hi", "boot95_lo", "boot95_hi", "p_upper", "p_lower", "p_tost", "p_diff", "p_holm",
                "p_diff_holm", "items_needed", "items_to_decide")


def _boot_means(raw: tuple[list[list[float]], list[list[float]]], d: np.ndarray, n_boot: int,
                rng: np.random.Generator) -> np.ndarray:
    """Bootstrap means of the paired difference: items, then each item's repeats under a and under b."""
    if not n_boot:
        return np.array([float(d.mean())])
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    ra, rb = raw
    if max(map(len, ra)) == 1 and max(map(len, rb)) == 1:
        return d[idx].mean(axis=1)
    va, ca = ragged(ra)
    vb, cb = ragged(rb)
    return (resampled_item_means(va, ca, idx, rng) - resampled_item_means(vb, cb, idx, rng)).mean(axis=1)


# ------------------------------------------------------------------------------ the one rule, in words

def pair_words(a: str, b: str, kinds: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """What ``a_better`` and ``b_better`` read as for the pair.

    "parallel better" / "sequential better" when ``a`` is parallel and ``b`` sequential
    (``single``, one chain, counts as sequential, as in ``depthbench analyze``); else the
    strategy names.

    Examples
    --------
    >>> pair_words("majority@4", "single", {"majority@4": "parallel", "single": "single"})
    ('parallel better', 'sequential better')
    >>> pair_words("x", "y")
    ('x better', 'y better')
    """
    kinds = kinds or {}
    if kinds.get(a) == "parallel" and kinds.get(b) in ("sequential", "single"):
        return "parallel better", "sequential better"
    return f"{a} better", f"{b} better"


def _kind(row: Mapping[str, Any]) -> str:
    """A row's outcome for the breakpoint rule: eq, floor, a, b, und, nt."""
    v = row.get("verdict")
    if v == "equivalent":
        return "floor" if row.get("floor") else "eq"
    return {"a_better": "a", "b_better": "b", "inconclusive": "und"}.get(str(v), "nt")


def _about(values: Sequence[Any]) -> str:
    known = [int(v) for v in values if v is not None]
    if not known:
        return "more than a million items per depth would be needed to decide"
    lo, hi = min(known), max(known)
    it = "it" if len(values) == 1 else "them"
    return f"about {lo} items per depth would decide {it}" if lo == hi \
        else f"about {lo}-{hi} items per depth would decide {it}"


def verdict_words(row: Mapping[str, Any], words: tuple[str, str] = ("a better", "b better")) -> str:
    """One depth's verdict in words (tables): the same words as :func:`summarize_comparison`.

    Examples
    --------
    >>> verdict_words({"verdict": "equivalent", "floor": True})
    'equivalent (both at chance)'
    >>> verdict_words({"verdict": "inconclusive", "items_to_decide": 420})
    'not determined at this n (about 420 items per depth would decide it)'
    >>> verdict_words({"verdict": "b_better"}, ("parallel better", "sequential better"))
    'sequential better'
    """
    k = _kind(row)
    if k == "eq":
        return "equivalent"
    if k == "floor":
        return "equivalent (both at chance)"
    if k in ("a", "b"):
        return words[0] if k == "a" else words[1]
    if k == "und":
        if "items_to_decide" not in row:
            return "not determined at this n"
        return f"not determined at this n ({_about([row.get('items_to_decide')])})"
    return f"not testable ({row.get('reason') or 'fewer than 2 paired items'})"


def _depth_list(depths: Sequence[int]) -> str:
    if len(depths) == 1:
        return f"depth {depths[0]}"
    if list(depths) == list(range(depths[0], depths[-1] + 1)):
        return f"depths {depths[0]}-{depths[-1]}"
    return "depths " + ", ".join(str(d) for d in depths)


def _run_phrase(kind: str, rows: Sequence[Mapping[str, Any]], words: tuple[str, str], first: bool, last: bool,
                only: bool) -> str:
    depths = [int(r["depth"]) for r in rows]
    label = {"eq": "equivalent", "floor": "equivalent (both at chance)", "a": words[0], "b": words[1],
             "und": "not determined", "nt": "not testable"}[kind]
    if only and len(depths) > 1:
        where = f"at every depth ({_depth_list(depths)})"
    elif first and len(depths) > 1 and not only:
        where = f"up to depth {depths[-1]}"
    elif last and len(depths) > 1 and not only:
        where = f"from depth {depths[0]}"
    else:
        where = f"at {_depth_list(depths)}"
    if kind == "und":
        where = f"at {_depth_list(depths)}"
        if not any("items_to_decide" in r for r in rows):
            return f"{label} {where} at this n"
        return f"{label} {where} at this n ({_about([r.get('items_to_decide') for r in rows])})"
    if kind == "nt":
        return f"{label} at {_depth_list(depths)} (fewer than 2 paired items)"
    return f"{label} {where}"


def summarize_comparison(rows: Sequence[Mapping[str, Any]],
                         words: tuple[str, str] = ("a better", "b better")) -> dict[str, Any]:
    """The breakpoint rule and its words, for one (task, budget, a, b) comparison.

    Every view states verdicts and breakpoints through this function (``analyze``'s
    table and ``results.json``, the report, ``compare``, the leaderboard, the demo).

    Parameters
    ----------
    rows : sequence of mapping
        The comparison's ``equivalence`` rows (any order): ``depth``, ``verdict``,
        ``floor``, ``items_to_decide``, ``n``.
    words : (str, str)
        Words for ``a_better`` / ``b_better`` (:func:`pair_words`).

    Returns
    -------
    dict
        ``status`` (one of :data:`BREAKPOINT_STATUSES`), ``breakpoint_depth`` (int when
        ``located``, else None), ``bp_lo`` / ``bp_hi`` (bounds of the depth where
        equivalence ends, see the module docstring; None = unbounded),
        ``first_difference_depth``, ``direction`` (``a_better`` / ``b_better`` / None),
        ``equivalent_depths`` (shown, not at chance), ``undetermined_depths``,
        ``not_testable_depths`` and ``text``.

    Examples
    --------
    >>> rows = [{"depth": 1, "verdict": "equivalent"}, {"depth": 2, "verdict": "equivalent"},
    ...         {"depth": 3, "verdict": "b_better"}]
    >>> summarize_comparison(rows, ("parallel better", "sequential better"))["text"]
    'equivalent up to depth 2, sequential better at depth 3 (breakpoint: depth 3)'
    >>> rows[1] = {"depth": 2, "verdict": "inconclusive", "items_to_decide": 300}
    >>> s = summarize_comparison(rows)
    >>> s["status"], s["breakpoint_depth"], s["bp_lo"], s["bp_hi"]
    ('not_located', None, 2, 3)
    """
    rows = sorted(rows, key=lambda r: int(r["depth"]))
    kinds = [_kind(r) for r in rows]
    depths = [int(r["depth"]) for r in rows]
    first_diff = next((j for j, k in enumerate(kinds) if k in ("a", "b")), None)
    before = kinds[:first_diff] if first_diff is not None else kinds
    eq_before = [j for j, k in enumerate(before) if k == "eq"]
    if not rows or all(k == "nt" for k in kinds):
        status = "not_testable"
    elif first_diff is None:
        status = "equivalent_throughout" if all(k == "eq" for k in kinds) else "no_difference"
    elif first_diff == 0:
        status = "different_from_first"
    elif kinds[first_diff - 1] == "eq":
        status = "located"
    else:
        status = "not_located"
    bp_hi = depths[first_diff] if first_diff is not None else None
    bp_lo = depths[eq_before[-1]] + 1 if eq_before else None
    if status in ("not_testable",):
        bp_lo = None
    out = {
        "status": status,
        "breakpoint_depth": bp_hi if status == "located" else None,
        "bp_lo": bp_lo,
        "bp_hi": bp_hi,
        "first_difference_depth": bp_hi,
        "direction": None if first_diff is None else ("a_better" if kinds[first_diff] == "a" else "b_better"),
        "equivalent_depths": [d for d, k in zip(depths, kinds) if k == "eq"],
        "undetermined_depths": [d for d, k in zip(depths, kinds) if k in ("und", "floor")],
        "not_testable_depths": [d for d, k in zip(depths, kinds) if k == "nt"],
    }
    runs: list[tuple[str, list[Mapping[str, Any]]]] = []
    for r, k in zip(rows, kinds):
        if runs and runs[-1][0] == k:
            runs[-1][1].append(r)
        else:
            runs.append((k, [r]))
    phrase = ", ".join(_run_phrase(k, rs, words, i == 0, i == len(runs) - 1, len(runs) == 1)
                       for i, (k, rs) in enumerate(runs)) or "no depth measured"
    tail = {"located": "breakpoint: ", "not_located": "breakpoint " if bp_lo is not None else "no breakpoint named: ",
            "different_from_first": "no breakpoint: ", "equivalent_throughout": "no breakpoint ",
            "no_difference": "no breakpoint: ", "not_testable": ""}[status]
    out["text"] = f"{phrase} ({tail}{breakpoint_words(out, short=True)})"
    return out


def breakpoint_words(brk: Mapping[str, Any], short: bool = False) -> str:
    """A breakpoint record (:func:`summarize_comparison`) in words, for tables.

    ``short=True`` drops the leading "none" (the sentence form of ``summarize_comparison``).

    Examples
    --------
    >>> breakpoint_words({"status": "located", "breakpoint_depth": 12, "bp_lo": 7, "bp_hi": 12})
    'depth 12 (the break lies in depths 7-12)'
    >>> breakpoint_words({"status": "not_located", "breakpoint_depth": None, "bp_lo": 3, "bp_hi": 6})
    'not located: equivalence ends somewhere in depths 3-6'
    """
    status, lo, hi = brk.get("status"), brk.get("bp_lo"), brk.get("bp_hi")
    if status == "located":
        d = brk.get("breakpoint_depth")
        if lo is None or lo >= hi:
            return f"depth {d}"
        return f"depth {d}; the break lies in depths {lo}-{hi}" if short \
            else f"depth {d} (the break lies in depths {lo}-{hi})"
    if status == "not_located":
        if lo is not None:
            return f"not located: equivalence ends somewhere in depths {lo}-{hi}"
        what = f"equivalence is not shown before depth {hi}"
    elif status == "different_from_first":
        what = "a difference is shown from the first depth measured"
    elif status == "equivalent_throughout":
        return "within the depths measured" if short else "none within the depths measured"
    elif status == "no_difference":
        what = "no difference is shown"
    elif status == "not_testable":
        return "nothing testable"
    else:
        return "unknown" if brk.get("breakpoint_depth") is None else f"depth {brk['breakpoint_depth']}"
    return what if short else f"none: {what}"


def breakpoint_depth(rows: Sequence[Mapping[str, Any]]) -> int | None:
    """The breakpoint named by :func:`summarize_comparison` (None unless it is located).

    Examples
    --------
    >>> breakpoint_depth([{"depth": 1, "verdict": "equivalent"}, {"depth": 4, "verdict": "b_better"}])
    4
    >>> breakpoint_depth([{"depth": 1, "verdict": "inconclusive"}, {"depth": 4, "verdict": "b_better"}]) is None
    True
    """
    return summarize_comparison(rows)["breakpoint_depth"]


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


