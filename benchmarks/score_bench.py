"""Throughput of answer extraction + verification on typical ~500-token responses.

Builds a few real items per family (``depthbench.tasks.build_items``, dev split),
writes for each a synthetic chain-of-thought response of about 500 tokens (~2,000
characters: reasoning that mentions other numbers and labels, an early tentative
answer inside ``<think>`` for some, and a final ``Answer:`` line), then times
``extract`` followed by ``verify`` over all of them on one core.

Usage::

    python benchmarks/score_bench.py [--responses 60000] [--repeat 3] [--json]

Target (issue 3): at least 50,000 responses per second on one core. Rates are per
CPU-second of this process (``time.process_time``), so other load on a shared machine
does not distort them much; the wall-clock rate is reported too.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from depthbench.scorers import extract, verify
from depthbench.tasks import build_items

FAMILIES = ("graph_connectivity", "multihop_arithmetic", "grid_planning")
TARGET_CHARS = 2000  # ~500 tokens at ~4 characters per token


def _filler(rng: np.random.Generator, item: dict) -> str:
    """Reasoning-like text that mentions numbers, labels and moves."""
    words = ["so", "then", "next", "check", "node", "value", "step", "we", "get", "from", "the", "edge", "to",
             "is", "reachable", "compute", "modulo", "move", "key", "door", "right", "down"]
    out = []
    n = 0
    while n < TARGET_CHARS:
        if rng.random() < 0.25:
            tok = str(int(rng.integers(0, 200)))
        elif rng.random() < 0.05:
            tok = "->"
        else:
            tok = words[int(rng.integers(len(words)))]
        out.append(tok)
        n += len(tok) + 1
        if rng.random() < 0.06:
            out.append("\n")
    return " ".join(out)


def make_responses(n: int, seed: int = 0) -> list[tuple[dict, str]]:
    rng = np.random.default_rng(seed)
    items = []
    for fam in FAMILIES:
        items.extend(build_items(fam, "dev", n=2, seed=seed)[:10])
    pairs = []
    for i in range(n):
        it = items[i % len(items)]
        text = _filler(rng, it)
        gold = it["answer"]
        if it["answer_type"] == "plan":
            final = gold if rng.random() < 0.7 else ", ".join(gold.lower())
        elif it["answer_type"] == "integer":
            final = str(gold if rng.random() < 0.7 else (gold + 1) % it["meta"]["answer_space"]["modulus"])
        else:
            final = str(gold if rng.random() < 0.7 else it["meta"]["answer_space"]["labels"][-1])
        if rng.random() < 0.3:
            text = "<think>" + text + "\nAnswer: 1</think>\n"
        pairs.append((it, text + f"\nAnswer: {final}\n"))
    return pairs


def run(n: int, repeat: int) -> dict:
    pairs = make_responses(n)
    unique = {id(it): it for it, _ in pairs}
    prepared = [(it, t, it["answer_type"], it["meta"]["answer_space"]) for it, t in pairs]
    chars = float(np.mean([len(t) for _, t in pairs]))
    best = best_wall = float("inf")
    correct = 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        ok = 0
        for it, text, at, space in prepared:
            ex = extract(text, at, space, "stop")
            if ex.answer is not None and verify(it, ex.answer):
                ok += 1
        best = min(best, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - t0)
        correct = ok
    per_family = {}
    for fam in FAMILIES:
        sub = [p for p in prepared if p[0]["task"] == fam]
        c0 = time.process_time()
        for it, text, at, space in sub:
            ex = extract(text, at, space, "stop")
            if ex.answer is not None:
                verify(it, ex.answer)
        per_family[fam] = len(sub) / (time.process_time() - c0)
    return {
        "responses": n, "distinct_items": len(unique), "mean_chars": round(chars, 1),
        "best_cpu_seconds": round(best, 4), "responses_per_s": round(n / best),
        "responses_per_s_wall": round(n / best_wall),
        "per_family_responses_per_s": {k: round(v) for k, v in per_family.items()},
        "accuracy_sanity": round(correct / n, 3), "python": platform.python_version(),
        "machine": platform.machine(), "target_responses_per_s": 50000,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--responses", type=int, default=60000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = run(args.responses, args.repeat)
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        print(f"extract + verify: {res['responses_per_s']:,} responses per CPU-second on one core "
              f"({res['responses_per_s_wall']:,}/s wall clock; {res['responses']} responses of "
              f"~{res['mean_chars']:.0f} chars, best of {args.repeat}; target 50,000)")
        for fam, v in res["per_family_responses_per_s"].items():
            print(f"  {fam:<22} {v:>10,} responses/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
