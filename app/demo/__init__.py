"""``depthbench demo``: the whole pipeline on the simulated reasoner, offline, in a minute or two.

What it does, in order, into ``OUT``:

1. **Generate** a small dataset for each of the three task families
   (``OUT/data/<task>/``, through :func:`depthbench.tasks.build_items` and
   :func:`~depthbench.tasks.write_dataset`, with a manifest like ``depthbench generate``).
2. **Evaluate** the simulated reasoner on each under ``single``, ``budget_forcing``,
   ``majority@4`` and ``revision@2`` at two budgets (``OUT/runs/<task>/``, the same runner
   as ``depthbench eval``: ``run.json``, ``calls.jsonl``, ``outcomes.jsonl``).
3. **Analyse** each run with the scorers (``results.json`` in each run folder, as
   ``depthbench analyze`` writes it), then merge the three into ``OUT/results.json``.
4. **Report**: ``OUT/report/report.html`` (self-contained), ``summary.md``, and the figures
   as PNG and SVG.

Each family gets its own simulated-reasoner parameters, chosen so that the demo shows the
three regimes the suite is about:

* **graph_connectivity** (reliable steps, ``eps=0.002``): parallel voting and one long chain
  are equivalent on shallow items; once a chain no longer fits in B/N tokens the parallel
  samples must guess and the long chain wins - a sequential advantage growing with depth.
* **multihop_arithmetic** (noisy steps, ``eps=0.1``, 97 possible answers): voting
  corrects independent step errors while chains fit, so parallel can win on shallow items
  at a large budget; the sequential advantage returns with depth.
* **grid_planning** (chains that *drift* when forced past their natural stop,
  ``drift=0.004`` per forced token): budget forcing spends its extra tokens re-checking and
  corrupting a finished plan, so parallel voting is better wherever its chains fit.

5. **Search** (issue 13): on graph_connectivity with noisy steps (``eps=0.1``), best-of-N
   against beam search (``beam@4:2``, Snell et al. 2024) at the same budget, with an oracle
   (an upper bound: ``best_of@4:oracle``) and with a weak noisy PRM (``noisy:0.6,0.4``, against
   its like-for-like baseline ``weighted_best_of@4`` with the same PRM): the suite's paired
   verdicts per depth (``OUT/search/results.json``, the lines printed at the end). At 80 items
   per depth most of them are "not determined": the demo shows the comparison, not its answer.
   At 1000 items per depth (``tests/test_search.py``, BENCHMARKS.md "Search regimes") the oracle
   beam pulls away with depth, the weak PRM's lead is smaller, and with correlated samples
   (``rho=0.9``) the weak pair is equivalent at every depth.

The simulated reasoner is a calibrated reference model (see
:mod:`depthbench.baselines._simulated_theory`), not a stand-in for a real model: the demo shows
what the measurements look like, not what any real model does.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthbench.analysis import RESULTS_FORMAT, RunResults, check_results, load_run_json, summarize_verdicts
from depthbench.analysis import analyze_run as _analyze
from depthbench.analysis import score_run as _score
from depthbench.analysis._format import clean_json
from depthbench.baselines._runner import EvalConfig, run_eval
from depthbench.errors import UserError
from depthbench.io import atomic_write_json, ensure_writable_dir, read_jsonl, sha256_bytes
from depthbench.report import write_report
from depthbench.scorers import compare_strategies, pair_words, summarize_comparison
from depthbench.tasks import build_items, load_spec, write_dataset

__all__ = ["DemoFamily", "DEMO_FAMILIES", "DEMO_STRATEGIES", "DEMO_BUDGETS", "DEMO_N_PER_DEPTH", "run_demo",
           "DemoResult", "merge_results", "analyze_run"]


@dataclass(frozen=True)
class DemoFamily:
    """One family of the demo: the task, its depth grid and the simulated reasoner's spec."""

    task: str
    depths: tuple[int, ...]
    model: str
    shows: str


DEMO_FAMILIES: tuple[DemoFamily, ...] = (
    DemoFamily("graph_connectivity", (1, 2, 3, 6, 12), "simulated:eps=0.002",
               "equivalence on shallow items, a sequential advantage growing with depth"),
    DemoFamily("multihop_arithmetic", (1, 2, 4, 8, 12), "simulated:eps=0.1",
               "voting fixes step errors while chains fit; sequential wins with depth"),
    DemoFamily("grid_planning", (1, 2, 3, 4, 6), "simulated:eps=0.01,drift=0.004",
               "long chains drift when forced past their stop: a parallel advantage"),
)
DEMO_STRATEGIES: tuple[str, ...] = ("single", "budget_forcing", "majority@4", "revision@2")
DEMO_BUDGETS: tuple[int, ...] = (128, 512)
DEMO_N_PER_DEPTH = 200
#: The pair whose verdicts the demo prints (parallel a, sequential b).
DEMO_PAIR = ("majority@4", "budget_forcing")
_SPLIT = "test"
#: the search comparison (step 5): task, depths, model, budget, items per depth and the (a, b) pairs
DEMO_SEARCH_TASK, DEMO_SEARCH_DEPTHS, DEMO_SEARCH_MODEL = "graph_connectivity", (1, 4, 12), "simulated:eps=0.1"
DEMO_SEARCH_BUDGET, DEMO_SEARCH_N = 768, 80
DEMO_SEARCH_PAIRS: tuple[tuple[str, str], ...] = (("beam@4:2:prm=oracle", "best_of@4:oracle"),
                                                  ("beam@4:2:prm=noisy:0.6,0.4", "weighted_best_of@4:prm=noisy:0.6,0.4"))


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced."""

    out_dir: Path
    report_html: Path
    results_json: Path
    run_dirs: tuple[Path, ...]
    summary_lines: tuple[str, ...]
    seconds: float


def analyze_run(run_dir: Path, margin: float = 0.05) -> dict[str, Any]:
    """Re-score one run folder from its raw responses, analyse it, write ``results.json``.

    This is ``depthbench score RUN_DIR`` followed by ``depthbench analyze RUN_DIR``; the
    demo calls the same functions.

    Returns
    -------
    dict
        The results object (``depthbench-results/1``).
    """
    notes = io.StringIO()
    _score(run_dir, err=notes)
    results = _analyze(run_dir, margin=margin, err=notes)
    if notes.getvalue().strip():
        print(f"[demo] scorer notes for {run_dir.name}:\n{notes.getvalue().rstrip()}", flush=True)
    return results


def merge_results(per_task: Mapping[str, Mapping[str, Any]], runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Merge per-family ``results.json`` objects into one for a combined report.

    Curves, fits, equivalence rows and breakpoints are keyed by task already, so the
    merge concatenates them (tasks in name order). The merged ``dataset_sha256`` is the
    sha256 of the per-task dataset sha256 values, one ``task:sha`` line each, so it
    changes whenever any dataset does; ``datasets`` keeps the per-task values.

    Parameters
    ----------
    per_task : mapping task -> results object
    runs : mapping task -> run config (``run.json`` ``config``)

    Returns
    -------
    dict
        A ``depthbench-results/1`` object.
    """
    tasks = sorted(per_task)
    margins = {per_task[t].get("margin") for t in tasks}
    if len(margins) != 1:
        raise ValueError(f"runs analysed with different margins: {sorted(map(str, margins))}")
    datasets = {t: per_task[t].get("dataset_sha256") for t in tasks}
    merged: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "run": {"model": "simulated reasoner (demo; per-family parameters)", "demo": True,
                "runs": {t: dict(runs.get(t, {})) for t in tasks}},
        "dataset_sha256": sha256_bytes("".join(f"{t}:{datasets[t]}\n" for t in tasks).encode("utf-8")),
        "datasets": datasets,
        "margin": margins.pop(),
    }
    for section in ("curves", "fits", "equivalence", "breakpoints", "compute_to_target"):
        merged[section] = [row for t in tasks for row in per_task[t].get(section, [])]
    return merged


def _verdict_lines(results: Mapping[str, Any]) -> list[str]:
    """Short lines like ``graph_connectivity @ budget 128: equivalent up to depth 2, ...``."""
    out = []
    for s in summarize_verdicts(results):
        if (s.a, s.b) != DEMO_PAIR:
            continue
        phrase = s.text.split(": ", 1)[1]
        out.append(f"{s.task} @ budget {s.budget}: {phrase}")
    return out


def run_demo(out: str | Path, seed: int = 0, n_per_depth: int = DEMO_N_PER_DEPTH,
             families: Sequence[DemoFamily] = DEMO_FAMILIES, quiet: bool = False, search: bool = True) -> DemoResult:
    """Run the demo into ``out`` (see the module docstring).

    Parameters
    ----------
    out : path-like
        Output folder; created. Running again into the same folder resumes the runs
        (finished calls are served from the logs) and rewrites the analysis and report.
    seed : int
        Dataset seed and run seed (default 0).
    n_per_depth : int
        Items per depth in each dataset.
    families : sequence of DemoFamily
        Which families to run (default: all three).
    quiet : bool
        Print nothing.
    search : bool
        Also run the search comparison (step 5; default True).

    Returns
    -------
    DemoResult

    Raises
    ------
    UserError
        If ``out`` cannot be written, ``seed`` is negative, or a subsystem the demo needs is
        missing.
    """
    if seed < 0:
        raise UserError(f"--seed: must be >= 0, got {seed}")
    t0 = time.monotonic()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    out = ensure_writable_dir(out, "--out")

    per_task: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, Any]] = {}
    run_dirs = []
    for fam in families:
        data_dir = out / "data" / fam.task
        items = build_items(fam.task, _SPLIT, depths=list(fam.depths), n=n_per_depth, seed=seed)
        depths_arg = ",".join(str(d) for d in fam.depths)
        write_dataset(data_dir, load_spec(fam.task), {_SPLIT: items},
                      command=f"depthbench generate {fam.task} --split {_SPLIT} --depths {depths_arg} "
                              f"--n {n_per_depth} --seed {seed}")
        run_dir = out / "runs" / fam.task
        say(f"[demo] {fam.task}: {len(items)} items (depths {depths_arg}), model {fam.model}, "
            f"strategies {', '.join(DEMO_STRATEGIES)}, budgets {', '.join(map(str, DEMO_BUDGETS))}")
        # Demo runs are throwaway: lines are flushed (a resume still works) but not fsynced,
        # which keeps the demo fast on a busy disk.
        cfg = EvalConfig(model=fam.model, strategies=[",".join(DEMO_STRATEGIES)], budgets=list(DEMO_BUDGETS),
                         out=str(run_dir), data=str(data_dir), split=_SPLIT, seed=seed, progress=False,
                         fsync=False, argv=["demo", "--seed", str(seed)])
        t1 = time.monotonic()
        earlier = (run_dir / "run.json").exists()
        try:
            run_eval(cfg)
        except UserError as e:
            if not earlier:
                raise
            raise UserError(f"--out: {str(out)!r} holds an earlier demo run made with other settings or another "
                            f"depthbench version ({e}); choose a new --out folder or delete this one") from None
        t2 = time.monotonic()
        per_task[fam.task] = analyze_run(run_dir)
        say(f"[demo] {fam.task}: evaluated in {t2 - t1:.1f} s, scored and analysed in {time.monotonic() - t2:.1f} s")
        runs[fam.task] = _run_config(run_dir)
        run_dirs.append(run_dir)

    search_lines = _search_comparison(out, seed, say) if search else []

    merged = merge_results(per_task, runs)
    results_path = out / "results.json"
    check_results(merged, where=f"{results_path} (as written)")
    atomic_write_json(results_path, merged)
    say("[demo] writing the report")
    files = write_report(RunResults(results=merged, run_config=merged["run"], source=results_path, run_dir=out),
                         out / "report")
    lines = _verdict_lines(merged)
    seconds = time.monotonic() - t0
    say(f"[demo] done in {seconds:.0f} s")
    say(f"report:  {files.html}")
    say(f"summary: {files.markdown}")
    say("verdicts (parallel majority@4 vs sequential budget_forcing, same token budget per item):")
    for line in lines:
        say(f"  {line}")
    if search_lines:
        say(f"search on {DEMO_SEARCH_TASK} (beam vs best-of-N, budget {DEMO_SEARCH_BUDGET} per item):")
        for line in search_lines:
            say(f"  {line}")
    return DemoResult(out, files.html, results_path, tuple(run_dirs), tuple(lines) + tuple(search_lines), seconds)


def _search_comparison(out: Path, seed: int, say: Any) -> list[str]:
    """Step 5: best-of-N vs beam search on the simulated reasoner, oracle and weak PRMs; the
    verdict lines (:func:`depthbench.scorers.summarize_comparison`'s sentence per pair, then the
    accuracy differences per depth)."""
    items = build_items(DEMO_SEARCH_TASK, _SPLIT, depths=list(DEMO_SEARCH_DEPTHS), n=DEMO_SEARCH_N, seed=seed)
    data_dir, run_dir = out / "data" / f"search_{DEMO_SEARCH_TASK}", out / "search"
    depths_arg = ",".join(map(str, DEMO_SEARCH_DEPTHS))
    write_dataset(data_dir, load_spec(DEMO_SEARCH_TASK), {_SPLIT: items},
                  command=f"depthbench generate {DEMO_SEARCH_TASK} --split {_SPLIT} --depths {depths_arg} "
                          f"--n {DEMO_SEARCH_N} --seed {seed}")
    names = [n for pair in DEMO_SEARCH_PAIRS for n in pair]
    say(f"[demo] search: {len(items)} items of {DEMO_SEARCH_TASK} (depths {depths_arg}), model {DEMO_SEARCH_MODEL}, "
        f"strategies {', '.join(names)}, budget {DEMO_SEARCH_BUDGET}")
    t1 = time.monotonic()
    run_eval(EvalConfig(model=DEMO_SEARCH_MODEL, strategies=[",".join(names)], budgets=[DEMO_SEARCH_BUDGET],
                        out=str(run_dir), data=str(data_dir), split=_SPLIT, seed=seed, progress=False, fsync=False,
                        argv=["demo", "--seed", str(seed)]))
    results = analyze_run(run_dir)
    outcomes = [r for r in read_jsonl(run_dir / "scored.jsonl")]
    lines, pairs = [], []
    for a, b in DEMO_SEARCH_PAIRS:
        rows, bp = compare_strategies(outcomes, a, b, budget=DEMO_SEARCH_BUDGET, chance=0.5)
        pairs.append({"a": a, "b": b, "rows": rows, "breakpoint": bp})
        text = summarize_comparison(rows, pair_words(a, b))["text"]
        diffs = ", ".join(f"d{r['depth']} {r['diff']:+.2f}" for r in rows)
        lines.append(f"{a} vs {b}: {text} (accuracy a - b: {diffs})")
    atomic_write_json(run_dir / "search.json", clean_json({"pairs": pairs, "curves": results.get("curves", [])}))
    say(f"[demo] search: evaluated and analysed in {time.monotonic() - t1:.1f} s")
    return lines


def _run_config(run_dir: Path) -> dict[str, Any]:
    try:
        cfg = load_run_json(run_dir).get("config", {})
    except UserError:
        return {}
    return cfg if isinstance(cfg, dict) else {}
