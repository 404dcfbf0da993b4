"""Replay a prediction's strategy over its submitted calls: the calls it asks for must be the calls submitted.

A strategy is deterministic given its responses and the run seed, so the validator re-runs
the strategy's own control flow (:meth:`Strategy.run` on a :class:`CallContext`) against a
backend that serves each request from the submitted call with the same (sample, round,
role). The strategy then asks for exactly the calls its run made: a call it asks for that
the prediction lacks (a dropped leaf, a dropped first sample, a search stopped early) and a
submitted call it never asks for (a sample beyond N, a step after the stopping rule) are
each a problem, as are a call whose parent differs from the one the strategy gives it, and
a ``finish_reason`` of ``"length"`` on a call that generated fewer tokens than the cap the
strategy sent (a server stops at the cap, so such a call did not stop there). The final
answer is then re-derived from these same calls by the strategy's own reduction
(``_validate._rescore``), so the outcome, search depth and call counts are the replay's.

Dataset-level strategies (``adaptive``), whose calls depend on other items, are not replayed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from depthbench.baselines._budget import BudgetExceededError
from depthbench.baselines._context import CallContext
from depthbench.baselines._protocol import Capabilities, Choice, Request, Response
from depthbench.baselines.backends._continuation import Think
from depthbench.baselines.strategies.budget_forcing import USER_TURN
from depthbench.errors import UserError

__all__ = ["replay_problems"]


class _Missing(Exception):
    """The strategy asked for a call the prediction does not have."""

    def __init__(self, sample: int, round: int, role: str) -> None:
        super().__init__(f"s{sample}|r{round}|{role}")
        self.coords = (sample, round, role)


class _SubmittedCalls:
    """A backend serving a prediction's submitted calls by (sample, round, role), recording what was asked."""

    capabilities = Capabilities(chat=True, completions=True, assistant_prefix=True, native_n=True, seed=True,
                                continuation="full", new_text=True, steps=True)
    counts_locally = True  # the stated counts are served as they are (bounded by the validator's own checks)
    tokenizer = None

    def __init__(self, calls: list[Mapping[str, Any]], user_turn: bool) -> None:
        self.name = "submission"
        self.by_coords = {(c["sample"], c["round"], c["role"]): c for c in calls}
        self.caps: dict[tuple[int, int, str], int] = {}
        self.think = _think_of(calls)
        if user_turn:  # the run's backend could not continue an assistant turn
            self.capabilities = dataclasses.replace(type(self).capabilities, assistant_prefix=False,
                                                    continuation="none")

    async def generate(self, request: Request) -> Response:
        samples = request.samples if request.samples is not None else tuple(range(request.n))
        choices, prompt = [], None
        for s in samples:
            coords = (s, request.round, request.role)
            c = self.by_coords.get(coords)
            if c is None:
                raise _Missing(*coords)
            self.caps[coords] = request.max_tokens
            choices.append(Choice(text=c["text"], finish_reason=c["finish_reason"],
                                  completion_tokens=int(c["generated_tokens"]), token_source="submission",
                                  seed=c.get("seed")))
            if prompt is None:
                prompt = int(c["processed_tokens"]) - int(c["generated_tokens"])
        return Response(choices=tuple(choices), prompt_tokens=max(0, prompt or 0), prompt_token_source="submission",
                        latency_s=0.0, model=self.name)

    async def aclose(self) -> None:
        """Nothing to release."""


def _think_of(calls: list[Mapping[str, Any]]) -> Think | None:
    """The run's reasoning delimiters as its texts show them (a reasoning model's chains hold
    ``<think>``/``</think>``; a reply that closes a block it never opened started inside one)."""
    t = Think()
    texts = [str(c.get("forced") or "") + c["text"] for c in calls]
    if not any(t.open in x or t.close in x for x in texts) and not any(c.get("think_open") for c in calls):
        return None
    first = next((x for c, x in zip(calls, texts) if c["round"] == 0 and c["parent"] is None), "")
    starts_inside = any(c.get("think_open") for c in calls) or (t.close in first and t.open not in first)
    return Think(in_prompt=starts_inside, source="submission")


def replay_problems(p: Mapping[str, Any], item: Mapping[str, Any], strat: Any, meta: Mapping[str, Any]) -> list[str]:
    """Problems of one prediction's calls against its strategy's replayed control flow.

    Parameters
    ----------
    p : mapping
        The prediction (``item_id``, ``strategy``, ``budget``, ``calls``), already schema-checked.
    item : mapping
        Its release item.
    strat : Strategy
        The parsed strategy.
    meta : mapping
        The submission's metadata (``sampling``: seed, temperature, top_p).

    Returns
    -------
    list of str
        One phrase per problem (the caller prefixes the prediction); empty when the strategy,
        replayed over the submitted calls, asks for exactly them.
    """
    if getattr(strat, "dataset_level", False):
        return []
    calls = p["calls"]
    backend = _SubmittedCalls(calls, user_turn=any(c.get("forced") == USER_TURN for c in calls))
    sampling = meta.get("sampling") or {}
    seed = sampling.get("seed")
    ctx = CallContext(item, p["strategy"], int(p["budget"]), backend,
                      models={slot: backend for slot in strat.aux_models()},
                      run_seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 0,
                      temperature=float(sampling.get("temperature", 0.7)), top_p=float(sampling.get("top_p", 1.0)))
    probs: list[str] = []
    try:
        asyncio.run(strat.run(item, ctx))
    except _Missing as e:
        s, r, role = e.coords
        probs.append(f"the strategy's next call (sample {s}, round {r}, {role}) is missing: {strat.name} makes it "
                     "after the calls before it, so calls were dropped")
    except BudgetExceededError as e:
        why = str(e).splitlines()[0].split(";")[0]
        probs.append(f"a call states more generated tokens than the cap the strategy gives it ({why}; budget overrun)")
    except (UserError, KeyError, IndexError, TypeError, ValueError) as e:
        probs.append(f"the strategy cannot be replayed over these calls ({type(e).__name__}: {str(e)[:160]})")
    asked = {(r["sample"], r["round"], r["role"]): r for r in ctx.records}
    extra = [c for c in calls if (c["sample"], c["round"], c["role"]) not in asked]
    if extra and not probs:
        shown = "; ".join(f"sample {c['sample']} round {c['round']} {c['role']}" for c in extra[:3])
        probs.append(f"{len(extra)} call(s) the strategy never makes at these responses ({shown}"
                     f"{'; ...' if len(extra) > 3 else ''}): extra calls")
    for j, c in enumerate(calls):
        coords = (c["sample"], c["round"], c["role"])
        rec = asked.get(coords)
        if rec is None:
            continue
        if rec["parent"] != c["parent"]:
            probs.append(f"calls[{j}] ({c['role']}, sample {c['sample']}, round {c['round']}) names parent "
                         f"{c['parent']!r} but the strategy makes it from {rec['parent']!r}")
        cap = backend.caps.get(coords)
        if c["finish_reason"] == "length" and cap is not None and int(c["generated_tokens"]) < cap:
            probs.append(f"calls[{j}] ({c['role']}) states finish_reason 'length' with {c['generated_tokens']} "
                         f"generated tokens, under the cap of {cap} the strategy sent (a call stopped at its cap "
                         "generates the cap)")
    return probs
