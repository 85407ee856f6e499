"""Finding environments: names to prefixes and back, and every env conda knows."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path


def is_environment(prefix: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(prefix, "conda-meta", "history"))


def last_change(prefix: str | os.PathLike) -> float:
    """When conda last changed the env: the time of its own log, `conda-meta/history`, which
    conda rewrites on every change."""
    return os.stat(os.path.join(prefix, "conda-meta", "history")).st_mtime


def name_of(prefix: str | os.PathLike) -> str:
    """The name conda shows for `prefix`: 'base', the dir name inside an envs dir, or the path."""
    from conda.base.context import context

    prefix = os.path.normpath(str(prefix))
    if os.path.normpath(context.root_prefix) == prefix:
        return "base"
    parent = os.path.dirname(prefix)
    for envs_dir in context.envs_dirs:
        if os.path.normpath(envs_dir) == parent:
            return os.path.basename(prefix)
    return prefix


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.+][A-Za-z0-9_.+=-]*$")


def plain_name(name: object) -> bool:
    """A name conda makes an env of in its envs dir (no path, nothing a shell reads)."""
    return isinstance(name, str) and name not in (".", "..") and bool(_PLAIN_NAME.match(name))


def check_name(name: str) -> None:
    """Refuse names conda would not make an env of: '.', '..', spaces and the like."""
    if name in (".", "..") or not name.strip() or any(c in name for c in " :#\0"):
        from .exceptions import EnvGuardError

        raise EnvGuardError(
            f"'{name}' is not a valid environment name. Give a plain name (-n my-env) "
            "or a full path (-p /path/to/env)."
        )


def cli_arg(prefix: str | os.PathLike, flag: bool = True) -> str:
    """How to name this env on a command line, safe to paste: `-n NAME` or `-p 'PATH'`
    (or just NAME / 'PATH' with flag=False)."""
    name = name_of(prefix)
    if name != str(prefix) and _PLAIN_NAME.match(name):
        return f"-n {name}" if flag else name
    quoted = shlex.quote(os.path.normpath(str(prefix)))
    return f"-p {quoted}" if flag else quoted


def prefix_for_name(name: str) -> Path:
    """Where env `name` lives (or would live): an existing env of that name first."""
    from conda.base.context import context

    if name == "base":
        return Path(context.root_prefix)
    for envs_dir in context.envs_dirs:
        candidate = Path(envs_dir, name)
        if is_environment(candidate):
            return candidate
    return Path(context.envs_dirs[0], name)


def resolve(name: str | None = None, prefix: str | None = None) -> Path:
    """The prefix meant by `-n NAME` or `-p PREFIX` (which may not exist yet)."""
    if prefix:
        return Path(os.path.abspath(os.path.expanduser(prefix)))
    if name:
        if os.sep in name:
            return Path(os.path.abspath(os.path.expanduser(name)))
        check_name(name)
        return prefix_for_name(name)
    from conda.base.context import context

    return Path(context.target_prefix)


def known_prefixes() -> list[str]:
    """Every env conda knows about: its envs dirs and environments.txt."""
    from conda.core.envs_manager import list_all_known_prefixes

    return [p for p in list_all_known_prefixes() if is_environment(p)]


def register(prefix: str | os.PathLike) -> None:
    """List `prefix` in conda's environments.txt, as conda does for the envs it makes."""
    try:
        from conda.core.envs_manager import register_env

        register_env(str(prefix))
    except Exception:
        pass  # only a listing: an env that exists works without it
