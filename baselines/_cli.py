"""Commands of the baselines subsystem: ``eval``, ``strategies`` (and ``doctor``).

``register(subparsers)`` is called by :mod:`depthbench.cli`. Each command is a small
``_register_*`` function, so adding one is a local edit.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add this subsystem's commands to the CLI."""
    _register_eval(sub)
    _register_strategies(sub)
    _register_doctor(sub)


# --------------------------------------------------------------------------- eval
def _register_eval(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model under test-time strategies at matched token budgets (resumable)",
        description=(
            "Run every (item, strategy, budget) and log each model call to RUN_DIR/calls.jsonl and each "
            "result to RUN_DIR/outcomes.jsonl (flushed and fsynced per line). Running the same command "
            "again resumes: finished calls are not redone or logged twice."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="DIR", help="dataset folder (or .jsonl file) from `depthbench generate`")
    src.add_argument("--task", metavar="NAME", help="generate the task's items in memory (see `depthbench tasks list`)")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--per-depth", type=int, default=None, metavar="N",
                   help="with --task: items per depth (default: the task spec's)")
    p.add_argument("--model", required=True, metavar="SPEC",
                   help="openai:MODEL | llamacpp:smollm2 | llamacpp:PATH.gguf | simulated[:k=v,...] | replay:FILE.jsonl")
    p.add_argument("--strategy", required=True, metavar="S[,S...]",
                   help="strategies, e.g. single,majority@8,budget_forcing (see `depthbench strategies`)")
    p.add_argument("--budget", required=True, metavar="B[,B...]",
                   help="per-item generated-token budgets, e.g. 256,1024; each must give every call of every strategy "
                        ">= 16 tokens (e.g. majority@8 needs >= 128)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created; an existing one is resumed)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N items, taken round-robin over depths")
    p.add_argument("--concurrency", type=int, default=8, metavar="C", help="(item, strategy, budget) units in flight (default 8)")
    p.add_argument("--seed", type=int, default=0, help="run seed; per-sample seeds are derived from it (default 0)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature, always sent (default 0.7)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling top_p, always sent (default 1.0)")
    p.add_argument("--base-url", default=None, help="openai: server base URL (default: $OPENAI_BASE_URL)")
    p.add_argument("--api-key", default=None, help="openai: API key (default: $OPENAI_API_KEY; never written to the run folder)")
    p.add_argument("--retries", type=int, default=None, help="openai: retries per call on 429/5xx/timeouts (default 6)")
    p.add_argument("--timeout", type=float, default=None, help="openai: seconds per attempt (default 120)")
    _add_sampler_flags(p)
    _add_model_args_flag(p)
    p.add_argument("--native-n", action="store_true",
                   help="openai: ask the server for n choices in one request (vLLM, llama.cpp server) instead "
                        "of one request per sample; one seed then covers the request's samples (see doctor)")
    p.add_argument("--think-open", action="store_true",
                   help="openai: the server's chat template opens <think> in the prompt (reasoning models), so a "
                        "reply is scored only from text after </think> (llamacpp detects this from the GGUF template)")
    p.add_argument("--fsync", choices=("line", "batch"), default="line",
                   help="line: fsync every log line (default); batch: flush every line, fsync in groups "
                        "every 50 ms (same safety against kill -9, faster on slow disks)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show the progress bar (default: only on a terminal)")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    from depthbench.baselines._runner import EvalConfig, parse_budgets, run_eval, summarize

    from depthbench.errors import UserError

    if args.think_open and not args.model.startswith("openai:"):
        raise UserError(f"--think-open: only needed for the openai backend, not --model {args.model}; drop --think-open")
    if args.native_n and not args.model.startswith("openai:"):
        raise UserError(f"--native-n: only the openai backend sends n > 1 requests, not --model {args.model}; "
                        "drop --native-n")
    model_options = parse_model_args(args.model_args)
    if args.native_n:
        model_options["native_n"] = True
    if args.think_open:
        model_options["opens_think"] = True
    cfg = EvalConfig(
        model=args.model,
        model_options=model_options,
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
        base_url=args.base_url,
        api_key=args.api_key,
        retries=args.retries,
        timeout=args.timeout,
        progress=args.progress,
        fsync=args.fsync,
        argv=[a for a in sys.argv[1:] if a != args.api_key] if args.api_key else sys.argv[1:],
    )
    res = run_eval(cfg)
    print(f"{res['items']} items, {res['units']} (item, strategy, budget) units: {res['resumed_units']} from an "
          f"earlier run, {res['new_units']} new; {res['new_calls']} new calls, {res['calls_from_log']} served from "
          f"the log; {res['new_generated_tokens']} generated tokens in {res['seconds']:.1f}s")
    print(f"{'strategy':<28} {'budget':>7} {'n':>5} {'acc':>6} {'mean G':>8} {'mean P':>9} {'no ans':>7}")
    for r in summarize(res["out"]):
        print(f"{r['strategy']:<28} {r['budget']:>7} {r['n']:>5} {r['accuracy']:>6.3f} {r['mean_G']:>8.1f} "
              f"{r['mean_P']:>9.1f} {r['no_answer_rate']:>7.3f}")
    print(f"logs: {res['out']}/calls.jsonl, {res['out']}/outcomes.jsonl")
    return 0


def _add_sampler_flags(p: Any) -> None:
    """The sampler beyond --temperature/--top-p (depthbench.baselines._sampler): every backend
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


# Minimal --model-args (backend options as a JSON object). Issue 14 brings the full flag
# (--extra-body, recording in run.json); this function is the one place to unify with it.
MODEL_ARGS_HELP = (
    "backend options as a JSON object, e.g. '{\"continuation\": \"template\", \"chat_template\": \"model.gguf\"}'. "
    "openai: continuation (auto|assistant_prefill|continue_final_message|template|ollama_raw|none), chat_template "
    "(.gguf | tokenizer_config.json | .jinja | smollm2), think (auto|none|<think>), opens_think (bool), "
    "max_tokens_field (auto|max_tokens|max_completion_tokens); "
    "llamacpp: chat_template, think, opens_think, n_ctx, n_threads"
)


def _add_model_args_flag(p: Any) -> None:
    p.add_argument("--model-args", default=None, metavar="JSON", help=MODEL_ARGS_HELP)


def parse_model_args(text: str | None) -> dict[str, Any]:
    """``--model-args`` JSON -> dict of backend options.

    Raises
    ------
    UserError
        Not a JSON object.
    """
    import json

    from depthbench.errors import UserError

    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise UserError(f"--model-args: not valid JSON ({e}); give an object, e.g. "
                        "--model-args '{\"continuation\": \"template\"}'") from None
    if not isinstance(value, dict):
        raise UserError("--model-args: give a JSON object, e.g. --model-args '{\"continuation\": \"template\"}'")
    return value


# --------------------------------------------------------------------------- strategies
def _register_strategies(sub: Any) -> None:
    p = sub.add_parser("strategies", help="list the test-time strategies, one line each",
                       description="List the strategy names accepted by `depthbench eval --strategy`.")
    p.set_defaults(func=_cmd_strategies)


def _cmd_strategies(args: argparse.Namespace) -> int:
    from depthbench.baselines.strategies import list_strategies

    rows = list_strategies()
    w = max(len(r[0]) for r in rows)
    k = max(len(r[1]) for r in rows)
    for pattern, kind, summary in rows:
        print(f"{pattern:<{w}}  {kind:<{k}}  {summary}")
    return 0


# --------------------------------------------------------------------------- doctor
def _register_doctor(sub: Any) -> None:
    """``doctor`` (owned by the backends developer): probe a model server.

    Registered from :mod:`depthbench.baselines._doctor` when that module exists.
    """
    import importlib

    try:
        doctor = importlib.import_module("depthbench.baselines._doctor")
    except ModuleNotFoundError as e:
        if e.name != "depthbench.baselines._doctor":
            raise
        return
    doctor.register(sub)
