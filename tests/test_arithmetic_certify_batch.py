"""The batched arithmetic certifier (``Family.certify_batch``) against ``certify``, and the
rule both enforce: every statement of a program must be evaluable (no cycle anywhere).

``certify_batch`` must give, per instance, ``certify``'s depth, answer and ``extra`` and a
valid trace, and raise ``ValueError`` exactly when some instance of the batch is one that
``certify`` refuses; checked on generated items and on programs the generator never makes,
broken on purpose in each of the ways listed in ``HOW`` (cycles reached and unreached,
undefined or duplicate names, bad constants, wrong arity, unknown operations, bad queries and
moduli), alone and inside otherwise valid batches.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_multihop_arithmetic import PRIMES, _random_program, _reference_solve, configs  # noqa: E402

from depthbench.generators import multihop_arithmetic as mh  # noqa: E402


def _outcome(fn, arg):
    """What a certifier says: its (depth, answer, extra) list, or "refused" for a ValueError."""
    try:
        certs = fn(arg)
    except ValueError:
        return "refused", None
    return [(c.depth, c.answer, dict(c.extra)) for c in certs], certs


def _single(instances):
    return [mh.certify(i) for i in instances]


def _assert_valid_trace(instance, cert):
    """The trace lists the query's ancestors once each, in a topological order, with their
    true values (the query among them, at the answer's value)."""
    by_var = {s["var"]: s for s in instance["statements"]}
    trace = cert.solution_trace
    names = [t["var"] for t in trace]
    _, _, needed = _reference_solve(instance)
    assert set(names) == needed and len(names) == len(needed) == cert.extra["evaluations"]
    at = {v: k for k, v in enumerate(names)}
    for v in names:
        assert all(at[a] < at[v] for a in by_var[v]["args"] if isinstance(a, str))
    values = mh.evaluate(instance)
    assert all(t["value"] == values[t["var"]] for t in trace)
    assert {"var": instance["query"], "value": cert.answer} in trace


def _check(instances):
    single, _ = _outcome(_single, instances)
    batch, certs = _outcome(mh.certify_batch, instances)
    assert batch == single
    if certs is not None:
        for inst, cert in zip(instances, certs):
            _assert_valid_trace(inst, cert)
    return single


# --------------------------------------------------------------------------- generated items


@settings(max_examples=120, deadline=None)
@given(config=configs(max_vars=48), seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=12))
def test_certify_batch_equals_certify_on_generated_items(config, seeds):
    problems = mh.generate_batch(config, (np.random.default_rng(s) for s in seeds), [None] * len(seeds))
    single = _check([p.instance for p in problems])
    assert single != "refused"
    assert [s[:2] for s in single] == [(p.depth, p.answer) for p in problems]


def test_certify_batch_on_full_builder_batches_of_every_order():
    for order in mh.ORDERS:
        config = mh.MultihopArithmeticConfig(depth=9, num_variables=30, order=order)
        problems = mh.generate_batch(config, (np.random.default_rng(s) for s in range(128)), [None] * 128)
        single = _check([p.instance for p in problems])
        assert [s[0] for s in single] == [9] * 128
    assert mh.certify_batch([]) == []
    assert mh.FAMILY.certify_batch is mh.certify_batch


# --------------------------------------------------------------------------- adversarial programs


def _break(inst, how, rng):
    """A copy of ``inst`` broken (or, for some ``how``, only re-shaped) in one way."""
    st_ = [dict(s, args=list(s["args"])) for s in inst["statements"]]
    inst = {**inst, "statements": st_}
    m = inst["modulus"]
    pick = rng.randrange(len(st_))
    binary = [s for s in st_ if s["op"] != "="]
    if how == "none":
        pass
    elif how == "shuffle":
        rng.shuffle(st_)
    elif how == "cycle_reached":  # the query's statement reads itself through a new chain
        q = next(s for s in st_ if s["var"] == inst["query"])
        st_.append({"var": "cyc0", "op": "+", "args": [inst["query"], 1]})
        q["op"], q["args"] = "+", ["cyc0", 2]
    elif how == "cycle_unreached":  # two new statements that read each other; nothing reads them
        st_ += [{"var": "cyc1", "op": "+", "args": ["cyc2", 1]}, {"var": "cyc2", "op": "*", "args": ["cyc1", 2]}]
    elif how == "self_loop_unreached":
        st_.append({"var": "cyc3", "op": "-", "args": ["cyc3", 1]})
    elif how == "behind_cycle_unreached":  # a statement that only depends on a cycle
        st_ += [{"var": "cyc4", "op": "+", "args": ["cyc5", 1]}, {"var": "cyc5", "op": "+", "args": ["cyc4", 1]},
                {"var": "cyc6", "op": "=", "args": ["cyc4"]}]
    elif how == "undefined":
        st_[pick]["args"][0] = "nowhere"
    elif how == "undefined_numeric_name":  # a name that looks like a number
        st_[pick]["args"][0] = str(m + 3)
    elif how == "duplicate":
        st_.append({"var": st_[pick]["var"], "op": "=", "args": [1]})
    elif how in ("bool", "float", "negative", "too_big", "huge", "numpy_int", "unhashable"):
        bad = {"bool": True, "float": 1.0, "negative": -1, "too_big": m, "huge": 10**30,
               "numpy_int": np.int64(1), "unhashable": [1]}[how]
        st_[pick]["args"][-1] = bad
    elif how == "wrong_arity":
        st_[pick]["args"] = st_[pick]["args"] + [1] if st_[pick]["op"] != "=" else [1, 2]
    elif how == "no_args":
        st_[pick]["args"] = []
    elif how == "unknown_op":
        st_[pick]["op"] = "/"
    elif how == "long_op":
        st_[pick]["op"] = "++"
    elif how == "empty_op":
        st_[pick]["op"] = ""
    elif how == "equals_with_two" and binary:
        binary[0]["op"] = "="
    elif how == "query_missing":
        inst["query"] = "nowhere"
    elif how == "query_not_str":
        inst["query"] = 3
    elif how == "var_not_str":
        st_[pick]["var"] = 7
    elif how == "bad_modulus":
        inst["modulus"] = rng.choice([1, 0, "97", 97.0, True])
    elif how == "other_modulus":  # valid (every constant stays below it), but not the batch's modulus
        inst["modulus"] = 1009
    elif how == "tuple_args":  # valid for certify
        for s in st_:
            s["args"] = tuple(s["args"])
    return inst


def _pad(instances):
    """Valid '=' statements appended so that every instance has the batch's largest count (a
    break that adds statements keeps the batch on the array path)."""
    n = max(len(i["statements"]) for i in instances)
    return [{**i, "statements": i["statements"] + [{"var": f"pad{k}", "op": "=", "args": [1]}
                                                   for k in range(n - len(i["statements"]))]} for i in instances]


HOW = ["none", "shuffle", "cycle_reached", "cycle_unreached", "self_loop_unreached", "behind_cycle_unreached",
       "undefined", "undefined_numeric_name", "duplicate", "bool", "float", "negative", "too_big", "huge",
       "numpy_int", "unhashable", "wrong_arity", "no_args", "unknown_op", "long_op", "empty_op",
       "equals_with_two", "query_missing", "query_not_str", "var_not_str", "bad_modulus", "other_modulus",
       "tuple_args"]


@settings(max_examples=400, deadline=None)
@given(batch=st.lists(st.tuples(st.integers(0, 2**32), st.sampled_from(HOW + ["none", "shuffle"] * 12)),
                     min_size=1, max_size=6),
       same_size=st.booleans())
def test_certify_batch_equals_certify_on_programs_the_generator_never_makes(batch, same_size):
    """Random DAG programs (any names, '=' statements, repeated operands, any order), some
    broken: the batch refuses exactly when certify refuses one of them, and otherwise gives
    certify's results; batches mix statement counts unless ``same_size``."""
    instances = []
    for seed, how in batch:
        rng = random.Random(seed)
        inst = _random_program(rng)
        if same_size:  # one statement count and modulus for the batch: the array path
            inst = _random_program(random.Random(batch[0][0]))
            rng.shuffle(inst["statements"])
        instances.append(_break(inst, how, rng))
    _check(_pad(instances) if same_size else instances)


def test_every_kind_of_break_is_refused_by_both_alone_and_inside_a_valid_batch():
    rng = random.Random(3)
    config = mh.MultihopArithmeticConfig(depth=6, num_variables=20, modulus=97)
    good = [p.instance for p in mh.generate_batch(config, (np.random.default_rng(s) for s in range(8)), [None] * 8)]
    valid = {"none", "shuffle", "other_modulus", "tuple_args"}
    for how in HOW:
        broken = _break(good[3], how, rng)
        batch = _pad(good[:3] + [broken] + good[4:])
        single, _ = _outcome(_single, batch)
        assert (single != "refused") == (how in valid), how
        assert _outcome(mh.certify_batch, batch)[0] == single, how
        # the array path judges these itself (the others it hands to certify, item by item)
        if how in ("none", "shuffle"):
            assert [(c.depth, c.answer, c.extra) for c in mh._certify_rows(batch)] == \
                [(c.depth, c.answer, c.extra) for c in single_certs(batch)]
        elif how in ARRAY_JUDGED:
            with pytest.raises(mh._Invalid):
                mh._certify_rows(batch)
        else:
            with pytest.raises((mh._PerItem, TypeError, KeyError, ValueError)) as err:
                mh._certify_rows(batch)
            assert not isinstance(err.value, mh._Invalid), how


ARRAY_JUDGED = {"cycle_reached", "cycle_unreached", "self_loop_unreached", "behind_cycle_unreached", "undefined",
                "undefined_numeric_name", "duplicate", "negative", "too_big", "huge", "wrong_arity", "no_args",
                "unknown_op", "equals_with_two", "query_missing", "query_not_str"}


def single_certs(instances):
    return [mh.certify(i) for i in instances]


# --------------------------------------------------------------------------- every statement evaluable


@pytest.mark.parametrize("order", ["topological", "reversed"])
def test_a_cycle_the_query_does_not_reach_is_refused(order):
    """Before version 3's batch certifier, certify checked the unreached statements' shape but
    not their cycles: ``a = 1`` with ``b = c + 1``, ``c = b * 2`` and query ``a`` was accepted."""
    statements = [{"var": "a", "op": "=", "args": [1]}, {"var": "b", "op": "+", "args": ["c", 1]},
                  {"var": "c", "op": "*", "args": ["b", 2]}]
    if order == "reversed":
        statements.reverse()
    inst = {"modulus": 11, "order": order, "query": "a", "statements": statements}
    with pytest.raises(ValueError, match="does not reach contain a cycle"):
        mh.certify(inst)
    with pytest.raises(ValueError, match="cycle"):
        mh.certify_batch([inst, inst])
    where = {s["var"]: i for i, s in enumerate(statements)}.get
    q = where("a")
    for evaluate in (mh._evaluate_recursive, mh._evaluate_iterative):
        with pytest.raises(ValueError, match="does not reach contain a cycle"):
            evaluate(statements, where, q, 11, [-1] * 3, [0] * 3)
    # the same program without the cycle: accepted, the unreached statements evaluated too
    statements[[s["var"] for s in statements].index("c")]["args"] = [5, 2]
    cert = mh.certify(inst)
    assert (cert.depth, cert.answer, cert.solution_trace) == (1, 1, [{"var": "a", "value": 1}])
    assert _outcome(mh.certify_batch, [inst])[0] == [(1, 1, {"evaluations": 1})]


def test_the_explicit_stack_refuses_an_unreached_cycle_past_the_recursion_bound():
    n = mh._RECURSIVE_MAX + 50
    statements = [{"var": "q", "op": "=", "args": [3]}]
    statements += [{"var": f"v{i}", "op": "+", "args": [f"v{(i + 1) % n}", 1]} for i in range(n)]
    with pytest.raises(ValueError, match="does not reach contain a cycle"):
        mh.certify({"modulus": 11, "order": "shuffled", "query": "q", "statements": statements})
    statements[-1]["args"] = [4, 1]  # the ring opened: a chain of n unreached statements, all evaluable
    cert = mh.certify({"modulus": 11, "order": "shuffled", "query": "q", "statements": statements})
    assert (cert.depth, cert.answer, cert.extra) == (1, 3, {"evaluations": 1})


@pytest.mark.parametrize("m", PRIMES)
def test_certify_batch_with_mixed_batches_falls_back_to_the_same_results(m):
    """Different moduli or statement counts in one batch, or a modulus past the batch path's
    bound, are certified one instance at a time: the same results."""
    a = mh.generate(mh.MultihopArithmeticConfig(depth=3, num_variables=8, modulus=m), np.random.default_rng(1))
    b = mh.generate(mh.MultihopArithmeticConfig(depth=5, num_variables=9, modulus=m), np.random.default_rng(2))
    c = mh.generate(mh.MultihopArithmeticConfig(depth=4, num_variables=8, modulus=10007), np.random.default_rng(3))
    got = mh.certify_batch([a.instance, b.instance, c.instance])
    assert [(x.depth, x.answer) for x in got] == [(3, a.answer), (5, b.answer), (4, c.answer)]


# --------------------------------------------------------------------------- batch statements


@settings(max_examples=80, deadline=None)
@given(config=configs(max_vars=48), seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=9))
def test_describe_batch_gives_describe_text_on_generated_items(config, seeds):
    problems = mh.generate_batch(config, (np.random.default_rng(s) for s in seeds), [None] * len(seeds))
    instances = [p.instance for p in problems]
    assert mh.describe_batch(instances) == [mh.describe(i) for i in instances]
    assert mh.FAMILY.describe_batch is mh.describe_batch


def test_describe_batch_on_other_programs_mixed_sizes_and_an_empty_one():
    rng = random.Random(8)
    instances = [_random_program(rng) for _ in range(200)]  # '=' statements, any names, 1-30 statements
    instances.append({"modulus": 5, "order": "reversed", "query": "a", "statements": []})
    assert sum(s["op"] == "=" for i in instances for s in i["statements"]) > 50
    texts = mh.describe_batch(instances)
    assert texts == [mh.describe(i) for i in instances]
    assert all(mh.parse_prompt(t) == i for t, i in zip(texts[:-1], instances))
    assert mh.describe_batch([]) == []
