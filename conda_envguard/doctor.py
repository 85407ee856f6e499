"""`conda doctor` checks and hints on conda's own errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# The marks `conda doctor` prints (conda.base.constants has them only from conda 26.1 on).
OK_MARK = "✅"
X_MARK = "❌"


def snapshot_check(prefix: str, verbose: bool) -> None:
    """Health check: a recent snapshot; no kernel pointing at a removed env; the trash's size."""
    from .settings import stale_days
    from .store import Store
    from .trash import Trash

    latest = Store().latest(prefix=prefix)
    limit = stale_days()
    if latest is None:
        print(f"{X_MARK} envguard has no snapshot of this environment. Take one with:")
        print(f"    conda envguard snapshot -p {prefix}\n")
    elif datetime.fromisoformat(latest.created) < datetime.now(timezone.utc) - timedelta(
        days=limit
    ):
        print(
            f"{X_MARK} envguard's latest snapshot of this environment is older than {limit} days "
            f"({latest.created[:10]}). Take a new one: conda envguard snapshot -p {prefix}\n"
        )
    else:
        print(f"{OK_MARK} envguard snapshot {latest.id} is recent.\n")

    from .kernels import stale_kernels

    stale = stale_kernels()
    if stale:
        print(f"{X_MARK} Jupyter kernels point at programs that no longer exist:")
        for kernel in stale:
            print(f"    {kernel['name']}: {kernel['program']}  ({kernel['dir']})")
        print("  Remove them with: jupyter kernelspec remove NAME\n")
    elif verbose:
        print(f"{OK_MARK} No Jupyter kernel points at a removed environment.\n")

    from .lost import describe, lost_envs

    lost = lost_envs()
    if lost:
        print(f"{X_MARK} envguard holds snapshots of environments deleted without conda:")
        for env in lost:
            print(f"  {describe(env)}")
        print()

    entries = Trash().entries()
    if entries:
        _trash_check(entries)


def _trash_check(entries) -> None:
    """What the trash holds; a warning when that is more than envguard_trash_warn_percent of
    the free space on its disk (the trash sits beside the envs: one figure per filesystem)."""
    import os

    from .diskusage import frees
    from .settings import problems, trash_warn_percent
    from .trash import human_size

    held: dict[int, list] = {}  # filesystem -> [bytes purging frees, a path on it]
    for entry in entries:
        try:
            device = os.stat(entry.location).st_dev
        except OSError:
            continue
        found = held.setdefault(device, [0, entry.location])
        found[0] += frees(entry.location)
    total = sum(size for size, _ in held.values())
    percent = trash_warn_percent()
    crowded = []
    for size, path in held.values():
        fs = os.statvfs(path)
        free = fs.f_bavail * fs.f_frsize
        if percent and size > free * percent / 100:
            crowded.append((size, free, path))
    if not crowded:
        print(
            f"{OK_MARK} envguard's trash holds {len(entries)} removed env(s), "
            f"{human_size(total)}. See: conda envguard trash; free: conda envguard purge --all\n"
        )
        return
    for size, free, path in crowded:
        print(
            f"{X_MARK} envguard's trash holds {human_size(size)} on the disk of "
            f"{os.path.dirname(path)}, more than {percent}% of the {human_size(free)} still "
            "free there (envguard_trash_warn_percent)."
        )
    unread = [p.text for p in problems() if p.setting == "envguard_trash_warn_percent"]
    if unread:
        print(f"  (read as {percent}%: {'; '.join(unread)})")
    print(
        "  See what each entry frees: conda envguard disk\n"
        "  Free it for good (no undo after): conda envguard purge --all -y\n"
    )


def snapshot_fix(prefix: str, args, confirm) -> int:
    from .envs import name_of
    from .saving import save

    confirm(f"Take a snapshot of {prefix} now?")
    snap = save(prefix, name_of(prefix), trigger="doctor", command="conda doctor --fix")
    print(f"Saved snapshot {snap.id}.")
    return 0


def error_hints(error):
    """`conda envguard undo/restore NAME` when conda can't find an env that envguard holds."""
    from conda.exceptions import EnvironmentLocationNotFound, EnvironmentNameNotFound

    if not isinstance(error, (EnvironmentNameNotFound, EnvironmentLocationNotFound)):
        return
    details = {**(getattr(error, "_kwargs", None) or {}), **vars(error)}
    wanted = str(details.get("environment_name") or details.get("location") or "")
    if not wanted:
        return
    import shlex

    from .envs import cli_arg, name_of
    from .store import Store
    from .trash import Trash

    is_path = "/" in wanted or "\\" in wanted
    name = name_of(wanted) if is_path else wanted
    arg = cli_arg(wanted, flag=False) if is_path else shlex.quote(name)
    from .exceptions import UnsafeStoreError

    try:
        # only an entry undo can put back (not one half purged, nor one still being moved)
        in_trash = any(e.whole for e in Trash().find(name) + Trash().find(wanted))
        snapped = bool(Store().for_env(name=name, prefix=wanted))
    except UnsafeStoreError:
        return  # a store others can write gives no hint (envguard's own verbs say why)
    if in_trash:
        yield (
            f"envguard holds '{name}' in its trash: bring it back with "
            f"`conda envguard undo {arg}`",
            "envguard_undo",
        )
    elif snapped:
        yield (
            f"envguard has snapshots of '{name}': recreate it with `conda envguard restore {arg}`",
            "envguard_restore",
        )
