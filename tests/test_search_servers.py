"""Step-wise generation through every openai continuation mode (issue 13, deliverable 1).

The stub server (``tests/openai_test_server.py``) shows the server shapes one real server cannot:
llama.cpp's trailing-assistant prefill, vLLM's ``continue_final_message``, a client-rendered
template over ``/completions``, and a chat-only API. Its responder here writes ``Step k: ...``
lines after the steps the prompt already holds, so a beam search runs for several rounds; each
step call must reach the server as the generation prompt plus the partial chain (the same token
sequence in every mode), be cut at the step delimiter, and a chat-only API must be refused before
any item call.
"""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _servers import start_test_server  # noqa: E402
from openai_test_server import STUB_TEMPLATE, render_stub_chat, stub_tokens  # noqa: E402

from depthbench.analysis import load_run_items, load_run_json  # noqa: E402
from depthbench.baselines._calllog import read_calls  # noqa: E402
from depthbench.baselines._stepwise import STEP_DELIMITER, step_messages  # noqa: E402
from depthbench.cli import main  # noqa: E402

_ASSISTANT = "<|im_start|> assistant "


def _stepper(prompt: str, seed, index: int, max_tokens: int) -> str:
    """Writes the next steps after those the assistant turn already holds; the third ends with an answer."""
    turn = prompt.rsplit(_ASSISTANT, 1)[-1]
    k = len(re.findall(r"(?m)^Step \d+:", turn))
    if k >= 2:
        return f"Step {k + 1}: node=1 so\nAnswer: 1"
    return f"Step {k + 1}: node={seed % 7 if seed else 0} so\nStep {k + 2}: node=2 so"


def _calls(run_dir):
    items = load_run_items(load_run_json(run_dir))[0]
    return items, [rec for _, rec in read_calls(run_dir / "calls.jsonl", items)]


@pytest.fixture
def stub_template(tmp_path):
    p = tmp_path / "stub.jinja"
    p.write_text(STUB_TEMPLATE)
    return str(p)


@pytest.mark.parametrize("prefill, mode", [("trailing", "assistant_prefill"), ("flag", "continue_final_message"),
                                           (None, "template")])
def test_step_calls_are_the_same_sequence_in_every_continuation_mode(prefill, mode, stub_template, tmp_path):
    run = tmp_path / "run"
    with start_test_server(prefill=prefill, responder=_stepper) as srv:
        rc = main(["eval", "--task", "graph_connectivity", "--split", "dev", "--per-depth", "1", "--limit", "1",
                   "--model", "openai:test-model", "--base-url", srv.base_url, "--strategy", "beam@2:1:prm=env",
                   "--budget", "200", "--no-progress", "--out", str(run),
                   "--model-args", json.dumps({"chat_template": stub_template})])
        assert rc == 0
        bodies = [b for b in srv.bodies if b.get("max_tokens", 0) > 4]
    assert json.loads((run / "run.json").read_text())["backend"]["continuation"]["mode"] == mode
    items, calls = _calls(run)
    item = next(iter(items.values()))
    assert {c["role"] for c in calls} == {"step"} and max(c["round"] for c in calls) == 2
    user = render_stub_chat(step_messages(item))
    for c in calls:
        assert c["request"]["stop"] == [STEP_DELIMITER] and STEP_DELIMITER not in c["text"]
        prefix = c["request"].get("assistant_prefix")
        if c["parent"] is None:
            assert prefix is None
            continue
        assert c["continuation"] == mode and prefix.endswith("\n")
        # what the server turned the request into: the generation prompt, then the partial chain
        expected = user + prefix
        sent = [b for b in bodies if (b.get("prompt") == expected) or (
            b.get("messages") and b["messages"][-1] == {"role": "assistant", "content": prefix})]
        assert sent, f"no request carried the chain of {c['key']}"
        assert c["usage"]["prompt_tokens"] == stub_tokens(expected)
    outcome = json.loads((run / "outcomes.jsonl").read_text().splitlines()[0])
    assert outcome["generated_tokens"] <= 200
    # the third step states an answer (not one of this item's labels: malformed), which ends its chain
    assert all("Answer:" in c["text"] and c["parse_status"] == "malformed" for c in calls if c["round"] == 2)


def test_a_chat_only_api_refuses_step_wise_search_before_any_item_call(tmp_path, capsys):
    with start_test_server(prefill=None, completions=False, responder=_stepper) as srv:
        rc = main(["eval", "--task", "graph_connectivity", "--split", "dev", "--per-depth", "1", "--limit", "1",
                   "--model", "openai:test-model", "--base-url", srv.base_url, "--strategy", "beam@2:1:prm=env",
                   "--budget", "200", "--no-progress", "--out", str(tmp_path / "run")])
        item_calls = [b for b in srv.bodies if b.get("max_tokens", 0) > 4]
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "step-wise search needs" in err
    assert item_calls == [] and not (tmp_path / "run").exists()
