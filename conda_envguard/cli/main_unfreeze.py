"""`conda envguard unfreeze`: remove exactly what `conda envguard freeze` wrote."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

    p = verbs.add_parser(
        "unfreeze",
        help="Remove the markers written by 'conda envguard freeze'.",
        description="Remove the frozen marker and the EXTERNALLY-MANAGED file that "
        "'conda envguard freeze' wrote, and only those: a marker someone else wrote (or one "
        "changed since) stays.",
    )
    add_parser_prefix(p, prefix_required=True)
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..envs import name_of
    from ..freeze import RECORD, read_record, unfreeze
    from .common import emit, target_prefix

    prefix = target_prefix(args)
    name = name_of(prefix)
    if context.dry_run:
        ours = read_record(prefix) is not None
        emit(
            {"env_name": name, "prefix": str(prefix), "was_frozen_by_envguard": ours},
            f"Would remove what 'conda envguard freeze' wrote in '{name}', and only that. "
            "Nothing was changed."
            if ours
            else f"'{name}' was not frozen by 'conda envguard freeze'. Nothing was changed.",
        )
        return 0
    try:
        done = unfreeze(prefix)
    except OSError as e:
        from ..exceptions import EnvGuardError

        raise EnvGuardError(
            f"envguard could not unfreeze '{name}': {e.filename or prefix}: "
            f"{e.strerror or e}.\n"
            "  It may still be frozen in part: conda envguard status shows its markers. Fix "
            "that path, then run this command again."
        ) from e
    left = done["left_alone"]
    if done["record_unreadable"]:
        text = (
            f"envguard's record of what it froze in '{name}' ({prefix / RECORD}) cannot be "
            "read, so it removed nothing: it cannot tell its markers from anyone else's.\n"
            "  Remove the markers listed below by hand if they are envguard's, then that record."
        )
    elif not done["was_frozen_by_envguard"]:
        text = f"'{name}' was not frozen by 'conda envguard freeze'."
    elif left:
        text = f"Unfroze '{name}' as far as envguard froze it."
    else:
        text = f"Unfroze '{name}': conda and pip install into it again."
    for rel in left:
        text += f"\n  {prefix / rel} was not written by envguard (or changed since): left as is."
    emit({"env_name": name, "prefix": str(prefix), **done}, text)
    return 0
