"""The budget rule: G never exceeds B, for every strategy, over random budgets, N and R."""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depthbench.baselines import load_model
from depthbench.baselines._budget import (
    MIN_CALL_TOKENS,
    Budget,
    BudgetExceededError,
    BudgetExhausted,
    forced_token_estimate,
)
from depthbench.baselines._context import CallContext
from depthbench.baselines._protocol import Capabilities, Choice, Response
from depthbench.baselines._runner import check_budgets
from depthbench.baselines.strategies import parse
from depthbench.errors import UserError
from depthbench.tasks import build_items


@lru_cache(maxsize=None)
def _items(task: str) -> tuple:
    return tuple(build_items(task, "test", depths=[1, 3, 6], n=1))


def _run(strategy, item, budget, model, seed=0):
    ctx = CallContext(item, strategy.name, budget, model, run_seed=seed)
    return asyncio.run(strategy.run(item, ctx)), ctx


def _names(n: int, r: int) -> list[str]:
    return ["single", "budget_forcing", "budget_forcing:cap", f"revision@{r}", f"revision@{r}:maj",
            f"majority@{n}", f"majority@{n}:pooled", f"best_of@{n}:oracle", f"best_of@{n}:trace",
            f"best_of@{n}:self", f"best_of@{n}:noisy:0.8,0.2", f"pass@{n}", f"ratio@{n}x{r}"]


# --------------------------------------------------------------------------- unit rules
def test_reserve_cuts_max_tokens_to_what_is_left():
    b = Budget(100)
    r1 = b.reserve(max_tokens=70)
    r2 = b.reserve(max_tokens=70)  # only 30 left while r1 is open
    assert (r1.max_tokens, r2.max_tokens, b.remaining) == (70, 30, 0)
    with pytest.raises(BudgetExhausted):
        b.reserve()
    r1.settle([10], [5])
    assert b.remaining == 60 and b.generated == 10 and b.processed == 15
    r2.settle([30], [5])
    assert b.generated == 40 and b.remaining == 60


def test_n_choices_share_the_cap_and_forced_tokens_count():
    b = Budget(50)
    r = b.reserve(n=4, forced_tokens=2)
    assert r.max_tokens == 12  # (50 - 2) // 4
    r.settle([12, 1, 12, 3], [7, 7, 7, 7])
    assert b.generated == 30 and b.processed == 30 + 28


def test_overrun_is_an_error_never_silent():
    b = Budget(20)
    r = b.reserve(max_tokens=10)
    with pytest.raises(BudgetExceededError, match="max_tokens=10"):
        r.settle([11], [3])
    assert isinstance(BudgetExceededError("x"), UserError)


def test_children_charge_the_parent_and_split_is_static():
    b = Budget(100)
    kids = b.split(3)
    assert [k.total for k in kids] == [33, 33, 33]
    r = kids[0].reserve()
    assert r.max_tokens == 33 and b.remaining == 67
    r.settle([20], [1])
    assert b.generated == 20 and kids[0].remaining == 13


def test_forced_token_estimate():
    assert forced_token_estimate("\nWait,") == 3
    assert forced_token_estimate("\nAnswer:") == 3
    assert forced_token_estimate("") == 0


class _Greedy:
    """A backend that ignores max_tokens (reports more tokens than allowed)."""

    name = "greedy"
    capabilities = Capabilities()

    async def generate(self, request):
        return Response(tuple(Choice("Answer: 1", "stop", request.max_tokens + 5, "server", s) for s in request.seeds),
                        prompt_tokens=10, prompt_token_source="server", latency_s=0.0)

    async def aclose(self):
        pass


def test_a_backend_that_ignores_max_tokens_fails_the_run():
    item = _items("graph_connectivity")[0]
    with pytest.raises(BudgetExceededError):
        _run(parse("majority@4"), item, 64, _Greedy())


# --------------------------------------------------------------------------- property
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
          print_blob=True)
@given(
    budget=st.integers(min_value=1, max_value=700),
    n=st.integers(min_value=1, max_value=9),
    r=st.integers(min_value=1, max_value=5),
    task=st.sampled_from(["graph_connectivity", "multihop_arithmetic"]),
    which=st.integers(min_value=0, max_value=2),
    tps=st.integers(min_value=5, max_value=30),
    drift=st.sampled_from([0.0, 0.01]),
    seed=st.integers(min_value=0, max_value=3),
)
def test_budget_never_exceeded_for_every_strategy(budget, n, r, task, which, tps, drift, seed):
    model = load_model(f"simulated:eps=0.05,tokens_per_step={tps},spread=2,drift={drift}")
    item = _items(task)[which]
    for name in _names(n, r):
        strategy = parse(name)
        if budget < strategy.min_budget():  # `depthbench eval` refuses it up front
            with pytest.raises(UserError, match=f"^--budget {budget}: {re.escape(name)} gives "):
                check_budgets([strategy], [budget])
        else:  # every planned call gets at least MIN_CALL_TOKENS
            check_budgets([strategy], [budget])
        outcome, ctx = _run(strategy, item, budget, model, seed)
        if budget >= strategy.min_budget():
            planned = [c for c in ctx.records if c["role"] in ("answer", "revise", "judge")]
            assert planned and all(c["request"]["max_tokens"] >= MIN_CALL_TOKENS for c in planned), name
        g = sum(c["usage"]["completion_tokens"] + c["usage"]["forced_tokens"] for c in ctx.records)
        assert outcome["generated_tokens"] == g <= budget, name
        assert all(c["request"]["max_tokens"] <= budget for c in ctx.records), name
        assert outcome["processed_tokens"] >= g
        assert len(set(outcome["calls"])) == len(outcome["calls"]), name  # keys unique


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(budget=st.integers(min_value=8, max_value=600), n=st.integers(min_value=1, max_value=8),
       tps=st.integers(min_value=6, max_value=30))
def test_adaptive_keeps_the_dataset_total(budget, n, tps):
    model = load_model(f"simulated:eps=0.1,tokens_per_step={tps}")
    items = list(_items("graph_connectivity"))
    strategy = parse(f"adaptive@{n}")
    outs, ctxs = [], []

    def mk(it):
        ctxs.append(CallContext(it, strategy.name, budget, model, run_seed=1))
        return ctxs[-1]

    asyncio.run(strategy.run_dataset(items, mk, outs.append))
    assert len(outs) == len(items)
    assert sum(o["generated_tokens"] for o in outs) <= len(items) * budget
    for o in outs:
        assert o["generated_tokens"] <= o["meta"]["allocated"]


@pytest.mark.parametrize("module", ["depthbench.baselines._budget", "depthbench.baselines._context",
                                    "depthbench.baselines.strategies", "depthbench.baselines.backends._continuation"])
def test_docstring_examples(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module))
    assert res.failed == 0 and res.attempted > 0


# --------------------------------------------------------------------------- rules the mutation check guards
def test_the_per_choice_seed_is_a_pinned_hash_of_every_coordinate():
    from depthbench.baselines._context import derive_seed

    # pinned: a change of the recipe changes every run's samples (and breaks resume and paired draws)
    assert derive_seed(0, "gc-1", 0) == 1962556731
    assert derive_seed(0, "gc-1", 0, 0, "judge") == 370852530
    assert derive_seed(7, "graph_connectivity/test/s1/d3/0", 2, 1, "continue") == 679228023
    base = dict(run_seed=7, item_id="x", sample=2, round=1, role="answer")
    seeds = {derive_seed(**base)}
    for field, other in (("run_seed", 8), ("item_id", "y"), ("sample", 3), ("round", 2), ("role", "judge")):
        seeds.add(derive_seed(**{**base, field: other}))
    assert len(seeds) == 6  # each coordinate changes the seed


def test_a_request_for_n_choices_holds_n_times_its_cap():
    b = Budget(100)
    r = b.reserve(max_tokens=40, n=3)
    assert r.max_tokens == 33 and r.amount == 99 and b.remaining == 1  # nothing left for a concurrent call
    with pytest.raises(BudgetExhausted):
        b.reserve(max_tokens=40, n=1, min_tokens=2)
    r.settle([10, 10, 10], [5, 5, 5])
    assert b.remaining == 70


def test_an_outcome_over_its_budget_is_refused():
    class One:
        name = "one"
        capabilities = Capabilities()

        async def generate(self, request):
            return Response((Choice("Answer: 7", "stop", 30, "tokenizer", 1),), prompt_tokens=5,
                            prompt_token_source="tokenizer", latency_s=0.0)

        async def aclose(self):
            pass

    item = _items("graph_connectivity")[0]
    ctx = CallContext(item, "single", 64, One())
    asyncio.run(ctx.call({"messages": ctx.user_messages()}, role="answer"))
    assert ctx.outcome(None, 0.0)["generated_tokens"] == 30
    ctx.budget.total = 20  # a strategy that lowered the cap after spending: the record must not pass
    with pytest.raises(BudgetExceededError, match="used 30 tokens over a cap of 20"):
        ctx.outcome(None, 0.0)
