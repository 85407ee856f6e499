"""Fallbacks never delete the user's files, nor take anyone's marker, without a word.

When envguard's trash cannot take an env (it is a filesystem of its own), conda removes it as
usual; files no package installed, which `envguard_unowned_files: trash` let go to the trash,
would be deleted with it: the command stops instead, naming them. A marker that cannot be
written or removed is an error that says what is (not) in effect, never a traceback; a marker
envguard cannot read and has no record of is someone else's, and stays.
"""

from __future__ import annotations

import os

import pytest
from envguard_testsupport.checks import clean_error, ok

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def test_own_files_the_trash_cannot_take_stop_the_removal(
    tmpfs, conda_run, conda_dirs, channel_args
):
    prefix = tmpfs(conda_dirs.envs / "E")
    conda_run("create", "-p", prefix, "-y", *channel_args, "beta", check=True)
    assert os.stat(prefix).st_dev != os.stat(prefix.parent).st_dev
    notebook = prefix / "analysis.ipynb"
    notebook.write_text('{"cells": []}\n')

    blocked = conda_run(
        "env", "remove", "-n", "E", "-y", env={"CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "trash"}
    )

    clean_error(
        blocked,
        "holds 1 file(s)",
        "analysis.ipynb",
        "envguard's trash cannot hold this env (the environment is a mount point of its own)",
        "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=ignore conda env remove -n E -y",
    )
    assert notebook.read_text() == '{"cells": []}\n'
    assert (prefix / "conda-meta").is_dir()


def test_a_marker_that_cannot_be_written_or_removed_is_a_clean_error(make_env, conda_run):
    prefix = make_env("E", "alpha")
    (prefix / "conda-meta" / "envguard-protected").mkdir()  # no file can be written there

    clean_error(
        conda_run("envguard", "protect", "-n", "E"),
        "could not write the protect marker",
        "so 'E' is not protected by it",
    )
    clean_error(
        conda_run("envguard", "unprotect", "-n", "E"),
        "could not remove the protect marker",
        "so 'E' is still protected",
    )
    # and it still protects, as a damaged marker does
    clean_error(conda_run("env", "remove", "-n", "E", "-y"), "protected environment 'E'")
    assert (prefix / "conda-meta").is_dir()


def test_freeze_leaves_a_marker_it_cannot_read_and_did_not_write(make_env, conda_run):
    prefix = make_env("E", "alpha")
    theirs = prefix / "conda-meta" / "frozen"
    theirs.mkdir()  # there, but nothing envguard can read or replace
    (theirs / "keep").write_text("someone's\n")

    frozen = conda_run("envguard", "freeze", "-n", "E")

    # the only marker freeze would write is someone else's: nothing to freeze, and it says so
    assert frozen.returncode == 1
    assert "frozen already by markers envguard did not write" in frozen.stderr
    assert "Nothing was changed" in frozen.stderr
    assert (theirs / "keep").read_text() == "someone's\n"


def test_unfreeze_with_a_damaged_record_says_so(make_env, conda_run):
    prefix = make_env("E", "alpha")
    ok(conda_run("envguard", "freeze", "-n", "E"))
    (prefix / "conda-meta" / "envguard-frozen").write_text("garbage")

    done = ok(conda_run("envguard", "unfreeze", "-n", "E"))

    assert "was not frozen by" not in done.stdout
    assert "record of what it froze in 'E'" in done.stdout and "cannot be read" in done.stdout
    assert "conda-meta/frozen was not written by envguard" in done.stdout
    assert (prefix / "conda-meta" / "frozen").is_file()
