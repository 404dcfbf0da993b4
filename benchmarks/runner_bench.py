"""``depthbench eval`` end to end: throughput of the default flags, and the size of the call log.

1. **Latency server**: calls/s of ``depthbench eval --strategy single`` against the local
   OpenAI-compatible test server (``tests/openai_test_server.py``, its own process) that
   answers every request after ``--latency`` seconds (default 0.2 s, a busy real server),
   for the default flags and for explicit ``--concurrency``/``--fsync`` settings. Target:
   >= 200 calls/s with the default flags. calls/s = new calls / the run's own time (the
   ``in X s`` of eval's summary line; start-up excluded).
2. **Simulated quickstart**: the README's quickstart (graph_connectivity, depths 1,2,4,8,16,
   100 items each; ``single,budget_forcing,majority@8,revision@2`` at budgets 1024,4096;
   36,470 calls) on the simulated reasoner, wall clock of the whole command, for the
   default flags and ``--fsync batch`` / ``--fsync line``. Target: defaults within 2x of
   ``--fsync batch``. Also the bytes of ``calls.jsonl`` against the bytes of generated
   text it holds (target <= 3x).

``--exe`` runs another depthbench (e.g. an older checkout's venv) for a before/after
comparison; each flag set is one subprocess, run in the order given, ``--repeats`` times
(the median is reported).

Run::

    nice python -P benchmarks/runner_bench.py [--exe "/path/venv/bin/python -P -m depthbench"] \\
        [--items 1000] [--latency 0.2] [--repeats 1] [--skip-quickstart]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = HERE.parent / "tests" / "openai_test_server.py"
LATENCY_FLAGS = [[], ["--concurrency", "8", "--fsync", "line"], ["--concurrency", "64", "--fsync", "batch"],
                 ["--concurrency", "128", "--fsync", "batch"],
                 ["--concurrency", "256", "--fsync", "batch"]]
QUICKSTART_FLAGS = [[], ["--fsync", "batch"], ["--fsync", "line"], ["--concurrency", "8", "--fsync", "line"]]
_SUMMARY = re.compile(r"(\d+) new calls, .* in ([0-9.]+)s")


def _run(exe: list[str], args: list[str]) -> tuple[float, int, float]:
    t0 = time.perf_counter()
    p = subprocess.run([*exe, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    m = _SUMMARY.search(p.stdout)
    if not m:
        raise SystemExit(f"no summary line in:\n{p.stdout[-1000:]}")
    return wall, int(m.group(1)), float(m.group(2))


def _text_bytes(run: Path, data: Path) -> int:
    from depthbench.baselines._calllog import read_calls
    from depthbench.tasks import load_dataset

    items = {it["id"]: it for it in load_dataset(data, split="test")[0]}
    return sum(len(str(r.get("text") or "").encode()) for _, r in read_calls(run / "calls.jsonl", items))


def bench_latency(exe: list[str], tmp: Path, items: int, latency: float, repeats: int) -> list[dict]:
    data = tmp / "latency-data"
    depths = [1, 2, 4, 8, 16]
    subprocess.run([*exe, "generate", "graph_connectivity", "--depths", ",".join(map(str, depths)),
                    "--n", str(max(1, items // len(depths))), "--out", str(data), "--quiet"], check=True,
                   capture_output=True)
    srv = subprocess.Popen([sys.executable, "-P", str(SERVER), "--lifetime", "3000", "--latency", str(latency)],
                           stdout=subprocess.PIPE, text=True)
    rows = []
    try:
        assert srv.stdout is not None
        url = f"http://127.0.0.1:{int(srv.stdout.readline())}/v1"
        for flags in LATENCY_FLAGS:
            rates = []
            for r in range(repeats):
                out = tmp / f"lat-{len(rows)}-{r}"
                _, calls, secs = _run(exe, ["eval", "--data", str(data), "--model", "openai:test-model",
                                            "--base-url", url, "--strategy", "single", "--budget", "256",
                                            "--out", str(out), "--no-progress", *flags])
                rates.append(calls / secs)
            rows.append({"flags": " ".join(flags) or "(defaults)", "calls": calls,
                         "calls_per_s": statistics.median(rates)})
            print(f"latency {latency}s, {rows[-1]['flags']}: {rows[-1]['calls_per_s']:.1f} calls/s", flush=True)
    finally:
        srv.terminate()
        srv.wait(10)
    return rows


def bench_quickstart(exe: list[str], tmp: Path, repeats: int) -> list[dict]:
    data = tmp / "graph"
    subprocess.run([*exe, "generate", "graph_connectivity", "--depths", "1,2,4,8,16", "--n", "100",
                    "--out", str(data), "--quiet"], check=True, capture_output=True)
    rows = []
    for flags in QUICKSTART_FLAGS:
        walls = []
        for r in range(repeats):
            out = tmp / f"qs-{len(rows)}-{r}"
            wall, calls, _ = _run(exe, ["eval", "--data", str(data), "--model", "simulated",
                                        "--strategy", "single,budget_forcing,majority@8,revision@2",
                                        "--budget", "1024,4096", "--out", str(out), "--no-progress", *flags])
            walls.append(wall)
        size = (out / "calls.jsonl").stat().st_size
        text = _text_bytes(out, data)
        rows.append({"flags": " ".join(flags) or "(defaults)", "calls": calls, "seconds": statistics.median(walls),
                     "log_bytes": size, "text_bytes": text})
        print(f"quickstart {rows[-1]['flags']}: {rows[-1]['seconds']:.1f} s, calls.jsonl {size:,} B "
              f"= {size / text:.2f}x its {text:,} B of generated text", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exe", default=f"{sys.executable} -P -m depthbench",
                    help="the depthbench command to measure (default: this interpreter's)")
    ap.add_argument("--items", type=int, default=1000, help="items (= calls) per latency-server run")
    ap.add_argument("--latency", type=float, default=0.2, help="test server latency per request, seconds")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-quickstart", action="store_true")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    a = ap.parse_args()
    exe = shlex.split(a.exe)
    version = subprocess.run([*exe, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version} ({a.exe}); load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as d:
        tmp = Path(d)
        res = {"exe": a.exe, "latency": bench_latency(exe, tmp, a.items, a.latency, a.repeats)}
        if not a.skip_quickstart:
            res["quickstart"] = bench_quickstart(exe, tmp, a.repeats)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
