"""Task specs: declarative YAML files loaded into a strict frozen dataclass.

A task spec names a generator family, the family's fixed size parameters, a depth grid,
the splits (items per depth and seed of each) and a Jinja2 prompt template. Items are
scored by their family's verifier (``Family.verify``), so a spec names no scorer.
A file may start from another one with ``include: other.yaml`` (a path relative to the
including file): mappings are merged key by key (``params`` and ``splits`` too), any other
value of the including file replaces the included one. A file with ``abstract: true`` is
a fragment for inclusion only.

Each file is validated on its own against ``depthbench/schemas/task_spec.schema.json``;
the resolved spec must then carry every field listed in the schema's
``required_resolved``. Errors are :class:`~depthbench.errors.UserError` naming the file,
the line and the failing schema path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from depthbench._lazy import lazy
from depthbench.errors import UserError
from depthbench.generators import get_family
from depthbench.io import canonical_json, sha256_bytes

jsonschema = lazy("jsonschema")
yaml = lazy("yaml")
jinja2 = lazy("jinja2")
jinja2_meta = lazy("jinja2.meta")

__all__ = ["TaskSpec", "SplitSpec", "load_spec", "list_specs", "spec_dir", "check_params"]

_MAX_INCLUDE_DEPTH = 8

#: The variables a prompt template may use (see ``generators/_dataset.py``).
TEMPLATE_VARIABLES = ("problem", "answer_space", "answer_format")


@dataclass(frozen=True)
class SplitSpec:
    """One split of a task: ``n_per_depth`` items at each depth, drawn from ``seed``."""

    n_per_depth: int
    seed: int


@dataclass(frozen=True)
class TaskSpec:
    """A resolved, validated task spec (immutable).

    Attributes
    ----------
    name : str
        Task name (also the ``task`` field of every item).
    family : str
        Registered generator family, e.g. ``"graph_connectivity"``.
    description : str
        One paragraph for humans.
    params : Mapping[str, Any]
        Fixed size parameters of the family config (read-only; never the depth).
    depths : tuple of int
        The default depth grid, in order.
    splits : Mapping[str, SplitSpec]
        Split name -> items per depth and seed, in file order.
    prompt_template : str
        Jinja2 template; ``{{ problem }}`` is the family's plain-text statement.
    answer_format : str
        The required last line, e.g. ``"Answer: <node label>"``.
    source : str or None
        The YAML file the spec came from (not part of the hash).
    """

    name: str
    family: str
    description: str
    params: Mapping[str, Any]
    depths: tuple[int, ...]
    splits: Mapping[str, SplitSpec]
    prompt_template: str
    answer_format: str
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON data (the resolved form; ``source`` left out)."""
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "params": _thaw(self.params),
            "depths": list(self.depths),
            "splits": {k: {"n_per_depth": v.n_per_depth, "seed": v.seed} for k, v in self.splits.items()},
            "prompt_template": self.prompt_template,
            "answer_format": self.answer_format,
        }

    @property
    def sha256(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (the ``spec_sha256`` of a manifest)."""
        return sha256_bytes(canonical_json(self.to_dict()).encode("utf-8"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> "TaskSpec":
        """Build a spec from resolved data (as returned by :meth:`to_dict`); validates it.

        Raises
        ------
        UserError
            If a field is missing or malformed.
        """
        where = source or "<spec>"
        _validate(dict(data), where, None)
        _check_resolved(dict(data), where)
        _check_template(data["prompt_template"], where)
        return cls(
            name=data["name"],
            family=data["family"],
            description=data["description"],
            params=_freeze(data["params"]),
            depths=tuple(int(d) for d in data["depths"]),
            splits=MappingProxyType({k: SplitSpec(int(v["n_per_depth"]), int(v["seed"]))
                                     for k, v in data["splits"].items()}),
            prompt_template=data["prompt_template"],
            answer_format=data["answer_format"],
            source=source,
        )


def _freeze(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list | tuple):
        return tuple(_freeze(v) for v in obj)
    return obj


def _thaw(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_thaw(v) for v in obj]
    return obj


def spec_dir() -> Path:
    """Folder holding the bundled ``*.yaml`` task specs."""
    return Path(str(resources.files("depthbench.tasks")))


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = resources.files("depthbench.schemas").joinpath("task_spec.schema.json").read_text("utf-8")
    return json.loads(text)


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the YAML node at ``path`` (deepest node found on the way)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    child = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _validate(data: Any, where: str, node: yaml.Node | None) -> None:
    if isinstance(data, Mapping) and "scorer" in data:
        line = _line_of(node, ["scorer"])
        raise UserError(f"{where}:{line}: field scorer: no longer used (items are scored by their family's "
                        "verifier, Family.verify); delete the line" if line is not None else
                        f"{where}: field scorer: no longer used (items are scored by their family's verifier, "
                        "Family.verify); delete it")
    schema = _schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    path = list(err.absolute_path)
    field = "/".join(str(p) for p in path) or "(top level)"
    line = _line_of(node, path)
    at = f"{where}:{line}" if line is not None else where
    schema_path = "/".join(str(p) for p in err.absolute_schema_path)
    msg = err.message
    if len(msg) > 160:
        msg = msg[:157] + "..."
    raise UserError(f"{at}: field {field}: {msg} (schema path {schema_path}); fix this field of the task spec")


def _check_resolved(data: Mapping[str, Any], where: str) -> None:
    missing = [k for k in _schema()["required_resolved"] if k not in data]
    if missing:
        raise UserError(f"{where}: missing field(s) {', '.join(missing)} after include: is resolved; "
                        "add them to the spec or to the file it includes")


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text("utf-8")
    except OSError as e:
        raise UserError(f"task spec: cannot read {str(path)!r} ({e.strerror}); check the path") from None
    try:
        loader = yaml.SafeLoader(text)  # one parse gives both the node tree (for lines) and the data
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else "?"
        raise UserError(f"{path}:{line}: malformed YAML ({e.problem}); fix the syntax of the task spec") from None
    except yaml.YAMLError as e:  # pragma: no cover - non-marked errors are rare
        raise UserError(f"{path}: malformed YAML ({e}); fix the syntax of the task spec") from None
    if data is None:
        data = {}
    return data, node


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _check_template(template: str, where: str, first_line: int | None = None) -> None:
    """Compile a prompt template; a syntax error or an unknown variable is a :class:`UserError`.

    ``first_line`` is the file line of the template's first line (for the message), if known.
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        ast = env.parse(template)
    except jinja2.TemplateSyntaxError as e:
        line = e.lineno or 1
        at = f"{where}:{first_line + line - 1}" if first_line is not None else where
        raise UserError(f"{at}: field prompt_template: Jinja2 syntax error at template line {line} ({e.message}); "
                        "fix the template") from None
    unknown = sorted(jinja2_meta.find_undeclared_variables(ast) - set(TEMPLATE_VARIABLES))
    if unknown:
        at = f"{where}:{first_line}" if first_line is not None else where
        raise UserError(f"{at}: field prompt_template: undefined variable {unknown[0]!r}; "
                        f"the template may use only {', '.join(TEMPLATE_VARIABLES)}")


def check_params(family: str, params: Mapping[str, Any], where: str) -> None:
    """Check a spec's ``params`` against the family's config dataclass.

    Unknown fields, and values the config refuses (constructed at depth 1), raise a
    :class:`UserError` naming ``params.<field>``. A size too small for depth 1 is left to
    the depth check (which reports the largest depth).
    """
    fam = get_family(family)
    names = [f.name for f in fields(fam.config_cls) if f.name != "depth"]
    for key in params:
        if key not in names:
            raise UserError(f"{where}: params.{key}: not a parameter of family {family}; "
                            f"valid params: {', '.join(names)}; remove or rename it")
    try:
        fam.config_cls(**dict(params), depth=1)
    except (TypeError, ValueError) as e:
        msg = str(e)
        m = re.match(r"\s*([A-Za-z_]\w*)", msg)
        field = m.group(1) if m else None
        if field == "depth":
            return  # nothing fits at depth 1: the depth check names the largest depth
        if field in names:
            rest = msg[m.end():].lstrip(": ") if m else msg
            raise UserError(f"{where}: params.{field}: {rest}; fix params.{field} in the task spec") from None
        raise UserError(f"{where}: params: {msg}; fix params in the task spec") from None


def _resolve(path: Path, seen: tuple[Path, ...] = (), origins: dict[str, Any] | None = None) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise UserError(f"{path}: include: cycle ({' -> '.join(p.name for p in (*seen, path))}); remove one include")
    if len(seen) >= _MAX_INCLUDE_DEPTH:
        raise UserError(f"{path}: include: chain longer than {_MAX_INCLUDE_DEPTH}; flatten the specs")
    data, node = _read_yaml(path)
    _validate(data, str(path), node)
    if origins is not None and "prompt_template" in data:
        origins["prompt_template"] = _template_first_line(node)
        origins["prompt_template_file"] = str(path)  # type: ignore[assignment]
    inc = data.pop("include", None)
    if inc is None:
        return data
    inc_path = path.parent / inc
    if not inc_path.is_file():
        line = _line_of(node, ["include"])
        raise UserError(f"{path}:{line}: field include: file {inc!r} not found next to the spec; fix the file name")
    base = _resolve(inc_path, (*seen, path), origins if origins is None or "prompt_template" not in data else None)
    base.pop("abstract", None)
    return _merge(base, data)


def _template_first_line(node: yaml.Node | None) -> int | None:
    """File line (1-based) of the first line of ``prompt_template``'s text."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if k.value == "prompt_template":
            return v.start_mark.line + 1 + (1 if v.style in ("|", ">") else 0)
    return None


def _load_file(path: Path) -> TaskSpec:
    origins: dict[str, Any] = {}
    data = _resolve(path, origins=origins)
    where = str(path)
    if data.pop("abstract", False):
        raise UserError(f"{where}: is an abstract fragment (abstract: true), not a task; "
                        "use a spec that includes it")
    _check_resolved(data, where)
    _check_template(data["prompt_template"], origins.get("prompt_template_file", where), origins.get("prompt_template"))
    check_params(data["family"], data["params"], where)
    return TaskSpec.from_dict(data, source=where)


def _bundled_files() -> list[Path]:
    return sorted(p for p in spec_dir().glob("*.yaml") if p.is_file())


def list_specs() -> list[TaskSpec]:
    """All bundled, concrete (non-abstract) task specs, sorted by name.

    Raises
    ------
    UserError
        If a bundled spec is malformed.
    """
    out = []
    for p in _bundled_files():
        data, _ = _read_yaml(p)
        if isinstance(data, dict) and data.get("abstract"):
            continue
        out.append(_load_file(p))
    return sorted(out, key=lambda s: s.name)


def load_spec(spec: "str | Path | TaskSpec") -> TaskSpec:
    """Load a task spec by bundled name or by YAML path.

    Parameters
    ----------
    spec : str, Path or TaskSpec
        A bundled task name (``"graph_connectivity"``), a path to a ``.yaml`` file, or a
        spec (returned as is).

    Returns
    -------
    TaskSpec

    Raises
    ------
    UserError
        Unknown task name, unreadable or malformed file (with file, line and schema path).
    """
    if isinstance(spec, TaskSpec):
        return spec
    s = str(spec)
    p = Path(s)
    if s.endswith((".yaml", ".yml")) or p.is_file():
        if not p.is_file():
            raise UserError(f"task: spec file {s!r} not found; check the path")
        return _load_file(p)
    cand = spec_dir() / f"{s}.yaml"
    if cand.is_file():
        data, _ = _read_yaml(cand)
        if not (isinstance(data, dict) and data.get("abstract")):
            return _load_file(cand)
    specs = list_specs()
    for sp in specs:
        if sp.name == s:
            return sp
    names = ", ".join(sp.name for sp in specs)
    raise UserError(f"task: unknown task {s!r}; choose one of {names} (see `depthbench tasks list`) or pass a .yaml path")
