"""Crash-safe file I/O shared by every subsystem.

Rules: a file that looks complete is complete (write to a temporary file in the same
folder, fsync, then rename); append-only logs are flushed and fsynced per line, and a
torn last line is skipped on reading, never fatal. A full disk (``ENOSPC``, ``EDQUOT``)
while writing raises :class:`DiskFullError` naming the file: the temporary file is
removed, a log line that did not fit is cut away again, and the command's work so far
stays resumable.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthbench.errors import UserError

__all__ = [
    "DiskFullError",
    "is_disk_full",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_writer",
    "canonical_json",
    "sha256_bytes",
    "sha256_file",
    "JsonlAppender",
    "BadLine",
    "read_jsonl",
    "ensure_writable_dir",
    "write_jsonl_atomic",
]


class DiskFullError(UserError):
    """The disk (or quota) filled up while writing ``path``: one line, exit status 1.

    Everything written before is complete (atomic files, whole log lines), so running the
    same command again after freeing space resumes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(f"disk full writing {path}; free space and rerun the same command to resume", exit_code=1)
        self.path = str(path)


def is_disk_full(e: BaseException) -> bool:
    """True for an ``OSError`` that means no space (``ENOSPC``) or no quota (``EDQUOT``) left."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` deterministically (sorted keys, no spaces, UTF-8 kept).

    NaN and Infinity are rejected (``ValueError``) so the output is strict JSON.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def ensure_writable_dir(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """Create ``path`` (and parents) and check it is writable.

    Raises
    ------
    UserError
        If the folder cannot be created or written, naming ``what``.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{what}: cannot create folder {str(p)!r} ({e.strerror}); choose a writable path") from None
    if not p.is_dir():
        raise UserError(f"{what}: {str(p)!r} is a file, not a folder; choose a folder path")
    if not os.access(p, os.W_OK | os.X_OK):
        raise UserError(f"{what}: folder {str(p)!r} is not writable; choose a writable path")
    return p


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched; a full disk
    is re-raised as :class:`DiskFullError`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        if is_disk_full(e):
            raise DiskFullError(path) from None
        raise
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": "\n"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_disk_full(e):
            raise DiskFullError(path) from None
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_writer(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, trailing newline) atomically."""
    text = json.dumps(obj, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


class JsonlAppender:
    """Append-only JSONL writer: one ``write`` is one line, flushed and fsynced.

    If the file ends with a torn line (no trailing newline, e.g. after ``kill -9``),
    the torn tail is truncated away on open, so the next record starts on a fresh line.
    Writes are unbuffered (one ``write`` per line); a line that does not fit on a full disk
    is cut away again and :class:`DiskFullError` is raised (later writes raise it too).

    Parameters
    ----------
    path : path-like
        The log file; created if missing.
    fsync : bool
        fsync after every line (default True). Benchmarks may turn it off.
    """

    def __init__(self, path: str | os.PathLike[str], fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._full = False
        try:
            self._repair_tail()
            self._f = open(self.path, "ab", buffering=0)
        except OSError as e:
            if is_disk_full(e):
                raise DiskFullError(self.path) from None
            raise

    def _repair_tail(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb+") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            # find the last newline and cut after it
            pos = size
            step = 4096
            while pos > 0:
                start = max(0, pos - step)
                f.seek(start)
                block = f.read(pos - start)
                idx = block.rfind(b"\n")
                if idx >= 0:
                    f.truncate(start + idx + 1)
                    return
                pos = start
            f.truncate(0)

    def write(self, record: Any) -> None:
        """Append one record as a line (canonical JSON).

        Raises
        ------
        DiskFullError
            No space for the line; the file is left ending with the previous complete line.
        """
        if self._full:
            raise DiskFullError(self.path)
        data = memoryview(canonical_json(record).encode("utf-8") + b"\n")
        start = os.fstat(self._f.fileno()).st_size
        try:
            while data:
                n = self._f.write(data)
                data = data[n:]
            if self._fsync:
                os.fsync(self._f.fileno())
        except OSError as e:
            if not is_disk_full(e):
                raise
            self._full = True
            with contextlib.suppress(OSError):
                os.ftruncate(self._f.fileno(), start)  # shrinking needs no space
            raise DiskFullError(self.path) from None

    def close(self) -> None:
        """Close the file (never raises for a full disk: nothing is buffered)."""
        with contextlib.suppress(OSError):
            self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class BadLine:
    """A JSONL line that could not be parsed: 1-based ``lineno`` and the reason."""

    lineno: int
    reason: str


def read_jsonl(path: str | os.PathLike[str], bad: list[BadLine] | None = None) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file, skipping corrupt or torn lines.

    Parameters
    ----------
    path : path-like
        The file.
    bad : list of BadLine, optional
        If given, every skipped line is appended here (line number, reason), so the
        caller can report them. Blank lines are ignored silently.
    """
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            torn = not raw.endswith(b"\n")
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                if bad is not None:
                    bad.append(BadLine(lineno, "torn last line" if torn else f"invalid JSON: {e}"))
                continue
            if not isinstance(obj, dict):
                if bad is not None:
                    bad.append(BadLine(lineno, "not a JSON object"))
                continue
            yield obj


def write_jsonl_atomic(path: str | os.PathLike[str], records: Iterable[Any]) -> None:
    """Write all ``records`` as canonical JSONL to ``path`` atomically."""
    with atomic_writer(path, "wb") as f:
        for r in records:
            f.write(canonical_json(r).encode("utf-8") + b"\n")

