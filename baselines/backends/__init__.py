"""Model backends: a registry from a ``--model`` spec string to a backend.

One module per backend in this package registers its model class with ``@backend(...)``
(:mod:`depthbench.baselines.backends._base`); the registry finds the modules by scanning
the package, so **adding a backend is adding a file**. The table feeds ``--model`` help
(``eval``, ``doctor``), the spec error message, ``depthbench doctor``, the submission's
``endpoint.kind`` and the submission JSON Schema. Heavy client libraries (httpcore,
llama-cpp-python) are imported inside the backend when a model is created, so listing the
table costs nothing.

Spec forms (``depthbench --help``)
----------------------------------
``openai:MODEL``
    Any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI). Base URL from
    ``base_url`` or ``OPENAI_BASE_URL``; key from ``api_key`` or ``OPENAI_API_KEY``.
``llamacpp:smollm2`` / ``llamacpp:/path/model.gguf``
    llama-cpp-python in process (extra ``depthbench[llamacpp]``).
``simulated`` / ``simulated:eps=0.02,tokens_per_step=12,spread=3,drift=0.0,rho=0.0``
    The simulated step-wise reasoner.
``replay:FILE.jsonl``
    Serve completions recorded elsewhere.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache
from typing import Any

from depthbench.baselines._http import redact_url
from depthbench.baselines._protocol import Model
from depthbench.baselines.backends._base import Backend, BadSpec, backend, registry, unregister
from depthbench.errors import UserError

__all__ = ["Backend", "BadSpec", "backend", "backends", "get_backend", "model_spec_forms", "parse_model_spec", "load_model",
           "endpoint_kind", "unregister", "check_model_args", "redact_secrets"]


@lru_cache(maxsize=1)
def _discover() -> None:
    """Import every public module of this package once (each registers its backend)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def backends() -> dict[str, Backend]:
    """Every registered backend by name, in registration (module name) order."""
    _discover()
    return registry()


def model_spec_forms() -> tuple[str, ...]:
    """Every spec form of every backend, remote backends first, e.g. ``("openai:MODEL",
    "llamacpp:smollm2", ...)``."""
    order = sorted(backends().values(), key=lambda b: (not b.remote, b.name))
    return tuple(f for b in order for f in b.forms)


def _bad_spec(spec: str, why: str) -> UserError:
    return UserError(f"--model {spec!r}: {why}; valid forms: {', '.join(model_spec_forms())}")


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``.

    Raises
    ------
    UserError
        If no backend of that name is registered.
    """
    reg = backends()
    if name not in reg:
        raise UserError(f"backend: unknown backend {name!r}; choose one of {', '.join(reg)}")
    return reg[name]


def parse_model_spec(spec: str) -> tuple[str, str]:
    """Split ``"provider:rest"``; returns ``(provider, rest)``.

    Raises
    ------
    UserError
        If the provider is unknown or its required part is missing.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _bad_spec(str(spec), "empty model spec")
    provider, _, rest = spec.strip().partition(":")
    reg = backends()
    if provider not in reg:
        raise _bad_spec(spec, f"unknown provider {provider!r}")
    if reg[provider].needs_rest and not rest:
        raise _bad_spec(spec, f"{provider} needs a name or path after the colon")
    return provider, rest


def endpoint_kind(spec: str) -> str:
    """The submission ``endpoint.kind`` of a model spec: its backend name, else ``"other"``."""
    head = str(spec).split(":", 1)[0].strip().lower()
    return head if head in backends() else "other"


def load_model(spec: str, *, base_url: str | None = None, api_key: str | None = None, concurrency: int = 16,
               retries: int = 6, timeout: float = 120.0, **kw: Any) -> Model:
    """Create the backend named by ``spec``.

    Parameters
    ----------
    spec : str
        One of :func:`model_spec_forms`.
    base_url, api_key : str, optional
        Remote backends only (``openai``); default to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
    concurrency : int
        Remote backends only: at most this many HTTP requests in flight.
    retries : int
        Remote backends only: retries after the first attempt on 429, 5xx, timeouts,
        connection errors and malformed JSON.
    timeout : float
        Remote backends only: per-attempt timeout in seconds.
    **kw
        Backend-specific options (e.g. ``eps=0.05`` for ``simulated``, ``n_ctx`` for
        ``llamacpp``, ``native_n=False`` for ``openai``).

    Returns
    -------
    Model

    Raises
    ------
    UserError
        Unknown spec form, bad option, missing optional dependency, ``base_url`` or
        ``api_key`` given for a backend that does not talk to a server.

    Examples
    --------
    >>> load_model("simulated:eps=0.1").params.eps
    0.1
    """
    provider, rest = parse_model_spec(spec)
    b = backends()[provider]
    if not b.remote:
        for flag, value in (("--base-url", base_url), ("--api-key", api_key)):
            if value is not None:
                remote = [n for n, x in backends().items() if x.remote]
                raise UserError(f"{flag}: only used with {', '.join(f'{n}:MODEL' for n in remote)}, "
                                f"not with {provider}; drop it")
        remote_kw: dict[str, Any] = {}
    else:
        remote_kw = dict(base_url=base_url, api_key=api_key, concurrency=concurrency, retries=retries, timeout=timeout)
    try:
        return b.factory(rest, **remote_kw, **kw)
    except BadSpec as e:
        raise _bad_spec(spec, str(e)) from None


#: options set by their own flags, not through --model-args
_OWN_FLAGS = {"base_url": "--base-url", "api_key": "--api-key", "concurrency": "--concurrency",
              "retries": "--retries", "timeout": "--timeout"}
_SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "authorization", "auth", "cookie", "credential")


def check_model_args(spec: str, options: dict[str, Any], flag: str = "--model-args") -> None:
    """Refuse backend options that the backend of ``spec`` does not take (its class's constructor
    keyword arguments, from the backend registry).

    Raises
    ------
    UserError
        Naming the option and listing the backend's options, or the flag that sets it.
    """
    provider, _ = parse_model_spec(spec)
    cls = get_backend(provider).model_class
    if cls is None:
        return
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    names = [n for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL
             and p.kind is not inspect.Parameter.POSITIONAL_ONLY]
    first = next(iter(n for n in names), None)
    for k in options:
        if k in _OWN_FLAGS:
            raise UserError(f"{flag}: {k!r} has its own flag; use {_OWN_FLAGS[k]} instead")
        if k not in names or k == first:
            valid = ", ".join(n for n in names if n != first and n not in _OWN_FLAGS)
            raise UserError(f"{flag}: {k!r} is not an option of the {provider} backend; its options: {valid}")


def redact_secrets(options: Any) -> Any:
    """``options`` with the values of secret-looking keys (api_key, token, Authorization, ...)
    replaced by ``"<redacted>"`` and passwords cut out of URLs (what run.json records)."""
    if isinstance(options, dict):
        out = {}
        for k, v in options.items():
            if isinstance(k, str) and any(w in k.lower() for w in _SECRET_WORDS) and v not in (None, ""):
                out[k] = "<redacted>"
            else:
                out[k] = redact_secrets(v)
        return out
    if isinstance(options, list):
        return [redact_secrets(v) for v in options]
    if isinstance(options, str) and "://" in options and "@" in options:
        return redact_url(options)
    return options
