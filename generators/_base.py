"""What every task family provides.

A family is one module in ``depthbench/generators/`` that defines a module-level
``FAMILY = Family(...)``. The registry (``depthbench.generators.families()``) finds it by
scanning the package, so adding a family is adding a file (and a task spec).

A family's ``generate(config, rng, cues=None)`` is pure: all randomness comes from ``rng``
(a ``numpy.random.Generator``) and ``cues``, nothing global is read. ``cues`` fixes the
family's binary *cue variables* (``Family.cues``: features such as "the reachable target is
listed first" that a no-skill rule could exploit): the dataset builder assigns them so that
every (split, depth) bucket is exactly balanced; without it the generator draws them
itself (a fair coin each). ``certify(instance)`` is an
independent solver (it must not reuse the generator's bookkeeping) that returns the
certified depth, the gold answer and the gold trace; the dataset builder refuses an item
whose certified depth or answer differs from what the generator meant to build.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "Certificate", "Family", "AnswerType"]

AnswerType = str  # "choice" (a label among candidates), "integer" (in [0, m)), "plan" (moves over U/D/L/R)


@dataclass(frozen=True)
class Problem:
    """One generated problem, before it becomes a dataset item.

    Attributes
    ----------
    instance : dict
        Machine-readable problem (JSON-serialisable); what the prompt states.
    answer : str or int
        The gold answer (choice label, integer, or move string).
    answer_type : str
        ``"choice"``, ``"integer"`` or ``"plan"``.
    depth : int
        The depth the generator built (checked against the certifier).
    solution_trace : list
        Intermediate results of the gold solution, in order (JSON-serialisable).
    size : dict
        Size measures that must not vary with depth in a sweep (e.g. ``num_nodes``,
        ``num_edges``, ``num_variables``, grid width/height).
    chance : float
        Probability in [0, 1] that a uniform guess over the answer space is right.
    answer_space : dict
        Describes the answer space for guessing and extraction, e.g.
        ``{"labels": ["A", "B"]}``, ``{"modulus": 97}``, ``{"moves": "UDLR"}``.
    """

    instance: dict[str, Any]
    answer: str | int
    answer_type: AnswerType
    depth: int
    solution_trace: list[Any]
    size: dict[str, int]
    chance: float
    answer_space: dict[str, Any]


@dataclass(frozen=True)
class Certificate:
    """What the independent certifier measured on an instance."""

    depth: int
    answer: str | int
    solution_trace: list[Any]
    extra: Mapping[str, Any] = ()  # e.g. {"optimal_plan_length": 31}


@dataclass(frozen=True)
class Family:
    """A registered task family.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"graph_connectivity"``.
    version : str
        Generator version; part of every item's seed and id. Bump on any change of output.
    config_cls : type
        Frozen dataclass of the family's parameters; validates in ``__post_init__``
        with ``ValueError``. Has a ``depth`` field.
    generate : callable
        ``generate(config, rng, cues=None) -> Problem``; pure. ``cues`` maps each name in
        ``cues`` to a bool (the builder's balanced assignment) or is None (drawn from rng).
    certify : callable
        ``certify(instance) -> Certificate``; independent solver.
    describe : callable
        ``describe(instance) -> str``; the problem statement in plain text, inserted in
        the task's Jinja2 prompt template as ``{{ problem }}``.
    parse_prompt : callable
        ``parse_prompt(prompt_text) -> instance``; inverse of ``describe`` that finds the
        statement inside a full prompt (tests use it to prove the prompt states the whole
        instance).
    max_depth : callable
        ``max_depth(config_without_depth_params) -> int``; largest depth that fits the size.
    source_file : str
        Path of the module (its sha256 goes into ``meta.generator_source_sha256``).
    cues : tuple of str
        Names of the binary cue variables the builder balances per (split, depth) bucket
        (default none).
    """

    name: str
    version: str
    config_cls: type
    generate: Callable[..., Problem]
    certify: Callable[[Mapping[str, Any]], Certificate]
    describe: Callable[[Mapping[str, Any]], str]
    parse_prompt: Callable[[str], dict[str, Any]]
    max_depth: Callable[[Any], int]
    source_file: str
    cues: tuple[str, ...] = ()
