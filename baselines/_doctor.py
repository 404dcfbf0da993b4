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

Which checks run is the backend's own declaration (``@backend(doctor=...)`` in the backend
registry, :mod:`depthbench.baselines.backends`); the building blocks are in
:mod:`depthbench.baselines._probe`.
"""

from __future__ import annotations

import argparse
from typing import Any

from depthbench._lazy import lazy
from depthbench.baselines._model_options import model_options
from depthbench.baselines._probe import Check, format_table, local_checks
from depthbench.baselines.backends import get_backend, load_model, model_spec_forms, parse_model_spec

asyncio = lazy("asyncio")
__all__ = ["register", "run_doctor", "Check", "format_table"]


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
    b = get_backend(provider)
    if b.doctor is not None:
        return await b.doctor(spec, base_url=base_url, api_key=api_key, timeout=timeout, options=options)
    model = load_model(spec, base_url=base_url, api_key=api_key, **(options or {}))
    try:
        return await local_checks(model)
    finally:
        await model.aclose()


def register(sub: Any) -> None:
    """Add the ``doctor`` command."""
    p = sub.add_parser("doctor", help="probe a model server: reachable, model name, seed, n, usage, context length, "
                                      "sampler, continuation mode, which strategies work",
                       description=__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else None)
    p.add_argument("--model", required=True, metavar="SPEC", help=" | ".join(model_spec_forms()))
    p.add_argument("--base-url", action="append", default=None, metavar="URL",
                   help="openai: server base URL (default: $OPENAI_BASE_URL); repeat it (or a comma list) to check "
                        "several servers")
    p.add_argument("--api-key", default=None, help="openai: API key (default: $OPENAI_API_KEY)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds (default 30)")
    p.add_argument("--model-args", default=None, metavar="JSON", help="backend options as in `depthbench eval`")
    p.add_argument("--extra-body", default=None, metavar="JSON", help="openai: request body fields as in `depthbench eval`")
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    rows = asyncio.run(run_doctor(args.model, base_url=args.base_url, api_key=args.api_key, timeout=args.timeout,
                                  options=model_options(args)))
    print(format_table(rows))
    return exit_status(rows)


def exit_status(rows: list[Check]) -> int:
    """1 when any server is unreachable (a ``reachable`` row failed, whichever server), else 0."""
    return 1 if any(r.name == "reachable" and r.status == "fail" for r in rows) else 0
