"""Task families with certified compositional depth, and the datasets built from them.

Families are found by scanning this package for public modules with a module-level
``FAMILY`` (a :class:`~depthbench.generators._base.Family`); adding a family is adding a
file. ``families()`` lists them, ``get_family(name)`` returns one.

Datasets: ``build_items(spec_or_name, split, depths=None, n=None, seed=None)`` generates
items in memory; ``load_dataset(path, split=None) -> (items, manifest_sha256)`` reads a
dataset folder or JSONL file; ``write_dataset`` writes a folder with its manifest. Files hold
Arrow-safe release records (``item_record`` / ``item_from_record``, item format
``depthbench-item/2``); in memory items are decoded.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from depthbench.errors import UserError
from depthbench.generators._base import Certificate, Family, Problem
from depthbench.generators._dataset import (
    CertificationMismatch,
    bucket_cues,
    build_items,
    item_content_sha256,
    load_dataset,
    make_item,
)
from depthbench.generators._export import write_dataset
from depthbench.generators._record import ITEM_FORMAT, RECORD_COLUMNS, item_from_record, item_record
from depthbench.generators._seeding import item_rng
from depthbench.tasks import TaskSpec, list_specs, load_spec

__all__ = [
    "Family",
    "Problem",
    "Certificate",
    "families",
    "get_family",
    "build_items",
    "make_item",
    "load_dataset",
    "write_dataset",
    "item_content_sha256",
    "item_record",
    "item_from_record",
    "ITEM_FORMAT",
    "RECORD_COLUMNS",
    "bucket_cues",
    "item_rng",
    "CertificationMismatch",
    "TaskSpec",
    "load_spec",
    "list_specs",
]


@lru_cache(maxsize=1)
def _registry() -> dict[str, Family]:
    found: dict[str, Family] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        fam = getattr(mod, "FAMILY", None)
        if isinstance(fam, Family):
            if fam.name in found:
                raise RuntimeError(f"two modules register family {fam.name!r}")
            found[fam.name] = fam
    return found


def families() -> dict[str, Family]:
    """All registered families, by name (sorted)."""
    return dict(sorted(_registry().items()))


def get_family(name: str) -> Family:
    """The family registered as ``name``.

    Raises
    ------
    UserError
        If no module registers that name.
    """
    reg = _registry()
    if name not in reg:
        raise UserError(f"family: unknown generator family {name!r}; choose one of {', '.join(sorted(reg))}")
    return reg[name]
