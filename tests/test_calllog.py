"""Compact call logs: deltas against the parent, spliced request text, old run folders still readable."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from depthbench.baselines._calllog import compact_record, expand_record, key_coordinates, read_calls
from depthbench.baselines.backends._continuation import continuation_messages
from depthbench.baselines.backends._preflight import PROBE_USER
from depthbench.baselines._runner import EvalConfig, run_eval
from depthbench.cli import main
from depthbench.io import BadLine, read_jsonl
from depthbench.analysis import load_run_items, load_run_json as load_run, score_run

sys.path.insert(0, os.path.dirname(__file__))
from _servers import start_test_server  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "run_v1"
V1_GRAPH = Path(__file__).resolve().parent.parent / "data" / "v1" / "graph_connectivity"  # frozen release
# The fixture was written by depthbench before compact logs existed (commit 602301e: full records, no "v"), with:
FIXTURE_ARGS = ["--data", str(V1_GRAPH), "--split", "dev", "--limit", "4", "--model",
                "simulated:eps=0.05,tokens_per_step=10", "--strategy",
                "single,majority@2,budget_forcing,revision@2,best_of@2:self", "--budget", "160", "--seed", "5"]
# ... and `depthbench score` / `submission pack --date 2026-12-01` of main before compact logs (5414b94) gave:
FIXTURE_SCORED = Path(__file__).parent / "fixtures" / "run_v1.scored.jsonl"
FIXTURE_SUBMISSION_SHA256 = "91a368480ba5158d6d9451e2a69ae5ce2773d846830ce7a937677018f3087a85"
# ... and this depthbench's `submission pack --date 2026-12-01` (predictions bound to their items: item_sha256)
FIXTURE_BOUND_SUBMISSION_SHA256 = "345aeda437e575f00b5277c4889884a4ee31e3413fc0842e2fb08deeb18a5871"


def _copy_fixture(dst: Path) -> Path:
    """The fixture folder at ``dst``, its run.json pointing at this checkout's data/v1 (written at /tmp/old)."""
    shutil.copytree(FIXTURE, dst)
    run = json.loads((dst / "run.json").read_text())
    run["config"]["data"] = str(V1_GRAPH)
    (dst / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    return dst


def _items(run: Path) -> dict:
    return load_run_items(load_run(run))[0]


def _pack_sha(run: Path, tmp: Path) -> str:
    out = tmp / f"{run.name}.json.gz"
    assert main(["submission", "pack", str(run), "--out", str(out), "--date", "2026-12-01"]) == 0
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_old_run_folder_scores_packs_and_resumes_as_before(tmp_path, capsys):
    run = _copy_fixture(tmp_path / "run_v1")
    assert not any("v" in json.loads(x) for x in (run / "calls.jsonl").read_text().splitlines())
    score_run(run)
    assert (run / "scored.jsonl").read_bytes() == FIXTURE_SCORED.read_bytes()
    # packing binds each prediction to its item (item_sha256, from the dataset run.json names: the old
    # outcomes predate it); without that field the submission is the old one, byte for byte
    from depthbench.leaderboard import pack_run
    from depthbench.leaderboard._submission import submission_bytes

    sub = pack_run(run, date="2026-12-01")
    items = _items(run)
    assert {p["item_id"]: p.pop("item_sha256") for p in sub["predictions"]} == {
        p["item_id"]: items[p["item_id"]]["meta"]["content_sha256"] for p in sub["predictions"]}
    assert hashlib.sha256(submission_bytes(sub)).hexdigest() == FIXTURE_SUBMISSION_SHA256
    assert _pack_sha(run, tmp_path) == FIXTURE_BOUND_SUBMISSION_SHA256
    before = (run / "calls.jsonl").read_bytes()
    assert main(["eval", *FIXTURE_ARGS, "--out", str(run), "--no-progress"]) == 0
    assert "0 new calls" in capsys.readouterr().out
    assert (run / "calls.jsonl").read_bytes() == before


def test_new_compact_run_reads_back_as_the_old_full_records_and_scores_alike(tmp_path):
    run = tmp_path / "new"
    assert main(["eval", *FIXTURE_ARGS, "--out", str(run), "--no-progress"]) == 0
    lines = [json.loads(x) for x in (run / "calls.jsonl").read_text().splitlines()]
    assert all(x["v"] == 2 and "item_id" not in x for x in lines)
    assert (run / "calls.jsonl").stat().st_size < (FIXTURE / "calls.jsonl").stat().st_size / 3
    old = {r["key"]: r for r in read_jsonl(FIXTURE / "calls.jsonl")}
    new = {r["key"]: r for _, r in read_calls(run / "calls.jsonl", _items(run))}
    assert new.keys() == old.keys()
    for k, r in new.items():  # everything but the timing is the old full record, request text included
        # (``continuation``, the mode of a continuation call, was added to the record after the fixture)
        assert r.get("continuation") == ("simulated" if r["role"] in ("continue", "force_answer") else None), k
        assert {**r, "latency_s": 0, "continuation": None} == {**old[k], "latency_s": 0, "continuation": None}, k
    # the same run written in the old full form scores and packs to the same bytes
    full = tmp_path / "full"
    shutil.copytree(run, full)
    (full / "calls.jsonl").write_text("".join(json.dumps(r) + "\n" for _, r in read_calls(run / "calls.jsonl",
                                                                                          _items(run))))
    score_run(run)
    score_run(full)
    assert (run / "scored.jsonl").read_bytes() == (full / "scored.jsonl").read_bytes()
    assert _pack_sha(run, tmp_path) == _pack_sha(full, tmp_path)


def test_resuming_an_old_folder_appends_compact_lines_that_read_back(tmp_path, capsys):
    run = _copy_fixture(tmp_path / "run_v1")
    outcomes = (run / "outcomes.jsonl").read_text().splitlines()
    lost = {(o["item_id"], o["strategy"]) for o in map(json.loads, outcomes)
            if o["strategy"] in ("budget_forcing", "revision@2")}
    keep = [x for x in outcomes if (json.loads(x)["item_id"], json.loads(x)["strategy"]) not in lost]
    (run / "outcomes.jsonl").write_text("\n".join(keep) + "\n")
    calls = (run / "calls.jsonl").read_text().splitlines()
    # drop the chained calls (round >= 1) of those units: the resume makes them again, compactly
    kept = [x for x in calls if not ((json.loads(x)["item_id"], json.loads(x)["strategy"]) in lost
                                     and json.loads(x)["round"] >= 1)]
    (run / "calls.jsonl").write_text("\n".join(kept) + "\n")
    assert main(["eval", *FIXTURE_ARGS, "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    raw = [json.loads(x) for x in (run / "calls.jsonl").read_text().splitlines()]
    compact = [x for x in raw if x.get("v") == 2]
    assert compact and all(x["parent"].startswith("|") for x in compact)  # children of old full lines
    score_run(run)
    assert (run / "scored.jsonl").read_bytes() == FIXTURE_SCORED.read_bytes()


def _record(**kw):
    base = {"key": "t/test/s1/d2/0|budget_forcing|512|s0|r1|continue", "item_id": "t/test/s1/d2/0",
            "task": "t", "depth": 2, "strategy": "budget_forcing", "budget": 512, "sample": 0, "round": 1,
            "role": "continue", "parent": "t/test/s1/d2/0|budget_forcing|512|s0|r0|answer",
            "request": {"max_tokens": 400, "temperature": 0.7, "top_p": 1.0, "seeds": [7], "stop": [], "n": 1,
                        "prompt": "Q: a long question about graphs?\n\nStep 1: think hard about it\nWait,"},
            "seed": 7, "text": "more thinking here, then Answer: 3", "finish_reason": "stop",
            "usage": {"prompt_tokens": 30, "completion_tokens": 9, "prompt_source": "server",
                      "completion_source": "server", "forced_tokens": 2},
            "forced": "\nWait,", "latency_s": 0.5, "attempts": 1, "model": "m", "extracted": "3",
            "parse_status": "ok", "correct": True}
    base.update(kw)
    return base


ITEM = {"id": "t/test/s1/d2/0", "task": "t", "depth": 2, "prompt": "Q: a long question about graphs?"}
PARENT = _record(key="t/test/s1/d2/0|budget_forcing|512|s0|r0|answer", round=0, role="answer", parent=None,
                 request={"max_tokens": 500, "temperature": 0.7, "top_p": 1.0, "seeds": [5], "stop": [], "n": 1,
                          "messages": [{"role": "user", "content": ITEM["prompt"]}]},
                 seed=5, text="Step 1: think hard about it", forced="", latency_s=0.25,
                 usage={"prompt_tokens": 20, "completion_tokens": 7, "prompt_source": "server",
                        "completion_source": "server", "forced_tokens": 0})


@pytest.mark.parametrize("child", [
    _record(),
    _record(correct=1, attempts=True),                                   # same value, other JSON type
    _record(extracted=None, parse_status="no_answer", correct=False),    # explicit nulls
    {k: v for k, v in _record().items() if k not in ("model", "forced")},  # fields the parent has, gone
    _record(usage={"prompt_tokens": 30}),                                # a nested field dropped
    _record(item_id="other/id", depth=5),                                 # disagrees with key / item: kept
    _record(request={**_record()["request"], "messages": [{"role": "user", "content": ITEM["prompt"]},
                                                          {"role": "assistant", "content": PARENT["text"]}]}),
])
def test_compact_then_expand_is_the_identity(child):
    line = compact_record(child, PARENT, ITEM)
    assert json.loads(json.dumps(line)) == line
    back = expand_record(json.loads(json.dumps(line)), PARENT, ITEM)
    assert back == child and all(type(back[k]) is type(child[k]) for k in child)
    root = expand_record(compact_record(PARENT, None, ITEM), None, ITEM)
    assert root == PARENT


def test_compact_child_stores_only_the_delta_and_references():
    line = compact_record(_record(), PARENT, ITEM)
    assert line["parent"] == "|s0|r0|answer"
    assert set(line) == {"v", "key", "parent", "request", "seed", "text", "usage", "latency_s", "forced"}
    assert set(line["usage"]) == {"prompt_tokens", "completion_tokens", "forced_tokens"}
    assert set(line["request"]) == {"max_tokens", "seeds", "prompt", "$drop"}
    assert line["request"]["prompt"] == {"$cat": [{"$ref": "item.prompt"}, "\n\n", {"$ref": "parent.text"}, "\nWait,"]}
    assert line["request"]["$drop"] == ["messages"]
    assert key_coordinates(line["key"])["round"] == 1


def _run_cfg(out, base_url, **kw):
    cfg = dict(model="openai:test-model", strategies=["budget_forcing,revision@2"], budgets=[256], out=str(out),
               task="multihop_arithmetic", limit=3, seed=1, progress=False, base_url=base_url,
               model_options={"completions": True}, concurrency=4)
    cfg.update(kw)
    return EvalConfig(**cfg)


def test_reconstructed_requests_are_what_the_server_received(tmp_path):
    # a server that continues a trailing assistant message (the pre-flight finds assistant_prefill)
    with start_test_server(prefill="trailing") as srv:
        run_eval(_run_cfg(tmp_path / "run", srv.base_url))
        sent = [json.dumps({k: b.get(k) for k in ("seed", "max_tokens", "prompt", "messages")}, sort_keys=True)
                for b in srv.bodies if PROBE_USER not in json.dumps(b)]  # not the pre-flight's probes
    recs = [r for _, r in read_calls(tmp_path / "run" / "calls.jsonl", _items(tmp_path / "run"))]
    assert any(r["role"] == "continue" and r["round"] >= 2 for r in recs)
    assert len(recs) == len(sent)
    # the wire form of a continuation: the logged messages plus the assistant turn so far
    rebuilt = [json.dumps({"seed": r["seed"], "max_tokens": r["request"]["max_tokens"],
                           "prompt": r["request"].get("prompt"),
                           "messages": (continuation_messages(r["request"]["messages"], r["request"]["assistant_prefix"])
                                        if "assistant_prefix" in r["request"] else r["request"].get("messages"))},
                          sort_keys=True) for r in recs]
    assert {r.get("continuation") for r in recs if "assistant_prefix" in r["request"]} == {"assistant_prefill"}
    assert sorted(rebuilt) == sorted(sent)


def test_budget_forcing_log_stays_within_three_times_its_generated_text(tmp_path):
    out = tmp_path / "run"
    run_eval(EvalConfig(model="simulated", strategies=["budget_forcing"], budgets=[4096], out=str(out),
                        task="graph_connectivity", limit=6, progress=False))
    recs = [r for _, r in read_calls(out / "calls.jsonl", _items(out))]
    text = sum(len(r["text"].encode()) for r in recs)
    size = (out / "calls.jsonl").stat().st_size
    full = sum(len(json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode()) + 1 for r in recs)
    assert len(recs) > 100 and size <= 3 * text, (size, text)
    assert full > 8 * size  # the full form repeats the whole chain on every continuation


def test_a_child_whose_parent_line_is_lost_is_reported_and_redone(tmp_path):
    out = tmp_path / "run"
    cfg = EvalConfig(model="simulated", strategies=["budget_forcing"], budgets=[512], out=str(out),
                     task="graph_connectivity", limit=2, progress=False)
    run_eval(cfg)
    reference = {r["key"]: r["text"] for _, r in read_calls(out / "calls.jsonl", _items(out))}
    lines = (out / "calls.jsonl").read_text().splitlines()
    victim = next(i for i, x in enumerate(lines) if json.loads(x).get("parent"))
    parent_key = json.loads(lines[victim])["parent"]
    i_parent = next(i for i, x in enumerate(lines) if json.loads(x)["key"].endswith(parent_key))
    lines[i_parent] = lines[i_parent][:20]  # corrupt the parent
    (out / "calls.jsonl").write_text("\n".join(lines) + "\n")
    (out / "outcomes.jsonl").write_text("")
    bad: list[BadLine] = []
    got = [r for _, r in read_calls(out / "calls.jsonl", _items(out), bad)]
    assert [b.lineno for b in bad][:2] == [i_parent + 1, victim + 1]
    assert "not earlier in the log" in bad[1].reason and len(got) < len(reference)
    run_eval(cfg)  # the resume redoes what could not be read, with the same seeds
    redone = {r["key"]: r["text"] for _, r in read_calls(out / "calls.jsonl", _items(out))}
    assert redone == reference
