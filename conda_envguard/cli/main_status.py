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
    from ..envs import known_prefixes, name_of
    from ..policy import protection_of
    from ..store import Store
    from ..trash import Trash
    from .common import age, emit, table

    latest: dict[str, object] = {}
    snapshots = Store().all()
    for snap in snapshots:
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
                # as its latest snapshot saw them: scanning every env here would be slow
                "unowned_files": (snap.meta.get("unowned") or {}).get("files") if snap else None,
                "unowned_files_at_risk": (snap.meta.get("unowned") or {}).get("at_risk")
                if snap
                else None,
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
    from ..lost import describe, lost_envs

    holding = [e for e in envs if e["unowned_files"]]
    if holding:
        text += "\n\nFiles no package installed (at the latest snapshot; see conda envguard show):"
        text += "".join(
            f"\n  {e['name']}: {e['unowned_files']}"
            + (
                f" ({e['unowned_files_at_risk']} would stop a removal)"
                if e["unowned_files_at_risk"]
                else ""
            )
            for e in holding
        )
    lost = lost_envs(snapshots)
    if lost:
        text += "\n\nEnvironments deleted behind conda's back (rm -rf, mamba, a clean-up):"
        text += "".join(f"\n  {describe(e)}" for e in lost)
    emit({"environments": envs, "trash": len(trash), "lost": lost}, text)
    return 0
