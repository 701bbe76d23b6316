"""``builtin:digits``: spoken digits "zero".."nine" rendered offline by eSpeak NG, cached on disk.

Every voice of `apps.speech.spoken.voices` says every digit at the three speaking rates and
pitches of `spoken.PROSODY`; `spoken.render` trims, resamples, places and mixes each clip with
noise. Whole voices are held out for the test split: the test variants are never heard in
training, in any accent. Generation is seeded (offsets, gains, noise) and takes about 15 s on a
CPU; eSpeak NG's own output varies slightly from call to call, so the cache, not the seed, fixes
the data. The result is stored as ``digits-<digest>.npz`` (int16 clips, labels, voice names) in
the cache folder.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dlsuite.apps.speech import spoken

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GENERATOR_VERSION = 1
SEED = 20250


def load(
    sample_rate: int, num_samples: int, cache_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The clips as
    ``{"audio": int16 (N, num_samples), "label", "held_out", "voice", "description"}``.

    Generated on first use and cached under ``cache_dir``.
    """
    params = {
        "version": GENERATOR_VERSION,
        "seed": SEED,
        "sample_rate": sample_rate,
        "num_samples": num_samples,
        "words": WORDS,
        "voices": spoken.voices(),
        "prosody": spoken.PROSODY,
        "snrs": spoken.SNRS_DB,
        "noises": spoken.NOISES,
        "babble_extra_db": spoken.BABBLE_EXTRA_DB,
        "espeakng_loader": spoken.engine_version(),
    }
    data, path = spoken.load_cached(
        "digits", params, lambda: _generate(sample_rate, num_samples), cache_dir
    )
    data["description"] = spoken.describe("spoken digits", len(data["audio"]), path)
    return data


def _generate(sample_rate: int, num_samples: int) -> dict[str, np.ndarray]:
    clips, labels = [], []
    for voice, held_out in spoken.voices():
        for rate, pitch in spoken.PROSODY:
            for label, word in enumerate(WORDS):
                clips.append(spoken.Clip(word, voice, held_out, rate, pitch))
                labels.append(label)
    audio = spoken.render(clips, sample_rate, num_samples, np.random.default_rng(SEED))
    return {
        "audio": audio,
        "label": np.asarray(labels, np.int64),
        "held_out": np.asarray([c.held_out for c in clips]),
        "voice": np.asarray([c.voice for c in clips]),
    }
