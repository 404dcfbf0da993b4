"""Commands of the scorers subsystem: ``score`` and ``analyze``.

``register(subparsers)`` is called by :mod:`depthbench.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from depthbench.analysis._analyze import analyze_run, format_table
from depthbench.analysis._rescore import score_run
from depthbench.errors import UserError

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``score`` and ``analyze`` to the CLI."""
    p = sub.add_parser(
        "score",
        help="re-score a run from its raw responses (writes RUN_DIR/scored.jsonl; idempotent)",
        description=(
            "Re-extract every call of RUN_DIR/calls.jsonl from its raw text, re-verify it against the dataset "
            "item, and re-reduce every (item, strategy, budget) with the strategy's own reduction. Writes "
            "RUN_DIR/scored.jsonl atomically; running it again gives the same bytes. Corrupt or torn log "
            "lines are reported by line number on stderr and skipped."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `depthbench eval`")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress over the calls (default: a bar on a terminal, else a line every ~30 s)")
    p.set_defaults(func=_cmd_score)

    a = sub.add_parser(
        "analyze",
        help="depth curves, fits and parallel-vs-sequential equivalence verdicts (writes RUN_DIR/results.json)",
        description=(
            "Per (task, strategy, budget, depth): accuracy with Wilson and paired bootstrap intervals, token "
            "means; per curve the fit c + (1 - c) p^d (per-step reliability p, d50) and the area under the "
            "curve; per (parallel, sequential) pair and per (search, parallel) and (search, sequential) pair at "
            "each budget (bound strategies never paired): paired differences, exact TOST with "
            "margin m and an exact test of a difference (paired proportions, Tango's score order), Holm across "
            "depths, a verdict per depth (equivalent / parallel or sequential better / not determined at this "
            "n) and the breakpoint; per cell of a strategy that samples several responses, their diversity (distinct "
            "answers, answer entropy, pass@N - maj@N, a collapse flag). --match calls|responses adds comparisons at a "
            "matched number of calls or responses. Uses RUN_DIR/scored.jsonl if present, else outcomes.jsonl."
        ),
    )
    a.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `depthbench eval`")
    a.add_argument("--margin", type=float, default=0.05,
                   help="equivalence margin in accuracy units, in (0, 0.5) (default 0.05)")
    a.add_argument("--json", action="store_true", help="print results.json to stdout instead of the table")
    a.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the rounding of fractional credit (default 0)")
    a.add_argument("--n-boot", type=int, default=2000, metavar="B", help="bootstrap replicates (default 2000)")
    a.add_argument("--match", choices=("tokens", "calls", "responses"), default="tokens",
                   help="what a comparison holds equal (default tokens: each default pair -- (parallel, sequential), "
                        "(search, parallel), (search, sequential) -- at the same budget). calls / responses: in "
                        "addition, compare every two strategies (each at any of its "
                        "budgets; bound strategies left out) whose mean per-item number of calls (every model call, one "
                        "per choice, judge calls included) or of sampled responses (sampled candidate chains: continuations, "
                        "forced answers and search steps extend their chain; judge, verifier, PRM and critic calls "
                        "are no response) agree within --match-tolerance, with the "
                        "same exact paired tests and verdicts (results.json 'matched'); Gan, Liao, Liu 2025, "
                        "arXiv 2501.15602, match on responses")
    a.add_argument("--match-tolerance", type=float, default=0.0, metavar="R",
                   help="relative tolerance of --match calls/responses: mean counts c_a, c_b match when "
                        "|c_a - c_b| <= R * max(c_a, c_b), R in [0, 1) (default 0: equal)")
    a.add_argument("--match-n", type=int, default=None, metavar="N",
                   help="with --match calls/responses: only strategies whose mean count is N (within the tolerance)")
    a.set_defaults(func=_cmd_analyze)


def _cmd_score(args: argparse.Namespace) -> int:
    s = score_run(args.run_dir, progress=args.progress)
    print(f"scored {s['outcomes']} (item, strategy, budget) outcomes from {s['calls']} calls -> {s['path']}")
    print(f"re-extraction changed {s['changed_extractions']} call(s); {s['changed_outcomes']} outcome(s) differ "
          f"from outcomes.jsonl; {s['bad_lines']} bad line(s) skipped; {s['duplicates']} duplicate key(s) ignored"
          + (f"; {s['unreducible']} outcome(s) could not be reduced" if s["unreducible"] else "")
          + (f"; {s['not_rescored']} outcome(s) kept as logged, not re-scored (calls unreadable; named on stderr)"
             if s.get("not_rescored") else ""))
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:

    if args.n_boot < 100:
        raise UserError(f"--n-boot: at least 100 bootstrap replicates are needed, got {args.n_boot}")
    res = analyze_run(args.run_dir, margin=args.margin, n_boot=args.n_boot, seed=args.seed, match=args.match,
                      match_tolerance=args.match_tolerance, match_n=args.match_n)
    if args.json:
        sys.stdout.write(json.dumps(res, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
    else:
        print(format_table(res))
        print(f"\nresults: {args.run_dir.rstrip('/')}/results.json")
    return 0
