"""Checks that hold for every registered family (and its default task spec)."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from importlib import resources

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depthbench.generators import families, get_family, item_rng
from depthbench.generators._seeding import item_entropy
from depthbench.io import canonical_json
from depthbench.tasks import build_items, item_from_record, item_record, list_specs, load_spec

FAMILIES = sorted(families())
DEFAULT_SPECS = [s.name for s in list_specs() if s.name == s.family]


def _item_schema(name="item_decoded.schema.json"):
    return json.loads(resources.files("depthbench.schemas").joinpath(name).read_text("utf-8"))


def _sample_depths(spec):
    d = list(spec.depths)
    return sorted({d[0], d[len(d) // 2], d[-1]})


def _jsonl_sha(items) -> str:
    return hashlib.sha256("".join(canonical_json(it) + "\n" for it in items).encode()).hexdigest()


def _content_sha(items) -> str:
    """Like :func:`_jsonl_sha` without ``meta.generator_source_sha256`` (which any edit of the
    module changes): pins the random stream and the item layout, not the source text."""
    stripped = [{**it, "meta": {k: v for k, v in it["meta"].items() if k != "generator_source_sha256"}}
                for it in items]
    return _jsonl_sha(stripped)


def test_registry_finds_the_three_families_and_each_has_a_default_spec():
    assert {"graph_connectivity", "multihop_arithmetic", "grid_planning"} <= set(FAMILIES)
    assert set(FAMILIES) <= set(DEFAULT_SPECS)
    for name in FAMILIES:
        fam = get_family(name)
        assert fam.name == name and fam.version and fam.source_file.endswith(".py")


@pytest.fixture(scope="module", params=DEFAULT_SPECS)
def sample(request):
    spec = load_spec(request.param)
    return spec, build_items(spec, "dev", depths=_sample_depths(spec), n=3)


def test_items_validate_against_schema_and_contract(sample):
    spec, items = sample
    validator = jsonschema.Draft202012Validator(_item_schema())
    records = jsonschema.Draft202012Validator(_item_schema("item.schema.json"))
    for it in items:
        errors = list(validator.iter_errors(it))
        assert not errors, (it["id"], errors[0].message)
        errors = list(records.iter_errors(item_record(it)))
        assert not errors, (it["id"], errors[0].message)
        assert item_from_record(item_record(it)) == it
        assert it["task"] == spec.name and it["split"] == "dev"
        assert {k: it["params"][k] for k in spec.params} == dict(spec.params)
        assert it["params"]["depth"] == it["depth"]
        assert it["meta"]["generator_source_sha256"] == hashlib.sha256(
            open(get_family(spec.family).source_file, "rb").read()).hexdigest()
        assert "Answer:" in it["prompt"] and "{{" not in it["prompt"]
    assert [it["depth"] for it in items] == [d for d in _sample_depths(spec) for _ in range(3)]


def test_gold_answer_accepted_by_scorers_verify(sample):
    from depthbench.scorers import verify

    _, items = sample
    for it in items:
        assert verify(it, it["answer"]), it["id"]


def test_prompt_states_the_whole_instance(sample):
    spec, items = sample
    fam = get_family(spec.family)
    for it in items:
        assert fam.parse_prompt(it["prompt"]) == it["instance"]


def test_certifier_agrees_with_every_item(sample):
    spec, items = sample
    fam = get_family(spec.family)
    for it in items:
        cert = fam.certify(it["instance"])
        assert cert.depth == it["depth"]


def test_size_measures_fixed_across_depths(sample):
    _, items = sample
    assert len({canonical_json(it["meta"]["size"]) for it in items}) == 1


@pytest.mark.parametrize("task", DEFAULT_SPECS)
def test_global_random_state_is_never_read(task):
    spec = load_spec(task)
    depths = _sample_depths(spec)[:2]
    random.seed(1)
    np.random.seed(1)
    a = build_items(spec, "dev", depths=depths, n=2)
    random.seed(987654)
    np.random.seed(4242)
    b = build_items(spec, "dev", depths=depths, n=2)
    assert a == b
    # and generating did not consume the global streams either
    st = random.getstate(), np.random.get_state()[1].copy()
    build_items(spec, "dev", depths=depths, n=1)
    assert random.getstate() == st[0] and np.array_equal(np.random.get_state()[1], st[1])


def test_graph_seeds_1_and_2_share_none_of_10000_items():
    spec = load_spec("graph_connectivity")
    a = build_items(spec, "train", n=1000, seed=1)
    b = build_items(spec, "train", n=1000, seed=2)
    assert len(a) == len(b) == 10_000
    ha = {it["meta"]["content_sha256"] for it in a}
    hb = {it["meta"]["content_sha256"] for it in b}
    assert len(ha) == len(hb) == 10_000
    assert not ha & hb
    # not a shifted copy: item i of seed 2 is not item i+1 of seed 1 either
    assert not {it["instance"]["source"] for it in a[:50]} == {it["instance"]["source"] for it in b[1:51]}


@pytest.mark.parametrize("task", [t for t in DEFAULT_SPECS if t != "graph_connectivity"])
def test_other_families_seeds_1_and_2_share_no_items(task):
    spec = load_spec(task)
    a = build_items(spec, "train", depths=_sample_depths(spec), n=60, seed=1)
    b = build_items(spec, "train", depths=_sample_depths(spec), n=60, seed=2)
    ha = {it["meta"]["content_sha256"] for it in a}
    hb = {it["meta"]["content_sha256"] for it in b}
    assert len(ha) == len(a) and len(hb) == len(b) and not ha & hb


def test_item_streams_of_10000_keys_are_distinct_across_seeds_and_splits():
    # the seeding layer itself: 10,000 keys per (seed, split) never collide, and the
    # stream of seed s+1 is not the stream of seed s shifted by one index
    ents = {}
    for seed in (1, 2):
        for split in ("train", "test"):
            ents[seed, split] = {item_entropy("t", "1", split, seed, 4, i) for i in range(10_000)}
    allv = set().union(*ents.values())
    assert len(allv) == 40_000
    r1 = item_rng("t", "1", "test", 1, 4, 1).integers(1 << 62, size=4)
    r2 = item_rng("t", "1", "test", 2, 4, 0).integers(1 << 62, size=4)
    assert not np.array_equal(r1, r2)


@pytest.mark.parametrize("task", DEFAULT_SPECS)
def test_train_and_test_share_no_items_by_content_hash(task):
    spec = load_spec(task)
    depths = _sample_depths(spec)
    train = build_items(spec, "train", depths=depths, n=40)
    test = build_items(spec, "test", depths=depths, n=40)
    assert not {it["meta"]["content_sha256"] for it in train} & {it["meta"]["content_sha256"] for it in test}
    assert not {it["prompt"] for it in train} & {it["prompt"] for it in test}


def test_exclude_redraws_listed_content_hashes():
    spec = load_spec("graph_connectivity")
    first = build_items(spec, "dev", depths=[2], n=3)
    again = build_items(spec, "dev", depths=[2], n=3, exclude=[first[1]["meta"]["content_sha256"]])
    assert again[0] == first[0] and again[2] == first[2]
    assert again[1]["meta"]["content_sha256"] != first[1]["meta"]["content_sha256"]
    assert again[1]["depth"] == 2 and again[1]["index"] == 1


def test_duplicates_are_redrawn_and_impossible_counts_refused(tmp_path):
    # two_paths with 4 nodes at depth 1 has few distinct instances: 24 label permutations x
    # edge orders/orientations x target orders, so 40 items are distinct but 2000 are not
    from depthbench.errors import UserError
    from depthbench.tasks import TaskSpec

    d = load_spec("graph_connectivity").to_dict()
    d["params"] = {"kind": "two_paths", "num_nodes": 4}
    spec = TaskSpec.from_dict(d)
    items = build_items(spec, "dev", depths=[1], n=40)
    assert len({it["meta"]["content_sha256"] for it in items}) == 40
    with pytest.raises(UserError, match="distinct items"):
        build_items(spec, "dev", depths=[1], n=2000)


def test_prefix_and_depth_subset_stability():
    # n=3 is a prefix of n=5; --depths 8 gives the same items as the depth-8 block of the grid
    spec = load_spec("graph_connectivity")
    five = build_items(spec, "dev", depths=[4, 8], n=5)
    three = build_items(spec, "dev", depths=[4, 8], n=3)
    assert three == five[:3] + five[5:8]
    assert build_items(spec, "dev", depths=[8], n=5) == five[5:]


# Golden hashes: sha256 of the canonical JSONL of a fixed small generation (source hash
# left out). A change here means the items changed: bump the family's VERSION and
# regenerate the canonical release with scripts/regen_release.py (older releases are frozen).
GOLDEN = {
    "graph_connectivity": "fb098daac048d18e4f80a72a4d392420d6a1c0db1e159aad78275ecc157ccf77",
    "multihop_arithmetic": "ba1605dfb40d7a81bc961418b1a1e8d3f53d316e1b4b649abc728ffc244b2573",
    "grid_planning": "8acce5fa22163daa3926b88539a7a134388e315148b83a2f80497c3b4b3aab10",
}


@pytest.mark.parametrize("task", sorted(GOLDEN))
def test_golden_sha256(task):
    spec = load_spec(task)
    items = build_items(spec, "dev", depths=_sample_depths(spec), n=2, seed=12345)
    assert _content_sha(items) == GOLDEN[task]


def _tiny_spec():
    from depthbench.tasks import TaskSpec

    d = load_spec("graph_connectivity").to_dict()
    d["params"] = {"kind": "random_branching", "num_nodes": 16}
    return TaskSpec.from_dict(d)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), parts=st.integers(1, 7),
       depths=st.lists(st.integers(1, 7), min_size=1, max_size=3, unique=True))
def test_shards_partition_the_item_list(n, parts, depths):
    spec = _tiny_spec()
    full = build_items(spec, "dev", depths=depths, n=n)
    pieces = [build_items(spec, "dev", depths=depths, n=n, shard=(k, parts)) for k in range(1, parts + 1)]
    assert [it for p in pieces for it in p] == full
    assert [(it["depth"], it["index"]) for it in full] == [(d, i) for d in depths for i in range(n)]


def test_item_refused_when_certifier_disagrees():
    import dataclasses

    from depthbench.generators import graph_connectivity as gc
    from depthbench.generators._base import Certificate
    from depthbench.tasks import CertificationMismatch
    from depthbench.tasks._dataset import _Ctx, make_item

    spec = load_spec("graph_connectivity")
    good = get_family("graph_connectivity")

    def off_by_one(instance):
        c = gc.certify(instance)
        return Certificate(depth=c.depth + 1, answer=c.answer, solution_trace=c.solution_trace)

    def other_answer(instance):
        c = gc.certify(instance)
        wrong = next(str(t) for t in instance["targets"] if str(t) != c.answer)
        return Certificate(depth=c.depth, answer=wrong, solution_trace=c.solution_trace)

    assert make_item(_Ctx(spec, good), "dev", 1, 3, 0)["depth"] == 3
    with pytest.raises(CertificationMismatch, match="certifier measured 4"):
        make_item(_Ctx(spec, dataclasses.replace(good, certify=off_by_one)), "dev", 1, 3, 0)
    with pytest.raises(CertificationMismatch, match="item refused"):
        make_item(_Ctx(spec, dataclasses.replace(good, certify=other_answer)), "dev", 1, 3, 0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=70), k=st.integers(min_value=1, max_value=3),
       seed=st.integers(min_value=0, max_value=10**6), depth=st.integers(min_value=1, max_value=40))
def test_bucket_cues_are_balanced_for_every_prefix(n, k, seed, depth):
    from depthbench.tasks import bucket_cues

    names = tuple(f"c{j}" for j in range(k))
    rows = [bucket_cues("t", "2", "test", seed, depth, i, names) for i in range(n)]
    for name in names:
        true = sum(r[name] for r in rows)
        assert true in (n // 2, (n + 1) // 2), (name, true, n)
    full = n - n % (1 << k)
    combos = Counter(tuple(r[c] for c in names) for r in rows[:full])
    assert full == 0 or set(combos.values()) == {full >> k}
    # a prefix is the same assignment (--n 3 is a prefix of --n 5)
    assert rows[: n // 2] == [bucket_cues("t", "2", "test", seed, depth, i, names) for i in range(n // 2)]


@pytest.mark.parametrize("template", [
    "Q:\n{{ problem }}\nAnswer: <{{ answer_format }}>",                       # fast path
    "{{ problem | upper }}\nAnswer:",                                          # filtered: full render
    "{{ problem }} / {{ problem }}\nAnswer:",                                  # twice: full render
    "{% if \"modulus\" in answer_space %}m={{ answer_space.modulus }}{% endif %} {{ problem }}\nAnswer:",  # per space
])
def test_compiled_prompt_equals_the_full_jinja_render(template):
    from depthbench.tasks._dataset import _Template

    t = _Template(template)
    for problem, space in (("x1 = 2 + 3", {"modulus": 97}), ("p{{ q }}", {"modulus": 5}), ("a\nb", {"labels": ["1"]})):
        for fmt in ("Answer: <x>", "Final: <y>", "Answer: <x>"):  # the cached parts give the full render's text
            assert t.render_item(problem, space, fmt) == t.render(problem=problem, answer_space=space, answer_format=fmt)


def test_item_streams_equal_item_rng_and_block_rng():
    """ItemStreams re-seeds one PCG64 per item: same state and draws as a fresh item_rng /
    block_rng, also after a 32-bit draw left a buffered half-word behind."""
    import numpy as np

    from depthbench.generators._seeding import ItemStreams, block_rng

    st = ItemStreams("t", "2", "test", 3)
    for d, i, a in ((1, 0, 0), (5, 7, 2), (32, 999, 0), (np.int64(4), 11, 1)):
        st.rng(9, 9).integers(0, 10, 3, dtype=np.uint32)  # leaves has_uint32 set
        want, got = item_rng("t", "2", "test", 3, d, i, a), st.rng(d, i, a)
        assert got.bit_generator.state == want.bit_generator.state
        assert got.integers(0, 10, 7, dtype=np.uint32).tolist() == want.integers(0, 10, 7, dtype=np.uint32).tolist()
        b_want, b_got = block_rng("t", "2", "test", 3, d, i), st.block(d, i)
        assert b_got.bit_generator.state == b_want.bit_generator.state and b_got.random() == b_want.random()


@pytest.mark.parametrize("task", DEFAULT_SPECS)
def test_the_bucket_builder_gives_the_per_item_definition(task):
    """build_items assembles a depth bucket with per-bucket constants; each item equals the
    item make_item builds alone (its own item_rng, its cue block drawn alone), and its content
    hash is sha256(family + "\\n" + statement)."""
    import hashlib

    from depthbench.tasks import item_content_sha256, make_item

    spec = load_spec(task)
    d = spec.depths[1]
    items = build_items(spec, "dev", depths=[d], n=6, seed=11)
    for it in items:
        assert it == make_item(spec, "dev", 11, d, it["index"])
        fam = get_family(it["meta"]["family"])
        text = f"{fam.name}\n{fam.describe(it['instance'])}".encode()
        assert it["meta"]["content_sha256"] == hashlib.sha256(text).hexdigest() == item_content_sha256(fam.name, it["instance"])
    assert items[0]["params"] is not items[1]["params"]  # a fresh params dict per item
    items[0]["params"]["depth"] = -1
    assert items[1]["params"]["depth"] == d


def test_a_build_leaves_no_young_objects_for_the_collector_and_respects_a_freeze():
    """The items go straight to the oldest GC generation (no scans of them after the build)
    and the collector is on again; a process that froze objects keeps its freeze."""
    import gc

    events: list[int] = []

    def cb(phase, info):
        if phase == "start":
            events.append(info["generation"])

    gc.collect()
    gc.callbacks.append(cb)
    try:
        items = build_items("graph_connectivity", "dev", depths=[4], n=400, seed=5)
        assert len(items) == 400 and gc.isenabled()
        assert [g for g in events if g < 2] == [], events  # the paused build's objects were not rescanned
        assert gc.get_count()[0] < 700  # below the first threshold: nothing young is left to scan
        gc.freeze()
        frozen = gc.get_freeze_count()
        build_items("graph_connectivity", "dev", depths=[4], n=20, seed=5)
        assert gc.get_freeze_count() > frozen // 2 and gc.isenabled()  # not unfrozen (refcounting frees a few)
    finally:
        gc.callbacks.remove(cb)
        gc.unfreeze()


def test_the_bucket_builder_uses_describe_batch():
    """A family's describe_batch text is what the bucket builder puts in the prompt and hashes
    (a family without it gets describe's text, the same items as make_item)."""
    import dataclasses

    from depthbench.generators import multihop_arithmetic as mh
    from depthbench.generators._seeding import ItemStreams
    from depthbench.tasks._dataset import _Bucket, _config, _Ctx

    spec = load_spec("multihop_arithmetic")
    fam = get_family("multihop_arithmetic")
    d = spec.depths[1]

    def bucket_items(family):
        ctx = _Ctx(spec, family)
        bucket = _Bucket(ctx, "dev", 5, d, _config(ctx, d), ItemStreams(spec.name, family.version, "dev", 5))
        return bucket.items(list(range(6)))

    plain = bucket_items(dataclasses.replace(fam, describe_batch=None))
    assert bucket_items(fam) == plain
    marked = bucket_items(dataclasses.replace(fam, describe_batch=lambda xs: [mh.describe(x) + " #" for x in xs]))
    assert all(it["prompt"] != p["prompt"] and it["meta"]["content_sha256"] != p["meta"]["content_sha256"]
               for it, p in zip(marked, plain))
    assert all(it["prompt"].replace(" #", "", 1) == p["prompt"] for it, p in zip(marked, plain))


@pytest.mark.parametrize("cls", ["Problem", "Certificate"])
def test_problem_and_certificate_constructors_match_their_fields_and_stay_frozen(cls):
    """Problem and Certificate write their own __init__ (for speed): its parameters must be the
    dataclass fields in order with the same defaults, every field must be set, and the
    instances must stay frozen, comparable and hashable like the generated ones."""
    import dataclasses
    import inspect

    from depthbench.generators import _base

    klass = getattr(_base, cls)
    fields = dataclasses.fields(klass)
    params = list(inspect.signature(klass).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
                                          for f in fields]
    values = {f.name: (f.name, k) for k, f in enumerate(fields)}  # distinct, hashable values
    obj = klass(**values)
    assert {f.name: getattr(obj, f.name) for f in fields} == values
    assert obj == klass(*values.values()) and hash(obj) == hash(klass(**values))
    assert dataclasses.replace(obj, **{fields[0].name: "x"}) != obj
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, fields[0].name, "y")
