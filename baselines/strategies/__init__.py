"""Reference test-time strategies at a matched token budget, and their registry.

Every strategy is a small orchestration over :class:`~depthbench.baselines._context.CallContext`
(fork, then reduce): ``run(item, ctx)`` makes the calls, and the pure
``final_answer(calls, item)`` reduces the logged call records to
``(answer, credit, meta)`` with the reducers of :mod:`depthbench.scorers`, so
``depthbench score`` and the submission validator can re-reduce a run without the model.

One module per strategy (or close group) in this package registers its class with
``@strategy(...)`` (:mod:`depthbench.baselines.strategies._base`); the registry finds the
modules by scanning the package, so **adding a strategy is adding a file** (and its tests).
``depthbench strategies`` prints the table:

================================ ============ ==================================================
name                             kind         what
================================ ============ ==================================================
``single``                       single       one chain, ``max_tokens = B``
``budget_forcing[:max_waits=K]`` sequential   s1: an early stop gets ``"Wait"`` appended, until B
                                              is used or after K Waits (default 32)
``budget_forcing:cap``           sequential   s1 cap mode: no Wait; at B the answer is forced
``revision@R[:maj]``             sequential   R self-revision rounds of B/R; last answer / majority
``majority@N[:pooled]``          parallel     self-consistency, N chains of B/N (or a shared pool)
``best_of@N:V``                  parallel     N chains, verifier V picks (``oracle`` is a bound)
``pass@N``                       bound        coverage: any of N chains right (not deployable)
``ratio@NxR``                    parallel     N chains x R revisions, N*R fixed (Snell et al.)
``adaptive@N``                   parallel     pilots, then more chains where votes disagree
``beam@N:W[:prm=P]``             search       beam search over steps scored by a process reward
                                              model (Snell et al.); weighted best-of-N at the end
``mcts@N[:c=C][:prm=P]``         search       UCT over steps, PRM value at the leaves
``weighted_best_of@N[:prm=P]``   parallel     N whole chains scored by the same PRM, weighted vote:
                                              beam's like-for-like baseline (no search)
================================ ============ ==================================================

Budget rule: G (generated tokens over all calls, verifier/judge/pilot included) never
exceeds B per item; ``adaptive`` instead keeps the dataset total at ``len(items) * B``
(the uniform strategy's) and records each item's allocation.

Minimum budget: :meth:`Strategy.min_budget` is the smallest B that gives every planned
call (each chain, round, first segment or judge) at least
:data:`~depthbench.baselines._budget.MIN_CALL_TOKENS` (16) generated tokens, e.g.
``16 * N`` for ``majority@N`` and ``64 * N`` for ``best_of@N:self``; ``depthbench eval``
refuses smaller budgets.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping
from functools import lru_cache

from depthbench.baselines._roles import Role, roles
from depthbench.baselines.strategies._base import (
    KINDS,
    Strategy,
    StrategyInfo,
    bad_name,
    registry,
    strategy,
    unregister,
)

__all__ = [
    "KINDS",
    "Strategy",
    "StrategyInfo",
    "strategy",
    "parse",
    "registered",
    "list_strategies",
    "all_roles",
    "unregister",
]

_NAME_RE = re.compile(r"([a-z][a-z0-9_]*)(?:@([^:]*))?((?::.*)?)", re.DOTALL)


@lru_cache(maxsize=1)
def _discover() -> None:
    """Import every public module of this package once (each registers its strategies)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def registered() -> dict[str, StrategyInfo]:
    """Every registered strategy by base name, in name order (the complete table)."""
    _discover()
    return dict(sorted(registry().items()))


def all_roles() -> Mapping[str, Role]:
    """Every call role a registered strategy may log (built-in roles and declared ones)."""
    _discover()
    return roles()


def parse(name: str) -> Strategy:
    """Parse a strategy name with parameters into a :class:`Strategy`.

    The name is ``BASE[@ARG][:OPT[:OPT...]]``; ``BASE`` selects the registered class,
    which reads ``ARG`` and the options.

    Raises
    ------
    UserError
        If the name or a parameter is invalid (names ``--strategy``).

    Examples
    --------
    >>> parse("majority@8").name, parse("best_of@4:noisy:0.9,0.1").name, parse("ratio@4x2").kind
    ('majority@8', 'best_of@4:noisy:0.9,0.1', 'parallel')
    """
    s = (name or "").strip()
    m = _NAME_RE.fullmatch(s)
    reg = registered()
    if m is None or m.group(1) not in reg:
        raise bad_name(s, "is not a known strategy")
    base, arg, rest = m.group(1), m.group(2), m.group(3)
    opts = rest[1:].split(":") if rest else []
    return reg[base].cls.from_parts(s, arg, opts)


def list_strategies() -> list[tuple[str, str, str]]:
    """``(pattern, kinds, one-line description)`` for every registered strategy."""
    return [(i.pattern, "|".join(i.kinds), i.summary) for i in registered().values()]
