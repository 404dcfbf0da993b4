"""Every ``pattern`` of every JSON Schema depthbench ships or builds means the same in
ECMA-262 (the JSON Schema dialect) and in Python's ``re`` (what jsonschema runs).

The rule (docs/ARCHITECTURE.md, "Schema patterns"): a pattern that constrains a whole value is
``^...$(?![\\s\\S])``. Python's ``$`` also matches before a trailing newline, so ``^[0-9]+$``
accepts ``'5\\n'``; the lookahead ``(?![\\s\\S])`` (no character follows) closes that in Python
and is a no-op in ECMA, where ``$`` is the end already. ``\\Z`` / ``\\z`` / ``\\A`` are not ECMA,
and ``\\d`` / ``\\w`` / ``\\b`` are ASCII in ECMA but Unicode in Python, so none appears. The test
walks the schemas as the code loads them (enums filled in), so a pattern added later is
checked too: a whole-value pattern gets generated valid values, each accepted, each with a
trailing newline (and other trailing/leading whitespace) refused.
"""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depthbench.analysis._results import load_results_schema
from depthbench.leaderboard._submission import load_schema as load_submission_schema
from depthbench.tasks._spec import _schema as load_task_spec_schema

END = r"$(?![\s\S])"

#: patterns that search a value (no end anchor by design): (pattern, why)
SEARCH_PATTERNS = {
    "Answer:": "a prompt contains the answer line; any text may follow it",
    "^Answer: ": "answer_format starts with 'Answer: ' (the placeholder follows)",
    r"\{\{\s*problem\s*\}\}[\s\S]*Answer:|Answer:[\s\S]*\{\{\s*problem\s*\}\}":
        "prompt_template contains {{ problem }} and Answer:, in either order",
}


def _patterns(obj, where=""):
    """Every (location, regex) of a schema: ``pattern`` values and ``patternProperties`` keys."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "pattern" and isinstance(v, str):
                yield where, v
            elif k == "patternProperties" and isinstance(v, dict):
                for p, sub in v.items():
                    yield f"{where}/patternProperties", p
                    yield from _patterns(sub, f"{where}/patternProperties/{p}")
            else:
                yield from _patterns(v, f"{where}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _patterns(v, f"{where}/{i}")


def _all_schemas():
    root = resources.files("depthbench.schemas")
    out = {p.name: json.loads(p.read_text("utf-8")) for p in root.iterdir() if p.name.endswith(".schema.json")}
    # the schemas the code builds (enums filled from the registries) are walked as well
    out["submission (load_schema)"] = load_submission_schema()
    out["results (load_results_schema)"] = load_results_schema()
    out["task_spec (_spec._schema)"] = load_task_spec_schema()
    return out


ALL = sorted({(name, where, p) for name, s in _all_schemas().items() for where, p in _patterns(s)})
WHOLE = sorted({p for _, _, p in ALL if p not in SEARCH_PATTERNS})


def test_the_walk_finds_the_schemas_patterns():
    names = {name for name, _, _ in ALL}
    assert {"item.schema.json", "item_decoded.schema.json", "prompt_item.schema.json", "submission.schema.json",
            "task_spec.schema.json", "submission (load_schema)"} <= names
    assert len(ALL) >= 40 and len(WHOLE) >= 9


@pytest.mark.parametrize("name,where,pattern", ALL)
def test_every_pattern_follows_the_rule(name, where, pattern):
    if pattern in SEARCH_PATTERNS:
        assert "$" not in pattern
        return
    assert pattern.startswith("^") and pattern.endswith(END), \
        f"{name} {where}: a whole-value pattern is ^...$(?![\\s\\S]), got {pattern!r}"
    body = pattern[1:-len(END)]
    assert "$" not in body and "^" not in body.replace("[^", ""), f"{name} {where}: one ^ and one $ only"
    for esc in (r"\Z", r"\z", r"\A", r"\d", r"\D", r"\w", r"\W", r"\b", r"\B"):
        assert esc not in pattern, f"{name} {where}: {esc} differs between ECMA-262 and Python; spell the class"


def _check(pattern):
    return jsonschema.Draft202012Validator({"type": "string", "pattern": pattern})


@pytest.mark.parametrize("pattern", WHOLE)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_valid_value_with_trailing_whitespace_is_refused(pattern, data):
    body = pattern[1:-len(END)]
    value = data.draw(st.from_regex(re.compile(body), fullmatch=True), label="valid value")
    v = _check(pattern)
    assert v.is_valid(value), (pattern, value)
    for bad in (value + "\n", value + "\r\n", value + " ", "\n" + value, value + "\n\n"):
        assert not v.is_valid(bad), (pattern, bad)


@pytest.mark.parametrize("pattern,good,bad", [
    # the values the issue named (an integer answer '5\n'; a hash with a newline), by hand
    ("^(0|[1-9][0-9]*)" + END, "5", "5\n"),
    ("^[0-9a-f]{64}" + END, "a" * 64, "a" * 64 + "\n"),
    ("^[0-9]{4}-[0-9]{2}-[0-9]{2}" + END, "2026-12-02", "2026-12-02\n"),
    ("^[a-z][a-z0-9_]*" + END, "graph_connectivity", "graph_connectivity\n"),
    ("^[UDLR]*" + END, "", "\n"),
])
def test_named_cases(pattern, good, bad):
    assert pattern in WHOLE
    assert _check(pattern).is_valid(good) and not _check(pattern).is_valid(bad)
    # without the lookahead, Python's $ lets the newline through: the case this rule closes
    assert _check(pattern[:-len(END)] + "$").is_valid(bad)


# ----------------------------------------------------------------------------- hand-written checks
# The same class in code: checks of self-reported text take plain ASCII digits and the whole value
# (re.fullmatch on [0-9]), never str.isdigit() / int() alone, which also take '5\n', ' 5', '5_0',
# '\u0665' (Arabic-Indic 5, read as 5) and '\u00b2' (superscript 2: isdigit() is True, int() raises).

NUMERAL_VARIANTS = ["5\n", " 5", "5 ", "05", "5_0", "+5", "\u0665", "\u00b2", "", "5\r\n"]


def _record(answer):
    from depthbench.tasks import build_items
    from depthbench.tasks._record import item_record
    item = build_items("multihop_arithmetic", "dev", depths=[1], n=1)[0]
    rec = item_record(item)
    rec["answer"] = answer
    return rec


def test_a_records_integer_answer_is_plain_digits():
    from depthbench.tasks._record import item_from_record
    assert item_from_record(_record("5"))["answer"] == 5 and item_from_record(_record("0"))["answer"] == 0
    for bad in NUMERAL_VARIANTS:
        with pytest.raises(ValueError, match="column answer .* plain digits"):
            item_from_record(_record(bad))


def test_a_dataset_line_with_a_trailing_newline_in_its_answer_is_refused(tmp_path):
    from depthbench.errors import UserError
    from depthbench.tasks import load_dataset
    f = tmp_path / "dev.jsonl"
    f.write_text(json.dumps(_record("5\n")) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"line 1: column answer '5\\n' is not a decimal integer"):
        load_dataset(f)


@pytest.mark.parametrize("bad", ["\u0661", "01", "1\n", "\u00b2", " 1"])
def test_a_call_key_takes_plain_digits(bad):
    from depthbench.baselines._calllog import key_coordinates
    assert key_coordinates("t/d/s0/d1/0|single|256|s1|r0|chain")["sample"] == 1
    assert key_coordinates(f"t/d/s0/d1/0|single|256|s{bad}|r0|chain") is None
    assert key_coordinates(f"t/d/s0/d1/0|single|{bad}|s1|r0|chain") is None


@pytest.mark.parametrize("bad", ["\u0663", "03", "\u00b2", " 3"])
def test_a_strategy_count_takes_plain_digits(bad):
    from depthbench.baselines.strategies import parse
    from depthbench.errors import UserError
    assert parse("evolve@3") is not None
    with pytest.raises(UserError, match="plain digits"):
        parse(f"evolve@{bad}")


@pytest.mark.parametrize("bad", ["\u00b2", "\u0661"])
def test_cli_numbers_take_plain_digits(bad):
    from depthbench.baselines._runner import parse_budgets
    from depthbench.baselines._shard import parse_shard
    from depthbench.errors import UserError
    assert parse_budgets("256,1024") == [256, 1024]
    with pytest.raises(UserError, match="--budget"):
        parse_budgets(f"256,{bad}")
    with pytest.raises(UserError):
        parse_shard(f"{bad}/2")


@pytest.mark.parametrize("bad", ["org/model\u2028", "org/model\x85", "org/model\n"])
def test_a_name_with_a_line_break_is_refused(bad):
    from depthbench.leaderboard._safety import name_problems
    assert name_problems("model", "org/model") == []
    assert any("control characters" in p for p in name_problems("model", bad))
