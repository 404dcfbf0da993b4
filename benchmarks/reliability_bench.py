"""Reliability: kill/resume, injected faults, hostile submissions (issue 15, item 8).

Three suites, run as a user would run the commands (subprocesses of ``python -m depthbench``)
except where a fault needs an in-process server:

1. **Kills.** ``eval``, ``score``, ``analyze``, ``report`` and ``generate --workers 2`` are each
   started on a fixed workload and sent SIGKILL at a seeded random moment, then rerun (killed
   again while unfinished) until they finish; a kill is *survived* when the final output equals
   the uninterrupted reference (eval: the same outcomes, no (item, strategy, budget) twice, no
   call key twice; score / analyze / report / generate: the same bytes) and no child process
   (generate's workers) outlives its parent.
2. **Faults.** ``eval`` against the OpenAI-compatible test server injecting HTTP 429 / 500,
   hangs, malformed JSON, responses trickling one byte every 0.3 s, and responses without
   ``usage`` (20% each of the answered calls), plus a dead port and (as root, on a small
   tmpfs) a full disk in eval, score, analyze and report. A fault is *survived* when its run
   still ends with exactly the fault-free run's outcomes (dead port and full disk: one error
   line, exit 1, nothing half-written, and the resumed command completes).
3. **Hostile submissions.** Forgeries of every field a submission states (answers, judge
   scores, PRM/verifier values, token counts, seeds, keys, targets, call shapes, metadata),
   malformed files and resource bombs, each validated in its own process; *refused* means
   invalid, or (a copy of public gold answers) valid but not ranked. Peak RSS of each
   validation is measured (``resource.getrusage`` in the child); the largest one and the
   largest valid-shaped submission the caps admit (about 250,000 predictions, ~490 MB of
   JSON) must stay below 1 GB.

Run (about 30 minutes on 2 busy cores; ``--quick`` for a 5-minute smoke run)::

    nice python -P benchmarks/reliability_bench.py [--kills 92] [--faults 600] [--quick]

It prints ``kills survived / tried``, ``faults survived / injected`` and ``hostile submissions
refused / tried`` with their breakdowns; BENCHMARKS.md records a run.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "depthbench", *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-P", "-m", "depthbench", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV)


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(x) for x in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


# ---------------------------------------------------------------------------------------------- kills

def outcomes_view(run: Path) -> tuple[list[str], bool]:
    """Sorted canonical outcome lines (logged fields that do not depend on timing), and whether
    no (item, strategy, budget) and no call key appears twice."""
    from depthbench.io import read_jsonl

    outs = list(read_jsonl(run / "outcomes.jsonl"))
    keys = [(o["item_id"], o["strategy"], o["budget"]) for o in outs]
    calls = [c["key"] for c in read_jsonl(run / "calls.jsonl")]
    view = sorted(json.dumps({k: o[k] for k in ("item_id", "strategy", "budget", "final_answer", "credit",
                                                "generated_tokens", "processed_tokens")}, sort_keys=True)
                  for o in outs)
    return view, len(set(keys)) == len(keys) and len(set(calls)) == len(calls)


def kill_suite(work: Path, n_kills: int, rng: random.Random) -> dict[str, Any]:
    ds = work / "ds"
    assert cli("generate", "graph_connectivity", "--depths", "1,2,4,8", "--n", "12", "--seed", "2", "--out", str(ds),
               "--quiet").returncode == 0
    eval_args = ["--data", str(ds), "--model", "simulated", "--strategy", "single,majority@4,budget_forcing,revision@2",
                 "--budget", "256", "--no-progress"]
    ref = work / "ref-run"
    t0 = time.monotonic()
    assert cli("eval", *eval_args, "--out", str(ref)).returncode == 0
    t_eval = time.monotonic() - t0
    timings = {"eval": t_eval}
    refs: dict[str, Any] = {}
    for cmd in ("score", "analyze", "report"):
        t0 = time.monotonic()
        assert cli(cmd, str(ref)).returncode == 0, cmd
        timings[cmd] = time.monotonic() - t0
    refs["score"] = (ref / "scored.jsonl").read_bytes()
    refs["analyze"] = (ref / "results.json").read_bytes()
    refs["report"] = tree_bytes(ref / "report")
    gen_args = ["grid_planning", "--n", "40", "--seed", "4", "--workers", "2", "--quiet"]
    t0 = time.monotonic()
    assert cli("generate", *gen_args, "--out", str(work / "ref-gen")).returncode == 0
    timings["generate"] = time.monotonic() - t0
    refs["generate"] = tree_bytes(work / "ref-gen")
    refs["eval"] = outcomes_view(ref)[0]

    plan = {"eval": round(n_kills * 0.44), "generate": round(n_kills * 0.14)}
    rest = n_kills - plan["eval"] - plan["generate"]
    for i, cmd in enumerate(("score", "analyze", "report")):
        plan[cmd] = rest // 3 + (1 if i < rest % 3 else 0)
    tally: dict[str, list[int]] = {cmd: [0, 0] for cmd in plan}
    orphans = 0
    for cmd, n in plan.items():
        done_kills = 0
        while done_kills < n:
            trial = work / f"{cmd}-{done_kills}"
            if cmd == "eval":
                args = ["eval", *eval_args, "--out", str(trial)]
            elif cmd == "generate":
                args = ["generate", *gen_args, "--out", str(trial)]
            else:
                shutil.copytree(ref, trial, ignore=shutil.ignore_patterns("scored.jsonl", "results.json", "report"))
                if cmd in ("analyze", "report"):
                    shutil.copy(ref / "scored.jsonl", trial / "scored.jsonl")
                if cmd == "report":
                    shutil.copy(ref / "results.json", trial / "results.json")
                args = [cmd, str(trial)]
            kills_here = 0
            while True:
                proc = popen(*args)
                delay = rng.uniform(0.3, max(0.6, timings[cmd] * 0.95))
                try:
                    proc.wait(delay)
                    finished = proc.returncode == 0
                except subprocess.TimeoutExpired:
                    kids = descendants(proc.pid)
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    kills_here += 1
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline and any(alive(k) for k in kids):
                        time.sleep(0.1)
                    left = [k for k in kids if alive(k)]
                    orphans += len(left)
                    for k in left:
                        os.kill(k, signal.SIGKILL)
                    finished = False
                if finished or kills_here >= 3:
                    break
            if kills_here == 0:  # finished before the kill: try again with a new moment
                shutil.rmtree(trial, ignore_errors=True)
                continue
            if not finished:  # resume once more, uninterrupted
                finished = cli(*args).returncode == 0
            if cmd == "eval":
                view, unique = outcomes_view(trial)
                ok = finished and unique and view == refs["eval"]
            elif cmd == "generate":
                ok = finished and tree_bytes(trial) == refs["generate"]
            elif cmd == "score":
                ok = finished and (trial / "scored.jsonl").read_bytes() == refs["score"]
            elif cmd == "analyze":
                ok = finished and (trial / "results.json").read_bytes() == refs["analyze"]
            else:  # the report names its run folder: compare as if the trial folder had the reference's name
                got = {k: v.replace(trial.name.encode(), ref.name.encode()) for k, v in tree_bytes(trial / "report").items()}
                ok = finished and got == refs["report"]
            tally[cmd][1] += kills_here
            tally[cmd][0] += kills_here if ok else 0
            done_kills += kills_here
            shutil.rmtree(trial, ignore_errors=True)
    return {"tally": tally, "orphans": orphans, "timings": timings}


# ---------------------------------------------------------------------------------------------- faults

def fault_suite(work: Path, target: int) -> dict[str, Any]:
    from _servers import free_port, start_test_server

    from depthbench.cli import main

    ds = work / "fds"
    assert cli("generate", "multihop_arithmetic", "--depths", "1,2,4", "--n", "10", "--seed", "3", "--out", str(ds),
               "--quiet").returncode == 0
    args = ["--data", str(ds), "--model", "openai:test-model", "--strategy", "single,majority@4,budget_forcing",
            "--budget", "256", "--no-progress", "--concurrency", "8", "--timeout", "1", "--retries", "12"]
    with start_test_server() as clean:
        assert cli("eval", *args, "--base-url", clean.base_url, "--out", str(work / "fref")).returncode == 0
    ref = outcomes_view(work / "fref")[0]
    kinds = ("429", "500", "timeout", "malformed", "trickle")
    injected: dict[str, int] = {k: 0 for k in (*kinds, "missing usage")}
    survived = 0
    total = 0
    seed = 0
    while total < target:
        seed += 1
        out = work / f"frun-{seed}"
        with start_test_server(fault_rate=0.2, fault_kinds=kinds, fault_seed=seed, hang_s=1.5, trickle_s=0.3,
                               missing_usage_rate=0.2) as srv:
            r = cli("eval", *args, "--base-url", srv.base_url, "--out", str(out))
            stats = dict(srv.stats)
        n = {k: stats.get(f"fault_{k}", 0) for k in kinds}
        n["missing usage"] = stats.get("usage_dropped", 0)
        got = sum(n.values())
        for k, v in n.items():
            injected[k] += v
        total += got
        ok = r.returncode == 0 and outcomes_view(out)[0] == ref
        survived += got if ok else 0
    # a dead port: one line, exit 1, nothing written, fast
    out = work / "dead"
    t0 = time.monotonic()
    r = cli("eval", *args, "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--out", str(out))
    dead_ok = (r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and not out.exists()
               and time.monotonic() - t0 < 30)
    injected["dead server"] = 1
    total += 1
    survived += int(dead_ok)
    disk = disk_full_faults(work, ds, main)
    injected["disk full"] = disk[1]
    total += disk[1]
    survived += disk[0]
    return {"survived": survived, "injected": total, "by_kind": injected}


def disk_full_faults(work: Path, ds: Path, main: Callable[..., int]) -> tuple[int, int]:
    mnt = work / "tmpfs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        return 0, 0  # not root: the tests' /dev/full case still covers the appender
    survived = tried = 0
    try:
        run = mnt / "run"
        args = ["--data", str(ds), "--model", "simulated", "--strategy", "single,majority@4", "--budget", "128",
                "--no-progress"]

        def fill(leave: int) -> Path:
            st = os.statvfs(mnt)
            filler = mnt / "filler"
            filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
            return filler

        for cmd, argv, leave in (("eval", ["eval", *args, "--out", str(run)], 24 * 1024),
                                 ("score", ["score", str(run)], 2048), ("analyze", ["analyze", str(run)], 2048),
                                 ("report", ["report", str(run)], 2048)):
            filler = fill(leave)
            r = cli(*argv)
            errors = [x for x in r.stderr.strip().splitlines() if "error" in x]
            clean = (r.returncode == 1 and len(errors) == 1 and "disk full writing" in errors[0]
                     and not list(mnt.rglob(".*.tmp")) and "Traceback" not in r.stderr)
            filler.unlink()
            resumed = cli(*argv).returncode == 0
            tried += 1
            survived += int(clean and resumed)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
    return survived, tried


# ---------------------------------------------------------------------------------------------- hostile

VALIDATE = r"""
import json, resource, sys
from depthbench.leaderboard import validate_submission
rep = validate_submission(sys.argv[1], releases=sys.argv[2:] or None)
print(json.dumps({"ok": rep.ok, "verified": rep.verified, "problems": rep.problems[:3], "n": rep.n_problems,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def validate_in_child(path: Path, releases: list[Path]) -> dict[str, Any]:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-P", "-c", VALIDATE, str(path), *map(str, releases)], capture_output=True,
                       text=True, env=ENV, timeout=3600)
    if r.returncode != 0:
        return {"ok": False, "verified": False, "problems": [r.stderr.strip().splitlines()[-1:]], "rss_mb": 0.0,
                "crashed": True, "seconds": time.monotonic() - t0}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["seconds"] = time.monotonic() - t0
    return out


def _gz(obj_or_text: Any) -> bytes:
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
    return gzip.compress(text.encode("utf-8"), mtime=0, compresslevel=6)


def forgeries(items: dict[str, dict[str, Any]]) -> list[tuple[str, Callable[[dict[str, Any]], Any], str]]:
    """(name, forge, expectation): forge mutates a submission dict (or returns file bytes); expectation is
    'refused' (invalid) or 'unranked' (valid but not verified: public gold answers)."""
    def calls(s, strategy, role=None):
        return [(p, c) for p in s["predictions"] if p["strategy"] == strategy for c in p["calls"]
                if role is None or c["role"] == role]

    def each_call(s, fn):
        for p in s["predictions"]:
            for c in p["calls"]:
                fn(p, c)

    def judge_up(s):
        for _, c in calls(s, "best_of@2:self", "judge"):
            c["score"] = 1.0

    def gold_texts(s):
        for p in s["predictions"]:
            gold = items[p["item_id"]]["answer"]
            p["final_answer"] = gold
            for c in p["calls"]:
                c["text"] = f"Answer: {gold}"

    def gold_flip(s):  # texts flipped to gold, word counts unchanged
        for p in s["predictions"]:
            gold = items[p["item_id"]]["answer"]
            p["final_answer"] = gold
            for c in p["calls"]:
                words = c["text"].split(" ")
                c["text"] = " ".join(words[:-1] + [str(gold)]) if words else f"Answer: {gold}"
            if p["strategy"] not in ("single",):
                p["final_answer"] = p["final_answer"]

    def halve(s, factor=2):
        def fn(p, c):
            c["processed_tokens"] -= c["generated_tokens"] - c["generated_tokens"] // factor
            c["generated_tokens"] //= factor
        each_call(s, fn)

    def as_openai(s):
        s["metadata"]["endpoint"] = {"kind": "openai", "spec": "openai:x"}
        s["metadata"]["model"]["name"] = "x"

    def extra_vote(s):
        p = next(p for p in s["predictions"] if p["strategy"] == "majority@4")
        c = copy.deepcopy(p["calls"][0])
        c.update(sample=4, key=c["key"].replace("|s0|", "|s4|"), seed=None)
        p["calls"].append(c)

    def over_share(s):
        _, c = calls(s, "majority@4")[0]
        c["text"] = " so" * 80 + "\n" + c["text"]
        c["generated_tokens"] += 80
        c["processed_tokens"] += 80

    def parent_cycle(s):
        p = next(p for p in s["predictions"] if p["strategy"] == "revision@2")
        a, b = p["calls"][0], p["calls"][1]
        a["parent"], b["parent"] = b["key"], a["key"]

    def prose_sim(s):
        _, c = calls(s, "single")[0]
        c["text"] = "We reason carefully about the path from 3 through 7 to 12 here. " + c["text"]
        c["generated_tokens"] = len(c["text"].split())
        c["processed_tokens"] = c["generated_tokens"] + 500

    def raw(text):
        return lambda s: _gz(text)

    def dumps_with(s, old, new):
        return _gz(json.dumps(s).replace(old, new, 1))

    F = [
        ("judge score raised", judge_up, "refused"),
        ("PRM value on an answer call", lambda s: calls(s, "majority@4")[0][1].update(score=0.99), "refused"),
        ("verify-role call with a score", lambda s: calls(s, "best_of@2:self", "judge")[0][1].update(
            role="verify", key=calls(s, "best_of@2:self", "judge")[0][1]["key"].replace("|judge", "|verify")), "refused"),
        ("final answer changed", lambda s: next(p for p in s["predictions"] if p["strategy"] == "single").update(
            final_answer="999"), "refused"),
        ("two-token gold texts (public data)", gold_texts, "unranked"),
        ("texts flipped to gold (public data)", gold_flip, "unranked"),
        ("empty calls", lambda s: [p.update(calls=[]) for p in s["predictions"]], "refused"),
        ("no raw texts", lambda s: (s["metadata"].update(raw_completions=False),
                                    each_call(s, lambda p, c: c.pop("text"))), "refused"),
        ("generated tokens halved (word rule)", halve, "refused"),
        ("generated tokens halved, endpoint declared openai", lambda s: (as_openai(s), halve(s)), "refused"),
        ("generated tokens / 10, endpoint declared openai", lambda s: (as_openai(s), halve(s, 10)), "refused"),
        ("prompt tokens halved", lambda s: each_call(s, lambda p, c: c.update(
            processed_tokens=c["generated_tokens"] + (c["processed_tokens"] - c["generated_tokens"]) // 2)), "refused"),
        ("processed below generated", lambda s: calls(s, "single")[0][1].update(processed_tokens=1), "refused"),
        ("seed forged", lambda s: calls(s, "majority@4")[0][1].update(seed=123), "refused"),
        ("key forged", lambda s: calls(s, "single")[0][1].update(key="x|y"), "refused"),
        ("judge target redirected", lambda s: next(c for p, c in calls(s, "best_of@2:self", "judge")
                                                   if c["sample"] == 1).update(
            target=next(c for p, c in calls(s, "best_of@2:self", "judge") if c["sample"] == 1)["parent"].replace(
                "|s1|", "|s0|")), "refused"),
        ("extra vote in majority@4", extra_vote, "refused"),
        ("call over its B/N share", over_share, "refused"),
        ("parent cycle", parent_cycle, "refused"),
        ("prose under the simulated label", prose_sim, "refused"),
        ("budget overrun", lambda s: calls(s, "single")[0][1].update(generated_tokens=10_000,
                                                                    processed_tokens=10_500), "refused"),
        ("unknown item", lambda s: s["predictions"][0].update(item_id="graph_connectivity/test/s0/d9/9"), "refused"),
        ("duplicate item", lambda s: s["predictions"].append(copy.deepcopy(s["predictions"][0])), "refused"),
        ("missing items", lambda s: s["predictions"].pop(), "refused"),
        ("wrong dataset hash", lambda s: s["metadata"]["dataset"].update(sha256="ab" * 32), "refused"),
        ("wrong task", lambda s: s["metadata"]["dataset"].update(task="grid_planning"), "refused"),
        ("wrong split", lambda s: s["metadata"]["dataset"].update(split="dev"), "refused"),
        ("unknown strategy", lambda s: s["metadata"]["strategies"].append("telepathy@3"), "refused"),
        ("non-canonical strategy", lambda s: s["metadata"]["strategies"].append("majority@4:static"), "refused"),
        ("strategy not listed", lambda s: s["metadata"]["strategies"].remove("single"), "refused"),
        ("budget not listed", lambda s: s["metadata"].update(budgets=[512]), "refused"),
        ("sampling.accuracy = 0.99", lambda s: s["metadata"]["sampling"].update(accuracy=0.99), "refused"),
        ("sampling.score = 'state of the art'", lambda s: s["metadata"]["sampling"].update(score="state of the art"),
         "refused"),
        ("20 MB notes", lambda s: s["metadata"]["sampling"].update(notes="x" * 20_000_000), "refused"),
        ("date 2024-13-45", lambda s: s["metadata"].update(date="2024-13-45"), "refused"),
        ("path traversal in model name", lambda s: s["metadata"]["model"].update(name="../../etc/passwd"), "refused"),
        ("control characters in submitter", lambda s: s["metadata"].update(submitter="a\x1b[31mb"), "refused"),
        ("10 kB model name", lambda s: s["metadata"]["model"].update(name="m" * 10_000), "refused"),
        ("1 MB final answer", lambda s: s["predictions"][0].update(final_answer="7" * 1_000_000), "refused"),
        ("score field smuggled", lambda s: s["predictions"][0].update(credit=1.0), "refused"),
        ("extra top-level member", lambda s: s.update(scores={"accuracy": 1.0}), "refused"),
        ("1000 strategies listed", lambda s: s["metadata"].update(strategies=[f"majority@{i}" for i in
                                                                             range(1, 1001)]), "refused"),
        ("budget 10^12", lambda s: s["predictions"][0].update(budget=10 ** 12), "refused"),
        ("NaN", lambda s: dumps_with(s, '"temperature": 0.7', '"temperature": NaN'), "refused"),
        ("Infinity", lambda s: dumps_with(s, '"temperature": 0.7', '"temperature": Infinity'), "refused"),
        ("duplicate keys", lambda s: dumps_with(s, '"format":', '"format": "x", "format":'), "refused"),
        ("huge integer", lambda s: dumps_with(s, '"budget": 256', '"budget": ' + "9" * 5000), "refused"),
        ("pickle", lambda s: __import__("pickle").dumps(s), "refused"),
        ("top-level array", raw("[1, 2]"), "refused"),
        ("deep nesting", raw('{"format": "depthbench-submission/1", "predictions": [' + "[" * 200_000
                             + "]" * 200_000 + "]}"), "refused"),
        ("not UTF-8", lambda s: gzip.compress(b'{"format": "\xff\xfe"}', mtime=0), "refused"),
        ("trailing data", lambda s: _gz(json.dumps(s) + ' {"more": 1}'), "refused"),
        ("truncated gzip", lambda s: _gz(s)[:-40], "refused"),
        ("empty gzip", lambda s: gzip.compress(b"", mtime=0), "refused"),
        ("CSV instead of JSON", raw("model,accuracy\nmine,0.99\n"), "refused"),
    ]
    return F


def bombs(base: dict[str, Any]) -> list[tuple[str, Callable[[Path], None], str]]:
    """(name, writer(path), expectation) for resource bombs (written straight to disk, streamed)."""
    def write_gz_stream(path: Path, parts) -> None:
        with gzip.open(path, "wb", compresslevel=1) as g:
            for part in parts:
                g.write(part)

    head = json.dumps({k: v for k, v in base.items() if k != "predictions"})[:-1].encode() + b', "predictions": ['
    preds = [json.dumps(p).encode() for p in base["predictions"]]

    def padded(total: int):
        def w(path: Path) -> None:
            pad = b" " * (1 << 20)
            def parts():
                yield head
                yield b",".join(preds[: len(preds) // 2])
                for _ in range(total):
                    yield pad
                yield b"," + b",".join(preds[len(preds) // 2:]) + b"]}"
            write_gz_stream(path, parts())
        return w

    def huge_word(path: Path) -> None:
        s = copy.deepcopy(base)
        c = next(p for p in s["predictions"] if p["strategy"] == "single")["calls"][0]
        c["text"] = "x" * 3_500_000
        path.write_bytes(_gz(s))

    def many_predictions(n: int):
        def w(path: Path) -> None:
            p0 = base["predictions"][0]
            def parts():
                yield head
                for i in range(n):
                    q = dict(p0, item_id=f"{p0['item_id']}-{i}")
                    yield (b"," if i else b"") + json.dumps(q).encode()
                yield b"]}"
            write_gz_stream(path, parts())
        return w

    def big_prediction(path: Path) -> None:
        s = copy.deepcopy(base)
        s["predictions"][0]["calls"][0]["text"] = "word " * 1_000_000
        path.write_bytes(_gz(s))

    def many_calls(path: Path) -> None:
        s = copy.deepcopy(base)
        c = s["predictions"][0]["calls"][0]
        s["predictions"][0]["calls"] = [dict(c, key=f"{c['key']}{i}") for i in range(4097)]
        path.write_bytes(_gz(s))

    def adversarial_extraction(path: Path) -> None:
        s = copy.deepcopy(base)
        for p in s["predictions"][:30]:
            p["calls"][0]["text"] = "answer:" * 500_000
        path.write_bytes(_gz(s))

    return [
        ("gzip bomb over the 512 MiB cap", padded(600), "refused"),
        ("gzip bomb under the cap (500 MiB of whitespace in a valid file)", padded(500), "bounded"),
        ("one 3.5 MB word as a completion", huge_word, "refused"),
        ("5 MB prediction", big_prediction, "refused"),
        ("4,097 calls in a prediction", many_calls, "refused"),
        ("250,001 predictions", many_predictions(250_001), "refused"),
        ("30 completions of 'answer:' x 500,000", adversarial_extraction, "refused"),
    ]


def largest_valid_shape(path: Path, release: Path, n_budgets: int) -> int:
    """About 250,000 single-call predictions on a 1,000-item release, honest counts, ~1.8 kB of text each."""
    from depthbench.baselines.backends._tokenizer import pretoken_count
    from depthbench.tasks import load_dataset
    from depthbench.io import sha256_file

    items, _ = load_dataset(release, split="test")
    strategies = ["single", "majority@1", "revision@1", "budget_forcing:cap", "pass@1", "best_of@1:oracle"]
    budgets = [1024 + 8 * i for i in range(n_budgets)]
    filler = ("We follow the edges from the source node one hop at a time and keep the set of visited nodes; "
              "each new node is checked against both candidate targets before we go on. ") * 9
    meta = {"submitter": "bench", "model": {"name": "big", "revision": None},
            "endpoint": {"kind": "openai", "spec": "openai:big"}, "sampling": {"temperature": 0.7, "top_p": 1.0,
                                                                               "seed": None},
            "strategies": strategies, "budgets": budgets, "suite_version": "0.1.0",
            "dataset": {"task": items[0]["task"], "split": "test", "sha256": sha256_file(release / "manifest.json")},
            "date": "2026-12-01", "raw_completions": True}
    n = 0
    with gzip.open(path, "wb", compresslevel=6) as g:
        g.write(json.dumps({"format": "depthbench-submission/1", "metadata": meta})[:-1].encode()
                + b', "predictions": [')
        prompt_tokens = {it["id"]: 2 * pretoken_count(it["prompt"]) + 20 for it in items}
        for s in strategies:
            for b in budgets:
                for it in items:
                    text = f"{filler}\nAnswer: {it['answer']}"
                    gen = 2 * pretoken_count(text) + 1
                    call = {"key": f"{it['id']}|{s}|{b}|s0|r0|answer", "role": "answer", "sample": 0, "round": 0,
                            "parent": None, "seed": None, "generated_tokens": gen,
                            "processed_tokens": gen + prompt_tokens[it["id"]], "finish_reason": "stop", "text": text}
                    pred = {"item_id": it["id"], "strategy": s, "budget": b, "final_answer": it["answer"],
                            "calls": [call]}
                    g.write((b"," if n else b"") + json.dumps(pred).encode())
                    n += 1
        g.write(b"]}")
    return n


def hostile_suite(work: Path, quick: bool) -> dict[str, Any]:
    from depthbench.io import read_jsonl
    from depthbench.leaderboard import pack_run

    ds = work / "hds"
    assert cli("generate", "graph_connectivity", "--depths", "1,2,3", "--n", "4", "--seed", "5", "--out", str(ds),
               "--quiet").returncode == 0
    run = work / "hrun"
    assert cli("eval", "--data", str(ds), "--model", "simulated", "--strategy",
               "single,majority@4,revision@2,best_of@2:self,budget_forcing", "--budget", "256", "--out", str(run),
               "--no-progress").returncode == 0
    base = pack_run(run)
    from depthbench.tasks import load_dataset

    items = {it["id"]: it for it in load_dataset(ds, split="test")[0]}
    results = []
    honest = work / "honest.json.gz"
    honest.write_bytes(_gz(base))
    h = validate_in_child(honest, [ds])
    assert h["ok"], h
    for name, forge, expect in forgeries(items):
        s = copy.deepcopy(base)
        got = forge(s)
        data = got if isinstance(got, bytes) else _gz(s)
        path = work / "h.json.gz"
        path.write_bytes(data)
        r = validate_in_child(path, [ds])
        refused = (not r["ok"]) if expect == "refused" else (not r["verified"])
        results.append((name, expect, refused, r["rss_mb"], r.get("seconds", 0.0), r["problems"][:1]))
    for name, writer, expect in bombs(base):
        if quick and "500 MiB" in name:
            continue
        path = work / "b.json.gz"
        writer(path)
        r = validate_in_child(path, [ds])
        refused = (not r["ok"]) if expect == "refused" else (r["rss_mb"] < 1024 and not r.get("crashed"))
        results.append((name, expect, refused, r["rss_mb"], r["seconds"], r["problems"][:1]))
        path.unlink()
    big = None
    if not quick:
        release = Path(__file__).resolve().parents[1] / "data" / "v2" / "graph_connectivity"
        path = work / "big.json.gz"
        n = largest_valid_shape(path, release, 41)
        json_bytes = sum(len(b) for b in iter(lambda f=gzip.open(path): f.read(1 << 24), b""))
        r = validate_in_child(path, [])
        big = {"predictions": n, "json_mb": json_bytes / 2 ** 20, "file_mb": path.stat().st_size / 2 ** 20,
               "rss_mb": r["rss_mb"], "seconds": r["seconds"], "ok": r["ok"], "problems": r["problems"][:2]}
        path.unlink()
    return {"results": results, "honest_rss_mb": h["rss_mb"], "big": big}


# ---------------------------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=92)
    ap.add_argument("--faults", type=int, default=600)
    ap.add_argument("--quick", action="store_true", help="small counts, no 500 MiB bomb, no largest valid shape")
    ap.add_argument("--only", default="kills,faults,hostile")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.quick:
        a.kills, a.faults = min(a.kills, 10), min(a.faults, 60)
    suites = set(a.only.split(","))
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(prefix="depthbench-reliability-") as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        if "kills" in suites:
            (work / "k").mkdir()
            k = kill_suite(work / "k", a.kills, rng)
            tried = sum(v[1] for v in k["tally"].values())
            ok = sum(v[0] for v in k["tally"].values())
            parts = ", ".join(f"{cmd} {v[0]}/{v[1]}" for cmd, v in k["tally"].items())
            print(f"kills survived / tried: {ok} / {tried} ({parts}; processes left behind: {k['orphans']})",
                  flush=True)
        if "faults" in suites:
            (work / "f").mkdir()
            f = fault_suite(work / "f", a.faults)
            parts = ", ".join(f"{k} {v}" for k, v in f["by_kind"].items())
            print(f"faults survived / injected: {f['survived']} / {f['injected']} ({parts})", flush=True)
        if "hostile" in suites:
            (work / "h").mkdir()
            h = hostile_suite(work / "h", a.quick)
            res = h["results"]
            refused = sum(r[2] for r in res)
            print(f"hostile submissions refused / tried: {refused} / {len(res)} "
                  f"(not ranked: {sum(r[2] for r in res if r[1] == 'unranked')}/"
                  f"{sum(r[1] == 'unranked' for r in res)} public-gold copies; memory-bounded: "
                  f"{sum(r[2] for r in res if r[1] == 'bounded')}/{sum(r[1] == 'bounded' for r in res)})", flush=True)
            worst = max(res, key=lambda r: r[3])
            print(f"peak RSS of validation: honest {h['honest_rss_mb']:.0f} MB; worst hostile {worst[3]:.0f} MB "
                  f"({worst[0]}); slowest {max(r[4] for r in res):.1f} s", flush=True)
            for name, expect, ok, rss, sec, probs in res:
                if not ok or "bomb" in name or "predictions" in name or "word" in name or "MB" in name:
                    print(f"  {'ok  ' if ok else 'FAIL'} {name} ({expect}): {rss:.0f} MB, {sec:.1f} s; "
                          f"{(probs[0] if probs else '')!s:.110}", flush=True)
            if h["big"]:
                b = h["big"]
                print(f"largest valid-shaped submission: {b['predictions']:,} predictions, {b['json_mb']:.0f} MB JSON "
                      f"({b['file_mb']:.0f} MB gzip): valid={b['ok']}, peak RSS {b['rss_mb']:.0f} MB, "
                      f"{b['seconds']:.0f} s", flush=True)
        print(f"total {time.monotonic() - t0:.0f} s on {os.cpu_count()} cores", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
