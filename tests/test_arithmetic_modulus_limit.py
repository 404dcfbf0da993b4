"""multihop_arithmetic's modulus bound (``MAX_MODULUS`` = 2**64), in the config and in the certifier.

Measured (2026-12-02, load ~2.3): a chain of v_i = v_{i-1} * v_{i-1} certifies in ~10 us per statement
with a 2- to 100-digit modulus, 137 us at 1,000 digits and ~1.4 ms at 4,300 digits (the most JSON text
reads), so 100,000 statements took 129 s instead of 1.1 s; the statement count itself is linear in
the input (graph_connectivity's BFS too: ~1 us per edge at 1e6 nodes, nothing further to bound).
"""

from __future__ import annotations

import pytest

from depthbench.generators import multihop_arithmetic as ma


def _bits(v):
    return f"{v.bit_length()}bits" if type(v) is int else str(v)


def _chain(n, m):
    sts = [{"var": "v0", "op": "=", "args": [m - 2]}]
    sts += [{"var": f"v{i}", "op": "*", "args": [f"v{i - 1}", f"v{i - 1}"]} for i in range(1, n)]
    return {"modulus": m, "statements": sts, "query": f"v{n - 1}", "order": "topological"}


@pytest.mark.parametrize("m,refused", [
    (97, False), ((1 << 64) - 59, False), (1 << 64, False),  # 2**64 - 59: the largest prime below 2**64
    ((1 << 64) + 1, True), (10 ** 4299 + 7, True), (10 ** 5000, True),  # 10**5000: past int -> str's limit
], ids=_bits)
def test_the_certifier_bounds_the_modulus(m, refused):
    inst = _chain(4, m)
    if refused:
        with pytest.raises(ValueError) as e:
            ma.certify(inst)
        msg = str(e.value)
        assert msg.startswith("modulus: ") and "2**64" in msg and "\n" not in msg and len(msg) < 120, msg
    else:
        cert = ma.certify(inst)
        assert cert.depth == 4 and cert.answer == pow(m - 2, 8, m)


@pytest.mark.parametrize("m", [(1 << 64) + 13, 10 ** 30, 10 ** 5000], ids=_bits)
def test_the_config_refuses_a_modulus_past_the_bound_before_testing_it_for_primality(m):
    with pytest.raises(ValueError, match=r"^modulus: must be at most 2\*\*64, got an integer of \d+ bits$"):
        ma.MultihopArithmeticConfig(depth=1, modulus=m)  # trial division up to 1e15 would take hours


def test_every_shipped_arithmetic_modulus_is_inside_the_bound():
    from depthbench.tasks import default_releases_dir, load_dataset
    for rel in ("v2", "v3"):
        items, _ = load_dataset(default_releases_dir() / rel / "multihop_arithmetic")
        assert items and all(2 < it["instance"]["modulus"] <= ma.MAX_MODULUS for it in items)
