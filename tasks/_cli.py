"""``depthbench tasks list`` and ``depthbench tasks show NAME``."""

from __future__ import annotations

import argparse

from depthbench._lazy import lazy
from depthbench.tasks._spec import list_specs, load_spec

yaml = lazy("yaml")

__all__ = ["register"]


def _cmd_list(args: argparse.Namespace) -> int:
    specs = list_specs()
    rows = [(s.name, s.family, ",".join(str(d) for d in s.depths),
             " ".join(f"{k}:{v.n_per_depth}/depth" for k, v in s.splits.items())) for s in specs]
    head = ("name", "family", "depths", "splits")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    spec = load_spec(args.name)
    data = spec.to_dict()
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    print(f"# {spec.source}")
    print(f"# spec_sha256: {spec.sha256}")
    print(text, end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tasks`` command group."""
    p = subparsers.add_parser("tasks", help="list or show task specs",
                              description="List the bundled task specs or show one, resolved (include: applied).")
    sub = p.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND")
    pl = sub.add_parser("list", help="list bundled task specs")
    pl.set_defaults(func=_cmd_list)
    ps = sub.add_parser("show", help="show one resolved task spec as YAML")
    ps.add_argument("name", help="task name or path to a .yaml spec")
    ps.set_defaults(func=_cmd_show)

    def _no_sub(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_no_sub)
