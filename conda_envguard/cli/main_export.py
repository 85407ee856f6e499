"""`conda envguard export`: one file holding a snapshot (and its packages), to move an env."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options

    p = verbs.add_parser(
        "export",
        help="Write a snapshot (and its packages) to one file for another machine.",
        description="Write a snapshot to one file (a tar) that 'conda envguard import' reads on "
        "another machine. With --with-packages, the file also holds every package archive the "
        "snapshot's lock names, each checked against the lock's checksum: the other machine "
        "restores the env without any channel.",
        epilog="Examples:\n  conda envguard export myenv -o myenv.envguard\n"
        "  conda envguard export 20261128-1423 -o myenv.envguard --with-packages",
    )
    p.add_argument("what", metavar="ID_OR_ENV", help="A snapshot id, or an env (its latest).")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="The file to write.")
    p.add_argument(
        "--with-packages",
        action="store_true",
        help="Include the package archives (from the package cache or envguard's kept ones).",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="Replace FILE if it exists (without it, or conda's -y/always_yes, export refuses).",
    )
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..bundle import check_output, export
    from ..exceptions import SnapshotNotFoundError
    from ..store import Store
    from ..trash import human_size
    from .common import emit

    command = ["conda", "envguard", "export", args.what]
    if args.with_packages:
        command.append("--with-packages")
    check_output(Path(args.output), args.force or context.always_yes, command)
    store = Store()
    try:
        snap = store.get(args.what)
    except SnapshotNotFoundError:
        snap = _latest_of_env(store, args.what)
        if snap is None:
            raise
    if isinstance(snap, str):  # a dry run, for an env it would snapshot first
        emit(
            {"snapshot": None, "env_name": snap, "file": args.output},
            f"Would snapshot '{snap}' (changed since its last snapshot, or never taken), then "
            f"write it to {args.output}. Nothing was changed.",
        )
        return 0
    if context.dry_run:
        packages = " and its packages" if args.with_packages else ""
        emit(
            {"snapshot": snap.id, "env_name": snap.env_name, "file": args.output},
            f"Would write snapshot {snap.id} of '{snap.env_name}'{packages} to "
            f"{args.output}. Nothing was changed.",
        )
        return 0
    result = export(snap, Path(args.output), args.with_packages, store.root)
    packages = f" and {result['packages']} package(s)" if args.with_packages else ""
    secrets = (
        "\n  The env's secret values stay on this machine: a restore from this file names "
        "the variables it cannot set."
        if result["secrets_left_out"]
        else ""
    )
    emit(
        {**result, "env_name": snap.env_name},
        f"Wrote snapshot {result['snapshot']} of '{snap.env_name}'{packages} to "
        f"{result['file']} ({human_size(result['bytes'])}).{secrets}\n"
        f"  On the other machine: conda envguard import {Path(result['file']).name}",
    )
    return 0


def _latest_of_env(store, what: str):
    """The latest snapshot of the env `what` names. A live env changed since its latest
    snapshot, or never snapshotted, is snapshotted first (as `snapshot` would): what is
    exported is the env as it is now. Under --dry-run, the env's name instead of the snapshot
    it would take."""
    from conda import CondaError
    from conda.base.context import context

    from ..envs import is_environment, name_of, resolve
    from ..saving import save
    from .common import lock_env, say

    try:
        prefix = resolve(name=what)
    except CondaError:
        prefix = None  # not a name an env can have: a removed env's path, or nothing
    if prefix is not None and is_environment(prefix):
        name = name_of(prefix)
        lock_env(prefix, name)
        if is_environment(prefix) and not store.is_unchanged(prefix):
            if context.dry_run:
                return name
            say(f"{name}: saving snapshot (changed since its last one, or never taken)...")
            return save(prefix, name, "export", "conda envguard export", store=store)
        return store.latest(prefix=str(prefix))
    return store.latest(name=what, prefix=what)
