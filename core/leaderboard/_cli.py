"""Commands ``submission pack|validate`` and ``leaderboard build``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from depthbench.errors import UserError

__all__ = ["register"]

_MAX_PRINTED = 200


def _limits(args: argparse.Namespace):  # noqa: ANN202 - Limits
    from depthbench.leaderboard._safety import DEFAULT_LIMITS, Limits

    if getattr(args, "max_bytes", None) is None:
        return DEFAULT_LIMITS
    if args.max_bytes < 1:
        raise UserError("--max-bytes: must be a positive number of bytes")
    return Limits(max_file_bytes=args.max_bytes, max_json_bytes=DEFAULT_LIMITS.max_json_bytes,
                  max_predictions=DEFAULT_LIMITS.max_predictions,
                  max_calls_per_prediction=DEFAULT_LIMITS.max_calls_per_prediction)


def _cmd_pack(args: argparse.Namespace) -> int:
    from depthbench.leaderboard._submission import pack_run, write_submission

    if args.date is not None and (len(args.date) != 10 or args.date[4] != "-" or args.date[7] != "-"):
        raise UserError(f"--date: {args.date!r} is not YYYY-MM-DD")
    sub = pack_run(args.run_dir, submitter=args.submitter, model_name=args.model_name,
                   model_revision=args.model_revision, raw=not args.no_raw, date=args.date)
    out = write_submission(sub, args.out)
    from depthbench.leaderboard._validate import find_releases
    from depthbench.scorers import load_run

    try:
        config = load_run(args.run_dir).get("config", {})
        expected = int(config["n_items"]) * len(config["strategies"]) * len(config["budgets"])
    except (UserError, ValueError, AttributeError, KeyError, TypeError):
        expected = None
    if expected is not None:
        if len(sub["predictions"]) < expected:
            print(f"note: the run is incomplete ({len(sub['predictions'])} of {expected} item/strategy/budget "
                  "outcomes); resume 'depthbench eval' with the same arguments before submitting", file=sys.stderr)

    sha = sub["metadata"]["dataset"]["sha256"]
    if sha not in find_releases():
        print(f"note: dataset sha256 {sha[:16]}... is not a shipped release (a run with --task or a custom dataset); "
              "'submission validate' accepts it only with --releases DIR holding that dataset", file=sys.stderr)
    print(f"wrote {out} ({len(sub['predictions'])} predictions, "
          f"{'with' if not args.no_raw else 'without'} raw completions); "
          f"check it with: depthbench submission validate {out}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from depthbench.leaderboard._validate import validate_submission

    target = Path(args.file)
    if not target.exists():
        raise UserError(f"FILE: no such file {args.file!r}; give the path of a submission .json.gz")
    if target.is_dir():
        raise UserError(f"FILE: {args.file!r} is a folder; give the path of a submission .json.gz")
    rep = validate_submission(args.file, releases=args.releases, limits=_limits(args))
    for note in rep.notes:
        print(f"note: {note}", file=sys.stderr)
    if rep.problems:
        print(f"{args.file}: INVALID, {len(rep.problems)} problem(s):", file=sys.stderr)
        for p in rep.problems[:_MAX_PRINTED]:
            print(f"  - {p}", file=sys.stderr)
        if len(rep.problems) > _MAX_PRINTED:
            print(f"  ... and {len(rep.problems) - _MAX_PRINTED} more", file=sys.stderr)
        return 1
    n = len(rep.outcomes)
    acc = sum(o["credit"] for o in rep.outcomes) / n if n else 0.0
    if rep.verified:
        badge = f"verified (raw completions re-score to the stated answers; token counts {rep.token_check})"
    elif rep.rescored < n:
        badge = f"not verified ({rep.rescored} of {n} predictions carry raw completions)"
    else:
        badge = "not verified (see the notes above)"
    print(f"{args.file}: valid (dataset release {rep.release}); {n} predictions re-scored, "
          f"mean credit {acc:.4f}; {badge}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from depthbench.leaderboard._site import build_leaderboard

    res = build_leaderboard(args.submissions_dir, args.out, releases=args.releases, limits=_limits(args),
                            progress=args.progress)
    for name in res.rejected:
        rej = next(r for r in res.data["rejected"] if r["file"] == name)
        print(f"rejected {name}: {rej['problems'][0]} ({rej['n_problems']} problem(s); "
              f"see 'depthbench submission validate')", file=sys.stderr)
    print(f"leaderboard: {len(res.accepted)} submission(s) accepted, {len(res.rejected)} rejected; "
          f"wrote {Path(args.out) / 'index.html'}, leaderboard.json, leaderboard.md")
    if res.rejected and not res.accepted:
        print(f"error: every submission was rejected ({len(res.rejected)}: {', '.join(res.rejected)}); "
              "the leaderboard is empty", file=sys.stderr)
        return 1
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
                                    "(predictions and token usage, never scores).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="FILE.json.gz")
    p.add_argument("--submitter", default="anonymous", help="who submits (default: anonymous)")
    p.add_argument("--model-name", default=None, help="model name (default: from the run log)")
    p.add_argument("--model-revision", default=None, help="model revision, commit or quantisation")
    p.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="submission date (default: the run's start date)")
    p.add_argument("--no-raw", action="store_true",
                   help="leave out raw completions (smaller file; the submission cannot be verified)")
    p.set_defaults(func=_cmd_pack)

    v = ssub.add_parser("validate", help="check and re-score a submission",
                        description="Schema, dataset hash, coverage, budgets; re-extract and re-score answers. "
                                    "Exit 1 with the list of problems if anything is wrong.")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--releases", default=None, metavar="DIR",
                   help="folder of dataset releases to match the dataset sha256 (default: shipped data)")
    v.add_argument("--max-bytes", type=int, default=None, help="largest accepted file size in bytes")
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
    b.add_argument("--releases", default=None, metavar="DIR",
                   help="folder of dataset releases (default: shipped data)")
    b.add_argument("--max-bytes", type=int, default=None, help="largest accepted submission file size in bytes")
    b.add_argument("--strict", action="store_true",
                   help="exit 1 if any submission is rejected (without it: exit 1 only if all are)")
    b.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress over the submissions (default: a bar on a terminal, else a line every ~30 s)")
    b.set_defaults(func=_cmd_build)
