"""The model protocol: what every backend takes and returns.

A :class:`Request` is one generation call (chat or raw completion) for ``n`` samples;
a :class:`Response` holds one :class:`Choice` per sample with its own generated-token
count, plus the prompt tokens, latency, and where each count came from. Backends
(``openai``, ``llamacpp``, ``simulated``, ``replay``) implement :class:`Model`.

Token sources (``Choice.token_source`` / ``Response.prompt_token_source``):

``"server"``
    taken from the server's ``usage`` for this one choice;
``"server_split"``
    the server summed ``usage.completion_tokens`` over ``n`` choices (vLLM does); the
    per-choice count came from re-tokenising, and the sum was checked against usage;
``"tokenizer"``
    counted locally with the model's tokenizer;
``"simulated"``
    exact, from the simulated reasoner;
``"replay"``
    copied from the replayed file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Request", "Choice", "Response", "Model", "Capabilities", "BackendError", "TOKEN_SOURCES",
           "FINISH_REASONS"]

TOKEN_SOURCES = ("server", "server_split", "tokenizer", "simulated", "replay")
FINISH_REASONS = ("stop", "length", "error")


class BackendError(RuntimeError):
    """A backend call failed after every retry (server down, persistent 5xx, timeouts).

    Not a :class:`~depthbench.errors.UserError`: the run can be resumed later and the
    failed call is simply redone.
    """


@dataclass(frozen=True)
class Request:
    """One generation call.

    Exactly one of ``messages`` (chat) or ``prompt`` (raw completion) is set.

    Parameters
    ----------
    messages : tuple of dict, optional
        Chat messages ``{"role": ..., "content": ...}``.
    prompt : str, optional
        Raw completion prompt (used for continuation in budget forcing).
    assistant_prefix : str, optional
        With ``messages``: text the assistant turn already holds; the model continues it
        (continuation on servers that support a trailing assistant message).
    max_tokens : int
        Cap on generated tokens per choice, >= 1.
    temperature, top_p : float
        Always sent explicitly.
    seeds : tuple of int
        One seed per choice (length ``n``), derived from (run seed, item id, sample
        index). A backend that uses the server's ``n`` sends ``seeds[0]`` and records it.
    stop : tuple of str
        Stop strings.
    n : int
        Number of choices, >= 1.
    item : mapping, optional
        The dataset item. The ``simulated`` and ``replay`` backends read it; never sent
        over HTTP.
    samples : tuple of int, optional
        The sample index of each choice (length ``n``); the ``replay`` backend serves the
        recorded sample with that index. Metadata only: not sent, not logged.
    role : str
        The harness role of the call (``"answer"``, ``"continue"``, ``"revise"``,
        ``"judge"``, ...; see ``depthbench.baselines._roles``). Metadata only: the
        ``replay`` backend serves recorded answers and refuses roles that need new text.
    round : int
        The call's round (metadata only, like ``role``): ``replay`` serves a recorded step by
        (item, sample, round).
    """

    max_tokens: int
    temperature: float
    top_p: float
    seeds: tuple[int, ...]
    messages: tuple[Mapping[str, str], ...] | None = None
    prompt: str | None = None
    assistant_prefix: str | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    item: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    samples: tuple[int, ...] | None = field(default=None, compare=False)
    role: str = field(default="answer", compare=False)
    round: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("Request needs exactly one of messages or prompt")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1 or len(self.seeds) != self.n:
            raise ValueError(f"need n >= 1 and one seed per choice (n={self.n}, seeds={len(self.seeds)})")
        if self.samples is not None and len(self.samples) != self.n:
            raise ValueError(f"need one sample index per choice (n={self.n}, samples={len(self.samples)})")

    def sent_text(self) -> str:
        """The text this request sends: the messages' contents joined by newlines, then the
        assistant prefix; or the raw prompt.

        A chat template only adds tokens around these contents (role markers, turn
        delimiters), so any lower bound on the tokens of this text (e.g.
        :func:`~depthbench.baselines.backends._tokenizer.least_tokens`) is a lower bound on the prompt
        tokens the server processes.
        """
        if self.messages is None:
            return self.prompt or ""
        return "\n".join(str(m.get("content", "")) for m in self.messages) + (self.assistant_prefix or "")

    def to_log(self) -> dict[str, Any]:
        """The request parameters as logged in the run log (no item)."""
        d: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seeds": list(self.seeds),
            "stop": list(self.stop),
            "n": self.n,
        }
        if self.messages is not None:
            d["messages"] = [dict(m) for m in self.messages]
        if self.prompt is not None:
            d["prompt"] = self.prompt
        if self.assistant_prefix is not None:
            d["assistant_prefix"] = self.assistant_prefix
        return d


@dataclass(frozen=True)
class Choice:
    """One sampled completion.

    Attributes
    ----------
    text : str
        The generated text only (not the prompt or assistant prefix).
    finish_reason : str
        ``"stop"``, ``"length"`` or ``"error"``.
    completion_tokens : int
        Generated tokens of this choice alone.
    token_source : str
        One of :data:`TOKEN_SOURCES`.
    seed : int or None
        The seed actually sent for this choice.
    reasoning_field : str or None
        When the server returned the reasoning in a separate field
        (``"reasoning_content"``, ``"reasoning"``): its name. ``text`` then holds the
        reasoning between its delimiters followed by the content
        (:func:`~depthbench.baselines.backends._continuation.join_reasoning`).
    reasoning_tokens : int or None
        ``usage.completion_tokens_details.reasoning_tokens`` when the server gave it
        (included in ``completion_tokens``).
    """

    text: str
    finish_reason: str
    completion_tokens: int
    token_source: str
    seed: int | None = None
    reasoning_field: str | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True)
class Response:
    """The result of one :class:`Request`.

    Attributes
    ----------
    choices : tuple of Choice
        ``len(choices) == request.n``.
    prompt_tokens : int
        Tokens of the prompt (and assistant prefix) as processed once by the server.
    prompt_token_source : str
        One of :data:`TOKEN_SOURCES`.
    latency_s : float
        Wall time of the call in seconds, retries included.
    attempts : int
        HTTP attempts made (1 = no retry).
    model : str
        Model name as reported by the backend.
    """

    choices: tuple[Choice, ...]
    prompt_tokens: int
    prompt_token_source: str
    latency_s: float
    attempts: int = 1
    model: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What a backend supports; strategies adapt (e.g. fan out when ``n`` is unsupported).

    Attributes
    ----------
    chat, completions : bool
        Chat messages / raw prompts accepted.
    assistant_prefix : bool
        The backend continues an assistant turn (``Request.assistant_prefix``) under the
        continuation contract (:mod:`depthbench.baselines.backends._continuation`).
    native_n : bool
        One request returns ``n`` choices.
    seed : bool
        Sampling follows the seed sent.
    continuation : str
        How a continuation is realised: one of
        :data:`~depthbench.baselines.backends._continuation.CONTINUATION_MODES`.
    new_text : bool
        The backend generates new text (False for ``replay``, which serves recorded answers).
    steps : bool
        The backend serves step calls of a step-wise search (role ``step``) without continuing a
        turn itself: ``replay`` of a file holding recorded steps. A backend with
        ``assistant_prefix`` generates them anyway.
    """

    chat: bool = True
    completions: bool = False
    assistant_prefix: bool = False
    native_n: bool = False
    seed: bool = True
    continuation: str = "none"
    new_text: bool = True
    steps: bool = False


@runtime_checkable
class Model(Protocol):
    """A text-generation backend."""

    name: str
    capabilities: Capabilities

    async def generate(self, request: Request) -> Response:
        """Run one request; raise :class:`depthbench.errors.UserError` on configuration errors."""
        ...

    async def aclose(self) -> None:
        """Release connections or model memory."""
        ...
