"""`--json` is a contract: every verb's output (and every dry run's) is an object that its
schema in docs/json/VERB.schema.json describes, keys and types alike. In-process conda, one
scene in which every verb has something to report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conda_envguard.cli.main import VERBS

pytestmark = [
    pytest.mark.usefixtures("no_background_expiry"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command"),
]

SCHEMAS = Path(__file__).parent.parent / "docs" / "json"


def outputs(cli, make_env, conda_dirs) -> list[tuple[str, tuple[str, ...], object]]:
    """(verb, its arguments, what it printed under --json), for every verb, dry runs too."""
    ran = []

    def run(*args: str) -> dict:
        out, _ = cli("envguard", *args, "--json")
        data = json.loads(out)
        ran.append((args[0], args, data))
        return data

    make_env("E", "alpha")
    first = run("snapshot", "-n", "E")["taken"][0]["id"]
    run("snapshot", "-n", "E", "--dry-run")
    run("snapshot", "--all")  # E skipped: unchanged
    run("snapshot", "-n", "E", "--force")
    run("list")
    run("list", "-n", "nothing")
    run("show", first)
    run("status")
    run("diff", first)
    second = run("list", "-n", "E")["snapshots"][-1]["id"]
    run("diff", first, second)
    for verb in ("protect", "unprotect", "freeze", "unfreeze"):
        run(verb, "-n", "E", "--dry-run")
        run(verb, "-n", "E")
    bundle = str(conda_dirs.home / "E.envguard")
    run("export", "E", "-o", bundle, "--dry-run")
    run("export", "E", "-o", bundle)
    run("import", bundle, "--dry-run")
    run("import", bundle)
    run("import", bundle, "--restore", "-n", "E-moved", "--dry-run")
    run("import", bundle, "--restore", "-n", "E-moved", "-y")
    run("sync", "--dry-run")
    run("sync")
    run("verify", "--all")
    run("verify", first)
    make_env("R", "gamma")
    cli("remove", "-n", "R", "--all", "-y")
    run("trash")
    run("undo", "R", "--dry-run")
    run("undo", "R", "-y")
    cli("remove", "-n", "R", "--all", "-y")
    run("purge", "R", "--dry-run")
    run("purge", "R", "-y")
    run("purge", "--expired", "-y")  # nothing to purge
    run("restore", "E", "-n", "E2", "--dry-run")
    run("restore", "E", "-n", "E2", "-y")
    run("restore", "E", "--snapshot", first, "--in-place", "-y")  # matches already
    cli("env", "config", "vars", "set", "-n", "E", "TEAM=2")
    run("restore", "E", "--snapshot", first, "--in-place", "--dry-run")
    run("restore", "E", "--snapshot", first, "--in-place", "-y")
    run("prune", "-n", "E", "--keep", "1", "--dry-run")
    run("prune", "-n", "E", "--keep", "1", "-y")
    run("clean", "-y")  # nothing to clean
    make_env("old-tmp", "alpha")
    run("clean", "--unused-for", "0", "--dry-run")
    run("clean", "--unused-for", "0", "-y")
    run("clean", "--unchanged-for", "0", "--dry-run")
    run("disk")
    return ran


def test_every_verb_s_json_matches_its_schema(cli, make_env, conda_dirs, history):
    import jsonschema

    ran = outputs(cli, make_env, conda_dirs)

    assert sorted({verb for verb, _, _ in ran}) == sorted(VERBS)  # every verb, none forgotten
    for verb, args, data in ran:
        # `import --restore` reports as `restore` does, with the import's report under `import`
        shape = "restore" if verb == "import" and "--restore" in args else verb
        schema = json.loads((SCHEMAS / f"{shape}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: e.path
        )
        assert not errors, f"`conda envguard {' '.join(args)} --json`: " + "; ".join(
            f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors[:5]
        )
