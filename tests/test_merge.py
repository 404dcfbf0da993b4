"""eval --shard K/N and depthbench merge: merged shards score, analyze and pack like the unsharded run."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from depthbench.baselines._shard import parse_shard, shard_items
from depthbench.cli import main
from depthbench.errors import UserError

STRATS = "single,majority@4,budget_forcing,revision@2,best_of@2:self"
BASE = ["eval", "--task", "multihop_arithmetic", "--split", "dev", "--limit", "23", "--model",
        "simulated:eps=0.08,tokens_per_step=9", "--strategy", STRATS, "--budget", "128,384", "--seed", "4",
        "--no-progress"]


def _finish(run: Path, tmp: Path) -> tuple[bytes, bytes, str]:
    assert main(["score", str(run)]) == 0
    assert main(["analyze", str(run)]) == 0
    sub = tmp / f"{run.name}.json.gz"
    assert main(["submission", "pack", str(run), "--out", str(sub), "--date", "2026-12-01"]) == 0
    return ((run / "scored.jsonl").read_bytes(), (run / "results.json").read_bytes(),
            hashlib.sha256(sub.read_bytes()).hexdigest())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("merge")
    assert main([*BASE, "--out", str(tmp / "whole")]) == 0
    for k in (1, 2, 3):
        assert main([*BASE, "--shard", f"{k}/3", "--out", str(tmp / f"shard-{k}")]) == 0
    return tmp


def test_merged_shards_give_byte_identical_results(runs, tmp_path, capsys):
    assert main(["merge", *(str(runs / f"shard-{k}") for k in (3, 1, 2)), "--out", str(tmp_path / "merged")]) == 0
    assert "merged 3 runs: 230 finished" in capsys.readouterr().out
    whole = tmp_path / "whole"
    shutil.copytree(runs / "whole", whole)
    scored_w, results_w, sub_w = _finish(whole, tmp_path)
    scored_m, results_m, sub_m = _finish(tmp_path / "merged", tmp_path)
    assert results_m == results_w
    assert scored_m == scored_w and sub_m == sub_w
    run = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert "shard" not in run["config"] and run["config"]["n_items"] == 23
    assert [m["shard"] for m in run["merged_from"]] == ["3/3", "1/3", "2/3"]


def test_each_shard_records_the_full_dataset_and_is_balanced_over_depths(runs):
    whole = json.loads((runs / "whole" / "run.json").read_text())["config"]
    depths: dict[int, Counter] = {}
    for k in (1, 2, 3):
        cfg = json.loads((runs / f"shard-{k}" / "run.json").read_text())["config"]
        assert cfg["shard"] == f"{k}/3" and cfg["dataset_sha256"] == whole["dataset_sha256"]
        outs = [json.loads(x) for x in (runs / f"shard-{k}" / "outcomes.jsonl").read_text().splitlines()]
        depths[k] = Counter(o["depth"] for o in outs if o["strategy"] == "single" and o["budget"] == 128)
        assert cfg["n_items"] == sum(depths[k].values())
    sizes = [sum(c.values()) for c in depths.values()]
    assert sum(sizes) == 23 and max(sizes) - min(sizes) <= 1
    for d in set().union(*depths.values()):
        counts = [depths[k][d] for k in depths]
        assert max(counts) - min(counts) <= 1, (d, counts)


@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_shards_partition_the_items(n):
    items = [{"id": f"i{j}", "depth": 1 + (j * 7) % 4} for j in range(30)]
    parts = [shard_items(items, (k, n)) for k in range(1, n + 1)]
    ids = [it["id"] for p in parts for it in p]
    assert sorted(ids) == sorted(it["id"] for it in items)
    for p in parts:  # dataset order kept within a shard
        assert [it["id"] for it in p] == [it["id"] for it in items if it in p]


def test_a_partial_merge_warns_and_the_unsharded_command_fills_it_in(runs, tmp_path, capsys):
    merged = tmp_path / "merged"
    assert main(["merge", str(runs / "shard-1"), str(runs / "shard-3"), "--out", str(merged)]) == 0
    assert "shard(s) 2/3 not given" in capsys.readouterr().err
    assert main([*BASE, "--out", str(merged)]) == 0  # resumes the merged folder, evaluates shard 2's items
    assert "served from the log" in capsys.readouterr().out
    whole = tmp_path / "whole"
    shutil.copytree(runs / "whole", whole)
    assert _finish(merged, tmp_path)[1] == _finish(whole, tmp_path)[1]


def test_merge_deduplicates_by_unit_and_call_key(runs, tmp_path, capsys):
    copy = tmp_path / "shard-1-again"
    shutil.copytree(runs / "shard-1", copy)
    assert main(["merge", str(runs / "shard-1"), str(copy), str(runs / "shard-2"), str(runs / "shard-3"),
                 "--out", str(tmp_path / "m")]) == 0
    keys = [json.loads(x)["key"] for x in (tmp_path / "m" / "calls.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys))
    units = [(o["item_id"], o["strategy"], o["budget"]) for o in
             map(json.loads, (tmp_path / "m" / "outcomes.jsonl").read_text().splitlines())]
    assert len(units) == len(set(units)) == 230


def _other(runs: Path, tmp: Path, name: str, *extra: str, base=BASE) -> Path:
    out = tmp / name
    args = [*base]
    for flag, value in zip(extra[::2], extra[1::2]):
        args[args.index(flag) + 1] = value
    assert main([*args, "--shard", "2/3", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("flag,value,what", [
    ("--model", "simulated:eps=0.2,tokens_per_step=9", "different models"),
    ("--split", "test", "different datasets"),
    ("--budget", "128", "different settings"),
    ("--seed", "5", "different settings"),
])
def test_merge_refuses_runs_of_different_datasets_models_or_settings(runs, tmp_path, capsys, flag, value, what):
    bad = _other(runs, tmp_path, "bad", flag, value)
    capsys.readouterr()
    rc = main(["merge", str(runs / "shard-1"), str(bad), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and what in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_merge_refuses_bad_folders_and_out(runs, tmp_path, capsys):
    assert main(["merge", str(runs / "shard-1"), str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert main(["merge", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["merge", str(runs / "shard-1"), str(runs / "shard-2"), "--out", str(tmp_path / "full")]) == 2
    assert main(["merge", str(runs / "shard-1"), "--out", str(runs / "shard-1")]) == 2
    err = capsys.readouterr().err
    assert "no run.json" in err and "exists and is not empty" in err and "is one of the runs" in err
    assert not (tmp_path / "m").exists()


def test_one_run_folder_merges_to_a_copy_that_scores_like_it(runs, tmp_path, capsys):
    """A one-task Slurm array (--shard 1/1), or a lone folder: merge gives a folder scoring exactly like it."""
    assert main([*BASE, "--shard", "1/1", "--out", str(tmp_path / "shard-1of1")]) == 0
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "shard-1of1"), "--out", str(tmp_path / "merged")]) == 0
    io = capsys.readouterr()
    assert "merged 1 run: 230 finished" in io.out and "warning" not in io.err
    assert main(["merge", str(runs / "whole"), "--out", str(tmp_path / "copy")]) == 0
    whole = tmp_path / "whole"
    shutil.copytree(runs / "whole", whole)
    want = _finish(whole, tmp_path)
    assert _finish(tmp_path / "merged", tmp_path) == want
    assert _finish(tmp_path / "copy", tmp_path) == want
    run = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert "shard" not in run["config"] and run["config"]["n_items"] == 23


def test_shard_flag_errors(tmp_path, capsys):
    for shard in ("0/3", "4/3", "2", "a/b"):
        assert main([*BASE, "--shard", shard, "--out", str(tmp_path / "r")]) == 2
        assert "--shard" in capsys.readouterr().err
    rc = main(["eval", "--task", "multihop_arithmetic", "--limit", "4", "--model", "simulated", "--strategy",
               "single,adaptive@4", "--budget", "128", "--no-progress", "--shard", "1/2", "--out", str(tmp_path / "r")])
    assert rc == 2 and "allocates its budget across the whole dataset" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    with pytest.raises(UserError):
        parse_shard("3/2")


def test_a_shard_folder_resumes_only_as_that_shard(runs, tmp_path, capsys):
    shard = tmp_path / "s1"
    shutil.copytree(runs / "shard-1", shard)
    assert main([*BASE, "--out", str(shard)]) == 2
    assert "--shard: the run" in capsys.readouterr().err
    assert main([*BASE, "--shard", "1/3", "--out", str(shard)]) == 0
    assert "0 new calls" in capsys.readouterr().out


@pytest.mark.parametrize("budget", ["128", "128\n", "\u0661\u0662\u0668", 128.0, 128.9, True])
def test_merge_keys_an_outcome_by_its_json_integer_budget_only(runs, tmp_path, budget):
    # int() read these as 128: the forged line, listed first, was kept as the unit's outcome and the real one dropped
    shard = tmp_path / "shard-1"
    shutil.copytree(runs / "shard-1", shard)
    lines = (shard / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()
    real = json.loads(next(x for x in lines if json.loads(x)["budget"] == 128))
    forged = {**real, "budget": budget, "credit": 1.0 - real["credit"]}
    (shard / "outcomes.jsonl").write_text("\n".join([json.dumps(forged), *lines]) + "\n", encoding="utf-8")
    assert main(["merge", str(shard), str(runs / "shard-2"), str(runs / "shard-3"), "--out", str(tmp_path / "m")]) == 0
    merged = [json.loads(x) for x in (tmp_path / "m" / "outcomes.jsonl").read_text().splitlines()]
    assert len(merged) == 230 and all(type(o["budget"]) is int for o in merged)
    kept = [o for o in merged if (o["item_id"], o["strategy"], o["budget"]) ==
            (real["item_id"], real["strategy"], 128)]
    assert kept == [real]
