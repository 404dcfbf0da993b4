"""The simulated reasoner: closed forms vs Monte Carlo, determinism, continuation, spec parsing."""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import time

import numpy as np
import pytest

from depthbench.baselines import Request, load_model
from depthbench.baselines import _simulated_theory as S
from depthbench.errors import UserError

GRAPH_ITEM = {
    "id": "graph_connectivity/test/0/3", "task": "graph_connectivity", "depth": 4, "answer": "11",
    "answer_type": "choice", "solution_trace": [2, 5, 8, 3, 11],
    "instance": {"num_nodes": 16},
    "meta": {"family": "graph_connectivity", "answer_space": {"labels": ["11", "6"]}, "chance": 0.5},
}
ARITH_ITEM = {
    "id": "multihop_arithmetic/test/0/9", "task": "multihop_arithmetic", "depth": 3, "answer": 5,
    "answer_type": "integer",
    "solution_trace": [{"var": "x1", "value": 3}, {"var": "x4", "value": 9}, {"var": "x7", "value": 5}],
    "meta": {"family": "multihop_arithmetic", "answer_space": {"modulus": 11}, "chance": 1 / 11},
}


def _req(item, *, seeds=(0,), max_tokens=200, prefix=None, prompt=None, stop=()):
    kw = {"prompt": prompt} if prompt is not None else {"messages": ({"role": "user", "content": "Solve it."},),
                                                        "assistant_prefix": prefix}
    return Request(max_tokens=max_tokens, temperature=1.0, top_p=1.0, seeds=tuple(seeds), n=len(seeds),
                   stop=tuple(stop), item=item, **kw)


def _gen(model, req):
    return asyncio.run(model.generate(req))


def _answer(text):
    found = re.findall(r"(?m)^Answer: (\S+)", text)
    return found[-1] if found else None


def _within(mc_mean, n, p, z=4.5):
    sd = math.sqrt(max(p * (1 - p), 1e-4) / n)
    assert abs(mc_mean - p) <= z * sd, (mc_mean, p, sd)


# ---------------------------------------------------------------- closed forms vs Monte Carlo


@pytest.mark.parametrize("depth,budget,eps,spread", [(1, 40, 0.1, 0), (4, 50, 0.05, 3), (6, 80, 0.02, 4), (10, 60, 0.0, 2)])
def test_single_chain_closed_form_matches_monte_carlo(depth, budget, eps, spread):
    b = S.simulate_batch(depth, budget, 40_000, 1, eps=eps, spread=spread, n_answers=2, seed=11)
    p = S.single_chain_accuracy(depth, budget, eps=eps, spread=spread, chance=0.5)
    _within(b.correct.mean(), b.correct.size, p)
    F = S.chain_completion_probability(depth, budget, spread=spread)
    _within(b.complete.mean(), b.complete.size, F)


@pytest.mark.parametrize("n,K,rho,chance", [(5, 2, 0.0, None), (8, 2, 0.3, None), (8, 7, 0.0, None),
                                            (6, 5, 0.4, None), (4, 2, 0.0, None), (8, None, 0.25, 0.02),
                                            (12, 97, 0.3, None)])
def test_majority_closed_form_matches_monte_carlo(n, K, rho, chance):
    depth, budget, eps = 5, 60, 0.08   # F_5(60) is strictly between 0 and 1: guessing matters
    b = S.simulate_batch(depth, budget, 30_000, n, eps=eps, rho=rho, n_answers=K, chance=chance, seed=5)
    mc = S.majority_credit(b.codes).mean()
    p = S.majority_accuracy(depth, budget, n, eps=eps, rho=rho, n_answers=K, chance=chance)
    _within(mc, 30_000, p)


@pytest.mark.parametrize("tpr,fpr,rho", [(1.0, 0.0, 0.0), (0.8, 0.2, 0.0), (0.9, 0.3, 0.5)])
def test_best_of_closed_form_matches_monte_carlo(tpr, fpr, rho):
    depth, budget, n = 6, 90, 6
    b = S.simulate_batch(depth, budget, 30_000, n, eps=0.1, rho=rho, n_answers=3, seed=8)
    mc = S.best_of_credit(b.correct, tpr=tpr, fpr=fpr, seed=9).mean()
    p = S.best_of_accuracy(depth, budget, n, eps=0.1, rho=rho, chance=1 / 3, tpr=tpr, fpr=fpr)
    _within(mc, 30_000, p)


def test_best_of_oracle_is_coverage_formula():
    p = S.sample_correct_probability(3, 50, eps=0.1, chance=0.5)
    assert S.best_of_accuracy(3, 50, 4, eps=0.1, chance=0.5) == pytest.approx(1 - (1 - p) ** 4)


def test_majority_ties_get_fractional_credit():
    codes = np.array([[0, 0, 1, 1], [0, 1, 2, 3], [0, 0, 0, 1], [1, 1, 0, 2], [1, 2, 3, 4]])
    assert S.majority_credit(codes).tolist() == [0.5, 0.25, 1.0, 0.0, 0.0]
    # n = 2, K = 2, p = 1/2: credit = p^2 + 2 p (1 - p) / 2 = 1/2
    assert S.majority_accuracy(0, 10, 2, eps=0.0, n_answers=2) == pytest.approx(1.0)
    assert S.majority_accuracy(1, 2, 2, eps=0.0, n_answers=2) == pytest.approx(0.5)  # budget too small: guesses


def test_three_regimes():
    kw = dict(eps=0.02, tokens_per_step=12, spread=3, n_answers=2)
    B = 256
    # shallow: parallel and sequential equivalent
    assert abs(S.majority_accuracy(2, B // 4, 4, **kw) - S.single_chain_accuracy(2, B, eps=0.02)) < 0.05
    # deep: the long chain wins, by more as depth grows
    gap8 = S.single_chain_accuracy(8, B, eps=0.02) - S.majority_accuracy(8, B // 4, 4, **kw)
    gap4 = S.single_chain_accuracy(4, B, eps=0.02) - S.majority_accuracy(4, B // 4, 4, **kw)
    assert gap4 < 0.1 < gap8
    # drift: forcing a long chain past its natural stop loses to voting
    forced = S.single_chain_accuracy(3, B, eps=0.02, drift=0.01, forced_tokens=150)
    assert S.majority_accuracy(3, B // 4, 4, **kw) > forced + 0.1


def test_simulate_batch_speed_and_determinism():
    S.simulate_batch(8, 120, 100, 10, seed=0)  # warm up
    t0 = time.perf_counter()
    b = S.simulate_batch(8, 120, 20_000, 16, eps=0.03, rho=0.2, n_answers=7, seed=3)
    rate = b.codes.size / (time.perf_counter() - t0)
    assert rate >= 100_000, rate
    b2 = S.simulate_batch(8, 120, 20_000, 16, eps=0.03, rho=0.2, n_answers=7, seed=3)
    assert np.array_equal(b.codes, b2.codes) and np.array_equal(b.tokens, b2.tokens)
    assert b.tokens.max() <= 120


def test_closed_forms_reject_bad_input():
    with pytest.raises(ValueError):
        S.majority_accuracy(3, 50, 0)
    with pytest.raises(ValueError):
        S.chain_completion_probability(-1, 50)
    with pytest.raises(ValueError):
        S.simulate_batch(3, 50, 10, 2, n_answers=1, seed=0)


# ---------------------------------------------------------------- the text backend


def test_text_walks_steps_and_counts_tokens_exactly():
    m = load_model("simulated:eps=0")
    r = _gen(m, _req(GRAPH_ITEM, seeds=(1, 2, 3)))
    assert len(r.choices) == 3 and r.prompt_token_source == "simulated"
    for c in r.choices:
        lines = c.text.splitlines()
        assert [ln.split()[:3] for ln in lines[:-1]] == [["Step", f"{k}:", f"node={v}"]
                                                           for k, v in enumerate([5, 8, 3, 11], 1)]
        assert lines[-1] == "Answer: 11"
        assert c.completion_tokens == len(c.text.split()) and c.token_source == "simulated"
        assert c.finish_reason == "stop"
    assert [c.seed for c in r.choices] == [1, 2, 3]
    assert r.prompt_tokens == 2


def test_text_deterministic_by_seed_and_ignores_global_rng():
    m = load_model("simulated:eps=0.3")
    random.seed(1)
    np.random.seed(1)
    a = _gen(m, _req(ARITH_ITEM, seeds=(7, 8)))
    random.seed(99)
    np.random.seed(99)
    b = _gen(m, _req(ARITH_ITEM, seeds=(7, 8)))
    assert a.choices == b.choices
    texts = {c.text for s in range(20) for c in _gen(m, _req(ARITH_ITEM, seeds=(s,))).choices}
    assert len(texts) > 5


def test_text_accuracy_matches_closed_form():
    m = load_model("simulated:eps=0.1,tokens_per_step=10,spread=3")
    budget, n = 40, 3000
    r = _gen(m, _req(ARITH_ITEM, seeds=tuple(range(n)), max_tokens=budget))
    acc = np.mean([_answer(c.text) == "5" for c in r.choices])
    p = S.single_chain_accuracy(3, budget, eps=0.1, tokens_per_step=10, spread=3, chance=1 / 11)
    _within(acc, n, p)
    assert all(c.completion_tokens <= budget for c in r.choices)


def test_budget_forcing_continuation_resumes_steps():
    m = load_model("simulated:eps=0,tokens_per_step=10,spread=0")
    first = _gen(m, _req(GRAPH_ITEM, max_tokens=25)).choices[0]   # room for 2 of 4 steps, then a guess
    assert first.text.count("Step") == 2 and first.completion_tokens == 22
    prefix = first.text + "\nWait"
    second = _gen(m, _req(GRAPH_ITEM, seeds=(1,), prefix=prefix)).choices[0]
    assert second.text.lstrip().startswith("Step 3:") and "Step 1:" not in second.text
    assert _answer(second.text) == "11"
    # the same continuation as a raw completion prompt
    raw = _gen(m, _req(GRAPH_ITEM, seeds=(1,), prompt="Question...\n\n" + prefix)).choices[0]
    assert raw.text == second.text
    # forced past the natural stop: re-checks, then answers again
    third = _gen(m, _req(GRAPH_ITEM, seeds=(2,), prefix=prefix + second.text + "\nWait")).choices[0]
    assert third.text.lstrip().startswith("Check 1:") and _answer(third.text) == "11"


def test_forced_answer_gets_only_the_answer_token():
    m = load_model("simulated:eps=0,tokens_per_step=10,spread=0")
    full = _gen(m, _req(GRAPH_ITEM)).choices[0].text
    cut = full[: full.index("Answer:")]
    c = _gen(m, _req(GRAPH_ITEM, prefix=cut + "\nAnswer:")).choices[0]
    assert c.text == " 11" and c.completion_tokens == 1 and c.finish_reason == "stop"
    partial = "Step 1: node=5 so then next carry on so then\nAnswer:"   # incomplete chain: a guess
    guesses = {_gen(m, _req(GRAPH_ITEM, seeds=(s,), prefix=partial)).choices[0].text for s in range(30)}
    assert guesses == {" 11", " 6"}


def test_drift_corrupts_forced_continuations():
    full = _gen(load_model("simulated:eps=0"), _req(GRAPH_ITEM)).choices[0].text + "\nWait"
    steady = load_model("simulated:eps=0,drift=0")
    drifty = load_model("simulated:eps=0,drift=0.2")
    seeds = tuple(range(200))
    ok_steady = np.mean([_answer(c.text) == "11" for c in _gen(steady, _req(GRAPH_ITEM, seeds=seeds, prefix=full)).choices])
    ok_drifty = np.mean([_answer(c.text) == "11" for c in _gen(drifty, _req(GRAPH_ITEM, seeds=seeds, prefix=full)).choices])
    assert ok_steady == 1.0 and ok_drifty < 0.05


def test_errors_propagate_and_wrong_answer_is_wrong():
    m = load_model("simulated:eps=0.5")
    for c in _gen(m, _req(ARITH_ITEM, seeds=tuple(range(100)))).choices:
        steps = re.findall(r"Step (\d): (\S+)", c.text)
        gold = ["x1=3", "x4=9", "x7=5"]
        first_bad = next((i for i, (_, v) in enumerate(steps) if v != gold[i]), None)
        if first_bad is None:
            assert _answer(c.text) == "5"
        else:
            assert all(v != gold[i] for i, (_, v) in enumerate(steps) if i >= first_bad)
            assert _answer(c.text) != "5" and 0 <= int(_answer(c.text)) < 11


def test_rho_one_copies_shared_draw():
    r = _gen(load_model("simulated:eps=0.3,rho=1"), _req(ARITH_ITEM, seeds=tuple(range(8))))
    assert len({c.text for c in r.choices}) == 1
    r = _gen(load_model("simulated:eps=0.3,rho=0"), _req(ARITH_ITEM, seeds=tuple(range(8))))
    assert len({c.text for c in r.choices}) > 1


def _step_chain(model, item, seeds, max_tokens=400):
    """A chain built step by step as the search strategies do (stop at the next step line)."""
    chain = ""
    for seed in seeds:
        t = _gen(model, _req(item, seeds=(seed,), prefix=chain + "\n" if chain else None, stop=("\nStep ",),
                             max_tokens=max_tokens)).choices[0].text
        chain += ("\n" if chain else "") + t
        if "Answer:" in t:
            return chain
    raise AssertionError(f"no answer after {len(seeds)} step calls: {chain!r}")


@pytest.mark.parametrize("item", [GRAPH_ITEM, ARITH_ITEM])
@pytest.mark.parametrize("eps", [0.0, 0.3, 0.7])
def test_rho_one_step_wise_chain_is_the_shared_chain(item, eps):
    """Copying follows one default continuation: a chain built only from copying step calls is
    the item's shared chain, the one every copying whole-chain sample writes."""
    m = load_model(f"simulated:eps={eps},rho=1")
    shared = _gen(m, _req(item, seeds=(99,), max_tokens=400)).choices[0].text
    assert _step_chain(m, item, range(10)) == shared
    assert _step_chain(m, item, range(20, 30)) == shared


def test_rho_copying_after_a_departure_continues_the_departed_chain():
    """A copying step call after a prefix that left the shared chain at step j writes the shared
    continuation keyed on the prefix ending with step j, whatever later steps followed it."""
    m1 = load_model("simulated:eps=0.5,rho=1")
    shared = _gen(m1, _req(GRAPH_ITEM, seeds=(0,), max_tokens=400)).choices[0].text.split("\n")
    other = shared[0].replace("Step 1: ", "Step 1: off ", 1)  # a first step the shared chain never writes
    from_other = _gen(m1, _req(GRAPH_ITEM, prefix=other + "\n", max_tokens=400)).choices[0].text.split("\n")
    assert from_other[0] != shared[1]
    nxt = _gen(m1, _req(GRAPH_ITEM, prefix="\n".join([other, from_other[0]]) + "\n",
                        max_tokens=400)).choices[0].text
    assert nxt == "\n".join(from_other[1:])


def test_rho_whole_chain_outputs_golden():
    """Whole-chain outputs at rho = 0.5 (copying and own samples mixed, a budget cut included) are
    the ones of the simulator before copying followed the default continuation."""
    m = load_model("simulated:eps=0.2,rho=0.5")
    texts = [c.text for item in (GRAPH_ITEM, ARITH_ITEM) for T in (200, 30)
             for c in _gen(m, _req(item, seeds=tuple(range(40)), max_tokens=T)).choices]
    assert sum(t == texts[0] for t in texts[:40]) >= 10  # the copies are there
    assert hashlib.sha256("\x00".join(texts).encode()).hexdigest() == GOLDEN_RHO_WHOLE


GOLDEN_RHO_WHOLE = "b0b54acc8323476b3db5df847dab6299525b980ebc6f92cb51dc56e1103f61b1"


def test_stop_strings_and_tiny_max_tokens():
    m = load_model("simulated:eps=0")
    c = _gen(m, _req(GRAPH_ITEM, stop=("Step 3",))).choices[0]
    assert "Step 3" not in c.text and c.finish_reason == "stop" and c.completion_tokens == len(c.text.split())
    c = _gen(m, _req(GRAPH_ITEM, max_tokens=1)).choices[0]
    assert c.text == "Answer:" and c.finish_reason == "length" and c.completion_tokens == 1


def test_missing_item_is_user_error():
    m = load_model("simulated")
    with pytest.raises(UserError, match="request.item"):
        _gen(m, Request(max_tokens=5, temperature=1, top_p=1, seeds=(0,), prompt="x"))


# ---------------------------------------------------------------- spec parsing


@pytest.mark.parametrize("spec,match", [
    ("gpt4", "unknown provider"), ("openai:", "needs a name"), ("", "empty"),
    ("simulated:eps", "key=value"), ("simulated:foo=1", "unknown"), ("simulated:eps=2", "eps"),
    ("simulated:tokens_per_step=4,spread=3", "spread"), ("simulated:tokens_per_step=x", "tokens_per_step=x: not an integer"),
])
def test_bad_specs_are_user_errors(spec, match):
    with pytest.raises(UserError, match=match) as e:
        load_model(spec)
    assert "\n" not in str(e.value)


def test_unknown_spec_lists_valid_forms():
    with pytest.raises(UserError) as e:
        load_model("vllm:foo")
    for form in ("openai:MODEL", "llamacpp:smollm2", "simulated", "replay:FILE.jsonl"):
        assert form in str(e.value)


def test_server_flags_rejected_for_local_backends():
    with pytest.raises(UserError, match="--base-url: only used with openai"):
        load_model("simulated", base_url="http://127.0.0.1:8000/v1")
    with pytest.raises(UserError, match="--api-key"):
        load_model("simulated", api_key="sk-x")


def test_simulated_spec_options():
    m = load_model("simulated:eps=0.05,tokens_per_step=8,spread=2,drift=0.001,rho=0.1")
    assert (m.params.eps, m.params.tokens_per_step, m.params.spread, m.params.drift, m.params.rho) == (0.05, 8, 2, 0.001, 0.1)
    assert load_model("simulated", eps=0.2).params.eps == 0.2
