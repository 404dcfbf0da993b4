"""Backend parity: the same requests in process and through llama.cpp's server (issue 16).

Runs the ``single`` request of each of N items (same prompt, same derived seed, budget B)
three ways and prints, per way, mean generated tokens, the no-answer rate, accuracy and
how many texts are identical to the in-process ones:

``llamacpp:smollm2``
    in process, depthbench's sampler (neutral: ``top_k=0, min_p=0``, no penalties);
``openai:smollm2``
    through ``python -m llama_cpp.server``, the openai backend sending the full sampler;
``server defaults``
    the same server, a request with only ``temperature``, ``top_p``, ``seed`` and
    ``max_tokens`` -- what depthbench sent before, so the server's own defaults
    (``top_k=40, min_p=0.05, repeat_penalty=1.1``) applied: the reference this fixes.

Then a ``budget_forcing`` continuation on the first items compares the continuation
prompts' token counts (server usage vs the in-process tokenizer). Run::

    nice python -P benchmarks/backend_parity.py [--task graph_connectivity] [--limit 16] [--budget 128]
        [--temperature 0.7] [--write BENCHMARKS.md]

``--write`` replaces the "Backend parity" section of the file (between its markers) or appends it.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from depthbench.baselines import Request, load_model  # noqa: E402
from depthbench.baselines._context import derive_seed  # noqa: E402
from depthbench.baselines.backends._preflight import Needs  # noqa: E402
from depthbench.tasks import build_items  # noqa: E402
from depthbench.scorers import extract, verify  # noqa: E402

START, END = "<!-- parity:start -->", "<!-- parity:end -->"


def _score(item: dict, text: str, finish: str) -> tuple[bool, bool]:
    ex = extract(text, item["answer_type"], item["meta"]["answer_space"], finish_reason=finish)
    return ex.answer is None, bool(ex.answer is not None and verify(item, ex.answer))


async def _through(model, reqs):
    out = []
    for r in reqs:
        out.append((await model.generate(r)).choices[0])
    return out


def _defaults_request(base: str, req: Request) -> tuple[str, str, int]:
    """The old request shape: the server's sampler defaults apply."""
    body = {"model": "smollm2", "messages": list(req.messages), "max_tokens": req.max_tokens,
            "temperature": req.temperature, "top_p": req.top_p, "seed": req.seeds[0]}
    data = httpx.post(f"{base}/chat/completions", json=body, timeout=600).json()
    ch = data["choices"][0]
    return ch["message"]["content"] or "", "length" if ch["finish_reason"] == "length" else "stop", \
        int(data["usage"]["completion_tokens"])


def main() -> int:
    from _servers import start_llama_server

    from depthbench.baselines.backends.llamacpp import smollm2_gguf

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="graph_connectivity")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--budget", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads on each side (default 1)")
    ap.add_argument("--write", default=None, metavar="BENCHMARKS.md")
    a = ap.parse_args()

    items = build_items(a.task, "test", n=max(1, -(-a.limit // 6)))[: a.limit]
    reqs = [Request(max_tokens=a.budget, temperature=a.temperature, top_p=1.0,
                    seeds=(derive_seed(0, it["id"], 0),), messages=({"role": "user", "content": it["prompt"]},))
            for it in items]
    t0 = time.time()
    local = load_model("llamacpp:smollm2", n_ctx=2048, n_threads=a.threads)
    loc = asyncio.run(_through(local, reqs))
    rows: dict[str, list[tuple[str, str, int]]] = {"llamacpp:smollm2 (in process)": [
        (c.text, c.finish_reason, c.completion_tokens) for c in loc]}
    with start_llama_server(smollm2_gguf(), n_ctx=2048, extra_args=("--n_threads", str(a.threads))) as base:
        server = load_model("openai:smollm2", base_url=base, concurrency=1)
        asyncio.run(server.prepare(Needs(continuation=True, temperature=a.temperature)))
        srv = asyncio.run(_through(server, reqs))
        rows["openai:smollm2 via llama_cpp.server (depthbench sampler)"] = [
            (c.text, c.finish_reason, c.completion_tokens) for c in srv]
        rows["same server, request without the sampler (server defaults)"] = [_defaults_request(base, r) for r in reqs]
        # continuation prompts: server usage vs in-process tokenizer, on a Wait continuation
        cont = [Request(max_tokens=8, temperature=a.temperature, top_p=1.0, seeds=r.seeds, messages=r.messages,
                        assistant_prefix=c.text + "\nWait,") for r, c in zip(reqs[:4], loc[:4])]
        cont_equal = sum(asyncio.run(server.generate(r)).prompt_tokens == len(local.prompt_tokens(r)) for r in cont)
        mode = server.continuation_mode
    asyncio.run(local.aclose())
    seconds = time.time() - t0

    ref = rows["llamacpp:smollm2 (in process)"]
    lines = [f"| way | mean G | no answer | accuracy | texts identical to in process |", "|---|---|---|---|---|"]
    for name, got in rows.items():
        n = len(got)
        scored = [_score(it, t, f) for it, (t, f, _) in zip(items, got)]
        same = sum(g[0] == r[0] for g, r in zip(got, ref))
        lines.append(f"| {name} | {sum(k for _, _, k in got) / n:.1f} | {sum(s[0] for s in scored) / n:.3f} | "
                     f"{sum(s[1] for s in scored) / n:.3f} | {same}/{n} |")
    lines.append(f"| `budget_forcing` continuation (mode `{mode}`): prompt tokens, server usage = in-process "
                 f"tokenizer | {cont_equal}/{len(cont)} | | | |")
    cmd = (f"python -P benchmarks/backend_parity.py --task {a.task} --limit {a.limit} --budget {a.budget} "
           f"--temperature {a.temperature}")
    section = "\n".join([START, "## Backend parity", "",
                         f"Command: `{cmd}`  ",
                         f"Machine: 2 cores ({platform.machine()}), Python {platform.python_version()}, shared "
                         f"with other jobs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {seconds:.0f} s.",
                         "", f"{a.limit} `{a.task}` items, the `single` request of each (budget {a.budget}, "
                         f"temperature {a.temperature}, the run's derived seeds), SmolLM2-135M Q4_1:", "",
                         *lines, END])
    print(section)
    if a.write:
        p = Path(a.write)
        text = p.read_text(encoding="utf-8") if p.exists() else ""
        if START in text and END in text:
            text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        p.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
