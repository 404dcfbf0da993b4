"""Per-item token budgets: generated tokens G, processed tokens P, and the hard cap.

The budget rule (DESIGN.md, "Budget accounting"): for one (item, strategy, budget) the
generated tokens G summed over *every* call — answers, continuations, revisions, verifier
and judge calls, pilot samples — never exceed the budget ``B``. Processed tokens P
(prompt + generated, per choice) are recorded beside it.

A :class:`Budget` enforces the rule *before* a call, not after: a call first
:meth:`Budget.reserve`\\ s ``n * max_tokens`` (its worst case), with ``max_tokens`` cut to
what is left; when the response arrives the reservation is settled with the real counts
(:meth:`Reservation.settle`). Concurrent calls of a parallel strategy therefore can never
jointly overrun the cap. A backend that returns more tokens than the ``max_tokens`` it was
sent makes the budget unenforceable; that raises :class:`BudgetExceededError`, it is never
absorbed silently.

Parallel strategies split a budget in two ways:

static split
    :meth:`Budget.split` gives ``N`` child budgets of ``B // N`` each (Wang et al. 2023's
    self-consistency at a matched budget: each chain may use at most its share);
pooled
    the chains draw from the one parent budget, so tokens a short chain did not use fund
    further samples.

Children charge their parent, so a parent's total is a cap over all its children too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from depthbench.errors import UserError

__all__ = [
    "Budget",
    "Reservation",
    "BudgetExhausted",
    "BudgetExceededError",
    "forced_token_estimate",
    "MIN_CALL_TOKENS",
]

#: The smallest ``max_tokens`` a strategy's call may sensibly get. ``depthbench eval``
#: refuses a budget that gives any planned call (every chain, round or judge) fewer
#: generated tokens than this (``Strategy.min_budget``), instead of running calls that
#: cannot hold an answer.
MIN_CALL_TOKENS = 16


class BudgetExhausted(Exception):
    """Raised when a call is asked for but fewer than the minimum tokens are left.

    Strategies catch it to stop extending (it is the normal end of a budget), so it is
    not a :class:`~depthbench.errors.UserError`.
    """


class BudgetExceededError(UserError):
    """A call generated more tokens than the ``max_tokens`` it was sent.

    The budget can then not be enforced (usually a server that ignores ``max_tokens``,
    or one that miscounts tokens). Always fatal for the run.
    """


_FORCED_TOKEN_RE = re.compile(r"\w+|[^\w\s]|\n")


def forced_token_estimate(text: str) -> int:
    """Tokens charged for text the harness inserts into a chain (``"Wait"``, ``"Answer:"``).

    Budget forcing appends strings the model did not generate; the design counts them as
    generated tokens. Without the model's tokenizer we charge one token per word,
    punctuation mark and newline, which matches BPE tokenizers on these short English
    strings (``"\\nWait,"`` → 3, ``"\\nAnswer:"`` → 3) and errs towards over-charging.

    Examples
    --------
    >>> forced_token_estimate("\\nWait,")
    3
    >>> forced_token_estimate("")
    0
    """
    return len(_FORCED_TOKEN_RE.findall(text))


@dataclass
class Reservation:
    """Worst-case tokens held for one call until its response is settled."""

    budget: "Budget"
    n: int
    max_tokens: int
    forced_tokens: int = 0
    settled: bool = False

    @property
    def amount(self) -> int:
        """Tokens held: ``n * max_tokens`` plus the forced tokens."""
        return self.n * self.max_tokens + self.forced_tokens

    def settle(self, completion_tokens: list[int], prompt_tokens: list[int]) -> None:
        """Release the hold and charge the real counts (one entry per choice).

        Raises
        ------
        BudgetExceededError
            If a choice generated more than ``max_tokens``, or the choice count differs
            from ``n``.
        """
        if self.settled:
            raise RuntimeError("reservation settled twice")
        if len(completion_tokens) != self.n or len(prompt_tokens) != self.n:
            raise BudgetExceededError(
                f"model: asked for n={self.n} choices, got {len(completion_tokens)}; "
                "use a backend that returns one choice per requested sample"
            )
        over = [c for c in completion_tokens if c > self.max_tokens or c < 0]
        self.settled = True
        self.budget._release(self.amount)
        g = sum(completion_tokens) + self.forced_tokens
        p = sum(prompt_tokens) + g
        self.budget._charge(g, p)
        if over:
            raise BudgetExceededError(
                f"model: a choice reported {over[0]} generated tokens for max_tokens={self.max_tokens}; "
                "the server ignores max_tokens or miscounts, so the budget cannot be enforced "
                "(check the server, or run `depthbench doctor`)"
            )

    def cancel(self) -> None:
        """Release the hold without charging (the call was never made)."""
        if not self.settled:
            self.settled = True
            self.budget._release(self.amount)


@dataclass
class Budget:
    """A hard cap on generated tokens for one item (or one chain of it).

    Parameters
    ----------
    total : int
        The cap B, >= 0.
    parent : Budget, optional
        Charges and reservations are passed up to the parent as well.

    Attributes
    ----------
    generated : int
        G so far (settled calls only).
    processed : int
        P so far (prompt + generated, per choice).

    Examples
    --------
    >>> b = Budget(100)
    >>> r = b.reserve(max_tokens=80)
    >>> r.max_tokens, b.remaining
    (80, 20)
    >>> r.settle([30], [12]); (b.generated, b.processed, b.remaining)
    (30, 42, 70)
    >>> [c.total for c in b.split(3)]
    [23, 23, 23]
    """

    total: int
    parent: "Budget | None" = None
    generated: int = 0
    processed: int = 0
    reserved: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.total, int) or self.total < 0:
            raise UserError(f"--budget: must be a non-negative integer number of tokens, got {self.total!r}")

    # -- state ---------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        """Tokens still available: the cap minus charges and open reservations,
        and never more than what the parent has left."""
        own = self.total - self.generated - self.reserved
        if self.parent is not None:
            own = min(own, self.parent.remaining)
        return max(0, own)

    # -- calls ---------------------------------------------------------------------
    def reserve(self, max_tokens: int | None = None, n: int = 1, forced_tokens: int = 0,
                min_tokens: int = 1) -> Reservation:
        """Hold the worst case of a call with ``n`` choices, cutting ``max_tokens`` to fit.

        Parameters
        ----------
        max_tokens : int, optional
            What the strategy asks for per choice; ``None`` means "all that is left".
        n : int
            Number of choices; each may generate up to the returned ``max_tokens``.
        forced_tokens : int
            Tokens of harness-inserted text charged with this call.
        min_tokens : int
            Smallest useful ``max_tokens``; below it :class:`BudgetExhausted` is raised.

        Returns
        -------
        Reservation
            With the capped ``max_tokens``.

        Raises
        ------
        BudgetExhausted
            If fewer than ``min_tokens`` per choice (after forced tokens) are left.
        """
        if n < 1:
            raise ValueError("n must be >= 1")
        avail = self.remaining - forced_tokens
        cap = avail // n if avail > 0 else 0
        if max_tokens is not None:
            cap = min(cap, max_tokens)
        if cap < max(1, min_tokens):
            raise BudgetExhausted(f"{self.remaining} tokens left, need {n} x {max(1, min_tokens)} + {forced_tokens}")
        res = Reservation(self, n, cap, forced_tokens)
        self._hold(res.amount)
        return res

    def split(self, n: int) -> list["Budget"]:
        """Static split: ``n`` child budgets of ``remaining // n`` tokens each."""
        if n < 1:
            raise ValueError("n must be >= 1")
        share = self.remaining // n
        return [Budget(share, parent=self) for _ in range(n)]

    # -- internals (propagate to the parent) ----------------------------------------
    def _hold(self, amount: int) -> None:
        self.reserved += amount
        if self.parent is not None:
            self.parent._hold(amount)

    def _release(self, amount: int) -> None:
        self.reserved -= amount
        if self.parent is not None:
            self.parent._release(amount)

    def _charge(self, g: int, p: int) -> None:
        self.generated += g
        self.processed += p
        if self.parent is not None:
            self.parent._charge(g, p)
        if self.generated > self.total:
            raise BudgetExceededError(
                f"budget: generated {self.generated} tokens over a cap of {self.total}; "
                "this is a bug in a strategy or backend, please report it"
            )

