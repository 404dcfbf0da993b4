"""The Hugging Face round trip: read every dataset form, and export a release for the Hub.

Reading (:func:`load_any`, what ``eval --data`` and ``depthbench score`` use):

===============================================  =========================================
``--data``                                       read as
===============================================  =========================================
``DIR`` with ``manifest.json`` and ``<split>.jsonl``  depthbench's loader (dataset sha256 = manifest bytes)
``DIR`` with ``manifest.json`` and ``<split>.parquet`` the Parquet file (``generate --format parquet``)
``DIR`` with ``manifest.json`` and ``hf/``        ``datasets.load_from_disk`` (``generate --format hf``)
``FILE.jsonl`` / ``FILE.parquet``                 the file (sha256 of the canonical items)
a ``save_to_disk`` folder                         ``datasets.load_from_disk``
a Hub dataset folder (README with ``configs``)    ``datasets.load_dataset(DIR, CONFIG, split=)``
a Hub repo id (``user/depthbench``)               ``datasets.load_dataset`` from the local cache
===============================================  =========================================

Rows in Arrow form (flat columns, nested fields as ``*_json`` text) are turned back into
items exactly (:func:`depthbench.tasks._rows.row_item`). A Hub folder written by
:func:`export_hub` keeps each family's JSONL manifest under ``manifests/``, so a run on
the export records the same dataset sha256 as a run on the JSONL release (and its
submission validates against the shipped data); other Hub datasets and single files are
identified by the sha256 of their canonical items, as ``eval --task`` is. ``CONFIG`` is
``--data-config`` (default: the only config, else an error listing them).

Export (``depthbench export hub RELEASE_DIR --out DIR``, :func:`export_hub`): a folder
that ``huggingface_hub.upload_folder`` pushes as is: ``<family>/<split>-00000-of-00001.parquet``,
``manifests/<family>.json`` and a ``README.md`` dataset card whose YAML front matter has
one ``configs`` entry per family, ``dataset_info`` (features; split sizes in items and Arrow bytes,
``download_size`` and ``dataset_size``: what ``datasets`` needs to accept it), license,
``task_categories``, ``size_categories`` and tags.

Rows are release records (item format 2, :mod:`depthbench.tasks._record`): the same
columns, one type each, in every family, so one Hub dataset holds every config.
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

import depthbench.data
from depthbench import __version__
from depthbench._lazy import lazy
from depthbench.errors import UserError
from depthbench.io import atomic_write_text, canonical_json, sha256_bytes, sha256_file
from depthbench.tasks._dataset import load_dataset
from depthbench.tasks._export import _arrow_table
from depthbench.tasks._record import item_record
from depthbench.tasks._rows import row_item

yaml = lazy("yaml")

__all__ = ["load_any", "export_hub", "hub_configs"]

_CARD_MARK = "configs:"


def _items_sha(items: Sequence[Mapping[str, Any]]) -> str:
    return sha256_bytes("\n".join(canonical_json(it) for it in items).encode("utf-8"))


def _need_datasets(what: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise UserError(f"--data: reading {what} needs the datasets package: pip install 'depthbench[hf]'") from None
    return datasets


def _rows_to_items(rows: Any) -> list[dict[str, Any]]:
    return [row_item(dict(r)) for r in rows]


def _parquet_items(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("--data: reading Parquet needs pyarrow: pip install 'depthbench[hf]'") from None
    try:
        return _rows_to_items(pq.read_table(path).to_pylist())
    except Exception as e:  # pyarrow raises several types for damaged files
        raise UserError(f"--data: {str(path)!r} is not a readable Parquet file ({type(e).__name__}: {e}); "
                        "regenerate it with `depthbench generate --format parquet`") from None


def hub_configs(folder: Path) -> list[str]:
    """The ``config_name`` values of a Hub dataset card's YAML front matter (empty if none)."""
    card = folder / "README.md"
    if not card.is_file():
        return []
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return []
    try:
        meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return []
    return [str(c.get("config_name")) for c in meta.get("configs") or [] if isinstance(c, dict)]


def _pick_config(configs: list[str], config: str | None, where: str) -> str | None:
    if config is None:
        if len(configs) > 1:
            raise UserError(f"--data-config: {where} has configs {', '.join(configs)}; choose one, "
                            f"e.g. --data-config {configs[0]}")
        return configs[0] if configs else None
    if configs and config not in configs:
        raise UserError(f"--data-config {config}: {where} has no config {config!r} (configs: {', '.join(configs)}); "
                        "choose one of those")
    return config


def _hub_items(source: str, config: str | None, split: str) -> list[dict[str, Any]]:
    if Path(source).is_dir():
        # datasets caches a local folder under its name and config, not its contents: a second folder of
        # the same name (another checkout, an export redone) would be served the first one's rows
        # (so it is read into a fresh cache each time, without datasets' "Generating split" bars)
        datasets = _need_datasets("a Hugging Face dataset")
        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            with tempfile.TemporaryDirectory(prefix="depthbench-hub-") as cache:
                return _hub_items_cached(source, config, split, cache)
        finally:
            if bars:
                datasets.enable_progress_bars()
    return _hub_items_cached(source, config, split, None)


def _hub_items_cached(source: str, config: str | None, split: str, cache_dir: str | None) -> list[dict[str, Any]]:
    datasets = _need_datasets("a Hugging Face dataset")
    try:
        ds = datasets.load_dataset(source, config, split=split, cache_dir=cache_dir)
    except ValueError as e:
        msg = str(e)
        if "split" in msg.lower():
            raise UserError(f"--split {split}: {source!r} has no split {split!r} ({msg.splitlines()[0][:200]}); "
                            "choose one of its splits") from None
        raise UserError(f"--data {source}: {msg.splitlines()[0][:300]}") from None
    except FileNotFoundError:
        raise UserError(f"--data {source}: not a folder, and not a dataset in the local Hugging Face cache; give a "
                        "dataset folder or download the repo first (huggingface-cli download --repo-type dataset "
                        f"{source})") from None
    except Exception as e:  # datasets raises many types (DatasetNotFoundError, ConnectionError offline, ...)
        raise UserError(f"--data {source}: cannot load it with datasets ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200] if str(e) else ''}); give a dataset folder, or a repo id "
                        "that is in the local Hugging Face cache") from None
    return _rows_to_items(ds)


def load_any(data: str | os.PathLike[str], split: str = "test",
             config: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Items and dataset sha256 of any dataset form ``generate`` writes, or of a Hub dataset.

    Parameters
    ----------
    data : str or path-like
        See the module docstring.
    split : str
        The split (a file path has one split: its own).
    config : str, optional
        The config (family) of a Hub dataset with several.

    Raises
    ------
    UserError
        A missing path or split, a Hub folder without the requested config, an unreadable
        file; one line naming the fix.
    """
    p = Path(data)
    if p.is_file():
        if p.suffix == ".parquet":
            items = _parquet_items(p)
            return items, _items_sha(items)
        return load_dataset(p, split=None)
    if p.is_dir():
        manifest = p / "manifest.json"
        if manifest.is_file() and not (p / f"{split}.jsonl").exists():
            sha = sha256_file(manifest)
            if (p / f"{split}.parquet").is_file():
                return _parquet_items(p / f"{split}.parquet"), sha
            if (p / "hf").is_dir():
                return _from_disk(p / "hf", split), sha
        if (p / "dataset_dict.json").is_file() or (p / "dataset_info.json").is_file():
            items = _from_disk(p, split)
            return items, _items_sha(items)
        configs = hub_configs(p)
        if configs:
            chosen = _pick_config(configs, config, f"the Hub dataset folder {str(p)!r}")
            items = _hub_items(str(p), chosen, split)
            kept = p / "manifests" / f"{chosen}.json"  # an export; a release folder keeps it beside the data
            kept = kept if kept.is_file() else p / str(chosen) / "manifest.json"
            if kept.is_file():
                want = json.loads(kept.read_text("utf-8")).get("files", {}).get(f"{split}.jsonl", {}).get("sha256")
                if want and want in _jsonl_shas(items):
                    return items, sha256_file(kept)
            return items, _items_sha(items)
        if config is not None:
            raise UserError(f"--data-config {config}: {str(p)!r} is not a Hub dataset folder (no README.md with "
                            "configs); drop --data-config or give the folder `depthbench export hub` wrote")
        return load_dataset(p, split=split)
    if "/" in str(data) and not str(data).startswith((".", "/")) and str(data).count("/") == 1:
        items = _hub_items(str(data), config, split)
        return items, _items_sha(items)
    raise UserError(f"--data: {str(data)!r} does not exist; give a dataset folder, a .jsonl or .parquet file, "
                    "or a Hugging Face dataset repo id in the local cache")


def _jsonl_shas(items: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """sha256 of the JSONL file these items were released as: records (format 2), or nested items (v1)."""
    records = "".join(canonical_json(item_record(it)) + "\n" for it in items)
    nested = "".join(canonical_json(it) + "\n" for it in items)
    return sha256_bytes(records.encode("utf-8")), sha256_bytes(nested.encode("utf-8"))


def _from_disk(folder: Path, split: str) -> list[dict[str, Any]]:
    datasets = _need_datasets("a save_to_disk folder")
    try:
        dd = datasets.load_from_disk(str(folder))
    except Exception as e:
        raise UserError(f"--data: {str(folder)!r} is not a readable datasets folder ({type(e).__name__}); "
                        "regenerate it with `depthbench generate --format hf`") from None
    if isinstance(dd, datasets.DatasetDict):
        if split not in dd:
            raise UserError(f"--split {split}: {str(folder)!r} has no split {split!r} (splits: "
                            f"{', '.join(dd) or 'none'}); choose one of those")
        dd = dd[split]
    return _rows_to_items(dd)


# ---------------------------------------------------------------------------------- export
def _family_folders(release: Path) -> list[Path]:
    if (release / "manifest.json").is_file():
        return [release]
    found = sorted(d for d in release.iterdir() if d.is_dir() and (d / "manifest.json").is_file())
    if not found:
        raise UserError(f"RELEASE_DIR: {str(release)!r} holds no dataset folder (a folder with manifest.json); "
                        "give a release folder such as data/v3 or a folder written by `depthbench generate`")
    return found


def _size_category(n: int) -> str:
    for limit, name in ((1000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _features(table: Any) -> list[dict[str, str]]:
    names = {"string": "string", "int64": "int64", "large_string": "string", "double": "float64", "bool": "bool"}
    return [{"name": f.name, "dtype": names.get(str(f.type), str(f.type))} for f in table.schema]


def _shipped_release(folder: Path) -> str | None:
    """The name of the shipped release ``folder`` is (``data/<name>``), else None."""
    root = Path(depthbench.data.__file__).parent.resolve()
    folder = folder.resolve()
    return folder.name if folder.parent == root and folder.name in depthbench.data.RELEASES else None


def _regeneration(release: str | None, versions: str) -> str:
    if release is not None and release != depthbench.data.CANONICAL:
        return (f"This is depthbench's data release {release} (generator versions: {versions}), **frozen**: the "
                f"canonical release is now {depthbench.data.CANONICAL}, and today's depthbench no longer "
                f"regenerates these items (the `command` in `manifests/<config>.json` made them with the depthbench "
                f"of the time). They still load, evaluate and validate in submissions. "
                "The sha256 of a manifest identifies the dataset in depthbench runs and leaderboard submissions.")
    head = (f"This is depthbench's data release {release}, the canonical one (generator versions: {versions}). "
            if release is not None else f"Generator versions: {versions}. ")
    return (head + "Regenerate the items: `pip install depthbench` and, per config, the `command` in "
            "`manifests/<config>.json` (e.g. `depthbench generate graph_connectivity --split test,dev`) gives them "
            "again, byte for byte but for `meta.generator_source_sha256` (the sha256 of the generator module that "
            "built them: provenance, which an edit that leaves the items alone changes). "
            "The sha256 of a manifest identifies the dataset in depthbench runs and leaderboard submissions.")


def _card(configs: list[dict[str, Any]], total: int, release: str | None = None) -> str:
    meta = {
        "license": "apache-2.0",
        "pretty_name": "depthbench" if release is None else f"depthbench {release}",
        "task_categories": ["question-answering", "text-generation"],
        "language": ["en"],
        "size_categories": [_size_category(total)],
        "tags": ["depthbench", "compositional-depth", "test-time-compute", "reasoning", "synthetic"],
        "configs": [{"config_name": c["name"], "data_files": [{"split": s["name"], "path": s["path"]}
                                                               for s in c["splits"]]} for c in configs],
        # datasets reads a split's info only with name, num_examples and num_bytes (the Arrow size);
        # download_size is the config's Parquet bytes, dataset_size the sum of its splits' num_bytes
        "dataset_info": [{"config_name": c["name"], "features": c["features"],
                          "splits": [{"name": s["name"], "num_bytes": s["num_bytes"], "num_examples": s["n"]}
                                     for s in c["splits"]],
                          "download_size": sum(s["file_bytes"] for s in c["splits"]),
                          "dataset_size": sum(s["num_bytes"] for s in c["splits"])}
                         for c in configs],
    }
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, width=100).rstrip(), "---", "",
             "# depthbench", "",
             "Procedurally generated reasoning problems whose **compositional depth is certified**: after "
             "generation an independent solver measures each item's depth (shortest-path distance, longest "
             "dependency chain, number of necessary key/door stages) and the item is refused unless it equals the "
             "requested depth, while the problem's size stays fixed across depths. Use it to measure accuracy "
             "against depth and to compare parallel (many samples and a vote) and sequential (one long chain, "
             "budget forcing, self-revision) test-time compute at a matched token budget.", "",
             "| config | split | items | items per depth |", "|---|---|---|---|"]
    for c in configs:
        for s in c["splits"]:
            lines.append(f"| {c['name']} | {s['name']} | {s['n']} | {canonical_json(s['per_depth'])} |")
    lines += ["", "```python", "import datasets",
              f'ds = datasets.load_dataset("<this repo>", "{configs[0]["name"]}", split="test")', "```", "",
              "Columns: `id`, `task`, `family`, `generator_version`, `split`, `seed`, `index`, `depth` (certified), "
              "`prompt`, `answer` (text), `answer_type`, `chance`; `params_json`, `instance_json`, "
              "`solution_trace_json` and `meta_json` hold the nested fields as JSON text (`json.loads`), so every "
              "column has one type in every config (depthbench's item format 2). "
              "A correct answer is checked by the family's verifier, not by string match (any valid plan solves a "
              "grid item): score with `depthbench score`, or evaluate with `depthbench eval --data <this repo> "
              "--data-config <config>`.", "",
              _regeneration(release, ", ".join(f"{c['name']} {c['version']}" for c in configs)), "",
              f"Exported by depthbench {__version__}.", ""]
    return "\n".join(lines)


def export_hub(release_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Write a Hub-ready folder for a release (see the module docstring).

    Returns
    -------
    dict
        ``out``, ``configs`` (names), ``items`` (total), ``files`` (written, relative).

    Raises
    ------
    UserError
        Not a release folder, pyarrow missing, or ``out`` exists and is not empty.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("export hub: needs pyarrow: pip install 'depthbench[hf]'") from None

    release = Path(release_dir)
    if not release.is_dir():
        raise UserError(f"RELEASE_DIR: {str(release)!r} is not a folder; give a release folder such as data/v3 "
                        "or a `depthbench generate` folder")
    dst = Path(out)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise UserError(f"--out: {str(dst)!r} exists and is not empty; choose a new folder")
    folders = _family_folders(release)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    configs: list[dict[str, Any]] = []
    total = 0
    try:
        for folder in folders:
            manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
            name = str(manifest.get("task") or folder.name)
            if any(c["name"] == name for c in configs):
                raise UserError(f"RELEASE_DIR: two dataset folders hold the task {name!r}; export one of them")
            splits = sorted(f[: -len(".jsonl")] for f in manifest.get("files", {}) if f.endswith(".jsonl"))
            if not splits:
                raise UserError(f"RELEASE_DIR: {str(folder)!r} has no .jsonl split; export a JSONL dataset folder")
            versions = manifest.get("generator_versions") or {}
            conf: dict[str, Any] = {"name": name, "splits": [], "version": ", ".join(
                str(versions[k]) for k in sorted(versions)) or "unknown"}
            for split in splits:
                items, _ = load_dataset(folder, split=split)
                table = _arrow_table(items)
                rel = f"{name}/{split}-00000-of-00001.parquet"
                (tmp / name).mkdir(exist_ok=True)
                pq.write_table(table, tmp / rel)
                conf["features"] = _features(table)
                c = Counter(int(it["depth"]) for it in items)
                conf["splits"].append({"name": split, "path": rel, "n": len(items),
                                       "num_bytes": int(table.nbytes), "file_bytes": (tmp / rel).stat().st_size,
                                       "per_depth": {str(d): c[d] for d in sorted(c)}})
                total += len(items)
            (tmp / "manifests").mkdir(exist_ok=True)
            shutil.copyfile(folder / "manifest.json", tmp / "manifests" / f"{name}.json")
            configs.append(conf)
        atomic_write_text(tmp / "README.md", _card(configs, total, _shipped_release(release)))
        if dst.exists():
            dst.rmdir()
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    return {"out": str(dst), "configs": [c["name"] for c in configs], "items": total, "files": files}
