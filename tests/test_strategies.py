"""Reference strategies: orchestration (scripted model) and the three regimes (simulated reasoner).

The regime tests run ``depthbench eval``'s runner with the simulated reasoner on generated
items and judge every claim with the scorers' paired comparison
(:func:`depthbench.scorers.compare_strategies`: exact paired TOST with margin 0.05 and an
exact test of a difference, Holm across depths, Tango score intervals), never with
hand-picked accuracy thresholds.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from depthbench.baselines._context import CallContext
from depthbench.baselines._protocol import Capabilities, Choice, Response
from depthbench.baselines._runner import EvalConfig, run_eval
from depthbench.baselines.strategies import parse
from depthbench.baselines.strategies.best_of import judge_score
from depthbench.io import read_jsonl
from depthbench.scorers import compare_strategies
from depthbench.tasks import build_items


# --------------------------------------------------------------------------- scripted model
class Scripted:
    """Replies from a function of the request; counts a token per word; records requests."""

    name = "scripted"

    def __init__(self, reply, caps=Capabilities(chat=True, completions=False, assistant_prefix=True)):
        self.reply = reply
        self.capabilities = caps
        self.requests = []

    async def generate(self, request):
        self.requests.append(request)
        choices = []
        for s in request.seeds:
            text, finish = self.reply(request)
            words = text.split()
            if len(words) > request.max_tokens:
                text, finish = " ".join(words[: request.max_tokens]), "length"
            choices.append(Choice(text, finish, len(text.split()), "tokenizer", s))
        return Response(tuple(choices), prompt_tokens=20, prompt_token_source="tokenizer", latency_s=0.0)

    async def aclose(self):
        pass


@pytest.fixture(scope="module")
def item():
    return build_items("graph_connectivity", "test", depths=[3], n=1)[0]


def _run(name, item, budget, model, seed=0):
    s = parse(name)
    ctx = CallContext(item, s.name, budget, model, run_seed=seed)
    out = asyncio.run(s.run(item, ctx))
    # final_answer is a pure function of the logged calls
    assert s.final_answer(ctx.records, item)[:2] == (out["final_answer"], out["credit"])
    return out, ctx


def test_budget_forcing_appends_wait_until_the_budget_is_used(item):
    gold = item["answer"]
    model = Scripted(lambda r: (f"think think Answer: {gold}", "stop"))
    out, ctx = _run("budget_forcing", item, 60, model)
    roles = [c["role"] for c in ctx.records]
    assert roles[0] == "answer" and roles.count("continue") >= 3
    assert all(c["forced"] == "\nWait," for c in ctx.records[1:])
    assert model.requests[1].assistant_prefix.endswith("\nWait,")
    assert out["generated_tokens"] <= 60 and out["final_answer"] == gold
    # parents chain each continuation to the segment before it
    assert [c["parent"] for c in ctx.records[1:]] == [c["key"] for c in ctx.records[:-1]]
    assert out["generated_tokens"] == sum(c["usage"]["completion_tokens"] + c["usage"]["forced_tokens"]
                                          for c in ctx.records)


def test_budget_forcing_cap_forces_the_answer_and_charges_it(item):
    gold = item["answer"]

    def reply(r):
        if r.assistant_prefix and r.assistant_prefix.endswith("Answer:"):
            return f" {gold}", "stop"
        return "step " * 500, "stop"

    out, ctx = _run("budget_forcing:cap", item, 100, Scripted(reply))
    assert [c["role"] for c in ctx.records] == ["answer", "force_answer"]
    assert ctx.records[0]["finish_reason"] == "length"
    assert ctx.records[1]["usage"]["forced_tokens"] == 3
    assert out["final_answer"] == gold and out["generated_tokens"] <= 100


def test_budget_forcing_wait_cap_is_a_parameter_and_recorded(item):
    from depthbench.errors import UserError

    assert parse("budget_forcing").max_waits == 32 and parse("budget_forcing:max_waits=32").name == "budget_forcing"
    assert parse("budget_forcing:max_waits=3").name == "budget_forcing:max_waits=3"
    for bad in ("budget_forcing:max_waits=0", "budget_forcing:max_waits=x", "budget_forcing:waits=3"):
        with pytest.raises(UserError, match="^--strategy"):
            parse(bad)
    model = Scripted(lambda r: ("Answer: 1", "stop"))
    out, ctx = _run("budget_forcing:max_waits=3", item, 1000, model)
    assert [c["role"] for c in ctx.records].count("continue") == 3
    assert out["meta"]["stopped"] == "max_waits" and out["meta"]["max_waits"] == 3 and out["generated_tokens"] < 100
    # a small budget ends the chain before the Wait cap
    out, _ = _run("budget_forcing:max_waits=3", item, 24, model)
    assert out["meta"]["stopped"] == "budget" and out["meta"]["waits"] < 3
    # cap mode appends no Wait; the model stopped on its own
    out, ctx = _run("budget_forcing:cap", item, 1000, model)
    assert [c["role"] for c in ctx.records] == ["answer"] and out["meta"]["stopped"] == "model"


def test_budget_forcing_never_continues_in_a_new_user_turn(item):
    """Wait mode needs a backend that continues the assistant turn (eval refuses it up front;
    the strategy refuses too); cap mode there asks for the answer in a new, labelled user turn."""
    from depthbench.baselines.strategies.budget_forcing import FORCE_ANSWER_INSTRUCTION
    from depthbench.errors import UserError

    caps = Capabilities(chat=True, completions=False, assistant_prefix=False)
    model = Scripted(lambda r: ("Answer: 1", "stop"), caps)
    with pytest.raises(UserError, match="budget_forcing:cap or revision"):
        _run("budget_forcing", item, 40, model)
    assert len(model.requests) == 1  # the first segment only; no continuation was sent as a user turn
    model = Scripted(lambda r: ("step " * 500, "length") if len(r.messages) == 1 else ("Answer: 1", "stop"), caps)
    out, ctx = _run("budget_forcing:cap", item, 100, model)
    assert [c["role"] for c in ctx.records] == ["answer", "force_answer"]
    assert ctx.records[1]["continuation"] == "user_turn" and ctx.records[1]["forced"] == ""
    assert model.requests[1].assistant_prefix is None
    assert [m["role"] for m in model.requests[1].messages] == ["user", "assistant", "user"]
    assert model.requests[1].messages[-1]["content"] == FORCE_ANSWER_INSTRUCTION
    assert out["final_answer"] == "1" or out["final_answer"] is None


def test_revision_sees_earlier_attempts_and_splits_the_budget(item):
    model = Scripted(lambda r: (f"attempt {len(r.messages)} Answer: 7", "stop"))
    out, ctx = _run("revision@3", item, 90, model)
    assert [len(r.messages) for r in model.requests] == [1, 3, 5]
    assert all(r.max_tokens == 30 for r in model.requests)
    assert [c["role"] for c in ctx.records] == ["answer", "revise", "revise"]
    assert ctx.records[2]["parent"] == ctx.records[1]["key"]


def test_majority_static_split_and_pooled(item):
    model = Scripted(lambda r: ("a b Answer: 5", "stop"))
    out, ctx = _run("majority@4", item, 100, model)
    assert len(ctx.records) == 4 and model.requests[0].max_tokens == 25 and model.requests[0].n == 4
    assert len(set(model.requests[0].seeds)) == 4
    out, ctx = _run("majority@4:pooled", item, 100, Scripted(lambda r: ("a b Answer: 5", "stop")))
    assert len(ctx.records) > 4 and out["generated_tokens"] <= 100  # unused tokens bought more votes


def test_best_of_self_charges_the_judge(item):
    gold = item["answer"]

    def reply(r):
        if r.messages[-1]["content"].startswith("Here is a proposed solution"):
            return "looks fine Verdict: yes", "stop"
        return f"x Answer: {gold}", "stop"

    out, ctx = _run("best_of@3:self", item, 120, Scripted(reply))
    judges = [c for c in ctx.records if c["role"] == "judge"]
    assert len(judges) == 3 and all(j["score"] == 1.0 and j["target"] == j["parent"] for j in judges)
    assert out["generated_tokens"] == sum(c["usage"]["completion_tokens"] for c in ctx.records) <= 120
    assert out["final_answer"] == gold and out["meta"]["chosen"] in {c["key"] for c in ctx.records}
    assert judge_score("no wait. Verdict: no") == 0.0 and judge_score("hmm") == 0.5


def test_oracle_and_pass_are_labelled_bounds():
    assert parse("best_of@4:oracle").kind == parse("pass@4").kind == "bound"
    assert parse("best_of@4:trace").kind == "parallel" and parse("ratio@1x4").kind == "sequential"


def test_noisy_verifier_is_seeded(item):
    labels = item["meta"]["answer_space"]["labels"]
    model = Scripted(lambda r: (f"Answer: {labels[r.seeds[0] % 2]}", "stop"))
    a, _ = _run("best_of@6:noisy:0.7,0.3", item, 120, model, seed=1)
    b, _ = _run("best_of@6:noisy:0.7,0.3", item, 120, Scripted(model.reply), seed=1)
    assert a["meta"]["scores"] == b["meta"]["scores"] and a["final_answer"] == b["final_answer"]


# --------------------------------------------------------------------------- regimes
def _eval(tmp_path: Path, name: str, task: str, depths, n, model, strategies, budget):
    items = build_items(task, "test", depths=depths, n=n)
    data = tmp_path / f"{name}.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    out = tmp_path / name
    run_eval(EvalConfig(model=model, strategies=[",".join(strategies)], budgets=[budget], out=str(out),
                        data=str(data), seed=11, concurrency=16, progress=False, fsync=False))
    return list(read_jsonl(out / "outcomes.jsonl"))


def test_shallow_no_drift_majority_and_revision_are_equivalent(tmp_path):
    outs = _eval(tmp_path, "shallow", "multihop_arithmetic", [1, 2], 150,
                 "simulated:eps=0.005,tokens_per_step=10,drift=0", ["majority@4", "revision@4"], 256)
    rows, brk = compare_strategies(outs, "majority@4", "revision@4", budget=256, margin=0.05, n_boot=500)
    assert [r["verdict"] for r in rows] == ["equivalent", "equivalent"], rows
    assert brk["breakpoint_depth"] is None


def test_deep_graphs_favour_one_long_chain_and_the_gap_grows(tmp_path):
    outs = _eval(tmp_path, "deep", "graph_connectivity", [2, 4, 8], 60,
                 "simulated:eps=0.01,tokens_per_step=12,drift=0", ["single", "budget_forcing", "majority@4"], 200)
    for seq in ("single", "budget_forcing"):
        rows, _ = compare_strategies(outs, "majority@4", seq, budget=200, margin=0.05, n_boot=500)
        assert [r["depth"] for r in rows] == [2, 4, 8]
        assert rows[0]["verdict"] != "b_better", rows[0]
        assert rows[-1]["verdict"] == "b_better", rows[-1]      # sequential better at depth 8
        # the gap grows: the deep interval lies wholly below the shallow one
        assert rows[-1]["ci95_hi"] < rows[0]["ci95_lo"], rows


def test_drift_makes_majority_beat_budget_forcing(tmp_path):
    outs = _eval(tmp_path, "drift", "graph_connectivity", [3], 60,
                 "simulated:eps=0.01,tokens_per_step=10,drift=0.003", ["majority@4", "budget_forcing"], 512)
    rows, _ = compare_strategies(outs, "majority@4", "budget_forcing", budget=512, margin=0.05, n_boot=500)
    assert rows[0]["verdict"] == "a_better", rows  # parallel better


# --------------------------------------------------------------------------- rules the mutation check guards
def _candidates(item, n, right_every=2):
    """``n`` answer call records, every ``right_every``-th one right."""
    labels = item["meta"]["answer_space"]["labels"]
    wrong = next(x for x in labels if x != item["answer"])
    return [{"key": f"{item['id']}|best_of@{n}:noisy|64|s{i}|r0|answer", "sample": i, "round": 0, "role": "answer",
             "text": "", "extracted": item["answer"] if i % right_every == 0 else wrong} for i in range(n)]


@pytest.mark.parametrize("tpr,fpr", [(0.9, 0.2), (0.6, 0.05)])
def test_noisy_verifier_accepts_right_answers_at_tpr_and_wrong_ones_at_fpr(item, tpr, fpr):
    n = 4000
    calls = _candidates(item, n)
    s = parse(f"best_of@{n}:noisy:{tpr:g},{fpr:g}")
    scores = s.scores(calls, item, run_seed=3)
    right = [scores[c["key"]] for c in calls if c["extracted"] == item["answer"]]
    wrong = [scores[c["key"]] for c in calls if c["extracted"] != item["answer"]]
    for observed, want, k in ((sum(right) / len(right), tpr, len(right)), (sum(wrong) / len(wrong), fpr, len(wrong))):
        se = (want * (1 - want) / k) ** 0.5
        assert abs(observed - want) < 4 * se, (observed, want)


def test_adaptive_gives_an_uncertain_item_at_most_four_budgets_extra():
    items = build_items("graph_connectivity", "test", depths=[2], n=8)
    unsure = items[0]["id"]

    turns = iter(range(10**6))

    def reply(r):
        labels = r.item["meta"]["answer_space"]["labels"]
        ans = labels[next(turns) % 2] if r.item["id"] == unsure else r.item["answer"]  # disagreeing pilots
        return f"so Answer: {ans}", "stop"

    model = Scripted(reply)
    strategy, budget = parse("adaptive@4"), 64
    outs = []
    asyncio.run(strategy.run_dataset(items, lambda it: CallContext(it, strategy.name, budget, model, run_seed=0),
                                     outs.append))
    by_id = {o["item_id"]: o for o in outs}
    pilot = sum(int(k.endswith("|pilot")) for k in by_id[unsure]["calls"])
    assert pilot == strategy.pilots
    # the pool (8 items x 64 minus every pilot) is far above 4B, so the cap binds: exactly 4B extra
    allocated = by_id[unsure]["meta"]["allocated"]
    assert allocated == strategy.pilots * 3 + 4 * budget  # each pilot says 3 words ("so Answer: X")
    assert allocated <= strategy.item_ceiling(budget) == 5 * budget
    assert by_id[unsure]["generated_tokens"] == strategy.pilots * 3 + (4 * budget // (budget // 4)) * 3
    for o in outs:
        if o["item_id"] != unsure:
            assert o["meta"]["allocated"] == o["generated_tokens"] == strategy.pilots * 3  # no extra for sure items


def test_best_of_self_rereads_the_judges_verdict_and_ignores_a_logged_score(item):
    gold = item["answer"]
    labels = item["meta"]["answer_space"]["labels"]
    wrong = next(x for x in labels if x != gold)
    calls = [
        {"key": "k0", "sample": 0, "round": 0, "role": "answer", "text": f"Answer: {wrong}", "extracted": wrong},
        {"key": "j0", "sample": 0, "round": 1, "role": "judge", "text": "Verdict: no", "score": 1.0, "target": "k0"},
        {"key": "k1", "sample": 1, "round": 0, "role": "answer", "text": f"Answer: {gold}", "extracted": gold},
        {"key": "j1", "sample": 1, "round": 1, "role": "judge", "text": "Verdict: yes", "score": 0.0, "target": "k1"},
    ]
    answer, credit, meta = parse("best_of@2:self").final_answer(calls, item)
    assert meta["scores"] == [0.0, 1.0] and answer == gold and credit == 1.0
