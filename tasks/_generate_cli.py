"""``depthbench generate``: build a dataset folder from a task spec.

::

    depthbench generate SPEC_OR_TASK [--depths 1,2,4 | 1:32:2] [--n N] [--split S[,S2]]
                        [--seed S] [--out DIR] [--format jsonl|hf|parquet]
                        [--shard K/N] [--workers W]

With several splits (``--split test,dev``) each split excludes the content hashes of the
splits before it, so no item appears in two splits. Everything is validated before any
file is written; files are written atomically and the
manifest last. The manifest's ``command`` is a canonical command line without ``--out`` and
``--workers`` (neither changes the output), so the same data regenerated elsewhere has the
same manifest bytes.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
from pathlib import Path
from typing import Any

from depthbench.errors import UserError
from depthbench.io import ensure_writable_dir
from depthbench.progress import Progress
from depthbench.tasks import load_spec
from depthbench.tasks._dataset import _config, _context, _parse_shard, build_items
from depthbench.tasks._export import check_format, write_dataset
from depthbench.tasks._hidden import write_private_split
from depthbench.tasks._releases import public_content_hashes

__all__ = ["register", "parse_depths", "add_generate_arguments"]


def parse_depths(text: str) -> list[int]:
    """Parse ``--depths``: comma-separated integers and inclusive ranges ``a:b`` or ``a:b:step``.

    Examples
    --------
    >>> parse_depths("1,2,4")
    [1, 2, 4]
    >>> parse_depths("1:9:4,16")
    [1, 5, 9, 16]

    Raises
    ------
    UserError
        On malformed text, a step <= 0, a depth < 1, or a repeated depth.
    """
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if ":" in part:
                bits = [int(b) for b in part.split(":")]
                if len(bits) not in (2, 3):
                    raise ValueError
                a, b, step = bits[0], bits[1], bits[2] if len(bits) == 3 else 1
                if step <= 0:
                    raise UserError(f"--depths: step must be >= 1 in {part!r}; write e.g. 1:32:2")
                out.extend(range(a, b + 1, step))
            else:
                out.append(int(part))
        except ValueError:
            raise UserError(f"--depths: cannot read {part!r}; write e.g. --depths 1,2,4 or --depths 1:32:2") from None
    if not out or min(out) < 1:
        raise UserError(f"--depths: depths must be integers >= 1, got {text!r}")
    if len(set(out)) != len(out):
        raise UserError(f"--depths: {text!r} lists a depth twice; list each depth once")
    return out


def _command_line(args: argparse.Namespace, splits: list[str]) -> str:
    parts = ["depthbench", "generate", args.task]
    if args.depths is not None:
        parts += ["--depths", args.depths]
    if args.n is not None:
        parts += ["--n", str(args.n)]
    parts += ["--split", ",".join(splits)]
    if args.seed is not None:
        parts += ["--seed", str(args.seed)]
    parts += ["--format", args.format]
    if args.shard is not None:
        parts += ["--shard", args.shard]
    return shlex.join(parts)


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "secret_seed_file", None) is not None:  # hidden split (depthbench.leaderboard)

        return _run_hidden(args)

    spec = load_spec(args.task)
    depths = parse_depths(args.depths) if args.depths is not None else list(spec.depths)
    if args.n is not None and args.n < 1:
        raise UserError(f"--n: items per depth must be >= 1, got {args.n}")
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed: must be >= 0, got {args.seed}")
    if args.workers < 1:
        raise UserError(f"--workers: must be >= 1, got {args.workers}")
    check_format(args.format)  # also: pyarrow / datasets installed, before any folder is made
    splits = [s.strip() for s in args.split.split(",") if s.strip()]
    if not splits or len(set(splits)) != len(splits):
        raise UserError(f"--split: {args.split!r} must name one or more distinct splits, e.g. --split test,dev")
    for s in splits:
        if s not in spec.splits and (args.n is None or args.seed is None):
            raise UserError(f"--split: {s!r} is not a split of task {spec.name} ({', '.join(spec.splits)}); "
                            "choose one, or give both --n and --seed")
    shard = _parse_shard(args.shard)
    if shard is not None and args.format != "jsonl":
        raise UserError("--shard: only --format jsonl can be sharded (shards concatenate byte for byte)")
    # Validate every depth against the size before writing anything.
    ctx = _context(spec)
    for d in depths:
        _config(ctx, d)
    out = args.out or f"datasets/{spec.name}"
    created = _first_missing(Path(out))  # removed again if generation fails
    try:
        ensure_writable_dir(out, "--out")
        manifest, results = _generate(args, spec, splits, depths, shard, out)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    n_items = sum(len(v) for v in results.values())
    print(f"wrote {n_items} items of {spec.name} ({', '.join(splits)}) to {out}/ "
          f"[{args.format}; {len(manifest['files'])} files + manifest.json]")
    return 0


def _run_hidden(args: argparse.Namespace) -> int:
    """``depthbench generate ... --secret-seed-file F``: the hidden-split branch of ``generate``.

    Uses the ``generate`` options ``task``, ``--depths``, ``--n``, ``--split``, ``--out`` and
    ``--workers``; refuses ``--seed`` (the seed comes from the secret), ``--shard`` and
    formats other than jsonl. Items already in the shipped release of the task are excluded.
    """
    if getattr(args, "seed", None) is not None:
        raise UserError("--seed: not allowed with --secret-seed-file (the split seed is derived from the secret)")
    if getattr(args, "shard", None) is not None:
        raise UserError("--shard: not supported with --secret-seed-file; generate the hidden split in one go")
    if getattr(args, "format", "jsonl") != "jsonl":
        raise UserError("--format: a hidden split is written as jsonl only")
    spec = load_spec(args.task)
    depths = parse_depths(args.depths) if args.depths is not None else None
    if args.n is not None and args.n < 1:
        raise UserError(f"--n: items per depth must be >= 1, got {args.n}")
    splits = [s.strip() for s in args.split.split(",") if s.strip()]
    if len(splits) != 1:
        raise UserError(f"--split: a hidden split takes one split name, got {args.split!r}; e.g. --split hidden")
    out = args.out or f"datasets/{spec.name}-{splits[0]}"
    manifest = write_private_split(spec, args.secret_seed_file, out, split=splits[0], depths=depths, n=args.n,
                                   exclude=public_content_hashes(spec.name), workers=getattr(args, "workers", 1),
                                   public_prompts=True)
    print(f"wrote hidden split {spec.name}/{splits[0]}: {manifest['n_items']} items to {out}/private/ (keep private); "
          f"publish {out}/public/ (prompts and answer commitments, overall {manifest['overall_sha256'][:16]}...): "
          f"submitters run 'depthbench eval --data {out}/public --split {splits[0]} ...', you validate with "
          f"'depthbench submission validate FILE --releases {out}'")
    return 0


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself or an ancestor) that does not exist yet, if any."""
    path = path.absolute()
    top = None
    while not path.exists() and path != path.parent:
        top, path = path, path.parent
    return top


def _generate(args: argparse.Namespace, spec: Any, splits: list[str], depths: list[int],
              shard: tuple[int, int] | None, out: str) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:

    results: dict[str, list[dict[str, Any]]] = {}
    earlier: set[str] = set()  # content hashes of the splits generated before (no item in two splits)
    for j, s in enumerate(splits):
        if j > 0:
            prev = splits[j - 1]
            full = results[prev] if shard is None else build_items(
                spec, prev, depths=depths, n=args.n, seed=args.seed, exclude=earlier, workers=args.workers)
            earlier |= {it["meta"]["content_sha256"] for it in full}
        n = args.n if args.n is not None else spec.splits[s].n_per_depth
        total = n * len(depths)
        if shard is not None:
            k, parts = shard
            total = k * total // parts - (k - 1) * total // parts
        with Progress(total, f"{spec.name}/{s}", "items", enabled=False if args.quiet else None) as bar:
            results[s] = build_items(spec, s, depths=depths, n=args.n, seed=args.seed, shard=shard,
                                     workers=args.workers, exclude=earlier, progress=bar.update)
    manifest = write_dataset(out, spec, results, fmt=args.format, command=_command_line(args, splits),
                             shard=args.shard)
    return manifest, results


def add_generate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``generate`` (other subsystems may add flags to the same parser)."""
    p.add_argument("task", metavar="SPEC_OR_TASK", help="bundled task name (see `depthbench tasks list`) or a .yaml spec")
    p.add_argument("--depths", help="depths: 1,2,4 or inclusive ranges 1:32:2 (default: the spec's grid)")
    p.add_argument("--n", type=int, help="items per depth (default: the split's n_per_depth)")
    p.add_argument("--split", default="test", help="split name(s), comma-separated (default: test)")
    p.add_argument("--seed", type=int, help="split seed (default: the split's seed in the spec)")
    p.add_argument("--out", help="output folder (default: datasets/<task>)")
    p.add_argument("--format", default="jsonl", choices=("jsonl", "hf", "parquet"), help="output format (default: jsonl)")
    p.add_argument("--shard", metavar="K/N", help="write only the K-th of N parts (1-based); shards concatenate to the full file")
    p.add_argument("--workers", type=int, default=1, help="worker processes (same bytes as 1 worker)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--secret-seed-file", metavar="F",
                   help="maintainers: make a hidden split seeded from this secret file; writes OUT/private/ "
                        "(items with answers, keep private) and OUT/public/ to publish (the prompts without "
                        "answers, and manifest.json with answer hash commitments); submitters run "
                        "'eval --data OUT/public --split SPLIT', maintainers validate with '--releases OUT'")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``generate`` command."""
    p = subparsers.add_parser(
        "generate", help="generate a certified-depth dataset from a task spec",
        description="Generate a dataset: every item's depth certified by an independent solver; "
                    "atomic writes; a manifest with per-depth counts and sha256 of each file.")
    add_generate_arguments(p)
    p.set_defaults(func=_run)
