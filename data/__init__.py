"""The shipped dataset releases: one folder per release, ``data/<name>/<task>/``.

:data:`RELEASES` lists them oldest first. The last one is the **canonical** release: today's
generators reproduce it byte for byte (``tests/test_data_release.py`` pins its manifests'
sha256 and regenerates it). Every earlier one is **frozen**: its generators have moved on,
but its files stay in the package, pinned, so old runs and submissions still load and
validate (``depthbench submission validate`` says which release a submission used).

Adding a release is adding its name here (one line) and its folder, which
``python scripts/regen_release.py`` writes (with the golden sha256 in the test).
"""

#: the shipped releases, oldest first; the last is canonical, the others are frozen
RELEASES: tuple[str, ...] = ("v1", "v2", "v3")

#: the release today's generators reproduce byte for byte
CANONICAL: str = RELEASES[-1]

__all__ = ["RELEASES", "CANONICAL"]
