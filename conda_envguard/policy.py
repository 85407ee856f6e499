"""Is an env protected, and by which rule?

Three sources, all honoured together: `base` always; a marker in the env (written by
`conda envguard protect`, or conda's own CEP 22 `frozen` marker); and the glob patterns of
the `envguard_protect` setting, from any `.condarc` (user or system-wide) or the environment.
"""

from __future__ import annotations

import fnmatch
import getpass
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MARKER = Path("conda-meta", "envguard-protected")  # no .json: conda reads conda-meta/*.json
FROZEN = Path("conda-meta", "frozen")  # CEP 22


@dataclass(frozen=True)
class Protection:
    kind: str  # "base", "marker", "frozen" or "pattern"
    rule: str  # one line saying which rule protects the env, and where it is set
    how_to: str  # the deliberate way forward

    def to_json(self) -> dict:
        return {"kind": self.kind, "rule": self.rule, "how_to": self.how_to}


def protection_of(prefix: str | os.PathLike, action: str = "remove") -> Protection | None:
    """The first rule that protects the env at `prefix`, or None."""
    from .envs import name_of

    prefix = Path(prefix)
    name = name_of(prefix)
    if name == "base":
        return Protection("base", "base is always protected", "conda never removes base either")
    if (marker := read_marker(prefix)) is not None:
        reason = f" ({marker['reason']})" if marker.get("reason") else ""
        who = f" by {marker['by']}" if marker.get("by") else ""
        when = f" on {marker['at'][:10]}" if marker.get("at") else ""
        from .envs import cli_arg

        target = cli_arg(prefix)
        return Protection(
            "marker",
            f"'conda envguard protect'{who}{when}{reason}; marker {prefix / MARKER}",
            f"conda envguard unprotect {target}, then run your command again",
        )
    if (prefix / FROZEN).is_file():
        return Protection(
            "frozen",
            f"conda's frozen marker (CEP 22) at {prefix / FROZEN}",
            f"delete {prefix / FROZEN} (or pass --override-frozen to conda remove)",
        )
    return _pattern_protection(name, prefix)


def _pattern_protection(name: str, prefix: Path) -> Protection | None:
    from .settings import protect_patterns

    # A path pattern holds however the path is spelled: as given, and with symlinks resolved.
    spellings = {os.path.normpath(str(prefix)), os.path.realpath(prefix)}
    for pattern in protect_patterns():
        if "/" in pattern or os.sep in pattern:
            wanted = os.path.normpath(os.path.expanduser(pattern))
            matched = any(fnmatch.fnmatchcase(p, wanted) for p in spellings)
        else:
            matched = fnmatch.fnmatchcase(name, pattern)
        if matched:
            source = pattern_source(pattern)
            return Protection(
                "pattern",
                f"pattern '{pattern}' in envguard_protect, set in {source}",
                _how_to_drop_pattern(pattern, source),
            )
    return None


def pattern_source(pattern: str) -> str:
    """Where `pattern` of envguard_protect was set: a .condarc path, or the environment."""
    from conda.base.context import context

    found = []
    for source, data in context.raw_data.items():
        try:
            if source == "envvars":
                raw = data.get("plugins_envguard_protect")
                values = str(raw.value(None)) if raw is not None else ""
                if pattern in (v.strip() for v in values.split(",")):
                    found.append("the variable CONDA_PLUGINS_ENVGUARD_PROTECT")
                continue
            plugins = data.get("plugins")
            entry = plugins.value(None).get("envguard_protect") if plugins is not None else None
            values = entry.value(None) if entry is not None else ()
            if pattern in (v.value(None) for v in values):
                found.append(str(source))
        except Exception:  # conda's raw config objects are private: never fail on them
            continue
    return found[-1] if found else "your conda configuration (conda config --show-sources)"


def _how_to_drop_pattern(pattern: str, source: str) -> str:
    if source.startswith("the variable"):
        return "unset CONDA_PLUGINS_ENVGUARD_PROTECT (or drop that pattern from it)"
    path = Path(source)
    if not path.is_file():
        return f"remove '{pattern}' from envguard_protect (conda config --show-sources)"
    owner = _owner(path)
    if owner != getpass.getuser() and not os.access(path, os.W_OK):
        return (
            f"this is a policy set by {owner} in {path}; "
            f"ask {owner} to change envguard_protect there"
        )
    if owner != getpass.getuser():
        return (
            f"this is a policy file owned by {owner}: change envguard_protect in {path} "
            f"only if that policy allows it"
        )
    return f"conda config --file {path} --remove plugins.envguard_protect '{pattern}'"


def _owner(path: Path) -> str:
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return "its owner"


def read_marker(prefix: str | os.PathLike) -> dict | None:
    path = Path(prefix, MARKER)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}  # a damaged marker still protects
    return data if isinstance(data, dict) else {}


def write_marker(prefix: str | os.PathLike, reason: str | None) -> dict:
    from .atomic import write_text_atomic

    data = {
        "reason": reason or "",
        "by": getpass.getuser(),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_text_atomic(Path(prefix, MARKER), json.dumps(data, indent=2) + "\n")
    return data


def remove_marker(prefix: str | os.PathLike) -> bool:
    try:
        Path(prefix, MARKER).unlink()
    except FileNotFoundError:
        return False
    return True
