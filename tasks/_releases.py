"""Released datasets: folders with a ``manifest.json``, found by the sha256 a submission names.

The shipped releases live in the package ``depthbench.data`` (``data/<name>/<task>/`` for
each name in ``depthbench.data.RELEASES``: the last is canonical, the earlier ones frozen)
and are always known; ``--releases`` adds folders: dataset folders,
and hidden splits written by ``depthbench generate --secret-seed-file`` (``OUT/private``
with ``OUT/public``), indexed under both their private manifest and the public manifest
their submitters ran on. A submission names its dataset by the sha256 of the manifest
bytes. Two shipped releases with an identical manifest (a task whose items did not change)
are one dataset: it is named after the newest of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import depthbench.data
from depthbench.errors import UserError
from depthbench.io import read_jsonl, sha256_bytes
from depthbench.tasks._dataset import load_dataset
from depthbench.tasks._hidden import HIDDEN_FORMAT as _HIDDEN_FORMAT
from depthbench.tasks._hidden import check_commitments
from depthbench.tasks._record import decode_item

__all__ = ["Release", "find_releases", "default_releases_dir", "release_dir", "shipped_releases",
           "canonical_release", "public_content_hashes"]


@dataclass
class Release:
    """One released dataset: its manifest sha256, task and item folder.

    Attributes
    ----------
    sha256 : str
        The sha256 a submission names: of the dataset manifest, or (hidden split) of the
        public manifest the submitters ran on.
    task : str
    folder : Path
        The folder holding ``<split>.jsonl`` with answers (a hidden split's ``private/``).
    manifest : dict
        The dataset manifest of ``folder``.
    hidden : bool
        True for a hidden split (answers held by the maintainers).
    public_manifest : Path or None
        A hidden split's public manifest (answer commitments), when present.
    """

    sha256: str
    task: str
    folder: Path
    manifest: Mapping[str, Any]
    hidden: bool = False
    public_manifest: Path | None = None
    #: the sha256 tables group by: a hidden split's public manifest sha256, else ``sha256``
    board_sha256: str = ""
    _loaded: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The release a folder belongs to, e.g. ``"v2"`` for ``.../data/v2/<task>``, ``"hidden split NAME"``
        for a hidden split's ``NAME/private``; else the folder name."""
        parent = self.folder.parent.name
        if self.hidden:
            return f"hidden split {parent}"
        return parent if re.fullmatch(r"v[0-9]+", parent) else self.folder.name

    @property
    def frozen(self) -> bool:
        """True for a shipped release other than the canonical one (it validates, but is no longer made)."""
        return (not self.hidden and self.name in shipped_releases() and self.name != canonical_release()
                and self.folder.parent.parent.resolve() == default_releases_dir().resolve())

    def load_split(self, split: str) -> list[dict[str, Any]]:
        """The items of ``split`` (``<split>.jsonl`` in the folder), decoded.

        For a hidden split with a public manifest, the answers are first checked against the
        published commitments (``salts.jsonl``), so a private folder that was changed after
        publication is refused.

        Raises
        ------
        UserError
            The file is missing, differs from its sha256 in the manifest (named), has a
            corrupt line, or (hidden split) its answers do not match the public commitments.
        """
        if split in self._loaded:
            return self._loaded[split]
        items, _ = load_dataset(self.folder, split=split)
        if self.hidden and self.public_manifest is not None and (self.folder / "salts.jsonl").is_file():
            salts = {str(r["id"]): str(r["salt"]) for r in read_jsonl(self.folder / "salts.jsonl")}
            probs = check_commitments(self.public_manifest, items, salts)
            if probs:
                raise UserError(f"release {str(self.folder)!r}: the private items do not match the public "
                                f"commitments in {str(self.public_manifest)!r} ({probs[0]}); restore the private "
                                "folder that was published")
        self._loaded[split] = items
        return items


def default_releases_dir() -> Path:
    """The folder of the shipped releases (package ``depthbench.data``)."""
    return Path(depthbench.data.__file__).parent


def shipped_releases() -> tuple[str, ...]:
    """Names of the shipped releases, oldest first (``depthbench.data.RELEASES``)."""
    return tuple(depthbench.data.RELEASES)


def canonical_release() -> str:
    """Name of the canonical release (the newest; today's generators reproduce it byte for byte)."""
    return str(depthbench.data.CANONICAL)


def release_dir(name: str | None = None, task: str | None = None) -> Path:
    """The folder of a shipped release (default: the canonical one), or of one task in it.

    Raises
    ------
    UserError
        ``name`` is not a shipped release.
    """
    name = canonical_release() if name is None else name
    if name not in shipped_releases():
        raise UserError(f"release: {name!r} is not a shipped release ({', '.join(shipped_releases())}); "
                        "choose one of them")
    folder = default_releases_dir() / name
    return folder if task is None else folder / task


def _manifests(root: Path) -> Iterator[Path]:
    if (root / "manifest.json").is_file():
        yield root / "manifest.json"
    for pattern in ("*/manifest.json", "*/*/manifest.json", "*/*/*/manifest.json"):
        yield from sorted(root.glob(pattern))


def _read_json(path: Path) -> tuple[Any, bytes] | None:
    try:
        data = path.read_bytes()
        return json.loads(data), data
    except (OSError, ValueError):
        return None


def _index_root(root: Path, found: dict[str, Release]) -> None:
    for mpath in _manifests(root):
        got = _read_json(mpath)
        if got is None or not isinstance(got[0], dict):
            continue
        manifest, data = got
        fmt = str(manifest.get("format", ""))
        if fmt.startswith("depthbench-dataset/"):
            private = mpath.parent
            hidden = (private / "salts.jsonl").is_file()
            public = private.parent / "public" / "manifest.json"
            pub = _read_json(public) if hidden and public.is_file() else None
            pub_ok = pub is not None and isinstance(pub[0], dict) and pub[0].get("format") == _HIDDEN_FORMAT
            board = sha256_bytes(pub[1]) if pub_ok and pub is not None else sha256_bytes(data)
            rel = Release(sha256_bytes(data), str(manifest.get("task")), private, manifest, hidden=hidden,
                          public_manifest=public if pub_ok else None, board_sha256=board)
            found.setdefault(rel.sha256, rel)
            if pub_ok:
                found.setdefault(board, Release(board, rel.task, private, manifest, hidden=True,
                                                public_manifest=public, board_sha256=board, _loaded=rel._loaded))
        elif fmt == _HIDDEN_FORMAT:
            private = mpath.parent.parent / "private"
            got_private = _read_json(private / "manifest.json")
            if got_private is None or not isinstance(got_private[0], dict):
                continue  # public commitments only: nothing to score against here
            sha = sha256_bytes(data)
            found.setdefault(sha, Release(sha, str(manifest.get("task")), private, got_private[0], hidden=True,
                                          public_manifest=mpath, board_sha256=sha))


def find_releases(root: str | Path | Sequence[str | Path] | None = None) -> dict[str, Release]:
    """Index the known releases by the sha256 a submission names.

    The shipped releases (``depthbench.data``) are always known; ``root`` adds folders
    searched for ``manifest.json`` up to three levels down: dataset folders, and hidden
    splits written by ``depthbench generate --secret-seed-file`` (``OUT/private`` with
    ``OUT/public``), which are indexed under both their private and their public manifest.

    Parameters
    ----------
    root : path-like or sequence of path-like, optional
        Extra release folders (``--releases``).

    Raises
    ------
    UserError
        A given folder does not exist.
    """
    roots = [] if root is None else [root] if isinstance(root, (str, Path)) else list(root)
    found: dict[str, Release] = {}
    for r in roots:
        p = Path(r)
        if not p.is_dir():
            raise UserError(f"--releases: {str(p)!r} is not a folder of dataset releases")
        _index_root(p, found)
    for name in reversed(shipped_releases()):  # newest first: an unchanged task's manifest is named after it
        if (default_releases_dir() / name).is_dir():
            _index_root(default_releases_dir() / name, found)
    return found


def public_content_hashes(task: str) -> set[str]:
    """Content sha256 of every item in the shipped releases of ``task`` (to keep hidden items new)."""
    out: set[str] = set()
    try:
        releases = find_releases()
    except UserError:
        return out
    for rel in releases.values():
        if rel.task != task:
            continue
        for name in sorted((rel.manifest.get("files") or {})):
            path = rel.folder / name
            if name.endswith(".jsonl") and path.is_file():
                out.update(str((decode_item(it).get("meta") or {}).get("content_sha256")) for it in read_jsonl(path))
    return out
