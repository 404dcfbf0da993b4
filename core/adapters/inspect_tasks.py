"""inspect_ai tasks for depthbench: one ``@task`` per family, scored by depthbench's verifier.

Registered as the inspect package ``depthbench`` (entry point ``inspect_ai``), so::

    inspect eval depthbench/graph_connectivity --model openai/gpt-4o-mini
    inspect eval depthbench/grid_planning -T data=datasets/grid --model vllm/Qwen/Qwen2.5-1.5B-Instruct

Each sample is one item (``id`` = item id, ``target`` = the gold answer, metadata
``depth`` = certified depth and ``item`` = the item as flat JSON fields). The scorer
extracts the answer with :func:`depthbench.scorers.extract` and checks it with
:func:`depthbench.scorers.verify` (for grid planning any valid plan is correct), and
the metrics are accuracy and its standard error, overall and per depth
(``inspect_ai.scorer.grouped`` on ``depth``). Task parameters: ``data`` (any dataset
``depthbench eval --data`` reads; default the shipped release), ``split`` (``test``),
``max_tokens`` (1024). ``depthbench eval --model replay:LOG.eval`` imports the log for
depthbench's per-depth analysis and verdicts.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, grouped, scorer, stderr
from inspect_ai.solver import TaskState, generate

__all__ = ["graph_connectivity", "multihop_arithmetic", "grid_planning", "depthbench_verifier", "depthbench_task"]


def _samples(family: str, data: str | None, split: str) -> MemoryDataset:
    from depthbench.adapters._rows import item_rows, load_family_items

    items = load_family_items(family, data, split)
    samples = [Sample(input=row["prompt"], target=str(row["answer"]), id=row["id"],
                      metadata={"depth": int(row["depth"]), "item": row})
               for row in item_rows(items)]
    return MemoryDataset(samples, name=f"depthbench_{family}")


@scorer(metrics=[grouped(accuracy(), "depth"), stderr()])
def depthbench_verifier() -> Any:
    """Score a completion with depthbench's extraction and the family's verifier."""
    from depthbench.adapters._rows import row_item
    from depthbench.scorers._extract import extract
    from depthbench.scorers._verify import verify

    async def score(state: TaskState, target: Target) -> Score:
        item = row_item(state.metadata["item"])
        text = state.output.completion if state.output else ""
        ex = extract(text, item["answer_type"], (item.get("meta") or {}).get("answer_space") or {})
        ok = ex.answer is not None and verify(item, ex.answer)
        return Score(value=CORRECT if ok else INCORRECT, answer=None if ex.answer is None else str(ex.answer),
                     explanation=f"parse_status={ex.parse_status}",
                     metadata={"depth": state.metadata["depth"], "parse_status": ex.parse_status})

    return score


def depthbench_task(family: str, data: str | None = None, split: str = "test", max_tokens: int = 1024) -> Task:
    """The inspect task of one family (see the module docstring)."""
    return Task(dataset=_samples(family, data, split), solver=generate(), scorer=depthbench_verifier(),
                config=GenerateConfig(max_tokens=int(max_tokens)), name=f"depthbench_{family}")


@task
def graph_connectivity(data: str | None = None, split: str = "test", max_tokens: int = 1024) -> Task:
    """Graph connectivity: which of two targets is reachable (depth = shortest-path distance)."""
    return depthbench_task("graph_connectivity", data, split, max_tokens)


@task
def multihop_arithmetic(data: str | None = None, split: str = "test", max_tokens: int = 1024) -> Task:
    """Multi-hop modular arithmetic (depth = longest dependency chain into the queried variable)."""
    return depthbench_task("multihop_arithmetic", data, split, max_tokens)


@task
def grid_planning(data: str | None = None, split: str = "test", max_tokens: int = 1024) -> Task:
    """Grid planning with key/door stages (depth = stages, each certified necessary)."""
    return depthbench_task("grid_planning", data, split, max_tokens)
