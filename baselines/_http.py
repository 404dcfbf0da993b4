"""HTTP plumbing of the openai backend: several servers, health, per-server limits, proxies.

``ServerPool`` spreads requests over one or more OpenAI-compatible servers (replicas of one
model, e.g. vLLM data-parallel servers started on several ports): each request goes to
the live server with the fewest requests in flight relative to its limit. A server that
refuses connections while others are alive is taken out of rotation with a warning (the
request is retried on another) and probed again every ``reprobe_s`` seconds; one that
times out with many requests in flight gets its limit halved (a CPU server with few
slots queues requests until they time out; fewer in flight lets them finish).

Proxies follow the environment as httpx and requests read it: ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``ALL_PROXY`` (lower case too, which wins) choose a proxy by the
server URL's scheme, and ``NO_PROXY`` lists hosts, domain suffixes (``.example.com``),
IP networks (``10.0.0.0/8``) or ``*`` that go direct. An explicit ``proxy`` option
(``--model-args '{"proxy": "http://host:3128"}'``) overrides the environment, ``""``
means none, and ``trust_env=False`` ignores the environment. ``http://`` and
``https://`` proxies are built in (``CONNECT`` tunnels for https servers); ``socks5://``
needs the ``socksio`` package.
"""

from __future__ import annotations

import ipaddress
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from depthbench._lazy import lazy
from depthbench.errors import UserError

httpcore = lazy("httpcore")  # imported on the first request, not at CLI start-up
asyncio = lazy("asyncio")  # likewise (docs/ARCHITECTURE.md, "Layers": numpy and asyncio deferred on the CLI path)
urllib_request = lazy("urllib.request")  # http.client, email, ssl: only for reading proxies from the environment

__all__ = ["Server", "ServerPool", "proxy_for", "redact_url", "split_userinfo"]

log = logging.getLogger("depthbench.baselines.openai")

_SHARD = 4  # connections per httpcore pool (its request scan is O(connections))


def redact_url(url: str | None) -> str | None:
    """``url`` with its user information (name and password) replaced by ``***``
    (``http://***@host:port/path``); any other string is returned unchanged."""
    if not url or "@" not in url:
        return url
    try:
        p = urllib.parse.urlsplit(url)
        if p.username is None and p.password is None:
            return url
        host = p.netloc.rpartition("@")[2]
    except ValueError:  # not a URL: cut everything up to the last "@" of its authority
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if sep else url
    return urllib.parse.urlunsplit((p.scheme, "***@" + host, p.path, p.query, p.fragment))


def split_userinfo(url: str) -> tuple[str, bytes | None]:
    """``(url without user information, Basic Authorization header value or None)``.

    ``http://user:pw@host/v1`` is sent to ``http://host/v1`` with ``Authorization: Basic ...``
    (as httpx and requests do), so the credentials are never part of a URL that is printed,
    logged or recorded.
    """
    import base64

    p = urllib.parse.urlsplit(url)
    if p.username is None and p.password is None:
        return url, None
    clean = urllib.parse.urlunsplit((p.scheme, p.netloc.rpartition("@")[2], p.path, p.query, p.fragment))
    cred = f"{urllib.parse.unquote(p.username or '')}:{urllib.parse.unquote(p.password or '')}"
    return clean, b"Basic " + base64.b64encode(cred.encode())


def _bypass(host: str, no_proxy: str) -> bool:
    entries = [e.strip().lower() for e in no_proxy.replace(";", ",").split(",") if e.strip()]
    host = host.lower().strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for e in entries:
        if e == "*":
            return True
        if "/" in e and ip is not None:
            try:
                if ip in ipaddress.ip_network(e, strict=False):
                    return True
            except ValueError:
                pass
            continue
        e = e.split(":")[0] if e.count(":") == 1 else e  # host:port -> host
        e = e.lstrip("*")
        if host == e.lstrip(".") or (e.startswith(".") and host.endswith(e)) or host.endswith("." + e):
            return True
    return False


def proxy_for(url: str, proxy: str | None = None, trust_env: bool = True) -> tuple[str | None, str]:
    """The proxy a request to ``url`` goes through, and where that choice came from.

    Returns
    -------
    (proxy URL or None, source)
        ``source`` is ``"option"``, the environment variable's name, ``"NO_PROXY"``
        (bypassed) or ``""`` (no proxy configured).
    """
    if proxy is not None:
        return (proxy or None), "option"
    if not trust_env:
        return None, ""
    env = urllib_request.getproxies_environment()  # lower-case names win, as in urllib, requests and httpx
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if env.get("no") and _bypass(host, env["no"]):
        return None, "NO_PROXY"
    for scheme in (parts.scheme, "all"):
        if env.get(scheme):
            return env[scheme], f"{scheme.upper()}_PROXY"
    return None, ""


def _make_pool(proxy: str | None, size: int, where: str) -> Any:
    if proxy is None:
        return httpcore.AsyncConnectionPool(max_connections=size, max_keepalive_connections=size)
    p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    auth = (urllib.parse.unquote(p.username or ""), urllib.parse.unquote(p.password or "")) \
        if p.username is not None else None
    bare = urllib.parse.urlunsplit((p.scheme, (p.hostname or "") + (f":{p.port}" if p.port else ""), "", "", ""))
    if p.scheme in ("http", "https"):
        return httpcore.AsyncHTTPProxy(proxy_url=bare, proxy_auth=auth, max_connections=size,
                                       max_keepalive_connections=size)
    if p.scheme in ("socks5", "socks5h"):
        try:
            import socksio  # noqa: F401
        except ImportError:
            raise UserError(f"{where}: the SOCKS proxy {redact_url(proxy)} needs the socksio package: "
                            "pip install socksio (or use an http:// proxy)") from None
        return httpcore.AsyncSOCKSProxy(proxy_url=bare, proxy_auth=auth, max_connections=size,
                                        max_keepalive_connections=size)
    raise UserError(f"{where}: proxy {redact_url(proxy)!r} must start with http://, https:// or socks5://")


@dataclass
class Server:
    """One server of a :class:`ServerPool` and its bookkeeping."""

    base_url: str
    proxy: str | None = None
    #: ``Authorization`` value from the URL's user information (never part of ``base_url``)
    auth: bytes | None = None
    proxy_source: str = ""
    limit: int = 1
    inflight: int = 0
    alive: bool = True
    requests: int = 0
    failures: int = 0
    pools: list[Any] = field(default_factory=list)
    active: list[int] = field(default_factory=list)

    @property
    def root(self) -> str:
        """The base URL without a trailing ``/v1`` (where ``/tokenize`` and ``/props`` live)."""
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def info(self) -> dict[str, Any]:
        """What a run records about this server (no credentials)."""
        return {"base_url": self.base_url, "proxy": redact_url(self.proxy), "requests": self.requests}


class ServerPool:
    """Requests in flight over several servers (see the module docstring).

    Parameters
    ----------
    base_urls : sequence of str
        Normalised base URLs (``.../v1``), at least one; user information in one
        (``http://user:pw@host/v1``) becomes that server's Basic ``auth`` and leaves the URL.
    concurrency : int
        Requests in flight over all servers at most; each server's limit starts there too.
    proxy : str, optional
        Explicit proxy for every server (``""``: none); default from the environment.
    trust_env : bool
        Read ``*_PROXY`` / ``NO_PROXY`` from the environment.
    reprobe_s : float
        Seconds between health probes of a server taken out of rotation.
    """

    def __init__(self, base_urls: Sequence[str], *, concurrency: int, proxy: str | None = None,
                 trust_env: bool = True, reprobe_s: float = 30.0) -> None:
        self.concurrency = int(concurrency)
        self.reprobe_s = float(reprobe_s)
        self.servers: list[Server] = []
        for url in base_urls:
            url, auth = split_userinfo(url)
            p, src = proxy_for(url, proxy, trust_env)
            self.servers.append(Server(base_url=url, proxy=p, proxy_source=src, auth=auth, limit=self.concurrency))
        self._cond: asyncio.Condition | None = None
        self._total = 0
        self._probes: dict[int, asyncio.Task[Any]] = {}
        self._rr = 0

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Create the connection pools (inside the running event loop)."""
        for i, s in enumerate(self.servers):
            sizes = [min(_SHARD, self.concurrency - j) for j in range(0, self.concurrency, _SHARD)]
            s.pools = [_make_pool(s.proxy, k, f"--base-url {s.base_url}") for k in sizes]
            s.active = [0] * len(sizes)
            s.inflight = 0
        self._cond = asyncio.Condition()
        self._total = 0
        self._probes = {}

    async def close(self) -> None:
        """Stop probes and close every pool."""
        for t in self._probes.values():
            t.cancel()
        await asyncio.gather(*self._probes.values(), return_exceptions=True)
        self._probes = {}
        for s in self.servers:
            pools, s.pools = s.pools, []
            for pool in pools:
                await pool.aclose()

    # ------------------------------------------------------------------ choosing
    def server_for(self, url: str) -> Server:
        """The server an absolute URL belongs to (its root is a prefix), else the first."""
        return next((s for s in self.servers if url.startswith(s.root)), self.servers[0])

    def _pick(self, pinned: Server | None) -> Server | None:
        if pinned is not None:
            return pinned if pinned.inflight < pinned.limit else None
        live = [s for s in self.servers if s.alive and s.inflight < s.limit]
        if not live or self._total >= self.concurrency:
            return None
        n = len(self.servers)
        self._rr = (self._rr + 1) % n
        return min(live, key=lambda s: (s.inflight / s.limit, (self.servers.index(s) - self._rr) % n))

    async def acquire(self, pinned: Server | None = None) -> tuple[Server, int]:
        """Wait for a slot; returns the server and the index of its least busy pool."""
        assert self._cond is not None, "ServerPool.open() first"
        async with self._cond:
            while True:
                s = self._pick(pinned)
                if s is not None:
                    break
                await self._cond.wait()
            s.inflight += 1
            self._total += 1
        i = min(range(len(s.pools)), key=s.active.__getitem__)
        s.active[i] += 1
        s.requests += 1
        return s, i

    async def release(self, server: Server, pool: int) -> None:
        """Give the slot back."""
        server.active[pool] -= 1
        assert self._cond is not None
        async with self._cond:
            server.inflight -= 1
            self._total -= 1
            self._cond.notify_all()

    # ------------------------------------------------------------------ health
    @property
    def alive(self) -> list[Server]:
        """The servers in rotation."""
        return [s for s in self.servers if s.alive]

    async def connection_failed(self, server: Server, reason: str,
                                probe: Callable[[Server], Awaitable[bool]]) -> None:
        """A request to ``server`` could not connect: take it out if others are alive."""
        server.failures += 1
        if not server.alive or len(self.alive) < 2:
            return
        server.alive = False
        others = len(self.alive)
        log.warning("--base-url %s: %s; skipped, requests go to the %d other server%s (probed again every %g s)",
                    server.base_url, reason, others, "" if others == 1 else "s", self.reprobe_s)
        idx = self.servers.index(server)
        self._probes[idx] = asyncio.ensure_future(self._reprobe(server, probe))
        assert self._cond is not None
        async with self._cond:
            self._cond.notify_all()

    async def _reprobe(self, server: Server, probe: Callable[[Server], Awaitable[bool]]) -> None:
        while not server.alive:
            await asyncio.sleep(self.reprobe_s)
            if await probe(server):
                server.alive = True
                log.warning("--base-url %s: reachable again; back in rotation", server.base_url)
                assert self._cond is not None
                async with self._cond:
                    self._cond.notify_all()

    def timed_out(self, server: Server) -> None:
        """A request to ``server`` timed out: halve its limit when many were in flight."""
        if server.inflight < 2:
            return  # one slow request alone says nothing about the server
        new = max(1, server.inflight // 2)
        if new < server.limit:
            log.warning("--base-url %s: a request timed out with %d in flight; at most %d in flight from now on "
                        "(set --concurrency to the server's slots to avoid this)", server.base_url, server.inflight,
                        new)
            server.limit = new
