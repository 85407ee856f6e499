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
    from ..pkgkeep import Kept
    from ..trash import human_size

    kept = Kept(Store().root).summary()
    if kept["archives"]:
        text += (
            f"\n\nKept packages: {kept['archives']} archive(s), {human_size(kept['bytes'])} "
            f"({human_size(kept['only_in_store_bytes'])} of it on disk for the store alone)"
        )
    emit({"environments": envs, "trash": len(trash), "kept_packages": kept}, text)
    return 0
