"""lm-evaluation-harness hooks for the depthbench tasks (``!function utils.*`` in the YAMLs).

Documents are depthbench items as flat rows (nested fields as JSON text, see
:mod:`depthbench.adapters._rows`), so ``--log_samples`` writes each item's ``id`` and
certified ``depth`` with its response: ``depthbench eval --model replay:samples_*.jsonl``
then gives the per-depth analysis. ``process_results`` scores with depthbench's own
answer extraction and verifier (not a regex or exact match): ``acc`` is 1 when the last
``Answer:`` line verifies (any valid plan counts for grid planning), and
``format_ok`` when an answer could be parsed at all.

Data: the shipped release by default; ``--metadata '{"data": "/path/to/dataset"}'``
points a task at any dataset folder, JSONL file, Parquet file or Hugging Face export of
that family (``"split"`` chooses the split, default ``test``).
"""

from __future__ import annotations

from typing import Any


def _dataset(family: str, **metadata: Any) -> dict[str, Any]:
    import datasets

    from depthbench.adapters._rows import item_rows, load_family_items

    items = load_family_items(family, metadata.get("data"), metadata.get("split", "test"))
    return {"test": datasets.Dataset.from_list(item_rows(items))}


def graph_connectivity(**metadata: Any) -> dict[str, Any]:
    """The graph_connectivity items as a ``{"test": Dataset}``."""
    return _dataset("graph_connectivity", **metadata)


def multihop_arithmetic(**metadata: Any) -> dict[str, Any]:
    """The multihop_arithmetic items as a ``{"test": Dataset}``."""
    return _dataset("multihop_arithmetic", **metadata)


def grid_planning(**metadata: Any) -> dict[str, Any]:
    """The grid_planning items as a ``{"test": Dataset}``."""
    return _dataset("grid_planning", **metadata)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Score one response with depthbench's extraction and verifier.

    Returns ``{"acc": 1.0 | 0.0, "format_ok": 1.0 | 0.0}``.
    """
    from depthbench.adapters._rows import row_item
    from depthbench.scorers._extract import extract
    from depthbench.scorers._verify import verify

    item = row_item(doc)
    text = results[0] if results else ""
    ex = extract(text, item["answer_type"], (item.get("meta") or {}).get("answer_space") or {})
    ok = ex.answer is not None and verify(item, ex.answer)
    return {"acc": 1.0 if ok else 0.0, "format_ok": 1.0 if ex.answer is not None else 0.0}
