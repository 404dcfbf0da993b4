"""The shipped releases: published folders never change; today's generators still make the canonical one.

``depthbench.data.RELEASES`` lists the releases, oldest first; the last is canonical. Every
release is pinned by the sha256 of each task's manifest (which holds the sha256 of every
file) in :data:`GOLDEN`, which ``scripts/regen_release.py`` writes once, when it creates a
release folder, and never rewrites for a published one. The canonical release is regenerated
here and compared item by item with ``meta.generator_source_sha256`` left out (provenance: the
module that built the shipped files, which a docstring edit changes), so any drift in a
generator's output, the seeding, the builder or the record format fails, and the fix is a new
release; a frozen release can no longer be regenerated (its generators changed), but still
loads and validates against its pinned manifests, so old runs and submissions keep working.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

import depthbench.data
from depthbench.cli import main
from depthbench.errors import UserError
from depthbench.generators import families
from depthbench.tasks import canonical_release, find_releases, load_dataset, load_spec, release_dir, shipped_releases

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
RELEASES = depthbench.data.RELEASES
CANONICAL = depthbench.data.CANONICAL
FROZEN = RELEASES[:-1]
TASKS = sorted(families())

#: sha256 of data/<release>/<task>/manifest.json (the dataset sha256 runs and submissions cite)
# BEGIN GOLDEN (written by scripts/regen_release.py)
GOLDEN = {
    "v1": {
        "graph_connectivity": "961b0050624057ea08bd0113c8555bbee11891236f9744b6cc406abaaaf6162e",
        "grid_planning": "10bd15a4ebffd02ec547ac159ff178efbb7a2e6474190c2d6776832e1950cfa7",
        "multihop_arithmetic": "24490674bbde1f1ed696fa704409fcea52cb7d9528ffd7349a1185520788a50b",
    },
    "v2": {
        "graph_connectivity": "20c398c9018ace4fb1ed6cd4d3cce6bdaa53c0d015a959ee27b057e638aaa5bb",
        "grid_planning": "dd3404667544a4eb657aac0438d6c15ebd6cfc84c79949ea57b0bf3760a42595",
        "multihop_arithmetic": "320b04be029af066879a3dd4240170ec7ca2f43be42e8894b4bf993573e9319b",
    },
    "v3": {
        "graph_connectivity": "9391538a3f8767a086bcc9249307be4f543ec1b9600848dbc01794d682f14ecb",
        "grid_planning": "a268348064ddfb63e7433508cf2058eea5ef3f74335449b2321e4fb753ff0d64",
        "multihop_arithmetic": "89dc0991b87116b13e4b32dc9c639263e5cf92f61e2aef803658a54f54e9a875",
    },
}
# END GOLDEN


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _regen_script():
    spec = importlib.util.spec_from_file_location("regen_release", REPO / "scripts" / "regen_release.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_release_list_names_every_release_folder_and_its_golden():
    """Adding a release is a folder plus its name in RELEASES: nothing else lists them."""
    folders = sorted((p.name for p in DATA.iterdir() if p.is_dir() and p.name.startswith("v")),
                     key=lambda n: int(n[1:]))
    assert list(RELEASES) == folders and CANONICAL == RELEASES[-1] == canonical_release()
    assert shipped_releases() == RELEASES and release_dir() == DATA / CANONICAL
    assert sorted(GOLDEN) == sorted(RELEASES) and all(sorted(GOLDEN[r]) == TASKS for r in RELEASES)
    for rel in RELEASES:
        assert all((DATA / rel / t / "manifest.json").is_file() for t in TASKS), f"data/{rel} lacks a task"
        assert (DATA / rel / "README.md").is_file(), f"data/{rel} has no dataset card"
    with pytest.raises(UserError, match=r"'v0' is not a shipped release"):
        release_dir("v0")


@pytest.mark.parametrize("task", TASKS)
def test_the_canonical_release_regenerates_item_for_item_and_matches_its_golden_sha256(tmp_path, task):
    ref = DATA / CANONICAL / task
    assert _sha(ref / "manifest.json") == GOLDEN[CANONICAL][task], \
        f"data/{CANONICAL} changed: a published release is never rewritten (restore it with git checkout)"
    regen = _regen_script()
    outs = []
    for attempt in ("a", "b"):  # twice: the same bytes every time
        out = tmp_path / attempt / task
        regen.generate_task(task, out)
        outs.append(out)
        diff = regen.release_diff(out, ref)
        assert diff == [], regen._drift_message(CANONICAL, task, "; ".join(diff), list(RELEASES))
    assert regen.changed_files(outs[0], outs[1]) == []


@pytest.mark.parametrize("task", TASKS)
def test_canonical_contents_match_spec(task):
    spec = load_spec(task)
    folder = DATA / CANONICAL / task
    items, sha = load_dataset(folder, split="test")
    assert sha == _sha(folder / "manifest.json")
    per_depth: dict[int, int] = {}
    for it in items:
        per_depth[it["depth"]] = per_depth.get(it["depth"], 0) + 1
    assert per_depth == {d: 100 for d in spec.depths}
    dev, _ = load_dataset(folder, split="dev")
    assert len(dev) == len(spec.depths) * spec.splits["dev"].n_per_depth
    assert not {it["meta"]["content_sha256"] for it in dev} & {it["meta"]["content_sha256"] for it in items}
    m = json.loads((folder / "manifest.json").read_text())
    assert m["spec_sha256"] == spec.sha256 and m["task"] == task
    assert m["format"] == "depthbench-dataset/2" and m["item_format"] == "depthbench-item/2"
    assert m["generator_versions"] == {task: items[0]["generator_version"]}
    first = json.loads((folder / "test.jsonl").open().readline())
    assert "instance_json" in first and isinstance(first["answer"], str)  # Arrow-safe records on disk


@pytest.mark.parametrize("release", FROZEN)
@pytest.mark.parametrize("task", TASKS)
def test_frozen_releases_are_pinned_and_still_load(release, task):
    folder = DATA / release / task
    assert _sha(folder / "manifest.json") == GOLDEN[release][task], f"frozen release data/{release} changed"
    items, sha = load_dataset(folder, split="test")  # checks every file against the manifest
    assert sha == GOLDEN[release][task] and len(items) == 100 * len(load_spec(task).depths)
    assert isinstance(items[0]["instance"], dict)
    m = json.loads((folder / "manifest.json").read_text())
    assert {it["generator_version"] for it in items} == set(m["generator_versions"].values())
    rel = find_releases()[sha]  # a submission on it finds it (named after the newest identical release)
    assert rel.task == task and rel.name == max((r for r in RELEASES if GOLDEN[r][task] == sha),
                                                key=lambda r: int(r[1:]))


def test_the_canonical_dataset_card_names_every_family_whose_items_changed():
    """The card's "What changed" section says, per family, what a user of the previous release
    gets differently: each family whose generator version moved is named there with it."""
    previous = RELEASES[-2]
    card = (DATA / CANONICAL / "README.md").read_text("utf-8")
    assert f"# depthbench data {CANONICAL} — the canonical release" in card
    section = card[card.index(f"What changed from {previous}"):card.index("Every item's depth was certified")]
    for task in TASKS:
        new = json.loads((DATA / CANONICAL / task / "manifest.json").read_text())["generator_versions"][task]
        old = json.loads((DATA / previous / task / "manifest.json").read_text())["generator_versions"][task]
        if new != old:
            assert f"**{task}**" in section, f"data/{CANONICAL}/README.md does not say what changed in {task}"
            assert f"version {new}" in section


def test_readme_and_help_point_newcomers_at_the_canonical_release():
    """Every command example that names a shipped release (`--data data/vN/...`, `export hub
    data/vN`) names the canonical one; the frozen ones appear only as frozen."""
    import re

    readme = (REPO / "README.md").read_text("utf-8")
    named = re.findall(r"(?:--data\s+|export hub\s+)data/(v\d+)", readme)
    assert named and set(named) == {CANONICAL}, sorted(set(named))
    hub_help = (REPO / "app" / "adapters" / "_cli.py").read_text("utf-8")
    assert re.findall(r"data/(v\d+)", hub_help) == [CANONICAL]


def test_v1_is_the_first_release_of_generator_version_1():
    items, _ = load_dataset(DATA / "v1" / "graph_connectivity", split="dev")
    assert items[0]["generator_version"] == "1"


def _copy_release(tmp_path: Path, task: str) -> Path:
    dst = tmp_path / "releases" / CANONICAL / task
    shutil.copytree(DATA / CANONICAL / task, dst)
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


def test_a_manifest_whose_per_depth_counts_do_not_match_its_file_is_refused(tmp_path, capsys):
    """The manifest's per-depth counts are a claim about the file too: a depth moved is refused, named."""
    folder = _copy_release(tmp_path, "multihop_arithmetic")
    manifest = json.loads((folder / "manifest.json").read_text())
    per_depth = manifest["files"]["dev.jsonl"]["per_depth"]
    per_depth["1"], per_depth["2"] = per_depth["1"] + 1, per_depth["2"] - 1  # same total, one item moved
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=r"dev\.jsonl holds 5 items of depth 1 but manifest\.json's per_depth lists 6"):
        load_dataset(folder, split="dev")
    rc = main(["eval", "--data", str(folder), "--split", "dev", "--model", "simulated", "--strategy", "single",
               "--budget", "64", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "per_depth lists 6" in err and "Traceback" not in err and not (tmp_path / "run").exists()


def test_releases_are_small():
    for name in RELEASES:
        total = sum(p.stat().st_size for p in (DATA / name).rglob("*") if p.is_file())
        assert total < 16 * 2**20, f"data/{name} is {total / 2**20:.1f} MiB"


def _golden_file(tmp_path: Path, regen, golden: dict) -> Path:
    test_file = tmp_path / "test_golden.py"
    test_file.write_text(f"X = 1\n{regen.GOLDEN_BEGIN}\nGOLDEN = {golden!r}\n{regen.GOLDEN_END}\nY = 2\n")
    return test_file


def _rewrite_items(folder: Path, edit) -> None:
    """Apply ``edit(record)`` to every record of the task folder's JSONL files and re-hash the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in ("test.jsonl", "dev.jsonl"):
        rows = [json.loads(line) for line in (folder / name).read_text().splitlines()]
        for r in rows:
            edit(r)
        (folder / name).write_text("".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in rows))
        manifest["files"][name]["sha256"] = _sha(folder / name)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _other_source(record: dict) -> None:
    meta = json.loads(record["meta_json"])
    meta["generator_source_sha256"] = "ab" * 32  # as if the module had been edited after the release was made
    record["meta_json"] = json.dumps(meta, separators=(",", ":"), sort_keys=True)


def _copy_with_golden(tmp_path: Path, task: str, edit=None):
    regen = _regen_script()
    data = tmp_path / "data"
    shutil.copytree(DATA / CANONICAL / task, data / CANONICAL / task)
    (data / CANONICAL / "README.md").write_text("card\n")
    if edit is not None:
        _rewrite_items(data / CANONICAL / task, edit)
    golden = {rel: dict(v) for rel, v in GOLDEN.items()}
    golden[CANONICAL] = {task: _sha(data / CANONICAL / task / "manifest.json")}
    return regen, data, _golden_file(tmp_path, regen, golden)


def test_the_copy_with_another_source_sha256_reserialises_to_the_shipped_bytes():
    """The test edits below start from records that re-serialise byte for byte (so only the edit differs)."""
    line = (DATA / CANONICAL / "grid_planning" / "dev.jsonl").read_text().splitlines()[0]
    assert json.dumps(json.loads(line), separators=(",", ":"), sort_keys=True) == line
    meta_json = json.loads(line)["meta_json"]
    assert json.dumps(json.loads(meta_json), separators=(",", ":"), sort_keys=True) == meta_json


@pytest.mark.parametrize("edit, passes, named", [
    (_other_source, True, None),
    (lambda r: r.update(answer=r["answer"] + "U") if r["index"] == 1 else None, False, "answer"),
    (lambda r: r.update(prompt=r["prompt"].replace("grid", "maze", 1)) if r["index"] == 2 else None, False, "prompt"),
    (lambda r: (_other_source(r), r.update(depth=r["depth"] + 1)) if r["index"] == 0 else _other_source(r), False,
     "depth"),
], ids=["source-sha-only", "answer", "prompt", "depth-and-source"])
def test_check_ignores_only_the_generator_source_sha256(tmp_path, edit, passes, named):
    """--check compares items without meta.generator_source_sha256 and manifests without their file
    hashes: a release whose items differ only in that hash is up to date; any other change is drift,
    named by item and field, with the fix in one line."""
    task = "grid_planning"
    regen, data, test_file = _copy_with_golden(tmp_path, task, edit)
    before = {p.name: _sha(p) for p in (data / CANONICAL / task).iterdir()}
    logs: list[str] = []
    assert regen.regenerate(CANONICAL, data, test_file, check=True, tasks=[task], log=logs.append) is (not passes)
    assert {p.name: _sha(p) for p in (data / CANONICAL / task).iterdir()} == before  # --check writes nothing
    if passes:
        assert logs == [f"{CANONICAL}/{task}: same items (source sha256 differs)"]
        assert regen.changed_files(data / CANONICAL / task, DATA / CANONICAL / task) == list(regen.FILES)
        assert regen.regenerate(CANONICAL, data, test_file, tasks=[task], log=logs.append) is False  # nothing to do
    else:
        assert any(f"(item " in line and named in line for line in logs), logs
        fix = logs[-1]
        assert "never rewritten" in fix and f"append 'v{int(CANONICAL[1:]) + 1}' to RELEASES" in fix
        assert "generators/grid_planning.py" in fix
    assert {p.name: _sha(p) for p in (data / CANONICAL / task).iterdir()} == before


def test_a_manifest_field_that_does_not_derive_from_the_source_sha256_is_drift(tmp_path):
    task = "multihop_arithmetic"
    regen, data, _ = _copy_with_golden(tmp_path, task)
    m = json.loads((data / CANONICAL / task / "manifest.json").read_text())
    m["files"]["dev.jsonl"]["sha256"] = "0" * 64  # derives from the source sha256: masked
    (data / CANONICAL / task / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    fresh = tmp_path / "fresh" / task
    regen.generate_task(task, fresh)
    assert regen.release_diff(fresh, data / CANONICAL / task) == []
    m["spec_sha256"] = "1" * 64
    (data / CANONICAL / task / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    assert regen.release_diff(fresh, data / CANONICAL / task) == ["manifest.json: field(s) spec_sha256 differ"]


def test_the_regeneration_script_refuses_to_rewrite_an_existing_release_and_replaces_only_when_told(tmp_path, capsys):
    """On a copy: a drifted release is refused (exit 2, a one-line fix, nothing written); --replace
    rewrites the changed task folder atomically and its golden entry; a second run is a no-op."""
    regen = _regen_script()
    task = "multihop_arithmetic"
    data = tmp_path / "data"
    shutil.copytree(DATA / CANONICAL / task, data / CANONICAL / task)
    (data / CANONICAL / task / "dev.jsonl").write_text("stale\n")
    stale_golden = {rel: dict(v) for rel, v in GOLDEN.items()}
    stale_golden[CANONICAL][task] = "0" * 64
    test_file = _golden_file(tmp_path, regen, stale_golden)
    logs: list[str] = []

    assert regen.regenerate(CANONICAL, data, test_file, check=True, tasks=[task], log=logs.append) is True
    assert any("dev.jsonl: 5" in line and "items generated" in line for line in logs), logs
    with pytest.raises(regen.RegenError, match=r"never rewritten: bump VERSION in generators/multihop_arithmetic\.py"):
        regen.regenerate(CANONICAL, data, test_file, tasks=[task], log=logs.append)
    rc = regen.main(["--data", str(data), "--golden", str(test_file), "--task", task])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("regen_release: ") and "Traceback" not in err
    assert (data / CANONICAL / task / "dev.jsonl").read_text() == "stale\n"
    assert regen.read_golden(test_file)[CANONICAL][task] == "0" * 64

    assert regen.regenerate(CANONICAL, data, test_file, replace=True, tasks=[task], log=logs.append) is True
    fresh = tmp_path / "fresh" / task
    regen.generate_task(task, fresh)
    assert regen.changed_files(fresh, data / CANONICAL / task) == []  # today's generator output, byte for byte
    assert regen.release_diff(fresh, DATA / CANONICAL / task) == []
    golden = regen.read_golden(test_file)
    assert golden[CANONICAL][task] == _sha(data / CANONICAL / task / "manifest.json")
    assert golden[FROZEN[0]] == GOLDEN[FROZEN[0]]
    text = test_file.read_text()
    assert text.startswith("X = 1\n") and text.endswith(f"{regen.GOLDEN_END}\nY = 2\n")
    assert f"config_name: {task}" in (data / CANONICAL / "README.md").read_text()
    assert sorted(p.name for p in data.iterdir()) == [CANONICAL]  # no staging folder left behind
    assert sorted(p.name for p in (data / CANONICAL).iterdir()) == ["README.md", task]

    logs.clear()
    assert regen.regenerate(CANONICAL, data, test_file, tasks=[task], log=logs.append) is False
    assert logs and all("unchanged" in line for line in logs)
    with pytest.raises(regen.RegenError, match="frozen releases are never regenerated"):
        regen.regenerate(FROZEN[-1], data, test_file, tasks=[task])


def test_replace_refuses_a_release_that_git_has_committed(tmp_path):
    """--replace is for a release not committed yet: on a copy that git's HEAD holds (as the shipped
    data/ is), it is refused with the fix and writes nothing; the shipped release counts as committed."""
    import subprocess

    regen = _regen_script()
    task = "multihop_arithmetic"
    data = tmp_path / "data"
    shutil.copytree(DATA / CANONICAL / task, data / CANONICAL / task)
    (data / CANONICAL / task / "dev.jsonl").write_text("stale\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "data"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True)
    test_file = _golden_file(tmp_path, regen, {rel: dict(v) for rel, v in GOLDEN.items()})
    before = test_file.read_text()
    with pytest.raises(regen.RegenError, match=r"is committed .*bump the family's VERSION"):
        regen.regenerate(CANONICAL, data, test_file, replace=True, tasks=[task])
    assert (data / CANONICAL / task / "dev.jsonl").read_text() == "stale\n" and test_file.read_text() == before
    assert sorted(p.name for p in data.iterdir()) == [CANONICAL]  # no staging folder left behind
    assert regen._committed(DATA / CANONICAL) is not None or not (REPO / ".git").exists()
    assert regen._committed(tmp_path / "nowhere") is None


def test_a_pinned_golden_entry_is_never_changed_without_replace(tmp_path):
    regen, data, test_file = _copy_with_golden(tmp_path, "grid_planning")
    golden = regen.read_golden(test_file)
    golden[CANONICAL]["grid_planning"] = "f" * 64
    regen.write_golden(test_file, golden)
    assert regen.regenerate(CANONICAL, data, test_file, check=True, tasks=["grid_planning"], log=lambda _: None)
    with pytest.raises(regen.RegenError, match="stays pinned"):
        regen.regenerate(CANONICAL, data, test_file, tasks=["grid_planning"], log=lambda _: None)
    assert regen.read_golden(test_file)[CANONICAL]["grid_planning"] == "f" * 64


def test_a_new_release_name_creates_its_folder_whole_and_its_golden_entry(tmp_path):
    """Appending a name to RELEASES and running the script creates data/<new>/ (card included) and
    its golden entry; the previous release and its pins are untouched; a second run is a no-op."""
    regen = _regen_script()
    task = "grid_planning"
    new = f"v{int(CANONICAL[1:]) + 1}"
    releases = [*RELEASES, new]
    data = tmp_path / "data"
    shutil.copytree(DATA / CANONICAL / task, data / CANONICAL / task)
    test_file = _golden_file(tmp_path, regen, {rel: dict(v) for rel, v in GOLDEN.items()})
    logs: list[str] = []
    assert regen.regenerate(new, data, test_file, check=True, tasks=[task], log=logs.append, releases=releases)
    assert not (data / new).exists() and any("does not exist yet" in line for line in logs)
    assert regen.regenerate(new, data, test_file, tasks=[task], log=logs.append, releases=releases) is True
    assert regen.release_diff(data / new / task, DATA / CANONICAL / task) == []
    card = (data / new / "README.md").read_text()
    assert f"# depthbench data {new} — the canonical release" in card and f"What changed from {CANONICAL}" in card
    golden = regen.read_golden(test_file)
    assert golden[new] == {task: _sha(data / new / task / "manifest.json")}
    assert {r: golden[r] for r in RELEASES} == GOLDEN
    assert sorted(p.name for p in data.iterdir()) == [CANONICAL, new]
    assert regen.regenerate(new, data, test_file, tasks=[task], log=lambda _: None, releases=releases) is False
    with pytest.raises(regen.RegenError, match="frozen releases are never regenerated"):
        regen.regenerate(CANONICAL, data, test_file, tasks=[task], releases=releases)


@pytest.mark.parametrize("args,field", [
    (["--task", "nope"], "--task: 'nope' is not a task of a release; choose among graph_connectivity,"),
    (["--task", "grid_planning", "--task", "nope"], "--task: 'nope'"),
    (["--release", "nope"], "--release: 'nope' is not a release"),
    (["--release", "v1"], "--release: 'v1' is a frozen release"),
    (["--golden", "{tmp}/missing.py"], "--golden: cannot read"),
    (["--data", "{tmp}/a_file"], "--data: "),
    (["--bogus"], "regen_release: error: unrecognized arguments: --bogus; see 'regen_release --help'"),
    (["--check", "--replace"], "regen_release: error: argument --replace: not allowed with argument --check"),
])
def test_regen_release_bad_input_is_one_line_naming_the_field(args, field, tmp_path, capsys):
    """Each refusal is one stderr line (no second line from generate, no usage dump, no traceback), exit 2,
    before anything is generated or written."""
    regen = _regen_script()
    (tmp_path / "a_file").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--data" not in args:
        args += ["--data", str(tmp_path / "data")]
    try:
        rc = regen.main(args)
    except SystemExit as e:  # a usage error: argparse exits
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and "Traceback" not in err, err
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_check_writes_nothing_even_when_the_data_folder_is_missing(tmp_path):
    """--check staged the fresh release under --data, creating a missing --data folder (left behind, empty)."""
    regen = _regen_script()
    test_file = _golden_file(tmp_path, regen, {rel: dict(v) for rel, v in GOLDEN.items()})
    data = tmp_path / "absent"
    logs: list[str] = []
    assert regen.regenerate(CANONICAL, data, test_file, check=True, tasks=["grid_planning"], log=logs.append) is True
    assert not data.exists()
    assert any(f"{data / CANONICAL} does not exist yet" in line and f"--data {data} " in line for line in logs), logs
