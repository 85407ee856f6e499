"""What an env's state is: captured from a prefix into files, and read back.

A snapshot directory holds:
  environment.yml  conda's own export: every package pinned name=version=build, pip: section
  explicit.txt     an @EXPLICIT lock: one URL#sha256 per conda package
  pip.txt          pip-installed packages, name==version (only when there are any)
  history          a copy of the env's conda-meta/history
  packages.json    every package, for diffs and for checking a restore
  portable.json    what the user asked for (conda's history specs, as `--from-history`), the
                   channels the env was built from, the version installed of each, and the
                   pip requirements: what rebuilds the env on another platform
  env-files.json   the env's settings files and the files no package installed (envfiles.py)
  env-files/       copies of the settings and of small unowned config files, at their paths
  snapshot.json    metadata, with a checksum of each file above
  secrets.json     (0600, only when the env has secrets) the originals of the copies above
                   whose secrets are masked: never in a bundle or the git history
All of it but secrets.json passes through `redact` first: no token or password, and no value
of a secret variable (environment.yml and the copies hold a mask).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .redact import redact, redact_url

if TYPE_CHECKING:
    from .envfiles import Contents

FORMAT = 1
META = "snapshot.json"
PORTABLE = "portable.json"
# Beside an imported snapshot, written by this machine: where it came from and its local order.
IMPORTED = "imported.json"


@dataclass
class Snapshot:
    """A snapshot as stored: its directory and its metadata."""

    path: Path
    meta: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.meta.get("id") or self.path.name

    @property
    def env_name(self) -> str:
        return self.meta.get("env_name", "")

    @property
    def prefix(self) -> str:
        return self.meta.get("prefix", "")

    @property
    def created(self) -> str:
        return self.meta.get("created", "")

    @property
    def order(self) -> tuple[int, str]:
        """Sort key: later snapshots sort after earlier ones, exactly (see `order`)."""
        from .order import order_key

        return order_key(self.meta.get("order"), self.created, self.id)

    def summary(self) -> dict:
        """The metadata a listing needs; `full()` reads the rest."""
        keys = ("id", "env_name", "prefix", "created", "trigger", "command", "counts", "platform")
        keys += ("unowned", "order", "imported")  # listings sort by order
        return {**{k: self.meta[k] for k in keys if k in self.meta}, "summary": True}

    def full(self) -> Snapshot:
        return load(self.path) if self.meta.get("summary") else self

    def file(self, name: str) -> Path:
        return self.path / name

    def packages(self) -> list[dict]:
        from .exceptions import CorruptSnapshotError

        try:
            return json.loads(self.file("packages.json").read_text())["packages"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CorruptSnapshotError(str(self.path), f"packages.json: {e}") from e

    def to_json(self) -> dict:
        return {**self.meta, "id": self.id, "path": str(self.path)}

    @property
    def secret_vars(self) -> tuple[str, ...]:
        """The extra secret names it was masked with, and those envguard_secret_vars names now:
        its private originals are checked against its copies masked with both."""
        from .settings import secret_vars

        recorded = self.meta.get("masked_vars")
        recorded = (
            [p for p in recorded if isinstance(p, str)] if isinstance(recorded, list) else []
        )
        return tuple(dict.fromkeys([*recorded, *secret_vars()]))


def load(path: Path) -> Snapshot:
    from .exceptions import CorruptSnapshotError

    try:
        if path.is_symlink() or (path / META).is_symlink():
            raise OSError("a symbolic link, which could lead out of the store")
        meta = json.loads((path / META).read_text())
    except (OSError, ValueError) as e:
        raise CorruptSnapshotError(str(path), f"{META}: {e}") from e
    if not isinstance(meta, dict) or "prefix" not in meta or not sound(meta):
        raise CorruptSnapshotError(str(path), f"{META} is not an envguard snapshot")
    if (path / IMPORTED).is_file():
        # Another machine's snapshot sorts by when it came here, never by its own claim.
        try:
            note = json.loads((path / IMPORTED).read_text())
        except (OSError, ValueError):
            note = None
        stamp = note.get("order") if isinstance(note, dict) else None
        meta = {**meta, "imported": True, "order": stamp if isinstance(stamp, int) else 0}
    return Snapshot(path, meta)


def sound(meta: dict) -> bool:
    """Are the fields everything else reads of the types envguard writes?"""
    kinds = {"prefix": str, "id": str, "env_name": str, "created": str, "files": dict}
    kinds.update({"order": int, "counts": dict, "trigger": str, "command": str, "platform": str})
    return all(isinstance(meta[k], t) for k, t in kinds.items() if k in meta)


def fingerprint(prefix: str | os.PathLike) -> str:
    """A cheap digest of an env's state: conda-meta, pip's dist-info dirs, the settings
    files, and a person's own files (`people_stamp`).

    It changes whenever conda or pip installs or removes anything, or a person adds a file
    to the env, and costs a few directory listings, not a full export.
    """
    digest = hashlib.sha256()
    for entry in _scan(Path(prefix, "conda-meta")):
        digest.update(entry)
    for site in _site_packages(Path(prefix)):
        for entry in _scan(site, suffixes=(".dist-info", ".egg-info")):
            digest.update(entry)
    from .envfiles import people_stamp, watched_stamp

    digest.update(watched_stamp(prefix))
    digest.update(people_stamp(prefix))
    return digest.hexdigest()[:16]


def _scan(directory: Path, suffixes: tuple[str, ...] = ()) -> list[bytes]:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    out = []
    for entry in entries:
        if suffixes and not entry.name.endswith(suffixes):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        out.append(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return sorted(out)


def _site_packages(prefix: Path) -> list[Path]:
    if sys.platform == "win32":
        return [prefix / "Lib" / "site-packages"]
    try:
        return [p / "site-packages" for p in (prefix / "lib").glob("python3*")]
    except OSError:
        return []


def capture(
    prefix: Path,
    name: str,
    dest: Path,
    snap_id: str,
    trigger: str,
    command: str,
    contents: Contents | None = None,
    order: int = 0,
) -> dict:
    """Write the state of the env at `prefix` into the (new, empty) directory `dest`.

    `contents`: the env as `envfiles.read_contents` read it just before, if a caller did.
    Returns the metadata written to snapshot.json.
    """
    from conda import __version__ as conda_version
    from conda.base.context import context

    from . import __version__
    from .envfiles import LISTING, copies, read_contents, write_private
    from .envstate import package_list
    from .settings import secret_vars

    contents = contents or read_contents(prefix)
    state = contents.state
    pip_specs = [f"{n}=={v}" for n, v in state.pip]
    packages = package_list(state)

    files: dict[str, bytes] = {}
    # The files conda reads back keep usable URLs: the channels' own, without credentials.
    yml = _environment_yml(prefix, name, state, packages)
    files["environment.yml"] = redact(yml, placeholder=False).encode()
    files["explicit.txt"] = _explicit_lock(state.conda, context.subdir).encode()
    if pip_specs:
        files["pip.txt"] = ("\n".join(pip_specs) + "\n").encode()
    try:
        files["history"] = redact(
            Path(prefix, "conda-meta", "history").read_text(errors="replace")
        ).encode()
    except OSError:
        pass
    files["packages.json"] = json.dumps({"packages": packages}, indent=1).encode()
    files[PORTABLE] = json.dumps(portable_specs(prefix, state), indent=1).encode()
    listing, kept, originals = copies(prefix, contents.files)
    files[LISTING] = json.dumps(listing, indent=1).encode()
    files.update(kept)

    for file_name, data in files.items():
        _write(dest / file_name, data)
    if originals:
        write_private(dest, originals)
    from .kernels import save_into_snapshot

    kernels = save_into_snapshot(Path(prefix), dest)

    meta = {
        "format": FORMAT,
        "id": snap_id,
        "env_name": name,
        "prefix": str(prefix),
        # microseconds: snapshots taken within one second must still sort in order
        "created": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "order": order,  # exact order among the store's snapshots (see `order`)
        "trigger": trigger,
        "command": redact(command),
        "conda_version": conda_version,
        "envguard_version": __version__,
        "platform": context.subdir,
        "python": platform.python_version(),
        "user": _user(),
        "counts": {"conda": len(state.conda), "pip": len(pip_specs)},
        "unowned": contents.files.summary(),
        "fingerprint": fingerprint(prefix),
        "kernels": kernels,
        "masked_vars": list(secret_vars()),  # envguard_secret_vars, as masked with
        "files": {n: _sha256(d) for n, d in files.items()},
    }
    _write(dest / META, json.dumps(meta, indent=2).encode())
    return meta


def _environment_yml(prefix: Path, name: str, state, packages: list[dict]) -> str:
    """conda's own environment.yml exporter, fed from the raw records: pinned name=version=build,
    channels in the order packages came from them, a pip: section, and no prefix: line."""
    from conda.base.context import context
    from conda.models.environment import Environment, EnvironmentConfig
    from conda.models.match_spec import MatchSpec
    from conda.plugins.environment_exporters.environment_yml import export_yaml

    channels = [p["channel"] for p in packages if p["kind"] == "conda" and p["channel"]]
    env = Environment(
        prefix=str(prefix),  # required before conda 25.11, optional since
        name=name,
        platform=context.subdir,
        config=EnvironmentConfig(channels=tuple(dict.fromkeys(channels))),
        requested_packages=[
            MatchSpec(f"{r['name']}=={r['version']}={r['build']}") for r in state.conda
        ],
        external_packages={"pip": [f"{n}=={v}" for n, v in state.pip]} if state.pip else {},
        variables=_env_vars(prefix),
    )
    env.prefix = None  # no `prefix:` line: the file restores under any name or path
    return export_yaml(env)


def portable_specs(prefix: Path, state) -> dict:
    """What rebuilds the env anywhere: the specs the user asked for (conda's history, folded
    as `conda env export --from-history` does), each with the version installed, the channels
    it was built from (the history's `-c`, then those of its packages) and its pip packages.
    Specs keep only name and version: a build string or a channel path is one platform's."""
    from conda.history import History
    from conda.models.match_spec import MatchSpec

    from .envstate import channel_name

    installed = {r["name"]: r for r in state.conda}
    requested: dict[str, MatchSpec] = {}
    channels: list[str] = []
    try:
        requests = History(str(prefix)).get_user_requests()
    except Exception:  # an unreadable history: the packages' channels still say something
        requests = []
    for request in requests:
        channels += _channel_args(request.get("cmd") or [])
        for key in ("remove_specs", "update_specs", "neutered_specs"):
            for text in request.get(key) or ():
                try:
                    spec = MatchSpec(text)
                except Exception:
                    continue
                if key == "remove_specs":
                    requested.pop(spec.name, None)
                else:
                    requested[spec.name] = spec
    channels += [channel_name(r) for r in state.conda]
    out = []
    for name, spec in sorted(requested.items()):
        record = installed.get(name)
        if record is None:
            continue  # asked for once, removed since (conda's --from-history skips it too)
        version = spec.get_raw_value("version")
        out.append(
            {
                "name": name,
                "spec": f"{name} {version}" if version else name,
                "version": str(record.get("version", "")),
                "build": str(record.get("build", "")),
                "channel": redact_url(channel_name(record), placeholder=False),
            }
        )
    return {
        "format": 1,
        "channels": [redact_url(c, placeholder=False) for c in dict.fromkeys(channels) if c],
        "requested": out,
        "pip": [f"{n}=={v}" for n, v in state.pip],
    }


def _channel_args(argv: list[str]) -> list[str]:
    """The channels a conda command line named (-c X, -cX, --channel X, --channel=X)."""
    found = []
    for i, arg in enumerate(argv):
        if arg in ("-c", "--channel") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--channel="):
            found.append(arg.split("=", 1)[1])
        elif arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
            found.append(arg[2:])
    return found


def _env_vars(prefix: Path) -> dict:
    """Variables set with `conda env config vars set` (conda-meta/state), secrets masked."""
    from .redact import mask_value

    try:
        data = json.loads(Path(prefix, "conda-meta", "state").read_text())
        return {
            str(k): mask_value(str(k), v) if isinstance(v, str) else v
            for k, v in dict(data.get("env_vars") or {}).items()
        }
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _explicit_lock(records, subdir: str) -> str:
    """An @EXPLICIT file as `conda list --explicit --sha256` writes it, without credentials."""
    from conda import __version__ as conda_version

    lines = [
        "# This file may be used to create an environment using:",
        "# $ conda create --name <env> --file <this file>",
        f"# platform: {subdir}",
        f"# created-by: conda {conda_version} (conda-envguard)",
        "@EXPLICIT",
    ]
    for rec in records:
        url = rec.get("url")
        if not url or url.startswith("<unknown>"):
            lines.append(f"# no URL for: {rec.get('fn') or rec['name']}")
            continue
        digest = rec.get("sha256") or rec.get("md5")
        lines.append(redact_url(url, placeholder=False) + (f"#{digest}" if digest else ""))
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return ""
