"""`conda envguard`: the verbs, one module each, imported only when chosen."""

from __future__ import annotations

import os
from argparse import ArgumentParser, Namespace
from importlib import import_module

VERBS = (
    "list",
    "show",
    "status",
    "snapshot",
    "restore",
    "undo",
    "diff",
    "protect",
    "unprotect",
    "trash",
    "disk",
    "purge",
    "prune",
    "clean",
    "freeze",
    "unfreeze",
    "export",
    "import",
    "sync",
    "verify",
)

DESCRIPTION = """\
Protect conda environments, snapshot them, and bring removed ones back.

envguard works inside conda: it stops `conda remove`, `conda create` and `conda rename`
from destroying a protected env, snapshots every env before it is removed or overwritten,
and keeps removed envs in a trash for an instant undo. Run without a command, it lists
the snapshots.
"""


def configure_parser(parser: ArgumentParser) -> None:
    parser.description = DESCRIPTION
    # What a user types, whatever conda's own parser is called (`__main__.py` under
    # `python -m conda` on some conda lines): every verb's usage line is built from it.
    parser.prog = "conda envguard"
    verbs = parser.add_subparsers(title="commands", dest="envguard_verb", metavar="COMMAND")
    for verb in VERBS:
        import_module(f"{__package__}.main_{verb}").configure_parser(verbs)
    from .common import check_env_options

    for verb_parser in verbs.choices.values():
        check_env_options(verb_parser)


def execute(args: Namespace) -> int:
    verb = getattr(args, "envguard_verb", None) or "list"
    module = import_module(f"{__package__}.main_{verb}")
    if verb == "list" and not hasattr(args, "snapshot_env"):
        args.snapshot_env = None  # bare `conda envguard`: list everything
    from ..locks import release_command_locks

    if verb != "status":  # status lists them itself
        _unreadable_settings_checked(verb, args)
    from . import common

    common.changes_things = hasattr(args, "dry_run")
    try:
        code = module.execute(args) or 0
        _flush_stdout()  # a reader that went away shows here, not at exit, past any handler
        return code
    except BrokenPipeError:
        return _reader_gone()
    except OSError as e:  # the system refused: name the file and the setting, no traceback
        _error_output_may_find_no_reader()
        raise _unusable(e) from e
    except Exception:
        _error_output_may_find_no_reader()
        raise
    finally:
        release_command_locks()  # what the verb locked (see `locks.acquire_for_command`)


def _unusable(error: OSError):
    from ..exceptions import PathUnusableError
    from ..settings import git_dir, store_dir

    for setting, where in (("envguard_store", store_dir()), ("envguard_git", git_dir())):
        if where is None or not error.filename:
            continue
        path = os.path.abspath(os.fsdecode(error.filename))
        if os.path.commonpath([path, os.path.abspath(where)]) == os.path.abspath(where):
            return PathUnusableError(error, setting, str(where))
    return PathUnusableError(error, None, None)


def _flush_stdout() -> None:
    import sys

    if sys.stdout is not None:
        sys.stdout.flush()


def _reader_gone() -> int:
    """stdout's reader closed it (`conda envguard status | head -1`): stop quietly, as a
    shell tool does, with no traceback. What is still buffered goes nowhere, so Python's own
    flush at exit cannot fail again. Exit status 1: not everything was written."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # no file descriptor behind stdout (in-process): nothing to redirect
    return 1


class _ReaderMayBeGone:
    """stdout for conda's error handler, which under --json prints the error there: a
    reader gone (`| head -1`) ends it quietly, as `_reader_gone` does for a verb's output,
    not in a BrokenPipe traceback from inside the handler."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            _reader_gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _reader_gone()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _error_output_may_find_no_reader() -> None:
    import sys

    from conda.base.context import context

    if context.json and sys.stdout is not None:
        sys.stdout = _ReaderMayBeGone(sys.stdout)


# Verbs that delete for good, or replace an env: they stop while a setting cannot be read.
DELETING_VERBS = ("purge", "prune", "clean")


def _unreadable_settings_checked(verb: str, args: Namespace) -> None:
    """A setting envguard cannot read reads as its default: a verb that deletes stops (fail
    closed); any other says so, on stderr, even under --json."""
    import sys

    from ..settings import problems

    found = problems()
    if not found:
        return
    listed = "\n".join(f"    {p.text}" for p in found)
    if verb in DELETING_VERBS or (verb in ("restore", "undo") and getattr(args, "force", False)):
        from ..exceptions import EnvGuardError

        raise EnvGuardError(
            f"envguard stopped `conda envguard {verb}`: it deletes or replaces what it is told "
            "by envguard's settings, and these cannot be read:\n"
            f"{listed}\n"
            "  Nothing was changed.\n"
            "  Fix the value in that file (or ask its owner to; conda config --show-sources "
            "shows every file), then run your command again."
        )
    print(
        "envguard: warning: these envguard settings cannot be read, and read as their "
        "defaults (conda envguard status lists them):\n" + listed,
        file=sys.stderr,
    )
