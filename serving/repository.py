"""The model repository layout that TF Serving polls: ``<base>/<model_name>/<version>/``.

A version is a folder whose whole name parses as a non-negative int64, leading zeros allowed
(TF Serving's own test repositories use ``00000123``); anything else in a model's folder (for
example ``tflite/`` or a ``.tmp-*`` folder being written) is ignored, as TF Serving ignores it.
New versions are written into a hidden temporary folder and renamed into place, so a poller sees a
version complete or not at all.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_VERSION_DIR = re.compile(r"^[0-9]+$")
_INT64_MAX = 2**63 - 1


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a safe model name (letters, digits, ``_ . -``), else raise."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name) or ".." in name:
        raise ValueError(
            "model name must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or "
            f"digit, and may not contain '..'. Received: {name!r}"
        )
    return name


def model_dir(base_path: str | os.PathLike[str], name: str) -> Path:
    """``<base_path>/<name>``, refusing names that could escape ``base_path``."""
    return Path(base_path) / check_model_name(name)


def parse_version_dir_name(name: str) -> int | None:
    """The version a folder name stands for (``"00000123"`` -> 123), or None if it is not one.

    As TF Serving's file-system source: the whole name must be ASCII digits and fit in an int64.
    """
    if not _VERSION_DIR.match(name):
        return None
    version = int(name)
    return version if version <= _INT64_MAX else None


def version_dirs(model_path: str | os.PathLike[str]) -> dict[int, Path]:
    """``{version: folder}`` under a model's folder (empty if the folder is absent).

    When two folders name the same version (``123`` and ``00000123``), the one whose name sorts
    first is taken, so the choice does not depend on the order the file system lists them in.
    """
    path = Path(model_path)
    if not path.is_dir():
        return {}
    found: dict[int, Path] = {}
    for child in sorted(path.iterdir(), key=lambda c: c.name):
        version = parse_version_dir_name(child.name)
        if version is not None and version not in found and child.is_dir():
            found[version] = child
    return dict(sorted(found.items()))


def list_versions(model_path: str | os.PathLike[str]) -> list[int]:
    """Sorted version numbers found under a model's folder (empty if the folder is absent)."""
    return list(version_dirs(model_path))


def next_version(model_path: str | os.PathLike[str]) -> int:
    """The next version number: highest existing version + 1, or 1."""
    versions = list_versions(model_path)
    return versions[-1] + 1 if versions else 1


@contextlib.contextmanager
def new_version_dir(model_path: str | os.PathLike[str]) -> Iterator[tuple[int, Path]]:
    """Yield ``(version, tmp_dir)`` to write a new version into; publish it atomically on success.

    The caller writes the whole version (files that name the version number included) into
    ``tmp_dir``. On normal exit the folder is renamed to ``<model_path>/<version>``. If another
    writer published that number meanwhile, the temporary folder is removed and `FileExistsError`
    is raised, rather than renumbering files that already name their version. On an exception the
    temporary folder is removed and nothing is published.
    """
    model_path = Path(model_path)
    model_path.mkdir(parents=True, exist_ok=True)
    version = next_version(model_path)
    tmp = model_path / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield version, tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_version(tmp, model_path, version)


def publish_version(tmp: Path, model_path: Path, version: int) -> Path:
    """Rename a finished temporary folder to ``<model_path>/<version>``
    (atomic on one filesystem).
    """
    target = model_path / str(version)
    try:
        os.rename(tmp, target)  # fails if target exists (non-empty), never merges
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FileExistsError(
            f"version {version} of {model_path.name} appeared while it was being written; "
            "export again to take the next number"
        ) from None
    return target
