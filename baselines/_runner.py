"""The evaluation runner behind ``depthbench eval``: crash-safe, resumable, budget-exact.

A run folder holds ``run.json`` (the config, the dataset's sha256, versions; written
atomically), ``calls.jsonl`` (one line per choice, in the compact form of
:mod:`depthbench.baselines._calllog`) and ``outcomes.jsonl`` (one line per finished
(item, strategy, budget)), both appended through :class:`depthbench.io.JsonlAppender`:
every line is written and flushed to the OS before the run goes on (``kill -9`` loses
nothing), and fsynced in groups every 50 ms by default (``--fsync batch``; ``line``
fsyncs each line).

Resume: running the same command again reads both logs first. Finished (item, strategy,
budget) units are skipped; for unfinished ones every call already in ``calls.jsonl`` is
served from the log by its key (:class:`~depthbench.baselines._context.CallContext`),
so nothing is redone or logged twice; a torn last line (``kill -9`` mid-write) is
ignored and cut away. A config that differs from the one in ``run.json`` is refused
with a :class:`~depthbench.errors.UserError` naming the differing flag.

Concurrency: one asyncio event loop; at most ``--concurrency`` (item, strategy,
budget) units in flight (the backend limits HTTP requests on its own as well). Ctrl-C
cancels the in-flight calls; every line already written is complete (exit status 130).
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from depthbench import __version__
from depthbench._lazy import lazy
from depthbench.baselines._budget import MIN_CALL_TOKENS, BudgetExceededError
from depthbench.baselines._calllog import CompactCallWriter, read_calls
from depthbench.baselines._context import CallContext
from depthbench.baselines._http import redact_url
from depthbench.baselines._protocol import BackendError
from depthbench.baselines._shard import parse_shard, shard_items
from depthbench.baselines.backends import check_model_spec, get_backend, load_model, parse_model_spec, redact_secrets
from depthbench.baselines.backends._continuation import check_strategy_support
from depthbench.baselines.backends._preflight import Needs
from depthbench.baselines.backends._sampler import SAMPLER_FLAGS, Sampler
from depthbench.baselines.strategies import Strategy, parse
from depthbench.errors import UserError
from depthbench.io import (
    DiskFullError,
    JsonlAppender,
    atomic_write_json,
    canonical_json,
    ensure_writable_dir,
    is_disk_full,
    read_jsonl,
    sha256_bytes,
)
from depthbench.progress import Progress
from depthbench.tasks import build_items, load_any

numpy = lazy("numpy")

asyncio = lazy("asyncio")
__all__ = ["EvalConfig", "run_eval", "load_items", "load_run_json", "parse_budgets", "parse_strategies", "check_budgets",
           "RUN_FORMAT"]

RUN_FORMAT = "depthbench-run/1"

#: config field -> the flag named in a resume mismatch
_FLAG_OF = {
    "model": "--model",
    "model_options": "--model options",
    "strategies": "--strategy",
    "budgets": "--budget",
    "seed": "--seed",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "limit": "--limit",
    "data": "--data",
    "task": "--task",
    "split": "--split",
    "per_depth": "--per-depth",
    "dataset_sha256": "--data (dataset contents)",
    "sampler": "--top-k/--min-p/--repeat-penalty/--presence-penalty/--frequency-penalty",
    "shard": "--shard",
    "data_config": "--data-config",
}


@dataclass
class EvalConfig:
    """Everything that defines a run (what a resume must match)."""

    model: str
    strategies: list[str]
    budgets: list[int]
    out: str
    data: str | None = None
    task: str | None = None
    split: str = "test"
    per_depth: int | None = None
    limit: int | None = None
    seed: int = 0
    temperature: float = 0.7
    top_p: float = 1.0
    concurrency: int = 128
    base_url: str | list[str] | None = None  # openai: one URL, several (a list or a comma list) spread the requests
    api_key: str | None = None
    shard: str | None = None  # "K/N": only that balanced part of the items (depthbench.baselines._shard)
    data_config: str | None = None  # the config (family) of a Hub dataset with several
    retries: int | None = None  # openai: retries per call (None: the backend's default)
    timeout: float | None = None  # openai: seconds per attempt (None: the backend's default)
    model_options: dict[str, Any] = field(default_factory=dict)
    #: sampler fields beyond temperature and top_p (top_k, min_p, repeat_penalty, presence_penalty,
    #: frequency_penalty); missing ones take their neutral value (depthbench.baselines.backends._sampler)
    sampler: dict[str, float] = field(default_factory=dict)
    progress: bool | None = None  # None: only on a terminal
    fsync: bool | str = "batch"  # "batch": flush each line, group fsync; True/"line": fsync each line; False: none
    argv: list[str] = field(default_factory=list)


def parse_budgets(text: str) -> list[int]:
    """``"256,1024"`` -> ``[256, 1024]``; positive integers, no duplicates."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not re.fullmatch(r"[0-9]+", part) or int(part) < 1:  # ASCII: '\u00b2'.isdigit() is True
            raise UserError(f"--budget: {part!r} is not a positive integer token count; give e.g. --budget 256,1024")
        if int(part) in out:
            raise UserError(f"--budget: {part} is given twice; list each budget once")
        out.append(int(part))
    return out


def parse_strategies(text: str) -> list[Strategy]:
    """``"single,majority@8"`` -> strategies (``best_of@4:noisy:0.9,0.1`` keeps its comma)."""
    parts: list[str] = []
    raw = str(text).split(",")
    for i, tok in enumerate(raw, 1):
        tok = tok.strip()
        if not tok and len(raw) > 1:
            raise UserError(f"--strategy: entry {i} of {text!r} is empty; separate names with single commas, "
                            "e.g. --strategy single,majority@8")
        # a bare number continues the previous name (noisy:TPR,FPR)
        if parts and tok and tok.replace(".", "", 1).isdigit() and parts[-1].count(":") >= 2:
            parts[-1] += "," + tok
        elif tok:
            parts.append(tok)
    if not parts:
        raise UserError("--strategy: give at least one strategy, e.g. --strategy single,majority@8")
    out = [parse(p) for p in parts]
    names = [s.name for s in out]
    for n in names:
        if names.count(n) > 1:
            raise UserError(f"--strategy: {n} is given twice; list each strategy once")
    return out


def check_budgets(strategies: Sequence[Strategy], budgets: Sequence[int]) -> None:
    """Refuse a budget too small for a strategy's calls (:meth:`Strategy.min_budget`).

    Raises
    ------
    UserError
        Naming the budget, the strategy, its per-call allowance and the minimum, e.g.
        ``--budget 4: majority@8 gives each of 8 chains 0 tokens (a call needs >= 16);
        use --budget >= 128 or fewer samples``.
    """
    for b in sorted(budgets):
        for s in strategies:
            m = s.min_budget()
            if b < m:
                raise UserError(f"--budget {b}: {s.name} {s.allowance(b)} (a call needs >= {MIN_CALL_TOKENS}); "
                                f"use --budget >= {m}{s.fewer_hint}")


def load_run_json(run_dir: str | Path) -> dict[str, Any]:
    """Read ``run.json`` of a run folder.

    Raises
    ------
    UserError
        If the folder or its ``run.json`` is missing or unreadable (names RUN_DIR).
    """
    p = Path(run_dir)
    if not p.is_dir():
        raise UserError(f"RUN_DIR: {str(p)!r} is not a folder; give the --out folder of `depthbench eval`")
    rj = p / "run.json"
    if not rj.exists():
        raise UserError(f"RUN_DIR: {str(p)!r} has no run.json; give the --out folder of `depthbench eval`")
    try:
        run = json.loads(rj.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"RUN_DIR: {str(rj)!r} is unreadable ({e}); restore it or re-run `depthbench eval`") from None
    if not isinstance(run, dict):
        raise UserError(f"RUN_DIR: {str(rj)!r} is not a JSON object; restore it or re-run `depthbench eval`")
    return run


def _interleave_by_depth(items: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` items taken round-robin over depths (so a limit keeps every depth)."""
    if limit is None or limit >= len(items):
        return items
    by_depth: dict[Any, list[dict[str, Any]]] = {}
    for it in items:
        by_depth.setdefault(it.get("depth"), []).append(it)
    order = sorted(by_depth, key=lambda d: (d is None, d))
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < limit:
        for d in order:
            if i < len(by_depth[d]) and len(out) < limit:
                out.append(by_depth[d][i])
        i += 1
    return out


def load_items(cfg: EvalConfig) -> tuple[list[dict[str, Any]], str]:
    """The run's items and the dataset sha256 (manifest bytes, or canonical items for --task)."""
    if (cfg.data is None) == (cfg.task is None):
        raise UserError("--data/--task: give exactly one of --data DIR (a dataset) or --task NAME (generate in memory)")
    if cfg.limit is not None and cfg.limit < 1:
        raise UserError(f"--limit: must be >= 1, got {cfg.limit}")
    if cfg.data is not None:
        items, sha = load_any(cfg.data, split=cfg.split, config=cfg.data_config)
    else:
        items = build_items(cfg.task, cfg.split, n=cfg.per_depth)
        # the sha256 of the whole generated split (what `depthbench score` recomputes)
        sha = sha256_bytes("\n".join(canonical_json(it) for it in items).encode("utf-8"))
    items = _interleave_by_depth(list(items), cfg.limit)
    if not items:
        raise UserError("--data/--task: the dataset has no items; check the path, --split or --task")
    shard = parse_shard(cfg.shard)
    if shard is not None:
        items = shard_items(items, shard)
        if not items:
            raise UserError(f"--shard {cfg.shard}: this shard has no items ({shard[1]} shards of fewer items); "
                            "use fewer shards")
    ids = [it["id"] for it in items]
    if len(set(ids)) != len(ids):
        raise UserError("--data: item ids are not unique; regenerate the dataset with `depthbench generate`")
    return items, sha


def needs_gold(strategy: Strategy) -> bool:
    """True for strategies whose *answer* depends on the gold answer or trace: ``best_of`` with
    the ``oracle``, ``noisy`` or ``trace`` verifier and ``pass@N`` (bounds and simulated
    verifiers, not deployable methods)."""
    return bool(strategy.needs_gold)


def _check_gold_free(strategies: Sequence[Strategy], items: Sequence[Mapping[str, Any]]) -> None:
    """Refuse gold-dependent strategies on items without answers (a hidden split's prompts)."""
    if all("answer" in it for it in items):
        return
    for s in strategies:
        if needs_gold(s):
            hint = s.gold_free_hint()
            raise UserError(f"--strategy {s.name}: picks its answer with the gold answer or trace, which a hidden "
                            "split's prompts do not carry; " + (hint if hint else "use strategies that answer on "
                            "their own (single, majority@N, budget_forcing, revision@R, best_of@N:self, ...)"))


def _run_config(cfg: EvalConfig, strategies: Sequence[Strategy], sha: str, n_items: int) -> dict[str, Any]:
    # the sampler of the backends that have one (absent for simulated / replay, whose old
    # folders so still resume; an old openai folder ran the server's defaults and is refused)
    sampler = ({"sampler": Sampler(temperature=cfg.temperature, top_p=cfg.top_p, **cfg.sampler).extras()}
               if _has_sampler(cfg.model) else {})

    # absent when unset, so older run folders still resume
    extra = {k: v for k, v in (("shard", cfg.shard), ("data_config", cfg.data_config)) if v is not None}
    return {
        **extra,
        "model": cfg.model,
        "model_options": redact_secrets({k: v for k, v in sorted(cfg.model_options.items())}),
        "strategies": [s.name for s in strategies],
        "budgets": list(cfg.budgets),
        "seed": cfg.seed,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        **sampler,
        "limit": cfg.limit,
        "data": (str(Path(cfg.data).resolve()) if Path(cfg.data).exists() else str(cfg.data)) if cfg.data else None,
        "task": cfg.task,
        "split": cfg.split,
        "per_depth": cfg.per_depth,
        "dataset_sha256": sha,
        "n_items": n_items,
    }


def _check_resume(run_json: Path, config: dict[str, Any]) -> dict[str, Any]:
    try:
        old = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"--out: {str(run_json)!r} is unreadable ({e}); choose a new --out folder") from None
    if old.get("format") != RUN_FORMAT:
        raise UserError(f"--out: {str(run_json.parent)!r} is not a depthbench run folder; choose a new --out folder")
    prev = old.get("config", {})
    for k in [*config, *(k for k in prev if k not in config)]:
        v = config.get(k)
        if k == "n_items":
            continue
        if prev.get(k) != v:
            flag = _FLAG_OF.get(k, k)
            raise UserError(
                f"{flag}: the run in {str(run_json.parent)!r} was started with {prev.get(k)!r}, now {v!r}; "
                "repeat the original value to resume, or choose a new --out folder"
            )
    return old


class _GroupSync:
    """Group commit for ``--fsync batch``: lines are written and flushed one by one (so a
    killed process loses nothing the OS has), and a background thread fsyncs the files
    whenever new lines arrived, at most every ``interval`` seconds (power-loss window)."""

    def __init__(self, paths: Sequence[Path], interval: float = 0.05) -> None:
        self._paths = list(paths)
        self._fds = [os.open(p, os.O_RDONLY) for p in paths]
        self._error: OSError | None = None
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._loop, name="depthbench-fsync", daemon=True)
        self._thread.start()

    def touch(self) -> None:
        self._dirty.set()

    def _sync(self) -> None:
        self._dirty.clear()
        for fd in self._fds:
            os.fsync(fd)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(self._interval) and not self._stop.is_set():
                try:
                    self._sync()
                except OSError as e:  # reported by close(), never as a thread traceback
                    self._error = e
                    return
                self._stop.wait(self._interval)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            self._sync()
        except OSError as e:
            if is_disk_full(e):
                raise DiskFullError(self._paths[0]) from None
            raise
        finally:
            for fd in self._fds:
                os.close(fd)


class _Progress:
    """Progress over (item, strategy, budget) units with calls and generated tokens
    (:class:`depthbench.progress.Progress`: a bar on a terminal, a line every ~30 s elsewhere)."""

    def __init__(self, total: int, done: int, enabled: bool | None) -> None:
        self.bar = Progress(total, "eval", "units", initial=done, enabled=enabled, counters=("calls", "gen_tokens"))

    @property
    def calls(self) -> int:
        return self.bar.counts["calls"]

    @property
    def tokens(self) -> int:
        return self.bar.counts["gen_tokens"]

    def on_call(self, rec: Mapping[str, Any]) -> None:
        self.bar.count("calls")
        self.bar.count("gen_tokens", int(rec["usage"]["completion_tokens"]))

    def on_outcome(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _versions(model: Any) -> dict[str, Any]:
    v: dict[str, Any] = {"depthbench": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
                         "platform": platform.platform(terse=True)}
    extra = getattr(model, "versions", None)
    if isinstance(extra, Mapping):
        v.update({str(k): str(x) for k, x in extra.items()})
    return v


async def _run_units(cfg: EvalConfig, items: list[dict[str, Any]], strategies: Sequence[Strategy], model: Any,
                     cache: dict[str, dict[str, Any]], done: set[tuple[str, str, int]],
                     calls_log: JsonlAppender, outcomes_log: JsonlAppender, progress: _Progress) -> dict[str, int]:
    sem = asyncio.Semaphore(max(1, cfg.concurrency))
    stats = {"new_outcomes": 0, "served": 0}
    # second models a strategy declared (judge, process reward model), through the backend registry
    aux = {s.name: {slot: load_model(spec) for slot, spec in s.aux_models().items()} for s in strategies}
    writer = CompactCallWriter(calls_log, {it["id"]: it for it in items}, known=cache)
    sink = writer.write

    def emit(outcome: dict[str, Any]) -> None:
        key = (outcome["item_id"], outcome["strategy"], int(outcome["budget"]))
        writer.forget(outcome.get("calls"))
        if key in done:  # never twice
            return
        outcomes_log.write(outcome)
        done.add(key)
        stats["new_outcomes"] += 1
        progress.on_outcome()

    def make_ctx(item: Mapping[str, Any], strategy: Strategy, budget: int) -> CallContext:
        return CallContext(item, strategy.name, budget, model, models=aux[strategy.name], run_seed=cfg.seed,
                           temperature=cfg.temperature, top_p=cfg.top_p, cache=cache, sink=sink,
                           on_call=progress.on_call)

    async def unit(item: dict[str, Any], strategy: Strategy, budget: int) -> None:
        async with sem:
            ctx = make_ctx(item, strategy, budget)
            outcome = await strategy.run(item, ctx)
            stats["served"] += ctx.served_from_log
            emit(outcome)

    jobs = []
    for budget in cfg.budgets:
        for strategy in strategies:
            if strategy.dataset_level:
                if all((it["id"], strategy.name, budget) in done for it in items):
                    continue
                jobs.append(_dataset_unit(strategy, items, budget, make_ctx, emit, done, cfg.concurrency))
                continue
            for item in items:
                if (item["id"], strategy.name, budget) not in done:
                    jobs.append(unit(item, strategy, budget))
    tasks = [asyncio.ensure_future(j) for j in jobs]
    try:
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for second in (m for slots in aux.values() for m in slots.values()):
            await second.aclose()
    return stats


async def _dataset_unit(strategy: Any, items: list[dict[str, Any]], budget: int, make_ctx: Any, emit: Any,
                        done: set[tuple[str, str, int]], concurrency: int) -> None:
    finished = {it["id"] for it in items if (it["id"], strategy.name, budget) in done}
    ctxs: list[CallContext] = []

    def mk(it: Mapping[str, Any]) -> CallContext:
        c = make_ctx(it, strategy, budget)
        ctxs.append(c)
        return c

    await strategy.run_dataset(items, mk, emit, done=finished, concurrency=concurrency)
    total = sum(c.budget.generated for c in ctxs)
    if total > len(items) * budget:
        raise BudgetExceededError(
            f"budget: {strategy.name} used {total} tokens over the dataset budget {len(items) * budget}; "
            "this is a bug, please report it"
        )


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    """Run (or resume) an evaluation; returns a summary dict.

    Everything that can be checked without the run folder (strategies, budgets against
    :func:`check_budgets`, sampling flags, the dataset, the model spec) is checked
    before ``--out`` is created; a folder this call created is removed again if setup
    fails before ``run.json`` is written.

    Raises
    ------
    UserError
        Bad flags, a budget below a strategy's minimum, a config that differs from the
        run folder's, or a backend that breaks the budget.
    KeyboardInterrupt
        On Ctrl-C, after the logs are closed (the CLI exits with 130).
    """
    strategies = parse_strategies(",".join(cfg.strategies))
    for s in strategies:
        for spec in s.aux_models().values():
            parse_model_spec(spec)  # a bad second-model spec fails before --out is made
    for b in cfg.budgets:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise UserError(f"--budget: {b!r} is not a positive integer token count; give e.g. --budget 256,1024")
    check_budgets(strategies, cfg.budgets)
    if cfg.shard is not None:
        parse_shard(cfg.shard)
        for s in strategies:
            if s.dataset_level:
                raise UserError(f"--shard: {s.name} allocates its budget across the whole dataset, so shards would "
                                "change its results; run it without --shard")
    if cfg.fsync not in (True, False, "line", "batch"):
        raise UserError(f"--fsync: {cfg.fsync!r} is not 'line' or 'batch'")
    if cfg.concurrency < 1:
        raise UserError(f"--concurrency: must be >= 1, got {cfg.concurrency}")
    for name, x in (("--temperature", cfg.temperature), ("--top-p", cfg.top_p)):
        if not (x >= 0) or (name == "--top-p" and not 0 < x <= 1):
            raise UserError(f"{name}: {x} is out of range; use temperature >= 0 and 0 < top_p <= 1")
    check_model_spec(cfg.model)  # a bad spec is named before any item is generated or read
    sampler_kw = _sampler_options(cfg)
    items, sha = load_items(cfg)
    _check_gold_free(strategies, items)
    for s in strategies:
        s.check_items(items)  # e.g. a PRM the items' families cannot provide (prm=env without env_check)
    extra = {k: v for k, v in (("retries", cfg.retries), ("timeout", cfg.timeout)) if v is not None}
    model = load_model(cfg.model, base_url=cfg.base_url, api_key=cfg.api_key, concurrency=cfg.concurrency,
                       **extra, **sampler_kw, **cfg.model_options)
    preflight = getattr(model, "preflight", None)  # served models must answer before anything is written
    try:
        if preflight is not None:
            asyncio.run(preflight())
        backend = prepare_backend(model, strategies, cfg)
    except BaseException:
        _close_model(model)
        raise
    created = _new_dirs(Path(cfg.out))
    try:
        out = ensure_writable_dir(cfg.out, "--out")
        lock = _lock_run_dir(out)
    except BaseException:
        _close_model(model)
        raise
    try:
        return _run_locked(cfg, strategies, items, sha, out, model, backend)
    except BaseException:
        if created and not (out / "run.json").exists():
            _remove_empty_run_dir(out, created)
        raise
    finally:
        lock.close()


def _sampler_options(cfg: EvalConfig) -> dict[str, Any]:
    """The sampler fields to pass to the backend (validated; none for backends without a sampler).

    Raises
    ------
    UserError
        A value out of range, or a non-neutral value for a backend that has no sampler.
    """
    sampler = Sampler.from_options({"temperature": cfg.temperature, "top_p": cfg.top_p, **cfg.sampler})
    provider, _ = parse_model_spec(cfg.model)
    if _has_sampler(cfg.model):
        return sampler.extras()
    for k in sampler.non_neutral():
        raise UserError(f"{SAMPLER_FLAGS[k]}: the {provider} backend has no sampler to set (it ignores "
                        f"{k}); drop {SAMPLER_FLAGS[k]}")
    return {}


def prepare_backend(model: Any, strategies: Sequence[Strategy], cfg: EvalConfig) -> dict[str, Any]:
    """Before any item call: let the backend find out how to serve the run
    (``model.prepare``: continuation mode, request fields, reasoning delimiters), then
    refuse the strategies it cannot run as specified.

    Returns
    -------
    dict
        The ``backend`` record of ``run.json``.

    Raises
    ------
    UserError
        A strategy the backend cannot run (with the reason and the alternatives), or a
        setting it cannot honour; nothing has been created or called for any item.
    """
    needs = Needs(continuation=any({"continuation", "force_answer", "steps"} & set(s.needs) for s in strategies),
                  native_n=bool(getattr(model, "native_n", False)), temperature=cfg.temperature, top_p=cfg.top_p)
    prepare = getattr(model, "prepare", None)
    if prepare is not None:
        try:
            backend = dict(asyncio.run(prepare(needs)))
        except BackendError as e:
            raise UserError(f"--model {cfg.model}: the pre-flight probe failed: {e}; nothing was run or written, "
                            "run the same command again to resume once the server answers (depthbench doctor "
                            "checks it)", exit_code=1) from None
    else:
        caps = model.capabilities
        backend = {"kind": cfg.model.partition(":")[0], "continuation": {"mode": caps.continuation},
                   "think": None, "sampler": None}
    detail = (backend.get("continuation") or {}).get("detail", "")
    check_strategy_support(strategies, model.capabilities, cfg.model, reason=detail)
    return backend


def _check_backend_resume(old: dict[str, Any], backend: dict[str, Any], cfg: EvalConfig) -> None:
    """A resumed run must continue turns the way it started (same mode, same delimiters)."""
    before, now = old.get("backend"), backend
    if not isinstance(before, dict):
        return
    for key, what in (("continuation", "continuation mode"), ("think", "reasoning delimiters")):
        a, b = before.get(key), now.get(key)
        if key == "continuation":
            a, b = (a or {}).get("mode"), (b or {}).get("mode")
        if a != b:
            raise UserError(f"--model {cfg.model}: the run in {cfg.out!r} was started with {what} {a!r}, the backend "
                            f"now gives {b!r}; set --model-args to the original value to resume, or choose a new "
                            "--out folder")


def _has_sampler(spec: str) -> bool:
    """Whether the backend of ``spec`` takes the full sampler (``@backend(sampler=True)``)."""
    return get_backend(parse_model_spec(spec)[0]).sampler


def _new_dirs(path: Path) -> list[Path]:
    """The folders ``mkdir -p path`` would create, deepest first."""
    new: list[Path] = []
    p = path.absolute()
    while not p.exists() and p != p.parent:
        new.append(p)
        p = p.parent
    return new


def _remove_empty_run_dir(out: Path, created: list[Path]) -> None:
    """Undo the creation of a run folder when setup failed before anything was logged."""
    try:
        (out / ".lock").unlink(missing_ok=True)
    except OSError:
        return
    for d in created:
        try:
            d.rmdir()
        except OSError:
            return


def _close_model(model: Any) -> None:
    close = getattr(model, "aclose", None)
    if close is not None:
        try:
            asyncio.run(close())
        except Exception:  # pragma: no cover - closing must not hide the real error
            pass


def _lock_run_dir(out: Path) -> Any:
    """An exclusive ``flock`` on ``RUN_DIR/.lock`` (released by the OS even after ``kill -9``)."""
    f = open(out / ".lock", "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise UserError(f"--out: another `depthbench eval` is writing to {str(out)!r}; wait for it to finish "
                        "or choose another folder") from None
    return f


def _run_locked(cfg: EvalConfig, strategies: Sequence[Strategy], items: list[dict[str, Any]], sha: str,
                out: Path, model: Any, backend: dict[str, Any] | None = None) -> dict[str, Any]:
    config = _run_config(cfg, strategies, sha, len(items))
    run_json = out / "run.json"
    backend = dict(backend or {})
    if run_json.exists():
        try:
            old = _check_resume(run_json, config)
            _check_backend_resume(old, backend, cfg)
        except BaseException:
            _close_model(model)
            raise
    if not run_json.exists():
        atomic_write_json(run_json, {
            "format": RUN_FORMAT,
            "config": config,
            "argv": list(cfg.argv),
            "base_url": None if cfg.base_url is None else ",".join(
                str(redact_url(u)) for u in ([cfg.base_url] if isinstance(cfg.base_url, str) else cfg.base_url)),
            **({"servers": [{k: v for k, v in s.items() if k != "requests"} for s in model.servers_info()]}
               if hasattr(model, "servers_info") else {}),
            "versions": _versions(model),
            "model_name": getattr(model, "name", cfg.model),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "backend": backend,
        })

    calls_path, outcomes_path = out / "calls.jsonl", out / "outcomes.jsonl"
    cache: dict[str, dict[str, Any]] = {}
    if calls_path.exists():
        by_id = {it["id"]: it for it in items}
        for _, rec in read_calls(calls_path, by_id):
            k = rec.get("key")
            if isinstance(k, str) and k not in cache:
                cache[k] = rec
    done: set[tuple[str, str, int]] = set()
    wanted = {s.name for s in strategies}
    if outcomes_path.exists():
        for o in read_jsonl(outcomes_path):
            b = o.get("budget")  # as logged, a JSON integer: int() would also read "300\n" or "\u0663\u0660\u0660"
            if o.get("strategy") in wanted and type(b) is int:
                done.add((o["item_id"], o["strategy"], b))

    # numpy is deferred for CLI start-up (depthbench._lazy); the answer path (verification, strategy draws)
    # needs it: load it here, not on the first answer inside the event loop, where the import would stall
    # every request in flight.
    numpy.random.default_rng  # noqa: B018

    total_units = len(items) * len(strategies) * len(cfg.budgets)
    ids = {it["id"] for it in items}
    n_done = sum(1 for d in done if d[0] in ids)
    progress = _Progress(total_units, n_done, cfg.progress)
    t0 = time.monotonic()
    per_line = cfg.fsync in (True, "line")
    calls_log = JsonlAppender(calls_path, fsync=per_line)
    outcomes_log = JsonlAppender(outcomes_path, fsync=per_line)
    group = _GroupSync([calls_path, outcomes_path]) if cfg.fsync == "batch" else None
    if group is not None:
        for log in (calls_log, outcomes_log):
            log.write = _chain(log.write, group.touch)  # type: ignore[method-assign]
    try:
        stats = asyncio.run(_run_with_close(cfg, items, strategies, model, cache, done, calls_log, outcomes_log,
                                            progress))
    except BackendError as e:
        raise UserError(f"--model {cfg.model}: {e}; the finished calls are saved in {str(out)!r}, run the same "
                        "command again to resume", exit_code=1) from None
    finally:
        calls_log.close()
        outcomes_log.close()
        if group is not None:
            group.close()
        progress.close()
        _refresh_backend_record(run_json, model)
    return {
        "out": str(out),
        "items": len(items),
        "units": total_units,
        "resumed_units": n_done,
        "new_units": stats["new_outcomes"],
        "new_calls": progress.calls,
        "calls_from_log": stats["served"],
        "new_generated_tokens": progress.tokens,
        "seconds": round(time.monotonic() - t0, 3),
        "answers_known": all("answer" in it for it in items),
        "servers": model.servers_info() if hasattr(model, "servers_info") else [],
    }


def _refresh_backend_record(run_json: Path, model: Any) -> None:
    """Record in ``run.json`` what the backend learnt during the run (a field the server
    refused, native n turned off), if anything changed since the pre-flight."""
    describe = getattr(model, "describe", None)
    if describe is None:
        return
    try:
        doc = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    backend = dict(doc.get("backend") or {})
    now = describe()
    if all(backend.get(k) == v for k, v in now.items()):
        return
    backend.update(now)
    doc["backend"] = backend
    atomic_write_json(run_json, doc)


def _chain(write: Any, after: Any) -> Any:
    def chained(record: Any) -> None:
        write(record)
        after()

    return chained


async def _run_with_close(cfg, items, strategies, model, cache, done, calls_log, outcomes_log, progress):
    try:
        return await _run_units(cfg, items, strategies, model, cache, done, calls_log, outcomes_log, progress)
    finally:
        close = getattr(model, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:  # pragma: no cover - closing must not hide the real error
                pass


def summarize(out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Per (strategy, budget): items, mean credit, mean G and P, mean calls and sampled responses (None for
    outcomes logged before they were counted), format failures (from outcomes.jsonl)."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for o in read_jsonl(Path(out) / "outcomes.jsonl"):
        if type(o.get("budget")) is not int:  # not a unit resume counts done (a budget as "300\n" or 300.0)
            continue
        r = rows.setdefault((o["strategy"], int(o["budget"])), {"strategy": o["strategy"], "budget": int(o["budget"]),
                                                                 "n": 0, "credit": 0.0, "G": 0, "P": 0, "no_answer": 0,
                                                                 "calls": [], "responses": []})
        r["n"] += 1
        r["credit"] += float(o["credit"])
        r["G"] += int(o["generated_tokens"])
        r["P"] += int(o["processed_tokens"])
        r["no_answer"] += o.get("final_answer") is None
        for field, into in (("n_calls", "calls"), ("n_responses", "responses")):
            if isinstance(o.get(field), int):
                r[into].append(o[field])
    out_rows = []
    for r in rows.values():
        n = r["n"]
        out_rows.append({"strategy": r["strategy"], "budget": r["budget"], "n": n, "accuracy": r["credit"] / n,
                         "mean_G": r["G"] / n, "mean_P": r["P"] / n, "no_answer_rate": r["no_answer"] / n,
                         "mean_calls": sum(r["calls"]) / len(r["calls"]) if r["calls"] else None,
                         "mean_responses": sum(r["responses"]) / len(r["responses"]) if r["responses"] else None})
    return sorted(out_rows, key=lambda r: (r["budget"], r["strategy"]))
