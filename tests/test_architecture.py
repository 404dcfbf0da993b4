"""The import graph: layers, no cycles, no hidden imports; a CLI that starts without heavy libraries.

The layer order is read from ``docs/ARCHITECTURE.md`` (the block between the ``layers:begin``
and ``layers:end`` markers, top layer first), so the document and this test cannot drift
apart. Every module of the installed package is parsed; an import of a higher layer is a
back edge, an import inside a function of a depthbench module is a hidden edge, and any
cycle among module-level imports fails. Third-party libraries may be imported lazily (the
documented exception, for ``depthbench --help`` speed). depthbench's own modules are deferred
only in two declared forms, whose rows count as edges here: a package's ``lazy_exports``
table (its own submodules' re-exports) and the CLI's command table (``depthbench.cli.COMMANDS``).
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
#: the modules that may call ``importlib.import_module``: the registries that discover their plugin
#: modules by scanning their own package (the backends' registry is the package's ``_registry``), ``depthbench._lazy`` (deferred imports, declared in literal
#: tables read below), the CLI, which imports the module of the command it runs from its table, and
#: ``generators._compiled``, which loads the optional C extension modules by name
DYNAMIC = {"depthbench.generators", "depthbench.baselines.strategies", "depthbench.baselines.backends._registry",
           "depthbench._lazy", "depthbench.cli", "depthbench.generators._compiled"}
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


def _lazy_table(mod: str, call: ast.Call) -> list[str]:
    """The submodules a ``lazy_exports(__name__, {submodule: (names...)})`` call defers (it must be a literal)."""
    table = call.args[1] if len(call.args) == 2 else None
    assert isinstance(table, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                               for k in table.keys), \
        f"{mod}:{call.lineno}: lazy_exports needs a literal {{submodule: names}} table (its rows are import edges)"
    return [k.value for k in table.keys]  # type: ignore[union-attr]


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module-level edges (deferred ones included), and the function-level imports of depthbench
    modules (as messages)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    hidden: list[str] = []
    for mod in MODULES:
        origin = importlib.util.find_spec(mod).origin
        if origin is None or not origin.endswith(".py"):
            continue  # a namespace package (the lm-eval task folder) or a C extension: no Python imports
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
                if isinstance(child, ast.Call) and getattr(child.func, "id", None) == "lazy_exports":
                    edges[mod].update(_lazy_table(mod, child))  # deferred, but an edge all the same
                visit(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(tree, False)
    from depthbench.cli import COMMANDS

    edges["depthbench.cli"].update(c.module for c in COMMANDS)  # imported when the command runs
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
        if origin is None or not origin.endswith(".py"):
            continue  # a namespace package or a C extension
        src = Path(origin).read_text(encoding="utf-8")
        if "import_module(" in src and mod not in DYNAMIC:
            found.append(mod)
    assert not found, f"dynamic imports outside the registries: {found}"
    # the CLI imports only the modules of its command table (whose rows are edges above)
    src = Path(importlib.util.find_spec("depthbench.cli").origin).read_text(encoding="utf-8")
    assert src.count("import_module(") == 1 and "importlib.import_module(cmd.module)" in src


def test_the_deferred_edges_are_in_the_graph():
    """A lazy re-export and a command-table row are edges: the layer and cycle checks see them."""
    assert "depthbench.baselines._runner" in EDGES["depthbench.baselines"]
    assert {"depthbench.scorers._equivalence", "depthbench.scorers._paired"} <= EDGES["depthbench.scorers"]
    assert {"depthbench.baselines.strategies._cli", "depthbench.demo._cli"} <= EDGES["depthbench.cli"]
    bad = ast.parse("__getattr__, __dir__ = lazy_exports(__name__, TABLE)").body[0].value  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="literal"):
        _lazy_table("depthbench.x", bad)


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


def _loaded_by(argv: list[str]) -> set[str]:
    code = ("import sys, io, contextlib, json\n"
            "from depthbench.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        main({argv!r})\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('depthbench'))))\n")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_cli_help_and_strategies_import_only_what_they_need():
    from depthbench.cli import COMMANDS

    table = {c.module for c in COMMANDS}
    # --help: the command table only, no subsystem
    assert _loaded_by(["--help"]) == {"depthbench", "depthbench.cli", "depthbench.errors", "depthbench.io",
                                      "depthbench._lazy"}
    # strategies: the registry, not the runner, the datasets, the statistics or another command
    loaded = _loaded_by(["strategies"])
    assert "depthbench.baselines.strategies.budget_forcing" in loaded
    assert loaded & table == {"depthbench.baselines.strategies._cli"}
    assert not loaded & {"depthbench.baselines._runner", "depthbench.tasks", "depthbench.scorers._equivalence",
                         "depthbench.scorers._paired", "depthbench.scorers._curves", "depthbench.analysis"}
    # nor the backend registry, its HTTP helpers or a backend, nor the diversity statistics and the checker
    # (loaded by the search and evolution strategies' modules until they were deferred)
    assert not loaded & {"depthbench.baselines._http", "depthbench.baselines.backends._registry",
                         "depthbench.baselines.backends._base", "depthbench.baselines.backends.openai",
                         "depthbench.baselines.backends.simulated", "depthbench.scorers._diversity",
                         "depthbench.scorers._env"}


def test_lazy_exports_resolve_every_name_and_defer_only_own_submodules():
    import depthbench.baselines as baselines
    import depthbench.scorers as scorers
    from depthbench._lazy import lazy_exports

    import depthbench.baselines.backends as backends

    for pkg in (baselines, scorers, backends):
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None, f"{pkg.__name__}.{name}"
            assert name in dir(pkg)
    assert baselines.run_eval.__module__ == "depthbench.baselines._runner"
    assert scorers.holm.__module__ == "depthbench.scorers._equivalence"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        baselines.nope  # noqa: B018
    with pytest.raises(ValueError, match="own submodules"):
        lazy_exports("depthbench.scorers", {"depthbench.baselines._runner": ("run_eval",)})


def test_lazy_refuses_depthbench_modules():
    from depthbench._lazy import lazy

    with pytest.raises(ValueError, match="imported at module level"):
        lazy("depthbench.scorers")
    assert lazy("json").dumps({"a": 1}) == '{"a": 1}'
