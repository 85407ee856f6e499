"""`conda envguard status`: every known env, its protection, and its latest snapshot."""

from __future__ import annotations

import os
from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "status",
        help="Show every environment's protection and latest snapshot.",
        description="Show every environment conda knows, whether envguard protects it (and by "
        "which rule), and how old its latest snapshot is.",
    )
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from pathlib import Path

    from ..envs import known_prefixes, name_of
    from ..freeze import frozen_state
    from ..policy import protection_of
    from ..rules import rules_in_force
    from ..store import Store
    from ..trash import Trash
    from .common import age, emit, table

    latest: dict[str, object] = {}
    for snap in Store().all():
        latest[os.path.normpath(snap.prefix)] = snap
    envs = []
    for prefix in known_prefixes():
        protection = protection_of(prefix)
        snap = latest.get(os.path.normpath(prefix))
        envs.append(
            {
                "name": name_of(prefix),
                "prefix": prefix,
                "protected": protection is not None,
                "protection": protection.to_json() if protection else None,
                "latest_snapshot": snap.id if snap else None,
                "latest_snapshot_created": snap.created if snap else None,
                "frozen": frozen_state(Path(prefix)),
                "name_problems": _name_problems(prefix),
            }
        )
    trash = Trash().entries()
    rows = [
        [
            e["name"],
            e["protection"]["kind"] if e["protected"] else "-",
            age(e["latest_snapshot_created"]) if e["latest_snapshot"] else "never",
            e["prefix"],
        ]
        for e in envs
    ]
    text = table(rows, ["ENV", "PROTECTED", "LAST SNAPSHOT", "PREFIX"])
    if trash:
        text += f"\n\n{len(trash)} removed env(s) in the trash: conda envguard trash"
    text += _team_text(envs, rules := rules_in_force())
    emit({"environments": envs, "trash": len(trash), "rules": rules}, text)
    return 0


def _name_problems(prefix: str) -> list[dict]:
    from ..envs import name_of
    from ..naming import problems

    name = name_of(prefix)
    if name == prefix:
        return []  # a path, not a name
    return [p.to_json() for p in problems(name) if p.kind != "bad-pattern"]


def _team_text(envs: list[dict], rules: list[dict]) -> str:
    """Frozen envs, names that break the rules, and where each rule comes from."""
    text = ""
    frozen = [e for e in envs if e["frozen"]]
    if frozen:
        text += "\n\nFrozen:"
        for e in frozen:
            f = e["frozen"]
            by = f" by {f['by']} on {f['at'][:10]}" if f["by_envguard"] else " (not by envguard)"
            why = f" ({f['reason']})" if f["reason"] else ""
            refuse = (
                "conda and pip refuse installs" if f["pip_marker"] else "conda refuses installs"
            )
            text += f"\n  {e['name']}{by}{why}: {refuse}"
    named = [e for e in envs if e["name_problems"]]
    if named:
        text += "\n\nNames that break the naming rules:"
        for e in named:
            text += "".join(f"\n  {e['name']}: {p['text']}" for p in e["name_problems"])
    if rules:
        text += "\n\nRules in force:"
        for r in rules:
            text += f"\n  {r['setting']} {r['value']!r}: set in {r['where']}"
    return text
