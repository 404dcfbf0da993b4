"""The arithmetic batch paths against the per-item reference: ``generate_batch``,
``certify_batch`` and ``describe_batch`` give ``generate``'s problems, ``certify``'s
certificates (or its very error) and ``describe``'s texts, on generated items and on
adversarial instances.

Run as is, the compiled fast paths (``generators/_arith_c.c``) are tested when they are
built; with ``DEPTHBENCH_PURE_PYTHON=1`` the same tests check the pure-Python paths. The
tests marked ``compiled`` also compare the two paths in one process (``mh._C`` switched off)
and check the C module's reference counting and memory over 10**5 calls.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _compiled_helpers import rss_kib  # noqa: E402
from test_arithmetic_broken_programs import HOW, _break  # noqa: E402
from test_multihop_arithmetic import _random_program, configs  # noqa: E402

from depthbench.generators import multihop_arithmetic as mh  # noqa: E402
from depthbench.generators._base import Certificate, Problem  # noqa: E402

compiled = pytest.mark.skipif(mh._C is None, reason="the compiled module is not built or DEPTHBENCH_PURE_PYTHON=1")


def _outcome(fn, *args):
    """``("ok", result)`` or ``("error", type, message)`` of ``fn(*args)``."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception itself is what is compared
        return ("error", type(exc), str(exc))


def _fields(cert):
    return (cert.depth, cert.answer, cert.extra)


def _batch(config, seeds):
    return mh.generate_batch(config, (np.random.default_rng(s) for s in seeds), [None] * len(seeds))


#: configs of the >= 10,000 items below: the bench's size, the task's, every order, one-op sets,
#: tiny programs, a modulus of 3, a chain operand always or never, and the largest modulus of the
#: compiled generator (2**31 - 1; generate_batch falls back to generate above it)
CONFIGS = [
    mh.MultihopArithmeticConfig(depth=20, num_variables=20),
    mh.MultihopArithmeticConfig(depth=8, num_variables=48),
    mh.MultihopArithmeticConfig(depth=1, num_variables=48, order="topological"),
    mh.MultihopArithmeticConfig(depth=30, num_variables=40, order="reversed", ops=("*",), p_chain_operand=1.0),
    mh.MultihopArithmeticConfig(depth=2, num_variables=3, modulus=3, ops=("-",), p_chain_operand=0.0),
    mh.MultihopArithmeticConfig(depth=1, num_variables=1, modulus=5, order="reversed"),
    mh.MultihopArithmeticConfig(depth=70, num_variables=90, modulus=2**31 - 1, order="topological"),
    mh.MultihopArithmeticConfig(depth=5, num_variables=12, modulus=2**31 + 11),
]


def _generated():
    """10,800 generated items: 1,350 per config."""
    return [p for k, c in enumerate(CONFIGS) for j in range(0, 1350, 270) for p in _batch(c, range(k * 10**6 + j, k * 10**6 + j + 270))]


# --------------------------------------------------------------------------- generated items


def test_certify_batch_gives_certify_fields_on_ten_thousand_generated_items():
    problems = _generated()
    instances = [p.instance for p in problems]
    certs = mh.certify_batch(instances)
    assert len(certs) == len(instances) >= 10_000
    for p, inst, cert in zip(problems, instances, certs):
        ref = mh.certify(inst)
        assert type(cert) is Certificate and cert.solution_trace is None
        assert _fields(cert) == _fields(ref) == (p.depth, p.answer, {"evaluations": p.depth})
        assert type(cert.depth) is int and type(cert.answer) is int
    assert mh.FAMILY.certify_batch is mh.certify_batch
    # moduli up to MAX_MODULUS (128-bit products in C below 2**63, Python's certify above)
    wide = [{**inst, "modulus": m} for inst in instances[:400] for m in (2**61 - 1, 2**63 - 25, 2**63 + 29, 2**64)]
    assert [_fields(c) for c in mh.certify_batch(wide)] == [_fields(mh.certify(i)) for i in wide]


def test_describe_batch_gives_describe_text_on_ten_thousand_generated_items():
    instances = [p.instance for p in _generated()]
    texts = mh.describe_batch(instances)
    assert texts == [mh.describe(i) for i in instances]
    assert all(type(t) is str for t in texts)


def test_instances_read_back_from_json_get_the_same_texts_and_certificates():
    """Keys that are not the interned "var" / "op" / "args" objects (json.loads makes its own)."""
    instances = [p.instance for p in _batch(CONFIGS[0], range(300))]
    back = json.loads(json.dumps(instances))
    assert next(iter(back[0]["statements"][0])) is not next(iter(instances[0]["statements"][0]))
    assert mh.describe_batch(back) == mh.describe_batch(instances)
    assert [_fields(c) for c in mh.certify_batch(back)] == [_fields(c) for c in mh.certify_batch(instances)]
    back[0]["statements"][0] = {"args": back[0]["statements"][0]["args"], "op": back[0]["statements"][0]["op"],
                                "var": back[0]["statements"][0]["var"]}  # another key order
    assert mh.describe_batch(back[:1]) == [mh.describe(back[0])]
    assert _fields(mh.certify_batch(back[:1])[0]) == _fields(mh.certify(back[0]))


@settings(max_examples=60, deadline=None)
@given(config=configs(max_vars=60), seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=12))
def test_generate_batch_is_generate_item_by_item_with_the_same_types_and_key_order(config, seeds):
    batch = _batch(config, seeds)
    alone = [mh.generate(config, np.random.default_rng(s)) for s in seeds]
    assert batch == alone
    # the same JSON text, key order included (json.dumps keeps insertion order), and exact types
    assert [json.dumps(dataclasses.asdict(p)) for p in batch] == [json.dumps(dataclasses.asdict(p)) for p in alone]
    for p in batch:
        assert type(p) is Problem and type(p.answer) is int and type(p.depth) is int
        for s in p.instance["statements"]:
            assert type(s["var"]) is str and type(s["op"]) is str and type(s["args"]) is list
            assert all(type(a) in (int, str) for a in s["args"])


def test_builds_are_byte_identical_whatever_the_batch_size(monkeypatch):
    """Determinism: the same items, byte for byte, item by item (no generate_batch) and from
    runs of 2, 5, 128 and 1,000 items."""
    from depthbench import generators
    from depthbench.io import canonical_json
    from depthbench.tasks import build_items
    from depthbench.tasks._spec import TaskSpec, load_spec

    data = load_spec("multihop_arithmetic").to_dict()
    data["params"] = {**data["params"], "num_variables": 20}
    spec = TaskSpec.from_dict(data)
    texts = []
    for size in (None, 2, 5, 128, 1000):
        family = dataclasses.replace(mh.FAMILY, generate_batch=None, describe_batch=None, certify_batch=None) \
            if size is None else dataclasses.replace(mh.FAMILY, batch_size=size)
        monkeypatch.setitem(generators._registry(), "multihop_arithmetic", family)
        texts.append(canonical_json(build_items(spec, "test", depths=[3, 20], n=300, seed=4)))
    assert len(set(texts)) == 1 and len(texts[0]) > 300_000


# --------------------------------------------------------------------------- adversarial instances


def _same_as_certify(instances):
    """certify_batch gives certify's fields on every instance, or raises certify's first error."""
    refs = [_outcome(mh.certify, i) for i in instances]
    got = _outcome(mh.certify_batch, instances)
    errors = [r for r in refs if r[0] == "error"]
    if errors:
        assert got == errors[0], (got, errors[0])
        assert errors[0][1] is ValueError
    else:
        assert got[0] == "ok" and [_fields(c) for c in got[1]] == [_fields(r[1]) for r in refs]
        assert all(c.solution_trace is None for c in got[1])


def _same_as_describe(instances):
    """describe_batch gives describe's texts, or raises when describe does (the compiled path:
    describe's own first error, which it calls; the pure one may meet another fault first, as it
    writes all the statement lines before the headers)."""
    refs = [_outcome(mh.describe, i) for i in instances]
    got = _outcome(mh.describe_batch, instances)
    errors = [r for r in refs if r[0] == "error"]
    if errors:
        assert got[0] == "error"
        if mh._C is not None:
            assert got[1:] == errors[0][1:]
    else:
        assert got == ("ok", [r[1] for r in refs])


@pytest.mark.parametrize("how", HOW)
def test_every_broken_program_gets_certifys_verdict_alone_and_among_valid_ones(how):
    config = mh.MultihopArithmeticConfig(depth=6, num_variables=20, modulus=97, order="shuffled")
    good = [p.instance for p in _batch(config, range(3))]
    rng = random.Random(5)
    programs = good + [_random_program(random.Random(seed)) for seed in range(30)]
    for inst in programs:
        if how == "equals_with_two" and all(s["op"] == "=" for s in inst["statements"]):
            continue
        broken = _break(inst, how, rng)
        _same_as_certify([broken])
        _same_as_certify([good[0], broken, good[1]])
        _same_as_describe([good[0], broken])


def _mutate(inst, kind, where, value_pick):
    """A copy of ``inst`` with one field replaced by a type confusion or an edge value."""
    st_ = [dict(s, args=list(s["args"])) for s in inst["statements"]]
    out = {**inst, "statements": st_}
    s = st_[where % len(st_)]
    name = str(s.get("var"))
    m = inst.get("modulus")
    m = int(m) if isinstance(m, (int, np.integer)) else 97
    query, order = str(inst.get("query")), str(inst.get("order"))
    odd_ints = [True, False, np.int64(1), np.int32(0), 1.0, -1, m, m - 1, 0, 2**63, 2**64, 10**30, -(2**70)]
    odd_names = [np.str_(name), name + "\u00e9", "", "4" + name, name + "\n", name.upper(), "_" + name, b"x1"]
    if kind == "constant":
        s["args"][-1] = odd_ints[value_pick % len(odd_ints)]
    elif kind == "operand_name":
        s["args"][0] = odd_names[value_pick % len(odd_names)]
    elif kind == "var":
        s["var"] = odd_names[value_pick % len(odd_names)]
    elif kind == "op":
        s["op"] = [np.str_("+"), "=", "/", None, ["+"], "+ ", "\u2212"][value_pick % 7]
    elif kind == "args":
        s["args"] = [tuple(s["args"]), s["args"][:1], s["args"] * 2, "ab", None, {}][value_pick % 6]
    elif kind == "statement":
        st_[where % len(st_)] = [{k: v for k, v in s.items() if k != "var"}, [name, "+", 1, 2], None,
                                 {**s, "extra": 1}][value_pick % 4]
    elif kind == "modulus":
        out["modulus"] = [np.int64(m % 2**62), True, float(m), 2, 2**63 - 25, 2**63 + 29, 2**64, 2**64 + 13, -m, "97",
                          2**62 + 1][value_pick % 11]
    elif kind == "query":
        out["query"] = [np.str_(query), 5, None, "nowhere", query + " "][value_pick % 5]
    elif kind == "order":
        out["order"] = [np.str_(order), "topological", "reversed", "Shuffled", None, 3][value_pick % 6]
    elif kind == "missing":
        out.pop(["modulus", "statements", "query", "order"][value_pick % 4])
    elif kind == "container":
        out = [tuple(st_), dict(out), None, [out]][value_pick % 4]
        if isinstance(out, tuple):
            out = {**inst, "statements": out}
    elif kind == "cycle":  # statement `where` reads the query (a cycle when it is one of its ancestors)
        s["args"][0] = inst.get("query")
    return out


KINDS = ["constant", "operand_name", "var", "op", "args", "statement", "modulus", "query", "order", "missing",
         "container", "cycle"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(max_vars=24), seed=st.integers(0, 2**32 - 1), kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3),
       where=st.integers(0, 10**6), value_pick=st.integers(0, 10**6))
def test_type_confusions_and_edge_values_get_certifys_and_describes_verdicts(config, seed, kinds, where, value_pick):
    good = _batch(config, [seed, seed + 1])
    inst = good[0].instance
    for k, kind in enumerate(kinds):
        if not isinstance(inst, dict) or not isinstance(inst.get("statements"), list) or not inst["statements"] or \
                not all(isinstance(s, dict) and isinstance(s.get("args"), list) and s["args"] for s in inst["statements"]):
            break
        inst = _mutate(inst, kind, where + k, value_pick + k)
    _same_as_certify([inst])
    _same_as_certify([good[1].instance, inst])
    _same_as_describe([inst])
    _same_as_describe([good[1].instance, inst])


def test_shapes_past_the_c_paths_reach_give_certifys_results():
    """Valid instances the compiled path hands to Python (a tuple of statements, np.str_ names, a
    modulus past 2**63) or reads past its small-program arrays (statements with extra keys, more
    than 64 statements)."""
    config = mh.MultihopArithmeticConfig(depth=9, num_variables=30)
    inst = _batch(config, [1])[0].instance
    reshaped = [
        {**inst, "statements": tuple(inst["statements"])},
        {**inst, "statements": [{**s, "var": np.str_(s["var"])} for s in inst["statements"]]},
        {**inst, "statements": [{**s, "note": "x"} for s in inst["statements"]]},
        {**inst, "modulus": 2**64 - 59},
        _batch(mh.MultihopArithmeticConfig(depth=70, num_variables=200, order="reversed"), [2])[0].instance,
    ]
    certs = mh.certify_batch(reshaped)
    assert [_fields(c) for c in certs] == [_fields(mh.certify(i)) for i in reshaped]
    assert certs[0].depth == 9 and certs[-1].depth == 70


# --------------------------------------------------------------------------- the two paths side by side


@compiled
@settings(max_examples=60, deadline=None)
@given(config=configs(max_vars=60), seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=12))
def test_compiled_and_numpy_batches_are_equal(config, seeds):
    with_c = _batch(config, seeds)
    saved, mh._C = mh._C, None
    try:
        without = _batch(config, seeds)
        certs_py = mh.certify_batch([p.instance for p in without])
        texts_py = mh.describe_batch([p.instance for p in without])
    finally:
        mh._C = saved
    assert with_c == without
    assert mh.certify_batch([p.instance for p in with_c]) == certs_py
    assert mh.describe_batch([p.instance for p in with_c]) == texts_py


@compiled
def test_the_compiled_certifier_hands_type_confusions_to_python():
    """None ("not handled") for exactly the shapes outside dict / list / str / int (no bool, no
    numpy scalar, no str subclass), moduli past 2**63 - 1 and invalid programs."""
    inst = _batch(mh.MultihopArithmeticConfig(depth=4, num_variables=6, order="topological"), [3])[0].instance
    st0 = inst["statements"][0]
    handed = [
        {**inst, "modulus": np.int64(inst["modulus"])},
        {**inst, "modulus": True},
        {**inst, "modulus": 2**63},
        {**inst, "statements": tuple(inst["statements"])},
        {**inst, "statements": [{**st0, "args": [True, 1]}] + inst["statements"][1:]},
        {**inst, "statements": [{**st0, "args": [np.int64(1), 1]}] + inst["statements"][1:]},
        {**inst, "statements": [{**st0, "op": np.str_(st0["op"])}] + inst["statements"][1:]},
        {**inst, "statements": inst["statements"][::-1]},  # topological stated, reversed given
        {**inst, "order": "sideways"},
    ]
    assert mh._C.certify(handed, Certificate) == [None] * len(handed)
    (cert,) = mh._C.certify([inst], Certificate)
    assert _fields(cert) == _fields(mh.certify(inst))


@compiled
def test_the_compiled_generator_refuses_draws_outside_their_bounds():
    config = mh.MultihopArithmeticConfig(depth=3, num_variables=5)
    lay = mh._layout(config)
    args = (lay.names, lay.ops, 3, 97, lay.threshold, lay.order, {}, {}, 0.5, Problem)
    with pytest.raises(ValueError, match="outside its bound"):
        mh._C.generate(np.full((1, len(lay.bounds)), 1.0), lay.bounds, *args)
    second = np.zeros((1, len(lay.bounds)))
    second[0, 4 * 5:5 * 5] = 1.0  # the second-operand fields at 2**30: slots past the chain
    with pytest.raises(ValueError, match="outside its bound"):
        mh._C.generate(second, lay.bounds, *args)
    with pytest.raises(ValueError, match="float64"):
        mh._C.generate(np.zeros((1, len(lay.bounds) + 1)), lay.bounds, *args)
    with pytest.raises(ValueError, match="float64"):
        mh._C.generate(np.zeros((1, len(lay.bounds)), dtype=np.float32), lay.bounds, *args)
    assert len(mh._C.generate(np.zeros((0, len(lay.bounds))), lay.bounds, *args)) == 0
    # products that are NaN, infinite, negative or past int64 (whose cast to an integer C leaves
    # undefined), a root constant at the modulus, a chain swap far past its bound: refused
    # whatever row holds them
    root = np.zeros((1, len(lay.bounds)))
    root[0, 3 * 5] = 1.0  # the root's constant, bound 97: 97 * 1.0 = 97
    chain = np.zeros((1, len(lay.bounds)))
    chain[0, 6 * 5 + 4] = 1e300  # the first chain swap
    for bad in (np.nan, np.inf, -np.inf, -0.5, 1e300):
        for row in (0, 2):
            u = np.zeros((3, len(lay.bounds)))
            u[row, 7] = bad
            with pytest.raises(ValueError, match="outside its bound"):
                mh._C.generate(u, lay.bounds, *args)
    for u, bounds in ((root, lay.bounds), (chain, lay.bounds), (np.full((1, len(lay.bounds)), 0.5), lay.bounds * 1e30)):
        with pytest.raises(ValueError, match="outside its bound"):
            mh._C.generate(u, bounds, *args)


@compiled
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc to read the resident size")
def test_no_leak_over_a_hundred_thousand_calls():
    """10**5 calls of each C function (handled, handed-back and failing inputs): the resident
    size grows by less than 4 MiB (a leak of one small object per call would be 5+ MiB) and the
    reference counts of the objects passed in are unchanged."""
    config = mh.MultihopArithmeticConfig(depth=3, num_variables=4)
    lay = mh._layout(config)
    u = np.random.default_rng(0).random((1, len(lay.bounds)))
    bad_u = np.full((1, len(lay.bounds)), 1.0)
    good = _batch(config, [1])[0].instance
    handed = {**good, "modulus": True}
    broken = {**good, "statements": good["statements"] + [dict(good["statements"][0])]}  # defined twice
    names, question = lay.names[0], mh._QUESTION
    size, space = {"num_variables": 4}, {"modulus": 97}

    def calls():
        mh._C.generate(u, lay.bounds, lay.names, lay.ops, 3, 97, lay.threshold, lay.order, size, space, 0.5, Problem)
        try:
            mh._C.generate(bad_u, lay.bounds, lay.names, lay.ops, 3, 97, lay.threshold, lay.order, size, space, 0.5,
                           Problem)
        except ValueError:
            pass
        mh._C.certify([good, handed, broken], Certificate)
        mh._C.describe([good, handed, broken], mh._frame, question)

    for _ in range(10_000):  # warm-up: caches, free lists, allocator arenas
        calls()
    refs = [sys.getrefcount(o) for o in (good, handed, broken, names, size, space, Problem, Certificate, question)]
    before = rss_kib()
    for _ in range(100_000):
        calls()
    assert rss_kib() - before < 4096
    assert [sys.getrefcount(o) for o in (good, handed, broken, names, size, space, Problem, Certificate, question)] == refs


#: run in a subprocess by the test below (a crash must fail the test, not end the run)
_HOSTILE_KEYS = r'''
import numpy as np
from depthbench.generators import multihop_arithmetic as mh

ARMED = []


class Key:
    """A dict key that hashes as `text` and compares unequal, running `action` once armed."""

    def __init__(self, text, action):
        self.text, self.action = text, action

    def __hash__(self):
        return hash(self.text)

    def __eq__(self, other):
        if ARMED:
            self.action()
        return False


def boom():
    raise RuntimeError("boom")


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        return ("error", type(exc), str(exc))


def fresh():
    inst = mh.generate(mh.MultihopArithmeticConfig(depth=4, num_variables=6), np.random.default_rng(1)).instance
    return [dict(inst, statements=[dict(s) for s in inst["statements"]]) for _ in range(40)]


def odd_statement(st, action):
    """st with a Key first and an "args" key that is not the interned str (so "args" is looked up)."""
    new = {Key("args", action): 0}
    new.update({"var": st["var"], "op": st["op"], "".join(["ar", "gs"]): st["args"]})
    return new


# keys whose __eq__ raises: certify_batch and describe_batch raise certify's / describe's error
for where in ("instance", "statement"):
    insts = fresh()
    if where == "instance":
        insts[3] = {Key("query", boom): 0, **insts[3]}
    else:
        insts[3]["statements"][2] = odd_statement(insts[3]["statements"][2], boom)
    ARMED.append(1)
    assert outcome(mh.certify_batch, insts) == outcome(mh.certify, insts[3]) == ("error", RuntimeError, "boom")
    assert outcome(mh.describe_batch, insts) == outcome(mh.describe, insts[3]) == ("error", RuntimeError, "boom")
    ARMED.clear()

# keys whose __eq__ empties the containers the C loops read: no crash, and the compiled
# module hands the instance to Python
for victim in ("statements", "instances"):
    for fn in (mh.certify_batch, mh.describe_batch):
        insts = fresh()
        sts = insts[0]["statements"]
        action = sts.clear if victim == "statements" else insts.clear
        sts[0] = odd_statement(sts[0], action)
        ARMED.append(1)
        outcome(fn, insts)
        ARMED.clear()
        if mh._C is not None:
            insts = fresh()
            sts = insts[0]["statements"]
            sts[0] = odd_statement(sts[0], sts.clear if victim == "statements" else insts.clear)
            ARMED.append(1)
            if fn is mh.certify_batch:
                out = mh._C.certify(insts, mh.Certificate)
            else:
                out = mh._C.describe(insts, mh._frame, mh._QUESTION)
            ARMED.clear()
            assert out[0] is None and len(out) == 40 and all(x is not None for x in out[1:]), out[:2]
print("done")
'''


def test_keys_that_run_code_when_compared_neither_crash_nor_change_the_verdict():
    """A dict key of a type with its own ``__hash__`` / ``__eq__`` (colliding with "query" or
    "args") runs Python code inside any lookup in that dict: it may raise, or empty the
    statements or the instances list while the C loops hold borrowed references into them.
    The compiled module must hand such an instance to Python (which raises the same error as
    ``certify`` / ``describe``), never crash or return with an exception set."""
    import subprocess

    proc = subprocess.run([sys.executable, "-P", "-c", _HOSTILE_KEYS], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", (proc.returncode, proc.stderr[-2000:])


#: names the prompt grammar refuses (a leading digit, punctuation, space, newline, empty) and names
#: past ASCII, in each str storage width (latin-1, UCS-2, UCS-4, a lone surrogate; U+6161 is stored
#: as the bytes "aa", which a check of the first byte alone would take for a name)
ODD_NAMES = ["4x", "x-1", "x y", "a\nb", "", "_", "x\u00e9", "x\u0661", "\u0100", "\u6161", "x\U0001f600", "x\ud800"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_a_name_renamed_everywhere_gets_certifys_verdict_and_describes_exact_text(name):
    """One variable renamed in its definition, its uses and (when it is one) the query, so the
    program is only as invalid as its new name: a name outside the grammar is refused by
    certify (the compiled path must not certify it), a valid one certified alike; the
    statement text is describe's, character for character and in the same storage (a non-ASCII
    name copied as ASCII bytes would compare equal to describe's latin-1 text, yet be a
    corrupt str)."""
    config = mh.MultihopArithmeticConfig(depth=5, num_variables=12, order="shuffled")
    for inst in (p.instance for p in _batch(config, range(6))):
        for old in (inst["query"], inst["statements"][0]["var"], inst["statements"][-1]["var"]):
            renamed = json.loads(json.dumps(inst).replace(f'"{old}"', json.dumps(name)))
            _same_as_certify([renamed])
            _same_as_certify([inst, renamed])
            (text,) = mh.describe_batch([renamed])
            assert text == mh.describe(renamed) and text.isascii() == name.isascii()
    assert _outcome(mh.certify, renamed)[0] == ("ok" if name == "_" else "error")


def test_a_modulus_below_two_is_refused_even_with_only_zero_constants():
    inst = {"modulus": 1, "order": "topological", "query": "b",
            "statements": [{"var": "a", "op": "+", "args": [0, 0]}, {"var": "b", "op": "*", "args": ["a", 0]}]}
    for m in (1, 0, -1):
        _same_as_certify([{**inst, "modulus": m}])
    assert _fields(mh.certify_batch([{**inst, "modulus": 2}])[0]) == (2, 0, {"evaluations": 2})


@pytest.mark.parametrize("modulus", [97, 2**31 + 11])
def test_generate_batch_refuses_fewer_streams_than_cues(modulus):
    """Rows without a stream were left as np.empty's memory: garbage draws (an error, or items
    from whatever those bytes held, e.g. a freed batch's draws) instead of a one-line error."""
    config = mh.MultihopArithmeticConfig(depth=3, num_variables=5, modulus=modulus)
    stale = np.random.default_rng(0).random((4, len(mh._layout(config).bounds)))  # freed memory of valid draws
    del stale
    with pytest.raises(ValueError, match="rngs: 1 stream for 4 cues"):
        mh.generate_batch(config, iter([np.random.default_rng(1)]), [None] * 4)
    assert len(mh.generate_batch(config, iter([np.random.default_rng(s) for s in range(5)]), [None] * 4)) == 4
