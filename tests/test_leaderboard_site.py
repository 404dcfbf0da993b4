"""Static leaderboard: built from re-scored submissions, escaped, deterministic."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.leaderboard import build_leaderboard, pack_run, write_submission
from depthbench.leaderboard._submission import submission_bytes

_spec = importlib.util.spec_from_file_location("_lb_helpers", Path(__file__).with_name("_leaderboard_helpers.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

EVIL = '<script>alert("x")</script> | `md` [link](http://e)'


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    folder, items, sha = H.make_release(root / "releases")
    run = H.make_run(root / "run", items, sha)
    subs = root / "subs"
    subs.mkdir()
    good = pack_run(run, submitter="lab A", model_name="org/model-a", model_revision="v1")
    write_submission(good, subs / "a.json.gz")
    evil = pack_run(run, submitter=EVIL, model_name=EVIL, raw=False)
    write_submission(evil, subs / "b.json.gz")
    bad = copy.deepcopy(good)
    bad["metadata"]["model"]["name"] = "../../escape"
    (subs / "c.json.gz").write_bytes(submission_bytes(bad))
    (subs / "notes.txt").write_text("ignored")
    return {"root": root, "releases": root / "releases", "subs": subs, "items": items}


@pytest.fixture(scope="module")
def built(world):
    out = world["root"] / "out1"
    res = build_leaderboard(world["subs"], out, releases=world["releases"])
    return out, res


def test_accepts_valid_rejects_invalid(built):
    out, res = built
    assert res.accepted == ["a.json.gz", "b.json.gz"] and res.rejected == ["c.json.gz"]
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["format"] == "depthbench-leaderboard/1"
    assert [r["file"] for r in data["rejected"]] == ["c.json.gz"]
    assert "path traversal" in data["rejected"][0]["problems"][0]
    rows = data["rows"]
    assert len(rows) == 4  # 2 submissions x (single, majority@3) x 1 budget
    assert {r["verified"] for r in rows if r["model"] == "org/model-a"} == {True}
    assert {r["verified"] for r in rows if r["model"] == EVIL} == {False}
    assert {r["token_check"] for r in rows if r["model"] == "org/model-a"} == {"recounted (simulated word rule)"}
    for r in rows:
        assert r["accuracy_lo"] <= r["accuracy"] <= r["accuracy_hi"]
        assert r["auc_lo"] <= r["auc"] <= r["auc_hi"]
        assert r["budget"] == 64 and r["n"] == 6
    ranks = [r["rank"] for r in rows]
    assert ranks == sorted(ranks) and ranks[0] == 1


def test_names_are_escaped_in_html_and_markdown(built):
    out, _ = built
    html = (out / "index.html").read_text()
    assert "&lt;script&gt;alert(" in html
    assert "<script>alert" not in html
    assert html.count("<script") == 1  # only the inline sorter
    md = (out / "leaderboard.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    ranking = md.split("## Equivalence breakpoints")[0]
    table_lines = [ln for ln in ranking.splitlines() if ln.startswith("| ") and "alert" in ln]
    assert table_lines and all(ln.count(" | ") == 12 for ln in table_lines)  # '|' in the name is escaped
    bp_lines = [ln for ln in md.split("## Equivalence breakpoints")[1].splitlines() if "alert" in ln]
    assert bp_lines and all(ln.count(" | ") == 7 for ln in bp_lines)


def test_the_leaderboard_pairs_strategies_as_analyze_does(built):
    """majority@3 (parallel) and single (one chain) form a pair in `depthbench analyze`; the
    leaderboard compares the same pair with the same rule (it used to compare nothing)."""
    from depthbench.analysis import default_pairs

    out, _ = built
    data = json.loads((out / "leaderboard.json").read_text())
    for e in data["entries"]:
        kinds = {r["strategy"]: r["kind"] for r in data["rows"] if r["file"] == e["file"]}
        pairs = {(b["a"], b["b"]) for b in e["breakpoints"]}
        assert pairs == set(default_pairs(kinds)) == {("majority@3", "single")}


def test_html_has_sortable_table_badge_and_inline_svg(built):
    out, _ = built
    html = (out / "index.html").read_text()
    assert 'class="sortable"' in html and "addEventListener" in html
    # the badge says what it certifies: answers re-scored and token counts recounted (simulated word rule)
    assert 'class="badge" title="answers re-scored; token counts recounted (simulated word rule)">verified<' in html
    assert "stated\ntoken counts were checked" in html
    assert html.count("<svg") == 2 and "<?xml" not in html
    assert not re.search(r"<dc:date>", html)


def test_downloads_stay_inside_out_dir(built):
    out, res = built
    downloads = sorted((out / "submissions").iterdir())
    assert len(downloads) == 2
    for p in downloads:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.json\.gz", p.name)
        assert p.resolve().parent == (out / "submissions").resolve()
    assert all(f.resolve().is_relative_to(out.resolve()) for f in res.files)
    assert not (out.parent / "escape").exists()


def test_same_inputs_same_bytes(world, built):
    out1, _ = built
    out2 = world["root"] / "out2"
    build_leaderboard(world["subs"], out2, releases=world["releases"])
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file())
    assert files1 == files2
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), rel


def test_cli_build_and_strict(world, tmp_path, capsys):
    args = ["leaderboard", "build", str(world["subs"]), "--out", str(tmp_path / "o"), "--releases", str(world["releases"])]
    assert main(args) == 0
    cap = capsys.readouterr()
    assert "2 submission(s) accepted, 1 rejected" in cap.out and "rejected c.json.gz" in cap.err
    assert main(args + ["--strict"]) == 1
    assert main(["leaderboard", "build", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")]) == 2
    assert "SUBMISSIONS_DIR" in capsys.readouterr().err


def test_cli_build_fails_when_every_submission_is_rejected(world, tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "c.json.gz").write_bytes((world["subs"] / "c.json.gz").read_bytes())
    (subs / "d.json.gz").write_bytes(b"not gzip")
    assert main(["leaderboard", "build", str(subs), "--out", str(tmp_path / "o"),
                 "--releases", str(world["releases"])]) == 1
    err = capsys.readouterr().err
    assert "every submission was rejected (2: c.json.gz, d.json.gz)" in err and "Traceback" not in err


def test_different_datasets_are_ranked_separately(tmp_path):
    rels, subs = tmp_path / "rels", tmp_path / "subs"
    subs.mkdir()
    for name, seed in (("a", 7), ("b", 8)):
        _, items, sha = H.make_release(rels / name, seed=seed, depths=(1, 2), n=2)
        run = H.make_run(tmp_path / f"run-{name}", items, sha)
        write_submission(pack_run(run, model_name=f"model-{name}"), subs / f"{name}.json.gz")
    res = build_leaderboard(subs, tmp_path / "out", releases=rels)
    assert res.accepted == ["a.json.gz", "b.json.gz"]
    boards = {}
    for r in res.data["rows"]:
        boards.setdefault(r["dataset_sha256"], []).append(r)
    assert len(boards) == 2
    for rows in boards.values():
        assert len({r["model"] for r in rows}) == 1 and min(r["rank"] for r in rows) == 1
    assert (tmp_path / "out" / "index.html").read_text().count("<table class=\"sortable\">") == 2


def test_svg_text_is_escaped():
    """The inline SVG is inserted unescaped, so its text must be XML-escaped by the renderer."""
    from depthbench.leaderboard._site import _depth_svg

    svg = _depth_svg([{"strategy": "<script>x</script>", "budget": 1, "depth": 1, "accuracy": 0.5,
                       "wilson_lo": 0.1, "wilson_hi": 0.9}], "<b>&")
    assert svg.startswith("<svg") and "<script" not in svg and "<b>" not in svg and "&lt;script&gt;" in svg
