"""A team's git history that many machines share: two roots (each its own HOME, envs dir and
store, so its own prefixes) push to one bare repo in turn, races and conflicts included, and a
third root restores either one's env. In-process conda; real git."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from envguard_testsupport.checks import git
from envguard_testsupport.isolation import isolation_vars

from conda_envguard import githistory

pytestmark = [
    pytest.mark.usefixtures("no_background_expiry"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command"),
]

AUTHOR = ("-c", "user.name=t", "-c", "user.email=t@example.com")


class Roots:
    """Switch this process's conda between isolated roots, as if it ran on another machine."""

    def __init__(self, monkeypatch, tmp_path: Path, server: Path, env_templates):
        self.monkeypatch, self.tmp_path, self.server = monkeypatch, tmp_path, server
        self.templates = env_templates

    def use(self, name: str) -> Path:
        from conda.base import context as context_module
        from conda.base.context import reset_context

        root = self.tmp_path / name
        (root / "home").mkdir(parents=True, exist_ok=True)
        for key, value in isolation_vars(root).items():
            self.monkeypatch.setenv(key, value)
        repo = root / "history"
        if not repo.exists():
            subprocess.run(["git", "clone", "-q", str(self.server), str(repo)], check=True)
        self.monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_GIT", str(repo))
        self.monkeypatch.setattr(context_module, "user_rc_path", str(root / "home" / ".condarc"))
        reset_context()
        return root

    def make_env(self, root: Path, name: str, *packages: str) -> Path:
        """A copy of a session template in `root`'s envs dir, registered (see `make_env`)."""
        from conda.core.envs_manager import register_env

        template = self.templates.get(packages)
        prefix = root / "envs" / name
        shutil.copytree(template, prefix, symlinks=True, copy_function=shutil.copy)
        history = prefix / "conda-meta" / "history"
        history.write_text(history.read_text().replace(str(template), str(prefix)))
        register_env(str(prefix))
        return prefix


@pytest.fixture
def roots(monkeypatch, tmp_path, server, env_templates) -> Roots:
    return Roots(monkeypatch, tmp_path, server, env_templates)


def set_var(prefix: Path, value: str) -> None:
    """A change to the env (`conda env config vars set`), cheap: its snapshot differs."""
    (prefix / "conda-meta" / "state").write_text(json.dumps({"env_vars": {"ROUND": value}}))


def test_two_roots_share_one_repo_for_ten_rounds_and_a_third_restores_either(roots, cli):
    a = roots.use("a")
    ml_a = roots.make_env(a, "ml", "alpha")
    b = roots.use("b")
    ml_b = roots.make_env(b, "ml", "gamma")

    for round_ in range(10):
        for root, prefix in ((a, ml_a), (b, ml_b)):
            roots.use(root.name)
            set_var(prefix, f"{root.name}{round_}")
            cli("envguard", "snapshot", "-n", "ml")
            synced = cli.json("envguard", "sync")
            assert synced["pushed"] is True, synced

    subjects = git(roots.server, "log", "--format=%s").splitlines()
    assert len(subjects) == 20 and all(s.startswith("ml: manual") for s in subjects)
    host = socket.gethostname()
    folders = {
        root: githistory.history_folder("ml", str(prefix), host)
        for root, prefix in (("a", ml_a), ("b", ml_b))
    }
    assert folders["a"] != folders["b"]
    for root, folder in folders.items():
        identity = json.loads(git(roots.server, "show", f"HEAD:{folder}/envguard-env.json"))
        assert identity["prefix"] == str(ml_a if root == "a" else ml_b)

    c = roots.use("c")
    ambiguous = cli("envguard", "restore", "ml", "--from-git", "-y", raises=Exception)
    text = str(ambiguous.value)
    assert "holds 2 envs named 'ml'" in text and folders["a"] in text and folders["b"] in text
    assert "--host" not in text  # one host: only the folder chooses
    assert not (c / "envs" / "ml").exists()
    for root, package in (("a", "alpha"), ("b", "gamma")):
        cli("envguard", "restore", folders[root], "--from-git", "-n", f"ml-{root}", "-y")
        records = (c / "envs" / f"ml-{root}" / "conda-meta").glob("*.json")
        assert {r.name.rsplit("-", 2)[0] for r in records} == {package}


def test_a_push_that_lost_a_race_is_rebased_and_pushed_again(roots, cli, monkeypatch):
    a = roots.use("a")
    ml = roots.make_env(a, "ml", "alpha")
    cli("envguard", "snapshot", "-n", "ml")
    cli("envguard", "sync")
    other = roots.tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(roots.server), str(other)], check=True)
    real_git = githistory.git
    raced = []

    def git_with_a_push_in_between(repo, *args, **kwargs):
        if args[0] == "push" and not raced:  # another machine pushes after our fetch
            raced.append(True)
            (other / "notes.txt").write_text("theirs\n")
            git(other, "add", "notes.txt")
            git(other, *AUTHOR, "commit", "-qm", "another machine")
            git(other, "push", "-q")
        return real_git(repo, *args, **kwargs)

    monkeypatch.setattr(githistory, "git", git_with_a_push_in_between)
    set_var(ml, "2")
    cli("envguard", "snapshot", "-n", "ml")

    synced = cli.json("envguard", "sync")

    assert raced and synced["pushed"] is True
    subjects = git(roots.server, "log", "--format=%s").splitlines()
    assert subjects[0].startswith("ml: manual") and subjects[1] == "another machine"


def _conflict(roots, cli, monkeypatch) -> tuple[Path, str, str]:
    """Root a's `ml` committed, then edited on the server by another clone and changed here:
    the next sync conflicts. git has no identity of the user's (a fresh machine), as envguard
    allows. Returns (repo, folder, the message of the sync that failed)."""
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GIT_COMMITTER_EMAIL", raising=False)
    monkeypatch.delenv("EMAIL", raising=False)
    a = roots.use("a")
    ml = roots.make_env(a, "ml", "alpha")
    cli("envguard", "snapshot", "-n", "ml")
    cli("envguard", "sync")
    folder = githistory.history_folder("ml", str(ml), socket.gethostname())
    other = roots.tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(roots.server), str(other)], check=True)
    (other / folder / "environment.yml").write_text("name: ml\ndependencies: [alpha]\n")
    git(other, *AUTHOR, "commit", "-qam", "edited elsewhere")
    git(other, "push", "-q")
    set_var(ml, "2")
    cli("envguard", "snapshot", "-n", "ml")
    failed = cli("envguard", "sync", raises=Exception)
    return a / "history", folder, str(failed.value)


def _printed(text: str, after: str) -> list[str]:
    """The command printed on the line after `after`, as a shell would split it."""
    lines = text.splitlines()
    return shlex.split(lines[lines.index(after) + 1].split("(stops")[0])


def test_a_real_conflict_is_undone_and_names_the_commands_that_resolve_it(roots, cli, monkeypatch):
    repo, folder, text = _conflict(roots, cli, monkeypatch)

    assert f"changed the same env files as this machine ({folder}/environment.yml)" in text
    assert "rebase --continue" in text and "conda envguard sync" in text
    repo_head = git(repo, "rev-parse", "HEAD")
    assert git(repo, "status", "--porcelain") == ""
    keep_mine = _printed(text, "  Keep this machine's version of those files:")
    assert keep_mine[:3] == ["git", "-C", str(repo)] and "theirs" in keep_mine
    subprocess.run(keep_mine, check=True, capture_output=True)  # as printed, then sync again
    assert git(repo, "rev-parse", "HEAD~1") != repo_head
    assert cli.json("envguard", "sync")["pushed"] is True
    assert "ROUND" in git(roots.server, "show", f"HEAD:{folder}/environment.yml")


def test_a_rebase_left_stopped_at_the_conflict_is_named_and_finished_as_printed(
    roots, cli, monkeypatch
):
    repo, folder, text = _conflict(roots, cli, monkeypatch)
    by_hand = _printed(text, "  or merge them by hand:")
    stopped = subprocess.run(by_hand, capture_output=True, text=True)
    assert stopped.returncode != 0 and "CONFLICT" in stopped.stdout + stopped.stderr

    refused = cli("envguard", "sync", raises=Exception)

    message = str(refused.value)
    assert f"a rebase is under way in {repo}" in message and "rebase --abort" in message
    assert "symbolic" not in message
    merged = "name: ml\ndependencies: [alpha]\nvariables: {ROUND: '2'}\n"
    (repo / folder / "environment.yml").write_text(merged)
    finish = message.split("Finish it: ", 1)[1].splitlines()[0]
    typed = {**os.environ, "GIT_EDITOR": "true"}  # the user's editor, for rebase --continue
    for part in finish.split(" && "):
        argv = shlex.split(part.replace("FILES", folder))
        subprocess.run(argv, check=True, capture_output=True, env=typed, stdin=subprocess.DEVNULL)
    assert cli.json("envguard", "sync")["pushed"] is True
    assert git(roots.server, "log", "-1", "--format=%s").startswith("ml: manual")
    assert git(roots.server, "show", f"HEAD:{folder}/environment.yml") == merged


def test_git_s_whole_error_is_shown(roots, cli):
    a = roots.use("a")
    roots.make_env(a, "ml", "alpha")
    repo = a / "history"
    git(repo, "remote", "set-url", "origin", str(roots.tmp_path / "no-such-server"))

    failed = cli("envguard", "sync", raises=Exception)

    text = str(failed.value)
    assert "does not appear to be a git repository" in text  # git's first line: the cause
    assert "and the repository exists." in text  # and its last


def test_turning_git_on_later_commits_every_env_s_latest_snapshot(roots, cli, monkeypatch):
    a = roots.use("a")
    roots.make_env(a, "ml", "alpha")
    roots.make_env(a, "web", "gamma")
    monkeypatch.delenv("CONDA_PLUGINS_ENVGUARD_GIT")
    from conda.base.context import reset_context

    reset_context()
    cli("envguard", "snapshot", "-n", "ml")
    cli("envguard", "snapshot", "-n", "web")
    roots.make_env(a, "fresh", "alpha")  # no snapshot at all
    roots.use("a")  # the git history set from now on

    synced = cli.json("envguard", "sync")

    subjects = git(a / "history", "log", "--format=%s").splitlines()
    assert sorted(s.split(":")[0] for s in subjects) == ["ml", "web"]
    assert len(synced["committed"]) == 2
    assert synced["not_committed"] == [
        {"env_name": "fresh", "prefix": str(a / "envs" / "fresh"), "reason": "no snapshot"}
    ]
    out, _ = cli("envguard", "sync")
    assert "Nothing new to commit" not in out
    assert "fresh (" in out and "conda envguard snapshot --all && conda envguard sync" in out

    cli("envguard", "snapshot", "--all")
    out, _ = cli("envguard", "sync")
    assert "Nothing new to commit" in out


def test_turning_git_on_later_commits_at_the_next_snapshot_too(roots, cli, monkeypatch):
    a = roots.use("a")
    roots.make_env(a, "ml", "alpha")
    monkeypatch.delenv("CONDA_PLUGINS_ENVGUARD_GIT")
    from conda.base.context import reset_context

    reset_context()
    cli("envguard", "snapshot", "-n", "ml")
    roots.use("a")

    done = cli.json("envguard", "snapshot", "--all")  # ml is unchanged: nothing taken

    assert done["taken"] == [] and len(done["committed"]) == 1
    assert git(a / "history", "log", "--format=%s").startswith("ml: manual")


def test_a_history_without_a_remote_names_the_command_that_adds_one(roots, cli):
    a = roots.use("a")
    roots.make_env(a, "ml", "alpha")
    repo = a / "history"
    git(repo, "remote", "remove", "origin")
    cli("envguard", "snapshot", "-n", "ml")

    out, _ = cli("envguard", "sync")

    add = out.split("add one with: ", 1)[1].split(").")[0]
    argv = [str(roots.server) if part == "URL" else part for part in shlex.split(add)]
    subprocess.run(argv, check=True)  # as printed, the URL filled in
    assert cli.json("envguard", "sync")["pushed"] is True
    assert git(roots.server, "log", "-1", "--format=%s").startswith("ml: ")


@pytest.mark.parametrize("place", ["file", "dangling link"])
def test_a_git_setting_naming_a_file_says_so(roots, cli, monkeypatch, place):
    a = roots.use("a")
    roots.make_env(a, "ml", "alpha")
    cli("envguard", "snapshot", "-n", "ml")
    setting = a / "not-a-folder"
    if place == "file":
        setting.write_text("mine\n")
    else:
        setting.symlink_to(a / "nowhere")
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_GIT", str(setting))
    from conda.base.context import reset_context

    reset_context()

    failed = cli("envguard", "sync", raises=Exception)

    text = str(failed.value)
    what = "a file" if place == "file" else f"a link to {a / 'nowhere'}"
    assert f"envguard_git is {setting}, which is {what}, not a folder" in text
    assert "conda config --set plugins.envguard_git" in text
    assert not (a / "nowhere").exists()
    if place == "file":
        assert setting.read_text() == "mine\n"


def test_a_relative_git_setting_commits_nowhere(roots, cli, monkeypatch):
    """`envguard_git: .` (or `envs-history`) would name the directory conda runs in: a
    project's own git repository, say. envguard commits nowhere and says why."""
    a = roots.use("a")
    roots.make_env(a, "ml", "alpha")
    cli("envguard", "snapshot", "-n", "ml")  # a snapshot to commit, into a history set later
    project = a / "project"
    project.mkdir()
    git(project, "init", "-q")
    monkeypatch.chdir(project)
    monkeypatch.setenv("CONDA_PLUGINS_ENVGUARD_GIT", ".")
    from conda.base.context import reset_context

    reset_context()
    for argv in (("sync",), ("sync", "--dry-run"), ("restore", "ml", "--from-git", "-y")):
        failed = cli("envguard", *argv, raises=Exception)
        text = str(failed.value)
        assert "envguard_git is '.', a relative path" in text, argv
        assert "conda config --set plugins.envguard_git ~/envs-history" in text

    assert sorted(p.name for p in project.iterdir()) == [".git"]
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True)
    assert head.returncode != 0  # no commit


def test_a_sync_with_nothing_to_push_does_not_say_it_pushed(roots, cli):
    a = roots.use("a")
    roots.make_env(a, "ml", "alpha")
    cli("envguard", "snapshot", "-n", "ml")
    assert cli.json("envguard", "sync")["pushed"] is True

    again = cli.json("envguard", "sync")
    out, _ = cli("envguard", "sync")

    assert again["pushed"] is False and again["remote"] == "origin"
    assert "Pushed" not in out and "origin has every commit already: nothing to push." in out


def test_the_two_ways_to_choose_among_machines_name_the_same_env(roots, cli):
    """`--host H` and the folder the hint gives are one env, whatever order the folders'
    hashes put them in."""
    a = roots.use("a")
    repo = a / "history"
    for folder, host in (("ml--00000000", "lab-z"), ("ml--ffffffff", "lab-a")):
        (repo / folder).mkdir()
        (repo / folder / "environment.yml").write_text("name: ml\ndependencies: [alpha]\n")
        identity = {"env_name": "ml", "prefix": f"/opt/{host}/ml", "host": host, "user": "u"}
        (repo / folder / "envguard-env.json").write_text(json.dumps(identity))
    git(repo, "add", "-A")
    git(repo, *AUTHOR, "commit", "-qm", "two other machines")

    failed = cli("envguard", "restore", "ml", "--from-git", "-y", raises=Exception)

    text = str(failed.value)
    assert "--from-git --host lab-a\n" in text
    assert "or by its folder: conda envguard restore ml--ffffffff --from-git" in text
