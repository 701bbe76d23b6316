"""Fields only a person can know: load them from a YAML/JSON file and keyword overrides, check them.

The person file is a small mapping (``docs/manifest_example.yaml`` is a complete example). Nested
fields can be written nested (``provider: {name: ..., contact: ...}``) or, in overrides, as dotted
keys (``{"provider.name": "ACME"}``); both forms are merged into the same nested dict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dlsuite.serving.manifest.gpai_summary import check_summary_fields

# Dotted paths into the person mapping. `general_purpose_ai` must be a boolean (False is a value).
REQUIRED_PERSON_FIELDS: tuple[str, ...] = (
    "license",
    "provider.name",
    "provider.contact",
    "intended_purpose",
    "intended_users",
    "out_of_scope_uses",
    "risk.classification",
    "general_purpose_ai",
    "limitations",
    "known_risks",
    "human_oversight",
)

# Top-level keys a person file may hold; anything else is a typo and raises.
OPTIONAL_PERSON_FIELDS: tuple[str, ...] = (
    "description",
    "data_provenance",
    "post_market_monitoring",
    "energy",
    "synthetic_content_marking",
    "training_content_summary",
)
PERSON_KEYS: frozenset[str] = frozenset(
    [field.split(".")[0] for field in REQUIRED_PERSON_FIELDS] + list(OPTIONAL_PERSON_FIELDS)
)

# Regulation (EU) 2024/1689: Art. 5 (prohibited), Art. 6 + Annex III (high-risk), Art. 50
# (transparency obligations), everything else (minimal).
RISK_CLASSES: tuple[str, ...] = ("prohibited", "high_risk", "transparency", "minimal")
# Annex III points 1-8, in order.
ANNEX_III_AREAS: tuple[str, ...] = (
    "biometrics",
    "critical_infrastructure",
    "education_and_vocational_training",
    "employment_and_workers_management",
    "essential_private_and_public_services",
    "law_enforcement",
    "migration_asylum_and_border_control",
    "administration_of_justice_and_democratic_processes",
)
_LIST_FIELDS = ("intended_users", "out_of_scope_uses", "limitations", "known_risks")


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict:
    """Return ``base`` updated by ``update``; nested mappings merge, other values replace."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        elif isinstance(value, Mapping):
            merged[key] = deep_merge({}, value)
        else:
            merged[key] = value
    return merged


def expand_dotted(flat: Mapping[str, Any]) -> dict:
    """``{"provider.name": "x"}`` -> ``{"provider": {"name": "x"}}``; plain keys pass through."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ValueError(f"override keys must be non-empty dotted names. Received: {key!r}")
        *parents, leaf = key.split(".")
        update: dict[str, Any] = {leaf: value}
        for parent in reversed(parents):
            update = {parent: update}
        nested = deep_merge(nested, update)
    return nested


def parse_assignments(items: Iterable[str]) -> dict:
    """Parse CLI ``KEY=VALUE`` strings (``provider.name=ACME``, ``intended_users=[a, b]``).

    Values are read as YAML, so ``true``, numbers and ``[a, b]`` lists work; returns a flat dict
    with dotted keys, ready for `load_person_fields(..., overrides=...)`.
    """
    import yaml

    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(
                f"expected KEY=VALUE (for example provider.name=ACME). Received: {item!r}"
            )
        try:
            parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            parsed[key.strip()] = raw
    return parsed


def _check_keys(person: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(person) - PERSON_KEYS)
    if unknown:
        raise ValueError(
            f"unknown manifest field(s) {unknown} in {where}; known fields: {sorted(PERSON_KEYS)}"
        )


def load_person_fields(
    path: str | os.PathLike[str] | None, overrides: Mapping[str, Any] | None = None
) -> dict:
    """Read the person-filled manifest fields from a YAML/JSON file and apply ``overrides``.

    ``path`` may be None (overrides only). Files ending in ``.json`` are read as JSON, anything
    else as YAML. ``overrides`` keys may be dotted (``"risk.classification"``) or plain with
    nested mapping values; they win over the file. Unknown top-level keys raise `ValueError`.
    Required fields are checked later, by `build_manifest` (see `missing_person_fields`).
    """
    person: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such manifest fields file: {path}")
        text = path.read_text(encoding="utf-8")
        import yaml

        try:
            loaded = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as err:
            raise ValueError(
                f"{path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {err}"
            ) from err
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise ValueError(
                f"{path} must hold a mapping of field: value, not {type(loaded).__name__}"
            )
        _check_keys(loaded, str(path))
        person = deep_merge(person, loaded)
    if overrides:
        expanded = expand_dotted(overrides)
        _check_keys(expanded, "overrides")
        person = deep_merge(person, expanded)
    return person


def _get(person: Mapping[str, Any], dotted: str) -> Any:
    value: Any = person
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return not value or all(isinstance(v, str) and not v.strip() for v in value)
    return False


def missing_person_fields(person: Mapping[str, Any]) -> list[str]:
    """One line per required person field that is missing or invalid (empty list = complete)."""
    problems = [f"{key} (unknown field)" for key in sorted(set(person) - PERSON_KEYS)]
    problems += [
        f"{field} (missing)" for field in REQUIRED_PERSON_FIELDS if _is_missing(_get(person, field))
    ]
    gpai = _get(person, "general_purpose_ai")
    if gpai is not None and not isinstance(gpai, bool):
        problems.append(f"general_purpose_ai (must be true or false, got {gpai!r})")
    for field in _LIST_FIELDS:
        value = _get(person, field)
        if not _is_missing(value) and not isinstance(value, (str, list, tuple)):
            problems.append(f"{field} (must be a list of strings, got {type(value).__name__})")
    for field in ("energy", "synthetic_content_marking"):
        if person.get(field) is not None and not isinstance(person[field], Mapping):
            problems.append(f"{field} (must be a mapping, got {type(person[field]).__name__})")
    problems += check_summary_fields(person.get("training_content_summary"))
    risk = _get(person, "risk.classification")
    if not _is_missing(risk) and risk not in RISK_CLASSES:
        problems.append(f"risk.classification (must be one of {list(RISK_CLASSES)}, got {risk!r})")
    if risk == "high_risk":
        area = _get(person, "risk.annex_iii_area")
        if _is_missing(area):
            problems.append(
                "risk.annex_iii_area (missing; required when high_risk, "
                f"one of {list(ANNEX_III_AREAS)})"
            )
        elif area not in ANNEX_III_AREAS:
            problems.append(
                f"risk.annex_iii_area (must be one of {list(ANNEX_III_AREAS)}, got {area!r})"
            )
    return problems


def as_list(value: Any) -> list[str]:
    """A person list field as a list of strings (a single string becomes a one-item list)."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if not (isinstance(v, str) and not v.strip())]
