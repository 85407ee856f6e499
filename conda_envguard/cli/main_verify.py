"""`conda envguard verify`: do the snapshots still hold what envguard wrote?"""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "verify",
        help="Check that snapshots and trash records are intact.",
        description="Check each snapshot's files against its manifest (the sha256 of every "
        "file, written when the snapshot was taken), the store's permissions, and the trash "
        "records. Exits with status 1 when anything is damaged.",
        epilog="Examples:\n  conda envguard verify\n  conda envguard verify 20261128-1423",
    )
    p.add_argument(
        "snapshot_id", nargs="?", metavar="ID", help="Only this snapshot (default: all)."
    )
    p.add_argument("--all", action="store_true", help="Everything in the store (the default).")
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..integrity import verify
    from ..store import Store
    from ..trash import Trash
    from .common import emit

    store = Store()
    damaged_records: list[dict] = []
    if args.snapshot_id and not args.all:
        snaps, unreadable = [store.get(args.snapshot_id)], []
    else:
        snaps, unreadable = store.scan()
        trash = Trash()
        trash.entries()  # reading them sorts out the damaged ones
        damaged_records = [{"record": str(p), "problem": why} for p, why in trash.damaged]
    checked = []
    for snap in snaps:
        problems = verify(snap.path)
        checked.append({"id": snap.id, "path": str(snap.path), "problems": problems})
    for path in unreadable:
        problems = verify(path) or [{"file": "snapshot.json", "problem": "cannot be read"}]
        checked.append({"id": path.name, "path": str(path), "problems": problems})
    bad = [c for c in checked if c["problems"]]
    ok = not (bad or damaged_records)
    lines = []
    for c in bad:
        lines.append(f"DAMAGED  {c['id']}")
        lines += [f"    {p['file']}: {p['problem']}" for p in c["problems"]]
    for r in damaged_records:
        lines.append(f"DAMAGED  trash record {r['record']}: {r['problem']}")
    lines.append(
        f"{len(checked) - len(bad)} of {len(checked)} snapshot(s) intact"
        + (f", {len(damaged_records)} damaged trash record(s)" if damaged_records else "")
        + "."
    )
    if not ok:
        lines.append(
            "A damaged snapshot is not restored unless with --ignore-damage; a damaged trash "
            "record is ignored (the env it names is not touched)."
        )
    emit(
        {"ok": ok, "snapshots": checked, "damaged_trash_records": damaged_records},
        "\n".join(lines),
    )
    return 0 if ok else 1
