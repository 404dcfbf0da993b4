"""The sdist and the wheel: build them, install into fresh venvs, import everything, load every spec.

This catches files missing from the wheel (a new subfolder not listed in ``packages``, a
schema or YAML not in package data), a layout that leaks ``generators``/``tasks``/...
to the top of site-packages, and C sources missing from the sdist. The wheel is built from
the sdist (as pip builds one from PyPI), so it proves the sdist complete. The compiled fast
paths (pyproject's ``ext-modules``, ``optional = true``) are in the wheel when a C compiler is
present, and an install of the sdist without one (``CC=false``) still succeeds and runs the
pure-Python reference, which builds the same items.

The fresh venv gets the wheel with ``--no-deps``; its third-party dependencies come from
the interpreter running the tests, through a ``.pth`` line that appends that environment's
site-packages *after* the fresh one (so the wheel's ``depthbench`` wins over any editable
install, whose ``.pth`` hooks are not processed from an appended folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
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
                                ".pytest_cache", ".hypothesis", "*.so")
EXT_MODULES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["ext-modules"]

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
from depthbench.generators._compiled import status
print(json.dumps({"modules": mods, "failed": failed, "specs": specs, "families": sorted(families()),
                  "releases": releases, "top": top, "compiled": status()}))
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


def _have_compiler() -> bool:
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    return bool(cc) and shutil.which(cc[0]) is not None


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    """(sdist, wheel): ``python -m build`` of a copy of the repository (the wheel from the sdist)."""
    pytest.importorskip("build")
    tmp = tmp_path_factory.mktemp("dists")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    dist = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (sdist,) = dist.glob("depthbench-*.tar.gz")
    (whl,) = dist.glob("depthbench-*.whl")
    return sdist, whl


@pytest.fixture(scope="module")
def wheel(dists) -> Path:
    return dists[1]


def _fresh_venv(env: Path) -> tuple[Path, Path]:
    """A venv without pip whose third-party packages come from this interpreter's (appended
    after its own site-packages, see the module docstring); returns (python, site-packages)."""
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(env)
    py = env / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(here)))
    return py, site


def test_sdist_contains_the_c_sources_of_the_compiled_fast_paths(dists):
    names = {n.split("/", 1)[1] for n in tarfile.open(dists[0]).getnames() if "/" in n}
    sources = {src for ext in EXT_MODULES for src in ext["sources"]}
    assert sources and sources <= names, sorted(sources - names)


def test_wheel_contains_every_module_schema_spec_and_release_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_files_that_must_ship() - names)
    assert not missing, f"missing from the wheel: {missing[:20]}"
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"depthbench", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops
    assert not any(n.startswith("tests/") or "/tests/" in n for n in names)
    if _have_compiler():  # the compiled fast paths are built into the wheel
        for ext in EXT_MODULES:
            stem = ext["name"].replace(".", "/")
            assert any(n.startswith(stem + ".") and n.endswith((".so", ".pyd")) for n in names), ext["name"]


def test_fresh_venv_imports_everything_and_loads_every_spec(wheel, tmp_path):
    env = tmp_path / "venv"
    py, site = _fresh_venv(env)
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                        "--no-index", "--disable-pip-version-check", str(wheel)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
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
    if _have_compiler():  # the installed compiled modules import
        assert all(res["compiled"].values()), res["compiled"]
    # the console script works from the wheel
    exe = env / "bin" / "depthbench"
    r = subprocess.run([str(exe), "tasks", "list"], capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"})
    assert r.returncode == 0 and "graph_connectivity" in r.stdout, r.stderr[-2000:]


BUILD = r"""
import hashlib, json
from depthbench.generators._compiled import status
from depthbench.io import canonical_json
from depthbench.tasks import build_items, list_specs
out = {s.name: hashlib.sha256(canonical_json(build_items(s, "test", n=12, seed=3)).encode()).hexdigest()
       for s in list_specs() if s.name == s.family}
print(json.dumps({"compiled": status(), "items": out}))
"""


@pytest.mark.slow
def test_sdist_installs_without_a_compiler_and_runs_the_pure_python_path(dists, tmp_path):
    """``CC=false pip install`` of the sdist (a machine without a C compiler): the optional
    extensions are skipped, the install succeeds, nothing compiled is loaded, ``--version`` says
    so, and every family builds the same items as this process does."""
    py, site = _fresh_venv(tmp_path / "venv")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                        "--no-cache-dir", "--disable-pip-version-check", str(dists[0])], capture_output=True,
                       text=True, timeout=900, env={**os.environ, "CC": "false"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert not list((site / "depthbench").rglob("*.so")), "an extension was built with CC=false"
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg"}
    r = subprocess.run([str(py), "-P", "-c", BUILD], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert not any(res["compiled"].values()), res["compiled"]
    from depthbench.io import canonical_json
    from depthbench.tasks import build_items, list_specs

    here = {s.name: hashlib.sha256(canonical_json(build_items(s, "test", n=12, seed=3)).encode()).hexdigest()
            for s in list_specs() if s.name == s.family}
    assert res["items"] == here
    r = subprocess.run([str(tmp_path / "venv" / "bin" / "depthbench"), "--version"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith(
        "compiled fast paths: none (pure Python; not built: reinstall with a C compiler present)"), r.stdout
