"""Released datasets: folders with a ``manifest.json``, found by their manifest sha256.

The shipped releases live in the package ``depthbench.data`` (``data/v1/<task>/``); a
submission names its dataset by the sha256 of the release's manifest bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import depthbench.data
from depthbench.errors import UserError
from depthbench.io import sha256_bytes
from depthbench.tasks._dataset import load_dataset

__all__ = ["Release", "find_releases", "default_releases_dir"]


@dataclass(frozen=True)
class Release:
    """One released dataset folder: its manifest sha256, task and folder."""

    sha256: str
    task: str
    folder: Path
    manifest: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The release a folder belongs to, e.g. ``"v2"`` for ``.../data/v2/<task>``; else the folder name."""
        parent = self.folder.parent.name
        return parent if re.fullmatch(r"v\d+", parent) else self.folder.name

    def load_split(self, split: str) -> list[dict[str, Any]]:
        """The items of ``split`` (``<split>.jsonl`` in the folder), decoded.

        Raises
        ------
        UserError
            The file is missing, differs from its sha256 in the manifest (named), or has
            a corrupt line.
        """
        items, sha = load_dataset(self.folder, split=split)
        if sha != self.sha256:  # pragma: no cover - the manifest changed while validating
            raise UserError(f"release {str(self.folder)!r}: manifest.json changed while validating; retry")
        return items


def default_releases_dir() -> Path:
    """The folder of the shipped releases (package ``depthbench.data``)."""
    return Path(depthbench.data.__file__).parent


def find_releases(root: str | Path | None = None) -> dict[str, Release]:
    """Index every ``manifest.json`` up to three levels below ``root`` by its sha256.

    Parameters
    ----------
    root : path-like, optional
        Folder of releases (default: the shipped ``depthbench.data``). A dataset
        folder itself (holding ``manifest.json``) works too.
    """
    root = Path(root) if root is not None else default_releases_dir()
    if not root.is_dir():
        raise UserError(f"--releases: {str(root)!r} is not a folder of dataset releases")
    found: dict[str, Release] = {}
    for pattern in ("manifest.json", "*/manifest.json", "*/*/manifest.json", "*/*/*/manifest.json"):
        for mpath in sorted(root.glob(pattern)):
            data = mpath.read_bytes()
            try:
                manifest = json.loads(data)
            except ValueError:
                continue
            if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith("depthbench-dataset/"):
                continue
            sha = sha256_bytes(data)
            found[sha] = Release(sha, str(manifest.get("task")), mpath.parent, manifest)
    return found
