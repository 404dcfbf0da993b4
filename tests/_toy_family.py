"""A fourth task family, written as a user would write one: this module, a spec, a test.

``toy_letters``: start at a letter of the alphabet and move forward by the given steps
(wrapping after Z); which letter is reached? Depth = number of moves. It has its own answer
type (``letter``, with its own normalisation), its own verifier and trace rules, so the test
that uses it (``tests/test_toy_family.py``) proves that nothing in depthbench dispatches on
the three bundled families: generation, the simulated reasoner, extraction, verification, the
trace verifier of ``best_of@N:trace``, re-scoring and analysis all go through ``FAMILY``.
It is registered only inside that test (``depthbench.generators.register_family``), never
shipped.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthbench.generators import Certificate, Family, Problem

LETTERS = string.ascii_uppercase
MAX_DEPTH = 24


@dataclass(frozen=True)
class ToyConfig:
    """Parameters: ``depth`` moves of 1 to ``max_step`` letters each."""

    depth: int
    max_step: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"depth: must be an integer in 1..{MAX_DEPTH}, got {self.depth!r}")
        if not isinstance(self.max_step, int) or not 1 <= self.max_step <= 5:
            raise ValueError(f"max_step: must be an integer in 1..5, got {self.max_step!r}")


def _walk(start: str, steps: Sequence[int]) -> list[str]:
    out, i = [start], LETTERS.index(start)
    for s in steps:
        i = (i + int(s)) % 26
        out.append(LETTERS[i])
    return out


def generate(config: ToyConfig, rng: np.random.Generator) -> Problem:
    start = LETTERS[int(rng.integers(26))]
    steps = [int(x) for x in rng.integers(1, config.max_step + 1, size=config.depth)]
    trace = _walk(start, steps)[1:]
    return Problem(instance={"start": start, "steps": steps}, answer=trace[-1], answer_type="letter",
                   depth=config.depth, solution_trace=trace, size={"letters": 26}, chance=1 / 26,
                   answer_space={"labels": list(LETTERS)})


def certify(instance: Mapping[str, Any]) -> Certificate:
    """Independent: count positions with modular arithmetic on code points."""
    pos = ord(instance["start"]) - ord("A")
    trace = []
    for s in instance["steps"]:
        pos = (pos + s) % 26
        trace.append(chr(ord("A") + pos))
    return Certificate(depth=len(instance["steps"]), answer=trace[-1], solution_trace=trace)


def describe(instance: Mapping[str, Any]) -> str:
    moves = ", ".join(str(s) for s in instance["steps"])
    return f"Start at letter {instance['start']}. Move forward through the alphabet by: {moves} (Z wraps to A)."


_PROMPT_RE = re.compile(r"Start at letter ([A-Z])\. Move forward through the alphabet by: ([0-9, ]+) \(Z wraps")


def parse_prompt(text: str) -> dict[str, Any]:
    m = _PROMPT_RE.search(text)
    if m is None:
        raise ValueError("no toy_letters statement in the prompt")
    return {"start": m.group(1), "steps": [int(x) for x in m.group(2).split(", ")]}


def max_depth(params: Any) -> int:
    return MAX_DEPTH


def normalize(payload: str, answer_space: Mapping[str, Any] | None) -> str | None:
    """One letter, any case (``c``, ``Letter C``)."""
    m = re.fullmatch(r"(?:letter\s+)?([A-Za-z])", payload.strip(), flags=re.IGNORECASE)
    return m.group(1).upper() if m else None


def verify(item: Mapping[str, Any], answer: Any) -> bool:
    return isinstance(answer, str) and answer == item["answer"]


def trace_first_error(item: Mapping[str, Any], steps: Sequence[Any]) -> int | None:
    truth = certify(item["instance"]).solution_trace
    for i, s in enumerate(steps):
        if i >= len(truth) or s != truth[i]:
            return i
    return None if len(steps) >= len(truth) else len(steps)


def parse_trace(item: Mapping[str, Any], text: str, answer: Any) -> list[Any]:
    """Letters of the last line written as ``A -> C -> D``."""
    for line in reversed(text.splitlines()):
        if "->" in line:
            return [p.strip().upper() for p in line.split("->") if p.strip()]
    return []


def stated_steps(item: Mapping[str, Any], contents: Sequence[str]) -> list[Any]:
    return [c.upper() if len(c) == 1 and c.isalpha() else c for c in contents]


def format_step(step: Any) -> str:
    return str(step)


FAMILY = Family(
    name="toy_letters",
    version="1",
    config_cls=ToyConfig,
    generate=generate,
    certify=certify,
    describe=describe,
    parse_prompt=parse_prompt,
    max_depth=max_depth,
    source_file=__file__,
    answer_type="letter",
    normalize=normalize,
    verify=verify,
    trace_first_error=trace_first_error,
    parse_trace=parse_trace,
    stated_steps=stated_steps,
    format_step=format_step,
)

SPEC = """\
name: toy_letters
family: toy_letters
description: Letter walks (a test fixture, not part of the release).
params: {max_step: 3}
depths: [1, 2, 4, 8]
splits:
  test: {n_per_depth: 12, seed: 7}
answer_format: "Answer: <letter>"
prompt_template: |-
  {{ problem }}
  Which letter do you reach? End with a last line of the form
  Answer: <letter>
"""
