"""`conda envguard purge`: delete environments from the trash for good, freeing their space."""

from __future__ import annotations

import os
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

    from ..diskusage import frees
    from ..trash import Trash, human_size
    from .common import emit, local_time, lock_env, plan_and_confirm, say

    if not (args.env or args.all or args.older_than is not None or args.expired):
        raise ArgumentError("Say what to purge: ENV, --all, --older-than DAYS or --expired.")
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
        entry.size_bytes = frees(entry.location)  # what purging it frees, as `disk` says
    surplus = []
    if args.expired:  # the daily background job: also the envguard_keep retention
        from ..retention import surplus as retention_surplus

        surplus = retention_surplus()
    total = sum(e.size_bytes or 0 for e in entries)
    listing = "\n".join(
        f"  {e.env_name}  ({human_size(e.size_bytes)}, removed {e.trashed_at[:10]})"
        for e in entries
    )
    result = {
        "purged": [e.to_json() for e in entries],
        "freed_bytes": total,
        "pruned": [s.id for s in surplus],
    }
    if not entries and not surplus:
        emit(result, "Nothing to purge.")
        return 0
    plan, would = [], []
    if entries:
        plan.append(f"Purge for good (undo will no longer be possible):\n{listing}")
        would.append(f"Would purge:\n{listing}")
    if surplus:
        from ..settings import keep

        snaps = "\n".join(f"  {s.id}  {s.env_name}  {local_time(s.created)}" for s in surplus)
        count = f"{len(surplus)} snapshot(s) beyond envguard_keep ({keep()} per env):\n{snaps}"
        plan.append(f"Delete {count}")
        would.append(f"Would delete {count}")
    if not plan_and_confirm(result, "\n".join(plan), "\n".join(would)):
        return 0
    if surplus:
        from ..retention import prune_automatically

        result["pruned"] = prune_automatically(surplus)
    purged, failed = [], []
    for entry in entries:
        lock_env(entry.prefix, entry.env_name)
        if entry.id not in {e.id for e in trash.entries()}:
            continue  # another command undid or purged it while this one waited
        say(f"Purging {entry.env_name}...")
        try:
            trash.purge(entry)
        except OSError as e:  # e.g. a full disk refused its record: say so, go on
            say(f"envguard: purging '{entry.env_name}' failed: {e.strerror or e}")
        left = max(frees(entry.location), 1) if os.path.lexists(entry.location) else 0
        if left:
            failed.append((entry, left))
        else:
            purged.append(entry)
    from ..pkgkeep import collect
    from ..settings import store_dir

    result["kept_packages"] = collect(store_dir())  # release what only those envs needed
    # only what is gone counts as freed
    freed = sum(e.size_bytes or 0 for e in purged)
    freed += sum(max((e.size_bytes or 0) - left, 0) for e, left in failed)
    result.update(purged=[e.to_json() for e in purged], freed_bytes=freed)
    result["not_purged"] = [{**e.to_json(), "left_bytes": left} for e, left in failed]
    lines = []
    if purged or failed or not result["pruned"]:
        lines.append(f"Freed {human_size(freed)}.")
    if result["pruned"]:
        lines.append(f"Deleted {len(result['pruned'])} snapshot(s) beyond envguard_keep.")
    for entry, left in failed:
        lines.append(
            f"Could not delete all of '{entry.env_name}': {human_size(left)} is left in "
            f"{entry.location}. It stays in the trash (conda envguard trash lists it): "
            f"remove what is left (or make it deletable), then run: "
            f"conda envguard purge {entry.id} -y"
        )
    emit(result, "\n".join(lines))
    return 1 if failed else 0
