"""conda's entry point into envguard.

conda imports this module on every command of every user, so it imports nothing but
conda's plugin types at module level: all real work is imported inside the actions.
"""

from __future__ import annotations

from conda.plugins import hookimpl
from conda.plugins.types import CondaPostCommand, CondaPreCommand, CondaSubcommand

# Commands that can destroy an env or change its packages. Names differ by conda version:
# `env remove` arrives as `remove` from 24.9 (before: `env_remove`), `env create` as
# `create` from 26.7 (before: `env_create`).
GUARDED_COMMANDS = frozenset(
    {"remove", "env_remove", "create", "env_create", "rename", "install", "update", "env_update"}
)


@hookimpl
def conda_subcommands():
    yield CondaSubcommand(
        name="envguard",
        summary="Protect conda environments, snapshot them, and bring removed ones back.",
        action=_execute,
        configure_parser=_configure_parser,
    )


def _configure_parser(parser) -> None:
    """conda builds every plugin's parser on every command. envguard's verbs (a dozen modules)
    are built only when `conda envguard ...` is the command actually being parsed."""
    parse_known_args = parser.parse_known_args

    def configure_then_parse(args=None, namespace=None):
        parser.parse_known_args = parse_known_args
        from .cli.main import configure_parser

        configure_parser(parser)
        return parse_known_args(args, namespace)

    parser.parse_known_args = configure_then_parse


def _execute(args) -> int:
    from .cli.main import execute

    return execute(args)


@hookimpl
def conda_pre_commands():
    yield CondaPreCommand(name="envguard-guard", action=_before_command, run_for=GUARDED_COMMANDS)


@hookimpl
def conda_post_commands():
    yield CondaPostCommand(name="envguard-guard", action=_after_command, run_for=GUARDED_COMMANDS)


def _before_command(command: str) -> None:
    from .guard import before_command

    before_command(command)


def _after_command(command: str) -> None:
    from .guard import after_command

    after_command(command)


@hookimpl
def conda_settings():
    from .settings import declare_settings

    yield from declare_settings()


@hookimpl
def conda_health_checks():
    from conda.plugins.types import CondaHealthCheck

    from .compat import health_check_fixers_supported
    from .doctor import snapshot_check, snapshot_fix

    kwargs = {"name": "envguard snapshots", "action": snapshot_check}
    if health_check_fixers_supported():
        kwargs.update(
            fixer=snapshot_fix, summary="Snapshot this environment", fix="Take a snapshot"
        )
    yield CondaHealthCheck(**kwargs)


# conda_error_hints exists from conda 26.7 on. An optional hook implementation is never
# checked against conda's hook specs, so an older conda just never calls it.
@hookimpl(optionalhook=True)
def conda_error_hints(error):
    from conda.plugins.types import CondaErrorHint

    from .doctor import error_hints

    for text, code in error_hints(error):
        yield CondaErrorHint(text=text, hint_code=code)
