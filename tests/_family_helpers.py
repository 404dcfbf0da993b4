"""Shared by the family test files: items built through ``build_items`` and checked."""

from __future__ import annotations

import json
from importlib import resources
from types import ModuleType
from typing import Any

import pytest


def built_items(family: ModuleType, task: str, depths: list[int], n: int) -> list[dict[str, Any]]:
    """The ``dev`` items of ``task``; each valid against the item schema, its prompt stating
    the whole instance (``family.parse_prompt``) and its gold answer verifying."""
    jsonschema = pytest.importorskip("jsonschema")
    from depthbench.generators import build_items
    from depthbench.scorers import verify

    from depthbench.generators import item_record

    schema = json.loads((resources.files("depthbench.schemas") / "item_decoded.schema.json").read_text())
    record_schema = json.loads((resources.files("depthbench.schemas") / "item.schema.json").read_text())
    items = build_items(task, "dev", depths=depths, n=n)
    for it in items:
        jsonschema.validate(it, schema)
        jsonschema.validate(item_record(it), record_schema)
        assert family.parse_prompt(it["prompt"]) == it["instance"]
        assert verify(it, it["answer"])
    return items
