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
    ({"item_id": "a", "text": "x", "item_sha256": "abc"}, "item_sha256 must be"),
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
    from depthbench.io import read_jsonl, write_jsonl_atomic
    from depthbench.tasks import build_items

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


def test_a_record_bound_to_another_releases_item_is_refused(tmp_path, capsys):
    """Ids repeat across releases: a recording bound (item_sha256) to data/v2's item is not served for
    data/v3's item of the same id; bound to the item itself, or unbound (old files), it is."""
    from pathlib import Path

    from depthbench.cli import main
    from depthbench.tasks import load_dataset

    root = Path(__file__).resolve().parents[1] / "data"
    v3 = root / "v3" / "graph_connectivity"
    items, _ = load_dataset(v3, split="dev")
    old, _ = load_dataset(root / "v2" / "graph_connectivity", split="dev")
    old_sha = {it["id"]: it["meta"]["content_sha256"] for it in old}
    recs = [{"item_id": it["id"], "text": f"Answer: {it['answer']}", "item_sha256": it["meta"]["content_sha256"]}
            for it in items]
    model = load_model(f"replay:{write(tmp_path, recs, 'bound.jsonl')}")
    assert gen(model, req(item=items[0])).choices[0].text == f"Answer: {items[0]['answer']}"
    recs[0]["item_sha256"] = old_sha[items[0]["id"]]
    model = load_model(f"replay:{write(tmp_path, recs, 'mixed.jsonl')}")
    with pytest.raises(UserError, match=r"record for item '[^']+' was made on another item of that id"):
        gen(model, req(item=items[0]))
    rc = main(["eval", "--data", str(v3), "--split", "dev", "--model", f"replay:{tmp_path / 'mixed.jsonl'}",
               "--strategy", "single", "--budget", "64", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "made on another item of that id" in err and "Traceback" not in err
    for r in recs:
        del r["item_sha256"]
    model = load_model(f"replay:{write(tmp_path, recs, 'old.jsonl')}")
    assert gen(model, req(item=items[0])).choices[0].text == f"Answer: {items[0]['answer']}"


def test_an_lm_eval_samples_log_binds_its_records_to_the_exported_items(tmp_path):
    """lm-eval's docs are depthbench's exported rows (meta_json holds content_sha256): a log made on
    data/v2 replays on v2 and is refused on v3, whose items have the same ids."""
    from pathlib import Path

    from depthbench.baselines._foreign_logs import foreign_records
    from depthbench.tasks import load_dataset
    from depthbench.tasks._rows import item_rows

    root = Path(__file__).resolve().parents[1] / "data"
    v2, _ = load_dataset(root / "v2" / "multihop_arithmetic", split="dev")
    v3, _ = load_dataset(root / "v3" / "multihop_arithmetic", split="dev")
    log = write(tmp_path, [{"doc_id": i, "doc": row, "resps": [[f"Answer: {row['answer']}"]], "filter": "none"}
                           for i, row in enumerate(item_rows(v2))], "samples_depthbench_multihop_arithmetic_x.jsonl")
    assert {r["item_id"]: r["item_sha256"] for r in foreign_records(log)} == {
        it["id"]: it["meta"]["content_sha256"] for it in v2}
    model = load_model(f"replay:{log}")
    assert gen(model, req(item=v2[0])).choices[0].text == f"Answer: {v2[0]['answer']}"
    assert v3[0]["id"] == v2[0]["id"]
    with pytest.raises(UserError, match="made on another item of that id"):
        gen(load_model(f"replay:{log}"), req(item=v3[0]))


def test_recorded_count_over_the_budget_serves_no_text_past_it_and_gets_no_credit(tmp_path):
    """The issue's case: 5000 recorded tokens, a short text with the right Answer line,
    --budget 4096. Where token 4096 falls in the text is unknown without a tokenizer, so the
    Answer line is not served: finish_reason length, credit 0."""
    from depthbench.cli import main
    from depthbench.io import read_jsonl, write_jsonl_atomic
    from depthbench.tasks import build_items

    items = build_items("graph_connectivity", "test", depths=[1], n=2)
    data = tmp_path / "test.jsonl"
    write_jsonl_atomic(data, items)
    recs = [{"item_id": it["id"], "sample": 0, "finish_reason": "stop", "completion_tokens": 5000,
             "text": f"short reasoning.\nAnswer: {it['answer']}"} for it in items]
    rp = write(tmp_path, recs)
    out = tmp_path / "run"
    assert main(["eval", "--data", str(data), "--model", f"replay:{rp}", "--strategy", "single",
                 "--budget", "4096", "--out", str(out)]) == 0
    calls = list(read_jsonl(out / "calls.jsonl"))
    assert [c["finish_reason"] for c in calls] == ["length"] * 2
    assert all(c["usage"]["completion_tokens"] == 4096 and "Answer" not in c["text"] for c in calls)
    outcomes = list(read_jsonl(out / "outcomes.jsonl"))
    assert [o["credit"] for o in outcomes] == [0.0, 0.0]
    # under a budget the recording fits, the same file is credited
    out2 = tmp_path / "run2"
    assert main(["eval", "--data", str(data), "--model", f"replay:{rp}", "--strategy", "single",
                 "--budget", "8192", "--out", str(out2)]) == 0
    assert [o["credit"] for o in read_jsonl(out2 / "outcomes.jsonl")] == [1.0, 1.0]


def test_cut_to_budget_rules():
    from depthbench.baselines.backends.replay import cut_to_budget

    chars = len  # a tokenizer of one token per character
    text = "abcdefghij Answer: 4"
    # with a tokenizer: the longest prefix within the cap
    assert cut_to_budget(text, len(text) + 5, 10, chars) == text[:5]  # 5 hidden tokens come first
    assert cut_to_budget(text, len(text), 10, chars) == text[:10]
    assert cut_to_budget(text, 100, 10, chars) == ""  # 80 hidden tokens: nothing visible fits
    # without one: bytes, never more than max_tokens of them; nothing if the text cannot hold its tokens
    assert cut_to_budget(text, 15, 10) == text[:10]
    assert cut_to_budget(text, 5000, 4096) == ""
    assert cut_to_budget("ééééé", 5, 3) == "é"  # 3 bytes, cut back to a character boundary
    assert cut_to_budget(text, 15, 0) == ""


def test_a_tokenizer_cuts_recorded_counts_at_the_cap(tmp_path):
    text = "one two three four five six Answer: 4"
    p = write(tmp_path, [{"item_id": ITEM["id"], "sample": 0, "text": text, "completion_tokens": 8}])
    m = load_model(f"replay:{p}", tokenizer=lambda t: len(t.split()))
    r = Request(max_tokens=5, temperature=1.0, top_p=1.0, seeds=(0,), item=ITEM, samples=(0,),
                messages=({"role": "user", "content": "x"},))
    ch = gen(m, r).choices[0]
    assert (ch.text, ch.completion_tokens, ch.finish_reason) == ("one two three four five ", 5, "length")


def test_noisy_verifier_rates_on_a_replay_run_match_the_requested_ones(tmp_path):
    """Replay sends no seed (seed: null). The noisy verifier must still draw once per
    candidate, from the run seed and the call key: the observed TPR/FPR over 320 candidates
    lie within 3 standard errors of the requested values, noisy:0.8,0.2 is not the oracle,
    and `depthbench score` re-derives the same draws."""
    import math

    from depthbench.cli import main
    from depthbench.io import read_jsonl, write_jsonl_atomic
    from depthbench.tasks import build_items

    items = build_items("graph_connectivity", "test", depths=[1, 2], n=20)
    data = tmp_path / "test.jsonl"
    write_jsonl_atomic(data, items)
    wrong = {it["id"]: next(lab for lab in it["meta"]["answer_space"]["labels"] if lab != it["answer"]) for it in items}
    recs = [{"item_id": it["id"], "sample": s, "finish_reason": "stop",
             "text": f"Answer: {it['answer'] if s % 2 == 0 else wrong[it['id']]}"} for it in items for s in range(8)]
    rp = write(tmp_path, recs)
    out = tmp_path / "run"
    strategies = "best_of@8:noisy:0.7,0.3,best_of@8:noisy:0.8,0.2,best_of@8:oracle"
    assert main(["eval", "--data", str(data), "--model", f"replay:{rp}", "--strategy", strategies,
                 "--budget", "512", "--out", str(out), "--seed", "3"]) == 0
    calls = list(read_jsonl(out / "calls.jsonl"))
    assert {c["seed"] for c in calls} == {None}
    outcomes = {(o["strategy"], o["item_id"]): o for o in read_jsonl(out / "outcomes.jsonl")}
    for name, tpr, fpr in (("best_of@8:noisy:0.7,0.3", 0.7, 0.3), ("best_of@8:noisy:0.8,0.2", 0.8, 0.2)):
        right = [sc for it in items for s, sc in enumerate(outcomes[(name, it["id"])]["meta"]["scores"]) if s % 2 == 0]
        bad = [sc for it in items for s, sc in enumerate(outcomes[(name, it["id"])]["meta"]["scores"]) if s % 2 == 1]
        assert len(right) == len(bad) == 160
        for observed, p, n in ((sum(right) / 160, tpr, 160), (sum(bad) / 160, fpr, 160)):
            assert abs(observed - p) <= 3 * math.sqrt(p * (1 - p) / n), (name, observed, p)
    oracle = [outcomes[("best_of@8:oracle", it["id"])]["credit"] for it in items]
    noisy = [outcomes[("best_of@8:noisy:0.8,0.2", it["id"])]["credit"] for it in items]
    assert oracle == [1.0] * len(items) and noisy != oracle
    # re-scoring reproduces every draw (run seed from run.json + call keys)
    assert main(["score", str(out)]) == 0
    assert not any(r["changed"] for r in read_jsonl(out / "scored.jsonl"))
    # another run seed gives other draws
    out2 = tmp_path / "run2"
    assert main(["eval", "--data", str(data), "--model", f"replay:{rp}", "--strategy", "best_of@8:noisy:0.7,0.3",
                 "--budget", "512", "--out", str(out2), "--seed", "4"]) == 0
    other = {o["item_id"]: o["meta"]["scores"] for o in read_jsonl(out2 / "outcomes.jsonl")}
    assert any(other[it["id"]] != outcomes[("best_of@8:noisy:0.7,0.3", it["id"])]["meta"]["scores"] for it in items)


@pytest.mark.parametrize("rec,floor_over_budget", [
    # a stated count far under its text (300 words said to be 5 tokens)
    ({"completion_tokens": 5, "text": " ".join(["word"] * 300)}, True),
    # no count: 3,000 characters without a space count as 1 whitespace word
    ({"text": "x" * 3000}, True),
    # a small understatement that stays under the budget: raised, still credited
    ({"completion_tokens": 1, "text": " ".join(["word"] * 30)}, False),
])
def test_replayed_counts_are_bounded_below_and_cut_at_the_budget(tmp_path, rec, floor_over_budget):
    """lm-eval sample imports and replay files state (or lack) counts: each is bounded below by
    the validator's floor; over the budget the text is cut there and the answer not credited."""
    from depthbench.baselines.backends._tokenizer import least_tokens
    from depthbench.cli import main
    from depthbench.tasks import build_items
    from depthbench.io import read_jsonl, write_jsonl_atomic

    items = build_items("graph_connectivity", "test", depths=[1], n=2)
    data = tmp_path / "test.jsonl"
    write_jsonl_atomic(data, items)
    recs = [{"item_id": it["id"], "sample": 0, "finish_reason": "stop", **rec,
             "text": rec["text"] + f" Answer: {it['answer']}"} for it in items]
    rp = write(tmp_path, recs)
    out = tmp_path / "run"
    assert main(["eval", "--data", str(data), "--model", f"replay:{rp}", "--strategy", "single",
                 "--budget", "64", "--out", str(out)]) == 0
    calls = list(read_jsonl(out / "calls.jsonl"))
    floor = least_tokens(recs[0]["text"])
    for c in calls:
        assert c["usage"]["count_corrected"] == "pre-token floor"
        # without a count, the replay backend counted whitespace words: 3 ("xxx...x", "Answer:", gold)
        assert c["usage"]["reported_completion_tokens"] == rec.get("completion_tokens", 3)
        if floor_over_budget:
            assert floor > 64 and c["usage"]["completion_tokens"] == 64 and c["finish_reason"] == "length"
            assert "Answer" not in c["text"]
        else:
            assert c["usage"]["completion_tokens"] == floor and "Answer" in c["text"]
    credits = [o["credit"] for o in read_jsonl(out / "outcomes.jsonl")]
    assert credits == ([0.0, 0.0] if floor_over_budget else [1.0, 1.0])


def test_the_eval_floor_is_the_validators_bound():
    from depthbench.baselines.backends._tokenizer import least_tokens
    from depthbench.leaderboard._tokens import BOUND_RULE

    for text in ("", "Answer: 7", "word " * 300, "x" * 3000, "Step 1: 345678 so then\n" * 40, "漢字" * 500):
        assert BOUND_RULE.least(text) == least_tokens(text)


@pytest.mark.parametrize("stated", [1, None])
def test_replayed_prompt_counts_are_bounded_below_by_the_prompt(tmp_path, stated):
    """A replay file stating prompt_tokens 1 for a ~1,100-character prompt (or stating none,
    so the whitespace rule counts about half its tokens) does not give P under the prompt's
    floor: the count is raised to least_tokens of the prompt and the stated one kept."""
    from depthbench.baselines._calllog import read_calls
    from depthbench.baselines.backends._tokenizer import least_tokens
    from depthbench.cli import main
    from depthbench.tasks import build_items
    from depthbench.io import read_jsonl, write_jsonl_atomic

    items = build_items("graph_connectivity", "test", depths=[1], n=2)
    data = tmp_path / "test.jsonl"
    write_jsonl_atomic(data, items)
    extra = {} if stated is None else {"prompt_tokens": stated}
    recs = [{"item_id": it["id"], "text": f"walk Answer: {it['answer']}", "completion_tokens": 4, **extra}
            for it in items]
    out = tmp_path / "run"
    assert main(["eval", "--data", str(data), "--model", f"replay:{write(tmp_path, recs)}", "--strategy", "single",
                 "--budget", "64", "--out", str(out)]) == 0
    calls = {c["item_id"]: c for _, c in read_calls(out / "calls.jsonl", {it["id"]: it for it in items})}
    outcomes = {o["item_id"]: o for o in read_jsonl(out / "outcomes.jsonl")}
    for it in items:
        u, floor = calls[it["id"]]["usage"], least_tokens(it["prompt"])
        reported = stated if stated is not None else len(it["prompt"].split())
        assert reported < floor and u["prompt_tokens"] == floor
        assert u["reported_prompt_tokens"] == reported and u["prompt_count_corrected"] == "pre-token floor"
        assert u["prompt_source"] == ("replay" if stated is not None else "tokenizer")
        assert "count_corrected" not in u  # the completion count (4) is honest
        assert outcomes[it["id"]]["processed_tokens"] == floor + 4 and outcomes[it["id"]]["credit"] == 1.0


def test_replayed_prompt_counts_at_the_floor_are_kept(tmp_path):
    from depthbench.baselines.backends._tokenizer import least_tokens
    from depthbench.cli import main
    from depthbench.tasks import build_items
    from depthbench.io import read_jsonl, write_jsonl_atomic

    items = build_items("graph_connectivity", "test", depths=[1], n=1)
    write_jsonl_atomic(tmp_path / "test.jsonl", items)
    stated = least_tokens(items[0]["prompt"])
    rp = write(tmp_path, [{"item_id": items[0]["id"], "text": "walk Answer: 1", "completion_tokens": 4,
                           "prompt_tokens": stated}])
    assert main(["eval", "--data", str(tmp_path / "test.jsonl"), "--model", f"replay:{rp}", "--strategy", "single",
                 "--budget", "64", "--out", str(tmp_path / "run")]) == 0
    [c] = read_jsonl(tmp_path / "run" / "calls.jsonl")
    assert c["usage"]["prompt_tokens"] == stated and "reported_prompt_tokens" not in c["usage"]
