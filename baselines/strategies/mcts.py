"""``mcts@N[:c=C][:prm=P]``: Monte Carlo tree search over reasoning steps, PRM value at the leaves."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from depthbench.baselines._budget import BudgetExhausted
from depthbench.baselines._stepwise import chain_text, next_steps
from depthbench.baselines.strategies._base import bad_name, pos_int, strategy
from depthbench.baselines.strategies._search import (
    PRM,
    PRM_CALL_TOKENS,
    SEARCH_ROLES,
    SearchStrategy,
    finished,
    search_min_budget,
    split_prm,
)

__all__ = ["MCTS", "DEFAULT_C", "WIDENING"]

#: the default UCT exploration constant (about sqrt(2), Kocsis and Szepesvari 2006, for values in [0, 1])
DEFAULT_C = 1.4
#: progressive widening exponent: a node may have at most max(1, floor(visits ** WIDENING)) children
WIDENING = 0.25
_C_RE = re.compile(r"c=([0-9]+(?:\.[0-9]+)?)")


@dataclass
class _Node:
    rec: dict[str, Any] | None          # the step call that made it (None: the root)
    chain: str
    parent: "_Node | None" = None
    children: list["_Node"] = field(default_factory=list)
    visits: int = 0
    value: float = 0.0                  # sum of the PRM values backed up through it
    terminal: bool = False
    round: int = -1                     # the step index (root: -1)


@strategy("mcts@N[:c=C][:prm=P]", kinds=("search",), roles=SEARCH_ROLES, example="mcts@8:c=1.4:prm=env",
          params={"N": "finished chains to reach (each step call at most B/N tokens)",
                  "c": f"UCT exploration constant (default {DEFAULT_C}, about sqrt(2))",
                  "prm": "process reward model, as for beam (default env)"},
          summary="MCTS over steps: UCT selection with progressive widening, one step per expansion, PRM value "
                  "at the new leaf backed up; weighted best-of-N over the finished chains",
          min_budget=lambda s: search_min_budget(s.n, s.prm))
@dataclass(frozen=True)
class MCTS(SearchStrategy):
    """Monte Carlo tree search over reasoning steps, valued by a process reward model.

    Each iteration descends from the root by UCT -- at a node with ``n`` visits, the child
    maximising ``Q + c * sqrt(ln n / n_child)`` (``Q`` the mean backed-up value) -- until a node
    that may take a new child (progressive widening: fewer than ``max(1, floor(n ** 0.25))`` children,
    Coulom 2007; or every child finished, or every child's mean value below 1/2 -- all of them
    look wrong), then samples one next step there
    (:func:`~depthbench.baselines._stepwise.next_steps`), values the new leaf with the PRM
    (its score of the partial chain, in [0, 1]) and adds the value to every node on the path.
    A leaf that states an answer is finished and never expanded. The search stops at ``N``
    finished chains, when no node can be expanded, or when the budget is used; the answer is
    weighted best-of-N over the finished chains by their PRM scores, as for beam search.

    Calls: a step at tree depth ``r`` is round ``r`` and takes the next free sample index
    of that round; its parent is the step it continues (any earlier round's call). Each
    step call may generate at most ``B / N`` tokens (a best-of-N chain's share).

    References
    ----------
    Kocsis and Szepesvari 2006, "Bandit based Monte-Carlo planning" (UCT); Coulom 2007,
    "Computing Elo ratings of move patterns in the game of Go" (progressive widening);
    Gan, Liao, Liu 2025, arXiv 2501.15602 (best-of-N against MCTS at matched compute).
    """

    n: int = 8
    c: float = DEFAULT_C
    fewer_hint: ClassVar[str] = " or a smaller N"
    tag: ClassVar[str] = "mcts"

    @classmethod
    def from_parts(cls, name, arg, opts):
        n = pos_int(arg, name, "N (finished chains)")
        rest, prm = split_prm(name, opts)
        c = DEFAULT_C
        for o in rest:
            if not o.startswith("c="):
                raise bad_name(name, f"has an unknown option {o!r}; use mcts@N[:c=C][:prm=P], e.g. mcts@8:c=1.4:prm=env")
            m = _C_RE.fullmatch(o)
            c = float(m.group(1)) if m is not None else -1.0
            if not 0.0 < c <= 100.0:
                raise bad_name(name, f"has {o!r}, but c (the UCT exploration constant) must be a number "
                                     "in (0, 100], e.g. c=1.4")
        return cls(n=n, c=c, prm=prm or PRM())

    @property
    def name(self) -> str:
        return f"mcts@{self.n}:c={self.c:g}:prm={self.prm.name}"

    # ------------------------------------------------------------------------------
    def _uct(self, node: _Node, child: _Node) -> float:
        if child.visits == 0:
            return math.inf
        return child.value / child.visits + self.c * math.sqrt(math.log(max(1, node.visits)) / child.visits)

    def _select(self, root: _Node) -> _Node | None:
        """The node to expand: descend by UCT until a node that may take a new child."""
        node = root
        while True:
            open_children = [ch for ch in node.children if not ch.terminal]
            if (len(node.children) < max(1, math.floor(node.visits ** WIDENING)) or not open_children
                    or all(ch.value < 0.5 * ch.visits for ch in node.children)):
                return node
            node = max(open_children, key=lambda ch: (self._uct(node, ch), -ch.round, ch.rec["sample"]))

    async def orchestrate(self, item, ctx):
        budget = ctx.budget
        cap = budget.total // self.n
        hold = PRM_CALL_TOKENS if self.prm.judged else 0
        root = _Node(rec=None, chain="")
        next_sample: dict[int, int] = {}
        by_key: dict[str, Any] = {}
        memo: dict[str, str] = {}
        done = 0
        while done < self.n:
            node = self._select(root)
            if node is None:
                return
            rnd = node.round + 1
            mt = min(cap, budget.remaining - hold - (1 if node.rec is not None else 0))
            if mt < 1:
                return
            sample = next_sample.get(rnd, 0)
            try:
                [rec] = await next_steps(ctx, node.rec, node.chain, sample=sample, round=rnd, n=1, max_tokens=mt)
            except BudgetExhausted:
                return
            next_sample[rnd] = sample + 1
            by_key[rec["key"]] = rec
            chain = chain_text(rec["key"], by_key, memo)
            value = await self.value(item, ctx, rec, chain)
            leaf = _Node(rec=rec, chain=chain, parent=node, round=rnd, terminal=finished(rec))
            node.children.append(leaf)
            done += leaf.terminal
            up: _Node | None = leaf
            while up is not None:
                up.visits += 1
                up.value += value
                up = up.parent
