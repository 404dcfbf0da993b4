"""Command ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from depthbench.demo import run_demo

__all__ = ["register"]


def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(Path(args.out), seed=args.seed)
    return 0


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``depthbench`` parser."""
    p = subparsers.add_parser(
        "demo", help="the whole pipeline on the simulated reasoner, offline, in a minute or two",
        description="Generate small datasets for the three task families, run the simulated reasoner under "
                    "single, budget_forcing, majority@N and revision@R at two budgets, analyse, and write "
                    "the report. No network, no GPU.")
    p.add_argument("--out", metavar="DIR", default="depthbench-demo", help="output folder (default: ./depthbench-demo)")
    p.add_argument("--seed", type=int, default=0, help="dataset and sampling seed (default: 0)")
    p.set_defaults(func=_cmd_demo)
