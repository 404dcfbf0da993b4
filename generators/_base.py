"""What every task family provides: one module owns everything specific to the family.

A family is one module in ``depthbench/generators/`` that defines a module-level
``FAMILY = Family(...)``. The registry (``depthbench.generators.families()``) finds it by
scanning the package, so adding a family is adding a file (and a task spec). Everything
downstream dispatches on the item's ``meta.family`` through this object, never on the task
(spec) name: answer extraction uses its ``answer_type`` (or its own ``normalize``), scoring
its ``verify``, the trace verifier its ``parse_trace`` / ``stated_steps`` /
``trace_first_error``, the simulated reasoner its ``format_step``.

A family's ``generate(config, rng, cues=None)`` is pure: all randomness comes from ``rng``
(a ``numpy.random.Generator``) and ``cues``, nothing global is read. ``cues`` fixes the
family's binary *cue variables* (``Family.cues``: features such as "the reachable target is
listed first" that a no-skill rule could exploit): the dataset builder assigns them so that
every (split, depth) bucket is exactly balanced; without it the generator draws them
itself (a fair coin each). ``certify(instance)`` is an
independent solver (it must not reuse the generator's bookkeeping) that returns the
certified depth, the gold answer and the gold trace; the dataset builder refuses an item
whose certified depth or answer differs from what the generator meant to build.

Trace hooks (what a trace verifier or a process reward model needs) work on *steps*: the
family's own representation of one intermediate result, the type of the entries of the
gold ``solution_trace`` (a node label, ``{"var", "value"}``, ``{"subgoal", "moves"}``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "Certificate", "Family", "AnswerType", "StepCheck", "parse_int"]

AnswerType = str  # "choice" (a label among candidates), "integer" (in [0, m)), "plan" (moves over U/D/L/R), or a family's own


def parse_int(x: Any) -> int | None:
    """An integer given as an int or as decimal text (``7``, ``"7"``, ``" -3 "``), else None.

    What the families' verifiers and trace checks accept as a node label, an integer
    answer or a step value; ``True`` is not an integer, nor is non-ASCII digit text.

    Examples
    --------
    >>> parse_int(" 12 "), parse_int("-3"), parse_int(True), parse_int("1.5")
    (12, -3, None, None)
    """
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, str):
        t = x.strip()
        if t.lstrip("+-").isdigit() and t.isascii():
            return int(t)
    return None


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

    # Written out (the dataclass keeps a class's own __init__): plain stores into the instance
    # dict instead of the generated frozen __init__'s object.__setattr__ call per field, about
    # 2.5 us less per problem (a few percent of a certified item). Frozen as before (assignment
    # raises FrozenInstanceError); same parameters as the fields above (tested).
    def __init__(self, instance: dict[str, Any], answer: str | int, answer_type: AnswerType, depth: int,
                 solution_trace: list[Any], size: dict[str, int], chance: float, answer_space: dict[str, Any]) -> None:
        d = self.__dict__
        d["instance"], d["answer"], d["answer_type"], d["depth"] = instance, answer, answer_type, depth
        d["solution_trace"], d["size"], d["chance"], d["answer_space"] = solution_trace, size, chance, answer_space


@dataclass(frozen=True)
class Certificate:
    """What the independent certifier measured on an instance."""

    depth: int
    answer: str | int
    solution_trace: list[Any]
    extra: Mapping[str, Any] = ()  # e.g. {"optimal_plan_length": 31}

    # Written out for speed, as Problem's (tested against the fields).
    def __init__(self, depth: int, answer: str | int, solution_trace: list[Any], extra: Mapping[str, Any] = ()) -> None:
        d = self.__dict__
        d["depth"], d["answer"], d["solution_trace"], d["extra"] = depth, answer, solution_trace, extra


@dataclass(frozen=True)
class StepCheck:
    """The task's own, gold-free verdict on one stated step (``Family.env_check``).

    Attributes
    ----------
    ok : bool
        The step is consistent with the instance and with the steps stated before it.
    feedback : str
        One short English sentence a critic can quote, naming the step (``"step 3: moving R
        from (2, 3) hits a wall at (3, 3)"``); for an ok step it says what was reached.
    """

    ok: bool
    feedback: str


@dataclass(frozen=True)
class Family:
    """A registered task family.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"graph_connectivity"``; every item records it as ``meta.family``.
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
    answer_type : str
        ``"choice"``, ``"integer"`` or ``"plan"`` (answer extraction then uses that type's
        normalisation, ``depthbench.scorers.normalize_answer``), or the family's own type
        name when it supplies ``normalize``.
    verify : callable
        ``verify(item, answer) -> bool``: is a normalised answer (never ``None``) correct?
        Pure; checks the answer against the instance (any valid answer), not a model's claim.
    trace_first_error : callable
        ``trace_first_error(item, steps) -> int | None``: the 0-based index of the first
        wrong step of a stated trace (a missing step counts, at ``len(steps)``), ``None``
        when the whole trace is right and complete. A step is right when it is a valid
        step of *some* correct solution, not only the gold one.
    parse_trace : callable
        ``parse_trace(item, text, answer) -> list``: the steps a response states in free
        text (``text`` after any ``</think>``; ``answer`` the extracted final answer or
        ``None``); ``[]`` when it states none.
    stated_steps : callable
        ``stated_steps(item, contents) -> list``: the steps of the ``Step k: CONTENT`` lines
        of a response (``contents`` in order); a content that does not parse is kept as its
        raw string (it then counts as a wrong step).
    format_step : callable
        ``format_step(step) -> str``: one gold step written as ``stated_steps`` reads it
        back (one whitespace-free token; the simulated reasoner writes its steps with it).
    normalize : callable, optional
        ``normalize(payload, answer_space) -> answer | None`` for a family with its own
        answer type (``None``: the built-in rule of ``answer_type``).
    steps_covered : callable, optional
        ``steps_covered(item, steps, first_error) -> int``: how many gold steps the stated
        steps before ``first_error`` cover (default: ``first_error``, one gold step per
        stated step).
    cues : tuple of str
        Names of the binary cue variables the builder balances per (split, depth) bucket
        (default none).
    env_check : callable, optional
        ``env_check(item, steps) -> list[StepCheck]``: the task's own feedback on the steps a
        response states (as ``stated_steps`` returns them), one :class:`StepCheck` per step in
        order, judged **only from** ``item["instance"]`` (never ``answer``,
        ``solution_trace`` or gold-derived ``meta``), so it runs on a hidden split's prompts.
        Each step is checked against the instance and the steps stated before it (the
        process reward model ``env`` and the feedback of ``evolve`` / ``revision_feedback``).
        None: the family gives no such feedback.
    env_solved : callable, optional
        ``env_solved(item, steps, answer=None) -> bool | None``: gold-free, whether every
        step is ok and the steps end solved (and, given a normalised ``answer``, whether it
        is the answer the steps reach); None when no step is stated.
    generate_batch : callable, optional
        ``generate_batch(config, rngs, cues) -> list[Problem]``: one problem per entry of
        the sequence ``cues`` (a cue mapping or None), item ``j`` drawn from the ``j``-th
        stream of the iterable ``rngs`` (each consumed before the next is taken: the
        builder reuses one reseeded generator), equal to ``generate(config, rngs[j],
        cues[j])`` whatever the other items are. The builder passes a
        ``_seeding.StreamRun``; ``_seeding.uniform_rows(rngs, count, k)`` takes every
        stream's first ``k`` ``random()`` draws at once from it. The dataset builder uses it for the items
        of a depth bucket, so vectorised work runs once per batch. None: one ``generate``
        call per item.
    describe_batch : callable, optional
        ``describe_batch(instances) -> list[str]``: ``[describe(i) for i in instances]``,
        the same strings; the builder calls it on the problems of one ``generate_batch``
        call. None: one ``describe`` call per item.
    certify_batch : callable, optional
        ``certify_batch(instances) -> list[Certificate]``: the certificates of a sequence of
        instances, each with the ``depth``, ``answer`` and ``extra`` that ``certify`` gives
        it (its ``solution_trace`` may be ``None``: the builder does not read it), computed
        from the instances alone like ``certify``. It raises ``ValueError`` when ``certify``
        would refuse any of them, and may raise it for a run it does not handle: the builder
        then certifies that run one ``certify`` call at a time (same items; a refusal is a
        ``CertificationMismatch`` naming the item, ``certify``'s message after it). The
        builder calls it on the instances of one ``generate_batch`` call. None: one
        ``certify`` call per item. (Every batch hook returns one result per item, in order;
        another count is an error.)
    batch_size : int
        Items per ``generate_batch`` / ``certify_batch`` call in a build (>= 2; 0: the
        builder's default, 128). Larger batches spread numpy's per-call cost over more items.
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
    answer_type: AnswerType
    verify: Callable[[Mapping[str, Any], Any], bool]
    trace_first_error: Callable[[Mapping[str, Any], Sequence[Any]], int | None]
    parse_trace: Callable[[Mapping[str, Any], str, Any], list[Any]]
    stated_steps: Callable[[Mapping[str, Any], Sequence[str]], list[Any]]
    format_step: Callable[[Any], str]
    normalize: Callable[[str, Mapping[str, Any]], Any] | None = None
    steps_covered: Callable[[Mapping[str, Any], Sequence[Any], int], int] | None = None
    cues: tuple[str, ...] = ()
    env_check: Callable[[Mapping[str, Any], Sequence[Any]], list[StepCheck]] | None = None
    env_solved: Callable[..., bool | None] | None = None
    generate_batch: Callable[..., list[Problem]] | None = None
    describe_batch: Callable[[Sequence[Mapping[str, Any]]], list[str]] | None = None
    certify_batch: Callable[[Sequence[Mapping[str, Any]]], list[Certificate]] | None = None
    batch_size: int = 0
