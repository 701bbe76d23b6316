"""The ``--data`` source strings of the NLP tasks.

Every task reads ``kind:name`` sources (`parse_text_source`); each task's ``data.py`` says which
kinds and names it accepts. Shared by the task packages, so it imports none of them.
"""

from __future__ import annotations

from dlsuite.apps.common.data import DataSpec, parse_source


def parse_text_source(source: str) -> DataSpec:
    """`apps.common.data.parse_source` plus ``file:<path>`` for text files."""
    if source.startswith("file:") and source[len("file:") :]:
        return DataSpec("file", source[len("file:") :])
    try:
        return parse_source(source)
    except ValueError:
        raise ValueError(
            f"data source must be tfds:<name>, dir:<path>, file:<.csv|.tsv|.jsonl> or "
            f"builtin:<name>. Received: {source!r}"
        ) from None
