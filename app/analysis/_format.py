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

__all__ = ["clean_json", "num", "fmt", "fmt_interval", "fmt_d50", "fmt_limit", "fmt_collapsed", "diversity_summary", "fmt_diversity"]


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


def diversity_summary(cells: Any) -> dict[str, Any] | None:
    """One (task, strategy, budget)'s diversity rows (``results.json`` ``diversity``) in a few numbers.

    Returns ``{"answer_entropy", "coverage_gap"}`` (means over the depths, unweighted),
    ``"collapsed_depths"`` (the depths flagged collapsed, sorted) and ``"depths"``; None without rows.

    Examples
    --------
    >>> diversity_summary([{"depth": 2, "answer_entropy": 0.8, "coverage_gap": 0.2, "collapsed": False},
    ...                    {"depth": 8, "answer_entropy": 0.1, "coverage_gap": 0.0, "collapsed": True}])
    {'answer_entropy': 0.45, 'coverage_gap': 0.1, 'collapsed_depths': [8], 'depths': [2, 8]}
    """
    rows = [c for c in (cells or []) if isinstance(c, dict)]
    if not rows:
        return None
    return {
        "answer_entropy": round(sum(num(c.get("answer_entropy")) for c in rows) / len(rows), 12),
        "coverage_gap": round(sum(num(c.get("coverage_gap")) for c in rows) / len(rows), 12),
        "collapsed_depths": sorted(int(c["depth"]) for c in rows if c.get("collapsed")),
        "depths": sorted(int(c["depth"]) for c in rows),
    }


def fmt_diversity(summary: Any, *, missing: str = "\u2013") -> str:
    """A :func:`diversity_summary` in words, as the leaderboard (and any other one-cell view) shows it.

    Examples
    --------
    >>> fmt_diversity({"answer_entropy": 0.45, "coverage_gap": 0.1, "collapsed_depths": [8], "depths": [2, 8]})
    'H 0.45 bit, pass-maj +0.10; collapsed at depth 8'
    >>> fmt_diversity({"answer_entropy": 0.9, "coverage_gap": 0.3, "collapsed_depths": [], "depths": [2]}), fmt_diversity(None)
    ('H 0.90 bit, pass-maj +0.30', '\u2013')
    """
    if not summary:
        return missing
    text = f"H {fmt(summary.get('answer_entropy'), 2)} bit, pass-maj {fmt(summary.get('coverage_gap'), 2, sign=True)}"
    depths = summary.get("collapsed_depths") or []
    if depths:
        text += f"; collapsed at depth{'s' if len(depths) > 1 else ''} {', '.join(str(d) for d in depths)}"
    return text
