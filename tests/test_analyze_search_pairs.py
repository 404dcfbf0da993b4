"""``analyze``'s default pairs include search strategies (beam, mcts, evolve): each is compared
with each parallel and each sequential strategy at the same budget, never with a bound."""

from __future__ import annotations

import json

from depthbench.analysis import default_pairs
from depthbench.cli import main
from depthbench.scorers._equivalence import VERDICTS


def test_default_pairs_pair_search_with_parallel_and_sequential_never_bound():
    kinds = {"beam@4:2:prm=oracle": "search", "mcts@4": "search", "best_of@4:oracle": "parallel",
             "single": "single", "budget_forcing": "sequential", "pass@4": "bound"}
    pairs = default_pairs(kinds)
    assert pairs == [("best_of@4:oracle", "budget_forcing"), ("best_of@4:oracle", "single"),
                     ("beam@4:2:prm=oracle", "best_of@4:oracle"), ("beam@4:2:prm=oracle", "budget_forcing"),
                     ("beam@4:2:prm=oracle", "single"), ("mcts@4", "best_of@4:oracle"),
                     ("mcts@4", "budget_forcing"), ("mcts@4", "single")]
    assert not any("pass@4" in p for p in pairs)
    assert ("beam@4:2:prm=oracle", "mcts@4") not in pairs and ("mcts@4", "beam@4:2:prm=oracle") not in pairs


def test_analyze_gives_verdicts_for_a_search_strategy(tmp_path):
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert main(["generate", "graph_connectivity", "--depths", "1,4", "--n", "6", "--seed", "3", "--out", str(ds),
                 "--quiet"]) == 0
    beam, bon = "beam@4:2:prm=oracle", "best_of@4:noisy:0.8,0.2"
    assert main(["eval", "--data", str(ds), "--model", "simulated:eps=0.2", "--strategy", f"{beam},{bon},single",
                 "--budget", "400", "--out", str(run), "--no-progress"]) == 0
    assert main(["analyze", str(run), "--n-boot", "200"]) == 0
    res = json.loads((run / "results.json").read_text())
    rows = {(r["a"], r["b"]): r for r in res["equivalence"]}
    assert {(beam, bon), (beam, "single"), (bon, "single")} <= set(rows)
    for pair in ((beam, bon), (beam, "single")):
        depths = sorted(r["depth"] for r in res["equivalence"] if (r["a"], r["b"]) == pair)
        assert depths == [1, 4]
        assert rows[pair]["budget"] == 400 and rows[pair]["verdict"] in VERDICTS
    assert {(b["a"], b["b"]) for b in res["breakpoints"]} >= {(beam, bon), (beam, "single")}


def test_beam_is_paired_with_its_like_for_like_baseline_and_long_names_keep_tables_aligned(tmp_path, capsys):
    """beam@N:W:prm=P against weighted_best_of@N:prm=P (the same PRM, no search) is a default pair;
    the eval summary and analyze's text tables keep their columns when a name is longer than the
    column's usual width."""
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert main(["generate", "graph_connectivity", "--depths", "1,4", "--n", "4", "--seed", "3", "--out", str(ds),
                 "--quiet"]) == 0
    beam, wbon = "beam@4:2:prm=noisy:0.6,0.4", "weighted_best_of@4:prm=noisy:0.6,0.4"
    assert default_pairs({beam: "search", wbon: "parallel"}) == [(beam, wbon)]
    capsys.readouterr()
    assert main(["eval", "--data", str(ds), "--model", "simulated:eps=0.2", "--strategy", f"{beam},{wbon},single",
                 "--budget", "400", "--out", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    head = next(ln for ln in out if ln.startswith("strategy "))
    end = head.index("budget") + len("budget")
    rows = [ln for ln in out if ln.split(" ")[0] in (beam, wbon, "single")]
    assert len(rows) == 3 and all(r[:end].split()[-1] == "400" and r[end] == " " for r in rows), out
    assert main(["analyze", str(run), "--n-boot", "200"]) == 0
    text = capsys.readouterr().out.splitlines()
    res = json.loads((run / "results.json").read_text())
    assert {(r["a"], r["b"]) for r in res["equivalence"]} >= {(beam, wbon)}
    curves_head = next(ln for ln in text if ln.startswith("task") and " kind " in ln)
    k = curves_head.index("kind")
    curve_rows = [ln for ln in text if ln.startswith("graph_connectivity") and (beam in ln or wbon in ln)
                  and (" search " in ln or " parallel " in ln)]
    assert curve_rows and all(r[k:].split()[0] in ("search", "parallel") and r[k - 1] == " " for r in curve_rows)
    eq_head = next(ln for ln in text if ln.startswith("task") and " a " in ln and " b " in ln)
    a0, b0, d0 = eq_head.index(" a ") + 1, eq_head.index(" b ") + 1, eq_head.index("depth")
    eq_rows = [ln for ln in text if ln.startswith("graph_connectivity") and f" {beam} " in ln and f" {wbon} " in ln]
    assert len(eq_rows) == 2
    for r in eq_rows:
        assert r[a0:b0].strip() == beam and r[b0:d0].strip() == wbon, r
