"""``builtin:speakers``: spoken digits by eight synthetic people, for speaker-independent tests.

``builtin:digits`` holds out voice *variants* of the accents it trains on, which a keyword model
handles easily. Here every speaker differs from the others the way people and their recordings do,
and a run holds out whole speakers (leave-one-speaker-out: ``--test-groups ada``):

- voice: a distinct eSpeak NG accent and voice variant per speaker;
- speaking rate and pitch: the speaker's own, jittered from take to take (+-10% rate, +-8 pitch);
- vocal-tract length: the synthesized audio is resampled as if recorded at ``tract`` times its
  rate, which moves formants, pitch and duration together (as a longer or shorter vocal tract);
- room: reverberation with the speaker's RT60 (exponentially decaying noise, 30% wet);
- background: the speaker's own noise kind and SNR range, and level (peak) per take;
- microphone: the speaker's own band (a 2nd-order Butterworth band-pass), applied to the speech
  and the background together, as a microphone hears both.

Each speaker says each digit `TAKES` times (as the Free Spoken Digit Dataset's speakers say each
digit 50 times). Generation is seeded, takes about 30 s on a CPU and is cached like
``builtin:digits`` (`spoken.load_cached`) as ``speakers-<digest>.npz``.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from dlsuite.apps.speech import spoken
from dlsuite.apps.speech.digits import WORDS

GENERATOR_VERSION = 2
SEED = 20261206
TAKES = 30
WET = 0.3  # reverberant share of the signal


class Speaker(NamedTuple):
    """One synthetic person: voice, prosody, vocal tract, microphone, room and background."""

    name: str
    voice: str  # eSpeak NG accent+variant
    rate: int  # words per minute
    pitch: int  # eSpeak pitch 0-100
    tract: float  # resampling factor standing for vocal-tract length (> 1: shorter tract)
    band_hz: tuple[float, float]  # microphone high-pass and low-pass corners
    rt60_s: float  # room reverberation time
    noise: str  # one of spoken.NOISES
    snr_db: tuple[float, float]  # background SNR range


SPEAKERS = (
    Speaker("ada", "en-us+Alicia", 165, 72, 1.10, (120.0, 7000.0), 0.25, "pink", (15.0, 30.0)),
    Speaker(
        "bruno", "en-gb-scotland+m3", 125, 28, 0.90, (300.0, 3400.0), 0.1, "white", (15.0, 25.0)
    ),
    Speaker(
        "chiara", "en-gb-x-rp+belinda", 185, 60, 1.05, (80.0, 5500.0), 0.5, "babble", (18.0, 30.0)
    ),
    Speaker("dev", "en-029+benjamin", 150, 40, 0.95, (60.0, 7500.0), 0.15, "brown", (10.0, 20.0)),
    Speaker("emma", "en+linda", 140, 85, 1.15, (200.0, 4000.0), 0.3, "white", (20.0, 35.0)),
    Speaker("farid", "en-us-nyc+david", 200, 35, 0.92, (100.0, 6000.0), 0.6, "pink", (12.0, 25.0)),
    Speaker(
        "grace", "en-gb-x-rp+grandma", 115, 55, 1.02, (150.0, 5000.0), 0.2, "babble", (15.0, 25.0)
    ),
    Speaker("hugo", "en-us+edward", 170, 20, 0.86, (50.0, 7000.0), 0.35, "brown", (12.0, 22.0)),
)


def load(
    sample_rate: int, num_samples: int, cache_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The clips as ``{"audio": int16 (N, num_samples), "label", "speaker", "description"}``.

    Generated on first use and cached under ``cache_dir``.
    """
    params = {
        "version": GENERATOR_VERSION,
        "seed": SEED,
        "sample_rate": sample_rate,
        "num_samples": num_samples,
        "words": WORDS,
        "takes": TAKES,
        "wet": WET,
        "speakers": [s._asdict() for s in SPEAKERS],
        "espeakng_loader": spoken.engine_version(),
    }
    data, path = spoken.load_cached(
        "speakers", params, lambda: _generate(sample_rate, num_samples), cache_dir
    )
    data["description"] = (
        f"eSpeak NG {spoken.engine_version()} spoken digits by {len(SPEAKERS)} synthetic speakers "
        f"({', '.join(s.name for s in SPEAKERS)}), {TAKES} takes of each digit each, every "
        f"speaker with its own accent, voice, rate, pitch, vocal-tract factor, microphone band, "
        f"room and background; cache {path.name}"
    )
    return data


def _room(rt60_s: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic impulse response: a direct path, then noise decaying by 60 dB in ``rt60_s``."""
    n = int(rt60_s * sample_rate)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    response = np.concatenate([[1.0], tail / np.sqrt(np.sum(tail**2)) * np.sqrt(WET / (1 - WET))])
    return response


def _take(
    speaker: Speaker, word: str, sample_rate: int, num_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """One clean take of ``word`` by ``speaker`` in its room: float64 ``(num_samples,)``, peak 1,
    at a random offset."""
    from scipy.signal import fftconvolve

    rate = int(np.clip(speaker.rate * rng.uniform(0.9, 1.1), 80, 450))
    pitch = int(np.clip(speaker.pitch + rng.integers(-8, 9), 0, 100))
    speech = spoken.speak(
        word, speaker.voice, rate, pitch, sample_rate, num_samples, tract=speaker.tract
    )
    speech = fftconvolve(speech, _room(speaker.rt60_s, sample_rate, rng))
    start = int(rng.integers(0, num_samples - min(len(speech), num_samples) + 1))
    speech = speech[: num_samples - start]  # the reverberant tail may be cut, never the words
    clip = np.zeros(num_samples)
    clip[start : start + len(speech)] = speech / max(np.abs(speech).max(), 1e-9)
    return clip


def _generate(sample_rate: int, num_samples: int) -> dict[str, np.ndarray]:
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(SEED)
    takes = [
        (speaker, label, _take(speaker, word, sample_rate, num_samples, rng))
        for speaker in SPEAKERS
        for _ in range(TAKES)
        for label, word in enumerate(WORDS)
    ]
    clean = np.stack([clip for _, _, clip in takes])  # (N, S), the babble source
    audio = np.empty((len(takes), num_samples), np.int16)
    for i, (speaker, _, clip) in enumerate(takes):
        noise = spoken.noise(speaker.noise, num_samples, rng, clean)
        noise = spoken.at_snr(noise, clip, rng.uniform(*speaker.snr_db))
        low, high = speaker.band_hz
        band = butter(
            2, [low, min(high, 0.45 * sample_rate)], "bandpass", fs=sample_rate, output="sos"
        )
        mixed = sosfilt(band, clip + noise)
        audio[i] = np.round(mixed * rng.uniform(0.2, 0.9) / np.abs(mixed).max() * 32767)
    return {
        "audio": audio,
        "label": np.asarray([label for _, label, _ in takes], np.int64),
        "speaker": np.asarray([speaker.name for speaker, _, _ in takes]),
    }
