"""The item streams of a batch build (``_seeding.StreamRun``) and the compiled PCG64
(``generators/_stream_c.c``): its uniforms and cue-block draws are bit for bit numpy's
``PCG64`` started at the same digests, the run's generators are those of ``ItemStreams.rng``,
and builds are the same bytes with and without the compiled modules.

Tests marked ``compiled`` need ``_stream_c`` built (skipped under ``DEPTHBENCH_PURE_PYTHON=1``,
where the others check the numpy path).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _compiled_helpers import rss_kib  # noqa: E402

from depthbench.generators import _seeding  # noqa: E402
from depthbench.generators._seeding import (MAX_UNIFORMS, ItemStreams, StreamRun, block_rng, cue_draws,  # noqa: E402
                                            item_rng, uniform_rows)
from depthbench.io import canonical_json  # noqa: E402
from depthbench.tasks import build_items, load_spec  # noqa: E402

C = _seeding._C
STREAMS = ("multihop_arithmetic", "3", "test", 7)
compiled = pytest.mark.skipif(C is None, reason="_stream_c is not built, or DEPTHBENCH_PURE_PYTHON=1")


def _numpy_rows(digests: list[bytes], k: int) -> np.ndarray:
    """The reference: a numpy PCG64 set to (state = bytes 0..15, inc = bytes 16..31 | 1)."""
    bg = np.random.PCG64(0)
    gen = np.random.Generator(bg)
    out = np.empty((len(digests), k))
    for d, row in zip(digests, out):
        bg.state = {"bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
                    "state": {"state": int.from_bytes(d[:16], "big"), "inc": int.from_bytes(d[16:], "big") | 1}}
        gen.random(out=row)
    return out


def _c_rows(digests: list[bytes], k: int) -> np.ndarray:
    out = np.empty((len(digests), k))
    C.uniforms(b"".join(digests), k, out)
    return out


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a.view(np.uint64) == b.view(np.uint64)).all())


#: starting points at the edges: zero, all ones, an even increment (made odd), one bit set at
#: either end of each half, the top six bits (the rotation) all set or all clear
EDGES = [bytes(32), b"\xff" * 32, b"\xff" * 31 + b"\xfe", bytes(31) + b"\x02", b"\x80" + bytes(31),
         bytes(15) + b"\x01" + bytes(16), bytes(16) + b"\x80" + bytes(15), b"\xfc" + bytes(31),
         b"\x03" + b"\xff" * 31, b"\xfc" + b"\xff" * 15 + bytes(16), bytes(16) + b"\xff" * 16]


@compiled
def test_compiled_uniforms_are_numpys_on_100000_digests_for_every_k_up_to_300():
    rng = np.random.default_rng(20261202)
    digests = EDGES * 300 + [hashlib.sha256(b"%d" % i).digest() for i in range(50_000)]
    digests += [rng.bytes(32) for _ in range(100_000 - len(digests))]
    assert len(digests) == 100_000
    groups: dict[int, list[bytes]] = {}
    for j, d in enumerate(digests):  # every edge start meets every k (they repeat with period 11 vs 300)
        groups.setdefault(1 + j % 300, []).append(d)
    assert sorted(groups) == list(range(1, 301))
    for k, ds in groups.items():
        got = _c_rows(ds, k)
        assert _same_bits(got, _numpy_rows(ds, k)), k
        assert got.min() >= 0.0 and got.max() < 1.0


@compiled
@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=0, max_size=20), st.integers(0, 700))
def test_compiled_uniforms_match_numpy_on_any_digests(digests, k):
    assert _same_bits(_c_rows(digests, k), _numpy_rows(digests, k))


@compiled
def test_compiled_uniforms_known_values_of_the_zero_start():
    # state 0, inc 1: the first step gives state 1, whose XSL-RR output is 1 (no rotation),
    # so the first double is 1 >> 11 = 0; the second state is MULT + 1
    out = _c_rows([bytes(32)], 2)
    mult = 0x2360ED051FC65DA44385DF649FCCF645
    s = (mult + 1) % 2**128
    x = ((s >> 64) ^ s) & (2**64 - 1)
    rot = s >> 122
    x = ((x >> rot) | (x << ((64 - rot) % 64))) & (2**64 - 1)
    assert out[0, 0] == 0.0 and out[0, 1] == (x >> 11) * 2.0**-53


@compiled
@pytest.mark.parametrize("digests, k, out, what", [
    (bytes(31), 1, np.empty((0, 1)), "32 bytes each"),
    (bytes(33), 1, np.empty((1, 1)), "32 bytes each"),
    (bytes(32), -1, np.empty((1, 0)), "k must be in"),
    (bytes(32), 2**40, np.empty((1, 1)), "k must be in"),
    (bytes(32), 2**80, np.empty((1, 1)), "k must be in"),
    (bytes(32), -(2**80), np.empty((1, 1)), "k must be in"),
    (bytes(32), MAX_UNIFORMS + 1, np.empty((1, 1)), "k must be in"),
    (bytes(64), 3, np.empty((1, 3)), "float64 buffer of 2 x 3"),
    (bytes(32), 3, np.empty((1, 4)), "float64 buffer of 1 x 3"),
    (bytes(32), 3, np.empty((1, 3), dtype=np.int64), "float64 buffer"),
    (bytes(32), 3, np.empty((1, 6), dtype=np.float32), "float64 buffer"),
])
def test_compiled_uniforms_refuse_bad_input(digests, k, out, what):
    before = out.tobytes()
    with pytest.raises(ValueError, match=what):
        C.uniforms(digests, k, out)
    assert out.tobytes() == before  # nothing half-written


@compiled
def test_compiled_uniforms_refuse_wrong_types():
    with pytest.raises(TypeError):
        C.uniforms("x" * 32, 1, np.empty((1, 1)))  # text is not bytes
    with pytest.raises(TypeError):
        C.uniforms(bytes(32), 1.0, np.empty((1, 1)))
    strided = np.zeros((2, 2))[:, ::2]  # not C-contiguous
    with pytest.raises((TypeError, BufferError, ValueError)):
        C.uniforms(bytes(64), 1, strided)
    assert not strided.any()
    readonly = np.empty((1, 1))
    readonly.flags.writeable = False
    with pytest.raises((TypeError, BufferError, ValueError)):
        C.uniforms(bytes(32), 1, readonly)


@compiled
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc to read the resident size")
def test_compiled_uniforms_do_not_leak():
    """10^5 good calls and 10^5 refused ones (each buffer taken must be released)."""
    digests, out, short = bytes(range(32)) * 4, np.empty((4, 25)), np.empty((4, 24))
    C.uniforms(digests, 25, out)
    C.cue_draws(digests[:32], 8)
    refs = [sys.getrefcount(o) for o in (digests, out, short)]
    before = rss_kib()
    for _ in range(100_000):
        C.uniforms(digests, 25, out)
        C.cue_draws(digests[:32], 8)
        try:
            C.uniforms(digests, 25, short)
        except ValueError:
            pass
        try:
            C.cue_draws(digests, 8)
        except ValueError:
            pass
    assert rss_kib() - before < 2048
    assert [sys.getrefcount(o) for o in (digests, out, short)] == refs
    assert _same_bits(out, _numpy_rows([digests[:32]] * 4, 25))


# --------------------------------------------------------------------------- cue blocks
@compiled
def test_compiled_cue_draws_are_numpys_shuffle_then_random():
    """Every half from 1 to 70 (every mask, many rejections) and some larger, 200 streams each."""
    bg = np.random.PCG64(0)
    gen = np.random.Generator(bg)
    for half in [*range(1, 71), 127, 128, 129, 1000, 4096, 65_537]:
        for s in range(200 if half <= 70 else 10):
            d = hashlib.sha256(b"%d/%d" % (half, s)).digest() if s else b"\xff" * 32
            bg.state = {"bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
                        "state": {"state": int.from_bytes(d[:16], "big"), "inc": int.from_bytes(d[16:], "big") | 1}}
            firsts = gen.permutation(half)  # what cue_draws spells as arange + shuffle
            want = (firsts.tolist(), gen.random(half).tolist())
            got = C.cue_draws(d, half)
            assert got == want, (half, s)
            assert [type(v) for v in got[0]] == [int] * half and sorted(got[0]) == list(range(half))


@pytest.mark.parametrize("half", [1, 2, 8])
def test_block_draws_are_cue_draws_of_the_block_stream(half, monkeypatch):
    for use_c in (True, False):
        if not use_c:
            monkeypatch.setattr(_seeding, "_C", None)
        st_ = ItemStreams(*STREAMS)
        for block in (0, 1, 77):
            want = cue_draws(block_rng(*STREAMS, 5, block), half)
            assert st_.block_draws(5, block, half) == want
            assert sorted(want[0]) == list(range(half)) and len(want[1]) == half


@compiled
@pytest.mark.parametrize("digest, half", [(bytes(31), 2), (bytes(64), 2), (bytes(32), 0), (bytes(32), -3),
                                          (bytes(32), 2**30)])
def test_compiled_cue_draws_refuse_bad_input(digest, half):
    with pytest.raises(ValueError, match="cue_draws"):
        C.cue_draws(digest, half)


# --------------------------------------------------------------------------- StreamRun
@pytest.mark.parametrize("attempt", [0, 2])
def test_stream_run_yields_the_generators_of_item_streams_rng(attempt):
    indices = [0, 1, 5, 127, 128, 10**6, 3]
    run = ItemStreams(*STREAMS).run(20, indices, attempt)
    reference = ItemStreams(*STREAMS)
    assert isinstance(run, StreamRun) and len(run) == len(indices)
    seen = 0
    for i, gen in zip(indices, run):
        want = reference.rng(20, i, attempt).bit_generator.state
        assert gen.bit_generator.state == want
        assert gen.bit_generator.state == item_rng(*STREAMS, 20, i, attempt).bit_generator.state
        seen += 1
    assert seen == len(indices)
    assert run.digests == b"".join(
        hashlib.sha256(f'["depthbench-item/2","multihop_arithmetic","3","test",7,20,{i},{attempt}]'.encode()).digest()
        for i in indices)


@pytest.mark.parametrize("use_c", [True, False])
@pytest.mark.parametrize("k", [0, 1, 61, 300])
def test_stream_run_uniforms_are_each_items_own_draws(use_c, k, monkeypatch):
    if use_c and C is None:
        pytest.skip("_stream_c is not built, or DEPTHBENCH_PURE_PYTHON=1")
    if not use_c:
        monkeypatch.setattr(_seeding, "_C", None)
    indices = list(range(40, 140))
    run = ItemStreams(*STREAMS).run(9, indices)
    want = np.array([item_rng(*STREAMS, 9, i).random(k) for i in indices]).reshape(len(indices), k)
    assert _same_bits(run.uniforms(k), want)
    assert _same_bits(run.uniforms(k, 30), want[:30])
    assert _same_bits(uniform_rows(run, 30, k), want[:30])
    gens = (item_rng(*STREAMS, 9, i) for i in indices)  # any iterable of generators: the numpy loop
    assert _same_bits(uniform_rows(gens, len(indices), k), want)


@pytest.mark.parametrize("k, count, what", [(-1, None, "k must be in"), (MAX_UNIFORMS + 1, None, "k must be in"),
                                            (2**70, None, "k must be in"), (3, 4, "count must be in"),
                                            (3, -1, "count must be in")])
def test_stream_run_uniforms_refuse_bad_sizes(k, count, what):
    run = ItemStreams(*STREAMS).run(1, [0, 1, 2])
    with pytest.raises(ValueError, match=what):
        run.uniforms(k, count)


# --------------------------------------------------------------------------- whole builds
_BUILD = """
import hashlib, sys
from depthbench.io import canonical_json
from depthbench.tasks import build_items, load_spec
from depthbench.generators._compiled import describe_status
for task in ("multihop_arithmetic", "graph_connectivity"):
    items = build_items(load_spec(task), "test", depths=[1, 4, 9], n=300, seed=11)
    print(task, len(items), hashlib.sha256(canonical_json(items).encode()).hexdigest())
print(describe_status())
"""


def test_builds_are_the_same_bytes_with_and_without_the_compiled_modules():
    runs = {}
    for pure in ("0", "1"):
        env = {**os.environ, "DEPTHBENCH_PURE_PYTHON": pure}
        out = subprocess.run([sys.executable, "-P", "-c", _BUILD], env=env, capture_output=True, text=True,
                             check=True)
        runs[pure] = out.stdout.splitlines()
    assert runs["1"][-1].startswith("compiled fast paths: none")
    assert runs["0"][:-1] == runs["1"][:-1] and len(runs["0"]) == 3
    here = [f"{t} {len(items)} {hashlib.sha256(canonical_json(items).encode()).hexdigest()}"
            for t in ("multihop_arithmetic", "graph_connectivity")
            for items in [build_items(load_spec(t), "test", depths=[1, 4, 9], n=300, seed=11)]]
    assert here == runs["0"][:-1] and all(" 900 " in line for line in here)
