"""Spoken clips rendered offline by eSpeak NG, shared by ``builtin:digits`` and ``builtin:phrases``.

Each voice is an eSpeak accent with a voice variant (``en-us+f2``): `voices` lists every accent
with every training variant, then with every held-out variant (`TEST_VARIANTS`, never heard in
training in any accent). `render` speaks a list of texts: each clip is trimmed of silence,
resampled from 22,050 Hz to the target rate (polyphase, `scipy.signal.resample_poly`), scaled to a
random peak, placed at a seeded random offset in a fixed-length clip and mixed with background
noise (white, pink, brown, or babble from three other clips, `BABBLE_EXTRA_DB` quieter) at an SNR
drawn from `SNRS_DB`. `load_cached` stores the result once as ``<kind>-<digest>.npz`` (int16 clips
and their metadata), the digest covering every generation parameter.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from math import gcd
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from dlsuite.apps.speech import synth

ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "klatt")
TEST_VARIANTS = ("m7", "f4")
PROSODY = ((130, 30), (165, 50), (200, 70))  # (words per minute, pitch 0-100)
SNRS_DB = (10.0, 15.0, 20.0, 30.0)
# Babble is made of other clips: kept quieter, so the clip's own words stay the loudest.
BABBLE_EXTRA_DB = 10.0
NOISES = ("white", "pink", "brown", "babble")


class Clip(NamedTuple):
    """One utterance to render: what is said, by which voice, how fast and how high."""

    text: str
    voice: str
    held_out: bool
    rate: int
    pitch: int


def voices() -> list[tuple[str, bool]]:
    """``[(voice, held_out)]``: every accent with every train variant,
    then with every test variant."""
    train = [(f"{accent}+{variant}", False) for accent in ACCENTS for variant in TRAIN_VARIANTS]
    test = [(f"{accent}+{variant}", True) for accent in ACCENTS for variant in TEST_VARIANTS]
    return train + test


def default_cache_dir() -> Path:
    return Path(os.environ.get("DLSUITE_CACHE", Path.home() / ".cache" / "dlsuite")) / "speech"


def engine_version() -> str:
    """The installed ``espeakng-loader`` version
    (fails early with an ImportError when it is missing)."""
    import espeakng_loader  # noqa: F401

    return version("espeakng-loader")


def load_cached(
    kind: str,
    params: Mapping[str, Any],
    generate: Callable[[], dict[str, np.ndarray]],
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, np.ndarray], Path]:
    """``(arrays, path)``: ``generate()``'s arrays,
    stored once as ``<kind>-<digest of params>.npz``.

    The file is written to a temporary name and renamed, so concurrent or killed generations never
    leave a partial cache behind.
    """
    digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    path = folder / f"{kind}-{digest}.npz"
    if not path.is_file():
        data = generate()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.tmp.npz"
        np.savez_compressed(tmp, **data)
        os.replace(tmp, path)
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}, path


def trim(samples: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """``samples`` without the leading and trailing stretch below ``threshold`` of the peak."""
    loud = np.flatnonzero(np.abs(samples) > threshold * max(np.abs(samples).max(), 1e-9))
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def noise(kind: str, n: int, rng: np.random.Generator, babble: np.ndarray) -> np.ndarray:
    """Background noise of ``kind`` (`NOISES`), ``n`` samples; babble sums 3 rows of ``babble``."""
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    if kind == "pink":  # 1/f power spectrum
        spectrum = np.fft.rfft(white)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
        return np.fft.irfft(spectrum, n)
    if kind == "brown":
        walk = np.cumsum(white)
        return walk - np.convolve(walk, np.ones(801) / 801, mode="same")
    picks = rng.choice(len(babble), size=3, replace=False)
    return sum(np.roll(babble[i], int(rng.integers(n))) for i in picks)


def speak(
    text: str,
    voice: str,
    rate: int,
    pitch: int,
    sample_rate: int,
    num_samples: int,
    tract: float = 1.0,
) -> np.ndarray:
    """``text`` spoken by eSpeak NG, silence trimmed, resampled to ``sample_rate``: float64.

    ``tract`` != 1 reads the synthesized samples as if recorded at ``tract`` times the
    synthesizer's rate (rounded to 10 Hz), which moves formants, pitch and duration together, as
    a shorter (> 1) or longer vocal tract would.

    Raises:
        ValueError: the speech is longer than ``num_samples`` (its words would be cut off).
    """
    from scipy.signal import resample_poly

    raw = synth.synthesize(text, voice=voice, rate=rate, pitch=pitch).astype(np.float64) / 32768.0
    source_rate = synth.sample_rate()
    if tract != 1.0:
        source_rate = int(round(source_rate * tract / 10.0)) * 10
    g = gcd(sample_rate, source_rate)
    speech = resample_poly(trim(raw), sample_rate // g, source_rate // g)
    if len(speech) > num_samples:
        raise ValueError(
            f"{text!r} spoken by {voice} at {rate} words/min "
            f"lasts {len(speech) / sample_rate:.2f} s, "
            f"longer than the {num_samples / sample_rate:.2f} s clip; raise clip_ms (--clip-ms)"
        )
    return speech


def at_snr(noise_wave: np.ndarray, clip: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise_wave`` scaled so that ``clip``'s speech (its samples above 1e-4) stands
    ``snr_db`` dB above it."""
    speech = np.abs(clip) > 1e-4
    signal_power = np.mean(clip[speech] ** 2) if np.any(speech) else 1e-6
    return noise_wave * np.sqrt(
        signal_power / (np.mean(noise_wave**2) + 1e-12) / 10 ** (snr_db / 10)
    )


def render(
    clips: Sequence[Clip], sample_rate: int, num_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """Speak every clip; returns int16 ``(len(clips), num_samples)``, noisy, in ``clips`` order.

    Raises:
        ValueError: a clip's speech is longer than ``num_samples`` (its words would be cut off).
    """
    clean = np.zeros((len(clips), num_samples))
    for i, clip in enumerate(clips):
        speech = speak(clip.text, clip.voice, clip.rate, clip.pitch, sample_rate, num_samples)
        start = int(rng.integers(0, num_samples - len(speech) + 1))
        clean[i, start : start + len(speech)] = (
            speech * (0.3 + 0.6 * rng.random()) / max(np.abs(speech).max(), 1e-9)
        )
    mixed = np.empty_like(clean)
    for i, clip in enumerate(clean):
        kind = NOISES[int(rng.integers(len(NOISES)))]
        noise_wave = noise(kind, num_samples, rng, clean)
        snr = SNRS_DB[int(rng.integers(len(SNRS_DB)))] + (
            BABBLE_EXTRA_DB if kind == "babble" else 0.0
        )
        mixed[i] = clip + at_snr(noise_wave, clip, snr)
    peak = np.maximum(np.abs(mixed).max(axis=1, keepdims=True), 1.0)
    return np.round(mixed / peak * 32767).astype(np.int16)


def describe(name: str, clips: int, path: Path) -> str:
    """The data description recorded in metrics.json and the manifest."""
    return (
        f"eSpeak NG {engine_version()} {name}, {clips} clips by {len(voices())} voices "
        f"({len(ACCENTS)} accents x variants; test variants {TEST_VARIANTS} held out), "
        f"rates/pitches {PROSODY}, noise {NOISES} at SNR {SNRS_DB} dB; cache {path.name}"
    )
