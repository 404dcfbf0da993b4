"""Tests of ``depthbench report`` and ``depthbench compare`` on synthetic results.

The fixture builds a ``results.json`` following the contract in ``docs/ARCHITECTURE.md``
directly (no model, no scorer), so these tests pin the report's own behaviour: files,
self-contained HTML, deterministic bytes, verdict wording, and one-line errors.
"""

from __future__ import annotations

import base64
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.report import check_results, load_run, summarize_verdicts
from depthbench.errors import UserError

SHA = "5e" * 32


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def make_results(tasks=("graph_connectivity",), budgets=(64, 256), depths=(1, 2, 3, 4), n=30,
                 sha=SHA, verdicts=None, model="simulated:eps=0.05"):
    """A small, internally consistent results object.

    ``verdicts`` maps depth -> verdict for the (majority@4, budget_forcing) pair; by
    default equivalent at depths 1-2 and sequential better after.
    """
    verdicts = verdicts or {1: "equivalent", 2: "equivalent", 3: "b_better", 4: "b_better"}
    kinds = {"single": "single", "majority@4": "parallel", "budget_forcing": "sequential"}
    curves, eq, bps = [], [], []
    for task in tasks:
        for b in budgets:
            acc = {}
            for s, kind in kinds.items():
                for d in depths:
                    p = 0.5 + 0.5 * (0.9 if kind != "parallel" else 0.8) ** d
                    k = round(p * n)
                    acc[s, d] = k / n
                    lo, hi = _wilson(k, n)
                    curves.append({"task": task, "strategy": s, "kind": kind, "budget": b, "depth": d, "n": n,
                                   "accuracy": k / n, "wilson_lo": lo, "wilson_hi": hi, "boot_lo": lo,
                                   "boot_hi": hi, "no_answer_rate": 0.0,
                                   "mean_generated_tokens": min(b, 12.0 * d * (4 if kind == "parallel" else 1)),
                                   "mean_processed_tokens": 150.0 + 12 * d, "chance": 0.5})
            first = next((i for i, d in enumerate(depths) if verdicts[d] in ("a_better", "b_better")), None)
            bp = depths[first] if first and verdicts[depths[first - 1]] == "equivalent" else None
            for d in depths:
                diff = acc["majority@4", d] - acc["budget_forcing", d]
                eq.append({"task": task, "budget": b, "a": "majority@4", "b": "budget_forcing", "depth": d, "n": n,
                           "diff": diff, "ci90_lo": diff - 0.04, "ci90_hi": diff + 0.04, "ci95_lo": diff - 0.05,
                           "ci95_hi": diff + 0.05, "p_tost": 0.01, "p_diff": 0.2, "p_holm": 0.4,
                           "verdict": verdicts[d]})
            bps.append({"task": task, "budget": b, "a": "majority@4", "b": "budget_forcing", "margin": 0.05,
                        "breakpoint_depth": bp, "bp_lo": bp, "bp_hi": bp})
    fits = [{"task": t, "strategy": s, "budget": b, "p": 0.9, "p_lo": 0.85, "p_hi": 0.95, "d50": 3.1,
             "d50_lo": 2.4, "d50_hi": None, "auc": 0.71, "chance": 0.5}
            for t in tasks for s in kinds for b in budgets]
    return {"format": "depthbench-results/1", "run": {"model": model, "seed": 0}, "dataset_sha256": sha,
            "curves": curves, "fits": fits, "equivalence": eq, "breakpoints": bps, "margin": 0.05,
            "compute_to_target": [{"task": tasks[0], "a": "majority@4", "b": "budget_forcing", "depth": 1,
                                   "target": 0.9, "cost_a": 40.0, "cost_b": 80.0, "ratio": 0.5}]}


def write_run(path: Path, results: dict, run_json: dict | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    if run_json is not None:
        (path / "run.json").write_text(json.dumps(run_json), encoding="utf-8")
    return path


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> _Collect:
    p = _Collect()
    p.feed(text)
    p.close()
    return p


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    run = write_run(tmp_path_factory.mktemp("run") / "myrun", make_results(),
                    {"model": {"spec": "simulated:eps=0.05"}, "budgets": [64, 256], "seed": 0})
    assert main(["report", str(run)]) == 0
    return run / "report"


def test_report_writes_every_file(report_dir: Path) -> None:
    for name in ("report.html", "summary.md", "overview.png", "overview.svg"):
        assert (report_dir / name).stat().st_size > 0, name
    stems = {p.name for p in (report_dir / "figures").iterdir()}
    for kind in ("depth", "budget", "equivalence", "tokens"):
        assert f"graph_connectivity-{kind}.png" in stems
        assert f"graph_connectivity-{kind}.svg" in stems
    assert (report_dir / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (report_dir / "overview.svg").read_bytes()[:2000]


def test_html_is_self_contained_and_parses(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    doc = parse_html(html)
    assert "table" in doc.tags and "pre" in doc.tags
    # overview + 4 figures for the one task, all inlined, none pointing at a file
    assert len(doc.imgs) == 5
    for src in doc.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    text = " ".join(doc.text)
    assert SHA in text
    assert "simulated:eps=0.05" in text  # run config / label
    assert "equivalent up to depth 2, sequential better from depth 3 (breakpoint: depth 3)" in text
    assert "Compute to reach a target" in text and "0.50" in text


def test_markdown_summary(report_dir: Path) -> None:
    md = (report_dir / "summary.md").read_text(encoding="utf-8")
    assert md.startswith("# depthbench summary: simulated:eps=0.05")
    assert SHA in md
    assert ("- graph_connectivity @ budget 64, majority@4 vs budget_forcing: equivalent up to depth 2, "
            "sequential better from depth 3 (breakpoint: depth 3)") in md
    assert "(figures/graph_connectivity-equivalence.png)" in md


def test_same_inputs_same_bytes(tmp_path: Path, report_dir: Path) -> None:
    # Render the same run again into another folder (another name too): every byte equal.
    src = report_dir.parent
    other = write_run(tmp_path / "myrun", json.loads((src / "results.json").read_text()),
                      json.loads((src / "run.json").read_text()))
    assert main(["report", str(other), "--out", str(tmp_path / "again")]) == 0
    first = sorted(p.relative_to(report_dir) for p in report_dir.rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (report_dir / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel
    svg = (report_dir / "overview.svg").read_bytes()
    assert b"<dc:date>" not in svg
    assert b"tEXtSoftware" not in (report_dir / "overview.png").read_bytes()


def test_report_accepts_results_file_and_prints_verdicts(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "r", make_results(budgets=(64,), depths=(1, 2),
                                                 verdicts={1: "equivalent", 2: "a_better"}))
    assert main(["report", str(run / "results.json"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'out' / 'report.html'}" in out
    assert "graph_connectivity @ budget 64, majority@4 vs budget_forcing: equivalent at depth 1, " \
           "parallel better at depth 2 (breakpoint: depth 2)" in out


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ({1: "equivalent", 2: "equivalent", 3: "equivalent"},
         "equivalent at every depth (depths 1-3) (no breakpoint within the depths measured)"),
        ({1: "inconclusive", 2: "b_better", 3: "b_better"},
         "not determined at depth 1 at this n, sequential better from depth 2 "
         "(no breakpoint named: equivalence is not shown before depth 2)"),
        ({1: "equivalent", 2: "a_better", 3: "equivalent"},
         "equivalent at depth 1, parallel better at depth 2, equivalent at depth 3 (breakpoint: depth 2)"),
        ({1: "b_better", 2: "b_better", 3: "b_better"},
         "sequential better at every depth (depths 1-3) "
         "(no breakpoint: a difference is shown from the first depth measured)"),
        ({1: "equivalent", 2: "inconclusive", 3: "b_better"},
         "equivalent at depth 1, not determined at depth 2 at this n, sequential better at depth 3 "
         "(breakpoint not located: equivalence ends somewhere in depths 2-3)"),
    ],
    ids=["all-equivalent", "inconclusive-then-sequential", "alternating", "different-from-first", "gap"],
)
def test_verdict_sentences(verdicts, expected) -> None:
    res = check_results(make_results(budgets=(64,), depths=(1, 2, 3), verdicts=verdicts))
    (s,) = summarize_verdicts(res)
    assert s.text == f"graph_connectivity @ budget 64, majority@4 vs budget_forcing: {expected}"


def test_floor_depths_read_equivalent_both_at_chance() -> None:
    res = make_results(budgets=(64,), depths=(1, 2, 3),
                       verdicts={1: "equivalent", 2: "equivalent", 3: "equivalent"})
    for r in res["equivalence"]:
        r["floor"] = r["depth"] == 3
    for r in res["breakpoints"]:
        r["breakpoint_depth"] = None
    (s,) = summarize_verdicts(check_results(res))
    # equivalence at chance is not shown equivalence: nothing breaks, nothing is named
    assert s.text.endswith("equivalent up to depth 2, equivalent (both at chance) at depth 3 "
                           "(no breakpoint: no difference is shown)")
    assert s.breakpoint_depth is None and s.breakpoint["bp_lo"] == 3


def test_items_that_would_decide_are_stated() -> None:
    res = make_results(budgets=(64,), depths=(1, 2, 3), verdicts={1: "equivalent", 2: "inconclusive", 3: "b_better"})
    for r in res["equivalence"]:
        r["items_to_decide"] = 420 if r["verdict"] == "inconclusive" else None
    (s,) = summarize_verdicts(check_results(res))
    assert "not determined at depth 2 at this n (about 420 items per depth would decide it)" in s.text


def test_pair_of_same_kind_uses_names() -> None:
    res = make_results(budgets=(64,), depths=(1, 2), verdicts={1: "equivalent", 2: "a_better"})
    for r in res["curves"]:
        if r["strategy"] == "budget_forcing":
            r["kind"] = "parallel"
    (s,) = summarize_verdicts(check_results(res))
    assert s.text.endswith("majority@4 better at depth 2 (breakpoint: depth 2)")


def test_compare_same_data(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", make_results(budgets=(64,), model="openai:model-a"))
    b = write_run(tmp_path / "b", make_results(budgets=(64,), model="openai:model-b"))
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    for name in ("compare.html", "compare.md", "compare.png", "compare.svg"):
        assert (tmp_path / "cmp" / name).stat().st_size > 0
    doc = parse_html((tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8"))
    assert len(doc.imgs) == 1 and doc.imgs[0].startswith("data:image/png;base64,")
    text = " ".join(doc.text)
    assert "openai:model-a" in text and "openai:model-b" in text
    assert "different dataset" not in text
    md = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert "| graph_connectivity | 64 | majority@4 | budget_forcing | depth 3 | depth 3 |" in md


def test_compare_refuses_different_data(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", make_results(budgets=(64,)))
    b = write_run(tmp_path / "b", make_results(budgets=(64,), sha="77" * 32))
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "different datasets" in err and "--force" in err
    assert not (tmp_path / "cmp").exists()
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp"), "--force"]) == 0
    assert "not made on the same dataset" in (tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8")


def _expect_user_error(capsys, argv, *fragments) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, err


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys) -> None:
    _expect_user_error(capsys, ["report", str(tmp_path / "missing")], "does not exist")
    empty = tmp_path / "empty"
    empty.mkdir()
    _expect_user_error(capsys, ["report", str(empty)], "has no results.json")
    (empty / "outcomes.jsonl").write_text("")
    _expect_user_error(capsys, ["report", str(empty)], "depthbench analyze")
    (empty / "results.json").write_text("{not json")
    _expect_user_error(capsys, ["report", str(empty)], "not valid JSON", "line 1")
    bad = make_results()
    bad["format"] = "something-else/9"
    write_run(tmp_path / "fmt", bad)
    _expect_user_error(capsys, ["report", str(tmp_path / "fmt")], "format is 'something-else/9'")
    bad = make_results()
    del bad["curves"][3]["wilson_hi"]
    write_run(tmp_path / "field", bad)
    _expect_user_error(capsys, ["report", str(tmp_path / "field")], "curves[3] lacks wilson_hi")
    bad = make_results()
    bad["equivalence"][0]["verdict"] = "maybe"
    write_run(tmp_path / "verdict", bad)
    _expect_user_error(capsys, ["report", str(tmp_path / "verdict")], "equivalence[0].verdict is 'maybe'")
    bad = make_results()
    bad["curves"] = []
    write_run(tmp_path / "nocurves", bad)
    _expect_user_error(capsys, ["report", str(tmp_path / "nocurves")], "'curves' is empty")
    ok = write_run(tmp_path / "ok", make_results(budgets=(64,), depths=(1,), verdicts={1: "equivalent"}))
    (tmp_path / "afile").write_text("x")
    _expect_user_error(capsys, ["report", str(ok), "--out", str(tmp_path / "afile")], "--out", "cannot create folder")
    _expect_user_error(capsys, ["compare", str(ok), str(tmp_path / "missing")], "RUN_B", "does not exist")
    _expect_user_error(capsys, ["demo", "--out", str(tmp_path / "afile")], "--out", "cannot create folder")
    _expect_user_error(capsys, ["demo", "--out", str(tmp_path / "d"), "--seed", "-1"], "--seed", ">= 0")


def test_missing_sha_needs_force(tmp_path: Path) -> None:
    res = make_results(budgets=(64,), depths=(1,), verdicts={1: "equivalent"})
    del res["dataset_sha256"]
    a = load_run(write_run(tmp_path / "a", res))
    from depthbench.report import check_same_data
    with pytest.raises(UserError, match="records no dataset_sha256"):
        check_same_data(a, a)
    check_same_data(a, a, force=True)


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def test_readme_documents_every_command_and_the_two_commands() -> None:
    import argparse

    from depthbench.cli import build_parser

    readme = (_repo_root() / "README.md").read_text(encoding="utf-8")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in sub.choices:
        assert f"### depthbench {name}\n" in readme, f"README's CLI reference lacks `depthbench {name}`"
        assert f"usage: depthbench {name}" in readme
    assert ".venv/bin/pip install -e . && .venv/bin/depthbench demo" in readme
    assert "bash .ci/run" in readme
    assert (_repo_root() / "docs" / "demo-overview.png").read_bytes()[:4] == b"\x89PNG"
    ci = _repo_root() / ".ci" / "run"
    assert ci.stat().st_mode & 0o111, ".ci/run must be executable"
    text = ci.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text and "-m pytest" in text and '"$status" -eq 5' in text


def test_compare_notes_different_item_subsets(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", make_results(budgets=(64,)),
                  {"config": {"model": "m1", "limit": None, "n_items": 120}})
    b = write_run(tmp_path / "b", make_results(budgets=(64,)),
                  {"config": {"model": "m2", "limit": 40, "n_items": 40}})
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    md = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert md.startswith("# depthbench compare: m1 vs m2")
    assert "- Note: the runs cover different items of the dataset (limit None vs 40; n_items 120 vs 40)" in md
