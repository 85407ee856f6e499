"""`conda envguard snapshot`: take snapshots by hand, or from cron with --all."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

    p = verbs.add_parser(
        "snapshot",
        help="Snapshot an environment now (or every environment with --all).",
        description="Save the exact state of an environment (environment.yml, explicit lock, "
        "pip packages, conda history). An env unchanged since its last snapshot is skipped.",
        epilog="Examples:\n  conda envguard snapshot -n myenv\n  conda envguard snapshot --all"
        "   # e.g. nightly from cron",
    )
    group = add_parser_prefix(p)
    group.add_argument("--all", action="store_true", help="Snapshot every known environment.")
    p.add_argument(
        "--force", action="store_true", help="Snapshot even when nothing changed since the last."
    )
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..envs import is_environment, known_prefixes, name_of
    from ..exceptions import EnvGuardError
    from ..saving import commit_queued, save
    from ..store import Store
    from .common import emit, lock_env, say, target_prefix

    if not (args.all or args.name or args.prefix):
        from conda.exceptions import ArgumentError

        raise ArgumentError(
            "Name the environment with -n NAME or -p PREFIX, or snapshot every environment "
            "with --all."
        )
    store = Store()
    prefixes = known_prefixes() if args.all else [target_prefix(args)]
    taken, skipped = [], []
    for prefix in prefixes:
        name = name_of(prefix)
        lock_env(prefix, name)
        if not is_environment(prefix):
            skipped.append({"env_name": name, "prefix": str(prefix), "reason": "removed"})
            continue  # removed while this command waited for it
        if not args.force and store.is_unchanged(prefix):
            skipped.append({"env_name": name, "prefix": str(prefix), "reason": "unchanged"})
            say(f"{name}: unchanged since its last snapshot (use --force to take one anyway)")
            continue
        if context.dry_run:  # listed as it would be taken, with no id
            taken.append({"id": None, "env_name": name, "prefix": str(prefix), "path": None})
            continue
        say(f"{name}: saving snapshot...")
        snap = save(
            prefix, name, "manual", "conda envguard snapshot", store=store, detached_git=False
        )
        taken.append(
            {"id": snap.id, "env_name": name, "prefix": str(prefix), "path": str(snap.path)}
        )
    if context.dry_run:
        text = "\n".join(f"Would snapshot '{t['env_name']}'." for t in taken)
        result = {"taken": taken, "skipped": skipped, "committed": None}
        emit(result, text or "Nothing to snapshot.")
        return 0
    text = "\n".join(f"Saved snapshot {t['id']} of '{t['env_name']}'." for t in taken)
    # Committed before this returns (`snapshot --all && git push` pushes them), with what is
    # still queued and, for a history set up since, every env's latest snapshot.
    try:
        committed = commit_queued(store)
    except EnvGuardError:
        say(text)  # saved all the same: only their commit failed
        raise
    if committed:
        done = f"Committed {len(committed)} snapshot(s) to the git history."
        text = f"{text}\n{done}" if text else done
    # committed: the ids committed to the git history (not unchanged ones); None without one
    emit({"taken": taken, "skipped": skipped, "committed": committed}, text or None)
    return 0
