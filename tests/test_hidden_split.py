"""Hidden test split: seeded from a secret file, public manifest commits to answers without revealing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from depthbench.cli import main
from depthbench.errors import UserError
from depthbench.io import read_jsonl, sha256_file
from depthbench.tasks._hidden import check_commitments, derive_seed, write_private_split

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
    from depthbench.tasks import item_from_record

    items = [item_from_record(r) for r in read_jsonl(out / "private" / "hidden.jsonl")]  # release records
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
        # no source hash; the content hash is the sha256 of the statement the prompt shows (it binds runs to items)
        assert set(row["meta"]) == {"answer_space", "chance", "family", "content_sha256"}
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


def test_maintainer_workflow_end_to_end(tmp_path, capsys):
    """The documented workflow as one scenario: the maintainer makes a hidden split and publishes its
    prompts; a submitter evaluates on the prompts alone and packs; the maintainer validates (answers
    re-derived against the private items) and builds a leaderboard where the hidden-split submission is
    ranked and a public-data submission is listed below it, unranked."""
    import shutil

    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(50, 82)))
    hidden = tmp_path / "maintainer" / "gc-hidden"
    # 1. the maintainer makes the hidden split
    assert main(["generate", TASK, "--split", "hidden", "--depths", "1,2", "--n", "3", "--secret-seed-file",
                 str(secret), "--out", str(hidden)]) == 0
    assert "publish" in capsys.readouterr().out
    # 2. publishes hidden/public (the submitter downloads it elsewhere; it holds no answer)
    public = tmp_path / "submitter" / "prompts"
    shutil.copytree(hidden / "public", public)
    assert not any("answer" in json.loads(line) for line in (public / "hidden.prompts.jsonl").read_text().splitlines())
    # 3. the submitter evaluates on the prompts and packs; scoring it locally is impossible (no answers)
    run = tmp_path / "submitter" / "run"
    assert main(["eval", "--data", str(public), "--split", "hidden", "--model", "simulated", "--strategy",
                 "single,majority@4,budget_forcing", "--budget", "256", "--out", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "n/a" in out and "known only to the maintainers" in out
    assert main(["score", str(run)]) == 1 and "only the maintainers can score it" in capsys.readouterr().err
    assert main(["eval", "--data", str(public), "--split", "hidden", "--model", "simulated", "--strategy",
                 "best_of@2:oracle", "--budget", "256", "--out", str(tmp_path / "r2"), "--no-progress"]) == 2
    assert "gold answer" in capsys.readouterr().err and not (tmp_path / "r2").exists()
    inbox = tmp_path / "maintainer" / "inbox"
    assert main(["submission", "pack", str(run), "--out", str(inbox / "lab.json.gz"), "--submitter", "lab"]) == 0
    # 4. the maintainer validates against the private items ...
    capsys.readouterr()
    assert main(["submission", "validate", str(inbox / "lab.json.gz"), "--releases", str(hidden)]) == 0
    cap = capsys.readouterr()
    assert "verified: hidden split" in cap.out and "by id only" not in cap.err
    # ... each prediction bound to its private item (the prompts carry the statement's content sha256)
    import gzip

    from depthbench.tasks import load_dataset

    private, _ = load_dataset(hidden / "private", split="hidden")
    sub = json.loads(gzip.decompress((inbox / "lab.json.gz").read_bytes()))
    assert {p["item_id"]: p["item_sha256"] for p in sub["predictions"]} == {
        it["id"]: it["meta"]["content_sha256"] for it in private}
    # ... receives a public-data submission too (gold answers of that release are public) ...
    ds = tmp_path / "maintainer" / "public-release"
    assert main(["generate", TASK, "--depths", "1,2", "--n", "3", "--seed", "9", "--out", str(ds), "--quiet"]) == 0
    prun = tmp_path / "other" / "run"
    assert main(["eval", "--data", str(ds), "--model", "simulated", "--strategy", "single", "--budget", "256",
                 "--out", str(prun), "--no-progress"]) == 0
    assert main(["submission", "pack", str(prun), "--out", str(inbox / "public.json.gz")]) == 0
    # 5. ... and builds the site: the hidden-split rows are ranked, the public one is listed unranked after them
    site = tmp_path / "maintainer" / "site"
    assert main(["leaderboard", "build", str(inbox), "--out", str(site), "--releases", str(hidden),
                 "--releases", str(ds)]) == 0
    rows = json.loads((site / "leaderboard.json").read_text())["rows"]
    assert [(r["table"], r["rank"] is not None) for r in rows] == [("hidden", True)] * 3 + [("public", False)]
    assert {r["strategy"] for r in rows if r["table"] == "hidden"} == {"single", "majority@4", "budget_forcing"}
    assert all(r["verified"] for r in rows[:3]) and not rows[3]["verified"]
    # the simulated reasoner solved the prompts (it walks the certifier's trace): credit is re-derived, not stated
    assert max(r["accuracy"] for r in rows[:3]) > 0.5
