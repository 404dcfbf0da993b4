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
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from depthbench import __version__
from depthbench._lazy import lazy
from depthbench.analysis._format import fmt, fmt_collapsed, fmt_d50
from depthbench.analysis._results import (
    RunResults,
    comparison_groups,
    num,
    pair_label,
    strategy_kinds,
    strategy_order,
    summarize_verdicts,
    verdict_label,
)
from depthbench.io import atomic_write_bytes, atomic_write_text, ensure_writable_dir
from depthbench.report._plots import RenderedFigure, render_figures, render_overview, slug
from depthbench.scorers import breakpoint_words, equivalence_end_words, summarize_comparison

jinja2 = lazy("jinja2")

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


def _tables(res: Mapping[str, Any]) -> dict[str, Any]:
    """Row data (already formatted) shared by the HTML and markdown views."""
    kinds = strategy_kinds(res["curves"])
    order = {s: i for i, s in enumerate(strategy_order(res["curves"]))}
    curves = [[r["task"], r["strategy"], r.get("kind", ""), str(r["budget"]), str(r["depth"]), fmt(r["n"]),
               fmt(r["accuracy"]), _ci(r["wilson_lo"], r["wilson_hi"]), _ci(r.get("boot_lo"), r.get("boot_hi")),
               fmt(r.get("no_answer_rate")), fmt(r.get("mean_generated_tokens"), 1),
               fmt(r.get("mean_processed_tokens"), 1), fmt(r.get("mean_calls"), 1), fmt(r.get("mean_responses"), 1),
               fmt(r.get("chance"))]
              for r in _sorted_curves(res)]
    div = [[r["task"], r["strategy"], str(r["budget"]), str(r["depth"]), fmt(r["n"]), fmt(r["mean_samples"], 1),
            fmt(r["distinct_answers"], 2), fmt(r["answer_entropy"], 2), fmt(r.get("abstain_rate"), 2),
            fmt(r["coverage"]), fmt(r["majority_accuracy"]), fmt(r["coverage_gap"], sign=True),
            fmt_collapsed(r.get("collapsed"))]
           for r in sorted(res.get("diversity") or [], key=lambda r: (r["task"], int(r["budget"]),
                                                                      order.get(r["strategy"], 99), r["strategy"],
                                                                      int(r["depth"])))]
    matched = _matched_rows(res, kinds)
    fits = [[r.get("task", ""), r.get("strategy", ""), str(r.get("budget", "")), fmt(r.get("p")),
             _ci(r.get("p_lo"), r.get("p_hi")), fmt_d50(r), _ci(r.get("d50_lo"), r.get("d50_hi"), 2),
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
                    equivalence_end_words(brk), breakpoint_words(brk)])
    ctt = [[str(r.get("task", "")), str(r.get("a", "")), str(r.get("b", "")), fmt(r.get("depth")),
            fmt(r.get("target")), fmt(r.get("cost_a"), 1), fmt(r.get("cost_b"), 1), fmt(r.get("ratio"), 2)]
           for r in sorted((r for r in res.get("compute_to_target") or [] if isinstance(r, Mapping)),
                           key=lambda r: (str(r.get("task")), str(r.get("a")), str(r.get("b")),
                                          _budget_key(r.get("depth"))))]
    return {
        "compute_to_target": (["task", "a", "b", "depth", "target accuracy", "G for a", "G for b", "ratio a/b"],
                              ctt),
        "curves": (["task", "strategy", "kind", "budget", "depth", "n", "accuracy", "Wilson 95%", "bootstrap 95%",
                    "no answer", "mean G", "mean P", "calls", "responses", "chance"], curves),
        "diversity": (["task", "strategy", "budget", "depth", "n", "N samples", "distinct answers", "entropy (bits)",
                       "abstain", "pass@N", "maj@N", "pass@N - maj@N", "collapsed"], div),
        "matched": (["task", "a @ budget", "b @ budget", "count a / b", "breakpoint"], matched),
        "fits": (["task", "strategy", "budget", "p (per step)", "p 95%", "d50", "d50 95%", "AUC", "chance"], fits),
        "equivalence": (["task", "budget", "a", "b", "depth", "n", "diff a-b", "n10 / n01", "90% CI (score)",
                         "95% CI (score)", "p TOST", "p diff", "p TOST (Holm)", "p diff (Holm)", "n for 80% power (eq.)",
                         "verdict"], eq),  # rows end with the verdict code
        "breakpoints": (["task", "budget", "a", "b", "margin", "breakpoint depth", "where equivalence ends",
                         "breakpoint"], bps),
    }


def _matched_rows(res: Mapping[str, Any], kinds: Mapping[str, str]) -> list[list[str]]:
    """One row per matched-count comparison (``analyze --match calls|responses``), worded by the scorers' rule."""
    m = res.get("matched")
    if not isinstance(m, Mapping):
        return []
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for r in m.get("equivalence", []):
        groups.setdefault((r["task"], r["a"], r["budget_a"], r["b"], r["budget_b"]), []).append(r)
    out = []
    for (task, a, ba, b, bb), rows in sorted(groups.items()):
        la, lb = f"{a} @ {ba}", f"{b} @ {bb}"
        brk = summarize_comparison(rows, pair_label(la, lb, {la: kinds.get(a, ""), lb: kinds.get(b, "")}))
        out.append([task, la, lb, f"{fmt(rows[0]['count_a'], 1)} / {fmt(rows[0]['count_b'], 1)}", brk["text"]])
    return out


_HTML_SOURCE = """<!DOCTYPE html>
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

{% if has_diversity %}<h2 id="diversity">Diversity of the samples</h2>
<p>For each strategy that samples several responses per item: the distinct answers and the plug-in entropy of
the answers given (bits; responses without an answer are left out and counted in "abstain"), coverage (pass@N:
some response is right) and majority-vote accuracy (maj@N), whose gap is what a perfect selector adds to the
vote. {{ diversity_rule }}: the samples sit on one answer that is usually wrong, so more samples or search over
them cannot help.</p>
{{ table("diversity") }}
{% endif %}
{% if has_matched %}<h2 id="matched">Comparisons at matched {{ matched_by }}</h2>
<p>{{ matched_rule }}.</p>
{{ table("matched") }}
{% endif %}
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
such a depth is not counted as shown equivalence for the breakpoint. "n for 80% power (eq.)": items per depth
for 80% power to show equivalence if the true difference were 0 (this discordance, Holm over the depths), a
plan for the next run; the verdict's "about N items per depth would decide it" instead takes this depth's
observed difference as the truth and counts the items that would show either equivalence or the
difference.</p>
{{ table("equivalence", verdict_col=15) }}

<h2 id="curves">Depth curves</h2>
{{ table("curves") }}

<h2 id="config">Run configuration</h2>
<pre>{{ config }}</pre>
</body>
</html>
"""


@lru_cache(maxsize=1)
def _html_template() -> Any:
    """The page template, compiled on first use (jinja2 is imported lazily)."""
    return jinja2.Template(_HTML_SOURCE, autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


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
    return _html_template().render(
        **facts,
        version=__version__,
        run_dir=run.run_dir.name,
        overview=overview,
        task_figures=by_task,
        config=json.dumps(run.run_config, indent=2, sort_keys=True, ensure_ascii=False, default=str),
        has_ctt=bool(tables["compute_to_target"][1]),
        has_diversity=bool(tables["diversity"][1]),
        diversity_rule=str(_mapping(run.results.get("diversity_rule")).get("text", "collapsed")).split(";")[0],
        has_matched=bool(tables["matched"][1]),
        matched_by=str(_mapping(run.results.get("matched")).get("by", "")),
        matched_rule=str(_mapping(run.results.get("matched")).get("rule", "")),
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
    head, rows = tables["diversity"]
    if rows:
        rule = str(_mapping(run.results.get("diversity_rule")).get("text", "")).split(";")[0]
        parts += ["", "## Diversity of the samples", "",
                  "Answer entropy in bits (responses without an answer left out); pass@N - maj@N is what a perfect "
                  f"selector adds to the vote; {rule}.", "", _md_table(head, rows)]
    head, rows = tables["matched"]
    if rows:
        parts += ["", f"## Comparisons at matched {_mapping(run.results.get('matched')).get('by', '')}", "",
                  _md_table(head, rows)]
    parts += ["", "## Figures", ""]
    parts += [f"- [{f.title}](figures/{f.name}.png) ([SVG](figures/{f.name}.svg))" for f in figures]
    parts += ["", "The full report with every table is `report.html` beside this file.", ""]
    return "\n".join(parts)


def write_report(run: RunResults, out_dir: str | Path) -> ReportFiles:
    """Render and write the whole report of ``run`` into ``out_dir``.

    Parameters
    ----------
    run : RunResults
        The loaded run (see :func:`depthbench.analysis.load_results`).
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
