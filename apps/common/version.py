"""The installed dlsuite version."""

from __future__ import annotations


def suite_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlsuite")
    except PackageNotFoundError:
        return "0+unknown"
