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

    problems = verify(snap.path)
    damaged = [p["file"] for p in problems]
    meta = snap.meta
    lines = [
        f"Snapshot  {snap.id}",
        f"Env       {snap.env_name}  ({snap.prefix})",
        f"Taken     {local_time(snap.created)}  ({snap.created})",
        f"Trigger   {meta.get('trigger', '')}: {meta.get('command', '')}",
        f"conda     {meta.get('conda_version', '?')} on {meta.get('platform', '?')}",
        f"Files     {snap.path}",
        *(
            ["Imported  from another machine (restore it by its id)"]
            if meta.get("imported")
            else []
        ),
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
    from ..envfiles import read_listing

    listing = read_listing(snap.path)
    if listing:
        lines += _files_text(listing, meta.get("unowned") or {})
    if damaged:
        lines.append(
            "\nWARNING: this snapshot no longer matches what envguard wrote: "
            + ", ".join(f"{p['file']} ({p['problem']})" for p in problems)
        )
    data = {**snap.to_json(), "packages": packages, "damaged_files": damaged}
    emit({**data, "env_files": listing}, "\n".join(lines))
    return 0


def _files_text(listing: dict, totals: dict) -> list[str]:
    """The env's settings, and the files no package installed (kept: copied in the snapshot)."""
    from ..trash import human_size
    from .common import table

    lines = []
    if listing.get("settings"):
        lines += ["", f"Settings  {', '.join(listing['settings'])}"]
    if listing.get("unreadable"):
        lines += [
            "",
            f"Could not be read (not in the snapshot): {', '.join(listing['unreadable'])}",
        ]
    unowned = listing.get("unowned") or []
    if unowned:
        count = totals.get("files", len(unowned))
        size = human_size(totals.get("bytes", sum(u["size"] for u in unowned)))
        lines += ["", f"Files no package installed: {count}, {size}", ""]
        rows = [
            [u["path"], human_size(u["size"]), "yes" if u.get("kept") else "no"] for u in unowned
        ]
        lines.append(table(rows, ["PATH", "SIZE", "IN SNAPSHOT"]))
        if listing.get("unowned_not_listed"):
            lines.append(f"... and {listing['unowned_not_listed']} more, not listed")
    return lines
