"""Where a setting comes from: a machine-wide `.condarc`, a user's own one, or a variable.

conda merges every configuration file it reads into one value per setting, and a user's file
can weaken what an admin set: a wrong type in `~/.condarc` makes the merged value unreadable,
and for a single value the user's file simply wins. So envguard also reads the machine-wide
files one by one, and a rule set there applies whatever the user's files say.

Machine-wide files are the first entries of conda's search path (`conda.base.constants.
SEARCH_PATH`, the same from conda 25.7 to main): `/etc/conda/...`, `/var/lib/conda/...`
(`C:/ProgramData/conda/...` on Windows) and those in conda's root prefix (`$CONDA_ROOT`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENVVARS = "envvars"
UNKNOWN = "conda's configuration"  # a source envguard cannot tell


def _machine_locations() -> list[str]:
    """The machine-wide entries of conda's search path, expanded: files and directories."""
    from conda.base.constants import SEARCH_PATH
    from conda.base.context import context

    root = os.environ.get("CONDA_ROOT") or context.root_prefix
    out = []
    for entry in SEARCH_PATH:
        if entry.startswith("$CONDA_ROOT"):
            entry = root + entry[len("$CONDA_ROOT") :]
        elif entry.startswith(("$", "~")):
            continue  # a user's file ($XDG_CONFIG_HOME, ~, $CONDA_PREFIX, $CONDARC)
        out.append(os.path.normpath(entry))
    return out


def is_machine_wide(source: str | os.PathLike) -> bool:
    """Is `source` (a file conda read) one of the machine-wide files every user gets?"""
    if str(source) in (ENVVARS, "cmd_line", UNKNOWN):
        return False
    path = os.path.normpath(str(source))
    return any(
        path == location or os.path.dirname(path) == location for location in _machine_locations()
    )


class Unreadable(str):
    """A value conda read from a file but envguard cannot use: the text says what it was."""


class UnreadableSection(Unreadable):
    """A file's whole `plugins:` section is not a mapping: no setting in it can be read."""


def values_by_source(name: str) -> list[tuple[str, object]]:
    """`(source, value)` of plugin setting `name` in every place conda read it, in conda's
    order (machine-wide files first, the variables last). A sequence comes back as a list;
    a value that cannot be read comes back as `Unreadable` (`settings.problems` reports it).
    When conda no longer shows its files, one `(UNKNOWN, Unreadable)`."""
    from .compat import MissingCondaInternal, configuration_by_source, raw_value

    try:
        by_source = configuration_by_source()
    except MissingCondaInternal as e:
        return [(UNKNOWN, Unreadable(f"this conda does not show {e}"))]
    out: list[tuple[str, object]] = []
    for source, data in by_source:
        try:
            if source == ENVVARS:
                raw = data.get(f"plugins_{name}")
                if raw is not None:
                    out.append((ENVVARS, raw_value(raw)))
                continue
            plugins = data.get("plugins")
            if plugins is None:
                continue
            mapping = raw_value(plugins)
            if not isinstance(mapping, Mapping):
                out.append((source, UnreadableSection(f"{_shown(mapping)}, not a mapping")))
                continue
            entry = mapping.get(name)
            if entry is not None:
                out.append((source, _unwrapped(raw_value(entry))))
        except Exception as e:  # conda's raw objects are private: report, never crash
            out.append((source, Unreadable(f"{type(e).__name__}: {e}")))
    return out


def _unwrapped(value: object) -> object:
    """A raw value with its nested raw parameters (list items, mapping values) unwrapped."""
    from .compat import raw_value

    if isinstance(value, (list, tuple)):
        return [_unwrapped(raw_value(v)) for v in value]
    if isinstance(value, Mapping):
        return {k: _unwrapped(raw_value(v)) for k, v in value.items()}
    return value


def _shown(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"{value!r}"


def machine_values(name: str) -> list[tuple[str, object]]:
    """`(file, value)` of plugin setting `name` in the machine-wide files only (readable
    values; `settings.problems` reports the others)."""
    return [
        (s, v)
        for s, v in values_by_source(name)
        if is_machine_wide(s) and not isinstance(v, Unreadable)
    ]


def sequence(value: object) -> list[str]:
    """A sequence setting's value as strings, as conda reads it from a file or a variable."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, str) and v]
    return []


def source_of(name: str, value: object) -> str | None:
    """The place that set `name` to `value` (or, for a sequence, that lists `value`):
    a machine-wide file first, since no user file can take that rule away; else the last."""
    found = sources_of(name, value)
    return found[0] if found else None


def sources_of(name: str, value: object) -> list[str]:
    """Every place that set `name` to `value` (or lists it): machine-wide files first, then
    the others, the last (the variables) first among them."""
    found = []
    for source, given in values_by_source(name):
        if isinstance(given, Unreadable):
            continue
        if source == ENVVARS or isinstance(given, (list, tuple)):
            if value in sequence(given) or (source == ENVVARS and given == value):
                found.append(source)
        elif given == value:
            found.append(source)
    machine = [s for s in found if is_machine_wide(s)]
    return machine + [s for s in reversed(found) if s not in machine]


def describe(name: str, source: str | None) -> str:
    """Where a rule was set, with who owns that file: for messages."""
    if source is None:
        return "your conda configuration (conda config --show-sources)"
    if source == ENVVARS:
        return f"the variable CONDA_PLUGINS_{name.upper()}"
    kind = "a machine-wide policy file" if is_machine_wide(source) else "a file"
    return f"{source} ({kind} owned by {owner(Path(source))})"


def owner(path: Path) -> str:
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return "its owner"
