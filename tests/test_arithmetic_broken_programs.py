"""The arithmetic certifier on programs the generator never makes, and ``describe_batch``.

``certify`` must refuse (``ValueError``) every program broken in one of the ways listed in
``HOW`` (cycles reached and unreached by the query, undefined or duplicate names, constants
of the wrong type or out of range, wrong arity, unknown operations, bad queries and moduli)
and give the reference solver's depth, answer and ancestors, with a valid trace, on the
re-shaped but valid ones; every statement of a program must be evaluable (no cycle anywhere).
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

from test_multihop_arithmetic import _random_program, _reference_solve, configs  # noqa: E402

from depthbench.generators import multihop_arithmetic as mh  # noqa: E402


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


HOW = ["none", "shuffle", "cycle_reached", "cycle_unreached", "self_loop_unreached", "behind_cycle_unreached",
       "undefined", "undefined_numeric_name", "duplicate", "bool", "float", "negative", "too_big", "huge",
       "numpy_int", "unhashable", "wrong_arity", "no_args", "unknown_op", "long_op", "empty_op",
       "equals_with_two", "query_missing", "query_not_str", "var_not_str", "bad_modulus", "other_modulus",
       "tuple_args"]


VALID = {"none", "shuffle", "other_modulus", "tuple_args"}  # re-shaped, still a valid program


@pytest.mark.parametrize("how", HOW)
def test_every_kind_of_break_is_refused_and_every_reshaping_certified(how):
    """On a generated program and on 30 random DAG programs ('=' statements, any names, any
    order), each broken in way ``how``: certify refuses exactly the broken ones, and on the
    others gives the reference solver's answer, depth and ancestors."""
    config = mh.MultihopArithmeticConfig(depth=6, num_variables=20, modulus=97)
    programs = [mh.generate(config, np.random.default_rng(3)).instance]
    programs += [_random_program(random.Random(seed)) for seed in range(30)]
    rng = random.Random(7)
    for inst in programs:
        if how == "equals_with_two" and all(s["op"] == "=" for s in inst["statements"]):
            continue  # nothing to break
        broken = _break(inst, how, rng)
        if how not in VALID:
            with pytest.raises(ValueError):
                mh.certify(broken)
            continue
        cert = mh.certify(broken)
        value, depth, needed = _reference_solve(broken)
        assert (cert.answer, cert.depth, cert.extra["evaluations"]) == (value, depth, len(needed))
        _assert_valid_trace(broken, cert)


# --------------------------------------------------------------------------- every statement evaluable


@pytest.mark.parametrize("order", ["topological", "reversed"])
def test_a_cycle_the_query_does_not_reach_is_refused(order):
    """Until today certify checked the unreached statements' shape but
    not their cycles: ``a = 1`` with ``b = c + 1``, ``c = b * 2`` and query ``a`` was accepted."""
    statements = [{"var": "a", "op": "=", "args": [1]}, {"var": "b", "op": "+", "args": ["c", 1]},
                  {"var": "c", "op": "*", "args": ["b", 2]}]
    if order == "reversed":
        statements.reverse()
    inst = {"modulus": 11, "order": order, "query": "a", "statements": statements}
    with pytest.raises(ValueError, match="does not reach contain a cycle"):
        mh.certify(inst)
    where = {s["var"]: i for i, s in enumerate(statements)}.get
    q = where("a")
    for evaluate in (mh._evaluate_recursive, mh._evaluate_iterative):
        with pytest.raises(ValueError, match="does not reach contain a cycle"):
            evaluate(statements, where, q, 11, [-1] * 3, [0] * 3)
    # the same program without the cycle: accepted, the unreached statements evaluated too
    statements[[s["var"] for s in statements].index("c")]["args"] = [5, 2]
    inst["order"] = "shuffled"  # b uses c on the wrong side for the order stated (refused: test_arithmetic_modulus_limit)
    cert = mh.certify(inst)
    assert (cert.depth, cert.answer, cert.solution_trace) == (1, 1, [{"var": "a", "value": 1}])


def test_the_explicit_stack_refuses_an_unreached_cycle_past_the_recursion_bound():
    n = mh._RECURSIVE_MAX + 50
    statements = [{"var": "q", "op": "=", "args": [3]}]
    statements += [{"var": f"v{i}", "op": "+", "args": [f"v{(i + 1) % n}", 1]} for i in range(n)]
    with pytest.raises(ValueError, match="does not reach contain a cycle"):
        mh.certify({"modulus": 11, "order": "shuffled", "query": "q", "statements": statements})
    statements[-1]["args"] = [4, 1]  # the ring opened: a chain of n unreached statements, all evaluable
    cert = mh.certify({"modulus": 11, "order": "shuffled", "query": "q", "statements": statements})
    assert (cert.depth, cert.answer, cert.extra) == (1, 3, {"evaluations": 1})


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
