"""The ``strategies`` command: the strategy registry as a table.

``register(subparsers)`` is called by :mod:`depthbench.cli` (its command table). It imports
only the registry, so ``depthbench strategies`` starts fast (``benchmarks/cli_bench.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

from depthbench.baselines.strategies import parse, registered
from depthbench.baselines.strategies._search import PRMS

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``strategies`` to the CLI."""
    p = sub.add_parser("strategies", help="list the test-time strategies, one line each",
                       description="List the strategy names accepted by `depthbench eval --strategy` (the strategy "
                                   "registry): kind, call roles, the smallest budget of an example and a summary.")
    p.add_argument("--verbose", "-v", action="store_true", help="also list each strategy's parameters")
    p.set_defaults(func=_cmd_strategies)


def _cmd_strategies(args: argparse.Namespace) -> int:
    rows = [("name", "kind", "roles", "min budget", "what")]
    for info in registered().values():
        example = parse(info.example)
        rows.append((info.pattern, "|".join(info.kinds), ",".join(info.roles),
                     f"{example.min_budget()} ({info.example})", info.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    if args.verbose:
        for info in registered().values():
            if info.params:
                print(f"\n{info.pattern}")
                for name, meaning in info.params.items():
                    print(f"  {name:<14} {meaning}")
        print("\nprocess reward models (prm=P, for beam, mcts and weighted_best_of):")
        for name, (gold, meaning) in PRMS.items():
            print(f"  {name:<14} {'needs gold' if gold else 'gold-free':<11} {meaning}")
    return 0
