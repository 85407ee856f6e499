"""Writes that are whole or absent: a crash or a full disk never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(
    path: str | os.PathLike, text: str, mode: int = 0o644, durable: bool = True
) -> None:
    """Replace `path` with `text` in one rename; `durable` also survives a power cut."""
    write_bytes_atomic(path, text.encode("utf-8"), mode, durable)


def write_bytes_atomic(
    path: str | os.PathLike, data: bytes, mode: int = 0o644, durable: bool = False
) -> None:
    """Replace `path` with `data` in one rename; `durable` also survives a power cut."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename inside `path` durable (a no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
