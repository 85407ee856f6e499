"""`conda envguard unprotect`: remove the marker set by `conda envguard protect`."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_parser_json, add_parser_prefix

    p = verbs.add_parser(
        "unprotect",
        help="Remove the protection set with 'conda envguard protect'.",
        description="Remove the marker set with 'conda envguard protect'. Patterns from "
        "envguard_protect in .condarc still apply: 'conda envguard status' shows them.",
    )
    add_parser_prefix(p, prefix_required=True)
    add_parser_json(p)


def execute(args: Namespace) -> int:
    from ..envs import name_of
    from ..policy import protection_of, remove_marker
    from .common import emit, target_prefix

    prefix = target_prefix(args)
    name = name_of(prefix)
    try:
        removed = remove_marker(prefix)
    except OSError as e:
        from ..exceptions import EnvGuardError
        from ..policy import MARKER

        raise EnvGuardError(
            f"envguard could not remove the protect marker {prefix / MARKER} "
            f"({e.strerror or e}), so '{name}' is still protected.\n"
            "  Fix that path (or the env's permissions), then run this command again."
        ) from e
    still = protection_of(prefix)
    text = f"Unprotected '{name}'." if removed else f"'{name}' had no envguard protect marker."
    if still:
        text += f"\nIt is still protected by {still.rule}.\n  To change that: {still.how_to}"
    emit(
        {
            "env_name": name,
            "prefix": str(prefix),
            "marker_removed": removed,
            "protected": still is not None,
            "protection": still.to_json() if still else None,
        },
        text,
    )
    return 0
