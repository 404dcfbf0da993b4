"""Mutation check: do the tests notice when one line of documented behaviour is wrong?

Each mutation below replaces one exact line fragment of a source file with a plausible bug
(swapped TPR/FPR, a seed hash without the role, a 64B cap instead of 4B, ...). For each,
the repository is copied to a temporary folder, the mutation applied to the copy, and the
mutation's test files run against the copy (the copy is importable as ``depthbench``
through a ``PYTHONPATH`` overlay, so the installed package is never touched). A mutation
the tests do not fail is a *survivor*: a documented behaviour no test protects.

Usage::

    python benchmarks/mutation_check.py              # every mutation, its own test files
    python benchmarks/mutation_check.py --only M02   # one mutation
    python benchmarks/mutation_check.py --full       # the whole fast suite per mutation (slow)

Exit status 1 when a mutation survives (or a fragment is not found: the list is stale).
The first four are the ones issue 12 names; the rest guard other rules stated in
docs/ARCHITECTURE.md. Run from the repository root with the development venv's python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "build", "dist", "*.egg-info", ".pytest_cache",
                                ".hypothesis", "depthbench-demo")


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str
    old: str
    new: str
    what: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("M01", "baselines/strategies/best_of.py", "accept = u < (self.tpr if ok else self.fpr)",
             "accept = u < (self.fpr if ok else self.tpr)", "noisy verifier: TPR and FPR swapped",
             ("tests/test_strategies.py",)),
    Mutation("M02", "baselines/_context.py", "|{int(sample)}|{int(round)}|{role}\"", "|{int(sample)}|{int(round)}\"",
             "per-call seed hash without the role", ("tests/test_budget.py", "tests/test_runner.py")),
    Mutation("M03", "baselines/strategies/adaptive.py", "max_factor: ClassVar[int] = 4",
             "max_factor: ClassVar[int] = 64", "adaptive's per-item cap 64B instead of 4B",
             ("tests/test_strategies.py", "tests/test_submission.py")),
    Mutation("M04", "app/analysis/_rescore.py", 'k = c.get("parent") if _chained(c.get("role")) else None',
             "k = None", "re-extraction of a budget-forcing continuation without the chain so far",
             ("tests/test_score_cli.py",)),
    Mutation("M05", "scorers/_reduce.py", "        if a is None:\n            n_abstain += 1",
             "        if a is None and False:\n            n_abstain += 1", "abstentions vote in majority@N",
             ("tests/test_reduce.py",)),
    Mutation("M06", "baselines/_budget.py", "return self.n * self.max_tokens + self.forced_tokens",
             "return self.max_tokens + self.forced_tokens", "a request for n choices reserves one choice's tokens",
             ("tests/test_budget.py",)),
    Mutation("M07", "baselines/_budget.py", "return len(_FORCED_TOKEN_RE.findall(text))", "return 0",
             "harness-inserted text ('Wait,', 'Answer:') not charged", ("tests/test_budget.py",)),
    Mutation("M08", "scorers/_extract.py", "            value %= mod", "            pass",
             "integer answers not reduced modulo m", ("tests/test_extract.py",)),
    Mutation("M09", "scorers/_extract.py", "        if str(lab).casefold() == low:",
             "        if str(lab).casefold().startswith(low):", "substring credit for labels ('1' matches '17')",
             ("tests/test_extract.py",)),
    Mutation("M10", "generators/multihop_arithmetic.py", "return a == g if m is None else (a - g) % m == 0",
             "return a == g", "arithmetic verifier without the modulus", ("tests/test_verify.py",)),
    Mutation("M11", "generators/graph_connectivity.py", "        elif node not in adj.get(prev, ()):",
             "        elif False:", "graph trace verifier accepts non-adjacent steps", ("tests/test_verify.py",)),
    Mutation("M12", "scorers/_family.py", 'name = meta.get("family") if isinstance(meta, Mapping) else None',
             'name = item.get("task")', "family dispatch on the task (spec) name, not meta.family",
             ("tests/test_toy_family.py",)),
    Mutation("M13", "baselines/_context.py", "|{item_id}|{int(sample)}|", "|{item_id}|",
             "per-call seed hash without the sample index", ("tests/test_budget.py", "tests/test_runner.py")),
    Mutation("M14", "scorers/_curves.py", "z = float(stats.norm.ppf(0.5 + confidence / 2))",
             "z = float(stats.norm.ppf(confidence))", "Wilson interval with a one-sided z", ("tests/test_curves.py",)),
    Mutation("M15", "scorers/_trace.py", "return min(1.0, first / max(1, len(item.get(\"solution_trace\") or [])))",
             "return 1.0", "stated-step trace score: any partial trace scores 1", ("tests/test_verify.py",)),
    Mutation("M16", "app/leaderboard/_validate.py", 'if c["processed_tokens"] < c["generated_tokens"]:',
             "if False:", "validator accepts processed < generated tokens", ("tests/test_submission.py",)),
    Mutation("M17", "baselines/_context.py", "        if g > self.budget.total:", "        if False:",
             "an outcome over its budget is not refused", ("tests/test_budget.py",)),
    Mutation("M18", "baselines/strategies/best_of.py",
             'judged = {c.get("target"): judge_score(c.get("text") or "") for c in calls if c.get("role") == "judge"}',
             'judged = {c.get("target"): c.get("score") for c in calls if c.get("role") == "judge"}',
             "best_of@N:self trusts a logged judge score instead of re-reading the verdict",
             ("tests/test_strategies.py", "tests/test_submission.py")),
    Mutation("M19", "app/analysis/_analyze.py", 'seq = sorted(s for s, k in kinds.items() if k in ("sequential", "single"))',
             'seq = sorted(s for s, k in kinds.items() if k == "sequential")',
             "pair selection drops single (the leaderboard's old rule)",
             ("tests/test_leaderboard_site.py", "tests/test_score_cli.py")),
    Mutation("M20", "scorers/_family.py", "                   normalize=fam.normalize)", "                   normalize=None)",
             "extraction ignores a family's own answer normalisation", ("tests/test_toy_family.py",)),
    Mutation("M21", "baselines/backends/replay.py", "        if not get_role(request.role).replayable:",
             "        if False:", "replay serves a role that needs new text", ("tests/test_replay.py",)),
    Mutation("M22", "baselines/backends/_continuation.py",
             'return own if call.get("continuation") == "user_turn" else chain + own', "return chain + own",
             "a reply in a new user turn glued to the earlier turn's text", ("tests/test_continuation.py",)),
    Mutation("M23", "app/leaderboard/_validate.py", '                rec["continuation"] = "user_turn"',
             "                pass", "the validator reads a user-turn reply glued to the chain (the runner does not)",
             ("tests/test_continuation.py",)),
)


def _overlay(copy: Path, tmp: Path) -> Path:
    """A folder with ``depthbench`` -> the copy's packages (the pyproject package-dir map)."""
    mapping = tomllib.loads((copy / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    root = copy / mapping["depthbench"]
    for pkg, folder in mapping.items():
        if pkg == "depthbench":
            continue
        link = root / pkg.split(".", 1)[1]
        if not link.exists():
            link.symlink_to(copy / folder, target_is_directory=True)
    overlay = tmp / "overlay"
    overlay.mkdir()
    (overlay / "depthbench").symlink_to(root, target_is_directory=True)
    return overlay


def _run_tests(copy: Path, overlay: Path, tests: tuple[str, ...]) -> tuple[int, float, str]:
    env = {**os.environ, "PYTHONPATH": str(overlay), "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                        "--deselect", "tests/test_packaging.py", *tests], cwd=copy, env=env, capture_output=True,
                       text=True)
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    return r.returncode, time.monotonic() - t0, tail


def _check_imports_copy(copy: Path, overlay: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(overlay)}
    out = subprocess.run([sys.executable, "-P", "-c", "import depthbench.scorers as s; print(s.__file__)"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not out.startswith(str(copy)):
        raise SystemExit(f"the copy is not what python imports ({out}); is depthbench installed non-editable?")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="mutation ids to run (default: all)")
    ap.add_argument("--full", action="store_true", help="run the whole fast suite (not just each mutation's tests)")
    args = ap.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.id in args.only]
    survivors, stale = [], []
    with tempfile.TemporaryDirectory(prefix="depthbench-mutants-") as tmp_s:
        tmp = Path(tmp_s)
        pristine = tmp / "pristine"
        shutil.copytree(ROOT, pristine, ignore=IGNORE, symlinks=True)
        # the unmutated copy must pass the same tests, or a "kill" means nothing
        base = tmp / "baseline"
        shutil.copytree(pristine, base, symlinks=True)
        (tmp / "baseline-overlay").mkdir()
        overlay = _overlay(base, tmp / "baseline-overlay")
        _check_imports_copy(base, overlay)
        union = ("tests",) if args.full else tuple(sorted({t for m in chosen for t in m.tests}))
        code, secs, tail = _run_tests(base, overlay, union)
        print(f"baseline  {'passes' if code == 0 else 'FAILS'}  {secs:6.1f}s  [{', '.join(union)}: {tail}]", flush=True)
        if code != 0:
            print("the unmutated copy fails its tests; fix them first")
            return 1
        for m in chosen:
            src = (pristine / m.file).read_text(encoding="utf-8")
            if src.count(m.old) != 1:
                stale.append(m.id)
                print(f"{m.id}  STALE     {m.file}: the fragment occurs {src.count(m.old)} times; update the list")
                continue
            work = tmp / m.id
            shutil.copytree(pristine, work, symlinks=True)
            (work / m.file).write_text(src.replace(m.old, m.new, 1), encoding="utf-8")
            overlay_root = tmp / f"{m.id}-overlay"
            overlay_root.mkdir()
            overlay = _overlay(work, overlay_root)
            _check_imports_copy(work, overlay)
            tests = ("tests",) if args.full else m.tests
            code, secs, tail = _run_tests(work, overlay, tests)
            status = "survived" if code == 0 else "killed"
            if code == 0:
                survivors.append(m.id)
            print(f"{m.id}  {status:<8}  {secs:6.1f}s  {m.what}  [{', '.join(tests)}: {tail}]", flush=True)
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(chosen) - len(stale)} mutations run, {len(survivors)} survived"
          + (f" ({', '.join(survivors)})" if survivors else "") + (f"; stale: {', '.join(stale)}" if stale else ""))
    return 1 if survivors or stale else 0


if __name__ == "__main__":
    sys.exit(main())
