"""Compact call records: ``calls.jsonl`` lines that log what is new, not the whole context again.

A budget-forcing continuation re-sends the whole chain so far, and a revision round every
earlier attempt; logging each request in full makes the log grow with the square of the
chain length (a 36,470-call quickstart run wrote 172 MB, 146 MB of it repeated
context). The runner therefore writes each call record in a compact form that
:func:`expand_record` turns back into exactly the record the runner had in memory. Every
reader of ``calls.jsonl`` (the resume cache, ``depthbench score``, ``submission pack``,
``depthbench merge``) goes through :func:`read_calls`, so none of them sees the
difference. Lines of the old, full form (written before this format existed) carry no
``"v"`` field and are read as they are: old run folders stay readable, and resuming one
appends compact lines after its full ones.

The compact form (``"v": 2``)
-----------------------------
1. **Coordinates are implied.** ``item_id``, ``strategy``, ``budget``, ``sample``,
   ``round`` and ``role`` are read back from ``key``
   (``"<item_id>|<strategy>|<budget>|s<sample>|r<round>|<role>"``), ``task`` and
   ``depth`` from the dataset item. A value that disagrees with the key or the item is
   written out (and then wins).
2. **A child stores what differs from its parent.** A record whose ``parent`` is set
   stores only the fields whose value differs from the parent's full record; a field
   it leaves out has the parent's value. Where both values are objects (``usage``,
   ``request``) the rule applies inside them, and ``"$drop": [names]`` lists the
   parent's fields the child does not have. The parent is always logged before its
   child (a call consumes its parent's output), so one pass reconstructs everything.
   ``parent`` itself is written relative, ``"|s0|r3|continue"``, when it shares the
   record's ``<item_id>|<strategy>|<budget>`` prefix.
3. **Request text is spliced from what is already known.** A string of ``request``
   (a message's ``content``, ``prompt``, ``assistant_prefix``) may be written as
   ``{"$cat": [piece, ...]}``, each piece a literal string or ``{"$ref": PATH}``:
   ``"item.prompt"`` (the dataset item's prompt) or ``"parent.<field>[.<field>...]"``
   into the parent's full record (``"parent.text"``,
   ``"parent.request.messages.0.content"``); list positions are numbers. E.g. the
   k-th budget-forcing continuation on a raw-completions server is
   ``{"$cat": [{"$ref": "parent.request.prompt"}, {"$ref": "parent.text"}, "\\nWait,"]}``.

Rebuilding ``request`` needs the dataset items (for ``item.prompt``): :func:`read_calls`
without items rebuilds every other field and leaves ``request`` of compact lines as
written (``submission pack`` uses only texts, token counts and the call tree, and needs
no dataset).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from depthbench.io import BadLine, JsonlAppender

__all__ = ["CALL_LOG_VERSION", "compact_record", "expand_record", "read_calls", "CompactCallWriter", "key_coordinates"]

CALL_LOG_VERSION = 2
_COORDS = ("item_id", "strategy", "budget", "sample", "round", "role")
_ITEM_FIELDS = ("task", "depth")
_FIXED = ("key", "parent", "v")
#: shortest run of characters worth a reference (shorter matches are written literally)
_MIN_REF = 16
_MISSING = object()
_NUMBER = re.compile(r"0|[1-9][0-9]*").fullmatch


def key_coordinates(key: str) -> dict[str, Any] | None:
    """``item_id, strategy, budget, sample, round, role`` of a call key, or None if malformed."""
    parts = key.rsplit("|", 5)
    if len(parts) != 6:
        return None
    item_id, strategy, budget, s, r, role = parts
    # plain ASCII digits, no leading zero: str.isdigit() also takes '\u0661' (int() reads it as 1) and
    # '\u00b2' (int() refuses it), so one call would have two keys
    if not (_NUMBER(budget) and s[:1] == "s" and _NUMBER(s[1:]) and r[:1] == "r" and _NUMBER(r[1:])):
        return None
    return {"item_id": item_id, "strategy": strategy, "budget": int(budget), "sample": int(s[1:]),
            "round": int(r[1:]), "role": role}


def _unit_prefix(key: str) -> str:
    return key.rsplit("|", 3)[0] + "|"


def _absolute_parent(key: str, parent: Any) -> Any:
    """A relative parent (``"|s0|r3|continue"``: three bars; a full key has at least five) made absolute."""
    if isinstance(parent, str) and parent.startswith("|") and parent.count("|") == 3:
        return _unit_prefix(key)[:-1] + parent
    return parent


# ------------------------------------------------------------------------------ writing
def _delta(child: Mapping[str, Any], parent: Mapping[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in child.items():
        if k in skip:
            continue
        p = parent.get(k, _MISSING)
        if isinstance(v, dict) and isinstance(p, dict):
            d = _delta(v, p)
            if d:
                out[k] = d
        elif p is _MISSING or p != v or type(p) is not type(v):
            out[k] = v
    drop = sorted(k for k in parent if k not in child and k not in skip)
    if drop:
        out["$drop"] = drop
    return out


def _string_leaves(obj: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(obj, str):
        if len(obj) >= _MIN_REF:
            out.append((path, obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _string_leaves(v, f"{path}.{k}", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _string_leaves(v, f"{path}.{i}", out)


def _splice(s: str, sources: list[tuple[str, str]]) -> Any:
    """``s`` as ``{"$cat": pieces}`` when known strings cover part of it, else ``s``."""
    if len(s) < _MIN_REF or not sources:
        return s
    pieces: list[Any] = []
    i, lit = 0, 0
    while i < len(s):
        best: tuple[int, int, str] | None = None  # (start, -length, path)
        for path, src in sources:
            j = s.find(src, i)
            if j >= 0 and (best is None or (j, -len(src)) < best[:2]):
                best = (j, -len(src), path)
        if best is None:
            break
        j, neg, path = best
        if j > lit:
            pieces.append(s[lit:j])
        pieces.append({"$ref": path})
        i = lit = j - neg
    if not pieces:
        return s
    if lit < len(s):
        pieces.append(s[lit:])
    return {"$cat": pieces}


def _splice_request(req: Any, sources: list[tuple[str, str]]) -> Any:
    if isinstance(req, str):
        return _splice(req, sources)
    if isinstance(req, dict):
        return {k: _splice_request(v, sources) for k, v in req.items()}
    if isinstance(req, list):
        return [_splice_request(v, sources) for v in req]
    return req


def compact_record(rec: Mapping[str, Any], parent: Mapping[str, Any] | None = None,
                   item: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The compact line of a full call record (see the module docstring).

    Parameters
    ----------
    rec : mapping
        The full call record (``docs/ARCHITECTURE.md``, call record).
    parent : mapping, optional
        The full record of ``rec["parent"]``; without it the record is written whole
        (coordinates still implied).
    item : mapping, optional
        The dataset item; enables ``task``/``depth`` omission and ``item.prompt`` refs.

    Returns
    -------
    dict
        A line object for which ``expand_record(line, parent, item) == rec``.
    """
    key = str(rec["key"])
    out: dict[str, Any] = {"v": CALL_LOG_VERSION, "key": key}
    coords = key_coordinates(key) or {}
    skip = set(_FIXED)
    for k in _COORDS:
        if k in rec and coords.get(k, _MISSING) == rec[k] and type(coords.get(k)) is type(rec[k]):
            skip.add(k)
    if item is not None:
        for k in _ITEM_FIELDS:
            if k in rec and item.get(k, _MISSING) == rec[k]:
                skip.add(k)
    body = {k: v for k, v in rec.items() if k not in skip}
    par = rec.get("parent")
    if par is not None:
        prefix = _unit_prefix(key)
        out["parent"] = par[len(prefix) - 1:] if isinstance(par, str) and par.startswith(prefix) else par
    elif "parent" in rec:
        out["parent"] = None
    sources: list[tuple[str, str]] = []
    if item is not None and isinstance(item.get("prompt"), str):
        sources.append(("item.prompt", item["prompt"]))
    if parent is not None and parent.get("key") == par:
        inherit = {k: v for k, v in parent.items() if k not in _FIXED and k not in _COORDS and k not in _ITEM_FIELDS}
        body = _delta(body, inherit)
        for field in ("text", "forced"):
            if isinstance(parent.get(field), str) and len(parent[field]) >= _MIN_REF:
                sources.append((f"parent.{field}", parent[field]))
        _string_leaves(parent.get("request"), "parent.request", sources)
    if isinstance(body.get("request"), dict):
        body["request"] = _splice_request(body["request"], sources)
    out.update(body)
    return out


# ------------------------------------------------------------------------------ reading
def _resolve(path: str, parent: Mapping[str, Any] | None, item: Mapping[str, Any] | None) -> Any:
    head, _, rest = path.partition(".")
    obj: Any = {"parent": parent, "item": item}.get(head)
    for part in rest.split("."):
        if isinstance(obj, list) and _NUMBER(part) and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, Mapping) and part in obj:
            obj = obj[part]
        else:
            return _MISSING
    return obj if isinstance(obj, str) else _MISSING


def _unsplice(obj: Any, parent: Mapping[str, Any] | None, item: Mapping[str, Any] | None) -> Any:
    if isinstance(obj, dict):
        if "$cat" in obj and isinstance(obj["$cat"], list):
            parts = []
            for piece in obj["$cat"]:
                if isinstance(piece, str):
                    parts.append(piece)
                    continue
                ref = piece.get("$ref") if isinstance(piece, dict) else None
                val = _resolve(ref, parent, item) if isinstance(ref, str) else _MISSING
                if val is _MISSING:
                    raise ValueError(f"unresolvable reference {ref!r}")
                parts.append(val)
            return "".join(parts)
        return {k: _unsplice(v, parent, item) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unsplice(v, parent, item) for v in obj]
    return obj


def _merge(base: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in base.items() if k not in delta.get("$drop", ())}
    for k, v in delta.items():
        if k == "$drop":
            continue
        b = out.get(k)
        if isinstance(v, dict) and isinstance(b, dict) and "$cat" not in v:
            out[k] = _merge(b, v)
        else:
            out[k] = v
    return out


def expand_record(line: Mapping[str, Any], parent: Mapping[str, Any] | None = None,
                  item: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full call record of one ``calls.jsonl`` line (old full lines pass unchanged).

    Parameters
    ----------
    line : mapping
        The parsed line.
    parent : mapping, optional
        The full record of the line's parent (needed when it has one).
    item : mapping, optional
        The dataset item: restores ``task`` and ``depth``, and ``request`` is rebuilt
        only when it is given.

    Raises
    ------
    ValueError
        A compact line with a malformed key, a parent that is not given, or a
        reference that does not resolve.
    """
    if line.get("v") != CALL_LOG_VERSION:
        return dict(line)
    key = line.get("key")
    coords = key_coordinates(key) if isinstance(key, str) else None
    if coords is None:
        raise ValueError(f"malformed call key {key!r}")
    par = _absolute_parent(key, line.get("parent"))
    rec: dict[str, Any] = {"key": key, **coords}
    if item is not None:
        rec.update({k: item.get(k) for k in _ITEM_FIELDS})
    rec["parent"] = par
    body = {k: v for k, v in line.items() if k not in _FIXED}
    if par is not None:
        if parent is None or parent.get("key") != par:
            raise ValueError(f"its parent {par!r} is not earlier in the log")
        inherit = {k: v for k, v in parent.items() if k not in _FIXED and k not in _COORDS and k not in _ITEM_FIELDS}
        body = _merge(inherit, body)
    if "request" in body and item is not None:
        body["request"] = _unsplice(body["request"], parent, item)
    rec.update(body)
    return rec


def read_calls(path: str | Path, items: Mapping[str, Mapping[str, Any]] | None = None,
               bad: list[BadLine] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, full record)`` for every call record of a ``calls.jsonl``.

    Corrupt or torn lines, non-objects, and compact lines that cannot be expanded (a
    missing parent, an unknown item for an ``item.prompt`` piece) are appended to
    ``bad`` and skipped; the children of a skipped line are skipped too. A key logged
    twice yields both lines; parents resolve to the first.

    Parameters
    ----------
    path : path-like
        The log.
    items : mapping, optional
        Dataset items by id (see the module docstring).
    bad : list of BadLine, optional
        Receives the skipped lines.
    """
    full: dict[str, dict[str, Any]] = {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                if bad is not None:
                    bad.append(BadLine(lineno, "torn last line" if not raw.endswith(b"\n") else f"invalid JSON ({e})"))
                continue
            if not isinstance(obj, dict):
                if bad is not None:
                    bad.append(BadLine(lineno, "not a JSON object"))
                continue
            if obj.get("v") == CALL_LOG_VERSION:
                key = obj.get("key")
                coords = key_coordinates(key) if isinstance(key, str) else None
                par = _absolute_parent(key, obj.get("parent")) if coords is not None else None
                item = items.get(coords["item_id"]) if (items is not None and coords) else None
                try:
                    rec = expand_record(obj, full.get(par) if isinstance(par, str) else None, item)
                except (ValueError, TypeError) as e:
                    if bad is not None:
                        bad.append(BadLine(lineno, f"compact call record: {e}"))
                    continue
            else:
                rec = obj
            k = rec.get("key")
            if isinstance(k, str) and k not in full:
                full[k] = rec
            yield lineno, rec


class CompactCallWriter:
    """Append full call records to ``calls.jsonl`` in the compact form.

    Parameters
    ----------
    log : JsonlAppender
        The open log.
    items : mapping
        Dataset items by id.
    known : mapping, optional
        Full records already in the log by key (the resume cache): parents of new calls.

    Notes
    -----
    The writer keeps the full record of every call it wrote until :meth:`forget` is
    called with the keys of a finished (item, strategy, budget), so memory stays
    bounded by the units in flight.
    """

    def __init__(self, log: JsonlAppender, items: Mapping[str, Mapping[str, Any]],
                 known: Mapping[str, Mapping[str, Any]] | None = None,
                 after: Callable[[], None] | None = None) -> None:
        self.log = log
        self.items = items
        self.known = known if known is not None else {}
        self._recent: dict[str, Mapping[str, Any]] = {}
        self._after = after

    def write(self, rec: Mapping[str, Any]) -> None:
        """Append one full record."""
        par = rec.get("parent")
        parent = (self._recent.get(par) or self.known.get(par)) if isinstance(par, str) else None
        self.log.write(compact_record(rec, parent, self.items.get(str(rec.get("item_id")))))
        self._recent[str(rec["key"])] = rec
        if self._after is not None:
            self._after()

    def forget(self, keys: Any) -> None:
        """Drop the kept records of these keys (their unit is finished)."""
        for k in keys or ():
            self._recent.pop(k, None)
