"""The guard for files no package installed: before a command deletes a prefix, are there
files in it that no snapshot can bring back?

The setting `envguard_unowned_files` decides: block (stop the command and name the files),
trash (let them go to envguard's trash with the env) or ignore. Files that the snapshot copies
(the env's settings, small files under etc/) never stop anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .envfiles import Contents, read_contents

if TYPE_CHECKING:
    from .exceptions import UnownedFilesError

SHOWN = 5  # paths an error names; `conda envguard show` lists them all


def check_before_destroy(prefix: Path, name: str, action: str, command: str) -> Contents:
    """Read the env at `prefix` (for its snapshot too) and stop the command when it would
    delete files the setting does not let go. `command` is the command line without `conda`."""
    from .settings import trash_days, unowned_files

    contents = read_contents(prefix)
    at_risk = contents.files.at_risk
    mode = unowned_files()
    if not at_risk or mode == "ignore":
        return contents
    if mode == "trash" and trash_days() > 0:
        from conda.base.context import context

        if not context.quiet:
            shown = ", ".join(u.path for u in at_risk[:SHOWN])
            print(
                f"envguard: {len(at_risk)} file(s) no package installed go to the trash with "
                f"'{name}': {shown}{', ...' if len(at_risk) > SHOWN else ''}",
                file=sys.stderr,
            )
        return contents
    raise files_at_risk_error(action, name, prefix, at_risk, command, trash_on=trash_days() > 0)


def files_at_risk_error(
    action: str, name: str, prefix: Path, at_risk: list, command: str, **why
) -> UnownedFilesError:
    """The error that stops `command` before it deletes `at_risk` with the env at `prefix`."""
    from .exceptions import UnownedFilesError
    from .trash import human_size

    return UnownedFilesError(
        action,
        name,
        str(prefix),
        len(at_risk),
        human_size(_size_once(prefix, at_risk)),
        [f"{u.path} ({human_size(u.size)})" for u in at_risk[:SHOWN]],
        command,
        **why,
    )


def _size_once(prefix: Path, files: list) -> int:
    """The files' sizes, a file with several links among them counted once (what they take)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for u in files:
        try:
            st = os.lstat(os.path.join(prefix, u.path))
        except OSError:
            total += u.size
            continue
        if st.st_nlink > 1 and (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += u.size
    return total


def held_back(prefix: Path) -> list:
    """The files of `prefix` that would stop its removal now (see `check_before_destroy`),
    for a plan that must say which envs a real run would keep."""
    from .settings import trash_days, unowned_files

    at_risk = read_contents(prefix).files.at_risk
    mode = unowned_files()
    if mode == "ignore" or (mode == "trash" and trash_days() > 0):
        return []
    return at_risk
