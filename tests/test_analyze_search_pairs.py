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
