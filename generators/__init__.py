"""Task families with certified compositional depth.

A family is one public module of this package with a module-level ``FAMILY`` (a
:class:`~depthbench.generators._base.Family`): generator, independent certifier, prompt
text, answer type, verifier and trace rules. Families are found by scanning this package,
so adding a family is adding a file (plus its task spec in ``tasks/``). ``families()``
lists them, ``get_family(name)`` returns one; a family defined outside the package (a
user's own module, a test fixture) joins with ``register_family(FAMILY)``. Everything
downstream finds an item's family by its ``meta.family``
(:func:`depthbench.scorers.family_of`), never by the task name.

Building datasets from task specs is :mod:`depthbench.tasks` (one layer up).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from depthbench.errors import UserError
from depthbench.generators._base import Certificate, Family, Problem, StepCheck
from depthbench.generators._seeding import item_rng

__all__ = [
    "Family",
    "Problem",
    "Certificate",
    "StepCheck",
    "families",
    "get_family",
    "register_family",
    "unregister_family",
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


def register_family(family: Family) -> Family:
    """Add a family defined outside this package to the registry (idempotent).

    Raises
    ------
    ValueError
        If another family is registered under the same name.
    """
    reg = _registry()
    old = reg.get(family.name)
    if old is not None and old is not family:
        raise ValueError(f"family {family.name!r} is already registered by {old.source_file}")
    reg[family.name] = family
    return family


def unregister_family(name: str) -> None:
    """Remove a family added with :func:`register_family` (a bundled family is found again
    on the next scan only after a restart)."""
    _registry().pop(name, None)
