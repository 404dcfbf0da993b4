"""Trace verifier: where does a model's chain of intermediate results first go wrong?

Each family's gold ``solution_trace`` (``docs/ARCHITECTURE.md``) lists the
intermediate results in order. A model's trace is checked step by step; a step is
right when it is a *valid* step of some correct solution, not only when it copies
the gold one (a graph may have several shortest paths, statements several valid
evaluation orders):

- graph_connectivity: steps are node labels; step 0 must be the source, each next
  node adjacent to the previous one; the trace is complete when it reaches the gold
  target.
- multihop_arithmetic: steps are ``{"var", "value"}`` (or ``(var, value)`` pairs);
  a step is right when the value equals the variable's true value mod ``m``. Bare
  values are compared position by position with the gold trace. Complete when every
  variable of the gold trace has been given.
- grid_planning: steps are ``{"subgoal", "moves"}`` or bare move strings, one per
  gold subgoal in order; a step is right when its moves are legal from where the
  previous step ended and end on that subgoal's cell.
- anything else: position-by-position equality with the gold trace.

If every step given is right but the trace stops early, the first missing step
(``len(model_steps)``) is the first error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from depthbench.scorers._verify import _DELTA, _adjacency, _as_int, _grid_tables, _modulus, _simulate

__all__ = ["trace_first_error", "trace_score", "parse_trace", "arithmetic_values"]


def trace_first_error(item: Mapping[str, Any], model_steps: Sequence[Any]) -> int | None:
    """Return the 0-based index of the first wrong step of a model's trace.

    Parameters
    ----------
    item : mapping
        A dataset item with ``task``, ``instance`` and ``solution_trace``.
    model_steps : sequence
        The model's intermediate results in order (formats in the module docstring).

    Returns
    -------
    int or None
        Index of the first wrong (or first missing) step; None when the whole trace
        is right and complete.

    Examples
    --------
    >>> item = {"task": "graph_connectivity", "answer": "2", "solution_trace": [0, 1, 2],
    ...         "instance": {"edges": [[0, 1], [1, 2], [0, 3]], "source": 0, "targets": [2, 4]}}
    >>> trace_first_error(item, [0, 1, 2]), trace_first_error(item, [0, 3, 2]), trace_first_error(item, [0, 1])
    (None, 2, 2)
    """
    task = item.get("task")
    steps = list(model_steps)
    if task == "graph_connectivity":
        return _graph(item, steps)
    if task == "multihop_arithmetic":
        return _arith(item, steps)
    if task == "grid_planning":
        return _grid(item, steps)
    gold = list(item.get("solution_trace") or [])
    for i, s in enumerate(steps):
        if i >= len(gold) or s != gold[i]:
            return i
    return None if len(steps) >= len(gold) else len(steps)


def _graph(item: Mapping[str, Any], steps: list[Any]) -> int | None:
    inst = item["instance"]
    adj = _adjacency(inst["edges"])
    gold = item.get("solution_trace") or []
    target = _as_int(gold[-1]) if gold else _as_int(item.get("answer"))
    prev = None
    for i, s in enumerate(steps):
        node = _as_int(s)
        if node is None:
            return i
        if i == 0:
            if node != inst["source"]:
                return 0
        elif node not in adj.get(prev, ()):
            return i
        prev = node
        if node == target:
            return None if i == len(steps) - 1 else i + 1  # steps after reaching the target are extra
    return len(steps)


def arithmetic_values(instance: Mapping[str, Any]) -> dict[str, int]:
    """Evaluate every variable of a multihop_arithmetic instance (mod ``m``).

    Parameters
    ----------
    instance : mapping
        ``{"modulus": m, "statements": [{"var", "op", "args"}, ...], ...}`` in any order.

    Returns
    -------
    dict of str to int
        Value in ``[0, m)`` of every variable.

    Raises
    ------
    ValueError
        If a statement uses an unknown operator or the definitions are cyclic.
    """
    m = int(instance["modulus"])
    defs = {s["var"]: s for s in instance["statements"]}
    values: dict[str, int] = {}

    def arg(a: Any) -> int | None:
        if isinstance(a, str):
            return values.get(a)
        return int(a) % m

    pending = list(defs)
    while pending:
        progress = False
        rest = []
        for v in pending:
            st = defs[v]
            args = [arg(a) for a in st["args"]]
            if any(a is None for a in args):
                rest.append(v)
                continue
            op = st["op"]
            if op == "=":
                values[v] = args[0] % m
            elif op == "+":
                values[v] = sum(args) % m
            elif op == "-":
                values[v] = (args[0] - sum(args[1:])) % m
            elif op == "*":
                r = 1
                for a in args:
                    r = (r * a) % m
                values[v] = r
            else:
                raise ValueError(f"instance.statements: unknown op {op!r} for {v!r}")
            progress = True
        if not progress:
            raise ValueError(f"instance.statements: undefined or cyclic variables {sorted(rest)}")
        pending = rest
    return values


def _arith(item: Mapping[str, Any], steps: list[Any]) -> int | None:
    inst = item["instance"]
    gold = list(item.get("solution_trace") or [])
    m = _modulus(item) or int(inst["modulus"])
    values = arithmetic_values(inst)
    named = bool(steps) and all(isinstance(s, Mapping) or (isinstance(s, (list, tuple)) and len(s) == 2) for s in steps)
    if named:
        seen = set()
        for i, s in enumerate(steps):
            var, val = (s.get("var"), s.get("value")) if isinstance(s, Mapping) else (s[0], s[1])
            v = _as_int(val)
            if var not in values or v is None or v % m != values[var]:
                return i
            seen.add(var)
        need = {g["var"] for g in gold}
        return None if need <= seen else len(steps)
    for i, s in enumerate(steps):
        v = _as_int(s)
        if i >= len(gold) or v is None or v % m != int(gold[i]["value"]) % m:
            return i
    return None if len(steps) >= len(gold) else len(steps)


def _grid(item: Mapping[str, Any], steps: list[Any]) -> int | None:
    inst = item["instance"]
    gold = list(item.get("solution_trace") or [])
    _, keys_at, doors_at = _grid_tables(inst)
    key_pos = {v: k for k, v in keys_at.items()}
    door_pos = {v: k for k, v in doors_at.items()}
    pos = (int(inst["start"][0]), int(inst["start"][1]))
    held: frozenset[str] = frozenset()
    for i, s in enumerate(steps):
        if i >= len(gold):
            return i
        moves = s.get("moves") if isinstance(s, Mapping) else s
        if not isinstance(moves, str):
            return i
        sub = str(gold[i]["subgoal"])
        if sub == "goal":
            target = (int(inst["goal"][0]), int(inst["goal"][1]))
        else:
            kind, _, ident = sub.partition(" ")
            target = (key_pos if kind == "key" else door_pos).get(ident)
        res = _simulate(inst, moves.upper(), pos, held)
        if target is None or not res.legal or res.position != target:
            return i
        pos, held = res.position, res.keys
    return None if len(steps) >= len(gold) else len(steps)


_PATH_SEP_RE = re.compile(r"->|\u2192|=>|\u2013|\u2014|-")
_INT_TOKEN_RE = re.compile(r"\d+")
_ASSIGN_RE = re.compile(r"^[\s>*#\-\d.)]*\**([A-Za-z_][A-Za-z_0-9]*)\**\s*=(.*)$")
_LAST_VALUE_RE = re.compile(r"=\s*\**\s*([+\-\u2212]?\d+)\s*\**\s*[.,;]?\s*(?:\(.*\))?\s*$")


def parse_trace(item: Mapping[str, Any], text: str | None) -> list[Any]:
    """Read a model's intermediate steps from its raw text.

    Parameters
    ----------
    item : mapping
        The dataset item (its ``task`` selects the format).
    text : str or None
        The model's response.

    Returns
    -------
    list
        graph_connectivity: node labels of the last line that shows a path
        (``3 -> 8 -> 1``); multihop_arithmetic: ``{"var", "value"}`` for every line
        that assigns a variable and ends in a number (``x4 = x2 * 3 = 21``);
        grid_planning: one move string per gold subgoal, cut from the final plan at
        the moves where the plan reaches each subgoal in order.
    """
    if not text:
        return []
    task = item.get("task")
    if "</think>" in text:
        text = text[text.rfind("</think>") + 8:] or text
    if task == "graph_connectivity":
        for line in reversed(text.splitlines()):
            if "->" in line or "\u2192" in line:
                parts = [p for p in _PATH_SEP_RE.split(line) if p.strip()]
                nodes = []
                for p in parts:
                    found = _INT_TOKEN_RE.findall(p)
                    if found:
                        nodes.append(int(found[-1]))
                if len(nodes) >= 2:
                    return nodes
        return []
    if task == "multihop_arithmetic":
        steps = []
        for line in text.splitlines():
            m = _ASSIGN_RE.match(line)
            if not m:
                continue
            v = _LAST_VALUE_RE.search(m.group(2) if "=" in m.group(2) else "=" + m.group(2))
            if v:
                steps.append({"var": m.group(1), "value": int(v.group(1).replace("\u2212", "-"))})
        return steps
    if task == "grid_planning":
        from depthbench.scorers._extract import extract

        ex = extract(text, "plan", {"moves": "UDLR"})
        return _split_plan(item, ex.answer) if ex.answer else []
    return []


def _split_plan(item: Mapping[str, Any], plan: str) -> list[str]:
    """Cut a full plan into one segment per gold subgoal (where it first reaches each in order)."""
    inst = item["instance"]
    gold = list(item.get("solution_trace") or [])
    _, keys_at, doors_at = _grid_tables(inst)
    key_pos = {v: k for k, v in keys_at.items()}
    door_pos = {v: k for k, v in doors_at.items()}
    targets = []
    for g in gold:
        sub = str(g["subgoal"])
        if sub == "goal":
            targets.append((int(inst["goal"][0]), int(inst["goal"][1])))
        else:
            kind, _, ident = sub.partition(" ")
            targets.append((key_pos if kind == "key" else door_pos).get(ident))
    segs: list[str] = []
    x, y = int(inst["start"][0]), int(inst["start"][1])
    cut = 0
    j = 0
    for i, mv in enumerate(plan):

        d = _DELTA.get(mv, (0, 0))
        x, y = x + d[0], y + d[1]
        while j < len(targets) and targets[j] == (x, y):
            segs.append(plan[cut:i + 1])
            cut = i + 1
            j += 1
    if cut < len(plan):
        segs.append(plan[cut:])
    return segs


def trace_score(item: Mapping[str, Any], text: str | None) -> float:
    """Fraction of the gold trace a response gets right before its first error.

    Parameters
    ----------
    item : mapping
        The dataset item.
    text : str or None
        The model's raw response; steps are read with :func:`parse_trace`.

    Returns
    -------
    float
        In [0, 1]: 1.0 when the trace is right and complete, else (gold steps covered
        before the first error) / (gold trace length), capped below 1.

    Examples
    --------
    >>> item = {"task": "multihop_arithmetic", "instance": {"modulus": 10, "query": "b",
    ...         "statements": [{"var": "a", "op": "=", "args": [3]}, {"var": "b", "op": "*", "args": ["a", 3]}]},
    ...         "solution_trace": [{"var": "a", "value": 3}, {"var": "b", "value": 9}]}
    >>> trace_score(item, "a = 3\\nb = a * 3 = 9\\nAnswer: 9"), trace_score(item, "a = 3\\nb = 8")
    (1.0, 0.5)
    """
    gold = list(item.get("solution_trace") or [])
    if not gold:
        return 0.0
    steps = parse_trace(item, text)
    if not steps:
        return 0.0
    idx = trace_first_error(item, steps)
    if idx is None:
        return 1.0
    if item.get("task") == "multihop_arithmetic" and steps and isinstance(steps[0], Mapping):
        need = {g["var"] for g in gold}
        covered = len({s["var"] for s in steps[:idx]} & need)
    else:
        covered = idx
    return min(covered, len(gold) - 1) / len(gold)
