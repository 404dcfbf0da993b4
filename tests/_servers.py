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

__all__ = ["OpenAITestServer", "openai_server", "start_test_server", "free_port"]


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
