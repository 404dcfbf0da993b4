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

from collections.abc import Mapping, Sequence
from typing import Any

from depthbench.scorers._verify import _adjacency, _as_int, _grid_tables, _modulus, _simulate

__all__ = ["trace_first_error", "arithmetic_values"]


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
