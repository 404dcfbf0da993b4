"""Diversity of a strategy's samples: distinct answers, answer entropy, coverage minus majority.

Search and voting can only pick among what was sampled. When a sampler's answers for an item
sit on one value, drawing more of them buys nothing: best-of-N, beam search and evolutionary
search then cannot beat one chain (the premise of Vector Policy Optimization, arXiv 2605.22817:
an entropy-collapsed model gains nothing from search). These statistics say, per item and per
(task, strategy, budget, depth), how diverse the samples were and how much a perfect selector
could have gained over the vote.

Per item (:func:`sample_diversity`) over its ``k >= 2`` **final candidates** -- the chains the
strategy chooses among (one answer per candidate, ``None`` for one without an answer --
``no_answer``, ``malformed`` or ``truncated``). Which calls those are is one rule over the call
records (:func:`depthbench.baselines._counts.final_candidates`): the leaves of the sampled
candidate chains (a call whose role carries an answer and is a candidate; continuations,
forced answers and search steps extend their parent's chain), where a search step's leaf counts
only when it ends its chain (states an answer, was cut at its cap, or wrote nothing). So
majority vote's and best-of-N's samples, a beam search's or MCTS's finished chains and
evolution's or revision's candidate texts are the samples; a search's pruned or open partial
chains, judge / verifier / PRM calls and critic calls are not (a critic's text is read, but it
is never a candidate). In the statistics below, "response" means such a candidate:

* ``distinct`` -- the number of different answers given (non-answers not counted);
* ``entropy_bits`` -- the plug-in (maximum-likelihood) Shannon entropy, in bits, of the
  empirical distribution of the answers given, ``-sum p_a log2 p_a`` with ``p_a`` the share
  of the answering responses that gave ``a``; non-answers are left out of the distribution,
  as they do not vote in majority vote; 0 when at most one response answers;
* ``abstain`` -- the share of responses without an answer;
* ``modal_share`` -- the share of all ``k`` responses on the most common answer;
* ``pass`` -- 1 when some response is correct (coverage, pass@k with k = n, Chen et al. 2021);
* ``maj`` -- the majority-vote credit over the responses (abstentions do not vote; a tie
  gives fractional credit), i.e. maj@k.

Per cell (:func:`diversity_rows`) the item means, ``coverage - majority_accuracy``
(pass@N - maj@N: what an oracle selector would add to the vote) and the **collapse flag**
(:func:`collapse_flag`): mean answer entropy at most :data:`COLLAPSE_ENTROPY_BITS` **and**
coverage at most :data:`COLLAPSE_COVERAGE`. Calibration by simulation on the simulated
reasoner (how often the flag fires at known correlation ``rho``): ``benchmarks/diversity_calibration.py``,
table in ``BENCHMARKS.md``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "COLLAPSE_ENTROPY_BITS",
    "COLLAPSE_COVERAGE",
    "answer_entropy",
    "sample_diversity",
    "collapse_flag",
    "diversity_rows",
    "diversity_rule",
]

#: Entropy (bits) at or below which a cell's samples count as sitting on one answer. Half a bit
#: is what one dissenting answer among 8 samples already exceeds (0.54 bits), so a cell passes
#: only when most of its items are unanimous; it is half the entropy of a fair coin between two
#: answers (1 bit), the least a sampler that explores a binary choice shows.
COLLAPSE_ENTROPY_BITS = 0.5

#: Coverage (pass@N) at or below which a collapsed cell is flagged: on at least half of the items
#: no sample holds the right answer, so no selector over these samples can reach even 50%
#: accuracy there. Collapse onto the right answer (high coverage) is not a failure and is not flagged.
COLLAPSE_COVERAGE = 0.5


def answer_entropy(answers: Iterable[Hashable | None]) -> float:
    """Plug-in Shannon entropy, in bits, of the answers given (``None`` left out).

    Parameters
    ----------
    answers : iterable of hashable or None
        One normalised answer per sample; ``None`` is a sample without an answer.

    Returns
    -------
    float
        ``-sum p log2 p`` over the empirical shares of the non-``None`` answers, in
        ``[0, log2(k)]``; ``0.0`` when at most one sample answers.

    Examples
    --------
    >>> answer_entropy(["7", "7", "3", "3"]), answer_entropy(["7", None, "7"]), answer_entropy([None, None])
    (1.0, 0.0, 0.0)
    """
    counts = Counter(a for a in answers if a is not None)
    total = sum(counts.values())
    if total <= 1:
        return 0.0
    h = -sum((c / total) * math.log2(c / total) for c in counts.values())
    return max(0.0, h) if len(counts) > 1 else 0.0


def _hashable(a: Any) -> Hashable:
    return a if isinstance(a, Hashable) else repr(a)


def sample_diversity(answers: Sequence[Hashable | None], correct: Sequence[bool]) -> dict[str, Any] | None:
    """Diversity statistics of one item's sampled responses (see the module docstring).

    Parameters
    ----------
    answers : sequence of hashable or None, shape (k,)
        The extracted answer of each sampled response, ``None`` when it has none.
    correct : sequence of bool, shape (k,)
        Whether each response's answer is correct (verified against the item).

    Returns
    -------
    dict or None
        ``{"k", "answered", "distinct", "entropy_bits", "abstain", "modal_share", "pass",
        "maj"}``; ``None`` when ``k < 2`` (one sample has no diversity to measure).

    Raises
    ------
    ValueError
        If ``answers`` and ``correct`` differ in length.

    Examples
    --------
    >>> d = sample_diversity(["7", "7", "3", None], [True, True, False, False])
    >>> d["distinct"], round(d["entropy_bits"], 3), d["abstain"], d["modal_share"], d["pass"], d["maj"]
    (2, 0.918, 0.25, 0.5, 1, 1.0)
    """
    if len(answers) != len(correct):
        raise ValueError(f"sample_diversity: {len(answers)} answers but {len(correct)} correctness flags")
    k = len(answers)
    if k < 2:
        return None
    keys = [None if a is None else _hashable(a) for a in answers]
    counts = Counter(a for a in keys if a is not None)
    right = {a for a, ok in zip(keys, correct) if ok and a is not None}
    answered = sum(counts.values())
    top = max(counts.values()) if counts else 0
    maj = 0.0
    if counts:
        winners = [a for a, c in counts.items() if c == top]
        maj = sum(1 for a in winners if a in right) / len(winners)  # abstentions do not vote; ties fractional
    return {
        "k": k,
        "answered": answered,
        "distinct": len(counts),
        "entropy_bits": answer_entropy(keys),
        "abstain": (k - answered) / k,
        "modal_share": top / k,
        "pass": int(any(bool(c) for c in correct)),
        "maj": float(maj),
    }


def collapse_flag(entropy_bits: float | None, coverage: float | None, *,
                  entropy_max: float = COLLAPSE_ENTROPY_BITS, coverage_max: float = COLLAPSE_COVERAGE) -> bool | None:
    """The collapse flag of a cell: samples on one answer while coverage is low.

    Parameters
    ----------
    entropy_bits : float or None
        Mean per-item answer entropy of the cell (bits).
    coverage : float or None
        The cell's coverage (mean per-item pass@N), in [0, 1].
    entropy_max, coverage_max : float
        Thresholds (defaults :data:`COLLAPSE_ENTROPY_BITS`, :data:`COLLAPSE_COVERAGE`).

    Returns
    -------
    bool or None
        ``entropy_bits <= entropy_max and coverage <= coverage_max``; None when either is missing.

    Examples
    --------
    >>> collapse_flag(0.1, 0.3), collapse_flag(0.1, 0.9), collapse_flag(0.9, 0.3), collapse_flag(None, 0.3)
    (True, False, False, None)
    """
    if entropy_bits is None or coverage is None:
        return None
    return bool(entropy_bits <= entropy_max + 1e-12 and coverage <= coverage_max + 1e-12)


def diversity_rule() -> dict[str, Any]:
    """The collapse rule as data (``results.json`` ``diversity_rule``): thresholds and one line of words."""
    return {
        "entropy_max_bits": COLLAPSE_ENTROPY_BITS,
        "coverage_max": COLLAPSE_COVERAGE,
        "text": (f"collapsed: mean answer entropy <= {COLLAPSE_ENTROPY_BITS:g} bit and coverage (pass@N) <= "
                 f"{COLLAPSE_COVERAGE:g}; entropy is the plug-in entropy of the answers given (responses without "
                 "an answer left out, counted in abstain_rate)"),
    }


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def diversity_rows(outcomes: Iterable[Mapping[str, Any]], *,
                   kinds: Mapping[str, Any] | None = None,
                   get: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None) -> list[dict[str, Any]]:
    """Per (task, strategy, budget, depth) diversity of the sampled responses.

    Parameters
    ----------
    outcomes : iterable of mapping
        Outcome (or scored) records; the ones carrying ``diversity`` (the per-item statistics of
        :func:`sample_diversity`, written by the runner and by ``depthbench score``) are used.
    kinds : mapping, optional
        Strategy kind per name (copied into each row).
    get : callable, optional
        Reads the per-item statistics from a record (default ``record["diversity"]``).

    Returns
    -------
    list of dict
        Sorted by (task, strategy, budget, depth); ``task, strategy, kind, budget, depth, n``
        (items with at least two samples; repeats of an item averaged first), ``mean_samples``,
        ``distinct_answers``, ``answer_entropy`` (bits), ``abstain_rate``, ``modal_share``,
        ``coverage`` (pass@N), ``majority_accuracy`` (maj@N), ``coverage_gap`` (their difference)
        and ``collapsed`` (:func:`collapse_flag`). Cells without such items give no row.
    """
    read = get or (lambda r: r.get("diversity"))
    fields = ("k", "distinct", "entropy_bits", "abstain", "modal_share", "pass", "maj")
    cells: dict[tuple[str, str, int, int], dict[str, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in outcomes:
        d = read(r)
        if not isinstance(d, Mapping) or not all(isinstance(d.get(f), (int, float)) for f in fields):
            continue
        key = (str(r["task"]), str(r["strategy"]), int(r["budget"]), int(r["depth"]))
        cells[key][str(r["item_id"])].append(d)
    rows = []
    for key in sorted(cells):
        task, strategy, budget, depth = key
        per_item = {f: [_mean([float(d[f]) for d in ds]) for _, ds in sorted(cells[key].items())] for f in fields}
        entropy, coverage, maj = _mean(per_item["entropy_bits"]), _mean(per_item["pass"]), _mean(per_item["maj"])
        rows.append({
            "task": task, "strategy": strategy, "kind": (kinds or {}).get(strategy), "budget": budget, "depth": depth,
            "n": len(per_item["k"]), "mean_samples": _mean(per_item["k"]),
            "distinct_answers": _mean(per_item["distinct"]), "answer_entropy": entropy,
            "abstain_rate": _mean(per_item["abstain"]), "modal_share": _mean(per_item["modal_share"]),
            "coverage": coverage, "majority_accuracy": maj, "coverage_gap": coverage - maj,
            "collapsed": collapse_flag(entropy, coverage),
        })
    return rows
