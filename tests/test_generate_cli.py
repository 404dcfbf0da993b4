"""End-to-end: ``depthbench generate`` and ``depthbench tasks`` through the real CLI entry point."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.io import canonical_json
from depthbench.tasks import build_items, load_dataset

SMALL = ["generate", "graph_connectivity", "--depths", "1,3:5,8", "--n", "7", "--quiet"]


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_generate_jsonl_manifest_and_load(tmp_path, capsys):
    out = tmp_path / "ds"
    rc, stdout, _ = _run([*SMALL, "--split", "test,dev", "--out", str(out)], capsys)
    assert rc == 0 and "wrote 70 items" in stdout
    manifest_bytes = (out / "manifest.json").read_bytes()
    m = json.loads(manifest_bytes)
    assert m["format"] == "depthbench-dataset/2" and m["task"] == "graph_connectivity"
    assert m["item_format"] == "depthbench-item/2"
    assert m["generator_versions"] == {"graph_connectivity": "3"}
    assert m["command"] == "depthbench generate graph_connectivity --depths 1,3:5,8 --n 7 --split test,dev --format jsonl"
    for split in ("test", "dev"):
        f = m["files"][f"{split}.jsonl"]
        assert f["sha256"] == hashlib.sha256((out / f"{split}.jsonl").read_bytes()).hexdigest()
        assert f["items"] == 35 and f["per_depth"] == {"1": 7, "3": 7, "4": 7, "5": 7, "8": 7}
    items, sha = load_dataset(out, split="dev")
    assert sha == hashlib.sha256(manifest_bytes).hexdigest()
    assert items == build_items("graph_connectivity", "dev", depths=[1, 3, 4, 5, 8], n=7)
    all_items, _ = load_dataset(out)
    assert [it["split"] for it in all_items] == ["dev"] * 35 + ["test"] * 35
    one, sha_one = load_dataset(out / "test.jsonl")
    assert sha_one == sha and len(one) == 35
    # no temporary files left behind
    assert sorted(p.name for p in out.iterdir()) == ["dev.jsonl", "manifest.json", "test.jsonl"]


def test_manifest_bytes_do_not_depend_on_out_or_workers(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "nested" / "b"
    assert _run([*SMALL, "--out", str(a)], capsys)[0] == 0
    assert _run([*SMALL, "--out", str(b), "--workers", "2"], capsys)[0] == 0
    assert (a / "test.jsonl").read_bytes() == (b / "test.jsonl").read_bytes()
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_shards_concatenate_to_unsharded_bytes(tmp_path, capsys, parts):
    full = tmp_path / "full"
    assert _run([*SMALL, "--out", str(full)], capsys)[0] == 0
    blob = b""
    for k in range(1, parts + 1):
        d = tmp_path / f"s{k}"
        assert _run([*SMALL, "--out", str(d), "--shard", f"{k}/{parts}"], capsys)[0] == 0
        assert json.loads((d / "manifest.json").read_text())["shard"] == f"{k}/{parts}"
        blob += (d / "test.jsonl").read_bytes()
    assert blob == (full / "test.jsonl").read_bytes()


def test_shards_with_duplicate_redraws_still_concatenate(tmp_path, capsys):
    # a tiny size forces content-hash redraws inside a depth block that a shard boundary cuts
    spec = tmp_path / "tiny.yaml"
    src = Path(__file__).resolve().parents[1] / "tasks"
    spec.write_text(f"include: {src / 'graph_connectivity.yaml'}\nname: tiny\n"
                    "params: {kind: two_paths, num_nodes: 4}\ndepths: [1]\n")
    argv = ["generate", str(spec), "--n", "60", "--quiet"]
    assert _run([*argv, "--out", str(tmp_path / "full")], capsys)[0] == 0
    full = (tmp_path / "full" / "test.jsonl").read_bytes()
    items = [json.loads(json.loads(line)["meta_json"]) for line in full.splitlines()]
    assert len({meta["content_sha256"] for meta in items}) == 60
    blob = b""
    for k in (1, 2, 3):
        assert _run([*argv, "--out", str(tmp_path / f"p{k}"), "--shard", f"{k}/3"], capsys)[0] == 0
        blob += (tmp_path / f"p{k}" / "test.jsonl").read_bytes()
    assert blob == full


def test_workers_give_identical_bytes(tmp_path, capsys):
    argv = ["generate", "graph_connectivity", "--depths", "2,16", "--n", "40", "--quiet"]
    assert _run([*argv, "--out", str(tmp_path / "w1")], capsys)[0] == 0
    assert _run([*argv, "--out", str(tmp_path / "w2"), "--workers", "2"], capsys)[0] == 0
    assert (tmp_path / "w1" / "test.jsonl").read_bytes() == (tmp_path / "w2" / "test.jsonl").read_bytes()


def test_format_hf_with_dataset_card(tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    rc, _, _ = _run([*SMALL, "--split", "test,dev", "--format", "hf", "--out", str(out)], capsys)
    assert rc == 0
    dd = datasets.load_from_disk(str(out / "hf"))
    assert set(dd) == {"test", "dev"} and dd["test"].num_rows == 35
    ref = build_items("graph_connectivity", "test", depths=[1, 3, 4, 5, 8], n=7)
    row = dd["test"][10]
    assert row["id"] == ref[10]["id"] and row["answer"] == ref[10]["answer"]
    assert json.loads(row["instance_json"]) == ref[10]["instance"]
    card = (out / "hf" / "README.md").read_text()
    assert card.startswith("---\n") and "graph_connectivity" in card and "| test | 35 |" in card
    m = json.loads((out / "manifest.json").read_text())
    assert "hf/README.md" in m["files"] and m["files"]["hf/test"]["items"] == 35
    for name, entry in m["files"].items():
        if "sha256" in entry:
            assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # reproducible: a second run gives the same files (same manifest bytes)
    out2 = tmp_path / "hf2"
    assert _run([*SMALL, "--split", "test,dev", "--format", "hf", "--out", str(out2)], capsys)[0] == 0
    assert (out2 / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_format_parquet(tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "pq"
    assert _run([*SMALL, "--format", "parquet", "--out", str(out)], capsys)[0] == 0
    table = pq.read_table(out / "test.parquet")
    ref = build_items("graph_connectivity", "test", depths=[1, 3, 4, 5, 8], n=7)
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [it["id"] for it in ref]
    assert [json.loads(r["meta_json"]) for r in rows] == [it["meta"] for it in ref]
    assert _run([*SMALL, "--format", "parquet", "--out", str(tmp_path / "pq2")], capsys)[0] == 0
    assert (tmp_path / "pq2" / "test.parquet").read_bytes() == (out / "test.parquet").read_bytes()


@pytest.mark.parametrize(("argv", "needle"), [
    (["no_such_task"], "task: unknown task 'no_such_task'"),
    (["graph_connectivity", "--depths", "60"], "--depths: depth 60 does not fit"),
    (["graph_connectivity_bridge", "--depths", "40"], "largest depth for params"),
    (["graph_connectivity", "--n", "0"], "--n: items per depth must be >= 1"),
    (["graph_connectivity", "--n", "-3"], "--n:"),
    (["graph_connectivity", "--depths", "1:x"], "--depths: cannot read '1:x'"),
    (["graph_connectivity", "--depths", "0,1"], "--depths: depths must be integers >= 1"),
    (["graph_connectivity", "--depths", "2,2"], "lists a depth twice"),
    (["graph_connectivity", "--split", "nope"], "--split: 'nope' is not a split"),
    (["graph_connectivity", "--shard", "0/3"], "--shard: 0/3 is out of range"),
    (["graph_connectivity", "--shard", "x"], "--shard: 'x' is not K/N"),
    (["graph_connectivity", "--seed", "-1"], "--seed: must be >= 0"),
    (["graph_connectivity", "--workers", "0"], "--workers: must be >= 1"),
])
def test_bad_input_exit_2_one_line_no_files(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    rc, stdout, err = _run(["generate", *argv, "--out", str(out), "--quiet"], capsys)
    assert rc == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_unwritable_out_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = _run(["generate", "graph_connectivity", "--n", "1", "--quiet", "--out", str(blocker / "sub")], capsys)
    assert rc == 2 and err.startswith("depthbench generate: error: --out:") and err.count("\n") == 1
    assert blocker.read_text() == "x"


def test_malformed_spec_yaml_names_file_line_and_schema_path(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nfamily: graph_connectivity\ndepths: [1, 2, three]\n")
    rc, _, err = _run(["generate", str(bad), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert rc == 2
    assert f"{bad}:3: field depths/2" in err and "schema path properties/depths/items/type" in err
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("name: x\nparams: {kind: bridge\n")
    rc, _, err = _run(["generate", str(syntax), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert rc == 2 and f"{syntax}:3: malformed YAML" in err
    assert not (tmp_path / "o").exists()


def test_console_script_no_traceback(tmp_path):
    exe = Path(sys.executable).with_name("depthbench")
    if not exe.exists():
        pytest.skip("console script not installed next to the interpreter")
    r = subprocess.run([str(exe), "generate", "graph_connectivity", "--depths", "99", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--depths: depth 99" in r.stderr


def test_progress_goes_to_stderr(tmp_path, monkeypatch, capsys):
    # off a terminal (pytest's capture) progress is a plain line every interval; stdout stays clean
    monkeypatch.setenv("DEPTHBENCH_PROGRESS_INTERVAL", "0.001")
    rc, out, err = _run(["generate", "graph_connectivity", "--depths", "1", "--n", "30",
                         "--out", str(tmp_path / "o")], capsys)
    assert rc == 0 and "graph_connectivity/test: 30/30 items (100.0%)" in err
    assert out.startswith("wrote 30 items")


def test_tasks_list_and_show(capsys):
    rc, out, _ = _run(["tasks", "list"], capsys)
    assert rc == 0
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert {"graph_connectivity", "graph_connectivity_bridge", "graph_connectivity_two_paths"} <= set(names)
    assert "base" not in names
    rc, out, _ = _run(["tasks", "show", "graph_connectivity_bridge"], capsys)
    assert rc == 0 and "kind: bridge" in out and "num_nodes: 200" in out and "n_per_depth: 100" in out
    rc, _, err = _run(["tasks", "show", "nope"], capsys)
    assert rc == 2 and "unknown task 'nope'" in err


def test_jsonl_lines_are_canonical(tmp_path, capsys):
    assert _run([*SMALL, "--out", str(tmp_path / "c")], capsys)[0] == 0
    for line in (tmp_path / "c" / "test.jsonl").read_text().splitlines():
        assert canonical_json(json.loads(line)) == line


def test_multi_split_shards_concatenate_and_splits_disjoint(tmp_path, capsys):
    argv = ["generate", "graph_connectivity", "--depths", "2,5", "--n", "6", "--split", "test,dev", "--quiet"]
    assert _run([*argv, "--out", str(tmp_path / "full")], capsys)[0] == 0
    for split in ("test", "dev"):
        blob = b""
        for k in (1, 2):
            d = tmp_path / f"s{k}"
            if not d.exists():
                assert _run([*argv, "--out", str(d), "--shard", f"{k}/2"], capsys)[0] == 0
            blob += (d / f"{split}.jsonl").read_bytes()
        assert blob == (tmp_path / "full" / f"{split}.jsonl").read_bytes()
    test, _ = load_dataset(tmp_path / "full", split="test")
    dev, _ = load_dataset(tmp_path / "full", split="dev")
    assert not {it["meta"]["content_sha256"] for it in test} & {it["meta"]["content_sha256"] for it in dev}


def test_load_dataset_refuses_tampered_missing_or_corrupt(tmp_path, capsys):
    from depthbench.errors import UserError

    out = tmp_path / "ds"
    assert _run([*SMALL, "--out", str(out)], capsys)[0] == 0
    with pytest.raises(UserError, match="no split 'dev'"):
        load_dataset(out, split="dev")
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(tmp_path / "nothing")
    with pytest.raises(UserError, match="no manifest.json"):
        load_dataset(tmp_path)
    lines = (out / "test.jsonl").read_bytes().splitlines(keepends=True)
    (out / "test.jsonl").write_bytes(b"".join(lines[:-1]))
    with pytest.raises(UserError, match="does not match its sha256"):
        load_dataset(out)
    # a lone JSONL no longer listed with that sha256: its own sha, and a corrupt line is named
    items, sha = load_dataset(out / "test.jsonl")
    assert len(items) == 34 and sha == hashlib.sha256((out / "test.jsonl").read_bytes()).hexdigest()
    lone = tmp_path / "lone.jsonl"
    lone.write_bytes(lines[0] + b"{not json\n" + lines[1])
    with pytest.raises(UserError, match="line 2"):
        load_dataset(lone)


@pytest.mark.parametrize(("text", "want"), [
    ("1,2,4", [1, 2, 4]),
    ("1:32:2", list(range(1, 32, 2))),
    ("1:4", [1, 2, 3, 4]),
    ("8, 2:3", [8, 2, 3]),
    ("5:5", [5]),
])
def test_parse_depths(text, want):
    from depthbench.tasks._generate_cli import parse_depths

    assert parse_depths(text) == want


@pytest.mark.parametrize("text", ["", "a", "1:2:0", "1:2:3:4", "0", "3:1", "1,1", "-2"])
def test_parse_depths_rejects(text):
    from depthbench.errors import UserError
    from depthbench.tasks._generate_cli import parse_depths

    with pytest.raises(UserError, match="--depths"):
        parse_depths(text)


def _spec_with(tmp_path, extra):
    from depthbench.tasks import spec_dir

    p = tmp_path / "custom.yaml"
    p.write_text(f"include: {Path(spec_dir()) / 'graph_connectivity.yaml'}\nname: custom\n{extra}")
    return p


@pytest.mark.parametrize(("extra", "needles"), [
    ("prompt_template: |-\n  Solve.\n  {{ problem }}\n  {{ foo( }}\n  Answer: <label>\n",
     [":6: field prompt_template", "Jinja2 syntax error at template line 3"]),
    ("prompt_template: 'x {{ problem }} {{ nope }} Answer:'\n",
     [":3: field prompt_template", "undefined variable 'nope'"]),
    ("prompt_template: 'x {{ problem }} {{ answer_space.nope }} Answer:'\n",
     ["prompt_template:", "has no attribute 'nope'"]),  # found only when rendering
])
def test_broken_prompt_template_is_one_line_and_leaves_no_folder(tmp_path, capsys, extra, needles):
    spec = _spec_with(tmp_path, extra)
    out = tmp_path / "new" / "ds"
    rc, _, err = _run(["generate", str(spec), "--depths", "1", "--n", "2", "--quiet", "--out", str(out)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    if ":6:" in needles[0] or ":3:" in needles[0]:
        assert str(spec) in err
    assert not (tmp_path / "new").exists()  # the folders generate created are removed again


def test_failed_generate_keeps_an_existing_out_folder(tmp_path, capsys):
    spec = _spec_with(tmp_path, "prompt_template: 'x {{ problem }} {{ answer_space.nope }} Answer:'\n")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    rc, _, err = _run(["generate", str(spec), "--depths", "1", "--n", "2", "--quiet", "--out", str(out)], capsys)
    assert rc == 2 and (out / "keep.txt").read_text() == "x" and sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(("fmt", "module", "needle"), [
    ("parquet", "pyarrow", "--format parquet needs pyarrow: pip install 'depthbench[hf]'"),
    ("hf", "datasets", "--format hf: the `datasets` package is not installed"),
])
def test_missing_format_dependency_is_one_line_and_leaves_no_folder(tmp_path, capsys, monkeypatch, fmt, module, needle):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    out = tmp_path / "o"
    rc, _, err = _run(["generate", "multihop_arithmetic", "--depths", "1", "--n", "2", "--quiet",
                       "--format", fmt, "--out", str(out)], capsys)
    assert rc == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(("extra", "needle"), [
    ("params: {num_nodes: -4}\n", "params.num_nodes: must be an even integer >= 4"),
    ("params: {num_nodes: abc}\n", "params.num_nodes: must be an integer, got 'abc'"),
    ("params: {kind: weird}\n", "params.kind: must be one of"),
    ("params: {colour: red}\n", "params.colour: not a parameter of family graph_connectivity; valid params: num_nodes, kind"),
])
def test_bad_params_are_not_reported_as_depth_errors(tmp_path, capsys, extra, needle):
    spec = _spec_with(tmp_path, extra)
    out = tmp_path / "o"
    rc, _, err = _run(["generate", str(spec), "--depths", "1", "--quiet", "--out", str(out)], capsys)
    assert rc == 2 and needle in err and err.count("\n") == 1 and "does not fit" not in err
    assert not out.exists()
