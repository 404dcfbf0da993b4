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


# --------------------------------------------------------------------------- primality (config)


def _sieve(n):
    flags = bytearray([1]) * (n + 1)
    flags[0:2] = b"\x00\x00"
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            flags[i * i::i] = bytearray(len(flags[i * i::i]))
    return flags


def test_is_prime_equals_a_sieve_below_200000():
    flags = _sieve(200_000)
    assert [n for n in range(200_001) if ma._is_prime(n)] == [n for n in range(200_001) if flags[n]]


@pytest.mark.parametrize("n,prime", [
    (2 ** 61 - 1, True), (2 ** 64 - 59, True), (2 ** 31 - 1, True), (1_000_000_007, True),
    (561, False), (2047, False),  # a Carmichael number; the least strong pseudoprime to base 2
    (3_215_031_751, False),  # strong pseudoprime to bases 2, 3, 5 and 7
    (3_825_123_056_546_413_051, False),  # strong pseudoprime to the first 9 prime bases (< 2**64)
    ((2 ** 31 - 1) * (2 ** 31 - 1), False), (2 ** 64 - 1, False), ((2 ** 61 - 1) * 3, False),
], ids=str)
def test_is_prime_on_large_primes_and_strong_pseudoprimes(n, prime):
    assert ma._is_prime(n) is prime


def test_the_config_accepts_a_large_prime_modulus():
    """Trial division needed ~2**30 steps (minutes) for 2**61 - 1; the config takes it at once."""
    assert ma.MultihopArithmeticConfig(depth=1, modulus=2 ** 61 - 1).modulus == 2 ** 61 - 1
    with pytest.raises(ValueError, match="must be a prime"):
        ma.MultihopArithmeticConfig(depth=1, modulus=3_825_123_056_546_413_051)


# --------------------------------------------------------------------------- the stated order


def _program(order, statements):
    return {"modulus": 11, "order": order, "query": "c",
            "statements": statements}


_TOPO = [{"var": "a", "op": "=", "args": [4]}, {"var": "b", "op": "+", "args": ["a", 2]},
         {"var": "c", "op": "*", "args": ["b", "a"]}]


@pytest.mark.parametrize("order,statements,refused", [
    ("topological", _TOPO, False),
    ("reversed", _TOPO[::-1], False),
    ("shuffled", _TOPO, False), ("shuffled", _TOPO[::-1], False),
    ("reversed", _TOPO, True),  # every use is below its definition: the prompt would say the opposite
    ("topological", _TOPO[::-1], True),
    ("topological", [_TOPO[1], _TOPO[0], _TOPO[2]], True),  # one use above its definition
    ("topological", _TOPO + [{"var": "z", "op": "=", "args": ["y"]}, {"var": "y", "op": "=", "args": [1]}], True),
    ("random", _TOPO, True), (None, _TOPO, True), (3, _TOPO, True),
], ids=lambda v: v if isinstance(v, str) or v is None or isinstance(v, (int, bool)) else f"{len(v)}st")
def test_the_certifier_refuses_a_stated_order_the_statements_break(order, statements, refused):
    """The prompt states the order ("every variable is defined above the statements that use it"); an
    instance whose statements break it (a distractor the query does not reach included) would make the
    prompt false, and an unknown order made ``describe`` raise a KeyError after certification."""
    inst = _program(order, [dict(s) for s in statements])
    if order is None:
        del inst["order"]
    if refused:
        with pytest.raises(ValueError, match="order"):
            ma.certify(inst)
    else:
        cert = ma.certify(inst)
        assert (cert.answer, cert.depth) == ((6 * 4) % 11, 3)
        assert ma.describe(inst).count("\n") == 2 + len(statements) + 1 - 1


@pytest.mark.parametrize("bad", [10 ** 4000, 10 ** 5000, -(10 ** 40), "v" * 5000], ids=lambda b: type(b).__name__)
def test_a_huge_operand_is_refused_with_a_short_message(bad):
    """The refusal names the operand shortened: ``repr`` of 10**4000 is 4,001 characters, of 10**5000
    a ValueError of its own (Python's int-to-str limit)."""
    inst = _chain(3, 97)
    inst["statements"][1]["args"] = ["v0", bad]
    with pytest.raises(ValueError) as e:
        ma.certify(inst)
    msg = str(e.value)
    assert len(msg) < 150 and "\n" not in msg and ("constant" in msg or "variable" in msg), msg
