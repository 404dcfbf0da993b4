"""Numbers for people and JSON for files: the formatting every view of the results shares.

``depthbench analyze`` (its text table), ``report``, ``compare`` and the leaderboard all
format numbers and clean JSON through these functions, so a number reads the same in every
output and every file is strict JSON (NaN and infinities become ``null``).
"""

from __future__ import annotations

import math
from typing import Any

from depthbench._lazy import lazy

np = lazy("numpy")

__all__ = ["clean_json", "num", "fmt", "fmt_interval", "fmt_d50", "fmt_limit", "fmt_collapsed"]


def clean_json(x: Any, *, digits: int | None = None) -> Any:
    """``x`` as strict, deterministic JSON data.

    NaN and infinities become ``None``; tuples and lists become lists, sets sorted lists;
    mapping keys strings; numpy scalars Python numbers; with ``digits``, floats are
    rounded (stable bytes across platforms). Strings, ints, bools and ``None`` are kept;
    anything else becomes its ``str``.

    Examples
    --------
    >>> clean_json({"a": float("nan"), "b": (1, 2.123456789), 3: {2, 1}}, digits=3)
    {'a': None, 'b': [1, 2.123], '3': [1, 2]}
    """
    if isinstance(x, bool) or x is None or isinstance(x, (str, int)):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            return None
        return round(x, digits) if digits is not None else x
    if isinstance(x, dict):
        return {str(k): clean_json(v, digits=digits) for k, v in x.items()}
    if isinstance(x, (set, frozenset)):
        return [clean_json(v, digits=digits) for v in sorted(x, key=repr)]
    if isinstance(x, (list, tuple)):
        return [clean_json(v, digits=digits) for v in x]
    if isinstance(x, np.generic):
        return clean_json(x.item(), digits=digits)
    return str(x)


def num(x: Any) -> float:
    """A JSON number as float; ``None`` (and anything non-numeric) becomes NaN."""
    if isinstance(x, bool) or x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def fmt(x: Any, digits: int = 3, *, missing: str = "\u2013", sign: bool = False) -> str:
    """A number for a table: fixed digits, integers as they are, missing values as ``missing``.

    Examples
    --------
    >>> fmt(0.5), fmt(3), fmt(None), fmt(0.25, 2, sign=True), fmt(float("nan"), missing="-")
    ('0.500', '3', '\u2013', '+0.25', '-')
    """
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return str(x)
    v = num(x)
    if math.isnan(v):
        return missing
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def fmt_interval(v: Any, lo: Any, hi: Any, digits: int = 3, *, missing: str = "\u2013") -> str:
    """``"v [lo, hi]"``; an open upper end (``None``, e.g. d50 when p can be 1) reads ``\u221e``.

    Examples
    --------
    >>> fmt_interval(0.5, 0.25, 0.75), fmt_interval(4.0, 2.0, None, 1), fmt_interval(None, 0, 1)
    ('0.500 [0.250, 0.750]', '4.0 [2.0, \u221e]', '\u2013')
    """
    if math.isnan(num(v)):
        return missing
    if lo is None and hi is None:
        return fmt(v, digits, missing=missing)
    hi_text = "\u221e" if hi is None else fmt(hi, digits, missing=missing)
    return f"{fmt(v, digits, missing=missing)} [{fmt(lo, digits, missing=missing)}, {hi_text}]"


def fmt_d50(fit: Any, digits: int = 2, *, missing: str = "\u2013") -> str:
    """A curve fit's d50 (depth where accuracy falls halfway to chance) as every view words it.

    An extrapolated d50 (``d50_extrapolated``: infinite, or beyond the deepest measured
    depth) is not a number the data support and reads ``"> max depth N"``; otherwise the
    value with ``digits`` decimals; a missing fit reads ``missing``.

    Examples
    --------
    >>> fmt_d50({"d50": 11.04, "d50_extrapolated": True, "max_depth": 4}), fmt_d50({"d50": 3.14159})
    ('> max depth 4', '3.14')
    >>> fmt_d50({"d50": None, "d50_extrapolated": True}), fmt_d50(None)
    ('> max tested depth', '\u2013')
    """
    if not fit:
        return missing
    if fit.get("d50_extrapolated"):
        depth = fit.get("max_depth")
        return f"> max depth {depth}" if isinstance(depth, int) and not isinstance(depth, bool) else "> max tested depth"
    return fmt(fit.get("d50"), digits, missing=missing)


def fmt_limit(limit: Any) -> str:
    """A run's ``--limit`` (items per task) in words: ``None`` (no limit) reads ``"all items"``.

    Examples
    --------
    >>> fmt_limit(None), fmt_limit(5)
    ('all items', '5 items')
    """
    return "all items" if limit is None else f"{fmt(limit)} items"


def fmt_collapsed(flag: Any, *, missing: str = "\u2013") -> str:
    """A diversity row's collapse flag as every view words it (``scorers.collapse_flag``).

    Examples
    --------
    >>> fmt_collapsed(True), fmt_collapsed(False), fmt_collapsed(None, missing="-")
    ('yes', 'no', '-')
    """
    if flag is None:
        return missing
    return "yes" if flag else "no"
