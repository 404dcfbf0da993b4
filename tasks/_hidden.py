"""Hidden test split: private items plus a public hash commitment to their answers.

Maintainers keep a secret seed file (random bytes, never published). From it:

* the split seed: the first 8 bytes of ``sha256("depthbench-hidden-split/1\\0" || secret)``
  as a big-endian integer, shifted right by one bit (63 bits, non-negative), so nobody
  can regenerate the items without the secret;
* a salt per item: ``HMAC-SHA256(secret, item id)``, so a small answer space (two
  labels, ``m`` residues) cannot be brute-forced from the commitment.

Generated item ids embed the split seed (``<task>/<split>/s<seed>/...``), so hidden items
get opaque ids instead: ``<task>/<split>/h<first 20 hex of HMAC-SHA256(secret, "id|" + id)>``.

The private folder is a regular dataset folder (``<split>.jsonl`` and its
``manifest.json``, usable with ``eval --data`` and ``submission validate --releases``)
plus the salts (``salts.jsonl``). The public folder is what submitters get: the prompts
(``<split>.prompts.jsonl``: each item without its answer, trace, seed or private meta;
``meta`` keeps only ``answer_space``, ``chance``, ``family`` and ``content_sha256``, the hash of
the problem statement the prompt shows) and a manifest listing, per
item, the id, the certified depth and ``commitment = sha256(salt || 0x00 ||
canonical_json(answer))`` — never the answer, the seed or the salt — plus
``overall_sha256``, the sha256 of the lines ``"<id>:<commitment>\\n"`` in manifest order,
``secret_sha256`` so a later reveal of the secret can be checked, and ``files`` with the
prompts file's sha256. ``depthbench eval --data OUT/public --split <split>`` runs on it;
the run's dataset sha256 is the public manifest's, which ``submission validate
--releases OUT`` maps back to the private items. Revealing the salts (or the secret)
later lets anyone check that answers were not changed after the fact
(:func:`check_commitments`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from depthbench.errors import UserError
from depthbench.io import (
    atomic_write_json,
    canonical_json,
    ensure_writable_dir,
    sha256_bytes,
    sha256_file,
    write_jsonl_atomic,
)
from depthbench.tasks._dataset import build_items
from depthbench.tasks._export import write_dataset
from depthbench.tasks._spec import load_spec

__all__ = ["HIDDEN_FORMAT", "derive_seed", "item_salt", "opaque_id", "commitment", "write_private_split",
           "check_commitments"]

HIDDEN_FORMAT = "depthbench-hidden-split/1"
_SEED_DOMAIN = b"depthbench-hidden-split/1\x00"
_MIN_SECRET_BYTES = 16
_PUBLIC_ITEM_KEYS = ("id", "task", "generator_version", "split", "index", "depth", "params", "instance", "prompt",
                     "answer_type")
#: ``content_sha256`` (sha256 of the family and the problem statement, which the prompt shows anyway) lets a
#: run on the prompts bind each outcome and prediction to its item (``item_sha256``)
_PUBLIC_META_KEYS = ("answer_space", "chance", "family", "content_sha256")


def _read_secret(secret_seed_file: str | Path) -> bytes:
    p = Path(secret_seed_file)
    if not p.is_file():
        raise UserError(f"--secret-seed-file: {str(p)!r} not found; create one with "
                        "'head -c 32 /dev/urandom > secret.bin' and keep it private")
    data = p.read_bytes()
    if len(data) < _MIN_SECRET_BYTES:
        raise UserError(f"--secret-seed-file: {len(data)} bytes is too short to be secret; use at least "
                        f"{_MIN_SECRET_BYTES} random bytes ('head -c 32 /dev/urandom > secret.bin')")
    return data


def derive_seed(secret: bytes) -> int:
    """The split seed (63-bit non-negative int) derived from the secret bytes.

    Examples
    --------
    >>> derive_seed(b"0" * 32) == derive_seed(b"0" * 32)
    True
    >>> 0 <= derive_seed(b"x" * 16) < 2 ** 63
    True
    """
    return int.from_bytes(hashlib.sha256(_SEED_DOMAIN + secret).digest()[:8], "big") >> 1


def item_salt(secret: bytes, item_id: str) -> str:
    """Hex ``HMAC-SHA256(secret, item_id)``: the per-item commitment salt."""
    return hmac.new(secret, item_id.encode("utf-8"), hashlib.sha256).hexdigest()


def commitment(salt_hex: str, answer: Any) -> str:
    """Hex ``sha256(salt || 0x00 || canonical_json(answer))``."""
    return sha256_bytes(bytes.fromhex(salt_hex) + b"\x00" + canonical_json(answer).encode("utf-8"))


def _overall(rows: Sequence[Mapping[str, Any]]) -> str:
    return sha256_bytes("".join(f"{r['id']}:{r['commitment']}\n" for r in rows).encode("utf-8"))


def opaque_id(secret: bytes, item_id: str, task: str, split: str) -> str:
    """The public id of a hidden item: reveals neither the seed nor the index."""
    tag = hmac.new(secret, b"id|" + item_id.encode("utf-8"), hashlib.sha256).hexdigest()[:20]
    return f"{task}/{split}/h{tag}"


def write_private_split(spec_or_task: Any, secret_seed_file: str | Path, out_dir: str | Path, *,
                        split: str = "hidden", depths: Sequence[int] | None = None, n: int | None = None,
                        exclude: Iterable[str] = (), workers: int = 1,
                        public_prompts: bool = False) -> dict[str, Any]:
    """Generate a hidden split and write its private items and public commitment manifest.

    Parameters
    ----------
    spec_or_task : TaskSpec or str
        Task spec or registered task name, as for ``depthbench.tasks.build_items``.
    secret_seed_file : path-like
        File of at least 16 secret random bytes; its bytes determine the split seed.
    out_dir : path-like
        Writes ``out_dir/private/<split>.jsonl`` with its ``manifest.json``,
        ``out_dir/private/salts.jsonl`` and
        ``out_dir/public/manifest.json`` (plus ``out_dir/public/<split>.prompts.jsonl``
        with ``public_prompts``: items without answer, trace or seed, ``meta`` cut to
        ``answer_space``, ``chance``, ``family`` and ``content_sha256``; the manifest then lists its sha256).
    split : str
        Split name recorded in the items (default ``"hidden"``).
    depths, n : optional
        Passed to ``build_items`` (default: the spec's depth grid; ``n`` defaults to the
        spec's split of the same name, else its ``test`` split).
    exclude : iterable of str
        Content sha256 values of public items the hidden split must not repeat.
    workers : int
        Worker processes for generation (same output for any value).
    public_prompts : bool
        Also publish the prompts (answers, traces, seeds and hashes left out).

    Returns
    -------
    dict
        The public manifest.

    Raises
    ------
    UserError
        Missing or too short secret file, unwritable output.
    """

    secret = _read_secret(secret_seed_file)
    seed = derive_seed(secret)
    spec = load_spec(spec_or_task)
    if n is None:
        base = spec.splits.get(split) or spec.splits.get("test") or next(iter(spec.splits.values()), None)
        if base is None:
            raise UserError(f"--n: task {spec.name} declares no splits; give --n")
        n = base.n_per_depth
    items = build_items(spec, split, depths=depths, n=n, seed=seed, exclude=exclude, workers=workers)
    if not items:
        raise UserError("hidden split: the task generated no items; check --depths / --n")
    task = str(items[0].get("task"))
    items = [{**it, "id": opaque_id(secret, str(it["id"]), task, split)} for it in items]
    ids = [str(it["id"]) for it in items]
    dup = [i for i, c in Counter(ids).items() if c > 1]
    if dup:
        raise UserError(f"hidden split: duplicate item id {dup[0]!r} from the generator")
    out = ensure_writable_dir(out_dir, "--out")
    private = ensure_writable_dir(out / "private", "--out")
    os.chmod(private, 0o700)  # answers and salts: readable by the maintainer only
    public = ensure_writable_dir(out / "public", "--out")

    salts = [{"id": i, "salt": item_salt(secret, i)} for i in ids]
    rows = [{"id": it_id, "depth": it["depth"], "commitment": commitment(s["salt"], it["answer"])}
            for it_id, it, s in zip(ids, items, salts)]
    manifest = {
        "format": HIDDEN_FORMAT,
        "task": task,
        "split": split,
        "n_items": len(rows),
        "per_depth": {str(d): c for d, c in sorted(Counter(int(r["depth"]) for r in rows).items())},
        "generator_versions": sorted({str(it.get("generator_version")) for it in items}),
        "commitment_scheme": "sha256(salt || 0x00 || canonical_json(answer)); salt = HMAC-SHA256(secret, item id)",
        "items": rows,
        "overall_sha256": _overall(rows),
        "secret_sha256": sha256_bytes(secret),
    }
    # A standard dataset folder (items + manifest.json), so maintainers can run
    # `depthbench eval --data OUT/private` and `submission validate --releases OUT/private`.

    write_dataset(private, spec, {split: items}, fmt="jsonl",
                  command=f"depthbench generate {spec.name} --split {split} --secret-seed-file <secret>")
    write_jsonl_atomic(private / "salts.jsonl", salts)
    if public_prompts:
        pub = [{k: it[k] for k in _PUBLIC_ITEM_KEYS if k in it}
               | {"meta": {k: v for k, v in (it.get("meta") or {}).items() if k in _PUBLIC_META_KEYS}} for it in items]
        name = f"{split}.prompts.jsonl"
        write_jsonl_atomic(public / name, pub)
        manifest["files"] = {name: {"sha256": sha256_file(public / name), "items": len(pub)}}
    atomic_write_json(public / "manifest.json", manifest)
    return manifest


def check_commitments(public_manifest: str | Path, items: Sequence[Mapping[str, Any]],
                      salts: Mapping[str, str]) -> list[str]:
    """Problems found when checking revealed items and salts against a public manifest.

    Parameters
    ----------
    public_manifest : path-like
        The ``manifest.json`` published earlier.
    items : sequence of dict
        The revealed items (with answers).
    salts : mapping
        Item id -> hex salt, as revealed.

    Returns
    -------
    list of str
        Empty when every answer matches its commitment and the overall hash holds.
    """
    man = json.loads(Path(public_manifest).read_text("utf-8"))
    probs = []
    if man.get("format") != HIDDEN_FORMAT:
        probs.append(f"manifest: format {man.get('format')!r} is not {HIDDEN_FORMAT!r}")
        return probs
    if _overall(man["items"]) != man["overall_sha256"]:
        probs.append("manifest: overall_sha256 does not match the listed commitments")
    by_id = {str(it["id"]): it for it in items}
    for row in man["items"]:
        it = by_id.get(row["id"])
        if it is None:
            probs.append(f"item {row['id']!r}: not revealed")
        elif row["id"] not in salts:
            probs.append(f"item {row['id']!r}: no salt revealed")
        elif commitment(salts[row["id"]], it["answer"]) != row["commitment"]:
            probs.append(f"item {row['id']!r}: answer does not match its commitment")
    return probs
