"""Build the static leaderboard: ``index.html``, ``leaderboard.json``, ``leaderboard.md``.

Every submission in a folder is validated and re-scored (see ``_validate``); only the
re-scored outcomes are used — never a number the submitter wrote. One leaderboard row
is one (submission, strategy, budget): accuracy with a Wilson interval, the area under
the depth curve (AUC) with a bootstrap interval, ``d50`` with its interval from the
reliability fit, mean generated / processed tokens. Equivalence breakpoints between
parallel and sequential strategies come from the scorers' paired comparison at each budget.

Two kinds of table. Submissions on a **hidden split** (the maintainers hold the answers;
submitters only ever saw the prompts) are **verified** and **ranked**, one table per
split. Submissions on a **public release** are valid but their gold answers are public,
so anyone could copy them: they appear after every hidden-split table, in tables
labelled "public data, self-run", with no rank. A folder with no valid submission is an
error (exit 1) and nothing is written.

Output is deterministic: no build time stamp, sorted inputs, canonical JSON, a fixed
bootstrap seed and matplotlib SVG with a fixed hash salt and no date. All text goes
through Jinja2 with autoescaping, so a model name holding ``<script>`` shows as text.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from depthbench import __version__
from depthbench._lazy import lazy
from depthbench.analysis import default_pairs
from depthbench.analysis._format import clean_json, diversity_summary, fmt, fmt_d50, fmt_diversity, fmt_interval
from depthbench.errors import UserError
from depthbench.io import atomic_write_bytes, atomic_write_json, atomic_write_text, ensure_writable_dir
from depthbench.leaderboard._safety import DEFAULT_LIMITS, Limits, safe_slug
from depthbench.leaderboard._validate import ValidationReport, validate_submission
from depthbench.progress import Progress
from depthbench.scorers import (
    breakpoint_words,
    compare_strategies,
    curve_fits,
    depth_auc,
    depth_curves,
    diversity_rows,
    pair_words,
    wilson_interval,
)
from depthbench.scorers._bootstrap import percentile_interval, resample

jinja2 = lazy("jinja2")
np = lazy("numpy")

_SIMULATED_LABEL = "simulated reasoner (reference)"

__all__ = ["LEADERBOARD_FORMAT", "SiteResult", "build_leaderboard", "collect_submissions", "analyze_outcomes"]

LEADERBOARD_FORMAT = "depthbench-leaderboard/1"
_BOOT = 400
_BOOT_SEED = 20240101
_SUFFIXES = (".json.gz", ".json")


@dataclass
class SiteResult:
    """What :func:`build_leaderboard` produced.

    Attributes
    ----------
    data : dict
        The content of ``leaderboard.json``.
    accepted, rejected : list of str
        Submission file names that passed or failed validation.
    files : list of Path
        Files written.
    """

    data: dict[str, Any]
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def collect_submissions(folder: str | Path) -> list[Path]:
    """The submission files (``*.json.gz``, ``*.json``) directly in ``folder``, sorted by name."""
    d = Path(folder)
    if not d.is_dir():
        raise UserError(f"SUBMISSIONS_DIR: {str(d)!r} is not a folder; give the folder holding .json.gz submissions")
    return sorted((p for p in d.iterdir() if p.is_file() and p.name.endswith(_SUFFIXES)), key=lambda p: p.name)


# ----------------------------------------------------------------------------- statistics

def _auc_interval(by_depth: Mapping[int, np.ndarray], rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap (95%) of the depth AUC, resampling items within each depth."""
    depths = sorted(by_depth)
    means = np.empty((_BOOT, len(depths)))
    for j, dep in enumerate(depths):
        credits = by_depth[dep]
        means[:, j] = credits[resample(rng, len(credits), _BOOT)].mean(axis=1)
    return percentile_interval(np.array([depth_auc(depths, row) for row in means]), 0.95)


def analyze_outcomes(outcomes: list[dict[str, Any]], margin: float = 0.05) -> dict[str, Any]:
    """Per-(strategy, budget) rows, per-depth curves and equivalence breakpoints of one submission.

    Uses the scorers' ``depth_curves`` (Wilson intervals), ``curve_fits`` (``p``, ``d50``
    with bootstrap intervals, AUC) and ``compare_strategies`` (exact paired tests per depth,
    the breakpoint and its sentence, ``text``, by the same rule as ``depthbench analyze``),
    all with fixed seeds. The AUC interval is a percentile
    bootstrap over items within depth (fixed seed).

    Parameters
    ----------
    outcomes : list of dict
        Re-scored outcome records (``item_id, task, depth, strategy, kind, budget, credit,
        chance``, token counts) from :func:`depthbench.leaderboard.validate_submission`.
    margin : float
        Equivalence margin for the breakpoints.

    Returns
    -------
    dict
        ``rows``, ``curves``, ``breakpoints``.
    """
    if not outcomes:
        return {"rows": [], "curves": [], "breakpoints": []}
    chance = {str(o["task"]): float(o.get("chance") or 0.0) for o in outcomes}
    kinds = {str(o["strategy"]): o.get("kind") for o in outcomes}
    curves = depth_curves(outcomes, chance=chance, kinds=kinds, n_boot=_BOOT, seed=_BOOT_SEED)
    fits = {(f["task"], f["strategy"], int(f["budget"])): f for f in curve_fits(outcomes, chance, n_boot=_BOOT,
                                                                                 seed=_BOOT_SEED)}
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for o in outcomes:
        groups[(str(o["task"]), str(o["strategy"]), int(o["budget"]))].append(o)
    cells: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for c in diversity_rows(outcomes, kinds=kinds):
        cells[(c["task"], c["strategy"], int(c["budget"]))].append(c)
    rng = np.random.default_rng(_BOOT_SEED)
    rows = []
    for (task, strategy, budget), outs in sorted(groups.items()):
        by_depth: dict[int, list[float]] = defaultdict(list)
        for o in outs:
            by_depth[int(o["depth"])].append(float(o["credit"]))
        depths = sorted(by_depth)
        arrays = {d: np.asarray(v, dtype=float) for d, v in by_depth.items()}
        auc_lo, auc_hi = _auc_interval(arrays, rng)
        total = sum(float(o["credit"]) for o in outs)
        acc_lo, acc_hi = wilson_interval(total, len(outs))
        fit = fits.get((task, strategy, budget), {})
        rows.append({
            "task": task, "strategy": strategy, "kind": kinds.get(strategy), "budget": budget, "n": len(outs),
            "accuracy": total / len(outs), "accuracy_lo": acc_lo, "accuracy_hi": acc_hi,
            "auc": depth_auc(depths, [float(arrays[d].mean()) for d in depths]), "auc_lo": auc_lo, "auc_hi": auc_hi,
            "d50": fit.get("d50"), "d50_lo": fit.get("d50_lo"), "d50_hi": fit.get("d50_hi"),
            "d50_extrapolated": fit.get("d50_extrapolated"), "max_depth": fit.get("max_depth"),
            "p": fit.get("p"), "p_lo": fit.get("p_lo"), "p_hi": fit.get("p_hi"), "chance": chance.get(task),
            "mean_generated_tokens": sum(o["generated_tokens"] for o in outs) / len(outs),
            "mean_processed_tokens": sum(o["processed_tokens"] for o in outs) / len(outs),
            "mean_calls": _mean_of(outs, "n_calls"), "mean_responses": _mean_of(outs, "n_responses"),
            "diversity": diversity_summary(cells.get((task, strategy, budget))),
            "depths": depths,
        })
    breakpoints = []
    for task in sorted(chance):
        budgets = sorted({b for (t, _, b) in groups if t == task})
        for budget in budgets:
            present = {s: kinds.get(s) for (t, s, b) in groups if t == task and b == budget}
            for a, b in default_pairs(present):
                per_depth, brk = compare_strategies(outcomes, a, b, task=task, budget=budget, margin=margin,
                                                    n_boot=_BOOT, seed=_BOOT_SEED, chance=chance.get(task),
                                                    words=pair_words(a, b, kinds))
                breakpoints.append({**brk, "verdicts": [[r["depth"], r["verdict"]] for r in per_depth]})
    return {"rows": rows, "curves": curves, "breakpoints": breakpoints}


def _mean_of(outs: Sequence[Mapping[str, Any]], field: str) -> float | None:
    """Mean of an outcome count the validator derived from the calls (None if none carries it)."""
    vals = [o[field] for o in outs if isinstance(o.get(field), int) and not isinstance(o.get(field), bool)]
    return sum(vals) / len(vals) if vals else None


# ----------------------------------------------------------------------------- rendering

def _depth_svg(curves: Sequence[Mapping[str, Any]], title: str) -> str:
    """Accuracy-vs-depth lines with Wilson bands as an inline SVG string (deterministic)."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    series: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for c in curves:
        series[(c["strategy"], c["budget"])].append(c)
    with matplotlib.rc_context({"svg.hashsalt": "depthbench-leaderboard", "svg.fonttype": "none",
                                "font.size": 8, "path.simplify": False}):
        fig = Figure(figsize=(4.2, 2.8))
        FigureCanvasSVG(fig)
        ax = fig.add_subplot(1, 1, 1)
        for (strategy, budget), pts in sorted(series.items()):
            pts = sorted(pts, key=lambda c: c["depth"])
            xs = [c["depth"] for c in pts]
            line, = ax.plot(xs, [c["accuracy"] for c in pts], marker="o", ms=3, lw=1.2, label=f"{strategy} @ {budget}")
            ax.fill_between(xs, [c["wilson_lo"] for c in pts], [c["wilson_hi"] for c in pts],
                            color=line.get_color(), alpha=0.15, lw=0)
        ax.set_xlabel("certified depth")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue().decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _fmt(x: Any, digits: int = 3) -> str:
    return fmt(x, digits, missing="—")


def _interval(v: Any, lo: Any, hi: Any, digits: int = 3) -> str:
    return fmt_interval(v, lo, hi, digits, missing="—")


def _stable_json(x: Any) -> Any:
    """Strict JSON with floats rounded to 6 digits (the same bytes on every platform)."""
    return clean_json(x, digits=6)


def _md(text: Any) -> str:
    """Text safe inside a Markdown table cell (HTML and pipes escaped)."""
    s = str(text)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("\n", " "), ("\r", " "),
                 ("`", "\\`"), ("[", "\\["), ("]", "\\]")):
        s = s.replace(a, b)
    return s


@lru_cache(maxsize=1)
def _index_template() -> Any:
    """The page template, compiled on first use (jinja2 is imported lazily)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    return env.from_string(_INDEX_SOURCE)


_INDEX_SOURCE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>depthbench leaderboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
table{border-collapse:collapse;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f2f2f2;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{background:#1a7f37;color:#fff;border-radius:.6rem;padding:0 .45rem;font-size:.75rem}
.unverified{color:#777;font-size:.75rem}h2.public{color:#555}.public-note{color:#555;font-size:.85rem}section.entry{margin-top:2rem;border-top:1px solid #ddd}
.entry svg{max-width:100%;height:auto}code{background:#f6f6f6}
</style>
</head>
<body>
<h1>depthbench leaderboard</h1>
<p>Suite {{ suite_version }}. Every number below was recomputed from the submitted raw completions;
nothing a submitter wrote (answers, judge verdicts, token counts, scores) is used unchecked. Accuracy has a
95% Wilson interval, AUC (area under the accuracy-vs-depth curve, normalised to [0, 1]) a 95% bootstrap
interval over items, d50 (depth where accuracy falls halfway to chance) the interval of the reliability fit.
<span class="badge">verified</span> rows are on a <strong>hidden split</strong>: the maintainers hold the answers
and the submitters only saw the prompts; only these are ranked. Token counts were recounted with the model's
own tokenizer where the validator has it, else bounded below by a pre-token count that no real tokenizer
undercuts (hover the badge). Tables headed <em>public data, self-run</em> follow all ranked tables: their
gold answers are public, so they are listed without rank.
Click a column header to sort.</p>
{% for task in tasks %}
{% if task.table == "hidden" %}
<h2 id="task-{{ task.slug }}">Task {{ task.name }}: hidden split, verified and ranked <small>(split {{ task.split }}, dataset <code>{{ task.sha[:12] }}</code>)</small></h2>
{% else %}
<h2 id="task-{{ task.slug }}" class="public">Task {{ task.name }}: public data, self-run (not ranked) <small>(split {{ task.split }}, dataset <code>{{ task.sha[:12] }}</code>)</small></h2>
<p class="public-note">The gold answers of this release are public, so a submission can copy them: these rows are
valid and re-scored but are not ranked and never stand above a hidden-split result.</p>
{% endif %}
<table class="sortable">
<thead><tr>
<th data-type="num">rank</th><th>model</th><th>revision</th><th>submitter</th><th>strategy</th><th>kind</th>
<th data-type="num">budget</th><th data-type="num">items</th><th data-type="num">accuracy</th>
<th data-type="num">AUC</th><th data-type="num">d50</th><th data-type="num">mean G</th>
<th data-type="num">mean P</th><th data-type="num" title="model calls per item (every role)">calls</th>
<th data-type="num" title="sampled responses per item">responses</th>
<th title="mean answer entropy of the samples, pass@N - maj@N, depths flagged collapsed">diversity</th>
<th>verified</th><th>date</th>
</tr></thead>
<tbody>
{% for r in task.rows %}
<tr>
<td class="num" data-sort="{{ r.rank if r.rank is not none else '' }}">{{ r.rank if r.rank is not none else "—" }}</td>
<td><a href="#{{ r.entry }}">{{ r.model }}</a></td><td>{{ r.revision if r.revision is not none else "" }}</td>
<td>{{ r.submitter }}</td><td><code>{{ r.strategy }}</code></td><td>{{ r.kind if r.kind is not none else "" }}</td>
<td class="num" data-sort="{{ r.budget }}">{{ r.budget }}</td>
<td class="num" data-sort="{{ r.n }}">{{ r.n }}</td>
<td class="num" data-sort="{{ r.accuracy|fmt(6) }}">{{ r.accuracy_text }}</td>
<td class="num" data-sort="{{ r.auc|fmt(6) }}">{{ r.auc_text }}</td>
<td class="num" data-sort="{{ r.d50_sort }}">{{ r.d50_text }}</td>
<td class="num" data-sort="{{ r.mean_generated_tokens|fmt(3) }}">{{ r.mean_generated_tokens|fmt(1) }}</td>
<td class="num" data-sort="{{ r.mean_processed_tokens|fmt(3) }}">{{ r.mean_processed_tokens|fmt(1) }}</td>
<td class="num" data-sort="{{ r.mean_calls|fmt(3) }}">{{ r.mean_calls|fmt(1) }}</td>
<td class="num" data-sort="{{ r.mean_responses|fmt(3) }}">{{ r.mean_responses|fmt(1) }}</td>
<td>{{ r.diversity_text }}</td>
<td data-sort="{{ 1 if r.verified else 0 }}">{% if r.verified %}<span class="badge" title="hidden split; answers re-derived; token counts {{ r.token_check }}">verified</span>{% else %}<span class="unverified" title="token counts {{ r.token_check }}">self-run</span>{% endif %}</td>
<td>{{ r.date }}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
{% for e in entries %}
<section class="entry" id="{{ e.id }}">
<h2>{{ e.model }}{% if e.revision %} <small>({{ e.revision }})</small>{% endif %}
{% if e.verified %} <span class="badge" title="hidden split; answers re-derived; token counts {{ e.token_check }}">verified</span>{% else %} <small>(public data, self-run)</small>{% endif %}</h2>
<p>Task <code>{{ e.task }}</code>, split <code>{{ e.split }}</code>, release <code>{{ e.release }}</code>, dataset sha256 <code>{{ e.dataset_sha256 }}</code>;
submitted by {{ e.submitter }} on {{ e.date }}; endpoint {{ e.endpoint }};
sampler settings as stated: {% for k, v in e.sampling %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %};
token counts {{ e.token_check }}; suite {{ e.suite_version }}; file <a href="{{ e.download }}"><code>{{ e.file }}</code></a>.</p>
{% if e.notes %}
<ul class="notes">
{% for n in e.notes %}
<li>{{ n }}</li>
{% endfor %}
</ul>
{% endif %}
<figure>{{ e.svg }}<figcaption>Accuracy vs certified depth (95% Wilson bands) per strategy and budget.</figcaption></figure>
<h3>Equivalence breakpoints</h3>
{% if e.breakpoints %}
<table><thead><tr><th>budget</th><th>parallel (a)</th><th>sequential (b)</th><th>margin</th><th>breakpoint</th><th>verdicts by depth</th></tr></thead>
<tbody>
{% for b in e.breakpoints %}
<tr><td class="num">{{ b.budget }}</td><td><code>{{ b.a }}</code></td><td><code>{{ b.b }}</code></td><td class="num">{{ b.margin|fmt }}</td>
<td>{{ b.bp_text }}</td><td>{{ b.verdict_text }}</td></tr>
{% endfor %}
</tbody></table>
{% else %}
<p>No parallel/sequential pair at a shared budget in this submission.</p>
{% endif %}
</section>
{% endfor %}
{% if rejected %}
<h2>Rejected submissions</h2>
<ul>
{% for r in rejected %}
<li><code>{{ r.file }}</code>: {{ r.n_problems }} problem(s), first: {{ r.problems[0] }}</li>
{% endfor %}
</ul>
{% endif %}
<script>
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var num = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var key = function (tr) {
      var td = tr.children[col], v = td.getAttribute("data-sort");
      if (v === null) { v = td.textContent; }
      if (num) { var f = parseFloat(v); return isNaN(f) ? -Infinity : f; }
      return v.toLowerCase();
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (x, y) { var a = key(x), b = key(y); return a < b ? -dir : a > b ? dir : 0; });
    rows.forEach(function (tr) { body.appendChild(tr); });
  });
});
</script>
</body>
</html>
"""


def _d50_text(r: Mapping[str, Any]) -> str:
    """d50 with its interval, worded as every view words it (``fmt_d50``).

    A d50 beyond the deepest measured depth (or infinite: no decay seen) is not a number
    the data support and reads "> max depth N", without an interval.
    """
    if r.get("d50") is None and r.get("p") is None:
        return "—"
    if r.get("d50_extrapolated") or r.get("d50") is None:
        return fmt_d50({**r, "d50_extrapolated": True})
    return _interval(r["d50"], r.get("d50_lo"), r.get("d50_hi"), 2)


def _d50_sort(r: Mapping[str, Any]) -> str:
    if r.get("d50") is None:
        return "1e12" if r.get("p") is not None else ""
    return f"{r['d50']:.6f}"


def _bp_text(b: Mapping[str, Any]) -> str:
    """The breakpoint cell: the scorers' words for the record (same as the report)."""
    return breakpoint_words(b)


def _entry(rep: ValidationReport, file_name: str) -> dict[str, Any]:
    sub = rep.submission or {}
    meta = sub["metadata"]
    analysis = analyze_outcomes(rep.outcomes)
    slug = safe_slug(meta["model"]["name"], meta["model"]["revision"] or "", meta["dataset"]["task"], file_name)
    simulated = rep.token_check == "recounted (simulated word rule)"
    return {
        "id": "e-" + slug, "file": file_name,
        "download": f"submissions/{slug}{'.json.gz' if file_name.endswith('.json.gz') else '.json'}",
        "model": meta["model"]["name"], "revision": meta["model"]["revision"],
        "submitter": meta["submitter"], "task": meta["dataset"]["task"], "split": meta["dataset"]["split"],
        "dataset_sha256": meta["dataset"]["sha256"], "board_sha256": rep.board_sha256 or meta["dataset"]["sha256"],
        "release": rep.release, "date": meta["date"], "suite_version": meta["suite_version"],
        "endpoint": _SIMULATED_LABEL if simulated else meta["endpoint"]["kind"],
        "sampling": sorted(meta["sampling"].items()),
        "table": "hidden" if rep.verified else "public",
        "verified": rep.verified, "token_check": rep.token_check, "notes": list(rep.notes), "rows": analysis["rows"],
        "curves": analysis["curves"], "breakpoints": analysis["breakpoints"],
    }


def _ranked_boards(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table per (kind, task, split, dataset): results on different data are never ranked together,
    and public-data tables (no rank) come after every hidden-split table. Rows sort by AUC, then
    accuracy (descending); in a hidden-split table equal AUC and accuracy share a rank."""
    boards: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        for r in e["rows"]:
            boards[(e["table"], e["task"], e["split"], e["board_sha256"])].append({
                **r, "entry": e["id"], "model": e["model"], "revision": e["revision"], "submitter": e["submitter"],
                "verified": e["verified"], "table": e["table"], "token_check": e["token_check"], "date": e["date"],
                "task": e["task"], "split": e["split"], "dataset_sha256": e["dataset_sha256"], "release": e["release"],
                "file": e["file"],
            })
    tasks = []
    for table, task, split, sha in sorted(boards, key=lambda k: (k[0] != "hidden", k[1:])):
        rows = sorted(boards[(table, task, split, sha)], key=lambda r: (-r["auc"], -r["accuracy"], r["model"],
                                                                       r["strategy"], r["budget"], r["file"]))
        for i, r in enumerate(rows, start=1):  # competition ranking: equal AUC and accuracy share a rank
            if table != "hidden":
                r["rank"] = None
                continue
            prev = rows[i - 2] if i > 1 else None
            same = prev is not None and (prev["auc"], prev["accuracy"]) == (r["auc"], r["accuracy"])
            r["rank"] = prev["rank"] if same else i
        tasks.append({"name": task, "split": split, "sha": sha, "table": table,
                      "slug": safe_slug(table, task, split, sha), "rows": rows})
    return tasks


def _markdown(view_tasks: list[dict[str, Any]], view_entries: list[dict[str, Any]],
              rejected: list[dict[str, Any]]) -> str:
    """``leaderboard.md``: the ranked tables, the breakpoints and the rejected submissions."""
    md = ["# depthbench leaderboard", "", f"Suite {__version__}. Numbers recomputed from predictions; "
          "intervals are 95% (accuracy: Wilson; AUC: bootstrap over items; d50: reliability fit, ∞ when no decay "
          "is seen).", ""]
    for t in view_tasks:
        kind = "hidden split, verified and ranked" if t["table"] == "hidden" else "public data, self-run (not ranked)"
        md += [f"## Task {_md(t['name'])}: {kind} (split {_md(t['split'])}, dataset {t['sha'][:12]})", "",
               "| rank | model | revision | submitter | strategy | budget | items | accuracy | AUC | d50 | mean G | mean P "
               "| calls | responses | diversity | verified |",
               "|---:|---|---|---|---|---:|---:|---|---|---|---:|---:|---:|---:|---|---|"]
        for r in t["rows"]:
            md.append("| " + " | ".join([
                str(r["rank"]) if r["rank"] is not None else "—", _md(r["model"]), _md(r["revision"] or ""),
                _md(r["submitter"]), _md(r["strategy"]),
                str(r["budget"]), str(r["n"]), r["accuracy_text"], r["auc_text"], r["d50_text"],
                _fmt(r["mean_generated_tokens"], 1), _fmt(r["mean_processed_tokens"], 1),
                _fmt(r.get("mean_calls"), 1), _fmt(r.get("mean_responses"), 1), _md(r["diversity_text"]),
                "verified" if r["verified"] else "self-run"]) + " |")
        md.append("")
    bps = [(e, b) for e in view_entries for b in e["breakpoints"]]
    if bps:
        md += ["## Equivalence breakpoints (parallel a vs sequential b, matched budget)", "",
               "| model | task | budget | a | b | margin | breakpoint | verdicts by depth |",
               "|---|---|---:|---|---|---:|---|---|"]
        for e, b in bps:
            md.append("| " + " | ".join([_md(e["model"]), _md(e["task"]), str(b["budget"]), _md(b["a"]), _md(b["b"]),
                                         _fmt(b["margin"], 2), _md(b["bp_text"]), _md(b["verdict_text"])]) + " |")
        md.append("")
    if rejected:
        md += ["## Rejected submissions", ""]
        md += [f"- `{_md(r['file'])}`: {r['n_problems']} problem(s), first: {_md(r['problems'][0])}" for r in rejected]
        md.append("")
    return "\n".join(md) + ("" if md[-1] == "" else "\n")


def build_leaderboard(submissions_dir: str | Path, out_dir: str | Path, *, releases: Any = None,
                      limits: Limits = DEFAULT_LIMITS, tokenizers: Mapping[str, str] | None = None,
                      progress: bool | None = None) -> SiteResult:
    """Validate every submission in a folder and write the static leaderboard.

    Parameters
    ----------
    submissions_dir : path-like
        Folder of ``*.json.gz`` submissions (not searched recursively).
    out_dir : path-like
        Output folder; ``index.html``, ``leaderboard.json`` and ``leaderboard.md`` are
        written there atomically.
    releases : path-like or sequence of path-like, optional
        Extra dataset releases (e.g. a hidden split's folder); the shipped ones are always known.
    limits : Limits
        Reading limits for untrusted files.
    tokenizers : mapping, optional
        Tokenizers to recount token counts with (see ``validate_submission``).
    progress : bool or None
        Progress over the submissions (:class:`depthbench.progress.Progress`): None
        shows a bar on a terminal and a line every ~30 s elsewhere; False shows nothing.

    Returns
    -------
    SiteResult
        The leaderboard data and which files were accepted or rejected.

    Raises
    ------
    UserError
        No submission in the folder is valid (exit status 1; nothing is written), or the
        output folder cannot be written.
    """
    files = collect_submissions(submissions_dir)
    result = SiteResult(data={})
    entries, rejected, downloads = [], [], []

    with Progress(len(files), "leaderboard", "submissions", enabled=progress) as bar:
        for path in files:
            rep = validate_submission(path, releases=releases, limits=limits, tokenizers=tokenizers)
            if rep.ok:
                entries.append(_entry(rep, path.name))
                downloads.append((entries[-1]["download"], path))
                result.accepted.append(path.name)
            else:
                rejected.append({"file": path.name, "n_problems": rep.n_problems, "problems": rep.problems[:5]})
                result.rejected.append(path.name)
            bar.update(1)
    if not entries:
        why = (f"all {len(rejected)} submission(s) were rejected ({', '.join(r['file'] for r in rejected[:5])}"
               f"{', ...' if len(rejected) > 5 else ''}; see 'depthbench submission validate FILE')" if rejected
               else "it holds no .json.gz submission")
        raise UserError(f"SUBMISSIONS_DIR: no valid submission in {str(submissions_dir)!r}: {why}; nothing written",
                        exit_code=1)
    out = ensure_writable_dir(out_dir, "--out")

    tasks = _ranked_boards(entries)

    data = _stable_json({
        "format": LEADERBOARD_FORMAT, "suite_version": __version__,
        "rows": [{k: v for k, v in r.items() if k != "depths"} for t in tasks for r in t["rows"]],
        "entries": [{k: (dict(v) if k == "sampling" else v) for k, v in e.items() if k not in ("rows",)}
                    for e in entries],
        "rejected": rejected,
    })
    result.data = data

    view_tasks = [{**t, "rows": [{**r,
                                  "accuracy_text": _interval(r["accuracy"], r["accuracy_lo"], r["accuracy_hi"]),
                                  "auc_text": _interval(r["auc"], r["auc_lo"], r["auc_hi"]),
                                  "d50_text": _d50_text(r),
                                  "d50_sort": _d50_sort(r),
                                  "diversity_text": fmt_diversity(r.get("diversity"), missing="—")}
                                 for r in t["rows"]]} for t in tasks]
    view_entries = []
    for e in entries:
        svg = _depth_svg(e["curves"], f"{e['task']}: accuracy vs depth")
        view_entries.append({**e, "svg": Markup(svg),
                             "breakpoints": [{**b, "bp_text": _bp_text(b), "verdict_text": b.get("text", "")}
                                             for b in e["breakpoints"]]})
    html = _index_template().render(tasks=view_tasks, entries=view_entries, rejected=rejected, suite_version=__version__)

    targets = {"index.html": html, "leaderboard.md": _markdown(view_tasks, view_entries, rejected)}
    for name, text in targets.items():
        atomic_write_text(out / name, text)
        result.files.append(out / name)
    atomic_write_json(out / "leaderboard.json", data)
    result.files.append(out / "leaderboard.json")
    for rel, src in downloads:
        # rel is built from safe_slug only: no separators, no leading dot, so it stays inside out/.
        dest = out / rel
        atomic_write_bytes(dest, src.read_bytes())
        result.files.append(dest)
    return result
