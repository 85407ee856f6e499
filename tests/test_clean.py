"""`conda envguard clean`: temporary envs unchanged for days and used by nobody are removed as
any removal is (protected ones never; snapshot and trash first, so `undo` brings one back).

An env's age is its `conda-meta/history` mtime, set here with os.utime; "in use" is a real
process whose working directory or executable is inside the env.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from envguard_testsupport.checks import assert_same_tree, clean_error, ok, snapshots_of, tree

DAY = 86400

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def age(prefix: Path, days: float) -> None:
    """Make the env look unchanged for `days` days: conda's own log of it is that old."""
    then = time.time() - days * DAY
    os.utime(prefix / "conda-meta" / "history", (then, then))


@pytest.fixture
def scene(make_env, conda_dirs):
    """The envs of a weekly clean: one to go, and three that stay for different reasons."""
    old = make_env("cuda12-test-tmp", "alpha")
    fresh = make_env("today-tmp", "alpha")
    protected = make_env("paper-tmp", "alpha")
    keeper = make_env("nlp-summarization-pt20", "alpha")  # not temporary, however old
    for prefix in (old, protected, keeper):
        age(prefix, 10)
    return {"old": old, "fresh": fresh, "protected": protected, "keeper": keeper}


def test_clean_removes_the_old_temporary_env_and_undo_brings_it_back(scene, conda_run, cli):
    cli("envguard", "protect", "-n", "paper-tmp", "--reason", "figures")
    before = tree(scene["old"])
    untouched = {k: tree(p) for k, p in scene.items() if k != "old"}

    cleaned = ok(conda_run("envguard", "clean", "-y"))

    assert not scene["old"].exists()
    for key, prefix in scene.items():
        if key != "old":
            assert_same_tree(prefix, untouched[key], context=f"{key}: ")
    assert "Removed 1 temporary env(s)" in cleaned.stdout
    # the space is not free yet: the trash holds it, and the message says so and how to free it
    assert "in envguard's trash, their disk space held until" in cleaned.stdout
    assert "conda envguard purge cuda12-test-tmp" in cleaned.stdout
    assert "Cleaned" not in cleaned.stdout
    assert "conda envguard undo cuda12-test-tmp" in cleaned.stdout
    assert "kept today-tmp: changed less than a day ago" in cleaned.stdout
    assert "kept paper-tmp: protected by 'conda envguard protect'" in cleaned.stdout
    assert "nlp-summarization-pt20" not in cleaned.stdout
    [snapshot] = snapshots_of(conda_run, "cuda12-test-tmp")
    assert snapshot["trigger"] == "clean"
    assert str(scene["old"]) not in {
        *json.loads(ok(conda_run("env", "list", "--json")).stdout)["envs"]
    }

    ok(conda_run("envguard", "undo", "cuda12-test-tmp", "-y"))
    assert_same_tree(scene["old"], before, context="after undo: ")
    # brought back on purpose: the next weekly clean leaves it a week from this one
    again = json.loads(ok(conda_run("envguard", "clean", "-y", "--json")).stdout)
    assert again["removed"] == []
    kept = {e["env_name"]: e["kept_because"] for e in again["kept"]}
    assert kept["cuda12-test-tmp"] == "changed less than a day ago"
    assert scene["old"].is_dir()


def test_a_pattern_in_condarc_keeps_an_env_from_clean(scene, conda_run, conda_dirs):
    conda_dirs.condarc.write_text('plugins:\n  envguard_protect:\n    - "paper-*"\n')

    cleaned = ok(conda_run("envguard", "clean", "-y", "--json"))

    data = json.loads(cleaned.stdout)
    assert [e["env_name"] for e in data["removed"]] == ["cuda12-test-tmp"]
    kept = {e["env_name"]: e["kept_because"] for e in data["kept"]}
    assert kept["paper-tmp"].startswith("protected by pattern 'paper-*' in envguard_protect")
    assert scene["protected"].is_dir()


def test_dry_run_and_no_change_nothing(scene, conda_run):
    before = {k: tree(p) for k, p in scene.items()}

    dry = ok(conda_run("envguard", "clean", "--dry-run"))
    assert "Would remove:\n  cuda12-test-tmp  (" in dry.stdout
    declined = conda_run("envguard", "clean", input="n\n")

    assert declined.returncode == 0
    assert declined.stdout.count("Proceed?") == 1, "asks once, for every env together"
    assert "cuda12-test-tmp  (" in declined.stdout and str(scene["old"]) in declined.stdout
    for key, prefix in scene.items():
        assert_same_tree(prefix, before[key], context=f"{key}: ")
    assert snapshots_of(conda_run, "cuda12-test-tmp") == []


def test_nothing_to_do_is_one_line_and_exit_0(make_env, conda_run):
    make_env("today-tmp", "alpha")

    nothing = ok(conda_run("envguard", "clean", "-y"))

    assert nothing.stdout.strip().splitlines() == [
        "Nothing to clean: no temporary env (*-tmp) unchanged for more than 7 days "
        "(1 kept: today-tmp, changed less than a day ago)."
    ]


def test_unused_for_and_the_temporary_setting(make_env, conda_run, conda_dirs):
    dev = make_env("parser-dev", "alpha")
    tmp = make_env("parser-tmp", "alpha")
    age(dev, 3)
    age(tmp, 3)
    assert "Nothing to clean" in ok(conda_run("envguard", "clean", "-y")).stdout
    conda_dirs.condarc.write_text(
        'plugins:\n  envguard_temporary:\n    - "*-tmp"\n    - "*-dev"\n'
        "  envguard_temporary_days: 2\n"
    )

    ok(conda_run("envguard", "clean", "-y"))
    assert not dev.exists() and not tmp.exists()


def test_unused_for_on_the_command_line(make_env, conda_run):
    prefix = make_env("quick-tmp", "alpha")
    age(prefix, 2)
    ok(conda_run("envguard", "clean", "--unused-for", "1", "-y"))
    assert not prefix.exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc to see processes in")
@pytest.mark.parametrize("how", ["cwd", "exe"])
def test_an_env_a_process_runs_from_stays(how, make_env, conda_run):
    prefix = make_env("train-tmp", "alpha")
    age(prefix, 30)
    sleep = shutil.which("sleep")
    if how == "exe":
        (prefix / "bin").mkdir(exist_ok=True)
        sleep = shutil.copy(sleep, prefix / "bin" / "sleep")
    process = subprocess.Popen([sleep, "60"], cwd=prefix if how == "cwd" else None)
    try:
        cleaned = json.loads(ok(conda_run("envguard", "clean", "-y", "--json")).stdout)
    finally:
        process.kill()
        process.wait()

    assert prefix.is_dir()
    [kept] = cleaned["kept"]
    assert kept["kept_because"] == f"in use by process {process.pid} (sleep)"


def test_no_snapshot_no_removal(make_env, conda_run, conda_dirs, tmp_path):
    prefix = make_env("lost-tmp", "alpha")
    age(prefix, 10)
    before = tree(prefix)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")

    failed = conda_run(
        "envguard", "clean", "-y", env={"CONDA_PLUGINS_ENVGUARD_STORE": str(blocker / "store")}
    )

    text = clean_error(failed, "Kept lost-tmp:")
    assert "Removed 0 temporary env(s)" in text
    assert_same_tree(prefix, before)


def test_json_when_there_is_nothing_to_clean(conda_run):
    data = json.loads(ok(conda_run("envguard", "clean", "--json")).stdout)
    assert data["removed"] == [] and data["temporary_patterns"] == ["*-tmp"]
    assert data["unused_for_days"] == 7.0 and isinstance(data["unused_for_days"], float)


def test_the_active_env_stays(make_env, conda_run):
    prefix = make_env("shell-tmp", "alpha")
    age(prefix, 10)

    cleaned = ok(conda_run("envguard", "clean", "-y", "--json", env={"CONDA_PREFIX": str(prefix)}))

    assert prefix.is_dir()
    [kept] = json.loads(cleaned.stdout)["kept"]
    assert kept["kept_because"] == "it is the active environment"
