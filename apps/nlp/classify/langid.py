"""``builtin:langid``: language identification over sentences Faker writes in several languages.

Faker's lorem providers hold real word lists of each language (about 500 to 1,500 common words
for de_DE, en_US, es_ES, fr_FR, it_IT and nl_NL), and ``Faker(locale).sentence()`` strings
3 to 12 of them into a capitalised sentence with a full stop. The sentences are seeded and
deterministic for a given Faker version. Sentences are deduplicated after lowercasing and
whitespace normalization (the tokenizers lowercase), and one that two languages both produce is
dropped, so a train/validation/test split of the distinct sentences never shares a sentence.
Locales without their own word list fall back to Latin lorem ipsum and are refused.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

MIN_WORDS, MAX_WORDS = 3, 12


def _key(sentence: str) -> str:
    return " ".join(sentence.lower().split())


def generate(locales: Sequence[str], per_language: int, seed: int) -> dict[str, Any]:
    """``{"texts": [...], "labels": [...], "class_names": [...], "version": str}``,
    class order = ``locales``.

    Raises:
        ValueError: for a locale Faker does not know or that has no word list of its own.
    """
    import faker
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    latin = set(Faker("la").get_words_list()) if "la" in AVAILABLE_LOCALES else set()
    by_key: dict[str, tuple[str, int]] = {}
    shared: set[str] = set()
    for label, locale in enumerate(locales):
        if locale not in AVAILABLE_LOCALES:
            raise ValueError(f"unknown Faker locale {locale!r} in langid_locales")
        fake = Faker(locale)
        if set(fake.get_words_list()) <= latin:
            raise ValueError(
                f"Faker has no word list for {locale!r} (it falls back to Latin lorem ipsum); "
                f"pick another locale in langid_locales"
            )
        fake.seed_instance(seed + label)
        lengths = random.Random(seed * 1000 + label)
        own: set[str] = set()
        attempts = 0
        while len(own) < per_language:
            attempts += 1
            if attempts > 20 * per_language:
                raise ValueError(
                    f"Faker {locale!r} produced only {len(own)} distinct sentences; "
                    f"lower langid_sentences={per_language}"
                )
            sentence = fake.sentence(
                nb_words=lengths.randint(MIN_WORDS, MAX_WORDS), variable_nb_words=False
            )
            key = _key(sentence)
            if key in own:
                continue
            own.add(key)
            if key in by_key and by_key[key][1] != label:
                shared.add(key)
            by_key.setdefault(key, (sentence, label))
    kept = [(text, label) for key, (text, label) in by_key.items() if key not in shared]
    return {
        "texts": [t for t, _ in kept],
        "labels": [lab for _, lab in kept],
        "class_names": list(locales),
        "version": f"Faker {faker.VERSION}",
        "dropped_shared": len(shared),
    }
