"""Test fixtures for servers: the local OpenAI-compatible test server and a llama.cpp server.

Import from test modules (tests are not a package, so add this folder to ``sys.path``)::

    sys.path.insert(0, os.path.dirname(__file__))
    from _servers import openai_server, start_test_server, free_port

``openai_server`` is a pytest fixture yielding a running :class:`OpenAITestServer` with
default options; :func:`start_test_server` is a context manager for custom options
(``fault_rate=0.2``, ``support_n=False``, ...).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from openai_test_server import OpenAITestServer  # noqa: E402

__all__ = ["OpenAITestServer", "openai_server", "start_test_server", "start_llama_server", "free_port",
           "start_http_proxy"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to 0, read it, release it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def start_test_server(**options: Any) -> Iterator[OpenAITestServer]:
    """Run an :class:`OpenAITestServer` for the duration of the ``with`` block."""
    options.setdefault("lifetime_s", 300.0)
    srv = OpenAITestServer(**options).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def openai_server() -> Iterator[OpenAITestServer]:
    """A fault-free test server (defaults of :class:`OpenAITestServer`)."""
    with start_test_server() as srv:
        yield srv


@contextlib.contextmanager
def start_llama_server(model_path: str, *, n_ctx: int = 2048, startup_timeout_s: float = 180.0,
                       extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on 127.0.0.1 and yield its base URL (``.../v1``).

    Extra server flags go in ``extra_args`` (e.g. ``("--n_threads", "1")``).

    Waits until ``/v1/models`` answers; the subprocess is terminated (then killed) on exit.
    Its output goes to a temporary log file, shown in the error if it fails to start.
    """
    import subprocess
    import tempfile
    import time

    import httpx

    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="llama_server_", suffix=".log", delete=False)
    # `python -m llama_cpp.server`, with the same AMX workaround the in-process backend applies
    # (depthbench.baselines._llamacpp.avoid_amx_repack), so both sides compute alike
    shim = ("import runpy, sys; from depthbench.baselines._llamacpp import avoid_amx_repack; avoid_amx_repack(); "
            "sys.argv[0] = 'llama_cpp.server'; runpy.run_module('llama_cpp.server', run_name='__main__')")
    cmd = [sys.executable, "-c", shim, "--model", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), *extra_args]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}:\n{log.read()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer within {startup_timeout_s} s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        os.unlink(log.name)


@contextlib.contextmanager
def start_http_proxy() -> Iterator[dict[str, Any]]:
    """A forwarding HTTP proxy on 127.0.0.1 for ``http://`` targets (absolute-form requests).

    Yields ``{"url": "http://127.0.0.1:PORT", "requests": [target URL, ...]}``; each request
    is forwarded to its target over a new connection and the answer relayed.
    """
    import asyncio
    import threading
    import urllib.parse

    state: dict[str, Any] = {"requests": []}
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
                headers, length = [], 0
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name = h.split(b":", 1)[0].strip().lower()
                    if name == b"content-length":
                        length = int(h.split(b":", 1)[1])
                    if name not in (b"proxy-authorization", b"proxy-connection", b"connection"):
                        headers.append(h)
                body = await reader.readexactly(length) if length else b""
                state["requests"].append(target)
                u = urllib.parse.urlsplit(target)
                up_r, up_w = await asyncio.open_connection(u.hostname, u.port or 80)
                path = (u.path or "/") + (f"?{u.query}" if u.query else "")
                up_w.write(f"{method} {path} {version}\r\n".encode() + b"".join(headers)
                           + b"Connection: close\r\n\r\n" + body)
                await up_w.drain()
                head, n = [], 0
                while True:
                    h = await up_r.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    if h.split(b":", 1)[0].strip().lower() == b"content-length":
                        n = int(h.split(b":", 1)[1])
                    if not h.lower().startswith(b"connection:"):
                        head.append(h)
                rest = await up_r.readexactly(n) if n else b""
                up_w.close()
                writer.write(b"".join(head) + b"Connection: keep-alive\r\n\r\n" + rest)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        state["url"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        holder["stop"] = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        ready.set()
        await asyncio.wait_for(holder["stop"].wait(), 300)
        server.close()

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    ready.wait(10)
    try:
        yield state
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        t.join(10)
