"""The test infrastructure itself: the channel is real, conda runs isolated, the helpers work."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from envguard_testsupport.isolation import REAL_HOME, read_registry, real_registries

from conda_envguard.testing.channel import PLATFORM_SUBDIR, Pkg, add_pip_package, build_channel


def _conda_list(conda_run, *target: str) -> dict[str, dict]:
    result = conda_run("list", *target, "--json", check=True)
    return {record["name"]: record for record in json.loads(result.stdout)}


def test_built_package_matches_its_repodata(tmp_path: Path):
    pkg = Pkg("delta", "3.1", depends=("alpha >=1",), n_files=3)
    channel = build_channel(tmp_path, [pkg])

    repodata = json.loads((channel / "noarch" / "repodata.json").read_text())
    entry = repodata["packages"]["delta-3.1-0.tar.bz2"]
    archive = (channel / "noarch" / "delta-3.1-0.tar.bz2").read_bytes()
    assert entry["sha256"] == hashlib.sha256(archive).hexdigest()
    assert entry["md5"] == hashlib.md5(archive).hexdigest()
    assert entry["size"] == len(archive)
    assert entry["depends"] == ["alpha >=1"]
    assert json.loads((channel / PLATFORM_SUBDIR / "repodata.json").read_text())["packages"] == {}

    with tarfile.open(channel / "noarch" / "delta-3.1-0.tar.bz2") as tar:
        names = set(tar.getnames())
        paths = json.load(tar.extractfile("info/paths.json"))["paths"]
    payload = {p["_path"] for p in paths}
    assert len(payload) == 4  # the package's own file and the 3 generated ones
    assert "share/delta/f00003.txt" in payload
    assert {"info/index.json", "info/paths.json", "info/files"} | payload == names


def test_create_in_process(conda_cli, channel_args, conda_dirs):
    _out, err, code = conda_cli("create", "-n", "inproc", "--yes", *channel_args, "beta")

    assert code == 0, err
    prefix = conda_dirs.envs / "inproc"
    assert (prefix / "share" / "beta" / "beta.txt").is_file()
    # beta depends on alpha: the solver picked the newest
    assert (prefix / "conda-meta" / "alpha-2.0-0.json").is_file()
    assert str(prefix) in conda_dirs.environments_txt.read_text().splitlines()


def test_create_in_subprocess(conda_run, channel_args, conda_dirs):
    conda_run("create", "-n", "sub", "--yes", *channel_args, "alpha=1.0", "gamma", check=True)

    packages = _conda_list(conda_run, "-n", "sub")
    assert {name: record["version"] for name, record in packages.items()} == {
        "alpha": "1.0",
        "gamma": "1.0",
    }
    assert (conda_dirs.envs / "sub" / "share" / "gamma" / "gamma.txt").is_file()
    # the child used the test's package cache, not the session's
    assert (conda_dirs.pkgs / "alpha-1.0-0" / "info" / "index.json").is_file()


def test_conda_sees_only_the_isolated_setup(conda_run, conda_dirs):
    from conda.base.context import context, user_rc_path

    info = json.loads(conda_run("info", "--json", check=True).stdout)

    assert info["user_rc_path"] == str(conda_dirs.condarc) == user_rc_path
    assert info["pkgs_dirs"] == [str(conda_dirs.pkgs)] == list(context.pkgs_dirs)
    assert info["envs_dirs"][0] == str(conda_dirs.envs) == context.envs_dirs[0]
    assert info["config_files"] == []
    assert info["solver"]["name"] == "classic" == context.solver
    assert context.plugins.envguard_store == str(conda_dirs.store)


def test_answers_on_stdin(conda_run, make_env):
    prefix = make_env("answered", "alpha", "gamma")

    refused = conda_run("remove", "-n", "answered", "gamma", input="n\n")

    assert refused.returncode == 0, refused.stderr
    assert "Proceed ([y]/n)?" in refused.stdout
    assert (prefix / "share" / "gamma" / "gamma.txt").is_file()
    # no answer at all is the default answer, yes
    conda_run("remove", "-n", "answered", "gamma", check=True)
    assert not (prefix / "share" / "gamma").exists()


def test_make_env_copies_a_real_env(make_env, conda_run, conda_dirs, channel):
    big = make_env("big", "bigpkg", "beta")

    bigpkg = next(pkg for pkg in channel.pkgs if pkg.name == "bigpkg")
    assert len(list((big / "share" / "bigpkg").iterdir())) == bigpkg.n_files + 1
    assert set(_conda_list(conda_run, "-n", "big")) == {"alpha", "beta", "bigpkg"}
    history = (big / "conda-meta" / "history").read_text()
    assert str(big) in history and "tpl-" not in history
    assert str(big) in conda_dirs.environments_txt.read_text().splitlines()
    # files of its own, not hard links into a package cache: a test may edit them freely
    assert (big / "share" / "beta" / "beta.txt").stat().st_nlink == 1


def test_make_env_with_conda_create(make_env, conda_dirs):
    prefix = make_env("created", "gamma", copy=False)

    assert prefix == conda_dirs.envs / "created"
    assert (prefix / "conda-meta" / "gamma-1.0-0.json").is_file()


def test_make_env_without_packages(make_env, conda_run):
    prefix = make_env("empty")

    assert (prefix / "conda-meta" / "history").is_file()
    assert _conda_list(conda_run, "-n", "empty") == {}


def test_no_plugins_in_process_does_not_outlive_the_test(conda_cli):
    from conda.base.context import context

    conda_cli("--no-plugins", "info", "--json")
    assert "envguard" not in context.plugin_manager.get_subcommands()


def test_envguard_is_loaded_again_after_no_plugins():
    from conda.base.context import context

    # runs right after the test above (file order): the plugin manager it disabled was replaced
    assert "envguard" in context.plugin_manager.get_subcommands()


def test_pip_package_is_listed_and_exported(make_env, conda_run):
    prefix = make_env("withpip", "python")
    add_pip_package(prefix, "my-pip-pkg", "1.2.3")

    record = _conda_list(conda_run, "-p", str(prefix))["my-pip-pkg"]
    assert (record["version"], record["channel"], record["build_string"]) == (
        "1.2.3",
        "pypi",
        "pypi_0",
    )
    exported = conda_run("env", "export", "-p", str(prefix), check=True).stdout
    assert "  - pip:\n      - my-pip-pkg==1.2.3\n" in exported


def test_pip_package_in_prefix_data(make_env):
    from conda.core.prefix_data import PrefixData

    prefix = make_env("withpip", "python")
    add_pip_package(prefix, "other-pkg", "0.5")

    # conda 26.7 renamed `pip_interop_enabled=` to `interoperability=` (as `conda list` calls it)
    records = {r.name: r for r in PrefixData(prefix, interoperability=True).iter_records()}
    assert records["other-pkg"].version == "0.5"
    assert records["other-pkg"].channel.name == "pypi"
    assert records["python"].version == "3.11.0"


def test_token_channel_serves_packages(token_channel, conda_run, conda_dirs):
    conda_run("create", "-n", "tok", "--yes", "--override-channels", "-c", token_channel.url,
              "beta", check=True)  # fmt: skip

    assert "noarch/alpha-2.0-0.tar.bz2" in token_channel.served
    assert "noarch/beta-1.0-0.tar.bz2" in token_channel.served
    packages = [r for r in token_channel.requests if r.path.endswith(".tar.bz2")]
    assert packages and all(r.status == 200 and r.with_credentials for r in packages)
    # conda keeps the secrets in the env's history, verbatim: what envguard must redact
    history = (conda_dirs.envs / "tok" / "conda-meta" / "history").read_text()
    assert token_channel.token in history and token_channel.password in history


def test_token_channel_in_process(token_channel, conda_cli, conda_dirs):
    _out, err, code = conda_cli(
        "create", "-n", "tok", "--yes", "--override-channels", "-c", token_channel.url, "gamma"
    )

    assert code == 0, err
    assert "noarch/gamma-1.0-0.tar.bz2" in token_channel.served
    assert (conda_dirs.envs / "tok" / "share" / "gamma" / "gamma.txt").is_file()


def test_token_channel_refuses_without_the_token(token_channel):
    wrong = f"http://127.0.0.1:{token_channel.port}/t/wrong/chan/noarch/repodata.json"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=10)
    assert refused.value.code == 403
    with urllib.request.urlopen(f"{token_channel.base_url}/noarch/repodata.json") as answer:
        assert "alpha-1.0-0.tar.bz2" in json.load(answer)["packages"]


def _real_conda_state() -> dict[str, object]:
    """What of the real user's conda set-up a leak would change."""
    dot_conda = REAL_HOME / ".conda"
    tree = sorted(
        (str(path.relative_to(dot_conda)), path.stat().st_mtime_ns)
        for path in (dot_conda.rglob("*") if dot_conda.is_dir() else ())
    )
    registries = {str(path): read_registry(path) for path in real_registries()}
    return {"condarc": read_registry(REAL_HOME / ".condarc"), "tree": tree, **registries}


def test_real_home_is_untouched(conda_cli, conda_run, channel_args, conda_dirs):
    assert Path(os.environ["HOME"]) == conda_dirs.home != REAL_HOME
    # under pytest-xdist too, where a worker starts with the main process's scratch HOME
    assert "envguard-tests-" not in str(REAL_HOME), f"{REAL_HOME} is a test session's"
    before = _real_conda_state()

    conda_cli("create", "-n", "in", "--yes", *channel_args, "gamma")
    conda_cli("config", "--set", "plugins.envguard_trash_days", "2")
    conda_run("create", "-n", "out", "--yes", *channel_args, "gamma", check=True)
    conda_run("config", "--set", "plugins.envguard_keep", "3", check=True)
    listed = conda_run("env", "list", "--json", check=True).stdout

    assert _real_conda_state() == before
    assert {str(conda_dirs.envs / "in"), str(conda_dirs.envs / "out")} <= set(
        json.loads(listed)["envs"]
    )
    assert conda_dirs.environments_txt.read_text().splitlines()[-2:] == [
        str(conda_dirs.envs / "in"),
        str(conda_dirs.envs / "out"),
    ]
    condarc = conda_dirs.condarc.read_text()
    assert "envguard_trash_days: 2" in condarc and "envguard_keep: 3" in condarc
