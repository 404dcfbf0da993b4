"""data/v1: the canonical release regenerates byte for byte and matches its contract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.generators import families
from depthbench.tasks import load_dataset, load_spec

RELEASE = Path(__file__).resolve().parents[1] / "data" / "v1"
TASKS = sorted(families())


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("task", TASKS)
def test_release_regenerates_byte_for_byte(tmp_path, task, capsys):
    ref = RELEASE / task
    assert (ref / "manifest.json").is_file(), f"data/v1/{task} missing; see data/v1/README.md"
    out = tmp_path / task
    assert main(["generate", task, "--split", "test,dev", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    for name in ("test.jsonl", "dev.jsonl"):
        assert _sha(out / name) == _sha(ref / name), f"{task}/{name} differs from the release"
    assert _sha(out / "manifest.json") == _sha(ref / "manifest.json")


@pytest.mark.parametrize("task", TASKS)
def test_release_contents_match_spec(task):
    spec = load_spec(task)
    items, sha = load_dataset(RELEASE / task, split="test")
    assert sha == _sha(RELEASE / task / "manifest.json")
    per_depth = {}
    for it in items:
        per_depth[it["depth"]] = per_depth.get(it["depth"], 0) + 1
    assert per_depth == {d: 100 for d in spec.depths}
    dev, _ = load_dataset(RELEASE / task, split="dev")
    assert len(dev) == len(spec.depths) * spec.splits["dev"].n_per_depth
    assert not {it["meta"]["content_sha256"] for it in dev} & {it["meta"]["content_sha256"] for it in items}
    m = json.loads((RELEASE / task / "manifest.json").read_text())
    assert m["spec_sha256"] == spec.sha256 and m["task"] == task


def test_release_is_small():
    total = sum(p.stat().st_size for p in RELEASE.rglob("*") if p.is_file())
    assert total < 16 * 2**20, f"data/v1 is {total / 2**20:.1f} MiB"
