"""Order is exact: "the most recent" snapshot or trash entry is the one made last, even when
several are made within one second (their ids then differ only by a random part)."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from envguard_testsupport.checks import snapshots_of

from conda_envguard.saving import save_and_set_aside

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def _fill(prefix, marker: str) -> None:
    (prefix / "which.txt").write_text(marker)


def test_undo_takes_entries_of_one_second_newest_first(make_env, conda_run, conda_dirs):
    prefix = make_env("demo", "alpha")
    template = conda_dirs.root / "template"
    shutil.copytree(prefix, template, symlinks=True)
    shutil.rmtree(prefix)
    # wait for the start of a second: the four entries below are made within it
    time.sleep(1 - time.time() % 1)
    for n in range(4):
        shutil.copytree(template, prefix, symlinks=True)
        _fill(prefix, str(n))
        save_and_set_aside(prefix, "restore --force")

    entries = json.loads(conda_run("envguard", "trash", "--json", check=True).stdout)["entries"]
    assert [e["env_name"] for e in entries] == ["demo"] * 4
    if len({e["id"][:15] for e in entries}) == len(entries):
        pytest.skip("no two entries were made within one second: their ids alone order them")
    # newest last, in the order they were made, whatever their ids' random parts
    assert [e["order"] for e in entries] == sorted(e["order"] for e in entries)
    snaps = snapshots_of(conda_run, "demo")
    assert [s["id"] for s in snaps] == [e["id"] for e in entries]

    for n in reversed(range(4)):
        conda_run("envguard", "undo", "demo", "-y", check=True)
        assert (prefix / "which.txt").read_text() == str(n)
        shutil.rmtree(prefix)  # out of the way, outside envguard: the next undo goes there


def test_stamps_never_tie_across_processes(conda_dirs):
    """Stamps from many processes at once are all different and increase in each process."""
    import subprocess
    import sys

    code = (
        "import sys; from conda_envguard.order import next_stamp;"
        "print(*[next_stamp(sys.argv[1]) for _ in range(200)])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(conda_dirs.store)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    runs = [list(map(int, p.communicate()[0].split())) for p in procs]
    assert all(run == sorted(run) for run in runs)
    every = [stamp for run in runs for stamp in run]
    assert len(set(every)) == len(every) == 800
