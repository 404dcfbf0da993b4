"""`depthbench score` / `depthbench analyze` on a real (simulated-model) run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from depthbench.analysis import RESULTS_FORMAT, analyze_run, score_run, strategy_info
from depthbench.cli import main

CURVE_FIELDS = {"task", "strategy", "kind", "budget", "depth", "n", "accuracy", "wilson_lo", "wilson_hi", "boot_lo",
                "boot_hi", "no_answer_rate", "mean_generated_tokens", "mean_processed_tokens", "chance"}
FIT_FIELDS = {"task", "strategy", "budget", "p", "p_lo", "p_hi", "d50", "d50_lo", "d50_hi", "auc", "chance"}
EQ_FIELDS = {"task", "budget", "a", "b", "depth", "n", "diff", "ci90_lo", "ci90_hi", "ci95_lo", "ci95_hi", "p_tost",
             "p_diff", "p_holm", "p_diff_holm", "verdict", "n10", "n01", "discordance", "rounded", "p_upper",
             "p_lower", "items_needed", "items_to_decide", "unpaired_a", "unpaired_b", "floor", "reason"}
BP_FIELDS = {"task", "budget", "a", "b", "margin", "breakpoint_depth", "bp_lo", "bp_hi", "status",
             "first_difference_depth", "direction", "equivalent_depths", "undetermined_depths",
             "not_testable_depths", "text"}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    pytest.importorskip("depthbench.baselines._runner")
    out = tmp_path_factory.mktemp("runs") / "base"
    rc = main(["eval", "--model", "simulated", "--task", "graph_connectivity", "--split", "dev", "--limit", "12",
               "--strategy", "single,majority@4,budget_forcing,pass@4", "--budget", "300,600", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    return out


@pytest.fixture
def run(base_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(base_run, dst)
    return dst


def _lines(p: Path) -> list[str]:
    return p.read_text(encoding="utf-8").splitlines()


def _full_call_lines(run: Path) -> list[str]:
    """calls.jsonl rewritten with every record in full (the pre-compact form, still valid), one per line."""
    from depthbench.baselines._calllog import read_calls
    from depthbench.analysis import load_run_items, load_run_json as load_run

    items, _ = load_run_items(load_run(run))
    return [json.dumps(r) for _, r in read_calls(run / "calls.jsonl", items)]


def test_score_reproduces_logged_outcomes_and_is_idempotent(run, capsys):
    assert main(["score", str(run)]) == 0
    out = capsys.readouterr()
    assert "scored 96" in out.out and out.err == ""
    scored = [json.loads(x) for x in _lines(run / "scored.jsonl")]
    logged = {(o["item_id"], o["strategy"], o["budget"]): o for o in map(json.loads, _lines(run / "outcomes.jsonl"))}
    assert len(scored) == len(logged) == 12 * 4 * 2
    for r in scored:
        o = logged[(r["item_id"], r["strategy"], r["budget"])]
        assert r["credit"] == pytest.approx(o["credit"]) and r["final_answer"] == o["final_answer"]
        assert r["generated_tokens"] == o["generated_tokens"] and r["processed_tokens"] == o["processed_tokens"]
        assert r["finished"] is True and r["changed"] is False
        assert r["chance"] == 0.5 and r["kind"] in ("single", "parallel", "sequential", "bound")
    first = (run / "scored.jsonl").read_bytes()
    assert main(["score", str(run)]) == 0
    assert (run / "scored.jsonl").read_bytes() == first


def test_score_trusts_the_text_not_the_logged_verdict(run):
    calls = [json.loads(x) for x in _full_call_lines(run)]
    # pick a `single` call that was right and make its text give the other label, keeping the logged verdict
    target = next(c for c in calls if c["strategy"] == "single" and c["correct"] and c["role"] == "answer")
    item_calls = [c for c in calls if c["item_id"] == target["item_id"]]
    assert item_calls
    wrong = "0" if target["extracted"] != "0" else "1"
    target["text"] = target["text"] + f"\nWait, no.\nAnswer: {wrong}"
    (run / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls), encoding="utf-8")
    summary = score_run(run)
    assert summary["changed_extractions"] == 1 and summary["changed_outcomes"] == 1
    row = next(json.loads(x) for x in _lines(run / "scored.jsonl")
               if json.loads(x)["item_id"] == target["item_id"] and json.loads(x)["strategy"] == "single"
               and json.loads(x)["budget"] == target["budget"])
    assert row["correct"] is False and row["credit"] == 0.0 and row["changed"] is True


def test_corrupt_and_torn_lines_are_reported_and_nothing_else_is_lost(run, capsys):
    assert main(["score", str(run)]) == 0
    clean = {json.loads(x)["item_id"] + json.loads(x)["strategy"] + str(json.loads(x)["budget"]): json.loads(x)
             for x in _lines(run / "scored.jsonl")}
    capsys.readouterr()
    lines = (run / "calls.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    n = len(lines) - 1
    lines.insert(5, b'{"key": "broken", "item_id": ')          # corrupt line 6
    lines.insert(9, b"[1, 2, 3]")                               # not an object: line 10
    data = b"\n".join(lines) + b'{"key": "torn-by-kill'       # torn last line, no newline
    (run / "calls.jsonl").write_bytes(data)
    assert main(["score", str(run)]) == 0
    cap = capsys.readouterr()
    assert "calls.jsonl: line 6: invalid JSON" in cap.err
    assert "calls.jsonl: line 10: not a JSON object" in cap.err
    assert f"calls.jsonl: line {n + 3}: torn last line" in cap.err
    assert "Traceback" not in cap.err
    assert "from %d calls" % (n) in cap.out
    again = {json.loads(x)["item_id"] + json.loads(x)["strategy"] + str(json.loads(x)["budget"]): json.loads(x)
             for x in _lines(run / "scored.jsonl")}
    assert again == clean


def test_missing_fields_are_reported_by_line(run, capsys):
    lines = _lines(run / "calls.jsonl")
    rec = json.loads(lines[2])
    del rec["text"]
    lines[2] = json.dumps(rec)
    (run / "calls.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["score", str(run)]) == 0
    assert "calls.jsonl: line 3: call record lacks text; skipped" in capsys.readouterr().err


def test_analyze_writes_results_per_contract(run, capsys):
    assert main(["score", str(run)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(run), "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    assert "verdict" in out and "breakpoint" in out or "equivalent at every depth" in out
    res = json.loads((run / "results.json").read_text())
    assert res["format"] == RESULTS_FORMAT and res["margin"] == 0.05 and res["source"] == "scored.jsonl"
    assert res["dataset_sha256"] == json.loads((run / "run.json").read_text())["config"]["dataset_sha256"]
    assert res["curves"] and all(CURVE_FIELDS <= set(r) for r in res["curves"])
    assert res["fits"] and all(FIT_FIELDS <= set(r) for r in res["fits"])
    assert res["equivalence"] and all(EQ_FIELDS <= set(r) for r in res["equivalence"])
    assert all(r["verdict"] in ("equivalent", "a_better", "b_better", "inconclusive", "not_testable")
               for r in res["equivalence"])
    assert all(r["status"] in ("located", "not_located", "different_from_first", "equivalent_throughout",
                               "no_difference", "not_testable") for r in res["breakpoints"])
    assert "nan" not in out.lower()
    assert res["breakpoints"] and all(BP_FIELDS <= set(r) for r in res["breakpoints"])
    pairs = {(r["a"], r["b"]) for r in res["breakpoints"]}
    assert pairs == {("majority@4", "budget_forcing"), ("majority@4", "single")}   # pass@4 is a bound
    assert {r["budget"] for r in res["breakpoints"]} == {300, 600}
    assert res["compute_to_target"]
    # deterministic
    again = analyze_run(run, n_boot=200, write=False)
    assert again == res
    assert main(["analyze", str(run), "--json", "--n-boot", "200", "--margin", "0.1"]) == 0
    assert json.loads(capsys.readouterr().out)["margin"] == 0.1


def test_analyze_without_scored_uses_outcomes(run, capsys):
    res = analyze_run(run, n_boot=100, write=False)
    assert res["source"] == "outcomes.jsonl"
    assert "run `depthbench score` first" in capsys.readouterr().err


@pytest.mark.parametrize("argv,msg", [
    (["score", "{tmp}/nope"], "RUN_DIR"),
    (["analyze", "{tmp}/nope"], "RUN_DIR"),
    (["analyze", "{run}", "--margin", "0"], "--margin"),
    (["analyze", "{run}", "--margin", "1.5"], "--margin"),
    (["analyze", "{run}", "--margin", "0.5"], "--margin"),
    (["analyze", "{run}", "--margin", "-0.05"], "--margin"),
    (["analyze", "{run}", "--n-boot", "5"], "--n-boot"),
])
def test_bad_input_exits_2_with_one_line(run, tmp_path, capsys, argv, msg):
    argv = [a.format(tmp=tmp_path, run=run) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (run / "results.json").exists()


def test_no_calls_file_and_no_run_json(run, tmp_path, capsys):
    (run / "calls.jsonl").unlink()
    assert main(["score", str(run)]) == 2
    assert "calls.jsonl" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["score", str(empty)]) == 2
    assert "run.json" in capsys.readouterr().err
    assert not (run / "scored.jsonl").exists()


def test_strategy_info_fallback():
    kind, fa = strategy_info("majority@3:unknownflag")
    assert kind == "parallel"
    item = {"task": "multihop_arithmetic", "answer": 3, "answer_type": "integer", "instance": {"modulus": 7},
            "meta": {"family": "multihop_arithmetic"}}
    calls = [{"role": "answer", "extracted": a, "sample": i, "round": 0, "key": str(i)} for i, a in enumerate([3, 3, 4])]
    ans, credit, meta = fa(calls, item)
    assert (ans, credit) == (3, 1.0)
    assert strategy_info("pass@4")[0] == "bound"
    assert strategy_info("mystery_seq")[0] == "sequential"


def test_analyze_ignores_stale_scored(run, capsys):
    import os

    assert main(["score", str(run)]) == 0
    st = (run / "scored.jsonl").stat()
    os.utime(run / "outcomes.jsonl", (st.st_atime + 10, st.st_mtime + 10))
    capsys.readouterr()
    res = analyze_run(run, n_boot=100, write=False)
    assert res["source"] == "outcomes.jsonl"
    assert "older than outcomes.jsonl" in capsys.readouterr().err


def test_score_a_run_on_a_dataset_folder_and_detect_a_changed_dataset(tmp_path, capsys):
    pytest.importorskip("depthbench.baselines._runner")
    data = tmp_path / "data"
    assert main(["generate", "grid_planning", "--depths", "1,2", "--n", "3", "--split", "dev", "--out", str(data),
                 "--quiet"]) == 0
    out = tmp_path / "run"
    assert main(["eval", "--model", "simulated", "--data", str(data), "--split", "dev", "--strategy",
                 "single,majority@3", "--budget", "2000", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    s = score_run(out)
    assert s["outcomes"] == 12 and s["changed_outcomes"] == 0 and s["unknown_items"] == 0
    # the dataset the run used must be the one scored against (a changed manifest changes its sha256)
    mf = data / "manifest.json"
    mf.write_text(mf.read_text(encoding="utf-8").replace('"task"', '"task" ', 1), encoding="utf-8")
    assert main(["score", str(out)]) == 2
    assert "dataset_sha256" in capsys.readouterr().err


def test_a_record_with_bad_types_loses_only_its_outcome(run, capsys):
    lines = _full_call_lines(run)
    i = next(k for k, x in enumerate(lines) if json.loads(x)["strategy"] == "majority@4")
    rec = json.loads(lines[i])
    rec["sample"] = None            # valid JSON, wrong type: the vote cannot order the samples
    lines[i] = json.dumps(rec)
    (run / "calls.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = score_run(run)
    err = capsys.readouterr().err
    assert s["unreducible"] == 1 and s["outcomes"] == 95
    assert rec["item_id"] in err and "majority@4" in err and "skipped" in err


def _corrupt_lines(run: Path, keys: set[str]) -> None:
    lines = (run / "calls.jsonl").read_bytes().split(b"\n")
    out = [b'{"key": "' + json.loads(x)["key"].encode() + b'", corrupt' if x and json.loads(x)["key"] in keys else x
           for x in lines]
    (run / "calls.jsonl").write_bytes(b"\n".join(out))


def test_outcome_with_unreadable_calls_is_kept_as_logged_not_re_reduced(run, capsys):
    outcomes = [json.loads(x) for x in _lines(run / "outcomes.jsonl")]
    vote = next(o for o in outcomes if o["strategy"] == "majority@4" and len(o["calls"]) == 4)
    only = next(o for o in outcomes if o["strategy"] == "single" and len(o["calls"]) == 1)
    _corrupt_lines(run, set(vote["calls"][:3]) | set(only["calls"]))
    s = score_run(run)
    err = capsys.readouterr().err
    assert s["not_rescored"] == 2 and s["outcomes"] == 96          # nothing vanishes
    for o, what in ((vote, "3 of 4 logged call(s) unreadable"), (only, "1 of 1 logged call(s) unreadable")):
        assert f"{o['item_id']} | {o['strategy']} | {o['budget']}: {what}" in err
        row = next(json.loads(x) for x in _lines(run / "scored.jsonl")
                   if (json.loads(x)["item_id"], json.loads(x)["strategy"], json.loads(x)["budget"])
                   == (o["item_id"], o["strategy"], o["budget"]))
        assert row["rescored"] is False and what in row["rescore_reason"]
        assert row["credit"] == o["credit"] and row["final_answer"] == o["final_answer"] and row["calls"] == o["calls"]
    rows = [json.loads(x) for x in _lines(run / "scored.jsonl")]
    assert sum(r["rescored"] for r in rows) == 94


def test_analyze_warns_when_compared_strategies_have_different_n(run, capsys):
    score_run(run)
    rows = [json.loads(x) for x in _lines(run / "scored.jsonl")]
    drop = next(r for r in rows if r["strategy"] == "majority@4")
    (run / "scored.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows if r is not drop), encoding="utf-8")
    capsys.readouterr()
    analyze_run(run, n_boot=100, write=False)
    err = capsys.readouterr().err
    assert f"depth {drop['depth']}: majority@4 has" in err and "budget_forcing has" in err


def test_a_continuation_is_re_extracted_with_the_chain_so_far(tmp_path):
    """A budget-forcing continuation whose own text holds no answer keeps the chain's answer,
    as the runner extracted it (its parent's text + the forced "Wait," + its text)."""
    from depthbench.io import atomic_write_json
    from depthbench.tasks import build_items

    item = build_items("graph_connectivity", "dev", depths=[2], n=1)[0]
    gold, key = item["answer"], f"{item['id']}|budget_forcing|64|s0"
    usage = {"prompt_tokens": 40, "completion_tokens": 6, "forced_tokens": 0}
    base = {"item_id": item["id"], "task": item["task"], "depth": item["depth"], "strategy": "budget_forcing",
            "budget": 64, "sample": 0, "finish_reason": "stop", "parse_status": "ok", "extracted": gold,
            "correct": True}
    calls = [
        {**base, "key": f"{key}|r0|answer", "round": 0, "role": "answer", "parent": None, "forced": "",
         "text": f"Step 1: node=1\nAnswer: {gold}", "usage": usage},
        {**base, "key": f"{key}|r1|continue", "round": 1, "role": "continue", "parent": f"{key}|r0|answer",
         "forced": "\nWait,", "text": " I re-checked every step.", "usage": {**usage, "forced_tokens": 3}},
    ]
    run = tmp_path / "run"
    run.mkdir()
    atomic_write_json(run / "run.json", {"format": "depthbench-run/1", "config": {"seed": 0, "task": "x"}})
    (run / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    summary = score_run(run, items={item["id"]: item})
    assert summary["changed_extractions"] == 0 and summary["outcomes"] == 1
    (row,) = [json.loads(x) for x in _lines(run / "scored.jsonl")]
    assert row["final_answer"] == gold and row["credit"] == 1.0 and row["generated_tokens"] == 6 + 6 + 3


@pytest.mark.parametrize("field,value", [
    ("budget", "300"), ("budget", "300\n"), ("budget", "\u0663\u0660\u0660"), ("budget", 300.0), ("budget", True),
    ("budget", 0), ("budget", -300),
    ("usage.completion_tokens", -500), ("usage.completion_tokens", "15\n"), ("usage.prompt_tokens", "\u0661\u0665"),
    ("usage.forced_tokens", 1.5), ("usage", "15"),
])
def test_score_refuses_call_coordinates_and_token_counts_that_are_not_json_integers(run, capsys, field, value):
    # int() reads '300\n' and Arabic-Indic '\u0663\u0660\u0660' as 300 and a negative count lowers the sum:
    # such a line was scored silently (generated_tokens -500 for one call); now it is a bad line, named
    calls = [json.loads(x) for x in _full_call_lines(run)]
    target = next(c for c in calls if c["strategy"] == "single" and c["budget"] == 300)
    head, _, sub = field.partition(".")
    if sub:
        target[head][sub] = value
    else:
        target[head] = value
    (run / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls), encoding="utf-8")
    assert main(["score", str(run)]) == 0
    err = capsys.readouterr().err
    assert f"{field} {value!r} is not" in err and "1 of 1 logged call(s) unreadable" in err, err
    scored = {(r["item_id"], r["strategy"], r["budget"]): r for r in map(json.loads, _lines(run / "scored.jsonl"))}
    row = scored[(target["item_id"], "single", 300)]
    assert row["rescored"] is False  # kept as logged, not re-derived from the bad line
    assert all(r["generated_tokens"] is None or r["generated_tokens"] >= 0 for r in scored.values())


@pytest.mark.parametrize("value", ["300", "300\n", "\u0663\u0660\u0660", 300.0, True])
def test_score_refuses_an_outcome_budget_that_is_not_a_json_integer(run, capsys, value):
    lines = _lines(run / "outcomes.jsonl")
    first = json.loads(lines[0])
    first["budget"] = value
    (run / "outcomes.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n", encoding="utf-8")
    assert main(["score", str(run)]) == 0
    err = capsys.readouterr().err
    assert f"outcomes.jsonl: line 1: outcome budget {value!r} is not a positive integer; skipped" in err, err


@pytest.mark.parametrize("value", ["300\n", "\u0663\u0660\u0660", 300.0])
def test_resume_reruns_a_unit_whose_logged_outcome_budget_is_not_a_json_integer(tmp_path, value):
    # eval's resume read the budget with int(): an outcome line with budget '300\n' marked (item, single, 300) done
    args = ["eval", "--model", "simulated", "--task", "graph_connectivity", "--split", "dev", "--limit", "2",
            "--strategy", "single", "--budget", "300", "--out", str(tmp_path / "r"), "--no-progress"]
    assert main(args) == 0
    path = tmp_path / "r" / "outcomes.jsonl"
    lines = _lines(path)
    first = json.loads(lines[0])
    path.write_text("\n".join([json.dumps({**first, "budget": value})] + lines[1:]) + "\n", encoding="utf-8")
    from depthbench.baselines._runner import summarize

    assert main(args) == 0
    assert [(r["budget"], r["n"]) for r in summarize(tmp_path / "r")] == [(300, 2)]  # the bad line is not counted
    again = [json.loads(x) for x in _lines(path)]
    assert len(again) == 3 and again[-1]["item_id"] == first["item_id"] and again[-1]["budget"] == 300
