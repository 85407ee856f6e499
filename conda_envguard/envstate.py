"""An env's packages, read straight from `conda-meta/*.json`.

conda's `PrefixData` builds a full record object for every package, file list included: a
few hundred milliseconds for a big env, paid before every removal and every install. envguard
needs only a handful of fields per package, so it reads the JSON itself, and asks conda's own
pip interoperability only when site-packages holds something conda did not install.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

_ANCHOR = re.compile(r"[^/]+\.(?:dist-info/RECORD|egg-info/PKG-INFO|egg-info)$")


@dataclass
class EnvState:
    conda: list[dict] = field(default_factory=list)  # raw records, without their file lists
    pip: list[tuple[str, str]] = field(default_factory=list)  # (name, version)


def read_state(prefix: str | os.PathLike) -> EnvState:
    prefix = Path(prefix)
    records, anchors, site_packages = [], set(), None
    try:
        paths = sorted((prefix / "conda-meta").glob("*.json"))
    except OSError:
        paths = []
    for path in paths:
        try:
            raw = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(raw, dict) or not raw.get("name"):
            continue
        files = raw.pop("files", None) or ()
        raw.pop("paths_data", None)
        if raw["name"] == "python":
            site_packages = _site_packages_of(raw)
        anchors.update(f for f in files if "-info" in f)
        records.append(raw)
    records.sort(key=lambda r: r["name"])
    state = EnvState(conda=records)
    if site_packages and _has_foreign_packages(prefix, site_packages, anchors):
        state.pip = _pip_packages_from_conda(prefix)
    return state


def _site_packages_of(python_record: dict) -> str | None:
    if python_record.get("python_site_packages_path"):
        return python_record["python_site_packages_path"]
    version = str(python_record.get("version", ""))
    if sys.platform == "win32":
        return "Lib/site-packages"
    major_minor = ".".join(version.split(".")[:2])
    return f"lib/python{major_minor}/site-packages" if major_minor else None


def _has_foreign_packages(prefix: Path, site_packages: str, conda_files: set[str]) -> bool:
    """Does site-packages hold a dist-info/egg-info that no conda record owns?"""
    try:
        entries = os.listdir(prefix / site_packages)
    except OSError:
        return False
    owned = {
        f.split("/")[-2] if f.endswith(("RECORD", "PKG-INFO")) else f.split("/")[-1]
        for f in conda_files
        if _ANCHOR.search(f)
    }
    return any(e.endswith((".dist-info", ".egg-info")) and e not in owned for e in entries)


def _pip_packages_from_conda(prefix: Path) -> list[tuple[str, str]]:
    """conda's own reading of non-conda python packages (rare: only when there are some)."""
    from conda.core.prefix_data import PrefixData

    prefix_data = PrefixData(str(prefix), interoperability=True)
    prefix_data.reload()  # PrefixData is cached per process: see pip's latest changes
    return sorted(
        ((rec.name, str(rec.version)) for rec in prefix_data.get_python_packages()),
        key=lambda p: p[0].lower(),
    )


def channel_name(raw: dict) -> str:
    """conda's canonical channel name for a record ('conda-forge', or a URL)."""
    from conda.models.channel import Channel

    url = raw.get("channel") or raw.get("url") or ""
    if not url:
        return ""
    try:
        return Channel(url).canonical_name
    except Exception:
        return str(url)


def package_list(state: EnvState) -> list[dict]:
    """Every package in the form of a snapshot's packages.json (and of a diff)."""
    from .redact import redact

    names: dict[str, str] = {}
    out = []
    for raw in state.conda:
        channel = raw.get("channel") or ""
        if channel not in names:
            names[channel] = redact(channel_name(raw))
        out.append(
            {
                "name": raw["name"],
                "version": str(raw.get("version", "")),
                "build": str(raw.get("build", "")),
                "channel": names[channel],
                "kind": "conda",
            }
        )
    out += [{"name": n, "version": v, "kind": "pypi"} for n, v in state.pip]
    return out
