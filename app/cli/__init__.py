"""The ``depthbench`` command line.

Each subsystem owns its commands in a private ``_cli`` module exposing
``register(subparsers)``; this file only wires them together (the top layer), so adding a
command never means editing another subsystem: it is one module with ``register`` and one
row of :data:`COMMANDS`. Every command handler takes the parsed ``argparse.Namespace`` and
returns an exit status.

Start-up: :data:`COMMANDS` names, for every command, the module that registers it and its
one-line help, so ``depthbench --help`` lists the commands without importing any subsystem,
and ``depthbench CMD ...`` (``CMD --help`` included) imports only CMD's module: one of the
declared deferred imports of ``docs/ARCHITECTURE.md`` ("Layers"). ``tests/test_architecture.py``
adds the table's rows to the import graph as edges of this module; ``tests/test_cli.py`` checks
that each module registers exactly its rows, with the same help.

User mistakes raise :class:`depthbench.errors.UserError`: one line on stderr,
exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple, NoReturn

from depthbench._lazy import lazy_exports
from depthbench.errors import UserError
from depthbench.io import is_disk_full

__all__ = ["main", "build_parser", "COMMANDS", "Command", "version_line"]

# the --version line reads the generators' compiled modules: deferred, so --help imports no subsystem
__getattr__, __dir__ = lazy_exports(__name__, {"depthbench.cli._version": ("version_line",)})


class Command(NamedTuple):
    """One row of the command table: ``name``, the ``module`` whose ``register(subparsers)``
    adds it, and its one-line ``help`` (as that module registers it)."""

    name: str
    module: str
    help: str


# Order = order in --help. A module registering several commands has one row per command.
COMMANDS: tuple[Command, ...] = (
    Command("generate", "depthbench.tasks._generate_cli", "generate a certified-depth dataset from a task spec"),
    Command("tasks", "depthbench.tasks._cli", "list or show task specs"),
    Command("eval", "depthbench.baselines._cli",
            "evaluate a model under test-time strategies at matched token budgets (resumable)"),
    Command("strategies", "depthbench.baselines.strategies._cli", "list the test-time strategies, one line each"),
    Command("doctor", "depthbench.baselines._doctor",
            "probe a model server: reachable, model name, seed, n, usage, context length, sampler, continuation "
            "mode, which strategies work"),
    Command("merge", "depthbench.baselines._merge", "merge run folders (eval --shard K/N parts) into one run folder"),
    Command("score", "depthbench.analysis._cli",
            "re-score a run from its raw responses (writes RUN_DIR/scored.jsonl; idempotent)"),
    Command("analyze", "depthbench.analysis._cli",
            "depth curves, fits and parallel-vs-sequential equivalence verdicts (writes RUN_DIR/results.json)"),
    Command("report", "depthbench.report._cli", "plots, an HTML report and a markdown summary of an analysed run"),
    Command("compare", "depthbench.report._cli", "two runs (two models, or two settings) on the same data, side by side"),
    Command("demo", "depthbench.demo._cli", "the whole pipeline on the simulated reasoner, offline, in a minute or two"),
    Command("submission", "depthbench.leaderboard._cli", "pack or validate a leaderboard submission"),
    Command("leaderboard", "depthbench.leaderboard._cli", "build the static leaderboard site"),
    Command("export", "depthbench.adapters._cli", "export a release for the Hugging Face Hub, or the lm-eval task folder"),
)
_BY_NAME = {c.name: c for c in COMMANDS}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (no usage dump), exit 2."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


class _Version(argparse.Action):
    """``--version``: the version, and which compiled fast paths of the generators this process
    uses (``version_line``, a deferred re-export: looked up only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> "NoReturn":
        print(sys.modules[__name__].version_line())  # the deferred re-export above; stdout, as argparse does
        parser.exit(0)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    Parameters
    ----------
    commands : iterable of str, optional
        Names of the commands to build in full (their modules are imported and register
        their parsers); every other command is listed by its row of :data:`COMMANDS`
        only (name and one-line help, enough for ``depthbench --help``). Default: all.

    Raises
    ------
    KeyError
        If a name in ``commands`` is not a command.
    """
    modules = ({c.module for c in COMMANDS} if commands is None
               else {_BY_NAME[n].module for n in commands})
    parser = _Parser(
        prog="depthbench",
        description=(
            "Compositional depth and test-time compute: generate certified-depth datasets, "
            "evaluate parallel vs sequential strategies at matched token budgets, publish "
            "leaderboard submissions."
        ),
    )
    parser.add_argument("--version", action=_Version,
                        help="show the version and whether the compiled fast paths are in use, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    registered: set[str] = set()
    for cmd in COMMANDS:
        if cmd.module in modules:
            if cmd.module not in registered:
                registered.add(cmd.module)
                importlib.import_module(cmd.module).register(sub)  # the module's rows, in its order
        else:
            sub.add_parser(cmd.name, help=cmd.help, add_help=False)  # listed, never parsed (see main)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs: its first word that is not an option (the top-level
    options take no value), if it names a command."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in _BY_NAME else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (also used by the console script)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    parser = build_parser(() if command is None else (command,))
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
