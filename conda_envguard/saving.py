"""Saving a snapshot: the store writes it, then kept packages and the git history are told.

The store is the foundation and knows nothing above it; whoever saves a snapshot calls `save`
here, never `Store.take` alone, so every snapshot keeps its packages and reaches git.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .envfiles import Contents
    from .snapshot import Snapshot
    from .store import Store


def save(
    prefix: Path,
    name: str,
    trigger: str,
    command: str = "",
    contents: Contents | None = None,
    store: Store | None = None,
    detached_git: bool = True,
) -> Snapshot:
    """Snapshot the env at `prefix` (see `Store.take`), keep its packages and queue it for
    git. Neither of those may fail the snapshot, nor the conda command it was taken for.

    A detached process commits it to git: a conda command never waits for git. A caller that
    must see the commit made (`conda envguard snapshot`) passes `detached_git=False`, then
    calls `commit_queued`."""
    from .githistory import queue_commit
    from .pkgkeep import keep_for
    from .store import Store

    store = store or Store()
    snapshot = store.take(prefix, name, trigger, command, contents)
    steps = (
        (keep_for, "keep its packages"),
        (lambda snap, root: queue_commit(snap, root, detached_git), "queue it for git"),
    )
    for step, what in steps:
        try:
            step(snapshot, store.root)
        except Exception as e:
            message = f"envguard: snapshot {snapshot.id} is saved, but could not {what}: {e}"
            print(message, file=sys.stderr)
    return snapshot


def commit_queued(store: Store) -> list[str] | None:
    """Commit the snapshots queued for git now (None when there is no git history). Raises
    GitSyncError: the snapshots are saved, only their commit failed."""
    from . import githistory
    from .exceptions import GitSyncError
    from .settings import git_dir

    repo = git_dir()
    if repo is None:
        return None
    try:
        return githistory.commit_queued(store.root, repo)
    except githistory.GitError as e:
        raise GitSyncError(str(repo), str(e)) from e


def save_and_set_aside(prefix: Path, trigger: str, contents: Contents | None = None) -> str:
    """Snapshot the env at `prefix`, then clear its place (`trash.set_aside`). Used by
    `--force` and `clean`. `contents`: the env as read already, if it was. Returns the
    snapshot id."""
    from .envs import name_of
    from .trash import set_aside

    snapshot = save(prefix, name_of(prefix), trigger, f"conda envguard {trigger}", contents)
    return set_aside(prefix, trigger, snapshot, contents)
