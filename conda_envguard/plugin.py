"""conda's entry point into envguard.

conda imports this module on every command of every user, so it imports nothing but
conda's plugin types at module level: all real work is imported inside the actions.
"""

from __future__ import annotations

from conda.plugins import hookimpl
from conda.plugins.types import CondaPostCommand, CondaPreCommand, CondaSetting, CondaSubcommand

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
    from .cli.main import configure_parser

    configure_parser(parser)


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
