"""The openai backend on several servers, behind proxies, with --model-args / --extra-body."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import pytest

from depthbench.baselines import Request, load_model
from depthbench.baselines._http import ServerPool, proxy_for, redact_url
from depthbench.baselines.backends import option_types
from depthbench.cli import main

sys.path.insert(0, os.path.dirname(__file__))
from _servers import free_port, start_http_proxy, start_test_server  # noqa: E402

EVAL = ["eval", "--task", "graph_connectivity", "--model", "openai:test-model", "--strategy", "single,majority@4",
        "--budget", "256", "--no-progress"]


def _req(seed: int) -> Request:
    return Request(max_tokens=16, temperature=1.0, top_p=1.0, seeds=(seed,),
                   messages=({"role": "user", "content": f"question {seed}"},))


def _texts(model, seeds):
    async def go():
        try:
            return [r.choices[0].text for r in await asyncio.gather(*(model.generate(_req(s)) for s in seeds))]
        finally:
            await model.aclose()
    return asyncio.run(go())


# --------------------------------------------------------------------------- several servers
def test_requests_spread_over_servers_and_results_match_one_server(tmp_path, capsys):
    with start_test_server(latency_s=0.01) as a, start_test_server(latency_s=0.01) as b:
        assert main([*EVAL, "--limit", "20", "--base-url", a.base_url, "--out", str(tmp_path / "one")]) == 0
        a.stats.clear()
        assert main([*EVAL, "--limit", "20", "--base-url", a.base_url, "--base-url", b.base_url,
                     "--out", str(tmp_path / "two")]) == 0
        out = capsys.readouterr().out
        # 100 item calls, and the pre-flight's one-token probe of the request fields
        assert a.stats["ok"] > 30 and b.stats["ok"] > 30 and a.stats["ok"] + b.stats["ok"] == 100 + 1
        assert "requests per server:" in out
    one = (tmp_path / "one" / "outcomes.jsonl").read_text().splitlines()
    two = (tmp_path / "two" / "outcomes.jsonl").read_text().splitlines()
    assert sorted(one) == sorted(two)  # replicas with honoured seeds: the same outcomes, whichever served
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert [s["base_url"] for s in run["servers"]] == [a.base_url, b.base_url]


def test_comma_list_is_the_same_as_repeating_the_flag(tmp_path):
    with start_test_server() as a, start_test_server() as b:
        assert main([*EVAL, "--limit", "6", "--base-url", f"{a.base_url},{b.base_url}", "--out", str(tmp_path / "r")]) == 0
        assert a.stats["ok"] and b.stats["ok"]


def test_an_unreachable_second_server_is_refused_before_anything_is_written(tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with start_test_server() as a:
        rc = main([*EVAL, "--limit", "4", "--base-url", a.base_url, "--base-url", dead, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    # exit 1, as for one unreachable server (test_runner.py::test_unreachable_server_is_one_line_and_resumable)
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"--base-url {dead} (server 2 of 2): unreachable" in err and "start that server" in err
    assert not (tmp_path / "r").exists()


def test_a_server_that_dies_mid_run_is_skipped_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="depthbench.baselines.openai")
    with start_test_server(latency_s=0.02) as a, start_test_server(latency_s=0.02) as b:
        killer = {"n": 0}
        orig = b._route

        async def route(method, path, body):
            killer["n"] += 1
            if killer["n"] == 15:  # b goes away for good after a few requests
                b._loop.call_soon(b._stop.set)
            return await orig(method, path, body)
        b._route = route
        assert main([*EVAL, "--limit", "30", "--base-url", a.base_url, "--base-url", b.base_url,
                     "--out", str(tmp_path / "r")]) == 0
    warned = [r.getMessage() for r in caplog.records if "skipped, requests go to the 1 other server" in r.getMessage()]
    assert len(warned) == 1 and b.base_url in warned[0]
    outcomes = (tmp_path / "r" / "outcomes.jsonl").read_text().splitlines()
    assert len(outcomes) == 60  # every unit finished on the server that stayed


def test_timeouts_with_many_in_flight_halve_the_servers_limit():
    pool = ServerPool(["http://127.0.0.1:9/v1"], concurrency=64)
    s = pool.servers[0]
    s.inflight = 40
    pool.timed_out(s)
    assert s.limit == 20
    s.inflight = 30  # more in flight than the new limit (already admitted): never raised again
    pool.timed_out(s)
    assert s.limit == 15
    s.inflight = 1
    pool.timed_out(s)
    assert s.limit == 15  # one slow request alone says nothing about the server


# --------------------------------------------------------------------------- proxies
@pytest.mark.parametrize("env,url,want", [
    ({"HTTP_PROXY": "http://p:1"}, "http://10.1.2.3:8000/v1", ("http://p:1", "HTTP_PROXY")),
    ({"HTTP_PROXY": "http://p:1"}, "https://api.example.com/v1", (None, "")),
    ({"HTTPS_PROXY": "http://p:2", "ALL_PROXY": "http://p:3"}, "https://api.example.com/v1", ("http://p:2", "HTTPS_PROXY")),
    ({"ALL_PROXY": "http://p:3"}, "http://h:1/v1", ("http://p:3", "ALL_PROXY")),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "localhost,127.0.0.1"}, "http://127.0.0.1:8000/v1", (None, "NO_PROXY")),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": ".example.com"}, "http://gpu3.example.com/v1", (None, "NO_PROXY")),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "http://gpu3.example.com/v1", (None, "NO_PROXY")),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "http://notexample.com/v1", ("http://p:1", "HTTP_PROXY")),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3:8000/v1", (None, "NO_PROXY")),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "*"}, "http://anything:1/v1", (None, "NO_PROXY")),
    ({"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"}, "http://h:1/v1", ("http://lower:1", "HTTP_PROXY")),
])
def test_proxy_choice_follows_the_environment_like_httpx_and_requests(monkeypatch, env, url, want):
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert proxy_for(url) == want
    assert proxy_for(url, trust_env=False) == (None, "")
    assert proxy_for(url, proxy="") == (None, "option")


def test_requests_go_through_the_proxy_from_the_environment(monkeypatch):
    with start_test_server() as srv, start_http_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy["url"])
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        texts = _texts(load_model("openai:test-model", base_url=srv.base_url), range(3))
        assert len(proxy["requests"]) == 3 and all(r.startswith(srv.base_url) for r in proxy["requests"])
        direct = _texts(load_model("openai:test-model", base_url=srv.base_url, trust_env=False), range(3))
        assert direct == texts and len(proxy["requests"]) == 3  # trust_env=False: straight to the server
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        _texts(load_model("openai:test-model", base_url=srv.base_url), range(2))
        assert len(proxy["requests"]) == 3  # bypassed


def test_explicit_proxy_option_and_a_dead_proxy_named_in_the_error(tmp_path, monkeypatch, capsys):
    for k in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    with start_test_server() as srv, start_http_proxy() as proxy:
        _texts(load_model("openai:test-model", base_url=srv.base_url, proxy=proxy["url"]), [1])
        assert len(proxy["requests"]) == 1
        dead = f"http://127.0.0.1:{free_port()}"
        monkeypatch.setenv("HTTP_PROXY", dead)
        rc = main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url])
        out = capsys.readouterr().out
        assert rc == 1 and "reachable  fail" in out and f"through the proxy {dead} from HTTP_PROXY" in out
        assert "NO_PROXY=127.0.0.1" in out


def test_redact_url_hides_user_information():
    assert redact_url("http://me:s3cret@proxy:3128") == "http://***@proxy:3128"
    assert redact_url("https://tok3n@host/v1") == "https://***@host/v1"
    assert redact_url("http://proxy:3128") == "http://proxy:3128"
    assert redact_url("not a url") == "not a url"


# --------------------------------------------------------------------------- secrets
SECRETS = ("sk-HDR456", "KEY789", "ppw", "BODYKEY", "sk-FLAG1", "upw")


@pytest.mark.parametrize("argv,want", [
    (["--api-key", "sk-1", "--budget", "64"], ["--api-key", "<redacted>", "--budget", "64"]),
    (["--api-key=sk-1", "--budget", "64"], ["--api-key=<redacted>", "--budget", "64"]),
    (["--api-key", "64", "--budget", "64"], ["--api-key", "<redacted>", "--budget", "64"]),  # same text elsewhere kept
    (["--api-k", "sk-1"], ["--api-k", "<redacted>"]),  # argparse abbreviation
    (["--base-url", "http://u:p@h:1/v1,http://h2/v1"], ["--base-url", "http://***@h:1/v1,http://h2/v1"]),
    (["--base-url=http://u:p@h:1"], ["--base-url=http://***@h:1"]),
    (["--model-args", '{"headers": {"X-Api-Key": "k"}, "proxy": "http://a:b@p:3"}'],
     ["--model-args", '{"headers": {"X-Api-Key": "<redacted>"}, "proxy": "http://***@p:3"}']),
    (["--extra-body={\"api_key\": \"k\", \"top_k\": 3}"], ['--extra-body={"api_key": "<redacted>", "top_k": 3}']),
    (["--model-args", "@opts.json"], ["--model-args", "@opts.json"]),
    (["--model", "openai:m", "--out", "r"], ["--model", "openai:m", "--out", "r"]),  # --model is not --model-args
])
def test_recorded_argv_is_redacted_by_parsing(argv, want):
    from depthbench.baselines.backends import redact_argv

    flags = ["--api-key", "--budget", "--base-url", "--model-args", "--extra-body", "--model", "--out"]
    assert redact_argv(argv, flags) == want


def test_no_secret_reaches_the_run_folder_messages_or_logs(tmp_path, monkeypatch, capsys, caplog):
    for k in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    with start_test_server() as srv, start_http_proxy() as proxy:
        url = srv.base_url.replace("http://", "http://user:upw@")
        argv = [*EVAL, "--limit", "2", "--base-url", url, "--out", str(tmp_path / "r"), "--api-key=sk-FLAG1",
                "--model-args", json.dumps({"headers": {"X-Api-Key": "KEY789"},
                                            "proxy": proxy["url"].replace("http://", "http://pu:ppw@")}),
                "--extra-body", '{"api_key": "BODYKEY"}']
        monkeypatch.setattr(sys, "argv", ["depthbench", *argv])
        with caplog.at_level(logging.INFO):
            assert main(argv) == 0
        assert len(proxy["requests"]) > 1
        # the URL's credentials are sent as Basic auth only when no other Authorization is set
        assert all(a == "Bearer sk-FLAG1" for a in srv.authorizations)
        _texts(load_model("openai:test-model", base_url=url, proxy=""), [1])
        assert srv.authorizations[-1] == "Basic dXNlcjp1cHc="  # base64 of user:upw
        # a dead server behind the same credentials: the error names neither
        dead = f"http://user:upw@127.0.0.1:{free_port()}/v1"
        rc = main([*EVAL, "--limit", "2", "--base-url", dead, "--out", str(tmp_path / "dead"),
                   "--model-args", json.dumps({"proxy": proxy["url"].replace("http://", "http://pu:ppw@")})])
    out = capsys.readouterr()
    assert rc == 1 and "NO_PROXY=127.0.0.1" in out.err
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["base_url"].startswith("http://***@127.0.0.1:") and "--budget" in run["argv"]
    assert run["servers"][0]["base_url"] == srv.base_url
    seen = [out.out, out.err, caplog.text] + [f.read_text() for f in (tmp_path / "r").iterdir()]
    for secret in (*SECRETS, "user:"):
        assert not any(secret in text for text in seen), secret


# --------------------------------------------------------------------------- --model-args / --extra-body
def test_extra_body_reaches_every_request_and_is_recorded_without_secrets(tmp_path):
    with start_test_server() as srv:
        rc = main([*EVAL, "--limit", "3", "--base-url", srv.base_url, "--out", str(tmp_path / "r"),
                   "--extra-body", '{"chat_template_kwargs": {"enable_thinking": false}, "reasoning_effort": "low"}',
                   "--model-args", '{"headers": {"Authorization": "Bearer sk-live-123", "X-Route": "pool-a"},'
                                   ' "proxy": "", "backoff_max": 2}'])
        assert rc == 0
        bodies = srv.bodies
    assert len(bodies) == 15 + 1  # 15 item calls and the pre-flight's probe of the request fields
    assert all(b["chat_template_kwargs"] == {"enable_thinking": False} and b["reasoning_effort"] == "low"
               for b in bodies)
    text = (tmp_path / "r" / "run.json").read_text()
    assert "sk-live-123" not in text
    opts = json.loads(text)["config"]["model_options"]
    assert opts == {"backoff_max": 2, "extra_body": {"chat_template_kwargs": {"enable_thinking": False},
                                                     "reasoning_effort": "low"},
                    "headers": {"Authorization": "<redacted>", "X-Route": "pool-a"}, "proxy": ""}


@pytest.mark.parametrize("flags,msg", [
    (["--model-args", '{"native_n": true'], "--model-args: not valid JSON"),
    (["--model-args", "[1, 2]"], "--model-args: must be a JSON object"),
    (["--extra-body", "{'a': 1}"], "--extra-body: not valid JSON"),
    (["--model-args", '{"nativ_n": true}'], "'nativ_n' is not an option of the openai backend"),
    (["--model-args", '{"api_key": "x"}'], "use --api-key instead"),
    (["--model-args", "@/no/such/file.json"], "--model-args: cannot read"),
])
def test_bad_model_args_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, flags, msg):
    rc = main([*EVAL, "--limit", "2", "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "r"), *flags])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


#: one wrong-typed value per option of the table, and the words the message must hold
_WRONG = {"bool": ("yes", "true or false"), "bool|null": ("no", "true, false or null"),
          "int": ("4", "an integer"), "int|null": (1.5, "an integer or null"), "number": ("x", "a number"),
          "string": (5, "a string"), "string|null": (5, "a string or null"),
          "object|null": ([1], "a JSON object or null"), "object of strings|null": ({"a": 1}, "an object of strings"),
          "python": ("f", "a Python callable")}
_TYPED = [(provider, name, kind) for provider, table in sorted(option_types().items())
          for name, kind in sorted(table.items())]


def test_option_type_table_covers_every_backend_option():
    import inspect

    from depthbench.baselines.backends import _OWN_FLAGS, get_backend

    assert set(option_types()) == {"openai", "llamacpp", "replay"}  # simulated checks its own values
    for provider, table in option_types().items():
        cls = get_backend(provider).model_class
        params = list(inspect.signature(cls.__init__).parameters)[2:]
        assert sorted(table) == sorted(p for p in params if p not in _OWN_FLAGS), provider


@pytest.mark.parametrize("provider,name,kind", _TYPED, ids=[f"{p}-{n}" for p, n, _ in _TYPED])
def test_a_wrong_typed_option_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, provider, name, kind):
    model = {"openai": "openai:test-model", "llamacpp": "llamacpp:smollm2", "replay": f"replay:{tmp_path}/x.jsonl"}
    value, words = _WRONG[kind]
    base = ["--base-url", "http://127.0.0.1:9/v1"] if provider == "openai" else []
    rc = main(["eval", "--task", "graph_connectivity", "--limit", "2", "--model", model[provider], "--strategy",
               "single", "--budget", "64", "--out", str(tmp_path / "r"), *base,
               "--model-args", json.dumps({name: value})])
    err = capsys.readouterr().err
    assert rc == 2 and f"--model-args: {name} must be {words}" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err and not (tmp_path / "r").exists()


def test_doctor_refuses_a_wrong_typed_option_in_one_line(capsys):
    rc = main(["doctor", "--model", "openai:test-model", "--base-url", "http://127.0.0.1:9/v1",
               "--model-args", '{"proxy": 5}'])
    err = capsys.readouterr().err
    assert rc == 2 and "--model-args: proxy must be a string or null, got 5" in err and "Traceback" not in err


def test_extra_body_is_refused_for_backends_without_request_bodies(tmp_path, capsys):
    rc = main(["eval", "--task", "graph_connectivity", "--limit", "2", "--model", "simulated", "--strategy", "single",
               "--budget", "64", "--out", str(tmp_path / "r"), "--extra-body", '{"x": 1}'])
    assert rc == 2 and "only a remote backend (openai) sends request bodies" in capsys.readouterr().err


def test_model_args_reach_other_backends_too(tmp_path):
    rc = main(["eval", "--task", "graph_connectivity", "--limit", "2", "--model", "simulated", "--strategy", "single",
               "--budget", "64", "--out", str(tmp_path / "r"), "--model-args", '{"eps": 0.5}', "--no-progress"])
    assert rc == 0
    assert json.loads((tmp_path / "r" / "run.json").read_text())["config"]["model_options"] == {"eps": 0.5}
