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
  (``/completions``) for ``Request.prompt`` -- the reliable path for continuation.
  A chat ``assistant_prefix`` is sent as a trailing assistant message with
  ``continue_final_message: true, add_generation_prompt: false`` (vLLM) only when the
  backend is created with ``continue_final_message=True``; otherwise it is refused
  (never silently dropped).
* ``temperature``, ``top_p`` and ``seed`` are always sent.
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
  stated estimate of :func:`~depthbench.baselines._tokenizer.estimate_tokens` (source
  ``"estimate"``). A completion cut by the length limit has exactly ``max_tokens`` tokens,
  and no count is taken above ``max_tokens`` (the server cannot have generated more).
* Deadlines: ``timeout`` bounds each whole attempt (connect, send, every read of a body
  that trickles in), not each socket read. :meth:`probe` checks the server answers at all
  with one short connection attempt, so ``eval`` fails fast against a dead address.
* At most ``concurrency`` requests in flight (an ``asyncio.Semaphore``).
* Retries on HTTP 429 and 5xx, timeouts, connection errors and malformed JSON, with
  exponential backoff and full jitter (``Retry-After`` honoured); retries are logged on
  the ``depthbench.baselines.openai`` logger, the same failure at most once per 10 s (then a
  count of the repeats). Other 4xx answers are configuration errors
  (:class:`~depthbench.errors.UserError`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import json

import httpcore

from depthbench.baselines._http import Server, ServerPool, redact_url
from depthbench.baselines._protocol import BackendError, Capabilities, Choice, Request, Response
from depthbench.errors import UserError

__all__ = ["OpenAICompatibleModel", "normalise_base_url", "split_base_urls"]

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


def normalise_base_url(url: str) -> str:
    """``http://host:port`` or ``http://host:port/v1`` -> ``http://host:port/v1`` (no trailing slash).

    Raises
    ------
    UserError
        If ``url`` is not an http(s) URL.
    """
    url = (url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UserError(f"--base-url {url!r}: must start with http:// or https://, e.g. http://127.0.0.1:8000/v1")
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
    for u in urls:
        if urls.count(u) > 1:
            raise UserError(f"--base-url {u}: given twice; list each server once")
    return urls


def _finish(reason: Any) -> str:
    if reason == "length":
        return "length"
    if reason in ("error", "abort"):
        return "error"
    return "stop"


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
        The server offers ``/completions`` (raw prompts).
    continue_final_message : bool
        The server continues a trailing assistant message (vLLM flag of that name).
    tokenizer : callable or str, optional
        ``text -> token count``, or a path of a ``.gguf`` / ``tokenizer.json`` (or
        ``"smollm2"``) opened with :func:`~depthbench.baselines._tokenizer.load_tokenizer`;
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
                 jitter_seed: int | None = None, opens_think: bool = False) -> None:
        #: the server's chat template opens ``<think>`` in the prompt (scoring reads past ``</think>``)
        self.opens_think = bool(opens_think)
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
        self.base_urls = split_base_urls(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        if not self.base_urls:
            raise UserError("--base-url: no server URL given; e.g. --base-url http://127.0.0.1:8000/v1")
        self.base_url = self.base_urls[0]
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
            from depthbench.baselines._tokenizer import load_tokenizer

            tokenizer = load_tokenizer(tokenizer, what="--tokenizer")
        self.tokenizer = tokenizer
        if extra_body is not None and not isinstance(extra_body, dict):
            raise UserError(f"--extra-body: must be a JSON object, got {type(extra_body).__name__}")
        self.extra_body = dict(extra_body or {})
        if headers is not None and not (isinstance(headers, dict)
                                        and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
            raise UserError('--model-args headers: must be an object of strings, e.g. {"X-Route": "a"}')
        self.headers = dict(headers or {})
        self.pool = ServerPool(self.base_urls, concurrency=self.concurrency, proxy=proxy, trust_env=bool(trust_env),
                               reprobe_s=reprobe_s)
        self.capabilities = Capabilities(chat=True, completions=self.completions,
                                         assistant_prefix=self.continue_final_message,
                                         native_n=self.native_n, seed=True)
        self._jitter = random.Random(jitter_seed)
        self._headers: list[tuple[bytes, bytes]] = []
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
            self._loop = loop
        return self.pool

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        d = self._jitter.uniform(0, cap)
        if retry_after is not None:
            d = max(d, min(retry_after, self.backoff_max))
        return d

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
            try:
                try:
                    resp = await _within(t, srv.pools[i].request(
                        method, url, headers=[(b"Host", host), *self._headers, *extra], content=payload,
                        extensions={"timeout": timeouts}))
                finally:
                    await pool.release(srv, i)
                code = resp.status
                if code == 429 or code >= 500:
                    ra = {k.lower(): v for k, v in resp.headers}.get(b"retry-after", b"").decode("latin-1")
                    raise _Retryable(f"HTTP {code}", float(ra) if ra and ra.replace(".", "", 1).isdigit() else None)
                if code >= 400:
                    raise UserError(f"--model {self.name}: {url} answered HTTP {code}: "
                                    f"{resp.content[:200].decode('utf-8', 'replace').strip()}")
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
                   f"with NO_PROXY={srv.base_url.split('://', 1)[1].split('/', 1)[0].split(':')[0]})")
        raise BackendError(f"{method} {url} failed after {max_attempts} attempts: {reason}{via}")

    async def _probe(self, server: Server) -> bool:
        """Health check of one server: ``GET /models`` answers with JSON, within 10 s."""
        try:
            await self.request_json("GET", "/models", retries=0, server=server, timeout=min(self.timeout, 10.0))
            return True
        except (BackendError, UserError):
            return False

    async def preflight(self) -> None:
        """Check the servers answer before a run starts (``eval`` calls it before writing anything).

        One base URL: one ``GET /models`` within ``min(timeout, 5)`` seconds; nothing answering
        (connection refused, no route, no answer in time) fails fast with one line instead of
        every unit retrying against a dead address. Several: each must answer ``GET /models``.

        Raises
        ------
        UserError
            One server: it cannot be reached or refuses the API key (exit status 1). Several:
            naming the first unreachable server (exit status 2).
        """
        self._ensure_client()
        try:
            if len(self.base_urls) < 2:
                await self._reach(self.pool.servers[0])
                return
            ok = await asyncio.gather(*(self._probe(s) for s in self.pool.servers))
        finally:
            await self.aclose()
        n = len(ok)
        for k, (s, good) in enumerate(zip(self.pool.servers, ok), 1):
            if not good:
                via = f" through the proxy {redact_url(s.proxy)} ({s.proxy_source})" if s.proxy else ""
                raise UserError(f"--base-url {s.base_url} (server {k} of {n}): unreachable{via}: GET /models did "
                                "not answer; start that server, fix the URL, or leave it out")

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
        from depthbench.baselines._tokenizer import estimate_tokens

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
    def _body(self, request: Request, n: int, seed: int | None) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model_name, "max_tokens": request.max_tokens,
                                "temperature": request.temperature, "top_p": request.top_p}
        if seed is not None:
            body["seed"] = int(seed)
        if n > 1:
            body["n"] = n
            body["logprobs"] = True if request.messages is not None else 0
        if request.stop:
            body["stop"] = list(request.stop)
        if request.messages is not None:
            msgs = [dict(m) for m in request.messages]
            if request.assistant_prefix is not None:
                if not self.continue_final_message:
                    raise UserError(f"--model {self.name}: this backend was not told the server continues an "
                                    "assistant prefix; send a raw prompt (completions) or pass "
                                    "continue_final_message=True")
                msgs.append({"role": "assistant", "content": request.assistant_prefix})
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
            body["messages"] = msgs
            path = "/chat/completions"
        else:
            if not self.completions:
                raise UserError(f"--model {self.name}: raw prompts need the /completions endpoint, which this "
                                "backend was told the server lacks (completions=False)")
            body["prompt"] = request.prompt
            path = "/completions"
        body.update(self.extra_body)
        return path, body

    @staticmethod
    def _validate(chat: bool) -> Callable[[Any], None]:
        def check(data: Any) -> None:
            if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
                raise _Retryable("malformed response: no choices")
            for ch in data["choices"]:
                if not isinstance(ch, dict):
                    raise _Retryable("malformed response: choice is not an object")
                if chat and not isinstance(ch.get("message"), dict):
                    raise _Retryable("malformed response: chat choice without message")
                if not chat and not isinstance(ch.get("text"), str):
                    raise _Retryable("malformed response: completion choice without text")
            usage = data.get("usage")
            if usage is not None and not isinstance(usage, dict):
                raise _Retryable("malformed response: usage is not an object")
        return check

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

    async def _prompt_text_tokens(self, request: Request) -> tuple[int, str]:
        if request.messages is not None:
            text = "\n".join(str(m.get("content", "")) for m in request.messages) + (request.assistant_prefix or "")
        else:
            text = request.prompt or ""
        return await self.count_text(text)

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

    async def _one_call(self, request: Request, n: int, seeds: Sequence[int]) -> tuple[list[Choice], int, str, int, str]:
        """One HTTP call for ``n`` choices; returns (choices, prompt_tokens, prompt_source, attempts, model)."""
        path, body = self._body(request, n, seeds[0] if seeds else None)
        chat = request.messages is not None
        data, attempts = await self.request_json("POST", path, body, validate=self._validate(chat))
        raw = sorted(data["choices"], key=lambda c: c.get("index", 0))[:n]
        texts = [(c["message"].get("content") or "") if chat else c["text"] for c in raw]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        ct = usage.get("completion_tokens")
        pt = usage.get("prompt_tokens")
        ct = ct if isinstance(ct, int) and not isinstance(ct, bool) and ct >= 0 else None
        if len(raw) == 1 and ct is not None:
            counts, source = [ct], "server"
        else:
            counts, source = await self._choice_counts(raw, texts, ct, request.max_tokens)
        if isinstance(pt, int) and not isinstance(pt, bool) and pt >= 0:
            prompt_tokens, psource = pt, "server"
        else:
            prompt_tokens, psource = await self._prompt_text_tokens(request)
        seed_of = [seeds[0]] * len(raw) if seeds else [None] * len(raw)
        choices = [Choice(text=t, finish_reason=_finish(c.get("finish_reason")), completion_tokens=int(k),
                          token_source=source, seed=s)
                   for t, c, k, s in zip(texts, raw, counts, seed_of)]
        return choices, int(prompt_tokens), psource, attempts, str(data.get("model") or self.model_name)

    async def generate(self, request: Request) -> Response:
        """Run one request (see :class:`~depthbench.baselines.Model`).

        Raises
        ------
        UserError
            Configuration errors (bad model name, unsupported continuation).
        BackendError
            The server kept failing after all retries.
        """
        t0 = time.perf_counter()
        choices: list[Choice] = []
        attempts = 0
        if self.native_n and request.n > 1:
            got, pt, ps, attempts, model = await self._one_call(request, request.n, request.seeds)
            choices.extend(got)
            if len(choices) < request.n:
                log.warning("%s: asked for n=%d, server returned %d choices; fanning out the rest",
                            self.name, request.n, len(choices))
        else:
            pt, ps, model = 0, "server", self.model_name
        rest = list(request.seeds[len(choices):])
        if rest:
            results = await asyncio.gather(*(self._one_call(request, 1, [s]) for s in rest))
            for got, p, s, a, m in results:
                choices.extend(got)
                attempts = max(attempts, a)
            if not (self.native_n and request.n > 1):
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
