"""Step-wise generation: the next reasoning step(s) of a partial chain, on every backend.

Tree search (``beam``, ``mcts``) grows chains one step at a time. A step is one
``Step k: ...`` line, the form the families' trace rules read back
(:func:`depthbench.scorers.stated_steps`); the search strategies add :data:`STEP_FORMAT` to
the item's prompt so the model writes its reasoning that way, and end every step call at
the delimiter :data:`STEP_DELIMITER` (``"\\nStep "``, the start of the next step line).

A step call is a continuation under the continuation contract
(:mod:`depthbench.baselines.backends._continuation`): the request is the step prompt as a
one-turn chat plus ``assistant_prefix`` = the partial chain, so every backend sends the same
token sequence -- ``chat_template(messages, add_generation_prompt=True) + chain`` -- whether
it prefills the assistant turn on the server (``assistant_prefill``,
``continue_final_message``), renders the template itself (``template``: llama.cpp in process,
``/completions``) or reads the transcript (``simulated``). The first step of a chain has no
prefix (a fresh answer of the step prompt). A stop string is not part of the returned text,
so a later step re-opens its line: the harness inserts :data:`STEP_JOIN` (``"\\n"``) before
every step that continues a parent (``forced``, charged as one generated token by
:func:`~depthbench.baselines._budget.forced_token_estimate`, and re-derived by the submission
validator from the role, never from the record).

A chain is the parent links of its step calls: its text is the concatenation of
``forced + text`` from the root step down (:func:`chain_text`). A step call whose text holds
an answer (``Answer: X``) ends its chain; so does one cut at its token cap or one that wrote
nothing (:func:`chain_finished`).

The simulated reasoner realises the same contract (``backends/simulated.py``): it reads the
steps already in the prefix, checks each against the gold trace to know whether it is still
on track, and writes the next step with a fresh per-step error draw, so stepping a chain one
call at a time follows the same per-step law as a whole chain
(:func:`depthbench.baselines._simulated_theory.first_error_distribution`, tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from depthbench.baselines._budget import Budget
from depthbench.baselines._context import CallContext
from depthbench.baselines._roles import ends_chain

__all__ = ["STEP_FORMAT", "STEP_DELIMITER", "STEP_JOIN", "step_messages", "step_request", "next_steps",
           "chain_text", "chain_finished", "STEP_ROLE"]

#: the role of a step call (registered by the search strategies)
STEP_ROLE = "step"
#: the instruction appended to the item's prompt: one ``Step k: ...`` line per step, then the answer
STEP_FORMAT = ("Write your reasoning one step per line, as 'Step 1: ...', 'Step 2: ...' and so on, "
               "and end with the line 'Answer: <answer>'.")
#: where a step call stops: the start of the next step line (not part of the returned text)
STEP_DELIMITER = "\nStep "
#: the text the harness inserts before a step that continues a parent (the newline the stop consumed)
STEP_JOIN = "\n"


def step_messages(item: Mapping[str, Any]) -> list[dict[str, str]]:
    """The step prompt: the item's prompt and :data:`STEP_FORMAT`, as a one-turn chat."""
    return [{"role": "user", "content": f"{item['prompt']}\n\n{STEP_FORMAT}"}]


def step_request(item: Mapping[str, Any], chain: str, max_tokens: int, n: int = 1) -> dict[str, Any]:
    """The request for the next step of ``chain`` (``""``: the first step).

    Parameters
    ----------
    item : mapping
        The dataset item.
    chain : str
        The partial chain so far, the joining newline included (what the assistant turn holds).
    max_tokens : int
        Cap of each choice (tokens).
    n : int
        Children to sample from this chain (one seed each).

    Returns
    -------
    dict
        ``ctx.call`` request: ``messages``, ``assistant_prefix`` (absent for the first step),
        ``stop`` = ``[STEP_DELIMITER]``, ``max_tokens``, ``n``.
    """
    req: dict[str, Any] = {"messages": step_messages(item), "max_tokens": int(max_tokens),
                           "stop": [STEP_DELIMITER], "n": int(n)}
    if chain:
        req["assistant_prefix"] = chain
    return req


async def next_steps(ctx: CallContext, parent: Mapping[str, Any] | None, chain: str, *, sample: int, round: int,
                     n: int, max_tokens: int, budget: Budget | None = None,
                     model: str | None = None) -> list[dict[str, Any]]:
    """Sample ``n`` next steps of one partial chain (samples ``sample .. sample+n-1``).

    Parameters
    ----------
    ctx : CallContext
        The item's call context (budget, log, resume).
    parent : mapping or None
        The step call whose chain is continued (None: a chain's first step).
    chain : str
        That chain's text (:func:`chain_text` of ``parent``; ``""`` at the root).
    sample, round : int
        Coordinates of the first child (the search's slot and step index).
    n : int
        Number of children.
    max_tokens : int
        Cap of each child (tokens); cut to what the budget has left.
    budget, model
        As :meth:`CallContext.call`.

    Returns
    -------
    list of dict
        One call record per child (role :data:`STEP_ROLE`, ``parent`` set, ``forced`` the
        joining newline when there is a parent).

    Raises
    ------
    BudgetExhausted
        Too little is left for one token per child.
    """
    forced = STEP_JOIN if parent is not None else ""
    return await ctx.call(step_request(ctx.item, chain + forced, max_tokens, n), role=STEP_ROLE, sample=sample,
                          round=round, parent=parent["key"] if parent is not None else None, forced=forced,
                          budget=budget, model=model)


def chain_text(key: str, by_key: Mapping[str, Mapping[str, Any]], memo: dict[str, str] | None = None) -> str:
    """The text of the chain ending at step call ``key``: each step's text from the root, joined by
    :data:`STEP_JOIN` (the harness inserts it once per request, so children sampled together
    share it; it is derived from the parent link, never read from a record).

    Parameters
    ----------
    key : str
        A step call's key.
    by_key : mapping
        Call records by key (the item's calls).
    memo : dict, optional
        Cache of chain texts by key, shared across calls.

    Examples
    --------
    >>> calls = {"a": {"key": "a", "parent": None, "text": "Step 1: x=1"},
    ...          "b": {"key": "b", "parent": "a", "text": "Step 2: y=2"}}
    >>> chain_text("b", calls)
    'Step 1: x=1\\nStep 2: y=2'
    """
    memo = {} if memo is None else memo
    path: list[str] = []
    k: str | None = key
    seen: set[str] = set()
    while k is not None and k not in memo and k in by_key and k not in seen:
        seen.add(k)
        path.append(k)
        k = by_key[k].get("parent")
    text = memo.get(k, "") if k is not None else ""
    for ck in reversed(path):
        c = by_key[ck]
        text = text + (STEP_JOIN if c.get("parent") is not None else "") + str(c.get("text") or "")
        memo[ck] = text
    return memo.get(key, text)


def chain_finished(rec: Mapping[str, Any]) -> bool:
    """A step call ends its chain: it states an answer (even a malformed one), was cut at its cap, or
    wrote nothing (:func:`depthbench.baselines._roles.ends_chain`, the rule the diversity statistics share)."""
    return ends_chain(rec)
