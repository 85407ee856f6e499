"""Which snapshots may go: retention by count (envguard_keep) and by age.

Safe by construction: a snapshot goes only when it is beyond the newest `keep` of its env
(one when only an age is given) and older than the age given; the newest snapshot of an env
that no longer exists is its last way back, so it is kept unless the user names that env; a
snapshot whose env is in the trash is kept while the trash holds it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime, timedelta, timezone


def select(snapshots, keep: int | None, older_than_days: float | None, named: str | None) -> list:
    from .envs import is_environment
    from .trash import Trash

    in_trash = {e.snapshot_id for e in Trash().entries()}
    by_env = defaultdict(list)
    for snap in snapshots:
        by_env[os.path.normpath(snap.prefix)].append(snap)
    cutoff = (
        datetime.now(timezone.utc) - timedelta(days=older_than_days)
        if older_than_days is not None
        else None
    )
    doomed = []
    for prefix, snaps in by_env.items():
        snaps.sort(key=lambda s: s.order)
        newest = snaps[-1]
        # beyond the newest `keep` and, with an age, older than it: both must hold, so that
        # `--keep 5 --older-than 0` keeps five (the age alone keeps the newest one)
        beyond = snaps[: max(0, len(snaps) - (1 if keep is None else keep))]
        candidates = {s.id for s in beyond}
        if cutoff is not None:
            candidates &= {s.id for s in snaps if datetime.fromisoformat(s.created) < cutoff}
        env_gone = not is_environment(prefix)
        for snap in snaps:
            if snap.id not in candidates or snap.id in in_trash:
                continue
            if snap is newest and env_gone and named not in (snap.env_name, snap.prefix):
                continue
            doomed.append(snap)
    return doomed


def surplus() -> list:
    """Snapshots beyond `envguard_keep` that the daily job would delete (reads only)."""
    from .settings import keep
    from .store import Store

    return select(Store().all(), keep(), None, None)


def prune_automatically(planned: list) -> list[str]:
    """Delete the snapshots of `planned` (from `surplus`) that are still beyond
    `envguard_keep` now that no other command writes to the store. Returns their ids."""
    from .locks import STORE, hold
    from .settings import keep
    from .store import Store

    store = Store()
    ids = {s.id for s in planned}
    with hold(store.root, STORE, "envguard's snapshot store"):
        doomed = [s for s in select(store.all(), keep(), None, None) if s.id in ids]
        for snap in doomed:
            store.delete(snap)
    from .pkgkeep import collect

    collect(store.root)
    return [s.id for s in doomed]
