"""Search at matched budget on the simulated reasoner: beam / MCTS against best-of-N by PRM reliability.

What is measured (issue 13, regime 7a; ``BENCHMARKS.md``, *Search regimes*): graph connectivity,
the simulated reasoner with per-step error ``eps``, the same items and budget B for every
strategy. For each process reward model -- ``oracle`` (an upper bound) and ``noisy:TPR,FPR``
at decreasing reliability down to the uninformative ``noisy:0.5,0.5`` -- ``beam@N:W`` (and
``mcts@N`` for the oracle) is compared with ``best_of@N`` under the same verifier by the suite's
own verdicts (:func:`depthbench.scorers.compare_strategies`, paired exact TOST with margin 0.05,
Holm across depths) per depth: accuracy of each, the paired difference and the verdict. Also
printed: mean generated tokens (G) per item and step calls per second (the search's cost
through the call context).

Usage::

    nice python benchmarks/search_regimes.py [--n 150] [--eps 0.15] [--budget 640] [--depths 1,4,8]

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
from depthbench.tasks import build_items

PAIRS = (("beam@4:2:prm=oracle", "best_of@4:oracle"), ("mcts@4:c=1.4:prm=oracle", "best_of@4:oracle"),
         ("beam@4:2:prm=noisy:0.9,0.1", "best_of@4:noisy:0.9,0.1"),
         ("beam@4:2:prm=noisy:0.6,0.4", "best_of@4:noisy:0.6,0.4"),
         ("beam@4:2:prm=noisy:0.5,0.5", "best_of@4:noisy:0.5,0.5"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150, help="items per depth")
    ap.add_argument("--eps", type=float, default=0.15, help="the reasoner's per-step error")
    ap.add_argument("--budget", type=int, default=640, help="B, generated tokens per item")
    ap.add_argument("--depths", default="1,4,8")
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    items = build_items("graph_connectivity", "train", depths=depths, n=args.n)
    model = SimulatedModel(eps=args.eps)
    outs: list[dict] = []
    cost: dict[str, tuple[float, int, int]] = {}
    for name in dict.fromkeys(n for pair in PAIRS for n in pair):
        s = parse(name)
        t0, calls, g = time.perf_counter(), 0, 0
        for it in items:
            ctx = CallContext(it, s.name, args.budget, model)
            o = asyncio.run(s.run(it, ctx))
            outs.append(o)
            calls += len(o["calls"])
            g += o["generated_tokens"]
        cost[name] = (time.perf_counter() - t0, calls, g)
    print(f"graph_connectivity, simulated eps={args.eps}, budget {args.budget}, {args.n} items per depth\n")
    print("| search (a) | best-of-N (b) | depth | acc a | acc b | diff | verdict | mean G a / b |")
    print("|---|---|---|---|---|---|---|---|")
    for a, b in PAIRS:
        rows, bp = compare_strategies(outs, a, b, budget=args.budget, chance=0.5)
        ga = cost[a][2] / len(items)
        gb = cost[b][2] / len(items)
        for r in rows:
            print(f"| {a} | {b} | {r['depth']} | {r['acc_a']:.3f} | {r['acc_b']:.3f} | {r['diff']:+.3f} | "
                  f"{r['verdict']} | {ga:.0f} / {gb:.0f} |")
    print("\n| strategy | calls/s | calls per item |")
    print("|---|---|---|")
    for name, (sec, calls, _) in cost.items():
        print(f"| {name} | {calls / sec:.0f} | {calls / len(items):.1f} |")


if __name__ == "__main__":
    main()
