"""`conda envguard clean`: remove temporary envs nobody has changed or used for a while."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options

    from .common import days

    p = verbs.add_parser(
        "clean",
        help="Remove temporary environments unchanged for a while.",
        description="Remove temporary environments (names matching the envguard_temporary "
        "setting, default '*-tmp') that have been unchanged for more than --unused-for days and "
        "that no process runs from. Each is removed as any removal is: protected envs are "
        "never touched, nor envs holding files no package installed (envguard_unowned_files), "
        "and each is snapshotted and moved to the trash first, so 'conda envguard undo' "
        "brings it back. With --unchanged-for, envs of any name unchanged for longer go too.",
        epilog="Examples:\n  conda envguard clean --dry-run\n  conda envguard clean -y\n"
        "  conda envguard clean --unused-for 14 -y\n"
        "  conda envguard clean --unchanged-for 180 --dry-run",
    )
    p.add_argument(
        "--unused-for",
        type=float,
        metavar="DAYS",
        help="Remove envs unchanged for more than DAYS days (default: the "
        "envguard_temporary_days setting, 7).",
    )
    p.add_argument(
        "--unchanged-for",
        type=days,
        metavar="DAYS",
        help="Also remove envs of any name unchanged for more than DAYS days (by their "
        "conda-meta/history). Protected and frozen envs, and envs a process runs from, "
        "always stay.",
    )
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.exceptions import ArgumentError

    from ..cleanup import survey
    from ..settings import temporary_days, temporary_patterns, trash_days
    from ..trash import human_size
    from .common import emit, plan_and_confirm, say

    days = args.unused_for if args.unused_for is not None else temporary_days()
    if days < 0:
        raise ArgumentError("--unused-for takes a number of days, 0 or more.")
    patterns = temporary_patterns()
    stale = args.unchanged_for
    found = survey(patterns, days, stale)
    doomed = [c for c in found if c.keep is None]
    kept = [c for c in found if c.keep is not None]
    result = {
        "temporary_patterns": list(patterns),
        "unused_for_days": float(days),  # a float whether set by option or setting
        "unchanged_for_days": stale,
        "removed": [c.to_json() for c in doomed],
        "kept": [c.to_json() for c in kept],
        "failed": [],
    }
    kept_text = "".join(f"\n  kept {c.name}: {c.keep}" for c in kept)
    if not doomed:  # one line: what a cron job mails
        also = (
            f" ({len(kept)} kept: {'; '.join(f'{c.name}, {c.keep}' for c in kept)})"
            if kept
            else ""
        )
        envs = f"temporary env ({', '.join(patterns) or 'none set'})"
        if stale is not None:
            envs = f"{envs} unchanged for more than {days:g} days, nor any env unchanged "
            envs += f"for more than {stale:g} days"
        else:
            envs += f" unchanged for more than {days:g} days"
        emit({**result, "removed": []}, f"Nothing to clean: no {envs}{also}.")
        return 0
    listing = "\n".join(
        f"  {c.name}  (frees {human_size(c.size_bytes)}, unchanged "
        f"{c.to_json()['unchanged_days']:g} days)  {c.prefix}"
        for c in doomed
    )
    total = sum(c.size_bytes or 0 for c in doomed)
    listing += f"\n  In all {human_size(total)}: the space {_when_freed()}"
    how = (
        "snapshot, then into the trash: conda envguard undo brings one back"
        if trash_days() > 0
        else "snapshot, then deleted, as envguard's trash is off: conda envguard restore "
        "rebuilds one"
    )
    which = f"temporary env(s) unchanged for more than {days:g} days"
    if stale is not None:
        which = f"env(s): temporary ones unchanged for more than {days:g} days, any unchanged "
        which += f"for more than {stale:g} days"
    plan = f"Remove {len(doomed)} {which} ({how}):\n{listing}{kept_text}"
    if not plan_and_confirm(result, plan, f"Would remove:\n{listing}{kept_text}"):
        return 0
    removed, trashed, failed = _remove_all(doomed, say)
    result["removed"] = [c.to_json() for c in removed]
    result["failed"] = failed
    total = sum(c.size_bytes or 0 for c in removed)  # only what really went
    kind = "temporary env(s)" if stale is None else "env(s)"
    held = sum(c.size_bytes or 0 for c in trashed)
    text = f"Removed {len(removed)} {kind}, {human_size(total)}."
    if trashed:
        from ..envs import cli_arg

        first = cli_arg(trashed[0].prefix, False)
        # in the trash, their disk space is not free yet: say so, and how to free it
        text += (
            f"\n  {len(trashed)} of them ({human_size(held)}) are in envguard's trash, their "
            "disk space held until the trash expires them or you purge them.\n"
            f"  Bring one back:  conda envguard undo {first}\n"
            f"  Free space now:  conda envguard purge {first}"
            + (" (and so for each; conda envguard trash lists them)" if len(trashed) > 1 else "")
        )
    emit(result, text)
    return 1 if failed else 0


def _when_freed() -> str:
    """When the space of envs set aside comes back: the trash holds it until purge or expiry."""
    from ..settings import trash_days

    days = trash_days()
    if days == 0:
        return "is freed now (envguard's trash is off)."
    return (
        "comes back when the trash lets them go: now with conda envguard purge NAME (or "
        f"--all), or by itself when their trash entry expires in {days} day(s) "
        "(envguard_trash_days)."
    )


def _remove_all(doomed, say) -> tuple[list, list, list[dict]]:
    """Remove each env; one that can't be removed (protected meanwhile, no snapshot, files
    no package installed) stays. Returns (removed, those of them in the trash, failures)."""
    from conda import CondaError

    from ..envs import is_environment
    from ..guard import remove_env
    from ..trash import Trash

    removed, trashed, failed = [], [], []
    for candidate in doomed:
        try:
            snapshot_id = remove_env(candidate.prefix, "clean")
        except CondaError as e:
            reason = str(e)
        except Exception as e:  # e.g. the snapshot could not be written
            reason = f"{type(e).__name__}: {e}"
        else:
            entry = next((e for e in Trash().entries() if e.id == snapshot_id), None)
            where = (
                f"in the trash until {entry.expires_at[:10]}"
                if entry
                else f"deleted; rebuild it with: conda envguard restore --snapshot {snapshot_id}"
            )
            say(f"Removed {candidate.name} (snapshot {snapshot_id}; {where}).")
            removed.append(candidate)
            if entry:
                trashed.append(candidate)
            continue
        if is_environment(candidate.prefix):
            say(f"Kept {candidate.name}: {reason}")
        else:  # it left its place before the failure: say where it is, not that it stays
            say(
                f"Could not finish removing {candidate.name}: {reason}\n  It is no longer at "
                f"{candidate.prefix}: conda envguard trash shows whether the trash holds it "
                "(conda envguard undo brings it back)."
            )
        failed.append({"env_name": candidate.name, "prefix": str(candidate.prefix), "why": reason})
    return removed, trashed, failed
