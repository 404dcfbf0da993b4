"""Commands ``submission pack|validate`` and ``leaderboard build``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from depthbench.analysis import load_run_json
from depthbench.errors import UserError
from depthbench.leaderboard._safety import DEFAULT_LIMITS
from depthbench.leaderboard._site import build_leaderboard
from depthbench.leaderboard._submission import pack_run, write_submission
from depthbench.leaderboard._validate import find_releases, validate_submission

__all__ = ["register"]

_MAX_PRINTED = 200


def _limits(args: argparse.Namespace):  # noqa: ANN202 - Limits

    if getattr(args, "max_bytes", None) is None:
        return DEFAULT_LIMITS
    if args.max_bytes < 1:
        raise UserError("--max-bytes: must be a positive number of bytes")
    import dataclasses

    return dataclasses.replace(DEFAULT_LIMITS, max_file_bytes=args.max_bytes)


def _tokenizers(args: argparse.Namespace) -> dict[str, str]:
    """``--tokenizer [MODEL=]PATH`` (repeatable) -> {model name or "": path}."""
    out: dict[str, str] = {}
    for spec in getattr(args, "tokenizer", None) or []:
        name, eq, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        if not path:
            raise UserError(f"--tokenizer: {spec!r} names no file; give PATH or MODEL=PATH (a .gguf or tokenizer.json)")
        if not (path == "smollm2" or Path(path).is_file()):
            raise UserError(f"--tokenizer: {path!r} is not a file; give a .gguf model file or a tokenizer.json")
        out[name.strip()] = path
    return out


def _cmd_pack(args: argparse.Namespace) -> int:
    if args.date is not None and (len(args.date) != 10 or args.date[4] != "-" or args.date[7] != "-"):
        raise UserError(f"--date: {args.date!r} is not YYYY-MM-DD")
    sub = pack_run(args.run_dir, submitter=args.submitter, model_name=args.model_name,
                   model_revision=args.model_revision, raw=True, date=args.date)
    out = write_submission(sub, args.out)

    try:
        config = load_run_json(args.run_dir).get("config", {})
        expected = int(config["n_items"]) * len(config["strategies"]) * len(config["budgets"])
    except (UserError, ValueError, AttributeError, KeyError, TypeError):
        expected = None
    if expected is not None:
        if len(sub["predictions"]) < expected:
            print(f"note: the run is incomplete ({len(sub['predictions'])} of {expected} item/strategy/budget "
                  "outcomes); resume 'depthbench eval' with the same arguments before submitting", file=sys.stderr)

    unbound = sum(1 for p in sub["predictions"] if "item_sha256" not in p)
    if unbound:
        print(f"note: {unbound} of {len(sub['predictions'])} predictions name their item by id only: the run's "
              "outcomes.jsonl predates item_sha256 and the dataset its run.json names is not at hand (or hashes "
              "differently, or its items carry no content sha256); 'submission validate' refuses such predictions on the canonical release: pack where "
              "the run's dataset is", file=sys.stderr)
    sha = sub["metadata"]["dataset"]["sha256"]
    shipped = find_releases()
    if sha not in shipped:
        print(f"note: dataset sha256 {sha[:16]}... is not a shipped release (a hidden split's public prompts, a run "
              "with --task or a custom dataset); 'submission validate' accepts it only with --releases DIR holding "
              "that dataset (the maintainers of a hidden split have it)", file=sys.stderr)
    elif not shipped[sha].hidden:
        print("note: this run is on a public release, whose answers are public: the leaderboard lists it as "
              "'public data, self-run' and does not rank it; ranked results come from the maintainers' hidden split",
              file=sys.stderr)
    print(f"wrote {out} ({len(sub['predictions'])} predictions with raw completions); "
          f"check it with: depthbench submission validate {out}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    target = Path(args.file)
    if not target.exists():
        raise UserError(f"FILE: no such file {args.file!r}; give the path of a submission .json.gz")
    if target.is_dir():
        raise UserError(f"FILE: {args.file!r} is a folder; give the path of a submission .json.gz")
    rep = validate_submission(args.file, releases=args.releases, limits=_limits(args), tokenizers=_tokenizers(args))
    for note in rep.notes:
        print(f"note: {note}", file=sys.stderr)
    if rep.problems:
        print(f"{args.file}: INVALID, {rep.n_problems} problem(s):", file=sys.stderr)
        for p in rep.problems[:_MAX_PRINTED]:
            print(f"  - {p}", file=sys.stderr)
        if rep.n_problems > _MAX_PRINTED:
            print(f"  ... and {rep.n_problems - _MAX_PRINTED} more", file=sys.stderr)
        return 1
    n = len(rep.outcomes)
    acc = sum(o["credit"] for o in rep.outcomes) / n if n else 0.0
    if rep.verified:
        badge = (f"verified: hidden split, answers re-derived from the raw texts, token counts {rep.token_check}; "
                 "ranked on the leaderboard")
    else:
        badge = (f"public data, self-run: listed on the leaderboard, not ranked (token counts {rep.token_check})")
    print(f"{args.file}: valid (dataset release {rep.release}); {n} predictions re-scored, "
          f"mean credit {acc:.4f}; {badge}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    res = build_leaderboard(args.submissions_dir, args.out, releases=args.releases, limits=_limits(args),
                            tokenizers=_tokenizers(args), progress=args.progress)
    for name in res.rejected:
        rej = next(r for r in res.data["rejected"] if r["file"] == name)
        print(f"rejected {name}: {rej['problems'][0]} ({rej['n_problems']} problem(s); "
              f"see 'depthbench submission validate')", file=sys.stderr)
    ranked = sum(1 for e in res.data["entries"] if e.get("table") == "hidden")
    print(f"leaderboard: {len(res.accepted)} submission(s) accepted ({ranked} ranked on a hidden split, "
          f"{len(res.accepted) - ranked} public data, self-run), {len(res.rejected)} rejected; "
          f"wrote {Path(args.out) / 'index.html'}, leaderboard.json, leaderboard.md")
    if args.strict and res.rejected:
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``submission`` and ``leaderboard`` to the ``depthbench`` CLI."""
    sub = subparsers.add_parser("submission", help="pack or validate a leaderboard submission",
                                description="Pack a run's predictions into a submission, or validate and re-score one.")
    ssub = sub.add_subparsers(dest="submission_command", metavar="ACTION")
    sub.set_defaults(func=lambda a: (sub.print_help(), 2)[1])

    p = ssub.add_parser("pack", help="pack RUN_DIR into FILE.json.gz",
                        description="Pack a finished 'depthbench eval' run directory into a submission "
                                    "(predictions and token usage, never scores). Each prediction carries "
                                    "item_sha256, the content sha256 of the item it was run on (item ids repeat "
                                    "across releases); runs logged before it are bound from the dataset their "
                                    "run.json names, and a folder whose outcomes were made on another "
                                    "dataset's items is refused.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="FILE.json.gz")
    p.add_argument("--submitter", default="anonymous", help="who submits (default: anonymous)")
    p.add_argument("--model-name", default=None, help="model name (default: from the run log)")
    p.add_argument("--model-revision", default=None, help="model revision, commit or quantisation")
    p.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="submission date (default: the run's start date)")
    p.set_defaults(func=_cmd_pack)

    v = ssub.add_parser("validate", help="check and re-score a submission",
                        description="Schema, dataset hash, coverage, budgets, each prediction's item_sha256 against "
                                    "the release's item (a prediction made on another release's item is refused, "
                                    "naming it; without item_sha256 it is refused on the canonical release and noted "
                                    "on others); every stated answer, judge score, seed "
                                    "and token count is recomputed from the raw texts or bounded. Exit 1 with the list "
                                    "of problems if anything is wrong. Only hidden-split submissions are 'verified' "
                                    "(ranked); on a public release they are 'public data, self-run'.")
    v.add_argument("file", metavar="FILE")
    _add_check_options(v)
    v.set_defaults(func=_cmd_validate)

    lb = subparsers.add_parser("leaderboard", help="build the static leaderboard site",
                               description="Validate every submission in a folder and write index.html, "
                                           "leaderboard.json and leaderboard.md.")
    lsub = lb.add_subparsers(dest="leaderboard_command", metavar="ACTION")
    lb.set_defaults(func=lambda a: (lb.print_help(), 2)[1])
    b = lsub.add_parser("build", help="build the site from SUBMISSIONS_DIR",
                        description="Build the static leaderboard; the same inputs give the same bytes.")
    b.add_argument("submissions_dir", metavar="SUBMISSIONS_DIR")
    b.add_argument("--out", required=True, metavar="DIR")
    _add_check_options(b)
    b.add_argument("--strict", action="store_true",
                   help="exit 1 if any submission is rejected (without it: exit 1, writing nothing, only when no "
                        "submission is valid)")
    b.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress over the submissions (default: a bar on a terminal, else a line every ~30 s)")
    b.set_defaults(func=_cmd_build)


def _add_check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--releases", action="append", default=None, metavar="DIR",
                   help="an extra folder of dataset releases, e.g. a hidden split written by 'depthbench generate "
                        "--secret-seed-file' (repeatable; the shipped releases are always known)")
    p.add_argument("--tokenizer", action="append", default=None, metavar="[MODEL=]PATH",
                   help="recount token counts with this tokenizer (.gguf or Hugging Face tokenizer.json), for every "
                        "submission or only those whose model name is MODEL (repeatable); SmolLM2 is recounted "
                        "without it")
    p.add_argument("--max-bytes", type=int, default=None, help="largest accepted submission file size in bytes")
