"""The manifest's JSON Schema (draft 2020-12, ``schema.json`` beside this module) and validation."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

SCHEMA_FILE = "schema.json"
_MAX_MESSAGE = 240


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The manifest schema, read once from the package data."""
    text = (
        resources.files("dlsuite.serving.manifest")
        .joinpath(SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def validate_manifest(manifest: Any) -> list[str]:
    """Schema errors as ``"$.json.path: message"`` lines, sorted by path (empty = valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    lines = []
    for error in validator.iter_errors(manifest):
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        lines.append(f"{error.json_path}: {message}")
    return sorted(set(lines))
