"""Tests of the multihop_arithmetic family: certified depth, answers, sizes, prompts, seeding."""

from __future__ import annotations

import os
import random
import sys
from collections import Counter

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _family_helpers import built_items  # noqa: E402

from depthbench.generators import multihop_arithmetic as mh  # noqa: E402
from depthbench.io import canonical_json, sha256_bytes  # noqa: E402

PRIMES = [3, 5, 7, 11, 13, 31, 97, 101, 257]


@st.composite
def configs(draw, max_vars: int = 40):
    n = draw(st.integers(1, max_vars))
    return mh.MultihopArithmeticConfig(
        depth=draw(st.integers(1, n)),
        num_variables=n,
        modulus=draw(st.sampled_from(PRIMES)),
        order=draw(st.sampled_from(mh.ORDERS)),
        ops=tuple(draw(st.lists(st.sampled_from(mh.OPS), min_size=1, max_size=3, unique=True))),
        p_chain_operand=draw(st.floats(0.0, 1.0)),
    )


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _reference_solve(instance):
    """A second oracle, written without networkx: memoised recursion over the statements."""
    m = instance["modulus"]
    by_var = {s["var"]: s for s in instance["statements"]}
    value, depth = {}, {}

    def visit(var, stack=()):
        if var in value:
            return
        assert var not in stack, "cycle"
        st_ = by_var[var]
        vals, deps = [], [0]
        for a in st_["args"]:
            if isinstance(a, str):
                visit(a, stack + (var,))
                vals.append(value[a])
                deps.append(depth[a])
            else:
                vals.append(a)
        op = st_["op"]
        if op == "=":
            value[var] = vals[0] % m
        elif op == "+":
            value[var] = (vals[0] + vals[1]) % m
        elif op == "-":
            value[var] = (vals[0] - vals[1]) % m
        else:
            value[var] = (vals[0] * vals[1]) % m
        depth[var] = 1 + max(deps)

    visit(instance["query"])
    return value[instance["query"]], depth[instance["query"]], set(value)


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**32 - 1))
def test_certified_depth_and_answer_match_request(config, seed):
    problem = mh.generate(config, _rng(seed))
    cert = mh.certify(problem.instance)
    assert cert.depth == config.depth == problem.depth
    assert cert.answer == problem.answer
    assert 0 <= problem.answer < config.modulus
    assert cert.solution_trace == problem.solution_trace
    # Independent oracle agrees on value and depth; the ancestors are exactly the chain.
    value, depth, needed = _reference_solve(problem.instance)
    assert (value, depth) == (problem.answer, config.depth)
    assert len(needed) == len(problem.solution_trace) == config.depth
    assert problem.solution_trace[-1] == {"var": problem.instance["query"], "value": problem.answer}
    # And networkx's longest path over the ancestors' sub-DAG measures the same depth.
    graph = nx.DiGraph()
    graph.add_nodes_from(s["var"] for s in problem.instance["statements"])
    graph.add_edges_from((a, s["var"]) for s in problem.instance["statements"] for a in s["args"] if isinstance(a, str))
    sub = graph.subgraph(nx.ancestors(graph, problem.instance["query"]) | {problem.instance["query"]})
    assert len(nx.dag_longest_path(sub)) == config.depth


@settings(max_examples=100, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**32 - 1))
def test_instance_is_well_formed(config, seed):
    inst = mh.generate(config, _rng(seed)).instance
    names = [s["var"] for s in inst["statements"]]
    assert sorted(names) == sorted(f"x{i}" for i in range(config.num_variables))
    assert inst["order"] == config.order and inst["modulus"] == config.modulus
    pos = {v: i for i, v in enumerate(names)}
    for i, s in enumerate(inst["statements"]):
        assert s["op"] in ("=", *config.ops) or s["op"] == "+"  # '*' on a zero value becomes '+'
        assert len(s["args"]) == (1 if s["op"] == "=" else 2)
        for a in s["args"]:
            if isinstance(a, str):
                if config.order == "topological":
                    assert pos[a] < i
                elif config.order == "reversed":
                    assert pos[a] > i
            else:
                assert 0 <= a < config.modulus


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 48), seed=st.integers(0, 2**32 - 1), order=st.sampled_from(mh.ORDERS))
def test_size_is_equal_across_a_depth_sweep(n, seed, order):
    sizes, lengths = set(), []
    for d in sorted({1, max(1, n // 2), n}):
        p = mh.generate(mh.MultihopArithmeticConfig(depth=d, num_variables=n, order=order), _rng(seed))
        sizes.add(canonical_json(p.size))
        assert len(p.instance["statements"]) == n
        lengths.append(len(mh.describe(p.instance)))
    assert len(sizes) == 1
    assert max(lengths) - min(lengths) <= 0.25 * max(lengths) + 40


@settings(max_examples=100, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**32 - 1), before=st.text(max_size=30), after=st.text(max_size=30))
def test_prompt_round_trip(config, seed, before, after):
    inst = mh.generate(config, _rng(seed)).instance
    text = mh.describe(inst)
    assert mh.parse_prompt(text) == inst
    assert mh.parse_prompt(f"{before}\n{text}\n{after}\nAnswer: 3") == inst


@settings(max_examples=30, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_problem_and_global_rng_ignored(config, seed):
    first = mh.generate(config, _rng(seed))
    random.seed(seed ^ 0x5A5A)
    np.random.seed(seed % 2**32 ^ 1234)
    second = mh.generate(config, _rng(seed))
    random.seed(7)
    np.random.seed(7)
    third = mh.generate(config, _rng(seed))
    assert first == second == third


def test_different_seeds_differ():
    config = mh.MultihopArithmeticConfig(depth=8)
    instances = {canonical_json(mh.generate(config, _rng(s)).instance) for s in range(50)}
    assert len(instances) == 50


# --------------------------------------------------------------------------- answer distribution


@pytest.mark.parametrize("depth", [1, 8, 32])
def test_answer_distribution_is_near_uniform(depth):
    """A constant guess must not score far above chance (1/m)."""
    m, n_items = 97, 1500
    config = mh.MultihopArithmeticConfig(depth=depth, num_variables=48, modulus=m)
    rng = _rng(1000 + depth)
    counts = Counter(mh.generate(config, rng).answer for _ in range(n_items))
    observed = np.array([counts.get(v, 0) for v in range(m)])
    assert stats.chisquare(observed).pvalue > 1e-4
    # Best constant answer: expected ~15.5 hits per value; far above chance would be >= 2x.
    assert observed.max() / n_items < 2.2 / m


# --------------------------------------------------------------------------- certifier


def test_certifier_on_a_hand_built_instance():
    inst = {
        "modulus": 11,
        "order": "shuffled",
        "query": "c",
        "statements": [
            {"var": "c", "op": "*", "args": ["b", "a"]},
            {"var": "z", "op": "+", "args": ["c", 1]},
            {"var": "a", "op": "=", "args": [4]},
            {"var": "b", "op": "-", "args": [2, "a"]},
        ],
    }
    cert = mh.certify(inst)
    # a = 4; b = 2 - 4 = -2 = 9; c = 9 * 4 = 36 = 3 (mod 11); chain a -> b -> c.
    assert cert.answer == 3
    assert cert.depth == 3
    assert cert.solution_trace == [{"var": "a", "value": 4}, {"var": "b", "value": 9}, {"var": "c", "value": 3}]
    assert mh.parse_prompt(mh.describe(inst)) == inst


@pytest.mark.parametrize(
    "statements, query, message",
    [
        ([{"var": "a", "op": "+", "args": ["b", 1]}, {"var": "b", "op": "+", "args": ["a", 1]}], "a", "cycle"),
        ([{"var": "a", "op": "+", "args": ["q", 1]}], "a", "never defined"),
        ([{"var": "a", "op": "=", "args": [1]}, {"var": "a", "op": "=", "args": [2]}], "a", "twice"),
        ([{"var": "a", "op": "=", "args": [11]}], "a", "constant"),
        ([{"var": "a", "op": "+", "args": [1]}], "a", "malformed"),
        ([{"var": "a", "op": "=", "args": [1]}], "b", "query"),
    ],
)
def test_certifier_rejects_malformed_instances(statements, query, message):
    with pytest.raises(ValueError, match=message):
        mh.certify({"modulus": 11, "order": "topological", "query": query, "statements": statements})


def test_parse_prompt_rejects_missing_or_truncated_text():
    inst = mh.generate(mh.MultihopArithmeticConfig(depth=3, num_variables=6), _rng(3)).instance
    text = mh.describe(inst)
    with pytest.raises(ValueError):
        mh.parse_prompt("no program here")
    with pytest.raises(ValueError):
        mh.parse_prompt("\n".join(text.split("\n")[:-2]))


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"depth": 0}, "depth"),
        ({"depth": 49}, "depth"),
        ({"depth": True}, "depth"),
        ({"depth": 2, "num_variables": 0}, "num_variables"),
        ({"depth": 2, "modulus": 91}, "modulus"),
        ({"depth": 2, "modulus": 2}, "modulus"),
        ({"depth": 2, "order": "random"}, "order"),
        ({"depth": 2, "ops": ("/",)}, "ops"),
        ({"depth": 2, "ops": ()}, "ops"),
        ({"depth": 2, "p_chain_operand": 1.5}, "p_chain_operand"),
    ],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        mh.MultihopArithmeticConfig(**kwargs)


def test_default_size_reaches_depth_32_and_max_depth():
    config = mh.MultihopArithmeticConfig(depth=32)
    assert mh.max_depth(config) == 48 == mh.max_depth({}) == mh.max_depth({"num_variables": 48})
    assert mh.certify(mh.generate(config, _rng(0)).instance).depth == 32
    assert mh.certify(mh.generate(mh.MultihopArithmeticConfig(depth=48), _rng(0)).instance).depth == 48


def test_golden_output_is_pinned():
    """Any change of the random stream or the construction changes this hash: bump VERSION."""
    p = mh.generate(mh.MultihopArithmeticConfig(depth=5, num_variables=10), _rng(20250101))
    digest = sha256_bytes(canonical_json({"instance": p.instance, "answer": p.answer}).encode())
    assert (mh.VERSION, p.answer, digest[:16]) == GOLDEN


GOLDEN = ("3", 75, "332143c729ad364d")


# --------------------------------------------------------------------------- item builder


def test_items_through_the_builder_validate_and_verify():
    from depthbench.scorers import verify

    items = built_items(mh, "multihop_arithmetic", [1, 32], 3)  # schema, parse_prompt, verify(gold)
    assert [it["depth"] for it in items] == [1, 1, 1, 32, 32, 32]
    for it in items:
        assert it["prompt"].rstrip().split("\n")[-2].startswith("Answer:")
        assert not verify(it, (it["answer"] + 1) % 97)
        assert it["meta"]["chance"] == pytest.approx(1 / 97)
        assert it["meta"]["size"] == {"num_variables": 48, "num_statements": 48, "modulus": 97}


def test_docstring_examples():
    import doctest

    assert doctest.testmod(mh, verbose=False).failed == 0


def test_prompt_length_does_not_depend_on_depth():
    """4,000 items of the default task over its 10 depths: |correlation(prompt length, depth)|
    < 0.1 and every depth's mean length within 0.5% of the overall mean (v1: 0.39 and
    1,162 -> 1,176 characters)."""
    from depthbench.tasks import build_items

    items = build_items("multihop_arithmetic", "train", n=400)
    assert len(items) == 4000
    lengths = np.array([len(it["prompt"]) for it in items], dtype=float)
    depths = np.array([it["depth"] for it in items], dtype=float)
    assert abs(np.corrcoef(lengths, depths)[0, 1]) < 0.1
    overall = lengths.mean()
    for d in np.unique(depths):
        assert abs(lengths[depths == d].mean() / overall - 1) < 0.005, d


def test_depth_one_items_are_one_operation_on_constants():
    from depthbench.tasks import build_items

    for it in build_items("multihop_arithmetic", "test", depths=[1], n=200):
        st = next(s for s in it["instance"]["statements"] if s["var"] == it["instance"]["query"])
        assert st["op"] in ("+", "-", "*") and all(isinstance(a, int) for a in st["args"])


# --------------------------------------------------------------------------- generator version 3


def _random_program(rng: random.Random):
    """A random program written without the generator: arbitrary names, any DAG shape,
    '=' statements, repeated operands (``a = b + b``), any presentation order."""
    m = rng.choice(PRIMES)
    n = rng.randint(1, 30)
    names = rng.sample([f"{c}{k}" for c in "abvq_" for k in range(40)], n)
    statements = []
    for i, var in enumerate(names):
        def operand():
            return names[rng.randrange(i)] if i and rng.random() < 0.6 else rng.randrange(m)
        op = rng.choice(["=", "+", "-", "*"])
        statements.append({"var": var, "op": op, "args": [operand()] if op == "=" else [operand(), operand()]})
    rng.shuffle(statements)
    return {"modulus": m, "statements": statements, "query": rng.choice(names), "order": "shuffled"}


def test_certifier_matches_the_recursive_oracle_on_programs_the_generator_never_makes():
    rng = random.Random(11)
    for _ in range(2000):
        inst = _random_program(rng)
        value, depth, needed = _reference_solve(inst)
        cert = mh.certify(inst)
        assert (cert.answer, cert.depth) == (value, depth)
        trace_vars = [t["var"] for t in cert.solution_trace]
        assert set(trace_vars) == needed and len(trace_vars) == len(needed) == cert.extra["evaluations"]
        assert trace_vars[-1] == inst["query"]
        # a topological order: every variable operand is listed before its user
        at = {v: k for k, v in enumerate(trace_vars)}
        by_var = {s["var"]: s for s in inst["statements"]}
        for v in trace_vars:
            assert all(at[a] < at[v] for a in by_var[v]["args"] if isinstance(a, str))
        assert all(t["value"] == _reference_solve({**inst, "query": t["var"]})[0] for t in cert.solution_trace[:3])


def test_certifier_reads_the_statements_not_the_generator():
    """Renaming the variables and re-ordering the statements of a generated instance changes
    nothing the certifier measures; changing one constant on the chain changes the answer."""
    rng = random.Random(5)
    config = mh.MultihopArithmeticConfig(depth=12, num_variables=30)
    for seed in range(50):
        p = mh.generate(config, _rng(seed))
        inst = p.instance
        rename = {s["var"]: f"v_{k}" for k, s in enumerate(rng.sample(inst["statements"], len(inst["statements"])))}
        statements = [{"var": rename[s["var"]], "op": s["op"],
                       "args": [rename.get(a, a) if isinstance(a, str) else a for a in s["args"]]}
                      for s in inst["statements"]]
        rng.shuffle(statements)
        cert = mh.certify({**inst, "statements": statements, "query": rename[inst["query"]]})
        assert (cert.depth, cert.answer) == (p.depth, p.answer)
        assert [t["value"] for t in cert.solution_trace] == [t["value"] for t in p.solution_trace]
        # the query's own statement: bump its constant (or turn a variable operand into 0)
        q = next(s for s in statements if s["var"] == rename[inst["query"]])
        k = next((i for i, a in enumerate(q["args"]) if isinstance(a, int)), None)
        if k is not None and q["op"] in "+-":
            q["args"][k] = (q["args"][k] + 1) % config.modulus
            assert mh.certify({**inst, "statements": statements, "query": q["var"]}).answer != p.answer


@pytest.mark.parametrize(
    "instance, message",
    [
        ({"modulus": "11", "query": "a", "statements": [{"var": "a", "op": "=", "args": [1]}]}, "modulus"),
        ({"modulus": 11, "query": "a", "statements": [{"var": "a", "op": "+", "args": ["a", 1]}]}, "cycle"),
        ({"modulus": 11, "query": "a", "statements": [{"var": "a", "op": "+", "args": [[1], 1]}]}, "malformed"),
        ({"modulus": 11, "query": "a", "statements": [{"var": "a", "op": "/", "args": [1, 1]}]}, "malformed"),
        ({"modulus": 11, "query": "a", "statements": [{"var": "a", "op": "+", "args": [True, 1]}]}, "constant"),
        ({"modulus": 11, "query": "b", "statements": [{"var": "a", "op": "+", "args": [1, 1]},
                                                      {"var": "b", "op": "*", "args": ["a", "c"]}]}, "never defined"),
        ({"modulus": 11, "query": 3, "statements": [{"var": "a", "op": "=", "args": [1]}]}, "query"),
    ],
)
def test_certifier_rejects_more_malformed_instances(instance, message):
    with pytest.raises(ValueError, match=message):
        mh.certify({"order": "shuffled", **instance})


def test_unreached_statements_are_validated_too():
    statements = [{"var": "a", "op": "=", "args": [1]}, {"var": "z", "op": "+", "args": ["nope", 1]}]
    with pytest.raises(ValueError, match="never defined"):
        mh.certify({"modulus": 11, "order": "topological", "query": "a", "statements": statements})


def test_recursive_and_explicit_stack_evaluations_agree():
    """Programs up to _RECURSIVE_MAX statements recurse, longer ones use the explicit stack:
    same values, depth, order and errors."""
    rng = random.Random(17)
    for _ in range(1000):
        inst = _random_program(rng)
        st_ = inst["statements"]
        where = {s["var"]: i for i, s in enumerate(st_)}.get
        q = where(inst["query"])
        runs = []
        for evaluate in (mh._evaluate_recursive, mh._evaluate_iterative):
            value, chain = [-1] * len(st_), [0] * len(st_)
            runs.append((evaluate(st_, where, q, inst["modulus"], value, chain), value[q], chain[q]))
        assert runs[0] == runs[1]
    # a program longer than the recursion bound: the explicit stack certifies it
    n = mh._RECURSIVE_MAX + 200
    p = mh.generate(mh.MultihopArithmeticConfig(depth=n, num_variables=n, order="reversed"), _rng(1))
    cert = mh.certify(p.instance)
    assert (cert.depth, cert.answer, cert.solution_trace) == (n, p.answer, p.solution_trace)
    cyclic = [{"var": f"v{i}", "op": "+", "args": [f"v{(i + 1) % n}", 1]} for i in range(n)]
    with pytest.raises(ValueError, match="cycle"):
        mh.certify({"modulus": 11, "order": "shuffled", "query": "v0", "statements": cyclic})


def test_certifier_falls_back_to_the_stack_when_called_deep_in_a_stack(monkeypatch):
    # no chain-to-chain operands: the search from the query recurses through all 300 statements
    p = mh.generate(mh.MultihopArithmeticConfig(depth=300, num_variables=300, p_chain_operand=0.0), _rng(2))
    limit = sys.getrecursionlimit()
    calls = []
    iterative = mh._evaluate_iterative
    monkeypatch.setattr(mh, "_evaluate_iterative", lambda *a: calls.append(1) or iterative(*a))

    def nest(k):
        return mh.certify(p.instance) if k == 0 else nest(k - 1)

    try:
        sys.setrecursionlimit(400)
        cert = nest(200)  # 200 frames deep, then a 300-deep chain: over the limit for recursion
    finally:
        sys.setrecursionlimit(limit)
    assert (cert.depth, cert.answer, cert.solution_trace) == (300, p.answer, p.solution_trace)
    assert calls == [1]  # the recursion ran out and the stack took over
    assert mh.certify(p.instance) == cert and calls == [1]  # at a normal depth: recursion


def test_certifier_rejects_a_non_string_variable_name():
    statements = [{"var": 5, "op": "=", "args": [1]}, {"var": "a", "op": "+", "args": [5, 1]}]
    with pytest.raises(ValueError, match="variable name"):
        mh.certify({"modulus": 11, "order": "topological", "query": "a", "statements": statements})


# --------------------------------------------------------------------------- batch generation


def _as_json(problems):
    """Problems as canonical JSON: equal text means equal values and equal types (int, not
    numpy int or bool)."""
    return canonical_json([{"instance": p.instance, "answer": p.answer, "answer_type": p.answer_type,
                            "depth": p.depth, "solution_trace": p.solution_trace, "size": p.size,
                            "chance": p.chance, "answer_space": p.answer_space} for p in problems])


@settings(max_examples=150, deadline=None)
@given(config=configs(max_vars=48), seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=9))
def test_generate_batch_gives_each_item_as_generate_alone(config, seeds):
    """Family.generate_batch (what the builder calls per depth bucket) is the per-item
    generate of each stream, byte for byte: an item does not depend on its batch mates or
    its position in the batch."""
    alone = [mh.generate(config, _rng(s)) for s in seeds]
    batch = mh.generate_batch(config, (_rng(s) for s in seeds), [None] * len(seeds))
    assert batch == alone
    assert _as_json(batch) == _as_json(alone)
    backwards = mh.generate_batch(config, (_rng(s) for s in seeds[::-1]), [None] * len(seeds))
    assert _as_json(backwards) == _as_json(alone[::-1])
    assert mh.FAMILY.generate_batch is mh.generate_batch


def test_generate_batch_matches_generate_on_full_builder_batches():
    """128 items per call (the builder's run length) at every order, equal to their own
    generate; the cases the batch handles apart are exercised: '*' turned into '+' (an
    absorbing zero operand, frequent modulo 3) and both operand orders of '-'."""
    seeds = list(range(1000, 1128))
    for order in mh.ORDERS:
        for ops, m in ((mh.OPS, 97), (("*",), 3), (("-",), 5)):
            config = mh.MultihopArithmeticConfig(depth=7, num_variables=20, modulus=m, order=order, ops=ops)
            alone = [mh.generate(config, _rng(s)) for s in seeds]
            assert _as_json(mh.generate_batch(config, (_rng(s) for s in seeds), [None] * 128)) == _as_json(alone)
            statements = [st for p in alone for st in p.instance["statements"]]
            if ops == ("*",):
                assert sum(st["op"] == "+" for st in statements) >= 10
            if ops == ("-",):
                assert {type(st["args"][0]) for st in statements} == {int, str}
    assert mh.generate_batch(config, iter(()), []) == []


def test_generate_batch_with_a_modulus_past_int64_products_uses_python_ints():
    config = mh.MultihopArithmeticConfig(depth=5, num_variables=8, modulus=2147483659)
    alone = [mh.generate(config, _rng(s)) for s in range(4)]
    assert _as_json(mh.generate_batch(config, (_rng(s) for s in range(4)), [None] * 4)) == _as_json(alone)
    assert max(p.answer for p in alone) > 2**31 // 4  # values span the big modulus


# --------------------------------------------------------------------------- hostile names and shapes


@pytest.mark.parametrize("name", ["4", "", "a b", "x-1", "a\nQuestion: what is the value of a modulo 11?\nc",
                                  "x\u00e9", "x\u0661", "a = 1"])
def test_certifier_refuses_a_variable_name_the_prompt_cannot_state(name):
    """A name is what the prompt prints: ``"4"`` prints as the constant 4 (``b = 4 + 1`` was certified
    8 with ``4 = 7``, while the prompt and parse_prompt read 5), a newline injects prompt lines.
    Names must match the prompt grammar ``[A-Za-z_][A-Za-z0-9_]*``."""
    statements = [{"var": name, "op": "=", "args": [7]}, {"var": "b", "op": "+", "args": [name, 1]},
                  {"var": "c", "op": "=", "args": [2]}]
    for query in ("b", "c"):  # the bad name reached by the query, and not
        inst = {"modulus": 11, "order": "topological", "query": query, "statements": statements}
        with pytest.raises(ValueError, match="not a variable name"):
            mh.certify(inst)


@pytest.mark.parametrize("instance", [
    {"order": "topological", "query": "a", "statements": [{"var": "a", "op": "=", "args": [1]}]},  # no modulus
    {"modulus": 11, "query": "a"},  # no statements
    {"modulus": 11, "query": "a", "statements": None},
    {"modulus": 11, "query": "a", "statements": {"a": 1}},
    {"modulus": 11, "query": "a", "statements": [[1, 2]]},
    {"modulus": 11, "query": "a", "statements": [{"var": ["a"], "op": "=", "args": [1]}]},  # unhashable name
    {"modulus": 11, "query": "a", "statements": [{"var": "a", "args": [1]}]},  # no op
    {"modulus": 11, "query": "a", "statements": [{"var": "a", "op": "="}]},  # no args
    {"modulus": 11, "query": "a", "statements": [{"var": "a", "op": "=", "args": {1: 0}}]},
    ["modulus", "statements"],
    None,
])
def test_certifier_refuses_every_malformed_shape_with_a_value_error(instance):
    """The documented refusal is ValueError (what the builder and the simulated backend catch), never a
    KeyError or TypeError."""
    with pytest.raises(ValueError):
        mh.certify(instance)


@pytest.mark.parametrize("m", [2**32 - 5, 2**40 - 87, 2**61 - 1, 2**64 - 59])
def test_a_modulus_whose_constant_bound_passes_int64_still_draws_spread_constants(m):
    """Past m ~ 3.04e9 the constant's bound (m - 1)(m - 2) passes 2**63: an int64 cast of the
    scaled draw saturated at -2**63, so nearly every constant came out the same value, and past
    2**63 the root's first constant was negative (certify refused the item). The draws are
    Python ints there, so every constant is its own and every item certifies."""
    config = mh.MultihopArithmeticConfig(depth=5, num_variables=12, modulus=m, p_chain_operand=0.0)
    problems = [mh.generate(config, _rng(s)) for s in range(100)]
    consts = [a for p in problems for st_ in p.instance["statements"] for a in st_["args"] if type(a) is int]
    assert len(consts) > 1200 and len(set(consts)) >= len(consts) - 2 and all(0 <= a < m for a in consts)
    for p in problems:
        cert = mh.certify(p.instance)
        assert (cert.depth, cert.answer) == (p.depth, p.answer)
    assert _as_json(mh.generate_batch(config, (_rng(s) for s in range(8)), [None] * 8)) == _as_json(problems[:8])
