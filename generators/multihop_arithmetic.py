"""Multi-hop modular arithmetic: variables defined by operations on earlier variables.

An instance is a list of ``num_variables`` statements such as ``x12 = x3 + 41``; all
arithmetic is modulo a prime ``m``. One variable is queried. Its **depth** is the number
of statements on the longest dependency chain that ends at the queried variable: a
variable defined from constants only has depth 1, ``x5 = x2 * 7`` has depth
``depth(x2) + 1``.

Construction (``generate``)
    A *chain* of ``depth`` variables ``v1 .. vd``: ``v1`` is one operation on two constants
    (``x4 = 12 * 31``: a depth-1 item is a real one-operation item, never a bare lookup);
    each ``vi`` (``i >= 2``) combines its predecessor ``v(i-1)`` with a constant or, with
    probability ``p_chain_operand``, with an earlier chain variable ``vj`` (``j < i - 1``).
    The ancestors of the query ``vd`` are therefore exactly the chain, the longest path
    through them has ``d`` statements, and the gold trace has exactly ``d`` evaluations.
    ``v1`` is the first statement created; the other ``num_variables - depth`` variables
    are distractors that combine a uniformly chosen earlier variable (chain variables
    included) with a constant or, with the same probability ``p_chain_operand``, with a
    second earlier variable; they look like the chain but never feed the query.

    Prompt length does not depend on depth: whatever ``d``, one statement has two
    constants and every other statement draws its shape (variable and constant, or two
    variables) from the same distribution, chain step or distractor alike, so depth
    changes which statements are on the chain, not what the program looks like (tested:
    |correlation(length, depth)| < 0.1 over 4,000 items, per-depth means within 0.5%).
    Variable names are a random permutation of ``x0 .. x{n-1}``, so a name does not
    reveal its position. Statements are listed in topological, reversed or shuffled order.

Answer distribution
    With ``m`` prime, ``y -> y + c``, ``y -> y - c``, ``y -> c - y`` and ``y -> c * y``
    (``c != 0``) are bijections of ``Z/m``, so a step with a constant operand keeps a
    uniform value uniform; a step that combines two chain variables is not a bijection in
    general, and the one absorbing case, multiplying by a value that is 0, is avoided (the
    generator turns such a ``*`` step into ``+``). The answer is therefore close to, not
    exactly, uniform on ``[0, m)``: a chi-square test over 1,500 answers per depth and a
    best-constant-guess bound of ``2.2/m`` are part of the test suite.

Certification (``certify``)
    Independent of the construction: read the statements as a dependency DAG, check every
    variable is defined once, collect the query and its ancestors, and run Kahn's
    topological sort on them (a cycle leaves nodes unsorted) with the longest-path
    recurrence ``chain(v) = 1 + max(chain(u) for u in args(v))`` and the evaluation of
    each statement. O(num_variables) time. (``networkx.dag_longest_path`` gives the same
    depth; the tests check against a separate recursive oracle.)

Instance format (``docs/ARCHITECTURE.md``)::

    {"modulus": 97,
     "statements": [{"var": "x7", "op": "+", "args": ["x3", 5]}, ...],  # presentation order
     "query": "x7",
     "order": "topological" | "reversed" | "shuffled"}

``op`` is one of ``+ - * =``; ``=`` has one argument, the others two. Arguments are
variable names or integer constants in ``[0, m)``. Answer: the query's value, an int in
``[0, m)``. Trace: ``[{"var": ..., "value": ...}, ...]`` in dependency order, ending with
the query.

References
----------
.. [1] Dziri et al., "Faith and Fate: Limits of Transformers on Compositionality",
   NeurIPS 2023, arXiv:2305.18654 (computation graphs; depth as the longest path).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from depthbench.generators._base import Certificate, Family, Problem, StepCheck, parse_int

__all__ = [
    "MultihopArithmeticConfig",
    "generate",
    "certify",
    "describe",
    "parse_prompt",
    "max_depth",
    "verify",
    "evaluate",
    "trace_first_error",
    "parse_trace",
    "stated_steps",
    "format_step",
    "FAMILY",
]

VERSION = "2"
ORDERS = ("topological", "reversed", "shuffled")
OPS = ("+", "-", "*")
_OPS_ARITY = {"=": 1, "+": 2, "-": 2, "*": 2}


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultihopArithmeticConfig:
    """Parameters of one multi-hop arithmetic problem.

    Parameters
    ----------
    depth : int
        Statements on the longest dependency chain into the queried variable,
        ``1 <= depth <= num_variables``.
    num_variables : int, optional
        Number of variables (= statements) in every instance, fixed across depths;
        ``num_variables - depth`` of them are distractors. Default 48.
    modulus : int, optional
        Prime modulus ``m >= 3``; the answer lies in ``[0, m)``. Default 97.
    order : str, optional
        Presentation order of the statements: ``"topological"`` (definitions before
        uses), ``"reversed"`` or ``"shuffled"`` (default).
    ops : tuple of str, optional
        Binary operations to draw from, a non-empty subset of ``("+", "-", "*")``.
    p_chain_operand : float, optional
        Probability in ``[0, 1]`` that a chain step's second operand is an earlier chain
        variable rather than a constant (when one exists). Default 0.35.

    Raises
    ------
    ValueError
        If a field is out of range, the modulus is not prime, or ``depth`` exceeds
        ``num_variables``.
    """

    depth: int
    num_variables: int = 48
    modulus: int = 97
    order: str = "shuffled"
    ops: tuple[str, ...] = OPS
    p_chain_operand: float = 0.35

    def __post_init__(self) -> None:
        for name in ("depth", "num_variables", "modulus"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}: expected an integer, got {value!r}")
        if self.num_variables < 1:
            raise ValueError(f"num_variables: must be >= 1, got {self.num_variables}")
        if self.depth < 1:
            raise ValueError(f"depth: must be >= 1, got {self.depth}")
        if self.depth > self.num_variables:
            raise ValueError(
                f"depth: {self.depth} does not fit num_variables={self.num_variables} "
                f"(a chain of depth d needs d variables); lower the depth or raise num_variables"
            )
        if self.modulus < 3 or not _is_prime(self.modulus):
            raise ValueError(
                f"modulus: must be a prime >= 3 (keeps answers near uniform), got {self.modulus}"
            )
        if self.order not in ORDERS:
            raise ValueError(f"order: must be one of {', '.join(ORDERS)}, got {self.order!r}")
        ops = tuple(self.ops)
        if not ops or any(op not in OPS for op in ops) or len(set(ops)) != len(ops):
            raise ValueError(f"ops: must be a non-empty subset of {OPS} without repeats, got {self.ops!r}")
        object.__setattr__(self, "ops", ops)
        if isinstance(self.p_chain_operand, bool) or not isinstance(self.p_chain_operand, (int, float)):
            raise ValueError(f"p_chain_operand: expected a number, got {self.p_chain_operand!r}")
        if not 0.0 <= float(self.p_chain_operand) <= 1.0:
            raise ValueError(f"p_chain_operand: must lie in [0, 1], got {self.p_chain_operand}")


def max_depth(config: MultihopArithmeticConfig | Mapping[str, Any]) -> int:
    """Largest depth that fits the configured size.

    Parameters
    ----------
    config : MultihopArithmeticConfig or mapping
        A config, or its size parameters as a mapping (``depth`` not needed).

    Returns
    -------
    int
        ``num_variables``: a chain can use every variable.
    """
    if isinstance(config, Mapping):
        default = {f.name: f.default for f in fields(MultihopArithmeticConfig) if f.name != "depth"}
        return int(config.get("num_variables", default["num_variables"]))
    return config.num_variables


# ---------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------


def _apply(op: str, a: int, b: int, m: int) -> int:
    if op == "+":
        return (a + b) % m
    if op == "-":
        return (a - b) % m
    if op == "*":
        return (a * b) % m
    raise ValueError(f"unknown operation {op!r}")


def _below(u: float, k: int) -> int:
    """Map a uniform ``u`` in [0, 1) to a uniform integer in ``[0, k)``."""
    return min(int(u * k), k - 1)


def _constant_for(op: str, m: int, u: float) -> int:
    """A constant operand that keeps the step a bijection: no ``+ 0``, no ``* 0`` or ``* 1``."""
    return 2 + _below(u, m - 2) if op == "*" else 1 + _below(u, m - 1)


def _build_step(op: str, left: tuple[Any, int], right: tuple[Any, int], m: int, swap: bool) -> tuple[str, list[Any], int]:
    """Combine two operands ``(arg, value)``, optionally swapped; avoid the absorbing ``* 0``."""
    if op == "*" and (left[1] == 0 or right[1] == 0):
        op = "+"
    if swap:
        left, right = right, left
    return op, [left[0], right[0]], _apply(op, left[1], right[1], m)


def _root_statement(config: MultihopArithmeticConfig, u: list[float], m: int) -> tuple[str, list[Any], int]:
    """The chain's first statement: one operation on two constants (uses ``u[1:6]``)."""
    op = config.ops[_below(u[2], len(config.ops))]
    a, b = _below(u[3], m), _constant_for(op, m, u[4])
    return _build_step(op, (a, a), (b, b), m, u[5] < 0.5)


def _attempt(config: MultihopArithmeticConfig, rng: np.random.Generator) -> Problem:
    n, d, m, ops = config.num_variables, config.depth, config.modulus, config.ops
    p_var = float(config.p_chain_operand)
    n_ops = len(ops)
    # Creation order 0..n-1 is a topological order; slot 0 is the chain's first variable and
    # the rest of the chain occupies d - 1 sorted slots among 1..n-1.
    is_chain = [False] * n
    is_chain[0] = True
    if d > 1:
        for slot in (rng.permutation(n - 1)[:d - 1] + 1).tolist():
            is_chain[slot] = True
    names = [f"x{k}" for k in rng.permutation(n).tolist()]
    # Seven uniforms per statement, drawn in one call (scalar draws dominate the cost).
    uniforms = rng.random((n, 7)).tolist()

    values: list[int] = [0] * n
    statements: list[dict[str, Any]] = []
    chain: list[int] = []  # creation indices of chain variables so far
    for slot in range(n):
        u = uniforms[slot]
        if slot == 0:
            op, args, value = _root_statement(config, u, m)
        else:
            # _build_step and _constant_for written out (the loop runs once per statement)
            op = ops[min(int(u[1] * n_ops), n_ops - 1)]
            if is_chain[slot]:
                a = chain[-1]
                k = len(chain)
                b = chain[min(int(u[2] * (k - 1)), k - 2)] if k >= 2 and u[0] < p_var else -1
                uc = u[2]
            else:
                # Distractor: an earlier variable (never an ancestor of the query, because
                # chain statements only read chain variables) and a constant or another one.
                a = min(int(u[2] * slot), slot - 1)
                if slot >= 2 and u[0] < p_var:
                    b = min(int(u[3] * (slot - 1)), slot - 2)
                    b = b if b < a else b + 1  # a different earlier variable
                else:
                    b = -1
                uc = u[3]
            x, xv = names[a], values[a]
            if b < 0:  # a constant that keeps the step a bijection (no + 0, no * 0 or * 1)
                y = yv = 2 + min(int(uc * (m - 2)), m - 3) if op == "*" else 1 + min(int(uc * (m - 1)), m - 2)
            else:
                y, yv = names[b], values[b]
            if op == "*" and (xv == 0 or yv == 0):  # avoid the absorbing * 0
                op = "+"
            if u[5] < 0.5:
                x, xv, y, yv = y, yv, x, xv
            args = [x, y]
            value = (xv + yv) % m if op == "+" else (xv - yv) % m if op == "-" else (xv * yv) % m
        if is_chain[slot]:
            chain.append(slot)
        values[slot] = value
        statements.append({"var": names[slot], "op": op, "args": args})

    if config.order == "topological":
        presented = statements
    elif config.order == "reversed":
        presented = statements[::-1]
    else:
        presented = [statements[i] for i in rng.permutation(n).tolist()]

    query_slot = chain[-1]
    instance = {
        "modulus": m,
        "statements": presented,
        "query": names[query_slot],
        "order": config.order,
    }
    trace = [{"var": names[s], "value": values[s]} for s in chain]
    return Problem(
        instance=instance,
        answer=values[query_slot],
        answer_type="integer",
        depth=d,
        solution_trace=trace,
        size={"num_variables": n, "num_statements": n, "modulus": m},
        chance=1.0 / m,
        answer_space={"modulus": m},
    )


def generate(config: MultihopArithmeticConfig, rng: np.random.Generator, cues: Any = None) -> Problem:
    """Generate one problem whose queried variable has exactly ``config.depth``.

    Parameters
    ----------
    config : MultihopArithmeticConfig
        Validated parameters.
    rng : numpy.random.Generator
        The only source of randomness.
    cues : None
        The family balances no cue variable (its answer is near uniform by
        construction); accepted for the common signature.

    Returns
    -------
    Problem
        ``answer`` is an int in ``[0, modulus)``; ``size`` holds ``num_variables``,
        ``num_statements`` and ``modulus`` (independent of depth); ``chance = 1/modulus``.

    Notes
    -----
    O(num_variables) time. The construction is exact (see the module docstring), so no
    redraw is ever needed; the dataset builder re-certifies every item with
    :func:`certify` and refuses any mismatch.
    """
    return _attempt(config, rng)


# ---------------------------------------------------------------------------------------
# Independent certifier
# ---------------------------------------------------------------------------------------


def certify(instance: Mapping[str, Any]) -> Certificate:
    """Measure the depth and the value of the queried variable from the statements alone.

    Parameters
    ----------
    instance : mapping
        A multihop_arithmetic instance (see the module docstring).

    Returns
    -------
    Certificate
        ``depth`` = number of statements on the longest path of the dependency DAG
        restricted to the query and its ancestors; ``answer`` = the query's value;
        ``solution_trace`` = ``[{"var", "value"}]`` over those ancestors in topological
        order (ties broken by presentation position), ending with the query;
        ``extra = {"evaluations": len(trace)}``.

    Raises
    ------
    ValueError
        If a variable is defined twice or never, an argument is malformed, or the
        dependencies contain a cycle.

    Examples
    --------
    >>> inst = {"modulus": 11, "order": "topological", "query": "b", "statements": [
    ...     {"var": "a", "op": "=", "args": [4]}, {"var": "b", "op": "*", "args": ["a", 5]}]}
    >>> cert = certify(inst)
    >>> cert.depth, cert.answer, cert.solution_trace
    (2, 9, [{'var': 'a', 'value': 4}, {'var': 'b', 'value': 9}])
    """
    m = int(instance["modulus"])
    statements = instance["statements"]
    query = instance["query"]
    position = {st["var"]: i for i, st in enumerate(statements)}
    if len(position) != len(statements):
        seen: set[str] = set()
        for st in statements:
            if st["var"] in seen:
                raise ValueError(f"variable {st['var']!r} is defined twice")
            seen.add(st["var"])
    # Per statement: its distinct variable arguments, as positions.
    deps: list[list[int]] = []
    for st in statements:
        op, args = st["op"], st["args"]
        if op not in _OPS_ARITY or len(args) != _OPS_ARITY[op]:
            raise ValueError(f"malformed statement {st!r}")
        dv = []
        for a in args:
            if type(a) is str:
                j = position.get(a)
                if j is None:
                    raise ValueError(f"variable {a!r} is used but never defined")
                if j not in dv:
                    dv.append(j)
            elif type(a) is not int or not 0 <= a < m:
                raise ValueError(f"constant {a!r} is not an integer in [0, {m})")
        deps.append(dv)
    q = position.get(query) if type(query) is str else None
    if q is None:
        raise ValueError(f"query {query!r} is not defined")

    # The query and its ancestors (depth-first over the argument edges).
    needed = {q}
    stack = [q]
    while stack:
        for j in deps[stack.pop()]:
            if j not in needed:
                needed.add(j)
                stack.append(j)
    # Kahn's algorithm on that sub-DAG (ties by presentation position), with the
    # longest-path recurrence chain(v) = 1 + max(chain(u) for u in args(v)) and evaluation.
    n = len(statements)
    users: list[list[int]] = [[] for _ in range(n)]
    missing = [0] * n
    ready = []
    for i in needed:
        dv = deps[i]
        missing[i] = len(dv)
        if dv:
            for j in dv:
                users[j].append(i)
        else:
            ready.append(i)
    heapq.heapify(ready)
    chain = [0] * n
    value: dict[str, int] = {}
    trace = []
    while ready:
        i = heapq.heappop(ready)
        st = statements[i]
        var, args, op = st["var"], st["args"], st["op"]
        x = args[0]
        x = value[x] if type(x) is str else x
        if op == "=":
            v = x % m
        else:
            y = args[1]
            v = _apply(op, x, value[y] if type(y) is str else y, m)
        value[var] = v
        c = 0
        for j in deps[i]:
            if chain[j] > c:
                c = chain[j]
        chain[i] = c + 1
        trace.append({"var": var, "value": v})
        for u in users[i]:
            missing[u] -= 1
            if not missing[u]:
                heapq.heappush(ready, u)
    if len(trace) != len(needed):
        raise ValueError("the dependencies of the query contain a cycle")
    return Certificate(depth=chain[q], answer=value[query], solution_trace=trace, extra={"evaluations": len(trace)})


# ---------------------------------------------------------------------------------------
# Prompt text
# ---------------------------------------------------------------------------------------

_ORDER_TEXT = {
    "topological": "topological (every variable is defined above the statements that use it)",
    "reversed": "reversed (every variable is defined below the statements that use it)",
    "shuffled": "shuffled (a statement may use a variable defined above or below it)",
}
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ARG = rf"(?:{_NAME}|\d+)"
_STATEMENT_RE = re.compile(rf"^({_NAME}) = ({_ARG})(?: ([-+*]) ({_ARG}))?$")
_HEADER_RE = re.compile(
    r"^The (\d+) statements below each define one variable\. "
    r"All arithmetic is modulo (\d+): reduce every result to 0\.\.\d+\.$",
    re.M,
)
_ORDER_RE = re.compile(r"^Statement order: (topological|reversed|shuffled) \(.*\)\.$")
_QUESTION_RE = re.compile(rf"^Question: what is the value of ({_NAME}) modulo \d+\?$")


def describe(instance: Mapping[str, Any]) -> str:
    """State the instance in plain text (inserted in the prompt as ``{{ problem }}``).

    Parameters
    ----------
    instance : mapping
        A multihop_arithmetic instance.

    Returns
    -------
    str
        A header (count, modulus), the statement order, one statement per line
        (``x3 = x1 * 5``, ``x4 = 17``) and a closing question, without trailing newline.
    """
    m = int(instance["modulus"])
    statements = instance["statements"]
    lines = [
        f"The {len(statements)} statements below each define one variable. "
        f"All arithmetic is modulo {m}: reduce every result to 0..{m - 1}.",
        f"Statement order: {_ORDER_TEXT[instance['order']]}.",
    ]
    for st in statements:  # arguments are names (str) or int constants: both format as themselves
        a, op = st["args"], st["op"]
        lines.append(f"{st['var']} = {a[0]}" if op == "=" else f"{st['var']} = {a[0]} {op} {a[1]}")
    lines.append(f"Question: what is the value of {instance['query']} modulo {m}?")
    return "\n".join(lines)


def _parse_arg(token: str) -> Any:
    return int(token) if token.isdigit() else token


def parse_prompt(prompt_text: str) -> dict[str, Any]:
    """Recover the instance from a prompt that contains ``describe(instance)``.

    Parameters
    ----------
    prompt_text : str
        A full prompt (any text around the statement is ignored).

    Returns
    -------
    dict
        The instance; ``parse_prompt(describe(x)) == x`` for every valid instance.

    Raises
    ------
    ValueError
        If the statement block is missing, truncated or malformed.
    """
    header = _HEADER_RE.search(prompt_text)
    if header is None:
        raise ValueError("no multihop_arithmetic statement found in the prompt")
    count, m = int(header.group(1)), int(header.group(2))
    lines = prompt_text[header.end():].split("\n")[1:]
    if not lines or not (order_match := _ORDER_RE.match(lines[0])):
        raise ValueError("statement order line missing after the header")
    statements = []
    for line in lines[1 : 1 + count]:
        match = _STATEMENT_RE.match(line)
        if match is None:
            raise ValueError(f"malformed statement line {line!r}")
        var, a, op, b = match.groups()
        if op is None:
            statements.append({"var": var, "op": "=", "args": [_parse_arg(a)]})
        else:
            statements.append({"var": var, "op": op, "args": [_parse_arg(a), _parse_arg(b)]})
    if len(statements) != count or len(lines) < count + 2:
        raise ValueError(f"expected {count} statements and a question, the prompt is truncated")
    question = _QUESTION_RE.match(lines[1 + count])
    if question is None:
        raise ValueError(f"expected the question line, got {lines[1 + count]!r}")
    return {"modulus": m, "statements": statements, "query": question.group(1), "order": order_match.group(1)}


# ---------------------------------------------------------------------------------------
# Answers and traces
# ---------------------------------------------------------------------------------------


def _modulus(item: Mapping[str, Any]) -> int | None:
    m = (item.get("instance") or {}).get("modulus")
    if m is None:
        m = ((item.get("meta") or {}).get("answer_space") or {}).get("modulus")
    return m if isinstance(m, int) and m > 0 else None


def verify(item: Mapping[str, Any], answer: Any) -> bool:
    """The answer equals the query's value modulo ``m``.

    Examples
    --------
    >>> item = {"answer": 3, "instance": {"modulus": 7}}
    >>> verify(item, 10), verify(item, 4), verify(item, "3")
    (True, False, True)
    """
    a, g = parse_int(answer), parse_int(item["answer"])
    if a is None or g is None:
        return False
    m = _modulus(item)
    return a == g if m is None else (a - g) % m == 0


def evaluate(instance: Mapping[str, Any]) -> dict[str, int]:
    """Evaluate every variable of an instance (mod ``m``), statements in any order.

    A fixed-point evaluator independent of :func:`certify` (which sorts the query's
    ancestors topologically).

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


def _named(steps: Sequence[Any]) -> bool:
    return bool(steps) and all(isinstance(s, Mapping) or (isinstance(s, (list, tuple)) and len(s) == 2) for s in steps)


def trace_first_error(item: Mapping[str, Any], steps: Sequence[Any]) -> int | None:
    """First wrong step of a stated evaluation.

    Steps are ``{"var", "value"}`` (or ``(var, value)`` pairs): a step is right when the
    value equals the variable's true value mod ``m`` (any evaluation order); the trace is
    complete when every variable of the gold trace has been given. Bare values are
    compared position by position with the gold trace.
    """
    inst = item["instance"]
    gold = list(item.get("solution_trace") or [])
    m = _modulus(item) or int(inst["modulus"])
    values = evaluate(inst)
    steps = list(steps)
    if _named(steps):
        seen = set()
        for i, s in enumerate(steps):
            var, val = (s.get("var"), s.get("value")) if isinstance(s, Mapping) else (s[0], s[1])
            v = parse_int(val)
            if var not in values or v is None or v % m != values[var]:
                return i
            seen.add(var)
        need = {g["var"] for g in gold}
        return None if need <= seen else len(steps)
    for i, s in enumerate(steps):
        v = parse_int(s)
        if i >= len(gold) or v is None or v % m != int(gold[i]["value"]) % m:
            return i
    return None if len(steps) >= len(gold) else len(steps)


def steps_covered(item: Mapping[str, Any], steps: Sequence[Any], first_error: int) -> int:
    """Gold variables given right before ``first_error`` (named steps), else ``first_error``."""
    if steps and isinstance(steps[0], Mapping):
        need = {g["var"] for g in item.get("solution_trace") or []}
        return len({s["var"] for s in steps[:first_error]} & need)
    return first_error


_ASSIGN_RE = re.compile(r"^[\s>*#\-\d.)]*\**([A-Za-z_][A-Za-z_0-9]*)\**\s*=(.*)$")
_LAST_VALUE_RE = re.compile(r"=\s*\**\s*([+\-\u2212]?\d+)\s*\**\s*[.,;]?\s*(?:\(.*\))?\s*$")
_STEP_RE = re.compile(r"([A-Za-z_]\w*)\s*=\s*(-?\d+)")


def parse_trace(item: Mapping[str, Any], text: str, answer: Any = None) -> list[Any]:
    """``{"var", "value"}`` for every line that assigns a variable and ends in a number
    (``x4 = x2 * 3 = 21``)."""
    steps = []
    for line in text.splitlines():
        m = _ASSIGN_RE.match(line)
        if not m:
            continue
        v = _LAST_VALUE_RE.search(m.group(2) if "=" in m.group(2) else "=" + m.group(2))
        if v:
            steps.append({"var": m.group(1), "value": int(v.group(1).replace("\u2212", "-"))})
    return steps


def stated_steps(item: Mapping[str, Any], contents: Sequence[str]) -> list[Any]:
    """``Step k: x3=4`` lines as ``{"var": "x3", "value": 4}``."""
    out: list[Any] = []
    for c in contents:
        m = _STEP_RE.fullmatch(c)
        out.append({"var": m.group(1), "value": int(m.group(2))} if m else c)
    return out


def format_step(step: Mapping[str, Any]) -> str:
    """A gold step as ``VAR=VALUE``."""
    return f"{step['var']}={step['value']}"


FAMILY = Family(
    name="multihop_arithmetic",
    version=VERSION,
    config_cls=MultihopArithmeticConfig,
    generate=generate,
    certify=certify,
    describe=describe,
    parse_prompt=parse_prompt,
    max_depth=max_depth,
    source_file=__file__,
    answer_type="integer",
    verify=verify,
    trace_first_error=trace_first_error,
    parse_trace=parse_trace,
    stated_steps=stated_steps,
    format_step=format_step,
    steps_covered=steps_covered,
)


# --------------------------------------------------------------------------- gold-free feedback (Family.env_check)
def env_check(item: Mapping[str, Any], steps: Sequence[Any]) -> list[StepCheck]:
    """The program's own verdict on each stated value: recomputed from its operands.

    A step ``{"var", "value"}`` (as :func:`stated_steps` returns it) is ok when the variable
    is defined in the program and the value equals, modulo ``m``, the variable's operation
    applied to its operands: constants as given, variables at the value stated for them
    before this step (the latest, right or wrong). A variable operand not stated before is
    an error (state the operands first). Judged only from ``item["instance"]``.

    Parameters
    ----------
    item : mapping
        An item (or a hidden split's prompt): only ``instance`` is read.
    steps : sequence
        The stated steps in order.

    Returns
    -------
    list of StepCheck

    Examples
    --------
    >>> inst = {"modulus": 10, "query": "b", "order": "topological",
    ...         "statements": [{"var": "a", "op": "=", "args": [3]}, {"var": "b", "op": "*", "args": ["a", 3]}]}
    >>> [c.feedback for c in env_check({"instance": inst}, [{"var": "a", "value": 3}, {"var": "b", "value": 8}])]
    ['step 1: a = 3 checks out', 'step 2: b = a * 3 = 3 * 3 = 9 (mod 10), not 8']
    """
    inst = item["instance"]
    m = int(inst["modulus"])
    defs = {st["var"]: st for st in inst["statements"]}
    stated: dict[str, int] = {}
    out: list[StepCheck] = []
    for i, s in enumerate(steps, 1):
        if isinstance(s, Mapping):
            var, val = s.get("var"), parse_int(s.get("value"))
        elif isinstance(s, (list, tuple)) and len(s) == 2:
            var, val = s[0], parse_int(s[1])
        else:
            var, val = None, None
        if not isinstance(var, str) or val is None:
            out.append(StepCheck(False, f"step {i}: cannot read {str(s)[:40]!r} as VARIABLE=VALUE"))
            continue
        st = defs.get(var)
        if st is None:
            out.append(StepCheck(False, f"step {i}: the program defines no variable {var}"))
            stated[var] = val % m
            continue
        missing = [a for a in st["args"] if isinstance(a, str) and a not in stated]
        if missing:
            out.append(StepCheck(False, f"step {i}: {var} uses {missing[0]}, whose value is not stated before it"))
            stated[var] = val % m
            continue
        args = [stated[a] if isinstance(a, str) else int(a) % m for a in st["args"]]
        op = st["op"]
        if op not in _OPS_ARITY or len(args) != _OPS_ARITY[op]:
            out.append(StepCheck(False, f"step {i}: {var} has an operation this check cannot read"))
            stated[var] = val % m
            continue
        want = (args[0] if op == "=" else args[0] + args[1] if op == "+" else args[0] - args[1] if op == "-"
                else args[0] * args[1]) % m
        stated[var] = val % m
        if op == "=":
            shown = f"{var} = {st['args'][0]}"
        else:
            shown = f"{var} = {st['args'][0]} {op} {st['args'][1]} = {args[0]} {op} {args[1]}"
        if val % m == want:
            out.append(StepCheck(True, f"step {i}: {var} = {want} checks out"))
        else:
            out.append(StepCheck(False, f"step {i}: {shown} = {want} (mod {m}), not {val}"))
    return out


def env_solved(item: Mapping[str, Any], steps: Sequence[Any], answer: Any = None) -> bool | None:
    """Gold-free: every step is ok and the queried variable's value is stated (then, the
    checks chaining from constants, every stated value is right); given an ``answer``, it
    must equal that value modulo ``m``. None when no step is stated.

    Examples
    --------
    >>> inst = {"modulus": 10, "query": "b", "order": "topological",
    ...         "statements": [{"var": "a", "op": "=", "args": [3]}, {"var": "b", "op": "*", "args": ["a", 3]}]}
    >>> env_solved({"instance": inst}, [{"var": "a", "value": 3}, {"var": "b", "value": 9}], 19)
    True
    """
    if not steps:
        return None
    if not all(c.ok for c in env_check(item, steps)):
        return False
    inst = item["instance"]
    m = int(inst["modulus"])
    values = [parse_int(s.get("value") if isinstance(s, Mapping) else s[1]) for s in steps
              if (s.get("var") if isinstance(s, Mapping) else s[0]) == inst["query"]]
    if not values:
        return False
    a = parse_int(answer) if answer is not None else None
    return answer is None or (a is not None and (a - values[-1]) % m == 0)


FAMILY = replace(FAMILY, env_check=env_check, env_solved=env_solved)
