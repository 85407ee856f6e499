"""What a user must be shown: files they added to an env, and an env deleted behind conda's
back even when another env has the same packages. (A command waiting at a lock says so:
tests/test_locks.py.)"""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def _taken(cli, *target: str) -> list[str]:
    data = cli.json("envguard", "snapshot", *target)
    return [t["env_name"] for t in data["taken"]]


def test_a_file_added_to_an_env_is_seen_by_status_and_snapshot(cli, make_env):
    prefix = make_env("thesis-work", "alpha")
    make_env("untouched", "gamma")
    _taken(cli, "--all")
    assert _taken(cli, "--all") == []  # nothing changed: nothing taken

    (prefix / "thesis").mkdir()
    (prefix / "thesis" / "results.csv").write_text("1,2,3\n")

    status = cli.json("envguard", "status")
    [env] = [e for e in status["environments"] if e["name"] == "thesis-work"]
    assert (env["unowned_files"], env["unowned_files_at_risk"]) == (1, 1)
    out, _ = cli("envguard", "status")
    assert "thesis-work: 1 (1 would stop a removal)" in out

    assert _taken(cli, "--all") == ["thesis-work"]  # the nightly snapshot takes it
    assert _taken(cli, "-n", "thesis-work") == []  # and then it is unchanged again

    # a file added deeper, in a folder that exists already, counts too
    (prefix / "thesis" / "data").mkdir()
    assert _taken(cli, "-n", "thesis-work") == ["thesis-work"]
    (prefix / "thesis" / "data" / "run2.csv").write_text("4,5,6\n")
    assert _taken(cli, "-n", "thesis-work") == ["thesis-work"]


def test_files_in_an_env_never_snapshotted_are_seen_by_status(cli, make_env):
    """No snapshot describes it: status reads it now, as it reads a changed one, and its
    --json keeps to the schema (counts are integers)."""
    import json
    from pathlib import Path

    import jsonschema

    prefix = make_env("fresh-work", "alpha")
    (prefix / "thesis").mkdir()
    (prefix / "thesis" / "results.csv").write_text("1,2,3\n")

    status = cli.json("envguard", "status")

    [env] = [e for e in status["environments"] if e["name"] == "fresh-work"]
    assert env["latest_snapshot"] is None
    assert (env["unowned_files"], env["unowned_files_at_risk"]) == (1, 1)
    schema = Path(__file__).parent.parent / "docs" / "json" / "status.schema.json"
    jsonschema.validate(status, json.loads(schema.read_text()))
    out, _ = cli("envguard", "status")
    assert "fresh-work: 1 (1 would stop a removal)" in out


def test_an_env_deleted_with_rm_rf_is_reported_though_a_twin_remains(cli, make_env):
    """An env with the very same packages is not the deleted one moved: its history is its own."""
    gone = make_env("twin-a", "alpha")
    make_env("twin-b", "alpha")
    moved_from = make_env("mover", "gamma")
    _taken(cli, "--all")
    shutil.rmtree(gone)
    moved_to = moved_from.parent / "moved"
    moved_from.rename(moved_to)  # moved, with its history: not lost
    from conda.core.envs_manager import register_env

    register_env(str(moved_to))

    lost = cli.json("envguard", "status")["lost"]
    assert [e["name"] for e in lost] == ["twin-a"]
    assert lost[0]["restore"] == "conda envguard restore twin-a"
