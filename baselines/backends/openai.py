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
  by counting each choice (its logprobs if returned, else the server's ``/tokenize``
  endpoint or a given tokenizer) and checking the counts add up to the usage: then the
  source is ``"server_split"``, otherwise ``"tokenizer"`` (and a warning is logged).
* At most ``concurrency`` requests in flight (an ``asyncio.Semaphore``).
* Retries on HTTP 429 and 5xx, timeouts, connection errors and malformed JSON, with
  exponential backoff and full jitter (``Retry-After`` honoured); each retry is logged on
  the ``depthbench.baselines.openai`` logger. Other 4xx answers are configuration errors
  (:class:`~depthbench.errors.UserError`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from depthbench._lazy import lazy
from depthbench.baselines._http import Server, ServerPool, redact_url
from depthbench.baselines._probe import PROBE, Check, probe_request, seed_check
from depthbench.baselines._protocol import BackendError, Capabilities, Choice, Request, Response
from depthbench.baselines.backends._base import backend
from depthbench.errors import UserError

httpcore = lazy("httpcore")  # imported when the first request is sent (CLI start-up stays fast)
asyncio = lazy("asyncio")
__all__ = ["OpenAICompatibleModel", "normalise_base_url", "split_base_urls"]

log = logging.getLogger("depthbench.baselines.openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"


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
            got = [Check(f"{r.name} [server {k}/{len(urls)}]", r.status, r.value, r.detail) for r in got]
        rows += got
    return rows


@backend("openai", forms=("openai:MODEL",), remote=True, model_in_spec=True, token_source="server, server_split or tokenizer",
         summary="any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI)",
         options={"native_n": "ask the server for n choices in one request (default: fan out, one seed per sample)",
                  "completions": "use /completions for raw prompts (default true)",
                  "continue_final_message": "send assistant prefixes as a final assistant message (vLLM)",
                  "backoff_base": "first retry delay bound in seconds (default 0.5)",
                  "backoff_max": "largest retry delay in seconds (default 20)",
                  "tokenizer": "callable text -> tokens for per-choice counts",
                  "extra_body": "extra JSON fields sent with every request (eval --extra-body)",
                  "headers": "extra HTTP headers (an object of strings)",
                  "proxy": "HTTP or SOCKS proxy URL (default: from the environment)",
                  "trust_env": "read proxies from the environment (default true)",
                  "reprobe_s": "seconds before a server that went down is probed again (default 30)",
                  "opens_think": "the chat template opens <think> in the prompt (eval --think-open)"},
         doctor=_doctor)
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
    tokenizer : callable, optional
        ``text -> token count``, used when usage must be split or is missing; default the
        server's ``/tokenize`` endpoint (vLLM, llama.cpp).
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
                 continue_final_message: bool = False, tokenizer: Callable[[str], int] | None = None,
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
                    resp = await srv.pools[i].request(method, url, headers=[(b"Host", host), *self._headers, *extra],
                                                      content=payload, extensions={"timeout": timeouts})
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
            log.warning("%s %s attempt %d/%d failed (%s); retrying in %.2f s", method, url,
                        attempt, max_attempts, reason, delay)
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
        """Check every server of a multi-server model before a run starts.

        With one base URL nothing is checked (a dead server fails the run's first calls
        after their retries, as before). With several, each must answer ``GET /models``.

        Raises
        ------
        UserError
            Naming the first unreachable server (exit status 2).
        """
        if len(self.base_urls) < 2:
            return
        self._ensure_client()
        try:
            ok = await asyncio.gather(*(self._probe(s) for s in self.pool.servers))
        finally:
            await self.aclose()
        n = len(ok)
        for k, (s, good) in enumerate(zip(self.pool.servers, ok), 1):
            if not good:
                via = f" through the proxy {redact_url(s.proxy)} ({s.proxy_source})" if s.proxy else ""
                raise UserError(f"--base-url {s.base_url} (server {k} of {n}): unreachable{via}: GET /models did "
                                "not answer; start that server, fix the URL, or leave it out")

    def servers_info(self) -> list[dict[str, Any]]:
        """Per server: base URL, proxy (no credentials) and the requests sent so far."""
        return [s.info() for s in self.pool.servers]

    async def count_tokens(self, text: str) -> int:
        """Token count of ``text`` by the given tokenizer or the server's tokenize endpoint.

        Raises
        ------
        UserError
            If no tokenizer is available.
        """
        if self.tokenizer is not None:
            return int(self.tokenizer(text))
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
        raise UserError(f"--model {self.name}: per-choice token counts need a tokenizer, and the server has no "
                        "/tokenize endpoint; use native_n=False (the default) or pass tokenizer=")

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

    async def _prompt_text_tokens(self, request: Request) -> int:
        if request.messages is not None:
            text = "\n".join(str(m.get("content", "")) for m in request.messages) + (request.assistant_prefix or "")
        else:
            text = request.prompt or ""
        return await self.count_tokens(text)

    async def _one_call(self, request: Request, n: int, seeds: Sequence[int]) -> tuple[list[Choice], int, str, int, str]:
        """One HTTP call for ``n`` choices; returns (choices, prompt_tokens, prompt_source, attempts, model)."""
        path, body = self._body(request, n, seeds[0] if seeds else None)
        chat = request.messages is not None
        data, attempts = await self.request_json("POST", path, body, validate=self._validate(chat))
        raw = sorted(data["choices"], key=lambda c: c.get("index", 0))[:n]
        texts = [(c["message"].get("content") or "") if chat else c["text"] for c in raw]
        usage = data.get("usage") or {}
        ct = usage.get("completion_tokens")
        pt = usage.get("prompt_tokens")
        if len(raw) == 1 and isinstance(ct, int):
            counts, source = [ct], "server"
        else:
            counts = [self._logprob_count(c) for c in raw]
            if any(x is None for x in counts):
                counts = [await self.count_tokens(t) for t in texts]
            if isinstance(ct, int) and sum(counts) == ct:
                source = "server_split" if len(raw) > 1 else "server"
            else:
                source = "tokenizer"
                if isinstance(ct, int):
                    log.warning("%s: per-choice counts %s do not add up to usage.completion_tokens=%d; "
                                "logging tokenizer counts", self.name, counts, ct)
        if isinstance(pt, int):
            prompt_tokens, psource = pt, "server"
        else:
            prompt_tokens, psource = await self._prompt_text_tokens(request), "tokenizer"
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
        """Close the HTTP connection pools."""
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
    rows.append(Check("returns usage", "ok" if a.token_source == "server" else "warn",
                      "yes" if a.token_source == "server" else "no",
                      "per-call usage" if a.token_source == "server" else "counts come from /tokenize instead"))
    rows.append(seed_check(a.text, b.text, c.text))

    # native n: raw call to see what the server does with n
    body = {"model": model.model_name, "messages": [{"role": "user", "content": PROBE}], "max_tokens": 16,
            "temperature": 1.0, "top_p": 1.0, "seed": 7, "n": 3}
    try:
        data, _ = await model.request_json("POST", "/chat/completions", body, retries=1)
        got = data.get("choices") or []
        if len(got) == 3:
            usage = (data.get("usage") or {}).get("completion_tokens")
            counts = []
            for ch in got:
                counts.append(await model.count_tokens((ch.get("message") or {}).get("content") or ""))
            summed = isinstance(usage, int) and abs(usage - sum(counts)) <= 3
            rows.append(Check("supports n", "ok", "yes",
                              f"usage.completion_tokens={usage}, choices tokenise to {counts}: "
                              + ("summed over n (split per choice by depthbench)" if summed else "not a sum")
                              + "; enable with eval --native-n"))
        else:
            rows.append(Check("supports n", "info", "no", f"n=3 returned {len(got)} choice(s); depthbench fans out "
                                                          "with one seed per sample (the default)"))
    except (UserError, BackendError) as e:
        rows.append(Check("supports n", "info", "no", f"n=3 rejected ({str(e)[:80]}); depthbench fans out"))

    try:
        r = await model.generate(Request(max_tokens=8, temperature=1.0, top_p=1.0, seeds=(3,),
                                         prompt="1, 2, 3, 4,"))
        rows.append(Check("raw completions", "ok", "yes",
                          f"/completions works ({r.choices[0].completion_tokens} tokens): continuation path for budget forcing"))
    except (UserError, BackendError) as e:
        rows.append(Check("raw completions", "warn", "no", f"{str(e)[:100]}; pass completions=False"))
    return rows
