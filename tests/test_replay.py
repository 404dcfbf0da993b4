"""The replay backend: file format, validation, sample selection, token sources."""

from __future__ import annotations

import asyncio
import json

import pytest

from depthbench.baselines import Request, load_model
from depthbench.errors import UserError

ITEM = {"id": "graph_connectivity/test/0/1", "depth": 2, "answer": "4"}
OTHER = {"id": "graph_connectivity/test/0/2", "depth": 2, "answer": "5"}


def write(tmp_path, records, name="replay.jsonl"):
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return p


def req(item=ITEM, n=1, samples=None):
    return Request(max_tokens=64, temperature=1.0, top_p=1.0, seeds=tuple(range(n)), n=n, item=item,
                   messages=({"role": "user", "content": "three word prompt"},), samples=samples)


def gen(model, r):
    return asyncio.run(model.generate(r))


@pytest.fixture
def replay_file(tmp_path):
    return write(tmp_path, [
        {"item_id": ITEM["id"], "sample": 1, "text": "so Answer: 5", "finish_reason": "stop", "completion_tokens": 9},
        {"item_id": ITEM["id"], "sample": 0, "text": "walk Answer: 4", "completion_tokens": 7, "prompt_tokens": 30},
        {"item_id": OTHER["id"], "text": "a b c Answer:", "finish_reason": "length"},
    ])


def test_serves_samples_by_index_with_recorded_counts(replay_file):
    m = load_model(f"replay:{replay_file}")
    r = gen(m, req(n=2, samples=(1, 0)))
    assert [c.text for c in r.choices] == ["so Answer: 5", "walk Answer: 4"]
    assert [c.completion_tokens for c in r.choices] == [9, 7]
    assert {c.token_source for c in r.choices} == {"replay"}
    assert r.prompt_tokens == 30 and r.prompt_token_source == "replay"


def test_without_indices_serves_in_sample_order(replay_file):
    m = load_model(f"replay:{replay_file}")
    assert gen(m, req()).choices[0].text == "walk Answer: 4"
    assert gen(m, req()).choices[0].text == "so Answer: 5"
    with pytest.raises(UserError, match="sample 2 was asked for"):
        gen(m, req())


def test_missing_counts_are_counted_and_labelled(replay_file):
    m = load_model(f"replay:{replay_file}")
    r = gen(m, req(item=OTHER))
    c = r.choices[0]
    assert c.completion_tokens == 4 and c.token_source == "tokenizer" and c.finish_reason == "length"
    assert r.prompt_tokens == 3 and r.prompt_token_source == "tokenizer"


def test_unknown_item_and_missing_sample(replay_file):
    m = load_model(f"replay:{replay_file}")
    with pytest.raises(UserError, match="no record for item"):
        gen(m, req(item={"id": "nope"}))
    with pytest.raises(UserError, match="sample 5"):
        gen(m, req(samples=(5,)))
    with pytest.raises(UserError, match="'id'"):
        gen(m, req(item=None))


@pytest.mark.parametrize("bad,match", [
    ("{not json", "line 1: not valid JSON"),
    ({"text": "x"}, "item_id"),
    ({"item_id": "a"}, "text must be"),
    ({"item_id": "a", "text": "x", "finish_reason": "eos"}, "finish_reason"),
    ({"item_id": "a", "text": "x", "completion_tokens": -1}, "completion_tokens"),
    ({"item_id": "a", "text": "x", "sample": "0"}, "sample must be"),
])
def test_bad_lines_are_user_errors(tmp_path, bad, match):
    p = write(tmp_path, [bad])
    with pytest.raises(UserError, match=match) as e:
        load_model(f"replay:{p}")
    assert "\n" not in str(e.value)


def test_duplicate_sample_and_empty_and_missing_file(tmp_path):
    p = write(tmp_path, [{"item_id": "a", "text": "x", "sample": 0}, {"item_id": "a", "text": "y", "sample": 0}])
    with pytest.raises(UserError, match="line 2: duplicate sample 0"):
        load_model(f"replay:{p}")
    with pytest.raises(UserError, match="no records"):
        load_model(f"replay:{write(tmp_path, [], 'empty.jsonl')}")
    with pytest.raises(UserError, match="file not found"):
        load_model(f"replay:{tmp_path / 'missing.jsonl'}")


def test_a_recording_longer_than_the_cap_is_cut_with_finish_reason_length(tmp_path):
    long_text = " ".join(f"w{i}" for i in range(300)) + " Answer: 4"
    p = write(tmp_path, [{"item_id": ITEM["id"], "sample": 0, "text": long_text, "finish_reason": "stop"}])
    ch = gen(load_model(f"replay:{p}"), req(samples=(0,))).choices[0]
    assert (ch.completion_tokens, ch.finish_reason) == (64, "length")
    assert ch.text.split() == long_text.split()[:64]


def test_roles_that_need_new_text_are_refused(replay_file):
    m = load_model(f"replay:{replay_file}")
    r = Request(max_tokens=64, temperature=1.0, top_p=1.0, seeds=(0,), item=ITEM, samples=(0,), role="revise",
                messages=({"role": "user", "content": "x"},))
    with pytest.raises(UserError, match="'revise' call, which needs new text"):
        gen(m, r)


def test_eval_serves_the_same_recorded_sample_to_every_strategy_and_budget(tmp_path):
    """single at two budgets and majority@4 with exactly 4 recorded samples: sample k is
    sample k everywhere (paired comparisons), never 'the next unserved one'."""
    from depthbench.cli import main
    from depthbench.generators import build_items
    from depthbench.io import read_jsonl, write_jsonl_atomic

    items = build_items("graph_connectivity", "test", depths=[1, 2], n=2)
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl_atomic(data / "test.jsonl", items)
    recs = [{"item_id": it["id"], "sample": s, "finish_reason": "stop",
             "text": f"sample {s} Answer: {it['answer'] if s % 2 == 0 else 'nope'}"}
            for it in items for s in range(4)]
    rp = write(tmp_path, recs)
    out = tmp_path / "run"
    assert main(["eval", "--data", str(data / "test.jsonl"), "--model", f"replay:{rp}",
                 "--strategy", "single,majority@4", "--budget", "256,512", "--out", str(out)]) == 0
    from depthbench.baselines._calllog import read_calls

    calls = [r for _, r in read_calls(out / "calls.jsonl", {it["id"]: it for it in items})]
    assert len(calls) == len(items) * (1 + 4) * 2
    for c in calls:
        assert c["text"].startswith(f"sample {c['sample']} ")
    outcomes = list(read_jsonl(out / "outcomes.jsonl"))
    single = [o for o in outcomes if o["strategy"] == "single"]
    assert len(single) == 2 * len(items) and all(o["correct"] for o in single)  # sample 0 is right
