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
    store = Store()
    snapshots = store.all()
    for snap in snapshots:
        latest[os.path.normpath(snap.prefix)] = snap
    by_id = {snap.id: snap for snap in snapshots}
    envs = []
    for prefix in known_prefixes():
        protection = protection_of(prefix)
        # taken of the env at this prefix, or restored into it (one imported from another
        # machine names that machine's prefix): the newer
        found = [latest.get(os.path.normpath(prefix)), by_id.get(store.recorded(prefix))]
        snap = max((s for s in found if s), key=lambda s: s.order, default=None)
        unowned = (snap.meta.get("unowned") or {}) if snap else {}
        if not snap or not store.is_unchanged(Path(prefix)):
            # no snapshot describes it as it is now: a file added, maybe
            unowned = _unowned_now(prefix) or unowned
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
                # as its latest snapshot saw them, or, changed since or never snapshotted, as
                # they are now: only those envs are read (reading every env would be slow)
                "unowned_files": unowned.get("files"),
                "unowned_files_at_risk": unowned.get("at_risk"),
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
    from ..lost import describe, lost_envs

    holding = [e for e in envs if e["unowned_files"]]
    if holding:
        text += (
            "\n\nFiles no package installed (as they are now in an env changed since its "
            "latest snapshot, else as that snapshot saw them; see conda envguard show):"
        )
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
    from ..settings import problems

    unreadable = [p.to_json() for p in problems()]
    if unreadable:
        text += (
            "\n\nSettings envguard cannot read (they read as their defaults, and a command "
            "that would remove, overwrite or rename an env stops until they are fixed):"
        )
        text += "".join(f"\n  {p['text']}" for p in unreadable)
    from ..githistory import HELD, held

    git_held = held(Store().root)
    if git_held:
        text += (
            f"\n\nSnapshots held out of the git history ({Store().root / HELD}; "
            "conda envguard sync tries them again):"
        )
        text += "".join(f"\n  {h['id']}: {h['reason']}" for h in git_held)
    from ..pkgkeep import Kept
    from ..trash import human_size

    kept = Kept(Store().root).summary()
    if kept["archives"]:
        text += (
            f"\n\nKept packages: {kept['archives']} archive(s), {human_size(kept['bytes'])} "
            f"({human_size(kept['only_in_store_bytes'])} of it on disk for the store alone)"
        )
    emit(
        {
            "environments": envs,
            "trash": len(trash),
            "rules": rules,
            "lost": lost,
            "kept_packages": kept,
            "unreadable_settings": unreadable,
            "git_held": git_held,
        },
        text,
    )
    return 0


def _unowned_now(prefix: str) -> dict | None:
    """The env's files no package installed, read now (None when it cannot be read)."""
    from ..envfiles import read_contents

    try:
        return read_contents(prefix).files.summary()
    except Exception:
        return None  # status shows what the snapshot saw


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
