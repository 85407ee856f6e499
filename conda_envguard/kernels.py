"""Jupyter kernelspecs of an env: recorded, taken out of Jupyter with the env, put back with it."""

from __future__ import annotations


def hide_kernels(entry) -> None:
    """Placeholder until kernelspecs are tracked."""


def restore_kernels(entry, prefix) -> None:
    """Placeholder until kernelspecs are tracked."""
