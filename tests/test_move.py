"""Moving an env in one command (`import FILE --restore`), each package extracted once, and a
bundle that conda alone restores (`tar -xf`, then `conda create --offline --file`).

The second machine is a second conda root (see test_bundle), with no channel and an empty
package cache.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from envguard_testsupport.checks import assert_same_tree, clean_error, conda_list, ok, tree
from test_bundle import assert_arrived, pinned, second_machine

from conda_envguard.testing.channel import channel_url

pytestmark = pytest.mark.usefixtures("no_background_expiry")


def files_under(root: Path) -> dict[str, bytes | None]:
    return {
        str(p): p.read_bytes() if p.is_file() else None for p in [root, *sorted(root.rglob("*"))]
    }


@pytest.fixture
def exported(channel, conda_run, conda_dirs, tmp_path):
    """Env E (beta, gamma) made on the first machine and exported with its packages: the
    bundle, export's report, E's packages and files (as test_bundle's `exported_env`)."""
    own = shutil.copytree(channel.path, tmp_path / "channel")
    ok(conda_run("create", "-n", "E", "-y", "--override-channels", "-c", channel_url(own),
                 "beta", "gamma"))  # fmt: skip
    bundle = tmp_path / "E.envguard"
    out = ok(conda_run("envguard", "export", "E", "-o", bundle, "--with-packages", "--json"))
    return bundle, json.loads(out.stdout), conda_list(conda_run, "E"), tree(conda_dirs.envs / "E")


@pytest.fixture
def gone(exported, tmp_path):
    """The bundle, with the channel it came from gone."""
    (tmp_path / "channel").rename(tmp_path / "channel-gone")
    return exported


def test_import_restore_moves_an_env_in_one_command(gone, conda_run, tmp_path):
    bundle, exported, packages, payload = gone
    other = second_machine(tmp_path / "machine2")

    out = ok(conda_run("envguard", "import", bundle, "--restore", "-y", "--json", env=other))

    report = json.loads(out.stdout)
    assert report["import"]["status"] == "imported" and report["import"]["packages"] == 3
    assert (report["method"], report["exact"]) == ("explicit", True), report
    target = tmp_path / "machine2" / "envs" / "E"
    assert report["prefix"] == str(target)
    # the snapshot is in this store, and the env counts it as its latest
    assert_arrived(conda_run, target, other, packages, payload, exported["snapshot"])
    # and the text report says both what was imported and how the env came back
    text = ok(conda_run("envguard", "import", bundle, "--restore", "-n", "again", "-y", env=other))
    assert "already in the store" in text.stderr and "It matches the snapshot" in text.stdout


def test_import_restore_extracts_each_package_once(gone, cli, monkeypatch, tmp_path):
    """The import extracted each package to check it and threw that away; the restore
    extracted it again. And each file was read back to be checked."""
    from conda.base.context import reset_context

    import conda_envguard.extractors
    import conda_envguard.pkgkeep

    bundle, _, packages, _ = gone
    for name, value in second_machine(tmp_path / "machine2").items():
        monkeypatch.setenv(name, value)
    reset_context()
    extracted = []
    real = conda_envguard.extractors.Extractors.extract

    def counting(self, archive, *args):  # in this process or its helper
        extracted.append(Path(archive).name)
        return real(self, archive, *args)

    monkeypatch.setattr(conda_envguard.extractors.Extractors, "extract", counting)
    read_back = []
    monkeypatch.setattr(conda_envguard.pkgkeep, "file_digest", lambda *a: read_back.append(a))

    report = cli.json("envguard", "import", str(bundle), "--restore", "-n", "moved", "-y")

    assert report["exact"], report
    assert sorted(extracted) == sorted(f"{p['dist_name']}.tar.bz2" for p in packages)
    assert read_back == []  # each file was summed as it was written, not read again


def test_import_restore_dry_run_writes_nothing(gone, conda_run, tmp_path):
    bundle, exported, _, _ = gone
    other = second_machine(tmp_path / "machine2")
    before = files_under(tmp_path / "machine2")

    out = ok(conda_run("envguard", "import", bundle, "--restore", "--dry-run", env=other))
    data = json.loads(
        ok(conda_run("envguard", "import", bundle, "--restore", "--dry-run", "--json", env=other))
        .stdout
    )  # fmt: skip

    assert files_under(tmp_path / "machine2") == before
    assert "would be imported" in out.stdout and "nothing changed" in out.stdout
    assert data["target"] == str(tmp_path / "machine2" / "envs" / "E") and data["dry_run"]
    assert data["snapshot"] == exported["snapshot"]


def test_import_restore_refuses_an_occupied_target_before_importing(gone, conda_run, tmp_path):
    bundle, _, _, _ = gone
    other = second_machine(tmp_path / "machine2")
    occupied = tmp_path / "machine2" / "mine"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")

    result = conda_run("envguard", "import", bundle, "--restore", "-p", occupied, "--dry-run",
                       env=other)  # fmt: skip

    clean_error(result, "not a conda environment")
    assert (occupied / "notes.txt").read_text() == "mine"


def test_plain_conda_restores_a_bundle_with_the_two_documented_commands(gone, conda_run, tmp_path):
    """No envguard on this machine: the bundle is a plain tar whose `pkgs/` is a package
    cache and whose `explicit.txt` is the lock that names them."""
    bundle, _, packages, payload = gone
    other = second_machine(tmp_path / "machine2")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    target = tmp_path / "machine2" / "plain"

    # the two commands of the README, as a user types them
    subprocess.run(["tar", "-xf", str(bundle), "-C", str(unpacked)], check=True)
    ok(conda_run("--no-plugins", "create", "--offline", "-p", target, "--file",
                 unpacked / "explicit.txt", "-y",
                 env={**other, "CONDA_PKGS_DIRS": str(unpacked / "pkgs")}))  # fmt: skip

    assert pinned(conda_list(conda_run, "-p", target)) == pinned(packages)
    assert_same_tree(
        target,
        {k: v for k, v in payload.items() if not k.startswith("conda-meta")},
        ("conda-meta",),
    )
    assert not any((tmp_path / "machine2" / "pkgs").iterdir())  # the shared cache untouched


def to_format_1(bundle: Path, out: Path) -> Path:
    """The bundle as envguard wrote it before the plain layout."""
    with tarfile.open(bundle) as src:
        files = {m.name: src.extractfile(m).read() for m in src.getmembers() if m.isfile()}
    head = json.loads(files.pop("envguard-bundle.json"))
    head["format"] = 1
    files.pop("explicit.txt"), files.pop("pkgs/urls.txt")
    for item in head["packages"]:
        digest, fn = item["digest"], item["fn"]
        files[f"packages/{digest}/{fn}"] = files.pop(f"pkgs/{fn}")
        files[f"packages/{digest}/repodata_record.json"] = files.pop(f"records/{fn}.json")
    files["envguard-bundle.json"] = json.dumps(head).encode()
    with tarfile.open(out, "w") as dst:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


def test_a_bundle_of_the_first_format_still_imports_and_restores(gone, conda_run, tmp_path):
    bundle, _, packages, _ = gone
    old = to_format_1(bundle, tmp_path / "old.envguard")
    other = second_machine(tmp_path / "machine2")

    report = json.loads(
        ok(conda_run("envguard", "import", old, "--restore", "-y", "--json", env=other)).stdout
    )

    assert report["import"]["packages"] == 3 and report["exact"], report
    target = tmp_path / "machine2" / "envs" / "E"
    assert pinned(conda_list(conda_run, "-p", target)) == pinned(packages)


def test_long_work_shows_progress_except_under_json(gone, cli, monkeypatch, tmp_path):
    from conda.base.context import reset_context

    import conda_envguard.progress

    monkeypatch.setattr(conda_envguard.progress, "WORTH_SHOWING", 0)  # tiny packages count
    bundle = gone[0]

    _, shown = cli("envguard", "export", "E", "-o", str(bundle.with_suffix(".2")),
                   "--with-packages")  # fmt: skip
    _, under_json = cli("envguard", "export", "E", "-o", str(bundle.with_suffix(".3")),
                        "--with-packages", "--json")  # fmt: skip
    _, quiet = cli("envguard", "export", "E", "-o", str(bundle.with_suffix(".4")),
                   "--with-packages", "--quiet")  # fmt: skip
    for name, value in second_machine(tmp_path / "machine2").items():
        monkeypatch.setenv(name, value)
    reset_context()
    _, moved = cli("envguard", "import", str(bundle), "--restore", "-y")

    assert "Writing packages: 100%" in shown
    assert "Importing packages: 100%" in moved
    assert "packages:" not in under_json + quiet


def test_nothing_in_a_bundle_names_this_machine_beyond_the_lock(exported):
    """The plain layout's urls.txt and explicit.txt carry the lock's URLs, nothing else."""
    bundle, _, _, _ = exported
    with tarfile.open(bundle) as tar:
        lock = tar.extractfile("snapshot/explicit.txt").read().decode()
        urls = tar.extractfile("pkgs/urls.txt").read().decode().split()
        plain = tar.extractfile("explicit.txt").read().decode()
    lock_urls = {line.split("#")[0] for line in lock.splitlines() if "://" in line}
    assert set(urls) == lock_urls
    assert {line.split("#")[0] for line in plain.splitlines() if "://" in line} == lock_urls
