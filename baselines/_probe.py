"""The building blocks of ``depthbench doctor``: the probe request, the check rows, the
checks every backend gets through the model protocol, and the table.

A backend adds its own checks (``@backend(doctor=...)``, e.g. the OpenAI-compatible
server's reachability, model list, context length and ``n`` support) from these pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from depthbench.baselines._protocol import Request

__all__ = ["PROBE", "PROBE_ITEM", "Check", "probe_request", "seed_check", "local_checks", "format_table"]

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


async def local_checks(model: Any) -> list[Check]:
    """The checks every backend gets through the model protocol: capabilities, token
    counts, whether equal seeds agree and different seeds differ, context length."""
    rows = [Check("loaded", "ok", model.name, "")]
    caps = model.capabilities
    rows.append(Check("capabilities", "info",
                      ", ".join(k for k in ("chat", "completions", "assistant_prefix", "native_n", "seed")
                                if getattr(caps, k)), ""))
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
    w1 = max(len(r.name) for r in rows)
    w3 = max(len(r.value) for r in rows)
    lines = [f"{'check':<{w1}}  status  {'value':<{w3}}  detail", f"{'-' * w1}  ------  {'-' * w3}  ------"]
    lines += [f"{r.name:<{w1}}  {r.status:<6}  {r.value:<{w3}}  {r.detail}" for r in rows]
    return "\n".join(lines)
