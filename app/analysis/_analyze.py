"""Analyse a run folder: depth curves, fits, equivalence verdicts -> ``results.json``.

``depthbench analyze RUN_DIR`` reads ``scored.jsonl`` when present and not older than
``outcomes.jsonl`` (re-scored from the raw responses by ``depthbench score``), else
``outcomes.jsonl`` as logged (with a note on stderr), and
writes ``results.json`` (format ``depthbench-results/1``, ``docs/ARCHITECTURE.md``)
atomically, then prints a table (or the JSON with ``--json``).

Default comparisons: at every budget of every task, each (parallel, sequential)
pair of strategies -- ``single`` counts as sequential, ``bound`` strategies
(oracle, pass@N) are never compared -- with ``a`` the parallel one, so
``a_better`` reads "parallel better".
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from depthbench.analysis._format import clean_json, fmt, fmt_d50
from depthbench.analysis._rescore import load_run_items, load_run_json, read_records, strategy_info
from depthbench.analysis._results import RESULTS_FORMAT, check_results
from depthbench.errors import UserError
from depthbench.io import BadLine, atomic_write_json
from depthbench.scorers._curves import curve_fits, depth_curves
from depthbench.scorers._equivalence import (
    compare_strategies,
    compute_to_target,
    pair_words,
    summarize_comparison,
    verdict_words,
)
from depthbench.scorers._paired import METHOD

__all__ = ["analyze_run", "default_pairs", "format_table", "RESULTS_FORMAT"]

_NEEDED = ("item_id", "task", "strategy", "budget", "depth")


def default_pairs(kinds: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every (parallel, sequential-or-single) pair of strategy names, sorted.

    Examples
    --------
    >>> default_pairs({"majority@8": "parallel", "single": "single", "pass@8": "bound",
    ...                "budget_forcing": "sequential"})
    [('majority@8', 'budget_forcing'), ('majority@8', 'single')]
    """
    par = sorted(s for s, k in kinds.items() if k == "parallel")
    seq = sorted(s for s, k in kinds.items() if k in ("sequential", "single"))
    return [(a, b) for a in par for b in seq]


def _load_records(rd: Path, err: TextIO) -> tuple[list[dict[str, Any]], str]:
    scored, logged = rd / "scored.jsonl", rd / "outcomes.jsonl"
    warning = None
    if scored.exists() and logged.exists() and logged.stat().st_mtime > scored.stat().st_mtime:
        src = logged
        warning = (f"analyze: scored.jsonl is older than outcomes.jsonl in {str(rd)!r} (the run went on after "
                   "scoring); using outcomes.jsonl as logged -- run `depthbench score` again to re-score")
    elif scored.exists():
        src = scored
    elif logged.exists():
        src = logged
        warning = (f"analyze: no scored.jsonl in {str(rd)!r}; using outcomes.jsonl as logged "
                   "(run `depthbench score` first to re-score from the raw responses)")
    else:
        raise UserError(f"RUN_DIR: {str(rd)!r} has neither scored.jsonl nor outcomes.jsonl; run `depthbench eval` first")
    if src.stat().st_size == 0:  # an empty run: one line, not a warning and then an error
        raise UserError(f"RUN_DIR: {str(src)!r} is empty (no finished item yet); run or resume `depthbench eval` "
                        "first", exit_code=1)
    if warning:
        print(warning, file=err)
    bad: list[BadLine] = []
    recs = []
    for lineno, r in read_records(src, bad):
        missing = [f for f in _NEEDED if r.get(f) is None]
        if missing:
            bad.append(BadLine(lineno, f"record lacks {', '.join(missing)}"))
            continue
        recs.append(r)
    for b in bad:
        print(f"{src.name}: line {b.lineno}: {b.reason}; skipped", file=err)
    if not recs:
        raise UserError(f"RUN_DIR: {str(src)!r} holds no usable records; re-run `depthbench eval` or `depthbench score`")
    return recs, src.name


def _chance(recs: Sequence[Mapping[str, Any]], run: Mapping[str, Any], err: TextIO) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in recs:
        c = r.get("chance")
        if c is not None and r["task"] not in out:
            out[str(r["task"])] = float(c)
    missing = {str(r["task"]) for r in recs} - set(out)
    if missing:
        try:
            items, _ = load_run_items(run)
        except UserError as e:
            print(f"analyze: chance accuracy unknown for {sorted(missing)} ({e}); fits use chance 0", file=err)
            return out
        for it in items.values():
            t = str(it.get("task"))
            if t in missing and t not in out:
                out[t] = float((it.get("meta") or {}).get("chance") or 0.0)
    return out


def analyze_run(
    run_dir: str | Path,
    margin: float = 0.05,
    *,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    write: bool = True,
    err: TextIO | None = None,
) -> dict[str, Any]:
    """Compute ``results.json`` for a run folder (and write it).

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``depthbench eval`` (optionally re-scored).
    margin : float
        TOST equivalence margin in accuracy units, in (0, 0.5).
    alpha : float
        Family-wise level across depths (Holm).
    n_boot : int
        Bootstrap replicates (curves, equivalence); fits use half as many.
    seed : int
        Bootstrap seed (results are reproducible byte for byte).
    write : bool
        Write ``RUN_DIR/results.json`` atomically.
    err : text stream, optional
        Warnings and skipped lines (default ``sys.stderr``).

    Returns
    -------
    dict
        The results object (``format: depthbench-results/1``): ``run``,
        ``dataset_sha256``, ``curves``, ``fits``, ``equivalence``, ``breakpoints``,
        ``margin``, plus ``compute_to_target`` (pairs measured at two or more budgets),
        ``source`` (``scored.jsonl`` or ``outcomes.jsonl``), ``alpha`` and
        ``equivalence_method`` (one line naming the tests).

    Raises
    ------
    UserError
        Bad margin, missing run files, no usable records.
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin < 0.5:
        raise UserError(f"--margin: must be between 0 and 0.5 (accuracy units, exclusive), got {margin}; "
                        "e.g. --margin 0.05")
    err = err if err is not None else sys.stderr
    rd = Path(run_dir)
    run = load_run_json(rd)
    recs, source = _load_records(rd, err)
    cfg = run.get("config") or {}
    kinds = {}
    for name in sorted({str(r["strategy"]) for r in recs}):
        kinds[name] = strategy_info(name)[0]
    chance = _chance(recs, run, err)

    curves = depth_curves(recs, chance=chance, kinds=kinds, n_boot=n_boot, seed=seed)
    fits = curve_fits(recs, chance, n_boot=max(n_boot // 2, 100), seed=seed)
    equivalence, breakpoints = _comparisons(recs, kinds, chance, margin=margin, alpha=alpha, n_boot=n_boot,
                                            seed=seed, err=err)
    results = {
        "format": RESULTS_FORMAT,
        "run": _run_summary(run),
        "dataset_sha256": cfg.get("dataset_sha256") or run.get("dataset_sha256"),
        "source": source,
        "margin": float(margin),
        "alpha": float(alpha),
        "equivalence_method": METHOD,
        "curves": curves,
        "fits": fits,
        "equivalence": equivalence,
        "breakpoints": breakpoints,
        "compute_to_target": _compute_to_target(recs, kinds),
    }
    results = clean_json(results)
    check_results(results, where=f"{rd / 'results.json'} (as written)")  # the contract holds on write
    if write:
        atomic_write_json(rd / "results.json", results)
    return results


def _run_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run`` block of ``results.json``: the run's configuration, as ``run.json`` states it."""
    cfg = run.get("config") or {}
    return {
        "model": cfg.get("model"), "model_name": run.get("model_name"), "strategies": cfg.get("strategies"),
        "budgets": cfg.get("budgets"), "task": cfg.get("task"), "data": cfg.get("data"),
        "split": cfg.get("split"), "seed": cfg.get("seed"), "temperature": cfg.get("temperature"),
        "top_p": cfg.get("top_p"), "n_items": cfg.get("n_items"),
    }  # no start time: the same run (or its merged shards) analyses to the same bytes


def _comparisons(recs: Sequence[Mapping[str, Any]], kinds: Mapping[str, str], chance: Mapping[str, float], *,
                 margin: float, alpha: float, n_boot: int, seed: int,
                 err: TextIO) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Equivalence rows and breakpoints of every :func:`default_pairs` pair at every (task, budget).

    Warns on ``err`` where the two strategies of a pair cover different items at a depth.
    """
    equivalence: list[dict[str, Any]] = []
    breakpoints: list[dict[str, Any]] = []
    present: dict[tuple[str, int], set[str]] = defaultdict(set)
    items_of: dict[tuple[str, int, str, int], set[str]] = defaultdict(set)
    for r in recs:
        items_of[(str(r["task"]), int(r["budget"]), str(r["strategy"]), int(r["depth"]))].add(str(r["item_id"]))
        present[(str(r["task"]), int(r["budget"]))].add(str(r["strategy"]))
    for task, budget in sorted(present):
        here = {s: kinds[s] for s in present[(task, budget)]}
        for a, b in default_pairs(here):
            rows, brk = compare_strategies(recs, a, b, task=task, budget=budget, margin=margin, alpha=alpha,
                                           n_boot=n_boot, seed=seed, chance=chance.get(task),
                                           words=pair_words(a, b, kinds))
            equivalence.extend(rows)
            breakpoints.append(brk)
            for row in rows:
                if row["unpaired_a"] or row["unpaired_b"]:
                    na = len(items_of[(task, budget, a, row["depth"])])
                    nb = len(items_of[(task, budget, b, row["depth"])])
                    print(f"analyze: {task} @ {budget} depth {row['depth']}: {a} has {na} item(s), {b} has {nb}; "
                          f"the comparison uses the {row['n']} item(s) present under both (missing or unscored "
                          "outcomes; see `depthbench score`)", file=err)
    return equivalence, breakpoints


def _compute_to_target(recs: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """Compute-to-target rows for the pairs run at two or more budgets: per depth, the tokens each
    strategy needs to reach 0.9 x the lower of the two best accuracies."""
    budgets_of: dict[tuple[str, str], set[int]] = defaultdict(set)
    credits_of: dict[tuple[str, int, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        credits_of[(r["task"], int(r["depth"]), r["strategy"])][int(r["budget"])].append(float(r.get("credit") or 0.0))
        budgets_of[(str(r["task"]), str(r["strategy"]))].add(int(r["budget"]))
    ctt: list[dict[str, Any]] = []
    for task in sorted({str(r["task"]) for r in recs}):
        here = {s: kinds[s] for s in kinds if len(budgets_of.get((task, s), ())) >= 2}
        depths = sorted({int(r["depth"]) for r in recs if r["task"] == task})
        for a, b in default_pairs(here):
            for d in depths:
                best = {s: max((sum(v) / len(v) for v in credits_of.get((task, d, s), {}).values()), default=0.0)
                        for s in (a, b)}
                target = 0.9 * min(best.values())
                if target <= 0:
                    continue
                ctt.append(compute_to_target(recs, a, b, target, task=task, depth=d))
    return ctt


def _f(x: Any, digits: int = 3, sign: bool = False) -> str:
    """A table cell: the one number formatter (``analysis._format.fmt``), ``-`` when missing."""
    return fmt(float(x) if isinstance(x, int) and not isinstance(x, bool) else x, digits, missing="-", sign=sign)


def format_table(results: Mapping[str, Any]) -> str:
    """Human-readable summary: curves, fits, verdicts and breakpoints."""
    lines = []
    lines.append(f"{'task':<24} {'strategy':<22} {'kind':<10} {'budget':>6} {'depth':>5} {'n':>5} {'acc':>6} "
                 f"{'wilson 95%':>15} {'no ans':>6} {'mean G':>8}")
    for r in results["curves"]:
        lines.append(f"{r['task']:<24} {r['strategy']:<22} {str(r['kind']):<10} {r['budget']:>6} {r['depth']:>5} "
                     f"{r['n']:>5} {_f(r['accuracy']):>6} {'[' + _f(r['wilson_lo']) + ', ' + _f(r['wilson_hi']) + ']':>15} "
                     f"{_f(r['no_answer_rate']):>6} {_f(r['mean_generated_tokens'], 1):>8}")
    if results["fits"]:
        lines.append("")
        lines.append(f"{'task':<24} {'strategy':<22} {'budget':>6} {'p [95%]':>24} {'d50 [95%]':>26} {'auc':>6} "
                     f"{'max|res|':>8} {'fit p':>6}")
        for r in results["fits"]:
            p = f"{_f(r['p'], 4)} [{_f(r['p_lo'], 4)}, {_f(r['p_hi'], 4)}]"
            d = fmt_d50(r, missing="-")
            if not r.get("d50_extrapolated"):
                d = f"{d} [{_f(r['d50_lo'], 2)}, {_f(r['d50_hi'], 2)}]"
            lines.append(f"{r['task']:<24} {r['strategy']:<22} {r['budget']:>6} {p:>24} {d:>26} {_f(r['auc']):>6} "
                         f"{_f(r.get('gof_max_abs_resid')):>8} {_f(r.get('gof_p')):>6}")
        lines.append("p: per-step reliability in c + (1 - c) p^d (95% interval: hull of likelihood-ratio and bootstrap); "
                     "d50 beyond the largest measured depth is shown as '> max depth' (extrapolated); "
                     "max|res|: largest |accuracy - fit| over depths; fit p: Pearson chi-square goodness of fit")
    if results["equivalence"]:
        kinds = {r["strategy"]: r.get("kind") for r in results.get("curves", [])}
        lines.append("")
        lines.append(f"margin {results['margin']}: a = parallel, b = sequential; diff = acc(a) - acc(b); "
                     "exact tests for paired outcomes, Holm across depths")
        lines.append(f"{'task':<24} {'budget':>6} {'a':<18} {'b':<18} {'depth':>5} {'n':>5} {'diff':>7} "
                     f"{'90% CI':>17} {'p_eq':>7} {'p_diff':>7} {'n eq80':>7} verdict")
        for r in results["equivalence"]:
            ci = (f"[{_f(r.get('ci90_lo'), sign=True)}, {_f(r.get('ci90_hi'), sign=True)}]"
                  if r.get("ci90_lo") is not None else "-")
            need = r.get("items_needed")
            lines.append(f"{r['task']:<24} {r['budget']:>6} {r['a']:<18} {r['b']:<18} {r['depth']:>5} {r['n']:>5} "
                         f"{_f(r.get('diff'), sign=True):>7} {ci:>17} {_f(r.get('p_holm'), 4):>7} "
                         f"{_f(r.get('p_diff_holm'), 4):>7} {'-' if need is None else need:>7} "
                         f"{verdict_words(r, pair_words(r['a'], r['b'], kinds))}")
        lines.append("90% CI: Tango score interval; p_eq: exact TOST p-value, p_diff: exact two-sided p-value, both "
                     "Holm-adjusted across depths; n eq80: items per depth for 80% power to show equivalence "
                     "if the true difference were 0 (this discordance, Holm), a plan for the next run; "
                     "'about N items per depth would decide it' (verdict): items that would show equivalence or the "
                     "difference, taking this depth's observed difference as the truth; (both at chance): both "
                     "accuracies <= chance + margin, so the verdict says nothing about the strategies")
        lines.append("")
        groups: dict[tuple[Any, Any, Any, Any], list[Mapping[str, Any]]] = defaultdict(list)
        for r in results["equivalence"]:
            groups[(r["task"], r["budget"], r["a"], r["b"])].append(r)
        for b in results["breakpoints"]:
            rows = groups.get((b["task"], b["budget"], b["a"], b["b"]), [])
            text = summarize_comparison(rows, pair_words(b["a"], b["b"], kinds))["text"]
            lines.append(f"{b['task']} @ {b['budget']}: {b['a']} vs {b['b']}: {text}")
    return "\n".join(lines)
