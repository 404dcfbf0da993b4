"""The eval runner: resume, torn lines, config changes, Ctrl-C, kill -9, faulty servers."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from depthbench.baselines._runner import EvalConfig, run_eval
from depthbench.cli import main as cli_main
from depthbench.errors import UserError
from depthbench.baselines._calllog import read_calls
from depthbench.io import BadLine, read_jsonl
from depthbench.analysis import load_run_items, load_run_json as load_run

STRATS = ["single", "majority@4", "budget_forcing", "revision@2", "adaptive@4"]


def _cfg(out, **kw) -> EvalConfig:
    base = dict(model="simulated:eps=0.05,tokens_per_step=10", strategies=[",".join(STRATS)], budgets=[64, 256],
                out=str(out), task="graph_connectivity", limit=8, seed=3, progress=False)
    base.update(kw)
    return EvalConfig(**base)


def _lines(path: Path) -> list[dict]:
    """The records of a log; call records expanded from their compact form with the run's items."""
    bad: list[BadLine] = []
    if path.name == "calls.jsonl":
        items, _ = load_run_items(load_run(path.parent))
        recs = [r for _, r in read_calls(path, items, bad)]
    else:
        recs = list(read_jsonl(path, bad))
    assert not bad, bad
    return recs


def _keys(out: Path) -> tuple[list[str], list[tuple]]:
    calls = [r["key"] for r in _lines(out / "calls.jsonl")]
    outs = [(o["item_id"], o["strategy"], o["budget"]) for o in _lines(out / "outcomes.jsonl")]
    return calls, outs


def _outcomes(out: Path) -> dict:
    return {(o["item_id"], o["strategy"], o["budget"]): o for o in _lines(out / "outcomes.jsonl")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    run_eval(_cfg(out))
    return out


def _same_as_reference(out: Path, ref: Path) -> None:
    calls, outs = _keys(out)
    rcalls, routs = _keys(ref)
    assert len(calls) == len(set(calls)), "a call key was logged twice"
    assert len(outs) == len(set(outs)), "an outcome was logged twice"
    assert set(calls) == set(rcalls)
    assert set(outs) == set(routs)
    a, b = _outcomes(out), _outcomes(ref)
    for k in b:
        assert (a[k]["final_answer"], a[k]["credit"], a[k]["generated_tokens"]) == \
               (b[k]["final_answer"], b[k]["credit"], b[k]["generated_tokens"]), k


def test_run_writes_contracts_and_rerun_is_a_noop(reference, tmp_path):
    run = json.loads((reference / "run.json").read_text())
    assert run["format"] == "depthbench-run/1"
    assert run["config"]["strategies"] == STRATS and run["config"]["budgets"] == [64, 256]
    assert len(run["config"]["dataset_sha256"]) == 64 and run["versions"]["depthbench"]
    calls, outs = _keys(reference)
    assert len(outs) == 8 * len(STRATS) * 2
    rec = _lines(reference / "calls.jsonl")[0]
    for field in ("key", "item_id", "task", "depth", "strategy", "budget", "sample", "round", "role", "parent",
                  "request", "seed", "text", "finish_reason", "usage", "latency_s", "attempts", "model",
                  "extracted", "parse_status", "correct"):
        assert field in rec
    for o in _lines(reference / "outcomes.jsonl"):
        if not o["strategy"].startswith("adaptive"):
            assert o["generated_tokens"] <= o["budget"]
        assert set(o["calls"]) == set(o["parents"])
    before = [(reference / f).read_bytes() for f in ("calls.jsonl", "outcomes.jsonl", "run.json")]
    res = run_eval(_cfg(reference))
    assert res["new_calls"] == 0 and res["new_units"] == 0
    assert [(reference / f).read_bytes() for f in ("calls.jsonl", "outcomes.jsonl", "run.json")] == before


def test_distinct_seeds_per_sample(reference):
    recs = [r for r in _lines(reference / "calls.jsonl") if r["strategy"] == "majority@4"]
    by_unit: dict = {}
    for r in recs:
        by_unit.setdefault((r["item_id"], r["budget"]), []).append(r["seed"])
    assert all(len(set(s)) == len(s) == 4 for s in by_unit.values())


class _Interrupting:
    """Wraps a model; raises KeyboardInterrupt on the k-th call (an in-process Ctrl-C)."""

    def __init__(self, inner, k):
        self.inner, self.k, self.n = inner, k, 0
        self.name, self.capabilities = inner.name, inner.capabilities
        self.counts_locally = getattr(inner, "counts_locally", False)

    async def generate(self, request):
        self.n += 1
        if self.n == self.k:
            raise KeyboardInterrupt
        return await self.inner.generate(request)

    async def aclose(self):
        pass


@pytest.mark.parametrize("k", [1, 7, 60])
def test_interrupt_then_resume_matches_uninterrupted(reference, tmp_path, monkeypatch, k):
    import depthbench.baselines._runner as models

    real = models.load_model
    monkeypatch.setattr(models, "load_model", lambda *a, **kw: _Interrupting(real(*a, **kw), k))
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_eval(_cfg(out))
    _lines(out / "calls.jsonl")  # every line whole
    monkeypatch.setattr(models, "load_model", real)
    run_eval(_cfg(out))
    _same_as_reference(out, reference)


def test_torn_last_line_is_ignored_and_repaired(reference, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for f in ("run.json", "calls.jsonl", "outcomes.jsonl"):
        (out / f).write_bytes((reference / f).read_bytes())
    # keep the first half of the calls, tear the next line, drop the outcomes after them
    lines = (reference / "calls.jsonl").read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    (out / "calls.jsonl").write_bytes(b"".join(lines[:half]) + lines[half][: len(lines[half]) // 2])
    olines = (reference / "outcomes.jsonl").read_bytes().splitlines(keepends=True)
    (out / "outcomes.jsonl").write_bytes(b"".join(olines[:5]) + olines[5][:40])
    res = run_eval(_cfg(out))
    assert res["calls_from_log"] > 0
    _same_as_reference(out, reference)


@pytest.mark.parametrize("change, flag", [
    (dict(seed=4), "--seed"),
    (dict(budgets=[64]), "--budget"),
    (dict(strategies=["single"]), "--strategy"),
    (dict(temperature=0.3), "--temperature"),
    (dict(model="simulated:eps=0.1"), "--model"),
    (dict(limit=4), "--limit"),
])
def test_changed_config_is_refused_naming_the_flag(reference, change, flag):
    with pytest.raises(UserError, match=f"^{flag}"):
        run_eval(_cfg(reference, **change))


def test_cli_errors_are_one_line(tmp_path, capsys):
    rc = cli_main(["eval", "--task", "graph_connectivity", "--model", "simulated", "--strategy", "majority@0",
                   "--budget", "64", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--strategy" in err and "Traceback" not in err
    rc = cli_main(["eval", "--task", "graph_connectivity", "--model", "simulated", "--strategy", "single",
                   "--budget", "0", "--out", str(tmp_path / "r")])
    assert rc == 2 and "--budget" in capsys.readouterr().err


@pytest.mark.parametrize("strategy,budget,minimum", [
    ("majority@8", 4, 128), ("best_of@4:self", 7, 256), ("ratio@2x2", 63, 64), ("budget_forcing", 19, 20),
])
def test_a_budget_too_small_for_the_strategy_is_refused(tmp_path, capsys, strategy, budget, minimum):
    out = tmp_path / "r"
    rc = cli_main(["eval", "--task", "graph_connectivity", "--model", "simulated", "--strategy", strategy,
                   "--budget", f"{minimum},{budget}", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"--budget {budget}: {strategy} gives " in err and f"use --budget >= {minimum}" in err
    assert not out.exists()


@pytest.mark.parametrize("model", ["simulated:eps=2", "simulated:foo=1", "nosuch:x", "replay:missing.jsonl"])
def test_a_bad_model_leaves_no_run_folder(tmp_path, capsys, model):
    out = tmp_path / "new" / "run"
    rc = cli_main(["eval", "--task", "graph_connectivity", "--model", model, "--strategy", "single",
                   "--budget", "64", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and not (tmp_path / "new").exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    assert cli_main(["eval", "--task", "graph_connectivity", "--model", model, "--strategy", "single",
                     "--budget", "64", "--out", str(existing), "--no-progress"]) == 2
    assert existing.is_dir() and list(existing.iterdir()) == []


def test_setup_failure_after_the_folder_is_made_removes_it(tmp_path, monkeypatch):
    import depthbench.baselines._runner as runner

    def boom(*a, **k):
        raise UserError("--model: setup failed")

    monkeypatch.setattr(runner, "_run_locked", boom)
    with pytest.raises(UserError):
        run_eval(_cfg(tmp_path / "a" / "run", strategies=["single"], budgets=[64]))
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("text", ["majority@4,,single", "single,", ",single"])
def test_an_empty_strategy_entry_is_refused(tmp_path, capsys, text):
    rc = cli_main(["eval", "--task", "graph_connectivity", "--model", "simulated", "--strategy", text,
                   "--budget", "64", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("depthbench eval: error: --strategy: entry") and "is empty" in err
    assert not (tmp_path / "r").exists()


def test_bare_adaptive_is_adaptive_at_8():
    from depthbench.baselines.strategies import parse

    assert parse("adaptive").name == "adaptive@8"
    assert parse("adaptive@4").name == "adaptive@4"


def test_cli_strategies_lists_one_line_each(capsys):
    assert cli_main(["strategies"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = [ln.split()[0] for ln in lines]
    for n in ("single", "budget_forcing[:cap|:max_waits=K]", "revision@R[:maj]", "majority@N[:pooled]", "pass@N", "ratio@NxR",
              "adaptive[@N]"):
        assert n in names
    assert any(n.startswith("best_of@N") for n in names)


# --------------------------------------------------------------------------- subprocesses
def _argv(out: Path, *extra: str) -> list[str]:
    return [*_base_argv(out), *extra]


def _base_argv(out: Path) -> list[str]:
    return [sys.executable, "-P", "-m", "depthbench", "eval", "--task", "graph_connectivity",
            "--model", "simulated:eps=0.05,tokens_per_step=10", "--strategy", ",".join(STRATS),
            "--budget", "64,256", "--limit", "8", "--seed", "3", "--out", str(out), "--no-progress"]


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _start_and_stop_at(out: Path, target_lines: int, sig: int, timeout: float = 60.0,
                       extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start `depthbench eval`; send ``sig`` once calls.jsonl holds ``target_lines`` lines."""
    proc = subprocess.Popen(_argv(out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        if _count_lines(out / "calls.jsonl") >= target_lines:
            proc.send_signal(sig)
            break
        time.sleep(0.002)
    proc.wait(timeout)
    return proc


def test_kill_9_five_times_then_resume(reference, tmp_path):
    out = tmp_path / "run"
    total = _count_lines(reference / "calls.jsonl")
    rng = random.Random(20261129)
    killed = 0
    for _ in range(5):
        have = _count_lines(out / "calls.jsonl")
        if have >= total - 1:
            break  # no line left to stop before the last one (a kill can land past its target)
        proc = _start_and_stop_at(out, rng.randint(have + 1, total - 1), signal.SIGKILL)
        killed += proc.returncode == -signal.SIGKILL
    assert killed >= 3, "the kills should land mid-run"
    done = subprocess.run(_argv(out), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    _same_as_reference(out, reference)


def test_line_fsync_survives_kill_9(reference, tmp_path):
    out = tmp_path / "run"
    total = _count_lines(reference / "calls.jsonl")
    for target in (total // 4, total // 2):
        _start_and_stop_at(out, target, signal.SIGKILL, extra=("--fsync", "line"))
    done = subprocess.run(_argv(out, "--fsync", "line"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    _same_as_reference(out, reference)


def test_ctrl_c_stops_cleanly_with_130(reference, tmp_path):
    out = tmp_path / "run"
    proc = _start_and_stop_at(out, _count_lines(reference / "calls.jsonl") // 3, signal.SIGINT)
    err = proc.stderr.read().decode()
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    _lines(out / "calls.jsonl")
    _lines(out / "outcomes.jsonl")
    done = subprocess.run(_argv(out), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    _same_as_reference(out, reference)


# --------------------------------------------------------------------------- faulty server
def _server():
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from openai_test_server import OpenAITestServer
    finally:
        sys.path.pop(0)
    return OpenAITestServer


def test_openai_backend_with_20_percent_faults_scores_every_item(tmp_path):
    Server = _server()
    with Server(fault_rate=0.2, hang_s=1.0, fault_seed=5) as srv:
        cfg = _cfg(tmp_path / "run", model="openai:test-model", base_url=srv.base_url, strategies=["single,majority@4"],
                   budgets=[64], limit=10, concurrency=4,
                   model_options={"timeout": 0.5, "retries": 10, "backoff_base": 0.01, "backoff_max": 0.05})
        run_eval(cfg)
        faults = sum(v for k, v in srv.stats.items() if k.startswith("fault_"))
        requests = srv.stats["requests"]
    outs = _outcomes(tmp_path / "run")
    assert len(outs) == 10 * 2  # every item scored under both strategies
    assert all(isinstance(o["correct"], bool) for o in outs.values())
    calls = _lines(tmp_path / "run" / "calls.jsonl")
    assert len({c["key"] for c in calls}) == len(calls) == 10 * (1 + 4)
    assert 0.1 < faults / requests < 0.35 and any(c["attempts"] > 1 for c in calls)
    assert all(c["usage"]["completion_tokens"] <= c["request"]["max_tokens"] for c in calls)


def test_unreachable_server_is_one_line_and_resumable(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = cli_main(["eval", "--task", "graph_connectivity", "--limit", "2", "--model", "openai:m",
                   "--base-url", f"http://127.0.0.1:{port}/v1", "--strategy", "single", "--budget", "32",
                   "--retries", "0", "--timeout", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    # the short connect probe fails before anything is written (no retry warnings, no run folder)
    assert rc == 1 and err.count("\n") == 1 and "cannot reach" in err and "start the server" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def test_data_folder_records_the_manifest_sha_and_limit_keeps_every_depth(tmp_path):
    import hashlib

    data = tmp_path / "ds"
    assert cli_main(["generate", "multihop_arithmetic", "--depths", "1,3,5", "--n", "4", "--out", str(data),
                     "--quiet"]) == 0
    out = tmp_path / "run"
    run_eval(_cfg(out, task=None, data=str(data), strategies=["single"], budgets=[128], limit=6))
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["dataset_sha256"] == hashlib.sha256((data / "manifest.json").read_bytes()).hexdigest()
    depths = sorted(o["depth"] for o in _lines(out / "outcomes.jsonl"))
    assert depths == [1, 1, 3, 3, 5, 5]
    # the dataset changing under a run is refused
    (data / "manifest.json").write_text((data / "manifest.json").read_text() + " ")
    with pytest.raises(UserError, match="^--data"):
        run_eval(_cfg(out, task=None, data=str(data), strategies=["single"], budgets=[128], limit=6))


def test_a_second_writer_on_the_same_folder_is_refused(tmp_path):
    from depthbench.baselines._runner import _lock_run_dir

    out = tmp_path / "run"
    out.mkdir()
    held = _lock_run_dir(out)
    try:
        with pytest.raises(UserError, match="^--out: another"):
            run_eval(_cfg(out, strategies=["single"], limit=2))
    finally:
        held.close()
    run_eval(_cfg(out, strategies=["single"], limit=2))  # free again


def test_native_n_flag_sends_one_request_for_n_samples(tmp_path):
    from depthbench.cli import main

    Server = _server()
    with Server() as srv:
        rc = main(["eval", "--task", "graph_connectivity", "--per-depth", "2", "--limit", "3",
                   "--model", "openai:test-model", "--base-url", srv.base_url, "--native-n",
                   "--strategy", "majority@4", "--budget", "256", "--out", str(tmp_path / "run")])
        # completion requests of the items (the pre-flight probes ask for at most 4 tokens)
        completions = [b for b in srv.bodies if b.get("max_tokens", 0) > 4]
    assert rc == 0
    calls = _lines(tmp_path / "run" / "calls.jsonl")
    assert len(calls) == 3 * 4
    assert {c["request"]["n"] for c in calls} == {4}
    assert len(completions) == 3 and {b["n"] for b in completions} == {4}  # one request per item


def test_native_n_is_refused_for_backends_without_n(tmp_path, capsys):
    from depthbench.cli import main

    rc = main(["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "simulated", "--native-n",
               "--strategy", "single", "--budget", "64", "--out", str(tmp_path / "run")])
    assert rc == 2
    assert "--native-n: only the openai backend" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
