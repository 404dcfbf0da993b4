"""graph_connectivity: property tests over random valid configs, plus table-driven checks."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depthbench.generators import graph_connectivity as gc
from depthbench.tasks import TaskSpec, load_spec, make_item

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def configs(draw, kinds=gc.KINDS):
    kind = draw(st.sampled_from(kinds))
    lo = 8 if kind == "bridge" else 4
    n = 2 * draw(st.integers(lo // 2, 80))
    top = gc.max_depth({"kind": kind, "num_nodes": n})
    depth = draw(st.integers(1, top))
    return gc.GraphConnectivityConfig(depth=depth, num_nodes=n, kind=kind)


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _graph(inst) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(inst["num_nodes"]))
    g.add_edges_from(map(tuple, inst["edges"]))
    return g


@SETTINGS
@given(cfg=configs(), seed=st.integers(0, 2**63 - 1))
def test_certified_depth_and_exactly_one_reachable_target(cfg, seed):
    prob = gc.generate(cfg, _rng(seed))
    inst = prob.instance
    g = _graph(inst)
    comp = nx.node_connected_component(g, inst["source"])
    reachable = [t for t in inst["targets"] if t in comp]
    assert reachable == [int(prob.answer)]
    assert nx.shortest_path_length(g, inst["source"], int(prob.answer)) == cfg.depth
    cert = gc.certify(inst)
    assert (cert.depth, cert.answer, cert.solution_trace) == (cfg.depth, prob.answer, prob.solution_trace)
    # trace is a real path of the graph from the source to the answer
    tr = prob.solution_trace
    assert tr[0] == inst["source"] and tr[-1] == int(prob.answer) and len(tr) == cfg.depth + 1
    assert all(g.has_edge(a, b) for a, b in zip(tr, tr[1:]))


@SETTINGS
@given(cfg=configs(), seed=st.integers(0, 2**63 - 1))
def test_decoy_component_same_shape_and_labels_permuted(cfg, seed):
    prob = gc.generate(cfg, _rng(seed))
    inst = prob.instance
    g = _graph(inst)
    comps = list(nx.connected_components(g))
    assert len(comps) == 2 and all(len(c) == cfg.num_nodes // 2 for c in comps)
    a, b = (g.subgraph(c) for c in comps)
    assert nx.faster_could_be_isomorphic(a, b)
    if cfg.num_nodes <= 60:
        assert nx.is_isomorphic(a, b)
    # every label 0..N-1 is used once; the two targets have equal degree (no local cue)
    assert sorted(g.nodes) == list(range(cfg.num_nodes))
    t1, t2 = inst["targets"]
    assert g.degree(t1) == g.degree(t2)
    assert prob.answer_space == {"labels": [str(t1), str(t2)]} and prob.chance == 0.5


@SETTINGS
@given(kind=st.sampled_from(gc.KINDS), half=st.integers(10, 60), seed=st.integers(0, 2**32))
def test_size_measures_equal_across_depth_sweep(kind, half, seed):
    n = 2 * half
    top = gc.max_depth({"kind": kind, "num_nodes": n})
    sizes = {tuple(sorted(gc.generate(gc.GraphConnectivityConfig(depth=d, num_nodes=n, kind=kind),
                                      _rng(seed + d)).size.items()))
             for d in sorted({1, 2, top // 2 or 1, top})}
    assert len(sizes) == 1
    size = dict(next(iter(sizes)))
    cycles = (half - 1) // 3 if kind == "bridge" else 0
    assert size == {"num_nodes": n, "num_edges": n - 2 + 2 * cycles}


@SETTINGS
@given(cfg=configs(), seed=st.integers(0, 2**63 - 1))
def test_describe_parse_roundtrip(cfg, seed):
    inst = gc.generate(cfg, _rng(seed)).instance
    assert gc.parse_prompt("preamble\n" + gc.describe(inst) + "\nAnswer: ?") == inst


@SETTINGS
@given(cfg=configs(kinds=("random_branching", "two_paths")), index=st.integers(0, 10**6))
def test_full_item_prompt_parses_back_and_gold_is_verified(cfg, index):
    spec_d = load_spec("graph_connectivity").to_dict()
    spec_d["params"] = {"kind": cfg.kind, "num_nodes": cfg.num_nodes}
    item = make_item(TaskSpec.from_dict(spec_d), "test", 7, cfg.depth, index)
    assert gc.parse_prompt(item["prompt"]) == item["instance"]
    assert item["depth"] == cfg.depth
    from depthbench import scorers
    assert scorers.verify(item, item["answer"])
    other = [lab for lab in item["meta"]["answer_space"]["labels"] if lab != item["answer"]]
    assert other and not scorers.verify(item, other[0])
    assert gc.check_path(item["instance"], item["solution_trace"], item["answer"])


def test_generate_is_pure_in_rng():
    cfg = gc.GraphConnectivityConfig(depth=5, num_nodes=40, kind="bridge")
    assert gc.generate(cfg, _rng(3)) == gc.generate(cfg, _rng(3))
    assert gc.generate(cfg, _rng(3)).instance != gc.generate(cfg, _rng(4)).instance


@pytest.mark.parametrize(("kind", "n", "top"), [
    ("two_paths", 100, 49), ("random_branching", 100, 49), ("bridge", 100, 16), ("bridge", 200, 33),
    ("two_paths", 4, 1), ("bridge", 6, 0), ("bridge", 8, 1),
])
def test_max_depth_table(kind, n, top):
    assert gc.max_depth({"kind": kind, "num_nodes": n}) == top


def test_default_sizes_reach_depth_32():
    for name in ("graph_connectivity", "graph_connectivity_bridge", "graph_connectivity_two_paths"):
        spec = load_spec(name)
        assert gc.max_depth(dict(spec.params)) >= 32 >= max(spec.depths)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"depth": 1, "num_nodes": 7}, "even"),
    ({"depth": 1, "num_nodes": 2}, ">= 4"),
    ({"depth": 0, "num_nodes": 10}, "depth must be >= 1"),
    ({"depth": 17, "num_nodes": 100, "kind": "bridge"}, "largest depth: 16"),
    ({"depth": 50, "num_nodes": 100}, "largest depth: 49"),
    ({"depth": 2, "num_nodes": 10, "kind": "star"}, "kind must be one of"),
    ({"depth": True, "num_nodes": 10}, "integer"),
    ({"depth": 2.0, "num_nodes": 10}, "integer"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gc.GraphConnectivityConfig(**kwargs)


@pytest.mark.parametrize(("edges", "match"), [
    ([[0, 1], [2, 3]], "0 targets reachable"),          # neither target reachable from 4
    ([[4, 1], [4, 2], [0, 3]], "2 targets reachable"),
])
def test_certifier_rejects_ambiguous_instances(edges, match):
    inst = {"kind": "two_paths", "num_nodes": 5, "edges": edges, "source": 4, "targets": [1, 2]}
    with pytest.raises(gc.CertificationError, match=match):
        gc.certify(inst)


def test_certifier_measures_shortest_not_any_path():
    # 0-1-2-3 and a shortcut 0-3: depth 1, not 3
    inst = {"kind": "x", "num_nodes": 6, "edges": [[0, 1], [1, 2], [2, 3], [0, 3], [4, 5]],
            "source": 0, "targets": [5, 3]}
    cert = gc.certify(inst)
    assert (cert.depth, cert.answer, cert.solution_trace) == (1, "3", [0, 3])


def test_bridge_petals_have_short_long_and_dead_end():
    cfg = gc.GraphConnectivityConfig(depth=4, num_nodes=40, kind="bridge")
    prob = gc.generate(cfg, _rng(11))
    g = _graph(prob.instance)
    path = prob.solution_trace
    for a, b in zip(path, path[1:]):
        h = g.copy()
        h.remove_edge(a, b)
        # without the short edge the junctions are still joined, by a longer path
        assert nx.shortest_path_length(h, a, b) >= 2
    # every junction but the target has a dead end: a neighbour whose removal-side holds no path node
    for j in path[:-1]:
        side = [v for v in g.neighbors(j) if v not in path]
        assert len(side) >= 2  # long-path neighbour + dead-end neighbour


@pytest.mark.parametrize("task", ["graph_connectivity", "graph_connectivity_two_paths", "graph_connectivity_bridge"])
def test_prompt_length_flat_across_depths(task):
    from depthbench.tasks import build_items

    spec = load_spec(task)
    items = build_items(spec, "dev", depths=[1, 8, 32], n=30)
    mean = {}
    for it in items:
        mean.setdefault(it["depth"], []).append(len(it["prompt"]))
    means = [sum(v) / len(v) for v in mean.values()]
    assert max(means) / min(means) < 1.02, mean.keys()
    sizes = {(it["meta"]["size"]["num_nodes"], it["meta"]["size"]["num_edges"]) for it in items}
    assert len(sizes) == 1


def _nx_certificate(inst):
    """networkx's answer for an instance: (reachable targets, distance to the reachable one)."""
    g = nx.Graph()
    g.add_nodes_from(range(inst["num_nodes"]))
    g.add_edges_from(inst["edges"])
    reach = [t for t in inst["targets"] if nx.has_path(g, inst["source"], t)]
    dist = nx.shortest_path_length(g, inst["source"], reach[0]) if len(reach) == 1 else None
    return reach, dist


@pytest.mark.slow
@pytest.mark.parametrize("kind", gc.KINDS)
def test_plain_bfs_certifier_agrees_with_networkx_on_10000_items(kind):
    """The certifier is our own BFS; networkx must agree on reachability, distance and that
    the trace is a shortest path, on 10,000 items of every kind (sizes and depths mixed),
    plus perturbed instances where the decoy is wired in (two reachable) or the target cut
    off (none reachable), which the certifier must refuse exactly when networkx says so."""
    rng = np.random.default_rng({"two_paths": 1, "bridge": 2, "random_branching": 3}[kind])
    sizes = (12, 20, 40) if kind != "bridge" else (20, 40, 62)
    checked = refused = 0
    for k in range(10_000):
        n = sizes[k % len(sizes)]
        top = gc.max_depth({"kind": kind, "num_nodes": n})
        cfg = gc.GraphConnectivityConfig(depth=int(rng.integers(1, top + 1)), num_nodes=n, kind=kind)
        inst = gc.generate(cfg, rng).instance
        if k % 10 == 9:  # perturb: connect the decoy, or drop every edge at the reachable target
            inst = dict(inst)
            s, (t1, t2) = inst["source"], inst["targets"]
            if k % 20 == 9:
                inst["edges"] = inst["edges"] + [[s, t1], [s, t2]]
            else:
                ans = int(gc.certify(inst).answer)
                inst["edges"] = [e for e in inst["edges"] if ans not in e]
        reach, dist = _nx_certificate(inst)
        if len(reach) != 1:
            with pytest.raises(gc.CertificationError):
                gc.certify(inst)
            refused += 1
            continue
        cert = gc.certify(inst)
        assert (cert.answer, cert.depth) == (str(reach[0]), dist)
        path = cert.solution_trace
        assert path[0] == inst["source"] and path[-1] == reach[0] and len(path) == dist + 1
        edges = {frozenset(e) for e in inst["edges"]}
        assert all(frozenset((a, b)) in edges for a, b in zip(path, path[1:]))
        checked += 1
    assert checked + refused == 10_000 and refused >= 1_000


@pytest.mark.parametrize(("edges", "why"), [
    ([[0, 1], [-1, 2]], "negative label (a list index would wrap it)"),
    ([[0, 1], [5, 2]], "label n"),
    ([[0, 1], [9, 2]], "label 2n - 1"),
    ([[0, 1], [10, 2]], "label 2n"),
    ([[0, 1], [-11, 2]], "label below -2n"),
    ([[0, 1], [-7, 2]], "label in -2n..-n-1 (would wrap onto node 3 of an unreached part)"),
    ([[0, 1], [3, -10]], "label -2n (would wrap onto node 0)"),
    ([[0, 1], [-6, 2]], "label -n - 1 (would wrap onto slot n - 1, a real node)"),
    ([[0, 1], [-10, 2]], "label -2n (would wrap onto slot 0, the source)"),
    ([[0, 1], [3, -7]], "second label in -2n..-n-1, edge off the source's component"),
    ([[0, 1], [1.5, 2]], "not an integer"),
    ([[0, 1], [1, 2, 3]], "not a pair"),
    ([[0, 1], None], "not a list"),
])
def test_certifier_refuses_labels_outside_the_graph(edges, why):
    inst = {"kind": "x", "num_nodes": 5, "edges": edges, "source": 0, "targets": [1, 3]}
    with pytest.raises(gc.CertificationError, match="pairs of labels in 0..4"):
        gc.certify(inst)


_GOOD = {"kind": "x", "num_nodes": 5, "edges": [[0, 1], [1, 2], [3, 4]], "source": 0, "targets": [2, 3]}


def _with(**fields):
    return {**_GOOD, **fields}


def test_certifier_control_instance_is_valid():
    # the instances below differ from this one in one field only
    cert = gc.certify(_GOOD)
    assert (cert.depth, cert.answer, cert.solution_trace) == (2, "2", [0, 1, 2])


@pytest.mark.parametrize(("instance", "match"), [
    # a JSON true / false is an int subclass in Python: never read as node 1 / 0
    (_with(edges=[[0, True], [1, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[False, 1], [1, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, 1], [True, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(source=False), "source False is not a node label"),
    (_with(source=True, edges=[[1, 2], [3, 4]]), "source True is not a node label"),
    (_with(targets=[True, 3], edges=[[0, 1], [3, 4]]), "target True is not a node label"),
    (_with(targets=[2, True]), "target True is not a node label"),
    (_with(num_nodes=True), "num_nodes must be a positive integer"),
    # floats, even integral ones, and digit strings are not labels
    (_with(edges=[[0, 1.0], [1, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, 1], [1, 2], [3.0, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, "1"], [1, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[["0", 1], [1, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(source=0.0), "source 0.0 is not a node label"),
    (_with(source="0"), "source '0' is not a node label"),
    (_with(targets=[2.0, 3]), "target 2.0 is not a node label"),
    (_with(targets=["2", 3]), "target '2' is not a node label"),
    (_with(num_nodes=5.0), "num_nodes must be a positive integer"),
    (_with(num_nodes="5"), "num_nodes must be a positive integer"),
    (_with(num_nodes=0), "num_nodes must be a positive integer"),
    (_with(num_nodes=-5), "num_nodes must be a positive integer"),
    # numpy integers and None are not plain ints either
    (_with(edges=[[0, np.int64(1)], [1, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(source=np.int64(0)), "source np.int64\\(0\\) is not a node label"),
    (_with(num_nodes=np.int64(5)), "num_nodes must be a positive integer"),
    (_with(edges=[[0, None], [1, 2], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(source=None), "source None is not a node label"),
    # labels out of range
    (_with(source=-1), "source -1 is not a node label"),
    (_with(source=5), "source 5 is not a node label"),
    (_with(targets=[2, -5]), "target -5 is not a node label"),
    (_with(targets=[2, 5]), "target 5 is not a node label"),
    (_with(edges=[[0, 1], [1, 2], [3, -4]]), "pairs of labels in 0..4"),
    (_with(edges=[[0, 1], [1, 2], [3, 5]]), "pairs of labels in 0..4"),
    # shapes: an edge or the targets that are not a list of two, edges not a list
    (_with(edges=[[0, 1], {1: "a", 2: "b"}, [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, 1], {1, 2}, [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, 1], "12", [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, 1], [1, 2, 3], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, 1], [1], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges=[[0, 1], [[1, 2]], [3, 4]]), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges={0: 1}), "edges must be a list of \\[u, v\\] pairs"),
    (_with(edges="0-1, 1-2"), "edges must be a list of \\[u, v\\] pairs"),
    (_with(targets=[2]), "targets must be a list of two node labels"),
    (_with(targets=[2, 3, 4]), "targets must be a list of two node labels"),
    (_with(targets="23"), "targets must be a list of two node labels"),
    (_with(targets={2: 0, 3: 0}), "targets must be a list of two node labels"),
    (_with(targets=[2, 2]), "need two distinct targets"),
    ({k: v for k, v in _GOOD.items() if k != "edges"}, "needs the fields num_nodes, edges, source and targets"),
    ({k: v for k, v in _GOOD.items() if k != "source"}, "needs the fields num_nodes, edges, source and targets"),
    ([1, 2, 3], "needs the fields num_nodes, edges, source and targets"),
])
def test_certifier_refuses_values_that_are_not_plain_int_labels(instance, match):
    """Every label must be a plain int in 0..n-1 (``type(x) is int``): a JSON true is never
    node 1, 1.0 / "1" / numpy integers are never read as numbers, and shapes are checked."""
    with pytest.raises(gc.CertificationError, match=match):
        gc.certify(instance)


def test_certifier_accepts_tuples_where_lists_are_expected():
    inst = _with(edges=((0, 1), (1, 2), (3, 4)), targets=(2, 3))
    assert gc.certify(inst) == gc.certify(_GOOD)


@pytest.mark.parametrize(("edges", "text"), [
    ([[0, 1], [4, 2]], "0-1, 4-2"),
    ([[0, 1], [-1, 2]], "0-1, -1-2"),     # outside the label table: stated as it is, not wrapped
    ([[0, 5], [12, 3]], "0-5, 12-3"),
    ([], ""),
])
def test_statement_states_every_label_as_given(edges, text):
    inst = {"kind": "two_paths", "num_nodes": 5, "edges": edges, "source": 0, "targets": [1, 3]}
    assert f"Edges (undirected): {text}\n" in gc.describe(inst)


def test_statement_of_large_graphs_without_the_label_table():
    n = gc._LABEL_TABLE_MAX + 2
    inst = gc.generate(gc.GraphConnectivityConfig(depth=3, num_nodes=n), _rng(5)).instance
    text = gc.describe(inst)
    assert gc.parse_prompt(text) == inst and f"{inst['edges'][0][0]}-{inst['edges'][0][1]}, " in text


def test_edge_order_and_orientation_carry_no_structure():
    """The list order and each edge's orientation are fair coins: edges written from the end
    nearer the source (in the decoy component: nearer the decoy target; in a tree, the
    parent) and lists that open with an edge of the source's component are each about half."""
    cfg = gc.GraphConnectivityConfig(depth=4, num_nodes=40)
    parent_first = main_first = edges_seen = 0
    items = 1000
    for seed in range(items):
        inst = gc.generate(cfg, _rng(seed)).instance
        g = _graph(inst)
        dist = nx.single_source_shortest_path_length(g, inst["source"])
        decoy = next(t for t in inst["targets"] if t not in dist)
        dist.update(nx.single_source_shortest_path_length(g, decoy))
        for u, v in inst["edges"]:
            parent_first += dist[u] < dist[v]
        edges_seen += len(inst["edges"])
        main_first += inst["edges"][0][0] in nx.node_connected_component(g, inst["source"])
    # 38,000 edges: sd 0.0026 -> +-0.013 is 5 sd; 1,000 items: sd 0.016 -> +-0.08 is 5 sd
    assert abs(parent_first / edges_seen - 0.5) < 0.013
    assert abs(main_first / items - 0.5) < 0.08


def test_two_paths_source_offset_is_uniform():
    """The source sits at a uniform offset in [0, m - depth) along its path."""
    m, d, items = 10, 3, 2100
    cfg = gc.GraphConnectivityConfig(depth=d, num_nodes=2 * m, kind="two_paths")
    counts = [0] * (m - d)
    for seed in range(items):
        prob = gc.generate(cfg, _rng(seed))
        inst = prob.instance
        g = _graph(inst)
        s, t = inst["source"], int(prob.answer)
        ds, dt = (nx.single_source_shortest_path_length(g, x) for x in (s, t))
        ends = [v for v in ds if g.degree(v) == 1]
        (back,) = [e for e in ends if ds[e] != d + dt[e]]  # the end away from the target
        counts[ds[back]] += 1
    expected = items / (m - d)  # 300 each, sd ~16
    assert all(abs(c - expected) < 5 * (expected * (1 - 1 / (m - d))) ** 0.5 for c in counts), counts


@SETTINGS
@given(cfg=configs(), seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=9),
       cue_bits=st.lists(st.integers(-1, 3), min_size=9, max_size=9))
def test_generate_batch_gives_each_item_as_generate_alone(cfg, seeds, cue_bits):
    """Family.generate_batch (what the builder calls per depth bucket) is the per-item
    generate of each stream: an item does not depend on its batch mates or its position."""
    cues = [None if b < 0 else {"target_first": bool(b & 1), "target_larger": bool(b & 2)}
            for b in cue_bits[:len(seeds)]]
    alone = [gc.generate(cfg, _rng(s), c) for s, c in zip(seeds, cues)]
    assert gc.generate_batch(cfg, (_rng(s) for s in seeds), cues) == alone
    assert gc.generate_batch(cfg, (_rng(s) for s in seeds[::-1]), cues[::-1]) == alone[::-1]
    assert gc.FAMILY.generate_batch is gc.generate_batch


def test_row_argsort_breaks_ties_by_position_like_a_stable_sort():
    keys = np.random.default_rng(3).random((40, 25))
    keys[5, 3] = keys[5, 17]          # one tie in one row
    keys[9] = 0.25                    # a row of equal keys
    keys[11, :12] = keys[11, 12:24]   # twelve ties in one row
    got = gc._argsort_rows(keys)
    assert (got == keys.argsort(axis=1, kind="stable")).all()
    assert got[9].tolist() == list(range(25))
    assert gc._argsort_rows(keys[:4]).tolist() == keys[:4].argsort(axis=1, kind="stable").tolist()


@pytest.mark.parametrize("n", [gc.MAX_NUM_NODES + 1, 10**12, 2**70])
def test_certifier_refuses_a_num_nodes_past_the_limit_before_allocating(n):
    """The certifier allocates per node: num_nodes 10**12 in a four-node instance exhausted memory
    (10**8 already took 4 GB) instead of a one-line refusal."""
    with pytest.raises(gc.CertificationError, match=f"num_nodes {n} is past the limit of {gc.MAX_NUM_NODES}"):
        gc.certify(_with(num_nodes=n))
    with pytest.raises(ValueError, match=f"num_nodes must be <= {gc.MAX_NUM_NODES}"):
        gc.GraphConnectivityConfig(depth=1, num_nodes=n + n % 2)
    assert gc.certify(_with(num_nodes=gc.MAX_NUM_NODES)).answer == "2"  # the limit itself is a graph
