"""Progress off a terminal: one plain line every interval (done/total, rates, ETA), for every long command."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time

from depthbench.progress import Progress, format_duration

LINE = re.compile(r"^(?P<desc>[\w/]+): (?P<done>[\d,]+)/(?P<total>[\d,]+) (?P<unit>\w+) \([\d.]+%\), .*"
                  r"[\d,.]+ \w+/s, elapsed \d+:\d\d:\d\d, ETA (\d+:\d\d:\d\d|\?)$")


def test_lines_every_interval_with_rates_and_eta():
    buf = io.StringIO()  # not a terminal
    p = Progress(100, "eval", "units", counters=("calls",), file=buf, interval=0.05)
    for _ in range(40):
        p.update(1)
        p.count("calls", 3)
        time.sleep(0.005)
    time.sleep(0.12)
    p.update(60)
    p.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 2 and all(LINE.match(x) for x in lines), lines
    assert lines[-1].startswith("eval: 100/100 units (100.0%)") and lines[-1].endswith("ETA 0:00:00")
    first = LINE.match(lines[0])
    assert 0 < int(first["done"].replace(",", "")) < 100 and "calls/s" in lines[0]


def test_short_work_prints_nothing_and_disabled_prints_nothing():
    buf = io.StringIO()
    with Progress(10, "score", "calls", file=buf, interval=5) as p:
        p.update(10)
    with Progress(10, "score", "calls", file=buf, interval=0.01, enabled=False) as p:
        time.sleep(0.05)
        p.update(10)
    assert buf.getvalue() == ""


def test_format_duration():
    assert format_duration(3725.4) == "1:02:05" and format_duration(float("nan")) == "?"


def _stderr_of(args, tmp_path, env_extra=None):
    env = {**os.environ, "DEPTHBENCH_PROGRESS_INTERVAL": "0.02", **(env_extra or {})}
    p = subprocess.run([sys.executable, "-P", "-m", "depthbench", *args], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return [x for x in p.stderr.splitlines() if LINE.match(x)]


def test_generate_eval_score_and_leaderboard_print_progress_lines_in_a_log(tmp_path):
    gen = _stderr_of(["generate", "grid_planning", "--depths", "2,4", "--n", "20", "--out", "data"], tmp_path)
    assert gen and gen[-1].startswith("grid_planning/test: 40/40 items")
    ev = _stderr_of(["eval", "--data", "data", "--model", "simulated", "--strategy", "single,majority@8,budget_forcing",
                     "--budget", "512", "--out", "run"], tmp_path)
    assert ev and ev[-1].startswith("eval: 120/120 units") and "calls/s" in ev[-1]
    sc = _stderr_of(["score", "run"], tmp_path)
    assert sc and re.match(r"score: ([\d,]+)/\1 calls", sc[-1])
    (tmp_path / "subs").mkdir()
    for k in range(2):
        subprocess.run([sys.executable, "-P", "-m", "depthbench", "submission", "pack", "run", "--out",
                        f"subs/s{k}.json.gz", "--submitter", f"team{k}"], cwd=tmp_path, check=True, capture_output=True)
    lb = subprocess.run([sys.executable, "-P", "-m", "depthbench", "leaderboard", "build", "subs", "--out", "site",
                         "--releases", "data"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                        env={**os.environ, "DEPTHBENCH_PROGRESS_INTERVAL": "0.02"})
    lines = [x for x in lb.stderr.splitlines() if LINE.match(x)]
    assert lines and lines[-1].startswith("leaderboard: 2/2 submissions"), lb.stderr[-2000:]
