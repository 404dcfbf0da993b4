"""Analyse a run folder: depth curves, fits, equivalence verdicts -> ``results.json``.

``depthbench analyze RUN_DIR`` reads ``scored.jsonl`` when present and not older than
``outcomes.jsonl`` (re-scored from the raw responses by ``depthbench score``), else
``outcomes.jsonl`` as logged (with a note on stderr), and
writes ``results.json`` (format ``depthbench-results/1``, ``docs/ARCHITECTURE.md``)
atomically, then prints a table (or the JSON with ``--json``).

Default comparisons (:func:`default_pairs`): at every budget of every task, each
(parallel, sequential) pair of strategies -- ``single`` counts as sequential, ``bound``
strategies (oracle, pass@N) are never compared -- with ``a`` the parallel one, so
``a_better`` reads "parallel better"; and each search strategy (beam, mcts, evolve)
against each parallel and each sequential one, with ``a`` the search strategy.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from depthbench.analysis._format import clean_json, fmt, fmt_collapsed, fmt_d50
from depthbench.analysis._rescore import load_run_items, load_run_json, read_records, strategy_info
from depthbench.analysis._results import RESULTS_FORMAT, check_results
from depthbench.errors import UserError
from depthbench.io import BadLine, atomic_write_json
from depthbench.scorers._curves import curve_fits, depth_curves
from depthbench.scorers._diversity import diversity_rows, diversity_rule
from depthbench.scorers._equivalence import (
    compare_strategies,
    compute_to_target,
    pair_words,
    summarize_comparison,
    verdict_words,
)
from depthbench.scorers._paired import METHOD

__all__ = ["analyze_run", "default_pairs", "format_table", "matched_arms", "RESULTS_FORMAT", "MATCH_UNITS"]

_NEEDED = ("item_id", "task", "strategy", "budget", "depth")

#: What ``analyze --match`` holds equal between the two strategies of a comparison: ``tokens``
#: (the default: the same budget B), ``calls`` (per-item ``n_calls``) or ``responses``
#: (per-item ``n_responses``, as Gan, Liao and Liu 2025, arXiv 2501.15602, match best-of-N and
#: tree search); the counts are defined in :mod:`depthbench.baselines._counts`.
MATCH_UNITS = {"tokens": None, "calls": "n_calls", "responses": "n_responses"}


def default_pairs(kinds: Mapping[str, str]) -> list[tuple[str, str]]:
    """The strategy pairs ``analyze`` compares at one budget, sorted.

    The rule: every (parallel, sequential-or-single) pair, then every (search,
    parallel) and every (search, sequential-or-single) pair, the search strategy
    (``beam@N:W``, ``mcts@N``, ``evolve@G``) first. ``bound`` strategies (pass@k, an
    oracle ceiling) are never paired, nor two strategies of the same kind. The caller
    passes the strategies present at one (task, budget), so pairs are at a matched budget.

    Parameters
    ----------
    kinds : mapping of str to str
        Strategy name -> kind (``single``, ``parallel``, ``sequential``, ``bound``, ``search``).

    Returns
    -------
    list of (str, str)
        ``(a, b)`` pairs; a verdict ``a_better`` favours the first.

    Examples
    --------
    >>> default_pairs({"majority@8": "parallel", "single": "single", "pass@8": "bound",
    ...                "budget_forcing": "sequential", "beam@4:2": "search"})
    [('majority@8', 'budget_forcing'), ('majority@8', 'single'), ('beam@4:2', 'majority@8'), \
('beam@4:2', 'budget_forcing'), ('beam@4:2', 'single')]
    """
    par = sorted(s for s, k in kinds.items() if k == "parallel")
    seq = sorted(s for s, k in kinds.items() if k in ("sequential", "single"))
    search = sorted(s for s, k in kinds.items() if k == "search")
    return [(a, b) for a in par for b in seq] + [(a, b) for a in search for b in par + seq]


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
    match: str = "tokens",
    match_tolerance: float = 0.0,
    match_n: int | None = None,
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
    match : {"tokens", "calls", "responses"}
        What the comparisons hold equal. ``tokens`` (default): the pairs of
        :func:`default_pairs` at each budget. ``calls`` / ``responses``: in addition, a
        ``matched`` block comparing the pairs of :func:`matched_arms` -- two strategies, each
        at any of its budgets, whose mean per-item number of calls (responses) agree -- with
        the same exact paired tests and words.
    match_tolerance : float
        Relative tolerance of the count match, in [0, 1): arms with mean counts ``c_a, c_b``
        match when ``|c_a - c_b| <= match_tolerance * max(c_a, c_b)`` (default 0: equal).
    match_n : int, optional
        Only arms whose mean count is ``match_n`` (within the tolerance) -- a declared N.

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
        Bad margin, missing run files, no usable records; with ``match`` other than
        ``tokens``: a bad tolerance or N, outcomes without counts, or no matched pair.
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin < 0.5:
        raise UserError(f"--margin: must be between 0 and 0.5 (accuracy units, exclusive), got {margin}; "
                        "e.g. --margin 0.05")
    _check_match(match, match_tolerance, match_n)
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
    matched = None
    if MATCH_UNITS[match] is not None:  # before anything is written: a failed match loses nothing
        matched = _matched(recs, kinds, chance, by=match, tolerance=float(match_tolerance), n=match_n,
                           margin=margin, alpha=alpha, n_boot=n_boot, seed=seed)
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
        "diversity": diversity_rows(recs, kinds=kinds),
        "diversity_rule": diversity_rule(),
    }
    if matched is not None:
        results["matched"] = matched
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


def _check_match(match: Any, tolerance: Any, n: Any) -> None:
    if match not in MATCH_UNITS:
        raise UserError(f"--match: {match!r} is not one of {', '.join(MATCH_UNITS)}; e.g. --match calls")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
        raise UserError(f"--match-tolerance: must be in [0, 1) (a relative difference of the counts), got {tolerance}; "
                        "e.g. --match-tolerance 0.1")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise UserError(f"--match-n: must be a whole number of calls or responses >= 1, got {n}; e.g. --match-n 8")
    if MATCH_UNITS[match] is None and (tolerance or n is not None):
        raise UserError("--match-tolerance / --match-n: apply to --match calls or --match responses only; "
                        "add e.g. --match calls")


def _within(ca: float, cb: float, tolerance: float) -> bool:
    return abs(ca - cb) <= tolerance * max(ca, cb) + 1e-9


def matched_arms(recs: Sequence[Mapping[str, Any]], kinds: Mapping[str, str], *, by: str, tolerance: float = 0.0,
                 n: int | None = None) -> tuple[list[tuple[str, str, int, str, int]], dict[tuple[str, str, int], float]]:
    """The pairs of (strategy, budget) arms ``analyze --match calls|responses`` compares.

    The rule: per task, each arm (strategy, budget) has a count ``c`` -- the mean over its
    outcomes of ``n_calls`` (``by="calls"``) or ``n_responses`` (``by="responses"``). Two arms
    of different strategies, neither of kind ``bound``, are matched when ``|c_a - c_b| <=
    tolerance * max(c_a, c_b)`` (tolerance 0: equal means; a strategy with a fixed shape, such
    as ``majority@8``, has an integer mean), each at any of its budgets (matching calls frees
    the token budget); with ``n``, both counts must also match ``n`` by the same rule. Within a
    pair ``a`` comes first as :func:`default_pairs` orders the two (parallel before
    sequential or single, search before either), else the first by name.

    Returns
    -------
    pairs : list of (task, a, budget_a, b, budget_b)
        Sorted.
    counts : dict
        ``(task, strategy, budget) -> mean count`` of every arm whose outcomes carry the count.
    """
    field = MATCH_UNITS[by]
    sums: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for r in recs:
        v = r.get(field)
        if isinstance(v, int) and not isinstance(v, bool):
            sums[(str(r["task"]), str(r["strategy"]), int(r["budget"]))].append(v)
    counts = {k: sum(v) / len(v) for k, v in sums.items()}
    arms = sorted(k for k in counts if kinds.get(k[1]) != "bound"
                  and (n is None or _within(counts[k], float(n), tolerance)))
    pairs = []
    for i, (task, sa, ba) in enumerate(arms):
        for task2, sb, bb in arms[i + 1:]:
            if task2 != task or sa == sb or not _within(counts[(task, sa, ba)], counts[(task, sb, bb)], tolerance):
                continue
            if default_pairs({sb: kinds.get(sb, ""), sa: kinds.get(sa, "")}) == [(sb, sa)]:
                pairs.append((task, sb, bb, sa, ba))
            else:
                pairs.append((task, sa, ba, sb, bb))
    return sorted(pairs), counts


def _arm(strategy: str, budget: int) -> str:
    return f"{strategy} @ {budget}"


def _matched(recs: Sequence[Mapping[str, Any]], kinds: Mapping[str, str], chance: Mapping[str, float], *, by: str,
             tolerance: float, n: int | None, margin: float, alpha: float, n_boot: int, seed: int) -> dict[str, Any]:
    """The ``matched`` block of ``results.json``: the comparisons of :func:`matched_arms`, through the
    same :func:`compare_strategies` (exact paired tests, Holm, words) as the token-matched ones."""
    field = MATCH_UNITS[by]
    pairs, counts = matched_arms(recs, kinds, by=by, tolerance=tolerance, n=n)
    if not counts:
        raise UserError(f"--match {by}: the outcomes carry no {field} (written before depthbench counted calls); "
                        "run `depthbench score RUN_DIR` first, which counts them from calls.jsonl")
    if not pairs:
        arms = [f"{_arm(s, b)}: {c:g}" for (_, s, b), c in sorted(counts.items()) if kinds.get(s) != "bound"]
        shown = ", ".join(arms[:12]) + (", ..." if len(arms) > 12 else "")
        want = f" equal to {n}" if n is not None else ""
        raise UserError(f"--match {by}: no two strategies have matched mean {by} per item{want} (tolerance "
                        f"{tolerance:g}; {shown}); run strategies with equal N, or widen --match-tolerance", exit_code=1)
    by_arm: dict[tuple[str, str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for r in recs:
        by_arm[(str(r["task"]), str(r["strategy"]), int(r["budget"]))].append(r)
    equivalence: list[dict[str, Any]] = []
    breakpoints: list[dict[str, Any]] = []
    for task, a, ba, b, bb in pairs:
        la, lb = _arm(a, ba), _arm(b, bb)
        arm_recs = ([{**r, "strategy": la} for r in by_arm[(task, a, ba)]]
                    + [{**r, "strategy": lb} for r in by_arm[(task, b, bb)]])
        arm_kinds = {la: kinds.get(a, ""), lb: kinds.get(b, "")}
        rows, brk = compare_strategies(arm_recs, la, lb, task=task, margin=margin, alpha=alpha, n_boot=n_boot,
                                       seed=seed, chance=chance.get(task), words=pair_words(la, lb, arm_kinds))
        extra = {"a": a, "b": b, "budget_a": ba, "budget_b": bb, "count_a": counts[(task, a, ba)],
                 "count_b": counts[(task, b, bb)]}
        equivalence.extend({**row, **extra} for row in rows)
        breakpoints.append({**brk, **extra})
    for row in equivalence + breakpoints:
        row.pop("budget", None)
    return {"by": by, "field": field, "tolerance": tolerance, "n": n,
            "rule": (f"pairs of strategies (each at any budget, bound strategies left out) whose mean {field} per item "
                     f"agree within a relative tolerance of {tolerance:g}" + (f" and equal {n}" if n is not None else "")
                     + "; the same exact paired tests, Holm across depths, per pair"),
            "equivalence": equivalence, "breakpoints": breakpoints}


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


def _width(names: Any, least: int) -> int:
    """A text column's width: ``least``, or the longest of ``names`` (long strategy names keep the columns aligned)."""
    return max([least, *(len(str(n)) for n in names)])


def format_table(results: Mapping[str, Any]) -> str:
    """Human-readable summary: curves, fits, verdicts and breakpoints."""
    lines = []
    sw = _width((r["strategy"] for key in ("curves", "fits", "diversity") for r in results.get(key) or []), 22)
    eq = results.get("equivalence") or []
    aw, bw = _width((r["a"] for r in eq), 18), _width((r["b"] for r in eq), 18)
    lines.append(f"{'task':<24} {'strategy':<{sw}} {'kind':<10} {'budget':>6} {'depth':>5} {'n':>5} {'acc':>6} "
                 f"{'wilson 95%':>15} {'no ans':>6} {'mean G':>8} {'calls':>6} {'resp':>6}")
    for r in results["curves"]:
        lines.append(f"{r['task']:<24} {r['strategy']:<{sw}} {str(r['kind']):<10} {r['budget']:>6} {r['depth']:>5} "
                     f"{r['n']:>5} {_f(r['accuracy']):>6} {'[' + _f(r['wilson_lo']) + ', ' + _f(r['wilson_hi']) + ']':>15} "
                     f"{_f(r['no_answer_rate']):>6} {_f(r['mean_generated_tokens'], 1):>8} "
                     f"{_f(r.get('mean_calls'), 1):>6} {_f(r.get('mean_responses'), 1):>6}")
    lines.append("mean G: generated tokens per item; calls: model calls per item (every role, one per choice); "
                 "resp: sampled responses per item (continuations and forced answers extend their chain; judge calls "
                 "are no response)")
    if results["fits"]:
        lines.append("")
        lines.append(f"{'task':<24} {'strategy':<{sw}} {'budget':>6} {'p [95%]':>24} {'d50 [95%]':>26} {'auc':>6} "
                     f"{'max|res|':>8} {'fit p':>6}")
        for r in results["fits"]:
            p = f"{_f(r['p'], 4)} [{_f(r['p_lo'], 4)}, {_f(r['p_hi'], 4)}]"
            d = fmt_d50(r, missing="-")
            if not r.get("d50_extrapolated"):
                d = f"{d} [{_f(r['d50_lo'], 2)}, {_f(r['d50_hi'], 2)}]"
            lines.append(f"{r['task']:<24} {r['strategy']:<{sw}} {r['budget']:>6} {p:>24} {d:>26} {_f(r['auc']):>6} "
                         f"{_f(r.get('gof_max_abs_resid')):>8} {_f(r.get('gof_p')):>6}")
        lines.append("p: per-step reliability in c + (1 - c) p^d (95% interval: hull of likelihood-ratio and bootstrap); "
                     "d50 beyond the largest measured depth is shown as '> max depth' (extrapolated); "
                     "max|res|: largest |accuracy - fit| over depths; fit p: Pearson chi-square goodness of fit")
    if results.get("diversity"):
        lines.append("")
        lines.append(f"{'task':<24} {'strategy':<{sw}} {'budget':>6} {'depth':>5} {'n':>5} {'N':>5} {'distinct':>8} "
                     f"{'H bits':>6} {'pass@N':>6} {'maj@N':>6} {'gap':>6} {'abstain':>7} collapsed")
        for r in results["diversity"]:
            lines.append(f"{r['task']:<24} {r['strategy']:<{sw}} {r['budget']:>6} {r['depth']:>5} {r['n']:>5} "
                         f"{_f(r['mean_samples'], 1):>5} {_f(r['distinct_answers'], 2):>8} {_f(r['answer_entropy'], 2):>6} "
                         f"{_f(r['coverage']):>6} {_f(r['majority_accuracy']):>6} {_f(r['coverage_gap'], sign=True):>6} "
                         f"{_f(r['abstain_rate'], 2):>7} {fmt_collapsed(r.get('collapsed'))}")
        lines.append("diversity of each item's N sampled responses: distinct answers; H: plug-in answer entropy in bits "
                     "(responses without an answer left out, counted in abstain); gap = pass@N (coverage) - maj@N; "
                     + str((results.get("diversity_rule") or {}).get("text", "")).split(";")[0])
    if results["equivalence"]:
        kinds = {r["strategy"]: r.get("kind") for r in results.get("curves", [])}
        lines.append("")
        lines.append(f"margin {results['margin']}: a = parallel, b = sequential (a search strategy is a, against "
                     "either); diff = acc(a) - acc(b); "
                     "exact tests for paired outcomes, Holm across depths")
        lines.append(f"{'task':<24} {'budget':>6} {'a':<{aw}} {'b':<{bw}} {'depth':>5} {'n':>5} {'diff':>7} "
                     f"{'90% CI':>17} {'p_eq':>7} {'p_diff':>7} {'n eq80':>7} verdict")
        for r in results["equivalence"]:
            ci = (f"[{_f(r.get('ci90_lo'), sign=True)}, {_f(r.get('ci90_hi'), sign=True)}]"
                  if r.get("ci90_lo") is not None else "-")
            need = r.get("items_needed")
            lines.append(f"{r['task']:<24} {r['budget']:>6} {r['a']:<{aw}} {r['b']:<{bw}} {r['depth']:>5} {r['n']:>5} "
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
    if results.get("matched"):
        lines.extend(_matched_table(results))
    return "\n".join(lines)


def _matched_table(results: Mapping[str, Any]) -> list[str]:
    """The ``--match calls|responses`` section of the text table (same columns and words as above)."""
    m = results["matched"]
    kinds = {r["strategy"]: r.get("kind") for r in results.get("curves", [])}
    arms = [(_arm(r["a"], r["budget_a"]), _arm(r["b"], r["budget_b"])) for r in m["equivalence"]]
    aw, bw = _width((x for x, _ in arms), 24), _width((y for _, y in arms), 24)
    lines = ["", f"matched {m['by']}: {m['rule']}",
             f"{'task':<24} {'a @ budget':<{aw}} {'b @ budget':<{bw}} {m['by']:>9} {'depth':>5} {'n':>5} {'diff':>7} "
             f"{'90% CI':>17} {'p_eq':>7} {'p_diff':>7} verdict"]
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for r in m["equivalence"]:
        la, lb = _arm(r["a"], r["budget_a"]), _arm(r["b"], r["budget_b"])
        words = pair_words(la, lb, {la: kinds.get(r["a"]), lb: kinds.get(r["b"])})
        groups[(r["task"], r["a"], r["budget_a"], r["b"], r["budget_b"])].append(r)
        ci = (f"[{_f(r.get('ci90_lo'), sign=True)}, {_f(r.get('ci90_hi'), sign=True)}]"
              if r.get("ci90_lo") is not None else "-")
        lines.append(f"{r['task']:<24} {la:<{aw}} {lb:<{bw}} {_f(r['count_a'], 1) + '/' + _f(r['count_b'], 1):>9} "
                     f"{r['depth']:>5} {r['n']:>5} {_f(r.get('diff'), sign=True):>7} {ci:>17} "
                     f"{_f(r.get('p_holm'), 4):>7} {_f(r.get('p_diff_holm'), 4):>7} {verdict_words(r, words)}")
    lines.append("")
    for b in m["breakpoints"]:
        la, lb = _arm(b["a"], b["budget_a"]), _arm(b["b"], b["budget_b"])
        rows = groups.get((b["task"], b["a"], b["budget_a"], b["b"], b["budget_b"]), [])
        text = summarize_comparison(rows, pair_words(la, lb, {la: kinds.get(b["a"]), lb: kinds.get(b["b"])}))["text"]
        lines.append(f"{b['task']} at matched {m['by']}: {la} vs {lb}: {text}")
    return lines
