"""Operational faults end in one clear line and lose nothing: bad dataset lines, a full disk, a dead or
usage-less server, a killed multi-process generate, empty runs, malformed model parameters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import free_port, start_test_server  # noqa: E402

from depthbench.cli import main  # noqa: E402
from depthbench.io import DiskFullError, JsonlAppender, read_jsonl  # noqa: E402

TASK = "graph_connectivity"
EVAL = ["--model", "simulated", "--strategy", "single", "--budget", "64", "--no-progress"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "gc"
    assert main(["generate", TASK, "--depths", "1,2", "--n", "3", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    return out


# ------------------------------------------------------------------ dataset lines

@pytest.mark.parametrize("field", ["id", "prompt", "depth", "answer", "answer_type", "instance_json", "meta_json"])
def test_a_bad_dataset_line_is_refused_before_the_run(dataset, tmp_path, capsys, field):
    lines = (dataset / "test.jsonl").read_text().splitlines()
    item = json.loads(lines[3])
    del item[field]
    lines[3] = json.dumps(item)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["eval", "--data", str(bad), *EVAL, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad} line 4" in err and f"record lacks column(s) {field}" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # nothing written


def test_a_format_1_line_missing_a_field_is_named(dataset, tmp_path, capsys):
    """Nested (format 1, data/v1) lines are checked against the decoded item schema."""
    from depthbench.tasks import load_dataset

    items, _ = load_dataset(dataset, split="test")
    rows = [dict(it) for it in items]
    del rows[2]["prompt"]
    bad = tmp_path / "v1-style.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", "--data", str(bad), *EVAL, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{bad} line 3" in err and "field 'prompt': missing" in err and not (tmp_path / "run").exists()


def test_a_wrong_type_is_named_too(dataset, tmp_path, capsys):
    lines = (dataset / "test.jsonl").read_text().splitlines()
    item = json.loads(lines[0])
    item["depth"] = "deep"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([json.dumps(item)] + lines[1:]) + "\n")
    assert main(["eval", "--data", str(bad), *EVAL, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "field 'depth': 'deep' is not of type 'integer'" in err


# ------------------------------------------------------------------ full disk

def test_appender_on_a_full_disk_raises_one_clear_error():
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    log = JsonlAppender("/dev/full", fsync=False)
    with pytest.raises(DiskFullError, match="disk full writing /dev/full; free space and rerun") as e:
        log.write({"a": 1})
    assert e.value.exit_code == 1
    with pytest.raises(DiskFullError):
        log.write({"a": 2})  # stays refused
    log.close()  # never raises


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs mounted at tmp_path/disk (root only; skipped elsewhere)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()[:80]})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave: int) -> Path:
    """Fill the disk but ``leave`` bytes."""
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    filler = mnt / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "depthbench", *args], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def test_full_disk_in_eval_score_analyze_report_is_one_line_and_resumes(dataset, tmp_path, small_disk, capsys):
    args = ["--data", str(dataset), "--model", "simulated", "--strategy", "single,majority@4", "--budget", "128",
            "--no-progress"]
    ref = tmp_path / "ref"
    assert main(["eval", *args, "--out", str(ref)]) == 0
    run = small_disk / "run"
    filler = _fill(small_disk, 24 * 1024)  # room for run.json and a few log lines, not the whole run
    capsys.readouterr()
    assert main(["eval", *args, "--out", str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] in [f"depthbench eval: error: disk full writing {run}/{log}; free space and rerun "
                                        "the same command to resume" for log in ("calls.jsonl", "outcomes.jsonl")], err
    filler.unlink()
    assert main(["eval", *args, "--out", str(run)]) == 0  # resume completes
    key = lambda o: (o["item_id"], o["strategy"], o["budget"])  # noqa: E731
    got = sorted((key(o), o["final_answer"], o["credit"]) for o in read_jsonl(run / "outcomes.jsonl"))
    want = sorted((key(o), o["final_answer"], o["credit"]) for o in read_jsonl(ref / "outcomes.jsonl"))
    assert got == want and len({k for k, _, _ in got}) == len(got)  # same results, nothing twice
    for cmd, target in (("score", "scored.jsonl"), ("analyze", "results.json"), ("report", "report/report.html")):
        filler = _fill(small_disk, 2048)
        capsys.readouterr()
        assert main([cmd, str(run)]) == 1, cmd
        err = [x for x in capsys.readouterr().err.strip().splitlines() if "error" in x]
        assert len(err) == 1 and "disk full writing" in err[0] and "rerun the same command" in err[0], (cmd, err)
        assert not [p for p in run.rglob(".*.tmp")]  # no half-written file left
        filler.unlink()
        assert main([cmd, str(run)]) == 0, cmd
        assert (run / target).exists()


# ------------------------------------------------------------------ servers

def test_eval_against_a_dead_port_fails_fast_with_one_line(dataset, tmp_path):
    out = tmp_path / "run"
    t0 = time.monotonic()
    r = _cli("eval", "--data", str(dataset), "--model", "openai:m", "--base-url", f"http://127.0.0.1:{free_port()}/v1",
             "--strategy", "single,majority@4", "--budget", "128", "--out", str(out))
    assert r.returncode == 1 and time.monotonic() - t0 < 15
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach http://127.0.0.1:" in lines[0] and "start the server" in lines[0], lines
    assert not out.exists()


def test_eval_with_responses_missing_usage_completes_and_records_the_source(dataset, tmp_path, capsys):
    with start_test_server(missing_usage_rate=0.2, tokenize_endpoint=False) as srv:
        out = tmp_path / "run"
        assert main(["eval", "--data", str(dataset), "--model", "openai:test-model", "--base-url", srv.base_url,
                     "--strategy", "single,majority@4", "--budget", "128", "--out", str(out), "--no-progress"]) == 0
    calls = list(read_jsonl(out / "calls.jsonl"))
    sources = {c["usage"]["completion_source"] for c in calls}
    assert sources == {"server", "estimate"}, sources
    n_est = sum(c["usage"]["completion_source"] == "estimate" for c in calls)
    assert 0.05 * len(calls) < n_est < 0.4 * len(calls)
    assert all(c["usage"]["completion_tokens"] <= c["request"]["max_tokens"] for c in calls)
    capsys.readouterr()


# ------------------------------------------------------------------ processes, empty runs, parameters

def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_killed_generate_leaves_no_worker_behind(tmp_path):
    proc = subprocess.Popen([sys.executable, "-P", "-m", "depthbench", "generate", "grid_planning", "--n", "400",
                             "--workers", "2", "--out", str(tmp_path / "g"), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(kids) < 3:  # two workers and the resource tracker
        time.sleep(0.2)
        kids = _children(proc.pid)
    assert len(kids) >= 2, "the workers never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.1)
    left = [k for k in kids if _alive(k)]
    for k in left:  # clean up before failing
        os.kill(k, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def test_analyze_on_an_empty_run_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--task", TASK, "--per-depth", "1", "--limit", "1", *EVAL, "--out", str(out)]) == 0
    (out / "outcomes.jsonl").write_text("")
    capsys.readouterr()
    assert main(["analyze", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is empty (no finished item yet)" in err[0]


@pytest.mark.parametrize("option, message", [
    ("eps=abc", "simulated option eps=abc: not a number; eps is the per-step error probability, in [0, 1)"),
    ("spread=1.5", "simulated option spread=1.5: not an integer; spread is the step-length spread, an integer in"),
    ("rho=nan", "rho is the correlation between parallel samples, in [0, 1]"),
    ("eps=2", "simulated eps: must be in [0, 1), got 2.0"),
    ("drift=-1", "simulated drift: must be in [0, 1)"),
    ("tokens_per_step=2", "need 0 <= spread <= tokens_per_step - 3"),
    ("temperature=1", "simulated option 'temperature': unknown; valid options are eps, tokens_per_step"),
])
def test_malformed_simulated_parameters_name_the_parameter_and_range(tmp_path, capsys, option, message):
    assert main(["eval", "--task", TASK, "--model", f"simulated:{option}", "--strategy", "single", "--budget", "64",
                 "--out", str(tmp_path / "r")]) == 2  # refused before the task's items are generated
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()
