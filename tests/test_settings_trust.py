"""A setting envguard cannot read never switches protection off in silence.

A mapping where a list of patterns belongs, a word where a number belongs, in the user's own
`.condarc` or in a machine-wide file: conda reads the file, and its merged value falls back to
the default. A command that would remove, overwrite or rename an env then stops, naming the
file and the value (fail closed); a command that destroys nothing goes on with a warning on
stderr, shown under `--json` and `-q` too.
"""

from __future__ import annotations

import json
import os

import pytest
from envguard_testsupport.checks import clean_error, ok, snapshot_entries, tree_state

pytestmark = pytest.mark.usefixtures("no_background_expiry")

MALFORMED_PROTECT = "plugins:\n  envguard_protect:\n    team: '*-prod'\n"


@pytest.mark.parametrize(
    "argv",
    [
        ("env", "remove", "-n", "db-prod", "-y"),
        ("remove", "--all", "-n", "db-prod", "-y", "--json"),
        ("rename", "-n", "db-prod", "db-prod-old"),
    ],
    ids=["env-remove", "remove-all-json", "rename"],
)
def test_a_mapping_as_envguard_protect_stops_a_removal(argv, make_env, conda_run, conda_dirs):
    prefix = make_env("db-prod", "alpha")
    conda_dirs.condarc.write_text(MALFORMED_PROTECT)
    before = tree_state(prefix)

    blocked = conda_run(*argv)

    text = clean_error(blocked, "envguard cannot read its own settings")
    if "--json" in argv:
        text = json.loads(blocked.stdout)["message"]
    assert (
        f'envguard_protect in {conda_dirs.condarc} is {{"team": "*-prod"}}: '
        "not a list of patterns" in text
    )
    assert "Nothing was changed." in text
    assert tree_state(prefix) == before
    assert not snapshot_entries(conda_dirs.store)


def test_a_typo_in_a_machine_wide_file_stops_a_removal(
    make_env, conda_run, conda_dirs, machine_condarc
):
    prefix = make_env("scratch", "alpha")
    policy = machine_condarc("plugins:\n  envguard_keep: lots\n")
    before = tree_state(prefix)

    blocked = conda_run("env", "remove", "-n", "scratch", "-y")

    clean_error(blocked, f"envguard_keep in {policy} is 'lots': not a whole number")
    assert tree_state(prefix) == before


def test_a_whole_plugins_section_that_is_no_mapping_stops_a_removal(
    make_env, conda_run, conda_dirs
):
    prefix = make_env("scratch", "alpha")
    conda_dirs.condarc.write_text("plugins:\n  - envguard_protect\n")

    blocked = conda_run("env", "remove", "-n", "scratch", "-y")

    clean_error(blocked, f"plugins in {conda_dirs.condarc} is unreadable: a list, not a mapping")
    assert prefix.is_dir()


def test_a_bad_variable_is_named_too(make_env, conda_run, conda_dirs):
    prefix = make_env("scratch", "alpha")

    blocked = conda_run(
        "env", "remove", "-n", "scratch", "-y", env={"CONDA_PLUGINS_ENVGUARD_TRASH_DAYS": "-1"}
    )

    clean_error(
        blocked,
        "envguard_trash_days in the variable CONDA_PLUGINS_ENVGUARD_TRASH_DAYS is '-1': "
        "a negative number",
    )
    assert prefix.is_dir()


@pytest.mark.parametrize("flag", ["--json", "-q"])
def test_a_command_that_destroys_nothing_goes_on_with_a_warning(
    flag, make_env, channel_args, conda_run, conda_dirs
):
    make_env("scratch", "alpha")
    conda_dirs.condarc.write_text("plugins:\n  envguard_name_check: blcok\n")

    done = ok(conda_run("install", "-n", "scratch", "beta", "-y", flag, *channel_args))

    assert "envguard: warning: these envguard settings cannot be read" in done.stderr
    assert (
        f"envguard_name_check in {conda_dirs.condarc} is 'blcok': not one of off, warn, block"
        in done.stderr
    )
    if flag == "--json":
        json.loads(done.stdout)  # stdout stays conda's JSON


def test_a_dry_run_warns_and_changes_nothing(make_env, conda_run, conda_dirs):
    prefix = make_env("scratch", "alpha")
    conda_dirs.condarc.write_text(MALFORMED_PROTECT)

    done = ok(conda_run("remove", "--all", "-n", "scratch", "--dry-run"))

    assert "envguard_protect in" in done.stderr
    assert prefix.is_dir()


def test_status_lists_unreadable_settings(conda_run, conda_dirs):
    conda_dirs.condarc.write_text("plugins:\n  envguard_keep: lots\n")

    status = ok(conda_run("envguard", "status", "--json"))

    problems = json.loads(status.stdout)["unreadable_settings"]
    assert [(p["setting"], p["source"], p["value"]) for p in problems] == [
        ("envguard_keep", str(conda_dirs.condarc), "'lots'")
    ]
    text = ok(conda_run("envguard", "status")).stdout
    assert f"envguard_keep in {conda_dirs.condarc} is 'lots': not a whole number" in text


def test_a_failed_history_snapshot_is_said_under_quiet(
    make_env, channel_args, conda_run, conda_dirs, tmp_path
):
    """The guard's own failure notes are warnings: -q and --json do not hide them."""
    make_env("scratch", "alpha")
    not_a_dir = tmp_path / "store-is-a-file"
    not_a_dir.write_text("")

    done = ok(
        conda_run(
            "install",
            "-n",
            "scratch",
            "beta",
            "-y",
            "-q",
            *channel_args,
            env={"CONDA_PLUGINS_ENVGUARD_STORE": str(not_a_dir)},
        )
    )

    assert "envguard: warning: could not record the state of" in done.stderr


def test_without_the_commands_arguments_a_destroying_command_stops(make_env, conda_dirs):
    """conda gives a pre-command plugin its arguments only as a private attribute. A conda
    that stopped setting it (here: a context reset with no command's arguments) must not
    let `remove` through unguarded; a command that destroys nothing still runs."""
    from conda.base.context import context, reset_context

    from conda_envguard.exceptions import GuardBlindError
    from conda_envguard.guard import before_command

    prefix = make_env("scratch", "alpha")
    reset_context()
    assert not context._argparse_args

    for command in ("remove", "create", "rename"):
        with pytest.raises(GuardBlindError, match="CONDA_NO_PLUGINS=true"):
            before_command(command)
    before_command("install")  # records history from context.target_prefix, never stops
    assert prefix.is_dir()


def test_envguard_verbs_warn_too(conda_run, conda_dirs):
    conda_dirs.condarc.write_text("plugins:\n  envguard_trash_days: a week\n")

    listed = ok(conda_run("envguard", "list", "--json"))

    json.loads(listed.stdout)
    assert (
        f"envguard_trash_days in {conda_dirs.condarc} is 'a week': not a whole number"
        in listed.stderr
    )


@pytest.mark.parametrize(
    "argv",
    [("prune", "-n", "E", "--keep", "1", "-y"), ("purge", "--all", "-y"), ("clean", "-y")],
    ids=["prune", "purge", "clean"],
)
def test_envguard_verbs_that_delete_stop(argv, make_env, conda_run, conda_dirs):
    make_env("E", "alpha")
    for _ in range(2):
        ok(conda_run("envguard", "snapshot", "-n", "E", "--force"))
    before = sorted(p.name for p in snapshot_entries(conda_dirs.store))
    conda_dirs.condarc.write_text("plugins:\n  envguard_keep: lots\n")

    stopped = conda_run("envguard", *argv)

    clean_error(
        stopped,
        f"envguard stopped `conda envguard {argv[0]}`",
        f"envguard_keep in {conda_dirs.condarc} is 'lots': not a whole number",
        "Nothing was changed.",
    )
    assert sorted(p.name for p in snapshot_entries(conda_dirs.store)) == before


def test_no_daily_expiry_runs_on_defaults_standing_in(
    make_env, channel_args, conda_run, conda_dirs
):
    """The daily clean-up purges the trash and prunes by envguard_trash_days and envguard_keep:
    while one cannot be read, it does not start (its stamp stays as it was)."""
    make_env("E", "alpha")
    stamp = conda_dirs.store / ".last-expiry"
    two_days_ago = stamp.stat().st_mtime - 2 * 24 * 3600
    os.utime(stamp, (two_days_ago, two_days_ago))
    conda_dirs.condarc.write_text("plugins:\n  envguard_trash_days: a week\n")

    ok(conda_run("install", "-n", "E", "-y", *channel_args, "gamma"))

    assert stamp.stat().st_mtime == two_days_ago


def test_a_relative_store_stops_a_removal_and_is_used_nowhere(
    make_env, conda_cli, conda_dirs, tmp_path, monkeypatch
):
    """`envguard_store: envguard-store` names another folder in each directory conda runs
    in: a removal's snapshot and trash record would land in this one, and `undo` run from
    another would not find them. A relative path is a setting envguard cannot use."""
    from conda.base.context import reset_context

    from conda_envguard.exceptions import UnreadableSettingsError

    prefix = make_env("work", "alpha")
    before = tree_state(prefix)
    here = tmp_path / "some-project"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_STORE", "envguard-store")
    reset_context()

    _, _, refused = conda_cli(
        "remove", "-n", "work", "--all", "-y", raises=UnreadableSettingsError
    )

    assert "envguard_store in the variable CONDA_PLUGINS_ENVGUARD_STORE" in str(refused.value)
    assert "a relative path" in str(refused.value)
    assert tree_state(prefix) == before
    _out, err, _code = conda_cli("envguard", "list")
    assert "a relative path" in err
    assert list(here.iterdir()) == []
