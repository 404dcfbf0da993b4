"""`depthbench doctor` against the local test server (and without one)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import free_port, start_test_server  # noqa: E402

from depthbench.cli import main  # noqa: E402


def _rows(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        name_end = line.index("  ")
        rows[line[:name_end].strip()] = line[name_end:].split(None, 2)
        assert parts
    return rows


def test_doctor_on_a_well_behaved_server(capsys):
    with start_test_server(max_model_len=8192) as srv:
        code = main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url])
    out = capsys.readouterr().out
    rows = _rows(out)
    assert code == 0
    assert rows["reachable"][:2] == ["ok", "yes"]
    assert rows["model name"][:2] == ["ok", "test-model"]
    assert rows["context length"][1] == "8192"
    assert rows["returns usage"][:2] == ["ok", "yes"]
    assert rows["honours seed"][:2] == ["ok", "yes"]
    assert rows["supports n"][:2] == ["ok", "yes"] and "summed over n" in out
    assert rows["raw completions"][:2] == ["ok", "yes"]


def test_doctor_reports_what_a_poor_server_lacks(capsys):
    with start_test_server(honour_seed=False, support_n=False) as srv:
        code = main(["doctor", "--model", "openai:other", "--base-url", srv.base_url])
    rows = _rows(capsys.readouterr().out)
    assert code == 0
    assert rows["model name"][0] == "warn"
    assert rows["honours seed"][:2] == ["warn", "no"]
    assert rows["supports n"][:2] == ["info", "no"]
    assert rows["context length"][:2] == ["info", "unknown"]


def test_doctor_unreachable_exits_nonzero(capsys):
    code = main(["doctor", "--model", "openai:m", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--timeout", "2"])
    assert code == 1
    assert _rows(capsys.readouterr().out)["reachable"][:2] == ["fail", "no"]


@pytest.mark.parametrize("dead_at", [0, 1])
def test_doctor_exits_1_when_any_of_several_servers_is_unreachable(capsys, dead_at):
    with start_test_server() as srv:
        urls = [srv.base_url]
        urls.insert(dead_at, f"http://127.0.0.1:{free_port()}/v1")
        code = main(["doctor", "--model", "openai:test-model", "--base-url", urls[0], "--base-url", urls[1],
                     "--timeout", "2"])
        rows = _rows(capsys.readouterr().out)
        assert code == 1
        assert rows[f"reachable [server {dead_at + 1}/2]"][:2] == ["fail", "no"]
        assert rows[f"reachable [server {2 - dead_at}/2]"][:2] == ["ok", "yes"]
        # both alive: exit 0
        assert main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url, "--base-url",
                     srv.base_url.replace("127.0.0.1", "localhost")]) == 0


def test_doctor_local_backend_and_bad_spec(capsys):
    assert main(["doctor", "--model", "simulated"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["honours seed"][:2] == ["ok", "yes"] and rows["token counts"][1] == "simulated"
    assert main(["doctor", "--model", "nonsense:x"]) == 2
    assert "valid forms" in capsys.readouterr().err


def test_doctor_on_a_server_without_usage_or_tokenize(capsys):
    """No usage anywhere: the table still prints, says how tokens will be counted, and n=3 is seen served."""
    with start_test_server(send_usage=False, tokenize_endpoint=False) as srv:
        code = main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url])
    out = capsys.readouterr().out
    rows = _rows(out)
    assert code == 0
    assert rows["returns usage"][:2] == ["warn", "no"]
    assert rows["token counts"][:2] == ["warn", "estimate"] and "--tokenizer" in out
    assert rows["supports n"][:2] == ["ok", "yes"] and "n=3 returned 3 choices; no usage" in out
    assert rows["honours seed"][:2] == ["ok", "yes"]


def test_doctor_without_usage_but_with_tokenize(capsys):
    with start_test_server(send_usage=False) as srv:
        assert main(["doctor", "--model", "openai:test-model", "--base-url", srv.base_url]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["token counts"][:2] == ["ok", "server_tokenize"]
    assert rows["supports n"][:2] == ["ok", "yes"]
