"""The backend registry and ``--model`` spec handling (the body of :mod:`depthbench.baselines.backends`).

The package re-exports every name here lazily (``depthbench._lazy.lazy_exports``), so importing one of
its helper modules (``_continuation``, ``_tokenizer``: the call context needs them) does not load the
registry, the HTTP helpers or a backend; ``depthbench strategies`` stays fast (``benchmarks/cli_bench.py``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from depthbench.baselines._http import redact_url
from depthbench.baselines._protocol import Model
from depthbench.baselines.backends._base import Backend, BadSpec, backend, registry, unregister
from depthbench.errors import UserError

#: the package whose modules are the backends (this module's parent)
_PACKAGE = __name__.rpartition(".")[0]

__all__ = ["Backend", "BadSpec", "backend", "backends", "get_backend", "model_spec_forms", "parse_model_spec", "load_model",
           "endpoint_kind", "unregister", "check_model_args", "check_model_spec", "option_types", "redact_secrets", "redact_argv"]


@lru_cache(maxsize=1)
def _discover() -> None:
    """Import every public module of this package once (each registers its backend)."""
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{_PACKAGE}.{info.name}")


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


def check_model_spec(spec: str) -> None:
    """Refuse a malformed ``--model`` before slow work: the form, and the part after
    ``name:`` when the backend can check it without being built (``check_spec``, e.g. the
    simulated parameters and their ranges).

    Raises
    ------
    UserError
        Naming what is wrong and how to fix it.
    """
    provider, rest = parse_model_spec(spec)
    check = getattr(get_backend(provider).model_class, "check_spec", None)
    if check is not None:
        try:
            check(rest)
        except BadSpec as e:
            raise _bad_spec(spec, str(e)) from None


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
              "retries": "--retries", "timeout": "--timeout", "top_k": "--top-k", "min_p": "--min-p",
              "repeat_penalty": "--repeat-penalty", "presence_penalty": "--presence-penalty",
              "frequency_penalty": "--frequency-penalty"}
_SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "authorization", "auth", "cookie", "credential")
#: option names that contain a secret word but hold none (recorded as given, so a resume compares them)
_NOT_SECRET = ("tokenizer",)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: JSON type of a backend option: (what the error message says, predicate)
_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "bool|null": ("true, false or null", lambda v: v is None or isinstance(v, bool)),
    "int": ("an integer", _is_int),
    "int|null": ("an integer or null", lambda v: v is None or _is_int(v)),
    "number": ("a number", _is_number),
    "string": ("a string", lambda v: isinstance(v, str)),
    "string|null": ("a string or null", lambda v: v is None or isinstance(v, str)),
    "object|null": ("a JSON object or null", lambda v: v is None or isinstance(v, dict)),
    "object of strings|null": ('an object of strings (e.g. {"X-Route": "a"}) or null',
                               lambda v: v is None or (isinstance(v, dict) and all(
                                   isinstance(k, str) and isinstance(x, str) for k, x in v.items()))),
    "python": ("a Python callable (set from Python, not from the command line)", lambda v: False),
}

def option_types() -> dict[str, dict[str, str]]:
    """The JSON type of every ``--model-args`` option, per backend that declares them
    (``@backend(option_types=...)``; ``simulated`` checks its own:
    ``SimulatedParams.from_options``): ``{"openai": {"native_n": "bool", ...}, ...}``.
    A test keeps each table equal to the backend class's constructor signature."""
    return {name: dict(b.option_types) for name, b in backends().items() if b.option_types}


def check_model_args(spec: str, options: dict[str, Any], flag: str = "--model-args") -> None:
    """Refuse backend options that the backend of ``spec`` does not take (its class's constructor
    keyword arguments, from the backend registry), or of the wrong JSON type (the backend's
    ``option_types``, :func:`option_types`).

    Raises
    ------
    UserError
        Naming the option and listing the backend's options, the flag that sets it, or the
        type it must have.
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
        kind = get_backend(provider).option_types.get(k)
        if kind is not None and not _TYPES[kind][1](options[k]):
            raise UserError(f"{flag}: {k} must be {_TYPES[kind][0]}, got {json.dumps(options[k])[:60]}")


def redact_secrets(options: Any) -> Any:
    """``options`` with the values of secret-looking keys (api_key, token, Authorization, ...)
    replaced by ``"<redacted>"`` and passwords cut out of URLs (what run.json records)."""
    if isinstance(options, dict):
        out = {}
        for k, v in options.items():
            if (isinstance(k, str) and k.lower() not in _NOT_SECRET and any(w in k.lower() for w in _SECRET_WORDS)
                    and v not in (None, "")):
                out[k] = "<redacted>"
            else:
                out[k] = redact_secrets(v)
        return out
    if isinstance(options, list):
        return [redact_secrets(v) for v in options]
    if isinstance(options, str) and "://" in options and "@" in options:
        return redact_url(options)
    return options


#: command-line flags whose values hold secrets: how each value is redacted in a recorded argv
_SECRET_FLAGS = {"--api-key": "secret", "--model-args": "json", "--extra-body": "json", "--base-url": "urls"}


def redact_argv(argv: Sequence[str], flags: Iterable[str]) -> list[str]:
    """``argv`` as a run records it: no secret in any flag value.

    The arguments are parsed as argparse reads them (``--flag value`` and ``--flag=value``,
    unambiguous abbreviations of the long flags in ``flags``): ``--api-key``'s value becomes
    ``<redacted>``; the JSON objects of ``--model-args`` / ``--extra-body`` are redacted as
    :func:`redact_secrets` redacts ``model_options`` (``@FILE`` is kept: a path); user
    information is cut out of every ``--base-url`` URL. Every other element is kept as given.

    Examples
    --------
    >>> redact_argv(["--api-key=sk-1", "--budget", "64", "--base-url", "http://u:p@h/v1"],
    ...             ["--api-key", "--budget", "--base-url"])
    ['--api-key=<redacted>', '--budget', '64', '--base-url', 'http://***@h/v1']
    """
    known = set(flags)

    def resolve(name: str) -> str | None:
        if name in known:
            return name
        hits = [f for f in known if f.startswith(name)]
        return hits[0] if len(hits) == 1 else None

    def fix(kind: str, value: str) -> str:
        if kind == "secret":
            return "<redacted>"
        if kind == "urls":
            return ",".join(str(redact_url(u)) for u in value.split(","))
        if value.startswith("@"):
            return value
        try:
            return json.dumps(redact_secrets(json.loads(value)))
        except ValueError:
            return "<redacted>"

    out: list[str] = []
    pending: str | None = None
    for k, a in enumerate(argv):
        if pending is not None:
            out.append(fix(pending, a))
            pending = None
            continue
        if a == "--":
            out.extend(argv[k:])
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            kind = _SECRET_FLAGS.get(resolve(name) or "")
            if kind is not None:
                if eq:
                    out.append(f"{name}={fix(kind, value)}")
                else:
                    out.append(a)
                    pending = kind
                continue
        out.append(a)
    return out
