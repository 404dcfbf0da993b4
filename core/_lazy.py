"""Deferred imports of heavy third-party libraries (the one sanctioned lazy import).

``depthbench --help`` must not pay for scipy, matplotlib, jsonschema or networkx (about a
second of CPU together). A module that needs one at module level writes::

    from depthbench._lazy import lazy
    stats = lazy("scipy.stats")

and uses ``stats.t.sf(...)`` as usual: the real module is imported on the first attribute
access. Only third-party modules may be deferred this way (``docs/ARCHITECTURE.md``,
"Layers"); depthbench's own modules are always imported at module level, so the import
graph test sees every edge.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy"]


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
