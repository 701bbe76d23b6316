"""File digests of a model version: write them into the manifest and check them later.

The integrity section lists the SHA-256 and size of every file under the version folder (relative
POSIX paths), except ``assets.extra/manifest.json`` itself and the signature
``assets.extra/model.sig`` (`serving.manifest.signing`), which is written after the manifest and
covers it. `verify_version` recomputes them, so any change, removal or addition of a file is
reported before a server loads the version.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlsuite.base.files import atomic_write_json, read_json, sha256_file
from dlsuite.serving.manifest.schema import validate_manifest

MANIFEST_DIR = "assets.extra"
MANIFEST_FILE = "manifest.json"
MANIFEST_RELPATH = f"{MANIFEST_DIR}/{MANIFEST_FILE}"
SIGNATURE_RELPATH = f"{MANIFEST_DIR}/model.sig"
_NOT_DESCRIBED = (MANIFEST_RELPATH, SIGNATURE_RELPATH)


def manifest_path(version_dir: str | os.PathLike[str]) -> Path:
    """Where a version keeps its manifest."""
    return Path(version_dir) / MANIFEST_DIR / MANIFEST_FILE


def signature_path(version_dir: str | os.PathLike[str]) -> Path:
    """Where a version keeps its model-signing signature."""
    return Path(version_dir) / SIGNATURE_RELPATH


def resolve_manifest_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it is a file, else the manifest of the version folder ``path``."""
    path = Path(path)
    if path.is_dir():
        path = manifest_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no manifest at {path}")
    return path


def load_manifest(path: str | os.PathLike[str]) -> dict:
    """Read a manifest from a ``manifest.json`` file or a version folder."""
    manifest = read_json(resolve_manifest_path(path))
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: a manifest is a JSON object, not {type(manifest).__name__}")
    return manifest


def version_files(version_dir: str | os.PathLike[str]) -> list[str]:
    """Sorted relative POSIX paths of every file of the version, without the manifest and the
    signature."""
    root = Path(version_dir)
    files = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            rel = (Path(dirpath) / filename).relative_to(root).as_posix()
            if rel not in _NOT_DESCRIBED:
                files.append(rel)
    return sorted(files)


def compute_integrity(version_dir: str | os.PathLike[str]) -> dict:
    """The integrity section for the files now in ``version_dir``."""
    root = Path(version_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such version folder: {root}")
    files = {
        rel: {"sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
        for rel in version_files(root)
    }
    if not files:
        raise ValueError(f"{root} holds no files to describe")
    return {"algorithm": "sha256", "excluded": list(_NOT_DESCRIBED), "files": files}


def write_manifest(version_dir: str | os.PathLike[str], manifest: dict) -> Path:
    """Add the integrity section, validate, and write ``assets.extra/manifest.json`` atomically.

    Write it last, after every other file of the version. Raises `ValueError` listing the schema
    errors when the manifest is invalid (nothing is written then). Returns the manifest path.
    """
    full = {**manifest, "integrity": compute_integrity(version_dir)}
    errors = validate_manifest(full)
    if errors:
        raise ValueError("the manifest does not match its schema:\n  " + "\n  ".join(errors))
    return atomic_write_json(manifest_path(version_dir), full)


def verify_version(version_dir: str | os.PathLike[str]) -> list[str]:
    """One readable line per changed, missing or added file (empty list = the version is intact)."""
    root = Path(version_dir)
    if not root.is_dir():
        return [f"no such version folder: {root}"]
    path = manifest_path(root)
    if not path.is_file():
        return [f"missing manifest: {MANIFEST_RELPATH} (the version cannot be verified)"]
    try:
        manifest = read_json(path)
    except ValueError as err:
        return [f"unreadable manifest: {err}"]
    integrity = manifest.get("integrity") if isinstance(manifest, dict) else None
    if not isinstance(integrity, dict) or not isinstance(integrity.get("files"), dict):
        return [f"{MANIFEST_RELPATH} has no integrity.files section"]
    recorded = integrity["files"]
    if not recorded:
        return [f"{MANIFEST_RELPATH} lists no files in integrity.files"]
    if integrity.get("algorithm", "sha256") != "sha256":
        return [f"unsupported integrity algorithm {integrity.get('algorithm')!r} (expected sha256)"]

    problems = []
    present = set(version_files(root))
    for rel in sorted(recorded):
        entry = recorded[rel]
        expected = entry.get("sha256") if isinstance(entry, dict) else entry
        if rel not in present:
            problems.append(f"missing: {rel}")
            continue
        actual = sha256_file(root / rel)
        if actual != expected:
            problems.append(
                f"changed: {rel} (sha256 {str(expected)[:12]}... recorded, {actual[:12]}... now)"
            )
    for rel in sorted(present - set(recorded)):
        problems.append(f"added: {rel}")
    return problems
