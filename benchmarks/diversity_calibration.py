"""Calibration of the diversity collapse flag against a known truth (the simulated reasoner).

What is measured (issue 13, deliverable 6; ``BENCHMARKS.md``, *Diversity flag calibration*):
the flag of ``depthbench.scorers.collapse_flag`` -- mean answer entropy <= 0.5 bit and coverage
(pass@N) <= 0.5 over a (task, strategy, budget, depth) cell -- computed exactly as ``analyze``
computes it (``scorers.sample_diversity`` per item, ``scorers.diversity_rows`` per cell) on the
final answers of the simulated reasoner's samples (``baselines._simulated_theory.simulate_batch``:
per-step error ``eps`` at depth ``d``, correlation ``rho`` = the probability that a sample copies a
shared per-item draw). The known truth of a cell is its population value: the expected entropy
and coverage, estimated from 20,000 items; the cell is *collapsed* when both are under the
thresholds. Reported per cell: the truth, and how often the flag fires over ``--runs`` simulated
cells of ``--items`` items (the item count of a depth in a small run).

Cells: answer spaces of 2 (graph connectivity: a wrong chain names the other target) and 97
(arithmetic modulo 97: a wrong chain names one of 96 wrong values), N in {4, 8, 16} samples, rho
in {0, 0.5, 0.8, 0.9, 0.95, 1}, single-chain accuracy (1 - eps)^4 at depth 4 with eps in {0.05,
0.2, 0.4} (0.81, 0.41, 0.13; chains always complete: the budget is ample).

Usage::

    nice python benchmarks/diversity_calibration.py [--runs 400] [--items 30] [--seed 0] [--quick]

Prints markdown tables: every cell, then the guard-band summary (how often the flag fires where the
truth is clearly collapsed -- entropy <= 0.25 and coverage <= 0.35 -- and clearly not -- entropy
>= 0.75 or coverage >= 0.65).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from depthbench.baselines._simulated_theory import simulate_batch
from depthbench.scorers import collapse_flag, diversity_rows, sample_diversity

DEPTH = 4
BUDGET = 10_000  # ample: every chain completes, so accuracy is (1 - eps)^depth


def cell_stats(codes: np.ndarray) -> dict:
    """The cell's diversity row, computed as ``analyze`` does (code 0 = the right answer)."""
    outs = []
    for i, row in enumerate(codes):
        answers = [int(c) for c in row]
        d = sample_diversity(answers, [c == 0 for c in answers])
        outs.append({"task": "t", "strategy": "s", "budget": 1, "depth": DEPTH, "item_id": str(i), "diversity": d})
    return diversity_rows(outs)[0]


def draw(n_items: int, n: int, eps: float, rho: float, answers: int, seed: int) -> np.ndarray:
    return simulate_batch(DEPTH, BUDGET, n_items, n, eps=eps, rho=rho, n_answers=answers, seed=seed).codes


def truth(n: int, eps: float, rho: float, answers: int, seed: int, n_items: int = 20_000) -> dict:
    """Population entropy, coverage and flag of a cell (one large sample)."""
    row = cell_stats(draw(n_items, n, eps, rho, answers, seed))
    return {"entropy": row["answer_entropy"], "coverage": row["coverage"], "gap": row["coverage_gap"],
            "collapsed": collapse_flag(row["answer_entropy"], row["coverage"])}


def fire_rate(n: int, eps: float, rho: float, answers: int, *, items: int, runs: int, seed: int) -> float:
    """Share of ``runs`` simulated cells of ``items`` items in which the flag fires."""
    codes = draw(items * runs, n, eps, rho, answers, seed)
    fired = 0
    for r in range(runs):
        row = cell_stats(codes[r * items:(r + 1) * items])
        fired += bool(row["collapsed"])
    return fired / runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--items", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="100 runs, truth from 5,000 items")
    args = ap.parse_args()
    runs = 100 if args.quick else args.runs
    t0 = time.perf_counter()
    print(f"## Collapse flag: fire rate over {runs} simulated cells of {args.items} items (depth {DEPTH})\n")
    print("| answers | N | rho | acc(1 chain) | E[entropy] bits | E[coverage] | E[pass-maj] | truth | fires |")
    print("|---:|---:|---:|---:|---:|---:|---:|:---|---:|")
    clear_yes, clear_no = [], []
    for k, (answers, n, eps, rho) in enumerate(itertools.product((2, 97), (4, 8, 16), (0.05, 0.2, 0.4),
                                                                   (0.0, 0.5, 0.8, 0.9, 0.95, 1.0))):
        t = truth(n, eps, rho, answers, seed=args.seed + 10_000 + k, n_items=5_000 if args.quick else 20_000)
        f = fire_rate(n, eps, rho, answers, items=args.items, runs=runs, seed=args.seed + k)
        if t["entropy"] <= 0.25 and t["coverage"] <= 0.35:
            clear_yes.append((f, answers, n, eps, rho))
        if t["entropy"] >= 0.75 or t["coverage"] >= 0.65:
            clear_no.append((f, answers, n, eps, rho))
        print(f"| {answers} | {n} | {rho:g} | {(1 - eps) ** DEPTH:.2f} | {t['entropy']:.3f} | {t['coverage']:.3f} | "
              f"{t['gap']:+.3f} | {'collapsed' if t['collapsed'] else 'diverse or covered'} | {f:.3f} |")
    print("\n## Guard bands\n")
    print("| truth | cells | fire rate: min | max | worst cell (answers, N, eps, rho) |")
    print("|:---|---:|---:|---:|:---|")
    lo = min(clear_yes)
    hi = max(clear_no)
    print(f"| clearly collapsed (E[H] <= 0.25, E[cov] <= 0.35) | {len(clear_yes)} | {lo[0]:.3f} | "
          f"{max(clear_yes)[0]:.3f} | {lo[1:]} |")
    print(f"| clearly not (E[H] >= 0.75 or E[cov] >= 0.65) | {len(clear_no)} | {min(clear_no)[0]:.3f} | "
          f"{hi[0]:.3f} | {hi[1:]} |")
    print(f"\n{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
