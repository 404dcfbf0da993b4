"""The strategy base class, the ``@strategy`` registration decorator, and shared reductions.

A strategy module in this package defines one class (or a close group) deriving from
:class:`Strategy` and registers it with :func:`strategy`, which declares everything the
rest of depthbench reads from the registry: the name pattern and its parameters, the
kinds of its instances (``single`` / ``parallel`` / ``sequential`` / ``bound`` /
``search``), the call roles it uses (new roles are registered on the spot), its minimum
budget, a one-line summary and a canonical example. :func:`depthbench.baselines.strategies.parse`,
``depthbench strategies``, ``depthbench score``'s reductions, the submission validator
and the submission JSON Schema's role list all come from these declarations.

Names have the form ``BASE[@ARG][:OPT[:OPT...]]`` (``majority@8:pooled``,
``best_of@4:noisy:0.9,0.1``, ``budget_forcing:max_waits=8``); the registered class turns
``(ARG, [OPT, ...])`` into an instance in its ``from_parts`` classmethod, using
:func:`bad_name`, :func:`pos_int` and :func:`prob` for one-line errors, and its ``name``
property writes the canonical form back.

A strategy that needs a second model (a judge, a process reward model) names it in
:meth:`Strategy.aux_models` as ``{slot: model spec}``; the runner loads each spec through
the backend registry (:func:`depthbench.baselines.backends.load_model`) and the strategy
calls it with ``ctx.call(..., model=slot)``; its tokens count in the same budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from depthbench.baselines._budget import MIN_CALL_TOKENS
from depthbench.baselines._context import CallContext, strategy_rng
from depthbench.baselines._roles import Role, answer_roles, get_role, register_role
from depthbench.errors import UserError
from depthbench.scorers import majority_vote, verify

__all__ = [
    "KINDS",
    "Strategy",
    "CallSlot",
    "StrategyInfo",
    "strategy",
    "registry",
    "unregister",
    "bad_name",
    "pos_int",
    "prob",
    "NChains",
    "answers_of",
    "tie_seed",
    "vote",
    "credit_of",
    "last_answer",
]

#: Kinds of strategy: ``single`` (one chain), ``parallel`` (independent samples, then a
#: reduction), ``sequential`` (one growing chain or rounds that see earlier attempts),
#: ``bound`` (needs the gold answer to choose: an upper bound, never compared as a method),
#: ``search`` (a search over partial chains guided by a scorer).
KINDS = ("single", "parallel", "sequential", "bound", "search")


@dataclass(frozen=True)
class CallSlot:
    """What a strategy may log at one (role, sample, round) (:meth:`Strategy.call_shape`).

    Attributes
    ----------
    parent : str or None
        ``"none"`` (starts a chain), ``"prev"`` (continues the same sample's previous
        round) or None (not checked).
    cap : int or None
        The most tokens one such call can generate, or None when the strategy sets no
        static cap.
    """

    parent: str | None
    cap: int | None


# ----------------------------------------------------------------------------------
# the base class
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Strategy:
    """A test-time strategy (subclasses register with :func:`strategy`).

    Attributes
    ----------
    name : str
        Canonical name (``parse(s.name) == s``).
    kind : str
        One of :data:`KINDS`.
    dataset_level : bool
        True when the strategy allocates budget across items (``adaptive``); the runner
        then calls ``run_dataset`` instead of :meth:`run`.
    info : StrategyInfo
        The registration record (set by :func:`strategy`).
    """

    dataset_level: ClassVar[bool] = False
    info: ClassVar["StrategyInfo"]
    #: advice appended to a too-small-budget refusal (e.g. ``" or fewer samples"``)
    fewer_hint: ClassVar[str] = ""
    #: what the strategy needs from a backend, checked before a run
    #: (:func:`~depthbench.baselines.backends._continuation.check_strategy_support`):
    #: ``"continuation"`` (continues an assistant turn), ``"force_answer"`` (continues one when
    #: the backend can, else asks in a new user turn), ``"new_text"`` (calls beyond sampled answers),
    #: ``"steps"`` (step calls of a step-wise search: a continuing backend, or replay of recorded steps)
    needs: ClassVar[tuple[str, ...]] = ()

    @property
    def name(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def kind(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def summary(self) -> str:
        """The registered one-line description."""
        return self.info.summary

    @classmethod
    def from_parts(cls, name: str, arg: str | None, opts: list[str]) -> "Strategy":  # pragma: no cover
        """Build an instance from a parsed name (``BASE@ARG:OPT:...``); raise :func:`bad_name` errors."""
        raise NotImplementedError

    async def run(self, item: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Run on one item; return the outcome record."""
        await self.orchestrate(item, ctx)
        answer, credit, meta = self.final_answer(ctx.records, item, run_seed=ctx.run_seed)
        return ctx.outcome(answer, credit, meta)

    async def orchestrate(self, item: Mapping[str, Any], ctx: CallContext) -> None:  # pragma: no cover
        raise NotImplementedError

    def final_answer(self, calls: Sequence[Mapping[str, Any]], item: Mapping[str, Any], *,
                     run_seed: int = 0) -> tuple[Any, float, dict[str, Any]]:
        """Reduce logged call records to ``(answer, credit, meta)`` (pure).

        Everything is re-derived from the records' texts and re-extracted answers, never
        from a score a call record states, so ``depthbench score`` and the submission
        validator can re-reduce untrusted records. ``run_seed`` (the run's ``--seed``)
        seeds the reduction's random decisions (tie breaks, noisy verifier draws) together
        with the call keys (:func:`~depthbench.baselines._context.strategy_rng`).
        """
        raise NotImplementedError  # pragma: no cover

    def aux_models(self) -> dict[str, str]:
        """Second models this strategy calls, ``{slot: model spec}`` (default: none).

        The runner loads each spec with :func:`depthbench.baselines.backends.load_model`
        and hands it to the call context; ``ctx.call(..., model=slot)`` uses it.
        """
        return {}

    def min_budget(self) -> int:
        """The smallest budget B at which every planned call gets at least
        :data:`~depthbench.baselines._budget.MIN_CALL_TOKENS` generated tokens
        (the ``min_budget`` declared at registration).

        Returns
        -------
        int
            ``depthbench eval`` refuses budgets below it.

        Examples
        --------
        >>> from depthbench.baselines.strategies import parse
        >>> [parse(s).min_budget() for s in ("single", "majority@8", "best_of@4:self", "ratio@2x3")]
        [16, 128, 256, 96]
        """
        return int(self.info.min_budget(self))

    @property
    def needs_gold(self) -> bool:
        """True when the strategy's *answer* depends on the gold answer or trace (bounds and
        simulated verifiers, not deployable methods): such a strategy cannot run on items
        without answers (a hidden split's prompts). Default: kind ``bound``."""
        return self.kind == "bound"

    #: True when a call's parent may be any earlier-round call of the item, not only the same
    #: sample's (tree search: a kept chain's children take other samples' slots); the
    #: submission validator then checks parents by round only
    branching: ClassVar[bool] = False

    def gold_free_hint(self) -> str:
        """What to run instead when a hidden split refuses this gold-dependent strategy (a phrase
        naming the parameter and a gold-free value), or ``""`` for the generic advice."""
        return ""

    def check_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Refuse, before a run, items this strategy cannot handle (a ``UserError`` naming the
        parameter and the fix); default: nothing to check."""

    def call_shape(self, budget: int) -> "Callable[[str, int, int], CallSlot | None] | None":
        """The calls this strategy makes at ``budget``, for the submission validator:
        ``slot(role, sample, round) -> CallSlot`` (its parent rule and token cap), None for a
        call the strategy never makes. Default None: no shape check (a strategy that declares
        none is checked for budgets, keys and seeds only)."""
        return None

    def forced_text(self, call: Mapping[str, Any], chain: str) -> tuple[str, str | None]:
        """``(text the harness inserted before this call, problem or None)`` when a logged
        call is re-derived from an untrusted record (``chain``: the chain's text so far,
        forced texts included). The text is the strategy's own, never free text from the
        record. Default: nothing is inserted."""
        return "", None

    def call_score(self, role: str, text: str) -> float | None:
        """The score a scoring call's text gives under this strategy's own rule (a self-judge's
        verdict), re-read when a logged call is re-derived; None when no rule re-reads it."""
        return None

    def item_ceiling(self, budget: int) -> int:
        """The most generated tokens one item may use at budget ``budget``: the budget itself,
        except for a strategy that shares its budget across items (``dataset_level``), whose
        own rule bounds one item (the dataset total stays ``len(items) * budget``)."""
        return int(budget)

    def allowance(self, budget: int) -> str:
        """How ``budget`` is shared among the calls, as a phrase for error messages.

        Examples
        --------
        >>> from depthbench.baselines.strategies import parse
        >>> parse("majority@8").allowance(4)
        'gives each of 8 chains 0 tokens'
        """
        return f"gives its one chain {budget} tokens"

    def __str__(self) -> str:
        return self.name


# ----------------------------------------------------------------------------------
# registration
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StrategyInfo:
    """What a strategy declares when it registers (see :func:`strategy`).

    Attributes
    ----------
    base : str
        The name before ``@`` / ``:`` (``"majority"``); the registry key.
    pattern : str
        The accepted names, for people (``"majority@N[:pooled]"``).
    kinds : tuple of str
        Every kind an instance can have (a subset of :data:`KINDS`).
    roles : tuple of str
        The call roles its calls use (registered in :mod:`depthbench.baselines._roles`).
    params : mapping of str to str
        Parameter name -> meaning (``{"N": "chains, B/N tokens each"}``).
    summary : str
        One line for ``depthbench strategies``.
    example : str
        A canonical name (``parse(example).name == example``; tested).
    min_budget : callable
        ``min_budget(instance) -> int``, the smallest budget giving every planned call at
        least ``MIN_CALL_TOKENS`` generated tokens.
    cls : type
        The registered class.
    """

    base: str
    pattern: str
    kinds: tuple[str, ...]
    roles: tuple[str, ...]
    params: Mapping[str, str]
    summary: str
    example: str
    min_budget: Callable[[Any], int]
    cls: type


_REGISTRY: dict[str, StrategyInfo] = {}
_BASE_RE = re.compile(r"[a-z][a-z0-9_]*")


def strategy(pattern: str, *, kinds: Sequence[str], roles: Sequence[str | Role], summary: str, example: str,
             params: Mapping[str, str] | None = None,
             min_budget: Callable[[Any], int] = lambda s: MIN_CALL_TOKENS) -> Callable[[type], type]:
    """Register a :class:`Strategy` subclass under the base name of ``pattern``.

    Parameters
    ----------
    pattern : str
        Accepted names for people, starting with the base name (``"revision@R[:maj]"``).
    kinds : sequence of str
        Kinds its instances can have (from :data:`KINDS`).
    roles : sequence of str or Role
        Call roles it uses; a :class:`~depthbench.baselines._roles.Role` is registered.
    summary : str
        One line (shown by ``depthbench strategies``).
    example : str
        A canonical name of one instance.
    params : mapping, optional
        Parameter name -> meaning.
    min_budget : callable, optional
        ``instance -> int`` (default: one call's ``MIN_CALL_TOKENS``).

    Returns
    -------
    callable
        The class decorator (returns the class unchanged, with ``cls.info`` set).

    Raises
    ------
    ValueError
        On a malformed declaration, an unknown kind or role, or a base name taken by
        another class.
    """
    m = _BASE_RE.match(pattern)
    if m is None:
        raise ValueError(f"strategy pattern {pattern!r} must start with a lower-case base name")
    base = m.group(0)
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise ValueError(f"strategy {base!r}: kinds {list(kinds)!r} must be a non-empty subset of {KINDS}")
    names = []
    for r in roles:
        names.append(register_role(r).name if isinstance(r, Role) else get_role(r).name)

    def deco(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise ValueError(f"@strategy({pattern!r}) decorates a Strategy subclass, got {cls!r}")
        old = _REGISTRY.get(base)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"strategy base name {base!r} is registered twice ({old.cls.__name__}, {cls.__name__})")
        info = StrategyInfo(base=base, pattern=pattern, kinds=tuple(kinds), roles=tuple(names),
                            params=dict(params or {}), summary=summary, example=example, min_budget=min_budget,
                            cls=cls)
        cls.info = info
        _REGISTRY[base] = info
        return cls

    return deco


def registry() -> dict[str, StrategyInfo]:
    """The registered strategies by base name (what has been imported so far; use
    :func:`depthbench.baselines.strategies.registered` for the complete table)."""
    return dict(_REGISTRY)


def unregister(base: str) -> None:
    """Remove a registration (for tests that register a throw-away strategy)."""
    _REGISTRY.pop(base, None)


def bad_name(name: str, why: str) -> UserError:
    """The one-line error for a strategy name that does not parse."""
    return UserError(f"--strategy: {name!r} {why}; run `depthbench strategies` for the accepted names")


def pos_int(text: str | None, name: str, what: str) -> int:
    """A positive integer parameter (1 to 999999), or a :func:`bad_name` error naming ``what``."""
    if not re.fullmatch(r"[1-9][0-9]{0,5}", text or ""):
        raise bad_name(name, f"needs a positive integer {what}, got {text!r}")
    return int(text)  # type: ignore[arg-type]


def prob(text: str, name: str, what: str | None = None) -> float:
    """A probability parameter in [0, 1], or a :func:`bad_name` error naming it (``what``,
    e.g. ``"prm=noisy: TPR (true positive rate)"``) and the valid range."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0.0 <= x <= 1.0:  # NaN fails too
        if what:
            raise bad_name(name, f"{what} must be a probability in [0, 1], got {text!r}")
        raise bad_name(name, f"needs probabilities in [0, 1], got {text!r}")
    return x


# ----------------------------------------------------------------------------------
# the N-chains base and the reductions shared by strategies (pure functions of records)
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NChains(Strategy):
    """Base of the strategies that sample ``n`` chains of ``B // n`` tokens each."""

    n: int = 8
    fewer_hint: ClassVar[str] = " or fewer samples"

    def allowance(self, budget: int) -> str:
        return f"gives each of {self.n} chains {budget // self.n} tokens"

    def call_shape(self, budget: int) -> "Callable[[str, int, int], CallSlot | None] | None":
        """``n`` answer chains of ``B // n`` tokens, round 0."""
        share = budget // self.n
        return lambda role, s, r: CallSlot("none", share) if role == "answer" and r == 0 and s < self.n else None

    async def orchestrate(self, item, ctx):
        """One request for the ``n`` chains, ``B // n`` tokens each (none if that is 0)."""
        share = ctx.budget.total // self.n
        if share >= 1:
            await ctx.call({"messages": ctx.user_messages(), "max_tokens": share, "n": self.n}, role="answer", sample=0)


def n_chains_min_budget(s: NChains) -> int:
    """``n * MIN_CALL_TOKENS``: every chain gets at least one call's minimum."""
    return s.n * MIN_CALL_TOKENS


def answers_of(calls: Sequence[Mapping[str, Any]], roles: Sequence[str] | None = None) -> list[Mapping[str, Any]]:
    """The answer-bearing call records (default: every role whose text carries an answer),
    ordered by (sample, round)."""
    roles = answer_roles() if roles is None else roles
    return sorted((c for c in calls if c.get("role") in roles), key=lambda c: (c["sample"], c["round"]))


def tie_seed(calls: Sequence[Mapping[str, Any]], tag: str, run_seed: int = 0) -> int:
    """A seed for a tie break: the run seed and the logged call keys (pure, reproducible).

    Drawn through :func:`~depthbench.baselines._context.strategy_rng`, like every random
    decision of a strategy; the backend's seed field is never consulted.
    """
    keys = "\n".join(sorted(c["key"] for c in calls))
    return int(strategy_rng(run_seed, keys, f"tie:{tag}").integers(1 << 62))


def vote(item: Mapping[str, Any], answers: Sequence[Any], seed: int) -> tuple[Any, float, dict[str, Any]]:
    """Majority vote through :func:`depthbench.scorers.majority_vote`.

    Abstentions do not vote; a tie earns fractional credit (the expected credit of a
    uniform break) and the reported answer is a seeded pick among the winners.
    """
    res = majority_vote(list(answers), seed=seed, item=item)
    return res.answer, float(res.credit), res.to_meta()


def credit_of(item: Mapping[str, Any], answer: Any) -> float:
    """1.0 when ``answer`` is correct for ``item`` (the family's verifier), else 0.0."""
    return 1.0 if answer is not None and verify(item, answer) else 0.0


def last_answer(recs: Sequence[Mapping[str, Any]]) -> tuple[Any, Mapping[str, Any] | None]:
    """The answer of the last record, or of the latest earlier one that gave an answer."""
    for r in reversed(recs):
        if r.get("extracted") is not None:
            return r["extracted"], r
    return None, (recs[-1] if recs else None)
