"""Replay backend: serve completions recorded elsewhere, for scoring outputs of other systems.

File format (``replay:FILE.jsonl``): one JSON object per line,

=====================  ========  ==========================================================
field                  required  meaning
=====================  ========  ==========================================================
``item_id``            yes       the dataset item's ``id``
``text``               yes       the completion (generated text only)
``sample``             no        sample index >= 0; default: the record's position among
                                 the item's records (0, 1, ...)
``finish_reason``      no        ``"stop"`` (default), ``"length"`` or ``"error"``
``completion_tokens``  no        generated tokens; if absent, counted (see below)
``prompt_tokens``      no        prompt tokens; if absent, counted
``role``               no        ``"answer"`` (default) or ``"step"``: one step of a step-wise
                                 search (``beam``, ``mcts``), served to the step call of its
                                 ``sample`` and ``round`` (both then required)
``round``              no        the step's round (step records only)
``item_sha256``        no        the content sha256 (``meta.content_sha256``) of the item the
                                 completion was made on; when present, serving it for an item
                                 of the same id but other content (another release) is refused
=====================  ========  ==========================================================

lm-evaluation-harness ``samples_*.jsonl`` files and inspect_ai ``.eval`` logs are read too
(:mod:`depthbench.baselines._foreign_logs`; their documents carry the item's record, so their
records get ``item_sha256`` from it).

Example::

    {"item_id": "graph_connectivity/test/0/3", "sample": 0, "text": "... Answer: 11", "finish_reason": "stop", "completion_tokens": 57}

Counts present in the file are reported with source ``"replay"``. Missing counts are
taken from ``tokenizer`` (a callable ``text -> int``) if given, else from a whitespace
split (one word = one token), and reported with source ``"tokenizer"``. Either way, ``eval``
bounds every count below by the text it stands for (completion and prompt,
:func:`depthbench.baselines._context.bound_reported` and ``bound_prompt``).

Which record answers a request: choice ``j`` gets sample ``request.samples[j]`` when the
caller passes sample indices, else the item's next unserved sample (in sample order).
Replay serves answer samples, and the step calls of a step-wise search from step records
(the search re-made with the same strategy, budget and seed asks for the same (sample, round)
keys, so a search is replayed exactly); a call whose role needs other new text (continuation,
revision, judging) and asking for a sample or step the file lacks are each a
:class:`~depthbench.errors.UserError`.
Budget: a record whose token count exceeds the call's ``max_tokens`` is served as a server
would have stopped it, with ``finish_reason`` ``"length"`` and ``max_tokens`` tokens charged,
and its text cut so that it never holds text past ``max_tokens`` tokens (see
:func:`cut_to_budget`): with ``tokenizer``, at the longest prefix that fits; with counts
from the whitespace rule, at ``max_tokens`` words (exact for that rule); with recorded counts
and no tokenizer, at ``max_tokens`` UTF-8 bytes (every token holds at least one byte), or
to nothing when the text holds fewer bytes than its recorded tokens (tokens the text does
not show, e.g. hidden reasoning, are taken to come first).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from depthbench.baselines._foreign_logs import foreign_records
from depthbench.baselines._probe import Check, strategies_check
from depthbench.baselines._protocol import FINISH_REASONS, Capabilities, Choice, Request, Response
from depthbench.baselines._roles import get_role, roles
from depthbench.baselines._stepwise import STEP_ROLE
from depthbench.baselines.backends._base import backend
from depthbench.baselines.backends._tokenizer import cut_to_budget
from depthbench.errors import UserError

__all__ = ["ReplayModel", "load_replay_file", "cut_to_budget"]


def load_replay_file(path: str | Path, step_records: dict[str, dict[tuple[int, int], dict[str, Any]]] | None = None
                     ) -> dict[str, dict[int, dict[str, Any]]]:
    """Read and validate a replay file; returns ``{item_id: {sample: record}}`` of the answer
    samples; the step records (``role: "step"``) go to ``step_records`` as
    ``{item_id: {(sample, round): record}}`` when it is given.

    Raises
    ------
    UserError
        Missing file, bad JSON, a missing or mistyped field, a duplicate (item_id, sample);
        the message names the line.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--model replay:{path}: file not found; give a JSONL file of recorded completions")
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    steps: dict[str, dict[tuple[int, int], dict[str, Any]]] = defaultdict(dict)
    foreign = foreign_records(p)  # an lm-eval samples file or an inspect log, as replay records
    with p.open(encoding="utf-8", errors="replace") as f:
        lines = ((i, json.dumps(r)) for i, r in enumerate(foreign, 1)) if foreign is not None else enumerate(f, 1)
        for lineno, line in lines:
            if not line.strip():
                continue
            where = f"replay file {path} line {lineno}" if foreign is None else f"{path} record {lineno}"
            try:
                rec = json.loads(line)
            except ValueError:
                raise UserError(f"{where}: not valid JSON; fix or remove the line") from None
            if not isinstance(rec, dict):
                raise UserError(f"{where}: expected a JSON object")
            if not isinstance(rec.get("item_id"), str) or not rec["item_id"]:
                raise UserError(f"{where}: item_id must be a non-empty string")
            if not isinstance(rec.get("text"), str):
                raise UserError(f"{where}: text must be a string")
            rec.setdefault("finish_reason", "stop")
            if rec["finish_reason"] not in FINISH_REASONS:
                raise UserError(f"{where}: finish_reason must be one of {', '.join(FINISH_REASONS)}")
            sha = rec.get("item_sha256")
            if sha is not None and not (isinstance(sha, str) and len(sha) == 64
                                        and all(c in "0123456789abcdef" for c in sha)):
                raise UserError(f"{where}: item_sha256 must be the item's content sha256 (64 lowercase hex digits)")
            for key in ("completion_tokens", "prompt_tokens"):
                v = rec.get(key)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                    raise UserError(f"{where}: {key} must be an integer >= 0")
            role = rec.get("role", "answer")
            if role not in ("answer", STEP_ROLE):
                raise UserError(f"{where}: role must be 'answer' (a sample of the prompt) or '{STEP_ROLE}' (a step of a "
                                "step-wise search), got {role!r}")
            if role == STEP_ROLE:
                s, r = rec.get("sample"), rec.get("round")
                if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (s, r)):
                    raise UserError(f"{where}: a step record needs integer sample and round >= 0")
                if (s, r) in steps[rec["item_id"]]:
                    raise UserError(f"{where}: duplicate step (sample {s}, round {r}) for item {rec['item_id']!r}")
                steps[rec["item_id"]][(s, r)] = rec
                continue
            samples = out[rec["item_id"]]
            s = rec.get("sample", len(samples))
            if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                raise UserError(f"{where}: sample must be an integer >= 0")
            if s in samples:
                raise UserError(f"{where}: duplicate sample {s} for item {rec['item_id']!r}")
            samples[s] = rec
    if not out and not steps:
        raise UserError(f"--model replay:{path}: the file holds no records")
    if step_records is not None:
        step_records.update(steps)
    return dict(out)




async def _doctor(spec: str, **_: Any) -> list[Check]:
    """``depthbench doctor`` for a replay file: how many items and completions it holds."""
    records = load_replay_file(spec.partition(":")[2])
    n = sum(len(v) for v in records.values())
    return [Check("replay file", "ok", f"{len(records)} items", f"{n} recorded completions"),
            strategies_check(ReplayModel.capabilities)]


@backend("replay", forms=("replay:FILE.jsonl", "replay:LOG (lm-eval samples_*.jsonl or an inspect .eval log)"),
         token_source="replay if the file has counts, else tokenizer",
         summary="serve completions recorded elsewhere: depthbench replay JSONL, lm-eval or inspect logs "
                 "(answer samples only)",
         options={"tokenizer": "callable text -> tokens for records without counts (default: whitespace words)"},
         option_types={"tokenizer": "python"},
         doctor=_doctor)
class ReplayModel:
    """Serve recorded completions (see the module docstring for the file format).

    Parameters
    ----------
    path : str or Path
        The JSONL file.
    tokenizer : callable, optional
        ``text -> token count`` for records without counts; default whitespace words.
    """

    capabilities = Capabilities(chat=True, completions=True, assistant_prefix=False, native_n=True, seed=False,
                                continuation="none", new_text=False)

    def __init__(self, path: str | Path, *, tokenizer: Callable[[str], int] | None = None) -> None:
        self.path = str(path)
        self.name = f"replay:{path}"
        self.steps: dict[str, dict[tuple[int, int], dict[str, Any]]] = {}
        self.records = load_replay_file(path, self.steps)
        if self.steps:  # a file of recorded steps serves a step-wise search's step calls
            self.capabilities = dataclasses.replace(type(self).capabilities, steps=True)
        self._tokenizer = tokenizer
        self._count = tokenizer or (lambda text: len(text.split()))
        self._next: dict[str, int] = defaultdict(int)

    @property
    def tokenizer(self) -> Callable[[str], int] | None:
        """The local tokenizer given, if any (what a corrected count uses, see _context)."""
        return self._tokenizer

    def generate_sync(self, request: Request) -> Response:
        """Synchronous :meth:`generate`."""
        t0 = time.perf_counter()
        item_id = (request.item or {}).get("id")
        if not item_id:
            raise UserError("replay backend: request.item with an 'id' is needed to find the recorded completion")
        if request.role == STEP_ROLE:
            return self._serve_steps(request, item_id, t0)
        if not get_role(request.role).replayable:
            ok = ", ".join(r.name for r in roles().values() if r.replayable)
            raise UserError(f"replay backend: a strategy asked for a {request.role!r} call, which needs new text; "
                            f"replay serves recorded samples of the prompt only (roles {ok}): use single, "
                            "majority@N, pass@N or best_of@N:oracle|trace|noisy")
        recs = self.records.get(item_id)
        if recs is None:
            raise UserError(f"replay file {self.path}: no record for item {item_id!r}; "
                            "evaluate only the items the file covers (e.g. the dataset it was made for)")
        order = sorted(recs)
        if request.samples is not None:
            wanted = list(request.samples)
        else:
            start = self._next[item_id]
            wanted = order[start:start + request.n]
            self._next[item_id] = start + request.n
        choices = []
        prompt_tokens = None
        for j in range(request.n):
            s = wanted[j] if j < len(wanted) else None
            if s is None or s not in recs:
                raise UserError(f"replay file {self.path}: item {item_id!r} has samples {order}; "
                                f"sample {s if s is not None else len(order)} was asked for; lower N or record more samples")
            rec = recs[s]
            self._check_item(rec, request.item)
            choices.append(self._choice(rec, request.max_tokens))
            if prompt_tokens is None and isinstance(rec.get("prompt_tokens"), int):
                prompt_tokens = rec["prompt_tokens"]
        return self._response(request, choices, prompt_tokens, t0)

    def _choice(self, rec: dict[str, Any], max_tokens: int) -> Choice:
        """One recorded completion served under ``max_tokens`` (cut as a server would stop)."""
        text = rec["text"]
        if isinstance(rec.get("completion_tokens"), int):
            k, src = rec["completion_tokens"], "replay"
        else:
            k, src = self._count(text), "tokenizer"
        finish = rec["finish_reason"]
        if k > max_tokens:
            # As a server would: stop at the cap, never serving text past it.
            if src == "tokenizer" and self._tokenizer is None:  # counted as whitespace words: exact
                text = " ".join(text.split()[:max_tokens])
            else:
                text = cut_to_budget(text, k, max_tokens, self._tokenizer)
            k, finish = max_tokens, "length"
        return Choice(text=text, finish_reason=finish, completion_tokens=int(k), token_source=src, seed=None)

    def _response(self, request: Request, choices: list[Choice], prompt_tokens: int | None, t0: float) -> Response:
        psource = "replay"
        if prompt_tokens is None:
            prompt_tokens, psource = self._count(request.sent_text()), "tokenizer"
        return Response(choices=tuple(choices), prompt_tokens=int(prompt_tokens), prompt_token_source=psource,
                        latency_s=time.perf_counter() - t0, attempts=1, model=self.name)

    def _serve_steps(self, request: Request, item_id: str, t0: float) -> Response:
        """A step call of a step-wise search: the recorded step of each (sample, round) asked for."""
        recs = self.steps.get(item_id, {})
        samples = request.samples if request.samples is not None else tuple(range(request.n))
        choices, prompt_tokens = [], None
        for s in samples:
            rec = recs.get((s, request.round))
            if rec is None:
                raise UserError(f"replay file {self.path}: no recorded step for item {item_id!r}, sample {s}, round "
                                f"{request.round}; replay a step-wise search with the strategy, budget and seed it "
                                "was recorded with")
            self._check_item(rec, request.item)
            choices.append(self._choice(rec, request.max_tokens))
            if prompt_tokens is None and isinstance(rec.get("prompt_tokens"), int):
                prompt_tokens = rec["prompt_tokens"]
        return self._response(request, choices, prompt_tokens, t0)

    def _check_item(self, rec: dict[str, Any], item: Any) -> None:
        """A record bound to an item (``item_sha256``) is served only for that item's content: ids repeat
        across releases, so a file recorded on one release is never scored against another's items."""
        sha = rec.get("item_sha256")
        want = ((item or {}).get("meta") or {}).get("content_sha256")
        if sha is not None and isinstance(want, str) and sha != want:
            raise UserError(f"replay file {self.path}: the record for item {rec['item_id']!r} was made on another item "
                            f"of that id (item_sha256 {sha[:12]}..., the dataset's item has {want[:12]}...): replay it on "
                            "the dataset it was recorded on (e.g. the release it names)")

    async def generate(self, request: Request) -> Response:
        """Serve the recorded choices for ``request`` (see :class:`~depthbench.baselines.Model`)."""
        return self.generate_sync(request)

    async def aclose(self) -> None:
        """Nothing to release."""
