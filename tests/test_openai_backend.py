"""The openai backend against the local OpenAI-compatible test server."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import free_port, openai_server, start_test_server  # noqa: E402,F401
from openai_test_server import render_stub_chat, stub_tokens  # noqa: E402

from depthbench.baselines import BackendError, Request, load_model  # noqa: E402
from depthbench.baselines.backends.openai import OpenAICompatibleModel, normalise_base_url  # noqa: E402
from depthbench.errors import UserError  # noqa: E402

MSG = ({"role": "user", "content": "Which target is reachable from node 3?"},)


def chat(seeds=(11,), **kw):
    return Request(max_tokens=kw.pop("max_tokens", 64), temperature=kw.pop("temperature", 0.7),
                   top_p=kw.pop("top_p", 0.95), seeds=tuple(seeds), n=len(seeds), messages=MSG, **kw)


def run(coro):
    return asyncio.run(coro)


async def _gen_close(model, *reqs):
    try:
        return await asyncio.gather(*(model.generate(r) for r in reqs))
    finally:
        await model.aclose()


def test_chat_sends_sampling_params_and_counts_usage(openai_server):
    m = load_model("openai:test-model", base_url=openai_server.base_url)
    [r] = run(_gen_close(m, chat(seeds=(42,), stop=("Answer:",))))
    body = openai_server.bodies[-1]
    assert body["temperature"] == 0.7 and body["top_p"] == 0.95 and body["seed"] == 42
    assert body["max_tokens"] == 64 and body["stop"] == ["Answer:"] and "n" not in body
    [c] = r.choices
    assert c.seed == 42 and c.token_source == "server" and c.completion_tokens == len(c.text.split())
    assert "Answer:" not in c.text and c.finish_reason == "stop"
    assert r.prompt_tokens == stub_tokens(render_stub_chat(list(MSG))) and r.prompt_token_source == "server"
    assert r.attempts == 1 and r.model == "test-model"


def test_completions_endpoint_and_length_finish(openai_server):
    m = load_model("openai:test-model", base_url=openai_server.base_url)
    req = Request(max_tokens=2, temperature=1.0, top_p=1.0, seeds=(5,), prompt="Q: 2+2?\nStep 1: x=4\nWait")
    [r] = run(_gen_close(m, req))
    assert openai_server.bodies[-1]["prompt"].endswith("Wait")
    assert r.choices[0].finish_reason == "length" and r.choices[0].completion_tokens == 2


def test_fan_out_sends_one_distinct_seed_per_sample(openai_server):
    m = load_model("openai:test-model", base_url=openai_server.base_url)
    [r] = run(_gen_close(m, chat(seeds=(101, 102, 103, 104))))
    sent = sorted(b["seed"] for b in openai_server.bodies)
    assert sent == [101, 102, 103, 104] and all("n" not in b for b in openai_server.bodies)
    assert [c.seed for c in r.choices] == [101, 102, 103, 104]
    assert len({c.text for c in r.choices}) > 1
    assert all(c.token_source == "server" and c.completion_tokens == len(c.text.split()) for c in r.choices)


def test_equal_seeds_reproduce(openai_server):
    m = load_model("openai:test-model", base_url=openai_server.base_url)
    a, b = run(_gen_close(m, chat(seeds=(7,)), chat(seeds=(7,))))
    assert a.choices[0].text == b.choices[0].text


def test_native_n_with_usage_summed_over_choices_is_split(openai_server):
    m = load_model("openai:test-model", base_url=openai_server.base_url, native_n=True)
    [r] = run(_gen_close(m, chat(seeds=(1, 2, 3, 4, 5))))
    completion_calls = [b for b in openai_server.bodies if "messages" in b]
    assert len(completion_calls) == 1 and completion_calls[0]["n"] == 5 and completion_calls[0]["seed"] == 1
    assert len(r.choices) == 5
    for c in r.choices:
        assert c.token_source == "server_split" and c.completion_tokens == len(c.text.split())
    # the logged total equals what the server reported, not n times it
    assert sum(c.completion_tokens for c in r.choices) == sum(len(c.text.split()) for c in r.choices)


def test_native_n_with_wrong_usage_falls_back_to_tokenizer(caplog):
    with start_test_server(sum_usage_over_n=False) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url, native_n=True)
        with caplog.at_level(logging.WARNING, logger="depthbench.baselines.openai"):
            [r] = run(_gen_close(m, chat(seeds=(1, 2, 3))))
    assert all(c.token_source == "server_tokenize" and c.completion_tokens == len(c.text.split()) for c in r.choices)
    assert "do not add up" in caplog.text


def test_native_n_unsupported_fans_out_the_rest():
    with start_test_server(support_n=False) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url, native_n=True)
        [r] = run(_gen_close(m, chat(seeds=(1, 2, 3))))
        assert len(r.choices) == 3 and [b["seed"] for b in srv.bodies[1:]] == [2, 3]
        assert all(c.token_source == "server" for c in r.choices)


def test_missing_usage_counted_with_tokenizer():
    with start_test_server(send_usage=False) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url)
        [r] = run(_gen_close(m, chat()))
    # the server's /tokenize counts them (the test server's tokenizer is whitespace words)
    assert r.choices[0].token_source == "server_tokenize" and r.prompt_token_source == "server_tokenize"
    assert r.choices[0].completion_tokens == len(r.choices[0].text.split())


def test_faults_on_20_percent_of_calls_are_retried_and_results_unchanged(caplog):
    reqs = [chat(seeds=(s, s + 1000)) for s in range(120)]
    with start_test_server() as clean:
        expected = run(_gen_close(load_model("openai:m", base_url=clean.base_url), *reqs))
    with start_test_server(fault_rate=0.2, hang_s=0.6, fault_seed=3) as srv:
        m = OpenAICompatibleModel("m", base_url=srv.base_url, concurrency=8, retries=10, timeout=0.25,
                                  backoff_base=0.01, backoff_max=0.05, jitter_seed=0)
        with caplog.at_level(logging.WARNING, logger="depthbench.baselines.openai"):
            got = run(_gen_close(m, *reqs))
        faults = {k: v for k, v in srv.stats.items() if k.startswith("fault_")}
    assert set(faults) == {"fault_429", "fault_500", "fault_timeout", "fault_malformed"}
    assert sum(faults.values()) >= 0.1 * 240
    assert [[c.text for c in r.choices] for r in got] == [[c.text for c in r.choices] for r in expected]
    assert any(r.attempts > 1 for r in got)
    # one line per kind of failure per 10 s, the repeats counted ("and N more ... not shown")
    import re

    shown = caplog.text.count("retrying in")
    held = sum(int(n) for n in re.findall(r"(\d+) more (?:such )?retries", caplog.text))
    assert shown + held == sum(faults.values()) and shown < sum(faults.values())
    for kind in ("HTTP 429", "HTTP 500", "timeout", "malformed JSON"):
        assert kind in caplog.text


def test_retries_exhausted_raise_backend_error():
    with start_test_server(fault_rate=1.0, fault_kinds=("500",)) as srv:
        m = OpenAICompatibleModel("m", base_url=srv.base_url, retries=2, backoff_base=0.001)
        with pytest.raises(BackendError, match="3 attempts: HTTP 500"):
            run(_gen_close(m, chat()))


def test_unreachable_server_is_backend_error():
    m = OpenAICompatibleModel("m", base_url=f"http://127.0.0.1:{free_port()}/v1", retries=1, backoff_base=0.001)
    with pytest.raises(BackendError, match="connection error"):
        run(_gen_close(m, chat()))


def test_client_errors_are_user_errors(openai_server):
    m = load_model("openai:m", base_url=openai_server.base_url.replace("/v1", "/v2"))
    with pytest.raises(UserError, match="HTTP 404"):
        run(_gen_close(m, chat()))


def test_assistant_prefix_needs_server_support(openai_server):
    req = chat(assistant_prefix="Step 1: x=4")
    with pytest.raises(UserError, match="continue_final_message"):
        run(_gen_close(load_model("openai:m", base_url=openai_server.base_url), req))
    m = load_model("openai:m", base_url=openai_server.base_url, continue_final_message=True)
    assert m.capabilities.assistant_prefix
    run(_gen_close(m, req))
    body = openai_server.bodies[-1]
    assert body["messages"][-1] == {"role": "assistant", "content": "Step 1: x=4"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_base_url_and_key_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.1:8000")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    m = load_model("openai:m")
    assert m.base_url == "http://10.0.0.1:8000/v1" and m.api_key == "sk-test"
    m = load_model("openai:m", base_url="http://h:1/v1/", api_key="k2")
    assert m.base_url == "http://h:1/v1" and m.api_key == "k2"


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://x", ""])
def test_bad_base_url(url):
    with pytest.raises(UserError, match="--base-url"):
        normalise_base_url(url)


@pytest.mark.parametrize("kw,match", [({"concurrency": 0}, "--concurrency"), ({"retries": -1}, "--retries"),
                                      ({"timeout": 0}, "--timeout")])
def test_bad_options(kw, match):
    with pytest.raises(UserError, match=match):
        load_model("openai:m", base_url="http://127.0.0.1:1", **kw)


def test_list_models(openai_server):
    m = load_model("openai:m", base_url=openai_server.base_url)

    async def go():
        try:
            return await m.list_models()
        finally:
            await m.aclose()
    [info] = run(go())
    assert info["id"] == "test-model" and info["max_model_len"] == 4096


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after():
    m = OpenAICompatibleModel("m", base_url="http://127.0.0.1:1", backoff_base=0.5, backoff_max=4.0, jitter_seed=1)
    for attempt, cap in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)):
        delays = [m._delay(attempt, None) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= cap and max(delays) > 0.8 * cap
    assert m._delay(1, 3.0) >= 3.0 and m._delay(1, 100.0) == 4.0
    again = OpenAICompatibleModel("m", base_url="http://127.0.0.1:1", jitter_seed=1)
    first = OpenAICompatibleModel("m", base_url="http://127.0.0.1:1", jitter_seed=1)
    assert [again._delay(2, None) for _ in range(5)] == [first._delay(2, None) for _ in range(5)]


# ------------------------------------------------------------------ missing usage, deadlines, dead servers

def test_missing_usage_without_tokenize_is_a_stated_estimate():
    """No usage, no /tokenize, no tokenizer: the call still succeeds, with the estimate's source."""
    from depthbench.baselines.backends._tokenizer import estimate_tokens

    with start_test_server(send_usage=False, tokenize_endpoint=False) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url)
        [r] = run(_gen_close(m, chat()))
    c = r.choices[0]
    assert c.token_source == "estimate" and c.completion_tokens == min(estimate_tokens(c.text), 64)
    assert r.prompt_token_source == "estimate" and r.prompt_tokens == estimate_tokens(MSG[0]["content"])


def test_missing_usage_with_a_named_tokenizer(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["think step carry value node check so then next path sum edge Answer: 1 2 3"],
                            trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    with start_test_server(send_usage=False, tokenize_endpoint=False) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url, tokenizer=str(tmp_path / "tokenizer.json"))
        [r] = run(_gen_close(m, chat()))
    c = r.choices[0]
    assert c.token_source == "tokenizer"
    assert c.completion_tokens == len(tok.encode(c.text, add_special_tokens=False).ids)


def test_length_cut_choice_without_usage_counts_max_tokens():
    def long(prompt, seed, index, max_tokens):
        return " ".join(["word"] * 500)

    with start_test_server(send_usage=False, tokenize_endpoint=False, responder=long) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url)
        [r] = run(_gen_close(m, chat(max_tokens=16)))
    assert r.choices[0].finish_reason == "length" and r.choices[0].completion_tokens == 16


def test_timeout_bounds_the_whole_attempt_of_a_trickling_server():
    """One byte every 0.5 s: each read is quick, the attempt is not; --timeout 1 ends it after ~1 s."""
    import time

    with start_test_server(fault_rate=1.0, fault_kinds=("trickle",), trickle_s=0.5) as srv:
        m = OpenAICompatibleModel("m", base_url=srv.base_url, retries=1, timeout=1.0, backoff_base=0.01)
        t0 = time.monotonic()
        with pytest.raises(BackendError, match="2 attempts"):
            run(_gen_close(m, chat()))
        assert time.monotonic() - t0 < 4.0


def test_preflight_fails_fast_on_a_dead_port():
    """One server: a single short GET /models, not every unit retrying against a dead address."""
    import time

    m = OpenAICompatibleModel("m", base_url=f"http://127.0.0.1:{free_port()}/v1", retries=6, timeout=120)
    t0 = time.monotonic()
    with pytest.raises(UserError, match="cannot reach") as e:
        run(m.preflight())
    assert e.value.exit_code == 1 and time.monotonic() - t0 < 5.0
    with start_test_server() as srv:  # a live one passes
        run(OpenAICompatibleModel("m", base_url=srv.base_url).preflight())


# --------------------------------------------------------------------------- reported counts are bounded
def _gold_responder(items, words):
    def reply(prompt, seed, index, max_tokens):
        gold = next((str(it["answer"]) for it in items if it["prompt"] in prompt), "0")  # "0": the pre-flight probe
        return "reasoning " * words + f"Answer: {gold}"
    return reply


@pytest.mark.parametrize("words,budget,cut", [(2000, 64, True), (40, 256, False)])
def test_a_server_understating_usage_is_bounded_and_cut_at_the_budget(tmp_path, caplog, words, budget, cut):
    """A server that sends ~2,000 words and says usage.completion_tokens 1 under --budget 64
    is not credited with G=1: the count is raised to the pre-token floor, which is over the
    budget, so the reply is cut there (no Answer line, finish length, credit 0). Under a
    budget the text fits, the count is still raised (G >= floor) but the answer stands."""
    import json

    from depthbench.baselines._calllog import read_calls
    from depthbench.baselines.backends._tokenizer import least_tokens
    from depthbench.cli import main
    from depthbench.tasks import build_items
    from depthbench.io import read_jsonl, write_jsonl_atomic

    items = build_items("graph_connectivity", "test", depths=[1, 2], n=2)
    write_jsonl_atomic(tmp_path / "test.jsonl", items)
    out = tmp_path / "run"
    with start_test_server(lie_tokens=1, responder=_gold_responder(items, words)) as srv:
        with caplog.at_level(logging.WARNING):
            assert main(["eval", "--data", str(tmp_path / "test.jsonl"), "--model", "openai:test-model",
                         "--base-url", srv.base_url, "--strategy", "single", "--budget", str(budget),
                         "--out", str(out), "--no-progress"]) == 0
    calls = [r for _, r in read_calls(out / "calls.jsonl", {it["id"]: it for it in items})]
    assert len(calls) == 4
    for c in calls:
        u = c["usage"]
        assert u["reported_completion_tokens"] == 1 and u["count_corrected"] == "pre-token floor"
        if cut:
            assert u["completion_tokens"] == budget and c["finish_reason"] == "length" and "Answer" not in c["text"]
        else:
            assert u["completion_tokens"] == least_tokens(c["text"]) > 1 and "Answer" in c["text"]
    outcomes = list(read_jsonl(out / "outcomes.jsonl"))
    assert [o["credit"] for o in outcomes] == ([0.0] * 4 if cut else [1.0] * 4)
    assert all(o["generated_tokens"] <= budget for o in outcomes)
    assert caplog.text.count("reported fewer tokens than its text holds") == 1  # once per run
    assert json.loads((out / "run.json").read_text())["config"]["budgets"] == [budget]


def test_an_honest_servers_counts_are_not_corrected(tmp_path):
    from depthbench.cli import main
    from depthbench.io import read_jsonl

    with start_test_server() as srv:
        assert main(["eval", "--task", "graph_connectivity", "--limit", "3", "--model", "openai:test-model",
                     "--base-url", srv.base_url, "--strategy", "single,majority@3", "--budget", "256",
                     "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    calls = list(read_jsonl(tmp_path / "r" / "calls.jsonl"))
    assert calls and not any({"count_corrected", "reported_completion_tokens", "prompt_count_corrected",
                              "reported_prompt_tokens"} & set(c["usage"]) for c in calls)


@pytest.mark.parametrize("route", ["chat", "completions"])
def test_a_server_understating_prompt_tokens_is_bounded_by_the_text_sent(route, caplog):
    """A server saying usage.prompt_tokens 1 for a ~1,100-character prompt is not recorded
    with P = 1: the count is raised to least_tokens of the text sent (message contents or
    the raw prompt), the reported value is kept, and one warning per run says so."""
    from depthbench.baselines._context import CallContext
    from depthbench.baselines.backends._tokenizer import least_tokens
    from depthbench.tasks import build_items

    [item] = build_items("graph_connectivity", "test", depths=[2], n=1)
    floor = least_tokens(item["prompt"])
    assert floor > 300  # the case is not trivial: the prompt is long

    async def go(m):
        ctx = CallContext(item, "single", 256, m)
        req = ({"messages": ctx.user_messages(), "max_tokens": 32, "n": 2} if route == "chat"
               else {"prompt": item["prompt"], "max_tokens": 32})
        try:
            first = await ctx.call(req)
            second = await ctx.call(dict(req, n=1), sample=5)
        finally:
            await m.aclose()
        return ctx, first + second

    with start_test_server(lie_prompt_tokens=1) as srv:
        with caplog.at_level(logging.WARNING):
            ctx, recs = run(go(OpenAICompatibleModel("test-model", base_url=srv.base_url, native_n=True)))
    assert srv.bodies[-1].get("prompt" if route == "completions" else "messages") is not None
    assert len(recs) == (3 if route == "chat" else 2)
    for r in recs:
        u = r["usage"]
        assert u["prompt_tokens"] == floor and u["reported_prompt_tokens"] == 1
        assert u["prompt_count_corrected"] == "pre-token floor" and "count_corrected" not in u
    # P of the outcome is built from the corrected counts, so the mean P is not understated
    assert ctx.outcome(None, 0.0)["processed_tokens"] >= floor * len(recs)
    assert caplog.text.count("reported fewer prompt tokens than the request sent holds") == 1


def test_an_honest_servers_prompt_counts_are_kept_as_reported(tmp_path):
    """The stub's prompt counts are at least the floor: kept as the server stated them."""
    from depthbench.baselines._context import CallContext
    from depthbench.tasks import build_items

    [item] = build_items("multihop_arithmetic", "test", depths=[3], n=1)

    async def go(m):
        ctx = CallContext(item, "single", 256, m)
        try:
            return await ctx.call({"messages": ctx.user_messages(), "max_tokens": 32})
        finally:
            await m.aclose()

    with start_test_server() as srv:
        [rec] = run(go(OpenAICompatibleModel("test-model", base_url=srv.base_url)))
    u = rec["usage"]
    assert u["prompt_tokens"] == stub_tokens(render_stub_chat(list(rec["request"]["messages"])))
    assert u["prompt_source"] == "server" and "reported_prompt_tokens" not in u and "prompt_count_corrected" not in u
