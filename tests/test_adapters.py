"""lm-evaluation-harness and inspect_ai: depthbench's tasks run in them, and their logs come back.

Both run for real (the packages of the ``harness`` extra): lm-eval against the local
OpenAI-compatible test server through its ``local-chat-completions`` model, inspect with
its scripted ``mockllm`` model. The logs are then evaluated with ``--model replay:LOG``
and re-scored by depthbench; per item, depthbench's verdict must equal the harness's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from depthbench.adapters import lm_eval_tasks_dir
from depthbench.tasks._rows import item_rows, load_family_items, row_item
from depthbench.cli import main
from depthbench.tasks import build_items

sys.path.insert(0, os.path.dirname(__file__))
from _servers import start_test_server  # noqa: E402

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("lm_eval", "inspect_ai")),
    reason="needs the harness extra: pip install 'depthbench[harness]'")


def _dataset(tmp_path: Path, family: str) -> tuple[Path, list[dict]]:
    items = build_items(family, "test", depths=[1, 2, 4], n=2)
    data = tmp_path / f"{family}.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    return data, items


def _answers(items):
    """A scripted model: right on even indices, a wrong label on odd ones, keyed by prompt."""
    out = {}
    for i, it in enumerate(items):
        labels = it["meta"]["answer_space"].get("labels") or ["0", "1"]
        wrong = next(x for x in labels if x != str(it["answer"]))
        out[it["prompt"]] = f"Let me think.\nAnswer: {it['answer'] if i % 2 == 0 else wrong}"
    return out


def _depthbench_scores(tmp_path: Path, data: Path, log: Path) -> dict[str, float]:
    run = tmp_path / "replayed"
    assert main(["eval", "--data", str(data), "--model", f"replay:{log}", "--strategy", "single",
                 "--budget", "1024", "--out", str(run), "--no-progress"]) == 0
    assert main(["score", str(run)]) == 0 and main(["analyze", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert {c["depth"] for c in results["curves"]} == {1, 2, 4}
    return {r["item_id"]: r["credit"] for r in map(json.loads, (run / "scored.jsonl").read_text().splitlines())}


def test_rows_round_trip_items():
    for family in ("graph_connectivity", "multihop_arithmetic", "grid_planning"):
        items = load_family_items(family)[:5]
        assert [row_item(r) for r in item_rows(items)] == items


def test_lm_eval_task_runs_and_its_samples_replay_into_depthbench(tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    data, items = _dataset(tmp_path, "graph_connectivity")
    answers = _answers(items)
    task = "depthbench_graph_connectivity"
    def respond(prompt, seed, i, n):  # the chat turn may carry more than the item's prompt
        got = [a for q, a in answers.items() if q in prompt]
        assert got, prompt[:300]
        return got[0]

    with start_test_server(responder=respond) as srv:
        tracker = EvaluationTracker(output_path=str(tmp_path / "lm"))
        res = simple_evaluate(
            model="local-chat-completions",
            model_args=f"base_url={srv.base_url}/chat/completions,model=test-model,num_concurrent=2,"
                       "tokenizer_backend=None,max_retries=1",
            tasks=[task], task_manager=TaskManager(include_path=str(lm_eval_tasks_dir()), include_defaults=False,
                                                   metadata={"data": str(data)}),  # = lm_eval --metadata
            apply_chat_template=True, log_samples=True, evaluation_tracker=tracker)
        samples = res.pop("samples")  # as lm_eval's CLI saves them with --log_samples
        tracker.save_results_aggregated(results=res, samples=samples)
        tracker.save_results_samples(task_name=task, samples=samples[task])
    assert res["results"][task]["acc,none"] == pytest.approx(0.5)
    assert res["results"][task]["format_ok,none"] == 1.0
    [log] = list((tmp_path / "lm").rglob(f"samples_{task}_*.jsonl"))
    lm = {json.loads(x)["doc"]["id"]: json.loads(x)["acc"] for x in log.read_text().splitlines()}
    assert _depthbench_scores(tmp_path, data, log) == lm and len(lm) == len(items)
    _assert_bound(log, items)


def test_inspect_task_runs_and_its_log_replays_into_depthbench(tmp_path):
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    from depthbench.adapters.inspect_tasks import multihop_arithmetic

    data, items = _dataset(tmp_path, "multihop_arithmetic")
    outs = []
    for i, it in enumerate(items):
        text = f"Working.\nAnswer: {it['answer'] if i % 2 == 0 else (int(it['answer']) + 1) % it['instance']['modulus']}"
        o = ModelOutput.from_content(model="mockllm/model", content=text)
        o.usage = ModelUsage(input_tokens=90, output_tokens=len(text.split()), total_tokens=90 + len(text.split()))
        outs.append(o)
    [log] = inspect_eval(multihop_arithmetic(data=str(data)), model=get_model("mockllm/model", custom_outputs=outs),
                         log_dir=str(tmp_path / "inspect"), display="none", max_samples=1)
    assert log.status == "success"
    metrics = log.results.scores[0].metrics
    assert metrics["all"].value == pytest.approx(0.5) and {"1", "2", "4"} <= set(metrics)  # accuracy per depth
    ours = {str(s.id): 1.0 if s.scores["depthbench_verifier"].value == "C" else 0.0 for s in log.samples}
    assert _depthbench_scores(tmp_path, data, Path(log.location)) == ours and len(ours) == len(items)
    _assert_bound(Path(log.location), items)


def _assert_bound(log: Path, items) -> None:
    """The replay records read from a foreign log carry each item's content sha256 (from the exported row)."""
    from depthbench.baselines._foreign_logs import foreign_records

    want = {it["id"]: it["meta"]["content_sha256"] for it in items}
    assert {r["item_id"]: r["item_sha256"] for r in foreign_records(log)} == want


def test_inspect_entry_point_names_the_tasks():
    from importlib.metadata import entry_points

    [ep] = [e for e in entry_points(group="inspect_ai") if e.name == "depthbench"]
    mod = ep.load()
    assert {"graph_connectivity", "multihop_arithmetic", "grid_planning"} <= set(dir(mod))


def test_a_foreign_log_that_is_not_depthbench_s_is_a_clear_error(tmp_path, capsys):
    log = tmp_path / "samples_other.jsonl"
    log.write_text(json.dumps({"doc_id": 0, "doc": {"question": "?"}, "resps": [["x"]]}) + "\n")
    data, _ = _dataset(tmp_path, "graph_connectivity")
    rc = main(["eval", "--data", str(data), "--model", f"replay:{log}", "--strategy", "single", "--budget", "64",
               "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "doc has no 'id'" in err and not (tmp_path / "r").exists()
