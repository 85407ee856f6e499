"""`conda envguard import`: add a snapshot (and its packages) from an exported file."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options

    p = verbs.add_parser(
        "import",
        help="Add a snapshot exported on another machine to this store.",
        description="Add the snapshot in a file written by 'conda envguard export' to the "
        "store, checking every file and package against its checksum. A different snapshot "
        "with the same id is never overwritten. Its packages are kept in the store, so "
        "'conda envguard restore' works without a channel.",
        epilog="Example:\n  conda envguard import myenv.envguard\n  conda envguard restore myenv",
    )
    p.add_argument("file", metavar="FILE", help="The bundle to import.")
    add_output_and_prompt_options(p)


STATUS_TEXT = {"imported": "imported", "already_present": "already in the store"}


def execute(args: Namespace) -> int:
    import shlex

    from conda.base.context import context

    from ..bundle import import_bundle
    from ..envs import plain_name
    from ..store import Store
    from .common import emit

    result = import_bundle(Path(args.file), Store().root, dry_run=context.dry_run)
    name = result["env_name"] if plain_name(result["env_name"]) else ""
    # Every part of a command to paste is quoted: the bundle chose these strings.
    target = f"-n {shlex.quote(name)}" if name else "-n NEW_NAME"
    restore = f"conda envguard restore --snapshot {shlex.quote(result['snapshot'])} {target}"
    of = f"Snapshot {result['snapshot']} of {shlex.quote(result['env_name'] or '?')}"
    if context.dry_run:
        what = "would be imported" if result["status"] == "imported" else "is in the store"
        text = (
            f"{of} {what}, with {result['packages']} package(s) (checked as they are "
            "imported). Nothing was changed."
        )
    else:
        status = STATUS_TEXT[result["status"]]
        text = f"{of}: {status} ({result['packages']} package(s) added).\n  Restore it: {restore}"
    emit(result, text)
    return 0
