"""``builtin:phrases``: short spoken phrases with transcripts,
rendered offline by eSpeak NG, cached on disk.

Each phrase is `MIN_WORDS`..`MAX_WORDS` words drawn uniformly from `WORDS` (the ten digits and ten
Speech Commands keywords), e.g. "left seven go". Every voice of `apps.speech.spoken.voices` says
`PHRASES_PER_PROSODY` different phrases at each of the three rates and pitches of
`spoken.PROSODY`; `spoken.render` trims, resamples, places and mixes each clip with noise exactly
as for ``builtin:digits``, and whole voices are held out for the test split. Generation is seeded
(the same caveat as for the digits: eSpeak NG varies slightly between calls) and takes about 25 s
on a CPU; the result is stored as ``phrases-<digest>.npz`` (int16 clips, transcripts,
voice names) in the cache folder. At 130 words per minute a three-word phrase lasts up to
about 1.8 s, so clips need ``clip_ms`` of 2000 or more.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dlsuite.apps.speech import spoken

WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
)
MIN_WORDS, MAX_WORDS = 2, 3
PHRASES_PER_PROSODY = 10
GENERATOR_VERSION = 1
SEED = 20251


def load(
    sample_rate: int, num_samples: int, cache_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The clips as
    ``{"audio": int16 (N, num_samples), "text", "held_out", "voice", "description"}``.

    Generated on first use and cached under ``cache_dir``.

    Raises:
        ValueError: a phrase does not fit in ``num_samples`` (raise ``clip_ms``).
    """
    params = {
        "version": GENERATOR_VERSION,
        "seed": SEED,
        "sample_rate": sample_rate,
        "num_samples": num_samples,
        "words": WORDS,
        "min_words": MIN_WORDS,
        "max_words": MAX_WORDS,
        "per_prosody": PHRASES_PER_PROSODY,
        "voices": spoken.voices(),
        "prosody": spoken.PROSODY,
        "snrs": spoken.SNRS_DB,
        "noises": spoken.NOISES,
        "babble_extra_db": spoken.BABBLE_EXTRA_DB,
        "espeakng_loader": spoken.engine_version(),
    }
    data, path = spoken.load_cached(
        "phrases", params, lambda: _generate(sample_rate, num_samples), cache_dir
    )
    data["description"] = spoken.describe(
        f"spoken phrases of {MIN_WORDS}-{MAX_WORDS} words from {len(WORDS)}",
        len(data["audio"]),
        path,
    )
    return data


def phrase_texts(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` phrases of `MIN_WORDS`..`MAX_WORDS` words drawn uniformly from `WORDS`."""
    lengths = rng.integers(MIN_WORDS, MAX_WORDS + 1, size=count)
    return [" ".join(WORDS[i] for i in rng.integers(len(WORDS), size=n)) for n in lengths]


def _generate(sample_rate: int, num_samples: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    clips = [
        spoken.Clip(text, voice, held_out, rate, pitch)
        for voice, held_out in spoken.voices()
        for rate, pitch in spoken.PROSODY
        for text in phrase_texts(PHRASES_PER_PROSODY, rng)
    ]
    audio = spoken.render(clips, sample_rate, num_samples, rng)
    return {
        "audio": audio,
        "text": np.asarray([c.text for c in clips]),
        "held_out": np.asarray([c.held_out for c in clips]),
        "voice": np.asarray([c.voice for c in clips]),
    }
