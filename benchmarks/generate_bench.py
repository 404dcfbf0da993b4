"""Generation throughput: depthbench's certified item builder against reasoning-gym.

What is timed
-------------
depthbench
    ``depthbench.tasks.build_items`` end to end, as ``depthbench generate`` runs it:
    the per-item PCG64 stream from the sha256 of the item key, the bucket's balanced cue
    values, ``generate``, the family's independent ``certify`` (every item: a plain BFS for
    graphs, cross-checked against networkx in the tests), the compiled prompt, meta and
    content hash, dedup; in runs of ``Family.batch_size`` items through the family's
    ``generate_batch`` / ``describe_batch`` / ``certify_batch`` hooks when it has them. A
    second column times the family alone (``generate`` + ``certify`` on one shared stream, no
    prompt or item dict, no batch hooks).

    The family code runs on its compiled fast paths (C, ``depthbench.generators._compiled``)
    when they were built; the environment line says which are loaded. Run with
    ``DEPTHBENCH_PURE_PYTHON=1`` to time the pure-Python reference instead.
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

Stages: for the graphs and arithmetic pairs, microseconds per item of each stage of the
build (item stream, generate, certify, statement, the builder's rest), with the batch size
and hooks the build uses (see ``_stages``).

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
from depthbench.generators._compiled import describe_status, status
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


#: The stages of an item build, in the build's order (``_stages``), as (key, table header).
STAGES = (("stream_us", "item stream"), ("cues_us", "cue values"), ("generate_us", "generate"),
          ("statement_us", "problem statement"), ("certify_us", "certify"),
          ("finish_us", "builder's finish (checks, content hash, prompt, meta, item dict)"))


def _stages(label: str, task: str, params: dict[str, Any], depth: int, n: int = 2048,
            repeats: int = 9) -> dict[str, Any]:
    """Microseconds per item of each stage of an item build, on the same ``n`` items.

    The stages are timed inside one pass that does what ``build_items`` does for these items
    (split ``test``, seed 1, indices ``0 .. n-1`` of one depth), in its order and in its runs:
    ``Family.batch_size`` items (0: the builder's ``_BATCH``) per call of the family's
    ``generate_batch``, ``describe_batch`` and ``certify_batch`` when it has them (one
    ``generate`` / ``describe`` / ``certify`` call per item otherwise), with the collector
    paused. Per run: the item streams (the run's ``StreamRun`` for a batch; else re-seeding
    them alone), the bucket's cue values, ``generate`` (minus its streams, when re-seeded per item), the statements, the certificates, then the builder's
    ``_Bucket._finish`` of the run (agreement checks, content hash, prompt, meta, item dict);
    its items are checked once to be those of ``build_items``. The whole build of the same
    items is timed on its own; "other" is the whole minus the
    stages (dedup, run bookkeeping, the collector's hand-over; it can come out slightly
    negative on a noisy machine). "free" is the time to drop the built items afterwards
    (not part of the whole item here; the pair table's timed runs include it, for
    reasoning-gym's items as for ours). Each column is the minimum over ``repeats`` (on a shared
    machine the least disturbed run is the best estimate of a stage's cost). The family
    functions run on the compiled fast paths when they are loaded
    (:func:`depthbench.generators._compiled.status`; ``DEPTHBENCH_PURE_PYTHON=1`` times the
    pure-Python reference).
    """
    import gc

    from depthbench.generators._seeding import ItemStreams
    from depthbench.tasks._dataset import _Bucket, _config, _context, _gc_paused

    spec = _spec(task, **params)
    ctx = _context(spec)
    fam = ctx.family
    config = _config(ctx, depth)
    batched = fam.generate_batch is not None  # the builder calls the other batch hooks only then
    size = (fam.batch_size or _BATCH) if batched else 1
    runs = [list(range(j, min(n, j + size))) for j in range(0, n, size)]
    clock = time.perf_counter

    def one_pass() -> tuple[dict[str, float], list[Any]]:
        streams = ItemStreams(spec.name, fam.version, "test", 1)
        bucket = _Bucket(ctx, "test", 1, depth, config, streams)
        took = dict.fromkeys((k for k, _ in STAGES), 0.0)
        items: list[Any] = []
        with _gc_paused():
            for run in runs:
                t0 = clock()
                rngs = streams.run(depth, run) if batched else None
                if not batched:
                    for i in run:
                        streams.rng(depth, i)
                t1 = clock()
                cues = [bucket.cues(i) for i in run]
                t2 = clock()
                if batched:
                    probs = fam.generate_batch(config, rngs, cues)
                else:
                    probs = [fam.generate(config, streams.rng(depth, i)) if c is None
                             else fam.generate(config, streams.rng(depth, i), c) for i, c in zip(run, cues)]
                t3 = clock()
                instances = [p.instance for p in probs]
                texts = (fam.describe_batch(instances) if batched and fam.describe_batch is not None
                         else [fam.describe(x) for x in instances])
                t4 = clock()
                certs = (fam.certify_batch(instances) if batched and fam.certify_batch is not None
                         else [fam.certify(x) for x in instances])
                t5 = clock()
                items += bucket._finish(run, 0, cues, probs, texts, certs)
                t6 = clock()
                for (key, _), dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2 - (0 if batched else t1 - t0), t4 - t3, t5 - t4, t6 - t5)):
                    took[key] += dt
        return {k: v / n * 1e6 for k, v in took.items()}, items

    build_items(spec, "test", depths=[depth], n=20, seed=1)  # warm-up
    rows: list[dict[str, float]] = []
    for r in range(repeats):
        gc.collect()
        row, passed = one_pass()
        del passed
        gc.collect()
        t0 = clock()
        items = build_items(spec, "test", depths=[depth], n=n, seed=1)
        t1 = clock()
        if r == 0 and one_pass()[1] != items:  # (no duplicate to redraw among these items)
            raise AssertionError(f"{label}: the stage pass no longer builds the items build_items builds; "
                                 "update _stages to the builder")
        t2 = clock()
        del items
        row["item_us"], row["free_us"] = (t1 - t0) / n * 1e6, (clock() - t2) / n * 1e6
        rows.append(row)
    best = {k: min(r[k] for r in rows) for k in rows[0]}
    best["other_us"] = best["item_us"] - sum(best[k] for k, _ in STAGES)
    hooks = [h for h in ("generate_batch", "describe_batch", "certify_batch") if getattr(fam, h) is not None]
    return {"pair": label, "batch_size": size, "batch_hooks": hooks, "repeats": repeats, **best}


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
        f"depthbench commit {env['commit']}, reasoning-gym {env['reasoning_gym']}, {env['compiled']}; "
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
        "Where an item's time goes (microseconds per item, each stage timed inside one pass that builds the same "
        "items as the build, in its runs; minimum over repeats; \"other\" = whole item minus the stages):",
        "",
        "| pair | items per batch call (hooks) | " + " | ".join(h for _, h in STAGES) + " | other | whole item "
        "| freeing the items afterwards |",
        "|---|---|" + "---:|" * (len(STAGES) + 3),
    ]
    for r in res.get("stages", []):
        hooks = ", ".join(h.split("_")[0] for h in r["batch_hooks"]) or "none"
        cells = " | ".join(f"{r[k]:.1f}" for k, _ in STAGES)
        lines.append(f"| {r['pair']} | {r['batch_size']} ({hooks}) | {cells} | {r['other_us']:.1f} | {r['item_us']:.1f} "
                     f"| {r['free_us']:.1f} |")
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
        "compiled": describe_status(),
        "compiled_modules": status(),
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
