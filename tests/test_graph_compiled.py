"""graph_connectivity's compiled certifier and statement (generators/_graph_c.c) against the
pure-Python references: the same certificates and strings on generated items, the same
outcome (result, or error type and message) on hostile instances, and no leaks."""

from __future__ import annotations

import gc as collector
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _compiled_helpers import rss_kib  # noqa: E402

from depthbench.generators import graph_connectivity as gc  # noqa: E402
from depthbench.tasks import TaskSpec, build_items, load_spec  # noqa: E402

C = gc._C
needs_c = pytest.mark.skipif(C is None, reason="the compiled module _graph_c is not built, or DEPTHBENCH_PURE_PYTHON=1")
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn, instance):
    """``("ok", result)`` or ``("error", type, message)``, to compare two implementations."""
    try:
        out = fn(instance)
    except Exception as e:  # noqa: BLE001 - any error must be the same one
        return ("error", type(e), str(e))
    if isinstance(out, gc.Certificate):
        return ("ok", out.depth, out.answer, out.solution_trace, out.extra)
    return ("ok", out)


def _instances(kind, count, seed):
    """Generated instances of mixed sizes and depths; every tenth perturbed so that both
    targets (k % 20 == 9) or none (k % 20 == 19) are reachable, or the source is isolated."""
    rng = np.random.default_rng(seed)
    sizes = (12, 20, 40, 100) if kind != "bridge" else (20, 40, 62, 100)
    for k in range(count):
        n = sizes[k % len(sizes)]
        top = gc.max_depth({"kind": kind, "num_nodes": n})
        cfg = gc.GraphConnectivityConfig(depth=int(rng.integers(1, top + 1)), num_nodes=n, kind=kind)
        inst = gc.generate(cfg, rng).instance
        if k % 10 == 9:
            inst = dict(inst)
            s, (t1, t2) = inst["source"], inst["targets"]
            if k % 20 == 9:
                inst["edges"] = inst["edges"] + [[s, t1], [t2, s]]
            else:
                inst["edges"] = [e for e in inst["edges"] if s not in e]
        yield inst


@needs_c
@pytest.mark.slow
@pytest.mark.parametrize("kind", gc.KINDS)
def test_compiled_certify_and_describe_equal_the_references_on_10000_items(kind):
    """Same certificate (depth, answer, trace) as the Python BFS on every valid item; "not
    handled" (None) exactly where the reference refuses; the same statement on every item."""
    refused = 0
    for inst in _instances(kind, 10_000, {"two_paths": 11, "bridge": 12, "random_branching": 13}[kind]):
        found = C.certify(inst, gc.MAX_NUM_NODES)
        try:
            ref = gc._certify_reference(inst)
        except gc.CertificationError:
            assert found is None
            refused += 1
        else:
            assert found == (ref.depth, ref.answer, ref.solution_trace)
            assert type(found[0]) is int and type(found[1]) is str
            assert all(type(x) is int for x in found[2])
        assert C.describe(inst) == gc._describe_reference(inst)
    assert 1_000 <= refused < 10_000


@needs_c
def test_compiled_paths_follow_the_reference_bfs_order():
    """Two shortest paths of equal length: the trace is the one the FIFO search over
    adjacency lists in edge order finds (parent = first to reach), whatever the orientation."""
    a = {"kind": "x", "num_nodes": 6, "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [4, 5]], "source": 0,
         "targets": [3, 5]}
    b = {**a, "edges": [[0, 2], [0, 1], [1, 3], [2, 3], [4, 5]]}
    c = {**a, "edges": [[2, 0], [3, 1], [1, 0], [3, 2], [5, 4]]}  # reversed ends: adjacency 0: [2, 1]
    assert C.certify(a, gc.MAX_NUM_NODES) == (2, "3", [0, 1, 3])
    assert C.certify(b, gc.MAX_NUM_NODES) == (2, "3", [0, 2, 3])
    assert C.certify(c, gc.MAX_NUM_NODES) == (2, "3", [0, 2, 3])
    for inst in (a, b, c):
        ref = gc._certify_reference(inst)
        assert C.certify(inst, gc.MAX_NUM_NODES) == (ref.depth, ref.answer, ref.solution_trace)


@needs_c
def test_compiled_certify_respects_the_node_limit_and_handles_the_largest_graph():
    small = {"kind": "x", "num_nodes": 5, "edges": [[0, 1], [3, 4]], "source": 0, "targets": [1, 3]}
    assert C.certify({**small, "num_nodes": gc.MAX_NUM_NODES + 1}, gc.MAX_NUM_NODES) is None
    assert C.certify(small, 4) is None  # the limit is the caller's
    big = {**small, "num_nodes": gc.MAX_NUM_NODES, "targets": [1, gc.MAX_NUM_NODES - 1]}
    assert C.certify(big, gc.MAX_NUM_NODES) == (1, "1", [0, 1])
    with pytest.raises(gc.CertificationError, match="past the limit"):
        gc.certify({**small, "num_nodes": 10**12})


@needs_c
def test_compiled_certify_takes_labels_up_to_n_minus_1_and_refuses_n_and_minus_1_everywhere():
    """Each label position (the source, either target, either end of any edge) at n - 1 is
    searched, at n or -1 refused ("not handled", then the reference's error)."""
    base = {"kind": "x", "num_nodes": 5, "edges": [[0, 1], [1, 4], [2, 3]], "source": 0, "targets": [4, 3]}
    assert C.certify(base, gc.MAX_NUM_NODES) == (2, "4", [0, 1, 4])

    def placed(value, where):
        inst = {**base, "edges": [list(e) for e in base["edges"]], "targets": list(base["targets"])}
        if where == "source":
            inst["source"] = value
        elif where in (0, 1):
            inst["targets"][where] = value
        else:
            inst["edges"][where[0]][where[1]] = value
        return inst

    places = ["source", 0, 1] + [(j, k) for j in range(3) for k in range(2)]
    for where in places:
        inst = placed(4, where)
        ref = _outcome(gc._certify_reference, inst)
        assert _outcome(gc.certify, inst) == ref
        if ref[0] == "ok":
            assert C.certify(inst, gc.MAX_NUM_NODES) == ref[1:4]
        for bad in (5, -1, True, _Int(1), np.int64(1), 2**63, 2**64):  # out of range, or not a plain int
            inst = placed(bad, where)
            assert C.certify(inst, gc.MAX_NUM_NODES) is None, (bad, where)
            assert _outcome(gc.certify, inst) == _outcome(gc._certify_reference, inst)
            assert _outcome(gc.certify, inst)[0] == "error"
            if type(bad) is not int:
                assert C.describe(inst) is None
    for odd in ({**base, "edges": _List(base["edges"])}, {**base, "targets": _List(base["targets"])},
                {**base, "edges": [_List(e) for e in base["edges"]]}, type("D", (dict,), {})(base)):
        assert C.certify(odd, gc.MAX_NUM_NODES) is None and C.describe(odd) is None


def _fields(p):
    return (p.instance, p.answer, p.answer_type, p.depth, p.solution_trace, p.size, p.chance, p.answer_space)


@needs_c
@pytest.mark.slow
@pytest.mark.parametrize("kind", gc.KINDS)
def test_compiled_edge_lists_give_generate_batch_the_same_problems_on_10000_items(kind, monkeypatch):
    """generate_batch with the compiled gathers equals its numpy path, field by field (types
    included: the edge lists hold plain ints), over batches of mixed sizes, depths and cues."""
    rng = np.random.default_rng({"two_paths": 21, "bridge": 22, "random_branching": 23}[kind])
    sizes = (8, 20, 100, 202)
    total = 0
    while total < 10_000:
        n = int(rng.choice(sizes))
        cfg = gc.GraphConnectivityConfig(depth=int(rng.integers(1, gc.max_depth({"kind": kind, "num_nodes": n}) + 1)),
                                         num_nodes=n, kind=kind)
        count = int(rng.integers(2, 300))
        cues = [None if rng.random() < 0.2 else {"target_first": bool(rng.random() < 0.5),
                                                  "target_larger": bool(rng.random() < 0.5)} for _ in range(count)]
        seed = int(rng.integers(2**63))
        fast = gc.generate_batch(cfg, [np.random.default_rng([seed, i]) for i in range(count)], cues)
        monkeypatch.setattr(gc, "_C", None)
        slow = gc.generate_batch(cfg, [np.random.default_rng([seed, i]) for i in range(count)], cues)
        monkeypatch.setattr(gc, "_C", C)
        assert [_fields(p) for p in fast] == [_fields(p) for p in slow]
        assert all(type(x) is int for p in fast[:3] for e in p.instance["edges"] for x in e)
        total += count


@needs_c
def test_compiled_edge_lists_refuse_arrays_it_cannot_read():
    perm, ends, first = np.arange(12).reshape(2, 6), np.array([[0, 1, 2, 3], [5, 4, 3, 2]]), np.array([[1, 2], [0, 3]])
    assert C.edge_lists(perm, ends, first) == [[[1, 0], [2, 3]], [[11, 10], [8, 9]]]
    for args in [(perm.astype(np.int32), ends, first), (perm, ends[:, :2].copy(), first), (perm, ends, first[:1]),
                 (perm[:, ::2], ends, first), (perm, ends, np.array([[4, 0], [0, 0]])),
                 (perm, np.array([[0, 6, 0, 0], [0, 0, 0, 0]]), first), (perm, np.array([[6, 0, 0, 0], [0, 0, 0, 0]]), first),
                 (perm, ends, -first)]:
        with pytest.raises(ValueError):
            C.edge_lists(*args)
    with pytest.raises(TypeError):
        C.edge_lists([[0]], ends, first)


# --------------------------------------------------------------------------- hostile instances
class _Int(int):
    pass


class _Str(str):
    pass


class _List(list):
    pass


class _Key(str):
    """A key that collides with "edges" and raises on comparison (a dict lookup meets it)."""

    def __hash__(self):
        return hash("edges")

    def __eq__(self, other):
        raise RuntimeError("compared")


def _odd_value(v):
    """Values that are not plain ints (or plain ints outside every range) in place of int v."""
    v = v if type(v) is int and 0 <= v < 1000 else 1  # v may be an earlier mutation's value
    return st.sampled_from([True, False, np.int64(v), np.int32(v), float(v), str(v), np.str_(str(v)), _Int(v),
                            None, -1, -v - 1, 2**63, 2**70, -(2**70), 10**6, [v], (v,)])


@st.composite
def hostile(draw):
    """A small generated instance with one to three of: a value swapped for a non-int or an
    out-of-range int, a reshaped edge / targets / edge list, a missing or extra key, added
    self-loops, duplicates or cross edges, a dict subclass, an odd kind."""
    kind = draw(st.sampled_from(gc.KINDS))
    n = 2 * draw(st.integers(4 if kind == "bridge" else 2, 12))
    top = gc.max_depth({"kind": kind, "num_nodes": n})
    cfg = gc.GraphConnectivityConfig(depth=draw(st.integers(1, top)), num_nodes=n, kind=kind)
    inst = gc.generate(cfg, np.random.default_rng(draw(st.integers(0, 2**32)))).instance
    inst = {**inst, "edges": [list(e) for e in inst["edges"]], "targets": list(inst["targets"])}
    for _ in range(draw(st.integers(1, 3))):
        edges, what = inst["edges"], draw(st.integers(0, 16))
        j = draw(st.integers(0, len(edges) - 1)) if edges else 0
        pair = bool(edges) and isinstance(edges[j], list) and len(edges[j]) == 2
        if what in (3, 4, 10) and not pair:
            what = 11
        if what == 0:
            inst["num_nodes"] = draw(_odd_value(n) | st.integers(-3, 3 * n))
        elif what == 1:
            inst["source"] = draw(_odd_value(inst["source"]) | st.integers(-2 * n, 2 * n))
        elif what == 2:
            inst["targets"][draw(st.integers(0, 1))] = draw(_odd_value(1) | st.integers(-2 * n, 2 * n))
        elif what == 3:
            edges[j][draw(st.integers(0, 1))] = draw(_odd_value(edges[j][0]) | st.integers(-3 * n, 3 * n))
        elif what == 4:
            edges[j] = draw(st.sampled_from([tuple(edges[j]), edges[j] + [0], edges[j][:1], [], {0: 1},
                                             {0, 1}, "0-1", None, 3, [edges[j]]]))  # all built first: set(edges[j]) raised on a list label
        elif what == 5:
            inst["targets"] = draw(st.sampled_from([tuple(inst["targets"]), inst["targets"][:1],
                                                    inst["targets"] * 2, [inst["targets"][0]] * 2, set(), "01", 5]))
        elif what == 6:
            inst["edges"] = draw(st.sampled_from([tuple(edges), {(0, 1), (1, 2)}, [], None, edges * 2]))
        elif what == 7:
            inst.pop(draw(st.sampled_from(["num_nodes", "source", "targets", "edges", "kind"])), None)
        elif what == 8:
            inst[draw(st.sampled_from(["extra", 5, (1, 2)]))] = 1
        elif what == 9:
            u = draw(st.integers(0, n - 1))
            edges.insert(draw(st.integers(0, len(edges))), [u, u])  # a self-loop
        elif what == 10:
            edges.insert(draw(st.integers(0, len(edges))), list(edges[j]))  # a duplicate
        elif what == 11:
            edges.append([draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))])  # maybe joins the parts
        elif what == 12:
            inst = draw(st.sampled_from([OrderedDict, lambda d: type("D", (dict,), {})(d)]))(inst)
        elif what == 13:
            inst["kind"] = draw(st.sampled_from(["", "ümlaut", _Str("two_paths"), 7, None, "a\nb"]))
        elif what == 14:
            inst = {_Key("edges") if k == "edges" else k: v for k, v in inst.items()}
            break  # inst["edges"] now raises
        elif what == 15:
            inst["num_nodes"] = draw(st.sampled_from([1, 2, n + 1, gc.MAX_NUM_NODES + 1, 10**12]))
        else:
            inst = draw(st.sampled_from([[1, 2], None, "instance", inst]))
        # go on only while the next mutation can read what it changes
        if not (isinstance(inst, dict) and all(k in inst for k in ("num_nodes", "source", "targets", "edges"))
                and isinstance(inst["edges"], list) and isinstance(inst["targets"], list)
                and len(inst["targets"]) == 2):
            break
    return inst


@needs_c
@SETTINGS
@given(inst=hostile())
def test_certify_and_describe_give_the_reference_outcome_on_hostile_instances(inst):
    """Through the public functions (compiled first, reference on "not handled"): the same
    certificate, or the same error type and message, as the pure-Python reference."""
    assert _outcome(gc.certify, inst) == _outcome(gc._certify_reference, inst)
    assert _outcome(gc.describe, inst) == _outcome(gc._describe_reference, inst)


@needs_c
def test_describe_states_extreme_int_labels_as_the_reference_does():
    for labels in ([-1, 2**63 - 1], [-(2**63), 0], [2**63, 1], [10**30, -(10**30)]):
        inst = {"kind": "k", "num_nodes": 3, "edges": [labels, labels[::-1]], "source": labels[0],
                "targets": [labels[1], 0]}
        assert gc.describe(inst) == gc._describe_reference(inst)
    many = [[2**62 + j, -(2**62) - j] for j in range(300)]  # ~40 characters an edge: the buffer grows
    inst = {"kind": "k", "num_nodes": 3, "edges": many, "source": 0, "targets": [1, 2]}
    assert C.describe(inst) == gc._describe_reference(inst) and len(C.describe(inst)) > 12_000
    for n in (0, -5, 2**63 - 1, -(2**63), 2**64):
        inst = {"kind": "k", "num_nodes": n, "edges": [], "source": 0, "targets": [1, 2]}
        assert gc.describe(inst) == gc._describe_reference(inst)
        assert gc.describe(inst).endswith(f"Nodes: {n} (labelled 0 to {n - 1})\nEdges (undirected): \n"
                                          "Source: 0\nTargets: 1, 2")



@needs_c
@pytest.mark.parametrize("kind", ["two_paths", "", "a\x00b\n", "\x7f", "ümlaut", "\xff", "日本", "\ud800", "😀"])
def test_describe_gives_the_reference_text_for_every_kind_string(kind):
    """The same code points, not only an equal-comparing string: a non-ASCII kind must not
    be copied into an ASCII string (which compares equal to the Latin-1 one but encodes
    to other bytes)."""
    inst = {"kind": kind, "num_nodes": 3, "edges": [[0, 1]], "source": 0, "targets": [1, 2]}
    text, ref = gc.describe(inst), gc._describe_reference(inst)
    assert text == ref and text.isascii() == ref.isascii()
    assert text.encode("utf-8", "surrogatepass") == ref.encode("utf-8", "surrogatepass")

# --------------------------------------------------------------------------- the switch and the builder
def test_pure_python_switch_turns_the_compiled_module_off():
    code = "from depthbench.generators import graph_connectivity as g; print(g._C is None)"
    env = {**os.environ, "DEPTHBENCH_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@needs_c
@pytest.mark.parametrize("kind", gc.KINDS)
def test_builder_items_are_the_same_with_and_without_the_compiled_module(kind, monkeypatch):
    data = load_spec("graph_connectivity").to_dict()
    data["params"] = {**data["params"], "kind": kind, "num_nodes": 40}
    spec = TaskSpec.from_dict(data)
    fast = build_items(spec, "test", depths=[1, 3], n=150, seed=5)
    monkeypatch.setattr(gc, "_C", None)
    slow = build_items(spec, "test", depths=[1, 3], n=150, seed=5)
    assert len(fast) == 300 and fast == slow


# --------------------------------------------------------------------------- leaks
@needs_c
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_compiled_calls_do_not_leak():
    """10^5 calls on a certified, a refused and an odd instance (and of edge_lists, with a
    refusal): no growth in live objects,
    in the instances' reference counts, or in resident memory (a leaked 9-label trace per
    call would be > 10 MB)."""
    cfg = gc.GraphConnectivityConfig(depth=8, num_nodes=100)
    good = gc.generate(cfg, np.random.default_rng(1)).instance
    assert gc.certify(good).answer == "54"  # two digits: a new string per call (one digit is a cached one)
    refused = {**good, "edges": good["edges"] + [good["targets"]]}
    odd = {**good, "source": np.int64(good["source"])}
    insts = (good, refused, odd)

    perm, ends, first = np.arange(12).reshape(2, 6), np.array([[0, 1, 2, 3], [5, 4, 3, 2]]), np.array([[1, 2], [0, 3]])
    bad = np.array([[4, 0], [0, 0]])

    def run(times):
        for _ in range(times):
            for inst in insts:
                C.certify(inst, gc.MAX_NUM_NODES)
                C.describe(inst)
            C.edge_lists(perm, ends, first)
            try:
                C.edge_lists(perm, ends, bad)
            except ValueError:
                pass

    run(2_000)
    collector.collect()
    objects, refs, rss = len(collector.get_objects()), [sys.getrefcount(i) for i in insts], rss_kib()
    refs_fields = [sys.getrefcount(v) for i in insts for v in i.values()]  # the C code owns them mid-call
    refs_edges = [sys.getrefcount(e) for e in good["edges"][:5]]
    refs_perm = sys.getrefcount(perm)
    blocks = sys.getallocatedblocks()  # RSS alone misses a leak that fits in memory earlier tests freed
    run(100_000)
    collector.collect()
    assert len(collector.get_objects()) - objects < 100
    assert [sys.getrefcount(i) for i in insts] == refs
    assert [sys.getrefcount(v) for i in insts for v in i.values()] == refs_fields
    assert [sys.getrefcount(e) for e in good["edges"][:5]] == refs_edges
    assert sys.getrefcount(perm) == refs_perm
    assert rss_kib() - rss < 2_048
    assert sys.getallocatedblocks() - blocks < 1_000


# --------------------------------------------------------------------------- Python code run mid-call
class _Collider:
    """A key with the hash of ``name``: a lookup of ``name`` compares it first, running
    ``effect(instance)`` once (a dict mutated from inside the C code's lookups)."""

    def __init__(self, name, effect):
        self.name, self.effect, self.instance = name, effect, None

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        if self.instance is not None:
            instance, self.instance = self.instance, None
            self.effect(instance)
        return False


def _with_collider(name, effect, **fields):
    key = _Collider(name, effect)
    inst = {key: 0}  # first in the table: met before the real key on the same probe chain
    inst.update(fields)
    key.instance = inst
    return inst


@needs_c
def test_certify_keeps_the_fields_alive_while_a_later_lookup_drops_them():
    """A key colliding with "edges" deletes "targets" (and the freed list's memory is
    reused): the search still uses the targets it read, as the reference does."""
    kept = []

    def drop_targets(inst):
        del inst["targets"]
        kept.append([4, 0])  # a fresh list, likely where the freed targets were

    def make():
        return _with_collider("edges", drop_targets, kind="x", num_nodes=5, source=0, targets=[1, 3],
                              edges=[[0, 1], [3, 4]])
    assert _outcome(gc.certify, make()) == _outcome(gc._certify_reference, make()) == ("ok", 1, "1", [0, 1], ())


@needs_c
@pytest.mark.parametrize("name", ["num_nodes", "edges", "targets", "kind", "source"])
def test_describe_reads_the_fields_in_the_reference_order_and_keeps_them_alive(name):
    """A key colliding with one field replaces every field (freeing the old values): the
    statement is the reference's, which reads num_nodes, edges, targets, kind, source in turn."""
    kept = []

    def replace_all(inst):
        inst.update(kind="y", num_nodes=7, source=2, targets=[5, 6], edges=[[2, 5]])
        kept.append([[1, 1]] * 3)  # reuses freed memory

    def make():
        return _with_collider(name, replace_all, kind="x", num_nodes=int("1000"), source=0,
                              targets=[1, 3], edges=[[0, 1], [3, 4]])
    assert gc.describe(make()) == gc._describe_reference(make())


_FINALIZER_MID_CALL = """
import gc
from depthbench.generators import graph_connectivity as g
targets, kept = [int("1000"), int("1500")], []
class Finalizer:
    def __del__(self):
        targets[0] = 5  # frees the int 1000 of the targets
        kept.append(int("777"))  # likely in its memory
inst = {"kind": "x", "num_nodes": 2000, "edges": [[0, int("1000")]], "source": 0, "targets": targets}
gc.collect()
gc.disable()
cycle = Finalizer()
cycle.me = cycle
del cycle
hoard = [[] for _ in range(200)]  # empties the list free list: PyList_New then calls the collector
gc.set_threshold(1)
gc.enable()
found = g._C.certify(inst, g.MAX_NUM_NODES)
print(kept, found)
"""


@needs_c
def test_certify_answer_survives_a_finalizer_run_by_the_collector_mid_call():
    """The first list the C search allocates (the path) may run the cyclic collector, hence
    a finalizer that drops targets[0]; the answer must still be the target's label. (In a
    fresh interpreter, where the collector and the allocator are in a known state.)"""
    out = subprocess.run([sys.executable, "-P", "-c", _FINALIZER_MID_CALL], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[777] (1, '1000', [0, 1000])"  # the finalizer ran during the call
