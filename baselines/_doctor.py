"""``depthbench doctor``: probe a model backend before spending tokens on it.

For an OpenAI-compatible server it checks, in order: reachable (``GET /models``), the model
name, the context length (``max_model_len`` from vLLM's model list, else llama.cpp's
``/props``), whether responses carry ``usage`` and, when they do not, how depthbench will
count tokens instead (the server's ``/tokenize``, a ``--tokenizer``, or the stated
estimate), whether the seed is honoured (equal seeds agree and different seeds differ at
temperature 1), whether ``n > 1`` is served natively (the number of choices returned; and
whether usage is then summed over the choices, as vLLM does), whether the raw
``/completions`` endpoint works, then the pre-flight ``eval`` runs: the chat template it can
render, the reasoning delimiters, which sampler fields the server takes and its defaults
(llama.cpp's ``/props``), whether the temperature is fixed, the continuation mode that works
(assistant prefill, continue_final_message, or the chat template over /completions) and so
which strategies run as specified. Other backends get the seed, token-count, continuation
and strategy checks through the model protocol. The result is one table; the exit status
is 1 when the server is unreachable, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from depthbench.baselines._models import load_model, parse_model_spec
from depthbench.baselines._protocol import BackendError, Request
from depthbench.errors import UserError

from depthbench.baselines._continuation import ALTERNATIVES

__all__ = ["register", "run_doctor", "Check", "format_table"]

PROBE = "Count from one to twenty, one number per line."
PROBE_ITEM = {"id": "doctor/probe", "depth": 3, "answer": "7", "answer_type": "choice",
              "solution_trace": [1, 4, 9, 7], "meta": {"answer_space": {"labels": ["7", "8"]}}}


@dataclass
class Check:
    """One row of the doctor's table."""

    name: str
    status: str     # "ok" | "warn" | "fail" | "info"
    value: str
    detail: str = ""
    server: str = ""  # "k/n" when several servers are checked (shown after the name)

    @property
    def label(self) -> str:
        """The name as the table shows it: ``"reachable [server 2/3]"`` for one of several servers."""
        return f"{self.name} [server {self.server}]" if self.server else self.name


def _req(seed: int, n: int = 1, max_tokens: int = 24) -> Request:
    return Request(max_tokens=max_tokens, temperature=1.0, top_p=1.0, seeds=(seed,) * n if n > 1 else (seed,),
                   n=n, messages=({"role": "user", "content": PROBE},), item=PROBE_ITEM)


def _seed_check(a: str, b: str, c: str) -> Check:
    if a == b and a != c:
        return Check("honours seed", "ok", "yes", "equal seeds agree, different seeds differ (temperature 1)")
    if a != b:
        return Check("honours seed", "warn", "no",
                     "equal seeds gave different text: repeated runs are not reproducible")
    return Check("honours seed", "warn", "unclear", "different seeds gave the same text (deterministic sampler?)")


async def _doctor_openai(model: Any) -> list[Check]:
    rows: list[Check] = []
    t0 = time.perf_counter()
    try:
        listed = await model.list_models()
    except BackendError as e:
        rows.append(Check("reachable", "fail", "no", f"{model.base_url}: {e}"))
        return rows
    rows.append(Check("reachable", "ok", "yes", f"{model.base_url} ({(time.perf_counter() - t0) * 1000:.0f} ms)"))
    ids = [str(m.get("id")) for m in listed]
    if model.model_name in ids:
        rows.append(Check("model name", "ok", model.model_name, "listed by /models"))
    else:
        rows.append(Check("model name", "warn", model.model_name,
                          f"not listed; served: {', '.join(ids[:5]) or 'none'} (single-model servers may accept any name)"))
    ctx = next((m.get("max_model_len") or m.get("context_length") for m in listed
                if str(m.get("id")) == model.model_name), None)
    if ctx is None:
        root = model.base_url[: -len("/v1")] if model.base_url.endswith("/v1") else model.base_url
        try:
            props, _ = await model.request_json("GET", f"{root}/props", retries=0)
            ctx = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")
        except (UserError, BackendError):
            ctx = None
    rows.append(Check("context length", "ok" if ctx else "info", f"{ctx} tokens" if ctx else "unknown",
                      "" if ctx else "server does not report it; keep prompt + budget below the model's limit"))

    # usage and seed, through the backend (fan-out path, one seed per call)
    try:
        a = (await model.generate(_req(1234))).choices[0]
        b = (await model.generate(_req(1234))).choices[0]
        c = (await model.generate(_req(98765))).choices[0]
    except BackendError as e:
        rows.append(Check("chat completions", "fail", "error", str(e)))
        return rows
    rows.append(Check("chat completions", "ok", "yes", f"{a.completion_tokens} tokens, finish {a.finish_reason}"))
    rows.extend(await _usage_checks(model, a.token_source))
    rows.append(_seed_check(a.text, b.text, c.text))

    # native n: raw call to see what the server does with n
    body = {"model": model.model_name, "messages": [{"role": "user", "content": PROBE}], "max_tokens": 16,
            "temperature": 1.0, "top_p": 1.0, "seed": 7, "n": 3}
    try:
        data, _ = await model.request_json("POST", "/chat/completions", body, retries=1)
    except (UserError, BackendError) as e:
        said = getattr(e, "text", None) or str(e)  # a ServerRefusal carries the server's own words
        rows.append(Check("supports n", "info", "no", f"n=3 refused ({said[:100]}); depthbench fans out, "
                                                      "and eval turns --native-n off after one such refusal"))
    else:
        rows.append(await _n_check(model, data))

    try:
        r = await model.generate(Request(max_tokens=8, temperature=1.0, top_p=1.0, seeds=(3,),
                                         prompt="1, 2, 3, 4,"))
        rows.append(Check("raw completions", "ok", "yes",
                          f"/completions works ({r.choices[0].completion_tokens} tokens): the template route "
                          "for continuations"))
    except (UserError, BackendError) as e:
        rows.append(Check("raw completions", "info", "no",
                          f"{str(e)[:100]}; continuations need a prefill mode here (see continuation)"))
    rows += await _preflight_rows(model)
    return rows


async def _usage_checks(model: Any, source: str) -> list[Check]:
    """``returns usage`` and, without usage, where depthbench's counts will come from."""
    if source == "server":
        return [Check("returns usage", "ok", "yes", "per-call usage")]
    _, how = await model.count_text("Count from one to twenty.")
    detail = {"server_tokenize": "counted by the server's /tokenize (exact)",
              "tokenizer": "counted with the --tokenizer given (exact if it is the model's)",
              "estimate": "no /tokenize and no --tokenizer: counts are an estimate (about 4 bytes per token); "
                          "pass eval --tokenizer PATH_OR_GGUF"}.get(how, how)
    return [Check("returns usage", "warn", "no", "responses carry no usage; the run goes on"),
            Check("token counts", "ok" if how != "estimate" else "warn", how, detail)]


async def _n_check(model: Any, data: Any) -> Check:
    """What the server did with ``n=3``: choices returned, and whether usage is their sum."""
    got = data.get("choices") if isinstance(data, dict) else None
    got = got if isinstance(got, list) else []
    if len(got) < 2:
        return Check("supports n", "info", "no", f"n=3 returned {len(got)} choice(s); depthbench fans out with one "
                                                 "seed per sample (the default)")
    usage = (data.get("usage") or {}).get("completion_tokens") if isinstance(data.get("usage"), dict) else None
    # the whole generation of each choice, reasoning fields joined back (they count in usage)
    counted = [await model.count_text(model._message_text(ch.get("message") or {}, False)[0])
               if isinstance(ch, dict) and isinstance(ch.get("message") or {}, dict) else (0, "estimate")
               for ch in got]
    counts = [n for n, _ in counted]
    exact = all(src != "estimate" for _, src in counted)
    if not isinstance(usage, int):
        how = "no usage: each choice is counted on its own"
    elif not exact:
        how = f"usage.completion_tokens={usage} (no exact per-choice count to compare with)"
    elif abs(usage - sum(counts)) <= 3:
        how = f"usage.completion_tokens={usage} = sum of the choices {counts}: summed over n (split per choice)"
    else:
        how = f"usage.completion_tokens={usage}, choices count {counts}: not a sum"
    return Check("supports n", "ok", "yes", f"n=3 returned {len(got)} choices; {how}; enable with eval --native-n")


async def _preflight_rows(model: Any) -> list[Check]:
    """What ``eval``'s pre-flight finds (:func:`depthbench.baselines._probe.prepare_openai`)."""
    from depthbench.baselines._probe import Needs, prepare_openai

    rows: list[Check] = []
    try:
        rec = await prepare_openai(model, Needs(continuation=True, temperature=1.0, top_p=1.0))
    except UserError as e:
        return [Check("pre-flight", "fail", "refused", str(e))]
    tmpl = (rec.get("continuation") or {}).get("chat_template")
    rows.append(Check("chat template", "ok" if tmpl else "info", "known" if tmpl else "unknown",
                      rec.get("chat_template_note", "")))
    think = rec.get("think")
    rows.append(Check("reasoning", "info", "<think>" if think else "none",
                      (f"delimiters from {think['source']}" + ("; the template opens <think> in the prompt"
                                                               if think["in_prompt"] else "")
                       + (f"; reasoning returned in message.{rec['reasoning_field']}" if rec.get("reasoning_field")
                          else "")) if think else "no <think> in the template and no reasoning field in replies"))
    smp = rec.get("sampler") or {}
    dropped = smp.get("dropped") or {}
    rows.append(Check("sampler fields", "ok" if not dropped else "info",
                      "all taken" if not dropped else f"{len(dropped)} dropped",
                      f"sends {', '.join(smp.get('sent') or [])}"
                      + (f"; dropped (neutral values, the server refused them): {', '.join(dropped)}" if dropped else "")
                      + f"; length field {rec.get('max_tokens_field')}"))
    defaults = rec.get("server_defaults")
    rows.append(Check("server defaults", "info", "read" if defaults else "unknown",
                      ", ".join(f"{k} {v}" for k, v in defaults.items()) + " (depthbench overrides them)"
                      if defaults else "not reported (no llama.cpp /props); depthbench sends every sampler field"))
    try:
        await model.generate(Request(max_tokens=1, temperature=0.7, top_p=1.0, seeds=(3,),
                                     messages=({"role": "user", "content": PROBE},)))
        rows.append(Check("temperature", "ok", "free", "any --temperature is sent as given"))
    except UserError as e:
        rows.append(Check("temperature", "warn", "fixed", f"{str(e)[:160]}"))
    except BackendError as e:
        rows.append(Check("temperature", "warn", "unknown", str(e)[:120]))
    cont = rec.get("continuation") or {}
    mode = cont.get("mode", "none")
    rows.append(Check("continuation", "ok" if mode != "none" else "warn", mode, cont.get("detail", "")))
    rows.append(_strategies_row(model.capabilities))
    return rows


def _strategies_row(caps: Any) -> Check:
    """Which strategies run as specified on a backend with these capabilities."""
    if not caps.new_text:
        return Check("strategies", "warn", "answers only",
                     "single, majority@N, pass@N, best_of@N:oracle|trace|noisy (recorded answers; no new text)")
    if caps.assistant_prefix:
        return Check("strategies", "ok", "all",
                     f"budget_forcing continues the assistant turn ({caps.continuation}); revision, majority, "
                     "best_of, pass, ratio, adaptive run as specified")
    return Check("strategies", "warn", "no budget_forcing",
                 f"budget_forcing (Wait) is refused: this endpoint cannot continue an assistant turn; use "
                 f"{ALTERNATIVES}; single, majority, best_of, pass, ratio and adaptive run as specified")


async def _doctor_local(model: Any) -> list[Check]:
    rows = [Check("loaded", "ok", model.name, "")]
    caps = model.capabilities
    rows.append(Check("capabilities", "info",
                      ", ".join(k for k in ("chat", "completions", "assistant_prefix", "native_n", "seed")
                                if getattr(caps, k)), ""))
    prepare = getattr(model, "prepare", None)
    if prepare is not None:
        try:
            rec = await prepare(None)
        except UserError as e:
            rows.append(Check("pre-flight", "fail", "refused", str(e)))
            return rows
        cont = rec.get("continuation") or {}
        tmpl = cont.get("chat_template") or {}
        rows.append(Check("continuation", "ok", cont.get("mode", "?"),
                          f"{cont.get('detail', '')}; chat template {tmpl.get('source', '?')}"))
        think = rec.get("think")
        rows.append(Check("reasoning", "info", "<think>" if think else "none",
                          f"delimiters from {think['source']}" if think else "no <think> in the chat template"))
        rows.append(Check("sampler", "info", "set", ", ".join(f"{k} {v}" for k, v in
                                                          ((rec.get("sampler") or {}).get("effective") or {}).items())))
    rows.append(_strategies_row(caps))
    if not caps.seed:
        rows.append(Check("honours seed", "info", "n/a", "replayed text does not depend on the seed"))
        return rows
    a = (await model.generate(_req(1234))).choices[0]
    b = (await model.generate(_req(1234))).choices[0]
    c = (await model.generate(_req(98765))).choices[0]
    rows.append(Check("token counts", "ok", a.token_source, f"{a.completion_tokens} tokens, finish {a.finish_reason}"))
    rows.append(_seed_check(a.text, b.text, c.text))
    n_ctx = getattr(model, "n_ctx", None)
    if n_ctx:
        rows.append(Check("context length", "ok", f"{n_ctx} tokens", ""))
    return rows


async def run_doctor(spec: str, *, base_url: str | list[str] | None = None, api_key: str | None = None,
                     timeout: float = 30.0, options: dict[str, Any] | None = None) -> list[Check]:
    """Probe the backend named by ``spec``; returns the table rows.

    Several base URLs (a list or a comma list) are probed one after the other, each
    row naming its server.

    Raises
    ------
    UserError
        Bad spec or options.
    """
    provider, _ = parse_model_spec(spec)
    if provider == "openai":
        from depthbench.baselines._openai import split_base_urls

        urls = split_base_urls(base_url) if base_url else [None]
        rows: list[Check] = []
        for k, url in enumerate(urls, 1):
            opts = {"backoff_base": 0.2, **(options or {})}
            model = load_model(spec, base_url=url, api_key=api_key, retries=1, timeout=timeout, concurrency=4, **opts)
            try:
                got = await _doctor_openai(model)
            finally:
                await model.aclose()
            if len(urls) > 1:
                got = [dataclasses.replace(r, server=f"{k}/{len(urls)}") for r in got]
            rows += got
        return rows
    if provider == "replay":
        model = load_model(spec)
        n = sum(len(v) for v in model.records.values())
        return [Check("replay file", "ok", f"{len(model.records)} items", f"{n} recorded completions"),
                _strategies_row(model.capabilities)]
    model = load_model(spec, **(options or {}))
    try:
        return await _doctor_local(model)
    finally:
        await model.aclose()


def format_table(rows: list[Check]) -> str:
    """Plain-text table: check, status, value, detail."""
    w1 = max(len(r.label) for r in rows)
    w3 = max(len(r.value) for r in rows)
    lines = [f"{'check':<{w1}}  status  {'value':<{w3}}  detail", f"{'-' * w1}  ------  {'-' * w3}  ------"]
    lines += [f"{r.label:<{w1}}  {r.status:<6}  {r.value:<{w3}}  {r.detail}" for r in rows]
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add the ``doctor`` command."""
    p = sub.add_parser("doctor", help="probe a model server: reachable, model name, seed, n, usage, context length, "
                                      "sampler, continuation mode, which strategies work",
                       description=__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else None)
    p.add_argument("--model", required=True, metavar="SPEC",
                   help="openai:MODEL | llamacpp:smollm2 | llamacpp:PATH.gguf | simulated[:k=v,...] | replay:FILE.jsonl")
    p.add_argument("--base-url", action="append", default=None, metavar="URL",
                   help="openai: server base URL (default: $OPENAI_BASE_URL); repeat it (or a comma list) to check "
                        "several servers")
    p.add_argument("--api-key", default=None, help="openai: API key (default: $OPENAI_API_KEY)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds (default 30)")
    p.add_argument("--model-args", default=None, metavar="JSON", help="backend options as in `depthbench eval`")
    p.add_argument("--extra-body", default=None, metavar="JSON", help="openai: request body fields as in `depthbench eval`")
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from depthbench.baselines._cli import model_options

    rows = asyncio.run(run_doctor(args.model, base_url=args.base_url, api_key=args.api_key, timeout=args.timeout,
                                  options=model_options(args)))
    print(format_table(rows))
    return exit_status(rows)


def exit_status(rows: list[Check]) -> int:
    """1 when any server is unreachable (a ``reachable`` row failed, whichever server), else 0."""
    return 1 if any(r.name == "reachable" and r.status == "fail" for r in rows) else 0
