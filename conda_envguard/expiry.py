"""Expired trash entries and surplus snapshots are cleaned up in the background.

An everyday conda command pays one `stat` for this. At most once a day, a guarded command
looks (a directory listing) for trash entries past their expiry or an env with more snapshots
than `envguard_keep`; only then does it start a detached `conda envguard purge --expired`,
as deleting an env can take as long as conda's own removal of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone

_ONCE_A_DAY = 24 * 3600
STAMP = ".last-expiry"


def maybe_expire_in_background() -> None:
    from .settings import store_dir

    root = store_dir()
    stamp = root / STAMP
    try:
        if time.time() - stamp.stat().st_mtime < _ONCE_A_DAY:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp.touch()
        if not (_trash_expired(root) or _too_many_snapshots(root)):
            return
        subprocess.Popen(
            [sys.executable, "-m", "conda", "envguard", "purge", "--expired", "--yes", "--quiet"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        pass


def _trash_expired(root) -> bool:
    now = datetime.now(timezone.utc)
    for record in (root / "trash").glob("*.json"):
        try:
            if datetime.fromisoformat(json.loads(record.read_text())["expires_at"]) <= now:
                return True
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return False


def _too_many_snapshots(root) -> bool:
    """Ids end in -<env>-<hex>: count per env name without reading any snapshot."""
    from .settings import keep

    try:
        names = [
            p.name.rsplit("-", 1)[0].split("-", 2)[-1] for p in (root / "snapshots").iterdir()
        ]
    except OSError:
        return False
    return any(n > keep() for n in Counter(names).values())
