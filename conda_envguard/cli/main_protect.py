"""`conda envguard protect`: mark an env so that nothing removes, overwrites or renames it."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

    p = verbs.add_parser(
        "protect",
        help="Protect an environment from removal, overwrite and rename.",
        description="Protect an environment: conda remove --all, conda env remove, conda create "
        "over it and conda rename stop with an error until it is unprotected.",
        epilog="Example:\n  conda envguard protect -n pytorch-exp1 --reason 'paper results'",
    )
    add_parser_prefix(p, prefix_required=True)
    p.add_argument("--reason", help="Why it matters; shown in the error that stops a removal.")
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..envs import cli_arg, name_of
    from ..policy import MARKER, write_marker
    from .common import emit, target_prefix

    prefix = target_prefix(args)
    name = name_of(prefix)
    if name == "base":
        emit(
            {"env_name": name, "prefix": str(prefix), "protected": True},
            "base is always protected.",
        )
        return 0
    if context.dry_run:
        emit(
            {"env_name": name, "prefix": str(prefix), "protected": True},
            f"Would protect '{name}' (marker {prefix / MARKER}). Nothing was changed.",
        )
        return 0
    try:
        marker = write_marker(prefix, args.reason)
    except OSError as e:
        from ..exceptions import EnvGuardError

        raise EnvGuardError(
            f"envguard could not write the protect marker {prefix / MARKER} "
            f"({e.strerror or e}), so '{name}' is not protected by it.\n"
            "  Fix that path (or the env's permissions), then run this command again."
        ) from e
    emit(
        {"env_name": name, "prefix": str(prefix), "protected": True, **marker},
        f"Protected '{name}'. Undo with: conda envguard unprotect {cli_arg(prefix)}",
    )
    return 0
