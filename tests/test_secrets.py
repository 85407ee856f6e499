"""Secrets an env keeps (`conda env config vars set`, its activation scripts) never leave the
snapshot store: not in the git history, a bundle, nor `show`/`diff`/`--json` output. A restore
from this machine's own snapshot puts their real values back; one from a bundle or the git
history names what it could not restore and never claims an exact match.

Real conda and git in child processes, as a user runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from envguard_testsupport.checks import ok, remove

from conda_envguard.redact import SECRET

pytestmark = pytest.mark.usefixtures("no_background_expiry")

MARK = "4711secret"  # in every secret value below, and in nothing else
VARIABLES = {
    "HF_TOKEN": f"hf_{MARK}",
    "DATABASE_URL": f"postgres://app:pw{MARK}@db/prod",
    "MY_THING": f"thing_{MARK}",  # secret by envguard_secret_vars only
    "PLAIN": "plain-value",
}
SECRET_NAMES = ["DATABASE_URL", "HF_TOKEN", "MY_THING"]
SCRIPT = "etc/conda/activate.d/keys.sh"
SCRIPT_TEXT = f"export WANDB_API_KEY={MARK}\nexport OTHER=1\n"


def env_vars(prefix: Path) -> dict:
    return json.loads((prefix / "conda-meta" / "state").read_text())["env_vars"]


@pytest.fixture
def secret_env(make_env, conda_run, monkeypatch, tmp_path) -> tuple[Path, str, Path]:
    """Env E with secret variables and an activation script exporting a key, snapshotted,
    committed to a git history; returns (prefix, snapshot id, git repo)."""
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_SECRET_VARS", "MY_*")
    repo = tmp_path / "history"
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_GIT", str(repo))
    prefix = make_env("E", "gamma")
    assignments = [f"{k}={v}" for k, v in VARIABLES.items()]
    ok(conda_run("env", "config", "vars", "set", "-n", "E", *assignments))
    (prefix / SCRIPT).parent.mkdir(parents=True)
    (prefix / SCRIPT).write_text(SCRIPT_TEXT)
    taken = json.loads(ok(conda_run("envguard", "snapshot", "-n", "E", "--json")).stdout)
    (snap_id,) = [t["id"] for t in taken["taken"]]
    ok(conda_run("envguard", "sync"))
    return prefix, snap_id, repo


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_no_secret_leaves_the_store(secret_env, conda_run, conda_dirs, tmp_path):
    _, snap_id, repo = secret_env
    snapshot_dir = conda_dirs.store / "snapshots" / snap_id
    bundle = tmp_path / "E.envguard"
    exported = ok(conda_run("envguard", "export", snap_id, "-o", bundle)).stdout
    assert "secret values stay on this machine" in exported

    history = subprocess.run(
        ["git", "-C", repo, "log", "-p", "--all", "--format=%B"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    outputs = {
        argv: ok(conda_run("envguard", *argv)).stdout
        for argv in (
            ("show", snap_id),
            ("show", snap_id, "--json"),
            ("diff", snap_id),
            ("diff", snap_id, "--json"),
            ("list", "--json"),
        )
    }

    assert "HF_TOKEN" in history and MARK not in history
    tracked = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert tracked and not [p for p in tracked if MARK.encode() in p.read_bytes()]
    assert MARK.encode() not in bundle.read_bytes()
    for argv, out in outputs.items():
        assert MARK not in out, argv
    # in the store, only the private file holds them, readable by its owner alone
    private = snapshot_dir / "secrets.json"
    holding = [
        p.relative_to(snapshot_dir).as_posix()
        for p in snapshot_dir.rglob("*")
        if p.is_file() and MARK.encode() in p.read_bytes()
    ]
    assert holding == ["secrets.json"]
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    yml = (snapshot_dir / "environment.yml").read_text()
    assert f"HF_TOKEN: {SECRET}" in yml and "PLAIN: plain-value" in yml
    assert f"postgres://app:{SECRET}@db/prod" in yml
    ok(conda_run("envguard", "verify", snap_id))


def test_a_restore_from_this_machine_puts_the_secrets_back(secret_env, conda_run, conda_dirs):
    remove(conda_run, "E")
    copy = conda_dirs.envs / "C"

    result = ok(conda_run("envguard", "restore", "E", "-n", "C", "-y"))

    assert env_vars(copy) == VARIABLES
    assert (copy / SCRIPT).read_text() == SCRIPT_TEXT
    assert "It matches the snapshot exactly." in result.stdout, result.stdout


def test_diff_shows_that_a_secret_changed_without_showing_it(secret_env, conda_run):
    _, snap_id, _ = secret_env
    ok(conda_run("env", "config", "vars", "set", "-n", "E", f"HF_TOKEN=hf_new_{MARK}"))

    data = json.loads(ok(conda_run("envguard", "diff", snap_id, "--json")).stdout)
    text = ok(conda_run("envguard", "diff", snap_id)).stdout

    assert data["env_vars"]["changed"] == {"HF_TOKEN": {"old": SECRET, "new": SECRET}}
    assert f"~ env var HF_TOKEN: {SECRET} -> {SECRET}" in text
    assert MARK not in text + json.dumps(data)


def test_secrets_come_back_after_envguard_secret_vars_changed(
    secret_env, conda_run, conda_dirs, monkeypatch
):
    """The private originals are checked with the names the snapshot masked, not only with
    those the setting names today."""
    remove(conda_run, "E")  # its snapshot masks MY_*
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_SECRET_VARS", "PLAIN")  # MY_* no longer
    copy = conda_dirs.envs / "C"

    report = json.loads(
        ok(conda_run("envguard", "restore", "E", "-n", "C", "-y", "--json")).stdout
    )

    assert env_vars(copy) == VARIABLES
    assert report["exact"] is True, report


def _not_exact(result, target: Path) -> dict:
    """The report of a restore that lacked the secrets: it says so, by name."""
    report = json.loads(ok(result).stdout)
    assert report["exact"] is False
    assert sorted(n for n in report["secrets_missing"] if "/" not in n) == SECRET_NAMES
    # no variable is set to its mask; the others are as they were
    assert env_vars(target) == {"PLAIN": "plain-value"}
    return report


def test_a_restore_from_a_bundle_names_the_secrets_it_lacks(
    secret_env, conda_run, conda_dirs, tmp_path
):
    _, snap_id, _ = secret_env
    bundle = tmp_path / "E.envguard"
    ok(conda_run("envguard", "export", snap_id, "-o", bundle))
    other = tmp_path / "other"
    machine = {"CONDA_PLUGINS_ENVGUARD_STORE": str(other / "store")}
    ok(conda_run("envguard", "import", bundle, env=machine))
    target = other / "F"

    args = ("envguard", "restore", "--snapshot", snap_id, "-p", target, "-y")
    report = _not_exact(conda_run(*args, "--json", env=machine), target)

    assert f"{SCRIPT} (its secret values)" in report["secrets_missing"]
    assert report["files_differ"] == []  # the variables say it all
    assert f'WANDB_API_KEY="{SECRET}"' in (target / SCRIPT).read_text()  # still valid shell
    shutil.rmtree(target)
    text = ok(conda_run(*args, env=machine)).stdout
    assert "It matches the snapshot exactly." not in text
    assert "secrets not restored" in text and "HF_TOKEN" in text


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_a_restore_from_the_git_history_names_the_secrets_it_lacks(
    secret_env, conda_run, conda_dirs
):
    target = conda_dirs.envs / "G"

    _not_exact(
        conda_run("envguard", "restore", "E", "--from-git", "-n", "G", "-y", "--json"), target
    )


@pytest.mark.parametrize(
    ("name", "value", "masked"),
    [
        ("HF_TOKEN", "hf_x", SECRET),
        ("wandb_api_key", "k", SECRET),
        ("AWS_SECRET_ACCESS_KEY", "k", SECRET),
        ("PGPASSWORD", "k", SECRET),
        ("GOOGLE_APPLICATION_CREDENTIALS", "/k.json", SECRET),
        ("DATABASE_URL", "postgres://app:pw@db/prod", f"postgres://app:{SECRET}@db/prod"),
        ("REPO", "https://ghp_x@github.com/o/r", f"https://{SECRET}@github.com/o/r"),
        ("CHANNEL", "https://h/t/tk-1/chan", "https://h/t/<TOKEN>/chan"),
        ("PLAIN", "postgres://db/prod", "postgres://db/prod"),
        ("KEYBOARD", "us", "us"),
        ("HF_TOKEN", "***unset***", "***unset***"),  # conda's mark of an unset variable
    ],
)
def test_which_values_are_masked(name, value, masked):
    from conda_envguard.redact import mask_value

    assert mask_value(name, value) == masked
