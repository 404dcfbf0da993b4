"""The shipped releases: data/v2 (canonical) regenerates byte for byte; data/v1 stays frozen.

data/v2 is pinned by the sha256 of each task's manifest (which holds the sha256 of every
file), so any drift in a generator, the seeding or the record format fails here. data/v1
can no longer be regenerated (its generators changed), so its files are pinned instead: a
frozen release that old runs and submissions still validate against.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.errors import UserError
from depthbench.generators import families
from depthbench.tasks import load_dataset, load_spec

DATA = Path(__file__).resolve().parents[1] / "data"
RELEASE = DATA / "v2"
TASKS = sorted(families())

#: sha256 of data/v2/<task>/manifest.json (the dataset sha256 runs and submissions cite)
GOLDEN_V2 = {
    "graph_connectivity": "20c398c9018ace4fb1ed6cd4d3cce6bdaa53c0d015a959ee27b057e638aaa5bb",
    "grid_planning": "dd3404667544a4eb657aac0438d6c15ebd6cfc84c79949ea57b0bf3760a42595",
    "multihop_arithmetic": "320b04be029af066879a3dd4240170ec7ca2f43be42e8894b4bf993573e9319b",
}
#: data/v1 is frozen: its manifests never change
GOLDEN_V1 = {
    "graph_connectivity": "961b0050624057ea08bd0113c8555bbee11891236f9744b6cc406abaaaf6162e",
    "grid_planning": "10bd15a4ebffd02ec547ac159ff178efbb7a2e6474190c2d6776832e1950cfa7",
    "multihop_arithmetic": "24490674bbde1f1ed696fa704409fcea52cb7d9528ffd7349a1185520788a50b",
}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("task", TASKS)
def test_v2_regenerates_byte_for_byte_and_matches_its_golden_sha256(tmp_path, task, capsys):
    ref = RELEASE / task
    assert (ref / "manifest.json").is_file(), f"data/v2/{task} missing; see data/v2/README.md"
    assert _sha(ref / "manifest.json") == GOLDEN_V2[task], "data/v2 changed: regenerate it on purpose (README)"
    for attempt in ("a", "b"):  # twice: the same bytes every time
        out = tmp_path / attempt / task
        assert main(["generate", task, "--split", "test,dev", "--out", str(out), "--quiet"]) == 0
        capsys.readouterr()
        for name in ("test.jsonl", "dev.jsonl", "manifest.json"):
            assert _sha(out / name) == _sha(ref / name), f"{task}/{name} differs from the release"


@pytest.mark.parametrize("task", TASKS)
def test_v2_contents_match_spec(task):
    spec = load_spec(task)
    items, sha = load_dataset(RELEASE / task, split="test")
    assert sha == _sha(RELEASE / task / "manifest.json")
    per_depth: dict[int, int] = {}
    for it in items:
        per_depth[it["depth"]] = per_depth.get(it["depth"], 0) + 1
    assert per_depth == {d: 100 for d in spec.depths}
    dev, _ = load_dataset(RELEASE / task, split="dev")
    assert len(dev) == len(spec.depths) * spec.splits["dev"].n_per_depth
    assert not {it["meta"]["content_sha256"] for it in dev} & {it["meta"]["content_sha256"] for it in items}
    m = json.loads((RELEASE / task / "manifest.json").read_text())
    assert m["spec_sha256"] == spec.sha256 and m["task"] == task
    assert m["format"] == "depthbench-dataset/2" and m["item_format"] == "depthbench-item/2"
    first = json.loads((RELEASE / task / "test.jsonl").open().readline())
    assert "instance_json" in first and isinstance(first["answer"], str)  # Arrow-safe records on disk


@pytest.mark.parametrize("task", TASKS)
def test_v1_is_frozen_and_still_loads(task):
    folder = DATA / "v1" / task
    assert _sha(folder / "manifest.json") == GOLDEN_V1[task]
    items, sha = load_dataset(folder, split="test")  # checks every file against the manifest
    assert sha == GOLDEN_V1[task] and len(items) == 100 * len(load_spec(task).depths)
    assert items[0]["generator_version"] == "1" and isinstance(items[0]["instance"], dict)


def _copy_release(tmp_path: Path, task: str) -> Path:
    dst = tmp_path / "releases" / "v2" / task
    shutil.copytree(RELEASE / task, dst)
    return dst


@pytest.mark.parametrize("change", ["edit", "truncate"])
def test_a_folder_whose_files_do_not_match_its_manifest_is_refused_naming_the_file(tmp_path, change, capsys):
    folder = _copy_release(tmp_path, "graph_connectivity")
    path = folder / "dev.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    if change == "edit":
        lines[3] = lines[3].replace('"answer":"', '"answer":"1', 1)
    else:
        lines = lines[:-1]
    path.write_text("".join(lines))
    with pytest.raises(UserError, match=r"dev\.jsonl does not match its sha256 in manifest\.json"):
        load_dataset(folder, split="dev")
    load_dataset(folder, split="test")  # the untouched split still loads
    rc = main(["eval", "--data", str(folder), "--split", "dev", "--model", "simulated", "--strategy", "single",
               "--budget", "64", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "dev.jsonl does not match" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_releases_are_small():
    for name in ("v1", "v2"):
        total = sum(p.stat().st_size for p in (DATA / name).rglob("*") if p.is_file())
        assert total < 16 * 2**20, f"data/{name} is {total / 2**20:.1f} MiB"
