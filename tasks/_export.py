"""Writing a dataset folder: JSONL, Hugging Face ``datasets`` or Parquet, plus ``manifest.json``.

Layout (the architecture contract): ``<out>/<split>.jsonl`` (or ``<split>.parquet``, or
``hf/`` from ``DatasetDict.save_to_disk`` with a ``README.md`` dataset card) and
``<out>/manifest.json``. Every file is written atomically (temporary file, fsync, rename);
the manifest is written last, so a folder with a manifest is complete. The dataset sha256
used by runs and submissions is the sha256 of the manifest bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from depthbench import __version__
from depthbench.errors import UserError
from depthbench.generators import get_family
from depthbench.io import (
    atomic_write_json,
    atomic_write_text,
    atomic_writer,
    canonical_json,
    sha256_file,
    write_jsonl_atomic,
)
from depthbench.tasks._spec import TaskSpec

__all__ = ["write_dataset", "FORMATS", "flatten_item", "MANIFEST_FORMAT", "check_format"]

FORMATS = ("jsonl", "hf", "parquet")
MANIFEST_FORMAT = "depthbench-dataset/1"

_JSON_COLUMNS = ("params", "instance", "solution_trace", "meta")


def check_format(fmt: str) -> None:
    """Check that the packages ``fmt`` needs are installed (before any file or folder is made).

    Raises
    ------
    UserError
        Unknown format, or ``pyarrow`` (parquet) / ``datasets`` (hf) missing.
    """
    if fmt not in FORMATS:
        raise UserError(f"--format: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise UserError("--format parquet needs pyarrow: pip install 'depthbench[hf]'") from None
    elif fmt == "hf":
        try:
            import datasets  # noqa: F401
        except ImportError:
            raise UserError("--format hf: the `datasets` package is not installed; pip install 'depthbench[hf]'") from None


def flatten_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as flat columns for Arrow: nested fields as canonical JSON text, answer as text.

    Columns: id, task, generator_version, split, seed, index, depth, prompt, answer (str),
    answer_type, params_json, instance_json, solution_trace_json, meta_json.
    """
    row = {k: item[k] for k in ("id", "task", "generator_version", "split", "seed", "index", "depth",
                                "prompt", "answer_type")}
    row["answer"] = str(item["answer"])
    for k in _JSON_COLUMNS:
        row[f"{k}_json"] = canonical_json(item[k])
    return row


def _per_depth(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    c = Counter(int(it["depth"]) for it in items)
    return {str(d): c[d] for d in sorted(c)}


def _arrow_table(items: Sequence[Mapping[str, Any]]):
    import pyarrow as pa

    schema = pa.schema([
        ("id", pa.string()), ("task", pa.string()), ("generator_version", pa.string()), ("split", pa.string()),
        ("seed", pa.int64()), ("index", pa.int64()), ("depth", pa.int64()), ("prompt", pa.string()),
        ("answer_type", pa.string()), ("answer", pa.string()),
        *[(f"{k}_json", pa.string()) for k in _JSON_COLUMNS],
    ])
    return pa.Table.from_pylist([flatten_item(it) for it in items], schema=schema)


def _write_parquet(path: Path, items: Sequence[Mapping[str, Any]]) -> None:
    import pyarrow.parquet as pq

    table = _arrow_table(items)
    with atomic_writer(path, "wb") as f:
        pq.write_table(table, f)


def _dataset_card(spec: TaskSpec, splits: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    lines = [
        "---",
        "license: apache-2.0",
        "task_categories:",
        "- question-answering",
        "tags:",
        "- depthbench",
        "- compositional-depth",
        "- test-time-compute",
        "- synthetic",
        "---",
        "",
        f"# depthbench: {spec.name}",
        "",
        spec.description,
        "",
        f"Generator family `{spec.family}`; fixed size parameters `{canonical_json(dict(spec.params))}`; "
        f"depth grid {list(spec.depths)}. Every item's depth was certified by an independent solver "
        "(the item is refused otherwise). Answer format: a last line "
        f"`{spec.answer_format}`; answers are checked by the family's verifier (any valid answer counts).",
        "",
        "| split | items | items per depth |",
        "|---|---|---|",
    ]
    for name, items in splits.items():
        lines.append(f"| {name} | {len(items)} | {canonical_json(_per_depth(items))} |")
    lines += [
        "",
        "Columns: `id`, `task`, `generator_version`, `split`, `seed`, `index`, `depth` (certified), `prompt`, "
        "`answer` (text), `answer_type`; `params_json`, `instance_json`, `solution_trace_json`, `meta_json` "
        "hold the nested fields as JSON text (parse with `json.loads`).",
        "",
        f"Generated by depthbench {__version__}; regenerate byte for byte with `depthbench generate`.",
        "",
    ]
    return "\n".join(lines)


def _write_hf(out: Path, spec: TaskSpec, splits: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Path]:
    import datasets  # check_format ran first: installed

    dd = datasets.DatasetDict({name: datasets.Dataset(_arrow_table(items)) for name, items in splits.items()})
    final = out / "hf"
    tmp = Path(tempfile.mkdtemp(prefix=".hf.", dir=out))
    from datasets.utils import logging as ds_logging

    bars = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()  # our own bar already covers the work; keep stderr clean
    try:
        dd.save_to_disk(str(tmp / "hf"))
        atomic_write_text(tmp / "hf" / "README.md", _dataset_card(spec, splits))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp / "hf", final)
    finally:
        if bars:
            ds_logging.enable_progress_bar()
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(p for p in final.rglob("*") if p.is_file())


def write_dataset(out: "str | os.PathLike[str]", spec: TaskSpec, splits: Mapping[str, Sequence[Mapping[str, Any]]],
                  fmt: str = "jsonl", command: str | None = None, shard: str | None = None) -> dict[str, Any]:
    """Write a dataset folder and its manifest.

    Parameters
    ----------
    out : path-like
        Destination folder (created).
    spec : TaskSpec
        The task the items come from.
    splits : mapping split name -> list of items
        Items per split, in output order.
    fmt : {"jsonl", "hf", "parquet"}
        Output format.
    command : str, optional
        The command line that regenerates the data (recorded in the manifest).
    shard : str, optional
        ``"K/N"`` when this folder holds one shard (recorded in the manifest).

    Returns
    -------
    dict
        The manifest as written.

    Raises
    ------
    UserError
        Unknown format, or the folder cannot be written.
    """
    check_format(fmt)
    out = Path(out)
    files: dict[str, Any] = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        if fmt == "hf":
            for p in _write_hf(out, spec, splits):
                files[p.relative_to(out).as_posix()] = {"sha256": sha256_file(p)}
            for name, items in splits.items():
                files[f"hf/{name}"] = {"items": len(items), "per_depth": _per_depth(items)}
        else:
            for name, items in splits.items():
                fname = f"{name}.{fmt}"
                (write_jsonl_atomic if fmt == "jsonl" else _write_parquet)(out / fname, items)
                files[fname] = {"sha256": sha256_file(out / fname), "items": len(items),
                                "per_depth": _per_depth(items)}
        fam = get_family(spec.family)
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "task": spec.name,
            "family": spec.family,
            "spec_sha256": spec.sha256,
            "generator_versions": {fam.name: fam.version},
            "files": files,
            "command": command,
            "suite_version": __version__,
        }
        if shard is not None:
            manifest["shard"] = shard
        atomic_write_json(out / "manifest.json", manifest)
    except PermissionError as e:
        raise UserError(f"--out: cannot write to {str(out)!r} ({e.strerror}); choose a writable folder") from None
    return json.loads((out / "manifest.json").read_text("utf-8"))
