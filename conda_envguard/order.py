"""The exact order of snapshots and trash entries: which one is "the most recent".

Each gets a stamp when it is made: the time in nanoseconds, raised above the store's last
stamp when the clock gives the same value again (or goes back), under a lock shared by every
process. Two stamps of one store never tie, and a later one is always greater: `undo`, `list`,
`restore --at` and `prune` order by it, never by the random part of an id.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

_FILE = "sequence"


def next_stamp(store_root: Path) -> int:
    """A stamp greater than every stamp given out before in this store.

    Only under the store's sequence lock: a stamp taken without it could tie with another
    process's (a coarse clock) or fall below the last one (a clock set back), so when the
    lock can't be had, or the sequence can't be written, this raises (BusyError, OSError)
    rather than give an unordered stamp. The lock is held for microseconds at a time."""
    from .atomic import write_text_atomic
    from .locks import hold

    path = Path(store_root) / _FILE
    Path(store_root).mkdir(mode=0o700, parents=True, exist_ok=True)
    with hold(store_root, _FILE, "envguard's snapshot store"):
        try:
            last = int(path.read_text().strip() or 0)
        except FileNotFoundError:
            last = 0
        except ValueError:
            last = 0  # unreadable: the clock alone orders what follows
        stamp = max(time.time_ns(), last + 1)
        write_text_atomic(path, f"{stamp}\n", 0o600, durable=False)
    return stamp


def order_key(stamp: object, when: str, ident: str) -> tuple[int, str]:
    """Sort key of a record: its stamp; for records written before stamps, its time."""
    if isinstance(stamp, int) and stamp > 0:
        return stamp, ident
    try:
        return int(datetime.fromisoformat(when).timestamp() * 1e9), ident
    except (TypeError, ValueError):
        return 0, ident
