"""Crash-safe I/O helpers: atomic writes, fsynced JSONL with torn-tail repair, tolerant reads."""

from __future__ import annotations

import os
import stat

import pytest

from depthbench.io import BadLine, JsonlAppender, atomic_write_text, atomic_writer, read_jsonl


def test_atomic_write_gives_the_mode_a_plain_open_would(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    finally:
        os.umask(mask)


def test_failed_atomic_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target, "w") as f:
            f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_appender_repairs_a_torn_tail_and_reader_reports_bad_lines(tmp_path):
    log = tmp_path / "calls.jsonl"
    log.write_bytes(b'{"a": 1}\nnot json\n{"b": 2}\n{"torn": ')
    bad: list[BadLine] = []
    assert list(read_jsonl(log, bad)) == [{"a": 1}, {"b": 2}]
    assert [(b.lineno, b.reason.split(":")[0]) for b in bad] == [(2, "invalid JSON"), (4, "torn last line")]
    with JsonlAppender(log) as w:
        w.write({"c": 3})
    assert log.read_bytes().endswith(b'{"b": 2}\n{"c":3}\n')
