"""`submission validate` replays each prediction's strategy over its submitted calls.

A dropped call (a leaf of a search, the first sample of a generation, the final revision of
a thread) or an added one (a sample beyond N) changes the cost a strategy is charged at
matched tokens and calls; the validator must refuse it with one line naming the prediction
and the missing or extra call. Untampered submissions of every strategy stay valid.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.leaderboard import pack_run
from depthbench.leaderboard._validate import validate_object

_spec = importlib.util.spec_from_file_location("_lbh", Path(__file__).parent / "_leaderboard_helpers.py")
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

STRATEGIES = ("single", "majority@3", "best_of@3:self", "budget_forcing", "revision@2", "beam@4:2:prm=env",
              "mcts@4:c=1.4:prm=env", "evolve@2", "revision_feedback@2:2", "weighted_best_of@3:prm=env",
              "weighted_best_of@2:prm=self")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("valcalls")
    ds, run = tmp / "ds", tmp / "run"
    assert main(["generate", H.TASK, "--depths", "2,4", "--n", "2", "--seed", "5", "--out", str(ds), "--quiet"]) == 0
    assert main(["eval", "--data", str(ds), "--model", "simulated:eps=0.5", "--strategy", ",".join(STRATEGIES),
                 "--budget", "1024", "--out", str(run), "--no-progress"]) == 0
    return pack_run(run, submitter="ci"), ds


def _preds(sub, prefix):
    return [p for p in sub["predictions"] if p["strategy"].startswith(prefix)]


def test_untampered_submission_of_every_strategy_is_valid(packed):
    sub, ds = packed
    assert {p["strategy"] for p in sub["predictions"]} == set(STRATEGIES)
    rep = validate_object(sub, releases=ds)
    assert rep.problems == [] and rep.ok


def _drop_last(sub, prefix, role=None):
    p = max(_preds(sub, prefix), key=lambda p: len(p["calls"]))
    idx = [j for j, c in enumerate(p["calls"]) if role is None or c["role"] == role]
    p["calls"].pop(idx[-1])
    return p


def _drop_first(sub, prefix):
    p = max(_preds(sub, prefix), key=lambda p: len(p["calls"]))
    p["calls"].pop(0)
    return p


def _extra_sample(sub, prefix):
    """A round-0 call at sample N (beyond the strategy's N), keyed and seeded consistently."""
    from depthbench.baselines._context import call_key, derive_seed
    p = _preds(sub, prefix)[0]
    first = next(c for c in p["calls"] if c["round"] == 0 and c["parent"] is None)
    n = 1 + max(c["sample"] for c in p["calls"] if c["round"] == 0)
    c = dict(first, sample=n, key=call_key(p["item_id"], p["strategy"], p["budget"], n, 0, first["role"]),
             seed=derive_seed(sub["metadata"]["sampling"]["seed"], p["item_id"], n, 0, first["role"]))
    p["calls"].append(c)
    return p


def _reparent(sub, prefix):
    """A tree-search step moved under another node of the round before (a branch the search never took)."""
    for p in _preds(sub, prefix):
        for c in p["calls"]:
            if c["role"] != "step" or c["parent"] is None:
                continue
            others = [o["key"] for o in p["calls"] if o["role"] == "step" and o["round"] == c["round"] - 1
                      and o["key"] != c["parent"]]
            if others:
                c["parent"] = others[0]
                return p
    raise AssertionError("no step with another node to move under")


def _length_under_cap(sub, prefix):
    p = _preds(sub, prefix)[0]
    p["calls"][0]["finish_reason"] = "length"
    return p


TAMPERS = [
    ("beam drops its last call", lambda s: _drop_last(s, "beam@"), "missing"),
    ("mcts drops a step", lambda s: _drop_last(s, "mcts@", "step"), "missing"),
    ("evolve drops its last call", lambda s: _drop_last(s, "evolve@"), "missing"),
    ("evolve drops its first call", lambda s: _drop_first(s, "evolve@"), "missing"),
    ("revision_feedback drops its final revise", lambda s: _drop_last(s, "revision_feedback@", "revise"), "missing"),
    ("majority drops a sample", lambda s: _drop_last(s, "majority@"), "missing"),
    ("beam adds a sample beyond N", lambda s: _extra_sample(s, "beam@"), "extra"),
    ("majority adds a sample beyond N", lambda s: _extra_sample(s, "majority@"), "is not a call strategy"),
    ("mcts step moved under another node", lambda s: _reparent(s, "mcts@"), "but the strategy makes it from"),
    ("weighted_best_of drops a chain", lambda s: _drop_last(s, "weighted_best_of@3"), "missing"),
    ("weighted_best_of drops a PRM call", lambda s: _drop_last(s, "weighted_best_of@2", "prm"), "missing"),
    ("weighted_best_of adds a chain beyond N", lambda s: _extra_sample(s, "weighted_best_of@3"),
     "is not a call strategy"),
    ("finish_reason length under the cap", lambda s: _length_under_cap(s, "single"), "finish_reason 'length'"),
]


@pytest.mark.parametrize("name,tamper,words", TAMPERS, ids=[t[0] for t in TAMPERS])
def test_a_prediction_whose_calls_are_not_its_strategys_is_refused(packed, name, tamper, words):
    sub, ds = packed
    bad = copy.deepcopy(sub)
    p = tamper(bad)
    rep = validate_object(bad, releases=ds)
    assert not rep.ok
    where = f"(item {p['item_id']!r}, {p['strategy']}, budget {p['budget']})"
    hits = [x for x in rep.problems if where in x and words in x]
    assert hits, rep.problems
    assert all("\n" not in x for x in hits)
