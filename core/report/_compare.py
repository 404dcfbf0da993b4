"""``depthbench compare RUN_A RUN_B``: two runs (two models, or two settings) side by side.

Both runs must have been made on the same dataset (same manifest sha256); otherwise the
comparison refuses, unless ``force`` is set, because accuracy differences between two
different item sets say nothing about the models. The output is one figure (accuracy
against depth per task and budget, run A solid, run B dashed, one colour per strategy),
a self-contained ``compare.html`` and a ``compare.md`` with the per-depth accuracies,
breakpoints and fits of both runs.

The per-depth difference shown is unpaired (each run's own Wilson interval is given); a
paired test of two models needs both runs' outcomes on the same items and is the job of
``depthbench analyze`` on a merged run.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
from markupsafe import Markup, escape
from matplotlib.figure import Figure

from depthbench import __version__
from depthbench.errors import UserError
from depthbench.io import atomic_write_bytes, atomic_write_text, ensure_writable_dir
from depthbench.report._html import _md_table, fmt
from depthbench.report._plots import _PALETTE, _RC, figure_bytes
from depthbench.report._results import RunResults, comparison_groups, num, pair_label, strategy_kinds, strategy_order

__all__ = ["CompareFiles", "compare_runs", "check_same_data"]


@dataclass(frozen=True)
class CompareFiles:
    """Paths written by :func:`compare_runs`."""

    out_dir: Path
    html: Path
    markdown: Path
    png: Path
    svg: Path


def check_same_data(a: RunResults, b: RunResults, force: bool = False) -> None:
    """Refuse to compare runs made on different datasets.

    Parameters
    ----------
    a, b : RunResults
        The two runs.
    force : bool
        Compare anyway (the report then says the data differ).

    Raises
    ------
    UserError
        If a dataset sha256 is missing or the two differ, and ``force`` is false.
    """
    if force:
        return
    for name, run in (("RUN_A", a), ("RUN_B", b)):
        if not run.dataset_sha256:
            raise UserError(f"{name}: {str(run.source)!r} records no dataset_sha256, so the data cannot be "
                            "checked; pass --force to compare anyway")
    if a.dataset_sha256 != b.dataset_sha256:
        raise UserError(f"RUN_A and RUN_B were run on different datasets (sha256 {a.dataset_sha256[:12]}... vs "
                        f"{b.dataset_sha256[:12]}...); compare runs on the same data, or pass --force")


def subset_note(a: RunResults, b: RunResults) -> str | None:
    """A warning when the runs cover different items of the dataset (split, --limit, count)."""
    diffs = []
    for key in ("split", "limit", "n_items"):
        va, vb = a.config.get(key), b.config.get(key)
        if va != vb:
            diffs.append(f"{key} {va} vs {vb}")
    if not diffs:
        return None
    return ("the runs cover different items of the dataset (" + "; ".join(diffs)
            + "), so differences mix the runs with the items")


def _labels(a: RunResults, b: RunResults) -> tuple[str, str]:
    la, lb = a.label, b.label
    if la == lb:
        la, lb = f"{la} ({a.run_dir.name})", f"{lb} ({b.run_dir.name})"
    if la == lb:
        la, lb = f"{la} [A]", f"{lb} [B]"
    return la, lb


def _index(run: RunResults) -> dict[tuple[str, str, int, int], Mapping[str, Any]]:
    return {(r["task"], r["strategy"], int(r["budget"]), int(r["depth"])): r for r in run.results["curves"]}


def _figure(a: RunResults, b: RunResults, la: str, lb: str) -> tuple[bytes, bytes]:
    ia, ib = _index(a), _index(b)
    keys = sorted(set(ia) | set(ib))
    panels = sorted({(k[0], k[2]) for k in keys})
    strategies = strategy_order(list(a.results["curves"]) + list(b.results["curves"]))
    color = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(strategies)}
    tasks = sorted({p[0] for p in panels})
    budgets = sorted({p[1] for p in panels})
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(3.5 * len(budgets) + 2.2, 2.7 * len(tasks)), layout="constrained")
        axes = fig.subplots(len(tasks), len(budgets), squeeze=False)
        for i, task in enumerate(tasks):
            for j, bud in enumerate(budgets):
                ax = axes[i][j]
                for s in strategies:
                    for idx, ls, lab in ((ia, "-", la), (ib, "--", lb)):
                        pts = sorted((k[3], idx[k]) for k in idx if k[0] == task and k[1] == s and k[2] == bud)
                        if pts:
                            ax.plot([d for d, _ in pts], [num(r["accuracy"]) for _, r in pts], color=color[s],
                                    linestyle=ls, marker="o" if ls == "-" else "s", markersize=3.5,
                                    linewidth=1.3, label=f"{s}, {lab}")
                ax.set_ylim(-0.03, 1.03)
                ax.set_title(f"{task}, budget {bud}")
                ax.set_xlabel("certified depth")
                ax.set_ylabel("accuracy")
        handles, labels = [], []
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside right upper")
        return figure_bytes(fig)


def _rows(a: RunResults, b: RunResults) -> list[list[str]]:
    ia, ib = _index(a), _index(b)
    order = {s: i for i, s in enumerate(strategy_order(list(a.results["curves"]) + list(b.results["curves"])))}
    rows = []
    for k in sorted(set(ia) | set(ib), key=lambda k: (k[0], k[2], order[k[1]], k[3])):
        ra, rb = ia.get(k), ib.get(k)
        acc_a = num(ra["accuracy"]) if ra else math.nan
        acc_b = num(rb["accuracy"]) if rb else math.nan
        rows.append([k[0], k[1], str(k[2]), str(k[3]),
                     fmt(ra["n"]) if ra else "\u2013", fmt(acc_a), _ci(ra),
                     fmt(rb["n"]) if rb else "\u2013", fmt(acc_b), _ci(rb),
                     f"{acc_b - acc_a:+.3f}" if not (math.isnan(acc_a) or math.isnan(acc_b)) else "\u2013"])
    return rows


def _ci(r: Mapping[str, Any] | None) -> str:
    if not r:
        return "\u2013"
    return f"[{fmt(r['wilson_lo'])}, {fmt(r['wilson_hi'])}]"


def _bp_rows(a: RunResults, b: RunResults) -> list[list[str]]:
    """Each run's breakpoint per comparison, in the scorers' words (recomputed from its rows)."""
    from depthbench.scorers import breakpoint_words, summarize_comparison

    def idx(run: RunResults) -> dict[tuple[str, int, str, str], str]:
        kinds = strategy_kinds(run.results["curves"])
        return {k: breakpoint_words(summarize_comparison(rows, pair_label(k[2], k[3], kinds)))
                for k, rows in comparison_groups(run.results).items()}
    ba, bb = idx(a), idx(b)
    return [[k[0], str(k[1]), k[2], k[3], ba.get(k, "not run"), bb.get(k, "not run")]
            for k in sorted(set(ba) | set(bb))]


def _fit_rows(a: RunResults, b: RunResults) -> list[list[str]]:
    def idx(run: RunResults) -> dict[tuple[str, str, str], Mapping[str, Any]]:
        return {(str(r.get("task")), str(r.get("strategy")), str(r.get("budget"))): r
                for r in run.results.get("fits", [])}
    fa, fb = idx(a), idx(b)
    out = []
    for k in sorted(set(fa) | set(fb), key=lambda k: (k[0], num(k[2]) if not math.isnan(num(k[2])) else -1, k[1])):
        ra, rb = fa.get(k, {}), fb.get(k, {})
        out.append([k[0], k[1], k[2], fmt(ra.get("p")), fmt(rb.get("p")), fmt(ra.get("d50"), 2),
                    fmt(rb.get("d50"), 2), fmt(ra.get("auc")), fmt(rb.get("auc"))])
    return out


_HTML = jinja2.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>depthbench compare: {{ la }} vs {{ lb }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1150px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .82rem; margin: .6rem 0 1.2rem; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
img { max-width: 100%; height: auto; } .warn { background: #fff3cd; padding: .6rem; }
</style>
</head>
<body>
<h1>depthbench compare</h1>
<p>A: <strong>{{ la }}</strong> (folder <code>{{ dir_a }}</code>) &nbsp; B: <strong>{{ lb }}</strong>
(folder <code>{{ dir_b }}</code>); depthbench {{ version }}.</p>
<table>
<tr><th class="l">dataset sha256 A</th><td class="l"><code>{{ sha_a or "not recorded" }}</code></td></tr>
<tr><th class="l">dataset sha256 B</th><td class="l"><code>{{ sha_b or "not recorded" }}</code></td></tr>
</table>
{% if note %}<p class="warn">Note: {{ note }}.</p>{% endif %}
{% if not same_data %}<p class="warn">The two runs were not made on the same dataset (compared with --force):
differences below mix model and data.</p>{% endif %}
<h2>Accuracy against depth</h2>
<figure><img alt="accuracy against depth, A solid, B dashed" src="data:image/png;base64,{{ png_b64 }}">
<figcaption>Run A solid, run B dashed; one colour per strategy.</figcaption></figure>
<h2>Breakpoints</h2>
{{ table(bp_head, bp_rows) }}
<h2>Curve fits</h2>
{{ table(fit_head, fit_rows) }}
<h2>Accuracy per depth</h2>
<p>Unpaired: each run's accuracy with its Wilson 95% interval, and B - A.</p>
{{ table(acc_head, acc_rows) }}
</body>
</html>
""", autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> Markup:
    out = ["<table>", "<tr>" + "".join(f'<th class="l">{escape(h)}</th>' for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="l">{escape(c)}</td>' if i < 4 else f"<td>{escape(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return Markup("\n".join(out))


def compare_runs(a: RunResults, b: RunResults, out_dir: str | Path, force: bool = False) -> CompareFiles:
    """Write the side-by-side comparison of two runs.

    Parameters
    ----------
    a, b : RunResults
        The runs (see :func:`depthbench.report.load_run`).
    out_dir : path-like
        Output folder; created if missing.
    force : bool
        Compare even if the dataset sha256 values differ or are missing.

    Returns
    -------
    CompareFiles

    Raises
    ------
    UserError
        Different or unrecorded datasets without ``force``; unwritable ``out_dir``.
    """
    check_same_data(a, b, force)
    out = ensure_writable_dir(out_dir, "--out")
    la, lb = _labels(a, b)
    png, svg = _figure(a, b, la, lb)
    acc_head = ["task", "strategy", "budget", "depth", "n A", "acc A", "Wilson A", "n B", "acc B", "Wilson B", "B - A"]
    bp_head = ["task", "budget", "a", "b", "breakpoint A", "breakpoint B"]
    fit_head = ["task", "strategy", "budget", "p A", "p B", "d50 A", "d50 B", "AUC A", "AUC B"]
    acc_rows, bp_rows, fit_rows = _rows(a, b), _bp_rows(a, b), _fit_rows(a, b)
    same = bool(a.dataset_sha256) and a.dataset_sha256 == b.dataset_sha256
    note = subset_note(a, b)
    html = _HTML.render(la=la, lb=lb, dir_a=a.run_dir.name, dir_b=b.run_dir.name, version=__version__,
                        sha_a=a.dataset_sha256, sha_b=b.dataset_sha256, same_data=same,
                        png_b64=base64.b64encode(png).decode("ascii"), table=_table,
                        acc_head=acc_head, acc_rows=acc_rows, bp_head=bp_head, bp_rows=bp_rows,
                        fit_head=fit_head, fit_rows=fit_rows, note=note)
    md = "\n".join([
        f"# depthbench compare: {la} vs {lb}", "",
        f"- A: {la}, dataset sha256 `{a.dataset_sha256 or 'not recorded'}`",
        f"- B: {lb}, dataset sha256 `{b.dataset_sha256 or 'not recorded'}`",
        *([] if same else ["- WARNING: different datasets (compared with --force)"]),
        *([f"- Note: {note}"] if note else []), "",
        "![accuracy against depth](compare.png)", "",
        "## Breakpoints", "", _md_table(bp_head, bp_rows), "",
        "## Curve fits", "", _md_table(fit_head, fit_rows), "",
        "## Accuracy per depth (unpaired)", "", _md_table(acc_head, acc_rows), ""])
    atomic_write_bytes(out / "compare.png", png)
    atomic_write_bytes(out / "compare.svg", svg)
    atomic_write_text(out / "compare.html", html)
    atomic_write_text(out / "compare.md", md)
    return CompareFiles(out, out / "compare.html", out / "compare.md", out / "compare.png", out / "compare.svg")
