"""The manifest's JSON Schema (draft 2020-12, ``schema.json`` beside this module) and validation."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

SCHEMA_FILE = "schema.json"
_MAX_MESSAGE = 240


@functools.cache
def package_schema(file_name: str) -> dict:
    """A JSON Schema shipped beside this module (``file_name``), read once."""
    text = resources.files("dlsuite.serving.manifest").joinpath(file_name).read_text("utf-8")
    return json.loads(text)


def load_schema() -> dict:
    """The manifest schema, read once from the package data."""
    return package_schema(SCHEMA_FILE)


def schema_errors(schema: Any, document: Any, *, check_formats: bool = False) -> list[str]:
    """``"$.json.path: message"`` lines of ``document`` against ``schema``, sorted (empty =
    valid); the validator class is the one the schema's ``$schema`` names, and ``check_formats``
    also checks ``format`` keywords (dates, URIs)."""
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER if check_formats else None)
    lines = []
    for error in validator.iter_errors(document):
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        lines.append(f"{error.json_path}: {message}")
    return sorted(set(lines))


def validate_manifest(manifest: Any) -> list[str]:
    """Schema errors as ``"$.json.path: message"`` lines, sorted by path (empty = valid)."""
    return schema_errors(load_schema(), manifest)
