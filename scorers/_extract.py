"""Answer extraction: find the model's final answer in raw text and normalise it.

Where the answer is looked for
------------------------------
Three kinds of answer *markers* are recognised; the one that **ends last** in the
text wins (a model that revises itself is graded on its last word):

1. an ``Answer:`` line -- the word *answer* (any case) followed by ``:``; at the start
   of a line (after optional markdown such as ``**``, ``#``, ``-`` or ``>``, and an
   optional ``The``/``Final``/``My``) also ``answer =`` and ``answer is`` count. The
   payload is the rest of that line; if it is empty the next non-blank line is taken.
   Only a line-initial ``Answer:`` is final even when malformed; the weaker forms
   (mid-line ``answer:``, ``The answer is``) are skipped unless their payload is a
   valid answer, so trailing prose like "The answer is correct because ..." does not
   override the answer line;
2. ``\\boxed{...}`` (nested braces allowed);
3. a JSON object with an ``"answer"`` key that closes the text (optionally inside a
   ```` ``` ```` fence).

Text inside ``<think>...</think>`` is private reasoning and never holds the final
answer; an unclosed ``<think>`` hides everything after it, and ``think_open=True`` (the
chat template opened ``<think>`` in the prompt) treats the text as starting inside one.

A response cut by its length limit (``finish_reason="length"``) is graded only on an
answer that stands after the end of its reasoning -- after ``</think>``, or as the last
thing in the text. One rule for every form: nothing but whitespace and closing
decoration (``.``, ``$``, ``**``, a fence, quotes, closing brackets) may follow the
answer; for an ``Answer:`` line, whose payload is the rest of its line, the line must
hold the answer alone. So "Answer: 4\nlet me re-check ...", "Answer: 4. Wait, let me
re-check ..." and "\\boxed{4}. Wait, ..." cut mid-check are all ``truncated``.

Normalisation
-------------
``integer``
    Whitespace, markdown emphasis, ``$``, quotes, a trailing full stop and a trailing
    parenthetical such as ``(mod 97)`` are removed; unicode minus signs become ``-``;
    a leading ``+`` and leading zeros are dropped; ``x7 = 12`` keeps ``12``; thousands
    separators (``1,234``) are accepted. With ``answer_space={"modulus": m}`` the value
    is reduced modulo ``m``. Anything else (``7.5``, ``5 or 7``, ``seven``) is
    ``malformed``.
``choice``
    The payload, stripped of the same decoration and of a leading word such as
    ``node`` / ``vertex`` / ``target`` / ``option``, must equal one of
    ``answer_space["labels"]`` ignoring case; the canonical label is returned.
``plan``
    Moves may be letters (``RRDL``), separated by commas, spaces, semicolons, hyphens
    or arrows, in any case, or words (``up``, ``down``, ``left``, ``right``). Any
    other token makes the plan ``malformed``. The result is a string over
    ``answer_space["moves"]`` (default ``"UDLR"``).

No substring or partial credit: ``"Answer: 17"`` is 17, never 7, and a payload that
merely *contains* a label is malformed.

Statuses
--------
``ok``          an answer marker was found and its payload normalised;
``malformed``   the last marker's payload could not be normalised;
``truncated``   the call ended on its length limit with no answer after the end of its
                reasoning: no marker, or only markers followed by more reasoning (an
                answer counts after ``</think>`` or when nothing but decoration follows
                it; a payload that does not normalise is reasoning, not ``malformed``);
``no_answer``   no marker (or empty text) and the call stopped on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Extraction", "extract", "PARSE_STATUSES", "ANSWER_TYPES", "normalize_answer"]

PARSE_STATUSES = ("ok", "no_answer", "malformed", "truncated")
#: A family's own payload rule: ``normalize(cleaned_payload, answer_space) -> answer | None``.
Normalizer = Callable[[str, Mapping[str, Any]], Any]
ANSWER_TYPES = ("choice", "integer", "plan")


@dataclass(frozen=True, slots=True)
class Extraction:
    """Result of :func:`extract`.

    Attributes
    ----------
    answer : str or int or None
        The normalised answer (``int`` for ``integer``, ``str`` otherwise); ``None``
        unless ``parse_status == "ok"``.
    parse_status : str
        One of ``ok``, ``no_answer``, ``malformed``, ``truncated``.
    """

    answer: str | int | None
    parse_status: str

    @property
    def ok(self) -> bool:
        """True when an answer was extracted."""
        return self.parse_status == "ok"


_NO_ANSWER = Extraction(None, "no_answer")
_TRUNCATED = Extraction(None, "truncated")
_MALFORMED = Extraction(None, "malformed")

# ---------------------------------------------------------------------------
# locating the answer marker
# ---------------------------------------------------------------------------

# What may precede the word "answer" on its line: markdown decoration and "final".
_LINE_PREFIX_RE = re.compile(r"[\s>#*_\-\d.)(\[\]]*(?:the\s+)?(?:final|my)?[\s*_]*\Z", re.IGNORECASE)
# What follows "answer": optional markdown / "is", then ':' or '=' (or "is").
_AFTER_WORD_RE = re.compile(r"(?:\s*\([^)\n]{0,120}\))?[\s*_]*(?::|=|\bis\b)[\s*_]*", re.IGNORECASE)
# Mid-line, only an explicit colon makes "answer" a marker ("... so the Answer: 7").
_AFTER_COLON_RE = re.compile(r"[*_]*\s*(?::)[\s*_]*")
_MAX_PREFIX = 40
_MAX_WEAK_TRIES = 16
_MAX_WEAK_PAYLOAD = 1000
_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def _strip_think(text: str) -> str:
    """Remove ``<think>...</think>`` blocks; an unclosed block hides the rest."""
    out = []
    pos = 0
    low = text.lower()
    while True:
        start = low.find(_THINK_OPEN, pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        end = low.find(_THINK_CLOSE, start)
        if end < 0:
            break
        pos = end + len(_THINK_CLOSE)
    # A lone closing tag (template put the opening tag in the prompt): keep what follows.
    joined = "".join(out)
    close = joined.lower().rfind(_THINK_CLOSE)
    if close >= 0:
        joined = joined[close + len(_THINK_CLOSE):]
    return joined


class _AnswerFinder:
    """Indices of ``answer`` / ``Answer`` / ``ANSWER``, right to left.

    Searching the original text for the two casings of the tail avoids lower-casing the
    whole response (the hot path of extraction); each casing's last hit is remembered, so
    visiting every occurrence costs one pass over the text, not one per occurrence.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._hit = {"nswer": len(text) + 1, "NSWER": len(text) + 1}

    def _last(self, tail: str, end: int) -> int:
        # the remembered hit is the last one before an earlier, larger end: still the last
        # before ``end`` unless it lies after it
        if self._hit[tail] > end:
            self._hit[tail] = self.text.rfind(tail, 0, end + 1)
        return self._hit[tail]

    def before(self, end: int) -> int:
        """Index of the last occurrence starting before ``end``, or -1."""
        text = self.text
        while True:
            j = max(self._last("nswer", end), self._last("NSWER", end))
            if j < 1:
                return -1
            if text[j - 1] in "aA":
                return j - 1
            end = j - 1



def _answer_lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """Yield ``(end position, payload, strong)`` for ``Answer`` markers, last first.

    A *strong* marker is ``Answer:`` at the start of a line (after decoration); it is
    final even when its payload is malformed. Weak markers (``answer:`` inside a line,
    ``The answer is ...`` / ``answer = ...``) count only if their payload normalises,
    so prose such as "The answer is correct because ..." after the real answer line
    does not override it.
    """
    idx = len(text)
    finder = _AnswerFinder(text)
    # the current line's bounds, found once per line (markers are visited right to left), so a
    # degenerate line holding thousands of "answer" words stays linear
    line_start, line_end = len(text) + 1, len(text)
    while True:
        idx = finder.before(idx - 1)
        if idx < 0:
            return
        if idx < line_start:
            line_end = text.find("\n", idx)
            line_end = len(text) if line_end < 0 else line_end
            line_start = text.rfind("\n", 0, idx) + 1
        # a line-initial marker has at most a short decoration before it (the bound also
        # keeps the regex linear on degenerate lines of thousands of spaces or asterisks)
        at_start = idx - line_start <= _MAX_PREFIX and _LINE_PREFIX_RE.match(text, line_start, idx) is not None
        if at_start or (idx == 0 or not text[idx - 1].isalnum()):
            m = (_AFTER_WORD_RE if at_start else _AFTER_COLON_RE).match(text, idx + 6)
            if m is not None:
                strong = at_start and ":" in m.group(0)
                pay_end = line_end
                if m.end() > line_end:  # the colon stood on a later line: the payload is on that line
                    pay_end = text.find("\n", m.end())
                    pay_end = len(text) if pay_end < 0 else pay_end
                # a weak marker's payload longer than _MAX_WEAK_PAYLOAD is never tried: do not copy it whole
                stop = pay_end if strong else min(pay_end, m.end() + _MAX_WEAK_PAYLOAD + 1)
                payload = text[m.end():stop]
                end = pay_end
                if strong and not payload.strip():
                    # "Answer:\n  12" -- take the next non-blank line
                    rest = text[pay_end:]
                    stripped = rest.lstrip()
                    if stripped:
                        start2 = len(text) - len(stripped)
                        nl = text.find("\n", start2)
                        end = len(text) if nl < 0 else nl
                        payload = text[start2:end]
                yield end, payload, strong
        # not a marker (or a weak one the caller rejected); keep searching to the left


#: bounds on the ``\\boxed{...}`` search, so untrusted text cannot make it quadratic: an answer is short
_BOXED_MAX_CONTENT = 4096
_BOXED_MAX_TRIES = 256


def _last_boxed(text: str) -> tuple[int, str] | None:
    """Return (end position, content) of the last ``\\boxed{...}``, or None.

    At most the last 256 ``\\boxed`` occurrences are tried, each with at most 4,096
    characters of content (linear time on adversarial text such as ``\\boxed{`` repeated).
    """
    idx = len(text)
    for _ in range(_BOXED_MAX_TRIES):
        idx = text.rfind("\\boxed", 0, idx)
        if idx < 0:
            return None
        j = idx + 6
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            depth = 0
            for k in range(j, min(len(text), j + _BOXED_MAX_CONTENT + 2)):
                ch = text[k]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        return k + 1, text[j + 1:k]
        # no brace or unbalanced braces: not a marker; keep searching to the left
    return None


_FENCE_TAIL_RE = re.compile(r"\s*(?:```\s*)?\Z")
_DECODER = json.JSONDecoder()


def _final_json(text: str) -> tuple[int, Any] | None:
    """Return (end position, value of "answer") if a JSON object closes the text."""
    tail = text.rstrip()
    if tail.endswith("```"):
        tail = tail[:-3].rstrip()
    if not tail.endswith("}"):
        return None
    end = len(tail)
    pos = end
    for _ in range(64):  # bounded: the object is usually short
        pos = tail.rfind("{", 0, pos)
        if pos < 0:
            return None
        try:
            obj, stop = _DECODER.raw_decode(tail, pos)
        except ValueError:
            continue
        if stop == end:
            if isinstance(obj, dict) and "answer" in obj:
                return end, obj["answer"]
            return None
    return None


# ---------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------

_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-", "\u2014": "-", "\ufe63": "-", "\uff0d": "-"})
_TRAILING_PAREN_RE = re.compile(r"\s*\([^()]*\)\s*\Z")
_DECOR_CHARS = " \t\r\n*_`$\"'"
_LATEX_WRAP_RE = re.compile(r"\A\\(?:text|mathrm|mathbf|textbf)\{(.*)\}\Z", re.DOTALL)


# One rule for every answer type: a payload wrapped in one pair of brackets, placeholder
# angle brackets included (``Answer: <75>``, the prompt's ``<integer>`` copied), is read
# without them; mixed or nested brackets are left alone (and then fail to normalise).
_BRACKETS = ("()", "[]", "{}", "<>")


def _clean(payload: str) -> str:
    """Strip decoration shared by all answer types (see ``_BRACKETS``)."""
    s = payload.translate(_MINUS).strip(_DECOR_CHARS)
    for _ in range(3):
        before = s
        if len(s) >= 2 and s[0] + s[-1] in _BRACKETS and not any(c in s[1:-1] for c in "()[]{}<>"):
            s = s[1:-1].strip(_DECOR_CHARS)
        if s.startswith("\\(") and s.endswith("\\)"):
            s = s[2:-2]
        m = _LATEX_WRAP_RE.match(s)
        if m:
            s = m.group(1)
        s = s.strip(_DECOR_CHARS)
        if s.endswith((".", ";")) and not s.endswith(".."):
            s = s[:-1]
        s = _TRAILING_PAREN_RE.sub("", s) if not s.startswith("(") else s
        s = s.strip(_DECOR_CHARS)
        if s == before:
            break
    return s


_INT_RE = re.compile(r"\A(?:[A-Za-z_][A-Za-z_0-9]*\s*=\s*)?([+-]?)\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\s*\(?\s*mod(?:ulo)?\s*\d+\s*\)?)?\Z")


def _norm_integer(s: str, space: Mapping[str, Any] | None) -> int | None:
    m = _INT_RE.match(s)
    if m is None:
        return None
    value = int(m.group(2).replace(",", ""))
    if m.group(1) == "-":
        value = -value
    if space:
        mod = space.get("modulus")
        if isinstance(mod, int) and mod > 0:
            value %= mod
    return value


_CHOICE_PREFIX_RE = re.compile(r"\A(?:node|vertex|target|label|option|choice)\s*[:#]?\s*", re.IGNORECASE)


def _norm_choice(s: str, space: Mapping[str, Any] | None) -> str | None:
    s = _clean(_CHOICE_PREFIX_RE.sub("", s))  # "node <7>" / "node (7)": brackets after the word too
    if not s:
        return None
    labels = space.get("labels") if space else None
    if not labels:
        return s
    for lab in labels:
        if str(lab) == s:
            return str(lab)
    low = s.casefold()
    for lab in labels:
        if str(lab).casefold() == low:
            return str(lab)
    return None


_MOVE_WORDS = {
    "up": "U", "down": "D", "left": "L", "right": "R",
    "u": "U", "d": "D", "l": "L", "r": "R",
}
_PLAN_SPLIT_RE = re.compile(r"[\s,;|/]+|->|=>|\u2192|(?<=[A-Za-z])-(?=[A-Za-z])")


_PLAN_SEP_DELETE = str.maketrans("", "", " \t,;|/-\u2192")


def _norm_plan(s: str, space: Mapping[str, Any] | None) -> str | None:
    moves = (str(space.get("moves", "UDLR")) if space else "UDLR").upper()
    # fast path: letters only, possibly separated by spaces, commas, semicolons, arrows
    compact = s.replace("->", "").translate(_PLAN_SEP_DELETE).upper()
    if compact and not compact.strip(moves):
        return compact
    allowed = set(moves)
    out: list[str] = []
    for tok in _PLAN_SPLIT_RE.split(s):
        tok = tok.strip(_DECOR_CHARS + "'\"")
        if not tok:
            continue
        low = tok.lower()
        word = _MOVE_WORDS.get(low)
        if word is not None and len(low) > 1:
            if word not in allowed:
                return None
            out.append(word)
            continue
        up = tok.upper()
        if all(ch in allowed for ch in up):
            out.append(up)
        else:
            return None
    if not out:
        return None
    return "".join(out)


_NORMALISERS = {"integer": _norm_integer, "choice": _norm_choice, "plan": _norm_plan}


def normalize_answer(value: Any, answer_type: str, answer_space: Mapping[str, Any] | None = None,
                     normalize: Normalizer | None = None) -> str | int | None:
    """Normalise one answer payload (a string, or an ``int`` / list from JSON).

    Parameters
    ----------
    value : str or int or list
        The payload after the answer marker.
    answer_type : {"choice", "integer", "plan"}
        Selects the built-in rule; any name when ``normalize`` is given.
    answer_space : mapping, optional
        ``{"labels": [...]}``, ``{"modulus": m}`` or ``{"moves": "UDLR"}``.
    normalize : callable, optional
        A family's own rule ``normalize(cleaned_payload, answer_space) -> answer | None``
        (``Family.normalize``), used instead of the built-in one.

    Returns
    -------
    str or int or None
        The normalised answer, or None if the payload is not a valid answer.

    Raises
    ------
    ValueError
        If ``answer_type`` is unknown.

    Examples
    --------
    >>> normalize_answer(" \u221203 ", "integer", {"modulus": 97})
    94
    >>> normalize_answer("up, right, R", "plan")
    'URR'
    """
    try:
        norm = normalize or _NORMALISERS[answer_type]
    except KeyError:
        raise ValueError(f"answer_type: {answer_type!r} is not one of {ANSWER_TYPES}") from None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, list):
        if (answer_type != "plan" and normalize is None) or not all(isinstance(v, str) for v in value):
            return None
        value = " ".join(value)
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        value = str(int(value))
    elif not isinstance(value, str):
        return None
    cleaned = _clean(value)
    if not cleaned:
        return None
    return norm(cleaned, answer_space)


# What may follow an answer that ends a cut response: whitespace and closing decoration
# (a full stop, ``$``, markdown emphasis, a code fence, quotes, closing brackets).
_CLOSING_TAIL_RE = re.compile(r"[\s.$*_`'\")\]}\\]*\Z")


def _stands_last(text: str, end: int) -> bool:
    """Whether nothing but closing decoration follows an answer that ends at ``end``.

    The one rule for a response cut by its length limit, whatever the answer's form:
    for ``\\boxed{...}`` and a JSON object ``end`` is the closing brace; for an
    ``Answer:`` line it is the end of the line (its payload is the rest of the line,
    which then has to normalise on its own, see :func:`extract`).
    """
    return _CLOSING_TAIL_RE.match(text, end) is not None


def extract(
    text: str | None,
    answer_type: str,
    answer_space: Mapping[str, Any] | None = None,
    finish_reason: str | None = None,
    *,
    think_open: bool = False,
    reasoning_end: int | None = None,
    normalize: Normalizer | None = None,
) -> Extraction:
    """Extract and normalise the final answer of one model response.

    Parameters
    ----------
    text : str or None
        The generated text of one choice.
    answer_type : {"choice", "integer", "plan"}
        The item's ``answer_type``.
    answer_space : mapping, optional
        The item's ``meta.answer_space``: ``{"labels": [...]}``, ``{"modulus": m}`` or
        ``{"moves": "UDLR"}``.
    finish_reason : {"stop", "length", "error"}, optional
        Why the call ended. ``"length"`` (cut by the token limit) is scored only from an
        answer that stands after the end of the reasoning: after a ``</think>`` (the
        reasoning block closed), after ``reasoning_end``, or with nothing but closing
        decoration after it (an ``Answer:`` line must then hold the answer alone). Any
        other answer of a cut response is ``truncated``, as is a cut response without
        one or with only a payload that does not normalise.
    think_open : bool, optional
        The chat template opened a ``<think>`` block in the prompt, so ``text`` starts
        inside the reasoning: only what follows ``</think>`` can hold the answer (a
        response without ``</think>`` has none).
    reasoning_end : int, optional
        Offset in ``text`` where the harness ended the reasoning (e.g. where budget
        forcing inserted ``"\nAnswer:"``); under ``"length"``, a marker ending after it
        counts.
    normalize : callable, optional
        A family's own payload rule (``Family.normalize``) instead of ``answer_type``'s;
        :func:`depthbench.scorers.extract_answer` passes the item's family's.

    Returns
    -------
    Extraction
        ``answer`` (normalised; ``int`` for integers) and ``parse_status``.

    Raises
    ------
    ValueError
        If ``answer_type`` is unknown.

    Notes
    -----
    Linear in the text length: markers are found by searching backwards from the
    end, so typical responses take a few microseconds.

    Examples
    --------
    >>> extract("x3 = 17, so ... Answer: 7.", "integer", {"modulus": 97})
    Extraction(answer=7, parse_status='ok')
    >>> extract("Let me think", "choice", {"labels": ["4", "9"]}, finish_reason="length")
    Extraction(answer=None, parse_status='truncated')
    """
    if normalize is None and answer_type not in _NORMALISERS:
        raise ValueError(f"answer_type: {answer_type!r} is not one of {ANSWER_TYPES}")
    cut = finish_reason == "length"
    missing = _TRUNCATED if cut else _NO_ANSWER
    if not text:
        return missing
    closed = False  # a reasoning block was closed: what stands after it follows the reasoning
    # characters after the harness's end of reasoning (measured from the end, which
    # removing <think> blocks before it does not change)
    after_forced = len(text) - reasoning_end if reasoning_end is not None else -1
    if think_open:
        text = _THINK_OPEN + text
    if "<" in text and ("<think>" in text or "</think>" in text or "<THINK>" in text.upper()):
        closed = _THINK_CLOSE in text.lower()
        text = _strip_think(text)
        if not text.strip():
            return missing
    best_end = -1
    payload: Any = None
    weak_tries = 0
    for end, line_payload, strong in _answer_lines(text):
        if strong:
            best_end, payload = end, line_payload
            break
        # weak markers: a bounded number of short payloads is tried (linear time on
        # degenerate text such as thousands of repeated "answer:")
        if weak_tries < _MAX_WEAK_TRIES and len(line_payload) <= _MAX_WEAK_PAYLOAD:
            weak_tries += 1
            if normalize_answer(line_payload, answer_type, answer_space, normalize) is not None:
                best_end, payload = end, line_payload
                break
    if "\\boxed" in text:
        found = _last_boxed(text)
        if found is not None and found[0] > best_end:
            best_end, payload = found
    if text.rstrip().endswith(("}", "```")):
        found = _final_json(text)
        if found is not None and found[0] >= best_end:
            best_end, payload = found
    if best_end < 0:
        return missing
    # A cut response is read only from an answer that stands after its reasoning: after
    # </think>, after the harness's end of reasoning, or with nothing but closing
    # decoration after it -- the answer itself, not just its marker, ends the text.
    after_reasoning = not cut or closed or len(text) - best_end < after_forced
    if not after_reasoning and not _stands_last(text, best_end):
        return _TRUNCATED  # an answer inside reasoning that the length limit cut off
    answer = normalize_answer(payload, answer_type, answer_space, normalize)
    if answer is None:
        # a cut "Answer: 4. Wait, let me re-check" is reasoning after the answer on its
        # own line, not a malformed answer: nothing stands after the reasoning
        return _MALFORMED if after_reasoning else _TRUNCATED
    return Extraction(answer, "ok")
