"""Is an env protected, and by which rule?

Three sources, all honoured together: `base` always; a marker in the env (written by
`conda envguard protect`, or conda's own CEP 22 `frozen` marker, by hand or by
`conda envguard freeze`); and the glob patterns of the `envguard_protect` setting, from any
`.condarc` (user or system-wide) or the environment. A system-wide file's patterns apply
whatever a user's file says (`settings.protect_patterns`); every rule names the file it came
from and that file's owner (`sources`).
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
        from .freeze import read_record

        if (frozen := read_record(prefix)) is not None:
            from .envs import cli_arg

            reason = f" ({frozen['reason']})" if frozen.get("reason") else ""
            return Protection(
                "frozen",
                f"'conda envguard freeze' by {frozen.get('by', '?')} on "
                f"{str(frozen.get('at', '?'))[:10]}{reason}; marker {prefix / FROZEN}",
                f"conda envguard unfreeze {cli_arg(prefix)}, then run your command again",
            )
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
    rules, how_to = [], []
    for pattern in dict.fromkeys(protect_patterns()):
        if "/" in pattern or os.sep in pattern:
            wanted = os.path.normpath(os.path.expanduser(pattern))
            matched = any(fnmatch.fnmatchcase(p, wanted) for p in spellings)
        else:
            matched = fnmatch.fnmatchcase(name, pattern)
        if matched:
            from .sources import describe, sources_of

            # every pattern that matches, and every place that sets it: dropping one leaves
            # the env protected by the others
            sources = sources_of("envguard_protect", pattern) or [None]
            rules.append(
                f"pattern '{pattern}' in envguard_protect, set in "
                + " and in ".join(describe("envguard_protect", s) for s in sources)
            )
            how_to += [_how_to_drop_pattern(pattern, s) for s in sources]
    if not rules:
        return None
    return Protection("pattern", "; and ".join(rules), "; and ".join(how_to))


def _how_to_drop_pattern(pattern: str, source: str | None) -> str:
    from .sources import ENVVARS, is_machine_wide, owner

    if source == ENVVARS:
        return "unset CONDA_PLUGINS_ENVGUARD_PROTECT (or drop that pattern from it)"
    path = Path(source) if source else None
    if path is None or not path.is_file():
        return f"remove '{pattern}' from envguard_protect (conda config --show-sources)"
    who = owner(path)
    policy = "a machine-wide policy" if is_machine_wide(path) else "a policy"
    if who != getpass.getuser() and not os.access(path, os.W_OK):
        return (
            f"this is {policy} set by {who} in {path}; ask {who} to change envguard_protect there"
        )
    if who != getpass.getuser():
        return (
            f"this is {policy} file owned by {who}: change envguard_protect in {path} "
            f"only if that policy allows it"
        )
    return f"conda config --file {path} --remove plugins.envguard_protect '{pattern}'"


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
