"""Versions of the software that trains and exports models (for metrics.json and the manifest)."""

from __future__ import annotations

import platform
from importlib import metadata


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def suite_version() -> str:
    """The installed dlsuite version (``0+unknown`` when running from an uninstalled tree)."""
    return _version("dlsuite") or "0+unknown"


def framework_versions() -> dict[str, str | None]:
    """Python, TensorFlow, Keras and dlsuite versions of this environment."""
    return {
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "dlsuite": suite_version(),
    }
