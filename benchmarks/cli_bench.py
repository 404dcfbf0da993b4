"""Start-up time of the CLI: ``depthbench --help`` and ``depthbench strategies``.

Runs each command ``--repeats`` times as a fresh process, interleaved with two references
measured in the same loop (an empty interpreter, and ``import numpy``) so that a noisy,
shared machine shows up in the reference rows too. Prints wall and CPU (user + sys) time,
minimum and median, and the number of modules the command loads. With ``--reference
DEPTHBENCH`` another installation's console script (e.g. the main branch's venv) is timed
in the same loop, for a ratio within one run.

Usage::

    python benchmarks/cli_bench.py --repeats 20
    python benchmarks/cli_bench.py --repeats 20 --reference /work/venv-main/bin/depthbench
    git archive main | tar -x -C /tmp/ref && python benchmarks/cli_bench.py --reference-tree /tmp/ref

``--reference-tree DIR`` times another source tree of depthbench (e.g. main's) with this
interpreter and packages: a wrapper repoints this editable install's module map at DIR.

The target (docs/ARCHITECTURE.md, "Layers"): both commands <= 0.3 s wall on an idle
machine; ``tests/test_architecture.py`` checks that the start-up imports none of the heavy
libraries (scipy, matplotlib, jsonschema, networkx, jinja2, yaml, ...), that ``--help`` imports
no subsystem (the command table) and that ``strategies`` imports the strategy registry only.
"""

from __future__ import annotations

import argparse
import atexit
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COUNT = ("import sys, io, contextlib\nfrom depthbench.cli import main\n"
         "with contextlib.redirect_stdout(io.StringIO()):\n"
         "    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
         "print(len(sys.modules), sum(m.startswith('depthbench') for m in sys.modules))")


def _run(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


_TREE_WRAPPER = """import sys
import {finder} as f
for k, v in list(f.MAPPING.items()):
    f.MAPPING[k] = v.replace({here!r}, {tree!r})
for k, v in list(f.NAMESPACES.items()):
    f.NAMESPACES[k] = [p.replace({here!r}, {tree!r}) for p in v]
from depthbench.cli import main
sys.exit(main())
"""


def _tree_reference(tree: Path, tmp: Path) -> str:
    """A console script running the depthbench source tree ``tree`` with this interpreter: this
    editable install's finder (``__editable___depthbench_*_finder``) with its paths repointed."""
    import importlib.util

    finder = next(m for m in sys.modules if m.startswith("__editable___depthbench_"))
    here = str(Path(importlib.util.find_spec("depthbench").origin).resolve().parents[1])
    script = tmp / "reference_depthbench"
    script.write_text(f"#!{sys.executable} -P\n" + _TREE_WRAPPER.format(finder=finder, here=here,
                                                                         tree=str(tree.resolve())))
    script.chmod(0o755)
    return str(script)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--reference", help="another depthbench console script to time in the same loop")
    ap.add_argument("--reference-tree", type=Path, help="another depthbench source tree (e.g. `git archive main`) "
                                                         "to time in the same loop, run by this interpreter")
    args = ap.parse_args()
    if args.reference_tree:
        tmp = Path(tempfile.mkdtemp(prefix="cli-bench-"))
        atexit.register(shutil.rmtree, tmp, True)
        args.reference = _tree_reference(args.reference_tree, tmp)
    exe = shutil.which("depthbench", path=str(Path(sys.executable).parent)) or "depthbench"
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "depthbench --help": [exe, "--help"],
        "depthbench strategies": [exe, "strategies"],
    }
    if args.reference:
        cases["reference --help"] = [args.reference, "--help"]
        cases["reference strategies"] = [args.reference, "strategies"]
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    for _ in range(args.repeats):
        for name, argv in cases.items():
            times[name].append(_run(argv))
    print(f"{'command':<28} {'wall min':>9} {'wall med':>9} {'cpu min':>8} {'cpu med':>8}   ({args.repeats} runs each, "
          f"interleaved; load average {os.getloadavg()[0]:.1f})")
    for name, rows in times.items():
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        print(f"{name:<28} {min(walls):>8.3f}s {statistics.median(walls):>8.3f}s {min(cpus):>7.3f}s "
              f"{statistics.median(cpus):>7.3f}s")
    for argv in (["--help"], ["strategies"]):
        out = subprocess.run([sys.executable, "-c", COUNT.format(argv=argv)], capture_output=True, text=True,
                             check=True).stdout.split()
        print(f"modules loaded by depthbench {' '.join(argv)}: {out[0]} ({out[1]} of depthbench)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
