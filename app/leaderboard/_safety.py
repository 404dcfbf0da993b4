"""Safety rules for untrusted submission files.

A submission is data, never code: it is read as strict JSON (optionally gzip
compressed) and nothing in it is imported, unpickled or evaluated. Reading is
bounded — the compressed file size, the decompressed byte count (read in a
streaming way, so a gzip bomb stops at the limit instead of filling memory) and the
number of predictions are all capped. ``NaN`` / ``Infinity`` and duplicate object
keys are rejected. Names that end up in file paths go through :func:`safe_slug`;
names shown in the site are HTML-escaped by the template engine.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthbench.errors import UserError

__all__ = ["Limits", "DEFAULT_LIMITS", "read_submission_bytes", "parse_submission_json",
           "load_submission_file", "safe_slug", "name_problems"]

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
    """

    max_file_bytes: int = 128 * 1024 * 1024
    max_json_bytes: int = 512 * 1024 * 1024
    max_predictions: int = 1_000_000
    max_calls_per_prediction: int = 4096


DEFAULT_LIMITS = Limits()


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
    if not p.is_file():
        raise UserError(f"submission: file {str(p)!r} not found; give the path of a .json.gz submission")
    size = p.stat().st_size
    if size == 0:
        raise UserError(f"submission: file {str(p)!r} is empty; pack a run with 'depthbench submission pack'")
    if size > limits.max_file_bytes:
        raise UserError(f"submission: file is {size} bytes, over the limit of {limits.max_file_bytes} bytes; "
                        "drop raw completions (--no-raw) or split the submission")
    with open(p, "rb") as f:
        head = f.read(2)
    if head != _GZIP_MAGIC:
        if head[:1] == b"\x80":
            raise UserError("submission: file looks like a Python pickle; submissions are JSON (gzip) only")
        with open(p, "rb") as f:
            data = f.read(limits.max_json_bytes + 1)
        if len(data) > limits.max_json_bytes:
            raise UserError(f"submission: JSON text exceeds the limit of {limits.max_json_bytes} bytes")
        return data
    out = bytearray()
    try:
        with gzip.open(p, "rb") as g:
            while True:
                block = g.read(_CHUNK)
                if not block:
                    break
                out += block
                if len(out) > limits.max_json_bytes:
                    raise UserError(f"submission: decompressed size exceeds the limit of {limits.max_json_bytes} "
                                    "bytes (gzip bomb or oversized submission); not read further")
    except EOFError:
        raise UserError("submission: gzip stream is truncated (file cut short); copy or pack it again") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise UserError(f"submission: corrupt gzip data ({e}); pack the submission again") from None
    if not out:
        raise UserError("submission: gzip holds no data (empty submission); pack a run with "
                        "'depthbench submission pack'")
    return bytes(out)


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
