"""graph_connectivity's certified item builder with and without its compiled fast paths.

What is timed
-------------
``depthbench.tasks.build_items`` end to end (as ``generate_bench.py`` times it), once with
``generators/_graph_c.c`` (the compiled ``certify`` and ``describe``) and once in pure
Python (the module switched off in this process, as ``DEPTHBENCH_PURE_PYTHON=1`` does),
for every graph kind at 100 nodes and for ``random_branching`` at 200 and 800 nodes, all
at depth 8. The matched reasoning-gym pair (``shortest_path`` on a 10 x 10 grid, against
``random_branching`` with 100 nodes) is timed in the same rounds when reasoning-gym 0.1.25
is installed.

Each row's runs are interleaved per repeat (compiled, pure, reasoning-gym, compiled, ...),
so they share the machine's load; a paired ratio is one repeat's rate over the rate timed
right after it, and the table gives the median and the range of those ratios. Both paths
must give identical items (checked on the first 200 of each row before timing).

Usage::

    python benchmarks/graph_compiled_bench.py [--seconds 0.3] [--repeats 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path
from typing import Any

from depthbench.generators import graph_connectivity as gc
from depthbench.tasks import build_items

_spec_of = importlib.util.spec_from_file_location("generate_bench", Path(__file__).with_name("generate_bench.py"))
generate_bench = importlib.util.module_from_spec(_spec_of)
_spec_of.loader.exec_module(generate_bench)  # its timing helpers and reasoning-gym runner

CASES = (("random_branching", 100), ("two_paths", 100), ("bridge", 100), ("random_branching", 200),
         ("random_branching", 800))
DEPTH = 8
COMPILED = gc._C


def _build(spec: Any, compiled: bool):
    """``run(n, repeat)``: ``build_items`` with the compiled module on or off."""
    def run(n: int, repeat: int) -> Any:
        gc._C = COMPILED if compiled else None
        try:
            return build_items(spec, "test", depths=[DEPTH], n=n, seed=1000 + repeat)
        finally:
            gc._C = COMPILED
    return run


def _paired(a: list[float], b: list[float]) -> tuple[float, float, float]:
    ratios = sorted(x / y for x, y in zip(a, b))
    return statistics.median(ratios), ratios[0], ratios[-1]


def bench(seconds: float, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for kind, nodes in CASES:
        spec = generate_bench._spec("graph_connectivity", kind=kind, num_nodes=nodes)
        fast, pure = _build(spec, True), _build(spec, False)
        if fast(200, 0) != pure(200, 0):
            raise SystemExit(f"{kind} {nodes}: the compiled and pure-Python builds differ")
        runs = [fast, pure]
        matched = kind == "random_branching" and nodes == 100 and generate_bench.reasoning_gym is not None
        if matched:
            runs.append(generate_bench._rg("shortest_path", min_rows=10, max_rows=10, min_cols=10, max_cols=10))
        rates = generate_bench._rates_per_repeat(runs, seconds, repeats)
        row = {"kind": kind, "num_nodes": nodes, "compiled": statistics.median(rates[0]),
               "pure": statistics.median(rates[1]), "speedup": _paired(rates[0], rates[1])}
        if matched:
            row["rg"] = statistics.median(rates[2])
            row["compiled_vs_rg"] = _paired(rates[0], rates[2])
            row["pure_vs_rg"] = _paired(rates[1], rates[2])
        rows.append(row)
        print(f"  {kind} {nodes}: done", file=sys.stderr)
    return rows


def _ratio(r: tuple[float, float, float]) -> str:
    return f"{r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3, help="target duration of one timed run (default 0.3)")
    ap.add_argument("--repeats", type=int, default=15, help="timed runs per measurement (default 15)")
    args = ap.parse_args(argv)
    if COMPILED is None:
        print("the compiled module _graph_c is not available (not built, or DEPTHBENCH_PURE_PYTHON=1)",
              file=sys.stderr)
        return 2
    rows = bench(args.seconds, args.repeats)
    print(f"depth {DEPTH}, median of {args.repeats} interleaved repeats; ratios: median (range) of paired repeats\n")
    print("| kind | nodes | compiled items/s | pure items/s | compiled / pure | shortest_path 10x10 items/s "
          "| compiled / rg | pure / rg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rg = (f"{r['rg']:.0f} | {_ratio(r['compiled_vs_rg'])} | {_ratio(r['pure_vs_rg'])}" if "rg" in r
              else "- | - | -")
        print(f"| {r['kind']} | {r['num_nodes']} | {r['compiled']:.0f} | {r['pure']:.0f} | {_ratio(r['speedup'])} "
              f"| {rg} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
