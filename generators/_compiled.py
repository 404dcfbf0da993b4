"""The optional compiled fast paths of the generators (C extension modules).

``pyproject.toml`` builds the modules of :data:`MODULES` (``depthbench.generators._arith_c``,
``_graph_c`` and ``_stream_c``) when a C compiler is present (``optional = true``: an install
without one still succeeds). Each function in
them has a pure-Python reference in its family's module, which gives the same results and is
used whenever the extension is missing or ``DEPTHBENCH_PURE_PYTHON=1`` is set in the
environment (the tests run both paths against each other). After editing a ``.c`` file,
re-run ``pip install -e .`` to rebuild it (an editable install puts the built modules next
to the sources in ``generators/``, so every environment installed from that tree uses them). :func:`status` says which ones a process uses
(``depthbench --version`` and ``benchmarks/generate_bench.py`` print it).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["load", "status", "describe_status", "MODULES", "ENV"]

#: set to 1 to ignore the compiled modules (checked when a family module is imported)
ENV = "DEPTHBENCH_PURE_PYTHON"

#: The compiled modules, as pyproject.toml's ``ext-modules`` names them (tested).
MODULES = ("_arith_c", "_graph_c", "_stream_c")


def load(name: str) -> ModuleType | None:
    """The compiled module ``depthbench.generators.<name>``, or None.

    Parameters
    ----------
    name : str
        One of :data:`MODULES` (``"_arith_c"``, ``"_graph_c"``, ``"_stream_c"``).

    Returns
    -------
    module or None
        None when ``DEPTHBENCH_PURE_PYTHON=1`` is set or the module was not built.
    """
    if os.environ.get(ENV, "") == "1":
        return None
    try:
        return importlib.import_module(f"depthbench.generators.{name}")
    except ImportError:
        return None


def status() -> dict[str, bool]:
    """Which compiled modules a family imported now would use: ``{name: loaded}`` over
    :data:`MODULES` (all False under ``DEPTHBENCH_PURE_PYTHON=1``)."""
    return {name: load(name) is not None for name in MODULES}


def describe_status() -> str:
    """:func:`status` in words, e.g. ``"compiled fast paths: _arith_c, _graph_c, _stream_c"``, or
    ``"compiled fast paths: none (pure Python; DEPTHBENCH_PURE_PYTHON=1)"``."""
    on = [name for name, loaded in status().items() if loaded]
    if on:
        missing = [name for name in MODULES if name not in on]
        return "compiled fast paths: " + ", ".join(on) + (f" (not built: {', '.join(missing)})" if missing else "")
    why = f"{ENV}=1" if os.environ.get(ENV, "") == "1" else "not built: reinstall with a C compiler present"
    return f"compiled fast paths: none (pure Python; {why})"
