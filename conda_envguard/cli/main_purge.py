"""`conda envguard purge`: delete environments from the trash for good, freeing their space."""

from __future__ import annotations

from argparse import Namespace
from datetime import datetime, timedelta, timezone


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options

    from .common import days

    p = verbs.add_parser(
        "purge",
        help="Delete environments from the trash for good.",
        description="Delete environments from envguard's trash, freeing their space. Their "
        "snapshots stay: 'conda envguard restore' can still rebuild them.",
        epilog="Examples:\n  conda envguard purge pytorch-exp1\n  conda envguard purge --all\n"
        "  conda envguard purge --older-than 3",
    )
    p.add_argument("env", nargs="?", metavar="ENV", help="Purge this environment's entries.")
    p.add_argument("--all", action="store_true", help="Purge everything in the trash.")
    p.add_argument(
        "--older-than",
        type=days,
        metavar="DAYS",
        help="Purge entries removed more than DAYS ago.",
    )
    p.add_argument("--expired", action="store_true", help="Purge entries past their expiry.")
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.exceptions import ArgumentError

    from ..trash import Trash, disk_usage, human_size
    from .common import emit, lock_env, plan_and_confirm, say

    if not (args.env or args.all or args.older_than is not None or args.expired):
        raise ArgumentError("Say what to purge: ENV, --all, --older-than DAYS or --expired.")
    if args.expired:  # the daily background job: also apply the envguard_keep retention
        from ..retention import prune_automatically

        prune_automatically()
    trash = Trash()
    entries = trash.find(args.env) if args.env else trash.entries()
    if args.older_than is not None:
        cutoff = datetime.now(timezone.utc) - timedelta(days=args.older_than)
        entries = [e for e in entries if datetime.fromisoformat(e.trashed_at) < cutoff]
    if args.expired:
        entries = [e for e in entries if e.expired]
    busy = [e for e in entries if e.in_use]
    for entry in busy:
        say(f"Skipping '{entry.env_name}': a conda command is removing it right now.")
    entries = [e for e in entries if not e.in_use]
    for entry in entries:
        if entry.size_bytes is None:
            entry.size_bytes = disk_usage(entry.env_dir)
    total = sum(e.size_bytes or 0 for e in entries)
    listing = "\n".join(
        f"  {e.env_name}  ({human_size(e.size_bytes)}, removed {e.trashed_at[:10]})"
        for e in entries
    )
    result = {"purged": [e.to_json() for e in entries], "freed_bytes": total}
    if not entries:
        emit({**result, "purged": []}, "Nothing to purge.")
        return 0
    plan = f"Purge for good (undo will no longer be possible):\n{listing}"
    if not plan_and_confirm(result, plan, f"Would purge:\n{listing}"):
        return 0
    for entry in entries:
        lock_env(entry.prefix, entry.env_name)
        if entry.id not in {e.id for e in trash.entries()}:
            continue  # another command undid or purged it while this one waited
        say(f"Purging {entry.env_name}...")
        trash.purge(entry)
    from ..pkgkeep import collect
    from ..settings import store_dir

    result["kept_packages"] = collect(store_dir())  # release what only those envs needed
    emit(result, f"Freed {human_size(total)}.")
    return 0
