"""Load every file of the canonical release (data/<newest>) with the *minimum* supported `datasets` (2.18, the floor in
pyproject.toml) and check the values equal the JSON lines, floats included.

Run by `.ci/run` in a throwaway virtual environment (datasets 2.18 needs numpy < 2 and an
older pyarrow, which the main test environment does not have); not collected by pytest.
Exit status 0 when every file loads with one type per column and the same values.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import datasets

DATA = Path(__file__).resolve().parents[1] / "data"
# depthbench is not installed in that environment: the canonical release is the newest folder
RELEASE = max((p for p in DATA.glob("v*") if p.name[1:].isdigit()), key=lambda p: int(p.name[1:]))
TASKS = ("graph_connectivity", "multihop_arithmetic", "grid_planning")


def main() -> int:
    files = [RELEASE / t / f"{s}.jsonl" for t in TASKS for s in ("test", "dev")]
    with tempfile.TemporaryDirectory() as cache:
        # all families in one dataset: one type per column across families
        ds = datasets.load_dataset("json", data_files=[str(f) for f in files], split="train", cache_dir=cache)
        want = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
        got = ds.to_list()
        if got != want:
            print("datasets", datasets.__version__, ": values differ from the JSON lines", file=sys.stderr)
            return 1
        if any(r["chance"] != json.loads(r["meta_json"])["chance"] for r in got):
            print("chance lost digits", file=sys.stderr)
            return 1
        types = {k: str(v.dtype) for k, v in ds.features.items()}
    print(f"datasets {datasets.__version__}: {len(got)} records of {len(TASKS)} families load; columns {types}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
