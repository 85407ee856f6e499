"""A percentage line on stderr for work that takes minutes (writing, reading, extracting
the packages of a big bundle), as conda shows for its downloads. None under --json or
--quiet, and none for work too small to wait for."""

from __future__ import annotations

import sys
import threading
import time

# Below this many bytes the work takes a second or two: a line would only flicker.
WORTH_SHOWING = 64 << 20


class Progress:
    """`with Progress("Extracting packages", total_bytes) as p: ... p.add(n) ...`"""

    def __init__(self, label: str, total: int, stream=None):
        from conda.base.context import context

        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.shown = total >= WORTH_SHOWING and not (context.json or context.quiet)
        self.tty = self.shown and self.stream.isatty()
        self.last_percent, self.last_time = -1, 0.0
        self.lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, *_) -> None:
        if self.shown and kind is None:
            self._show(100, force=True)
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()

    def add(self, n: int) -> None:
        """Count `n` more bytes done (from any thread)."""
        with self.lock:
            self.done += n
            if self.shown:
                self._show(min(99, self.done * 100 // max(self.total, 1)))

    def _show(self, percent: int, force: bool = False) -> None:
        # On a terminal one line redrawn at most 10 times a second; in a log a line a 10%.
        now = time.monotonic()
        if self.tty:
            if force or (percent != self.last_percent and now - self.last_time >= 0.1):
                self.stream.write(f"\r{self.label}: {percent:3d}% of {_size(self.total)}")
                self.stream.flush()
                self.last_percent, self.last_time = percent, now
        elif force or percent // 10 > max(self.last_percent, 0) // 10:
            self.stream.write(f"{self.label}: {percent}% of {_size(self.total)}\n")
            self.stream.flush()
            self.last_percent = percent


def _size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MB"
