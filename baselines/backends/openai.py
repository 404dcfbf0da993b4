"""Backend for any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI).

HTTP goes through httpcore's ``AsyncConnectionPool``, the transport layer of httpx (a
core dependency; same maintainers). It gives async keep-alive pooling and exact control of
each attempt (status, timeout, body), which the retry policy and the per-attempt logging
need, and costs about a third less CPU per call than the ``httpx.AsyncClient`` layer on
top of it (``benchmarks/backend_bench.py``: the harness must sustain 1,000 calls/s on
2 cores). The ``openai`` SDK would add a dependency with its own hidden retry loop and
would drop server-specific fields (``continue_final_message``, ``max_model_len``)
behind typed models.

Behaviour
---------
* Chat (``/chat/completions``) for ``Request.messages``; raw completions
  (``/completions``) for ``Request.prompt``.
* Continuation (``messages`` + ``assistant_prefix``) follows the continuation contract
  (:mod:`depthbench.baselines.backends._continuation`) in the mode :meth:`prepare` found or the
  ``continuation`` setting forces: a trailing assistant message (``continue_final_message``
  / ``assistant_prefill``), or the chat template rendered here and sent to
  ``/completions`` (``template``) or Ollama's ``/api/generate`` (``ollama_raw``). A
  backend with no mode refuses continuations (never silently drops the prefix).
* The full sampler is sent with every request: ``temperature``, ``top_p``, ``seed`` and
  ``top_k``, ``min_p``, ``repeat_penalty`` / ``repetition_penalty``,
  ``presence_penalty``, ``frequency_penalty`` (:mod:`depthbench.baselines.backends._sampler`).
  Refusals are capabilities, not retries (:meth:`_adapt`): a field the server rejects is
  dropped once when its value is neutral (recorded), and refused with a
  :class:`~depthbench.errors.UserError` when it is not; ``max_tokens`` becomes
  ``max_completion_tokens`` where the server asks for it (OpenAI's o-series and newer
  models); a model that accepts only its default temperature gets none sent when the run
  uses that value, and the run is refused otherwise; a server that refuses ``n > 1``
  (llama.cpp's "Only one completion choice is allowed", HTTP 500) turns native ``n``
  off and fans out, without retrying.
* Reasoning returned beside the content (``message.reasoning_content``, vLLM's and
  DeepSeek's; ``message.reasoning``) is joined back between ``<think>`` delimiters
  (:func:`~depthbench.baselines.backends._continuation.join_reasoning`): the logged text is the
  whole generation, its tokens are counted in G
  (``usage.completion_tokens_details.reasoning_tokens`` is recorded), and extraction
  never reads the reasoning as the answer.
* ``n > 1``: by default fanned out as ``n`` single-choice calls, choice ``i`` with
  ``seeds[i]``. With ``native_n=True`` one call asks for ``n`` choices with ``seeds[0]``.
  Servers that sum ``usage.completion_tokens`` over the choices (vLLM, OpenAI) are handled
  by counting each choice (its logprobs if returned, else as below) and checking the counts
  add up to the usage: then the source is ``"server_split"``, otherwise the count's own
  source (and a warning is logged).
* Missing ``usage`` (some servers, some responses) never stops a run: the backend counts
  the text itself, with the server's ``/tokenize`` endpoint where it has one (vLLM,
  llama.cpp; source ``"server_tokenize"``), else a tokenizer the user names
  (``tokenizer=``, ``eval --tokenizer PATH_OR_GGUF``; source ``"tokenizer"``), else the
  stated estimate of :func:`~depthbench.baselines.backends._tokenizer.estimate_tokens` (source
  ``"estimate"``). A completion cut by the length limit has exactly ``max_tokens`` tokens,
  and no count is taken above ``max_tokens`` (the server cannot have generated more).
* Deadlines: ``timeout`` bounds each whole attempt (connect, send, every read of a body
  that trickles in), not each socket read. :meth:`preflight` checks the server answers at all
  with one short connection attempt, so ``eval`` fails fast against a dead address.
* At most ``concurrency`` requests in flight (an ``asyncio.Semaphore``).
* Retries on HTTP 429 and 5xx, timeouts, connection errors and malformed JSON, with
  exponential backoff and full jitter (``Retry-After`` honoured); retries are logged on
  the ``depthbench.baselines.openai`` logger, the same failure at most once per 10 s (then a
  count of the repeats). Other 4xx answers are configuration errors
  (:class:`~depthbench.errors.UserError`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from depthbench._lazy import lazy
from depthbench.baselines._http import Server, ServerPool, redact_url, split_userinfo
from depthbench.baselines._probe import PROBE, Check, probe_request, seed_check, strategies_check
from depthbench.baselines._protocol import BackendError, Capabilities, Choice, Request, Response
from depthbench.baselines.backends._base import backend
from depthbench.baselines.backends._continuation import (
    CONTINUATION_MODES,
    PREFILL_MODES,
    Think,
    continuation_messages,
    inside_thinking,
    join_reasoning,
)
from depthbench.baselines.backends._preflight import Needs, prepare_openai
from depthbench.baselines.backends._sampler import FIELD_OF, NEUTRAL, SAMPLER_FLAGS, Sampler, openai_sampler_fields
from depthbench.baselines.backends._tokenizer import estimate_tokens, load_tokenizer
from depthbench.errors import UserError

httpcore = lazy("httpcore")  # imported when the first request is sent (CLI start-up stays fast)
asyncio = lazy("asyncio")
__all__ = ["OpenAICompatibleModel", "normalise_base_url", "split_base_urls", "ServerRefusal"]

log = logging.getLogger("depthbench.baselines.openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class _RetryLog:
    """Retry warnings without a flood: one line per kind of failure per ``interval`` seconds,
    then the number of repeats seen meanwhile (a dead server gives one line, not dozens)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        log.warning(message + (f" (and {held} more such retries not shown)" if held else ""), *args)

    def flush(self, name: str) -> None:
        """Log the repeats still held back (at the end of a run)."""
        for kind, held in sorted(self._held.items()):
            log.warning("%s: %d more retries after %s not shown", name, held, kind)
        self._held.clear()


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class ServerRefusal(UserError):
    """The server refused a request for what it holds (HTTP 4xx, or a 5xx that names an
    unsupported parameter): a capability answer, not a transient failure.

    Attributes
    ----------
    status : int
        HTTP status.
    text : str
        The response body (first 2,000 characters).
    param : str or None
        ``error.param`` when the server names the field (OpenAI does).
    """

    def __init__(self, message: str, status: int, text: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.text = text
        self.param = param


#: a server that refuses n > 1 says so in one of these ways
_N_REFUSED_RE = re.compile(r"only one completion choice|\bn\b\W{0,3}(?:must be 1|is not supported|not supported)"
                           r"|n > 1|n>1|multiple (?:choices|completions) (?:are )?not supported", re.IGNORECASE)


def _refusal(code: int, content: bytes, url: str, name: str, body: dict[str, Any] | None) -> ServerRefusal | None:
    """A :class:`ServerRefusal` for a 4xx answer, or for a 5xx that refuses ``n > 1``; else None."""
    text = content[:2000].decode("utf-8", "replace").strip()
    n_refused = bool(body and int(body.get("n") or 1) > 1 and _N_REFUSED_RE.search(text))
    if code < 400 or code == 429 or (code >= 500 and not n_refused):
        return None
    param = None
    try:
        err = json.loads(text).get("error")
        if isinstance(err, dict) and isinstance(err.get("param"), str):
            param = err["param"]
    except (ValueError, AttributeError):
        pass
    return ServerRefusal(f"--model {name}: {url} answered HTTP {code}: {text[:200]}", code, text,
                         "n" if n_refused else param)


def normalise_base_url(url: str) -> str:
    """``http://host:port`` or ``http://host:port/v1`` -> ``http://host:port/v1`` (no trailing slash).

    Raises
    ------
    UserError
        If ``url`` is not an http(s) URL.
    """
    url = (url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UserError(f"--base-url {redact_url(url)!r}: must start with http:// or https://, "
                        "e.g. http://127.0.0.1:8000/v1")
    rest = url.split("://", 1)[1]
    if "/" not in rest:
        url += "/v1"
    return url


async def _within(seconds: float, coro: Any) -> Any:
    """Await ``coro`` for at most ``seconds`` in all, in the calling task (raising httpcore's
    timeout, as a slow read would)."""
    try:
        async with asyncio.timeout(seconds):
            return await coro
    except TimeoutError:
        raise httpcore.ReadTimeout(f"attempt took over {seconds:g} s") from None


def split_base_urls(base_url: "str | Sequence[str] | None") -> list[str]:
    """Base URLs from ``--base-url`` values: repeated flags, comma lists, or both; normalised, no duplicates.

    Raises
    ------
    UserError
        A URL that is not http(s), or the same server twice.
    """
    raw = [base_url] if isinstance(base_url, str) else list(base_url or [])
    urls = [normalise_base_url(u) for part in raw for u in str(part).split(",") if u.strip()]
    bare = [split_userinfo(u)[0] for u in urls]
    for u in bare:
        if bare.count(u) > 1:
            raise UserError(f"--base-url {u}: given twice; list each server once")
    return urls


def _finish(reason: Any) -> str:
    if reason == "length":
        return "length"
    if reason in ("error", "abort"):
        return "error"
    return "stop"


async def _doctor(spec: str, *, base_url: str | list[str] | None = None, api_key: str | None = None,
                  timeout: float = 30.0, options: dict[str, Any] | None = None) -> list[Check]:
    """``depthbench doctor`` for servers: one quick attempt per check, short backoff. Several base
    URLs (a list or a comma list) are probed one after the other, each row naming its server."""
    urls: list[str | None] = list(split_base_urls(base_url)) if base_url else [None]
    rows: list[Check] = []
    for k, url in enumerate(urls, 1):
        opts = {"backoff_base": 0.2, **(options or {})}
        model = OpenAICompatibleModel(spec.partition(":")[2], base_url=url, api_key=api_key, retries=1,
                                      timeout=timeout, concurrency=4, **opts)
        try:
            got = await _doctor_checks(model)
        finally:
            await model.aclose()
        if len(urls) > 1:
            got = [dataclasses.replace(r, server=f"{k}/{len(urls)}") for r in got]
        rows += got
    return rows


@backend("openai", forms=("openai:MODEL",), remote=True, model_in_spec=True, token_source="server, server_split or tokenizer",
         summary="any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI)",
         options={"native_n": "ask the server for n choices in one request (default: fan out, one seed per sample)",
                  "completions": "use /completions for raw prompts (default true)",
                  "continue_final_message": "send assistant prefixes as a final assistant message (vLLM)",
                  "backoff_base": "first retry delay bound in seconds (default 0.5)",
                  "backoff_max": "largest retry delay in seconds (default 20)",
                  "tokenizer": "token counts when the server reports no usage: smollm2, a .gguf or a tokenizer.json "
                               "(eval --tokenizer)",
                  "extra_body": "extra JSON fields sent with every request (eval --extra-body)",
                  "headers": "extra HTTP headers (an object of strings)",
                  "proxy": "HTTP or SOCKS proxy URL (default: from the environment)",
                  "trust_env": "read proxies from the environment (default true)",
                  "reprobe_s": "seconds before a server that went down is probed again (default 30)",
                  "jitter_seed": "seed of the retry delays' jitter (default: random)",
                  "continuation": "how an assistant turn is continued: auto (probed), a prefill mode, template "
                                  "or refuse",
                  "chat_template": "chat template for the template mode: smollm2, a .gguf, a tokenizer_config.json "
                                   "or a .jinja file",
                  "think": "reasoning delimiters: auto (from the template), none or <think>",
                  "opens_think": "the chat template opens <think> in the prompt (eval --think-open)",
                  "max_tokens_field": "auto (probed), max_tokens or max_completion_tokens (o-series)"},
         option_types={"backoff_base": "number", "backoff_max": "number", "native_n": "bool", "completions": "bool",
                       "continue_final_message": "bool", "tokenizer": "string|null", "extra_body": "object|null",
                       "headers": "object of strings|null", "proxy": "string|null", "trust_env": "bool",
                       "reprobe_s": "number", "jitter_seed": "int|null", "continuation": "string",
                       "chat_template": "string|null", "think": "string", "opens_think": "bool|null",
                       "max_tokens_field": "string"},
         sampler=True, doctor=_doctor)
class OpenAICompatibleModel:
    """A model served over the OpenAI HTTP API.

    Parameters
    ----------
    model : str
        Model name sent in each request (``openai:MODEL`` -> ``MODEL``).
    base_url : str or sequence of str, optional
        Server URL; several (a list or a comma-separated string) spread the requests over
        replicas of the same model (:class:`~depthbench.baselines._http.ServerPool`);
        default ``OPENAI_BASE_URL`` (may be a comma list too), else the OpenAI API.
    api_key : str, optional
        Bearer token; default ``OPENAI_API_KEY`` (may be unset for local servers).
    concurrency : int
        Requests in flight at most, >= 1.
    retries : int
        Retries after the first attempt, >= 0.
    timeout : float
        Per-attempt timeout in seconds.
    backoff_base, backoff_max : float
        Retry ``k`` sleeps ``uniform(0, min(backoff_max, backoff_base * 2**(k-1)))`` seconds.
    native_n : bool
        Ask the server for ``n`` choices in one call (one seed); default fan out.
    completions : bool
        The server offers ``/completions`` (raw prompts); False rules out the ``template``
        continuation mode.
    continue_final_message : bool
        Shorthand for ``continuation="continue_final_message"``.
    continuation : str
        ``"auto"`` (default: :meth:`prepare` probes the server) or one of
        :data:`~depthbench.baselines.backends._continuation.CONTINUATION_MODES` to force one.
    chat_template : str, optional
        Where the model's chat template is (``template`` mode): a ``.gguf``,
        ``tokenizer_config.json`` or ``.jinja`` file, or ``"smollm2"``; default the server's
        ``/props`` (llama.cpp) or the GGUF file a llama-cpp-python server lists as its model.
    think : {"auto", "none", "<think>"}
        Reasoning delimiters (:func:`~depthbench.baselines.backends._continuation.parse_think_setting`).
    opens_think : bool, optional
        The chat template opens ``<think>`` in the generation prompt.
    max_tokens_field : {"auto", "max_tokens", "max_completion_tokens"}
        Name of the length field; ``auto`` sends ``max_tokens`` and switches when the
        server asks for ``max_completion_tokens``.
    top_k, min_p, repeat_penalty, presence_penalty, frequency_penalty : number
        The sampler beyond temperature and top_p, sent with every request (defaults
        neutral; :class:`~depthbench.baselines.backends._sampler.Sampler`).
    tokenizer : callable or str, optional
        ``text -> token count``, or a path of a ``.gguf`` / ``tokenizer.json`` (or
        ``"smollm2"``) opened with :func:`~depthbench.baselines.backends._tokenizer.load_tokenizer`;
        used when usage must be split or is missing and the server has no ``/tokenize``.
    extra_body : dict, optional
        Extra fields merged into every request body (``--extra-body``), e.g.
        ``{"chat_template_kwargs": {"enable_thinking": false}}``; they win over
        depthbench's own fields.
    headers : dict, optional
        Extra HTTP headers sent with every request (e.g. for a router).
    proxy : str, optional
        Proxy URL for every server (``""``: none); default from ``HTTPS_PROXY`` /
        ``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` as httpx and requests read them.
    trust_env : bool
        Read the proxy variables from the environment (default True).
    reprobe_s : float
        Seconds between health probes of a server taken out of rotation.
    jitter_seed : int, optional
        Seed of the backoff jitter (timing only; results never depend on it).

    Raises
    ------
    UserError
        Bad base URL or parameter.
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 concurrency: int = 16, retries: int = 6, timeout: float = 120.0, backoff_base: float = 0.5,
                 backoff_max: float = 20.0, native_n: bool = False, completions: bool = True,
                 continue_final_message: bool = False, tokenizer: Callable[[str], int] | str | None = None,
                 extra_body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 proxy: str | None = None, trust_env: bool = True, reprobe_s: float = 30.0,
                 jitter_seed: int | None = None,
                 continuation: str = "auto", chat_template: str | None = None, think: str = "auto",
                 opens_think: bool | None = None, max_tokens_field: str = "auto", top_k: int = 0,
                 min_p: float = 0.0, repeat_penalty: float = 1.0, presence_penalty: float = 0.0,
                 frequency_penalty: float = 0.0) -> None:
        if not model:
            raise UserError("--model openai:MODEL: the model name is empty; e.g. openai:Qwen/Qwen2.5-7B-Instruct")
        if int(concurrency) < 1:
            raise UserError(f"--concurrency: must be >= 1, got {concurrency}")
        if int(retries) < 0:
            raise UserError(f"--retries: must be >= 0, got {retries}")
        if not float(timeout) > 0:
            raise UserError(f"--timeout: must be > 0 seconds, got {timeout}")
        self.model_name = model
        self.name = f"openai:{model}"
        urls = split_base_urls(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        if not urls:
            raise UserError("--base-url: no server URL given; e.g. --base-url http://127.0.0.1:8000/v1")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = int(concurrency)
        self.retries = int(retries)
        self.timeout = float(timeout)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.native_n = bool(native_n)
        self.completions = bool(completions)
        self.continue_final_message = bool(continue_final_message)
        if isinstance(tokenizer, str):
            tokenizer = load_tokenizer(tokenizer, what="--tokenizer")
        self.tokenizer = tokenizer
        if extra_body is not None and not isinstance(extra_body, dict):
            raise UserError(f"--extra-body: must be a JSON object, got {type(extra_body).__name__}")
        self.extra_body = dict(extra_body or {})
        if headers is not None and not (isinstance(headers, dict)
                                        and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
            raise UserError('--model-args headers: must be an object of strings, e.g. {"X-Route": "a"}')
        self.headers = dict(headers or {})
        self.pool = ServerPool(urls, concurrency=self.concurrency, proxy=proxy, trust_env=bool(trust_env),
                               reprobe_s=reprobe_s)
        # the servers' URLs without user information (that became each server's Basic auth)
        self.base_urls = [s.base_url for s in self.pool.servers]
        self.base_url = self.base_urls[0]
        self._init_continuation(continuation, chat_template, think, opens_think, max_tokens_field,
                                Sampler(top_k=top_k, min_p=min_p, repeat_penalty=repeat_penalty,
                                        presence_penalty=presence_penalty, frequency_penalty=frequency_penalty))
        self._jitter = random.Random(jitter_seed)
        self._headers: list[tuple[bytes, bytes]] = []
        self._has_auth = False  # an Authorization header is set (--api-key, headers): URL credentials unused
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tokenize_route: str | None = None
        self._tokenize_missing = False  # the server answered that it has no /tokenize
        self._retry_log = _RetryLog()

    # ------------------------------------------------------------------ plumbing
    def _ensure_client(self) -> ServerPool:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.pool.open()
            self._headers = [(b"Accept", b"application/json"), (b"User-Agent", b"depthbench")]
            self._headers += [(k.encode(), v.encode()) for k, v in self.headers.items()]
            if self.api_key:
                self._headers.append((b"Authorization", f"Bearer {self.api_key}".encode()))
            self._has_auth = any(k.lower() == b"authorization" for k, _ in self._headers)
            self._loop = loop
        return self.pool

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        d = self._jitter.uniform(0, cap)
        if retry_after is not None:
            d = max(d, min(retry_after, self.backoff_max))
        return d

    # ------------------------------------------------------------------ continuation, sampler, quirks
    def _init_continuation(self, continuation: str, chat_template: str | None, think: str,
                           opens_think: bool | None, max_tokens_field: str, sampler: Sampler) -> None:
        """Settings of the continuation contract, the sampler and the request quirks."""
        if self.continue_final_message and continuation == "auto":
            continuation = "continue_final_message"
        if continuation != "auto" and continuation not in CONTINUATION_MODES:
            raise UserError(f"--model-args continuation: {continuation!r} is not 'auto' or one of "
                            f"{', '.join(m for m in CONTINUATION_MODES if m != 'simulated')}")
        if continuation in ("template", "ollama_raw") and not self.completions:
            raise UserError(f"--model-args continuation: {continuation} needs a raw-completion endpoint, and this "
                            "backend was told the server has none (completions=False); use 'auto' or a prefill mode")
        if max_tokens_field not in ("auto", "max_tokens", "max_completion_tokens"):
            raise UserError(f"--model-args max_tokens_field: {max_tokens_field!r} is not 'auto', 'max_tokens' or "
                            "'max_completion_tokens'")
        self.sampler = sampler
        self.continuation_setting = continuation
        self.continuation_detail = ""
        self._template_setting = chat_template
        self.template: Any = None
        self._think_setting = think
        self._opens_think_setting = opens_think
        self.think: Think | None = None
        self.max_tokens_field = "max_tokens" if max_tokens_field == "auto" else max_tokens_field
        self.max_tokens_auto = max_tokens_field == "auto"
        #: body field -> why it is no longer sent (learnt from the server's refusals)
        self.dropped: dict[str, str] = {}
        #: fields sent only when their value differs from the server-fixed default (o-series)
        self.fixed_defaults: dict[str, float] = {}
        self.reasoning_field: str | None = None
        self.n_refused: str | None = None
        self.server_props: dict[str, Any] | None = None
        mode = None if continuation == "auto" else continuation
        self._set_mode(mode)

    def _set_mode(self, mode: str | None) -> None:
        self.continuation_mode = mode
        self.capabilities = Capabilities(chat=True, completions=self.completions,
                                         assistant_prefix=mode is not None and mode != "none",
                                         native_n=self.native_n, seed=True, continuation=mode or "none")

    @property
    def opens_think(self) -> bool:
        """Whether the chat template opens ``<think>`` in the generation prompt."""
        return bool(self.think is not None and self.think.in_prompt)

    @property
    def root_url(self) -> str:
        """The server root (the base URL without a trailing ``/v1``)."""
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    async def prepare(self, needs: Any = None) -> dict[str, Any]:
        """Pre-flight, before any item is run: learn what the server does and decide how to
        talk to it (:mod:`depthbench.baselines._probe`). A few probe calls of at most a few
        tokens are made; no item call.

        Parameters
        ----------
        needs : Needs, optional
            What the run's strategies need (continuation, native n); default everything.

        Returns
        -------
        dict
            The ``backend`` record of ``run.json``.

        Raises
        ------
        UserError
            A forced continuation mode the server lacks, a chat template that cannot be
            rendered, a reasoning delimiter absent from the template, a sampler setting or
            temperature the server cannot honour.
        """
        try:
            return await prepare_openai(self, needs)
        finally:
            await self.aclose()

    def describe(self) -> dict[str, Any]:
        """What was decided, JSON-ready (``run.json`` ``backend``, refreshed at the end of a run)."""
        sent = [f for f in ("temperature", "top_p", *openai_sampler_fields(self.sampler))
                if f not in self.dropped and f not in self.fixed_defaults]
        return {
            "kind": "openai",
            "continuation": {"mode": self.continuation_mode or "none", "setting": self.continuation_setting,
                             "detail": self.continuation_detail,
                             "chat_template": self.template.to_dict() if self.template is not None else None},
            "think": self.think.to_dict() if self.think is not None else None,
            "reasoning_field": self.reasoning_field,
            "sampler": {"requested": self.sampler.extras(), "sent": sent, "dropped": dict(self.dropped),
                        "server_fixed": dict(self.fixed_defaults)},
            "max_tokens_field": self.max_tokens_field,
            "native_n": self.native_n,
            "n_refused": self.n_refused,
        }

    def _adapt(self, body: dict[str, Any], refusal: ServerRefusal, temperature: float, top_p: float) -> bool:
        """Learn from a refusal: change how requests are built and return True to resend, or
        return False (the refusal stands). Raises :class:`UserError` when the run's settings
        cannot be honoured by this server."""
        text = refusal.text
        low = text.lower()
        if refusal.param == "n" and int(body.get("n") or 1) > 1:
            self.n_refused = text[:200]
            self.native_n = False
            self.capabilities = dataclasses.replace(self.capabilities, native_n=False)
            log.warning("%s: the server refuses n > 1 (%s); native n is off, fanning out one request per sample",
                        self.name, text[:120])
            return False
        named = [refusal.param] if refusal.param in body else []
        named += [k for k in body if k not in named and k not in ("model", "messages", "prompt", "stream")
                  and re.search(rf"(?<![\w]){re.escape(k)}(?![\w])", text)]
        if not named:
            return False
        changed = False
        for field in named:
            if field == "max_tokens" and "max_completion_tokens" in low and self.max_tokens_auto:
                self.max_tokens_field = "max_completion_tokens"
                self.dropped["max_tokens"] = f"renamed to max_completion_tokens (HTTP {refusal.status}: {text[:120]})"
                changed = True
            elif field in ("temperature", "top_p"):
                value = temperature if field == "temperature" else top_p
                if value != 1.0:
                    raise UserError(f"{SAMPLER_FLAGS[field]} {value:g}: --model {self.name} accepts only its default "
                                    f"{field} (the server said: {text[:160]}); rerun with {SAMPLER_FLAGS[field]} 1")
                self.fixed_defaults[field] = 1.0
                changed = True
            elif FIELD_OF.get(field) in NEUTRAL:
                sfield = FIELD_OF[field]
                value = getattr(self.sampler, sfield)
                if value != NEUTRAL[sfield]:
                    raise UserError(f"{SAMPLER_FLAGS[sfield]} {value:g}: --model {self.name} does not take {field} "
                                    f"(the server said: {text[:160]}); use the neutral value {NEUTRAL[sfield]:g} "
                                    "or a server that supports it")
                self.dropped[field] = f"HTTP {refusal.status}: {text[:120]}"
                changed = True
            elif field == "logprobs":
                self.dropped[field] = f"HTTP {refusal.status}: {text[:120]}"
                changed = True
        return changed

    def _sampler_body(self, request: Request) -> dict[str, Any]:
        """temperature, top_p and the sampler's extras, minus what the server refused."""
        out: dict[str, Any] = {}
        for field, value in (("temperature", request.temperature), ("top_p", request.top_p)):
            if field in self.fixed_defaults:
                if value != self.fixed_defaults[field]:
                    raise UserError(f"{SAMPLER_FLAGS[field]} {value:g}: --model {self.name} accepts only its default "
                                    f"{field} ({self.fixed_defaults[field]:g})")
                continue
            out[field] = value
        for field, value in openai_sampler_fields(self.sampler).items():
            if field not in self.dropped:
                out[field] = value
        return out

    def _reply_starts_inside(self, request: Request) -> bool:
        """Whether the text this request generates starts inside an open reasoning block."""
        t = self.think
        if t is None:
            return False
        if request.assistant_prefix is not None:
            return inside_thinking(request.assistant_prefix, t, t.in_prompt)
        return t.in_prompt

    def _continuation_body(self, request: Request, body: dict[str, Any]) -> tuple[str, str]:
        """Fill ``body`` for a continuation (messages + assistant_prefix) in the chosen mode;
        returns ``(path, kind)`` with kind ``chat``, ``completion`` or ``ollama``."""
        mode = self.continuation_mode
        msgs = [dict(m) for m in request.messages or ()]
        prefix = request.assistant_prefix or ""
        if mode in PREFILL_MODES:
            body["messages"] = continuation_messages(msgs, prefix)
            if mode == "continue_final_message":
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
            return "/chat/completions", "chat"
        if mode in ("template", "ollama_raw"):
            tmpl = self.template
            prompt = tmpl.raw_prompt(tmpl.continuation_prompt(msgs, prefix))
            stops = list(body.pop("stop", []))
            if tmpl.eos_token and tmpl.eos_token not in stops:
                stops.append(tmpl.eos_token)
            if mode == "template":
                body["prompt"] = prompt
                if stops:
                    body["stop"] = stops
                return "/completions", "completion"
            return self._ollama_body(body, prompt, stops)
        if self.continuation_setting == "auto" and mode is None:
            raise UserError(f"--model {self.name}: continuing an assistant turn needs a continuation mode; run "
                            "`depthbench doctor` or call prepare() first, or set --model-args continuation "
                            "(continue_final_message, assistant_prefill or template)")
        raise UserError(f"--model {self.name}: this server cannot continue an assistant turn (continuation mode "
                        f"'none'{': ' + self.continuation_detail if self.continuation_detail else ''}); use "
                        "budget_forcing:cap or revision@R, or give a chat template for the /completions route")

    def _ollama_body(self, body: dict[str, Any], prompt: str, stops: list[str]) -> tuple[str, str]:
        """Ollama's native ``/api/generate`` with ``raw: true``: the prompt is used as given
        (its OpenAI ``/v1/completions`` would wrap it in the model's template again) and the
        sampler goes in ``options``, where Ollama honours all of it."""
        options = {k: v for k, v in body.items() if k in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty",
                                                          "presence_penalty", "frequency_penalty", "seed")}
        options["num_predict"] = body.get(self.max_tokens_field, body.get("max_tokens"))
        if stops:
            options["stop"] = stops
        model = body["model"]
        body.clear()
        body.update({"model": model, "prompt": prompt, "raw": True, "stream": False, "options": options})
        return self.root_url + "/api/generate", "ollama"

    async def request_json(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                           validate: Callable[[Any], None] | None = None, retries: int | None = None,
                           server: Server | None = None, timeout: float | None = None) -> tuple[Any, int]:
        """One API call with the retry policy; returns ``(json, attempts)``.

        ``path`` is relative to a server's base URL (``"/chat/completions"``; the server is
        chosen per attempt, see :class:`~depthbench.baselines._http.ServerPool`) or an
        absolute URL (sent to that server). ``server`` pins the call to one server.

        Raises
        ------
        UserError
            On a 4xx answer other than 429 (bad model name, bad parameter).
        BackendError
            When every attempt failed.
        """
        pool = self._ensure_client()
        max_attempts = 1 + (self.retries if retries is None else retries)
        absolute = path.startswith(("http://", "https://"))
        pinned = server if server is not None else (pool.server_for(path) if absolute else None)
        payload = json.dumps(body).encode() if body is not None else b""
        extra = [(b"Content-Type", b"application/json"), (b"Content-Length", str(len(payload)).encode())] \
            if body is not None else []
        t = self.timeout if timeout is None else float(timeout)
        timeouts = {"connect": t, "read": t, "write": t, "pool": t}
        reason, url, srv = "", path, pinned
        for attempt in range(1, max_attempts + 1):
            srv, i = await pool.acquire(pinned)
            url = path if absolute else srv.base_url + path
            host = url.split("://", 1)[1].split("/", 1)[0].encode()
            auth = [(b"Authorization", srv.auth)] if srv.auth is not None and not self._has_auth else []
            try:
                try:
                    resp = await _within(t, srv.pools[i].request(
                        method, url, headers=[(b"Host", host), *self._headers, *auth, *extra], content=payload,
                        extensions={"timeout": timeouts}))
                finally:
                    await pool.release(srv, i)
                code = resp.status
                if code >= 400:
                    refused = _refusal(code, resp.content, url, self.name, body)
                    if refused is not None:  # a capability answer: never retried
                        raise refused
                if code == 429 or code >= 500:
                    ra = {k.lower(): v for k, v in resp.headers}.get(b"retry-after", b"").decode("latin-1")
                    raise _Retryable(f"HTTP {code}", float(ra) if ra and ra.replace(".", "", 1).isdigit() else None)
                try:
                    data = json.loads(resp.content)
                except ValueError:
                    raise _Retryable("malformed JSON") from None
                if validate is not None:
                    validate(data)
                return data, attempt
            except _Retryable as e:
                reason, retry_after = str(e), e.retry_after
            except httpcore.TimeoutException:
                reason, retry_after = f"timeout after {t:g} s", None
                pool.timed_out(srv)
            except (httpcore.NetworkError, httpcore.ProtocolError) as e:
                reason, retry_after = f"connection error: {type(e).__name__}: {e}", None
                if isinstance(e, httpcore.ConnectError) and pinned is None:
                    await pool.connection_failed(srv, reason, self._probe)
            if attempt == max_attempts:
                break
            delay = self._delay(attempt, retry_after)
            self._retry_log.warn(reason.split(":")[0], "%s %s attempt %d/%d failed (%s); retrying in %.2f s", method,
                                 url, attempt, max_attempts, reason, delay)
            await asyncio.sleep(delay)
        via = ""
        if srv is not None and srv.proxy:
            via = (f" (through the proxy {redact_url(srv.proxy)} from {srv.proxy_source}: check it, or bypass it "
                   f"with NO_PROXY={urllib.parse.urlsplit(srv.base_url).hostname})")
        raise BackendError(f"{method} {url} failed after {max_attempts} attempts: {reason}{via}")

    async def _probe(self, server: Server, timeout: float | None = None) -> bool:
        """Health check of one server: ``GET /models`` answers with JSON, within ``timeout``
        (default ``min(timeout, 10)``) seconds."""
        t = min(self.timeout, 10.0) if timeout is None else timeout
        try:
            await self.request_json("GET", "/models", retries=0, server=server, timeout=t)
            return True
        except (BackendError, UserError):
            return False

    async def preflight(self) -> None:
        """Check the servers answer before a run starts (``eval`` calls it before writing anything).

        Every base URL, one or several, gets one ``GET /models`` within ``min(timeout, 5)``
        seconds; nothing answering (connection refused, no route, no answer in time) fails fast
        with one line instead of every unit retrying against a dead address.

        Raises
        ------
        UserError
            A server cannot be reached or refuses the API key (exit status 1); with several,
            the message names the first such server and its position.
        """
        self._ensure_client()
        try:
            if len(self.base_urls) < 2:
                await self._reach(self.pool.servers[0])
                return
            t = min(self.timeout, 5.0)
            ok = await asyncio.gather(*(self._probe(s, timeout=t) for s in self.pool.servers))
        finally:
            await self.aclose()
        n = len(ok)
        for k, (s, good) in enumerate(zip(self.pool.servers, ok), 1):
            if not good:
                via = f" through the proxy {redact_url(s.proxy)} ({s.proxy_source})" if s.proxy else ""
                raise UserError(f"--base-url {s.base_url} (server {k} of {n}): unreachable{via}: GET /models did "
                                "not answer; start that server, fix the URL, or leave it out (nothing was run)",
                                exit_code=1)

    async def _reach(self, server: Server, connect_timeout: float = 5.0) -> None:
        """The one-server preflight: a single short ``GET /models`` (see :meth:`preflight`)."""
        t = min(self.timeout, connect_timeout)
        try:
            await self.request_json("GET", "/models", retries=0, server=server, timeout=t)
        except BackendError as e:
            why = str(e).rsplit("attempts: ", 1)[-1]
            raise UserError(f"--model {self.name}: cannot reach {server.base_url} ({why}); start the server or fix "
                            "--base-url / OPENAI_BASE_URL (nothing was run)", exit_code=1) from None
        except UserError as e:
            if "HTTP 401" in str(e) or "HTTP 403" in str(e):
                raise UserError(f"--model {self.name}: {server.base_url} refused the API key; set --api-key or "
                                "OPENAI_API_KEY", exit_code=1) from None
            # another 4xx (a server without /models): it answers, so the run may start

    def servers_info(self) -> list[dict[str, Any]]:
        """Per server: base URL, proxy (no credentials) and the requests sent so far."""
        return [s.info() for s in self.pool.servers]

    async def count_tokens(self, text: str) -> int:
        """Token count of ``text`` (see :meth:`count_text`); never raises for a missing tokenizer."""
        return (await self.count_text(text))[0]

    async def count_text(self, text: str) -> tuple[int, str]:
        """``(tokens of text, source)``: the server's ``/tokenize`` (``"server_tokenize"``), else
        the user's tokenizer (``"tokenizer"``), else the stated estimate (``"estimate"``).

        The ``/tokenize`` route is probed once (vLLM's and llama.cpp's paths); a server without
        it is not asked again.
        """
        if not self._tokenize_missing:
            n = await self._server_tokenize(text)
            if n is not None:
                return n, "server_tokenize"
        if self.tokenizer is not None:
            return int(self.tokenizer(text)), "tokenizer"
        return estimate_tokens(text), "estimate"

    async def _server_tokenize(self, text: str) -> int | None:
        self._ensure_client()
        live = self.pool.alive[0] if self.pool.alive else self.pool.servers[0]
        root, base = live.root, live.base_url
        routes = [root + self._tokenize_route] if self._tokenize_route else [
            f"{root}/tokenize", f"{root}/extras/tokenize", f"{base}/tokenize"]
        for url in routes:
            body = {"model": self.model_name, "prompt": text, "input": text, "content": text,
                    "add_special_tokens": False}
            try:
                data, _ = await self.request_json("POST", url, body, retries=1)
            except (UserError, BackendError):
                continue
            if isinstance(data, dict) and ("count" in data or "tokens" in data):
                self._tokenize_route = url[len(root):]
                return int(data["count"]) if "count" in data else len(data["tokens"])
        if self._tokenize_route is None:
            self._tokenize_missing = True
        return None

    # ------------------------------------------------------------------ generation
    def _body(self, request: Request, n: int, seed: int | None) -> tuple[str, dict[str, Any], str]:
        """``(path, body, kind)`` of one call; kind is ``chat``, ``completion`` or ``ollama``."""
        body: dict[str, Any] = {"model": self.model_name, self.max_tokens_field: request.max_tokens,
                                **self._sampler_body(request)}
        if seed is not None:
            body["seed"] = int(seed)
        if n > 1:
            body["n"] = n
            if "logprobs" not in self.dropped:
                body["logprobs"] = True if request.messages is not None else 0
        if request.stop:
            body["stop"] = list(request.stop)
        if request.messages is not None and request.assistant_prefix is not None:
            path, kind = self._continuation_body(request, body)
        elif request.messages is not None:
            body["messages"] = [dict(m) for m in request.messages]
            path, kind = "/chat/completions", "chat"
        else:
            if not self.completions:
                raise UserError(f"--model {self.name}: raw prompts need the /completions endpoint, which this "
                                "backend was told the server lacks (completions=False)")
            body["prompt"] = request.prompt
            path, kind = "/completions", "completion"
        if kind != "ollama":
            body.update(self.extra_body)
        return path, body, kind

    @staticmethod
    def _validate(kind: str) -> Callable[[Any], None]:
        def check(data: Any) -> None:
            if kind == "ollama":
                if not isinstance(data, dict) or not isinstance(data.get("response"), str):
                    raise _Retryable("malformed response: /api/generate without response")
                return
            if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
                raise _Retryable("malformed response: no choices")
            for ch in data["choices"]:
                if not isinstance(ch, dict):
                    raise _Retryable("malformed response: choice is not an object")
                if kind == "chat" and not isinstance(ch.get("message"), dict):
                    raise _Retryable("malformed response: chat choice without message")
                if kind != "chat" and not isinstance(ch.get("text"), str):
                    raise _Retryable("malformed response: completion choice without text")
            usage = data.get("usage")
            if usage is not None and not isinstance(usage, dict):
                raise _Retryable("malformed response: usage is not an object")
        return check

    @staticmethod
    def _from_ollama(data: dict[str, Any]) -> dict[str, Any]:
        """An ``/api/generate`` answer in the shape of a completion response."""
        usage = {k: data[src] for k, src in (("prompt_tokens", "prompt_eval_count"), ("completion_tokens", "eval_count"))
                 if isinstance(data.get(src), int)}
        return {"model": data.get("model"), "usage": usage or None,
                "choices": [{"index": 0, "text": data["response"], "finish_reason": data.get("done_reason")}]}

    @staticmethod
    def _logprob_count(ch: dict[str, Any]) -> int | None:
        lp = ch.get("logprobs")
        if not isinstance(lp, dict):
            return None
        if isinstance(lp.get("content"), list):
            return len(lp["content"])
        if isinstance(lp.get("tokens"), list):
            return len(lp["tokens"])
        return None

    def _message_text(self, message: dict[str, Any], starts_inside: bool) -> tuple[str, str | None]:
        """The generated text of a chat choice and the name of its reasoning field (if any).

        Reasoning given beside the content (``reasoning_content``, ``reasoning``) goes back
        between the delimiters, so nothing the model generated is lost or scored as the
        answer; ``content: null`` with reasoning is a reply still inside its thinking.
        """
        content = message.get("content")
        content = content if isinstance(content, str) else None
        for field in ("reasoning_content", "reasoning"):
            reasoning = message.get(field)
            if isinstance(reasoning, str) and reasoning:
                if self.reasoning_field is None:
                    self.reasoning_field = field
                return join_reasoning(reasoning, content, self.think, starts_inside), field
        return content or "", None

    async def _prompt_text_tokens(self, request: Request) -> tuple[int, str]:
        return await self.count_text(request.sent_text())

    async def _choice_counts(self, raw: list[dict[str, Any]], texts: list[str], usage_total: int | None,
                             max_tokens: int) -> tuple[list[int], str]:
        """Per-choice completion tokens when the server's usage cannot be used as is: logprobs,
        else :meth:`count_text`; checked against a summed ``usage_total`` (``"server_split"``).

        A choice cut by the length limit has exactly ``max_tokens`` tokens; no count exceeds it.
        """
        counts = [self._logprob_count(c) for c in raw]
        source = "logprobs"
        if any(x is None for x in counts):
            got = [await self.count_text(t) for t in texts]
            counts = [n for n, _ in got]
            source = got[0][1] if got else "estimate"
        counts = [max_tokens if _finish(c.get("finish_reason")) == "length" else min(int(n), max_tokens)
                  for c, n in zip(raw, counts)]
        if usage_total is not None and sum(counts) == usage_total:
            return counts, "server_split" if len(raw) > 1 else "server"
        if usage_total is not None and len(raw) > 1:
            log.warning("%s: per-choice counts %s do not add up to usage.completion_tokens=%d; logging %s counts",
                        self.name, counts, usage_total, source)
        return counts, source

    async def _post(self, request: Request, n: int, seeds: Sequence[int]) -> tuple[Any, int, str]:
        """POST one call, adapting to the server's refusals (:meth:`_adapt`); ``(data, attempts, kind)``."""
        for _ in range(12):  # each adaptation removes or renames a field, so this ends
            path, body, kind = self._body(request, n, seeds[0] if seeds else None)
            try:
                data, attempts = await self.request_json("POST", path, body, validate=self._validate(kind))
            except ServerRefusal as refusal:
                if not self._adapt(body, refusal, request.temperature, request.top_p):
                    raise
                continue
            return (self._from_ollama(data) if kind == "ollama" else data), attempts, kind
        raise UserError(f"--model {self.name}: the server kept refusing the request's fields; run `depthbench doctor`")

    async def _one_call(self, request: Request, n: int, seeds: Sequence[int]) -> tuple[list[Choice], int, str, int, str]:
        """One HTTP call for ``n`` choices; returns (choices, prompt_tokens, prompt_source, attempts, model)."""
        data, attempts, kind = await self._post(request, n, seeds)
        chat = kind == "chat"
        raw = sorted(data["choices"], key=lambda c: c.get("index", 0))[:n]
        inside = self._reply_starts_inside(request)
        parsed = [self._message_text(c["message"], inside) if chat else (c["text"], None) for c in raw]
        texts = [t for t, _ in parsed]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        ct = usage.get("completion_tokens")
        pt = usage.get("prompt_tokens")
        ct = ct if isinstance(ct, int) and not isinstance(ct, bool) and ct >= 0 else None
        details = usage.get("completion_tokens_details")
        rt = details.get("reasoning_tokens") if isinstance(details, dict) else None
        rt = rt if isinstance(rt, int) and not isinstance(rt, bool) and rt >= 0 else None
        if len(raw) == 1 and ct is not None:
            # OpenAI's rule: completion_tokens includes reasoning_tokens; a server that counts
            # them apart (more reasoning than completion tokens) gets them added back
            counts, source = [ct + rt if rt is not None and rt > ct else ct], "server"
        else:
            counts, source = await self._choice_counts(raw, texts, ct, request.max_tokens)
        if isinstance(pt, int) and not isinstance(pt, bool) and pt >= 0:
            prompt_tokens, psource = pt, "server"
        else:
            prompt_tokens, psource = await self._prompt_text_tokens(request)
        seed_of = [seeds[0]] * len(raw) if seeds else [None] * len(raw)
        choices = [Choice(text=t, finish_reason=_finish(c.get("finish_reason")), completion_tokens=int(k),
                          token_source=source, seed=s, reasoning_field=f,
                          reasoning_tokens=rt if len(raw) == 1 else None)
                   for (t, f), c, k, s in zip(parsed, raw, counts, seed_of)]
        return choices, int(prompt_tokens), psource, attempts, str(data.get("model") or self.model_name)

    async def generate(self, request: Request) -> Response:
        """Run one request (see :class:`~depthbench.baselines.Model`).

        Raises
        ------
        UserError
            Configuration errors (bad model name, unsupported continuation, a setting the
            server cannot honour).
        BackendError
            The server kept failing after all retries.
        """
        t0 = time.perf_counter()
        choices: list[Choice] = []
        attempts = 0
        native = self.native_n and request.n > 1
        if native:
            try:
                got, pt, ps, attempts, model = await self._one_call(request, request.n, request.seeds)
            except ServerRefusal as e:
                if e.param != "n":
                    raise
                native = False  # _adapt turned native n off: fan out instead
            else:
                choices.extend(got)
                if len(choices) < request.n:
                    log.warning("%s: asked for n=%d, server returned %d choices; fanning out the rest",
                                self.name, request.n, len(choices))
        if not native:
            pt, ps, model = 0, "server", self.model_name
        rest = list(request.seeds[len(choices):])
        if rest:
            results = await asyncio.gather(*(self._one_call(request, 1, [s]) for s in rest))
            for got, p, s, a, m in results:
                choices.extend(got)
                attempts = max(attempts, a)
            if not native:
                pt, ps, model = results[0][1], results[0][2], results[0][4]
        return Response(choices=tuple(choices), prompt_tokens=pt, prompt_token_source=ps,
                        latency_s=time.perf_counter() - t0, attempts=attempts, model=model)

    async def list_models(self) -> list[dict[str, Any]]:
        """``GET /models`` -> the list of model objects."""
        def check(d: Any) -> None:
            if not isinstance(d, dict) or not isinstance(d.get("data"), list):
                raise _Retryable("malformed /models response")

        data, _ = await self.request_json("GET", "/models", validate=check)
        return list(data["data"])

    async def aclose(self) -> None:
        """Close the HTTP connection pools (and log the retry warnings still held back)."""
        self._retry_log.flush(self.name)
        if self._loop is not None:
            self._loop = None
            await self.pool.close()


async def _doctor_checks(model: OpenAICompatibleModel) -> list[Check]:
    rows: list[Check] = []
    t0 = time.perf_counter()
    try:
        listed = await model.list_models()
    except BackendError as e:
        rows.append(Check("reachable", "fail", "no", f"{model.base_url}: {e}"))
        return rows
    rows.append(Check("reachable", "ok", "yes", f"{model.base_url} ({(time.perf_counter() - t0) * 1000:.0f} ms)"))
    ids = [str(m.get("id")) for m in listed]
    if model.model_name in ids:
        rows.append(Check("model name", "ok", model.model_name, "listed by /models"))
    else:
        rows.append(Check("model name", "warn", model.model_name,
                          f"not listed; served: {', '.join(ids[:5]) or 'none'} (single-model servers may accept any name)"))
    ctx = next((m.get("max_model_len") or m.get("context_length") for m in listed
                if str(m.get("id")) == model.model_name), None)
    if ctx is None:
        root = model.base_url[: -len("/v1")] if model.base_url.endswith("/v1") else model.base_url
        try:
            props, _ = await model.request_json("GET", f"{root}/props", retries=0)
            ctx = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")
        except (UserError, BackendError):
            ctx = None
    rows.append(Check("context length", "ok" if ctx else "info", f"{ctx} tokens" if ctx else "unknown",
                      "" if ctx else "server does not report it; keep prompt + budget below the model's limit"))

    # usage and seed, through the backend (fan-out path, one seed per call)
    try:
        a = (await model.generate(probe_request(1234))).choices[0]
        b = (await model.generate(probe_request(1234))).choices[0]
        c = (await model.generate(probe_request(98765))).choices[0]
    except BackendError as e:
        rows.append(Check("chat completions", "fail", "error", str(e)))
        return rows
    rows.append(Check("chat completions", "ok", "yes", f"{a.completion_tokens} tokens, finish {a.finish_reason}"))
    rows.extend(await _usage_checks(model, a.token_source))
    rows.append(seed_check(a.text, b.text, c.text))

    # native n: raw call to see what the server does with n
    body = {"model": model.model_name, "messages": [{"role": "user", "content": PROBE}], "max_tokens": 16,
            "temperature": 1.0, "top_p": 1.0, "seed": 7, "n": 3}
    try:
        data, _ = await model.request_json("POST", "/chat/completions", body, retries=1)
    except (UserError, BackendError) as e:
        said = getattr(e, "text", None) or str(e)  # a ServerRefusal carries the server's own words
        rows.append(Check("supports n", "info", "no", f"n=3 refused ({said[:100]}); depthbench fans out, "
                                                      "and eval turns --native-n off after one such refusal"))
    else:
        rows.append(await _n_check(model, data))

    try:
        r = await model.generate(Request(max_tokens=8, temperature=1.0, top_p=1.0, seeds=(3,),
                                         prompt="1, 2, 3, 4,"))
        rows.append(Check("raw completions", "ok", "yes",
                          f"/completions works ({r.choices[0].completion_tokens} tokens): the template route "
                          "for continuations"))
    except (UserError, BackendError) as e:
        rows.append(Check("raw completions", "info", "no",
                          f"{str(e)[:100]}; continuations need a prefill mode here (see continuation)"))
    rows += await _preflight_rows(model)
    return rows


async def _usage_checks(model: Any, source: str) -> list[Check]:
    """``returns usage`` and, without usage, where depthbench's counts will come from."""
    if source == "server":
        return [Check("returns usage", "ok", "yes", "per-call usage")]
    _, how = await model.count_text("Count from one to twenty.")
    detail = {"server_tokenize": "counted by the server's /tokenize (exact)",
              "tokenizer": "counted with the --tokenizer given (exact if it is the model's)",
              "estimate": "no /tokenize and no --tokenizer: counts are an estimate (about 4 bytes per token); "
                          "pass eval --tokenizer PATH_OR_GGUF"}.get(how, how)
    return [Check("returns usage", "warn", "no", "responses carry no usage; the run goes on"),
            Check("token counts", "ok" if how != "estimate" else "warn", how, detail)]


async def _n_check(model: Any, data: Any) -> Check:
    """What the server did with ``n=3``: choices returned, and whether usage is their sum."""
    got = data.get("choices") if isinstance(data, dict) else None
    got = got if isinstance(got, list) else []
    if len(got) < 2:
        return Check("supports n", "info", "no", f"n=3 returned {len(got)} choice(s); depthbench fans out with one "
                                                 "seed per sample (the default)")
    usage = (data.get("usage") or {}).get("completion_tokens") if isinstance(data.get("usage"), dict) else None
    # the whole generation of each choice, reasoning fields joined back (they count in usage)
    counted = [await model.count_text(model._message_text(ch.get("message") or {}, False)[0])
               if isinstance(ch, dict) and isinstance(ch.get("message") or {}, dict) else (0, "estimate")
               for ch in got]
    counts = [n for n, _ in counted]
    exact = all(src != "estimate" for _, src in counted)
    if not isinstance(usage, int):
        how = "no usage: each choice is counted on its own"
    elif not exact:
        how = f"usage.completion_tokens={usage} (no exact per-choice count to compare with)"
    elif abs(usage - sum(counts)) <= 3:
        how = f"usage.completion_tokens={usage} = sum of the choices {counts}: summed over n (split per choice)"
    else:
        how = f"usage.completion_tokens={usage}, choices count {counts}: not a sum"
    return Check("supports n", "ok", "yes", f"n=3 returned {len(got)} choices; {how}; enable with eval --native-n")


async def _preflight_rows(model: Any) -> list[Check]:
    """What ``eval``'s pre-flight finds (:func:`depthbench.baselines.backends._preflight.prepare_openai`)."""
    rows: list[Check] = []
    try:
        rec = await prepare_openai(model, Needs(continuation=True, temperature=1.0, top_p=1.0))
    except UserError as e:
        return [Check("pre-flight", "fail", "refused", str(e))]
    tmpl = (rec.get("continuation") or {}).get("chat_template")
    rows.append(Check("chat template", "ok" if tmpl else "info", "known" if tmpl else "unknown",
                      rec.get("chat_template_note", "")))
    think = rec.get("think")
    rows.append(Check("reasoning", "info", "<think>" if think else "none",
                      (f"delimiters from {think['source']}" + ("; the template opens <think> in the prompt"
                                                               if think["in_prompt"] else "")
                       + (f"; reasoning returned in message.{rec['reasoning_field']}" if rec.get("reasoning_field")
                          else "")) if think else "no <think> in the template and no reasoning field in replies"))
    smp = rec.get("sampler") or {}
    dropped = smp.get("dropped") or {}
    rows.append(Check("sampler fields", "ok" if not dropped else "info",
                      "all taken" if not dropped else f"{len(dropped)} dropped",
                      f"sends {', '.join(smp.get('sent') or [])}"
                      + (f"; dropped (neutral values, the server refused them): {', '.join(dropped)}" if dropped else "")
                      + f"; length field {rec.get('max_tokens_field')}"))
    defaults = rec.get("server_defaults")
    rows.append(Check("server defaults", "info", "read" if defaults else "unknown",
                      ", ".join(f"{k} {v}" for k, v in defaults.items()) + " (depthbench overrides them)"
                      if defaults else "not reported (no llama.cpp /props); depthbench sends every sampler field"))
    try:
        await model.generate(Request(max_tokens=1, temperature=0.7, top_p=1.0, seeds=(3,),
                                     messages=({"role": "user", "content": PROBE},)))
        rows.append(Check("temperature", "ok", "free", "any --temperature is sent as given"))
    except UserError as e:
        rows.append(Check("temperature", "warn", "fixed", f"{str(e)[:160]}"))
    except BackendError as e:
        rows.append(Check("temperature", "warn", "unknown", str(e)[:120]))
    cont = rec.get("continuation") or {}
    mode = cont.get("mode", "none")
    rows.append(Check("continuation", "ok" if mode != "none" else "warn", mode, cont.get("detail", "")))
    rows.append(strategies_check(model.capabilities))
    return rows
