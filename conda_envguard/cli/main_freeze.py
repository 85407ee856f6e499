"""`conda envguard freeze`: nobody installs into an env any more, neither conda nor pip."""

from __future__ import annotations

from argparse import Namespace


def configure_parser(verbs) -> None:
    from conda.cli.helpers import add_output_and_prompt_options, add_parser_prefix

    p = verbs.add_parser(
        "freeze",
        help="Freeze an environment: conda and pip refuse to install into it.",
        description="Freeze an environment (base included): writes conda's own frozen marker "
        "(conda-meta/frozen, so conda refuses install, update and remove in it) and a PEP 668 "
        "EXTERNALLY-MANAGED file in its Python's standard library (so pip refuses to install "
        "into it), each saying who froze it, why, and to create your own env instead. A marker "
        "someone else wrote is left as it is.",
        epilog="Example:\n  conda envguard freeze -n base --reason 'shared by the whole team'",
    )
    add_parser_prefix(p, prefix_required=True)
    p.add_argument("--reason", help="Why; shown to whoever tries to install into it.")
    add_output_and_prompt_options(p)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..envs import cli_arg, name_of
    from ..freeze import freeze, stdlib_dir
    from .common import emit, target_prefix

    prefix = target_prefix(args)
    name = name_of(prefix)
    if context.dry_run:
        python = stdlib_dir(prefix) is not None
        pip = " and pip's EXTERNALLY-MANAGED file" if python else ""
        emit(
            {"env_name": name, "prefix": str(prefix), "frozen": True, "python": python},
            f"Would freeze '{name}': conda's frozen marker{pip}, where nobody else wrote one. "
            "Nothing was changed.",
        )
        return 0
    try:
        done = freeze(prefix, args.reason)
    except OSError as e:
        from ..exceptions import EnvGuardError

        raise EnvGuardError(
            f"envguard could not freeze '{name}': {e.filename or prefix}: {e.strerror or e}.\n"
            "  It may be frozen in part: conda envguard status shows its markers. Fix that "
            "path, then run this command again."
        ) from e
    lines = [f"Froze '{name}': conda and pip refuse to install into it."]
    if not done["python"]:
        lines[0] = f"Froze '{name}': conda refuses to install into it (it has no Python for pip)."
    for rel in done["left_alone"]:
        lines.append(f"  {prefix / rel} was already there, not written by envguard: left as is.")
    lines.append(f"Undo with: conda envguard unfreeze {cli_arg(prefix)}")
    emit({"env_name": name, "prefix": str(prefix), "frozen": True, **done}, "\n".join(lines))
    return 0
