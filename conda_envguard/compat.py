"""Every difference between the conda release lines envguard supports (25.7 to main).

One function per difference, each saying which conda needs which path. The rest of envguard
calls these and never looks at conda's version itself. Nothing here is imported at module
level beyond the standard library.

Not here, because no code has to choose: `conda_error_hints` (conda 26.7+) is an optional hook
in plugin.py, which older conda never calls; command names that differ by line are all in
plugin.GUARDED_COMMANDS.
"""

from __future__ import annotations


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
