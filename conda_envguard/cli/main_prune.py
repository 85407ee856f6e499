"""`conda envguard prune`: delete old snapshots, keeping the newest of each env."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options

    from .common import count, days

    p = verbs.add_parser(
        "prune",
        help="Delete old snapshots (keeps the newest of each env unless --keep 0).",
        description="Delete old snapshots. Keeps the newest N of each env (--keep, default: the "
        "envguard_keep setting); with --older-than, deletes only those of the others older "
        "than DAYS (with --older-than alone, N is 1: the newest of each env stays). The last "
        "snapshot of an env that no longer exists is never pruned unless that env is named "
        "with -n.",
    )
    p.add_argument(
        "-n", "--name", dest="snapshot_env", metavar="ENV", help="Only this env's snapshots."
    )
    p.add_argument("--keep", type=count, metavar="N", help="Snapshots to keep per env.")
    p.add_argument(
        "--older-than", type=days, metavar="DAYS", help="Prune snapshots older than DAYS."
    )
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..retention import select
    from ..settings import keep
    from ..store import Store
    from .common import emit, local_time, lock_store, plan_and_confirm

    store = Store()
    lock_store()
    env = args.snapshot_env
    snaps = store.for_env(name=env, prefix=env) if env else store.all()
    n_keep = (
        args.keep if args.keep is not None else (None if args.older_than is not None else keep())
    )
    doomed = select(snaps, n_keep, args.older_than, env)
    listing = "\n".join(f"  {s.id}  {s.env_name}  {local_time(s.created)}" for s in doomed)
    result = {"pruned": [s.id for s in doomed], "dry_run": bool(context.dry_run)}
    if not doomed:
        emit(result, "Nothing to prune.")
        return 0
    count = f"{len(doomed)} snapshot(s):\n{listing}"
    if not plan_and_confirm(result, f"Delete {count}", f"Would delete {count}"):
        return 0
    for snap in doomed:
        store.delete(snap)
    from ..pkgkeep import collect

    result["kept_packages"] = collect(store.root)  # release what only those snapshots needed
    emit(result, f"Deleted {len(doomed)} snapshot(s).")
    return 0
