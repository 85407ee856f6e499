"""`conda envguard list`: every snapshot, newest last."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "list",
        help="List snapshots, newest last.",
        description="List envguard's snapshots, newest last.",
    )
    p.add_argument(
        "-n",
        "--name",
        dest="snapshot_env",
        metavar="ENV",
        help="Only the snapshots of this environment (a name or a path).",
    )
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..store import Store
    from .common import emit, local_time, table

    store = Store()
    env = getattr(args, "snapshot_env", None)
    snaps, damaged = store.scan()
    if env:
        snaps = store.for_env(name=env, prefix=env, among=snaps)
    rows = [
        [
            s.id,
            s.env_name,
            local_time(s.created),
            s.meta.get("trigger", "") + (" (imported)" if s.meta.get("imported") else ""),
            _counts(s.meta.get("counts", {})),
        ]
        for s in snaps
    ]
    if snaps:
        text = table(rows, ["ID", "ENV", "WHEN", "TRIGGER", "PACKAGES"])
    else:
        where = f" of '{env}'" if env else ""
        text = f"No snapshots{where} yet. Take one with: conda envguard snapshot -n ENV"
    if damaged:
        text += "\n\n" + "\n".join(f"(damaged, skipped: {p})" for p in damaged)
    emit({"snapshots": [_summary(s) for s in snaps], "damaged": [str(p) for p in damaged]}, text)
    return 0


def _summary(snap) -> dict:
    meta = snap.meta
    return {
        "id": snap.id,
        "env_name": snap.env_name,
        "prefix": snap.prefix,
        "created": snap.created,
        "trigger": meta.get("trigger", ""),
        "command": meta.get("command", ""),
        "counts": meta.get("counts", {}),
        "imported": bool(meta.get("imported")),
        "path": str(snap.path),
    }


def _counts(counts: dict) -> str:
    text = f"{counts.get('conda', 0)} conda"
    return text + (f" + {counts['pip']} pip" if counts.get("pip") else "")
