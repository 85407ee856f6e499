"""An env is more than its packages: its settings and the files no package installed.

Real conda in child processes, as a user runs it: `conda env config vars set`, a pin, the env's
own `.condarc`, a hand-written activation script, conda's frozen marker; then removal, purge
and restore; and removals of envs that hold a user's own files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from envguard_testsupport.checks import (
    clean_error,
    conda_list,
    ok,
    snapshots_of,
    trashed_envs_on_disk,
)

pytestmark = pytest.mark.usefixtures("no_background_expiry")

ACTIVATE = "etc/conda/activate.d/team.sh"
CONDARC = "channel_priority: strict\n"
PIN = "alpha 1.0\n"
FROZEN = '{"message": "thesis results: do not change"}\n'


def _set_up_the_env(conda_run, channel_args, prefix: Path) -> None:
    ok(conda_run("create", "-n", "work", "-y", *channel_args, "beta", "alpha=1.0"))
    ok(
        conda_run(
            "env", "config", "vars", "set", "-n", "work", "CUDA_VISIBLE_DEVICES=0",
            "HF_HOME=/data/hf",
        )
    )  # fmt: skip
    (prefix / "conda-meta" / "pinned").write_text(PIN)
    (prefix / ".condarc").write_text(CONDARC)
    script = prefix / ACTIVATE
    script.parent.mkdir(parents=True)
    script.write_text("export TEAM_DATA=/data/team\n")
    (prefix / "conda-meta" / "frozen").write_text(FROZEN)


def _settings(prefix: Path) -> dict:
    return {
        "state": (prefix / "conda-meta" / "state").read_text(),
        "pinned": (prefix / "conda-meta" / "pinned").read_text(),
        "condarc": (prefix / ".condarc").read_text(),
        "activate": (prefix / ACTIVATE).read_text(),
        "frozen": (prefix / "conda-meta" / "frozen").read_text(),
    }


def test_restore_from_the_lock_brings_back_settings_and_activation_scripts(
    conda_run, channel_args, conda_dirs
):
    prefix = conda_dirs.envs / "work"
    _set_up_the_env(conda_run, channel_args, prefix)
    before = _settings(prefix)
    packages = conda_list(conda_run, "work")

    ok(conda_run("remove", "-n", "work", "--all", "-y", "--override-frozen"))
    ok(conda_run("envguard", "purge", "work", "-y"))
    assert not prefix.exists() and trashed_envs_on_disk(conda_dirs) == []
    result = ok(conda_run("envguard", "restore", "work", "-y"))

    assert "(explicit)" in result.stdout
    assert _settings(prefix) == before
    assert conda_list(conda_run, "work") == packages
    for path in ("conda-meta/state", "conda-meta/pinned", ".condarc", ACTIVATE):
        assert path in result.stdout  # the report says what it put back
    assert "It matches the snapshot exactly." in result.stdout
    # conda itself sees them: the variables, and the env frozen again
    listed = ok(conda_run("env", "config", "vars", "list", "-n", "work", "--json")).stdout
    assert json.loads(listed) == {"CUDA_VISIBLE_DEVICES": "0", "HF_HOME": "/data/hf"}
    refused = conda_run("install", "-n", "work", "-y", *channel_args, "gamma")
    assert refused.returncode != 0 and "thesis results" in refused.stdout + refused.stderr


def test_restore_report_names_a_setting_that_did_not_come_back(
    conda_run, channel_args, conda_dirs
):
    prefix = conda_dirs.envs / "work"
    _set_up_the_env(conda_run, channel_args, prefix)
    (prefix / "conda-meta" / "frozen").unlink()
    ok(conda_run("env", "remove", "-n", "work", "-y"))
    ok(conda_run("envguard", "purge", "work", "-y"))
    (snapshot,) = snapshots_of(conda_run, "work")
    store_copy = Path(snapshot["path"]) / "env-files" / ".condarc"
    store_copy.unlink()  # the snapshot lost its copy of the env's .condarc

    # its manifest sees the loss first: restoring it is a choice made on purpose
    refused = conda_run("envguard", "restore", "work", "-y")
    assert refused.returncode == 1 and "env-files/.condarc: missing" in refused.stderr
    report = json.loads(
        ok(conda_run("envguard", "restore", "work", "-y", "--json", "--ignore-damage")).stdout
    )

    assert report["exact"] is False
    assert report["files_differ"] == [".condarc: its copy in the snapshot is unreadable"]
    assert (prefix / "conda-meta" / "state").is_file()


def test_restore_from_the_trash_keeps_every_file(conda_run, channel_args, conda_dirs):
    prefix = conda_dirs.envs / "work"
    _set_up_the_env(conda_run, channel_args, prefix)
    (prefix / "conda-meta" / "frozen").unlink()
    ok(conda_run("env", "remove", "-n", "work", "-y"))

    report = json.loads(ok(conda_run("envguard", "restore", "work", "-y", "--json")).stdout)

    assert report["method"] == "trash" and report["exact"] is True
    assert (prefix / ACTIVATE).read_text() == "export TEAM_DATA=/data/team\n"


# --- files no package installed -------------------------------------------------------------


def _with_thesis(make_env) -> Path:
    prefix = make_env("work", "beta")
    (prefix / "thesis").mkdir()
    (prefix / "thesis" / "chapter1.tex").write_text("\\chapter{Introduction}\n" * 100)
    (prefix / "analysis.ipynb").write_text('{"cells": []}\n')
    return prefix


def test_removing_an_env_that_holds_user_files_stops_and_names_them(
    make_env, conda_run, conda_dirs
):
    prefix = _with_thesis(make_env)

    result = conda_run("remove", "-n", "work", "--all", "-y")

    text = clean_error(
        result,
        "holds 2 file(s)",
        "thesis/chapter1.tex",
        "analysis.ipynb",
        "Nothing was changed.",
        "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=trash conda remove -n work --all -y",
    )
    assert "conda-meta" not in text.split("no snapshot can bring back")[1].split("Nothing")[0]
    assert (prefix / "thesis" / "chapter1.tex").is_file()
    assert conda_list(conda_run, "work")  # the packages too
    assert trashed_envs_on_disk(conda_dirs) == []


def test_with_the_override_they_go_to_the_trash_and_undo_brings_them_back(
    make_env, conda_run, conda_dirs
):
    prefix = _with_thesis(make_env)
    thesis = (prefix / "thesis" / "chapter1.tex").read_text()

    result = ok(
        conda_run(
            "remove", "-n", "work", "--all", "-y",
            env={"CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "trash"},
        )
    )  # fmt: skip

    assert "go to the trash with 'work'" in result.stderr
    assert not prefix.exists()
    (trashed,) = trashed_envs_on_disk(conda_dirs)
    assert (trashed / "thesis" / "chapter1.tex").read_text() == thesis
    assert (trashed / "analysis.ipynb").is_file()
    (snapshot,) = snapshots_of(conda_run, "work")
    listed = ok(conda_run("envguard", "show", snapshot["id"])).stdout
    assert "thesis/chapter1.tex" in listed and "analysis.ipynb" in listed

    ok(conda_run("envguard", "undo", "work", "-y"))
    assert (prefix / "thesis" / "chapter1.tex").read_text() == thesis


def test_no_trash_means_the_override_must_say_ignore(make_env, conda_run, conda_dirs):
    prefix = _with_thesis(make_env)
    no_trash = {"CONDA_PLUGINS_ENVGUARD_TRASH_DAYS": "0"}

    blocked = conda_run(
        "env", "remove", "-n", "work", "-y",
        env={**no_trash, "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "trash"},
    )  # fmt: skip
    clean_error(blocked, "deleted for good", "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=ignore")
    assert (prefix / "analysis.ipynb").is_file()

    ok(
        conda_run(
            "env", "remove", "-n", "work", "-y",
            env={**no_trash, "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES": "ignore"},
        )
    )  # fmt: skip
    assert not prefix.exists()


def test_files_that_packages_or_pip_own_or_the_snapshot_keeps_never_block(
    make_env, conda_run, conda_dirs
):
    prefix = make_env("work", "python", "beta")
    site = prefix / "lib" / "python3.11" / "site-packages"
    # what pip installs: files listed in its RECORD, a script outside site-packages
    info = site / "mytool-1.0.dist-info"
    info.mkdir()
    (site / "mytool.py").write_text("x = 1\n")
    (prefix / "bin").mkdir(exist_ok=True)
    (prefix / "bin" / "mytool").write_text("#!/bin/sh\n")
    (info / "METADATA").write_text("Name: mytool\nVersion: 1.0\n")
    (info / "RECORD").write_text(
        "mytool.py,,\n../../../bin/mytool,,\nmytool-1.0.dist-info/METADATA,,\n"
        "mytool-1.0.dist-info/RECORD,,\n"
    )
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / "mytool.cpython-311.pyc").write_bytes(b"\0" * 100)
    (prefix / ".condarc").write_text(CONDARC)
    (prefix / "etc" / "conda" / "deactivate.d").mkdir(parents=True)
    (prefix / "etc" / "conda" / "deactivate.d" / "team.sh").write_text("unset TEAM_DATA\n")

    ok(conda_run("env", "remove", "-n", "work", "-y"))

    assert not prefix.exists()


def test_a_file_a_post_link_script_made_among_package_files_is_listed_not_blocking(
    make_env, conda_run, conda_dirs
):
    prefix = make_env("work", "beta")
    (prefix / "share" / "fonts.cache").write_bytes(b"\0" * 2048)  # as fc-cache would

    ok(conda_run("env", "remove", "-n", "work", "-y"))

    (snapshot,) = snapshots_of(conda_run, "work")
    listing = json.loads((Path(snapshot["path"]) / "env-files.json").read_text())
    assert listing["unowned"] == [
        {"path": "share/fonts.cache", "size": 2048, "kept": False, "among_packages": True}
    ]
    meta = json.loads((Path(snapshot["path"]) / "snapshot.json").read_text())
    assert meta["unowned"] == {"files": 1, "bytes": 2048, "at_risk": 0}
    assert "env-files.json" in meta["files"]


def test_create_over_an_env_with_user_files_stops(make_env, conda_run, channel_args):
    prefix = _with_thesis(make_env)

    result = conda_run("create", "-n", "work", "-y", *channel_args, "gamma")

    clean_error(result, "overwrite 'work'", "thesis/chapter1.tex")
    assert (prefix / "thesis" / "chapter1.tex").is_file()


# --- diff: variables and pins ----------------------------------------------------------------


def test_diff_shows_env_variable_and_pin_changes(make_env, conda_run, conda_dirs):
    prefix = make_env("work", "beta")
    ok(conda_run("env", "config", "vars", "set", "-n", "work", "HF_HOME=/data/hf", "OLD=1"))
    (prefix / "conda-meta" / "pinned").write_text("alpha 1.0\n")
    first = json.loads(ok(conda_run("envguard", "snapshot", "-n", "work", "--json")).stdout)
    ok(conda_run("env", "config", "vars", "set", "-n", "work", "HF_HOME=/scratch/hf", "NEW=2"))
    ok(conda_run("env", "config", "vars", "unset", "-n", "work", "OLD"))
    (prefix / "conda-meta" / "pinned").write_text("beta 1.0\n")

    live = ok(conda_run("envguard", "diff", first["taken"][0]["id"])).stdout

    for line in (
        "- env var OLD=1",
        "+ env var NEW=2",
        "~ env var HF_HOME: /data/hf -> /scratch/hf",
        "- pin alpha 1.0",
        "+ pin beta 1.0",
    ):
        assert line in live, live
    second = json.loads(ok(conda_run("envguard", "snapshot", "-n", "work", "--json")).stdout)
    between = json.loads(
        ok(
            conda_run(
                "envguard", "diff", first["taken"][0]["id"], second["taken"][0]["id"], "--json"
            )
        ).stdout
    )
    assert between["env_vars"]["added"] == {"NEW": "2"}
    assert between["pins"] == {"added": ["beta 1.0"], "removed": ["alpha 1.0"]}


# --- envs deleted behind conda's back ---------------------------------------------------------


def test_status_and_doctor_report_an_env_deleted_with_rm_rf(
    make_env, conda_run, conda_dirs, monkeypatch, tmp_path
):
    import shutil

    gone = make_env("gone", "beta")
    make_env("kept", "gamma")
    make_env("removed", "alpha")
    ok(conda_run("envguard", "snapshot", "--all"))
    ok(conda_run("env", "remove", "-n", "removed", "-y"))
    ok(conda_run("envguard", "purge", "removed", "-y"))
    shutil.rmtree(gone)  # as rm -rf, or micromamba, would

    status = ok(conda_run("envguard", "status")).stdout
    data = json.loads(ok(conda_run("envguard", "status", "--json")).stdout)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    doctor = ok(conda_run("doctor", "-n", "kept")).stdout

    assert [e["name"] for e in data["lost"]] == ["gone"]
    assert data["lost"][0]["restore"] == "conda envguard restore gone"
    for text in (status, doctor):
        assert "'gone'" in text and "not through conda" in text
        assert "Restore it: conda envguard restore gone" in text
        assert "'removed'" not in text and "'kept'" not in text

    ok(conda_run("envguard", "restore", "gone", "-y"))
    assert "not through conda" not in ok(conda_run("envguard", "status")).stdout


def test_status_counts_files_no_package_installed(make_env, conda_run):
    _with_thesis(make_env)
    ok(conda_run("envguard", "snapshot", "-n", "work"))

    data = json.loads(ok(conda_run("envguard", "status", "--json")).stdout)

    (work,) = [e for e in data["environments"] if e["name"] == "work"]
    assert (work["unowned_files"], work["unowned_files_at_risk"]) == (2, 2)
    assert "work: 2 (2 would stop a removal)" in ok(conda_run("envguard", "status")).stdout


def test_restore_from_the_yaml_brings_back_settings_too(conda_run, channel_args, conda_dirs):
    prefix = conda_dirs.envs / "work"
    _set_up_the_env(conda_run, channel_args, prefix)
    before = _settings(prefix)
    ok(conda_run("remove", "-n", "work", "--all", "-y", "--override-frozen"))
    ok(conda_run("envguard", "purge", "work", "-y"))
    (snapshot,) = snapshots_of(conda_run, "work")
    (Path(snapshot["path"]) / "explicit.txt").write_text("@EXPLICIT\n")  # an unusable lock

    report = json.loads(
        ok(
            conda_run(
                "envguard", "restore", "work", "-y", "--json", "--ignore-damage",
                env={"CONDA_CHANNELS": channel_args[-1]},
            )
        ).stdout
    )  # fmt: skip

    assert report["method"] == "environment.yml"
    assert _settings(prefix) == before
    assert report["exact"] is True, report


def test_the_env_variables_are_in_the_snapshots_yaml_and_come_back(make_env, conda_run):
    """`conda env config vars set` values are in the snapshot's environment.yml (`variables:`),
    so that the file alone gives them back, and a restore brings them back."""
    from ruamel.yaml import YAML

    make_env("work", "alpha")
    ok(conda_run("env", "config", "vars", "set", "-n", "work", "MY_SETTING=42"))
    ok(conda_run("env", "remove", "-n", "work", "-y"))
    ok(conda_run("envguard", "purge", "work", "-y"))
    (snapshot,) = snapshots_of(conda_run, "work")
    yml = Path(snapshot["path"]) / "environment.yml"

    assert YAML(typ="safe").load(yml.read_text())["variables"] == {"MY_SETTING": "42"}
    ok(conda_run("envguard", "restore", "work", "-y"))
    listed = ok(conda_run("env", "config", "vars", "list", "-n", "work", "--json")).stdout
    assert json.loads(listed) == {"MY_SETTING": "42"}
    # the YAML alone, as a user recreates the env from it elsewhere
    ok(conda_run("env", "create", "-n", "copy", "-f", yml))
    listed = ok(conda_run("env", "config", "vars", "list", "-n", "copy", "--json")).stdout
    assert json.loads(listed) == {"MY_SETTING": "42"}


def test_restore_force_over_an_env_with_user_files_stops(make_env, conda_run, conda_dirs):
    prefix = _with_thesis(make_env)
    (prefix / "thesis" / "chapter1.tex").rename(prefix / "chapter1.tex")
    ok(conda_run("envguard", "snapshot", "-n", "work"))

    result = conda_run("envguard", "restore", "work", "--force", "-y")

    clean_error(
        result,
        "replace 'work'",
        "chapter1.tex",
        "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=trash conda envguard restore work --force -y",
    )
    assert (prefix / "chapter1.tex").is_file() and conda_list(conda_run, "work")


def test_every_file_of_a_snapshot_is_in_its_checksums(conda_run, channel_args, conda_dirs):
    prefix = conda_dirs.envs / "work"
    _set_up_the_env(conda_run, channel_args, prefix)
    (prefix / "conda-meta" / "frozen").unlink()
    ok(conda_run("envguard", "snapshot", "-n", "work"))
    (snapshot,) = snapshots_of(conda_run, "work")
    root = Path(snapshot["path"])
    meta = json.loads((root / "snapshot.json").read_text())

    on_disk = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.name not in ("snapshot.json", "manifest.json")
    }

    assert on_disk == set(meta["files"])
    manifest = json.loads((root / "manifest.json").read_text())
    assert set(manifest["files"]) == on_disk | {"snapshot.json"}
    assert {"env-files/.condarc", f"env-files/{ACTIVATE}", "env-files/conda-meta/state"} <= on_disk
    shown = json.loads(ok(conda_run("envguard", "show", snapshot["id"], "--json")).stdout)
    assert shown["damaged_files"] == []
    (root / "env-files" / ".condarc").write_text("channel_priority: disabled\n")
    shown = json.loads(ok(conda_run("envguard", "show", snapshot["id"], "--json")).stdout)
    assert shown["damaged_files"] == ["env-files/.condarc"]


def test_a_new_condarc_or_activation_script_is_a_change_worth_a_snapshot(make_env, conda_run):
    prefix = make_env("work", "beta")
    ok(conda_run("envguard", "snapshot", "-n", "work"))
    unchanged = ok(conda_run("envguard", "snapshot", "-n", "work"))
    assert "unchanged since its last snapshot" in unchanged.stderr

    (prefix / ".condarc").write_text(CONDARC)
    ok(conda_run("envguard", "snapshot", "-n", "work"))
    script = prefix / ACTIVATE
    script.parent.mkdir(parents=True)
    script.write_text("export TEAM_DATA=/data/team\n")
    ok(conda_run("envguard", "snapshot", "-n", "work"))

    assert len(snapshots_of(conda_run, "work")) == 3


def test_a_damaged_listing_writes_nothing_outside_the_env(make_env, conda_run, conda_dirs):
    prefix = make_env("work", "beta")
    (prefix / ".condarc").write_text(CONDARC)
    ok(conda_run("env", "remove", "-n", "work", "-y"))
    ok(conda_run("envguard", "purge", "work", "-y"))
    (snapshot,) = snapshots_of(conda_run, "work")
    root = Path(snapshot["path"])
    listing = json.loads((root / "env-files.json").read_text())
    listing["modes"]["../escaped.txt"] = 0o644
    (root / "env-files.json").write_text(json.dumps(listing))
    (root / "escaped.txt").write_text("from the snapshot\n")

    refused = conda_run("envguard", "restore", "work", "-y")
    assert refused.returncode == 1 and "env-files.json: changed" in refused.stderr
    # and even restored on purpose, the forged entry writes nothing outside the env
    ok(conda_run("envguard", "restore", "work", "-y", "--ignore-damage"))

    assert not (conda_dirs.envs / "escaped.txt").exists()
    assert (prefix / ".condarc").read_text() == CONDARC


def test_an_env_removed_then_undone_then_deleted_is_reported(make_env, conda_run):
    import shutil

    prefix = make_env("work", "beta")
    ok(conda_run("env", "remove", "-n", "work", "-y"))
    assert "not through conda" not in ok(conda_run("envguard", "status")).stdout
    ok(conda_run("envguard", "undo", "work", "-y"))
    shutil.rmtree(prefix)

    status = json.loads(ok(conda_run("envguard", "status", "--json")).stdout)

    assert [e["name"] for e in status["lost"]] == ["work"]


def test_a_prefix_with_very_many_user_files_lists_the_first_ones_and_counts_all(tmp_path):
    from conda_envguard.envfiles import LIST_CAP, copies, scan

    prefix = tmp_path / "project"
    (prefix / "data").mkdir(parents=True)
    for i in range(LIST_CAP + 5):
        (prefix / "data" / f"{i:06d}.csv").write_text("1,2\n")
    (prefix / "etc").mkdir()
    (prefix / "etc" / "setup.sh").write_text("export X=1\n")

    files = scan(prefix, conda_files=set())
    listing, kept, _ = copies(prefix, files)

    assert files.summary() == {
        "files": LIST_CAP + 6,
        "bytes": 4 * (LIST_CAP + 5) + 11,
        "at_risk": LIST_CAP + 5,  # the script under etc/ is kept
    }
    assert listing["unowned_not_listed"] == 5
    assert len(listing["unowned"]) == LIST_CAP + 1
    assert {"path": "etc/setup.sh", "size": 11, "kept": True, "among_packages": False} in listing[
        "unowned"
    ]
    assert kept == {"env-files/etc/setup.sh": b"export X=1\n"}


def test_a_file_of_the_user_s_linked_twice_counts_once_in_the_refusal(make_env, cli):
    from conda_envguard.exceptions import UnownedFilesError

    prefix = make_env("work", "alpha")
    (prefix / "results.bin").write_bytes(b"r" * 3 * 1024 * 1024)
    (prefix / "results-latest.bin").hardlink_to(prefix / "results.bin")

    excinfo = cli("remove", "-n", "work", "--all", "--yes", raises=UnownedFilesError)

    message = str(excinfo.value)
    assert "holds 2 file(s), 3.0 MB, that no package installed" in message, message
    assert prefix.is_dir()
