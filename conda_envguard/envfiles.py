"""What a prefix holds besides its packages: conda's per-env settings, and files no package
installed.

conda keeps an env's own settings inside the env: the variables of `conda env config vars set`
(`conda-meta/state`), pins (`conda-meta/pinned`), the frozen marker of CEP 22
(`conda-meta/frozen`), the creation time conda 26 records (`conda-meta/created_at`), the env's
own configuration (`.condarc`, `condarc`, `condarc.d/`) and, on Windows, `.nonadmin`; envguard
adds its protect marker. A snapshot copies all of them, and a restore puts them back.

Every other file is owned by a conda record (its `files` list) or a pip `RECORD`, or by nobody:
a notebook kept next to the env, a hand-written activation script, a project whose `-p` pointed
one directory too high. The snapshot lists the unowned files with their sizes and copies the
small ones that configure the env (under `etc/`: activate.d, deactivate.d, env_vars.d); the
rest it cannot bring back, which is why the guard asks before a command deletes them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .envstate import EnvState, read_state

# conda's own per-env settings (conda/base/constants.py: PREFIX_STATE_FILE, PREFIX_PINNED_FILE,
# PREFIX_FROZEN_FILE, PREFIX_CREATION_TIMESTAMP_FILE; the $CONDA_PREFIX entries of SEARCH_PATH)
# and envguard's protect marker (policy.MARKER).
SETTINGS = (
    "conda-meta/state",
    "conda-meta/pinned",
    "conda-meta/frozen",
    "conda-meta/created_at",
    "conda-meta/envguard-protected",
    ".condarc",
    "condarc",
    ".nonadmin",
)
SETTINGS_DIRS = ("condarc.d",)
# Settings a new env may get on its own; their absence from a snapshot is no difference.
_BOOKKEEPING = ("conda-meta/created_at", ".nonadmin")

# Unowned files under etc/ configure the env (activation scripts above all): copied into the
# snapshot when each is at most KEEP_FILE_BYTES, until KEEP_TOTAL_BYTES are copied.
KEEP_DIR = "etc/"
KEEP_FILE_BYTES = 64 * 1024
KEEP_TOTAL_BYTES = 1024 * 1024

LIST_CAP = 10_000  # unowned files named in a snapshot's listing, beyond those it keeps
COPIES_DIR = "env-files"  # in a snapshot: the copies, at their paths in the prefix
LISTING = "env-files.json"  # in a snapshot: what the prefix held besides packages
# In a snapshot, mode 0600: the original of each copy whose secrets are masked in COPIES_DIR
# (and in environment.yml). Outside the manifest; never in a bundle or the git history.
PRIVATE = "secrets.json"


@dataclass
class Unowned:
    path: str  # relative to the prefix, with "/"
    size: int
    kept: bool = False  # copied into the snapshot
    # under a top-level directory that packages install into (bin/, lib/, share/...): as often
    # made by a package's post-link script (caches, indexes) as by a person
    among_packages: bool = False


@dataclass
class PrefixFiles:
    settings: list[str] = field(default_factory=list)
    unowned: list[Unowned] = field(default_factory=list)

    @property
    def at_risk(self) -> list[Unowned]:
        """A person's files that no snapshot can bring back: unowned, not kept, and at the
        prefix's top or under a directory no package installs into (a project, a notebook)."""
        return [u for u in self.unowned if not u.kept and not u.among_packages]

    def summary(self) -> dict:
        return {
            "files": len(self.unowned),
            "bytes": sum(u.size for u in self.unowned),
            "at_risk": len(self.at_risk),
        }

    def to_json(self) -> dict:
        return {"settings": self.settings, "unowned": [asdict(u) for u in self.unowned]}


@dataclass
class Contents:
    """An env read once: its packages and its other files (for a guard and a snapshot)."""

    state: EnvState
    files: PrefixFiles


def read_contents(prefix: str | os.PathLike) -> Contents:
    state = read_state(prefix)
    return Contents(state, scan(prefix, state.files))


# Where the settings and activation scripts outside conda-meta live (conda-meta is in the
# snapshot's fingerprint already).
_WATCHED = (".condarc", "condarc", "condarc.d", "etc/conda/activate.d", "etc/conda/deactivate.d")


def watched_stamp(prefix: str | os.PathLike) -> bytes:
    """Name, size and mtime of the settings and activation scripts outside conda-meta: a
    change to them changes the env's fingerprint, so the next snapshot is not skipped."""
    out = []
    for relpath in _WATCHED:
        path = os.path.join(prefix, relpath)
        try:
            entries = list(os.scandir(path)) if os.path.isdir(path) else [path]
        except OSError:
            continue
        for entry in entries:
            try:
                st = os.stat(entry, follow_symlinks=False)
            except OSError:
                continue
            name = entry.name if isinstance(entry, os.DirEntry) else relpath
            out.append(f"{relpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n")
    return "".join(sorted(out)).encode()


# Top-level directories packages install into (conda's layout on Linux, macOS and Windows,
# and what base holds besides): a person's own files go elsewhere (a project, thesis/, data/).
# fmt: off
PACKAGE_TOP_DIRS = frozenset({
    "bin", "conda-meta", "condabin", "envs", "pkgs", "etc", "include", "lib", "lib32", "lib64",
    "libexec", "man", "sbin", "share", "ssl", "var", "doc", "docs", "info", "fonts", "licenses",
    "mkspecs", "plugins", "qml", "translations", "resources", "shell", "compiler_compat",
    "x86_64-conda-linux-gnu", "aarch64-conda-linux-gnu", "powerpc64le-conda-linux-gnu",
    "x86_64-conda_cos6-linux-gnu", "x86_64-conda_cos7-linux-gnu",
    "Library", "Lib", "Scripts", "DLLs", "Tools", "Menu", "conda-bld",
})
# fmt: on
# Entries stamped below a person's directories, at most: the stamp stays cheap
PEOPLE_STAMP_CAP = 20_000


def people_stamp(prefix: str | os.PathLike) -> bytes:
    """Name, size and mtime of the prefix's top-level entries but the directories packages
    install into, and of everything under them: a file a person adds (thesis/results.csv)
    changes the env's fingerprint, so the next snapshot is not skipped and `status` looks
    again."""
    out = []
    stack = [("", str(prefix))]
    while stack and len(out) < PEOPLE_STAMP_CAP:
        rel, path = stack.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            if not rel and entry.name in PACKAGE_TOP_DIRS:
                continue  # packages' own: conda-meta says when they change (a rollback too)
            try:
                st = entry.stat(follow_symlinks=False)
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            out.append(f"{rel}{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\n")
            if is_dir and entry.name != "__pycache__":
                stack.append((f"{rel}{entry.name}/", entry.path))
    return "".join(sorted(out)).encode()


def settings_of(prefix: str | os.PathLike) -> list[str]:
    """The per-env settings files present in `prefix`."""
    prefix = Path(prefix)
    found = [s for s in SETTINGS if (prefix / s).is_file()]
    for directory in SETTINGS_DIRS:
        try:
            entries = sorted(os.scandir(prefix / directory), key=lambda e: e.name)
        except OSError:
            continue
        found += [f"{directory}/{e.name}" for e in entries if e.is_file(follow_symlinks=False)]
    return found


def scan(prefix: str | os.PathLike, conda_files: set[str]) -> PrefixFiles:
    """Settings and unowned files of `prefix`, given the paths its conda records own.

    One `os.scandir` walk; only files nobody owns are stat'ed. Byte-code caches, conda's
    `conda-meta/` and the leftovers conda renames aside on Windows (`*.conda_trash`) are
    bookkeeping, not anyone's files.
    """
    prefix = str(prefix)
    settings = settings_of(prefix)
    candidates, metadata_dirs = [], []
    stack = [("", prefix)]
    while stack:
        rel, path = stack.pop()
        try:
            it = os.scandir(path)
        except OSError:
            continue
        with it:
            for entry in it:
                name = entry.name
                relpath = rel + name
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    if name == "__pycache__" or (not rel and name == "conda-meta"):
                        continue
                    if name.endswith((".dist-info", ".egg-info")):
                        metadata_dirs.append(relpath)
                    stack.append((relpath + "/", entry.path))
                elif relpath not in conda_files and not _bookkeeping(rel, name):
                    candidates.append(relpath)
    unowned: list[Unowned] = []
    if not candidates:
        return PrefixFiles(settings, unowned)
    owned = _pip_owned(prefix, metadata_dirs, conda_files)
    kept_settings = set(settings)
    candidates = [c for c in candidates if c not in owned and c not in kept_settings]
    package_dirs = {f.split("/", 1)[0] for f in conda_files if "/" in f}
    for relpath in sorted(candidates):
        try:
            size = os.lstat(os.path.join(prefix, relpath)).st_size
        except OSError:
            continue
        top = relpath.split("/", 1)[0] if "/" in relpath else None
        unowned.append(Unowned(relpath, size, among_packages=top in package_dirs))
    _choose_kept(prefix, unowned)
    return PrefixFiles(settings, unowned)


def _bookkeeping(rel: str, name: str) -> bool:
    """conda's own files outside conda-meta: byte-code, what it renamed aside to delete
    (Windows), the post-link messages it shows once (`.messages.txt`)."""
    return name.endswith((".pyc", ".conda_trash")) or (not rel and name == ".messages.txt")


def _pip_owned(prefix: str, metadata_dirs: list[str], conda_files: set[str]) -> set[str]:
    """Files that pip's RECORD (or an egg's installed-files.txt) lists, for the packages conda
    did not install itself."""
    owned: set[str] = set()
    for meta in metadata_dirs:
        if meta.endswith(".dist-info"):
            listing, base = f"{meta}/RECORD", os.path.dirname(meta)
        else:
            listing, base = f"{meta}/installed-files.txt", meta
        if listing in conda_files:
            continue  # conda installed it: its record already owns every file
        try:
            with open(os.path.join(prefix, listing), newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f)) if listing.endswith("RECORD") else [[ln] for ln in f]
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        owned.add(listing)
        for row in rows:
            if row and row[0].strip():
                path = os.path.normpath(os.path.join(base, row[0].strip()))
                owned.add(path.replace(os.sep, "/"))
    return owned


def _choose_kept(prefix: str, unowned: list[Unowned]) -> None:
    total = 0
    for item in unowned:
        if (
            item.path.startswith(KEEP_DIR)
            and item.size <= KEEP_FILE_BYTES
            and total + item.size <= KEEP_TOTAL_BYTES
            and os.path.isfile(os.path.join(prefix, item.path))
            and not os.path.islink(os.path.join(prefix, item.path))
        ):
            item.kept = True
            total += item.size


# -- in a snapshot ------------------------------------------------------------------------------
def stored_form(data: bytes, relpath: str = "", extra: tuple[str, ...] | None = None) -> bytes:
    """A file as a snapshot keeps it: text without the credentials of its URLs, and with the
    values of secret variables masked (`redact`; `extra`: more secret names, default the
    setting's). Masking a stored form again changes nothing."""
    from .redact import mask_assignments, redact

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if relpath == "conda-meta/state" or (
        relpath.startswith("etc/conda/env_vars.d/") and relpath.endswith(".json")
    ):
        text = _mask_json_vars(text, relpath, extra)
    else:
        text = mask_assignments(text, extra)
    return redact(text, placeholder=False).encode("utf-8")


def _mask_json_vars(text: str, relpath: str, extra: tuple[str, ...] | None) -> str:
    """conda-meta/state's `env_vars`, or an env_vars.d file's variables, masked; the text as
    it was when nothing is secret (or it is not such JSON)."""
    from .redact import mask_value

    try:
        data = json.loads(text)
    except ValueError:
        return text
    holder = (
        data.get("env_vars") if relpath == "conda-meta/state" and isinstance(data, dict) else data
    )
    if not isinstance(holder, dict):
        return text
    masked = {
        k: mask_value(str(k), v, extra) if isinstance(v, str) else v for k, v in holder.items()
    }
    if masked == holder:
        return text
    holder.clear()
    holder.update(masked)
    return json.dumps(data, indent=2)


def copies(
    prefix: str | os.PathLike, files: PrefixFiles
) -> tuple[dict, dict[str, bytes], dict[str, str]]:
    """(the listing for LISTING, {snapshot file name: content}, {prefix path: original}) of
    what a snapshot keeps; the originals are those of the copies that hold masked secrets,
    for PRIVATE."""
    prefix = Path(prefix)
    out: dict[str, bytes] = {}
    originals: dict[str, str] = {}
    modes: dict[str, int] = {}
    unreadable = []
    wanted = files.settings + [u.path for u in files.unowned if u.kept]
    for relpath in wanted:
        try:
            data = (prefix / relpath).read_bytes()
            modes[relpath] = os.stat(prefix / relpath).st_mode & 0o777
        except OSError:
            unreadable.append(relpath)  # named in the listing: a restore says it is not back
            continue
        out[f"{COPIES_DIR}/{relpath}"] = stored = stored_form(data, relpath)
        if stored != data:
            originals[relpath] = data.decode("utf-8")  # only text is ever masked
    listing = {**files.to_json(), "modes": modes, "unreadable": unreadable}
    listing["settings"] = [s for s in files.settings if s in modes]
    for item in listing["unowned"]:
        item["kept"] = item["kept"] and item["path"] in modes
    # A prefix one directory too high may hold millions of files: the totals are in
    # snapshot.json ("unowned"); the listing names the first LIST_CAP of those not kept.
    kept = [u for u in listing["unowned"] if u["kept"]]
    others = [u for u in listing["unowned"] if not u["kept"]]
    if len(others) > LIST_CAP:
        listing["unowned"] = sorted(kept + others[:LIST_CAP], key=lambda u: u["path"])
        listing["unowned_not_listed"] = len(others) - LIST_CAP
    return listing, out, originals


def write_private(snapshot_dir: Path, originals: dict[str, str]) -> None:
    """Write PRIVATE (0600, readable by its owner only, like the store): the originals of the
    copies that hold masked secrets."""
    data = json.dumps({"format": 1, "files": originals}, indent=1)
    fd = os.open(snapshot_dir / PRIVATE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_private(
    snapshot_dir: Path, listing: dict | None, extra: tuple[str, ...] | None = None
) -> tuple[dict[str, bytes], str]:
    """{prefix path: original content} from PRIVATE, each checked against the snapshot's own
    (manifest-covered) copy: an original is used only when masking it (with `extra` too:
    the names the snapshot masked and those the setting names now) gives that copy, masked
    the same way. Returns the originals and, when PRIVATE is there but cannot be used, why."""
    try:
        data = json.loads((snapshot_dir / PRIVATE).read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError("not a table of files")
    except FileNotFoundError:
        return {}, ""
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {}, f"{PRIVATE} cannot be read ({e})"
    kept = set(kept_paths(listing or {}))
    out, bad = {}, []
    for relpath, original in files.items():
        if relpath not in kept or not isinstance(original, str):
            bad.append(str(relpath))
            continue
        raw = original.encode("utf-8")
        try:
            copy = (snapshot_dir / COPIES_DIR / relpath).read_bytes()
        except OSError:
            bad.append(relpath)
            continue
        if stored_form(raw, relpath, extra) == stored_form(copy, relpath, extra):
            out[relpath] = raw
        else:
            bad.append(relpath)
    why = f"{PRIVATE} does not match the snapshot's copies of {', '.join(bad)}" if bad else ""
    return out, why


def read_listing(snapshot_dir: Path) -> dict | None:
    """The snapshot's LISTING, or None for a snapshot taken before envguard kept one. Only
    well-formed entries with paths inside the prefix are returned."""
    try:
        data = json.loads((snapshot_dir / LISTING).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    # A damaged listing loses what it no longer says clearly, never the restore.
    modes = data.get("modes") if isinstance(data.get("modes"), dict) else {}
    unowned = data.get("unowned") if isinstance(data.get("unowned"), list) else []
    settings = data.get("settings") if isinstance(data.get("settings"), list) else []
    not_listed = data.get("unowned_not_listed")
    unreadable = data.get("unreadable") if isinstance(data.get("unreadable"), list) else []
    return {
        "unowned_not_listed": not_listed if isinstance(not_listed, int) else 0,
        "unreadable": [p for p in unreadable if _relative(p)],
        "settings": [s for s in settings if _relative(s)],
        "modes": {
            p: m
            for p, m in modes.items()
            if _relative(p) and isinstance(m, int) and 0 <= m <= 0o777
        },
        "unowned": [
            u
            for u in unowned
            if isinstance(u, dict) and _relative(u.get("path")) and isinstance(u.get("size"), int)
        ],
    }


def _relative(path) -> bool:
    """A path inside the prefix, as envguard writes them (a damaged listing may not)."""
    return (
        isinstance(path, str)
        and bool(path)
        and not path.startswith(("/", "\\"))
        and ".." not in path.replace("\\", "/").split("/")
        and ":" not in path
    )


def kept_paths(listing: dict) -> list[str]:
    """Every prefix path whose copy the snapshot holds."""
    return list(listing.get("modes", {}))


def put_back(
    snapshot_dir: Path, listing: dict, target: Path, originals: dict[str, bytes]
) -> list[str]:
    """Write the snapshot's copies into the restored env at `target`: the original where
    `originals` (see `read_private`) has it, else the stored copy. Settings replace what
    the restore itself wrote (e.g. the variables of environment.yml); a kept file that a
    package now ships is left as the package made it. Returns the paths written."""
    from .atomic import write_bytes_atomic

    written = []
    settings = set(listing.get("settings", ()))
    for relpath, mode in listing.get("modes", {}).items():
        destination = target / relpath
        if relpath not in settings and os.path.lexists(destination):
            continue
        try:
            data = originals.get(relpath) or (snapshot_dir / COPIES_DIR / relpath).read_bytes()
            destination.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(destination, data, mode)
        except OSError:
            continue  # differences() reports it missing
        written.append(relpath)
    return written


def differences(
    snapshot_dir: Path,
    listing: dict,
    target: Path,
    originals: dict[str, bytes],
    extra: tuple[str, ...] | None = None,
) -> list[str]:
    """What of the snapshot's settings and kept files the env at `target` does not match,
    one line each; and the settings the env has that the snapshot had not. A file with an
    original in `originals` must match it byte for byte; the others are compared masked
    alike (`extra`: see `read_private`), which also covers snapshots from before masking."""
    out = []
    for relpath in kept_paths(listing):
        try:
            saved = (snapshot_dir / COPIES_DIR / relpath).read_bytes()
        except OSError:
            out.append(f"{relpath}: its copy in the snapshot is unreadable")
            continue
        try:
            data = (target / relpath).read_bytes()
        except OSError:
            data = None
        if data is None:
            out.append(f"{relpath}: missing")
        elif relpath in originals:
            if _digest(data) != _digest(originals[relpath]):
                out.append(f"{relpath}: different content")
        elif _digest(stored_form(data, relpath, extra)) != _digest(
            stored_form(saved, relpath, extra)
        ):
            out.append(f"{relpath}: different content")
    before = set(listing.get("settings", ()))
    for relpath in settings_of(target):
        if relpath not in before and relpath not in _BOOKKEEPING:
            out.append(f"{relpath}: not in the snapshot")
    return out


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- settings read back -------------------------------------------------------------------------
def env_vars_and_pins(
    prefix_or_copies: Path, state: bytes | None = None
) -> tuple[dict[str, str], list[str]]:
    """The variables (`conda env config vars`) and pins under `prefix_or_copies`: a live env,
    or a snapshot's COPIES_DIR (`state`: its original conda-meta/state, see `read_private`).
    Values as they are there: secrets masked in a snapshot's copy, not in a live env."""
    from conda.base.constants import CONDA_ENV_VARS_UNSET_VAR

    variables: dict[str, str] = {}
    try:
        data = json.loads(state or (prefix_or_copies / "conda-meta" / "state").read_bytes())
        variables = {
            str(k): str(v)
            for k, v in (data.get("env_vars") or {}).items()
            if v != CONDA_ENV_VARS_UNSET_VAR
        }
    except (OSError, ValueError, AttributeError):
        pass
    try:
        text = (prefix_or_copies / "conda-meta" / "pinned").read_text()
        pins = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    except OSError:
        pins = []
    return variables, pins
