"""Calibration of the paired verdicts against a known truth: size, power, coverage, breakpoint.

What is measured (issue 10; ``BENCHMARKS.md``, *Verdict calibration*):

1. **Size and power, paired binary outcomes**, for n in {100, 300, 1000} items per depth and
   discordance q = p10 + p01 in {0.02, 0.05, 0.06, 0.08, 0.1, 0.2, 0.4}, at one depth and at
   five depths with Holm (all five at the same truth): the probability of the verdict
   "equivalent" when the true difference is +m (m = 0.05; -m gives the same by symmetry,
   checked at n = 100), of "a better" or "b better" when it is 0, and of "equivalent" when it
   is 0 (power) next to what the power helper (``equivalence_power``) predicts. All exact:
   ``rejection_probability`` enumerates every (n10, n01) (no Monte Carlo); five independent
   depths are combined exactly (Holm's family-wise rate is ``1 - (1 - P(p <= m/5))^5``;
   the per-depth power is :func:`holm_power`). The paired t-test TOST that main used
   (``depthbench.scorers.paired_tost``, strict ``p < alpha``) is enumerated the same way and
   printed beside it. At q < m a true difference of m is impossible: those cells read "-".
   With one depth at the margin and the others shown equivalent, Holm tests the last depth at
   ``alpha`` itself, so the one-depth column is also the worst case of a five-depth family.
2. **Items needed**: for each q, ``power_items(q, n_tests=D)`` and the exact per-depth power
   of the exact test at that n (target 0.80 +- 0.03).
3. **Interval coverage**: the Tango score intervals (``ci90`` / ``ci95``), exactly (a score
   interval covers delta iff the score test of delta does not reject).
4. **Breakpoint, step scenario**: five depths, difference 0 at depths 1-3 (discordance q0)
   and +0.2 from depth 4 (p01 = q0 / 2 kept), n items per depth, Monte Carlo runs through
   the same functions as ``compare_strategies`` (checked against it on the first runs):
   how often a breakpoint is named, named right (4) or wrong, and how often
   [bp_lo, bp_hi] covers the true step 4 (null ends unbounded). The old rule (paired t,
   "first depth not shown equivalent", percentile bootstrap interval) is run beside it.
5. **Fractional credit** (half-credit ties): Monte Carlo size at +m with the seeded rounding.
6. **Speed**: exact paired tests per second (uncached) against the paired t-test.

Usage::

    nice python benchmarks/verdict_calibration.py [--quick] [--runs 2000] [--seed 0]

``--quick`` drops n = 1000 and uses fewer Monte Carlo runs. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time

import numpy as np
from scipy import stats

from depthbench.scorers import (
    compare_strategies,
    equivalence_power,
    holm,
    p_value_less,
    paired_test,
    paired_tost,
    power_items,
    rejection_probability,
    round_credits,
    summarize_comparison,
    tango_score,
    verdict,
)
from depthbench.scorers._paired import _p_less_cached, _trinomial, holm_power

M, ALPHA, D = 0.05, 0.05, 5
QS = (0.02, 0.05, 0.06, 0.08, 0.1, 0.2, 0.4)


# ----------------------------------------------------------------------------- helpers

def t_grid(n: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The paired t TOST and two-sided t p-values at every (n10, n01), as ``paired_tost`` computes them."""
    x, y = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    mean = (x - y) / n
    var = np.maximum((x + y) - (x - y) ** 2 / n, 0.0) / (n - 1)
    sd = np.where(var > 0, np.sqrt(var), math.sqrt(3.0 / n))
    se = sd / math.sqrt(n)
    df = n - 1
    p_tost = np.maximum(stats.t.sf((mean + margin) / se, df), stats.t.cdf((mean - margin) / se, df))
    p_diff = np.minimum(1.0, 2 * stats.t.sf(np.abs(mean) / se, df))
    inside = x + y <= n
    return np.where(inside, p_tost, 2.0), np.where(inside, p_diff, 2.0)


def check_t_grid() -> None:
    """The vectorised t grid equals depthbench's reference ``paired_tost``."""
    n = 50
    pt, pd = t_grid(n, M)
    for x, y in [(0, 0), (3, 1), (10, 12), (2, 0)]:
        a = np.r_[np.ones(x), np.zeros(y), np.ones(n - x - y)]
        b = np.r_[np.zeros(x), np.ones(y), np.ones(n - x - y)]
        r = paired_tost(a, b, M)
        assert abs(r.p_tost - pt[x, y]) < 1e-12 and abs(r.p_diff - pd[x, y]) < 1e-12, (x, y)


def fwer(level_prob) -> float:
    return 1.0 - (1.0 - level_prob(ALPHA / D)) ** D


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


# ------------------------------------------------------------------------ 1. size/power

def size_power_table(ns: tuple[int, ...]) -> None:
    print("### Size and power, paired binary outcomes (exact enumeration)\n")
    print(f"m = {M}, alpha = {ALPHA}; 'x5 Holm': five depths at the same truth. Exact test = this release; "
          "paired t = the TOST main used.\n")
    print("| n | q | equivalent at +m, 1 depth (exact \\| t) | at +m, x5 Holm (exact \\| t) "
          "| a/b better at 0, 1 depth (exact \\| t) | at 0, x5 Holm (exact \\| t) "
          "| power of equivalent at 0, 1 depth (exact \\| helper) | x5 Holm per depth (exact \\| helper) |")
    print("|---:|---:|---|---|---|---|---|---|")
    worst_size = 0.0
    worst_gap = 0.0
    for n in ns:
        t_tost, t_diff = t_grid(n, M)
        for q in QS:
            t0 = time.monotonic()
            null0 = _trinomial(n, q / 2, q / 2)
            cells = []
            if q >= M:
                p10, p01 = (q + M) / 2, (q - M) / 2
                w = _trinomial(n, p10, p01)
                e1 = rejection_probability(n, p10, p01, margin=M, level=ALPHA)
                e5 = fwer(lambda u: rejection_probability(n, p10, p01, margin=M, level=u))
                if n == ns[0]:
                    mirror = rejection_probability(n, p01, p10, margin=M, level=ALPHA)
                    assert abs(mirror - e1) < 1e-12, (n, q, mirror, e1)
                t1 = float(np.sum(w * (t_tost < ALPHA)))
                t5 = 1.0 - (1.0 - float(np.sum(w * (t_tost < ALPHA / D)))) ** D
                worst_size = max(worst_size, e1, e5)
                cells += [f"{fmt(e1)} \\| {fmt(t1)}", f"{fmt(e5)} \\| {fmt(t5)}"]
            else:
                cells += ["- \\| -", "- \\| -"]
            d1 = rejection_probability(n, q / 2, q / 2, margin=M, level=ALPHA, outcome="different")
            d5 = fwer(lambda u: rejection_probability(n, q / 2, q / 2, margin=M, level=u, outcome="different"))
            td1 = float(np.sum(null0 * (t_diff < ALPHA)))
            td5 = 1.0 - (1.0 - float(np.sum(null0 * (t_diff < ALPHA / D)))) ** D
            worst_size = max(worst_size, d1, d5)
            pw1 = rejection_probability(n, q / 2, q / 2, margin=M, level=ALPHA)
            pw5 = holm_power(lambda u: rejection_probability(n, q / 2, q / 2, margin=M, level=u), ALPHA, D)
            h1 = equivalence_power(n, q, margin=M, alpha=ALPHA)
            h5 = equivalence_power(n, q, margin=M, alpha=ALPHA, n_tests=D)
            worst_gap = max(worst_gap, abs(pw1 - h1), abs(pw5 - h5))
            cells += [f"{fmt(d1)} \\| {fmt(td1)}", f"{fmt(d5)} \\| {fmt(td5)}",
                      f"{fmt(pw1)} \\| {fmt(h1)}", f"{fmt(pw5)} \\| {fmt(h5)}"]
            print(f"| {n} | {q} | " + " | ".join(cells) + " |", flush=True)
            del t0
    print(f"\nLargest size of the exact tests: {worst_size:.4f} (target <= {ALPHA}); largest |exact power - "
          f"helper|: {worst_gap:.3f} (target <= 0.03).\n")


# ---------------------------------------------------------------------- 2. items needed

def items_needed_table() -> None:
    print("### Items needed for 80% power per depth (exact power at the helper's n)\n")
    print("| q | 1 depth: n | exact power | 5 depths (Holm): n | exact per-depth power |")
    print("|---:|---:|---:|---:|---:|")
    for q in QS:
        cells = []
        for k in (1, D):
            n = power_items(q, M, ALPHA, n_tests=k)
            exact = holm_power(lambda u: rejection_probability(n, q / 2, q / 2, margin=M, level=u), ALPHA, k)
            cells += [str(n), f"{exact:.3f}"]
        print(f"| {q} | " + " | ".join(cells) + " |", flush=True)
    print()


# ------------------------------------------------------------------- 3. interval coverage

def coverage_table(ns: tuple[int, ...]) -> None:
    print("### Coverage of the Tango score intervals (exact)\n")
    print("| n | q | delta | ci90 | ci95 |")
    print("|---:|---:|---:|---:|---:|")
    worst = [1.0, 1.0]
    for n in ns:
        x, y = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        inside = x + y <= n
        for q in QS:
            for delta in (0.0, M):
                if delta > q:
                    continue
                w = _trinomial(n, (q + delta) / 2, (q - delta) / 2)
                z = np.where(inside, tango_score(x, y, n, delta), 0.0)
                c90 = float(np.sum(w * (np.abs(z) <= stats.norm.isf(0.05))))
                c95 = float(np.sum(w * (np.abs(z) <= stats.norm.isf(0.025))))
                worst = [min(worst[0], c90), min(worst[1], c95)]
                print(f"| {n} | {q} | {delta} | {c90:.3f} | {c95:.3f} |")
    print(f"\nLowest coverage: ci90 {worst[0]:.3f}, ci95 {worst[1]:.3f}.\n")


# ---------------------------------------------------------------- 4. breakpoint scenario

def _old_rule(counts: np.ndarray, n: int, rng: np.random.Generator, n_boot: int) -> tuple[int, int | None, int | None]:
    """main's rule: t TOST + Holm, breakpoint = first depth not equivalent, bootstrap interval."""
    depths = np.arange(1, counts.shape[0] + 1)

    def bp_of(cs: np.ndarray) -> float:
        p = []
        for x, y in cs:
            a = np.r_[np.ones(x), np.zeros(y), np.ones(n - x - y)]
            b = np.r_[np.zeros(x), np.ones(y), np.ones(n - x - y)]
            p.append(paired_tost(a, b, M).p_tost)
        eq = np.array(holm(p)) < ALPHA
        return float(depths[np.argmax(~eq)]) if not eq.all() else math.inf

    bp = bp_of(counts)
    boots = []
    for _ in range(n_boot):   # resample items within each depth: the counts are multinomial
        cs = []
        for x, y in counts:
            k = rng.multinomial(n, [x / n, y / n, 1 - (x + y) / n])
            cs.append((k[0], k[1]))
        boots.append(bp_of(np.array(cs)))
    lo, hi = np.quantile(boots, [0.025, 0.975], method="inverted_cdf")
    return int(bp) if math.isfinite(bp) else 0, None if math.isinf(lo) else int(lo), None if math.isinf(hi) else int(hi)


def _new_rule(counts: np.ndarray, n: int) -> dict:
    tests = [paired_test(int(x), int(y), n, M) for x, y in counts]
    ph = holm([t.p_tost for t in tests])
    pdh = holm([t.p_diff for t in tests])
    rows = [{"depth": d + 1, "verdict": verdict(t.diff, a, b, n, ALPHA), "floor": False}
            for d, (t, a, b) in enumerate(zip(tests, ph, pdh))]
    return summarize_comparison(rows)


def _records(counts: np.ndarray, n: int) -> list[dict]:
    out = []
    for d, (x, y) in enumerate(counts, start=1):
        a = [1.0] * x + [0.0] * y + [1.0] * (n - x - y)
        b = [0.0] * x + [1.0] * y + [1.0] * (n - x - y)
        for i in range(n):
            out += [{"item_id": f"{d}-{i}", "task": "t", "strategy": "a", "budget": 1, "depth": d, "credit": a[i]},
                    {"item_id": f"{d}-{i}", "task": "t", "strategy": "b", "budget": 1, "depth": d, "credit": b[i]}]
    return out


def step_scenario(runs: int, old_runs: int, seed: int) -> None:
    print("### Breakpoint: the step scenario (Monte Carlo)\n")
    print("Depths 1-5; difference 0 at depths 1-3 (discordance q0), +0.2 from depth 4; the true step is 4. "
          f"{runs} runs per row for the new rule ({old_runs} for main's, whose interval is a {100}-replicate "
          "bootstrap of the whole procedure). 'covers': 4 lies in [bp_lo, bp_hi] (a missing end is unbounded); "
          "'bounded': both ends given.\n")
    print("| n | q0 | rule | breakpoint named | named = 4 | named elsewhere | interval covers 4 | both ends bounded "
          "| covers, when bounded |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(seed)
    for n in (100, 300):
        for q0 in (0.02, 0.05, 0.1):
            probs = [[q0 / 2, q0 / 2]] * 3 + [[q0 / 2 + 0.2, q0 / 2]] * 2
            named = right = cover = bounded = cover_b = 0
            for r in range(runs):
                counts = np.array([rng.multinomial(n, [p10, p01, 1 - p10 - p01])[:2] for p10, p01 in probs])
                s = _new_rule(counts, n)
                if r < 2:   # the same breakpoint as the full pipeline (its text adds the items that would decide)
                    _, brk = compare_strategies(_records(counts, n), "a", "b", margin=M, n_boot=0)
                    assert all(brk[k] == v for k, v in s.items() if k != "text"), (s, brk)
                lo, hi = s["bp_lo"], s["bp_hi"]
                named += s["breakpoint_depth"] is not None
                right += s["breakpoint_depth"] == 4
                ok = (lo is None or lo <= 4) and (hi is None or hi >= 4)
                cover += ok
                if lo is not None and hi is not None:
                    bounded += 1
                    cover_b += ok
            print(f"| {n} | {q0} | exact, shown-difference rule | {named / runs:.3f} | {right / runs:.3f} | "
                  f"{(named - right) / runs:.3f} | {cover / runs:.3f} | {bounded / runs:.3f} | "
                  f"{(cover_b / bounded) if bounded else float('nan'):.3f} |", flush=True)
            bps, cov = [], 0
            for _ in range(old_runs):
                counts = np.array([rng.multinomial(n, [p10, p01, 1 - p10 - p01])[:2] for p10, p01 in probs])
                bp, lo, hi = _old_rule(counts, n, rng, 100)
                bps.append(bp)
                cov += lo is not None and hi is not None and lo <= 4 <= hi
            bps = np.array(bps)
            print(f"| {n} | {q0} | main: paired t, first depth not equivalent | {np.mean(bps > 0):.3f} | "
                  f"{np.mean(bps == 4):.3f} | {np.mean((bps > 0) & (bps != 4)):.3f} (depth 1: {np.mean(bps == 1):.3f}) "
                  f"| {cov / old_runs:.3f} | - | - |", flush=True)
    print()


# ------------------------------------------------------------------ 5. fractional credit

def fractional_table(reps: int, seed: int) -> None:
    print("### Fractional credit (half-credit ties), size at +m (Monte Carlo, seeded rounding)\n")
    print("Per item (a, b) is (1, 0.5) w.p. 0.08, (1, 0) w.p. 0.01, (0.5, 0.5) w.p. 0.2, (1, 1) w.p. 0.5, "
          "else (0, 0): the difference is exactly m = 0.05 and the discordance after rounding 0.05, the worst "
          "cell. 'paired t' runs on the unrounded credits.\n")
    print("| n | runs | exact test (rounded) | +- se | paired t (unrounded) | +- se |")
    print("|---:|---:|---:|---:|---:|---:|")
    kinds = np.array([[1.0, 0.5], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0], [0.0, 0.0]])
    probs = [0.08, 0.01, 0.20, 0.50, 0.21]
    rng = np.random.default_rng(seed)
    for n in (100, 300):
        hits = t_hits = 0
        for r in range(reps):
            pairs = kinds[rng.choice(len(kinds), size=n, p=probs)]
            ra, rb, _ = round_credits(pairs[:, 0], pairs[:, 1], [f"i{i}" for i in range(n)], seed=r)
            x, y = int(np.sum(ra > rb)), int(np.sum(rb > ra))
            hits += max(p_value_less(x, y, n, M), p_value_less(y, x, n, M)) <= ALPHA
            t_hits += paired_tost(pairs[:, 0], pairs[:, 1], M).p_tost < ALPHA
        se = math.sqrt(ALPHA * (1 - ALPHA) / reps)
        print(f"| {n} | {reps} | {hits / reps:.4f} | {se:.4f} | {t_hits / reps:.4f} | {se:.4f} |", flush=True)
    print()


# ------------------------------------------------------------------------------ 6. speed

def speed_table() -> None:
    print("### Speed (one core, uncached)\n")
    print("| n | exact paired test (TOST + difference + intervals) per s | paired t TOST per s | ratio |")
    print("|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for n in (100, 300, 1000):
        pts = [(int(rng.integers(0, n // 10)), int(rng.integers(0, n // 10))) for _ in range(6)]
        _p_less_cached.cache_clear()
        t0 = time.process_time()
        for x, y in pts:
            paired_test(x, y, n, M)
        exact = len(pts) / (time.process_time() - t0)
        t0 = time.process_time()
        reps = 0
        for x, y in pts * 20:
            a = np.r_[np.ones(x), np.zeros(y), np.ones(n - x - y)]
            b = np.r_[np.zeros(x), np.ones(y), np.ones(n - x - y)]
            paired_tost(a, b, M)
            reps += 1
        t_rate = reps / (time.process_time() - t0)
        print(f"| {n} | {exact:.1f} | {t_rate:.0f} | {exact / t_rate:.4f} |")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n in {100, 300} only, fewer Monte Carlo runs")
    ap.add_argument("--runs", type=int, default=2000, help="Monte Carlo runs of the step scenario (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    check_t_grid()
    ns = (100, 300) if args.quick else (100, 300, 1000)
    runs = 200 if args.quick else args.runs
    t0 = time.monotonic()
    print(f"depthbench verdict calibration; Python {platform.python_version()}, numpy {np.__version__}; "
          f"m = {M}, alpha = {ALPHA}\n")
    size_power_table(ns)
    items_needed_table()
    coverage_table(ns)
    step_scenario(runs, max(50, runs // 10), args.seed)
    fractional_table(1000 if args.quick else 4000, args.seed)
    speed_table()
    print(f"total {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
