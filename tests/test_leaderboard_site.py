"""Static leaderboard: built from re-scored submissions, escaped, deterministic."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest

from depthbench.analysis._format import fmt_d50
from depthbench.cli import main
from depthbench.leaderboard import _site, build_leaderboard, pack_run, write_submission
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
    evil = pack_run(run, submitter=EVIL, model_name=EVIL)
    write_submission(evil, subs / "b.json.gz")
    bad = copy.deepcopy(good)
    bad["metadata"]["model"]["name"] = "../../escape"
    (subs / "c.json.gz").write_bytes(submission_bytes(bad))
    (subs / "notes.txt").write_text("ignored")
    # a hidden split: the maintainers hold the answers, the submitter ran on the public prompts
    hfolder, hitems, hsha = H.make_hidden_release(root / "hidden")
    hrun = H.make_run(root / "hrun", hitems, hsha, split="hidden")
    write_submission(pack_run(hrun, submitter="lab H", model_name="org/model-h"), subs / "h.json.gz")
    return {"root": root, "releases": [root / "releases", hfolder], "subs": subs, "items": items}


@pytest.fixture(scope="module")
def built(world):
    out = world["root"] / "out1"
    res = build_leaderboard(world["subs"], out, releases=world["releases"])
    return out, res


def test_accepts_valid_rejects_invalid(built):
    out, res = built
    assert res.accepted == ["a.json.gz", "b.json.gz", "h.json.gz"] and res.rejected == ["c.json.gz"]
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["format"] == "depthbench-leaderboard/1"
    assert [r["file"] for r in data["rejected"]] == ["c.json.gz"]
    assert "path traversal" in data["rejected"][0]["problems"][0]
    rows = data["rows"]
    assert len(rows) == 6  # 3 submissions x (single, majority@3) x 1 budget
    assert {r["verified"] for r in rows if r["model"] == "org/model-h"} == {True}
    assert {r["verified"] for r in rows if r["model"] in ("org/model-a", EVIL)} == {False}
    assert {r["token_check"] for r in rows} == {"bounded (pre-token bound)"}
    for r in rows:
        assert r["accuracy_lo"] <= r["accuracy"] <= r["accuracy_hi"]
        assert r["auc_lo"] <= r["auc"] <= r["auc_hi"]
        assert r["budget"] == 64 and r["n"] == 6


def test_only_hidden_split_rows_are_ranked_and_they_come_first(built):
    """Public-data rows (gold answers public) have no rank and never stand above a hidden-split row."""
    out, _ = built
    rows = json.loads((out / "leaderboard.json").read_text())["rows"]
    tables = [r["table"] for r in rows]
    assert tables == sorted(tables, key=lambda t: t != "hidden") and set(tables) == {"hidden", "public"}
    hidden = [r for r in rows if r["table"] == "hidden"]
    assert [r["rank"] for r in hidden] == sorted(r["rank"] for r in hidden) and hidden[0]["rank"] == 1
    assert all(r["rank"] is None for r in rows if r["table"] == "public")
    html = (out / "index.html").read_text()
    assert html.index("hidden split, verified and ranked") < html.index("public data, self-run (not ranked)")
    md = (out / "leaderboard.md").read_text()
    assert md.index("hidden split, verified and ranked") < md.index("public data, self-run (not ranked)")


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
    assert table_lines and all(ln.count(" | ") == 15 for ln in table_lines)  # '|' in the name is escaped
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
    # the badge says what it certifies: a hidden split, answers re-derived, how token counts were checked
    assert 'class="badge" title="hidden split; answers re-derived; token counts bounded (pre-token bound)">verified<' in html
    assert html.count("<svg") == 3 and "<?xml" not in html
    assert not re.search(r"<dc:date>", html)


def test_downloads_stay_inside_out_dir(built):
    out, res = built
    downloads = sorted((out / "submissions").iterdir())
    assert len(downloads) == 3
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
    args = ["leaderboard", "build", str(world["subs"]), "--out", str(tmp_path / "o")]
    for r in world["releases"]:
        args += ["--releases", str(r)]
    assert main(args) == 0
    cap = capsys.readouterr()
    assert "3 submission(s) accepted (1 ranked on a hidden split, 2 public data, self-run), 1 rejected" in cap.out
    assert "rejected c.json.gz" in cap.err
    assert main(args + ["--strict"]) == 1
    assert main(["leaderboard", "build", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")]) == 2
    assert "SUBMISSIONS_DIR" in capsys.readouterr().err


def test_cli_build_fails_when_every_submission_is_rejected(world, tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "c.json.gz").write_bytes((world["subs"] / "c.json.gz").read_bytes())
    (subs / "d.json.gz").write_bytes(b"not gzip")
    assert main(["leaderboard", "build", str(subs), "--out", str(tmp_path / "o"),
                 "--releases", str(world["releases"][0])]) == 1
    err = capsys.readouterr().err
    assert "all 2 submission(s) were rejected (c.json.gz, d.json.gz" in err and "nothing written" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_build_on_an_empty_folder_exits_1_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert main(["leaderboard", "build", str(tmp_path / "subs"), "--out", str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err
    assert "no valid submission" in err and "holds no .json.gz submission" in err and "Traceback" not in err
    assert not (tmp_path / "site").exists()


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
    for rows in boards.values():  # public releases: listed per dataset, not ranked
        assert len({r["model"] for r in rows}) == 1 and {r["rank"] for r in rows} == {None}
    assert (tmp_path / "out" / "index.html").read_text().count("<table class=\"sortable\">") == 2


def test_svg_text_is_escaped():
    """The inline SVG is inserted unescaped, so its text must be XML-escaped by the renderer."""
    from depthbench.leaderboard._site import _depth_svg

    svg = _depth_svg([{"strategy": "<script>x</script>", "budget": 1, "depth": 1, "accuracy": 0.5,
                       "wilson_lo": 0.1, "wilson_hi": 0.9}], "<b>&")
    assert svg.startswith("<svg") and "<script" not in svg and "<b>" not in svg and "&lt;script&gt;" in svg


@pytest.mark.parametrize(("row", "text"), [
    # a d50 inside the measured depths keeps its interval
    ({"d50": 3.14159, "d50_lo": 2.5, "d50_hi": 4.0, "p": 0.8, "d50_extrapolated": False, "max_depth": 8},
     "3.14 [2.50, 4.00]"),
    # beyond the deepest depth: not a number the data support, worded as report/compare/analyze do
    ({"d50": 11.04, "d50_lo": 6.0, "d50_hi": None, "p": 0.95, "d50_extrapolated": True, "max_depth": 4},
     "> max depth 4"),
    # no decay seen (per-step reliability 1): infinite d50
    ({"d50": None, "p": 1.0, "d50_extrapolated": True, "max_depth": 4}, "> max depth 4"),
    # no fit at all
    ({"d50": None, "p": None}, "—"),
])
def test_d50_cell_uses_the_one_wording(row, text):
    assert _site._d50_text(row) == text
    if row.get("d50_extrapolated"):
        assert _site._d50_text(row) == fmt_d50(row)
