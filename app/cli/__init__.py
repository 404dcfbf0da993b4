"""The ``depthbench`` command line.

Each subsystem owns its commands in a private ``_cli`` module exposing
``register(subparsers)``; this file only wires them together (the top layer: it imports
every subsystem), so adding a command never means editing another subsystem. Every command handler takes the parsed
``argparse.Namespace`` and returns an exit status.

User mistakes raise :class:`depthbench.errors.UserError`: one line on stderr,
exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from depthbench import __version__
from depthbench.adapters import _cli as adapters_cli
from depthbench.analysis import _cli as analysis_cli
from depthbench.baselines import _cli as baselines_cli
from depthbench.demo import _cli as demo_cli
from depthbench.errors import UserError
from depthbench.io import is_disk_full
from depthbench.leaderboard import _cli as leaderboard_cli
from depthbench.report import _cli as report_cli
from depthbench.tasks import _cli as tasks_cli
from depthbench.tasks import _generate_cli as generate_cli

__all__ = ["main", "build_parser"]

# Order = order in --help.
_COMMAND_MODULES = (
    generate_cli,     # generate
    tasks_cli,        # tasks list|show
    baselines_cli,    # eval, doctor, strategies
    analysis_cli,     # score, analyze
    report_cli,       # report, compare
    demo_cli,         # demo
    leaderboard_cli,  # submission pack|validate, leaderboard build
    adapters_cli,     # export hub|lm-eval
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (no usage dump), exit 2."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every subsystem's commands."""
    parser = _Parser(
        prog="depthbench",
        description=(
            "Compositional depth and test-time compute: generate certified-depth datasets, "
            "evaluate parallel vs sequential strategies at matched token budgets, publish "
            "leaderboard submissions."
        ),
    )
    parser.add_argument("--version", action="version", version=f"depthbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _COMMAND_MODULES:
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (also used by the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"depthbench {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"depthbench {args.command}: interrupted; finished work is saved, run the same command again to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # an OSError too: before the disk-full handler
        return 0
    except OSError as e:
        if not is_disk_full(e):
            raise
        where = f" writing {e.filename}" if e.filename else ""
        print(f"depthbench {args.command}: error: disk full{where}; free space and rerun the same command to resume",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
