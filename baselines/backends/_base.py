"""The backend registration record and the ``@backend`` decorator.

One module per backend in ``depthbench/baselines/backends/`` defines a model class (the
:class:`~depthbench.baselines._protocol.Model` protocol) and registers it with
:func:`backend`, declaring everything the rest of depthbench reads from the table: the
``--model`` spec forms (``--model`` help of ``eval`` and ``doctor``, the error message for a
bad spec), the submission ``endpoint.kind`` (the backend name), whether the backend talks
to a server (``--base-url`` / ``--api-key`` apply), its options, where its token counts
come from, and optional hooks for ``depthbench doctor`` and for the submission validator's
token recount.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Backend", "BadSpec", "backend", "registry", "unregister", "Recount"]

#: ``recount(kind, spec, model_name) -> Tokenizer`` (:class:`depthbench.baselines.backends._tokenizer.Tokenizer`)
#: or None: a local tokenizer the submission validator can recount a submission's texts with.
Recount = Callable[[str, str, str], Any]


@dataclass(frozen=True)
class Backend:
    """One registered backend.

    Attributes
    ----------
    name : str
        The spec prefix (``openai`` in ``openai:MODEL``); also the submission's
        ``metadata.endpoint.kind``.
    forms : tuple of str
        The spec forms, for ``--model`` help and error messages.
    summary : str
        One line.
    factory : callable
        ``factory(rest, **options) -> Model`` with ``rest`` the text after ``name:``.
    needs_rest : bool
        ``rest`` may not be empty.
    model_in_spec : bool
        The text after ``name:`` is the model's name (a submission's model name when the
        calls report none).
    remote : bool
        Talks to a server: ``base_url``, ``api_key``, ``concurrency``, ``retries`` and
        ``timeout`` are passed to the factory; other backends refuse ``--base-url`` /
        ``--api-key``.
    token_source : str
        Where its token counts come from (documentation).
    options : mapping of str to str
        Backend options (``load_model(..., **options)``) and their meaning.
    option_types : mapping of str to str
        The JSON type of each option settable by ``--model-args`` (``"bool"``, ``"int|null"``,
        ``"number"``, ``"string"``, ``"object|null"``, ``"python"``, ...; the kinds of
        :func:`depthbench.baselines.backends.check_model_args`); a wrong type is refused
        before anything runs. Empty: the backend checks its own values.
    sampler : bool
        Takes the full sampler (``top_k``, ``min_p``, the penalties:
        :class:`~depthbench.baselines.backends._sampler.Sampler`) and records it in
        ``run.json``; other backends refuse non-neutral sampler flags.
    doctor : callable, optional
        ``async doctor(spec, base_url=, api_key=, timeout=) -> list[Check]``: the checks of
        ``depthbench doctor`` (default: the generic seed and token-count probe).
    recount : callable, optional
        :data:`Recount` hook for the submission validator.
    model_class : type, optional
        The decorated class (its constructor's keyword arguments are the backend's options,
        checked by ``eval --model-args``).
    """

    name: str
    forms: tuple[str, ...]
    summary: str
    factory: Callable[..., Any]
    needs_rest: bool = True
    model_in_spec: bool = False
    remote: bool = False
    token_source: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    option_types: Mapping[str, str] = field(default_factory=dict)
    sampler: bool = False
    doctor: Callable[..., Awaitable[list[Any]]] | None = None
    recount: Recount | None = None
    model_class: type | None = None


class BadSpec(ValueError):
    """Raised by a backend factory for a malformed part after ``name:``; ``load_model``
    turns it into a one-line error listing every valid spec form."""


_REGISTRY: dict[str, Backend] = {}


def backend(name: str, *, forms: Sequence[str], summary: str, needs_rest: bool = True, model_in_spec: bool = False,
            remote: bool = False,
            token_source: str = "", options: Mapping[str, str] | None = None,
            option_types: Mapping[str, str] | None = None, sampler: bool = False,
            doctor: Callable[..., Awaitable[list[Any]]] | None = None,
            recount: Recount | None = None) -> Callable[[type], type]:
    """Register a model class as the backend ``name`` (see :class:`Backend`).

    The factory is the class's ``from_spec(rest, **options)`` classmethod when it has
    one, else the class itself called as ``cls(rest, **options)``. A class may also have a
    ``check_spec(rest)`` classmethod that checks the text after ``name:`` without building
    a model (``eval`` calls it before any slow work; raise :class:`BadSpec` or ``UserError``).

    Raises
    ------
    ValueError
        On a malformed name or a name taken by another class.
    """
    if not name.isidentifier() or name.lower() != name:
        raise ValueError(f"backend name {name!r} must be a lower-case identifier")

    def deco(cls: type) -> type:
        old = _REGISTRY.get(name)
        if old is not None and getattr(old.factory, "__qualname__", "").split(".")[0] != cls.__qualname__:
            raise ValueError(f"backend {name!r} is registered twice")
        factory = getattr(cls, "from_spec", cls)
        _REGISTRY[name] = Backend(name=name, forms=tuple(forms), summary=summary, factory=factory,
                                  needs_rest=needs_rest, model_in_spec=model_in_spec, remote=remote, token_source=token_source,
                                  options=dict(options or {}), option_types=dict(option_types or {}), sampler=sampler,
                                  doctor=doctor, recount=recount, model_class=cls)
        return cls

    return deco


def registry() -> dict[str, Backend]:
    """The backends registered so far (use :func:`depthbench.baselines.backends.backends`)."""
    return dict(_REGISTRY)


def unregister(name: str) -> None:
    """Remove a registration (for tests that register a throw-away backend)."""
    _REGISTRY.pop(name, None)
