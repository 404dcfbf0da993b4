"""Safety rules for untrusted submission files.

A submission is data, never code: it is read as strict JSON (optionally gzip
compressed) and nothing in it is imported, unpickled or evaluated. Reading is
bounded and streaming: :func:`open_submission` decompresses in chunks and parses the
top-level members one at a time and the ``predictions`` array one element at a time
(each with the standard library's JSON decoder), so memory stays proportional to one
prediction, not to the file. The compressed file size, the decompressed byte count (a
gzip bomb stops at the limit), the size of one prediction, the number of predictions and
of calls are all capped. ``NaN`` / ``Infinity`` and duplicate object keys are rejected.
Names that end up in file paths go through :func:`safe_slug`; names shown in the site
are HTML-escaped by the template engine.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from depthbench.errors import UserError

__all__ = ["Limits", "DEFAULT_LIMITS", "read_submission_bytes", "parse_submission_json",
           "load_submission_file", "open_submission", "SubmissionStream", "safe_slug", "name_problems"]

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """Upper bounds applied while reading a submission.

    Parameters
    ----------
    max_file_bytes : int
        Largest accepted file on disk (compressed size for ``.json.gz``).
    max_json_bytes : int
        Largest accepted JSON text after decompression.
    max_predictions : int
        Largest accepted number of ``predictions`` entries.
    max_calls_per_prediction : int
        Largest accepted number of calls in one prediction.
    max_prediction_bytes : int
        Largest accepted JSON text of one prediction (its calls and texts together); a
        budget of B tokens needs far less (B x a few bytes per token: 32,768 tokens of
        English are about 130 kB).
    max_total_calls : int
        Largest accepted number of calls over all predictions.
    """

    max_file_bytes: int = 128 * 1024 * 1024
    max_json_bytes: int = 512 * 1024 * 1024
    max_predictions: int = 250_000
    max_calls_per_prediction: int = 4096
    max_prediction_bytes: int = 4 * 1024 * 1024
    max_total_calls: int = 4_000_000


DEFAULT_LIMITS = Limits()
#: largest top-level member other than ``predictions`` (the metadata is a few kB)
_MAX_MEMBER_CHARS = 1 << 20


def _check_file(p: Path, limits: Limits) -> None:
    if not p.is_file():
        raise UserError(f"submission: file {str(p)!r} not found; give the path of a .json.gz submission")
    size = p.stat().st_size
    if size == 0:
        raise UserError(f"submission: file {str(p)!r} is empty; pack a run with 'depthbench submission pack'")
    if size > limits.max_file_bytes:
        raise UserError(f"submission: file is {size} bytes, over the limit of {limits.max_file_bytes} bytes; "
                        "split the submission (fewer strategies or budgets per file)")


def _open_bytes(p: Path, limits: Limits) -> Iterator[bytes]:
    """The file's JSON bytes in chunks (gunzipped when it is gzip), at most ``max_json_bytes`` in all."""
    with open(p, "rb") as f:
        head = f.read(2)
    if head[:1] == b"\x80":
        raise UserError("submission: file looks like a Python pickle; submissions are JSON (gzip) only")
    total = 0
    raw: BinaryIO
    if head != _GZIP_MAGIC:
        with open(p, "rb") as raw:
            while block := raw.read(_CHUNK):
                total += len(block)
                if total > limits.max_json_bytes:
                    raise UserError(f"submission: JSON text exceeds the limit of {limits.max_json_bytes} bytes")
                yield block
        return
    try:
        with gzip.open(p, "rb") as g:
            first = True
            while True:
                block = g.read(_CHUNK)
                if not block:
                    if first:
                        raise UserError("submission: gzip holds no data (empty submission); pack a run with "
                                        "'depthbench submission pack'")
                    return
                if first and block[:1] == b"\x80":
                    raise UserError("submission: content looks like a Python pickle; submissions are JSON only")
                first = False
                total += len(block)
                if total > limits.max_json_bytes:
                    raise UserError(f"submission: decompressed size exceeds the limit of {limits.max_json_bytes} "
                                    "bytes (gzip bomb or oversized submission); not read further")
                yield block
    except EOFError:
        raise UserError("submission: gzip stream is truncated (file cut short); copy or pack it again") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise UserError(f"submission: corrupt gzip data ({e}); pack the submission again") from None


def read_submission_bytes(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Read a submission file's JSON bytes, decompressing gzip with a hard cap.

    Parameters
    ----------
    path : path-like
        A ``.json.gz`` (gzip) or plain ``.json`` file.
    limits : Limits
        Size limits.

    Returns
    -------
    bytes
        The JSON text (UTF-8 bytes), at most ``limits.max_json_bytes`` long.

    Raises
    ------
    UserError
        Missing, empty, oversized, truncated or corrupt files, gzip bombs, pickles.
    """
    p = Path(path)
    _check_file(p, limits)
    return b"".join(_open_bytes(p, limits))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (NaN and Infinity are not JSON numbers)")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate object key {k!r}")
        d[k] = v
    return d


def parse_submission_json(data: bytes) -> Any:
    """Parse strict JSON: no NaN/Infinity, no duplicate keys, UTF-8 only.

    Raises
    ------
    UserError
        With the parser's reason and position.
    """
    if data.startswith(b"\x80"):
        raise UserError("submission: content looks like a Python pickle; submissions are JSON only")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"submission: not UTF-8 text (byte {e.start}); a submission is JSON") from None
    if not text.strip():
        raise UserError("submission: JSON text is empty; pack a run with 'depthbench submission pack'")
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise UserError(f"submission: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except ValueError as e:  # NaN/Infinity, duplicate keys, oversized integers
        raise UserError(f"submission: invalid JSON value: {e}") from None
    except RecursionError:
        raise UserError("submission: JSON nested too deeply") from None


def load_submission_file(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Read and parse a submission file within ``limits`` (see :func:`read_submission_bytes`)."""
    return parse_submission_json(read_submission_bytes(path, limits))


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
_WS = re.compile(r"[ \t\n\r]*")


class _Reader:
    """A window over the decoded JSON text of a byte-chunk iterator (strict UTF-8)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._dec = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.base = 0  # characters dropped before buf[0]
        self.eof = False

    def more(self, at_least: int = _CHUNK) -> bool:
        """Append at least ``at_least`` characters (fewer at the end); False at end of input."""
        if self.eof:
            return False
        if self.pos > (1 << 20):  # forget what was consumed
            self.base += self.pos
            self.buf, self.pos = self.buf[self.pos:], 0
        got = 0
        parts = []
        while got < at_least:
            try:
                block = next(self._chunks)
            except StopIteration:
                try:
                    tail = self._dec.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise UserError("submission: not UTF-8 text (truncated character at the end); a submission "
                                    "is JSON") from None
                parts.append(tail)
                self.eof = True
                break
            try:
                text = self._dec.decode(block)
            except UnicodeDecodeError as e:
                raise UserError(f"submission: not UTF-8 text (byte {e.start} of a block); a submission is JSON") from None
            parts.append(text)
            got += len(text)
        self.buf += "".join(parts)
        return got > 0 or bool(parts and parts[-1])

    def skip_ws(self) -> None:
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self.more():
                return

    def peek(self) -> str:
        self.skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = repr(c) if c else "end of file"
            raise UserError(f"submission: not valid JSON (expected {what} at character {self.base + self.pos}, "
                            f"found {found}); pack the submission again")
        self.pos += 1
        return c

    def value(self, cap: int, what: str) -> Any:
        """Decode the JSON value at the cursor with the strict decoder, reading more as needed."""
        self.skip_ws()
        want = max(_CHUNK, 2 * (len(self.buf) - self.pos))
        while True:
            start = self.pos  # more() may move the window, never the cursor's place in the text
            try:
                obj, end = _DECODER.raw_decode(self.buf, start)
            except json.JSONDecodeError as e:
                if not self.eof and len(self.buf) - start <= cap:
                    self.more(want)
                    want *= 2
                    continue
                if len(self.buf) - start > cap:
                    raise UserError(f"submission: {what} is larger than {cap} characters (or not valid JSON); "
                                    "split the submission") from None
                raise UserError(f"submission: not valid JSON ({e.msg} at character {self.base + e.pos})") from None
            except ValueError as e:  # NaN/Infinity, duplicate keys, oversized integers
                raise UserError(f"submission: invalid JSON value: {e}") from None
            except RecursionError:
                raise UserError("submission: JSON nested too deeply") from None
            if end == len(self.buf) and not self.eof:  # a number may go on in the next chunk
                self.more(want)
                continue
            if end - start > cap:
                raise UserError(f"submission: {what} is larger than {cap} characters; split the submission")
            self.pos = end
            return obj


@dataclass
class SubmissionStream:
    """A submission read member by member: see :func:`open_submission`.

    Attributes
    ----------
    header : dict
        Every top-level member except ``predictions`` (``format``, ``metadata``, and any
        unexpected member, left for the schema check to name).
    has_predictions : bool
        Whether a ``predictions`` member exists.
    """

    header: dict[str, Any]
    has_predictions: bool
    _open: Callable[[], Iterator[bytes]]
    _limits: Limits

    def predictions(self) -> Iterator[Any]:
        """Each element of ``predictions`` in file order (decoded one at a time, size-capped).

        Raises
        ------
        UserError
            As for :func:`open_submission`, for a fault found further into the file.
        """
        if not self.has_predictions:
            return
        r = _Reader(self._open())
        _walk_to_predictions(r)
        yield from _elements(r, self._limits)


def _members(r: _Reader) -> Iterator[str]:
    """The keys of the top-level object in order; the cursor is left at each value."""
    c = r.peek()
    if c != "{":
        kinds = {"[": "list", '"': "str", "t": "bool", "f": "bool", "n": "null"}
        got = kinds.get(c, "number" if c and (c.isdigit() or c == "-") else None)
        if got is None:
            raise UserError("submission: not valid JSON (the file does not start with a JSON value)")
        raise UserError(f"submission: top level must be a JSON object, got {got}")
    r.pos += 1
    seen: set[str] = set()
    if r.peek() == "}":
        r.pos += 1
        return
    while True:
        key = r.value(_MAX_MEMBER_CHARS, "a top-level key")
        if not isinstance(key, str):
            raise UserError("submission: not valid JSON (an object key is not a string)")
        if key in seen:
            raise UserError(f"submission: invalid JSON value: duplicate object key {key!r}")
        seen.add(key)
        r.expect(":", "':'")
        yield key
        if r.expect(",}", "',' or '}'") == "}":
            return


def _walk_to_predictions(r: _Reader) -> None:
    for key in _members(r):
        if key == "predictions":
            return
        r.value(_MAX_MEMBER_CHARS, f"the top-level member {key!r}")


def _elements(r: _Reader, limits: Limits) -> Iterator[Any]:
    r.expect("[", "the predictions array '['")
    if r.peek() == "]":
        r.pos += 1
        return
    i = 0
    while True:
        if i >= limits.max_predictions:
            raise UserError(f"submission: predictions: more than {limits.max_predictions} entries exceed the limit of "
                            f"{limits.max_predictions}; split the submission")
        yield r.value(limits.max_prediction_bytes, f"predictions[{i}]")
        i += 1
        if r.expect(",]", "',' or ']' in the predictions array") == "]":
            return


def open_submission(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> SubmissionStream:
    """Open a submission for streaming validation: check the file, read every top-level
    member except ``predictions`` (whose elements :meth:`SubmissionStream.predictions`
    yields one by one) and check the JSON text is complete.

    The whole text is scanned once here (predictions are decoded and dropped), so every
    fault of the file (truncation, gzip bomb, bad JSON anywhere, trailing data) is found
    before any prediction is used; a second pass streams the predictions.

    Parameters
    ----------
    path : path-like
        A ``.json.gz`` (gzip) or plain ``.json`` file.
    limits : Limits
        Size and count limits.

    Returns
    -------
    SubmissionStream

    Raises
    ------
    UserError
        Missing, empty, oversized, truncated or corrupt files, gzip bombs, pickles, invalid
        JSON (NaN, Infinity, duplicate keys, deep nesting), a top level that is not an
        object, an oversized prediction or too many predictions.
    """
    p = Path(path)
    _check_file(p, limits)

    def chunks() -> Iterator[bytes]:
        return _open_bytes(p, limits)

    r = _Reader(chunks())
    header: dict[str, Any] = {}
    has_predictions = False
    for key in _members(r):
        if key == "predictions":
            has_predictions = True
            if r.peek() != "[":
                header["predictions"] = r.value(_MAX_MEMBER_CHARS, "predictions")  # not a list: the schema says so
                has_predictions = False
                continue
            for _ in _elements(r, limits):
                pass
        else:
            header[key] = r.value(_MAX_MEMBER_CHARS, f"the top-level member {key!r}")
    r.skip_ws()
    if r.pos < len(r.buf):
        raise UserError(f"submission: not valid JSON (extra data after the top-level object at character "
                        f"{r.base + r.pos})")
    return SubmissionStream(header=header, has_predictions=has_predictions, _open=chunks, _limits=limits)


_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def safe_slug(*parts: str, max_len: int = 60) -> str:
    """A file-name-safe slug for a tuple of untrusted names.

    Only ``[A-Za-z0-9._-]`` survive; the slug never starts with a dot, never contains a
    path separator, and ends with a short hash of the exact input so two different
    names never share a slug.

    Examples
    --------
    >>> safe_slug("../../etc/passwd").startswith("etc-passwd-")
    True
    >>> "/" in safe_slug("org/model", "majority@8")
    False
    """
    joined = "\x1f".join(parts)
    norm = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode("ascii")
    body = _SLUG_BAD.sub("-", norm.replace("\x1f", "_")).strip("-._")[:max_len].strip("-._") or "x"
    digest = hashlib.sha256(joined.encode("utf-8")).hexdigest()[:10]
    return f"{body}-{digest}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1 and the Unicode line breaks


def name_problems(field: str, name: str) -> list[str]:
    """Problems with a name that may be shown or turned into a path.

    Path traversal (``..`` segments, absolute paths, backslashes, drive letters) and
    control characters are refused; ``org/model`` style names are allowed. Markup is
    allowed here because the site escapes it.
    """
    probs: list[str] = []
    if _CONTROL.search(name):
        probs.append(f"{field}: contains control characters; use printable text")
    segs = re.split(r"[/\\]", name)
    if ".." in segs or name.startswith(("/", "\\", "~")) or "\\" in name or re.match(r"^[A-Za-z]:", name):
        probs.append(f"{field}: {name!r} looks like a file path (path traversal); use a plain name such as 'org/model'")
    return probs
