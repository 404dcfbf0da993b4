"""``evolve@G``: evolutionary island search with the task's own feedback, after Mind Evolution.

Lee et al. 2025 ("Evolving Deeper LLM Thinking", arXiv 2501.09891) evolve a population of whole
candidate solutions: islands of conversations, parents drawn by a Boltzmann tournament on the
evaluator's score, refinement through critical conversation (a critic reads candidates with the
evaluator's textual feedback, an author writes the child), migration of the best candidates between
islands, and periodic island resets; the search stops at a candidate the evaluator accepts. Here the
evaluator is the task's gold-free checker (:func:`depthbench.scorers.env_feedback`, the family's
``env_check``), every critic and author call is charged to the item's budget, and the defaults are
scaled from the paper's 10 generations x 4 islands x 5 conversations x 4 turns (800 candidates) to
6 x 2 x 2 x 1 (24 candidates) so that a few thousand tokens per item pay for the whole plan. At a
fixed number of candidates, more generations (selection between them) beat more turns per
conversation on the simulated reasoner (BENCHMARKS.md, "Search with the task's feedback"), hence one
turn by default; resets every 3 generations and one migrant per island as in the paper's ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from depthbench._lazy import lazy
from depthbench.baselines._budget import MIN_CALL_TOKENS, Budget, BudgetExhausted
from depthbench.baselines._context import strategy_rng
from depthbench.baselines.strategies._base import CallSlot, Strategy, bad_name, strategy
from depthbench.baselines.strategies.revision_feedback import (
    CRITIC_ROLE,
    Candidate,
    choose_final,
    critic_then_author,
    evaluate,
    int_option,
    turn_caps,
)

asyncio = lazy("asyncio")
__all__ = ["Evolve", "boltzmann_pick"]

#: Boltzmann temperature of the parent tournament, in steps that check out
TEMPERATURE = 1.0
#: parents shown to the critic in generations >= 1
PARENTS = 2

_OPTIONS = {"islands": 1, "convs": 1, "turns": 1, "reset": 0, "migrate": 0}  # name -> smallest valid value
_DEFAULTS = {"islands": 2, "convs": 2, "turns": 1, "reset": 3, "migrate": 1}


def boltzmann_pick(fitness: list[float], k: int, rng, temperature: float = TEMPERATURE) -> list[int]:
    """``k`` distinct indices drawn without replacement with probability proportional to
    ``exp(fitness / temperature)`` (a Boltzmann tournament; Lee et al. 2025, arXiv 2501.09891).

    Examples
    --------
    >>> import numpy as np
    >>> boltzmann_pick([0.0, 5.0, 1.0], 1, np.random.default_rng(0), temperature=0.01)
    [1]
    """
    left = list(range(len(fitness)))
    out: list[int] = []
    for _ in range(min(k, len(left))):
        top = max(fitness[i] for i in left)
        w = [math.exp((fitness[i] - top) / temperature) for i in left]
        u = float(rng.random()) * sum(w)
        acc = 0.0
        for j, wj in enumerate(w):
            acc += wj
            if u < acc or j == len(w) - 1:
                out.append(left.pop(j))
                break
    return out


def _min_budget(s: "Evolve") -> int:
    """Every candidate turn's share must give its critic ``MIN_CALL_TOKENS``: ``64 * G * I * C * T``."""
    return 4 * MIN_CALL_TOKENS * s.candidates


@strategy("evolve@G[:islands=I][:convs=C][:turns=T][:reset=K][:migrate=M]", kinds=("search",),
          roles=("answer", CRITIC_ROLE, "revise"), example="evolve@6",
          params={"G": "generations (default 6; bare 'evolve' = evolve@6)",
                  "islands": "islands I (default 2)", "convs": "conversations per island and generation C (default 2)",
                  "turns": "candidates per conversation T (default 1)",
                  "reset": "reset the worse half of the islands every K generations (default 3; 0 = never)",
                  "migrate": "top candidates copied to the next island after each generation (default 1)"},
          summary="Mind Evolution: islands of critic/author conversations on the task's own feedback, "
                  "Boltzmann parents, migration, resets",
          min_budget=_min_budget)
@dataclass(frozen=True)
class Evolve(Strategy):
    """Evolutionary island search with the task's own feedback (Mind Evolution).

    Generation 0: each of the ``C`` conversations of each of the ``I`` islands writes a fresh
    candidate (round 0), then refines it for ``T - 1`` turns: a critic call reads the latest
    candidate with the checker's feedback, an author call writes the next. Generation ``g >= 1``:
    each conversation draws 2 parents from its island by a Boltzmann tournament (probability
    proportional to ``exp(fitness / 1)``, fitness = the candidate's steps that check out, gold-free),
    and its first turn's critic reads both with their feedback (crossover), then ``T - 1`` turns
    refine the child. After each generation the island's top ``migrate`` candidates are copied to
    the next island (a ring), and every ``reset`` generations the worse half of the islands (by best
    fitness) restart from the global top ``C`` candidates. The search stops after the first generation
    with a candidate the checker accepts (conversations stop at their own accepted candidate); the
    final answer is an accepted candidate (seeded pick), else one with the highest fitness.

    Budget: with ``N = G * I * C * T`` candidate turns and ``S = B // N``, a critic call is capped at
    ``S // 4`` and a candidate (fresh answer or author revision) at ``S - S // 4``; a conversation
    never spends more than ``T * S``, so the whole plan fits in B. Every call counts in G and P.
    Conversation ``(g, i, c)`` is sample ``(g * I + i) * C + c``; in generation 0 its rounds are
    answer 0, then critic ``2t - 1`` / author ``2t``; in later ones critic ``2t`` / author ``2t + 1``.

    Parameters
    ----------
    generations : int
        G >= 1 (default 6).
    islands, convs, turns : int
        I, C, T >= 1 (defaults 2, 2, 1).
    reset : int
        Generations between island resets, >= 0 (0: never; default 3).
    migrate : int
        Candidates copied to the next island after each generation, >= 0 (default 1).

    References
    ----------
    Lee et al. 2025, "Evolving Deeper LLM Thinking", arXiv 2501.09891 (Mind Evolution; defaults there:
    10 generations, 4 islands, 5 conversations, 4 turns, resets every 3 generations).
    """

    generations: int = 6
    islands: int = 2
    convs: int = 2
    turns: int = 1
    reset: int = 3
    migrate: int = 1
    fewer_hint: ClassVar[str] = " or fewer generations, islands, conversations or turns"
    needs: ClassVar[tuple[str, ...]] = ("new_text",)

    @classmethod
    def from_parts(cls, name, arg, opts):
        gens = 6 if arg is None else int_option(name, arg, "G (generations)", arg, 1)
        kw = dict(_DEFAULTS)
        seen = set()
        for opt in opts:
            key, eq, value = opt.partition("=")
            if not eq or key not in _OPTIONS:
                raise bad_name(name, f"takes options {', '.join(k + '=N' for k in _OPTIONS)}; got {opt!r}")
            if key in seen:
                raise bad_name(name, f"gives {key} twice")
            seen.add(key)
            kw[key] = int_option(name, opt, key, value, _OPTIONS[key])
        pop = kw["convs"] * kw["turns"]  # an island's candidates after one generation, when it first migrates
        if "migrate" in seen and kw["migrate"] >= pop:
            raise bad_name(name, f"has migrate={kw['migrate']}, not below an island's population of {pop} candidates "
                                 f"(convs x turns) after a generation; the largest valid value is migrate={pop - 1}")
        return cls(generations=gens, **kw)

    @property
    def name(self) -> str:
        opts = "".join(f":{k}={getattr(self, k)}" for k in _OPTIONS if getattr(self, k) != _DEFAULTS[k])
        return f"evolve@{self.generations}{opts}"

    @property
    def kind(self) -> str:
        return "search"

    @property
    def needs_gold(self) -> bool:
        """The task's checker reads only the instance: deployable on a hidden split."""
        return False

    @property
    def candidates(self) -> int:
        """Candidate turns planned: ``G * I * C * T``."""
        return self.generations * self.islands * self.convs * self.turns

    def allowance(self, budget: int) -> str:
        a, c = turn_caps(budget, self.candidates)
        return f"gives each of {self.candidates} candidate turns {a} tokens for the candidate and {c} for its critic"

    def call_shape(self, budget):
        """Generation 0 samples: answer at round 0, critic at odd and author at even rounds; later
        samples: critic at even and author at odd rounds (round 0's critic starts the chain: its
        parents are other conversations' candidates)."""
        a, c = turn_caps(budget, self.candidates)
        per_gen = self.islands * self.convs
        t = self.turns

        def slot(role: str, s: int, r: int) -> CallSlot | None:
            if s >= self.generations * per_gen or role not in ("answer", "critic", "revise"):
                return None
            if s < per_gen:  # generation 0: answer 0, critic 2t - 1, author 2t
                want = "answer" if r == 0 else "critic" if r % 2 == 1 else "revise"
                last = 2 * t - 2
            else:  # later generations: critic 2t (round 0 without a parent), author 2t + 1
                want = "critic" if r % 2 == 0 else "revise"
                last = 2 * t - 1
            if role != want or r > last:
                return None
            return CallSlot("none" if r == 0 else "prev", c if role == "critic" else a)
        return slot

    async def orchestrate(self, item, ctx):
        caps = turn_caps(ctx.budget.total, self.candidates)
        if min(caps) < 1:
            return
        share = (ctx.budget.total // self.candidates) * self.turns
        pops: list[list[Candidate]] = [[] for _ in range(self.islands)]
        per_gen = self.islands * self.convs

        async def conversation(g: int, i: int, c: int) -> list[Candidate]:
            s = g * per_gen + i * self.convs + c
            b = Budget(share, parent=ctx.budget)
            out: list[Candidate] = []
            try:
                if g == 0:
                    [rec] = await ctx.call({"messages": ctx.user_messages(), "max_tokens": caps[0]}, role="answer",
                                           sample=s, budget=b)
                    out.append(evaluate(item, rec))
                    history = ctx.user_messages() + [ctx.assistant_turn(rec["text"])]
                    first = 1
                else:
                    pop = pops[i]
                    rng = strategy_rng(ctx.run_seed, ctx.key(s, 0, "critic"), "evolve:parents")
                    parents = [pop[j] for j in boltzmann_pick([p.fitness for p in pop], PARENTS, rng)]
                    child, history = await critic_then_author(ctx, item, parents, history=None, sample=s, round=0,
                                                              parent=None, caps=caps, budget=b)
                    out.append(child)
                    first = 2
                for t in range(1, self.turns):
                    if out[-1].solved:
                        break
                    child, history = await critic_then_author(ctx, item, [out[-1]], history=history, sample=s,
                                                              round=first + 2 * (t - 1), parent=out[-1].key,
                                                              caps=caps, budget=b)
                    out.append(child)
            except BudgetExhausted:
                pass
            return out

        for g in range(self.generations):
            if g > 0 and self.reset and g % self.reset == 0 and self.islands > 1:
                self._reset(pops, ctx, g)
            if g > 0 and not any(pops):
                return
            if g > 0:  # an island left empty (nothing written there yet) borrows the global population
                everyone = [x for p in pops for x in p]
                pops = [p if p else list(everyone) for p in pops]
            results = await asyncio.gather(*(conversation(g, i, c) for i in range(self.islands)
                                             for c in range(self.convs)))
            for j, found in enumerate(results):
                pops[j // self.convs].extend(found)
            if any(x.solved for found in results for x in found):
                return
            if self.migrate and self.islands > 1:
                tops = [self._top(p, self.migrate, ctx, f"evolve:migrate:{g}:{i}") for i, p in enumerate(pops)]
                for i, top in enumerate(tops):
                    pops[(i + 1) % self.islands].extend(top)

    def _top(self, pop: list[Candidate], k: int, ctx, purpose: str) -> list[Candidate]:
        """The ``k`` fittest candidates of ``pop``, ties in a seeded order."""
        if not pop:
            return []
        rng = strategy_rng(ctx.run_seed, "\n".join(sorted(c.key for c in pop)), purpose)
        u = rng.random(len(pop))
        order = sorted(range(len(pop)), key=lambda j: (-pop[j].fitness, u[j]))
        return [pop[j] for j in order[:k]]

    def _reset(self, pops: list[list[Candidate]], ctx, g: int) -> None:
        """Restart the worse half of the islands (lowest best fitness; ties in a seeded order) from
        the global top ``convs`` candidates."""
        everyone = [x for p in pops for x in p]
        best = [max((x.fitness for x in p), default=-1) for p in pops]
        rng = strategy_rng(ctx.run_seed, "\n".join(sorted(x.key for x in everyone)), f"evolve:reset:{g}")
        u = rng.random(len(pops))
        worst = sorted(range(len(pops)), key=lambda i: (best[i], u[i]))[:len(pops) // 2]
        seed = self._top(everyone, self.convs, ctx, f"evolve:reset-top:{g}")
        for i in worst:
            pops[i] = list(seed)

    def final_answer(self, calls, item, *, run_seed=0):
        return choose_final(calls, item, run_seed, "evolve")
