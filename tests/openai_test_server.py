"""A small OpenAI-compatible HTTP server for tests and benchmarks (127.0.0.1 only).

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) on an asyncio loop in
a background thread to serve:

``GET  /v1/models``           one model, with ``max_model_len`` (vLLM style)
``POST /v1/chat/completions`` chat, rendered with a ChatML-like template (:data:`STUB_TEMPLATE`)
``POST /v1/completions``      raw completions (404 with ``completions=False``: a chat-only API)
``POST /tokenize``            vLLM style ``{"prompt": ...} -> {"count": ..., "tokens": [...]}``
``GET  /props``               llama.cpp style, when ``props`` is given
``GET  /api/version``, ``POST /api/generate``   Ollama's native API, with ``ollama=True``

Server shapes for the continuation contract and its quirks (what one real server cannot
show): ``prefill`` = ``"trailing"`` (llama.cpp: a trailing assistant message is continued),
``"flag"`` (vLLM: only with ``continue_final_message: true, add_generation_prompt: false``)
or None (the message is closed and a new turn opened); ``reasoning`` =
``"reasoning_content"`` / ``"reasoning"`` (a reply's ``<think>`` block moves to that field,
``content`` null when the reply ends inside it); ``n_refused`` (HTTP 500 "Only one
completion choice is allowed", llama.cpp's C++ server); ``reject`` (field -> (status,
message): OpenAI's 400s on ``max_tokens``, a non-default ``temperature``, unknown fields); ``lie_tokens`` (a server
that ignores ``max_tokens`` and reports that many completion tokens, whatever it sent); ``lie_prompt_tokens`` (a
server that reports that many prompt tokens, whatever it was sent).

Generated text is deterministic in (seed, prompt, choice index) unless ``honour_seed``
is off; a token is a whitespace-separated word (``/tokenize`` too), so ``usage`` is exact,
except that a prompt is never counted under depthbench's floor (:func:`stub_tokens`): a
punctuation-dense prompt holds more tokens than words on any real tokenizer, and an honest
server must not look like one that understates its processed tokens. Fault injection:
a seeded fraction of POST calls fails with 429, 500, a hang longer than the client's
timeout, or malformed JSON. ``sum_usage_over_n`` reports one usage summed over the ``n``
choices, as vLLM does. The server stops itself after ``lifetime_s`` seconds.

Use :class:`OpenAITestServer` as a context manager::

    with OpenAITestServer(fault_rate=0.2) as srv:
        base_url = srv.base_url      # "http://127.0.0.1:PORT/v1"
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["OpenAITestServer", "default_responder", "stub_tokens"]

_WORDS = ("think", "step", "carry", "value", "node", "check", "so", "then", "next", "path", "sum", "edge")
FAULT_KINDS = ("429", "500", "timeout", "malformed")
#: opt-in fault kinds (not in the default mix): "trickle" sends a good response one byte every ``trickle_s``
EXTRA_FAULT_KINDS = ("trickle",)

#: the stub's chat template (Jinja2, for clients that render it): one token = one word
STUB_TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


def render_stub_chat(messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    """:data:`STUB_TEMPLATE` rendered in plain Python (what the stub server's chat endpoint does)."""
    out = "".join(f"<|im_start|> {m.get('role')} {m.get('content') or ''} <|im_end|> " for m in messages)
    return out + ("<|im_start|> assistant " if add_generation_prompt else "")


def stub_tokens(text: str) -> int:
    """The stub's token count of a text: its whitespace words, but never under
    :func:`depthbench.baselines.backends._tokenizer.least_tokens` (what any real tokenizer gives)."""
    from depthbench.baselines.backends._tokenizer import least_tokens

    return max(len(text.split()), least_tokens(text))


def default_responder(prompt: str, seed: int | None, index: int, max_tokens: int) -> str:
    """Deterministic text for (prompt, seed, choice index): some words, then ``Answer: N``."""
    rng = random.Random(f"{seed}|{index}|{prompt}") if seed is not None else random.Random()
    n = rng.randint(3, 30)
    words = [rng.choice(_WORDS) for _ in range(n)] + ["Answer:", str(rng.randint(0, 9))]
    return " ".join(words)


class OpenAITestServer:
    """An OpenAI-compatible test server with fault injection.

    Parameters
    ----------
    model : str
        Name served by ``/v1/models``.
    fault_rate : float
        Fraction of POST calls that fail (drawn from a ``random.Random(fault_seed)``).
    fault_kinds : tuple of str
        Faults to choose from: ``"429"``, ``"500"``, ``"timeout"``, ``"malformed"``, ``"trickle"`` (opt-in).
    hang_s : float
        How long a ``"timeout"`` fault stalls before closing the connection (seconds).
    support_n : bool
        Return ``n`` choices; otherwise ignore ``n`` and return one.
    sum_usage_over_n : bool
        ``usage.completion_tokens`` is the sum over choices (vLLM, OpenAI); always true
        with ``n > 1`` unless ``per_choice_usage`` is set.
    honour_seed : bool
        Deterministic text from the seed; otherwise random text.
    send_usage : bool
        Include ``usage`` in responses.
    missing_usage_rate : float
        Fraction of responses sent without ``usage`` anyway (seeded).
    tokenize_endpoint : bool
        Serve ``POST /tokenize`` (vLLM and llama.cpp do; OpenAI and Ollama do not).
    trickle_s : float
        Seconds between the bytes of a ``"trickle"`` fault's response.
    max_model_len : int
        Context length reported by ``/v1/models``.
    latency_s : float
        Sleep before each successful response (seconds).
    responder : callable, optional
        ``(prompt, seed, index, max_tokens) -> text``; default :func:`default_responder`.
    lifetime_s : float
        The server shuts itself down after this many seconds.
    """

    def __init__(self, *, model: str = "test-model", fault_rate: float = 0.0,
                 fault_kinds: tuple[str, ...] = FAULT_KINDS, fault_seed: int = 0, hang_s: float = 2.0,
                 support_n: bool = True, sum_usage_over_n: bool = True, honour_seed: bool = True,
                 send_usage: bool = True, max_model_len: int = 4096, latency_s: float = 0.0,
                 tokenize_endpoint: bool = True, missing_usage_rate: float = 0.0, trickle_s: float = 0.5,
                 responder: Callable[[str, int | None, int, int], str] | None = None,
                 lifetime_s: float = 600.0, prefill: str | None = None, completions: bool = True,
                 reasoning: str | None = None, n_refused: bool = False,
                 reject: dict[str, tuple[int, str]] | None = None, props: dict[str, Any] | None = None,
                 ollama: bool = False, reasoning_tokens_field: bool = False,
                 lie_tokens: int | None = None, lie_prompt_tokens: int | None = None) -> None:
        self.model = model
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self._fault_rng = random.Random(fault_seed)
        self.hang_s = hang_s
        self.support_n = support_n
        self.sum_usage_over_n = sum_usage_over_n
        self.honour_seed = honour_seed
        self.send_usage = send_usage
        self.max_model_len = max_model_len
        self.latency_s = latency_s
        self.responder = responder or default_responder
        self.tokenize_endpoint = tokenize_endpoint
        self.missing_usage_rate = missing_usage_rate
        self._usage_rng = random.Random(fault_seed + 1)
        self.trickle_s = trickle_s
        self.lifetime_s = lifetime_s
        self.prefill = prefill
        self.completions = completions
        self.reasoning = reasoning
        self.n_refused = n_refused
        self.reject = dict(reject or {})
        self.props = props
        self.ollama = ollama
        self.reasoning_tokens_field = reasoning_tokens_field
        self.lie_tokens = lie_tokens
        self.lie_prompt_tokens = lie_prompt_tokens
        self.stats: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []   # every POST body received, in order
        self.authorizations: list[str] = []     # every Authorization header received, in order
        self.keep_bodies = True
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "OpenAITestServer":
        """Start serving in a daemon thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="openai-test-server", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        """Stop the server and join its thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # it stopped itself meanwhile
                pass
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "OpenAITestServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            await asyncio.wait_for(self._stop.wait(), self.lifetime_s)
        except asyncio.TimeoutError:
            pass
        server.close()
        await server.wait_closed()

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                length = 0
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                    elif name.strip().lower() == "authorization":
                        self.authorizations.append(value.strip())
                body = await reader.readexactly(length) if length else b""
                status, payload = await self._route(method, path.split("?")[0], body)
                if status == 0:  # simulated hang: stall, then drop the connection
                    await asyncio.sleep(self.hang_s)
                    break
                trickle = status == -1
                status = 200 if trickle else status
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                        "Connection: keep-alive\r\n\r\n").encode()
                if trickle:  # a good response, one byte at a time: each socket read is quick, the whole is slow
                    writer.write(head)
                    for i in range(len(data)):
                        writer.write(data[i:i + 1])
                        await writer.drain()
                        await asyncio.sleep(self.trickle_s)
                    continue
                writer.write(head + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        self.stats["requests"] += 1
        if method == "GET" and path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "test",
                                                     "max_model_len": self.max_model_len}]}
        if method == "GET" and path == "/props" and self.props is not None:
            return 200, self.props
        if method == "GET" and path == "/api/version" and self.ollama:
            return 200, {"version": "0.0-stub"}
        if method != "POST":
            return 404, {"error": {"message": f"no route {method} {path}"}}
        try:
            req = json.loads(body)
        except ValueError:
            return 400, {"error": {"message": "body is not JSON"}}
        if path == "/tokenize" and self.tokenize_endpoint:
            toks = str(req.get("prompt", "")).split()
            return 200, {"count": len(toks), "tokens": list(range(len(toks))), "max_model_len": self.max_model_len}
        if path == "/api/generate" and self.ollama:
            if self.keep_bodies:
                self.bodies.append(req)
            return 200, self._ollama_generate(req)
        if path == "/v1/completions" and not self.completions:
            return 404, {"error": {"message": "This is a chat model and not supported in the v1/completions endpoint.",
                                   "type": "invalid_request_error", "code": None}}
        if path not in ("/v1/chat/completions", "/v1/completions"):
            return 404, {"error": {"message": f"no route {path}"}}
        if self.keep_bodies:
            self.bodies.append(req)
        for field, (status, message) in self.reject.items():
            if field in req and not (field == "temperature" and req[field] == 1):
                self.stats[f"rejected_{field}"] += 1
                return status, {"error": {"message": message, "type": "invalid_request_error", "param": field,
                                          "code": "unsupported_parameter"}}
        if self.n_refused and int(req.get("n") or 1) > 1:
            self.stats["n_refused"] += 1
            return 500, {"error": {"code": 500, "message": "Only one completion choice is allowed",
                                   "type": "server_error"}}
        if self.fault_rate and self._fault_rng.random() < self.fault_rate:
            kind = self._fault_rng.choice(self.fault_kinds)
            self.stats[f"fault_{kind}"] += 1
            if kind == "429":
                return 429, {"error": {"message": "rate limited"}}
            if kind == "500":
                return 500, {"error": {"message": "internal error"}}
            if kind == "timeout":
                return 0, None
            if kind == "trickle":
                return -1, self._complete(path, req)
            return 200, b'{"id": "x", "choices": [{"text": "trunc'
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        self.stats["ok"] += 1
        return 200, self._complete(path, req)

    def _chat_prompt(self, req: dict[str, Any]) -> str:
        """The prompt text the stub's template makes of a chat request (prefill behaviour included)."""
        msgs = [dict(m) for m in req.get("messages") or []]
        last_assistant = bool(msgs) and msgs[-1].get("role") == "assistant"
        if last_assistant and self.prefill == "trailing":
            return render_stub_chat(msgs[:-1]) + str(msgs[-1].get("content") or "")
        if last_assistant and self.prefill == "flag" and req.get("continue_final_message") \
                and req.get("add_generation_prompt") is False:
            return render_stub_chat(msgs, add_generation_prompt=False)[: -len(" <|im_end|> ")]
        return render_stub_chat(msgs, add_generation_prompt=req.get("add_generation_prompt", True) is not False)

    def _ollama_generate(self, req: dict[str, Any]) -> dict[str, Any]:
        opts = req.get("options") or {}
        prompt = str(req.get("prompt", "")) if req.get("raw") else render_stub_chat(
            [{"role": "user", "content": req.get("prompt", "")}])
        max_tokens = int(opts.get("num_predict") or 128)
        text = self.responder(prompt, opts.get("seed"), 0, max_tokens)
        words = text.split()
        done = "stop"
        if len(words) > max_tokens:
            text, done = " ".join(words[:max_tokens]), "length"
        return {"model": req.get("model"), "response": text, "done": True, "done_reason": done,
                "prompt_eval_count": stub_tokens(prompt), "eval_count": len(text.split())}

    def _split_reasoning(self, text: str, finish: str) -> tuple[str | None, str | None]:
        """``(reasoning, content)`` the way a reasoning parser returns them."""
        if "<think>" not in text:
            return None, text
        head, _, rest = text.partition("<think>")
        reasoning, closed, content = rest.partition("</think>")
        if not closed:
            return head + reasoning, None  # ended inside its thinking: content null
        return reasoning, (head + content)

    def _complete(self, path: str, req: dict[str, Any]) -> dict[str, Any]:
        chat = path.endswith("chat/completions")
        if chat:
            prompt = self._chat_prompt(req)
        else:
            prompt = str(req.get("prompt", ""))
        n = int(req.get("n", 1) or 1) if self.support_n else 1
        seed = req.get("seed") if self.honour_seed else None
        max_tokens = int(req.get("max_tokens") or req.get("max_completion_tokens") or 256)
        stops = req.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        choices, counts = [], []
        for i in range(n):
            text = self.responder(prompt, seed, i, max_tokens)
            finish = "stop"
            cut = min((j for j in (text.find(s) for s in stops if s) if j >= 0), default=-1)
            if cut >= 0:
                text = text[:cut]
            words = text.split()
            if len(words) > max_tokens and self.lie_tokens is None:
                text, finish = " ".join(words[:max_tokens]), "length"
            counts.append(len(text.split()))
            if chat and self.reasoning:
                reasoning, content = self._split_reasoning(text, finish)
                msg: dict[str, Any] = {"role": "assistant", "content": content}
                if reasoning is not None:
                    msg[self.reasoning] = reasoning
                choices.append({"index": i, "message": msg, "finish_reason": finish})
            elif chat:
                choices.append({"index": i, "message": {"role": "assistant", "content": text},
                                "finish_reason": finish})
            else:
                choices.append({"index": i, "text": text, "finish_reason": finish, "logprobs": None})
        out: dict[str, Any] = {"id": f"cmpl-{self.stats['ok']}", "object": "chat.completion" if chat else "text_completion",
                               "created": int(time.time()), "model": self.model, "choices": choices}
        drop = self.missing_usage_rate and self._usage_rng.random() < self.missing_usage_rate
        if drop:
            self.stats["usage_dropped"] += 1
        if self.send_usage and not drop:
            ct = sum(counts) if self.sum_usage_over_n else counts[0]
            ct = ct if self.lie_tokens is None else self.lie_tokens
            pt = stub_tokens(prompt) if self.lie_prompt_tokens is None else self.lie_prompt_tokens
            out["usage"] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
            if self.reasoning_tokens_field and chat and self.reasoning:
                r = choices[0]["message"].get(self.reasoning) or ""
                out["usage"]["completion_tokens_details"] = {"reasoning_tokens": len(r.split())}
        return out


def _main() -> None:  # pragma: no cover - used by benchmarks/backend_bench.py
    import argparse

    ap = argparse.ArgumentParser(description="Run the OpenAI-compatible test server until its lifetime ends.")
    ap.add_argument("--lifetime", type=float, default=120.0, help="seconds before it stops itself")
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each successful response")
    a = ap.parse_args()
    srv = OpenAITestServer(lifetime_s=a.lifetime, fault_rate=a.fault_rate, latency_s=a.latency)
    srv.keep_bodies = False
    srv.start()
    print(srv.port, flush=True)
    assert srv._thread is not None
    srv._thread.join()


if __name__ == "__main__":  # pragma: no cover
    _main()
