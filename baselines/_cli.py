"""The ``eval`` command of the baselines subsystem.

``register(subparsers)`` is called by :mod:`depthbench.cli` (its command table). The
subsystem's other commands register themselves from their own modules, so each imports only
what it needs: ``strategies`` (:mod:`depthbench.baselines.strategies._cli`), ``doctor``
(:mod:`depthbench.baselines._doctor`), ``merge`` (:mod:`depthbench.baselines._merge`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from depthbench.baselines._model_options import model_options
from depthbench.baselines._runner import EvalConfig, parse_budgets, run_eval, summarize
from depthbench.baselines.backends import model_spec_forms, redact_argv
from depthbench.errors import UserError

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``eval`` to the CLI."""
    _register_eval(sub)


# --------------------------------------------------------------------------- eval
def _register_eval(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model under test-time strategies at matched token budgets (resumable)",
        description=(
            "Run every (item, strategy, budget) and log each model call to RUN_DIR/calls.jsonl and each "
            "result to RUN_DIR/outcomes.jsonl (each line flushed as it is written). Running the same command "
            "again resumes: finished calls are not redone or logged twice."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="DIR",
                     help="dataset from `depthbench generate` (folder of any --format, .jsonl or .parquet file), a "
                          "`depthbench export hub` folder, or a Hugging Face dataset repo id in the local cache")
    src.add_argument("--task", metavar="NAME", help="generate the task's items in memory (see `depthbench tasks list`)")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--data-config", default=None, metavar="NAME",
                   help="with --data of a Hugging Face dataset (a Hub folder or repo id) with several configs: the "
                        "config (family), e.g. graph_connectivity")
    p.add_argument("--per-depth", type=int, default=None, metavar="N",
                   help="with --task: items per depth (default: the task spec's)")
    p.add_argument("--model", required=True, metavar="SPEC", help=" | ".join(model_spec_forms()))
    p.add_argument("--strategy", required=True, metavar="S[,S...]",
                   help="strategies, e.g. single,majority@8,budget_forcing (see `depthbench strategies`)")
    p.add_argument("--budget", required=True, metavar="B[,B...]",
                   help="per-item generated-token budgets, e.g. 256,1024; each must give every call of every strategy "
                        ">= 16 tokens (e.g. majority@8 needs >= 128)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created; an existing one is resumed)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N items, taken round-robin over depths")
    p.add_argument("--concurrency", type=int, default=128, metavar="C",
                   help="(item, strategy, budget) units in flight, and HTTP requests in flight per run (default 128; "
                        "for a server with few slots, e.g. llama.cpp on a CPU, use its slot count)")
    p.add_argument("--seed", type=int, default=0, help="run seed; per-sample seeds are derived from it (default 0)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature, always sent (default 0.7)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling top_p, always sent (default 1.0)")
    p.add_argument("--base-url", action="append", default=None, metavar="URL",
                   help="openai: server base URL (default: $OPENAI_BASE_URL); repeat it (or give a comma list) to "
                        "spread the requests over several servers of the same model; each is health-checked first, "
                        "one that goes down during the run is skipped with a warning")
    p.add_argument("--api-key", default=None, help="openai: API key (default: $OPENAI_API_KEY; never written to the run folder)")
    p.add_argument("--model-args", default=None, metavar="JSON",
                   help="backend options as a JSON object (or @FILE), e.g. '{\"completions\": false}' or, for a "
                        "proxy, '{\"proxy\": \"http://host:3128\"}'; recorded in run.json without secrets. "
                        "Continuation (see doctor): continuation (auto|assistant_prefill|continue_final_message|"
                        "template|ollama_raw|none), chat_template (.gguf | tokenizer_config.json | .jinja | smollm2), "
                        "think (auto|none|<think>), opens_think, max_tokens_field "
                        "(auto|max_tokens|max_completion_tokens)")
    p.add_argument("--extra-body", default=None, metavar="JSON",
                   help="openai: fields merged into every request body, e.g. "
                        "'{\"chat_template_kwargs\": {\"enable_thinking\": false}}' or '{\"reasoning_effort\": "
                        "\"low\"}'; recorded in run.json without secrets")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="evaluate only the K-th of N balanced parts of the items (every depth in every part); "
                        "join the parts with `depthbench merge` (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
    p.add_argument("--retries", type=int, default=None, help="openai: retries per call on 429/5xx/timeouts (default 6)")
    p.add_argument("--timeout", type=float, default=None,
                   help="openai: seconds per attempt, the whole response included (default 120)")
    p.add_argument("--tokenizer", default=None, metavar="PATH_OR_GGUF",
                   help="openai: count tokens with this tokenizer (a .gguf file, a Hugging Face tokenizer.json, or "
                        "smollm2) when a response has no usage and the server no /tokenize; without it such counts "
                        "are an estimate (usage.completion_source says which, per call)")
    _add_sampler_flags(p)
    p.add_argument("--native-n", action="store_true",
                   help="openai: ask the server for n choices in one request (vLLM, llama.cpp server) instead "
                        "of one request per sample; one seed then covers the request's samples (see doctor)")
    p.add_argument("--think-open", action="store_true",
                   help="openai: the server's chat template opens <think> in the prompt (reasoning models), so a "
                        "reply is scored only from text after </think> (llamacpp detects this from the GGUF template)")
    p.add_argument("--fsync", choices=("line", "batch"), default="batch",
                   help="batch (default): write and flush every log line at once (nothing is lost to kill -9 or a "
                        "crash), fsync in groups every 50 ms (a power cut loses at most that window); line: fsync "
                        "every line before going on (slower on most disks)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress (default: a bar on a terminal, else one line every ~30 s: done/total, calls/s, "
                        "ETA); --no-progress: nothing")
    p.set_defaults(func=_cmd_eval, eval_flags=tuple(o for a in p._actions for o in a.option_strings))


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.think_open and not args.model.startswith("openai:"):
        raise UserError(f"--think-open: only needed for the openai backend, not --model {args.model}; drop --think-open")
    if args.native_n and not args.model.startswith("openai:"):
        raise UserError(f"--native-n: only the openai backend sends n > 1 requests, not --model {args.model}; "
                        "drop --native-n")
    options = model_options(args)
    cfg = EvalConfig(
        model=args.model,
        model_options=options,
        shard=args.shard,
        data_config=args.data_config,
        sampler=_sampler_values(args),
        strategies=[args.strategy],
        budgets=parse_budgets(args.budget),
        out=args.out,
        data=args.data,
        task=args.task,
        split=args.split,
        per_depth=args.per_depth,
        limit=args.limit,
        seed=args.seed,
        temperature=args.temperature,
        top_p=args.top_p,
        concurrency=args.concurrency,
        base_url=(args.base_url[0] if args.base_url and len(args.base_url) == 1 else args.base_url),
        api_key=args.api_key,
        retries=args.retries,
        timeout=args.timeout,
        progress=args.progress,
        fsync=args.fsync,
        argv=redact_argv(sys.argv[1:], args.eval_flags),
    )
    res = run_eval(cfg)
    blind = res.get("answers_known") is False
    print(f"{res['items']} items, {res['units']} (item, strategy, budget) units: {res['resumed_units']} from an "
          f"earlier run, {res['new_units']} new; {res['new_calls']} new calls, {res['calls_from_log']} served from "
          f"the log; {res['new_generated_tokens']} generated tokens in {res['seconds']:.1f}s")
    rows = summarize(res["out"])
    sw = max([28, *(len(r["strategy"]) for r in rows)])  # long strategy names keep the columns aligned
    print(f"{'strategy':<{sw}} {'budget':>7} {'n':>5} {'acc':>6} {'mean G':>8} {'mean P':>9} {'calls':>6} {'resp':>6} "
          f"{'no ans':>7}")
    for r in rows:
        acc = f"{'n/a':>6}" if blind else f"{r['accuracy']:>6.3f}"
        counts = " ".join(f"{'-' if r[k] is None else format(r[k], '.1f'):>6}" for k in ("mean_calls", "mean_responses"))
        print(f"{r['strategy']:<{sw}} {r['budget']:>7} {r['n']:>5} {acc} {r['mean_G']:>8.1f} "
              f"{r['mean_P']:>9.1f} {counts} {r['no_answer_rate']:>7.3f}")
    if len(res.get("servers") or []) > 1:
        print("requests per server: " + ", ".join(f"{s['base_url']} {s['requests']}" for s in res["servers"]))
    print(f"logs: {res['out']}/calls.jsonl, {res['out']}/outcomes.jsonl")
    if blind:
        print(f"the items carry no answers (a hidden split's prompts): accuracy is known only to the maintainers; "
              f"pack the run with 'depthbench submission pack {res['out']} --out FILE.json.gz' and send them FILE")
    return 0


def _add_sampler_flags(p: Any) -> None:
    """The sampler beyond --temperature/--top-p (depthbench.baselines.backends._sampler): every backend
    applies the same values; the defaults are neutral (no truncation, no penalty)."""
    g = p.add_argument_group("sampler (sent to servers and used in process alike; defaults are neutral)")
    g.add_argument("--top-k", type=int, default=None, metavar="K", help="keep the K most likely tokens (default 0: off)")
    g.add_argument("--min-p", type=float, default=None, metavar="P",
                   help="drop tokens below P x the top token's probability (default 0: off)")
    g.add_argument("--repeat-penalty", type=float, default=None, metavar="X",
                   help="llama.cpp repeat_penalty / vLLM repetition_penalty (default 1: off)")
    g.add_argument("--presence-penalty", type=float, default=None, metavar="X", help="default 0: off")
    g.add_argument("--frequency-penalty", type=float, default=None, metavar="X", help="default 0: off")


def _sampler_values(args: argparse.Namespace) -> dict[str, float]:
    return {k: v for k in ("top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty")
            if (v := getattr(args, k, None)) is not None}
