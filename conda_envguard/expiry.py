"""Expired trash entries are purged in the background, at most once a day.

An everyday conda command pays one `stat` for this; the purge itself (which can take as long
as conda's own removal of the env) runs in a detached process.
"""

from __future__ import annotations

import subprocess
import sys
import time

_ONCE_A_DAY = 24 * 3600
STAMP = ".last-expiry"


def maybe_expire_in_background() -> None:
    from .settings import store_dir

    stamp = store_dir() / STAMP
    try:
        if time.time() - stamp.stat().st_mtime < _ONCE_A_DAY:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        stamp.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp.touch()
        subprocess.Popen(
            [sys.executable, "-m", "conda", "envguard", "purge", "--expired", "--yes", "--quiet"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        pass
