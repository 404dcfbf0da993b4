"""The building blocks of ``depthbench doctor``: the probe request, the check rows, the
checks every backend gets through the model protocol (its pre-flight included: continuation
mode, reasoning delimiters, sampler), which strategies run as specified, and the table.

A backend adds its own checks (``@backend(doctor=...)``, e.g. the OpenAI-compatible
server's reachability, model list, context length and ``n`` support) from these pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from depthbench.baselines._protocol import Request
from depthbench.baselines.backends._continuation import ALTERNATIVES
from depthbench.errors import UserError

__all__ = ["PROBE", "PROBE_ITEM", "Check", "probe_request", "seed_check", "local_checks", "strategies_check",
           "format_table"]

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


def probe_request(seed: int, n: int = 1, max_tokens: int = 24) -> Request:
    """A short counting prompt at temperature 1 with the given seed."""
    return Request(max_tokens=max_tokens, temperature=1.0, top_p=1.0, seeds=(seed,) * n if n > 1 else (seed,),
                   n=n, messages=({"role": "user", "content": PROBE},), item=PROBE_ITEM)


def seed_check(a: str, b: str, c: str) -> Check:
    """Two texts from equal seeds (``a``, ``b``) and one from another seed (``c``)."""
    if a == b and a != c:
        return Check("honours seed", "ok", "yes", "equal seeds agree, different seeds differ (temperature 1)")
    if a != b:
        return Check("honours seed", "warn", "no",
                     "equal seeds gave different text: repeated runs are not reproducible")
    return Check("honours seed", "warn", "unclear", "different seeds gave the same text (deterministic sampler?)")


def strategies_check(caps: Any) -> Check:
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


async def local_checks(model: Any) -> list[Check]:
    """The checks every backend gets through the model protocol: capabilities, its
    pre-flight (``model.prepare``: continuation mode, chat template, reasoning delimiters,
    sampler), which strategies run, token counts, whether equal seeds agree and different
    seeds differ, context length."""
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
    rows.append(strategies_check(caps))
    if not caps.seed:
        rows.append(Check("honours seed", "info", "n/a", "replayed text does not depend on the seed"))
        return rows
    a = (await model.generate(probe_request(1234))).choices[0]
    b = (await model.generate(probe_request(1234))).choices[0]
    c = (await model.generate(probe_request(98765))).choices[0]
    rows.append(Check("token counts", "ok", a.token_source, f"{a.completion_tokens} tokens, finish {a.finish_reason}"))
    rows.append(seed_check(a.text, b.text, c.text))
    n_ctx = getattr(model, "n_ctx", None)
    if n_ctx:
        rows.append(Check("context length", "ok", f"{n_ctx} tokens", ""))
    return rows


def format_table(rows: list[Check]) -> str:
    """Plain-text table: check, status, value, detail."""
    w1 = max(len(r.label) for r in rows)
    w3 = max(len(r.value) for r in rows)
    lines = [f"{'check':<{w1}}  status  {'value':<{w3}}  detail", f"{'-' * w1}  ------  {'-' * w3}  ------"]
    lines += [f"{r.label:<{w1}}  {r.status:<6}  {r.value:<{w3}}  {r.detail}" for r in rows]
    return "\n".join(lines)
