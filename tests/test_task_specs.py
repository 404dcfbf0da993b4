"""Task spec loader: schema validation, include: inheritance, frozen dataclass, error messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from depthbench.errors import UserError
from depthbench.generators import families, get_family
from depthbench.tasks import TaskSpec, list_specs, load_spec, spec_dir

TASKS = Path(spec_dir())


def test_every_bundled_spec_loads_and_names_a_registered_family():
    specs = list_specs()
    assert specs, "no bundled specs"
    fams = families()
    for s in specs:
        assert s.family in fams
        fam = get_family(s.family)
        assert max(s.depths) <= fam.max_depth(dict(s.params)), s.name
        assert {"test", "dev"} <= set(s.splits)
        assert "Answer:" in s.prompt_template and "{{ problem }}" in s.prompt_template
        assert s.answer_format.startswith("Answer: ")
        assert "depth" not in s.params


def test_default_graph_spec_values():
    s = load_spec("graph_connectivity")
    assert s.depths == (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
    assert dict(s.params) == {"kind": "random_branching", "num_nodes": 100}
    assert s.splits["test"].n_per_depth == 100
    assert s.scorer == "graph_connectivity"


def test_spec_is_frozen_and_hash_is_stable():
    s = load_spec("graph_connectivity")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.params["num_nodes"] = 3  # type: ignore[index]
    again = TaskSpec.from_dict(s.to_dict())
    assert again.sha256 == s.sha256 and again.to_dict() == s.to_dict()
    assert load_spec(TASKS / "graph_connectivity.yaml").sha256 == s.sha256


def test_include_merges_params_and_splits(tmp_path):
    (tmp_path / "parent.yaml").write_text(
        f"include: {TASKS / 'graph_connectivity.yaml'}\nname: parent\nparams: {{num_nodes: 60}}\n"
        "splits: {dev: {n_per_depth: 2, seed: 9}}\n")
    (tmp_path / "child.yaml").write_text("include: parent.yaml\nname: child\ndepths: [1, 5]\n")
    s = load_spec(tmp_path / "child.yaml")
    assert s.name == "child" and s.depths == (1, 5)
    assert dict(s.params) == {"kind": "random_branching", "num_nodes": 60}  # merged key by key
    assert s.splits["dev"].seed == 9 and s.splits["test"].n_per_depth == 100  # base.yaml's test kept
    assert s.prompt_template == load_spec("graph_connectivity").prompt_template


@pytest.mark.parametrize(("text", "needles"), [
    ("name: x\nfamily: graph_connectivity\nparams: {depth: 3}\n", [":3:", "field params", "schema path properties/params/not"]),
    ("name: X-bad\n", [":1:", "field name", "properties/name/pattern"]),
    ("name: x\nsplits:\n  test: {n_per_depth: 0, seed: 1}\n", [":3:", "field splits/test/n_per_depth", "minimum"]),
    ("name: x\nsurprise: 1\n", ["Additional properties", "schema path additionalProperties"]),
    ("name: x\nprompt_template: 'no answer line {{ problem }}'\n", [":2:", "field prompt_template"]),
    ("name: x\nfamily: graph_connectivity\n", ["missing field(s)", "description"]),
    ("include: nothere.yaml\nname: x\n", [":1:", "include: file 'nothere.yaml' not found"]),
    ("- just\n- a list\n", ["(top level)", "is not of type 'object'"]),
])
def test_malformed_specs_raise_user_error_with_file_line_and_path(tmp_path, text, needles):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as ei:
        load_spec(p)
    msg = str(ei.value)
    assert str(p) in msg and "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


def test_include_cycle_is_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("include: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\nname: b\n")
    with pytest.raises(UserError, match="include: cycle"):
        load_spec(tmp_path / "a.yaml")


def test_abstract_fragment_is_not_a_task():
    assert "base" not in {s.name for s in list_specs()}
    with pytest.raises(UserError, match="abstract"):
        load_spec(TASKS / "base.yaml")


def test_unknown_name_lists_choices():
    with pytest.raises(UserError, match="choose one of .*graph_connectivity"):
        load_spec("nope")
    with pytest.raises(UserError, match="not found"):
        load_spec("missing.yaml")
