"""Search at matched budget on the simulated reasoner: beam / MCTS against best-of-N by PRM reliability.

What is measured (issue 13, regime 7a; ``BENCHMARKS.md``, *Search regimes*): graph connectivity,
the simulated reasoner with per-step error ``eps``, the same items and budget B for every
strategy. For each process reward model -- ``oracle`` (an upper bound) and ``noisy:TPR,FPR``
at decreasing reliability down to the uninformative ``noisy:0.5,0.5`` -- ``beam@N:W`` (and
``mcts@N`` for the oracle) is compared with its like-for-like baseline ``weighted_best_of@N:prm=P``
(the same PRM and final weighted vote over N whole chains, no search) and with ``best_of@N`` under
the matching outcome verifier (one chain picked) by the suite's own verdicts (:func:`depthbench.scorers.compare_strategies`, paired exact TOST with margin 0.05,
Holm across depths) per depth: accuracy of each, the paired difference, its 90% interval, the verdict
and the items per depth that would decide it (``items_to_decide``, 80% power). Also
printed: mean generated tokens (G) per item and step calls per second (the search's cost
through the call context).

Usage::

    nice python benchmarks/search_regimes.py [--n 150] [--eps 0.15] [--budget 640] [--depths 1,4,8]
    nice python benchmarks/search_regimes.py --prms 'noisy:0.6,0.4' --n 1000   # the weak-PRM pair alone
    nice python benchmarks/search_regimes.py --prms 'oracle;noisy:0.6,0.4' --rho 0,0.3,0.5,0.7 --n 1000
    nice python benchmarks/search_regimes.py --prms 'oracle;noisy:0.6,0.4' --rho 0.9 --n 4000 --seed 1

``--rho`` (a comma-separated list) sweeps the reasoner's correlation between samples (the
simulated backend's ``rho``: a sample copies the item's default continuation with that
probability; a whole chain copies the item's one shared chain, a step call the next step of the
same tree, so siblings of one beam agree and an all-copying beam chain is that shared chain), one table block
per value: the map of where each half of regime 7a holds.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from depthbench.baselines._context import CallContext
from depthbench.baselines.backends.simulated import SimulatedModel
from depthbench.baselines.strategies import parse
from depthbench.scorers import compare_strategies
from depthbench.scorers._paired import items_to_decide
from depthbench.tasks import build_items

#: (search, baseline): each PRM's beam against its like-for-like baseline, weighted best-of-N with the
#: same PRM over N whole chains (``weighted_best_of``), and against ``best_of@N`` with the matching
#: outcome verifier (picks one chain); the oracle PRM also drives MCTS
PAIRS = (("beam@4:2:prm=oracle", "weighted_best_of@4:prm=oracle"), ("beam@4:2:prm=oracle", "best_of@4:oracle"),
         ("mcts@4:c=1.4:prm=oracle", "best_of@4:oracle"),
         ("beam@4:2:prm=noisy:0.9,0.1", "weighted_best_of@4:prm=noisy:0.9,0.1"),
         ("beam@4:2:prm=noisy:0.6,0.4", "weighted_best_of@4:prm=noisy:0.6,0.4"),
         ("beam@4:2:prm=noisy:0.6,0.4", "best_of@4:noisy:0.6,0.4"),
         ("beam@4:2:prm=noisy:0.5,0.5", "weighted_best_of@4:prm=noisy:0.5,0.5"))

MARGIN, ALPHA = 0.05, 0.05  # compare_strategies' defaults


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150, help="items per depth")
    ap.add_argument("--eps", type=float, default=0.15, help="the reasoner's per-step error")
    ap.add_argument("--budget", type=int, default=640, help="B, generated tokens per item")
    ap.add_argument("--depths", default="1,4,8")
    ap.add_argument("--prms", help="only beam@4:2 against weighted_best_of@4 with each of these PRMs, "
                    "';'-separated (e.g. 'noisy:0.6,0.4;noisy:0.5,0.5'), for a large --n")
    ap.add_argument("--rho", default="0", help="the reasoner's correlation between samples, a comma-separated "
                    "list to sweep (e.g. 0,0.3,0.5,0.7)")
    ap.add_argument("--seed", type=int, default=0, help="the run seed (every sample's and the noisy PRM's draws)")
    args = ap.parse_args()
    pairs = PAIRS if not args.prms else tuple((f"beam@4:2:prm={p}", f"weighted_best_of@4:prm={p}")
                                              for p in args.prms.split(";"))
    depths = [int(d) for d in args.depths.split(",")]
    items = build_items("graph_connectivity", "train", depths=depths, n=args.n)
    try:
        rhos = [float(r) for r in args.rho.split(",")]
    except ValueError:
        ap.error(f"--rho: {args.rho!r} is not a comma-separated list of numbers in [0, 1], e.g. 0,0.5,0.9")
    if not all(0.0 <= r <= 1.0 for r in rhos):
        ap.error(f"--rho: every value must be in [0, 1], got {args.rho}")
    print(f"graph_connectivity, simulated eps={args.eps}, budget {args.budget}, {args.n} items per depth, "
          f"run seed {args.seed}\n")
    print(f"verdicts: paired exact TOST, margin {MARGIN}, alpha {ALPHA} (Holm across depths), the suite's defaults\n")
    print("| rho | search (a) | baseline (b) | depth | acc a | acc b | diff | 90% CI | verdict | items to decide | "
          "mean G a / b |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    costs = {}
    for rho in rhos:
        cost = costs[rho] = _run_block(pairs, items, args, SimulatedModel(eps=args.eps, rho=rho))
        for a, b, r, need in cost.pop("rows"):
            ga, gb = cost[a][2] / len(items), cost[b][2] / len(items)
            print(f"| {rho:g} | {a} | {b} | {r['depth']} | {r['acc_a']:.3f} | {r['acc_b']:.3f} | {r['diff']:+.3f} | "
                  f"[{r['ci90_lo']:+.3f}, {r['ci90_hi']:+.3f}] | {r['verdict']} | {need or '-'} | {ga:.0f} / {gb:.0f} |")
    print("\n| rho | strategy | calls/s | calls per item |")
    print("|---|---|---|---|")
    for rho, cost in costs.items():
        for name, (sec, calls, _) in cost.items():
            print(f"| {rho:g} | {name} | {calls / sec:.0f} | {calls / len(items):.1f} |")


def _run_block(pairs, items, args, model) -> dict:
    """Run every strategy of ``pairs`` on ``items`` with ``model``; the cost per strategy
    (seconds, calls, generated tokens) and, under ``"rows"``, the compared rows of each pair."""
    outs: list[dict] = []
    cost: dict = {}
    for name in dict.fromkeys(n for pair in pairs for n in pair):
        s = parse(name)
        t0, calls, g = time.perf_counter(), 0, 0
        for it in items:
            ctx = CallContext(it, s.name, args.budget, model, run_seed=args.seed)
            o = asyncio.run(s.run(it, ctx))
            outs.append(o)
            calls += len(o["calls"])
            g += o["generated_tokens"]
        cost[name] = (time.perf_counter() - t0, calls, g)
    rows_out = []
    for a, b in pairs:
        rows, _ = compare_strategies(outs, a, b, budget=args.budget, chance=0.5, margin=MARGIN, alpha=ALPHA)
        for r in rows:
            q, d = r["discordance"], (r["n10"] - r["n01"]) / r["n"]  # both after rounding, as the test sees them
            need = items_to_decide(q, d, MARGIN, ALPHA, n_tests=len(rows)) if q > 0 else None
            rows_out.append((a, b, r, need))
    cost["rows"] = rows_out
    return cost

if __name__ == "__main__":
    main()
