"""The registries: strategies, roles and backends are declared once and read everywhere.

A strategy or backend is one decorated class; these tests check that every consumer reads
the declarations (``parse``, ``depthbench strategies``, ``--model`` help, the submission
schema, endpoint kinds) and that a new strategy -- one using a second model through the
backend registry, as a process reward model would -- and a new backend work by registration
alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import pytest

from depthbench.baselines import EvalConfig, load_model, run_eval
from depthbench.baselines._calllog import read_calls
from depthbench.baselines._probe import Check
from depthbench.baselines._protocol import Capabilities, Choice, Response
from depthbench.baselines._roles import Role, roles
from depthbench.baselines.backends import backend, backends, endpoint_kind, model_spec_forms, unregister
from depthbench.baselines.strategies import KINDS, all_roles, parse, registered, strategy
from depthbench.baselines.strategies import unregister as unregister_strategy
from depthbench.baselines.strategies._base import NChains, answers_of, bad_name, pos_int, tie_seed, vote
from depthbench.cli import build_parser, main
from depthbench.errors import UserError
from depthbench.io import read_jsonl
from depthbench.leaderboard import load_schema


def test_every_registered_strategy_declares_a_canonical_example_kinds_roles_and_a_minimum(capsys):
    reg = registered()
    assert {"single", "budget_forcing", "revision", "majority", "best_of", "pass", "ratio", "adaptive"} <= set(reg)
    for base, info in reg.items():
        s = parse(info.example)
        assert s.name == info.example and type(s) is info.cls, base
        assert s.kind in info.kinds and set(info.kinds) <= set(KINDS), base
        assert set(info.roles) <= set(all_roles()), base
        assert isinstance(s.min_budget(), int) and s.min_budget() >= 16, base
        assert info.pattern.startswith(base) and info.summary, base
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for info in reg.values():
        assert info.pattern in out and f"{parse(info.example).min_budget()} ({info.example})" in out


def test_schema_enums_are_the_registries():
    schema = load_schema()
    kinds = schema["properties"]["metadata"]["properties"]["endpoint"]["properties"]["kind"]["enum"]
    assert kinds == [*backends(), "other"]
    assert schema["$defs"]["call"]["properties"]["role"]["enum"] == list(all_roles())
    raw = json.loads((resources.files("depthbench.schemas") / "submission.schema.json").read_text())
    # the shipped file leaves both lists to the registries: nothing there can go stale
    assert "enum" not in raw["properties"]["metadata"]["properties"]["endpoint"]["properties"]["kind"]
    assert "enum" not in raw["$defs"]["call"]["properties"]["role"]


def test_model_help_doctor_and_endpoint_kinds_come_from_the_backend_table():
    forms = model_spec_forms()
    assert {"openai:MODEL", "llamacpp:smollm2", "replay:FILE.jsonl"} <= set(forms)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for cmd in ("eval", "doctor"):
        helps = {a.dest: a.help for a in sub.choices[cmd]._actions}
        assert helps["model"] == " | ".join(forms)
    assert endpoint_kind("openai:gpt-x") == "openai" and endpoint_kind("simulated") == "simulated"
    assert endpoint_kind("vllm:foo") == "other"


# --------------------------------------------------------------------------- a new backend
class _Echo:
    """A backend that answers with the item's gold answer, one token per word."""

    capabilities = Capabilities(chat=True, completions=False, assistant_prefix=False, native_n=False, seed=True)

    def __init__(self, rest: str, **options):
        self.name = f"echo:{rest}"

    async def generate(self, request):
        text = f"Answer: {request.item['answer']}"
        return Response(tuple(Choice(text, "stop", 2, "tokenizer", s) for s in request.seeds), prompt_tokens=10,
                        prompt_token_source="tokenizer", latency_s=0.0, model=self.name)

    async def aclose(self):
        pass


@pytest.fixture
def echo_backend():
    async def doctor(spec, **_):
        return [Check("echo", "ok", spec, "always answers right")]

    backend("echo", forms=("echo:NAME",), summary="test backend", doctor=doctor)(_Echo)
    yield
    unregister("echo")
    assert "echo" not in backends()


def test_a_backend_is_one_registration(echo_backend, tmp_path, capsys):
    assert "echo:NAME" in model_spec_forms() and endpoint_kind("echo:x") == "echo"
    assert load_model("echo:x").name == "echo:x"
    assert main(["doctor", "--model", "echo:x"]) == 0 and "always answers right" in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["eval", "--model", "echo:x", "--task", "graph_connectivity", "--split", "dev", "--limit", "3",
                 "--strategy", "single", "--budget", "32", "--out", str(out), "--no-progress"]) == 0
    outcomes = list(read_jsonl(out / "outcomes.jsonl"))
    assert len(outcomes) == 3 and all(o["credit"] == 1.0 for o in outcomes)


# --------------------------------------------------------------------------- a strategy with a second model
_PRM = Role("prm_check", "a second model re-solves the item; its answer scores the candidate",
            answers=False, scores=True)


@dataclass(frozen=True)
class _Checked(NChains):
    """N chains; a second model (the ``checker`` slot) re-solves the item for each candidate and a
    candidate scores 1 when the checker's answer agrees; the best-scored majority wins."""

    checker: str = "simulated:eps=0.0"

    @classmethod
    def from_parts(cls, name, arg, opts):
        if opts:
            raise bad_name(name, "takes no options")
        return cls(n=pos_int(arg, name, "N"))

    @property
    def name(self):
        return f"checked@{self.n}"

    @property
    def kind(self):
        return "parallel"

    def aux_models(self):
        return {"checker": self.checker}

    async def orchestrate(self, item, ctx):
        share = ctx.budget.total // (2 * self.n)
        cands = await ctx.call({"messages": ctx.user_messages(), "max_tokens": share, "n": self.n}, role="answer")
        for c in cands:
            await ctx.call({"messages": ctx.user_messages(), "max_tokens": share}, role="prm_check",
                           sample=c["sample"], round=1, parent=c["key"], target=c["key"], model="checker",
                           judge=lambda text: 1.0 if f"Answer: {item['answer']}" in text else 0.0)

    def final_answer(self, calls, item, *, run_seed=0):
        recs = answers_of(calls)
        ok = {c["target"] for c in calls if c.get("role") == "prm_check" and c.get("score") == 1.0}
        kept = [r.get("extracted") for r in recs if r["key"] in ok] or [r.get("extracted") for r in recs]
        ans, credit, meta = vote(item, kept, tie_seed(recs, "checked", run_seed))
        return ans, credit, {**meta, "checked": len(ok)}


@pytest.fixture
def checked_strategy():
    strategy("checked@N", kinds=("parallel",), roles=("answer", _PRM), example="checked@2",
             summary="test strategy with a second model", min_budget=lambda s: 32 * s.n)(_Checked)
    yield
    unregister_strategy("checked")
    assert "checked" not in registered()


def test_a_strategy_with_a_second_model_is_one_registration(checked_strategy, tmp_path):
    assert parse("checked@3").name == "checked@3" and "prm_check" in roles()
    assert "prm_check" in load_schema()["$defs"]["call"]["properties"]["role"]["enum"]
    out = tmp_path / "run"
    run_eval(EvalConfig(model="simulated:eps=0.5", strategies=["checked@2"], budgets=[256], out=str(out),
                        task="graph_connectivity", split="dev", limit=4, progress=False, fsync=False))
    calls = [c for _, c in read_calls(out / "calls.jsonl")]  # compact records expanded
    outcomes = list(read_jsonl(out / "outcomes.jsonl"))
    checks = [c for c in calls if c["role"] == "prm_check"]
    assert len(checks) == 2 * 4 and all(c["model"].startswith("simulated:eps=0") for c in checks)
    assert {c["model"] for c in calls if c["role"] == "answer"} == {"simulated:eps=0.5,tokens_per_step=12,spread=3,"
                                                                     "drift=0,rho=0"}
    for o in outcomes:  # the second model's tokens count in the same budget
        mine = [c for c in calls if c["key"] in o["calls"]]
        assert o["generated_tokens"] == sum(c["usage"]["completion_tokens"] for c in mine) <= 256
        assert any(c["role"] == "prm_check" for c in mine)
    # score re-reduces the run from the registry, including the new role
    from depthbench.analysis import score_run

    assert score_run(out)["changed_outcomes"] == 0


def test_a_bad_second_model_spec_fails_before_the_run_folder_is_made(checked_strategy, tmp_path, monkeypatch):
    monkeypatch.setattr(_Checked, "aux_models", lambda self: {"checker": "nosuch:model"})
    out = tmp_path / "never"
    with pytest.raises(UserError, match="--model 'nosuch:model': unknown provider 'nosuch'"):
        run_eval(EvalConfig(model="simulated", strategies=["checked@2"], budgets=[256], out=str(out),
                            task="graph_connectivity", split="dev", limit=1, progress=False, fsync=False))
    assert not out.exists()
