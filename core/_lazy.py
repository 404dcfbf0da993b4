"""Deferred imports, for CLI start-up (``depthbench --help`` and ``depthbench strategies``).

Heavy third-party libraries: ``depthbench --help`` must not pay for scipy, matplotlib,
jsonschema or networkx (about a second of CPU together). A module that needs one at module
level writes::

    from depthbench._lazy import lazy
    stats = lazy("scipy.stats")

and uses ``stats.t.sf(...)`` as usual: the real module is imported on the first attribute
access. :func:`lazy` refuses depthbench's own modules.

A package's re-exports of its own submodules: a package ``__init__`` that re-exports names
a start-up path does not need (``depthbench.baselines``' runner, ``depthbench.scorers``'
statistics) declares them in one literal table::

    __getattr__, __dir__ = lazy_exports(__name__, {"depthbench.baselines._runner": ("EvalConfig", "run_eval")})

(PEP 562): ``from depthbench.baselines import run_eval`` works as before and imports the
submodule on first use. Only the package's own submodules may be named, and the table must
be a literal: ``tests/test_architecture.py`` reads it and counts every row as an import
edge of the package, so the layer and cycle checks see deferred edges too
(``docs/ARCHITECTURE.md``, "Layers").
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

__all__ = ["lazy", "lazy_exports"]


class _LazyModule:
    """A stand-in that imports ``name`` on first attribute access and then forwards to it."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)

    def _load(self) -> ModuleType:
        mod = self._module
        if mod is None:
            mod = importlib.import_module(self._name)
            object.__setattr__(self, "_module", mod)
        return mod

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy(name: str) -> Any:
    """A module object for ``name`` whose import is deferred to its first use.

    Raises
    ------
    ValueError
        If ``name`` is one of depthbench's own modules (those are never deferred).

    Examples
    --------
    >>> m = lazy("json")
    >>> m.dumps([1])
    '[1]'
    """
    if name == "depthbench" or name.startswith("depthbench."):
        raise ValueError(f"{name}: depthbench's own modules are imported at module level, never lazily")
    return _LazyModule(name)


def lazy_exports(package: str, names: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], Any],
                                                                            Callable[[], list[str]]]:
    """PEP 562 ``__getattr__`` and ``__dir__`` for ``package``, re-exporting ``names`` lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (it must be importing: called from its ``__init__``).
    names : mapping of str to sequence of str
        ``{submodule: (name, ...)}``: each submodule (absolute name, inside ``package``)
        and the names it defines that the package re-exports. The first access of a name
        imports its submodule and caches the value on the package.

    Returns
    -------
    (__getattr__, __dir__)
        To assign at module level in the package's ``__init__``.

    Raises
    ------
    ValueError
        If a submodule is not inside ``package``.
    """
    table: dict[str, str] = {}
    for mod, attrs in names.items():
        if not mod.startswith(package + "."):
            raise ValueError(f"{mod}: lazy_exports defers only {package}'s own submodules")
        table.update(dict.fromkeys(attrs, mod))
    pkg = sys.modules[package]

    def __getattr__(name: str) -> Any:
        mod = table.get(name)
        if mod is None:  # not a deferred name: a submodule import falls back to the import system
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(mod), name)
        setattr(pkg, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(pkg)) | set(table))

    return __getattr__, __dir__
