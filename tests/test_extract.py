"""Answer extraction: the JSON case table plus properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depthbench.scorers import Extraction, extract, normalize_answer

CASES_FILE = Path(__file__).resolve().parents[1] / "scorers" / "cases" / "extraction_cases.json"
CASES = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]


def test_case_table_is_large_and_ids_unique():
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 60
    assert len(ids) == len(set(ids))
    assert {c["answer_type"] for c in CASES} == {"choice", "integer", "plan"}
    assert {c["expected"]["parse_status"] for c in CASES} == {"ok", "no_answer", "malformed", "truncated"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_extraction_case(case):
    got = extract(case["text"], case["answer_type"], case["answer_space"], finish_reason=case["finish_reason"],
                  think_open=case.get("think_open", False), reasoning_end=case.get("reasoning_end"))
    exp = case["expected"]
    assert got == Extraction(exp["answer"], exp["parse_status"]), case.get("note", "")
    if got.answer is not None:
        assert isinstance(got.answer, int if case["answer_type"] == "integer" else str)


def test_unknown_answer_type_raises():
    with pytest.raises(ValueError, match="answer_type"):
        extract("Answer: 1", "float", {})


def test_none_text_is_no_answer():
    assert extract(None, "integer", {"modulus": 5}) == Extraction(None, "no_answer")


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(max_size=200), value=st.integers(min_value=0, max_value=10**6))
def test_integer_answer_line_always_wins_when_last(prefix, value):
    # whatever reasoning precedes, a final well-formed Answer line is read exactly
    got = extract(prefix + "\nAnswer: " + str(value) + "\n", "integer", {"modulus": 1_000_003})
    assert got == Extraction(value, "ok")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), at=st.sampled_from(["choice", "integer", "plan"]),
       fr=st.sampled_from([None, "stop", "length", "error"]))
def test_never_crashes_and_status_is_valid(text, at, fr):
    space = {"choice": {"labels": ["3", "11"]}, "integer": {"modulus": 13}, "plan": {"moves": "UDLR"}}[at]
    got = extract(text, at, space, finish_reason=fr)
    assert got.parse_status in ("ok", "no_answer", "malformed", "truncated")
    assert (got.answer is None) == (got.parse_status != "ok")
    if at == "integer" and got.answer is not None:
        assert 0 <= got.answer < 13
    if at == "choice" and got.answer is not None:
        assert got.answer in ("3", "11")
    if at == "plan" and got.answer is not None:
        assert got.answer and set(got.answer) <= set("UDLR")


@settings(max_examples=100, deadline=None)
@given(plan=st.text(alphabet="UDLR", min_size=1, max_size=40), sep=st.sampled_from(["", " ", ", ", "-", " -> "]),
       lower=st.booleans())
def test_plan_separators_roundtrip(plan, sep, lower):
    s = sep.join(plan)
    if lower:
        s = s.lower()
    assert extract("Answer: " + s, "plan", {"moves": "UDLR"}) == Extraction(plan, "ok")


def test_normalize_answer_json_values():
    assert normalize_answer(12, "integer", {"modulus": 5}) == 2
    assert normalize_answer(3.0, "integer", {}) == 3
    assert normalize_answer(3.5, "integer", {}) is None
    assert normalize_answer(True, "integer", {}) is None
    assert normalize_answer(["up", "L"], "plan", {}) == "UL"
    assert normalize_answer(["17"], "choice", {"labels": ["17"]}) is None


@pytest.mark.parametrize("junk", [" " * 50_000, "*" * 50_000, "(" * 20_000, "answer " * 5_000, "Answer:" * 5_000])
def test_degenerate_long_text_is_fast(junk):
    import time

    t0 = time.process_time()
    for at, space in (("integer", {"modulus": 7}), ("plan", {}), ("choice", {"labels": ["1", "2"]})):
        extract(junk + "\nAnswer: 1", at, space)
        extract(junk, at, space, finish_reason="length")
    assert time.process_time() - t0 < 1.0


def test_case_table_covers_truncation_and_bracket_variants():
    # every answer type has a cut-while-re-checking case and a copied-placeholder case
    for at in ("choice", "integer", "plan"):
        assert any(c["answer_type"] == at and c["finish_reason"] == "length" and c["expected"]["parse_status"] == "truncated"
                   and "Answer:" in c["text"] for c in CASES), at
        assert any(c["answer_type"] == at and "<" in c["text"] and c["expected"]["parse_status"] == "ok"
                   and "think" not in c["text"] for c in CASES), at
    assert any(c.get("think_open") for c in CASES)


@settings(max_examples=200, deadline=None)
@given(reasoning=st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=200),
       after=st.text(alphabet="abc xyz=+", min_size=1, max_size=40).filter(lambda s: s.strip()),
       value=st.integers(min_value=0, max_value=96))
def test_cut_response_never_credits_an_answer_followed_by_reasoning(reasoning, after, value):
    text = reasoning + "\nAnswer: " + str(value) + "\n" + after
    assert extract(text, "integer", {"modulus": 97}, finish_reason="length").parse_status == "truncated"
    # the same answer as the final line is read
    assert extract(text + "\nAnswer: " + str(value), "integer", {"modulus": 97},
                   finish_reason="length") == Extraction(value, "ok")
