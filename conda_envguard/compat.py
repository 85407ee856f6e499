"""Every difference between the conda release lines envguard supports (25.7 to main), and
every private conda attribute envguard reads.

One function per difference, each saying which conda needs which path. The rest of envguard
calls these and never looks at conda's version itself. Nothing here is imported at module
level beyond the standard library.

Not here, because no code has to choose: `conda_error_hints` (conda 26.7+) is an optional hook
in plugin.py, which older conda never calls; command names that differ by line are all in
plugin.GUARDED_COMMANDS.
"""

from __future__ import annotations

from contextlib import contextmanager


def health_check_fixers_supported() -> bool:
    """`CondaHealthCheck` takes a `fixer` (`conda doctor --fix`) from conda 26.1 on."""
    from conda.plugins.types import CondaHealthCheck

    return "fixer" in getattr(CondaHealthCheck, "__dataclass_fields__", {})


def env_create_replaces_existing(command: str, args) -> bool:
    """Does this `conda env create` replace an env that already exists at its target?

    From conda 26.7 `env create` arrives as `create` and replaces by default (--yes is its
    default). Before, it arrives as `env_create` and replaces only with --yes; without it,
    conda installs the file's packages into the existing env, a change, not a replacement.
    """
    if command != "env_create":
        return True
    return bool(getattr(args, "yes", False))


def name_prefix_from_env_file(path: str) -> tuple[str | None, str | None]:
    """The `name:` and `prefix:` of an environment file, as `conda env create` reads them.

    conda 26.3+ has `get_name_prefix_from_env_file`; before, envguard reads the YAML itself.
    """
    try:
        from conda.cli.common import get_name_prefix_from_env_file
    except ImportError:  # conda before 26.3
        pass
    else:
        return get_name_prefix_from_env_file(path)
    try:
        import yaml

        with open(path) as f:
            data = yaml.safe_load(f) or {}
        return data.get("name"), data.get("prefix")
    except Exception:
        return None, None


def command_as_newest_conda_names_it(command: str) -> str:
    """The name today's conda gives a command, so that a snapshot's trigger is the same on
    every line: `env remove` arrives as `env_remove` before conda 24.9 and `env create` as
    `env_create` before 26.7; both arrive as `remove` and `create` after."""
    return {"env_remove": "remove", "env_create": "create"}.get(command, command)


def record_creation_time(prefix) -> None:
    """Record when an env was made, as conda's own transaction does for a new env.

    conda 25.11+ writes it (`PrefixData.set_creation_time`, conda-meta's creation-time file,
    which `conda env list` and `conda info` read); earlier lines record nothing.
    """
    from conda.core.prefix_data import PrefixData

    prefix_data = PrefixData(str(prefix))
    if hasattr(prefix_data, "set_creation_time"):  # conda 25.11+
        prefix_data.set_creation_time()


def default_activation_prefix():
    """The env `conda remove --all` refuses as `default_activation_env`: conda 25.9+ refuses
    it (and has `context.default_activation_prefix`); conda 25.7 removes it like any env."""
    from conda.base.context import context

    return getattr(context, "default_activation_prefix", None)  # conda 25.9+


# -- conda's private attributes ----------------------------------------------------------------
# conda gives a pre-command plugin only the command's name. The parsed arguments and the
# configuration as each file spelled it exist only as private attributes, the same on every
# line from 25.7 to main. Each is read here and nowhere else; when one is missing (a conda
# that changed them), the caller fails closed on a command that could destroy an env.


class MissingCondaInternal(Exception):
    """A private conda attribute envguard relies on is not there."""


def command_arguments():
    """The parsed arguments of the conda command running now: `context._argparse_args`,
    private, a mapping of argument to value (`AttrDict`) that conda's `main` fills on every
    line from 25.7 to main; empty when no command's arguments were given to the context."""
    from conda.base.context import context

    args = getattr(context, "_argparse_args", None)
    if not args:
        raise MissingCondaInternal("conda's parsed arguments (context._argparse_args)")
    return args


def configuration_by_source() -> list[tuple[str, dict]]:
    """Every place conda read its configuration from, in conda's order (files, then
    `envvars`, then `cmd_line`), with its keys as conda's raw parameters: the private
    `context.raw_data`, the same from conda 25.7 to main. Unwrap a value with `raw_value`."""
    from conda.base.context import context

    data = getattr(context, "raw_data", None)
    if not isinstance(data, dict):
        raise MissingCondaInternal("conda's configuration by file (context.raw_data)")
    return [(str(source), keys) for source, keys in data.items()]


def raw_value(raw):
    """A raw configuration parameter's value as its file spelled it: a scalar, a list of raw
    parameters or a mapping of names to raw parameters (`RawParameter.value`, private)."""
    return raw.value(None)


@contextmanager
def extra_package_cache(pkgs_dir: str):
    """conda also reads the package cache `pkgs_dir`, after its own, in this process only.

    conda has no public way to change `pkgs_dirs` in a running process. From 25.7 to main
    `context.pkgs_dirs` reads `context._pkgs_dirs`, whose value conda's `ParameterLoader`
    caches in `context._cache_`: set there for the duration, put back after. A conda without
    it raises AttributeError here, and the caller uses no kept package (fail closed).
    """
    from conda.base.context import context
    from conda.core.package_cache_data import PackageCacheData

    cache = context._cache_
    key = "_pkgs_dirs"
    had, old = key in cache, cache.get(key)
    cache[key] = (*context.pkgs_dirs, pkgs_dir)
    try:
        yield
    finally:
        if had:
            cache[key] = old
        else:
            cache.pop(key, None)
        PackageCacheData._cache_.pop(pkgs_dir, None)  # conda's per-directory cache of it


def cleaned_as_archive(file_name: str) -> bool:
    """Does `conda clean --tarballs` (and `--all`) count this file of a package cache as a
    package archive? conda 26.1+ asks the package extractors (plugins may add extensions),
    after taking off a download's `.partial`; before, the fixed `.tar.bz2`/`.conda` and
    their `.part` downloads."""
    from conda.base import constants

    partial = getattr(constants, "PARTIAL_EXTENSION", None)
    if partial is None:  # conda before 26.1
        names = (*constants.CONDA_PACKAGE_EXTENSIONS, *constants.CONDA_PACKAGE_PARTS)
        return file_name.endswith(names)
    from conda.base.context import context

    return bool(context.plugin_manager.has_package_extension(file_name.removesuffix(partial)))


def extract_package(archive: str, dest: str, extracted=None) -> None:
    """Extract a `.conda` or `.tar.bz2` into `dest` (new). `extracted`, an
    `untar.Extracted`, gets the size and sha256 of each regular file, summed as it was
    written (so no file is read back to be checked), and the symlinks.

    On POSIX, `untar` extracts it (ten times faster on small files: see why there). A
    package it leaves to conda, and every package on Windows, goes through
    conda_package_streaming's extractor and checks, as conda_package_handling's `extract`
    does, but reading the tar a MB at a time: its default of 10 KB made extracting a GB
    package cost Python calls, not decompression.

    conda_package_streaming names its zstd module `zstd` (stdlib `compression.zstd` or
    `backports.zstd`) from 0.12 on; conda installs that shipped an older one (`zstandard`)
    extract as conda itself does, and `extracted` stays empty."""
    import os
    import shutil
    from functools import partial

    from conda_package_streaming import package_streaming as streaming
    from conda_package_streaming.extract import extract_stream

    from . import untar

    extracted = untar.Extracted() if extracted is None else extracted
    zstd = getattr(streaming, "zstd", None)
    if archive.endswith(".conda") and not hasattr(zstd, "open"):
        from conda_package_handling.api import extract

        extracted.exact = False
        extract(archive, dest_dir=dest)
        return
    os.makedirs(dest)
    if os.name == "posix":
        try:
            for reader in _tar_streams(archive, zstd):
                untar.extract_stream(reader, dest, extracted)
            return
        except untar.Unusual:  # conda's extractor decides, from the start
            shutil.rmtree(dest)
            os.makedirs(dest)
            extracted.forget()
    summing = type("Summing", (_Summing, streaming.TarfileNoSameOwner), {"sums": {}})
    opener = partial(summing.open, bufsize=1 << 20, copybufsize=1 << 20)
    for reader in _tar_streams(archive, zstd):
        extract_stream(streaming.tar_generator(reader, opener), dest)
    extracted.files.update(summing.sums)
    extracted.exact = False


def _tar_streams(archive: str, zstd):
    """The decompressed tar streams of a package: a `.conda`'s pkg then info, or the one of
    a `.tar.bz2`."""
    import bz2
    import os
    import zipfile

    if archive.endswith(".conda"):
        stem = os.path.basename(archive)[: -len(".conda")]
        with zipfile.ZipFile(archive) as zf:
            for component in ("pkg", "info"):
                with zstd.open(zf.open(f"{component}-{stem}.tar.zst")) as reader:
                    yield reader
    else:
        with bz2.open(archive) as reader:
            yield reader


class _Summing:
    """A tarfile.TarFile that sums each regular file as it writes it (`makefile` is how
    TarFile writes one, in every Python conda runs on). A path that a later member of
    another kind replaces loses its sum: it is then read back to be checked."""

    sums: dict[str, tuple[int, str]]

    def makefile(self, tarinfo, targetpath) -> None:
        import hashlib
        import tarfile

        if tarinfo.sparse is not None:
            self.sums.pop(_normal(tarinfo.name), None)
            return super().makefile(tarinfo, targetpath)
        source, left, digest = self.fileobj, tarinfo.size, hashlib.sha256()
        source.seek(tarinfo.offset_data)
        with open(targetpath, "wb") as target:
            while left:
                block = source.read(min(left, self.copybufsize))
                if not block:
                    raise tarfile.ReadError("unexpected end of data")
                digest.update(block)
                target.write(block)
                left -= len(block)
        self.sums[_normal(tarinfo.name)] = tarinfo.size, digest.hexdigest()

    def makelink(self, tarinfo, targetpath) -> None:
        self.sums.pop(_normal(tarinfo.name), None)
        return super().makelink(tarinfo, targetpath)

    def makedir(self, tarinfo, targetpath) -> None:
        self.sums.pop(_normal(tarinfo.name), None)
        return super().makedir(tarinfo, targetpath)


def _normal(name: str) -> str:
    import posixpath

    return posixpath.normpath(name)
