"""The wheel: build it, install it into a fresh venv, import everything, load every spec.

This catches files missing from the wheel (a new subfolder not listed in ``packages``, a
schema or YAML not in package data) and a layout that leaks ``generators``/``tasks``/...
to the top of site-packages.

The fresh venv gets the wheel with ``--no-deps``; its third-party dependencies come from
the interpreter running the tests, through a ``.pth`` line that appends that environment's
site-packages *after* the fresh one (so the wheel's ``depthbench`` wins over any editable
install, whose ``.pth`` hooks are not processed from an appended folder).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> wheel path, from pyproject's package-dir (so a new mapped folder is checked too)
MAPPED = {folder: pkg.replace(".", "/") for pkg, folder in
          tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].items()}
IGNORE = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "build", "dist", "*.egg-info",
                                ".pytest_cache", ".hypothesis")

CHECK = r"""
import importlib, json, pkgutil, sys, sysconfig
from pathlib import Path
import depthbench
site = Path(sysconfig.get_paths()["purelib"]).resolve()
pkg = Path(depthbench.__file__).resolve().parent
assert pkg.parent == site, f"depthbench imported from {pkg}, not the fresh venv {site}"
mods = ["depthbench"]
failed = {}
for info in pkgutil.walk_packages(depthbench.__path__, "depthbench.", onerror=lambda n: failed.setdefault(n, "walk")):
    mods.append(info.name)
for name in mods:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        # optional backends may need extras that are not installed; a depthbench module must never be missing
        if (e.name or "").startswith("depthbench"):
            failed[name] = repr(e)
    except Exception as e:
        failed[name] = repr(e)
from depthbench.tasks import list_specs
from depthbench.generators import families
from depthbench.tasks import load_dataset
specs = [s.name for s in list_specs()]
releases = {}
for fam in families():
    items, sha = load_dataset(pkg / "data" / "v1" / fam, split="dev")
    releases[fam] = len(items)
top = sorted(p.name for p in site.iterdir())
print(json.dumps({"modules": mods, "failed": failed, "specs": specs, "families": sorted(families()),
                  "releases": releases, "top": top}))
"""


def _files_that_must_ship() -> set[str]:
    """Every module, schema, spec and release file of the mapped folders, as wheel paths."""
    want = set()
    for folder, dest in MAPPED.items():
        for p in (ROOT / folder).rglob("*"):
            if not p.is_file() or "__pycache__" in p.parts:
                continue
            rel = p.relative_to(ROOT / folder)
            if p.suffix == ".py" or (folder == "core" and p.suffix == ".json") or (
                    folder == "tasks" and p.suffix == ".yaml") or (folder == "data" and p.suffix in (".jsonl", ".json")):
                want.add(f"{dest}/{rel.as_posix()}")
    return want


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    dist = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (whl,) = dist.glob("depthbench-*.whl")
    return whl


def test_wheel_contains_every_module_schema_spec_and_release_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_files_that_must_ship() - names)
    assert not missing, f"missing from the wheel: {missing[:20]}"
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"depthbench", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops
    assert not any(n.startswith("tests/") or "/tests/" in n for n in names)


def test_fresh_venv_imports_everything_and_loads_every_spec(wheel, tmp_path):
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(env)
    py = env / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                        "--no-index", "--disable-pip-version-check", str(wheel)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(here)))
    r = subprocess.run([str(py), "-P", "-c", CHECK], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                       env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg"})
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert not res["failed"], res["failed"]
    for mod in ("depthbench.generators.graph_connectivity", "depthbench.tasks._dataset",
                "depthbench.tasks._spec", "depthbench.cli"):
        assert mod in res["modules"]
    from depthbench.tasks import list_specs

    repo_specs = sorted(s.name for s in list_specs())
    assert sorted(res["specs"]) == repo_specs
    assert set(res["releases"]) == set(res["families"]) and all(n > 0 for n in res["releases"].values())
    leaked = {"generators", "tasks", "scorers", "baselines", "data", "core", "app", "analysis", "report",
              "leaderboard", "demo", "cli"} & set(res["top"])
    assert not leaked, f"top-level names in site-packages: {leaked}"
    # the console script works from the wheel
    exe = env / "bin" / "depthbench"
    r = subprocess.run([str(exe), "tasks", "list"], capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"})
    assert r.returncode == 0 and "graph_connectivity" in r.stdout, r.stderr[-2000:]
