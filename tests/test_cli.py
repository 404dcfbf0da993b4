"""The CLI wiring: every command registered, usage errors are one line with exit 2; the
command table matches what the modules register, and a command imports only its module."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

import pytest

from depthbench.cli import COMMANDS, build_parser, main

EXPECTED_COMMANDS = {
    "generate", "tasks", "eval", "strategies", "doctor", "score", "analyze",
    "report", "compare", "demo", "submission", "leaderboard", "merge", "export",
}


def test_every_subsystem_registers_its_commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == EXPECTED_COMMANDS


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["generate", "graph_connectivity", "--n", "abc"], "argument --n: invalid int value: 'abc'"),
        (["eval"], "the following arguments are required"),
        (["nosuch"], "invalid choice: 'nosuch'"),
    ],
    ids=["bad-int", "missing-required", "unknown-command"],
)
def test_usage_errors_are_one_line_with_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert lines[0].startswith("depthbench")
    assert "--help" in lines[0]


def test_the_command_table_is_what_the_modules_register():
    """Every row's module registers exactly the rows that name it (same order, same one-line
    help), and no command is missing from the table."""
    assert [c.name for c in COMMANDS] == list(dict.fromkeys(c.name for c in COMMANDS))  # no name twice
    assert {c.name for c in COMMANDS} == EXPECTED_COMMANDS
    for module in dict.fromkeys(c.module for c in COMMANDS):
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(sub)
        registered = [(a.dest, a.help) for a in sub._choices_actions]
        assert registered == [(c.name, c.help) for c in COMMANDS if c.module == module], module


def test_top_level_help_is_the_full_parsers():
    """`depthbench --help` from the table alone reads exactly as with every command built."""
    assert build_parser(()).format_help() == build_parser().format_help()
    assert build_parser(()).format_usage() == build_parser().format_usage()


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_a_command_imports_only_its_module(command, monkeypatch):
    """`depthbench CMD --help` imports CMD's module and no other command's, and prints the help
    of the full parser."""
    code = ("import sys, io, contextlib, json\n"
            "from depthbench.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try:\n"
            f"        main([{command!r}, '--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(json.dumps([buf.getvalue(), sorted(sys.modules)]))\n")
    env = dict(os.environ, COLUMNS="100")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, env=env)
    text, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    own = next(c.module for c in COMMANDS if c.name == command)
    assert {c.module for c in COMMANDS} & set(loaded) == {own}
    monkeypatch.setenv("COLUMNS", "100")
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert text == sub.choices[command].format_help()


def test_python_dash_m_runs_the_cli_and_import_does_not():
    import depthbench.__main__  # noqa: F401  (must not run the CLI on import)

    out = subprocess.run([sys.executable, "-P", "-m", "depthbench", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("depthbench ")
