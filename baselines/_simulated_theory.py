"""The simulated step-wise reasoner's model: parameters, token rule, closed forms, Monte Carlo.

This module is the *theory* of the calibrated reference model DESIGN.md describes ("The
simulated reasoner"); :mod:`depthbench.baselines.backends.simulated` realises the same model
as text behind the backend protocol. Model of one chain on an item of certified depth ``d``
with a generation cap of ``T`` tokens:

* **Tokens.** A token is one whitespace-separated word (:func:`count_tokens`); every count
  the backend reports is exact under that definition (source ``"simulated"``). Step ``k``
  costs ``L_k = tokens_per_step - spread + Binomial(2 * spread, 1/2)`` tokens (mean
  ``tokens_per_step``); the answer line ``Answer: X`` costs :data:`ANSWER_TOKENS` = 2.
* **Budget.** Before each step the reasoner checks that the step and the answer line
  still fit in ``T``; if not, it stops and *guesses* uniformly over the answer space.
  So the chain completes with probability ``F_d(T) = P(L_1 + ... + L_d + 2 <= T)``.
* **Errors.** Each step is wrong with probability ``eps``; an error is carried forward
  (later steps build on the wrong value) and the final answer is a uniformly drawn
  wrong answer.
* **Drift.** Tokens generated *past the natural stop* (a continuation after a complete
  chain, e.g. budget forcing appending "Wait") re-check the steps; each such token
  corrupts a correct state with hazard ``drift``.
* **Correlation.** With probability ``rho`` a sample copies a shared per-item draw
  (the same text as every other copying sample); otherwise it uses its own seed.

Hence one chain is correct with probability
``F_d(T) * (1 - eps)**d * (1 - drift)**f + (1 - F_d(T)) * c`` with ``f`` forced tokens and
chance rate ``c``. :func:`single_chain_accuracy`, :func:`majority_accuracy` and
:func:`best_of_accuracy` compute the exact expectations; :func:`simulate_batch` is the
vectorised Monte Carlo counterpart (well above 100,000 samples/s).

References
----------
Muennighoff et al. (2025), "s1: Simple test-time scaling", arXiv:2501.19393 (budget forcing).
Wang et al. (2023), "Self-Consistency Improves Chain of Thought Reasoning", arXiv:2203.11171.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from depthbench._lazy import lazy
from depthbench.errors import UserError

stats = lazy("scipy.stats")

np = lazy("numpy")
__all__ = [
    "ANSWER_TOKENS",
    "SimulatedParams",
    "SimBatch",
    "count_tokens",
    "chain_completion_probability",
    "first_error_distribution",
    "sample_correct_probability",
    "single_chain_accuracy",
    "majority_accuracy",
    "best_of_accuracy",
    "simulate_batch",
    "majority_credit",
    "best_of_credit",
    "revision_correct_probability",
    "feedback_thread_success",
    "revision_feedback_accuracy",
]

ANSWER_TOKENS = 2  # "Answer: X"


def count_tokens(text: str) -> int:
    """Tokens of ``text`` as the simulated reasoner counts them: whitespace-separated words."""
    return len(text.split())


# --------------------------------------------------------------------------- parameters


#: the options of ``simulated:k=v,...``: type and what they mean (with their valid range)
_OPTIONS: dict[str, tuple[type, str]] = {
    "eps": (float, "the per-step error probability, in [0, 1), e.g. eps=0.02"),
    "tokens_per_step": (int, "the mean tokens per step, an integer >= 3 + spread, e.g. tokens_per_step=12"),
    "spread": (int, "the step-length spread, an integer in [0, tokens_per_step - 3], e.g. spread=3"),
    "drift": (float, "the drift hazard per forced token, in [0, 1), e.g. drift=0.001"),
    "rho": (float, "the correlation between parallel samples, in [0, 1], e.g. rho=0.2"),
}


@dataclass(frozen=True)
class SimulatedParams:
    """Parameters of the simulated reasoner.

    Parameters
    ----------
    eps : float
        Per-step error probability, in [0, 1).
    tokens_per_step : int
        Mean tokens per step; a step needs at least 3 (``Step k: value``).
    spread : int
        Step length varies uniformly-binomially in ``tokens_per_step +- spread`` tokens;
        ``tokens_per_step - spread >= 3``.
    drift : float
        Hazard per token generated past the natural stop, in [0, 1).
    rho : float
        Probability that a sample copies the shared per-item draw, in [0, 1].
    """

    eps: float = 0.02
    tokens_per_step: int = 12
    spread: int = 3
    drift: float = 0.0
    rho: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.eps < 1.0:
            raise UserError(f"simulated eps: must be in [0, 1), got {self.eps}; e.g. eps=0.02")
        if not 0.0 <= self.drift < 1.0:
            raise UserError(f"simulated drift: must be in [0, 1), got {self.drift}; e.g. drift=0.001")
        if not 0.0 <= self.rho <= 1.0:
            raise UserError(f"simulated rho: must be in [0, 1], got {self.rho}")
        if int(self.tokens_per_step) != self.tokens_per_step or int(self.spread) != self.spread:
            raise UserError("simulated tokens_per_step/spread: must be integers, e.g. tokens_per_step=12,spread=3")
        if self.spread < 0 or self.tokens_per_step - self.spread < 3:
            raise UserError(
                f"simulated spread: need 0 <= spread <= tokens_per_step - 3, got tokens_per_step="
                f"{self.tokens_per_step}, spread={self.spread}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "SimulatedParams":
        """Build from ``k=v`` options (strings or numbers); unknown keys are a :class:`UserError`.

        Examples
        --------
        >>> SimulatedParams.from_options({"eps": "0.1"}).eps
        0.1
        """
        kw: dict[str, Any] = {}
        for k, v in options.items():
            if k not in _OPTIONS:
                raise UserError(f"simulated option {k!r}: unknown; valid options are {', '.join(_OPTIONS)}, "
                                "e.g. simulated:eps=0.02,tokens_per_step=12")
            kind, what = _OPTIONS[k]
            try:
                num = float(v)
                if kind is int and num != int(num):
                    raise ValueError
                if not math.isfinite(num):
                    raise ValueError
                kw[k] = kind(num)
            except (TypeError, ValueError, OverflowError):
                raise UserError(f"simulated option {k}={v}: not {'an integer' if kind is int else 'a number'}; "
                                f"{k} is {what}") from None
        return cls(**kw)


# --------------------------------------------------------------------------- closed forms


def _check_common(depth: int, budget: int, tokens_per_step: int, spread: int) -> None:
    if depth < 0 or budget < 0:
        raise ValueError(f"depth and budget must be >= 0, got depth={depth}, budget={budget}")
    SimulatedParams(tokens_per_step=tokens_per_step, spread=spread)


def chain_completion_probability(depth: int, budget: int, *, tokens_per_step: int = 12, spread: int = 3) -> float:
    """``F_d(T)``: probability that a chain of ``depth`` steps plus its answer fits in ``budget`` tokens.

    Parameters
    ----------
    depth : int
        Number of steps ``d``.
    budget : int
        Generation cap ``T`` in tokens.
    tokens_per_step, spread : int
        Step length model (see the module docstring).

    Returns
    -------
    float
        ``P(d * (tokens_per_step - spread) + Binomial(2 * spread * d, 1/2) + 2 <= T)``.
    """
    _check_common(depth, budget, tokens_per_step, spread)
    room = budget - ANSWER_TOKENS - depth * (tokens_per_step - spread)
    if room < 0:
        return 0.0
    trials = 2 * spread * depth
    return 1.0 if trials == 0 else float(stats.binom.cdf(room, trials, 0.5))


def first_error_distribution(depth: int, eps: float) -> list[float]:
    """The per-step error law of one chain: ``P(first wrong step = k)`` for k = 1..depth, then
    ``P(no wrong step)``.

    Each step is wrong with probability ``eps`` given a right prefix (an error is carried
    forward), so ``P(first error at k) = (1 - eps)**(k - 1) * eps`` and ``P(none) = (1 - eps)**depth``.
    The step-wise mode (one step per call, the prefix read back) follows the same law as a
    whole chain, since each call draws the next step's error afresh given the prefix.

    Examples
    --------
    >>> [round(x, 3) for x in first_error_distribution(2, 0.1)]
    [0.1, 0.09, 0.81]
    """
    if depth < 0 or not 0.0 <= eps < 1.0:
        raise ValueError(f"need depth >= 0 and eps in [0, 1), got depth={depth}, eps={eps}")
    return [(1.0 - eps) ** (k - 1) * eps for k in range(1, depth + 1)] + [(1.0 - eps) ** depth]


def sample_correct_probability(depth: int, budget: int, *, eps: float = 0.02, tokens_per_step: int = 12,
                               spread: int = 3, chance: float = 0.5, drift: float = 0.0,
                               forced_tokens: int = 0) -> float:
    """Probability that one sample's final answer is correct.

    ``F_d(T) * (1 - eps)**d * (1 - drift)**forced_tokens + (1 - F_d(T)) * chance``.
    ``forced_tokens`` counts tokens generated past the natural stop of a complete chain.
    """
    F = chain_completion_probability(depth, budget, tokens_per_step=tokens_per_step, spread=spread)
    return F * (1.0 - eps) ** depth * (1.0 - drift) ** forced_tokens + (1.0 - F) * chance


def single_chain_accuracy(depth: int, budget: int, *, eps: float = 0.02, tokens_per_step: int = 12,
                          spread: int = 3, chance: float = 0.5, drift: float = 0.0,
                          forced_tokens: int = 0) -> float:
    """Expected accuracy of one chain (strategy ``single``) with cap ``budget`` tokens.

    Parameters
    ----------
    depth : int
        Certified depth ``d``.
    budget : int
        Generation cap in tokens.
    eps, tokens_per_step, spread, drift : see :class:`SimulatedParams`.
    chance : float
        Chance rate of a uniform guess (``1/K``).
    forced_tokens : int
        Tokens forced past the natural stop (drift exposure).

    Returns
    -------
    float
        ``F_d(T) * (1 - eps)**d * (1 - drift)**forced_tokens + (1 - F_d(T)) * chance``.

    Examples
    --------
    >>> round(single_chain_accuracy(2, 1000, eps=0.1, chance=0.5), 6)
    0.81
    """
    return sample_correct_probability(depth, budget, eps=eps, tokens_per_step=tokens_per_step, spread=spread,
                                      chance=chance, drift=drift, forced_tokens=forced_tokens)


def _chance_of(n_answers: int | None, chance: float | None) -> float:
    if n_answers is not None:
        if n_answers < 2:
            raise ValueError(f"n_answers must be >= 2 or None, got {n_answers}")
        return 1.0 / n_answers
    return 0.0 if chance is None else float(chance)


def _poly_mul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Product of two bivariate polynomials (axis 0: votes, axis 1: ties), truncated to A's shape."""
    R, J = A.shape
    out = np.zeros_like(A)
    for j in range(J):  # direct (not FFT) convolution: all terms are positive, so no cancellation
        nz = np.nonzero(A[:, j])[0]
        if nz.size == 0:
            continue
        for jj in range(J - j):
            if B[:, jj].any():
                out[:, j + jj] += np.convolve(A[:, j], B[:, jj])[:R]
    return out


@lru_cache(maxsize=4096)
def _tie_table(c: int, boxes: int, rmax: int) -> np.ndarray:
    """``T[r, j]`` = P(all ``boxes`` counts <= c and exactly ``j`` of them == c) when ``r``
    votes fall uniformly on ``boxes`` wrong answers, for every r <= rmax.

    Exponential generating function: ``r! / boxes^r [x^r y^j] (sum_{k<c} x^k/k! + y x^c/c!)^boxes``,
    raised to the power by repeated squaring, with ``x`` scaled by ``s / boxes`` to keep
    the coefficients in floating-point range.
    """
    J = rmax // c + 1
    if boxes == 0:
        T = np.zeros((rmax + 1, J + 1))
        T[0, 0] = 1.0
        return T
    s = max(1.0, rmax / math.e)
    k = np.arange(rmax + 1)
    logf = np.array([math.lgamma(i + 1) for i in k])
    a = np.exp(k * math.log(s / boxes) - logf)
    base = np.zeros((rmax + 1, J + 1))
    lo = min(c, rmax + 1)
    base[:lo, 0] = a[:lo]
    if c <= rmax:
        base[c, 1] = a[c]
    result = np.zeros_like(base)
    result[0, 0] = 1.0
    e, sq = boxes, base
    while e:
        if e & 1:
            result = _poly_mul(result, sq)
        e >>= 1
        if e:
            sq = _poly_mul(sq, sq)
    return result * np.exp(logf - k * math.log(s))[:, None]


def _sym_credit(c: int, r: int, boxes: int | None, extra_ties: int, rmax: int) -> float:
    """Expected vote credit of the correct answer with ``c`` votes against ``r`` wrong votes
    spread uniformly over ``boxes`` answers (None: all distinct), plus ``extra_ties`` other
    answers already tied with it. Ties get fractional credit ``1 / (number tied)``."""
    if c == 0:
        return 0.0
    if boxes is None:
        if r == 0 or c >= 2:
            return 1.0 / (1 + extra_ties)
        return 1.0 / (1 + r + extra_ties)
    T = _tie_table(c, boxes, max(rmax, r))[r]
    return float(np.sum(T / (1 + np.arange(T.size) + extra_ties)))


def _binom_pmf(n: int, p: float) -> np.ndarray:
    return stats.binom.pmf(np.arange(n + 1), n, p)


def majority_accuracy(depth: int, budget: int, n: int, *, eps: float = 0.02, tokens_per_step: int = 12,
                      spread: int = 3, n_answers: int | None = 2, chance: float | None = None,
                      rho: float = 0.0, drift: float = 0.0, forced_tokens: int = 0) -> float:
    """Expected credit of ``majority@n`` (self-consistency) with ``budget`` tokens per sample.

    Parameters
    ----------
    depth : int
        Certified depth ``d``.
    budget : int
        Generation cap per sample in tokens (a total budget ``B`` gives ``B // n``).
    n : int
        Number of samples, 1 <= n <= 200.
    eps, tokens_per_step, spread, rho, drift : see :class:`SimulatedParams`.
    n_answers : int or None
        Size ``K`` of the answer space; wrong answers (errors and wrong guesses) are uniform
        over the ``K - 1`` wrong ones. ``None``: unbounded (plans), wrong answers all distinct
        and ``chance`` gives the guess success rate.
    chance : float, optional
        Only with ``n_answers=None``.
    forced_tokens : int
        Drift exposure per sample.

    Returns
    -------
    float
        Expected credit: 1 if the correct answer has strictly the most votes, ``1/k`` if it
        ties with ``k - 1`` others, 0 otherwise (every sample answers; none abstain).

    Raises
    ------
    ValueError
        If ``n`` is out of range.

    Notes
    -----
    Exact: sums over the number of samples copying the shared draw (``Binomial(n, rho)``),
    whether that draw is correct, the independent correct count, and (for finite ``K``) the
    multinomial spread of wrong votes (a bivariate generating function raised to the
    power ``K - 1`` by repeated squaring). About a second for n = 64, K = 97; cached.

    References
    ----------
    Wang et al. (2023), arXiv:2203.11171.
    """
    if not 1 <= n <= 200:
        raise ValueError(f"n must be in [1, 200], got {n}")
    c_rate = _chance_of(n_answers, chance)
    p = sample_correct_probability(depth, budget, eps=eps, tokens_per_step=tokens_per_step, spread=spread,
                                   chance=c_rate, drift=drift, forced_tokens=forced_tokens)
    wrong_boxes = None if n_answers is None else n_answers - 1
    pm = _binom_pmf(n, rho) if rho > 0 else np.eye(1, n + 1)[0]
    total = 0.0
    for m in range(n + 1):
        if pm[m] < 1e-15:
            continue
        k = n - m
        pc = _binom_pmf(k, p)
        acc_m = 0.0
        for ci in range(k + 1):
            if pc[ci] < 1e-15:
                continue
            r = k - ci
            if m == 0:
                acc_m += pc[ci] * _sym_credit(ci, r, wrong_boxes, 0, n)
                continue
            # shared draw correct: m more votes for the correct answer
            val = p * _sym_credit(m + ci, r, wrong_boxes, 0, n)
            # shared draw wrong: one wrong answer holds m votes plus its share of the r wrong votes
            if wrong_boxes is None:
                shared_votes = np.array([m]), np.array([1.0])
                rest = [r]
            else:
                x = np.arange(r + 1)
                shared_votes = m + x, _binom_pmf(r, 1.0 / wrong_boxes)
                rest = list(r - x)
            sw = 0.0
            for t1, w1, rr in zip(shared_votes[0], shared_votes[1], rest):
                if w1 < 1e-15 or t1 > ci:
                    continue
                others = None if wrong_boxes is None else wrong_boxes - 1
                sw += w1 * _sym_credit(ci, int(rr), others, 1 if t1 == ci else 0, n)
            val += (1.0 - p) * sw
            acc_m += pc[ci] * val
        total += pm[m] * acc_m
    return float(total)


def _verifier_credit(c: int, w: int, tpr: float, fpr: float) -> float:
    """Expected credit of best-of selection: among samples the verifier accepts, pick one
    uniformly (``c`` correct, ``w`` wrong samples); if none is accepted, pick uniformly among all."""
    n = c + w
    if n == 0:
        return 0.0
    pa, pb = _binom_pmf(c, tpr), _binom_pmf(w, fpr)
    a = np.arange(c + 1)[:, None]
    b = np.arange(w + 1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(a + b > 0, a / np.maximum(a + b, 1), c / n)
    return float(pa @ frac @ pb)


def best_of_accuracy(depth: int, budget: int, n: int, *, eps: float = 0.02, tokens_per_step: int = 12,
                     spread: int = 3, chance: float = 0.5, rho: float = 0.0, tpr: float = 1.0,
                     fpr: float = 0.0, drift: float = 0.0, forced_tokens: int = 0) -> float:
    """Expected accuracy of ``best_of@n`` with a verifier of given TPR/FPR.

    With the oracle (``tpr=1, fpr=0``) this is coverage, ``1 - E[(1 - p)^n]`` for
    independent samples (an upper bound, not a deployable method).

    Parameters
    ----------
    depth, budget, n : int
        Depth, per-sample cap in tokens, number of samples (>= 1).
    eps, tokens_per_step, spread, rho, drift, forced_tokens : see :func:`majority_accuracy`.
    chance : float
        Chance rate of a guess.
    tpr, fpr : float
        Probability the verifier accepts a correct / a wrong sample (independently per sample).

    Returns
    -------
    float
        Probability the selected sample is correct: uniform among accepted samples, or
        among all samples if none is accepted.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    p = sample_correct_probability(depth, budget, eps=eps, tokens_per_step=tokens_per_step, spread=spread,
                                   chance=chance, drift=drift, forced_tokens=forced_tokens)
    pm = _binom_pmf(n, rho) if rho > 0 else np.eye(1, n + 1)[0]
    total = 0.0
    for m in range(n + 1):
        if pm[m] < 1e-15:
            continue
        k = n - m
        pc = _binom_pmf(k, p)
        for ci in range(k + 1):
            if pc[ci] < 1e-15:
                continue
            if m == 0:
                total += pm[m] * pc[ci] * _verifier_credit(ci, k - ci, tpr, fpr)
            else:
                total += pm[m] * pc[ci] * (p * _verifier_credit(ci + m, k - ci, tpr, fpr)
                                           + (1 - p) * _verifier_credit(ci, k - ci + m, tpr, fpr))
    return float(total)


# --------------------------------------------------------------------------- Monte Carlo


@dataclass(frozen=True)
class SimBatch:
    """Monte Carlo samples of the simulated reasoner.

    Attributes
    ----------
    codes : ndarray of int64, shape (n_items, n_samples)
        Final answer of each sample: 0 = correct, k > 0 = a wrong answer (equal codes in a
        row = equal answers).
    tokens : ndarray of int64, shape (n_items, n_samples)
        Generated tokens per sample (steps written + the answer line).
    complete : ndarray of bool
        Whether the chain completed (else the answer is a guess).
    """

    codes: np.ndarray
    tokens: np.ndarray
    complete: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        """Boolean array: sample answered correctly."""
        return self.codes == 0


def _draw(rng: np.random.Generator, shape: tuple[int, int], depth: int, budget: int, p: SimulatedParams,
          n_answers: int | None, c_rate: float, forced_tokens: int, code_base: np.ndarray) -> tuple[np.ndarray, ...]:
    lo, width = p.tokens_per_step - p.spread, 2 * p.spread
    if depth == 0:
        total = np.zeros(shape, dtype=np.int64)
        written = total
    else:
        if width:
            steps = lo + rng.binomial(width, 0.5, size=shape + (depth,))
        else:
            steps = np.full(shape + (depth,), lo, dtype=np.int64)
        cums = np.cumsum(steps, axis=-1)
        total = cums[..., -1]
        fits = cums <= budget - ANSWER_TOKENS
        nfit = fits.sum(axis=-1)
        written = np.where(nfit > 0, np.take_along_axis(cums, np.maximum(nfit - 1, 0)[..., None], -1)[..., 0], 0)
    complete = total + ANSWER_TOKENS <= budget
    ok = rng.random(shape) < (1 - p.eps) ** depth * (1 - p.drift) ** forced_tokens
    lucky = rng.random(shape) < c_rate
    if n_answers is not None:
        wrong = rng.integers(1, n_answers, size=shape)
    else:
        wrong = code_base
    codes = np.where(complete, np.where(ok, 0, wrong), np.where(lucky, 0, wrong))
    tokens = np.minimum(written + ANSWER_TOKENS, budget)
    return codes.astype(np.int64), tokens.astype(np.int64), complete


def simulate_batch(depth: int, budget: int, n_items: int, n_samples: int, *, eps: float = 0.02,
                   tokens_per_step: int = 12, spread: int = 3, rho: float = 0.0, drift: float = 0.0,
                   forced_tokens: int = 0, n_answers: int | None = 2, chance: float | None = None,
                   seed: int) -> SimBatch:
    """Vectorised Monte Carlo of ``n_items x n_samples`` chains of the simulated reasoner.

    Same distribution as :class:`SimulatedModel` text generation at the level of final
    answers and token counts, without producing text.

    Parameters
    ----------
    depth, budget : int
        Depth and per-sample generation cap (tokens).
    n_items, n_samples : int
        Rows (items sharing a correlated draw) and samples per item.
    eps, tokens_per_step, spread, rho, drift : see :class:`SimulatedParams`.
    forced_tokens : int
        Drift exposure of complete chains.
    n_answers, chance : see :func:`majority_accuracy`.
    seed : int
        Seed of the ``numpy.random.Generator``; required.

    Returns
    -------
    SimBatch

    Notes
    -----
    Memory and time O(n_items * n_samples * depth); about 10^6 to 10^7 samples/s at small depth.
    """
    if n_items < 1 or n_samples < 1:
        raise ValueError(f"n_items and n_samples must be >= 1, got {n_items}, {n_samples}")
    params = SimulatedParams(eps=eps, tokens_per_step=tokens_per_step, spread=spread, drift=drift, rho=rho)
    _check_common(depth, budget, tokens_per_step, spread)
    c_rate = _chance_of(n_answers, chance)
    rng = np.random.default_rng(seed)
    shape = (n_items, n_samples)
    base = 1 + np.arange(n_items * n_samples, dtype=np.int64).reshape(shape)
    codes, tokens, complete = _draw(rng, shape, depth, budget, params, n_answers, c_rate, forced_tokens, base)
    if rho > 0:
        sbase = -1 - np.arange(n_items, dtype=np.int64)[:, None]  # negative: never equal to an own code
        scodes, stokens, scomplete = _draw(rng, (n_items, 1), depth, budget, params, n_answers, c_rate,
                                           forced_tokens, np.abs(sbase) + n_items * n_samples)
        copy = rng.random(shape) < rho
        codes = np.where(copy, scodes, codes)
        tokens = np.where(copy, stokens, tokens)
        complete = np.where(copy, scomplete, complete)
    return SimBatch(codes=codes, tokens=tokens, complete=complete)


def majority_credit(codes: np.ndarray) -> np.ndarray:
    """Per-row majority-vote credit of answer code 0 (fractional on ties), vectorised.

    Parameters
    ----------
    codes : ndarray of int, shape (n_items, n_samples)

    Returns
    -------
    ndarray of float, shape (n_items,)
    """
    codes = np.asarray(codes)
    n_items, n = codes.shape
    s = np.sort(codes, axis=1).ravel()
    rows = np.repeat(np.arange(n_items), n)
    new = np.ones(s.size, dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (rows[1:] != rows[:-1])
    run_len = np.bincount(np.cumsum(new) - 1)
    run_code, run_row = s[new], rows[new]
    c = np.zeros(n_items, dtype=np.int64)
    is0 = run_code == 0
    c[run_row[is0]] = run_len[is0]
    wrong = ~is0
    beat = np.bincount(run_row[wrong & (run_len > c[run_row])], minlength=n_items) > 0
    ties = np.bincount(run_row[wrong & (run_len == c[run_row])], minlength=n_items)
    return np.where((c == 0) | beat, 0.0, 1.0 / (1 + ties))


def best_of_credit(correct: np.ndarray, *, tpr: float = 1.0, fpr: float = 0.0, seed: int) -> np.ndarray:
    """Per-row best-of-N credit with a noisy verifier (expected over the uniform pick).

    Parameters
    ----------
    correct : ndarray of bool, shape (n_items, n_samples)
    tpr, fpr : float
        Acceptance probabilities of correct / wrong samples.
    seed : int
        Seed of the verifier noise.
    """
    correct = np.asarray(correct, dtype=bool)
    rng = np.random.default_rng(seed)
    u = rng.random(correct.shape)
    accept = np.where(correct, u < tpr, u < fpr)
    a = (accept & correct).sum(axis=1)
    b = (accept & ~correct).sum(axis=1)
    c = correct.sum(axis=1)
    return np.where(a + b > 0, a / np.maximum(a + b, 1), c / correct.shape[1])


# --------------------------------------------------------------------------- revision with exact feedback


def revision_correct_probability(depth: int, kept: int, budget: int, *, eps: float = 0.02, tokens_per_step: int = 12,
                                 spread: int = 3, chance: float = 0.5) -> float:
    """Probability that a feedback-conditioned revision is right (the simulated author).

    The author copies the ``kept`` leading steps the critic names (right ones, after exact
    feedback) and writes steps ``kept + 1 .. d`` afresh, so with cap ``T`` the revision is
    right with probability ``F_d(T) * (1 - eps)**(d - kept) + (1 - F_d(T)) * chance`` (the
    copied steps cost tokens like any step).

    Examples
    --------
    >>> round(revision_correct_probability(4, 3, 1000, eps=0.1), 6)
    0.9
    """
    if not 0 <= kept <= depth:
        raise ValueError(f"kept must be in [0, depth], got kept={kept}, depth={depth}")
    F = chain_completion_probability(depth, budget, tokens_per_step=tokens_per_step, spread=spread)
    return F * (1.0 - eps) ** (depth - kept) + (1.0 - F) * chance


def _first_error_states(depth: int, eps: float, start: int = 0) -> np.ndarray:
    """Distribution of the kept prefix after writing steps ``start + 1 .. d`` afresh: index ``j < d``
    = the first error is step ``j + 1`` (``j`` steps right), index ``d`` = the chain is right."""
    out = np.zeros(depth + 1)
    m = np.arange(depth - start)
    out[start:depth] = (1.0 - eps) ** m * eps
    out[depth] = (1.0 - eps) ** (depth - start)
    return out


def feedback_thread_success(depth: int, turns: int, *, eps: float = 0.02, rho: float = 0.0,
                            shared: int | None = None) -> float:
    """Probability that a thread of ``turns`` candidates reaches a right one under exact feedback.

    Candidate 1 is a fresh chain; each later one is the author's revision of the one before,
    keeping the steps the feedback shows right and rewriting from the first wrong one (the
    simulated reasoner's critic/author; every chain fits its cap). With probability ``rho`` a
    candidate copies the item's shared chain instead, whose kept prefix is ``shared``.

    Parameters
    ----------
    depth : int
        Steps ``d`` of the chain.
    turns : int
        Candidates in the thread (1 fresh + ``turns - 1`` revisions), >= 1.
    eps, rho : float
        As in :class:`SimulatedParams`.
    shared : int, optional
        The shared chain's kept prefix (0..d, ``d`` = right); needed when ``rho > 0``.

    Returns
    -------
    float
        P(some candidate of the thread is right) (the thread stops there).
    """
    if turns < 1:
        raise ValueError(f"turns must be >= 1, got {turns}")
    if rho > 0 and shared is None:
        raise ValueError("shared (the shared chain's kept prefix) is needed when rho > 0")
    copy = np.zeros(depth + 1)
    if rho > 0:
        copy[int(shared)] = 1.0
    dist = rho * copy + (1.0 - rho) * _first_error_states(depth, eps)
    for _ in range(turns - 1):
        new = np.zeros(depth + 1)
        new[depth] = dist[depth]  # absorbing: the thread stopped at a right candidate
        for j in range(depth):
            if dist[j] > 0:
                new += dist[j] * (rho * copy + (1.0 - rho) * _first_error_states(depth, eps, j))
        dist = new
    return float(dist[depth])


def revision_feedback_accuracy(depth: int, threads: int, turns: int, *, eps: float = 0.02, rho: float = 0.0) -> float:
    """Expected accuracy of ``revision_feedback@K:R`` on the simulated reasoner with exact feedback.

    ``K`` independent threads of ``R`` candidates (:func:`feedback_thread_success`); the task's
    checker accepts exactly the right chains, so the item is solved when any thread is:
    ``1 - (1 - q)**K`` for ``rho = 0``, averaged over the shared chain's state otherwise.
    Every chain is taken to fit its cap (``F_d = 1``); with a smaller cap see
    :func:`revision_correct_probability`.

    Examples
    --------
    >>> round(revision_feedback_accuracy(3, 1, 1, eps=0.1), 6)  # one fresh chain: (1 - eps)**d
    0.729
    >>> round(revision_feedback_accuracy(3, 1, 1, eps=0.1, rho=1.0), 6)
    0.729
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if rho <= 0:
        return 1.0 - (1.0 - feedback_thread_success(depth, turns, eps=eps)) ** threads
    fresh = _first_error_states(depth, eps)
    return float(sum(fresh[j] * (1.0 - (1.0 - feedback_thread_success(depth, turns, eps=eps, rho=rho, shared=j))
                                 ** threads) for j in range(depth + 1)))
