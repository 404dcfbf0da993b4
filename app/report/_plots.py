"""Figures of a run's results: depth curves, budget curves, equivalence maps, token use, diversity.

Every figure is built on a bare :class:`matplotlib.figure.Figure` (no ``pyplot``, so no
global figure state and no GUI backend) inside a local ``rc_context``, and rendered to
PNG and SVG bytes that are identical for identical inputs: the SVG hash salt is fixed,
its ``Date`` metadata dropped, text is drawn as paths, and the PNG carries no
``Software`` tag. Colours follow the strategy, so one strategy looks the same in every
figure of a report.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from depthbench._lazy import lazy
from depthbench.analysis._results import num, pair_label, strategy_kinds, strategy_order
from depthbench.scorers import summarize_comparison

matplotlib = lazy("matplotlib")
mpl_figure = lazy("matplotlib.figure")
mpl_patches = lazy("matplotlib.patches")

__all__ = ["RenderedFigure", "render_figures", "render_overview", "figure_bytes", "VERDICT_COLORS", "slug"]

# Fixed rendering settings: the same inputs give the same bytes on any machine with the
# same matplotlib (DejaVu Sans ships with matplotlib itself).
_RC = {
    "svg.hashsalt": "depthbench",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 110,
}

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
            "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_KIND_STYLE = {"single": ("o", "-"), "parallel": ("s", "-"), "sequential": ("^", "--"), "bound": ("x", ":")}

#: Fill colour of each verdict in the equivalence maps.
VERDICT_COLORS = {
    "equivalent": "#a6d96a",
    "a_better": "#fdae61",
    "b_better": "#74add1",
    "inconclusive": "#e0e0e0",
    "not_testable": "#ffffff",
}


@dataclass(frozen=True)
class RenderedFigure:
    """One rendered figure.

    Attributes
    ----------
    name : str
        File stem (``<task>-depth``, ``overview`` ...); safe as a file name.
    title : str
        Heading for the report.
    caption : str
        One or two sentences saying what is plotted.
    png, svg : bytes
        The figure in both formats (deterministic).
    """

    name: str
    title: str
    caption: str
    png: bytes
    svg: bytes


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (``majority@8`` -> ``majority-8``)."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-") or "x"


def figure_bytes(fig: Any) -> tuple[bytes, bytes]:
    """Render ``fig`` to ``(png, svg)`` bytes with no time stamps or version tags in PNG.

    Call inside the module's rc context (``render_*`` do), so the SVG hash salt applies.
    """
    png = io.BytesIO()
    fig.savefig(png, format="png", metadata={"Software": None})
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return png.getvalue(), svg.getvalue()


def _mean(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


class _Style:
    """Colour, marker and line style per strategy, fixed for the whole report."""

    def __init__(self, curves: Sequence[Mapping[str, Any]]) -> None:
        self.order = strategy_order(curves)
        self.kinds = strategy_kinds(curves)
        self.color = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(self.order)}

    def line(self, s: str) -> dict[str, Any]:
        marker, ls = _KIND_STYLE.get(self.kinds.get(s, ""), ("o", "-"))
        return {"color": self.color[s], "marker": marker, "linestyle": ls, "markersize": 4, "linewidth": 1.4}


def _rows(curves: Sequence[Mapping[str, Any]], **match: Any) -> list[Mapping[str, Any]]:
    return [r for r in curves if all(r[k] == v for k, v in match.items())]


def _depth_axis(ax: Any, depths: Sequence[int]) -> None:
    ax.set_xticks(list(depths))
    ax.set_xlabel("certified depth")


def _draw_depth_panel(ax: Any, curves: Sequence[Mapping[str, Any]], task: str, budget: int, style: _Style) -> None:
    rows = _rows(curves, task=task, budget=budget)
    depths = sorted({int(r["depth"]) for r in rows})
    for s in style.order:
        pts = sorted(_rows(rows, strategy=s), key=lambda r: r["depth"])
        if not pts:
            continue
        x = [int(r["depth"]) for r in pts]
        ax.fill_between(x, [num(r["wilson_lo"]) for r in pts], [num(r["wilson_hi"]) for r in pts],
                        color=style.color[s], alpha=0.14, linewidth=0)
        ax.plot(x, [num(r["accuracy"]) for r in pts], label=s, **style.line(s))
    chance = _mean([num(r.get("chance")) for r in rows])
    if not math.isnan(chance):
        shown = f"{chance:.2g}" if chance >= 1e-3 else "~0"
        # One legend entry "chance" for every panel; each panel writes its own rate by the line.
        ax.axhline(chance, color="#555555", linestyle=":", linewidth=1.0, label="chance")
        ax.annotate(f"chance {shown}", xy=(1.0, chance), xycoords=("axes fraction", "data"),
                    xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom",
                    fontsize=6.5, color="#555555")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("accuracy")
    _depth_axis(ax, depths)
    ax.set_title(f"{task}, budget {budget} tokens")


def _fig(ncols: int, nrows: int = 1, w: float = 3.5, h: float = 2.7) -> tuple[Any, list[list[Any]]]:
    fig = mpl_figure.Figure(figsize=(w * ncols + 1.3, h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [list(r) for r in axes]


def _legend_right(fig: Any, ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper")


def _depth_figure(res: Mapping[str, Any], task: str, style: _Style) -> RenderedFigure:
    curves = res["curves"]
    budgets = sorted({int(r["budget"]) for r in _rows(curves, task=task)})
    fig, axes = _fig(len(budgets))
    for ax, b in zip(axes[0], budgets):
        _draw_depth_panel(ax, curves, task, b, style)
    _legend_right(fig, axes[0][0])
    png, svg = figure_bytes(fig)
    return RenderedFigure(
        f"{slug(task)}-depth", f"{task}: accuracy against depth",
        "Accuracy per certified depth for each strategy at each budget; bands are 95% Wilson "
        "intervals, the dotted line is the chance rate of a uniform guess.", png, svg)


def _budget_figure(res: Mapping[str, Any], task: str, style: _Style) -> RenderedFigure:
    rows = _rows(res["curves"], task=task)
    strategies = [s for s in style.order if _rows(rows, strategy=s)]
    depths = sorted({int(r["depth"]) for r in rows})
    budgets = sorted({int(r["budget"]) for r in rows})
    cmap = matplotlib.colormaps["viridis"]
    fig, axes = _fig(len(strategies), w=2.9)
    for ax, s in zip(axes[0], strategies):
        for i, d in enumerate(depths):
            pts = sorted(_rows(rows, strategy=s, depth=d), key=lambda r: r["budget"])
            if not pts:
                continue
            x = [int(r["budget"]) for r in pts]
            y = [num(r["accuracy"]) for r in pts]
            lo = [max(0.0, yv - num(r["wilson_lo"])) for yv, r in zip(y, pts)]
            hi = [max(0.0, num(r["wilson_hi"]) - yv) for yv, r in zip(y, pts)]
            ax.errorbar(x, y, yerr=[lo, hi], color=cmap(i / max(1, len(depths) - 1) * 0.9),
                        marker="o", markersize=3.5, linewidth=1.2, capsize=2, label=f"depth {d}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("budget (generated tokens per item)")
        ax.set_title(s)
    axes[0][0].set_ylabel("accuracy")
    _legend_right(fig, axes[0][0])
    png, svg = figure_bytes(fig)
    return RenderedFigure(
        f"{slug(task)}-budget", f"{task}: accuracy against budget",
        "Accuracy against the token budget, one line per depth, one panel per strategy; "
        "error bars are 95% Wilson intervals.", png, svg)


def _pairs(res: Mapping[str, Any], task: str) -> list[tuple[str, str]]:
    return sorted({(r["a"], r["b"]) for r in res.get("equivalence", []) if r["task"] == task})


def _draw_equivalence_panel(ax: Any, res: Mapping[str, Any], task: str, a: str, b: str,
                            kinds: Mapping[str, str]) -> list[Any]:
    rows = [r for r in res.get("equivalence", []) if r["task"] == task and r["a"] == a and r["b"] == b]
    depths = sorted({int(r["depth"]) for r in rows})
    budgets = sorted({int(r["budget"]) for r in rows})
    cell = {(int(r["budget"]), int(r["depth"])): r for r in rows}
    for i, bud in enumerate(budgets):
        for j, d in enumerate(depths):
            r = cell.get((bud, d))
            if r is None:
                ax.add_patch(mpl_patches.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="white", edgecolor="#bbbbbb",
                                       hatch="//", linewidth=0.5))
                continue
            floor = bool(r.get("floor"))  # both strategies within the margin of chance
            ax.add_patch(mpl_patches.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=VERDICT_COLORS[r["verdict"]],
                                   edgecolor="white", linewidth=1.0, hatch="xx" if floor else None))
            diff = num(r.get("diff"))
            if not math.isnan(diff):
                ax.text(j, i, f"{diff:+.2f}", ha="center", va="center", fontsize=7, color="#222222")

    by_budget: dict[int, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_budget.setdefault(int(r["budget"]), []).append(r)
    bps = {bud: summarize_comparison(rs)["breakpoint_depth"] for bud, rs in by_budget.items()}
    for i, bud in enumerate(budgets):
        bp = bps.get(bud)
        if bp is not None and int(bp) in depths:
            j = depths.index(int(bp))
            ax.add_patch(mpl_patches.Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, edgecolor="black", linewidth=2.2))
    ax.set_xlim(-0.5, len(depths) - 0.5)
    ax.set_ylim(-0.5, len(budgets) - 0.5)
    ax.set_xticks(range(len(depths)), [str(d) for d in depths])
    ax.set_yticks(range(len(budgets)), [str(x) for x in budgets])
    ax.set_xlabel("certified depth")
    ax.set_ylabel("budget (tokens)")
    ax.grid(False)
    ax.set_title(f"{task}: {a} vs {b}")
    a_words, b_words = pair_label(a, b, kinds)
    a_label = a_words if a_words.startswith(a) else f"{a_words} ({a})"
    b_label = b_words if b_words.startswith(b) else f"{b_words} ({b})"
    return [mpl_patches.Patch(facecolor=VERDICT_COLORS["equivalent"], label="equivalent"),
            mpl_patches.Patch(facecolor=VERDICT_COLORS["a_better"], label=a_label),
            mpl_patches.Patch(facecolor=VERDICT_COLORS["b_better"], label=b_label),
            mpl_patches.Patch(facecolor=VERDICT_COLORS["inconclusive"], label="not determined at this n"),
            mpl_patches.Patch(facecolor="white", edgecolor="#666666", hatch="xx", label="both at chance"),
            mpl_patches.Patch(facecolor="none", edgecolor="black", linewidth=2.0, label="breakpoint")]


def _equivalence_figure(res: Mapping[str, Any], task: str, style: _Style) -> RenderedFigure | None:
    pairs = _pairs(res, task)
    if not pairs:
        return None
    n_budgets = len({int(r["budget"]) for r in res["equivalence"] if r["task"] == task})
    fig = mpl_figure.Figure(figsize=(6.6, (0.55 * n_budgets + 1.5) * len(pairs)), layout="constrained")
    axes = fig.subplots(len(pairs), 1, squeeze=False)
    for ax, (a, b) in zip(axes[:, 0], pairs):
        handles = _draw_equivalence_panel(ax, res, task, a, b, style.kinds)
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5))
    png, svg = figure_bytes(fig)
    return RenderedFigure(
        f"{slug(task)}-equivalence", f"{task}: equivalence map",
        f"Paired verdict per depth and budget (margin {res.get('margin', 0.05)}); the number is the "
        "accuracy difference a - b; the black frame marks the breakpoint, the first depth with a shown "
        "difference right after a depth shown equivalent (none is framed when the depths before the first "
        "difference are not determined).", png, svg)


def _tokens_figure(res: Mapping[str, Any], task: str, style: _Style) -> RenderedFigure:
    curves = res["curves"]
    budgets = sorted({int(r["budget"]) for r in _rows(curves, task=task)})
    fig, axes = _fig(len(budgets), nrows=2, w=3.4, h=2.4)
    for col, bud in enumerate(budgets):
        rows = _rows(curves, task=task, budget=bud)
        depths = sorted({int(r["depth"]) for r in rows})
        for row_i, (key, unit) in enumerate((("mean_generated_tokens", "G"), ("mean_processed_tokens", "P"))):
            ax = axes[row_i][col]
            for s in style.order:
                pts = sorted(_rows(rows, strategy=s), key=lambda r: r["depth"])
                if pts:
                    ax.plot([int(r["depth"]) for r in pts], [num(r.get(key)) for r in pts], label=s, **style.line(s))
            if unit == "G":
                ax.axhline(bud, color="#555555", linestyle=":", linewidth=1.0, label="budget cap")
                ax.set_title(f"{task}, budget {bud}")
            ax.set_ylim(bottom=0)
            ax.set_ylabel(f"mean {unit} per item")
            _depth_axis(ax, depths)
    _legend_right(fig, axes[0][0])
    png, svg = figure_bytes(fig)
    return RenderedFigure(
        f"{slug(task)}-tokens", f"{task}: token use",
        "Mean tokens per item: G (generated, what the budget caps; top) and P (processed: prompt "
        "plus generated, per call; bottom).", png, svg)


def _diversity_figure(res: Mapping[str, Any], task: str, style: _Style) -> RenderedFigure | None:
    rows = _rows(res.get("diversity") or [], task=task)
    if not rows:
        return None
    budgets = sorted({int(r["budget"]) for r in rows})
    fig, axes = _fig(len(budgets), nrows=2, w=3.4, h=2.4)
    rule = res.get("diversity_rule") or {}
    for col, bud in enumerate(budgets):
        here = _rows(rows, budget=bud)
        depths = sorted({int(r["depth"]) for r in here})
        ax_h, ax_c = axes[0][col], axes[1][col]
        for s in style.order:
            pts = sorted(_rows(here, strategy=s), key=lambda r: r["depth"])
            if not pts:
                continue
            x = [int(r["depth"]) for r in pts]
            ax_h.plot(x, [num(r["answer_entropy"]) for r in pts], label=s, **style.line(s))
            ax_c.plot(x, [num(r["coverage"]) for r in pts], label=s, **style.line(s))
            ax_c.plot(x, [num(r["majority_accuracy"]) for r in pts], color=style.color[s], linestyle=":",
                      linewidth=1.0, marker=None)
            flagged = [r for r in pts if r.get("collapsed")]
            if flagged:
                ax_h.scatter([int(r["depth"]) for r in flagged], [num(r["answer_entropy"]) for r in flagged],
                             s=70, facecolors="none", edgecolors="#d62728", linewidths=1.4, zorder=5,
                             label="collapsed")
        if "entropy_max_bits" in rule:
            ax_h.axhline(float(rule["entropy_max_bits"]), color="#555555", linestyle=":", linewidth=1.0)
        if "coverage_max" in rule:
            ax_c.axhline(float(rule["coverage_max"]), color="#555555", linestyle=":", linewidth=1.0)
        ax_h.set_ylim(bottom=0)
        ax_h.set_ylabel("answer entropy (bits)")
        ax_h.set_title(f"{task}, budget {bud}")
        ax_c.set_ylim(-0.03, 1.03)
        ax_c.set_ylabel("coverage (pass@N)")
        _depth_axis(ax_h, depths)
        _depth_axis(ax_c, depths)
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right upper")
    png, svg = figure_bytes(fig)
    return RenderedFigure(
        f"{slug(task)}-diversity", f"{task}: diversity of the samples",
        "Per depth, for each strategy that samples several responses per item: top, the mean plug-in entropy "
        "of the answers given (bits); bottom, coverage (pass@N, solid) and majority-vote accuracy (maj@N, "
        "dotted) -- their gap is what a perfect selector adds to the vote. Red rings: cells flagged collapsed "
        "(entropy and coverage both at or under the dotted thresholds: the samples sit on one answer that is "
        "usually wrong, so more samples or search cannot help).", png, svg)


def render_figures(results: Mapping[str, Any]) -> list[RenderedFigure]:
    """Render every per-task figure of a checked ``results.json``.

    Parameters
    ----------
    results : mapping
        A checked results object (see :func:`depthbench.analysis.check_results`).

    Returns
    -------
    list of RenderedFigure
        For each task in name order: depth curves (one panel per budget), budget curves
        (one panel per strategy), the equivalence map (one panel per compared pair, if
        any), token use (G and P) and, when the run has diversity rows, answer entropy
        and coverage against depth (:func:`_diversity_figure`).
    """
    out: list[RenderedFigure] = []
    with matplotlib.rc_context(_RC):
        style = _Style(results["curves"])
        for task in sorted({r["task"] for r in results["curves"]}):
            out.append(_depth_figure(results, task, style))
            out.append(_budget_figure(results, task, style))
            eq = _equivalence_figure(results, task, style)
            if eq is not None:
                out.append(eq)
            out.append(_tokens_figure(results, task, style))
            div = _diversity_figure(results, task, style)
            if div is not None:
                out.append(div)
    return out


def _primary_pair(res: Mapping[str, Any], task: str, kinds: Mapping[str, str]) -> tuple[str, str] | None:
    pairs = _pairs(res, task)
    mixed = [p for p in pairs if kinds.get(p[0]) == "parallel" and kinds.get(p[1]) == "sequential"]
    return (mixed or pairs or [None])[0]


def render_overview(results: Mapping[str, Any]) -> RenderedFigure:
    """One figure summarising a run: per task, depth curves at the largest budget and
    the equivalence map of the main parallel-vs-sequential pair.

    This is the figure the README shows.
    """
    with matplotlib.rc_context(_RC):
        style = _Style(results["curves"])
        tasks = sorted({r["task"] for r in results["curves"]})
        fig = mpl_figure.Figure(figsize=(10.5, 2.9 * len(tasks)), layout="constrained")
        axes = fig.subplots(len(tasks), 2, squeeze=False, width_ratios=(1.0, 1.15))
        for (ax_c, ax_e), task in zip(axes, tasks):
            budget = max(int(r["budget"]) for r in _rows(results["curves"], task=task))
            _draw_depth_panel(ax_c, results["curves"], task, budget, style)
            pair = _primary_pair(results, task, style.kinds)
            if pair is None:
                ax_e.set_axis_off()
                ax_e.text(0.5, 0.5, "no paired comparison", ha="center", va="center", transform=ax_e.transAxes)
            else:
                handles = _draw_equivalence_panel(ax_e, results, task, pair[0], pair[1], style.kinds)
                ax_e.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5))
        handles, labels = axes[0][0].get_legend_handles_labels()
        seen = set(labels)
        for ax in axes[1:, 0]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in seen:
                    seen.add(lab)
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncols=min(6, max(1, len(handles))))
        png, svg = figure_bytes(fig)
    return RenderedFigure(
        "overview", "Depth curves and equivalence maps",
        "Left: accuracy against certified depth at the largest budget (95% Wilson bands, dotted: "
        "chance). Right: the paired verdict per depth and budget for the main parallel-vs-sequential "
        "pair, with the breakpoint framed.", png, svg)

