"""Properties that must hold for any input (hypothesis): ids and names, protect patterns,
redaction (no token or password reaches any file of a snapshot), and a snapshot's round trip
from an env to files and back."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conda_envguard.exceptions import (
    AmbiguousSnapshotError,
    EnvGuardError,
    SnapshotNotFoundError,
)
from conda_envguard.store import _ID_PATTERN, Store, new_id

pytestmark = pytest.mark.usefixtures("no_background_expiry")

WITH_FIXTURES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NAME_CHARS = string.ascii_letters + string.digits + "_.-+"
env_names = st.text(NAME_CHARS, min_size=1, max_size=40).filter(lambda n: n not in (".", ".."))
# A secret is marked at both ends so that finding it is never a coincidence of digits.
secrets_ = st.text(string.ascii_letters + string.digits + "-_.~", max_size=40).map(
    lambda s: f"Qz{s}Jx"
)


# --- ids and names -------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_any_name_makes_a_safe_unique_sortable_id(name):
    a, b = new_id(name), new_id(name)
    assert _ID_PATTERN.fullmatch(a) and len(a) <= 61
    assert a[:15] <= b[:15]  # the time comes first
    assert "/" not in a and not a.startswith(".")


@pytest.fixture
def two_snapshot_ids(make_env) -> list[str]:
    """Two snapshots of one env, taken within a second or so: their ids share a long start."""
    prefix = make_env("looked-up", "alpha")
    return [Store().take(prefix, "looked-up", trigger="manual").id for _ in range(2)]


@WITH_FIXTURES
@given(data=st.data())
def test_looking_up_any_id_finds_the_one_it_names_or_says_not_found(two_snapshot_ids, data):
    ids = two_snapshot_ids
    text = data.draw(
        st.one_of(
            st.text(max_size=400),
            st.sampled_from(ids).flatmap(lambda i: st.integers(0, len(i)).map(lambda n: i[:n])),
        )
    )
    named = [i for i in ids if i == text] or [i for i in ids if text and i.startswith(text)]
    try:
        found = Store().get(text)
    except SnapshotNotFoundError:
        assert named == []
    except AmbiguousSnapshotError:
        assert len(named) == 2
    else:
        assert [found.id] == named
        assert found.meta["env_name"] == "looked-up"


@WITH_FIXTURES
@given(st.one_of(st.text(max_size=200), env_names))
def test_any_env_name_resolves_or_is_refused_cleanly(conda_dirs, text):
    from conda_envguard.envs import resolve

    plain = text != "base" and all(c in NAME_CHARS for c in text) and text not in ("", ".", "..")
    try:
        prefix = resolve(name=text)
    except EnvGuardError:
        assert not plain, f"{text!r} is a plain env name"
        return
    assert prefix.is_absolute()
    if plain:
        assert prefix == conda_dirs.envs / text


@given(st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=100))
def test_a_prefix_on_a_command_line_reads_back_as_itself(tail):
    from conda_envguard.envs import cli_arg

    prefix = os.path.join(os.sep, "some where", tail)
    words = shlex.split(cli_arg(prefix))
    assert words[0] == "-p"
    assert words[1] == os.path.normpath(prefix)


# --- protect patterns ----------------------------------------------------------------------


def _protected(conda_dirs, name: str, patterns: list[str]) -> bool:
    from conda.base.context import reset_context

    from conda_envguard.policy import _pattern_protection

    os.environ["CONDA_PLUGINS_ENVGUARD_PROTECT"] = ",".join(patterns)
    try:
        reset_context()
        return _pattern_protection(name, conda_dirs.envs / name) is not None
    finally:
        del os.environ["CONDA_PLUGINS_ENVGUARD_PROTECT"]
        reset_context()


@WITH_FIXTURES
@given(env_names, st.integers(0, 40), env_names)
def test_a_pattern_protects_exactly_the_names_it_matches(conda_dirs, name, cut, other):
    assert _protected(conda_dirs, name, [name.replace("*", "")])
    assert _protected(conda_dirs, name, [name[:cut] + "*"])
    assert _protected(conda_dirs, name, [other]) == (other == name)
    # a path pattern protects the env at that path, not another of the same name
    assert _protected(conda_dirs, name, [str(conda_dirs.envs / name)])
    assert not _protected(conda_dirs, name, [str(conda_dirs.root / "elsewhere" / name)])


# --- redaction and the round trip ----------------------------------------------------------


@given(secrets_, secrets_, secrets_)
def test_no_credential_survives_redaction(user, password, token):
    from conda_envguard.redact import redact

    line = (
        f"# cmd: conda install -c https://{user}:{password}@host.example/t/{token}/chan x\n"
        f"https://host.example/chan?token={token}&api_key={password} and more\n"
    )
    out = redact(line) + redact(line, placeholder=False)
    assert password not in out
    assert token not in out


@pytest.fixture
def env_with_secrets(make_env):
    return make_env("secret", "alpha")


@WITH_FIXTURES
@given(user=secrets_, password=secrets_, token=secrets_)
def test_no_token_or_password_reaches_any_file_of_a_snapshot(
    env_with_secrets, conda_dirs, user, password, token
):
    prefix = env_with_secrets
    url = f"https://{user}:{password}@host.example/t/{token}/chan"
    history = prefix / "conda-meta" / "history"
    kept = history.read_text()
    history.write_text(kept + f"# cmd: conda install -c {url} alpha\n")
    record = next((prefix / "conda-meta").glob("alpha-*.json"))
    data = json.loads(record.read_text())
    original = dict(data)
    data["url"] = f"{url}/noarch/{data['fn']}"
    data["channel"] = url
    record.write_text(json.dumps(data))
    try:
        snap = Store().take(prefix, "secret", trigger="manual", command=f"conda x -c {url}")
        files = [path for path in snap.path.rglob("*") if path.is_file()]
        # the copies of the history and of the channel URLs, where the secrets were
        assert {"history", "explicit.txt", "environment.yml"} <= {p.name for p in files}
        for path in files:
            text = path.read_bytes().decode(errors="replace")
            assert password not in text, path.name
            assert token not in text, path.name
        shutil.rmtree(snap.path)
    finally:
        history.write_text(kept)
        record.write_text(json.dumps(original))


@WITH_FIXTURES
@given(
    trigger=st.text(max_size=30),
    command=st.text(max_size=200),
)
def test_a_snapshot_reads_back_as_written(env_with_secrets, conda_dirs, trigger, command):
    from conda_envguard.envstate import package_list, read_state
    from conda_envguard.integrity import verify
    from conda_envguard.snapshot import load

    prefix = env_with_secrets
    snap = Store().take(prefix, "secret", trigger=trigger, command=command)
    try:
        loaded = load(Path(snap.path))
        assert loaded.meta == snap.meta
        assert loaded.meta["trigger"] == trigger
        assert loaded.packages() == package_list(read_state(prefix))
        assert verify(loaded.path) == []
        assert Store().get(snap.id).id == snap.id
    finally:
        shutil.rmtree(snap.path)
