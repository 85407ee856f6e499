"""`conda envguard trash`: removed envs kept for an instant undo, with sizes and expiry."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

    p = verbs.add_parser(
        "trash",
        help="List removed environments kept for undo, with their sizes and expiry.",
        description="List the environments in envguard's trash. 'conda envguard undo ENV' puts "
        "one back; 'conda envguard purge' frees the space.",
    )
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..trash import TRASHED, Trash, disk_usage, human_size
    from .common import emit, local_time, table

    trash = Trash()
    entries = trash.entries()
    for entry in entries:
        if entry.size_bytes is None:
            entry.size_bytes = disk_usage(entry.env_dir)
    rows = [
        [
            e.id,
            e.env_name if e.state == TRASHED else f"{e.env_name} (interrupted)",
            local_time(e.trashed_at),
            human_size(e.size_bytes),
            e.expires_at[:10],
            e.prefix,
        ]
        for e in entries
    ]
    total = sum(e.size_bytes or 0 for e in entries)
    if entries:
        text = table(rows, ["ID", "ENV", "REMOVED", "SIZE", "EXPIRES", "PREFIX"])
        text += f"\n\n{human_size(total)} held. Bring one back: conda envguard undo ENV"
        text += "\nFree the space: conda envguard purge ENV (or --all)"
        if any(e.state != TRASHED for e in entries):
            text += "\n(interrupted: its conda command was killed; undo puts it back)"
    else:
        text = "The trash is empty."
    if trash.damaged:  # never acted on; `conda envguard verify` says the same
        text += "\n\n" + "\n".join(
            f"(damaged record, ignored: {p}: {why})" for p, why in trash.damaged
        )
    emit({"entries": [e.to_json() for e in entries], "total_bytes": total}, text)
    return 0
