"""The simulated reasoner as a backend: the model of :mod:`depthbench.baselines._simulated_theory`
written out as text.

The reasoner walks an item's gold solution trace one step at a time and writes text such as::

    Step 1: node=4 so then next carry on so then
    Step 2: node=9 so then next carry on so then next
    Answer: 9

Each step's content is the family's own rendering of the gold step
(``Family.format_step``; ``node=4``, ``x3=4``, ``key_a:RRD``), so the trace verifier reads
the steps back with the family's stated-step rule. A plan's trace (a key, a door per stage
and the goal) is written as one step per stage from the start (``door_a:RRDDU``, the last
``goal:...``), so the written steps are the whole plan and the grid's own move check
(``Family.env_check``) can judge each of them; the grid's trace rule (``trace_first_error``)
reads a stage step as covering the gold subgoals up to the one it names. Step lengths,
errors, guesses, drift and correlation follow the model in
:mod:`depthbench.baselines._simulated_theory`, whose closed forms the text reproduces (tested).

Continuation: when a request carries earlier output (``assistant_prefix``, or a raw
``prompt`` containing ``Step 1: ...``), the reasoner parses the steps already written
(comparing each with the gold trace to know whether it is still on track) and resumes
from there; after a complete chain it re-checks under the drift hazard (``Check k: ...``
lines). Earlier output ending in ``Answer:`` (a forced answer) gets just the answer token:
the chain's answer if the chain is complete, else a guess. Earlier attempts given only as
chat history (as in self-revision rounds) are not read: each such round is a fresh chain.
This is what makes budget forcing and self-revision meaningful in simulation.

Answer spaces: ``{"labels": [...]}`` (``K = len(labels)``), ``{"modulus": m}`` (``K = m``),
``{"moves": "UDLR"}`` (plans: unbounded; wrong plans are treated as all distinct and a
guess is a random move string of the gold plan's length, correct only if equal to it).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from depthbench._lazy import lazy
from depthbench.baselines._feedback import (
    critique_text,
    is_author_request,
    is_critic_request,
    kept_steps,
    read_critique,
    shown_solutions,
)
from depthbench.baselines._protocol import Capabilities, Choice, Request, Response
from depthbench.baselines._simulated_theory import ANSWER_TOKENS, SimulatedParams, count_tokens
from depthbench.baselines.backends._base import BadSpec, backend
from depthbench.baselines.backends._tokenizer import Tokenizer
from depthbench.errors import UserError
from depthbench.generators import get_family

np = lazy("numpy")
__all__ = ["SimulatedModel"]

_FILLER = ("so", "then", "next", "carry", "on")
_MASK63 = (1 << 63) - 1
_SHARED_TAG = 0x5EED_C0DE
#: (item, prefix) entries of the shared-chain cache before it is emptied
_SHARED_CACHE_SIZE = 1 << 16
_STEP_RE = re.compile(r"(?m)^(Step|Check) (\d+): (\S*)")
_ANSWER_RE = re.compile(r"(?m)^Answer: (\S*)")


# --------------------------------------------------------------------------- item view


@dataclass(frozen=True)
class _ItemView:
    key: int
    depth: int
    contents: tuple[str, ...]   # gold content token of steps 1..depth
    answer: str
    kind: str                   # "labels" | "modulus" | "moves" | "open"
    labels: tuple[str, ...]
    modulus: int
    num_nodes: int

    @property
    def n_answers(self) -> int | None:
        if self.kind == "labels":
            return len(self.labels)
        if self.kind == "modulus":
            return self.modulus
        return None


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little") & _MASK63


def _step_formatter(item: Mapping[str, Any]) -> Any:
    """The family's ``format_step`` (a registered ``meta.family``), else a compact JSON rendering
    (hand-made items such as the doctor's probe)."""
    name = (item.get("meta") or {}).get("family")
    if isinstance(name, str):
        try:
            return get_family(name).format_step
        except UserError:
            pass
    return lambda entry: json.dumps(entry, sort_keys=True, separators=(",", ":")).replace(" ", "_")


def _solved(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """An item without answer (a hidden split's prompt) completed by its family's certifier.

    The reasoner walks the gold trace; a prompt carries the instance but no answer or trace,
    so the independent solver of the family named by ``meta.family`` computes both first
    (what a model must do anyway). An item with no registered family is left as it is.
    """
    if "answer" in item or not isinstance(item.get("instance"), Mapping):
        return item
    name = (item.get("meta") or {}).get("family")
    if not isinstance(name, str):
        return item
    try:
        cert = get_family(name).certify(item["instance"])
    except (UserError, KeyError, TypeError, ValueError):
        return item
    return {**item, "answer": cert.answer, "solution_trace": list(cert.solution_trace)}


def _stage_steps(trace: list[Any], depth: int) -> list[Any]:
    """A plan's gold trace (``{"subgoal", "moves"}`` per key, door and the goal: ``2d + 1``
    entries at depth ``d``) as ``d`` stage steps that cover the whole plan from the start:
    stage ``k`` walks to key ``k`` and through door ``k`` (named by its door), the last one on
    to the goal. So every written step continues from where the previous one ended, and the
    grid's own move check (``Family.env_check``) can judge it. Other traces are unchanged."""
    if not (depth and len(trace) == 2 * depth + 1
            and all(isinstance(e, Mapping) and isinstance(e.get("moves"), str) for e in trace)):
        return trace
    groups = [trace[2 * k:2 * k + 2] for k in range(depth - 1)] + [trace[2 * depth - 2:]]
    return [{"subgoal": g[-1]["subgoal"], "moves": "".join(e["moves"] for e in g)} for g in groups]


def _item_view(item: Mapping[str, Any] | None) -> _ItemView:
    if item is None:
        raise UserError("simulated backend: request.item is missing; pass the dataset item in Request(item=...)")
    item = _solved(item)
    try:
        depth = int(item["depth"])
        answer = str(item["answer"])
    except (KeyError, TypeError, ValueError):
        raise UserError("simulated backend: item needs integer 'depth' and an 'answer' (or an 'instance' its family "
                        "can solve); pass a depthbench item") from None
    if depth < 0:
        raise UserError(f"simulated backend: item depth must be >= 0, got {depth}")
    trace = _stage_steps(list(item.get("solution_trace") or []), depth)
    tail = trace[-depth:] if depth else []
    fmt = _step_formatter(item)
    contents = [fmt(e) for e in tail]
    contents = [f"substep_{k + 1}" for k in range(depth - len(contents))] + contents
    meta = item.get("meta") or {}
    space = meta.get("answer_space") or {}
    labels: tuple[str, ...] = ()
    modulus = 0
    if "labels" in space:
        labels, kind = tuple(str(x) for x in space["labels"]), "labels"
    elif "modulus" in space:
        modulus, kind = int(space["modulus"]), "modulus"
    elif "moves" in space or item.get("answer_type") == "plan":
        kind = "moves"
    else:
        kind = "open"
    inst = item.get("instance") or {}
    key = _stable_int(str(item.get("id") or json.dumps(item, sort_keys=True, default=str)))
    return _ItemView(key, depth, tuple(contents), answer, kind, labels, modulus, int(inst.get("num_nodes", 0) or 0))


def _corrupt(content: str, rng: np.random.Generator, view: _ItemView) -> str:
    """A plausible but wrong version of one step's content token."""
    head, sep, val = content.rpartition("=")
    if sep and val.lstrip("-").isdigit():
        v = int(val)
        if view.modulus > 1:
            return f"{head}={(v + int(rng.integers(1, view.modulus))) % view.modulus}"
        if view.num_nodes > 1:
            return f"{head}={(v + int(rng.integers(1, view.num_nodes))) % view.num_nodes}"
        return f"{head}={v + int(rng.integers(1, 10))}"
    head, sep, moves = content.rpartition(":")
    if sep and moves and set(moves) <= set("UDLR"):
        i = int(rng.integers(len(moves)))
        return f"{head}:{moves[:i]}{'UDLR'[('UDLR'.index(moves[i]) + 1) % 4]}{moves[i + 1:]}"
    return content + "'"


def _wrong_answer(rng: np.random.Generator, view: _ItemView) -> str:
    if view.kind == "labels" and len(view.labels) > 1:
        others = [x for x in view.labels if x != view.answer] or list(view.labels)
        return others[int(rng.integers(len(others)))]
    if view.kind == "modulus" and view.modulus > 1:
        a = int(view.answer) if view.answer.lstrip("-").isdigit() else 0
        return str((a + int(rng.integers(1, view.modulus))) % view.modulus)
    if view.kind == "moves":
        moves = view.answer or "U"
        i = int(rng.integers(len(moves)))
        extra = "".join("UDLR"[j] for j in rng.integers(0, 4, size=int(rng.integers(1, 4))))
        return moves[:i] + "UDLR"[("UDLR".index(moves[i]) + 1) % 4 if moves[i] in "UDLR" else 0] + moves[i + 1:] + extra
    return view.answer + "_wrong" + str(int(rng.integers(1000)))


def _guess(rng: np.random.Generator, view: _ItemView) -> str:
    if view.kind == "labels" and view.labels:
        return view.labels[int(rng.integers(len(view.labels)))]
    if view.kind == "modulus" and view.modulus > 0:
        return str(int(rng.integers(view.modulus)))
    if view.kind == "moves":
        return "".join("UDLR"[j] for j in rng.integers(0, 4, size=max(1, len(view.answer))))
    return "unknown"


# --------------------------------------------------------------------------- generation


@dataclass
class _State:
    steps_done: int = 0
    wrong: bool = False
    answered: bool = False


def _find_prefix(request: Request) -> str:
    if request.prompt is not None:
        m = re.search(r"(?m)^Step 1: ", request.prompt)
        return request.prompt[m.start():] if m else ""
    return request.assistant_prefix or ""


def _parse_prefix(prefix: str, view: _ItemView) -> _State:
    st = _State()
    for kind, k, content in _STEP_RE.findall(prefix):
        k = int(k)
        if not 1 <= k <= view.depth:
            continue
        if content != view.contents[k - 1]:
            st.wrong = True
        if kind == "Step" and k == st.steps_done + 1:
            st.steps_done = k
    st.answered = _ANSWER_RE.search(prefix) is not None
    return st


def _line(label: str, k: int, content: str, length: int) -> str:
    words = [label, f"{k}:", content] + [_FILLER[i % len(_FILLER)] for i in range(length - 3)]
    return " ".join(words)


def _one_choice(view: _ItemView, prefix: str, max_tokens: int, p: SimulatedParams,
                rng: np.random.Generator, base: str | None = None) -> tuple[str, str]:
    """Generate one choice's text; returns (text, finish_reason) before stop-string handling.

    ``base`` (a step boundary of ``prefix``, whose steps ``prefix`` extends along the chain
    ``rng`` writes after ``base``): the steps of ``prefix`` beyond ``base`` are replayed (their
    draws made, nothing written, no budget spent), so the text is the rest of that chain.
    """
    lo, width = p.tokens_per_step - p.spread, 2 * p.spread

    def step_len() -> int:
        return lo + int(rng.binomial(width, 0.5)) if width else lo

    if base is None:
        st = _parse_prefix(prefix, view)
    else:
        st = _parse_prefix(base, view)
        for k in range(st.steps_done + 1, _parse_prefix(prefix, view).steps_done + 1):
            step_len()
            if not st.wrong and rng.random() < p.eps:
                st.wrong = True
            if st.wrong:
                _corrupt(view.contents[k - 1], rng, view)
            st.steps_done = k
        st.answered = _ANSWER_RE.search(prefix) is not None
    lines: list[str] = []
    used = 0
    d = view.depth
    if prefix.rstrip().endswith("Answer:"):  # the caller forces the answer now: just the answer token
        if st.steps_done < d:
            answer = _guess(rng, view)
        else:
            answer = _wrong_answer(rng, view) if st.wrong else view.answer
        if max_tokens < 1:
            return "", "length"
        return ("" if prefix[-1].isspace() else " ") + answer, "stop"
    if st.steps_done < d:
        for k in range(st.steps_done + 1, d + 1):
            L = step_len()
            if used + L + ANSWER_TOKENS > max_tokens:
                break
            if not st.wrong and rng.random() < p.eps:
                st.wrong = True
            content = _corrupt(view.contents[k - 1], rng, view) if st.wrong else view.contents[k - 1]
            lines.append(_line("Step", k, content, L))
            used += L
            st.steps_done = k
        if st.steps_done < d:
            answer = _guess(rng, view)
        else:
            answer = _wrong_answer(rng, view) if st.wrong else view.answer
    else:
        if st.answered:  # forced past the natural stop: re-check under the drift hazard
            for k in range(1, d + 1):
                L = step_len()
                if used + L + ANSWER_TOKENS > max_tokens:
                    break
                if not st.wrong and p.drift > 0 and rng.random() < -math.expm1(L * math.log1p(-p.drift)):
                    st.wrong = True
                content = _corrupt(view.contents[k - 1], rng, view) if st.wrong else view.contents[k - 1]
                lines.append(_line("Check", k, content, L))
                used += L
            if not st.wrong and p.drift > 0 and rng.random() < -math.expm1(ANSWER_TOKENS * math.log1p(-p.drift)):
                st.wrong = True
        answer = _wrong_answer(rng, view) if st.wrong else view.answer
    lines.append(f"Answer: {answer}")
    text = "\n".join(lines)
    if prefix and not prefix[-1].isspace():
        text = "\n" + text
    words = text.split()
    if len(words) > max_tokens:  # only when max_tokens < 2: the answer line itself does not fit
        cut = _cut_after_words(text, max_tokens)
        return cut, "length"
    return text, "stop"


def _cut_after_words(text: str, n: int) -> str:
    if n <= 0:
        return ""
    it = list(re.finditer(r"\S+", text))
    return text[: it[n - 1].end()] if len(it) >= n else text


def _apply_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


_WORD = re.compile(r"\S+")
#: longest word the simulated reasoner writes (a plan of moves is its longest content token)
_SIM_MAX_WORD = 256
_SIM_LINE = re.compile(r"(?:(?:Step|Check) [0-9]+: \S*(?: (?:so|then|next|carry|on))*|Answer: \S+"
                       r"|Critique: keep [0-9]+ steps? of solution [0-9]+(?: (?:so|then|next|carry|on))*)")
_SIM_PREFIX = re.compile(r"(?:(?:Step|Check) [0-9]+:(?: \S+(?: (?:so|then|next|carry|on))*)?|Answer:|Step|Check"
                         r"|Critique:(?: (?:keep|steps?|of|solution|[0-9]+))*)")


def _words(text: str) -> int:
    """Whitespace-separated words of ``text`` (:func:`count_tokens`, without building a list)."""
    return _WORD.subn("", text)[1]


def simulated_text_problem(text: str, role: str) -> str | None:
    """Why ``text`` is not output of the simulated reasoner (None when it is).

    Its chains are lines ``Step k: <content> <filler...>``, ``Check k: ...`` and a final
    ``Answer: X``; a critic's reply is one line ``Critique: keep K steps of solution J
    <filler...>``; a forced answer (role ``force_answer``) is the answer token alone; the
    last line may be cut at a word (the token cap).
    """
    if role == "force_answer":
        return None if _words(text) <= 1 and len(text) <= _SIM_MAX_WORD + 2 else "a forced answer is one word"
    lines = text.strip("\n").split("\n") if len(text) <= (1 << 20) else None
    if lines is None:
        return "longer than any simulated chain"
    if lines == [""]:
        return None
    for k, line in enumerate(lines):
        last = k == len(lines) - 1
        if _SIM_LINE.fullmatch(line) or (last and _SIM_PREFIX.fullmatch(line)):
            continue
        return f"line {k + 1} {line[:40]!r} is not 'Step k: ...', 'Check k: ...', 'Critique: ...' or 'Answer: X'"
    return None


#: the word rule as the submission validator applies it: exact, and only to the reasoner's own texts
WORD_RULE = Tokenizer(name="simulated word rule", count=_words, max_token_bytes=_SIM_MAX_WORD,
                      source="simulated backend", exact=True, grammar=simulated_text_problem)


def _recount(kind: str, spec: str, model_name: str) -> Tokenizer | None:
    """The word rule, only for a model named ``simulated...`` declared ``endpoint.kind: simulated``."""
    return WORD_RULE if kind == "simulated" and str(model_name).startswith("simulated") else None


@backend("simulated", forms=("simulated[:eps=0.02,tokens_per_step=12,spread=3,drift=0.0,rho=0.0]",),
         needs_rest=False, token_source="simulated (a token = a whitespace-separated word)",
         summary="the simulated step-wise reasoner (a calibrated reference model with closed forms)",
         options={"eps": "per-step error probability", "tokens_per_step": "mean tokens per step",
                  "spread": "step length spread", "drift": "hazard per forced token",
                  "rho": "probability a sample copies the item's shared (default) continuation"},
         recount=_recount)
class SimulatedModel:
    """The simulated reasoner as a :class:`~depthbench.baselines.Model` backend.

    Parameters
    ----------
    params : SimulatedParams, optional
        Reasoner parameters (defaults: ``eps=0.02, tokens_per_step=12, spread=3``).
    **options
        Alternatively the parameters as keyword options (``eps=0.05``).

    Notes
    -----
    Reads ``request.item`` (``depth``, ``solution_trace``, ``answer``,
    ``meta.answer_space``); an item without answer (a hidden split's prompt) is first
    solved from its ``instance`` by the certifier of its ``meta.family``. Deterministic: the
    text of choice ``i`` depends only on ``request.seeds[i]``, the item id, the earlier
    output (continuation), ``max_tokens`` and the parameters. Cost: O(depth) per choice.

    Correlation ``rho``: with probability ``rho`` a choice *copies*, i.e. writes the item's
    default continuation instead of its own draw. The default continuations form one
    deterministic tree per item: from the empty prefix it is the item's shared chain ``S``
    (what every copying whole-chain sample writes); a prefix of ``Step 1..k`` lines that
    extends along ``S`` continues with the rest of ``S``; at the first step where the prefix
    departs from it, the shared stream is re-keyed on the prefix ending with that step, and
    so on. So a step call (stop at the next step line, as beam search and MCTS make) that
    copies writes the next step of that tree, a chain built only from copying step calls is
    ``S``, and step-wise and whole-chain strategies see the same correlation. The law of one
    chain is the same at every ``rho`` (each step's draws are fresh given the steps before).
    Any other prefix (a budget-forcing transcript) keys the shared stream on itself. Cost of
    a copying step call: O(depth) per re-keying, the shared chains cached per (item, prefix).
    """

    capabilities = Capabilities(chat=True, completions=True, assistant_prefix=True, native_n=True, seed=True,
                                continuation="simulated")
    #: token counts are the reasoner's own rule, computed here (not bounded, see _context)
    counts_locally = True

    @staticmethod
    def _kv_options(rest: str) -> dict[str, Any]:
        kv: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            k, eq, v = part.partition("=")
            if not eq or not k.strip():
                raise BadSpec(f"simulated option {part!r} is not key=value")
            kv[k.strip()] = v.strip()
        return kv

    @classmethod
    def from_spec(cls, rest: str, **options: Any) -> "SimulatedModel":
        """``simulated:k=v,...``: the options after the colon, overridden by keyword options."""
        return cls(**{**cls._kv_options(rest), **options})

    @classmethod
    def check_spec(cls, rest: str) -> None:
        """Check ``simulated:k=v,...`` (names and valid ranges) without building a model.

        Raises
        ------
        BadSpec
            A part that is not ``key=value``.
        UserError
            An unknown option or a value out of range (named with its range).
        """
        SimulatedParams.from_options(cls._kv_options(rest))

    def __init__(self, params: SimulatedParams | None = None, **options: Any) -> None:
        self.params = params if params is not None else SimulatedParams.from_options(options)
        p = self.params
        self._shared_cache: dict[tuple[int, str], list[str]] = {}
        self.name = (f"simulated:eps={p.eps:g},tokens_per_step={p.tokens_per_step},spread={p.spread},"
                     f"drift={p.drift:g},rho={p.rho:g}")

    def generate_sync(self, request: Request) -> Response:
        """Synchronous :meth:`generate` (the work is pure CPU and takes microseconds)."""
        t0 = time.perf_counter()
        view = _item_view(request.item)
        prefix = _find_prefix(request)
        prefix_key = _stable_int(prefix)
        choices = []
        mode = _feedback_mode(request)
        for seed in request.seeds:
            own = np.random.default_rng([int(seed) & _MASK63, view.key, prefix_key])
            rng, base = own, None
            if self.params.rho > 0 and own.random() < self.params.rho:
                base = self._default_base(view, prefix) if mode is None else None
                rng = np.random.default_rng([_SHARED_TAG, view.key, _stable_int(prefix if base is None else base)])
            if mode is not None:
                text, finish = _feedback_choice(view, mode, request.max_tokens, self.params, rng, copying=rng is not own)
            else:
                text, finish = _one_choice(view, prefix, request.max_tokens, self.params, rng, base)
            text, stopped = _apply_stop(text, request.stop)
            if stopped:
                finish = "stop"
            choices.append(Choice(text=text, finish_reason=finish, completion_tokens=count_tokens(text),
                                  token_source="simulated", seed=int(seed)))
        if request.messages is not None:
            prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in request.messages)
            prompt_tokens += count_tokens(request.assistant_prefix or "")
        else:
            prompt_tokens = count_tokens(request.prompt or "")
        return Response(choices=tuple(choices), prompt_tokens=prompt_tokens, prompt_token_source="simulated",
                        latency_s=time.perf_counter() - t0, attempts=1, model=self.name)

    def _shared_steps(self, view: _ItemView, base: str) -> list[str]:
        """The step lines the shared stream keyed on ``base`` writes after ``base`` (no budget cut)."""
        key = (view.key, base)
        got = self._shared_cache.get(key)
        if got is None:
            rng = np.random.default_rng([_SHARED_TAG, view.key, _stable_int(base)])
            text, _ = _one_choice(view, base, 1 << 40, self.params, rng)
            got = [ln for ln in text.split("\n") if ln.startswith("Step ")]
            if len(self._shared_cache) >= _SHARED_CACHE_SIZE:
                self._shared_cache.clear()
            self._shared_cache[key] = got
        return got

    def _default_base(self, view: _ItemView, prefix: str) -> str | None:
        """Where the default continuation of ``prefix`` is keyed (see the class Notes).

        Walks from the empty prefix along the shared chain; at the first step where ``prefix``
        departs from it, re-keys on the prefix ending with that step, and so on. Returns that
        last key (a step boundary: its step lines joined by newlines, ``""`` for none), or None
        when ``prefix`` is not a plain run of ``Step 1..k`` lines (then copying is keyed on
        ``prefix`` itself, as for any other continuation).
        """
        lines = prefix.split("\n")
        if lines and lines[-1] in ("", "Answer:"):
            lines = lines[:-1]
        if len(lines) > view.depth or any(not ln.startswith(f"Step {k}: ") for k, ln in enumerate(lines, 1)):
            return None
        base_n, shared = 0, self._shared_steps(view, "")
        for k, ln in enumerate(lines, 1):
            if k - base_n > len(shared) or shared[k - base_n - 1] != ln:
                base_n = k
                shared = self._shared_steps(view, "\n".join(lines[:k]))
        return "\n".join(lines[:base_n])

    async def generate(self, request: Request) -> Response:
        """Run one request (see :class:`~depthbench.baselines.Model`)."""
        return self.generate_sync(request)

    async def aclose(self) -> None:
        """Nothing to release."""


# --------------------------------------------------------------------------- critic and author (evolve, revision_feedback)


@dataclass(frozen=True)
class _FeedbackMode:
    """A critic or author request of the conversation in :mod:`depthbench.baselines._feedback`."""

    role: str                                   # "critic" | "author"
    solutions: dict[int, tuple[str, str]]      # number -> (text, feedback) shown to the critic
    critique: tuple[int, int] | None = None     # author: (steps to keep, solution number)


def _feedback_mode(request: Request) -> _FeedbackMode | None:
    """The critic / author request a chat ends with, else None (an ordinary chain)."""
    msgs = request.messages
    if not msgs or request.assistant_prefix is not None or msgs[-1].get("role") != "user":
        return None
    last = str(msgs[-1].get("content", ""))
    if is_critic_request(last):
        return _FeedbackMode("critic", shown_solutions(msgs))
    if is_author_request(last) and len(msgs) >= 3 and msgs[-2].get("role") == "assistant":
        return _FeedbackMode("author", shown_solutions(msgs[:-2]), read_critique(str(msgs[-2].get("content", ""))))
    return None


def _feedback_choice(view: _ItemView, mode: _FeedbackMode, max_tokens: int, p: SimulatedParams,
                     rng: np.random.Generator, *, copying: bool) -> tuple[str, str]:
    """The reasoner as critic or author (feedback-conditioned revision).

    Critic: reads the checker's feedback on each solution shown, picks the one whose feedback
    keeps the most leading steps (:func:`~depthbench.baselines._feedback.kept_steps`; the
    first on a tie) and says so in one line of about one step's length (``Critique: keep K
    steps of solution J so then ...``). Author: copies the first ``K`` step contents of that
    solution and writes the rest of the chain afresh from step ``K + 1`` (each new step wrong
    with probability ``eps``, errors carried forward, the budget rule as for a fresh chain),
    so a revision after exact feedback is right with probability ``F_d(T) * (1 - eps)**(d - K)``
    (:func:`~depthbench.baselines._simulated_theory.revision_correct_probability`). A
    *copying* author (probability ``rho``, the correlation) ignores the feedback and writes
    the item's shared chain, as every copying sample does: at ``rho = 1`` revision adds nothing.
    An author without a readable critique writes a fresh chain.
    """
    lo, width = p.tokens_per_step - p.spread, 2 * p.spread
    if mode.role == "critic":
        best, keep = 1, -1
        for j, (text, fb) in sorted(mode.solutions.items()):
            k = kept_steps(fb, sum(1 for kind, _, _ in _STEP_RE.findall(text) if kind == "Step"))
            if k > keep:
                best, keep = j, k
        head = critique_text(max(keep, 0), best).split()
        length = max(len(head), lo + (int(rng.binomial(width, 0.5)) if width else 0))
        words = head + [_FILLER[i % len(_FILLER)] for i in range(length - len(head))]
        if len(words) > max_tokens:
            return " ".join(words[:max_tokens]), "length"
        return " ".join(words), "stop"
    if copying or mode.critique is None or mode.critique[1] not in mode.solutions:
        return _one_choice(view, "", max_tokens, p, rng)
    keep, j = mode.critique
    kept = [c for kind, _, c in _STEP_RE.findall(mode.solutions[j][0]) if kind == "Step"][:max(0, min(keep, view.depth))]
    return _revised_choice(view, kept, max_tokens, p, rng)


def _revised_choice(view: _ItemView, kept: list[str], max_tokens: int, p: SimulatedParams,
                    rng: np.random.Generator) -> tuple[str, str]:
    """A whole new chain whose first ``len(kept)`` step contents are copied, the rest fresh."""
    lo, width = p.tokens_per_step - p.spread, 2 * p.spread
    d = view.depth
    wrong = any(c != view.contents[k] for k, c in enumerate(kept))
    lines: list[str] = []
    used = done = 0
    for k in range(1, d + 1):
        L = lo + int(rng.binomial(width, 0.5)) if width else lo
        if used + L + ANSWER_TOKENS > max_tokens:
            break
        if k <= len(kept):
            content = kept[k - 1]
        else:
            if not wrong and rng.random() < p.eps:
                wrong = True
            content = _corrupt(view.contents[k - 1], rng, view) if wrong else view.contents[k - 1]
        lines.append(_line("Step", k, content, L))
        used += L
        done = k
    if done < d:
        answer = _guess(rng, view)
    else:
        answer = _wrong_answer(rng, view) if wrong else view.answer
    lines.append(f"Answer: {answer}")
    text = "\n".join(lines)
    if len(text.split()) > max_tokens:
        return _cut_after_words(text, max_tokens), "length"
    return text, "stop"
