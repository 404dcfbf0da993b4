"""The continuation contract shared by every backend, and the strategies' pre-flight check.

A sequential strategy continues **the same assistant turn**: budget forcing appends
``"Wait"`` (or, at the budget, ``"Answer:"``) to what the model wrote and lets it go on.
Whatever backend runs it, the model must see the same token sequence::

    chat_template(messages, add_generation_prompt=True) + transcript

i.e. the conversation rendered by the model's own chat template up to the header that
opens the assistant's turn, then the assistant's text so far -- never the transcript
pasted into a new user turn (the model then answers *as the user*), never a raw prompt
without the template. A :class:`~depthbench.baselines.Request` expresses a continuation
as ``messages`` plus ``assistant_prefix``; each backend realises it in one of these
**modes** (recorded in ``run.json`` ``backend.continuation`` and on every continuation
call as ``continuation``):

``continue_final_message``
    OpenAI-compatible server that continues a trailing assistant message when asked with
    ``continue_final_message: true, add_generation_prompt: false`` (vLLM, SGLang, TGI).
``assistant_prefill``
    server that continues a trailing assistant message on its own (llama.cpp's
    ``llama-server``, Ollama's chat).
``template``
    depthbench renders the chat template itself (:mod:`._chat_template`) and sends a raw
    completion of that string: ``/completions`` on a server, ``create_completion`` in
    process (the ``llamacpp`` backend always works this way).
``ollama_raw``
    the same rendered string through Ollama's native ``/api/generate`` with ``raw: true``
    (Ollama's OpenAI ``/v1/completions`` wraps a prompt in the model's template again).
``simulated``
    the simulated reasoner reads the transcript itself (no template, no tokens to match).
``none``
    the endpoint cannot continue an assistant turn (chat-only APIs such as OpenAI's).
    Strategies that need a continuation are refused before the run starts, with the
    alternatives; ``budget_forcing:cap`` then forces its answer in a new user turn
    (recorded as ``continuation: "user_turn"``), which is *not* the same token sequence
    and is labelled so.

The prefill modes are used only where a probe shows the server really continues the turn
(:mod:`._probe`): the prompt of ``[user, assistant: P]`` must be exactly the prompt of
``[user]`` plus the tokens of ``P``; a server that closes the assistant message and
opens a new turn adds the end-of-turn and header tokens and fails the probe.

Reasoning models (s1, Muennighoff et al. 2025, arXiv 2501.19393): the thinking is
delimited by ``<think>`` ... ``</think>`` (:class:`Think`; which delimiter applies comes
from the chat template or the ``think`` setting). Budget forcing extends *thinking*: the
end-of-thinking delimiter is a stop string, and on that stop ``"Wait"`` is inserted
inside the still-open thinking; at the budget the harness closes the thinking block and
then forces ``"Answer:"``. Reasoning a server returns in a separate field
(``message.reasoning_content`` or ``message.reasoning``) is put back between the
delimiters (:func:`join_reasoning`), so the logged ``text`` is the whole generation,
counted in G, extracted with the reasoning hidden, and continued as the server expects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from depthbench.errors import UserError

__all__ = [
    "CONTINUATION_MODES",
    "PREFILL_MODES",
    "Think",
    "parse_think_setting",
    "inside_thinking",
    "join_reasoning",
    "chain_text",
    "strip_reasoning",
    "check_strategy_support",
    "ALTERNATIVES",
]

CONTINUATION_MODES = ("continue_final_message", "assistant_prefill", "template", "ollama_raw", "simulated", "none")
PREFILL_MODES = ("continue_final_message", "assistant_prefill")
#: what works on an endpoint that cannot continue an assistant turn
ALTERNATIVES = "budget_forcing:cap (forces its answer in a new user turn) or revision@R"

_THINK_SETTING = "--model-args think"


@dataclass(frozen=True)
class Think:
    """Reasoning delimiters of a model.

    Attributes
    ----------
    open, close : str
        The delimiters (only ``<think>`` / ``</think>``, the ones the scorer hides).
    in_prompt : bool
        The chat template's generation prompt already opens the block (DeepSeek-R1
        distills, QwQ): a reply starts inside the thinking.
    source : str
        Where the setting came from (``"template"``, ``"setting"``, ``"server"``).
    """

    open: str = "<think>"
    close: str = "</think>"
    in_prompt: bool = False
    source: str = "template"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``run.json`` ``backend.think``)."""
        return {"open": self.open, "close": self.close, "in_prompt": self.in_prompt, "source": self.source}


def parse_think_setting(value: Any, template: Any = None, *, opens_think: bool | None = None) -> Think | None:
    """Resolve the ``think`` setting against the chat template.

    Parameters
    ----------
    value : {"auto", "none", "<think>"} or None
        ``auto`` (default): the template's delimiter if it mentions ``<think>``, else
        none. ``none``: treat the model as non-reasoning. ``<think>``: the model thinks
        in ``<think>`` ... ``</think>`` (checked against the template when one is known).
    template : ChatTemplate, optional
        The model's chat template.
    opens_think : bool, optional
        The generation prompt opens ``<think>`` (overrides the template's answer).

    Returns
    -------
    Think or None

    Raises
    ------
    UserError
        Unknown value, or a delimiter the template never mentions.
    """
    v = "auto" if value is None else value
    if v is False:
        v = "none"
    if not isinstance(v, str) or v.strip() not in ("auto", "none", "<think>", "<think></think>", "<think>...</think>"):
        raise UserError(f"{_THINK_SETTING}: {value!r} is not 'auto', 'none' or '<think>' (the reasoning delimiter; "
                        "only <think>...</think> is supported, the block the scorer hides)")
    v = v.strip()
    if v == "none":
        return None
    header = template.generation_header() if template is not None else ""
    starts_open = header.rstrip().endswith("<think>") if header else False
    if opens_think is not None:
        starts_open = bool(opens_think)
    if v == "auto":
        if template is not None and template.mentions("<think>"):
            return Think(in_prompt=starts_open, source="template")
        if opens_think:
            return Think(in_prompt=True, source="setting")
        return None
    if template is not None and not template.mentions("<think>"):
        raise UserError(f"{_THINK_SETTING}: <think> does not occur in the chat template from {template.source}; "
                        "drop the setting (the model does not reason in <think> blocks) or give the right template")
    return Think(in_prompt=starts_open, source="setting")


def inside_thinking(text: str, think: Think | None, starts_inside: bool = False) -> bool:
    """Whether ``text`` (generated so far) ends inside an open reasoning block.

    Examples
    --------
    >>> t = Think()
    >>> inside_thinking("<think>x = 3", t), inside_thinking("<think>x</think>Answer: 3", t)
    (True, False)
    >>> inside_thinking("x = 3", t, starts_inside=True), inside_thinking("x = 3", None)
    (True, False)
    """
    if think is None:
        return False
    low = text.lower()
    o, c = low.rfind(think.open), low.rfind(think.close)
    if o < 0 and c < 0:
        return starts_inside
    return o > c


def join_reasoning(reasoning: str | None, content: str | None, think: Think | None = None,
                   starts_inside: bool = False) -> str:
    """The whole generation from a response that split it into reasoning and content.

    The reasoning goes back between the delimiters (the opening one left out when the
    generation started inside the block); the closing one is restored only when content
    follows it -- a reply cut, or stopped, inside its thinking has none, and its block
    stays open.

    Examples
    --------
    >>> join_reasoning("x = 3", "Answer: 3")
    '<think>x = 3</think>Answer: 3'
    >>> join_reasoning("x = 3", None), join_reasoning("x = 3", "", starts_inside=True)
    ('<think>x = 3', 'x = 3')
    >>> join_reasoning(None, "Answer: 3")
    'Answer: 3'
    """
    t = think or Think()
    if not reasoning:
        return content or ""
    head = "" if starts_inside else t.open
    if content:
        return head + reasoning + t.close + content
    return head + reasoning


def strip_reasoning(text: str, think: Think | None, starts_inside: bool = False) -> str:
    """``text`` without its reasoning blocks: what an earlier assistant turn keeps in a
    multi-turn context (revision history), as reasoning models' templates and APIs expect.

    Examples
    --------
    >>> strip_reasoning("<think>x = 3</think>\\nAnswer: 3", Think())
    '\\nAnswer: 3'
    >>> strip_reasoning("x = 3</think>Answer: 3", Think(in_prompt=True), starts_inside=True)
    'Answer: 3'
    """
    if think is None:
        return text
    out, pos, inside = [], 0, starts_inside
    low = text.lower()
    while pos <= len(text):
        if inside:
            c = low.find(think.close, pos)
            if c < 0:
                break
            pos, inside = c + len(think.close), False
        else:
            o = low.find(think.open, pos)
            if o < 0:
                out.append(text[pos:])
                break
            out.append(text[pos:o])
            pos, inside = o + len(think.open), True
    return "".join(out)


def chain_text(chain: str, call: Mapping[str, Any]) -> str:
    """The text a chained call's answer is read from: the chain so far, then the call's
    forced text and its own text.

    The one rule of the runner (:meth:`~depthbench.baselines.CallContext.call`), ``depthbench
    score``, budget forcing's reduction and the submission validator. A call that continues
    the assistant turn continues its chain's text. A call asked for in a **new user turn**
    (``continuation: "user_turn"``; ``budget_forcing:cap`` on an endpoint that cannot
    continue a turn) is a new assistant message: the earlier turn is context the model was
    shown (its reasoning removed), not text of this message, so the chain restarts at the
    reply. Nothing is glued across the turn boundary (no cut answer or open ``<think>``
    of the earlier turn reaches into the reply), and the reply states its own answer, as a
    harness-forced ``"Answer:"`` in the same turn supersedes what the chain stated before it.

    Parameters
    ----------
    chain : str
        The chain's text before the call (its parent's :func:`chain_text`).
    call : mapping
        A call record: ``forced``, ``text``, optional ``continuation``.

    Examples
    --------
    >>> chain_text("x3 = 4, Answer: 1", {"forced": "\\nAnswer:", "text": " 12"})
    'x3 = 4, Answer: 1\\nAnswer: 12'
    >>> chain_text("x3 = 4, Answer: 1", {"forced": "", "text": "2", "continuation": "user_turn"})
    '2'
    """
    own = str(call.get("forced") or "") + str(call.get("text") or "")
    return own if call.get("continuation") == "user_turn" else chain + own


def check_strategy_support(strategies: Iterable[Any], capabilities: Any, model_name: str, *,
                           reason: str = "") -> None:
    """Refuse, before any call, the strategies this backend cannot run as specified.

    Parameters
    ----------
    strategies : iterable of Strategy
        Each has ``needs`` (a tuple of ``"continuation"``, ``"new_text"``).
    capabilities : Capabilities
        The backend's, after its pre-flight.
    model_name : str
        For the message.
    reason : str
        Why continuation is unavailable (the probe's finding), appended to the message.

    Raises
    ------
    UserError
        Naming the strategies, the reason and the alternatives.
    """
    no_cont = [s.name for s in strategies if "continuation" in s.needs and not capabilities.assistant_prefix]
    if no_cont:
        why = f" ({reason})" if reason else ""
        raise UserError(f"--strategy {','.join(no_cont)}: --model {model_name} cannot continue an assistant turn{why}, "
                        f"which s1 budget forcing needs to insert 'Wait'; use {ALTERNATIVES} instead, or give a "
                        "continuation route (--model-args '{\"chat_template\": \"PATH\"}' with a /completions endpoint)")
    no_steps = [s.name for s in strategies if "steps" in s.needs
                and not (capabilities.assistant_prefix or getattr(capabilities, "steps", False))]
    if no_steps:
        why = f" ({reason})" if reason else ""
        raise UserError(f"--strategy {','.join(no_steps)}: --model {model_name} cannot continue an assistant turn{why}, "
                        "which step-wise search needs (each step continues the chain); use a backend that can "
                        "(see `depthbench doctor`), or replay a file of recorded steps (records with role 'step', "
                        "sample and round)")
    no_new = [s.name for s in strategies if "new_text" in s.needs and not capabilities.new_text]
    if no_new:
        raise UserError(f"--strategy {','.join(no_new)}: --model {model_name} only serves recorded answers, and these "
                        "strategies need new text (continuations, revisions, judge calls); use single, majority@N, "
                        "pass@N or best_of@N:oracle|trace|noisy")


def continuation_messages(messages: Sequence[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """``messages`` with the assistant's text so far as a trailing assistant message (prefill modes)."""
    return [dict(m) for m in messages] + [{"role": "assistant", "content": prefix}]
