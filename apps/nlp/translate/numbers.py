"""``builtin:numbers``: translating numbers written in words between languages,
made with ``num2words``.

``num2words`` (Savoir-faire Linux) spells an integer out in many languages by each language's own
grammar: English "three hundred and twelve", German "dreihundertzwölf" (one compound word),
French "trois cent douze", Spanish "trescientos doce". A pair of languages ("en-de", "de-en",
"en-fr", ...; `apps.nlp.translate.config.PAIRS`) turns ``count`` distinct integers drawn from
``[0, max_number]`` into (source words, target words) sentence pairs. The numbers are drawn and
ordered by a seeded generator, and the train/validation/test split is a split of the numbers, so a
held-out sentence never shares its number with a training sentence. Deterministic for a given
num2words version.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from dlsuite.apps.nlp.translate.config import parse_pair


def generate(pair: str, count: int, max_number: int, seed: int) -> dict[str, Any]:
    """``{"sources": [...], "targets": [...], "numbers": [...], "version": str}``
    of ``count`` distinct numbers.

    Raises:
        ValueError: for an unknown pair, or more numbers than ``[0, max_number]`` holds.
    """
    import numpy as np
    from num2words import num2words

    source, target = parse_pair(pair)
    if count > max_number + 1:
        raise ValueError(
            f"numbers_count={count} distinct numbers do not fit in [0, numbers_max={max_number}]"
        )
    numbers = np.random.default_rng(seed).choice(max_number + 1, size=count, replace=False).tolist()
    return {
        "sources": [num2words(n, lang=source) for n in numbers],
        "targets": [num2words(n, lang=target) for n in numbers],
        "numbers": numbers,
        "version": f"num2words {version('num2words')}",
    }
