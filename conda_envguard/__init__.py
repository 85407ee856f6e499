"""conda-envguard: a conda plugin that makes losing a conda environment hard."""

__version__ = "0.1.0"
