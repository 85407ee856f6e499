"""`conda envguard show ID`: one snapshot in full."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "show",
        help="Show one snapshot in full.",
        description="Show one snapshot: where and when it was taken, why, and its packages.",
    )
    p.add_argument("snapshot_id", metavar="ID", help="Snapshot id (or its unique beginning).")
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..store import Store
    from .common import emit, local_time, table

    snap = Store().get(args.snapshot_id).full()
    packages = snap.packages()
    from ..integrity import verify

    damaged = [p["file"] for p in verify(snap.path)]
    meta = snap.meta
    lines = [
        f"Snapshot  {snap.id}",
        f"Env       {snap.env_name}  ({snap.prefix})",
        f"Taken     {local_time(snap.created)}  ({snap.created})",
        f"Trigger   {meta.get('trigger', '')}: {meta.get('command', '')}",
        f"conda     {meta.get('conda_version', '?')} on {meta.get('platform', '?')}",
        f"Files     {snap.path}",
        "",
        table(
            [
                [p["name"], p["version"], p.get("build", ""), p.get("channel") or p.get("kind")]
                for p in packages
            ],
            ["NAME", "VERSION", "BUILD", "CHANNEL"],
        )
        if packages
        else "(no packages)",
    ]
    if damaged:
        lines.append(
            f"\nWARNING: these files changed since the snapshot was taken: {', '.join(damaged)}"
        )
    emit({**snap.to_json(), "packages": packages, "damaged_files": damaged}, "\n".join(lines))
    return 0
