"""The ``depthbench --version`` line: the version and which compiled fast paths of the
generators this process uses (:func:`depthbench.generators._compiled.describe_status`).

Re-exported lazily by :mod:`depthbench.cli`, so ``depthbench --help`` does not import the
generators package.
"""

from __future__ import annotations

from depthbench import __version__
from depthbench.generators._compiled import describe_status

__all__ = ["version_line"]


def version_line() -> str:
    """E.g. ``"depthbench 0.1.0; compiled fast paths: _arith_c, _graph_c, _stream_c"``."""
    return f"depthbench {__version__}; {describe_status()}"
