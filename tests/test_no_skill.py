"""No-skill rules on every (split, depth) bucket of the canonical release (data/v3).

A benchmark's floor is only as good as the best rule that uses no skill. Each rule below
answers every item of a bucket without solving it; its accuracy must not beat chance by
more than 2 percentage points. Two kinds of rule need a stated bound instead:

* **exactly balanced rules** (fixed position, larger/smaller label, higher degree): the
  generator balances the cue within each bucket, so these score exactly 1/2 for an even
  bucket and 1/2 +- one item for an odd one (5-item dev buckets: 3/5); the bound is
  ``max(chance + 0.02, ceil(n/2) / n)``.
* **data-dependent rules** (a constant answer, a copied constant, the most common answer of
  the other split, a candidate chosen by label frequency): their accuracy on ``n`` items is
  a random variable even with no cue at all -- a fair no-skill rule on 100 items exceeds
  chance + 2 pp by noise about a third of the time (choice) or almost always (the in-sample
  mode of 100 answers over 97 values is 4-5 items). For these the bound is
  ``max(chance + 0.02, q / n)``, where ``q`` is the 99.9th percentile of the rule's hit count
  under the no-skill null: Binomial(n, chance) for a rule fixed before seeing the bucket,
  the largest cell of Multinomial(n, uniform over the answer space) for the in-sample mode.
  Pooled over a whole test split (1,000 items) the constant-answer rules of the large
  answer space are also held to chance + 2 pp strictly.

A real cue fails either bound: v1's "always the first candidate" scored 57/100 at depth 6
(balanced rules allow 50/100), and copying the constant of a bare lookup scored ~26% at
depth 1 (the binomial bound for 1/97 on 100 items is 5%).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from depthbench.data import CANONICAL
from depthbench.scorers import verify
from depthbench.tasks import load_dataset

RELEASE = Path(__file__).resolve().parents[1] / "data" / CANONICAL  # the canonical release (depthbench.data.RELEASES[-1])
TASKS = ("graph_connectivity", "multihop_arithmetic", "grid_planning")
SPLITS = ("test", "dev")
MARGIN = 0.02
ALPHA = 0.001


@lru_cache(maxsize=None)
def _items(task: str, split: str) -> tuple[dict, ...]:
    items, _ = load_dataset(RELEASE / task, split=split)
    return tuple(items)


def _buckets(task: str, split: str) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    for it in _items(task, split):
        out[it["depth"]].append(it)
    return dict(out)


def _binomial_bound(n: int, p: float) -> float:
    """Largest accuracy a rule fixed in advance reaches by chance with probability >= ALPHA."""
    return float(stats.binom.isf(ALPHA, n, p) + 1) / n


@lru_cache(maxsize=None)
def _mode_bound(n: int, m: int) -> float:
    """99.9th percentile of the largest cell of Multinomial(n, 1/m), over n (simulated, seeded).

    For answer spaces over 10**6 values (grid plans: 4**L moves strings with L >= 20) two
    equal answers among n <= 1000 have probability below n**2 / (2 m) < 0.5: the bound is
    one item."""
    if m > 10**6:
        return 1.0 / n
    rng = np.random.default_rng(20250101)
    draws = rng.multinomial(n, np.full(m, 1.0 / m), size=20_000).max(axis=1)
    return float(np.quantile(draws, 1 - ALPHA)) / n


def _score(items, answers) -> float:
    return sum(bool(a is not None and verify(it, a)) for it, a in zip(items, answers)) / len(items)


# ----------------------------------------------------------------------------- graph

def _degree(it, node):
    return sum(node in e for e in it["instance"]["edges"])


def _graph_rules(items, other):
    other_freq = Counter(it["answer"] for it in other)
    bucket_freq = Counter(it["answer"] for it in items)
    pick = lambda it, key: max(it["instance"]["targets"], key=key)  # noqa: E731 - ties: the first listed
    balanced = {
        "first listed": [str(it["instance"]["targets"][0]) for it in items],
        "second listed": [str(it["instance"]["targets"][1]) for it in items],
        "larger label": [str(max(it["instance"]["targets"])) for it in items],
        "smaller label": [str(min(it["instance"]["targets"])) for it in items],
        "higher degree": [str(pick(it, lambda t, it=it: _degree(it, t))) for it in items],
        "lower degree": [str(pick(it, lambda t, it=it: -_degree(it, t))) for it in items],
    }
    data = {
        "label closer to the source": [str(pick(it, lambda t, it=it: -abs(t - it["instance"]["source"])))
                                       for it in items],
        "most common answer of the other split": [str(pick(it, lambda t: other_freq[str(t)])) for it in items],
        "mode of the depth's answers (leave one out)": [
            str(pick(it, lambda t, it=it: bucket_freq[str(t)] - (it["answer"] == str(t)))) for it in items],
    }
    return balanced, data


# ----------------------------------------------------------------------------- arithmetic

def _query_statement(it):
    inst = it["instance"]
    return next(st for st in inst["statements"] if st["var"] == inst["query"])


def _arith_rules(items, other):
    m = items[0]["meta"]["answer_space"]["modulus"]
    const = lambda st, k: next((a for a in st["args"][k:] if isinstance(a, int)), 0)  # noqa: E731
    other_mode = Counter(it["answer"] for it in other).most_common(1)[0][0]
    fixed = {
        "always 0": [0] * len(items),
        "always 1": [1] * len(items),
        f"always {m - 1}": [m - 1] * len(items),
        "first constant of the query's statement": [const(_query_statement(it), 0) for it in items],
        "last constant of the query's statement": [const(_query_statement(it), 1) for it in items],
        "last number in the prompt": [int(re.findall(r"\d+", it["prompt"].split("Question:")[0])[-1]) % m
                                      for it in items],
        "most common answer of the other split": [other_mode] * len(items),
    }
    mode = Counter(it["answer"] for it in items).most_common(1)[0][0]
    return fixed, {"mode of the depth's answers": [mode] * len(items)}


# ----------------------------------------------------------------------------- grid

def _template_plan(it, vertical_first: bool) -> str:
    (sx, sy), (gx, gy) = it["instance"]["start"], it["instance"]["goal"]
    h = ("R" if gx > sx else "L") * abs(gx - sx)
    v = ("D" if gy > sy else "U") * abs(gy - sy)
    return v + h if vertical_first else h + v


def _grid_rules(items, other):
    other_mode = Counter(it["answer"] for it in other).most_common(1)[0][0]
    fixed = {
        "empty plan": [""] * len(items),
        "straight template, horizontal first": [_template_plan(it, False) for it in items],
        "straight template, vertical first": [_template_plan(it, True) for it in items],
        "the shortest gold plan of the bucket": [min((x["answer"] for x in items), key=len)] * len(items),
        "most common plan of the other split": [other_mode] * len(items),
    }
    mode = Counter(it["answer"] for it in items).most_common(1)[0][0]
    return fixed, {"mode of the depth's plans": [mode] * len(items)}


# ----------------------------------------------------------------------------- the test

@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("task", TASKS)
def test_no_skill_rules_stay_at_chance_in_every_bucket(task, split):
    other = _items(task, "dev" if split == "test" else "test")
    failures = []
    pooled: dict[str, list[float]] = defaultdict(list)
    for depth, items in sorted(_buckets(task, split).items()):
        n, chance = len(items), float(items[0]["meta"]["chance"])
        if task == "graph_connectivity":
            balanced, data = _graph_rules(items, other)
            checks = [(name, ans, max(chance + MARGIN, math.ceil(n / 2) / n)) for name, ans in balanced.items()]
            checks += [(name, ans, max(chance + MARGIN, _binomial_bound(n, chance))) for name, ans in data.items()]
        else:
            fixed, insample = (_arith_rules if task == "multihop_arithmetic" else _grid_rules)(items, other)
            space = items[0]["meta"]["answer_space"].get("modulus", 10**9)  # plans: effectively unbounded
            checks = [(name, ans, max(chance + MARGIN, _binomial_bound(n, chance))) for name, ans in fixed.items()]
            checks += [(name, ans, max(chance + MARGIN, _mode_bound(n, space))) for name, ans in insample.items()]
            for name, ans in fixed.items():
                pooled[name].append(_score(items, ans) * n)
        for name, answers, bound in checks:
            acc = _score(items, answers)
            if acc > bound + 1e-12:
                failures.append(f"depth {depth}: {name!r} scores {acc:.3f} > bound {bound:.3f} (n={n}, chance {chance:.4f})")
    assert not failures, "\n".join(failures)
    if split == "test" and pooled:  # 1,000 items: the fixed rules of large answer spaces at chance + 2 pp
        n_all = len(_items(task, split))
        chance = float(_items(task, split)[0]["meta"]["chance"])
        for name, hits in pooled.items():
            assert sum(hits) / n_all <= chance + MARGIN, (name, sum(hits) / n_all)


@pytest.mark.parametrize("split", SPLITS)
def test_graph_cues_are_exactly_balanced_in_every_bucket(split):
    for depth, items in _buckets("graph_connectivity", split).items():
        n = len(items)
        first = sum(str(it["instance"]["targets"][0]) == it["answer"] for it in items)
        larger = sum(int(it["answer"]) == max(it["instance"]["targets"]) for it in items)
        assert first in (n // 2, (n + 1) // 2), (depth, first, n)
        assert larger in (n // 2, (n + 1) // 2), (depth, larger, n)
        assert [it["meta"]["cues"] for it in items] == [
            {"target_first": str(it["instance"]["targets"][0]) == it["answer"],
             "target_larger": int(it["answer"]) == max(it["instance"]["targets"])} for it in items]
        if n % 4 == 0:  # full blocks: the four combinations equally often (the cues are independent)
            combos = Counter((c["target_first"], c["target_larger"]) for c in (it["meta"]["cues"] for it in items))
            assert set(combos.values()) == {n // 4}, (depth, combos)


def test_arithmetic_release_has_no_bare_lookup_items():
    for split in SPLITS:
        for it in _items("multihop_arithmetic", split):
            st = _query_statement(it)
            assert st["op"] != "=" and len(st["args"]) == 2, it["id"]
