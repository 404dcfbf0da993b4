"""Create a dataset release, or check that today's generators still reproduce the canonical one.

A maintainer's tool. ``depthbench.data.RELEASES`` lists the releases, oldest first; the last
is canonical. **A release whose folder exists is never rewritten**: submissions name their
dataset by the sha256 of its manifest, so rewriting a published folder would invalidate every
submission made on it. For every task of the release (one per family: its bundled task spec,
splits ``test`` and ``dev``) the script generates the task into a temporary folder beside the
release, exactly as the README's command does (``depthbench generate TASK --split test,dev``),
and compares it with the shipped files:

* item by item, byte for byte, with ``meta.generator_source_sha256`` left out (it is
  provenance: the sha256 of the family module that built the shipped files, so a docstring
  edit changes it and nothing else);
* the manifests with each file's ``sha256`` left out (the only manifest field that derives
  from that hash); every other field (counts, per-depth counts, generator versions, spec
  sha256, command, suite version, formats) must be equal.

Any other difference is **content drift**: the items changed, so they are a new release.
Bump the family's ``VERSION``, append the new name (e.g. ``v4``) to ``RELEASES`` in
``data/__init__.py`` and run this script, which then creates ``data/v4/`` (written into a
staging folder and renamed into place whole), a dataset card to complete, and its entry
of the golden table in ``tests/test_data_release.py``. Existing entries stay pinned.

Run it from the repository root::

    python scripts/regen_release.py            # create the canonical release if its folder is missing
    python scripts/regen_release.py --check    # only compare: exit 1 on drift (or a stale golden)
    python scripts/regen_release.py --replace  # rewrite the canonical release (unpublished ones only!)

``--replace`` regenerates an existing folder (each changed task folder is replaced by a
rename; the old one is moved aside first and removed last, so the release never holds a
half-written task) and rewrites its golden entry. Use it **only for a release that has not
been published yet**, e.g. during the merge that adds it; never for one that submissions cite.
It refuses a folder of which git's HEAD holds any file (a committed release is published).

Exit status: 0 done (or, with ``--check``, up to date), 1 drift or a stale golden
(``--check``), 2 refused or an error (a one-line message says what to do).
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
DATA_DIR = ROOT / "data"  # --data's default
GOLDEN_BEGIN = "# BEGIN GOLDEN (written by scripts/regen_release.py)"
GOLDEN_END = "# END GOLDEN"
FILES = ("test.jsonl", "dev.jsonl", "manifest.json")


class RegenError(Exception):
    """A refusal or an error of this script: one line saying what to do (exit status 2)."""


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

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(["generate", task, "--split", "test,dev", "--out", str(out), "--quiet"])
    if rc != 0:  # generate's own one-line message, as this script's one line
        why = next((ln for ln in reversed(err.getvalue().splitlines()) if ln.strip()), f"exit {rc}")
        raise RegenError(f"`depthbench generate {task}` failed: {why.removeprefix('depthbench generate: ')}")


def changed_files(new: Path, old: Path) -> list[str]:
    """Names of the files of ``new`` that ``old`` lacks or holds with other bytes."""
    return [name for name in FILES if not (old / name).is_file() or _sha(new / name) != _sha(old / name)]


SOURCE_FIELD = "generator_source_sha256"
_MASK = "<source sha256>"


def _source_sha(record: dict) -> str | None:
    """``meta.generator_source_sha256`` of an item record (``meta_json`` text, or a ``meta`` object)."""
    meta = record.get("meta")
    if meta is None and isinstance(record.get("meta_json"), str):
        meta = json.loads(record["meta_json"])
    value = meta.get(SOURCE_FIELD) if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def _masked_item(line: bytes) -> tuple[dict, bytes]:
    """The parsed record of one JSONL line, and the line with its source sha256 masked."""
    record = json.loads(line)
    sha = _source_sha(record)
    return record, (line.replace(sha.encode("ascii"), _MASK.encode("ascii")) if sha else line)


def _fields(record: dict) -> dict:
    """A record's fields with ``meta_json`` decoded and the source sha256 left out (to name what differs)."""
    out = dict(record)
    meta = out.pop("meta", None)
    if meta is None and isinstance(out.get("meta_json"), str):
        meta = json.loads(out.pop("meta_json"))
    for k, v in (meta or {}).items():
        if k != SOURCE_FIELD:
            out[f"meta.{k}"] = v
    return out


def _differing(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k, _MASK) != b.get(k, _MASK))


def _jsonl_diff(name: str, new: Path, old: Path) -> str | None:
    new_lines, old_lines = new.read_bytes().splitlines(), old.read_bytes().splitlines()
    if len(new_lines) != len(old_lines):
        return f"{name}: {len(new_lines)} items generated, {len(old_lines)} shipped"
    bad = []
    for i, (x, y) in enumerate(zip(new_lines, old_lines)):
        (rx, mx), (ry, my) = _masked_item(x), _masked_item(y)
        if mx != my:
            bad.append((i, rx, ry))
    if not bad:
        return None
    i, rx, ry = bad[0]
    fields = _differing(_fields(rx), _fields(ry)) or ["serialisation"]
    return (f"{name}: {len(bad)} of {len(new_lines)} items differ, first line {i + 1} "
            f"(item {ry.get('id')!r}: {', '.join(fields)})")


def _masked_manifest(path: Path) -> tuple[dict, bytes]:
    text = path.read_bytes()
    manifest = json.loads(text)
    for entry in (manifest.get("files") or {}).values():
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        if isinstance(sha, str):
            text = text.replace(sha.encode("ascii"), _MASK.encode("ascii"))
            entry["sha256"] = _MASK
    return manifest, text


def release_diff(new: Path, old: Path) -> list[str]:
    """What differs between a fresh task folder ``new`` and a shipped one ``old``, beyond provenance.

    Items are compared line by line, byte for byte, with ``meta.generator_source_sha256`` masked;
    the manifests byte for byte with each file's ``sha256`` masked (the one manifest field that
    derives from the source sha256). Returns one line per differing file (empty: the same release).
    """
    out = []
    for name in FILES:
        if not (old / name).is_file():
            out.append(f"{name}: missing from the release")
        elif name.endswith(".jsonl"):
            why = _jsonl_diff(name, new / name, old / name)
            if why:
                out.append(why)
        else:
            (mx, tx), (my, ty) = _masked_manifest(new / name), _masked_manifest(old / name)
            if tx != ty:
                out.append(f"{name}: field(s) {', '.join(_differing(mx, my)) or 'serialisation'} differ")
    return out


def read_golden(test_file: Path) -> dict[str, dict[str, str]]:
    """The golden table (release -> task -> manifest sha256) between the markers of ``test_file``."""
    try:
        text = test_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RegenError(f"--golden: cannot read {test_file} ({type(e).__name__}); give the test file that holds "
                         "the golden block (default tests/test_data_release.py)") from None
    try:
        block = text[text.index(GOLDEN_BEGIN):text.index(GOLDEN_END)]
    except ValueError:
        raise RegenError(f"{test_file} has no '{GOLDEN_BEGIN}' ... '{GOLDEN_END}' block") from None
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


def _family_file(task: str) -> str:
    from depthbench.generators import get_family
    from depthbench.tasks import load_spec

    path = Path(get_family(load_spec(task).family).source_file)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _drift_message(release: str, task: str, why: str, releases: list[str]) -> str:
    nxt = f"v{int(release.lstrip('v')) + 1}" if release.lstrip("v").isdigit() else "a new name"
    return (f"{release}/{task}: content drift ({why}); data/{release} is a published release and is never "
            f"rewritten: bump VERSION in {_family_file(task)}, append {nxt!r} to RELEASES in data/__init__.py, then "
            f"run scripts/regen_release.py (it creates data/{nxt}/ and its golden entry)")


def _replace_tasks(folder: Path, staging: Path, fresh: dict[str, Path]) -> None:
    """Move each fresh task folder into ``folder`` by a rename (the old one aside first, removed last)."""
    for task, out in fresh.items():
        dst = folder / task
        if dst.exists():
            os.replace(dst, staging / f"{task}.old")
        os.replace(out, dst)


def _committed(folder: Path) -> str | None:
    """A file of ``folder`` that git's HEAD holds (the release is published), or None (not a git
    checkout, git missing, or nothing of it committed)."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(folder), "ls-tree", "-r", "--name-only", "HEAD", "."],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    names = out.stdout.split() if out.returncode == 0 else []
    return f"{folder.name}/{names[0]}" if names else None


def regenerate(release: str, data_dir: Path, test_file: Path, *, check: bool = False, replace: bool = False,
               tasks: list[str] | None = None, log=print, releases: list[str] | None = None) -> bool:
    """Create, check or (``replace``) rewrite ``data_dir/release``; returns True when anything differed.

    Parameters
    ----------
    release : str
        Must be the canonical release (frozen ones are never regenerated).
    data_dir : Path
        The folder holding the release folders (``data/``).
    test_file : Path
        The test whose golden block holds the release's manifest sha256 (``tests/test_data_release.py``).
    check : bool
        Only compare (item by item without the source sha256, see :func:`release_diff`) and check
        the golden entry; write nothing.
    replace : bool
        Rewrite an existing release folder and its golden entry (only for a release that has not
        been published yet: refused when git's HEAD holds any file of the folder).
    tasks : list of str, optional
        Restrict to these tasks (default: every family's task).
    releases : list of str, optional
        The release list (default ``depthbench.data.RELEASES``; the last is canonical).

    Raises
    ------
    RegenError
        ``release`` is not canonical; or (without ``check`` / ``replace``) the release folder exists
        and today's generators drift from it, lacks a task, or its golden entry differs, or the
        golden pins a release whose folder is missing and regenerates differently; or (with
        ``replace``) the release folder is committed in git.
    """
    import depthbench.data

    releases = list(depthbench.data.RELEASES if releases is None else releases)
    if release != releases[-1]:
        what = (f"a frozen release (the canonical one is {releases[-1]}); frozen releases are never regenerated"
                if release in releases else f"not a release (RELEASES: {', '.join(releases)})")
        raise RegenError(f"--release: {release!r} is {what}: give --release {releases[-1]} or leave it out")
    known = release_tasks()
    names = known if tasks is None else list(dict.fromkeys(tasks))
    unknown = [t for t in names if t not in known]
    if unknown:
        raise RegenError(f"--task: {unknown[0]!r} is not a task of a release; choose among {', '.join(known)} "
                         "(or leave --task out for all)")
    if data_dir.exists() and not data_dir.is_dir():
        raise RegenError(f"--data: {data_dir} is a file; give the folder that holds the release folders (data/)")
    folder = data_dir / release
    existed = folder.is_dir()
    golden = read_golden(test_file)
    pinned = dict(golden.get(release, {}))
    drift: dict[str, str] = {}
    if not check:  # --check writes nothing: it stages in the system's temp folder, not under --data
        data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=None if check else data_dir, prefix=f".regen-{release}-"))
    try:
        fresh: dict[str, Path] = {}
        for task in names:
            out = staging / "new" / task
            generate_task(task, out)
            fresh[task] = out
            if not (folder / task / "manifest.json").is_file():
                drift[task] = "no such task folder"
                log(f"{release}/{task}: missing")
                continue
            diff = release_diff(out, folder / task)
            same = "unchanged" if not changed_files(out, folder / task) else "same items (source sha256 differs)"
            log(f"{release}/{task}: " + (f"drift ({'; '.join(diff)})" if diff else same))
            if diff:
                drift[task] = "; ".join(diff)
        shipped = {t: _sha(folder / t / "manifest.json") for t in names if (folder / t / "manifest.json").is_file()}
        golden_stale = sorted(t for t in shipped if pinned.get(t) != shipped[t])
        if golden_stale:
            log(f"golden sha256 of {release} in {test_file.name}: "
                + ", ".join(f"{t} {'missing' if t not in pinned else 'differs from data/' + release}"
                            for t in golden_stale))
        if check:
            if not existed:
                log(f"{folder} does not exist yet: run scripts/regen_release.py"
                    + ("" if data_dir == DATA_DIR else f" --data {data_dir}") + " to create it")
            elif drift:
                task = sorted(drift)[0]
                log(_drift_message(release, task, drift[task], releases))
            return bool(drift) or bool(golden_stale) or not existed

        if not existed:  # a new release: written whole into staging, then renamed into place
            want = {t: _sha(fresh[t] / "manifest.json") for t in names}
            clash = sorted(t for t in names if t in pinned and pinned[t] != want[t])
            if clash and not replace:
                raise RegenError(f"data/{release} is missing but {test_file.name} pins it ({', '.join(clash)}), and "
                                 f"today's generators give other manifests: restore the published folder (git checkout "
                                 f"-- data/{release}); --replace only if {release} was never published")
            new_folder = staging / "new"
            prev = releases[-2] if len(releases) > 1 else None
            _atomic_write(new_folder / "README.md", dataset_card(release, prev, names))
            os.replace(new_folder, folder)
            log(f"created data/{release}/ ({', '.join(names)}); describe what changed in {folder / 'README.md'}"
                + (f", and say in data/{prev}/README.md that {prev} is now frozen" if prev else ""))
            golden.setdefault(release, {}).update(want)
            write_golden(test_file, golden)
            log(f"wrote the golden sha256 of {release} in {test_file}")
            return True

        if not replace:
            if drift:
                task = sorted(drift)[0]
                if drift[task] == "no such task folder":
                    raise RegenError(f"data/{release} exists but lacks task {task}: adding it changes a published "
                                     f"release; make a new release (append a name to RELEASES), or --replace only if "
                                     f"{release} was never published")
                raise RegenError(_drift_message(release, task, drift[task], releases))
            changed = [t for t in golden_stale if t in pinned]
            if changed:
                raise RegenError(f"golden sha256 of {release}/{changed[0]} in {test_file.name} differs from "
                                 f"data/{release}: a published release stays pinned; restore the file that changed "
                                 f"(git checkout -- data/{release} {test_file.name})")
            if golden_stale:  # entries missing: pin what is shipped (no pin changes)
                golden.setdefault(release, {}).update({t: shipped[t] for t in golden_stale})
                write_golden(test_file, golden)
                log(f"pinned {', '.join(golden_stale)} of {release} in {test_file}")
            return bool(golden_stale)

        # --replace: an unpublished release is rewritten where it differs (bytes, not only content)
        committed = _committed(folder)
        if committed:
            raise RegenError(f"data/{release} is committed ({committed} is in git's HEAD): it is published and "
                             "never changes; --replace is only for a release not committed yet (bump the "
                             "family's VERSION and append a new name to RELEASES instead)")
        changed = {t: fresh[t] for t in names if not (folder / t).is_dir() or changed_files(fresh[t], folder / t)}
        _replace_tasks(folder, staging, changed)
        if not (folder / "README.md").is_file():
            prev = releases[releases.index(release) - 1] if releases.index(release) > 0 else None
            _atomic_write(folder / "README.md", dataset_card(release, prev, names))
            log(f"wrote {folder / 'README.md'}: describe what changed in it")
        want = {t: _sha(folder / t / "manifest.json") for t in names}
        if any(pinned.get(t) != s for t, s in want.items()):
            golden.setdefault(release, {}).update(want)
            write_golden(test_file, golden)
            log(f"updated the golden sha256 of {release} in {test_file}")
        for t in changed:
            log(f"replaced data/{release}/{t}")
        return bool(changed) or bool(golden_stale)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    import depthbench.data
    from depthbench.cli import _Parser  # usage errors in one line, exit 2, as depthbench's own

    parser = _Parser(prog="regen_release",
        description=__doc__.split("\n")[0],
        epilog="A release whose folder exists is never rewritten (except with --replace); see the module docstring.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="only compare today's generators with the release (item by item, without "
                           "meta.generator_source_sha256) and its golden entry; exit 1 on drift")
    mode.add_argument("--replace", action="store_true",
                      help="rewrite an existing release folder and its golden entry: ONLY for a release that has not "
                           "been published yet (e.g. during the merge that adds it)")
    parser.add_argument("--release", default=depthbench.data.CANONICAL,
                        help=f"the release (default and only choice: the canonical one, {depthbench.data.CANONICAL})")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the folder of the release folders")
    parser.add_argument("--golden", type=Path, default=ROOT / "tests" / "test_data_release.py",
                        help="the test file holding the golden sha256 block")
    parser.add_argument("--task", action="append", default=None, help="only this task (repeatable)")
    args = parser.parse_args(argv)
    try:
        differed = regenerate(args.release, args.data, args.golden, check=args.check, replace=args.replace,
                              tasks=args.task)
    except RegenError as e:
        print(f"regen_release: {e}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.release}: {'drift: see above' if differed else 'up to date'}")
        return 1 if differed else 0
    print(f"{args.release}: {'written' if differed else 'up to date, nothing written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
