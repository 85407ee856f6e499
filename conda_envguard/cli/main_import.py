"""`conda envguard import`: add a snapshot (and its packages) from an exported file, and with
--restore, restore it in the same process."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

    p = verbs.add_parser(
        "import",
        help="Add a snapshot exported on another machine to this store (and restore it).",
        description="Add the snapshot in a file written by 'conda envguard export' to the "
        "store, checking every file and package against its checksum. A different snapshot "
        "with the same id is never overwritten. Its packages are kept in the store, so "
        "'conda envguard restore' works without a channel. With --restore, the env is then "
        "restored in the same command (into this machine's envs dir, or -n/-p).",
        epilog="Examples:\n  conda envguard import myenv.envguard --restore\n"
        "  conda envguard import myenv.envguard --restore -n myenv-copy\n"
        "  conda envguard import myenv.envguard\n  conda envguard restore myenv",
    )
    p.add_argument("file", metavar="FILE", help="The bundle to import.")
    p.add_argument(
        "--restore",
        action="store_true",
        help="Also restore the env, as 'conda envguard restore' would (each package is "
        "extracted once, for both the check and the env).",
    )
    add_parser_prefix(p)
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    import shlex

    from conda.base.context import context

    from ..bundle import import_bundle, inspect_bundle
    from ..envs import plain_name
    from ..store import Store
    from .common import emit

    if (args.name or args.prefix) and not args.restore:
        from conda.exceptions import ArgumentError

        raise ArgumentError("-n/-p say where --restore puts the env: add --restore.")
    store = Store()
    if args.restore:
        return _import_and_restore(args, store)
    if context.dry_run:
        result, _ = inspect_bundle(Path(args.file), store.root)
        emit(result, f"{_summary(result, dry_run=True)}\n(dry run: nothing changed)")
        return 0
    result = import_bundle(Path(args.file), store.root)
    name = result["env_name"] if plain_name(result["env_name"]) else ""
    # Every part of a command to paste is quoted: the bundle chose these strings.
    target = f"-n {shlex.quote(name)}" if name else "-n NEW_NAME"
    emit(
        result,
        f"{_summary(result)}\n"
        f"  Restore it: conda envguard restore --snapshot {shlex.quote(result['snapshot'])} "
        f"{target}",
    )
    return 0


def _summary(result: dict, dry_run: bool = False) -> str:
    import shlex

    of = f"Snapshot {result['snapshot']} of {shlex.quote(result['env_name'] or '?')}"
    if dry_run:
        what = "would be imported" if result["status"] == "imported" else "is in the store"
        return f"{of} {what}, with {result['packages']} package(s) (checked as they are imported)."
    status = {"imported": "imported", "already_present": "already in the store"}
    return f"{of}: {status[result['status']]} ({result['packages']} package(s) added)."


def _import_and_restore(args: Namespace, store) -> int:
    """Import, then restore the imported snapshot, in one process: the bundle's packages are
    checked and extracted once, into a package cache of this restore's own."""
    import shlex

    from conda.base.context import context

    from ..bundle import import_bundle, inspect_bundle
    from ..pkgkeep import restore_cache
    from .common import say
    from .main_restore import _execute

    bundle = Path(args.file)
    restore_args = Namespace(
        env=None, snapshot=None, at=None, name=args.name, prefix=args.prefix, force=False,
        ignore_damage=False, from_git=False, rev=None, host=None, in_place=False,
        yes=getattr(args, "yes", False), json=getattr(args, "json", False),
    )  # fmt: skip
    if context.dry_run:
        # the restore's plan needs the snapshot in the store: say what the bundle holds and
        # where it would go, from its checked manifest and snapshot metadata
        from ..envs import cli_arg
        from ..exceptions import TargetExistsError
        from .common import check_target

        result, method = inspect_bundle(bundle, store.root)
        target = _planned_target(args, result)
        again = f"conda envguard import {shlex.quote(str(bundle))}"
        replace = (
            f"{again}, then conda envguard restore --snapshot {shlex.quote(result['snapshot'])}"
            f" {cli_arg(target)} --force"
        )
        occupied = TargetExistsError(str(target), f"{again} --restore", replace)
        check_target(target, False, f"{again} --restore -n NEW_NAME", occupied)
        from .common import emit

        plan = {
            "import": result,
            "snapshot": result["snapshot"],
            "env_name": result["env_name"],
            "target": str(target),
            "method": method,
        }  # the keys of restore --dry-run's plan, with the import's own report
        emit(
            plan,
            f"{_summary(result, dry_run=True)}\n  then restore it to {target}\n"
            "(dry run: nothing changed)",
        )
        return 0
    with restore_cache(store.root) as extracted:
        result = import_bundle(bundle, store.root, extract_into=extracted)
        say(_summary(result))
        restore_args.snapshot = result["snapshot"]
        return _execute(restore_args, extracted=extracted, imported=result)


def _planned_target(args: Namespace, result: dict) -> Path:
    from ..envs import plain_name, prefix_for_name, resolve
    from ..exceptions import EnvGuardError

    if args.name or args.prefix:
        return Path(resolve(args.name, args.prefix))
    if not plain_name(result["env_name"]):
        raise EnvGuardError(
            f"The bundle's env name {result['env_name']!r} is not a plain name: say where to "
            "restore it.\n  conda envguard import FILE --restore -n NEW_NAME"
        )
    return Path(prefix_for_name(result["env_name"]))
