"""Arrow-safe release records: `datasets.load_dataset("json" | "parquet")` reads every family's
files with one type per column, across rows and families, and floats survive exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from depthbench.data import CANONICAL
from depthbench.cli import main
from depthbench.tasks import RECORD_COLUMNS, item_from_record, load_dataset

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")

RELEASE = Path(__file__).resolve().parents[1] / "data" / CANONICAL  # the canonical release (depthbench.data.RELEASES[-1])
TASKS = ("graph_connectivity", "multihop_arithmetic", "grid_planning")
ARROW = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64()}


def _check(ds, task_items):
    """Columns, types and values of a loaded split equal the release items."""
    assert ds.column_names == [c for c, _ in RECORD_COLUMNS] or set(ds.column_names) == {c for c, _ in RECORD_COLUMNS}
    schema = ds.data.schema
    for name, typ in RECORD_COLUMNS:
        assert schema.field(name).type == ARROW[typ], (name, schema.field(name).type)
    rows = ds.to_list()
    assert [item_from_record(r) for r in rows] == task_items
    # floats survive: chance as float64 equals the exact value in meta_json, bit for bit
    assert [r["chance"] for r in rows] == [json.loads(r["meta_json"])["chance"] for r in rows]


def test_load_dataset_json_reads_every_family_of_the_release_together(tmp_path):
    files = {t: str(RELEASE / t / "test.jsonl") for t in TASKS}
    # one dataset over all three families: one type per column across families
    ds = datasets.load_dataset("json", data_files={"test": list(files.values())}, split="test",
                               cache_dir=str(tmp_path / "cache"))
    expected = [it for t in TASKS for it in load_dataset(RELEASE / t, split="test")[0]]
    _check(ds, expected)
    assert {r for r in ds["answer_type"]} == {"choice", "integer", "plan"}


def _fresh_jsonl(tmp_path, task, capsys):
    """Today's ``depthbench generate`` of ``task``'s dev split as JSONL, and its items (the release's
    items but for ``meta.generator_source_sha256``, the generator module's hash: test_data_release)."""
    out = tmp_path / "jsonl"
    assert main(["generate", task, "--split", "dev", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    return out / "dev.jsonl", load_dataset(out, split="dev")[0]


@pytest.mark.parametrize("task", TASKS)
def test_load_dataset_parquet_and_json_agree_per_family(tmp_path, task, capsys):
    jsonl, expected = _fresh_jsonl(tmp_path, task, capsys)
    out = tmp_path / "pq"
    assert main(["generate", task, "--split", "dev", "--format", "parquet", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    pq = datasets.load_dataset("parquet", data_files=str(out / "dev.parquet"), split="train",
                               cache_dir=str(tmp_path / "cache"))
    _check(pq, expected)
    js = datasets.load_dataset("json", data_files=str(jsonl), split="train", cache_dir=str(tmp_path / "cache"))
    _check(js, expected)
    shipped = datasets.load_dataset("json", data_files=str(RELEASE / task / "dev.jsonl"), split="train",
                                    cache_dir=str(tmp_path / "cache"))
    _check(shipped, load_dataset(RELEASE / task, split="dev")[0])


def test_hf_folder_has_the_same_columns(tmp_path, capsys):
    _, expected = _fresh_jsonl(tmp_path, "grid_planning", capsys)
    out = tmp_path / "hf"
    assert main(["generate", "grid_planning", "--split", "dev", "--format", "hf", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    dd = datasets.load_from_disk(str(out / "hf"))
    _check(dd["dev"], expected)
