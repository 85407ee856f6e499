"""What every verb shares: JSON or text output, and finding the env a verb is about."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone


def days(text: str) -> float:
    """An argparse type: a number of days, from 0 to 100 years (not nan, not infinite)."""
    from argparse import ArgumentTypeError

    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"'{text}' is not a number of days") from None
    if not 0 <= value <= 36500:  # also false for nan
        raise ArgumentTypeError(f"'{text}' is not a number of days from 0 to 36500")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    from argparse import ArgumentTypeError

    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise ArgumentTypeError(f"'{text}' is less than 0")
    return value


def check_env_options(parser) -> None:
    """Refuse at parse time -n/-p values no filesystem can hold (a NUL, a name longer than a
    file name may be): conda resolves them while it reads its arguments, before envguard runs,
    and crashes on them."""
    for action in parser._actions:
        if action.dest == "name":
            action.type = _env_name
        elif action.dest == "prefix":
            action.type = _env_path


def _env_name(text: str) -> str:
    from argparse import ArgumentTypeError

    if "\0" in text or len(text.encode(errors="surrogateescape")) > 255:
        raise ArgumentTypeError("not a possible environment name (a NUL, or over 255 bytes)")
    return text


# The longest path the system takes (PATH_MAX, 4096 on Linux): older conda lines (seen on 25.7
# to 26.3) crash with "File name too long" on a longer one while they resolve the prefix.
_PATH_MAX = 4096


def _env_path(text: str) -> str:
    from argparse import ArgumentTypeError

    encoded = text.encode(errors="surrogateescape")
    if (
        "\0" in text
        or len(os.path.abspath(encoded)) >= _PATH_MAX
        or any(len(part) > 255 for part in encoded.split(b"/"))
    ):
        raise ArgumentTypeError(
            "not a possible path (a NUL, a name over 255 bytes, or 4096 bytes in all)"
        )
    return text


# Set by `main.execute`: does the running verb change things (it takes --dry-run)? Then its
# JSON always says whether this run was a dry run.
changes_things = False


def emit(data: dict, text: str | None = None) -> None:
    """Print `data` as JSON under --json, else `text` (human output never goes into JSON).
    Every verb's JSON is an object; docs/json/VERB.schema.json says which keys it has."""
    from conda.base.context import context

    if changes_things:
        data = {**data, "dry_run": bool(context.dry_run)}
    if context.json:
        print(json.dumps(data, indent=2, default=str))
    elif text is not None:
        print(text)


def say(message: str) -> None:
    """Progress and notes: to stderr, so they never mix with JSON on stdout."""
    from conda.base.context import context

    if not context.quiet:
        print(message, file=sys.stderr, flush=True)


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, row)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def age(stamp: str) -> str:
    """'3d ago', '5h ago', '2m ago' for an ISO 8601 time."""
    try:
        then = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return "?"
    seconds = max(0, (datetime.now(timezone.utc) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def local_time(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return stamp or "?"


def target_prefix(args, required: bool = True):
    """The env named by -n/-p, which must exist."""
    from pathlib import Path

    from ..envs import is_environment, resolve
    from ..exceptions import EnvironmentNotFoundError

    if not (getattr(args, "name", None) or getattr(args, "prefix", None)):
        if not required:
            return None
        from conda.exceptions import ArgumentError

        raise ArgumentError("Name the environment with -n NAME or -p PREFIX.")
    prefix = resolve(getattr(args, "name", None), getattr(args, "prefix", None))
    if not is_environment(prefix):
        raise EnvironmentNotFoundError(getattr(args, "name", None) or str(prefix))
    return Path(prefix)


def plan_and_confirm(data: dict, plan: str, dry_run_text: str, question: str = "Proceed?") -> bool:
    """conda's flow for a change: under --dry-run, report and stop (False); else show the
    plan and ask (--yes and --json answer yes; 'no' exits cleanly), then go on (True)."""
    from conda.base.context import context

    if context.dry_run:
        emit({**data, "dry_run": True}, dry_run_text)
        return False
    if not context.json and not context.quiet:
        print(plan)
    confirm(question)
    return True


def confirm(message: str) -> None:
    """conda's own yes/no question: --yes and --json answer it, 'no' exits cleanly."""
    from conda.reporters import confirm_yn

    confirm_yn(message, default="no", dry_run=False)


def check_target(target, force: bool, elsewhere: str, occupied_error: Exception) -> bool:
    """May an env be put at `target`? True when an env there is to be replaced (--force).

    Never a protected env, never a directory that is not an env; an empty directory is fine
    (it may be a mount point). `elsewhere` is the command that restores somewhere else.
    """
    from ..envs import is_environment, name_of
    from ..exceptions import EnvGuardError, ProtectedEnvironmentError
    from ..policy import protection_of
    from ..trash import is_shell

    if not target.exists() or is_shell(target):
        return False
    if not is_environment(target):
        if target.is_dir() and not any(target.iterdir()):
            return False
        raise EnvGuardError(
            f"{target} exists and is not a conda environment; envguard will not replace it.\n"
            f"  Restore elsewhere: {elsewhere}"
        )
    if not force:
        raise occupied_error
    if protection := protection_of(target):
        raise ProtectedEnvironmentError(
            "overwrite", name_of(target), str(target), protection.rule, protection.how_to
        )
    return True


def lock_env(prefix, name: str) -> None:
    """Hold the env's lock until the verb ends: no other conda command acts on it meanwhile."""
    from conda.base.context import context

    if context.dry_run:
        return  # changes nothing: waits for no one, writes no lock file
    from ..locks import acquire_for_command, env_lock
    from ..settings import store_dir

    acquire_for_command(store_dir(), env_lock(prefix), f"the environment '{name}'")


def lock_store(shared: bool = False) -> None:
    """Hold the store lock until the verb ends: exclusive to delete snapshots, shared to read
    one that must not be deleted meanwhile."""
    from conda.base.context import context

    if context.dry_run:
        return
    from ..locks import STORE, acquire, release_later
    from ..settings import store_dir

    release_later(acquire(store_dir(), STORE, "envguard's snapshot store", shared=shared))
