"""Call roles: what one logged model call is for, and how the harness treats its text.

Every call record carries a ``role`` (``docs/ARCHITECTURE.md``, call record). The role
decides, in one place, what the runner, ``depthbench score``, the submission validator,
the replay backend and the submission JSON Schema do with the call:

``answers``
    the text carries an answer to the item: it is extracted and verified (and re-extracted
    by ``score`` and the validator); other roles (``judge``, ``verify``) score another call;
``chained``
    the call continues its parent's text in the same assistant turn, so its answer is
    extracted from the parent's text + the forced text + its own text;
``scores``
    the call judges another call: its record has ``score`` and ``target``;
``replayable``
    a fresh sample of the item's prompt, which a replay file of recorded answers can serve;
``ends_reasoning``
    the harness ended the reasoning before the call (budget forcing's ``"\nAnswer:"``), so
    an answer after the parent's text counts even when the call is cut by the length limit;
``candidate``
    an answer-bearing call of this role is a sampled candidate the strategy chooses among, so
    it counts in ``n_responses`` and in the diversity statistics (``baselines/_counts.py``);
    a call read for an answer that is no candidate (``critic``) sets it False;
``step``
    the call is one step of a chain that a search may leave open (``step``, beam and MCTS): a
    chain ending in such a call is a final candidate only when that call ends it
    (:func:`ends_chain`); a chain the search pruned or left open is a response (it was
    sampled) but not a final candidate.

The built-in roles are registered here; a strategy that needs another (e.g. a process
reward model's step score) declares a :class:`Role` in its ``@strategy(roles=...)``
registration, which registers it. :func:`roles` is the table every consumer reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from typing import Any

__all__ = ["Role", "register_role", "get_role", "roles", "answer_roles", "BUILTIN_ROLES", "ends_chain"]


@dataclass(frozen=True)
class Role:
    """One call role (see the module docstring).

    Attributes
    ----------
    name : str
        Lower-case identifier, part of every call key.
    summary : str
        One line for documentation.
    answers, chained, scores, replayable, ends_reasoning, candidate, step : bool
        How the harness treats the call's text.
    """

    name: str
    summary: str
    answers: bool = True
    chained: bool = False
    scores: bool = False
    replayable: bool = False
    ends_reasoning: bool = False
    candidate: bool = True
    step: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name.lower() != self.name:
            raise ValueError(f"role name {self.name!r} must be a lower-case identifier")
        if self.scores and self.answers:
            raise ValueError(f"role {self.name!r}: a scoring call does not carry an answer")

    @property
    def response(self) -> bool:
        """A call of this role is (part of) a sampled response: it carries an answer and is a candidate."""
        return self.answers and self.candidate


def ends_chain(rec: Mapping[str, Any]) -> bool:
    """A step call ends its chain: it states an answer (even a malformed one), was cut at its cap
    or by an error, or wrote nothing.

    Examples
    --------
    >>> ends_chain({"extracted": "7", "text": "Answer: 7"}), ends_chain({"parse_status": "no_answer", "text": "Step 2: x"})
    (True, False)
    """
    return (rec.get("extracted") is not None or rec.get("parse_status") not in (None, "no_answer")
            or rec.get("finish_reason") in ("length", "error") or not str(rec.get("text") or "").strip())


BUILTIN_ROLES: tuple[Role, ...] = (
    Role("answer", "a fresh chain answering the prompt", replayable=True),
    Role("continue", "continues its parent chain in the same assistant turn (e.g. after 'Wait,')", chained=True),
    Role("revise", "a new attempt that sees the earlier attempts"),
    Role("verify", "a verifier call scoring another call", answers=False, scores=True),
    Role("judge", "the model judging another call's answer (its verdict is re-read from the text)",
         answers=False, scores=True),
    Role("pilot", "a pilot sample used to size the allocation (charged)", replayable=True),
    Role("force_answer", "the answer forced after its parent chain hit the cap ('Answer:')", chained=True,
         ends_reasoning=True),
)

_REGISTRY: dict[str, Role] = {}
_VIEW: Mapping[str, Role] = MappingProxyType(_REGISTRY)


def register_role(role: Role) -> Role:
    """Add ``role`` to the table (idempotent for an identical role).

    Raises
    ------
    ValueError
        If another role with the same name but different attributes is registered.
    """
    old = _REGISTRY.get(role.name)
    if old is not None and old != role:
        raise ValueError(f"role {role.name!r} is registered twice with different attributes")
    _REGISTRY[role.name] = role
    return role


for _r in BUILTIN_ROLES:
    register_role(_r)


def get_role(name: str) -> Role:
    """The registered role ``name``.

    Raises
    ------
    ValueError
        If no role of that name is registered (a strategy bug, not a user error).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown role {name!r}; registered: {', '.join(_REGISTRY)}") from None


def roles() -> Mapping[str, Role]:
    """Every registered role, by name, in registration order (built-in roles first); a
    read-only live view.

    Roles declared by strategies are registered when the strategy registry is loaded
    (:func:`depthbench.baselines.strategies.all_roles`).
    """
    return _VIEW


def answer_roles() -> tuple[str, ...]:
    """Names of the roles whose text carries an answer (extracted and verified)."""
    return tuple(r.name for r in _REGISTRY.values() if r.answers)
