"""Temporary envs that nobody uses any more: which ones `conda envguard clean` may remove.

A temporary env is one whose name matches `envguard_temporary` (default `*-tmp`). It may go
when it has been unchanged for more than the given number of days, no process runs from it
(a process whose executable or working directory is inside it, where /proc shows that) and
it holds no files that `envguard_unowned_files` keeps from going. With `--unchanged-for`,
envs of any name unchanged for longer are taken too, under the same rules (protected and
frozen envs, envs a process runs from, always stay).
"Unchanged" is judged by its own log, `conda-meta/history`, which conda rewrites on every
change; an env that `undo` brought back after a clean counts as changed at that clean.
The removal itself is any removal's: see `guard.remove_env`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

DAY = 86400


@dataclass
class Candidate:
    prefix: Path
    name: str
    changed: float  # when conda last changed the env (seconds since the epoch)
    size_bytes: int | None = None  # what removing it frees (diskusage.frees), once measured
    keep: str | None = None  # why it stays, or None: it may go
    limit: float = 0  # days unchanged after which it may go

    def to_json(self) -> dict:
        from datetime import datetime, timezone

        return {
            "env_name": self.name,
            "prefix": str(self.prefix),
            "last_change": datetime.fromtimestamp(self.changed, timezone.utc).isoformat(
                timespec="seconds"
            ),
            "size_bytes": self.size_bytes,
            "unchanged_days": round((time.time() - self.changed) / DAY, 1),
            "kept_because": self.keep,
        }


def survey(
    patterns: tuple[str, ...], unused_for_days: float, unchanged_for_days: float | None = None
) -> list[Candidate]:
    """Every temporary env, and with `unchanged_for_days` every env of any name unchanged for
    longer, each with the reason it stays, if any; those that may go have what removing them
    frees measured."""
    from conda.base.context import context

    from .diskusage import frees
    from .envs import known_prefixes, last_change, name_of
    from .naming import is_temporary
    from .policy import protection_of

    now = time.time()
    cleaned = _last_cleaned()
    found = []
    for path in known_prefixes():
        prefix = Path(path)
        name = name_of(prefix)
        if name == "base":
            continue
        temporary = is_temporary(name, patterns)
        if not temporary and unchanged_for_days is None:
            continue
        try:
            changed = last_change(prefix)
        except OSError:
            continue
        # an env a clean removed and `undo` brought back counts from that clean on
        changed = max(changed, cleaned.get(os.path.normpath(prefix), 0))
        limit = unused_for_days if temporary else unchanged_for_days
        if unchanged_for_days is not None:
            limit = min(limit, unchanged_for_days)
        idle_days = (now - changed) / DAY
        if not temporary and idle_days <= limit:
            continue  # a recent env of any name is none of clean's business: not listed
        found.append(Candidate(prefix, name, changed, limit=limit))
    users = processes_inside([c.prefix for c in found])
    active = os.path.normpath(context.active_prefix or "")
    for candidate in found:
        idle_days = (now - candidate.changed) / DAY
        if protection := protection_of(candidate.prefix):
            candidate.keep = f"protected by {protection.rule}"
        elif os.path.normpath(candidate.prefix) == active:
            candidate.keep = "it is the active environment"
        elif idle_days <= candidate.limit:
            candidate.keep = f"changed {_days(idle_days)} ago"
        elif candidate.prefix in users:
            candidate.keep = f"in use by {users[candidate.prefix]}"
        elif own := _own_files(candidate.prefix):
            candidate.keep = own
        else:
            candidate.size_bytes = frees(candidate.prefix)
    return found


def _own_files(prefix: Path) -> str | None:
    """Why files no package installed keep the env (envguard_unowned_files), or None."""
    from .unowned import SHOWN, held_back

    try:
        files = held_back(prefix)
    except Exception as e:  # unread files may be anyone's: the env stays
        return f"its files could not be read ({e})"
    if not files:
        return None
    shown = ", ".join(u.path for u in files[:SHOWN]) + (", ..." if len(files) > SHOWN else "")
    return (
        f"it holds {len(files)} file(s) no package installed and no snapshot keeps "
        f"(envguard_unowned_files): {shown}"
    )


def _last_cleaned() -> dict[str, float]:
    """prefix -> when a clean last removed the env there (from its snapshots)."""
    from datetime import datetime

    from .store import Store

    out: dict[str, float] = {}
    try:
        snapshots = Store().all()
    except OSError:
        return out  # an unreadable store: the removal's own snapshot will say so, and stop
    for snap in snapshots:
        if snap.meta.get("trigger") != "clean":
            continue
        try:
            when = datetime.fromisoformat(snap.created).timestamp()
        except ValueError:
            continue
        key = os.path.normpath(snap.prefix)
        out[key] = max(out.get(key, 0), when)
    return out


def processes_inside(prefixes: list[Path]) -> dict[Path, str]:
    """prefix -> 'process PID (NAME)' for each env a process runs from: its executable or
    its working directory is inside it. Only what /proc lets this user see."""
    roots = {os.path.realpath(p): p for p in prefixes}
    found: dict[Path, str] = {}
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return found  # no /proc (macOS, Windows): nothing can be seen
    for pid in pids:
        if int(pid) == os.getpid():
            continue
        for link in ("exe", "cwd"):
            try:
                target = os.readlink(f"/proc/{pid}/{link}")
            except OSError:
                continue  # gone, or another user's process
            for real, prefix in roots.items():
                if prefix not in found and (target == real or target.startswith(real + os.sep)):
                    found[prefix] = f"process {pid} ({_command_name(pid)})"
    return found


def _command_name(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _days(days: float) -> str:
    if days < 1:
        return "less than a day"
    return f"{int(days)} day{'s' if int(days) != 1 else ''}"
