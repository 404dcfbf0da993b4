"""Search with the task's own feedback on the simulated reasoner: ``evolve`` against its baselines.

What is measured (issue 13, 7b; ``BENCHMARKS.md``, *Search with the task's feedback*): grid planning
(``depthbench generate grid_planning``, test split, N items per depth), the simulated reasoner at
per-step error ``eps``, one budget B, the strategies

- ``evolve@6`` (the defaults: 6 generations x 2 islands x 2 conversations x 1 turn = 24 candidate turns),
- ``evolve@3:turns=2`` (the same 24 turns as 3 generations of 2-turn conversations),
- ``revision_feedback@4:6`` (Sequential-Revision+: 4 threads x 6 candidates = 24),
- ``best_of@24:self`` (24 independent chains, the model judging each: the same 24 candidates),
- ``single``;

per depth: accuracy, mean generated tokens G, and the suite's verdicts (``compare_strategies``,
Holm across depths, margin 0.05) of ``evolve@6`` against each baseline; beside
``revision_feedback``'s accuracy its closed form (``revision_feedback_accuracy``, exact feedback,
every chain within its cap). Everything goes through ``depthbench generate`` / ``eval`` (the real
runner) in a temporary folder.

Usage::

    nice python -P benchmarks/search_feedback.py [--n 100] [--eps 0.5,0.7] [--budget 4096] [--depths 3,4,5,6,8]

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from depthbench.baselines._simulated_theory import revision_feedback_accuracy
from depthbench.cli import main
from depthbench.scorers import compare_strategies

EVOLVE = "evolve@6"
STRATEGIES = [EVOLVE, "evolve@3:turns=2", "revision_feedback@4:6", "best_of@24:self", "single"]


def run(n: int, eps: float, budget: int, depths: str, root: Path) -> None:
    ds, out = root / "ds", root / f"run-{eps}"
    if not ds.exists():
        assert main(["generate", "grid_planning", "--depths", depths, "--n", str(n), "--out", str(ds), "--quiet"]) == 0
    t0 = time.perf_counter()
    assert main(["eval", "--data", str(ds), "--model", f"simulated:eps={eps}", "--strategy", ",".join(STRATEGIES),
                 "--budget", str(budget), "--out", str(out), "--no-progress"]) == 0
    secs = time.perf_counter() - t0
    outcomes = [json.loads(x) for x in (out / "outcomes.jsonl").read_text().splitlines()]
    acc, gen = defaultdict(list), defaultdict(list)
    for o in outcomes:
        acc[(o["strategy"], o["depth"])].append(o["credit"])
        gen[(o["strategy"], o["depth"])].append(o["generated_tokens"])
    verdicts = {}
    for b in STRATEGIES[1:]:
        rows, _ = compare_strategies(outcomes, EVOLVE, b, budget=budget, n_boot=200)
        verdicts[b] = {r["depth"]: r["verdict"] for r in rows}
    ds_depths = sorted({o["depth"] for o in outcomes})
    print(f"\n### eps = {eps}, B = {budget}, {n} items per depth ({secs:.0f} s for {len(outcomes)} units)\n")
    print("| strategy | " + " | ".join(f"d={d}: acc (G)" for d in ds_depths) + " |")
    print("|---|" + "---|" * len(ds_depths))
    for s in STRATEGIES:
        cells = [f"{sum(acc[(s, d)]) / len(acc[(s, d)]):.2f} ({sum(gen[(s, d)]) / len(gen[(s, d)]):.0f})"
                 for d in ds_depths]
        print(f"| `{s}` | " + " | ".join(cells) + " |")
    cf = [f"{revision_feedback_accuracy(d, 4, 6, eps=eps):.2f}" for d in ds_depths]
    print("| closed form of `revision_feedback@4:6` | " + " | ".join(cf) + " |")
    for b, v in verdicts.items():
        print(f"| verdict `{EVOLVE}` vs `{b}` | " + " | ".join(v.get(d, "-") for d in ds_depths) + " |")


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--eps", default="0.5,0.7")
    ap.add_argument("--budget", type=int, default=4096)
    ap.add_argument("--depths", default="3,4,5,6,8")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for eps in (float(x) for x in a.eps.split(",")):
            run(a.n, eps, a.budget, a.depths, Path(tmp))


if __name__ == "__main__":
    cli()
