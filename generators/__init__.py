"""Task families with certified compositional depth.

A family is one public module of this package with a module-level ``FAMILY`` (a
:class:`~depthbench.generators._base.Family`): generator, independent certifier, prompt
text, answer type, verifier and trace rules. Families are found by scanning this package,
so adding a family is adding a file (plus its task spec in ``tasks/``). ``families()``
lists them, ``get_family(name)`` returns one, ``family_of(item)`` the family of a dataset
item (by ``meta.family``, never by the task name).

Building datasets from task specs is :mod:`depthbench.tasks` (one layer up).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from depthbench.errors import UserError
from depthbench.generators._base import Certificate, Family, Problem
from depthbench.generators._seeding import item_rng

__all__ = [
    "Family",
    "Problem",
    "Certificate",
    "families",
    "get_family",
    "item_rng",
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
