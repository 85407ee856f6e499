"""Envs lost behind conda's back: deleted by `rm -rf`, by mamba or micromamba (which run no
conda plugins), or by a disk clean-up, while envguard holds a snapshot of them.

An env is lost when its prefix no longer holds an env, its trash entry is gone (or never
was), and its latest snapshot was not taken for its removal (a removal through conda, or by
envguard itself, always takes one) unless the env came back after that removal (undo,
restore, or a command that did not complete): `note_back` records when, in
`<store>/back/`. An env moved to another prefix is not lost: an env conda knows with the
very packages of the snapshot, whose conda history goes on from the one the snapshot saved,
is taken for it (another env with the same packages has a history of its own).
"""

from __future__ import annotations

import os

# Triggers of the snapshot a removal through conda takes (guard._trigger).
_REMOVAL_TRIGGERS = ("remove", "env remove", "env_remove")
# Triggers of the snapshot envguard's own removals take (trash.set_aside): `clean`, and the
# env a `--force` replaced (when what was to replace it did not come).
_ENVGUARD_REMOVALS = ("clean", "restore --force", "undo --force")


def lost_envs(snapshots: list | None = None) -> list[dict]:
    """Each lost env: name, prefix, last_seen (its latest snapshot), snapshot id, and the
    command that restores it. `snapshots`: the store's, oldest first, if already read."""
    from .envs import cli_arg, is_environment
    from .store import Store
    from .trash import Trash

    latest = {}
    for snap in Store().all() if snapshots is None else snapshots:
        latest[os.path.normpath(snap.prefix)] = snap
    trashed = {os.path.normpath(entry.prefix) for entry in Trash().entries()}
    candidates = [
        snap
        for prefix, snap in latest.items()
        if prefix not in trashed and not _removed_by_conda(snap) and not is_environment(prefix)
    ]
    if not candidates:
        return []
    live = _live_envs_by_package_set()
    out = []
    for snap in candidates:
        try:
            packages = _package_set(snap.full().packages())
        except Exception:
            packages = None
        if packages and any(_same_env(snap, prefix) for prefix in live.get(packages, ())):
            continue  # moved, not lost
        out.append(
            {
                "name": snap.env_name,
                "prefix": snap.prefix,
                "last_seen": snap.created,
                "snapshot": snap.id,
                "restore": f"conda envguard restore {cli_arg(snap.prefix, flag=False)}",
            }
        )
    return out


def _removed_by_conda(snap) -> bool:
    command = snap.meta.get("command", "")
    trigger = snap.meta.get("trigger", "")
    removal = trigger in _ENVGUARD_REMOVALS or (
        trigger in _REMOVAL_TRIGGERS and ("--all" in command or "env remove" in command)
    )
    removal = removal or trigger == "rename"  # the env lives on under its new name
    return removal and not _back_since(snap.prefix, snap.created)


def _back_path(prefix: str | os.PathLike):
    import hashlib

    from .settings import store_dir

    key = hashlib.sha256(os.path.normpath(str(prefix)).encode()).hexdigest()[:24]
    return store_dir() / "back" / key


def note_back(prefix: str | os.PathLike) -> None:
    """Record that the env at `prefix` is back in place (after undo, restore or a roll-back):
    its removal snapshot no longer explains its absence."""
    from datetime import datetime, timezone

    from .atomic import write_text_atomic

    path = _back_path(prefix)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        write_text_atomic(path, stamp + "\n", 0o600, durable=False)
    except OSError:
        pass  # only a hint for `status` and `doctor`


def _back_since(prefix: str, created: str) -> bool:
    from datetime import datetime

    try:
        back = datetime.fromisoformat(_back_path(prefix).read_text().strip())
        return back > datetime.fromisoformat(created)
    except (OSError, ValueError, TypeError):
        return False


def _package_set(packages: list[dict]) -> frozenset:
    return frozenset((p["name"], p.get("version"), p.get("build")) for p in packages)


def _live_envs_by_package_set() -> dict[frozenset, list[str]]:
    from .diff import live_packages
    from .envs import known_prefixes

    out: dict[frozenset, list[str]] = {}
    for prefix in known_prefixes():
        out.setdefault(_package_set(live_packages(prefix)), []).append(prefix)
    return out


def _same_env(snap, prefix: str) -> bool:
    """Is the live env at `prefix` the snapshot's env, moved? Its conda history goes on from
    the one the snapshot saved (an env made alike, or a clone, has a history of its own);
    a snapshot without a saved history goes by the packages alone."""
    from .redact import redact

    saved = snap.file("history")
    try:
        then = saved.read_text(errors="replace")
    except OSError:
        return True
    try:
        now = redact(_read_history(prefix))
    except OSError:
        return False
    return bool(then) and now.startswith(then)


def _read_history(prefix: str) -> str:
    with open(os.path.join(prefix, "conda-meta", "history"), errors="replace") as f:
        return f.read()


def describe(env: dict) -> str:
    """One line for a user: what is gone, since when, and how to get it back."""
    from datetime import datetime

    try:
        seen = datetime.fromisoformat(env["last_seen"]).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        seen = "?"
    return (
        f"'{env['name']}' ({env['prefix']}) is gone, deleted after {seen}, not through conda.\n"
        f"    Restore it: {env['restore']}"
    )
