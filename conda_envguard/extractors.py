"""Extract two packages at once: one in this process, one in a helper process.

Why: extracting is Python work between system calls (a tar header, then an open, write and
close a file), so it keeps one core busy. Two threads of one interpreter only take turns at
it: tried, they took longer than one. A second process extracts on another core: an env of
many small files restores in about two thirds of the time.

The helper (`python -m conda_envguard.extractors`) runs `compat.extract_package` on what it
is sent, one JSON line each way, and reports what it wrote (`untar.Extracted`), or its error.
Checking what was extracted stays with the caller. If the helper cannot start or stops, this
process extracts everything itself, as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from queue import SimpleQueue


class ExtractionFailed(Exception):
    """The helper could not extract a package (its message is the helper's error)."""


class _HelperGone(Exception):
    pass


class _Helper:
    def __init__(self):
        # Started where envguard is installed: `-m` puts the working folder first on the
        # path, and the user's (a cloned repository, say) could shadow any module.
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=here,
        )

    def extract(self, archive: str, dest: str, extracted) -> None:
        request = {"archive": os.path.abspath(archive), "dest": os.path.abspath(dest)}
        try:
            self.process.stdin.write(json.dumps(request).encode())
            self.process.stdin.write(b"\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            reply = json.loads(line)
        except (OSError, ValueError):
            raise _HelperGone from None
        if "oserror" in reply:
            raise OSError(*reply["oserror"])
        if "error" in reply:
            raise ExtractionFailed(reply["error"])
        extracted.files.update((path, tuple(sums)) for path, sums in reply["files"].items())
        extracted.links.update(reply["links"])
        extracted.exact = reply["exact"]

    def close(self) -> None:
        """Let it end (it stops at the end of its input); kill it if it does not."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()

    def stop(self) -> None:
        self.process.kill()
        self.close()


class Extractors:
    """`with Extractors(n) as extractors:` then `extractors.extract(archive, dest, extracted)`
    (as `compat.extract_package`) from up to `extractors.workers` threads at once. `n`, how
    many packages there are: a helper only pays for itself with two or more."""

    def __init__(self, packages: int):
        self._slots: SimpleQueue = SimpleQueue()  # the helper first, then this process
        self._helper = None
        if packages > 1 and os.name == "posix" and not getattr(sys, "frozen", False):
            try:
                self._helper = _Helper()
                self._slots.put(self._helper)
            except OSError:
                self._helper = None
        self._slots.put(None)

    @property
    def workers(self) -> int:
        return 2 if self._helper else 1

    def __enter__(self) -> Extractors:
        return self

    def __exit__(self, *_) -> None:
        if self._helper is not None:
            self._helper.close()

    def extract(self, archive: str, dest: str, extracted) -> None:
        from .compat import extract_package

        slot = self._slots.get()
        if slot is None:
            try:
                extract_package(archive, dest, extracted)
            finally:
                self._slots.put(None)
            return
        try:
            slot.extract(archive, dest, extracted)
        except _HelperGone:  # it stopped (killed?): its place is not given back
            slot.stop()
            shutil.rmtree(dest, ignore_errors=True)
            extracted.forget()
            extract_package(archive, dest, extracted)
            return
        except BaseException:
            self._slots.put(slot)
            raise
        self._slots.put(slot)


def _serve() -> None:
    import signal

    from .compat import extract_package
    from .untar import Extracted

    # Ctrl-C is for the restore: it stops, then ends this helper (end of input) once the
    # package in hand is extracted, as a thread of its own would finish it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    for line in sys.stdin.buffer:
        request = json.loads(line)
        extracted = Extracted()
        try:
            extract_package(request["archive"], request["dest"], extracted)
            reply = {
                "files": extracted.files,
                "links": sorted(extracted.links),
                "exact": extracted.exact,
            }
        except OSError as e:
            reply = {"oserror": [e.errno, e.strerror, e.filename]}
        except Exception as e:
            reply = {"error": str(e)}
        sys.stdout.buffer.write(json.dumps(reply).encode() + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve()
