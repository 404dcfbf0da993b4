"""The builder's batch hooks and compiled fast paths change no byte of a build.

* ``Family.certify_batch``: its certificates are what the builder checks and records; when it
  refuses a run (``ValueError``) the builder certifies that run one by one, so a refused item
  is named, and a run it refused although every item is valid gives the same items.
* ``Family.batch_size``: any run length gives the same items, for every family (and, as a
  property of the toy family, with any pattern of refused runs); a batch hook that returns
  another number of results than items is an error.
* ``DEPTHBENCH_PURE_PYTHON=1`` (the pure-Python reference instead of the compiled modules of
  ``depthbench.generators._compiled``) gives the same JSONL bytes.

The toy family of ``tests/_toy_family.py`` (no batch hooks of its own) gets them here through
``dataclasses.replace``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests._toy_family as toy
from depthbench.generators import Certificate, families, get_family, register_family, unregister_family
from depthbench.generators._compiled import ENV, MODULES, status
from depthbench.io import canonical_json
from depthbench.tasks import CertificationMismatch, build_items, list_specs, make_item

ROOT = Path(__file__).resolve().parents[1]


def _toy_generate_batch(config, rngs, cues):
    # one rng at a time (zip takes the next stream only after the body used the previous one)
    return [toy.generate(config, rng) for rng, _ in zip(rngs, cues)]


@contextlib.contextmanager
def _toy_registered(**changes):
    """The toy family with ``changes`` (and a ``generate_batch``, runs of 4) registered meanwhile."""
    unregister_family(toy.FAMILY.name)
    register_family(dataclasses.replace(toy.FAMILY, **{"generate_batch": _toy_generate_batch, "batch_size": 4,
                                                       **changes}))
    try:
        yield
    finally:
        unregister_family(toy.FAMILY.name)


@pytest.fixture()
def toy_variant(tmp_path):
    """``toy_variant(**changes)``: registers the toy family with ``changes`` (see
    ``_toy_registered``) until the test ends, returns its spec path."""
    path = tmp_path / "toy_letters.yaml"
    path.write_text(toy.SPEC)
    with contextlib.ExitStack() as stack:
        def make(**changes):
            stack.close()
            stack.enter_context(_toy_registered(**changes))
            return path

        yield make


class _Counted:
    """A callable that counts its calls (and the instances it was given)."""

    def __init__(self, fn):
        self.fn, self.calls, self.seen = fn, 0, 0

    def __call__(self, arg):
        self.calls += 1
        self.seen += len(arg) if isinstance(arg, list) else 1
        return self.fn(arg)


def test_certify_batch_certificates_are_the_ones_checked_and_recorded(toy_variant):
    """The builder reads depth, answer and extra of the batch certificates (certify is not called)."""
    single = _Counted(toy.certify)

    def batch(instances):
        return [Certificate(c.depth, c.answer, None, {"batch_checked": True}) for c in map(toy.certify, instances)]

    counted = _Counted(batch)
    items = build_items(toy_variant(certify=single, certify_batch=counted), "test", depths=[4], n=10)
    assert counted.calls == 3 and counted.seen == 10  # runs of 4, 4, 2
    assert single.calls == 0
    assert all(it["meta"]["batch_checked"] is True for it in items)

    def wrong_answer(instances):
        certs = [toy.certify(x) for x in instances]
        certs[1] = Certificate(certs[1].depth, "#", None)
        return certs

    with pytest.raises(CertificationMismatch, match=r"certifier answer '#' \(task toy_letters split test seed 7 "
                                                    r"depth 4 index 1 attempt 0\); item refused"):
        build_items(toy_variant(certify_batch=wrong_answer), "test", depths=[4], n=10)
    runs = []

    def second_run_shallow(instances):
        runs.append(len(instances))
        return [Certificate(3 if len(runs) == 2 and i == 0 else 4, toy.certify(x).answer, None)
                for i, x in enumerate(instances)]

    with pytest.raises(CertificationMismatch, match="certifier measured 3 .*depth 4 index 4 attempt 0"):
        build_items(toy_variant(certify_batch=second_run_shallow), "test", depths=[4], n=6)


@pytest.mark.parametrize("hook", ["generate_batch", "describe_batch", "certify_batch"])
def test_a_batch_hook_that_drops_a_result_is_an_error_not_a_shorter_build(toy_variant, hook):
    real = {"generate_batch": _toy_generate_batch, "describe_batch": lambda xs: [toy.describe(x) for x in xs],
            "certify_batch": lambda xs: [toy.certify(x) for x in xs]}
    short = {**real, hook: lambda *a: real[hook](*a)[:-1]}
    with pytest.raises(RuntimeError, match=f"toy_letters: {hook} returned 3 results for 4 items"):
        build_items(toy_variant(**short), "test", depths=[4], n=8)


def test_a_refused_batch_is_certified_one_by_one_and_the_error_names_the_item(toy_variant):
    """certify_batch refuses a run; certify refuses one item of it: the error is certify's own,
    naming that item (not the batch's message, not another item)."""
    plain = toy_variant()
    first = [make_item(plain, "test", 7, 2, i)["instance"] for i in range(8)]
    target = first[5]
    assert target not in first[:5]  # index 5 is the first item with this instance

    def certify(instance):
        if instance == target:
            raise ValueError("steps: this walk is refused by the test's certifier")
        return toy.certify(instance)

    def refuse(instances):
        raise ValueError("the batch certifier refuses this run")

    spec = toy_variant(certify=certify, certify_batch=refuse)
    with pytest.raises(CertificationMismatch) as err:
        build_items(spec, "test", depths=[2], n=8)
    msg = str(err.value)
    assert msg == ("toy_letters: the certifier refused the generated instance (task toy_letters split test seed 7 "
                   "depth 2 index 5 attempt 0): steps: this walk is refused by the test's certifier; item refused")
    assert isinstance(err.value.__cause__, ValueError)


def test_a_run_the_batch_certifier_refuses_although_it_is_valid_gives_the_same_items(toy_variant):
    """A conservative batch certifier (refuses every run holding a walk from 'A' or 'B'): those
    runs are certified one by one, the others by the batch; the items are those of a build
    without it."""
    want = build_items(toy_variant(), "test", depths=[4, 8], n=12)
    single, batch = _Counted(toy.certify), _Counted(lambda xs: [toy.certify(x) for x in xs])

    def picky(instances):
        if any(x["start"] in "AB" for x in instances):
            raise ValueError("start: 'A' and 'B' are not handled here")
        return batch(instances)

    got = build_items(toy_variant(certify=single, certify_batch=picky), "test", depths=[4, 8], n=12)
    assert canonical_json(got) == canonical_json(want)
    runs = [want[j:j + 4] for j in range(0, len(want), 4)]  # runs of 4 within each depth (12 = 3 runs)
    refused = [r for r in runs if any(it["instance"]["start"] in "AB" for it in r)]
    assert 0 < len(refused) < len(runs), "the seed must give both kinds of run (choose another one)"
    assert single.calls == 4 * len(refused) and batch.seen == 4 * (len(runs) - len(refused))


@settings(max_examples=60, deadline=None)
@given(size=st.integers(2, 40), n=st.integers(1, 30), seed=st.integers(0, 2**32),
       depths=st.lists(st.integers(1, toy.MAX_DEPTH), min_size=1, max_size=3, unique=True),
       refuse=st.sets(st.sampled_from(toy.LETTERS), max_size=6))
def test_any_batch_size_and_any_refused_runs_give_the_one_by_one_build(tmp_path_factory, size, n, seed, depths, refuse):
    """Property: the toy family with runs of ``size`` items and a batch certifier that refuses
    every run holding a walk from a letter in ``refuse`` builds exactly the items of the plain
    toy family (no batch hooks: one generate and certify call per item), redraws included
    (depth 1 has 78 walks, so duplicates are common)."""
    path = tmp_path_factory.getbasetemp() / "toy_letters.yaml"
    path.write_text(toy.SPEC)

    def picky(instances):
        if any(x["start"] in refuse for x in instances):
            raise ValueError("start: not handled by this batch certifier")
        return [toy.certify(x) for x in instances]

    unregister_family(toy.FAMILY.name)
    register_family(toy.FAMILY)
    try:
        want = build_items(path, "test", depths=depths, n=n, seed=seed)
    finally:
        unregister_family(toy.FAMILY.name)
    with _toy_registered(batch_size=size, certify_batch=picky):
        got = build_items(path, "test", depths=depths, n=n, seed=seed)
    assert canonical_json(got) == canonical_json(want)


@pytest.mark.parametrize("family", sorted(families()))
def test_the_batch_size_changes_no_byte_of_a_build(family, monkeypatch):
    """Runs of 2, 3, 128 or 512 items (two depths, 520 items each: several full runs and a short
    one) give the same items, byte for byte, as the family's own batch size."""
    from depthbench.generators import _registry

    spec = next(s for s in list_specs() if s.name == family)
    depths = list(spec.depths[:2])
    fam = get_family(family)
    want = canonical_json(build_items(spec, "test", depths=depths, n=520, seed=4))
    for size in (2, 3, 128, 512):
        monkeypatch.setitem(_registry(), family, dataclasses.replace(fam, batch_size=size))
        got = build_items(spec, "test", depths=depths, n=520, seed=4)
        assert get_family(family).batch_size == size
        assert canonical_json(got) == want, f"batch size {size} changed the items of {family}"


BUILD_ALL = r"""
import hashlib, json, sys
from pathlib import Path
from depthbench.cli import main
from depthbench.generators._compiled import status
from depthbench.tasks import list_specs
out = Path(sys.argv[1])
digests = {}
for spec in list_specs():
    assert main(["generate", spec.name, "--split", "test", "--n", "130", "--seed", "9", "--quiet",
                 "--out", str(out / spec.name)]) == 0
    digests[spec.name] = hashlib.sha256((out / spec.name / "test.jsonl").read_bytes()).hexdigest()
print(json.dumps({"status": status(), "sha256": digests}))
"""


@pytest.fixture()
def built(monkeypatch):
    """``_compiled.status()`` as a process without DEPTHBENCH_PURE_PYTHON=1 sees it: which
    compiled modules are built (whatever this test process was started with)."""
    monkeypatch.setenv(ENV, "0")
    return status()


@pytest.mark.slow
def test_pure_python_and_compiled_builds_write_the_same_bytes(tmp_path, built):
    """Every bundled spec, 130 items per depth (a full run of 128 and a short one), built by
    ``depthbench generate`` with the compiled modules and with DEPTHBENCH_PURE_PYTHON=1: the
    JSONL files have the same sha256 (separate processes: the choice is made at import)."""
    if not any(built.values()):
        pytest.skip(f"no compiled module ({', '.join(MODULES)}) is built in this environment")
    res = {}
    for mode, value in (("compiled", "0"), ("pure", "1")):
        env = {**os.environ, ENV: value}
        r = subprocess.run([sys.executable, "-P", "-c", BUILD_ALL, str(tmp_path / mode)], capture_output=True,
                           text=True, timeout=900, cwd=ROOT, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        res[mode] = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["compiled"]["status"] == built and not any(res["pure"]["status"].values())
    assert res["pure"]["sha256"] == res["compiled"]["sha256"]
    assert set(res["pure"]["sha256"]) == {s.name for s in list_specs()}


def test_version_says_which_compiled_fast_paths_are_used(built):
    """``depthbench --version`` names the loaded compiled modules; under DEPTHBENCH_PURE_PYTHON=1, none."""
    out = {}
    for value in ("0", "1"):
        r = subprocess.run([sys.executable, "-P", "-m", "depthbench", "--version"], capture_output=True, text=True,
                           check=True, cwd=ROOT, env={**os.environ, ENV: value})
        out[value] = r.stdout.strip()
    assert out["1"].endswith(f"; compiled fast paths: none (pure Python; {ENV}=1)")
    loaded = [m for m, on in built.items() if on]
    if loaded:
        assert out["0"].split("; ")[1].startswith("compiled fast paths: " + ", ".join(loaded))
    else:
        assert "compiled fast paths: none (pure Python; not built" in out["0"]


def test_the_compiled_module_list_is_pyprojects():
    """_compiled.MODULES names exactly pyproject's ext-modules (each with its .c source)."""
    import tomllib

    ext = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["ext-modules"]
    assert sorted(e["name"] for e in ext) == sorted(f"depthbench.generators.{m}" for m in MODULES)
    assert all(e["optional"] is True and e["sources"] == [f"generators/{e['name'].rsplit('.', 1)[1]}.c"] for e in ext)
