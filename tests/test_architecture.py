"""The import graph: layers, no cycles, no hidden imports; a CLI that starts without heavy libraries.

The layer order is read from ``docs/ARCHITECTURE.md`` (the block between the ``layers:begin``
and ``layers:end`` markers, top layer first), so the document and this test cannot drift
apart. Every module of the installed package is parsed; an import of a higher layer is a
back edge, an import inside a function of a depthbench module is a hidden edge, and any
cycle among module-level imports fails. Third-party libraries may be imported lazily (the
documented exception, for ``depthbench --help`` speed); depthbench's own modules never.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
#: registries that discover their plugin modules by scanning their own package
DISCOVERING = {"depthbench.generators", "depthbench.baselines.strategies", "depthbench.baselines.backends",
               "depthbench._lazy"}
#: third-party modules that must not be imported when the CLI starts (``depthbench --help``)
HEAVY = ("scipy", "matplotlib", "jsonschema", "networkx", "datasets", "pyarrow", "httpx", "httpcore", "llama_cpp",
         "jinja2", "tqdm", "yaml", "statsmodels", "pandas", "numpy", "asyncio", "ssl")


def _layers() -> list[tuple[str, list[str]]]:
    """``[(layer, [module prefixes])]`` bottom layer first, as drawn in ARCHITECTURE.md."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- layers:begin -->", 1)[1].split("<!-- layers:end -->", 1)[0]
    rows = []
    for line in block.splitlines():
        line = line.strip()
        if not line or line.startswith(("```", "|", "^", "v")):
            continue
        name, _, mods = line.partition(" ")
        rows.append((name, [m.strip().split(" ")[0] for m in mods.split(",") if m.strip()]))
    assert rows, "no layer table between the layers markers in docs/ARCHITECTURE.md"
    return rows[::-1]


LAYERS = _layers()


def _layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or (p != "depthbench" and module.startswith(p + "."))) and len(p) > best:
                best, rank = len(p), i
    assert rank is not None, f"{module} is in no layer of docs/ARCHITECTURE.md"
    return rank


def _modules() -> list[str]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = set(packages)
    for pkg in packages:
        mod = importlib.import_module(pkg)
        for info in pkgutil.iter_modules(mod.__path__):
            if not info.ispkg:
                found.add(f"{pkg}.{info.name}")
    return sorted(found)


MODULES = _modules()


def _is_module(name: str) -> bool:
    return name in MODULES


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The depthbench modules an import statement loads (a package's ``__init__`` counts)."""
    out = []
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.name.split(".")[0] == "depthbench":
                out.append(a.name)
        return out
    base = node.module or ""
    if node.level:
        pkg = module if module in _PACKAGES else module.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            pkg = pkg.rsplit(".", 1)[0]
        base = f"{pkg}.{base}" if base else pkg
    if base.split(".")[0] != "depthbench":
        return out
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if _is_module(sub) else base)
    return out


_PACKAGES = {m for m in MODULES if importlib.util.find_spec(m).submodule_search_locations is not None}


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module-level edges, and the function-level imports of depthbench modules (as messages)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    hidden: list[str] = []
    for mod in MODULES:
        origin = importlib.util.find_spec(mod).origin
        if origin is None:
            continue  # a namespace package (the lm-eval task folder): no code of its own
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"), origin)

        def visit(node: ast.AST, in_func: bool, mod: str = mod) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue  # annotations only, never executed
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _resolve(mod, child):
                        if in_func:
                            hidden.append(f"{mod}:{child.lineno} imports {target} inside a function")
                        elif target != mod:
                            edges[mod].add(target)
                visit(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(tree, False)
    return edges, hidden


EDGES, HIDDEN = _graph()


def test_every_module_belongs_to_a_documented_layer():
    for m in MODULES:
        _layer_of(m)


def test_no_function_level_imports_of_depthbench_modules():
    assert not HIDDEN, "imports of depthbench modules inside functions hide edges:\n" + "\n".join(HIDDEN)


def test_no_back_edges_against_the_layer_order():
    back = [f"{a} ({LAYERS[_layer_of(a)][0]}) imports {b} ({LAYERS[_layer_of(b)][0]})"
            for a, targets in EDGES.items() for b in sorted(targets) if _layer_of(b) > _layer_of(a)]
    assert not back, "imports from a higher layer:\n" + "\n".join(back)


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in EDGES.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in EDGES:
        if v not in index:
            strong(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_only_the_registries_import_dynamically():
    found = []
    for mod in MODULES:
        origin = importlib.util.find_spec(mod).origin
        if origin is None:
            continue  # a namespace package
        src = Path(origin).read_text(encoding="utf-8")
        if "import_module(" in src and mod not in DISCOVERING:
            found.append(mod)
    assert not found, f"dynamic imports outside the registries: {found}"


@pytest.mark.parametrize("argv", [["--help"], ["strategies"]], ids=["help", "strategies"])
def test_cli_starts_without_heavy_libraries(argv):
    code = ("import sys, io, contextlib\n"
            "from depthbench.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try:\n"
            f"        main({argv!r})\n"
            "    except SystemExit:\n"
            "        pass\n"
            "import json\n"
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))\n")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], out.stdout


def test_lazy_refuses_depthbench_modules():
    from depthbench._lazy import lazy

    with pytest.raises(ValueError, match="imported at module level"):
        lazy("depthbench.scorers")
    assert lazy("json").dumps({"a": 1}) == '{"a": 1}'
