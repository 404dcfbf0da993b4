"""Backend options from the command line: ``--model-args``, ``--extra-body``, ``--native-n``,
``--think-open`` (``depthbench eval`` and ``doctor``), checked against the backend registry."""

from __future__ import annotations

import argparse
import json
from typing import Any

from depthbench.baselines.backends import backends, check_model_args, get_backend, parse_model_spec
from depthbench.baselines.backends._tokenizer import load_tokenizer
from depthbench.errors import UserError

__all__ = ["json_object", "model_options"]


def json_object(flag: str, text: str | None) -> dict[str, Any]:
    """Parse a JSON-object flag value (``@FILE`` reads the object from a file).

    Raises
    ------
    UserError
        Unreadable file, invalid JSON, or not an object; the message names the flag.
    """
    if text is None:
        return {}
    src = text
    if text.startswith("@"):
        try:
            src = open(text[1:], encoding="utf-8").read()
        except OSError as e:
            raise UserError(f"{flag}: cannot read {text[1:]!r} ({e.strerror}); give a JSON object or @FILE") from None
    try:
        obj = json.loads(src)
    except ValueError as e:
        raise UserError(f"{flag}: not valid JSON ({e}); give one object, e.g. {flag} "
                        "'{\"chat_template_kwargs\": {\"enable_thinking\": false}}' (quote it for the shell)") from None
    if not isinstance(obj, dict):
        raise UserError(f"{flag}: must be a JSON object ({{...}}), got {type(obj).__name__}")
    return obj


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """Backend options from ``--model-args``, ``--extra-body``, ``--native-n``, ``--think-open`` and
    ``--tokenizer``, checked against the backend.

    Raises
    ------
    UserError
        Invalid JSON, an option the backend does not take, ``--extra-body`` for a backend
        that sends no request bodies, ``--native-n`` contradicting ``--model-args``, or a
        ``--tokenizer`` that cannot be read or that the backend does not use.
    """
    options = json_object("--model-args", getattr(args, "model_args", None))
    body = json_object("--extra-body", getattr(args, "extra_body", None))
    provider, _ = parse_model_spec(args.model)
    if body:
        if not get_backend(provider).remote:
            remote = ", ".join(n for n, b in sorted(backends().items()) if b.remote)
            raise UserError(f"--extra-body: only a remote backend ({remote}) sends request bodies, not --model "
                            f"{args.model}; drop --extra-body")
        if "extra_body" in options and options["extra_body"] != body:
            raise UserError("--extra-body: also given as extra_body in --model-args; give it once")
        options["extra_body"] = body
    if getattr(args, "native_n", False):
        if options.get("native_n") is False:
            raise UserError("--native-n: --model-args sets native_n false; give one of them")
        options["native_n"] = True
    if getattr(args, "think_open", False):
        options["opens_think"] = True
    if getattr(args, "tokenizer", None) is not None:
        # backends that count tokens themselves when a server reports none take a tokenizer path
        counting = [n for n, b in sorted(backends().items()) if b.option_types.get("tokenizer") == "string|null"]
        if provider not in counting:
            raise UserError(f"--tokenizer: only the {', '.join(counting)} backend counts tokens itself, not --model "
                            f"{args.model}; drop --tokenizer")
        load_tokenizer(args.tokenizer, what="--tokenizer")  # refuse a bad path before anything runs
        options["tokenizer"] = args.tokenizer
    check_model_args(args.model, options)
    return options
