"""The guard's fallbacks never delete the user's own files without a word.

When envguard's trash cannot take an env (it is a filesystem of its own), conda removes it as
usual; files no package installed, which `envguard_unowned_files: trash` let go to the trash,
would be deleted with it: the command stops instead, naming them.
"""

from __future__ import annotations

import os

import pytest
from support.checks import clean_error

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
