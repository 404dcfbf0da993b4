"""Regenerate the canonical dataset release and update its golden sha256 (a maintainer's tool).

The canonical release is the last name in ``depthbench.data.RELEASES`` (``data/<name>/``);
the earlier ones are frozen and never rewritten. For every task of the release (one per
family: its bundled task spec, splits ``test`` and ``dev``) this

1. generates the task into a temporary folder beside the release, exactly as the README's
   command does (``depthbench generate TASK --split test,dev --out ...``);
2. compares the new files with the release's, file by file, and prints what changed;
3. unless ``--check``: replaces each changed task folder by a rename (the old one is
   moved aside first and removed last, so the release never holds a half-written task),
   writes the release's ``README.md`` dataset card if it has none, and rewrites the
   release's entry of the golden table in ``tests/test_data_release.py``.

Run it from the repository root after a generator change (``VERSION`` bump) is merged::

    python scripts/regen_release.py            # regenerate, compare, write, update the golden
    python scripts/regen_release.py --check    # only compare: exit 1 if the release is stale

A new release is one line: append its name to ``RELEASES`` in ``data/__init__.py`` and run
this script (it creates ``data/<name>/``; edit the card's "what changed" paragraph).

Exit status: 0 done (or, with ``--check``, up to date), 1 stale (``--check``), 2 an error.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_BEGIN = "# BEGIN GOLDEN (written by scripts/regen_release.py)"
GOLDEN_END = "# END GOLDEN"
FILES = ("test.jsonl", "dev.jsonl", "manifest.json")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def release_tasks() -> list[str]:
    """The tasks of a release: one per family, named like the family (its bundled spec)."""
    from depthbench.generators import families

    return sorted(families())


def generate_task(task: str, out: Path) -> None:
    """Write ``task``'s test and dev splits to ``out`` with ``depthbench generate`` (in process)."""
    import contextlib
    import io

    from depthbench.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["generate", task, "--split", "test,dev", "--out", str(out), "--quiet"])
    if rc != 0:
        raise SystemExit(f"regen_release: `depthbench generate {task}` failed (exit {rc})")


def changed_files(new: Path, old: Path) -> list[str]:
    """Names of the files of ``new`` that ``old`` lacks or holds with other bytes."""
    return [name for name in FILES if not (old / name).is_file() or _sha(new / name) != _sha(old / name)]


def read_golden(test_file: Path) -> dict[str, dict[str, str]]:
    """The golden table (release -> task -> manifest sha256) between the markers of ``test_file``."""
    text = test_file.read_text("utf-8")
    try:
        block = text[text.index(GOLDEN_BEGIN):text.index(GOLDEN_END)]
    except ValueError:
        raise SystemExit(f"regen_release: {test_file} has no '{GOLDEN_BEGIN}' ... '{GOLDEN_END}' block") from None
    return ast.literal_eval(block.split("=", 1)[1].strip())


def write_golden(test_file: Path, golden: dict[str, dict[str, str]]) -> None:
    """Rewrite the golden block of ``test_file`` (atomically) with ``golden``."""
    text = test_file.read_text("utf-8")
    a, b = text.index(GOLDEN_BEGIN), text.index(GOLDEN_END)
    lines = [GOLDEN_BEGIN, "GOLDEN = {"]
    for rel in sorted(golden, key=lambda r: int(r.lstrip("v"))):
        lines.append(f"    {json.dumps(rel)}: {{")
        lines += [f"        {json.dumps(task)}: {json.dumps(sha)}," for task, sha in sorted(golden[rel].items())]
        lines.append("    },")
    lines += ["}", ""]
    _atomic_write(test_file, text[:a] + "\n".join(lines) + text[b:])


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dataset_card(release: str, previous: str | None, tasks: list[str]) -> str:
    """A README.md for a new release folder: the Hub config header and a stub description."""
    head = ["---", "license: apache-2.0", f"pretty_name: depthbench {release}", "configs:"]
    for task in tasks:
        head += [f"- config_name: {task}", "  data_files:"]
        head += [f"  - split: {s}\n    path: {task}/{s}.jsonl" for s in ("test", "dev")]
    head += ["---", f"# depthbench data {release} — the canonical release", "",
             f"What changed from {previous}: (describe it here).", ""]
    return "\n".join(head)


def regenerate(release: str, data_dir: Path, test_file: Path, *, check: bool = False,
               tasks: list[str] | None = None, log=print) -> bool:
    """Regenerate ``data_dir/release``; returns True when anything differed.

    Parameters
    ----------
    release : str
        Must be the canonical release (frozen ones are never rewritten).
    data_dir : Path
        The folder holding the release folders (``data/``).
    test_file : Path
        The test whose golden block is rewritten (``tests/test_data_release.py``).
    check : bool
        Only compare; write nothing.
    tasks : list of str, optional
        Restrict to these tasks (default: every family's task).
    """
    import depthbench.data

    if release != depthbench.data.CANONICAL:
        raise SystemExit(f"regen_release: {release!r} is not the canonical release ({depthbench.data.CANONICAL}); "
                         "frozen releases are never regenerated")
    folder = data_dir / release
    names = release_tasks() if tasks is None else tasks
    stale = False
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".regen-"))
    try:
        fresh: dict[str, Path] = {}
        for task in names:
            out = staging / task
            generate_task(task, out)
            diff = changed_files(out, folder / task)
            stale |= bool(diff)
            log(f"{release}/{task}: " + (f"changed ({', '.join(diff)})" if diff else "unchanged")
                + f"; manifest sha256 {_sha(out / 'manifest.json')}")
            if diff:
                fresh[task] = out
        golden = read_golden(test_file)
        want = {task: _sha((fresh.get(task) or folder / task) / "manifest.json") for task in names}
        golden_stale = {t: s for t, s in want.items() if golden.get(release, {}).get(t) != s}
        if golden_stale:
            log(f"golden sha256 of {release} in {test_file.name}: stale for {', '.join(sorted(golden_stale))}")
        if check:
            return stale or bool(golden_stale)
        for task, out in fresh.items():
            dst = folder / task
            old = staging / f"{task}.old"
            if dst.exists():
                os.replace(dst, old)
            os.replace(out, dst)
        if not (folder / "README.md").is_file():
            releases = list(depthbench.data.RELEASES)
            prev = releases[releases.index(release) - 1] if releases.index(release) > 0 else None
            _atomic_write(folder / "README.md", dataset_card(release, prev, names))
            log(f"wrote {folder / 'README.md'}: describe what changed in it")
        if golden_stale:
            golden.setdefault(release, {}).update(want)
            write_golden(test_file, golden)
            log(f"updated the golden sha256 of {release} in {test_file}")
        return stale or bool(golden_stale)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    import depthbench.data

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the release is stale")
    parser.add_argument("--release", default=depthbench.data.CANONICAL,
                        help=f"the release to regenerate (default and only choice: {depthbench.data.CANONICAL})")
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="the folder of the release folders")
    parser.add_argument("--golden", type=Path, default=ROOT / "tests" / "test_data_release.py",
                        help="the test file holding the golden sha256 block")
    parser.add_argument("--task", action="append", default=None, help="only this task (repeatable)")
    args = parser.parse_args(argv)
    stale = regenerate(args.release, args.data, args.golden, check=args.check, tasks=args.task)
    if args.check:
        print(f"{args.release}: {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    print(f"{args.release}: {'regenerated' if stale else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
