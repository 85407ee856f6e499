"""envguard's settings: declared for conda's configuration system, read from `context.plugins`.

Every setting lives under `plugins:` in any `.condarc` (user or system-wide), can be set with
`conda config --set plugins.<name> VALUE`, or as the variable `CONDA_PLUGINS_<NAME>`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STORE = "~/.conda/envguard"
DEFAULT_TRASH_DAYS = 7
DEFAULT_KEEP = 50
DEFAULT_STALE_DAYS = 30
DEFAULT_TEMPORARY = ("*-tmp",)
DEFAULT_TEMPORARY_DAYS = 7
NAME_CHECKS = ("off", "warn", "block")  # weakest to strictest
UNOWNED_CHOICES = ("block", "trash", "ignore")
DEFAULT_KEEP_PACKAGES_MB = 10240
DEFAULT_LOCK_TIMEOUT = 60
DEFAULT_TRASH_WARN_PERCENT = 25


def declare_settings():
    from conda.common.configuration import PrimitiveParameter, SequenceParameter
    from conda.plugins.types import CondaSetting

    yield CondaSetting(
        name="envguard_protect",
        description="Glob patterns of env names (or full prefixes, when the pattern holds a "
        "path separator) that envguard refuses to remove, overwrite or rename.",
        parameter=SequenceParameter(PrimitiveParameter("", element_type=str)),
    )
    yield CondaSetting(
        name="envguard_store",
        description=f"Directory of envguard's snapshots (default {DEFAULT_STORE}).",
        parameter=PrimitiveParameter("", element_type=str),
    )
    yield CondaSetting(
        name="envguard_require_snapshot",
        description="Stop a removal or overwrite when its snapshot cannot be written. Set to "
        "false for one command (CONDA_PLUGINS_ENVGUARD_REQUIRE_SNAPSHOT=false) to go on anyway.",
        parameter=PrimitiveParameter(True, element_type=bool),
    )
    yield CondaSetting(
        name="envguard_trash_days",
        description="Days a removed env is kept in the trash for an instant undo (0: no trash).",
        parameter=PrimitiveParameter(DEFAULT_TRASH_DAYS, element_type=int),
    )
    yield CondaSetting(
        name="envguard_keep",
        description="Snapshots kept per env; older ones are pruned automatically.",
        parameter=PrimitiveParameter(DEFAULT_KEEP, element_type=int),
    )
    yield CondaSetting(
        name="envguard_history",
        description="Snapshot an env before install, update and remove change it.",
        parameter=PrimitiveParameter(True, element_type=bool),
    )
    yield CondaSetting(
        name="envguard_stale_days",
        description="conda doctor warns when an env's latest snapshot is older than this.",
        parameter=PrimitiveParameter(DEFAULT_STALE_DAYS, element_type=int),
    )
    yield CondaSetting(
        name="envguard_name_pattern",
        description="A regular expression every new env name must match (checked on create, "
        "env create and rename; default: none).",
        parameter=PrimitiveParameter("", element_type=str),
    )
    yield CondaSetting(
        name="envguard_name_check",
        description="What a name that breaks the naming rules gets: warn, block or off.",
        parameter=PrimitiveParameter("warn", element_type=str),
    )
    yield CondaSetting(
        name="envguard_temporary",
        description="Glob patterns of temporary env names, removed by 'conda envguard clean'.",
        parameter=SequenceParameter(
            PrimitiveParameter("", element_type=str), default=DEFAULT_TEMPORARY
        ),
    )
    yield CondaSetting(
        name="envguard_temporary_days",
        description="'conda envguard clean' removes temporary envs unchanged for more days "
        "than this.",
        parameter=PrimitiveParameter(DEFAULT_TEMPORARY_DAYS, element_type=int),
    )
    yield CondaSetting(
        name="envguard_unowned_files",
        description="What to do when a removal or overwrite would delete files no package "
        "installed (and no snapshot keeps): block (the default) stops the command; trash lets "
        "them go to envguard's trash with the env; ignore goes on even when there is no trash. "
        "For one command: CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=trash.",
        parameter=PrimitiveParameter("block", element_type=str),
    )
    yield CondaSetting(
        name="envguard_git",
        description="A git working tree (made with git init if missing) where every snapshot "
        "is also committed as <env>/environment.yml, explicit-<platform>.txt and "
        "requirements.txt. Empty: no git history.",
        parameter=PrimitiveParameter("", element_type=str),
    )
    yield CondaSetting(
        name="envguard_keep_packages_mb",
        description="Megabytes of package archives the store keeps (hard links to the package "
        "cache's) so the newest snapshot of each env restores after conda clean (0: none).",
        parameter=PrimitiveParameter(DEFAULT_KEEP_PACKAGES_MB, element_type=int),
    )
    yield CondaSetting(
        name="envguard_secret_vars",
        description="Glob patterns of more env variable names whose values are secrets "
        "(besides *TOKEN*, *SECRET*, *PASSWORD*, *_KEY and the like): masked in everything "
        "that leaves the snapshot store (git history, bundles, show, diff, --json).",
        parameter=SequenceParameter(PrimitiveParameter("", element_type=str)),
    )
    yield CondaSetting(
        name="envguard_lock_timeout",
        description="Seconds a conda command waits for another one acting on the same env "
        "(or on the snapshot store) before it stops with a 'busy' error.",
        parameter=PrimitiveParameter(DEFAULT_LOCK_TIMEOUT, element_type=int),
    )
    yield CondaSetting(
        name="envguard_trash_warn_percent",
        description="conda doctor warns when envguard's trash holds more than this percentage "
        "of the free space left on its disk (0: never).",
        parameter=PrimitiveParameter(DEFAULT_TRASH_WARN_PERCENT, element_type=int),
    )


def _get(name: str, default):
    from conda.base.context import context

    # An unreadable value reads as the default here; `problems()` names it, and the guard
    # stops any command that would destroy an env while one is unreadable.
    try:
        value = getattr(context.plugins, name)
    except Exception:
        return default
    return default if value is None else value


# What each setting must be: "list" of patterns, "int" (0 or more), "bool", "str", "path" (a
# full path once ~ and $VARS are expanded), or a tuple of the words it takes.
KINDS = {
    "envguard_protect": "list",
    "envguard_store": "path",
    "envguard_require_snapshot": "bool",
    "envguard_trash_days": "int",
    "envguard_keep": "int",
    "envguard_history": "bool",
    "envguard_stale_days": "int",
    "envguard_name_pattern": "str",
    "envguard_name_check": NAME_CHECKS,
    "envguard_temporary": "list",
    "envguard_temporary_days": "int",
    "envguard_unowned_files": UNOWNED_CHOICES,
    "envguard_git": "str",
    "envguard_keep_packages_mb": "int",
    "envguard_lock_timeout": "int",
    "envguard_trash_warn_percent": "int",
}
_BOOLEANS = {"true", "false", "yes", "no", "on", "off", "y", "n", "1", "0"}


@dataclass(frozen=True)
class SettingProblem:
    setting: str
    source: str  # the file, the variable, or conda's configuration as a whole
    value: str  # as it was written
    why: str

    @property
    def where(self) -> str:
        from .sources import ENVVARS, UNKNOWN

        if self.source == ENVVARS:
            return f"the variable CONDA_PLUGINS_{self.setting.upper()}"
        return self.source if self.source == UNKNOWN else f"{self.source}"

    @property
    def text(self) -> str:
        return f"{self.setting} in {self.where} is {self.value}: {self.why}"

    def to_json(self) -> dict:
        return {**asdict(self), "text": self.text}


def problems() -> list[SettingProblem]:
    """Every envguard setting that cannot be read as what it must be, in each place it is
    set, and in conda's merged value. Empty when all is well."""
    from conda.base.context import context

    from .sources import UNKNOWN, Unreadable, UnreadableSection, values_by_source

    found: list[SettingProblem] = []
    for name, kind in KINDS.items():
        mine = []
        for source, value in values_by_source(name):
            if isinstance(value, Unreadable):
                if source == UNKNOWN:  # conda shows no files: one problem says it all
                    return [SettingProblem("envguard settings", UNKNOWN, "unknown", value)]
                if isinstance(value, UnreadableSection):
                    mine.append(SettingProblem("plugins", source, "unreadable", value))
                else:
                    mine.append(SettingProblem(name, source, "unreadable", value))
            elif why := _wrong(kind, value, from_variable=source == "envvars"):
                mine.append(SettingProblem(name, source, _spelled(value), why))
        if not mine:
            try:
                getattr(context.plugins, name)
            except Exception as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                mine.append(SettingProblem(name, UNKNOWN, "unreadable", first))
        found += [p for p in mine if p not in found]
    return found


def _wrong(kind, value, from_variable: bool) -> str | None:
    """Why `value` is not a valid `kind`, or None."""
    if kind == "list":
        if from_variable and isinstance(value, str):
            return None
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "not a list of patterns"
    if isinstance(value, (list, dict)) or value is None:
        return "not a single value"
    if kind == "int":
        try:
            number = int(value) if not isinstance(value, (bool, float)) else None
        except ValueError:
            number = None
        if number is None:
            return "not a whole number"
        return None if number >= 0 else "a negative number"
    if kind == "bool":
        return None if str(value).strip().lower() in _BOOLEANS else "neither true nor false"
    if isinstance(kind, tuple):
        if str(value).strip().lower() in kind:
            return None
        return f"not one of {', '.join(kind)}"
    if isinstance(value, bool):
        return "not text"
    if kind == "path" and value and not os.path.isabs(_expanded(str(value))):
        return "a relative path (another folder in each directory conda runs in)"
    return None


def _expanded(value: str) -> str:
    return os.path.expanduser(os.path.expandvars(value))


def _spelled(value) -> str:
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, default=str)
    return repr(value)


def protect_patterns() -> tuple[str, ...]:
    """Every pattern of envguard_protect: the machine-wide files' own always, whatever a
    user's file does to the merged value."""
    from .sources import machine_values, sequence

    machine = [p for _, value in machine_values("envguard_protect") for p in sequence(value)]
    merged = [p for p in _get("envguard_protect", ()) if p]
    return tuple(dict.fromkeys([*machine, *merged]))


def secret_vars() -> tuple[str, ...]:
    """envguard_secret_vars: more names of secret variables (see `redact.SECRET_NAMES`)."""
    return tuple(str(p) for p in _get("envguard_secret_vars", ()) if p)


def store_dir() -> Path:
    # relative: the default, as for any value that cannot be read (`problems()` names it)
    value = _expanded(str(_get("envguard_store", "") or DEFAULT_STORE))
    return Path(value if os.path.isabs(value) else _expanded(DEFAULT_STORE))


def require_snapshot() -> bool:
    return bool(_get("envguard_require_snapshot", True))


def trash_days() -> int:
    return max(0, int(_get("envguard_trash_days", DEFAULT_TRASH_DAYS)))


def keep() -> int:
    return max(1, int(_get("envguard_keep", DEFAULT_KEEP)))


def history_enabled() -> bool:
    return bool(_get("envguard_history", True))


def stale_days() -> int:
    return int(_get("envguard_stale_days", DEFAULT_STALE_DAYS))


def name_patterns() -> tuple[str, ...]:
    """envguard_name_pattern as set machine-wide, and as the user's configuration sets it:
    a new name must match each."""
    from .sources import machine_values

    machine = [v for _, v in machine_values("envguard_name_pattern") if isinstance(v, str)]
    return tuple(dict.fromkeys(p for p in [*machine, _get("envguard_name_pattern", "")] if p))


def name_check() -> str:
    """The strictest of envguard_name_check as set machine-wide and as merged: a user's file
    cannot weaken the machine's. An unknown value counts as the default, warn."""
    from .sources import machine_values

    values = [v for _, v in machine_values("envguard_name_check")]
    values.append(_get("envguard_name_check", "warn"))
    known = [str(v).strip().lower() for v in values]
    known = [v if v in NAME_CHECKS else "warn" for v in known]
    return max(known, key=NAME_CHECKS.index)


def temporary_patterns() -> tuple[str, ...]:
    return tuple(p for p in _get("envguard_temporary", DEFAULT_TEMPORARY) if p)


def temporary_days() -> int:
    return max(0, int(_get("envguard_temporary_days", DEFAULT_TEMPORARY_DAYS)))


def unowned_files() -> str:
    """block, trash or ignore; anything else is read as block (the safe choice)."""
    value = str(_get("envguard_unowned_files", "block")).strip().lower()
    return value if value in UNOWNED_CHOICES else "block"


def git_dir() -> Path | None:
    value = _get("envguard_git", "")
    return Path(os.path.expanduser(os.path.expandvars(value))) if value else None


def keep_packages_bytes() -> int:
    return max(0, int(_get("envguard_keep_packages_mb", DEFAULT_KEEP_PACKAGES_MB))) * 1024 * 1024


def lock_timeout() -> float:
    return max(0.0, float(_get("envguard_lock_timeout", DEFAULT_LOCK_TIMEOUT)))


def trash_warn_percent() -> int:
    """envguard_trash_warn_percent. A value that cannot be read as 0 or more reads as the
    default: a typo never switches the warning off (`problems()` names it)."""
    try:
        value = int(_get("envguard_trash_warn_percent", DEFAULT_TRASH_WARN_PERCENT))
    except (TypeError, ValueError):
        return DEFAULT_TRASH_WARN_PERCENT
    return value if value >= 0 else DEFAULT_TRASH_WARN_PERCENT
