"""Every command envguard tells a user to run works when run as printed, and every message says
what is true.

Each scenario below brings about a message (an error, a notice after a command, a verb's own
report), the commands in it are collected as printed (`conda ...`, with any leading
`NAME=value` for one command), run through conda as printed, and what the message promised is
checked. A command with a placeholder for the user to fill in (`NEW_NAME`, `FILE`, `...`) is
left out of running but must name a real verb.
"""

from __future__ import annotations

import json
import re
import shlex
import sys

import pytest
from conda import CondaError
from envguard_testsupport.checks import env_packages, take_snapshot

pytestmark = pytest.mark.usefixtures("no_background_expiry")

# `conda ...` at a line's start or after a label ("Bring it back:   conda envguard undo x"),
# optionally after NAME=value settings for that one command; it ends at the line's end, or
# where the prose goes on (" (", ", then", "; ").
_COMMAND = re.compile(r"(?:^\s*|:\s+)((?:[A-Z][A-Z0-9_]*=\S+\s+)*conda\s[^\n]*)", re.MULTILINE)
_PROSE = re.compile(r" \(|, then|; | or conda ")
_PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_]*[A-Z]|\.\.\.|<.*>)$")


def printed_commands(text: str) -> list[str]:
    """The commands in a message, as a user would copy them."""
    found = []
    for match in _COMMAND.finditer(text):
        command = _PROSE.split(match.group(1))[0].strip().rstrip(".")
        if command not in found:
            found.append(command)
    return found


def typed(cli, monkeypatch, *args, **kwargs):
    """`cli(*args)` with the process's command line set as a user's would be: messages that
    repeat the command read it from there."""
    with monkeypatch.context() as m:
        m.setattr(sys, "argv", ["conda", *args])
        return cli(*args, **kwargs)


def run_printed(cli, monkeypatch, command: str) -> str:
    """Run one printed command in-process, as printed, answering yes to conda's question
    (what a user does at the prompt); returns what it printed."""
    argv = shlex.split(command)
    with monkeypatch.context() as m:
        m.setattr(sys, "argv", [a for a in argv if "=" not in a or a.startswith("-")])
        while "=" in argv[0]:
            name, value = argv.pop(0).split("=", 1)
            m.setenv(name, value)
        m.setenv("CONDA_ALWAYS_YES", "true")
        from conda.base.context import reset_context

        reset_context()
        assert argv[0] == "conda", command
        out, err = cli(*argv[1:])
    reset_context()
    return out + err


def runnable(commands: list[str]) -> list[str]:
    return [c for c in commands if not any(_PLACEHOLDER.match(t) for t in shlex.split(c))]


def test_printed_commands_are_found():
    text = (
        "envguard: 'x' is in the trash until 2026-12-05, its disk space held.\n"
        "  Bring it back:   conda envguard undo x --force (the env there now is trashed first)\n"
        "  To remove it on purpose: conda envguard unprotect -n x, then run your command again\n"
        "    CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=trash conda env remove -n x\n"
        "  Restore under another name: conda envguard restore x -n NEW_NAME\n"
    )
    assert printed_commands(text) == [
        "conda envguard undo x --force",
        "conda envguard unprotect -n x",
        "CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES=trash conda env remove -n x",
        "conda envguard restore x -n NEW_NAME",
    ]
    assert runnable(printed_commands(text)) == printed_commands(text)[:3]


# --- the scenarios ----------------------------------------------------------------------------


def test_env_create_over_an_env_then_every_printed_step(
    cli, make_env, conda_dirs, channel, tmp_path, monkeypatch
):
    """`conda env create -f ... -n X` over an env: "Bring it back" puts the old env back as
    printed (it replaces what the create made, which is kept in turn), and "Free space now"
    then frees the trash."""
    make_env("work", "alpha")
    spec = tmp_path / "environment.yml"
    spec.write_text(f"channels: [{channel.url}]\ndependencies: [gamma]\n")
    _, err = cli("env", "create", "-f", str(spec), "-n", "work", "-y")
    assert env_packages(conda_dirs.envs / "work") == {"gamma": "1.0"}

    commands = printed_commands(err)
    back = next(c for c in commands if c.startswith("conda envguard undo"))
    assert back == "conda envguard undo work --force"
    run_printed(cli, monkeypatch, back)
    assert env_packages(conda_dirs.envs / "work") == {"alpha": "2.0"}
    # what the create made is in the trash in turn: nothing was lost either way
    trash = cli.json("envguard", "trash")
    assert [e["env_name"] for e in trash["entries"]] == ["work"]

    free = next(c for c in commands if c.startswith("conda envguard purge"))
    run_printed(cli, monkeypatch, free)
    assert cli.json("envguard", "trash")["entries"] == []
    assert env_packages(conda_dirs.envs / "work") == {"alpha": "2.0"}


def test_restore_over_an_env_prints_the_real_commands(cli, make_env, conda_dirs, monkeypatch):
    """TargetExistsError names the command to replace the env, not `restore ... --force`."""
    from conda_envguard.exceptions import TargetExistsError

    make_env("busy", "alpha")
    snap = take_snapshot(cli, "-n", "busy")
    refused = cli("envguard", "restore", "busy", "--snapshot", snap, raises=TargetExistsError)
    text = str(refused.value)
    assert "..." not in text
    commands = printed_commands(text)
    assert f"conda envguard restore busy --snapshot {snap} --force" in commands
    assert f"conda envguard restore busy --snapshot {snap} -n NEW_NAME" in commands
    for command in runnable(commands):
        run_printed(cli, monkeypatch, command)
    assert env_packages(conda_dirs.envs / "busy") == {"alpha": "2.0"}
    assert [e["env_name"] for e in cli.json("envguard", "trash")["entries"]] == ["busy"]


def test_a_frozen_env_suggests_a_name_the_naming_rule_accepts(
    cli, make_env, conda_dirs, channel_args, monkeypatch
):
    conda_dirs.condarc.write_text(
        "plugins:\n  envguard_name_pattern: '^[a-z0-9]+(-[a-z0-9.]+)+$'\n"
        "  envguard_name_check: block\n"
    )
    from conda.base.context import reset_context

    reset_context()
    make_env("team-base", "alpha")
    cli("envguard", "freeze", "-n", "team-base")
    refused = cli("install", "-n", "team-base", *channel_args, "gamma", "-y", raises=CondaError)
    clone = next(c for c in printed_commands(str(refused.value)) if "--clone" in c)
    assert "MY-ENV" not in clone
    run_printed(cli, monkeypatch, clone)  # the naming rule (block) lets it through
    name = shlex.split(clone)[shlex.split(clone).index("-n") + 1]
    assert env_packages(conda_dirs.envs / name) == {"alpha": "2.0"}


def test_notices_and_refusals_of_everyday_verbs(cli, make_env, conda_dirs, monkeypatch):
    """protect, a refused removal, a removal, freeze: each printed step does what it says."""
    prefix = make_env("daily", "alpha")
    out, _ = cli("envguard", "protect", "-n", "daily", "--reason", "paper")
    refused = cli("env", "remove", "-n", "daily", "-y", raises=CondaError)
    unprotect = printed_commands(str(refused.value))
    assert unprotect == ["conda envguard unprotect -n daily"]
    assert printed_commands(out) == unprotect
    run_printed(cli, monkeypatch, unprotect[0])
    assert cli.json("envguard", "status")  # still readable
    _, err = cli("env", "remove", "-n", "daily", "-y")
    assert not prefix.exists()
    back = [c for c in printed_commands(err) if "undo" in c]
    assert back == ["conda envguard undo daily"]
    run_printed(cli, monkeypatch, back[0])
    assert env_packages(prefix) == {"alpha": "2.0"}

    out, _ = cli("envguard", "freeze", "-n", "daily")
    [unfreeze] = [c for c in printed_commands(out) if "unfreeze" in c]
    run_printed(cli, monkeypatch, unfreeze)
    assert not (prefix / "conda-meta" / "frozen").exists()


def test_files_at_risk_override_does_what_it_says(cli, make_env, conda_dirs, monkeypatch):
    """The one-command override for the user's own files lets them go to the trash, and the
    undo it then prints brings them back."""
    prefix = make_env("thesis-env", "alpha")
    (prefix / "thesis").mkdir()
    (prefix / "thesis" / "results.csv").write_text("1,2,3\n")
    refused = typed(cli, monkeypatch, "env", "remove", "-n", "thesis-env", "-y", raises=CondaError)
    [override] = [c for c in printed_commands(str(refused.value)) if c.startswith("CONDA_")]
    text = run_printed(cli, monkeypatch, override)
    assert not prefix.exists()
    [undo] = [c for c in printed_commands(text) if "undo" in c]
    run_printed(cli, monkeypatch, undo)
    assert (prefix / "thesis" / "results.csv").read_text() == "1,2,3\n"


def test_a_damaged_snapshot_restored_on_purpose_is_not_called_exact(
    cli, make_env, conda_dirs, monkeypatch
):
    """The override the refusal prints restores it; the report does not say "matches the
    snapshot exactly" when the snapshot was damaged, or when files it did not keep are gone."""
    from conda_envguard.exceptions import DamagedSnapshotError

    prefix = make_env("lab", "alpha")
    (prefix / "notes.txt").write_text("mine\n")  # no package installed it; not kept
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_UNOWNED_FILES", "ignore")
    snap = take_snapshot(cli, "-n", "lab")
    meta = conda_dirs.store / "snapshots" / snap / "environment.yml"
    meta.write_text(meta.read_text() + "# edited\n")
    cli("env", "remove", "-n", "lab", "-y")
    cli("envguard", "purge", "lab", "-y")  # not from the trash: from the snapshot

    refused = cli(
        "envguard", "restore", "lab", "--snapshot", snap, "-y", raises=DamagedSnapshotError
    )
    [override] = [c for c in printed_commands(str(refused.value)) if "--ignore-damage" in c]
    text = run_printed(cli, monkeypatch, override)

    assert env_packages(prefix) == {"alpha": "2.0"}
    assert "matches the snapshot exactly" not in text
    assert "environment.yml" in text  # named as damaged
    assert "notes.txt" in text  # named as not here
    report = cli.json("envguard", "diff", snap)  # still readable: nothing else broke
    assert report is not None


def test_clean_says_the_space_stays_held_in_the_trash(cli, make_env, conda_dirs, monkeypatch):
    import os
    import time

    prefix = make_env("old-tmp", "alpha")
    past = time.time() - 30 * 86400
    for path in (prefix, prefix / "conda-meta", prefix / "conda-meta" / "history"):
        os.utime(path, (past, past))
    out, _ = cli("envguard", "clean", "-y")
    assert "Cleaned" not in out
    assert "disk space held until" in out
    purge = next(c for c in printed_commands(out) if "purge" in c)
    run_printed(cli, monkeypatch, purge)
    assert cli.json("envguard", "trash")["entries"] == []


# --- messages that must be true -------------------------------------------------------------


def test_a_pattern_in_both_condarc_and_the_variable_names_both(
    cli, make_env, conda_dirs, monkeypatch
):
    from conda.base.context import reset_context

    make_env("paper-final", "alpha")
    conda_dirs.condarc.write_text("plugins:\n  envguard_protect: ['paper-*']\n")
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_PROTECT", "paper-*")
    reset_context()
    refused = cli("env", "remove", "-n", "paper-final", "-y", raises=CondaError)
    text = str(refused.value)
    assert str(conda_dirs.condarc) in text
    assert "CONDA_PLUGINS_ENVGUARD_PROTECT" in text
    assert "unset CONDA_PLUGINS_ENVGUARD_PROTECT" in text
    assert f"conda config --file {conda_dirs.condarc} --remove" in text


def test_prune_keep_with_an_age_never_deletes_the_newest(cli, make_env, conda_dirs):
    from datetime import datetime, timedelta, timezone

    from envguard_testsupport.checks import set_created

    make_env("alive", "alpha")
    only = take_snapshot(cli, "-n", "alive")
    set_created(conda_dirs.store, only, datetime.now(timezone.utc) - timedelta(days=3))

    pruned = cli.json("envguard", "prune", "--keep", "5", "--older-than", "0", "-y")["pruned"]
    assert pruned == []
    pruned = cli.json("envguard", "prune", "--older-than", "0", "-y")["pruned"]
    assert pruned == []  # an age alone keeps the newest of each env, as prune -h says
    assert (conda_dirs.store / "snapshots" / only).is_dir()


def test_freezing_again_without_a_reason_keeps_the_recorded_one(cli, make_env):
    prefix = make_env("shared", "alpha")
    cli("envguard", "freeze", "-n", "shared", "--reason", "course 2026")
    cli("envguard", "freeze", "-n", "shared")
    record = json.loads((prefix / "conda-meta" / "envguard-frozen").read_text())
    assert record["reason"] == "course 2026"
    assert "(course 2026)" in (prefix / "conda-meta" / "frozen").read_text()


def test_no_snapshot_override_and_an_imported_snapshot_restore(
    cli, make_env, conda_dirs, tmp_path, monkeypatch
):
    """The one-command override when the store cannot take a snapshot removes the env (and
    only for that command); after `import`, "Restore it" rebuilds the env as printed."""
    from conda.base.context import reset_context

    make_env("scratch", "alpha")
    bundle = tmp_path / "scratch.envguard"
    out, _ = cli("envguard", "export", "scratch", "-o", str(bundle))
    [import_it] = printed_commands(out)
    assert import_it == f"conda envguard import {bundle.name}"

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_STORE", str(blocker / "store"))
    reset_context()
    refused = typed(cli, monkeypatch, "env", "remove", "-n", "scratch", "-y", raises=CondaError)
    [override] = [c for c in printed_commands(str(refused.value)) if c.startswith("CONDA_")]
    assert (conda_dirs.envs / "scratch").is_dir()  # nothing was changed
    run_printed(cli, monkeypatch, override)
    assert not (conda_dirs.envs / "scratch").exists()
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_STORE", str(conda_dirs.store))
    reset_context()

    monkeypatch.chdir(tmp_path)  # the printed import names the bundle as written here
    cli("envguard", "purge", "--all", "-y")
    text = run_printed(cli, monkeypatch, import_it)
    [restore] = [c for c in printed_commands(text) if "restore" in c]
    run_printed(cli, monkeypatch, restore)
    assert env_packages(conda_dirs.envs / "scratch") == {"alpha": "2.0"}
