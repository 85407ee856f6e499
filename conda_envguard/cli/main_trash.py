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
    from ..diskusage import frees
    from ..trash import PURGING, TRASHED, Trash, human_size
    from .common import emit, local_time, table

    trash = Trash()
    entries = trash.entries()
    for entry in entries:
        entry.size_bytes = frees(entry.location)  # what purging it frees, as `disk` says

    def name(e) -> str:
        if e.state == TRASHED:
            return e.env_name
        if e.state == PURGING:
            return f"{e.env_name} (partly purged)"
        return f"{e.env_name} ({'being removed' if e.in_use else 'interrupted'})"

    rows = [
        [
            e.id,
            name(e),
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
        if any(e.state not in (TRASHED, PURGING) and not e.in_use for e in entries):
            text += "\n(interrupted: its conda command was killed; undo puts it back)"
        if any(e.state not in (TRASHED, PURGING) and e.in_use for e in entries):
            text += "\n(being removed: its conda command still runs, e.g. at its question)"
        if any(e.state == PURGING for e in entries):
            text += (
                "\n(partly purged: its deletion was interrupted or failed; undo can't put it "
                "back, conda envguard purge ENV -y finishes it)"
            )
    elif trash.damaged:  # not "empty": what it holds can't be read
        text = "The trash holds no environment envguard can read."
    else:
        text = "The trash is empty."
    if trash.damaged:  # never acted on; `conda envguard verify` says the same
        text += "\n\n" + "\n".join(
            f"(damaged record, ignored: {p}: {why})" for p, why in trash.damaged
        )
    emit({"entries": [e.to_json() for e in entries], "total_bytes": total}, text)
    return 0
