"""Reading a run's ``results.json`` and turning its verdicts into words.

The report, the comparison and the demo all start from the ``results.json`` contract
(``docs/ARCHITECTURE.md``, written by ``depthbench analyze``). This module checks the
parts the report relies on, so a wrong file fails with one line naming the field, and
holds the small helpers every view shares: strategy ordering, verdict labels and the
one-sentence verdict summaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from depthbench._lazy import lazy
from depthbench.analysis._format import num
from depthbench.baselines.strategies import KINDS
from depthbench.errors import UserError
from depthbench.scorers import VERDICTS, pair_words, summarize_comparison, verdict_words

jsonschema = lazy("jsonschema")

__all__ = [
    "RESULTS_FORMAT",
    "RunResults",
    "load_results",
    "check_results",
    "load_results_schema",
    "strategy_order",
    "verdict_label",
    "pair_label",
    "summarize_verdicts",
    "comparison_groups",
    "VerdictSummary",
    "num",
    "strategy_kinds",
]

#: The ``format`` of ``results.json`` (the one definition; the schema's ``const`` says the same).
RESULTS_FORMAT = "depthbench-results/1"

_KIND_RANK = {k: i for i, k in enumerate(KINDS)}  # display order: single, parallel, sequential, bound, search


@dataclass(frozen=True)
class RunResults:
    """A run's analysed results plus where they came from.

    Attributes
    ----------
    results : dict
        The parsed ``results.json``.
    run_config : dict
        ``run.json`` of the run directory when present, else ``results["run"]``.
    source : pathlib.Path
        The ``results.json`` file read.
    run_dir : pathlib.Path
        The folder holding it.
    """

    results: dict[str, Any]
    run_config: dict[str, Any]
    source: Path
    run_dir: Path

    @property
    def dataset_sha256(self) -> str | None:
        """The dataset manifest sha256 the run used (``None`` if not recorded)."""
        return self.results.get("dataset_sha256")

    @property
    def config(self) -> dict[str, Any]:
        """The run's configuration: ``run.json``'s ``config``, else ``results["run"]``."""
        cfg = self.run_config.get("config")
        if isinstance(cfg, dict):
            return cfg
        run = self.results.get("run")
        return run if isinstance(run, dict) else {}

    @property
    def label(self) -> str:
        """A short name for the run: its model spec, else the folder name."""
        for cfg in (self.run_config, self.run_config.get("config") or {}, self.results.get("run") or {}):
            model = cfg.get("model") if isinstance(cfg, Mapping) else None
            if isinstance(model, Mapping):
                model = model.get("spec") or model.get("name")
            if isinstance(model, str) and model:
                return model
        return self.run_dir.name


def _fail(where: str, what: str) -> UserError:
    return UserError(f"{where}: {what}; regenerate it with `depthbench analyze RUN_DIR`")


def load_results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (``depthbench/schemas/results.schema.json``) with its
    enums filled in: ``curves[].kind`` from the strategy registry's kinds and
    ``equivalence[].verdict`` (and ``matched.equivalence[].verdict``) from the scorers' verdicts."""
    schema = json.loads(resources.files("depthbench.schemas").joinpath("results.schema.json").read_text("utf-8"))
    schema["$defs"]["curve"]["properties"]["kind"]["enum"] = list(KINDS)
    schema["$defs"]["equivalence"]["properties"]["verdict"]["enum"] = list(VERDICTS)
    schema["$defs"]["matched"]["properties"]["equivalence"]["items"]["allOf"][1]["properties"]["verdict"]["enum"] = \
        list(VERDICTS)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Any:
    return jsonschema.Draft202012Validator(load_results_schema())


def _where_in(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(err: Any) -> str:
    """One schema error in the words a person fixes it by."""
    at = _where_in(err.absolute_path)
    if err.validator == "required":
        missing = [k for k in err.validator_value if k not in (err.instance or {})]
        return f"{at} lacks {', '.join(missing)}" if err.absolute_path else f"{missing[0]!r} is missing"
    if err.validator == "const":
        return f"{at} is {err.instance!r}, expected {err.validator_value!r}"
    if err.validator == "enum":
        return f"{at} is {err.instance!r}, not one of {', '.join(map(str, err.validator_value))}"
    if err.validator == "minItems" and not err.instance:
        return f"{at!r} is empty (the run has no finished outcomes)"
    if err.validator == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return f"{at} is not {'a list' if want == 'array' else 'an object' if want == 'object' else want}"
    return f"{at}: {err.message[:200]}"


def check_results(results: Any, where: str = "results.json") -> dict[str, Any]:
    """Validate a ``results.json`` object against its JSON Schema (:func:`load_results_schema`).

    ``depthbench analyze`` and the demo validate what they write; ``report`` and ``compare``
    what they read, so a wrong file fails with one line naming the field.

    Parameters
    ----------
    results : object
        The parsed JSON.
    where : str
        Name used in error messages (usually the file path).

    Returns
    -------
    dict
        ``results`` itself, for chaining.

    Raises
    ------
    UserError
        Naming the first missing or malformed field.
    """
    if not isinstance(results, dict):
        raise _fail(where, "top level is not a JSON object")
    errors = sorted(_validator().iter_errors(results), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        first = min(errors, key=lambda e: (e.validator != "const", len(e.absolute_path)))
        raise _fail(where, _message(first))
    return results


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what}: {str(path)!r} does not exist") from None
    except OSError as e:
        raise UserError(f"{what}: cannot read {str(path)!r} ({e.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{what}: {str(path)!r} is not valid JSON (line {e.lineno}: {e.msg})") from None


def load_results(path: str | Path, what: str = "RUN_DIR") -> RunResults:
    """Load a run directory's ``results.json`` (and ``run.json`` if present).

    Parameters
    ----------
    path : path-like
        A run directory holding ``results.json``, or a ``results.json`` file.
    what : str
        Argument name for error messages.

    Returns
    -------
    RunResults

    Raises
    ------
    UserError
        If the path does not exist, has no ``results.json``, or it is malformed.
    """
    p = Path(path)
    if p.is_dir():
        source = p / "results.json"
        if not source.exists():
            hint = (" (the run has outcomes: run `depthbench analyze " + str(p) + "` first)"
                    if (p / "outcomes.jsonl").exists() else "")
            raise UserError(f"{what}: {str(p)!r} has no results.json{hint}")
        run_dir = p
    elif p.exists():
        source, run_dir = p, p.parent
    else:
        raise UserError(f"{what}: {str(p)!r} does not exist; give a run directory or its results.json")
    results = check_results(_read_json(source, what), where=str(source))
    run_json = run_dir / "run.json"
    if run_json.is_file():
        cfg = _read_json(run_json, what)
        if not isinstance(cfg, dict):
            raise UserError(f"{what}: {str(run_json)!r} is not a JSON object")
    else:
        cfg = results.get("run") or {}
        if not isinstance(cfg, dict):
            cfg = {}
    return RunResults(results=results, run_config=cfg, source=source, run_dir=run_dir)


def strategy_order(curves: Iterable[Mapping[str, Any]]) -> list[str]:
    """Strategies in display order: single, parallel, sequential, bounds; then by name."""
    kinds: dict[str, str] = {}
    for row in curves:
        kinds.setdefault(row["strategy"], row.get("kind", ""))
    return sorted(kinds, key=lambda s: (_KIND_RANK.get(kinds[s], 9), s))


def strategy_kinds(curves: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Map strategy name -> kind (``single``/``parallel``/``sequential``/``bound``)."""
    out: dict[str, str] = {}
    for row in curves:
        out.setdefault(row["strategy"], row.get("kind", ""))
    return out


def pair_label(a: str, b: str, kinds: Mapping[str, str]) -> tuple[str, str]:
    """What ``a_better`` and ``b_better`` mean for the pair, in words.

    When ``a`` is parallel and ``b`` sequential (the contract's convention; ``single``, one
    chain, counts as sequential as in ``depthbench analyze``) the words are "parallel
    better" and "sequential better"; otherwise the strategy names are used. The scorers'
    :func:`depthbench.scorers.pair_words`, so every view says the same.
    """
    return pair_words(a, b, kinds)


def verdict_label(verdict: str, a: str, b: str, kinds: Mapping[str, str], floor: bool = False,
                  row: Mapping[str, Any] | None = None) -> str:
    """A verdict code (``a_better`` ...) as words for the pair (``parallel better`` ...).

    The scorers' :func:`depthbench.scorers.verdict_words`: ``floor=True`` (both strategies
    at most chance + margin) turns "equivalent" into "equivalent (both at chance)", so a
    tie between two failures is never read as two working strategies agreeing;
    ``inconclusive`` reads "not determined at this n", with the items that would decide it
    when the equivalence ``row`` is given.
    """
    data = dict(row) if row is not None else {}
    data.update({"verdict": verdict, "floor": floor})
    return verdict_words(data, pair_label(a, b, kinds))


@dataclass(frozen=True)
class VerdictSummary:
    """The verdicts of one (task, budget, a, b) comparison over depths, in words."""

    task: str
    budget: int
    a: str
    b: str
    verdicts: tuple[tuple[int, str], ...]  # (depth, verdict code) sorted by depth
    breakpoint_depth: int | None
    text: str
    breakpoint: dict[str, Any] | None = None   # the scorers' summarize_comparison record


def comparison_groups(results: Mapping[str, Any]) -> dict[tuple[str, int, str, str], list[Mapping[str, Any]]]:
    """The ``equivalence`` rows of a results object grouped by (task, budget, a, b)."""
    groups: dict[tuple[str, int, str, str], list[Mapping[str, Any]]] = {}
    for row in results.get("equivalence", []):
        groups.setdefault((row["task"], int(row["budget"]), row["a"], row["b"]), []).append(row)
    return groups


def summarize_verdicts(results: Mapping[str, Any]) -> list[VerdictSummary]:
    """One sentence per (task, budget, a, b) saying where the pair is equivalent.

    The sentence and the breakpoint come from the scorers' one rule,
    :func:`depthbench.scorers.summarize_comparison`, applied to the ``equivalence`` rows
    (the same call ``depthbench analyze`` makes), so the report, the demo and the
    analyze table say the same.

    Parameters
    ----------
    results : mapping
        A checked ``results.json`` object.

    Returns
    -------
    list of VerdictSummary
        Sorted by task, budget, then pair; ``text`` reads e.g. ``"graph_connectivity @
        budget 256, majority@8 vs budget_forcing: equivalent up to depth 2, sequential
        better from depth 3 (breakpoint: depth 3)"``.
    """
    kinds = strategy_kinds(results["curves"])
    out = []
    for key, rows in sorted(comparison_groups(results).items()):
        task, budget, a, b = key
        summary = summarize_comparison(rows, pair_label(a, b, kinds))
        verdicts = tuple(sorted((int(r["depth"]), r["verdict"]) for r in rows))
        text = f"{task} @ budget {budget}, {a} vs {b}: {summary['text']}"
        out.append(VerdictSummary(task, budget, a, b, verdicts, summary["breakpoint_depth"], text, summary))
    return out
