"""The optional compiled fast paths of the generators (C extension modules).

``pyproject.toml`` builds ``depthbench.generators._arith_c`` and ``_graph_c`` when a C compiler
is present (``optional = true``: an install without one still succeeds). Each function in
them has a pure-Python reference in its family's module, which gives the same results and is
used whenever the extension is missing or ``DEPTHBENCH_PURE_PYTHON=1`` is set in the
environment (the tests run both paths against each other). After editing a ``.c`` file,
re-run ``pip install -e .`` to rebuild it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["load"]

#: set to 1 to ignore the compiled modules (checked when a family module is imported)
ENV = "DEPTHBENCH_PURE_PYTHON"


def load(name: str) -> ModuleType | None:
    """The compiled module ``depthbench.generators.<name>``, or None.

    Parameters
    ----------
    name : str
        ``"_arith_c"`` or ``"_graph_c"``.

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
