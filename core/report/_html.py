"""The report of one run: figures on disk, one self-contained HTML page, a markdown summary.

``write_report(run, out_dir)`` renders every figure (PNG and SVG under ``figures/``, plus
``overview.png``/``.svg``), then ``report.html`` with the PNGs inlined as base64 data URIs
(the page needs no other file), the verdicts, breakpoints, curve fits, per-depth tables,
the run configuration and the dataset sha256; and ``summary.md``. All files are written
atomically and hold no time stamps or absolute paths of the output, so the same run gives
the same bytes.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from depthbench import __version__
from depthbench.io import atomic_write_bytes, atomic_write_text, ensure_writable_dir
from depthbench.report._plots import RenderedFigure, render_figures, render_overview, slug
from depthbench.report._results import (
    RunResults,
    comparison_groups,
    num,
    pair_label,
    strategy_kinds,
    strategy_order,
    summarize_verdicts,
    verdict_label,
)

__all__ = ["ReportFiles", "write_report", "render_html", "render_markdown", "fmt"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    out_dir: Path
    html: Path
    markdown: Path
    overview_png: Path
    overview_svg: Path
    figures: tuple[Path, ...]



def _d50(r: Mapping[str, Any]) -> str:
    """d50 as text; an extrapolated d50 (beyond the deepest measured depth) reads "> max depth N"."""
    if r.get("d50_extrapolated"):
        return f"> max depth {r.get('max_depth')}"
    return fmt(r.get("d50"), 2)

def fmt(x: Any, digits: int = 3) -> str:
    """A number for a table: fixed digits, integers as is, missing values as an en dash."""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return str(x)
    v = num(x)
    if math.isnan(v):
        return "\u2013"
    return f"{v:.{digits}f}"


def _ci(lo: Any, hi: Any, digits: int = 3) -> str:
    if math.isnan(num(lo)) and math.isnan(num(hi)):
        return "\u2013"
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def _budget_key(v: Any) -> float:
    x = num(v)
    return -1.0 if math.isnan(x) else x


def _sorted_curves(res: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    order = {s: i for i, s in enumerate(strategy_order(res["curves"]))}
    return sorted(res["curves"], key=lambda r: (r["task"], int(r["budget"]), order[r["strategy"]], int(r["depth"])))


def _bracket(brk: Mapping[str, Any]) -> str:
    """``bp_lo`` / ``bp_hi`` of a breakpoint record as a depth range (None is unbounded)."""
    lo, hi = brk.get("bp_lo"), brk.get("bp_hi")
    if lo is None and hi is None:
        return "\u2013"
    if lo is None:
        return f"<= {hi}"
    if hi is None:
        return f">= {lo}"
    return str(hi) if lo == hi else f"{lo}-{hi}"


def _tables(res: Mapping[str, Any]) -> dict[str, Any]:
    """Row data (already formatted) shared by the HTML and markdown views."""
    from depthbench.scorers import breakpoint_words, summarize_comparison

    kinds = strategy_kinds(res["curves"])
    order = {s: i for i, s in enumerate(strategy_order(res["curves"]))}
    curves = [[r["task"], r["strategy"], r.get("kind", ""), str(r["budget"]), str(r["depth"]), fmt(r["n"]),
               fmt(r["accuracy"]), _ci(r["wilson_lo"], r["wilson_hi"]), _ci(r.get("boot_lo"), r.get("boot_hi")),
               fmt(r.get("no_answer_rate")), fmt(r.get("mean_generated_tokens"), 1),
               fmt(r.get("mean_processed_tokens"), 1), fmt(r.get("chance"))]
              for r in _sorted_curves(res)]
    fits = [[r.get("task", ""), r.get("strategy", ""), str(r.get("budget", "")), fmt(r.get("p")),
             _ci(r.get("p_lo"), r.get("p_hi")), _d50(r), _ci(r.get("d50_lo"), r.get("d50_hi"), 2),
             fmt(r.get("auc")), fmt(r.get("chance"))]
            for r in sorted(res.get("fits", []),
                            key=lambda r: (str(r.get("task")), _budget_key(r.get("budget")),
                                           order.get(r.get("strategy"), 99), str(r.get("strategy"))))]
    eq = [[r["task"], str(r["budget"]), r["a"], r["b"], str(r["depth"]), fmt(r.get("n")), fmt(r.get("diff")),
           f"{r['n10']} / {r['n01']}" if r.get("n10") is not None else "\u2013",
           _ci(r.get("ci90_lo"), r.get("ci90_hi")), _ci(r.get("ci95_lo"), r.get("ci95_hi")),
           fmt(r.get("p_tost"), 4), fmt(r.get("p_diff"), 4), fmt(r.get("p_holm"), 4), fmt(r.get("p_diff_holm"), 4),
           fmt(r.get("items_needed")),
           verdict_label(r["verdict"], r["a"], r["b"], kinds, bool(r.get("floor")), row=r), r["verdict"]]
          for r in sorted(res.get("equivalence", []),
                          key=lambda r: (r["task"], int(r["budget"]), r["a"], r["b"], int(r["depth"])))]
    groups = comparison_groups(res)
    bps = []
    for (task, budget, a, b), rows in sorted(groups.items()):
        brk = summarize_comparison(rows, pair_label(a, b, kinds))
        margin = next((r.get("margin") for r in rows if r.get("margin") is not None), res.get("margin"))
        bps.append([task, str(budget), a, b, fmt(margin),
                    str(brk["breakpoint_depth"]) if brk["breakpoint_depth"] is not None else "none",
                    _bracket(brk), breakpoint_words(brk)])
    ctt = [[str(r.get("task", "")), str(r.get("a", "")), str(r.get("b", "")), fmt(r.get("depth")),
            fmt(r.get("target")), fmt(r.get("cost_a"), 1), fmt(r.get("cost_b"), 1), fmt(r.get("ratio"), 2)]
           for r in sorted((r for r in res.get("compute_to_target") or [] if isinstance(r, Mapping)),
                           key=lambda r: (str(r.get("task")), str(r.get("a")), str(r.get("b")),
                                          _budget_key(r.get("depth"))))]
    return {
        "compute_to_target": (["task", "a", "b", "depth", "target accuracy", "G for a", "G for b", "ratio a/b"],
                              ctt),
        "curves": (["task", "strategy", "kind", "budget", "depth", "n", "accuracy", "Wilson 95%", "bootstrap 95%",
                    "no answer", "mean G", "mean P", "chance"], curves),
        "fits": (["task", "strategy", "budget", "p (per step)", "p 95%", "d50", "d50 95%", "AUC", "chance"], fits),
        "equivalence": (["task", "budget", "a", "b", "depth", "n", "diff a-b", "n10 / n01", "90% CI (score)",
                         "95% CI (score)", "p TOST", "p diff", "p TOST (Holm)", "p diff (Holm)", "items needed",
                         "verdict"], eq),  # rows end with the verdict code
        "breakpoints": (["task", "budget", "a", "b", "margin", "breakpoint depth", "equivalence ends in depths",
                         "breakpoint"], bps),
    }


_HTML = jinja2.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>depthbench report: {{ label }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1400px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; }
table { border-collapse: collapse; font-size: .82rem; margin: .6rem 0 1.2rem; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; }
.v-equivalent { background: #a6d96a; } .v-a_better { background: #fdae61; }
.v-b_better { background: #74add1; } .v-inconclusive { background: #e0e0e0; } .v-not_testable { background: #fff; }
.meta td { text-align: left; } .scroll { overflow-x: auto; }
</style>
</head>
<body>
<h1>depthbench report</h1>
<p>Run <strong>{{ label }}</strong>{% if run_dir %} (folder <code>{{ run_dir }}</code>){% endif %};
equivalence margin {{ margin }}; depthbench {{ version }}.</p>
<table class="meta">
<tr><th class="l">dataset sha256</th><td><code>{{ dataset_sha256 or "not recorded" }}</code></td></tr>
{% for task, sha in datasets %}<tr><th class="l">dataset sha256 ({{ task }})</th><td><code>{{ sha }}</code></td></tr>
{% endfor %}<tr><th class="l">tasks</th><td>{{ tasks | join(", ") }}</td></tr>
<tr><th class="l">strategies</th><td>{{ strategies | join(", ") }}</td></tr>
<tr><th class="l">budgets (G tokens per item)</th><td>{{ budgets | join(", ") }}</td></tr>
</table>

<h2 id="verdicts">Verdicts</h2>
{% if summaries %}<ul>
{% for s in summaries %}<li>{{ s }}</li>
{% endfor %}</ul>{% else %}<p>No paired comparisons in this run.</p>{% endif %}
<p>Breakpoint: the first depth with a shown difference right after a depth shown equivalent; when depths before
the first difference are not determined, no breakpoint is named and the depths where equivalence ends are
given instead (a bound that holds unless a test errs).</p>
{{ table("breakpoints") }}

<h2 id="overview">Overview</h2>
{{ figure(overview) }}

{% for task, figs in task_figures %}
<h2 id="task-{{ task }}">{{ task }}</h2>
{% for f in figs %}{{ figure(f) }}{% endfor %}
{% endfor %}

<h2 id="fits">Curve fits</h2>
<p>Chance-adjusted accuracy <code>c + (1 - c) p<sup>d</sup></code>: per-step reliability <em>p</em>, the depth
<em>d50</em> where accuracy falls halfway to chance, and the area under the depth curve.</p>
{{ table("fits") }}

{% if has_ctt %}<h2 id="compute">Compute to reach a target</h2>
<p>Mean generated tokens per item each strategy needs to reach the target accuracy at a depth, over the
budgets run (ratio below 1: the parallel strategy a gets there with fewer tokens).</p>
{{ table("compute_to_target") }}
{% endif %}
<h2 id="equivalence">Equivalence tests</h2>
<p>Paired difference a - b per depth; n10 / n01: items only a / only b got right (after a seeded rounding of
fractional credit), the counts the exact tests use. Equivalent when the exact TOST (margin m) rejects at
Holm's level across the depths, a- or b-better when the exact two-sided test of a zero difference does,
otherwise not determined at this n (with about how many items per depth would decide it). The intervals are
Tango's score intervals, for reading; the verdicts come from the p-values. "Equivalent (both at chance)"
marks depths where both strategies are within the margin of the chance rate: they agree only in failing, and
such a depth is not counted as shown equivalence for the breakpoint. "Items needed": items per depth for 80%
power to show equivalence at a true difference of 0 and this discordance, with Holm over the depths.</p>
{{ table("equivalence", verdict_col=15) }}

<h2 id="curves">Depth curves</h2>
{{ table("curves") }}

<h2 id="config">Run configuration</h2>
<pre>{{ config }}</pre>
</body>
</html>
""", autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _table_html(tables: Mapping[str, Any], name: str, verdict_col: int | None = None) -> Markup:
    head, rows = tables[name]
    esc = escape
    out = ['<div class="scroll"><table>', "<tr>" + "".join(f'<th class="l">{esc(h)}</th>' if i < 4 else f"<th>{esc(h)}</th>"
                                         for i, h in enumerate(head)) + "</tr>"]
    for row in rows:
        cells = []
        for i, c in enumerate(row[:len(head)]):
            cls = "l" if i < 4 else ""
            if verdict_col is not None and i == verdict_col:
                cls = f"l v-{row[-1]}"
            cells.append(f'<td class="{cls}">{esc(c)}</td>' if cls else f"<td>{esc(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return Markup("\n".join(out))


def _figure_html(fig: RenderedFigure) -> Markup:
    data = base64.b64encode(fig.png).decode("ascii")
    esc = escape
    return Markup(
        f'<figure id="fig-{esc(fig.name)}"><h3>{esc(fig.title)}</h3>'
        f'<img alt="{esc(fig.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(fig.caption)}</figcaption></figure>\n")


def _mapping(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _facts(run: RunResults) -> dict[str, Any]:
    res = run.results
    return {
        "label": run.label,
        "dataset_sha256": run.dataset_sha256,
        "datasets": sorted((str(k), str(v)) for k, v in _mapping(res.get("datasets")).items()),
        "margin": res.get("margin", 0.05),
        "tasks": sorted({r["task"] for r in res["curves"]}),
        "strategies": strategy_order(res["curves"]),
        "budgets": [str(b) for b in sorted({int(r["budget"]) for r in res["curves"]})],
        "summaries": [s.text for s in summarize_verdicts(res)],
    }


def render_html(run: RunResults, figures: Sequence[RenderedFigure], overview: RenderedFigure) -> str:
    """The self-contained HTML report (figures inlined as base64 PNG).

    Parameters
    ----------
    run : RunResults
        The loaded run.
    figures : sequence of RenderedFigure
        Per-task figures, as returned by :func:`render_figures`.
    overview : RenderedFigure
        The overview figure.

    Returns
    -------
    str
        The HTML document.
    """
    facts = _facts(run)
    tables = _tables(run.results)
    by_task = []
    for task in facts["tasks"]:
        prefix = f"{slug(task)}-"
        by_task.append((task, [f for f in figures if f.name.startswith(prefix)]))
    return _HTML.render(
        **facts,
        version=__version__,
        run_dir=run.run_dir.name,
        overview=overview,
        task_figures=by_task,
        config=json.dumps(run.run_config, indent=2, sort_keys=True, ensure_ascii=False, default=str),
        has_ctt=bool(tables["compute_to_target"][1]),
        table=lambda name, verdict_col=None: _table_html(tables, name, verdict_col),
        figure=_figure_html,
    )


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(s: str) -> str:
        return str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(run: RunResults, figures: Sequence[RenderedFigure]) -> str:
    """A short markdown summary: verdicts, breakpoints, fits, and links to the figures."""
    facts = _facts(run)
    tables = _tables(run.results)
    parts = [
        f"# depthbench summary: {facts['label']}",
        "",
        f"- dataset sha256: `{facts['dataset_sha256'] or 'not recorded'}`",
        *[f"- dataset sha256 ({task}): `{sha}`" for task, sha in facts["datasets"]],
        f"- tasks: {', '.join(facts['tasks'])}",
        f"- strategies: {', '.join(facts['strategies'])}",
        f"- budgets (G tokens per item): {', '.join(facts['budgets'])}",
        f"- equivalence margin: {facts['margin']}",
        "",
        "![overview](overview.png)",
        "",
        "## Verdicts",
        "",
    ]
    parts += [f"- {s}" for s in facts["summaries"]] or ["No paired comparisons in this run."]
    head, rows = tables["breakpoints"]
    parts += ["", "## Breakpoints", "", _md_table(head, rows)]
    head, rows = tables["fits"]
    parts += ["", "## Curve fits", "", _md_table(head, rows)]
    parts += ["", "## Figures", ""]
    parts += [f"- [{f.title}](figures/{f.name}.png) ([SVG](figures/{f.name}.svg))" for f in figures]
    parts += ["", "The full report with every table is `report.html` beside this file.", ""]
    return "\n".join(parts)


def write_report(run: RunResults, out_dir: str | Path) -> ReportFiles:
    """Render and write the whole report of ``run`` into ``out_dir``.

    Parameters
    ----------
    run : RunResults
        The loaded run (see :func:`depthbench.report.load_run`).
    out_dir : path-like
        Output folder; created if missing.

    Returns
    -------
    ReportFiles
        What was written.

    Raises
    ------
    UserError
        If ``out_dir`` cannot be created or written.
    """
    out = ensure_writable_dir(out_dir, "--out")
    figures = render_figures(run.results)
    overview = render_overview(run.results)
    fig_dir = out / "figures"
    paths = []
    for f in figures:
        atomic_write_bytes(fig_dir / f"{f.name}.png", f.png)
        atomic_write_bytes(fig_dir / f"{f.name}.svg", f.svg)
        paths += [fig_dir / f"{f.name}.png", fig_dir / f"{f.name}.svg"]
    atomic_write_bytes(out / "overview.png", overview.png)
    atomic_write_bytes(out / "overview.svg", overview.svg)
    atomic_write_text(out / "report.html", render_html(run, figures, overview))
    atomic_write_text(out / "summary.md", render_markdown(run, figures))
    return ReportFiles(out, out / "report.html", out / "summary.md", out / "overview.png", out / "overview.svg",
                       tuple(paths))
