"""Naming rules: a new env's name is checked on create, env create and rename, before anything
is made. Generic names warn; a name that breaks envguard_name_pattern warns or, with
envguard_name_check: block, stops the command with the rule, where it was set, and a good name.
"""

from __future__ import annotations

import getpass
import os

import pytest
from envguard_testsupport.checks import clean_error, ok

from conda_envguard.exceptions import NameRuleError

PATTERN = "^[a-z0-9]+(-[a-z0-9.]+)+$"
POLICY = f"plugins:\n  envguard_name_pattern: '{PATTERN}'\n  envguard_name_check: block\n"


def envs_on_disk(conda_dirs) -> set[str]:
    """The envs in the test's envs dir (conda's own hidden files left out)."""
    if not conda_dirs.envs.is_dir():
        return set()
    return {p.name for p in conda_dirs.envs.iterdir() if not p.name.startswith(".")}


def test_block_refuses_a_bad_name_and_creates_nothing(conda_run, conda_dirs, channel_args):
    conda_dirs.condarc.write_text(POLICY)

    refused = conda_run("create", "-n", "myenv", *channel_args, "alpha", "-y")

    text = clean_error(refused, "NameRuleError", "the environment name 'myenv'")
    assert f"'myenv' does not match envguard_name_pattern '{PATTERN}'" in text
    assert f"set in {conda_dirs.condarc} (a file owned by {getpass.getuser()})" in text
    assert "Nothing was changed." in text
    assert "a name like 'nlp-summarization-pt20'" in text
    assert "myenv" not in envs_on_disk(conda_dirs)
    assert not (conda_dirs.pkgs / "alpha-1.0-0").exists(), "conda went on to download"

    ok(conda_run("create", "-n", "nlp-summarization-pt20", *channel_args, "alpha", "-y"))
    assert (conda_dirs.envs / "nlp-summarization-pt20" / "conda-meta" / "history").is_file()


def test_the_offered_name_passes_the_rule(conda_run, conda_dirs, channel_args):
    conda_dirs.condarc.write_text(
        "plugins:\n  envguard_name_pattern: '^[a-z-]+-v[0-9]+$'\n  envguard_name_check: block\n"
    )
    refused = conda_run("create", "-n", "Survey_Analysis", *channel_args, "alpha", "-y")
    text = clean_error(refused, "a name like 'survey-analysis-v1'")

    offered = text.split("a name like '")[1].split("'")[0]
    ok(conda_run("create", "-n", offered, *channel_args, "alpha", "-y"))
    assert envs_on_disk(conda_dirs) == {offered}


def test_defaults_warn_on_a_generic_name_and_create(conda_run, conda_dirs, channel_args):
    created = ok(conda_run("create", "-n", "test", *channel_args, "alpha", "-y"))

    assert "envguard: 'test' is a generic name that says nothing about the env." in created.stderr
    assert "like 'nlp-summarization-pt20'" in created.stderr
    assert (conda_dirs.envs / "test" / "conda-meta" / "history").is_file()


@pytest.mark.parametrize("name", ["env", "myenv", "default", "new", "tmp", "test2", "Env_1"])
def test_every_generic_name_warns(name, cli, channel_args):
    _out, err = cli("create", "-n", name, *channel_args, "alpha", "-y")
    assert f"'{name}' is a generic name" in err


@pytest.mark.parametrize("name", ["Base", "base2", "root_1"])
def test_a_name_that_passes_for_base_warns(name, cli, channel_args, conda_dirs):
    _out, err = cli("create", "-n", name, *channel_args, "alpha", "-y")
    assert f"'{name}' can be mistaken for base" in err


def test_warn_mode_names_the_pattern_and_creates(cli, conda_dirs, channel_args):
    conda_dirs.condarc.write_text(f"plugins:\n  envguard_name_pattern: '{PATTERN}'\n")

    _out, err = cli("create", "-n", "scratch", *channel_args, "alpha", "-y")

    assert f"'scratch' does not match envguard_name_pattern '{PATTERN}'" in err
    assert f"set in {conda_dirs.condarc}" in err
    assert "like 'scratch-v1'" in err
    assert (conda_dirs.envs / "scratch").is_dir()


def test_off_checks_nothing(cli, conda_dirs, channel_args):
    conda_dirs.condarc.write_text(
        f"plugins:\n  envguard_name_check: 'off'\n  envguard_name_pattern: '{PATTERN}'\n"
    )
    _out, err = cli("create", "-n", "test", *channel_args, "alpha", "-y")
    assert "envguard" not in err
    assert (conda_dirs.envs / "test").is_dir()


def test_env_create_from_a_file_is_checked(conda_run, conda_dirs, channel, tmp_path):
    conda_dirs.condarc.write_text(POLICY)
    spec = tmp_path / "environment.yml"
    spec.write_text(f"name: myenv\nchannels:\n  - {channel.url}\n  - nodefaults\n"
                    "dependencies:\n  - alpha\n")  # fmt: skip

    refused = conda_run("env", "create", "-f", spec)

    clean_error(refused, "the environment name 'myenv'", "Nothing was changed.")
    assert envs_on_disk(conda_dirs) == set()


def test_rename_to_a_bad_name_is_refused(cli, make_env, conda_dirs):
    conda_dirs.condarc.write_text(POLICY)
    make_env("proj-v1", "alpha")

    excinfo = cli("rename", "-n", "proj-v1", "tmp", raises=NameRuleError)

    assert "the environment name 'tmp'" in str(excinfo.value)
    assert "Nothing was changed." in str(excinfo.value)  # a rename creates nothing to begin with
    assert "created" not in str(excinfo.value)
    assert envs_on_disk(conda_dirs) == {"proj-v1"}
    cli("rename", "-n", "proj-v1", "proj-v2")
    assert envs_on_disk(conda_dirs) == {"proj-v2"}


def test_existing_envs_and_other_commands_are_not_checked(cli, make_env, conda_dirs, channel_args):
    make_env("myenv", "alpha")  # made before the rule
    conda_dirs.condarc.write_text(POLICY)

    _out, err = cli("install", "-n", "myenv", *channel_args, "gamma", "-y")
    assert "envguard_name_pattern" not in err
    _out, err = cli("create", "-p", conda_dirs.root / "elsewhere" / "x", *channel_args, "alpha",
                    "-y")  # fmt: skip
    assert "envguard_name_pattern" not in err, "a path env has no name to check"


def test_an_invalid_pattern_warns_and_never_blocks(cli, conda_dirs, channel_args):
    conda_dirs.condarc.write_text(
        "plugins:\n  envguard_name_pattern: '^[a-z'\n  envguard_name_check: block\n"
    )
    _out, err = cli("create", "-n", "anything-v1", *channel_args, "alpha", "-y")
    assert "envguard_name_pattern '^[a-z'" in err and "not a valid regular expression" in err
    assert (conda_dirs.envs / "anything-v1").is_dir()


def test_a_user_file_cannot_turn_off_the_machine_rule(
    conda_run, conda_dirs, channel_args, machine_condarc
):
    policy = machine_condarc(POLICY)
    conda_dirs.condarc.write_text(
        "plugins:\n  envguard_name_check: 'off'\n  envguard_name_pattern: '.*'\n"
    )

    refused = conda_run("create", "-n", "myenv", *channel_args, "alpha", "-y")

    owner = __import__("pwd").getpwuid(os.stat(policy).st_uid).pw_name
    text = clean_error(refused, "the environment name 'myenv'")
    assert f"set in {policy} (a machine-wide policy file owned by {owner})" in text
    assert envs_on_disk(conda_dirs) == set()
