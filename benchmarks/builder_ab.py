"""A/B of the item builder: this checkout's ``build_items`` against another commit's, in one process.

What is timed
-------------
The builder's own work per item -- the item stream, the cue blocks, prompt, meta, content
hash, item dict, dedup and the garbage collector's passes over the finished items -- once
with each version of ``tasks/_dataset.py`` and ``generators/_seeding.py`` (the other
version is read from ``--base`` with ``git show`` and imported under another name; every
other module is shared). The families are replaced by a *replaying* family whose
``generate`` / ``certify`` / ``describe`` return the real family's precomputed results for
the same items, so the family's own cost (the family engineers' part) is out of the
measurement and both builders see identical problems. Both builds must give identical items
(checked). Columns:

* ``builder us/item``: median over ``--repeats`` of (build time - replay lookups) / n;
* ``stream us``: ``ItemStreams.rng`` alone;
* ``gc us``: time inside garbage collections (``gc.callbacks``) during four real builds
  (the real families: their items' containers are new) of ``n / 4`` items kept alive, each
  followed by 20,000 small allocations, as a caller holding its splits makes.

Runs are interleaved (base, this, base, this, ...) so they share the machine's load; the
ratio is the number to compare. Usage::

    python benchmarks/builder_ab.py [--base main] [--n 1000] [--repeats 9]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import depthbench.generators._seeding as this_seeding
import depthbench.tasks._dataset as this_dataset
from depthbench.generators import get_family
from depthbench.tasks._spec import TaskSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
CASES = (("graphs", "graph_connectivity", {"kind": "random_branching", "num_nodes": 100}, 8),
         ("arithmetic", "multihop_arithmetic", {"num_variables": 20}, 20),
         ("grid 21x21", "grid_planning", {"width": 21, "height": 21}, 2))


def _load_base(ref: str, tmp: Path) -> tuple[Any, Any]:
    """``tasks/_dataset.py`` and ``generators/_seeding.py`` of ``ref``, imported as separate modules."""
    mods = []
    saved = sys.modules["depthbench.generators._seeding"]
    try:
        for rel, name in (("generators/_seeding.py", "base_seeding"), ("tasks/_dataset.py", "base_dataset")):
            text = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{rel}"], capture_output=True, text=True,
                                  check=True).stdout
            path = tmp / f"{name}.py"
            path.write_text(text)
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            mods.append(mod)
            if name == "base_seeding":  # the base builder imports the base streams
                sys.modules["depthbench.generators._seeding"] = mod
    finally:
        sys.modules["depthbench.generators._seeding"] = saved
    return mods[0], mods[1]


def _spec(task: str, params: dict[str, Any]) -> TaskSpec:
    data = load_spec(task).to_dict()
    data["params"] = {**data["params"], **params}
    return TaskSpec.from_dict(data)


def _case(label: str, task: str, params: dict[str, Any], depth: int, n: int, repeats: int,
          base: tuple[Any, Any]) -> dict[str, Any]:
    base_seeding, base_dataset = base
    spec = _spec(task, params)
    real = get_family(task)
    config = real.config_cls(**dict(spec.params), depth=depth)
    streams = this_seeding.ItemStreams(spec.name, real.version, "test", 3)
    probs = []
    for i in range(n):
        rng = streams.rng(depth, i)
        cues = this_dataset.bucket_cues(spec.name, real.version, "test", 3, depth, i, real.cues) if real.cues else None
        probs.append(real.generate(config, rng, cues) if cues is not None else real.generate(config, rng))
    certs = {id(p.instance): real.certify(p.instance) for p in probs}
    statements = {id(p.instance): real.describe(p.instance) for p in probs}
    box: dict[str, Any] = {}

    def generate(config: Any, rng: Any, cues: Any = None) -> Any:
        return next(box["it"])

    replay = dataclasses.replace(real, generate=generate, certify=lambda inst: certs[id(inst)],
                                 describe=lambda inst: statements[id(inst)])
    builders = {"base": base_dataset, "this": this_dataset}

    def build(mod: Any, seed: int = 3) -> tuple[float, list]:
        box["it"] = itertools.cycle(probs)  # a redrawn duplicate takes the next problem
        gc.collect()
        t0 = time.perf_counter()
        out = mod.build_items(spec, "test", depths=[depth], n=n, seed=seed)  # a new seed: no cached cue block
        return (time.perf_counter() - t0) / n * 1e6, out

    def lookups() -> float:
        t0 = time.perf_counter()
        for p in probs:
            certs[id(p.instance)], statements[id(p.instance)]
        return (time.perf_counter() - t0) / n * 1e6

    gc_time = {"t": 0.0, "start": 0.0}

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_time["start"] = time.perf_counter()
        else:
            gc_time["t"] += time.perf_counter() - gc_time["start"]

    def gc_cost(mod: Any, seed: int) -> float:
        mod.get_family = get_family  # real items: their containers are new, as in a real build
        gc.collect()
        gc_time["t"] = 0.0
        gc.callbacks.append(on_gc)
        try:
            keep, junk = [], None
            for k in range(4):
                keep.append(mod.build_items(spec, "test", depths=[depth], n=n // 4, seed=seed + k))
                junk = [[i] for i in range(20_000)]
            del keep, junk
        finally:
            gc.callbacks.remove(on_gc)
            mod.get_family = lambda name: replay
        return gc_time["t"] / n * 1e6

    try:
        for mod in builders.values():
            mod.get_family = lambda name: replay
        _, a = build(base_dataset)
        _, b = build(this_dataset)
        if a != b:
            raise SystemExit(f"{label}: the two builders give different items")
        rows: dict[str, list[float]] = {k: [] for k in ("base", "this", "lookup", "base_gc", "this_gc")}
        for r in range(repeats):
            for name, mod in builders.items():
                rows[name].append(build(mod, 100 + r)[0])
            rows["lookup"].append(lookups())
            for name, mod in builders.items():
                rows[f"{name}_gc"].append(gc_cost(mod, 1000 + 10 * r))
    finally:
        for mod in builders.values():
            mod.get_family = get_family
    st = {"base": base_seeding.ItemStreams(spec.name, real.version, "test", 1),
          "this": this_seeding.ItemStreams(spec.name, real.version, "test", 1)}
    stream: dict[str, list[float]] = {"base": [], "this": []}
    for _ in range(repeats):
        for name, s in st.items():
            t0 = time.perf_counter()
            for i in range(n):
                s.rng(depth, i)
            stream[name].append((time.perf_counter() - t0) / n * 1e6)
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {"case": label, "base_us": med["base"] - med["lookup"], "this_us": med["this"] - med["lookup"],
            "base_stream_us": statistics.median(stream["base"]), "this_stream_us": statistics.median(stream["this"]),
            "base_gc_us": med["base_gc"], "this_gc_us": med["this_gc"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="main", help="the commit to compare against (default main)")
    parser.add_argument("--n", type=int, default=1000, help="items per build (default 1000)")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved repeats; medians reported (default 9)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = _load_base(args.base, Path(tmp))
        res = [_case(*c, args.n, args.repeats, base) for c in CASES]
    print(f"Builder's own work per item ({args.base} vs this checkout, replayed families, n={args.n}, "
          f"median of {args.repeats} interleaved runs):\n")
    print(f"| case | {args.base} builder us/item | this builder us/item | ratio | {args.base} stream us | "
          f"this stream us | {args.base} gc us/item | this gc us/item |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in res:
        print(f"| {r['case']} | {r['base_us']:.1f} | {r['this_us']:.1f} | {r['base_us'] / r['this_us']:.2f}x | "
              f"{r['base_stream_us']:.2f} | {r['this_stream_us']:.2f} | {r['base_gc_us']:.1f} | {r['this_gc_us']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
