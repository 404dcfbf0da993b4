"""multihop_arithmetic's compiled fast paths against its pure-Python paths, side by side.

What is timed
-------------
builder
    ``build_items`` of the bench's matched size (20 variables, depth 20, default order
    shuffled; ``generate_bench.py``'s arithmetic pair) with the compiled module
    (``generators/_arith_c.c``) and without it (``multihop_arithmetic._C`` set to None in the
    same process: the numpy ``generate_batch`` and the Python ``certify`` / ``describe``),
    and reasoning-gym 0.1.25's ``chain_sum`` with 20 terms when installed.
hooks
    The family's batch hooks alone on the same items, in runs of the builder's batch size:
    ``generate_batch`` (its streams included), ``certify_batch`` and ``describe_batch``, with
    the garbage collector paused as in a build.

All runs of one table are interleaved repeat by repeat (``generate_bench._rates_per_repeat``),
so they share the machine's load; the ratio columns are medians of per-repeat ratios (with
their range), the numbers to compare on a shared machine.

Usage::

    python -P benchmarks/arith_compiled_bench.py [--seconds 0.3] [--repeats 15]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # generate_bench, next to this file

import generate_bench as gb  # noqa: E402

from depthbench.generators import multihop_arithmetic as mh  # noqa: E402
from depthbench.generators._seeding import ItemStreams  # noqa: E402

COMPILED = mh._C
SIZE = {"num_variables": 20}
DEPTH = 20


def _with(compiled: bool, fn: Callable[[int, int], Any], paused: bool = False) -> Callable[[int, int], Any]:
    """``fn`` run with the compiled module switched on or off (and the garbage collector
    paused, as a build pauses it, when ``paused``)."""

    def run(n: int, repeat: int) -> Any:
        mh._C = COMPILED if compiled else None
        if paused:
            gc.disable()
        try:
            return fn(n, repeat)
        finally:
            mh._C = COMPILED
            gc.enable()

    return run


def _hook_runs(compiled: bool) -> list[Callable[[int, int], Any]]:
    """generate_batch, certify_batch and describe_batch over ``n`` items, in builder-sized runs."""
    config = mh.MultihopArithmeticConfig(depth=DEPTH, **SIZE)
    batch = mh.FAMILY.batch_size or gb._BATCH
    streams = ItemStreams("multihop_arithmetic", mh.VERSION, "test", 1)
    cache: dict[int, list[dict[str, Any]]] = {}

    def gen(n: int, repeat: int) -> list[Any]:
        return [p for j in range(0, n, batch) for p in mh.generate_batch(
            config, (streams.rng(DEPTH, i) for i in range(j, min(n, j + batch))), [None] * (min(n, j + batch) - j))]

    def instances(n: int) -> list[dict[str, Any]]:
        if n not in cache:
            cache[n] = [p.instance for p in _with(True, gen)(n, 0)]
        return cache[n]

    def certify(n: int, repeat: int) -> Any:
        xs = instances(n)
        return [mh.certify_batch(xs[j:j + batch]) for j in range(0, n, batch)]

    def describe(n: int, repeat: int) -> Any:
        xs = instances(n)
        return [mh.describe_batch(xs[j:j + batch]) for j in range(0, n, batch)]

    return [_with(compiled, f, paused=True) for f in (gen, certify, describe)]


def _ratios(a: list[float], b: list[float]) -> tuple[float, float, float]:
    r = sorted(x / y for x, y in zip(a, b))
    return statistics.median(r), r[0], r[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="target duration of one timed run (default 0.3)")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved timed runs per table (default 15)")
    args = parser.parse_args(argv)
    if COMPILED is None:
        print("the compiled module is not built (or DEPTHBENCH_PURE_PYTHON=1): nothing to compare", file=sys.stderr)
        return 1

    spec = gb._spec("multihop_arithmetic", **SIZE)
    runs = [_with(True, gb._ours(spec, DEPTH)), _with(False, gb._ours(spec, DEPTH))]
    labels = ["builder, compiled", "builder, pure Python"]
    if gb.reasoning_gym is not None:
        runs.append(gb._rg("chain_sum", min_terms=20, max_terms=20))
        labels.append("reasoning-gym chain_sum (20 terms)")
    rates = gb._rates_per_repeat(runs, args.seconds, args.repeats)
    print(f"multihop_arithmetic {SIZE['num_variables']} variables, depth {DEPTH}; "
          f"{args.repeats} interleaved repeats of ~{args.seconds} s\n")
    print("| run | items/s | us/item | vs chain_sum (paired median, range) |")
    print("|---|---:|---:|---|")
    for label, r in zip(labels, rates):
        med = statistics.median(r)
        vs = "%.2fx (%.2f-%.2f)" % _ratios(r, rates[2]) if len(rates) > 2 and r is not rates[2] else ""
        print(f"| {label} | {med:,.0f} | {1e6 / med:.1f} | {vs} |")

    hooks = gb._rates_per_repeat(_hook_runs(True) + _hook_runs(False), args.seconds, args.repeats)
    print("\n| hook (per item) | compiled us | pure Python us | speed-up (paired median, range) |")
    print("|---|---:|---:|---|")
    for k, name in enumerate(("generate_batch (with its streams)", "certify_batch", "describe_batch")):
        c, p = hooks[k], hooks[k + 3]
        print(f"| {name} | {1e6 / statistics.median(c):.2f} | {1e6 / statistics.median(p):.2f} | "
              "%.1fx (%.1f-%.1f) |" % _ratios(c, p))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
