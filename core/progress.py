"""Progress reporting for long work: a tqdm bar on a terminal, plain lines elsewhere.

On a terminal, :class:`Progress` draws a tqdm bar. When stderr is not a terminal (a Slurm
or CI log, a pipe), a bar's carriage returns would be noise, so it prints one plain line
every ``interval`` seconds (default 30; environment variable
``DEPTHBENCH_PROGRESS_INTERVAL`` overrides it) from a background thread::

    eval: 1,234/5,000 units (24.7%), 310.2 calls/s, 8.3 units/s, elapsed 0:02:28, ETA 0:07:34

and one last line when the work ends, if it took longer than the interval (shorter jobs
stay silent). ``enabled=False`` prints nothing; ``enabled=True`` draws the bar even when
stderr is not a terminal.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["Progress", "DEFAULT_INTERVAL_S", "format_duration"]

DEFAULT_INTERVAL_S = 30.0


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` for a non-negative number of seconds (``"?"`` when unknown)."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _interval() -> float:
    raw = os.environ.get("DEPTHBENCH_PROGRESS_INTERVAL")
    try:
        return max(0.01, float(raw)) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S


class Progress:
    """Count finished work and show it (bar on a terminal, a line every ~30 s elsewhere).

    Parameters
    ----------
    total : int
        Units of work in all (items, (item, strategy, budget) units, calls, submissions).
    desc : str
        Label at the start of the bar or line (``"eval"``, ``"score"``).
    unit : str
        Plural name of the unit in lines (``"items"``); the bar uses it as is.
    initial : int
        Units already done before this process started (a resumed run); not counted in
        the rates.
    enabled : bool or None
        None: a bar on a terminal, lines otherwise; True: always a bar; False: nothing.
    counters : tuple of str
        Names of secondary counts whose rates the line shows too (e.g. ``("calls",)``),
        fed with :meth:`count`.
    file : text stream, optional
        Where to write (default ``sys.stderr``).
    interval : float, optional
        Seconds between lines (default ``DEPTHBENCH_PROGRESS_INTERVAL`` or 30).
    """

    def __init__(self, total: int, desc: str, unit: str = "items", *, initial: int = 0, enabled: bool | None = None,
                 counters: tuple[str, ...] = (), file: TextIO | None = None, interval: float | None = None) -> None:
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.initial = int(initial)
        self.done = int(initial)
        self.counts = {name: 0 for name in counters}
        self._file = file if file is not None else sys.stderr
        self._t0 = time.monotonic()
        self._bar: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._printed = False
        self._last_post = 0.0
        tty = bool(getattr(self._file, "isatty", lambda: False)())
        if enabled is False:
            return
        if enabled or tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.initial, unit=unit.rstrip("s") or unit, desc=desc,
                             file=self._file, dynamic_ncols=True, smoothing=0.1)
            return
        self._interval = float(interval) if interval is not None else _interval()
        self._thread = threading.Thread(target=self._loop, name=f"depthbench-progress-{desc}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ counting
    def update(self, n: int = 1) -> None:
        """``n`` more units are done."""
        self.done += int(n)
        if self._bar is not None:
            self._bar.update(int(n))

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the secondary counter ``name`` (shown as a rate, and on the bar)."""
        self.counts[name] = self.counts.get(name, 0) + int(n)
        if self._bar is not None:
            now = time.monotonic()
            if now - self._last_post > 0.25:
                self._last_post = now
                self._bar.set_postfix(refresh=False, **self.counts)

    # ------------------------------------------------------------------ lines
    def line(self) -> str:
        """The status line as printed off a terminal."""
        elapsed = max(1e-9, time.monotonic() - self._t0)
        new = self.done - self.initial
        parts = [f"{self.desc}: {self.done:,}/{self.total:,} {self.unit}"
                 + (f" ({100.0 * self.done / self.total:.1f}%)" if self.total > 0 else "")]
        for name, v in self.counts.items():
            parts.append(f"{v / elapsed:,.1f} {name}/s")
        parts.append(f"{new / elapsed:,.1f} {self.unit}/s")
        eta = (self.total - self.done) / (new / elapsed) if new > 0 else float("nan")
        parts.append(f"elapsed {format_duration(elapsed)}")
        parts.append(f"ETA {format_duration(eta) if self.done < self.total else '0:00:00'}")
        return ", ".join(parts)

    def _emit(self) -> None:
        try:
            print(self.line(), file=self._file, flush=True)
            self._printed = True
        except (OSError, ValueError):  # the stream went away; progress must never break the work
            self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._emit()

    def close(self) -> None:
        """Stop reporting; off a terminal print a final line if the work took longer than the interval."""
        if self._bar is not None:
            if self.counts:
                self._bar.set_postfix(refresh=False, **self.counts)
            self._bar.close()
            self._bar = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            if self._printed or time.monotonic() - self._t0 >= self._interval:
                self._emit()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
