"""Model providers: one lazy factory from a ``--model`` spec string to a backend.

Backends are imported only when asked for, so ``depthbench --help`` and the simulated
reasoner never import httpx or llama-cpp-python (inspect_ai's provider registry works the
same way).

Spec forms
----------
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

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from depthbench.baselines._protocol import Model
from depthbench.errors import UserError

__all__ = ["load_model", "parse_model_spec", "MODEL_SPEC_FORMS", "check_model_args", "redact_secrets", "redact_argv",
           "OPTION_TYPES"]

MODEL_SPEC_FORMS = (
    "openai:MODEL",
    "llamacpp:smollm2",
    "llamacpp:/path/model.gguf",
    "simulated[:eps=0.02,tokens_per_step=12,spread=3,drift=0.0,rho=0.0]",
    "replay:FILE.jsonl",
)


def _bad_spec(spec: str, why: str) -> UserError:
    return UserError(f"--model {spec!r}: {why}; valid forms: {', '.join(MODEL_SPEC_FORMS)}")


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
    if provider not in _PROVIDERS:
        raise _bad_spec(spec, f"unknown provider {provider!r}")
    if provider != "simulated" and not rest:
        raise _bad_spec(spec, f"{provider} needs a name or path after the colon")
    return provider, rest


def _kv_options(spec: str, rest: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        k, eq, v = part.partition("=")
        if not eq or not k.strip():
            raise _bad_spec(spec, f"simulated option {part!r} is not key=value")
        out[k.strip()] = v.strip()
    return out


def _openai(spec: str, rest: str, **kw: Any) -> Model:
    from depthbench.baselines._openai import OpenAICompatibleModel

    return OpenAICompatibleModel(rest, **kw)


def _llamacpp(spec: str, rest: str, **kw: Any) -> Model:
    from depthbench.baselines._llamacpp import LlamaCppModel

    return LlamaCppModel(rest, **kw)


def _simulated(spec: str, rest: str, **kw: Any) -> Model:
    from depthbench.baselines._simulated import SimulatedModel

    options: dict[str, Any] = _kv_options(spec, rest)
    options.update(kw)
    return SimulatedModel(**options)


def _replay(spec: str, rest: str, **kw: Any) -> Model:
    from depthbench.baselines._replay import ReplayModel

    return ReplayModel(rest, **kw)


#: backend classes by provider, for checking --model-args keys (imported lazily)
_CLASSES = {
    "openai": ("depthbench.baselines._openai", "OpenAICompatibleModel"),
    "llamacpp": ("depthbench.baselines._llamacpp", "LlamaCppModel"),
    "simulated": ("depthbench.baselines._simulated", "SimulatedModel"),
    "replay": ("depthbench.baselines._replay", "ReplayModel"),
}
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
    import math

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

#: the type of every ``--model-args`` option, per backend (``simulated`` checks its own:
#: ``SimulatedParams.from_options``); a test keeps this table equal to the backends' signatures
OPTION_TYPES: dict[str, dict[str, str]] = {
    "openai": {
        "backoff_base": "number", "backoff_max": "number", "native_n": "bool", "completions": "bool",
        "continue_final_message": "bool", "tokenizer": "string|null", "extra_body": "object|null",
        "headers": "object of strings|null", "proxy": "string|null", "trust_env": "bool", "reprobe_s": "number",
        "jitter_seed": "int|null", "continuation": "string", "chat_template": "string|null", "think": "string",
        "opens_think": "bool|null", "max_tokens_field": "string",
    },
    "llamacpp": {
        "n_ctx": "int", "n_threads": "int|null", "verbose": "bool", "chat_template": "string|null",
        "think": "string", "opens_think": "bool|null",
    },
    "replay": {"tokenizer": "python"},
}


def check_model_args(spec: str, options: dict[str, Any], flag: str = "--model-args") -> None:
    """Refuse backend options that the backend of ``spec`` does not take, or of the wrong JSON type.

    The type of each option is :data:`OPTION_TYPES` (one table for every backend).

    Raises
    ------
    UserError
        Naming the option and listing the backend's options, the flag that sets it, or the
        type it must have.
    """
    import importlib
    import inspect
    import json

    provider, _ = parse_model_spec(spec)
    mod, cls = _CLASSES[provider]
    params = inspect.signature(getattr(importlib.import_module(mod), cls).__init__).parameters
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
        kind = OPTION_TYPES.get(provider, {}).get(k)
        if kind is not None and not _TYPES[kind][1](options[k]):
            raise UserError(f"{flag}: {k} must be {_TYPES[kind][0]}, got {json.dumps(options[k])[:60]}")


def redact_secrets(options: Any) -> Any:
    """``options`` with the values of secret-looking keys (api_key, token, Authorization, ...)
    replaced by ``"<redacted>"`` and passwords cut out of URLs (what run.json records)."""
    from depthbench.baselines._http import redact_url

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
    import json

    from depthbench.baselines._http import redact_url

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


_PROVIDERS: dict[str, Callable[..., Model]] = {
    "openai": _openai,
    "llamacpp": _llamacpp,
    "simulated": _simulated,
    "replay": _replay,
}


def load_model(spec: str, *, base_url: str | None = None, api_key: str | None = None, concurrency: int = 16,
               retries: int = 6, timeout: float = 120.0, **kw: Any) -> Model:
    """Create the backend named by ``spec``.

    Parameters
    ----------
    spec : str
        One of :data:`MODEL_SPEC_FORMS`.
    base_url, api_key : str, optional
        ``openai`` only; default to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
    concurrency : int
        ``openai`` only: at most this many HTTP requests in flight.
    retries : int
        ``openai`` only: retries after the first attempt on 429, 5xx, timeouts,
        connection errors and malformed JSON.
    timeout : float
        ``openai`` only: per-attempt timeout in seconds.
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
        ``api_key`` given for a backend that is not ``openai``.

    Examples
    --------
    >>> load_model("simulated:eps=0.1").params.eps
    0.1
    """
    provider, rest = parse_model_spec(spec)
    if provider != "openai":
        for flag, value in (("--base-url", base_url), ("--api-key", api_key)):
            if value is not None:
                raise UserError(f"{flag}: only used with openai:MODEL, not with {provider}; drop it")
    if provider == "openai":
        return _openai(spec, rest, base_url=base_url, api_key=api_key, concurrency=concurrency,
                       retries=retries, timeout=timeout, **kw)
    return _PROVIDERS[provider](spec, rest, **kw)
