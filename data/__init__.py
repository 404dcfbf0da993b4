"""The shipped dataset releases: one folder per release, ``data/<name>/<task>/``.

:data:`RELEASES` lists them oldest first. A release whose folder exists is **never
rewritten**: submissions name their dataset by the sha256 of its manifest, pinned for every
release in ``tests/test_data_release.py``. The last one is the **canonical** release: today's
generators reproduce its items (``tests/test_data_release.py`` regenerates it and compares
item by item, leaving out ``meta.generator_source_sha256``, the sha256 of the family module
that built the shipped files, so editing a generator's docstring changes nothing). Every
earlier one is **frozen**: its generators have moved on, but its files stay in the package,
pinned, so old runs and submissions still load and validate (``depthbench submission
validate`` says which release a submission used).

When the canonical items change (content drift), that is a new release: bump the family's
``VERSION``, add the new name here (one line) and run ``python scripts/regen_release.py``,
which writes its folder and its golden sha256 in the test (``--check`` only compares).
"""

#: the shipped releases, oldest first; the last is canonical, the others are frozen
RELEASES: tuple[str, ...] = ("v1", "v2", "v3")

#: the release today's generators reproduce byte for byte
CANONICAL: str = RELEASES[-1]

__all__ = ["RELEASES", "CANONICAL"]
