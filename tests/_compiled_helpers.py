"""Shared by the tests of the compiled fast paths (tests/test_*_compiled.py)."""

from __future__ import annotations

import os


def rss_kib() -> int:
    """This process's resident memory in KiB, from ``/proc/self/statm`` (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
