"""Pre-flight probes of an OpenAI-compatible server, shared by ``eval`` and ``doctor``.

Before a run makes its first item call, :func:`prepare_openai` finds out, with a handful
of calls of one to four generated tokens each:

1. **the chat template** the client can render: the ``chat_template`` setting, else
   llama.cpp's ``GET /props`` (``chat_template``), else the GGUF file a llama-cpp-python
   server lists as its model id (when that file is on this machine);
2. **the reasoning delimiters** (:func:`~depthbench.baselines.backends._continuation.parse_think_setting`;
   a server that returns ``reasoning_content`` / ``reasoning`` implies ``<think>``);
3. **which request fields the server takes** (one chat call with the run's full sampler:
   refusals are learnt by :meth:`OpenAICompatibleModel._adapt`, and settings that cannot
   be honoured raise before the run);
4. **native n** (one call with ``n = 2``) when the run asked for it;
5. **the continuation mode** (:data:`~depthbench.baselines.backends._continuation.CONTINUATION_MODES`),
   tried in order ``assistant_prefill``, ``continue_final_message``, then ``template``
   (``ollama_raw`` on Ollama). A prefill mode counts only if the prompt of
   ``[user, assistant: P]`` is exactly the prompt of ``[user]`` plus the tokens of ``P``
   (``usage.prompt_tokens``, with ``P`` counted by the server's ``/tokenize``); a server
   that closes the assistant message and opens a new turn adds its end-of-turn and header
   tokens and fails. ``template`` counts only if the client-rendered prompt, sent raw,
   costs exactly the chat prompt's tokens plus ``P``'s -- so the template the client
   holds is the one the server's chat endpoint uses. ``P`` holds the opening ``<think>``
   for reasoning models, which catches templates that rewrite reasoning in an assistant
   message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthbench.baselines.backends._chat_template import ChatTemplate, load_chat_template, template_from_gguf
from depthbench.baselines.backends._continuation import PREFILL_MODES, Think, parse_think_setting
from depthbench.baselines._protocol import BackendError, Request
from depthbench.errors import UserError

__all__ = ["Needs", "prepare_openai", "PROBE_PREFIX"]

PROBE_USER = "Say one word."
PROBE_PREFIX = "Step 1: the answer"


@dataclass(frozen=True)
class Needs:
    """What a run's strategies need from the backend (decides which probes run).

    Attributes
    ----------
    continuation : bool
        Some strategy continues an assistant turn (budget forcing).
    native_n : bool
        The run asked for ``n > 1`` in one request (``--native-n``).
    temperature, top_p : float
        The run's values (a model that accepts only its defaults is refused up front).
    """

    continuation: bool = True
    native_n: bool = False
    temperature: float = 1.0
    top_p: float = 1.0


def _req(messages: Any, *, prefix: str | None = None, prompt: str | None = None, n: int = 1, max_tokens: int = 1,
         temperature: float = 1.0, top_p: float = 1.0) -> Request:
    return Request(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seeds=(7,) * n, n=n,
                   messages=tuple(messages) if messages is not None else None, prompt=prompt,
                   assistant_prefix=prefix)


async def _props(model: Any) -> dict[str, Any] | None:
    try:
        data, _ = await model.request_json("GET", f"{model.root_url}/props", retries=0)
    except (UserError, BackendError):
        return None
    return data if isinstance(data, dict) else None


async def _is_ollama(model: Any) -> bool:
    try:
        data, _ = await model.request_json("GET", f"{model.root_url}/api/version", retries=0)
    except (UserError, BackendError):
        return False
    return isinstance(data, dict) and "version" in data


async def resolve_template(model: Any, props: dict[str, Any] | None) -> tuple[ChatTemplate | None, str]:
    """The chat template the client can render, and where it came from (or why none)."""
    if model._template_setting:
        tmpl = load_chat_template(model._template_setting)
        tmpl.check()
        return tmpl, f"from --model-args chat_template ({tmpl.source})"
    if props is not None:
        tmpl = ChatTemplate.from_props(props, f"server:{model.root_url}/props")
        if tmpl is not None:
            tmpl.check()
            return tmpl, "from the server's /props"
    try:
        listed = await model.list_models()
    except (UserError, BackendError):
        listed = []
    for m in listed:
        mid = str(m.get("id") or "")
        if mid.endswith(".gguf") and Path(mid).is_file():
            tmpl = template_from_gguf(mid)
            tmpl.check()
            return tmpl, f"from the GGUF file the server lists as its model ({mid})"
    return None, "no chat template known (give --model-args '{\"chat_template\": PATH}': a .gguf, " \
                 "tokenizer_config.json or .jinja file)"


async def _prompt_tokens(model: Any, request: Request) -> int:
    _, pt, source, _, _ = await model._one_call(request, 1, request.seeds)
    if source != "server":
        raise UserError("the server reports no usage.prompt_tokens")
    return pt


async def _probe_prefix(model: Any) -> tuple[str, int, str]:
    """The probe transcript, its token count, and how it was counted."""
    t = model.think
    prefix = (t.open + "\n" + PROBE_PREFIX) if (t is not None and not t.in_prompt) else PROBE_PREFIX
    n, source = await model.count_text(prefix)
    if source == "server_tokenize":
        return prefix, n, "/tokenize"
    if source == "tokenizer":
        return prefix, n, "the --tokenizer given"
    # only an estimate (no /tokenize, no tokenizer): a single capital letter after the
    # header's newline is one token in every BPE vocabulary we know of
    return "A", 1, "assumed (no /tokenize endpoint)"


async def probe_continuation(model: Any, *, ollama: bool) -> tuple[str, str]:
    """Decide the continuation mode; returns ``(mode, detail)``.

    Raises
    ------
    UserError
        A forced mode (``continuation`` setting) that the server does not support.
    """
    forced = model.continuation_setting if model.continuation_setting != "auto" else None
    if forced == "none":
        return "none", "set by --model-args continuation"
    user = ({"role": "user", "content": PROBE_USER},)
    notes: list[str] = []
    try:
        base = await _prompt_tokens(model, _req(user))
    except UserError as e:
        if forced:
            raise UserError(f"--model-args continuation={forced}: cannot be checked: {e}; use 'auto'") from None
        return "none", f"the chat endpoint cannot be probed ({str(e)[:120]})"
    prefix, expected, how = await _probe_prefix(model)
    if forced is not None:
        candidates = [forced]
    else:
        candidates = ["assistant_prefill", "continue_final_message"]
        if model.completions and model.template is not None:
            candidates.append("ollama_raw" if ollama else "template")
    for mode in candidates:
        if mode in ("template", "ollama_raw") and model.template is None:
            notes.append(f"{mode}: no chat template known")
            continue
        model._set_mode(mode)
        try:
            got = await _prompt_tokens(model, _req(user, prefix=prefix))
        except (UserError, BackendError) as e:
            notes.append(f"{mode}: refused ({str(e).split(': ', 1)[-1][:100]})")
            continue
        delta = got - base
        if delta == expected:
            where = (f"chat template {model.template.source}; " if mode in ("template", "ollama_raw") else "")
            found = (f"{where}prompt of the continued turn = chat prompt ({base} tokens) + transcript "
                     f"({expected} tokens, {how})")
            return mode, "; ".join([found] + [f"not {x}" for x in notes])
        if mode in PREFILL_MODES:
            notes.append(f"{mode}: the server starts a new turn ({delta:+d} tokens for a {expected}-token transcript)")
        else:
            notes.append(f"{mode}: the client-rendered prompt costs {got} tokens, the server's chat prompt plus the "
                         f"transcript {base + expected}: this is not the server's chat template")
    model._set_mode(None)
    detail = "; ".join(notes)
    if forced:
        raise UserError(f"--model-args continuation={forced}: the server at {model.base_url} does not continue an "
                        f"assistant turn that way ({detail}); use continuation 'auto', or give the model's chat "
                        "template (--model-args chat_template) for the template route")
    if model._template_setting and model.template is not None and any("not the server's chat template" in x
                                                                     for x in notes):
        raise UserError(f"--model-args chat_template: {model.template.source} does not match the server's chat "
                        f"template ({detail}); give the template of the model the server runs")
    return "none", detail


async def probe_native_n(model: Any, needs: Needs) -> None:
    """One chat call with ``n = 2``: a refusal, or fewer choices, turns native n off."""
    req = _req(({"role": "user", "content": PROBE_USER},), n=2, max_tokens=1, temperature=needs.temperature,
               top_p=needs.top_p)
    try:
        resp = await model.generate(req)
    except (UserError, BackendError):
        return
    if model.native_n and len(resp.choices) < 2:
        model.native_n = False
        model.n_refused = "the server ignored n=2 (returned fewer choices)"
        model.capabilities = dataclasses.replace(model.capabilities, native_n=False)


async def prepare_openai(model: Any, needs: Needs | None = None) -> dict[str, Any]:
    """Run the probes of the module docstring on ``model``; returns ``model.describe()``
    plus what was read from the server.

    Raises
    ------
    UserError
        See :meth:`OpenAICompatibleModel.prepare`.
    """
    needs = needs or Needs()
    saved_retries = model.retries
    model.retries = min(model.retries, 1)  # a probe that fails is an answer, not a reason to wait
    try:
        props = await _props(model)
        model.server_props = props
        model.template, template_note = await resolve_template(model, props)
        model.think = parse_think_setting(model._think_setting, model.template, opens_think=model._opens_think_setting)
        # the run's own sampler on a one-token chat call: refusals are learnt (or refused) here
        await model.generate(_req(({"role": "user", "content": PROBE_USER},), max_tokens=4,
                                  temperature=needs.temperature, top_p=needs.top_p))
        if model.think is None and model.reasoning_field and model._think_setting in (None, "auto"):
            model.think = Think(in_prompt=bool(model._opens_think_setting), source=f"server ({model.reasoning_field})")
        if needs.native_n and model.native_n:
            await probe_native_n(model, needs)
        if needs.continuation or model.continuation_setting != "auto":
            mode, detail = await probe_continuation(model, ollama=await _is_ollama(model))
            model._set_mode(mode)
            model.continuation_detail = detail if mode != "none" else f"{detail}; {template_note}"
        else:
            model.continuation_detail = "not probed (no strategy of the run continues a turn)"
    finally:
        model.retries = saved_retries
    out = model.describe()
    out["chat_template_note"] = template_note
    defaults = (props or {}).get("default_generation_settings") or {}
    params = defaults.get("params") if isinstance(defaults.get("params"), dict) else defaults
    out["server_defaults"] = {k: params[k] for k in ("temperature", "top_k", "top_p", "min_p", "repeat_penalty",
                                                     "presence_penalty", "frequency_penalty", "n_ctx")
                              if isinstance(params, dict) and k in params} or None
    return out
