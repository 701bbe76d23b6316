"""What changed between two versions of a model: their manifests compared field by field.

Annex IV point 6 of Regulation (EU) 2024/1689 asks for a description of the changes made to a
system through its lifecycle; `diff_manifests` lists them from two versions' manifests: one
`Change` per field that differs (nested mappings are compared key by key, a list is one value),
grouped by section (`SECTIONS`: data, hyper-parameters, training, energy, metrics, model, files,
...). A file of the version is one field: added, removed, or changed (its SHA-256 and size).
`format_changes` renders them as text, `changes_json` as a JSON object.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# (section, path prefix): a change belongs to the first section whose prefix starts its path;
# a top-level key not listed here is its own section, after these.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("data", ("training", "data")),
    ("hyper-parameters", ("training", "hyperparameters")),
    ("energy", ("training", "energy")),
    ("training", ("training",)),
    ("metrics", ("evaluation",)),
    ("model", ("model",)),
    ("files", ("integrity", "files")),
    ("identity", ("identity",)),
    ("intended use", ("intended_use",)),
    ("limitations", ("limitations",)),
    ("provenance", ("provenance",)),
)
_FILES = ("integrity", "files")
_MAX_VALUE = 100  # characters of a value in the text rendering


@dataclasses.dataclass(frozen=True)
class Change:
    """One field that differs: ``kind`` is ``"changed"``, ``"added"`` (only in the second
    manifest; ``old`` is None) or ``"removed"`` (only in the first; ``new`` is None); ``path`` is
    dotted, with keys holding dots or slashes quoted (``integrity.files["saved_model.pb"]``)."""

    section: str
    path: str
    kind: str
    old: Any = None
    new: Any = None


def _same(a: Any, b: Any) -> bool:
    """JSON equality where ``true`` differs from ``1`` (and ``1`` equals ``1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _walk(
    old: Any, new: Any, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], str, Any, Any]]:
    # a file entry ({sha256, bytes}) is compared whole: one change per file
    if isinstance(old, Mapping) and isinstance(new, Mapping) and path[:-1] != _FILES:
        for key in sorted(set(old) | set(new), key=str):
            if key not in new:
                yield (*path, str(key)), "removed", old[key], None
            elif key not in old:
                yield (*path, str(key)), "added", None, new[key]
            else:
                yield from _walk(old[key], new[key], (*path, str(key)))
    elif not _same(old, new):
        yield path, "changed", old, new


def _section(path: tuple[str, ...]) -> tuple[int, str]:
    for rank, (name, prefix) in enumerate(SECTIONS):
        if path[: len(prefix)] == prefix:
            return rank, name
    return len(SECTIONS), path[0]


def _dotted(path: Sequence[str]) -> str:
    return "".join(
        (f"[{json.dumps(key)}]" if any(c in key for c in './ []"') else f".{key}") for key in path
    ).lstrip(".")


def diff_manifests(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Every field that differs between manifests ``a`` (old) and ``b`` (new), in `SECTIONS`
    order then by path; empty when they are equal."""
    found = []
    for path, kind, old, new in _walk(a, b, ()):
        rank, section = _section(path)
        found.append((rank, section, path, Change(section, _dotted(path), kind, old, new)))
    return [change for *_, change in sorted(found, key=lambda row: row[:3])]


def _short(value: Any) -> str:
    if isinstance(value, Mapping) and "sha256" in value:  # a file entry
        return f"sha256 {str(value['sha256'])[:12]}... ({value.get('bytes')} bytes)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def format_changes(changes: Sequence[Change], a_label: str, b_label: str) -> str:
    """A readable listing: a header, then each section and its changes (``~`` changed, ``+``
    added, ``-`` removed), long values shortened; one line when there are none."""
    if not changes:
        return f"{a_label} and {b_label}: no differences\n"
    lines = [f"--- {a_label}", f"+++ {b_label}", f"{len(changes)} change(s)"]
    section = None
    for change in changes:
        if change.section != section:
            section = change.section
            lines.append(f"{section}:")
        if change.kind == "changed":
            lines.append(f"  ~ {change.path}: {_short(change.old)} -> {_short(change.new)}")
        elif change.kind == "added":
            lines.append(f"  + {change.path}: {_short(change.new)}")
        else:
            lines.append(f"  - {change.path}: {_short(change.old)}")
    return "\n".join(lines) + "\n"


def changes_json(changes: Sequence[Change], a_label: str, b_label: str) -> dict[str, Any]:
    """``{"a", "b", "identical", "changes": [{section, path, kind, old, new}, ...]}`` with the
    values in full."""
    return {
        "a": a_label,
        "b": b_label,
        "identical": not changes,
        "changes": [dataclasses.asdict(change) for change in changes],
    }
