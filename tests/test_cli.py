"""The CLI wiring: every command registered, usage errors are one line with exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from depthbench.cli import build_parser, main

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


def test_python_dash_m_runs_the_cli_and_import_does_not():
    import depthbench.__main__  # noqa: F401  (must not run the CLI on import)

    out = subprocess.run([sys.executable, "-P", "-m", "depthbench", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("depthbench ")
