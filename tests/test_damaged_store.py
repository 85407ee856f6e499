"""A damaged store is survived: every store file truncated, garbage or valid JSON of the wrong
shape, a snapshot dir replaced by a file or by a link leading out of the store, a trash record
naming a place outside the trash. Listing skips and reports; verify names the damage; restore,
undo and purge refuse or skip; nothing outside the store and the envs dir is read as a
snapshot, written or deleted; the live env is untouched."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conda import CondaError
from envguard_testsupport.checks import take_snapshot, tree_state
from envguard_testsupport.figures import record

from conda_envguard.saving import save_and_set_aside

pytestmark = pytest.mark.usefixtures("no_background_expiry")

SNAPSHOT_FILES = (
    "snapshot.json",
    "manifest.json",
    "explicit.txt",
    "environment.yml",
    "packages.json",
    "history",
)
CORRUPTIONS = {
    "truncated": b"",
    "garbage": b"\x00\xff\xfe garbage \x80\n" * 50,
    "wrong-shape": json.dumps({"prefix": [1], "id": 5, "files": "x", "packages": 3}).encode(),
}


class Store:
    """A store with something of every kind, and a directory outside it that must stay as it
    is: it holds a copy of a good snapshot, which must never be read as one."""

    def __init__(self, cli, make_env, conda_dirs):
        self.dirs = conda_dirs
        self.demo = make_env("demo", "alpha")
        self.ids = [take_snapshot(cli, "-n", "demo") for _ in range(2)]
        gone = make_env("gone", "gamma")
        self.gone_id = save_and_set_aside(gone, "restore --force")
        self.outside = conda_dirs.root / "outside"
        self.outside.mkdir()
        shutil.copytree(self.snapshot(self.ids[0]), self.outside / "decoy")
        (self.outside / "keep.txt").write_text("keep me\n")

    def snapshot(self, snap_id: str) -> Path:
        return self.dirs.store / "snapshots" / snap_id

    @property
    def record(self) -> Path:
        return self.dirs.store / "trash" / f"{self.gone_id}.json"

    def untouched(self) -> dict:
        return {**tree_state(self.outside), **tree_state(self.demo)}


def _damages() -> dict[str, callable]:
    out = {}
    for name in SNAPSHOT_FILES:
        for how, data in CORRUPTIONS.items():
            out[f"{name}-{how}"] = lambda s, n=name, d=data: (
                s.snapshot(s.ids[-1]).joinpath(n).write_bytes(d)
            )
    for name in ("list-cache.json", "sequence", "locks/store.lock", "trash-record"):
        for how, data in CORRUPTIONS.items():

            def damage(s, n=name, d=data):
                path = s.record if n == "trash-record" else s.dirs.store / n
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(d)

            out[f"{name}-{how}"] = damage

    def index(s, data=b"\x00garbage"):
        paths = list((s.dirs.store / "index").iterdir())
        assert paths, "no index to damage"
        for path in paths:
            path.write_bytes(data)

    out["index-garbage"] = index

    def dir_is_file(s):
        path = s.snapshot(s.ids[-1])
        shutil.rmtree(path)
        path.write_text("not a snapshot\n")

    def dir_is_link_out(s):
        path = s.snapshot(s.ids[-1])
        shutil.rmtree(path)
        path.symlink_to(s.outside / "decoy")

    def meta_is_link_out(s):
        path = s.snapshot(s.ids[-1]) / "snapshot.json"
        path.unlink()
        path.symlink_to(s.outside / "decoy" / "snapshot.json")

    def record_points_outside(s):
        data = json.loads(s.record.read_text())
        data["location"] = str(s.outside)
        s.record.write_text(json.dumps(data))

    def record_prefix_relative(s):
        data = json.loads(s.record.read_text())
        data["prefix"] = "../../outside/keep.txt"
        s.record.write_text(json.dumps(data))

    out.update(
        {
            "snapshot-dir-is-a-file": dir_is_file,
            "snapshot-dir-is-a-link-out-of-the-store": dir_is_link_out,
            "snapshot-json-is-a-link-out-of-the-store": meta_is_link_out,
            "trash-record-points-outside": record_points_outside,
            "trash-record-relative-prefix": record_prefix_relative,
        }
    )
    return out


DAMAGES = _damages()


def _run(conda_cli, *argv) -> tuple[int, str]:
    """(exit status, output) as a user would see them; a crash fails the test."""
    from conda.core.prefix_data import PrefixData

    PrefixData._cache_.clear()
    try:
        out, err, code = conda_cli(*argv)
    except CondaError as e:
        return 1, str(e)
    except SystemExit as e:
        return int(e.code or 0), ""
    text = out + err
    assert "unexpected error" not in text, text
    return code or 0, text


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_store_is_survived(damage, cli, make_env, conda_dirs, conda_cli):
    s = Store(cli, make_env, conda_dirs)
    before = s.untouched()
    DAMAGES[damage](s)
    of_snapshot = damage.startswith(SNAPSHOT_FILES) or damage.startswith("snapshot-")
    of_trash = damage.startswith("trash-record")
    harmless = damage.endswith("wrong-shape") and damage.startswith(("locks", "sequence"))

    code, text = _run(conda_cli, "envguard", "list")
    assert code == 0, text
    listed = json.loads(_run(conda_cli, "envguard", "list", "--json")[1])["snapshots"]
    assert all(Path(snap["path"]).parent == conda_dirs.store / "snapshots" for snap in listed)
    if of_snapshot and damage not in ("manifest.json-truncated", "manifest.json-garbage"):
        damaged_ok = damage.startswith(("explicit", "environment", "packages", "history"))
        damaged_ok = damaged_ok or damage.startswith("manifest")
        if not damaged_ok:  # snapshot.json or the dir itself: not listed, reported
            assert sorted(snap["id"] for snap in listed) == sorted([s.ids[0], s.gone_id])
            assert f"damaged, skipped: {s.snapshot(s.ids[-1])}" in text

    code, text = _run(conda_cli, "envguard", "verify")
    assert code == (1 if of_snapshot or of_trash else 0), text
    if of_snapshot:
        assert f"DAMAGED  {s.ids[-1]}" in text
    _run(conda_cli, "envguard", "verify", "--json")

    if of_trash:
        assert "damaged record, ignored" in _run(conda_cli, "envguard", "trash")[1]
    if of_snapshot:
        code, text = _run(conda_cli, "envguard", "restore", "--snapshot", s.ids[-1], "-n", "c")
        assert code == 1, text
        assert not (conda_dirs.envs / "c").exists()
    for argv in (
        ("trash",),
        ("status",),
        ("show", s.ids[0]),
        ("diff", s.ids[0]),
        ("prune", "--keep", "1", "--dry-run"),
        ("undo", "gone", "-y") if of_trash else ("trash", "--json"),
        ("purge", "--all", "-y"),
    ):
        code, text = _run(conda_cli, "envguard", *argv)
        assert code in (0, 1), f"{argv}: {text}"
    if not (of_snapshot or of_trash or harmless):
        # a cache, an index or a lock: envguard goes on as if it were missing
        assert _run(conda_cli, "envguard", "snapshot", "-n", "demo", "--force")[0] == 0

    assert s.untouched() == before
    assert set(os.listdir(s.outside)) == {"decoy", "keep.txt"}


def test_count_of_damaged_store_cases():
    record("damaged-store cases", len(DAMAGES))
