"""Sharded evaluation: ``eval --shard K/N`` selects a balanced part of the items, and
``depthbench merge`` joins run folders into one that scores, analyzes and packs exactly
like the unsharded run.

Why it is exact: every sampling seed derives from (run seed, item id, sample, round,
role), never from an item's position or from what else runs (``derive_seed``), and every
(item, strategy, budget) is evaluated on its own. A shard therefore makes the same calls
for its items as the whole run would. ``adaptive@N`` is the one strategy that allocates
budget across the whole dataset; it is refused with ``--shard``.

Shards are balanced across depths (:mod:`depthbench.baselines._shard`): every shard has
every depth, and shard sizes differ by at most one, per depth and in all.

A merge takes, for each (item, strategy, budget), every call line and the outcome line
from one source folder: the first (in the order given) that finished that unit, else the
first that has calls for it. Within it a call key is written once. Mixing the calls of
two attempts at one unit (a unit run twice against a sampling server) would splice two
different chains; taking each unit whole from one run never does. The merged
``run.json`` has the shards' common config without ``shard``, so running the unsharded
``eval`` command on the merged folder resumes it (e.g. to fill in a shard that failed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from depthbench.baselines._calllog import key_coordinates
from depthbench.baselines._runner import _FLAG_OF, RUN_FORMAT, EvalConfig, load_items, load_run_json
from depthbench.baselines._shard import parse_shard, shard_items
from depthbench.errors import UserError
from depthbench.io import atomic_write_json

__all__ = ["parse_shard", "shard_items", "merge_runs", "register"]

#: config fields that may differ between the runs of one merge
_FREE = ("shard", "n_items", "data")


def _load(run_dir: Path) -> dict[str, Any]:
    run = load_run_json(run_dir)
    if run.get("format") != RUN_FORMAT or not isinstance(run.get("config"), dict):
        raise UserError(f"RUN: {str(run_dir)!r} is not a depthbench run folder (run.json format {run.get('format')!r})")
    for name in ("calls.jsonl", "outcomes.jsonl"):
        if not (run_dir / name).is_file():
            raise UserError(f"RUN: {str(run_dir)!r} has no {name}; give folders written by `depthbench eval`")
    return run


def _check_same(runs: Sequence[tuple[Path, dict[str, Any]]]) -> None:
    (p0, r0), rest = runs[0], runs[1:]
    c0 = r0["config"]
    for p, r in rest:
        c = r["config"]
        for k in sorted(set(c0) | set(c)):
            if k in _FREE or c0.get(k) == c.get(k):
                continue
            what = "datasets" if k == "dataset_sha256" else "models" if k in ("model", "model_options") else "settings"
            raise UserError(f"merge: {str(p)!r} and {str(p0)!r} differ in {_FLAG_OF.get(k, k)} "
                            f"({c.get(k)!r} vs {c0.get(k)!r}): they are runs of different {what}; merge only the "
                            "shards of one eval command")
    shards = [r["config"].get("shard") for _, r in runs]
    ns = {parse_shard(s)[1] for s in shards if s}
    if len(ns) > 1:
        raise UserError(f"merge: the runs are shards of different splits ({', '.join(sorted(str(s) for s in shards))}); "
                        "merge the shards of one --shard K/N series")


def _units_of(path: Path) -> list[tuple[tuple[str, str, int] | None, str | None, bytes]]:
    """(unit, key, raw line) for every line of a log (unit None for unparseable lines)."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip() or not raw.endswith(b"\n"):
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(obj, dict):
                continue
            key = obj.get("key")
            if isinstance(key, str):
                c = key_coordinates(key)
                unit = (c["item_id"], c["strategy"], c["budget"]) if c else None
            else:  # an outcome: its budget as logged, a JSON integer (int() also reads "128\n", "\u0661\u0662\u0668", 128.5)
                b = obj.get("budget")
                unit = (str(obj["item_id"]), str(obj["strategy"]), b) if (
                    "item_id" in obj and "strategy" in obj and type(b) is int and b >= 1) else None
                key = None
            out.append((unit, key, raw))
    return out


def _full_size(config: Mapping[str, Any], covered: int) -> int:
    """Items of the unsharded run (the dataset after --limit), or ``covered`` if the dataset is not at hand."""
    cfg = EvalConfig(model="simulated", strategies=["single"], budgets=[1], out="", data=config.get("data"),
                     task=config.get("task"), split=config.get("split") or "test", per_depth=config.get("per_depth"),
                     limit=config.get("limit"))
    try:
        items, sha = load_items(cfg)
    except UserError:
        return covered
    if config.get("dataset_sha256") and sha != config["dataset_sha256"]:
        raise UserError(f"merge: the dataset {config.get('data') or config.get('task')!r} now hashes to {sha[:12]}..., "
                        f"the runs used {str(config['dataset_sha256'])[:12]}...; merge where the runs' dataset is")
    return len(items)


def merge_runs(runs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
               argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Merge run folders (shards, or partial runs of one command) into ``out``.

    Parameters
    ----------
    runs : sequence of path-like
        ``depthbench eval`` folders of the same dataset, model and settings; one or more
        (a single folder, e.g. the one shard of ``--shard 1/1``, gives a copy that scores,
        analyzes and packs exactly like it).
    out : path-like
        New folder (must not exist, or be empty); written whole or not at all.
    argv : sequence of str, optional
        The command line recorded in the merged ``run.json``.

    Returns
    -------
    dict
        ``out``, ``runs``, ``units``, ``calls``, ``duplicate_calls`` (keys dropped),
        ``shards`` (the shards present), ``missing_shards`` (of K/N, not given).

    Raises
    ------
    UserError
        No run, a folder that is not a run, runs of different datasets,
        models or settings, shards of different N, or an ``out`` that is not new.
    """
    paths = [Path(r) for r in runs]
    if not paths:  # one folder is a merge too (a one-task Slurm array): its copy scores exactly like it
        raise UserError("merge: give the run folders, e.g. depthbench merge runs/x/shard-* --out runs/x/all")
    resolved = [p.resolve() for p in paths]
    for i, p in enumerate(resolved):
        if p in resolved[:i]:
            raise UserError(f"merge: {str(paths[i])!r} is given twice; list each run folder once")
    loaded = [(p, _load(p)) for p in paths]
    _check_same(loaded)
    dst = Path(out)
    if dst.resolve() in resolved:
        raise UserError("--out: is one of the runs being merged; choose a new folder")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise UserError(f"--out: {str(dst)!r} exists and is not empty; choose a new folder")

    # choose one source per unit: the first that finished it, else the first with calls for it
    outcomes = [_units_of(p / "outcomes.jsonl") for p in paths]
    calls = [_units_of(p / "calls.jsonl") for p in paths]
    source: dict[tuple[str, str, int], int] = {}
    for i, lines in enumerate(outcomes):
        for unit, _, _ in lines:
            if unit is not None:
                source.setdefault(unit, i)
    for i, lines in enumerate(calls):
        for unit, _, _ in lines:
            if unit is not None:
                source.setdefault(unit, i)

    shards = sorted({str(r["config"]["shard"]) for _, r in loaded if r["config"].get("shard")},
                    key=lambda s: parse_shard(s) or (0, 0))
    missing: list[str] = []
    if shards:
        n = parse_shard(shards[0])[1]  # type: ignore[index]
        have = {parse_shard(s)[0] for s in shards}  # type: ignore[index]
        missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in have]
        if any(not r["config"].get("shard") for _, r in loaded):
            missing = []  # an unsharded run covers every item

    base = loaded[0][1]
    config = {k: v for k, v in base["config"].items() if k != "shard"}
    config["n_items"] = _full_size(config, len({u[0] for u in source}))
    run_json = {
        "format": base["format"],
        "config": config,
        "argv": list(argv) if argv is not None else ["merge", *map(str, paths), "--out", str(dst)],
        "base_url": base.get("base_url"),
        "versions": base.get("versions"),
        "model_name": base.get("model_name"),
        "started": min(str(r.get("started") or "") for _, r in loaded) or base.get("started"),
        "merged_from": [{"run": str(p), "shard": r["config"].get("shard"), "started": r.get("started"),
                         "argv": r.get("argv")} for p, r in loaded],
    }
    if "servers" in base:
        run_json["servers"] = base["servers"]

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.merge.", dir=dst.parent))
    n_calls = dups = 0
    try:
        seen: set[str] = set()
        with open(tmp / "calls.jsonl", "wb") as f:
            for i, lines in enumerate(calls):
                for unit, key, raw in lines:
                    if unit is None or source.get(unit) != i:
                        continue
                    if key in seen:
                        dups += 1
                        continue
                    seen.add(str(key))
                    f.write(raw)
                    n_calls += 1
            f.flush()
            os.fsync(f.fileno())
        done: set[tuple[str, str, int]] = set()
        with open(tmp / "outcomes.jsonl", "wb") as f:
            for i, lines in enumerate(outcomes):
                for unit, _, raw in lines:
                    if unit is None or source.get(unit) != i or unit in done:
                        continue
                    done.add(unit)
                    f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        atomic_write_json(tmp / "run.json", run_json)
        if dst.exists():
            dst.rmdir()
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(dst), "runs": len(paths), "units": len(done), "calls": n_calls, "duplicate_calls": dups,
            "shards": shards, "missing_shards": missing}


def register(sub: Any) -> None:
    """Add ``merge`` to the CLI."""
    p = sub.add_parser(
        "merge", help="merge run folders (eval --shard K/N parts) into one run folder",
        description=("Merge the run folders of one eval command (its --shard K/N parts, or partial runs) into a new "
                     "folder that scores, analyzes and packs exactly like the unsharded run. Refuses runs of "
                     "different datasets, models or settings. Each (item, strategy, budget) is taken whole from the "
                     "first run that finished it; call keys are written once. One folder (a one-task array, --shard 1/1) "
                     "gives a copy that scores like it."))
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `depthbench eval`")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="the merged run folder (new)")
    p.set_defaults(func=_cmd_merge)


def _cmd_merge(args: argparse.Namespace) -> int:
    res = merge_runs(args.runs, args.out, argv=["merge", *sys.argv[2:]] if sys.argv[1:2] == ["merge"] else None)
    print(f"merged {res['runs']} run{'s' if res['runs'] != 1 else ''}: {res['units']} finished (item, strategy, budget) units, {res['calls']} calls"
          + (f" ({res['duplicate_calls']} duplicate call keys dropped)" if res["duplicate_calls"] else "")
          + f" -> {res['out']}")
    if res["missing_shards"]:
        print(f"warning: shard(s) {', '.join(res['missing_shards'])} not given; run the unsharded eval command with "
              f"--out {res['out']} to evaluate the rest", file=sys.stderr)
    print(f"next: depthbench score {res['out']} && depthbench analyze {res['out']}")
    return 0

