"""The Hugging Face round trip: eval --data reads every form generate writes; export hub loads with datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from depthbench.data import CANONICAL
from depthbench.cli import main
from depthbench.tasks import load_dataset
from depthbench.tasks import export_hub, load_any

datasets = pytest.importorskip("datasets")
RELEASE = Path(__file__).resolve().parent.parent / "data" / CANONICAL  # the canonical release (depthbench.data.RELEASES[-1])
V1 = Path(__file__).resolve().parent.parent / "data" / "v1"
FAMILIES = ("graph_connectivity", "multihop_arithmetic", "grid_planning")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "depthbench"
    res = export_hub(RELEASE, out)
    assert sorted(res["configs"]) == sorted(FAMILIES)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_hub_export_loads_with_datasets_as_the_jsonl_release(hub, family, tmp_path):
    cache = tmp_path / "hf-cache"  # datasets' shared cache keys a local folder by its name, not its contents
    from depthbench.tasks._rows import row_item

    for split in ("test", "dev"):
        ds = datasets.load_dataset(str(hub), family, split=split, cache_dir=str(cache))
        want, sha = load_dataset(RELEASE / family, split=split)
        assert [row_item(r) for r in ds] == want
        items, got_sha = load_any(hub, split=split, config=family)
        assert items == want and got_sha == sha  # same dataset sha256 as the JSONL release


def test_hub_card_dataset_info_is_accepted_by_datasets_without_a_warning(hub, tmp_path):
    """The card's dataset_info is read, not ignored: split sizes in bytes and items, config sizes."""
    import logging

    import yaml

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    # datasets logs through its own "datasets" logger, which does not propagate to the root one
    handler = Keep(level=logging.WARNING)
    logger = logging.getLogger("datasets")
    logger.addHandler(handler)
    try:
        ds = datasets.load_dataset(str(hub), "graph_connectivity", split="test", cache_dir=str(tmp_path / "c"))
    finally:
        logger.removeHandler(handler)
    assert not [r.getMessage() for r in records if "dataset_info" in r.getMessage()]
    meta = yaml.safe_load((hub / "README.md").read_text().split("---", 2)[1])
    info = {c["config_name"]: c for c in meta["dataset_info"]}["graph_connectivity"]
    parsed = datasets.DatasetInfo._from_yaml_dict(info)  # what load_dataset reads from the card
    n = {s["name"]: s["num_examples"] for s in info["splits"]}
    assert parsed.splits["test"].num_examples == len(ds) == n["test"]
    assert all(s["num_bytes"] > 0 for s in info["splits"])
    assert info["dataset_size"] == sum(s["num_bytes"] for s in info["splits"])
    files = [hub / c["path"] for conf in meta["configs"] if conf["config_name"] == "graph_connectivity"
             for c in conf["data_files"]]
    assert info["download_size"] == sum(f.stat().st_size for f in files)


def test_the_frozen_v1_release_exports_and_reads_back_too(tmp_path):
    export_hub(V1, tmp_path / "v1hub")
    items, sha = load_any(tmp_path / "v1hub", split="dev", config="grid_planning")
    assert (items, sha) == load_dataset(V1 / "grid_planning", split="dev")


def test_the_hub_card_names_the_release_and_never_offers_to_regenerate_a_frozen_one(hub, tmp_path):
    """A frozen release's items no longer regenerate (its generators moved on): its card says so."""
    canonical = (hub / "README.md").read_text()
    assert f"data release {CANONICAL}, the canonical one" in canonical and "Regenerate the items" in canonical
    assert f"pretty_name: depthbench {CANONICAL}" in canonical
    export_hub(V1, tmp_path / "v1hub")
    frozen = (tmp_path / "v1hub" / "README.md").read_text()
    assert "data release v1 (generator versions: graph_connectivity 1" in frozen and "**frozen**" in frozen
    assert f"canonical release is now {CANONICAL}" in frozen and "Regenerate the items" not in frozen


def test_two_hub_folders_of_the_same_name_each_read_their_own_rows(tmp_path):
    """datasets' cache keys a local folder by name and config: load_any must not serve one folder's rows for another."""
    for release, root in ((RELEASE, "a"), (V1, "b"), (RELEASE, "c")):
        export_hub(release, tmp_path / root / "depthbench")
        items, sha = load_any(tmp_path / root / "depthbench", split="dev", config="grid_planning")
        assert (items, sha) == load_dataset(release / "grid_planning", split="dev")


def test_hub_card_has_configs_info_license_and_regeneration(hub):
    text = (hub / "README.md").read_text()
    import yaml

    meta = yaml.safe_load(text.split("---", 2)[1])
    assert meta["license"] == "apache-2.0" and meta["size_categories"] == ["1K<n<10K"]
    assert "question-answering" in meta["task_categories"]
    assert {c["config_name"] for c in meta["configs"]} == set(FAMILIES)
    info = {c["config_name"]: c for c in meta["dataset_info"]}
    n = {s["name"]: s["num_examples"] for s in info["grid_planning"]["splits"]}
    assert n["test"] == len(load_dataset(RELEASE / "grid_planning", split="test")[0])
    assert {f["dtype"] for f in info["graph_connectivity"]["features"]} <= {"string", "int64", "float64"}
    assert "certified" in text and "depthbench generate" in text
    for fam in FAMILIES:
        assert (hub / "manifests" / f"{fam}.json").read_bytes() == (RELEASE / fam / "manifest.json").read_bytes()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_eval_reads_every_format_generate_writes_and_scores_alike(tmp_path, fmt, capsys):
    data = tmp_path / "data"
    assert main(["generate", "multihop_arithmetic", "--depths", "1,3", "--n", "3", "--format", fmt,
                 "--out", str(data), "--quiet"]) == 0
    want = load_any(tmp_path / "data")[0] if fmt == "jsonl" else None
    for target in ([data] + ([data / "test.parquet"] if fmt == "parquet" else [])
                   + ([data / "hf"] if fmt == "hf" else [])):
        run = tmp_path / f"run-{target.name}"
        assert main(["eval", "--data", str(target), "--model", "simulated", "--strategy", "single,majority@2",
                     "--budget", "128", "--out", str(run), "--no-progress"]) == 0
        assert main(["score", str(run)]) == 0
        scored = [json.loads(x) for x in (run / "scored.jsonl").read_text().splitlines()]
        assert len(scored) == 12 and all(r["rescored"] for r in scored)
    items, _ = load_any(data)
    assert len(items) == 6 and all(isinstance(it["instance"], dict) for it in items)
    if want is not None:
        assert items == want


def test_eval_on_the_hub_folder_matches_the_jsonl_release(hub, tmp_path):
    common = ["--model", "simulated", "--strategy", "single", "--budget", "128", "--limit", "6", "--no-progress"]
    assert main(["eval", "--data", str(hub), "--data-config", "grid_planning", *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["eval", "--data", str(RELEASE / "grid_planning"), *common, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "run.json").read_text())["config"]
    b = json.loads((tmp_path / "b" / "run.json").read_text())["config"]
    assert a["dataset_sha256"] == b["dataset_sha256"]
    assert sorted((tmp_path / "a" / "outcomes.jsonl").read_text().splitlines()) == \
        sorted((tmp_path / "b" / "outcomes.jsonl").read_text().splitlines())
    assert main(["score", str(tmp_path / "a")]) == 0


@pytest.mark.parametrize("args,msg", [
    (["--data-config", "chess"], "--data-config chess: the Hub dataset folder"),
    ([], "--data-config: the Hub dataset folder"),               # several configs, none chosen
    (["--data-config", "grid_planning", "--split", "val"], "--split val"),
])
def test_hub_folder_bad_config_or_split_is_one_line_exit_2_nothing_written(hub, tmp_path, capsys, args, msg):
    rc = main(["eval", "--data", str(hub), *args, "--model", "simulated", "--strategy", "single", "--budget", "64",
               "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_repo_id_not_in_the_local_cache_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    rc = main(["eval", "--data", "nobody/no-such-dataset", "--model", "simulated", "--strategy", "single",
               "--budget", "64", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "nobody/no-such-dataset" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_export_refuses_a_non_release_and_a_used_out(tmp_path, capsys):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    assert main(["export", "hub", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert main(["export", "hub", str(RELEASE), "--out", str(tmp_path / "used")]) == 2
    err = capsys.readouterr().err
    assert "holds no dataset folder" in err and "exists and is not empty" in err
    assert not (tmp_path / "o").exists()


def test_export_lm_eval_prints_or_copies_the_task_folder(tmp_path, capsys):
    assert main(["export", "lm-eval"]) == 0
    src = Path(capsys.readouterr().out.strip())
    assert sorted(p.name for p in src.glob("*.yaml")) == [f"depthbench_{f}.yaml" for f in sorted(FAMILIES)]
    assert main(["export", "lm-eval", "--out", str(tmp_path / "tasks")]) == 0
    assert (tmp_path / "tasks" / "utils.py").is_file()


def test_the_release_folder_itself_loads_as_a_hub_dataset(tmp_path):
    """The canonical release's README card lists one config per family over its JSONL record files."""
    for family in FAMILIES:
        ds = datasets.load_dataset(str(RELEASE), family, split="dev", cache_dir=str(tmp_path / "hf-cache"))
        want, sha = load_dataset(RELEASE / family, split="dev")
        from depthbench.tasks._rows import row_item

        assert [row_item(r) for r in ds] == want
        assert load_any(RELEASE, split="dev", config=family) == (want, sha)
