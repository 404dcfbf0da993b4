"""Task specs (YAML) and the datasets built from them.

Bundled specs live beside this file as ``*.yaml``; ``load_spec(name_or_path)`` returns a
validated, frozen :class:`TaskSpec` (its ``params`` checked against the family's config);
``list_specs()`` lists the bundled concrete ones.

Datasets: ``build_items(spec_or_name, split, depths=None, n=None, seed=None)`` generates
certified items in memory; ``load_dataset(path, split=None) -> (items, manifest_sha256)``
reads a dataset folder or JSONL file; ``write_dataset`` writes a folder with its manifest.
Files hold Arrow-safe release records (``item_record`` / ``item_from_record``, item format
``depthbench-item/2``); in memory items are decoded. ``load_any`` reads every dataset form
``eval --data`` accepts (JSONL, Parquet, ``save_to_disk`` and Hub folders, cached Hub repo
ids); ``export_hub`` writes a release as a Hub dataset folder.
"""

from depthbench.tasks._dataset import (
    CertificationMismatch,
    bucket_cues,
    build_items,
    item_content_sha256,
    load_dataset,
    make_item,
)
from depthbench.tasks._export import write_dataset
from depthbench.tasks._hub import export_hub, hub_configs, load_any
from depthbench.tasks._record import ITEM_FORMAT, RECORD_COLUMNS, item_from_record, item_record
from depthbench.tasks._releases import (
    Release,
    canonical_release,
    default_releases_dir,
    find_releases,
    release_dir,
    shipped_releases,
)
from depthbench.tasks._spec import SplitSpec, TaskSpec, list_specs, load_spec, spec_dir

__all__ = [
    "TaskSpec",
    "SplitSpec",
    "load_spec",
    "list_specs",
    "spec_dir",
    "build_items",
    "make_item",
    "load_dataset",
    "load_any",
    "export_hub",
    "hub_configs",
    "write_dataset",
    "item_content_sha256",
    "CertificationMismatch",
    "item_record",
    "item_from_record",
    "ITEM_FORMAT",
    "RECORD_COLUMNS",
    "bucket_cues",
    "Release",
    "find_releases",
    "default_releases_dir",
    "release_dir",
    "shipped_releases",
    "canonical_release",
]
