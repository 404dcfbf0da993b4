"""Generation throughput: depthbench's certified item builder against reasoning-gym.

What is timed
-------------
depthbench
    ``depthbench.tasks.build_items`` end to end, as ``depthbench generate`` runs it:
    the per-item PCG64 stream from the sha256 of the item key, the bucket's balanced cue
    values, ``generate``, the family's independent ``certify`` (every item: a plain BFS for
    graphs, cross-checked against networkx in the tests), the compiled prompt, meta and
    content hash, dedup. A second column times the family alone (``generate`` +
    ``certify`` on one shared stream, no prompt or item dict).
reasoning-gym 0.1.25 (optional)
    ``dataset[i]`` for ``i`` in ``range(n)`` on ``reasoning_gym.create_dataset(...)``, the
    library's own way of producing items (question, answer, metadata).

Pairs at matched size
---------------------
* graphs: ``graph_connectivity`` (``random_branching``, 100 nodes, depth 8) vs
  ``shortest_path`` on a 10 x 10 grid (100 cells);
* arithmetic: ``multihop_arithmetic`` with 20 variables at depth 20 (20 operations, every
  statement on the queried chain) vs ``chain_sum`` with 20 terms;
* grid planning: ``grid_planning`` 9 x 9 at depth 1 (mean optimal plan ~27 moves) and
  21 x 21 at depth 2 (same grid size as the mazes) vs ``maze`` with shortest distance 20-25
  on 20-25 grids.

Scaling: ``graph_connectivity`` time per item for 50 ... 800 nodes at depth 8, with the
log-log slope (1.0 = linear).

Each measurement: a warm-up, then ``--repeats`` timed runs of about ``--seconds`` each,
reporting the median items/s; the runs compared in one row are interleaved so they share
the machine's load. Run under ``nice`` on a shared machine; numbers are machine-dependent,
ratios are what to compare.

Usage::

    python benchmarks/generate_bench.py [--seconds 1.0] [--repeats 3] [--json out.json]

reasoning-gym is imported only if installed (e.g. a separate venv:
``python3 -m venv /work/benchvenv && /work/benchvenv/bin/pip install -e . reasoning-gym==0.1.25``);
otherwise its columns say "not installed". The pairs are timed interleaved in one process, and
the ratio column is the median over the repeats of each repeat's builder rate divided by the
reasoning-gym rate timed right after it (the two share the machine's load of that moment); the
last column gives the lowest and highest of those paired ratios. On a shared machine prefer many
short repeats (``--seconds 0.3 --repeats 15``) to a few long ones.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from depthbench.generators import get_family
from depthbench.tasks import build_items
from depthbench.tasks._dataset import _BATCH
from depthbench.tasks._spec import TaskSpec, load_spec

try:  # optional comparison
    import reasoning_gym  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    reasoning_gym = None


# --------------------------------------------------------------------------- timing


def _rates(runs: list[Callable[[int, int], Any]], seconds: float, repeats: int) -> list[float]:
    """Median items/s of each ``run(n, repeat)``; the runs are interleaved per repeat.

    Interleaving (A, B, A, B, ...) exposes the runs of one comparison to the same machine
    load, so their ratio is more stable than either number on a shared machine.
    """
    return [statistics.median(x) for x in _rates_per_repeat(runs, seconds, repeats)]


def _rates_per_repeat(runs: list[Callable[[int, int], Any]], seconds: float, repeats: int) -> list[list[float]]:
    """Items/s of each ``run(n, repeat)`` in every repeat (``[run][repeat]``), interleaved."""
    sizes = []
    for run in runs:
        run(3, 10_000)  # warm-up (imports, caches)
        t0 = time.perf_counter()
        run(5, 10_001)
        per_item = max((time.perf_counter() - t0) / 5, 1e-6)
        sizes.append(int(min(20_000, max(10, seconds / per_item))))
    rates: list[list[float]] = [[] for _ in runs]
    for r in range(repeats):
        for j, run in enumerate(runs):
            t0 = time.perf_counter()
            run(sizes[j], r)
            rates[j].append(sizes[j] / (time.perf_counter() - t0))
    return rates


def _spec(task: str, **params: Any) -> TaskSpec:
    data = load_spec(task).to_dict()
    data["params"] = {**data["params"], **params}
    return TaskSpec.from_dict(data)


def _ours(spec: TaskSpec, depth: int) -> Callable[[int, int], Any]:
    def run(n: int, repeat: int) -> Any:
        return build_items(spec, "test", depths=[depth], n=n, seed=1000 + repeat)

    return run


def _family_only(spec: TaskSpec, depth: int) -> Callable[[int, int], Any]:
    fam = get_family(spec.family)
    config = fam.config_cls(**dict(spec.params), depth=depth)

    def run(n: int, repeat: int) -> Any:
        rng = np.random.default_rng(np.random.SeedSequence([repeat, depth]))
        for _ in range(n):
            fam.certify(fam.generate(config, rng).instance)

    return run


def _rg(name: str, **kwargs: Any) -> Callable[[int, int], Any]:
    def run(n: int, repeat: int) -> Any:
        ds = reasoning_gym.create_dataset(name, size=n, seed=1000 + repeat, **kwargs)
        return [ds[i] for i in range(n)]

    return run


def _stages(label: str, task: str, params: dict[str, Any], depth: int, n: int = 2000,
            repeats: int = 3) -> dict[str, Any]:
    """Microseconds per item of each stage of an item build, on the same ``n`` items.

    Every stage runs over the items ``build_items`` makes (split ``test``, seed 1, indices
    ``0 .. n-1``, with their balanced cue values), in the build's order: the item streams,
    ``generate`` (minus its stream), ``certify`` and ``describe`` of those problems (the
    family's ``describe_batch`` on runs of ``_BATCH`` when it has one, as the build calls
    it), then the
    whole build of the same items; "rest" is the builder's own work (cue blocks, prompt,
    meta, content hash, the item dict, dedup, the garbage collector's passes). The stages of
    one repeat are timed one after another; each column is the minimum over ``repeats`` (on
    a shared machine the least disturbed run is the best estimate of a stage's cost).
    """
    import gc

    from depthbench.generators._seeding import ItemStreams
    from depthbench.tasks import bucket_cues

    spec = _spec(task, **params)
    fam = get_family(task)
    config = fam.config_cls(**dict(spec.params), depth=depth)
    names = tuple(fam.cues)
    cues = [bucket_cues(spec.name, fam.version, "test", 1, depth, i, names) if names else None for i in range(n)]
    streams = ItemStreams(spec.name, fam.version, "test", 1)

    def clock(fn: Callable[[], Any], paused: bool = True) -> tuple[float, Any]:
        """Time ``fn`` per item; the stages hold their results with the collector paused, as a
        build does (the whole build runs with it on: ``build_items`` pauses it itself)."""
        gc.collect()
        if paused:
            gc.disable()
        try:
            t0 = time.perf_counter()
            out = fn()
            return (time.perf_counter() - t0) / n * 1e6, out
        finally:
            gc.enable()

    def gen() -> list[Any]:
        if fam.generate_batch is not None:  # as the build runs it: one call per _BATCH items of a depth
            return [p for j in range(0, n, _BATCH) for p in fam.generate_batch(
                config, (streams.rng(depth, i) for i in range(j, min(n, j + _BATCH))), cues[j:j + _BATCH])]
        if names:
            return [fam.generate(config, streams.rng(depth, i), cues[i]) for i in range(n)]
        return [fam.generate(config, streams.rng(depth, i)) for i in range(n)]

    def certify_all(instances: list[Any]) -> list[Any]:
        return [fam.certify(i) for i in instances]

    def describe_all(instances: list[Any]) -> list[str]:
        if getattr(fam, "describe_batch", None) is not None and fam.generate_batch is not None:
            return [t for j in range(0, n, _BATCH) for t in fam.describe_batch(instances[j:j + _BATCH])]
        return [fam.describe(i) for i in instances]

    build_items(spec, "test", depths=[depth], n=20, seed=1)  # warm-up
    rows: list[dict[str, float]] = []
    for _ in range(repeats):
        stream, _ = clock(lambda: [streams.rng(depth, i) for i in range(n)])
        generate, probs = clock(gen)
        certify, _ = clock(lambda: certify_all([p.instance for p in probs]))
        statement, _ = clock(lambda: describe_all([p.instance for p in probs]))
        del probs
        whole, _ = clock(lambda: build_items(spec, "test", depths=[depth], n=n, seed=1), paused=False)
        generate -= stream
        rows.append({"stream_us": stream, "generate_us": generate, "certify_us": certify, "statement_us": statement,
                     "rest_us": whole - stream - generate - certify - statement, "item_us": whole})
    best = {k: min(r[k] for r in rows) for k in ("stream_us", "generate_us", "certify_us", "statement_us", "item_us")}
    best["rest_us"] = best["item_us"] - best["stream_us"] - best["generate_us"] - best["certify_us"] - best["statement_us"]
    return {"pair": label, **best}


def _mean_plan_length(spec: TaskSpec, depth: int, n: int = 200) -> float:
    items = build_items(spec, "test", depths=[depth], n=n, seed=7)
    return statistics.fmean(it["meta"]["optimal_plan_length"] for it in items)


def _rg_mean_distance(n: int = 200) -> float:
    ds = reasoning_gym.create_dataset("maze", size=n, seed=7, min_dist=20, max_dist=25, min_grid_size=20, max_grid_size=25)
    return statistics.fmean(ds[i]["metadata"]["shortest_path_length"] for i in range(n))


# --------------------------------------------------------------------------- sections


def bench(seconds: float, repeats: int, pairs_only: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"per_depth": [], "pairs": [], "scaling": []}

    # 1. Items/s per family and depth (default task specs).
    for task, depths in () if pairs_only else (("graph_connectivity", (2, 8, 32)), ("multihop_arithmetic", (2, 8, 32)), ("grid_planning", (2, 4, 8))):
        spec = load_spec(task)
        for d in depths:
            rate, fam_rate = _rates([_ours(spec, d), _family_only(spec, d)], seconds, repeats)
            out["per_depth"].append({"task": task, "params": dict(spec.params), "depth": d,
                                     "items_per_s": rate, "family_items_per_s": fam_rate})
            print(f"  {task:20s} depth {d:2d}: {rate:8.0f} items/s (builder), {fam_rate:8.0f} (generate+certify)", file=sys.stderr)

    # 2. Side-by-side pairs.
    pairs = [
        ("graphs", "graph_connectivity", {"kind": "random_branching", "num_nodes": 100}, 8,
         "shortest_path", {"min_rows": 10, "max_rows": 10, "min_cols": 10, "max_cols": 10},
         "100 nodes, depth 8 \\| 10x10 grid (100 cells)"),
        ("arithmetic", "multihop_arithmetic", {"num_variables": 20}, 20,
         "chain_sum", {"min_terms": 20, "max_terms": 20},
         "20 statements, depth 20 \\| 20 terms"),
        ("grid planning", "grid_planning", {"width": 9, "height": 9}, 1,
         "maze", {"min_dist": 20, "max_dist": 25, "min_grid_size": 20, "max_grid_size": 25},
         "9x9, 1 stage \\| 20-25 grid, distance 20-25"),
        ("grid planning", "grid_planning", {"width": 21, "height": 21}, 2,
         "maze", {"min_dist": 20, "max_dist": 25, "min_grid_size": 20, "max_grid_size": 25},
         "21x21, 2 stages \\| 20-25 grid, distance 20-25"),
    ]
    for label, task, params, depth, rg_name, rg_kwargs, size in pairs:
        spec = _spec(task, **params)
        runs = [_ours(spec, depth), _family_only(spec, depth)]
        if reasoning_gym is not None:
            runs.append(_rg(rg_name, **rg_kwargs))
        per_repeat = _rates_per_repeat(runs, seconds, repeats)
        rates = [statistics.median(x) for x in per_repeat]
        rate, fam_rate = rates[0], rates[1]
        row: dict[str, Any] = {"pair": label, "task": task, "params": params, "depth": depth,
                               "items_per_s": rate, "family_items_per_s": fam_rate,
                               "rg_generator": rg_name, "rg_params": rg_kwargs, "size": size}
        if task == "grid_planning":
            row["mean_plan_length"] = _mean_plan_length(spec, depth)
        if reasoning_gym is not None:
            row["rg_items_per_s"] = rates[2]
            # each repeat's builder run and reasoning-gym run are adjacent in time: their ratio
            # cancels most of a shared machine's load swings, which the ratio of medians does not
            paired = sorted(b / g for b, g in zip(per_repeat[0], per_repeat[2]))
            row["ratio_per_repeat"] = paired
            row["ratio_median"] = statistics.median(paired)
            if rg_name == "maze":
                row["rg_mean_distance"] = _rg_mean_distance()
        out["pairs"].append(row)
        print(f"  pair {label:14s} ours {rate:8.0f}  rg {row.get('rg_items_per_s', float('nan')):8.0f}", file=sys.stderr)

    # 3. Where an item's time goes (graphs and arithmetic pairs), microseconds per item.
    out["stages"] = [_stages(label, task, params, depth) for label, task, params, depth, *_ in pairs[:2]]

    # 4. Time per item against size (graph connectivity, depth 8).
    if pairs_only:
        return out
    for nodes in (50, 100, 200, 400, 800):
        spec = _spec("graph_connectivity", kind="random_branching", num_nodes=nodes)
        (rate,) = _rates([_ours(spec, 8)], seconds, repeats)
        out["scaling"].append({"num_nodes": nodes, "ms_per_item": 1000.0 / rate})
        print(f"  graph {nodes:4d} nodes: {1000.0 / rate:7.2f} ms/item", file=sys.stderr)
    xs = [math.log(r["num_nodes"]) for r in out["scaling"]]
    ys = [math.log(r["ms_per_item"]) for r in out["scaling"]]
    out["scaling_loglog_slope"] = float(np.polyfit(xs, ys, 1)[0])
    return out


# --------------------------------------------------------------------------- report


def _commit() -> str:
    """The commit of the depthbench being timed (the installed package's folder, not this script's)."""
    import depthbench

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(depthbench.__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"unknown ({Path(depthbench.__file__).resolve().parent.parent})"


def _rg_version() -> str:
    if reasoning_gym is None:
        return "not installed"
    try:  # the module's __version__ attribute lags behind the distribution's version
        return importlib.metadata.version("reasoning-gym")
    except importlib.metadata.PackageNotFoundError:
        return getattr(reasoning_gym, "__version__", "unknown")


def markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    lines = [
        f"Environment: Python {env['python']}, {env['machine']}, {env['cpus']} CPUs (shared), "
        f"depthbench commit {env['commit']}, reasoning-gym {env['reasoning_gym']}; "
        f"median of {env['repeats']} runs of ~{env['seconds']} s each.",
        "",
    ]
    if res["per_depth"]:
        lines += [
            "Items/s per family and depth (default task specs, one process):",
            "",
            "| task | size | depth | items/s (item builder, certified) | items/s (generate + certify only) |",
            "|---|---|---:|---:|---:|",
        ]
    for r in res["per_depth"]:
        size = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        lines.append(f"| {r['task']} | {size} | {r['depth']} | {r['items_per_s']:.0f} | {r['family_items_per_s']:.0f} |")
    lines += [
        "",
        "Side by side with reasoning-gym 0.1.25 at matched size:",
        "",
        "| pair | size (depthbench \\| reasoning-gym) | depthbench items/s (builder) | depthbench generate + certify | reasoning-gym generator | reasoning-gym items/s | builder / reasoning-gym (median of paired repeats) | lowest - highest paired ratio |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in res["pairs"]:
        size = r["size"]
        if "mean_plan_length" in r:
            size += f" (mean plan {r['mean_plan_length']:.0f} moves"
            size += f" \\| mean distance {r['rg_mean_distance']:.1f})" if "rg_mean_distance" in r else ")"
        rg = r.get("rg_items_per_s")
        rg_s = f"{rg:.0f}" if rg else "not installed"
        ratio = f"{r['ratio_median']:.2f}" if rg else "-"
        spread = f"{r['ratio_per_repeat'][0]:.2f} - {r['ratio_per_repeat'][-1]:.2f}" if rg else "-"
        lines.append(f"| {r['pair']} | {size} | {r['items_per_s']:.0f} | {r['family_items_per_s']:.0f} | "
                     f"`{r['rg_generator']}` | {rg_s} | {ratio} | {spread} |")
    lines += [
        "",
        "Where an item's time goes (microseconds per item over the same items, stages timed one after another, "
        "minimum of 3):",
        "",
        "| pair | item stream | generate | certify | problem statement | rest of the item (cues, prompt, meta, hash, dict, dedup) | whole item |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res.get("stages", []):
        lines.append(f"| {r['pair']} | {r['stream_us']:.0f} | {r['generate_us']:.0f} | {r['certify_us']:.0f} | "
                     f"{r['statement_us']:.0f} | {r['rest_us']:.0f} | {r['item_us']:.0f} |")
    if not res["scaling"]:
        return "\n".join(lines)
    lines += [
        "",
        "Time per item against size (graph_connectivity, random_branching, depth 8, item builder):",
        "",
        "| nodes | ms/item |",
        "|---:|---:|",
    ]
    for r in res["scaling"]:
        lines.append(f"| {r['num_nodes']} | {r['ms_per_item']:.2f} |")
    lines += ["", f"Log-log slope of time against nodes: {res['scaling_loglog_slope']:.2f} (1.0 = linear)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="target duration of one timed run (default 1.0)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the median is reported")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results to this file")
    parser.add_argument("--pairs-only", action="store_true",
                        help="only the side-by-side pairs and the stage table (skip per-depth rows and scaling)")
    args = parser.parse_args(argv)
    if reasoning_gym is None:
        print("reasoning-gym is not installed: its columns will read 'not installed' "
              "(pip install reasoning-gym==0.1.25 in a separate venv to compare)", file=sys.stderr)
    res = bench(args.seconds, args.repeats, pairs_only=args.pairs_only)
    res["environment"] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "commit": _commit(),
        "reasoning_gym": _rg_version(),
        "repeats": args.repeats,
        "seconds": args.seconds,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
