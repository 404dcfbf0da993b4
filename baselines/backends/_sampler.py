"""The sampler of a run: one set of values every backend applies the same way.

Servers fill in what a request leaves out with their own defaults, and those differ:
llama-cpp-python's server samples with ``top_k=40, min_p=0.05, repeat_penalty=1.1``
unless told otherwise, vLLM with no truncation, Ollama with its Modelfile's values. Two
backends given the same temperature therefore ran different experiments. depthbench
sends the full sampler with every request (``temperature``, ``top_p``, ``top_k``,
``min_p``, the repeat / presence / frequency penalties) and the in-process llama.cpp
backend uses the same values, so the only distribution in play is the one the run
states. The defaults are the *neutral* values: no truncation beyond ``top_p`` and no
penalties, i.e. the distribution that temperature and top_p alone describe.

A server that does not know a field (OpenAI answers ``Unrecognized request argument
supplied: top_k``) gets it dropped when its value is neutral -- leaving it out then
means the same thing -- and refused with a :class:`~depthbench.errors.UserError` when it
is not (the run could not be honoured). What was sent and what was dropped is recorded
in ``run.json`` (``backend.sampler``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from depthbench.errors import UserError

__all__ = ["Sampler", "NEUTRAL", "SAMPLER_FLAGS", "openai_sampler_fields"]

#: values that leave the distribution as temperature and top_p describe it
NEUTRAL: dict[str, float] = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "presence_penalty": 0.0,
                             "frequency_penalty": 0.0}

#: CLI flag of each field (for error messages)
SAMPLER_FLAGS = {"temperature": "--temperature", "top_p": "--top-p", "top_k": "--top-k", "min_p": "--min-p",
                 "repeat_penalty": "--repeat-penalty", "presence_penalty": "--presence-penalty",
                 "frequency_penalty": "--frequency-penalty"}


@dataclass(frozen=True)
class Sampler:
    """The full sampler of a run.

    Attributes
    ----------
    temperature : float
        >= 0; 0 is greedy decoding.
    top_p : float
        Nucleus mass in (0, 1].
    top_k : int
        Keep the k most likely tokens, >= 0; 0 disables it (neutral).
    min_p : float
        Drop tokens below ``min_p`` times the top token's probability, in [0, 1]; 0 disables it.
    repeat_penalty : float
        llama.cpp's repetition penalty (vLLM: ``repetition_penalty``), > 0; 1 disables it.
    presence_penalty, frequency_penalty : float
        OpenAI's penalties, in [-2, 2]; 0 disables them.
    """

    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> UserError:
            return UserError(f"{SAMPLER_FLAGS[name]}: {getattr(self, name)!r} is out of range; {rule}")

        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise bad(f.name, "give a finite number")
        if self.temperature < 0:
            raise bad("temperature", "use temperature >= 0 (0 is greedy)")
        if not 0 < self.top_p <= 1:
            raise bad("top_p", "use 0 < top_p <= 1")
        if self.top_k < 0 or int(self.top_k) != self.top_k:
            raise bad("top_k", "use an integer >= 0 (0 disables top-k)")
        if not 0 <= self.min_p <= 1:
            raise bad("min_p", "use 0 <= min_p <= 1 (0 disables min-p)")
        if not self.repeat_penalty > 0:
            raise bad("repeat_penalty", "use repeat_penalty > 0 (1 disables it)")
        for name in ("presence_penalty", "frequency_penalty"):
            if not -2 <= getattr(self, name) <= 2:
                raise bad(name, "use a value in [-2, 2] (0 disables it)")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Sampler":
        """A sampler from a mapping of field values (missing fields: defaults)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UserError(f"sampler: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        kw = dict(options)
        if "top_k" in kw and isinstance(kw["top_k"], float) and kw["top_k"].is_integer():
            kw["top_k"] = int(kw["top_k"])
        return cls(**kw)

    def extras(self) -> dict[str, float]:
        """The fields beyond temperature and top_p."""
        return {k: getattr(self, k) for k in NEUTRAL}

    def non_neutral(self) -> dict[str, float]:
        """The extra fields whose value changes the distribution (not their neutral value)."""
        return {k: v for k, v in self.extras().items() if v != NEUTRAL[k]}

    def to_dict(self) -> dict[str, float]:
        """All fields, JSON-ready (``run.json`` ``config.sampler``)."""
        return asdict(self)

    def llamacpp_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``llama_cpp.Llama.create_completion`` (all but temperature and top_p)."""
        return {"top_k": int(self.top_k), "min_p": float(self.min_p), "repeat_penalty": float(self.repeat_penalty),
                "presence_penalty": float(self.presence_penalty), "frequency_penalty": float(self.frequency_penalty)}


def openai_sampler_fields(sampler: Sampler) -> dict[str, Any]:
    """Request-body fields for an OpenAI-compatible server, beyond temperature and top_p.

    Both spellings of the repetition penalty are sent: ``repeat_penalty`` (llama.cpp's
    server, llama-cpp-python, Ollama's native API) and ``repetition_penalty`` (vLLM,
    SGLang); each server ignores the one it does not know or rejects it, which the
    backend then handles like any unknown field.
    """
    return {"top_k": int(sampler.top_k), "min_p": float(sampler.min_p),
            "repeat_penalty": float(sampler.repeat_penalty), "repetition_penalty": float(sampler.repeat_penalty),
            "presence_penalty": float(sampler.presence_penalty), "frequency_penalty": float(sampler.frequency_penalty)}


#: body field -> sampler field it carries
FIELD_OF = {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repeat_penalty",
            "repetition_penalty": "repeat_penalty", "presence_penalty": "presence_penalty",
            "frequency_penalty": "frequency_penalty", "temperature": "temperature", "top_p": "top_p"}
