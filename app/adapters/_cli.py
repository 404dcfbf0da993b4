"""``depthbench export``: a release in the forms other tools read.

``export hub`` writes a Hugging Face dataset folder (:func:`depthbench.tasks.export_hub`);
``export lm-eval`` prints or copies the lm-evaluation-harness task folder shipped in
:mod:`depthbench.adapters`.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from depthbench.adapters import lm_eval_tasks_dir
from depthbench.errors import UserError
from depthbench.tasks import export_hub

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``export`` (``export hub``, ``export lm-eval``) to the CLI."""
    p = sub.add_parser("export", help="export a release for the Hugging Face Hub, or the lm-eval task folder",
                       description="Write a dataset release in the form other tools read.")
    es = p.add_subparsers(dest="export_command", metavar="FORMAT")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    h = es.add_parser("hub", help="a folder huggingface_hub.upload_folder pushes as is (Parquet per family and "
                                  "split, a dataset card with one config per family)",
                      description="Export RELEASE_DIR (a shipped release such as data/v3, or a folder of "
                                  "`depthbench generate` folders) as a "
                                  "Hugging Face dataset folder: <family>/<split>-*.parquet, manifests/, README.md "
                                  "with configs and dataset_info. Push it with huggingface_hub's upload_folder "
                                  "(repo_type='dataset').")
    h.add_argument("release", metavar="RELEASE_DIR")
    h.add_argument("--out", required=True, metavar="DIR", help="new folder")
    h.set_defaults(func=_cmd_hub)
    lm = es.add_parser("lm-eval", help="print (or copy to --out) the lm-evaluation-harness task folder",
                       description="The lm-evaluation-harness tasks depthbench_<family> (tag depthbench): use "
                                   "lm_eval --include_path \"$(depthbench export lm-eval)\" --tasks depthbench ...; "
                                   "--metadata '{\"data\": DIR}' evaluates another dataset.")
    lm.add_argument("--out", default=None, metavar="DIR", help="copy the folder here (new) instead of printing its path")
    lm.set_defaults(func=_cmd_lm_eval)


def _cmd_hub(args: argparse.Namespace) -> int:
    res = export_hub(args.release, args.out)
    print(f"wrote {res['out']}: {len(res['configs'])} config(s) ({', '.join(res['configs'])}), {res['items']} items, "
          f"{len(res['files'])} files")
    print(f"push: python -c \"import huggingface_hub as h; h.upload_folder(repo_id='USER/depthbench', "
          f"repo_type='dataset', folder_path='{res['out']}')\"")
    return 0


def _cmd_lm_eval(args: argparse.Namespace) -> int:
    src = lm_eval_tasks_dir()
    if args.out is None:
        print(src)
        return 0
    dst = Path(args.out)
    if dst.exists() and any(dst.iterdir()):
        raise UserError(f"--out: {str(dst)!r} exists and is not empty; choose a new folder")
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    print(f"wrote {dst}: lm_eval --include_path {dst} --tasks depthbench ...")
    return 0
