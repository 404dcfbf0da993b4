"""Hidden test split: seeded from a secret file, public manifest commits to answers without revealing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.errors import UserError
from depthbench.io import read_jsonl, sha256_file
from depthbench.leaderboard._hidden import check_commitments, derive_seed, write_private_split

TASK = "graph_connectivity"


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("secret") / "secret.bin"
    p.write_bytes(bytes(range(32)))
    return p


@pytest.fixture(scope="module")
def split(tmp_path_factory, secret):
    out = tmp_path_factory.mktemp("hidden")
    manifest = write_private_split(TASK, secret, out, depths=[1, 2], n=3, public_prompts=True)
    return out, manifest


def _private(out: Path):
    items = list(read_jsonl(out / "private" / "hidden.jsonl"))
    salts = {r["id"]: r["salt"] for r in read_jsonl(out / "private" / "salts.jsonl")}
    return items, salts


def test_public_manifest_has_ids_and_commitments_not_answers(split):
    out, manifest = split
    items, salts = _private(out)
    assert [r["id"] for r in manifest["items"]] == [it["id"] for it in items]
    assert all(set(r) == {"id", "depth", "commitment"} for r in manifest["items"])
    public_text = (out / "public" / "manifest.json").read_text() + (out / "public" / "hidden.prompts.jsonl").read_text()
    seed = derive_seed(bytes(range(32)))
    assert str(seed) not in public_text  # generator ids embed the seed; public ids are opaque
    assert all(s not in public_text for s in salts.values())
    for line in (out / "public" / "hidden.prompts.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert not {"answer", "solution_trace", "seed"} & set(row)
        assert set(row["meta"]) == {"answer_space", "chance", "family"}  # no content hash, no source hash
    prompts = out / "public" / "hidden.prompts.jsonl"
    assert manifest["files"] == {"hidden.prompts.jsonl": {"sha256": sha256_file(prompts), "items": len(items)}}
    assert check_commitments(out / "public" / "manifest.json", items, salts) == []


def test_private_folder_is_readable_by_its_owner_only(split):
    import stat

    out, _ = split
    assert stat.S_IMODE((out / "private").stat().st_mode) == 0o700


def test_commitment_catches_a_changed_answer(split):
    out, _ = split
    items, salts = _private(out)
    first = items[0]
    other = next(lab for lab in first["meta"]["answer_space"]["labels"] if lab != first["answer"])
    tampered = [{**first, "answer": other}] + items[1:]
    probs = check_commitments(out / "public" / "manifest.json", tampered, salts)
    assert probs == [f"item {first['id']!r}: answer does not match its commitment"]


def test_same_secret_same_bytes_other_secret_other_items(tmp_path, secret, split):
    out, _ = split
    again = tmp_path / "again"
    write_private_split(TASK, secret, again, depths=[1, 2], n=3, public_prompts=True)
    for rel in ("private/hidden.jsonl", "private/salts.jsonl", "public/manifest.json", "public/hidden.prompts.jsonl"):
        assert (again / rel).read_bytes() == (out / rel).read_bytes(), rel
    other_secret = tmp_path / "other.bin"
    other_secret.write_bytes(bytes(range(1, 33)))
    m2 = write_private_split(TASK, other_secret, tmp_path / "other", depths=[1, 2], n=3)
    a, _ = _private(out)
    b, _ = _private(tmp_path / "other")
    assert {x["meta"]["content_sha256"] for x in a}.isdisjoint({x["meta"]["content_sha256"] for x in b})
    assert m2["overall_sha256"] != split[1]["overall_sha256"]


def test_short_or_missing_secret_is_a_user_error(tmp_path):
    short = tmp_path / "short"
    short.write_bytes(b"1234")
    with pytest.raises(UserError, match="too short"):
        write_private_split(TASK, short, tmp_path / "o", depths=[1], n=1)
    with pytest.raises(UserError, match="not found"):
        write_private_split(TASK, tmp_path / "missing", tmp_path / "o", depths=[1], n=1)


def test_generate_cli_flag(tmp_path, secret, capsys):
    out = tmp_path / "cli"
    rc = main(["generate", TASK, "--depths", "1", "--n", "2", "--split", "hidden", "--secret-seed-file", str(secret),
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads((out / "public" / "manifest.json").read_text())
    assert manifest["format"] == "depthbench-hidden-split/1" and manifest["n_items"] == 2
    assert main(["generate", TASK, "--seed", "1", "--secret-seed-file", str(secret), "--out", str(out)]) == 2
    assert "--seed: not allowed" in capsys.readouterr().err


def test_private_folder_is_a_dataset_maintainers_can_evaluate_and_validate(split, tmp_path):
    out, _ = split
    run = tmp_path / "run"
    assert main(["eval", "--data", str(out / "private"), "--split", "hidden", "--model", "simulated",
                 "--strategy", "single", "--budget", "128", "--out", str(run), "--no-progress"]) == 0
    from depthbench.leaderboard import pack_run, validate_submission, write_submission

    sub = write_submission(pack_run(run), tmp_path / "hidden.json.gz")
    rep = validate_submission(sub, releases=out / "private")
    assert rep.ok and rep.verified and len(rep.outcomes) == 6
