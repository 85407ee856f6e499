"""`conda envguard unprotect`: remove the marker set by `conda envguard protect`."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

    p = verbs.add_parser(
        "unprotect",
        help="Remove the protection set with 'conda envguard protect'.",
        description="Remove the marker set with 'conda envguard protect'. Patterns from "
        "envguard_protect in .condarc still apply: 'conda envguard status' shows them.",
    )
    add_parser_prefix(p, prefix_required=True)
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..envs import name_of
    from ..policy import MARKER, protection_of, remove_marker
    from .common import emit, target_prefix

    prefix = target_prefix(args)
    name = name_of(prefix)
    if context.dry_run:
        has = (prefix / MARKER).exists()
        emit(
            {
                "env_name": name,
                "prefix": str(prefix),
                "marker_removed": has,
                "protected": None,  # known once the marker is gone
                "protection": None,
            },
            f"Would remove {prefix / MARKER}. Nothing was changed."
            if has
            else f"'{name}' has no envguard protect marker. Nothing was changed.",
        )
        return 0
    try:
        removed = remove_marker(prefix)
    except OSError as e:
        from ..exceptions import EnvGuardError

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
