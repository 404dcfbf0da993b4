"""Adapters to the evaluation harnesses researchers already use.

* ``depthbench/adapters/lm_eval/`` -- an lm-evaluation-harness task folder: one YAML per
  family (``depthbench_graph_connectivity``, ...; tag ``depthbench``) and ``utils.py``,
  whose ``process_results`` scores with depthbench's own extraction and verifier. Its
  path: :func:`lm_eval_tasks_dir` (``lm_eval --include_path "$(depthbench export lm-eval)"``).
* :mod:`depthbench.adapters.inspect_tasks` -- inspect_ai tasks, one ``@task`` per family,
  a scorer wrapping depthbench's verifier and accuracy grouped by depth; registered as
  the inspect package ``depthbench`` (``inspect eval depthbench/graph_connectivity``).
* :mod:`depthbench.adapters._logs` -- importers of their logs (lm-eval
  ``samples_*.jsonl``, inspect ``.eval``) into replay records, so that
  ``depthbench eval --model replay:LOG`` gives their generations depthbench's per-depth
  analysis and verdicts.

Both tasks read items as flat rows (:func:`depthbench.adapters._rows.item_rows`), the
shipped release by default, any dataset folder, JSONL file or Hugging Face export given.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["lm_eval_tasks_dir", "FAMILIES"]

FAMILIES = ("graph_connectivity", "multihop_arithmetic", "grid_planning")


def lm_eval_tasks_dir() -> Path:
    """The folder of the lm-evaluation-harness task YAMLs (for ``lm_eval --include_path``)."""
    return Path(__file__).resolve().parent / "lm_eval"
