"""Freezing an env: nobody installs into it, neither conda nor pip.

Two markers, each the one its tool honours by itself:

* conda's own frozen marker (CEP 22), `conda-meta/frozen`, a JSON `{"message": ...}`: conda
  25.5+ refuses install, update and remove in the env unless given `--override-frozen`;
* PEP 668's `EXTERNALLY-MANAGED` in the env's Python standard-library directory: pip refuses
  to install into that Python (outside a virtual env) unless given `--break-system-packages`.

What freeze wrote is recorded in `conda-meta/envguard-frozen` (each file with the hash of what
was written), so that unfreeze removes exactly that: never a marker someone else wrote (a
distribution's own EXTERNALLY-MANAGED, a frozen marker set by hand), nor one changed since.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

FROZEN = Path("conda-meta", "frozen")  # CEP 22
RECORD = Path("conda-meta", "envguard-frozen")  # no .json: conda reads conda-meta/*.json
EXTERNALLY_MANAGED = "EXTERNALLY-MANAGED"


def stdlib_dir(prefix: Path) -> Path | None:
    """The env's Python standard-library directory, where pip looks for EXTERNALLY-MANAGED
    (`sysconfig.get_path('stdlib')` of that Python), or None when the env has no Python."""
    if os.name == "nt":
        lib = prefix / "Lib"
        return lib if (lib / "os.py").is_file() else None
    version = _python_record_version(prefix)
    if version and (prefix / "lib" / f"python{version}").is_dir():
        return prefix / "lib" / f"python{version}"
    found = sorted(p.parent for p in (prefix / "lib").glob("python3*/os.py"))
    return found[-1] if len(found) == 1 else None


def _python_record_version(prefix: Path) -> str | None:
    for record in (prefix / "conda-meta").glob("python-[0-9]*.json"):
        match = re.match(r"python-(\d+\.\d+)", record.name)
        if match:
            return match.group(1)
    return None


def read_record(prefix: Path) -> dict | None:
    try:
        data = json.loads((prefix / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def freeze(prefix: Path, reason: str | None) -> dict:
    """Write both markers where nobody else has; returns what was written and what was left."""
    from .atomic import write_text_atomic
    from .envs import cli_arg, name_of

    name = name_of(prefix)
    recorded = read_record(prefix)
    previous = _recorded_files(recorded)
    by = getpass.getuser()
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if reason is None:  # frozen again without a reason: the one recorded stays
        reason = str((recorded or {}).get("reason") or "")
    reason = " ".join((reason or "").split())  # one line: it goes into an INI value too
    why = f" ({reason})" if reason else ""
    unfreeze = f"conda envguard unfreeze {cli_arg(prefix)}"
    instead = (
        f"Create your own environment instead and install there: "
        f"conda create -n {_own_name(name)} --clone {name} (or conda env create -f "
        "environment.yml)."
    )
    headline = f"The environment '{name}' is frozen by {by} on {at[:10]}{why}."
    message = (
        f"{headline}\nNobody installs into it. {instead}\nTo change it on purpose: {unfreeze}"
    )
    files = {str(FROZEN): json.dumps({"message": message}, indent=2) + "\n"}
    stdlib = stdlib_dir(prefix)
    if stdlib is not None:
        rel = str(stdlib.relative_to(prefix) / EXTERNALLY_MANAGED)
        files[rel] = (
            "[externally-managed]\n"
            f"Error={headline}\n"
            "  pip must not install into it.\n"
            f"  {instead}\n"
            f"  To change this environment on purpose: {unfreeze}\n"
        )
    # a marker envguard has no record of, or cannot read, is someone else's: it stays as it
    # is, and stays theirs
    left = [
        rel
        for rel in files
        if os.path.lexists(prefix / rel)
        and (previous.get(rel) is None or _hash_of(prefix / rel) != previous.get(rel))
    ]
    if left and len(left) == len(files):
        from .exceptions import EnvGuardError

        raise EnvGuardError(
            f"'{name}' is frozen already by markers envguard did not write, so there is "
            "nothing for envguard to freeze, and your reason is not recorded:\n"
            + "".join(f"    {prefix / rel}\n" for rel in left)
            + "  Nothing was changed. To freeze it as yours, remove those markers on purpose "
            f"(ask whoever froze it), then: {_again(prefix, reason)}"
        )
    written = {}
    for rel, text in files.items():
        if rel in left:
            continue
        path = prefix / rel
        write_text_atomic(path, text)
        written[rel] = hashlib.sha256(text.encode()).hexdigest()
    record = {"by": by, "at": at, "reason": reason, "files": written}
    write_text_atomic(prefix / RECORD, json.dumps(record, indent=2) + "\n")
    return {**record, "left_alone": left, "python": stdlib is not None}


def _own_name(name: str) -> str:
    """A name for the user's own env that this machine's naming rules accept."""
    from .naming import example

    return example(f"{name}-mine") or "NEW_NAME"


def _again(prefix: Path, reason: str) -> str:
    import shlex

    from .envs import cli_arg

    return f"conda envguard freeze {cli_arg(prefix)}" + (
        f" --reason {shlex.quote(reason)}" if reason else ""
    )


def unfreeze(prefix: Path) -> dict:
    """Remove what freeze wrote, and only that; returns what was removed and what was left."""
    record = read_record(prefix)
    removed, left = [], []
    for rel, digest in _recorded_files(record).items():
        path = prefix / rel
        if not path.exists():
            continue
        if _hash_of(path) == digest:
            path.unlink()
            removed.append(rel)
        else:
            left.append(rel)  # changed since: no longer what envguard wrote
    if record is not None:
        (prefix / RECORD).unlink()
    others = [
        str(p.relative_to(prefix))
        for p in _markers(prefix)
        if str(p.relative_to(prefix)) not in removed and p.exists()
    ]
    return {
        "was_frozen_by_envguard": record is not None,
        # there, but unreadable: what freeze wrote is unknown, so nothing was removed
        "record_unreadable": record is None and os.path.lexists(prefix / RECORD),
        "removed": removed,
        "left_alone": sorted(set(left) | set(others)),
    }


def _recorded_files(record: dict | None) -> dict:
    """What freeze's record says it wrote: path -> sha256 (nothing, when it is damaged)."""
    files = (record or {}).get("files")
    return files if isinstance(files, dict) else {}


def frozen_state(prefix: Path) -> dict | None:
    """For status: is the env frozen, by whom, and with which markers."""
    record = read_record(prefix)
    conda_marker = (prefix / FROZEN).is_file()
    if record is None and not conda_marker:
        return None
    return {
        "conda_marker": conda_marker,
        "pip_marker": any(p.name == EXTERNALLY_MANAGED for p in _markers(prefix)),
        "by_envguard": record is not None,
        "by": (record or {}).get("by"),
        "at": (record or {}).get("at"),
        "reason": (record or {}).get("reason"),
    }


def _markers(prefix: Path) -> list[Path]:
    out = [prefix / FROZEN]
    stdlib = stdlib_dir(prefix)
    if stdlib is not None:
        out.append(stdlib / EXTERNALLY_MANAGED)
    return [p for p in out if p.is_file()]


def _hash_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
