"""The ``--data`` source strings of the NLP tasks, and the seeded split of one labelled set.

Every task reads ``kind:name`` sources (`parse_text_source`); each task's ``data.py`` says which
kinds and names it accepts. Shared by the task packages, so it imports none of them.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.common.data import DataSpec, parse_source, split_by_index
from dlsuite.apps.nlp.config import NLPConfig


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


def three_way_split(dataset: Any, count: int, config: NLPConfig) -> dict[str, tuple[Any, int]]:
    """Seeded train/validation/test split of one set of ``count`` examples
    (``test_fraction``, ``validation_fraction`` of the rest, ``split_seed``).
    """
    test = config.test_fraction
    validation = config.validation_fraction * (1.0 - test)
    return split_by_index(
        dataset,
        count,
        {"train": 1.0 - test - validation, "validation": validation, "test": test},
        config.split_seed,
    )
