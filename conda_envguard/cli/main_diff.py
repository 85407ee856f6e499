"""`conda envguard diff`: what changed between two snapshots, or a snapshot and the live env."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "diff",
        help="Show packages added, removed and changed between two snapshots.",
        description="Compare snapshot A with snapshot B, or with the live environment when B "
        "is left out.",
    )
    p.add_argument("a", metavar="A", help="The older snapshot id.")
    p.add_argument("b", metavar="B", nargs="?", help="The newer snapshot id (default: live env).")
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..diff import diff_packages, live_packages
    from ..envs import is_environment
    from ..exceptions import EnvironmentNotFoundError
    from ..store import Store
    from .common import emit

    store = Store()
    old = store.get(args.a)
    if args.b:
        new = store.get(args.b)
        new_label, new_packages = new.id, new.packages()
    else:
        if not is_environment(old.prefix):
            raise EnvironmentNotFoundError(old.prefix)
        new_label, new_packages = f"{old.prefix} (live)", live_packages(old.prefix)
    changes = diff_packages(old.packages(), new_packages)
    lines = [f"--- {old.id}", f"+++ {new_label}"]
    for p in changes["removed"]:
        lines.append(f"- {p['name']} {p['version']} {p.get('build', '')}".rstrip())
    for p in changes["added"]:
        lines.append(f"+ {p['name']} {p['version']} {p.get('build', '')}".rstrip())
    for c in changes["changed"]:
        old_text = " ".join(c["old"][f] for f in c["fields"])
        new_text = " ".join(c["new"][f] for f in c["fields"])
        lines.append(f"~ {c['name']} {old_text} -> {new_text}")
    if len(lines) == 2:
        lines.append("(no differences)")
    emit({"a": old.id, "b": new_label, **changes}, "\n".join(lines))
    return 0
