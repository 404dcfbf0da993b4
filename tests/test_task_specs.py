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
    assert "scorer" not in s.to_dict()


def test_a_scorer_field_is_refused_with_the_fix(tmp_path):
    p = tmp_path / "old.yaml"
    p.write_text(f"include: {TASKS / 'graph_connectivity.yaml'}\nname: old\nscorer: graph_connectivity\n")
    with pytest.raises(UserError, match=r"old.yaml:3: field scorer: no longer used .*Family.verify.*delete the line"):
        load_spec(p)


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


def _custom(tmp_path, extra):
    p = tmp_path / "custom.yaml"
    p.write_text(f"include: {TASKS / 'graph_connectivity.yaml'}\nname: custom\n{extra}")
    return p


@pytest.mark.parametrize(("extra", "needle"), [
    ("params: {num_nodes: -4}\n", "params.num_nodes: must be an even integer >= 4"),
    ("params: {num_nodes: abc}\n", "params.num_nodes: must be an integer, got 'abc'"),
    ("params: {kind: weird}\n", "params.kind: must be one of two_paths, bridge, random_branching, got 'weird'"),
    ("params: {colour: red}\n", "params.colour: not a parameter of family graph_connectivity; valid params: num_nodes, kind"),
])
def test_bad_params_name_the_param_at_load(tmp_path, extra, needle):
    p = _custom(tmp_path, extra)
    with pytest.raises(UserError) as ei:
        load_spec(p)
    msg = str(ei.value)
    assert needle in msg and str(p) in msg and "\n" not in msg and "depth" not in msg


@pytest.mark.parametrize(("params", "needle"), [
    ({"num_nodes": -4, "kind": "random_branching"}, "params.num_nodes:"),
    ({"num_nodes": 100, "kind": "weird"}, "params.kind:"),
    ({"num_nodes": 100, "kind": "random_branching", "colour": "red"}, "params.colour: not a parameter"),
])
def test_bad_params_of_a_hand_made_spec_name_the_param_in_build_items(params, needle):
    from depthbench.tasks import build_items

    spec = dataclasses.replace(load_spec("graph_connectivity"), params=params)
    with pytest.raises(UserError, match=needle.replace(".", r"\.")) as ei:
        build_items(spec, "test", depths=[1], n=1)
    assert "does not fit" not in str(ei.value)


def test_size_too_small_for_any_depth_is_still_a_depth_error(tmp_path):
    from depthbench.tasks import build_items

    s = load_spec(_custom(tmp_path, "params: {kind: bridge, num_nodes: 4}\n"))  # valid params, max depth 0
    with pytest.raises(UserError, match="depth 1 does not fit"):
        build_items(s, "test", depths=[1], n=1)


def test_template_syntax_error_names_file_field_and_line(tmp_path):
    p = _custom(tmp_path, "prompt_template: |-\n  Solve.\n  {{ problem }}\n  {{ foo( }}\n  Answer: <label>\n")
    with pytest.raises(UserError) as ei:
        load_spec(p)
    msg = str(ei.value)
    assert f"{p}:6: field prompt_template: Jinja2 syntax error at template line 3" in msg and "\n" not in msg
    data = load_spec("graph_connectivity").to_dict()
    data["prompt_template"] = "{{ problem }}\n{% if %}\nAnswer:"
    with pytest.raises(UserError, match="field prompt_template: Jinja2 syntax error at template line 2"):
        TaskSpec.from_dict(data)


def test_template_undefined_variable_is_named(tmp_path):
    p = _custom(tmp_path, "prompt_template: 'x {{ problem }} {{ nope }} Answer:'\n")
    with pytest.raises(UserError, match=r":3: field prompt_template: undefined variable 'nope'"):
        load_spec(p)
    # undefined attributes only show when rendering: still a UserError naming the name
    from depthbench.tasks import build_items

    data = load_spec("graph_connectivity").to_dict()
    data["prompt_template"] = "{{ problem }} {{ answer_space.nope }} Answer:"
    with pytest.raises(UserError, match="prompt_template: 'dict object' has no attribute 'nope'"):
        build_items(TaskSpec.from_dict(data), "test", depths=[1], n=1)


def test_template_in_included_file_reports_that_file(tmp_path):
    (tmp_path / "parent.yaml").write_text(
        f"include: {TASKS / 'graph_connectivity.yaml'}\nname: parent\n"
        "prompt_template: |-\n  {{ problem }}\n  {{ oops( }}\n  Answer:\n")
    (tmp_path / "child.yaml").write_text("include: parent.yaml\nname: child\n")
    with pytest.raises(UserError, match=rf"{tmp_path / 'parent.yaml'}:5: field prompt_template"):
        load_spec(tmp_path / "child.yaml")
