"""Shared builders for the leaderboard tests (loaded by path; not a test module).

A small release folder (manifest + test.jsonl) and a run directory that follow the
contracts in docs/ARCHITECTURE.md. Items come from ``depthbench.tasks.build_items``;
the hand-built run directory writes calls whose texts end in ``Answer: <x>``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from depthbench.io import atomic_write_json, canonical_json, sha256_file, write_jsonl_atomic

TASK = "graph_connectivity"


def make_release(root: Path, task: str = TASK, depths=(1, 2, 3), n: int = 2, seed: int = 7) -> tuple[Path, list[dict], str]:
    """Write ``root/<task>/{test.jsonl,manifest.json}``; return (folder, items, manifest sha256)."""
    from depthbench.tasks import build_items

    items = build_items(task, "test", depths=list(depths), n=n, seed=seed)
    folder = root / task
    write_jsonl_atomic(folder / "test.jsonl", items)
    manifest = {
        "format": "depthbench-dataset/1", "task": task, "spec_sha256": "0" * 64,
        "generator_versions": sorted({str(i["generator_version"]) for i in items}),
        "files": {"test.jsonl": {"sha256": sha256_file(folder / "test.jsonl"), "items": len(items),
                                 "per_depth": {str(d): c for d, c in sorted(Counter(i["depth"] for i in items).items())}}},
        "command": "test fixture", "suite_version": "0.1.0",
    }
    atomic_write_json(folder / "manifest.json", manifest)
    return folder, items, sha256_file(folder / "manifest.json")


def _wrong(item: dict) -> Any:
    space = item["meta"]["answer_space"]
    if "labels" in space:
        return next(lab for lab in space["labels"] if lab != str(item["answer"]))
    return (int(item["answer"]) + 1) % space["modulus"]


def honest_tokens(text: str) -> int:
    """A plausible real tokenizer's count: about twice the pre-token bound (see BENCHMARKS.md)."""
    from depthbench.baselines.backends._tokenizer import pretoken_count

    return 2 * pretoken_count(text) + 1


def make_run(run_dir: Path, items: list[dict], sha: str, *, budgets=(64,), majority_n: int = 3,
             split: str = "test", seed: int = 1) -> Path:
    """A hand-built run dir for ``single`` and ``majority@N`` on an OpenAI-compatible endpoint: every third
    item is answered wrongly; seeds are the runner's derived seeds, token counts honest (see
    :func:`honest_tokens`; prompts add 12 template tokens)."""
    from depthbench.baselines._context import derive_seed

    run_dir.mkdir(parents=True, exist_ok=True)
    strategies = ["single", f"majority@{majority_n}"]
    run = {"config": {"argv": ["eval"], "model": "openai:test-model", "strategies": strategies,
                      "budgets": list(budgets), "seed": seed, "split": split,
                      "sampling": {"temperature": 0.7, "top_p": 1.0}},
           "dataset_sha256": sha, "dataset": {"task": items[0]["task"], "split": split, "sha256": sha},
           "versions": {"depthbench": "0.1.0"}, "start_time": "2026-11-29T12:00:00Z"}
    (run_dir / "run.json").write_text(json.dumps(run, indent=2), "utf-8")
    calls, outcomes = [], []
    for budget in budgets:
        for k, it in enumerate(items):
            good = k % 3 != 0
            ans = it["answer"] if good else _wrong(it)
            prompt_tokens = honest_tokens(it["prompt"]) + 12
            for strategy in strategies:
                n = 1 if strategy == "single" else majority_n
                keys, gen = [], 0
                for s in range(n):
                    # majority: one dissenting sample that never wins the vote
                    a = ans if (s != 1 or n == 1) else (_wrong(it) if good else it["answer"])
                    key = f"{it['id']}|{strategy}|{budget}|s{s}|r0|answer"
                    text = f"Let me compute step by step.\nAnswer: {a}"
                    keys.append(key)
                    gen += honest_tokens(text)
                    calls.append({
                        "key": key, "item_id": it["id"], "task": it["task"], "depth": it["depth"],
                        "strategy": strategy, "budget": budget, "sample": s, "round": 0, "role": "answer",
                        "parent": None, "request": {"max_tokens": budget // n},
                        "seed": derive_seed(seed, it["id"], s, 0, "answer"),
                        "text": text, "finish_reason": "stop",
                        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": honest_tokens(text),
                                  "prompt_source": "server", "completion_source": "server"},
                        "latency_s": 0.0, "attempts": 1, "model": "test-model", "extracted": a,
                        "parse_status": "ok", "correct": good, "score": None,
                    })
                outcomes.append({
                    "item_id": it["id"], "task": it["task"], "depth": it["depth"], "strategy": strategy,
                    "budget": budget, "final_answer": ans, "parse_status": "ok", "correct": good,
                    "credit": 1.0 if good else 0.0, "generated_tokens": gen, "processed_tokens": gen + prompt_tokens * n,
                    "calls": keys, "meta": {},
                })
    write_jsonl_atomic(run_dir / "calls.jsonl", calls)
    write_jsonl_atomic(run_dir / "outcomes.jsonl", outcomes)
    return run_dir


def make_hidden_release(root: Path, task: str = TASK, depths=(1, 2, 3), n: int = 2,
                        secret: bytes = bytes(range(100, 132))) -> tuple[Path, list[dict], str]:
    """A hidden split under ``root`` (``private/`` + ``public/``); return (folder, private items, public sha256)."""
    from depthbench.tasks import load_dataset
    from depthbench.leaderboard import write_private_split

    root.mkdir(parents=True, exist_ok=True)
    (root / "secret.bin").write_bytes(secret)
    write_private_split(task, root / "secret.bin", root / "split", depths=list(depths), n=n, public_prompts=True)
    items, _ = load_dataset(root / "split" / "private", split="hidden")
    return root / "split", items, sha256_file(root / "split" / "public" / "manifest.json")


def dumps(obj: Any) -> bytes:
    return canonical_json(obj).encode("utf-8")


def read_outcomes(run_dir: Path) -> list[dict]:
    from depthbench.io import read_jsonl

    return list(read_jsonl(run_dir / "outcomes.jsonl"))
