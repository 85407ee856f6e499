"""`conda envguard import`: add a snapshot (and its packages) from an exported file."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json

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
    add_parser_json(p)


def execute(args: Namespace) -> int:
    import shlex

    from ..bundle import import_bundle
    from ..envs import plain_name
    from ..store import Store
    from .common import emit

    result = import_bundle(Path(args.file), Store().root)
    name = result["env_name"] if plain_name(result["env_name"]) else ""
    # Every part of a command to paste is quoted: the bundle chose these strings.
    target = f"-n {shlex.quote(name)}" if name else "-n NEW_NAME"
    emit(
        result,
        f"Snapshot {result['snapshot']} of {shlex.quote(result['env_name'] or '?')}: "
        f"{result['status']} ({result['packages']} package(s) added).\n"
        f"  Restore it: conda envguard restore --snapshot {shlex.quote(result['snapshot'])} "
        f"{target}",
    )
    return 0
