"""Backend throughput benchmarks (issue 4, item 8).

1. Harness overhead: calls/s of the ``openai`` backend against the zero-latency local test
   server (``tests/openai_test_server.py``, run in its own process so client and server
   each get a core). Target: >= 1,000 calls/s on 2 cores.
2. Real model: generated tokens/s through ``python -m llama_cpp.server`` (SmolLM2-135M),
   via the harness vs direct ``httpx`` requests with identical bodies in the same run,
   interleaved (direct, harness, direct, harness, ...). Equal seeds give equal outputs,
   so both sides generate the same tokens. Target: harness >= 95% of direct.
3. The simulated reasoner: ``simulate_batch`` samples/s (target >= 100,000) and text
   backend choices/s.

Run::

    python -P benchmarks/backend_bench.py [--calls 5000] [--llama-requests 12] [--write BENCHMARKS.md]

``--write`` replaces the "Backends" section of the file (between its markers) or appends it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from depthbench.baselines import Request, load_model  # noqa: E402
from depthbench.baselines import _simulated_theory as S  # noqa: E402

START, END = "<!-- backends:start -->", "<!-- backends:end -->"
MSGS = ({"role": "user", "content": "Variables: a = 3, b = a + 4, c = b * 2 (mod 11). What is c? "
                                    "Think step by step, then write 'Answer: N'."},)


def _request(seed: int, max_tokens: int) -> Request:
    return Request(max_tokens=max_tokens, temperature=1.0, top_p=1.0, seeds=(seed,), messages=MSGS)


def bench_harness(calls: int, concurrency: int) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, "-P", str(HERE.parent / "tests" / "openai_test_server.py"),
                             "--lifetime", "300"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        model = load_model("openai:test-model", base_url=f"http://127.0.0.1:{port}/v1", concurrency=concurrency)

        async def go() -> tuple[float, float, float]:
            await asyncio.gather(*(model.generate(_request(s, 32)) for s in range(200)))  # warm up
            s0 = _proc_cpu(proc.pid)
            c0 = time.process_time()
            t0 = time.perf_counter()
            sem = asyncio.Semaphore(4 * concurrency)   # bounded task fan-in, like the runner

            async def one(s: int) -> None:
                async with sem:
                    await model.generate(_request(s, 32))
            await asyncio.gather(*(one(s) for s in range(calls)))
            dt = time.perf_counter() - t0
            client_cpu = time.process_time() - c0
            server_cpu = _proc_cpu(proc.pid) - s0
            await model.aclose()
            return dt, client_cpu, server_cpu

        load = os.getloadavg()[0]
        dt, ccpu, scpu = asyncio.run(go())
        return {"calls": calls, "seconds": dt, "calls_per_s": calls / dt, "concurrency": concurrency,
                "client_calls_per_cpu_s": calls / ccpu, "server_calls_per_cpu_s": calls / scpu,
                "two_core_estimate": calls / max(ccpu, scpu), "load": load}
    finally:
        proc.terminate()
        proc.wait(10)


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_llama(n_requests: int, max_tokens: int, rounds: int) -> dict[str, float] | None:
    try:
        from depthbench.baselines.backends.llamacpp import smollm2_gguf

        gguf = smollm2_gguf()
    except Exception as e:  # noqa: BLE001 - optional part of the benchmark
        print(f"llama.cpp part skipped: {e}", file=sys.stderr)
        return None
    from _servers import start_llama_server

    with start_llama_server(gguf, n_ctx=2048) as base:
        model = load_model("openai:smollm2", base_url=base, concurrency=1)
        seeds = list(range(100, 100 + n_requests))

        async def harness(seed: int) -> tuple[int, float]:
            t0 = time.perf_counter()
            r = await model.generate(_request(seed, max_tokens))
            return r.choices[0].completion_tokens, time.perf_counter() - t0

        async def direct(client: httpx.AsyncClient, seed: int) -> tuple[int, float]:
            t0 = time.perf_counter()
            body = {"model": "smollm2", "messages": list(MSGS), "max_tokens": max_tokens, "temperature": 1.0,
                    "top_p": 1.0, "seed": seed}
            r = await client.post(f"{base}/chat/completions", json=body)
            return r.json()["usage"]["completion_tokens"], time.perf_counter() - t0

        async def go() -> dict[str, float]:
            # Interleaved per request, alternating which side goes first, so the machine's
            # changing load hits both sides alike; equal seeds make both generate the same tokens.
            tok = {"direct": 0, "harness": 0}
            sec = {"direct": 0.0, "harness": 0.0}
            async with httpx.AsyncClient(timeout=300) as client:
                await direct(client, seeds[0])          # warm up both paths
                await harness(seeds[0])
                k = 0
                for _ in range(rounds):
                    for seed in seeds:
                        order = ("direct", "harness") if k % 2 == 0 else ("harness", "direct")
                        k += 1
                        for side in order:
                            t, dt = await (direct(client, seed) if side == "direct" else harness(seed))
                            tok[side] += t
                            sec[side] += dt
            await model.aclose()
            d, h = tok["direct"] / sec["direct"], tok["harness"] / sec["harness"]
            return {"direct_tok_s": d, "harness_tok_s": h, "ratio": h / d, "tokens_per_round": tok["harness"] / rounds,
                    "same_tokens": float(tok["harness"] == tok["direct"]), "rounds": rounds, "requests": n_requests,
                    "max_tokens": max_tokens}

        return asyncio.run(go())


def bench_simulated() -> dict[str, float]:
    S.simulate_batch(8, 128, 100, 8, seed=0)
    t0 = time.perf_counter()
    b = S.simulate_batch(8, 128, 50_000, 16, eps=0.02, rho=0.1, n_answers=2, seed=1)
    mc = b.codes.size / (time.perf_counter() - t0)
    item = {"id": "bench", "depth": 8, "answer": "7", "solution_trace": list(range(9)),
            "meta": {"answer_space": {"labels": ["7", "8"]}}}
    model = load_model("simulated")
    req = Request(max_tokens=256, temperature=1.0, top_p=1.0, seeds=tuple(range(64)), n=64, messages=MSGS, item=item)
    t0 = time.perf_counter()
    for _ in range(20):
        asyncio.run(model.generate(req))
    text = 20 * 64 / (time.perf_counter() - t0)
    return {"mc_samples_per_s": mc, "text_choices_per_s": text}


def render(h: dict, ll: dict | None, sim: dict, argv: list[str]) -> str:
    lines = [START, "## Backends", "",
             f"Command: `python -P benchmarks/backend_bench.py {' '.join(argv)}`".rstrip() + "  ",
             f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}, "
             f"shared with other jobs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| measure | result | target |", "|---|---|---|",
             f"| harness calls/s vs zero-latency test server ({h['calls']} calls, concurrency {h['concurrency']}), "
             f"wall clock, load average {h['load']:.1f} at start | {h['calls_per_s']:,.0f} | >= 1,000 |",
             f"| same run: calls per CPU-second of the harness process / of the server process "
             f"| {h['client_calls_per_cpu_s']:,.0f} / {h['server_calls_per_cpu_s']:,.0f} | - |",
             f"| same run: capacity on 2 otherwise idle cores (one each), calls / max(CPU s) "
             f"| {h['two_core_estimate']:,.0f} | >= 1,000 |"]
    if ll is not None:
        lines.append(f"| llama.cpp server, SmolLM2-135M: harness tokens/s / direct httpx tokens/s "
                     f"({ll['rounds']} rounds x {ll['requests']} requests x <= {ll['max_tokens']} tokens, interleaved per request) "
                     f"| {ll['harness_tok_s']:.1f} / {ll['direct_tok_s']:.1f} = {100 * ll['ratio']:.1f}% "
                     f"(same tokens: {'yes' if ll['same_tokens'] else 'no'}) | >= 95% |")
    else:
        lines.append("| llama.cpp server | skipped (extra not installed) | >= 95% |")
    lines += [f"| simulated reasoner, `simulate_batch` samples/s | {sim['mc_samples_per_s']:,.0f} | >= 100,000 |",
              f"| simulated reasoner, text backend choices/s | {sim['text_choices_per_s']:,.0f} | - |", END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + section.rstrip("\n") + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--llama-requests", type=int, default=8)
    ap.add_argument("--llama-max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-llama", action="store_true")
    ap.add_argument("--write", metavar="FILE", default=None)
    a = ap.parse_args()
    h = bench_harness(a.calls, a.concurrency)
    print(f"harness: {h['calls_per_s']:,.0f} calls/s wall (load {h['load']:.1f}); "
          f"{h['client_calls_per_cpu_s']:,.0f} calls per client CPU-s, {h['server_calls_per_cpu_s']:,.0f} per server CPU-s",
          flush=True)
    sim = bench_simulated()
    print(f"simulated: {sim['mc_samples_per_s']:,.0f} samples/s (Monte Carlo), {sim['text_choices_per_s']:,.0f} "
          "choices/s (text)", flush=True)
    ll = None if a.no_llama else bench_llama(a.llama_requests, a.llama_max_tokens, a.rounds)
    if ll:
        print(f"llama.cpp: harness {ll['harness_tok_s']:.1f} tok/s, direct {ll['direct_tok_s']:.1f} tok/s, "
              f"ratio {100 * ll['ratio']:.1f}%", flush=True)
    section = render(h, ll, sim, sys.argv[1:])
    print(section)
    if a.write:
        write_section(Path(a.write), section)


if __name__ == "__main__":
    main()
