"""``builtin:digits``: spoken digits "zero".."nine" rendered offline by eSpeak NG, cached on disk.

Each voice is an eSpeak accent with a voice variant (``en-us+f2``); every voice says every digit
at three speaking rates and pitches (`PROSODY`). Each clip is trimmed of silence, resampled from 22,050 Hz to
the target rate (polyphase, `scipy.signal.resample_poly`), placed at a seeded random offset in a
fixed-length clip and mixed with background noise (white, pink, brown, or babble from other
clips, 10 dB quieter) at an SNR drawn from `SNRS_DB`. Whole voices are held out for the test
split: the test variants (`TEST_VARIANTS`) are never heard in training, in any accent.

Generation is deterministic (fixed seed, fixed eSpeak NG data) and takes about 15 s on a CPU; the result
is stored as ``digits-<digest>.npz`` (int16 clips, labels, voice names) in the cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "klatt")
TEST_VARIANTS = ("m7", "f4")
PROSODY = ((130, 30), (165, 50), (200, 70))  # (words per minute, pitch 0-100)
SNRS_DB = (10.0, 15.0, 20.0, 30.0)
BABBLE_EXTRA_DB = 10.0  # babble is made of other digits: kept quieter, so the label stays the loudest word
NOISES = ("white", "pink", "brown", "babble")
GENERATOR_VERSION = 1
SEED = 20250


def voices() -> list[tuple[str, bool]]:
    """``[(voice, held_out)]``: every accent with every train variant, then with every test variant."""
    train = [(f"{accent}+{variant}", False) for accent in ACCENTS for variant in TRAIN_VARIANTS]
    test = [(f"{accent}+{variant}", True) for accent in ACCENTS for variant in TEST_VARIANTS]
    return train + test


def default_cache_dir() -> Path:
    return Path(os.environ.get("DLSUITE_CACHE", Path.home() / ".cache" / "dlsuite")) / "speech"


def load(sample_rate: int, num_samples: int, cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The clips as ``{"audio": int16 (N, num_samples), "label", "held_out", "voice", "description"}``.

    Generated on first use and cached under ``cache_dir``.
    """
    import espeakng_loader  # noqa: F401  (fails early with a clear ImportError when missing)

    params = {"version": GENERATOR_VERSION, "seed": SEED, "sample_rate": sample_rate, "num_samples": num_samples,
              "words": WORDS, "voices": voices(), "prosody": PROSODY, "snrs": SNRS_DB, "noises": NOISES,
              "babble_extra_db": BABBLE_EXTRA_DB,
              "espeakng_loader": _package_version("espeakng-loader")}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    path = folder / f"digits-{digest}.npz"
    if not path.is_file():
        data = _generate(sample_rate, num_samples)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.tmp.npz"
        np.savez_compressed(tmp, **data)
        os.replace(tmp, path)
    with np.load(path) as stored:
        data = {key: stored[key] for key in stored.files}
    data["description"] = (f"eSpeak NG {params['espeakng_loader']} spoken digits, {len(voices())} voices "
                           f"({len(ACCENTS)} accents x variants; test variants {TEST_VARIANTS} held out), "
                           f"rates/pitches {PROSODY}, noise {NOISES} at SNR {SNRS_DB} dB; cache {path.name}")
    return data


def _package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _trim(samples: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > threshold * max(np.abs(samples).max(), 1e-9))
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def _noise(kind: str, n: int, rng: np.random.Generator, babble: np.ndarray) -> np.ndarray:
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


def _generate(sample_rate: int, num_samples: int) -> dict[str, np.ndarray]:
    from math import gcd

    from scipy.signal import resample_poly

    from apps.speech import synth

    rng = np.random.default_rng(SEED)
    source_rate = synth.sample_rate()
    g = gcd(sample_rate, source_rate)
    clips, labels, held, names = [], [], [], []
    for voice, held_out in voices():
        for rate, pitch in PROSODY:
            for label, word in enumerate(WORDS):
                raw = synth.synthesize(word, voice=voice, rate=rate, pitch=pitch).astype(np.float64) / 32768.0
                speech = resample_poly(_trim(raw), sample_rate // g, source_rate // g)[:num_samples]
                clip = np.zeros(num_samples)
                start = int(rng.integers(0, num_samples - len(speech) + 1))
                clip[start : start + len(speech)] = speech * (0.3 + 0.6 * rng.random()) / max(np.abs(speech).max(), 1e-9)
                clips.append(clip)
                labels.append(label)
                held.append(held_out)
                names.append(voice)
    clips_arr = np.stack(clips)  # (N, S) clean
    mixed = np.empty_like(clips_arr)
    for i, clip in enumerate(clips_arr):
        kind = NOISES[int(rng.integers(len(NOISES)))]
        noise = _noise(kind, num_samples, rng, clips_arr)
        snr = SNRS_DB[int(rng.integers(len(SNRS_DB)))] + (BABBLE_EXTRA_DB if kind == "babble" else 0.0)
        signal_power = np.mean(clip[np.abs(clip) > 1e-4] ** 2) if np.any(np.abs(clip) > 1e-4) else 1e-6
        noise *= np.sqrt(signal_power / (np.mean(noise**2) + 1e-12) / 10 ** (snr / 10))
        mixed[i] = clip + noise
    peak = np.maximum(np.abs(mixed).max(axis=1, keepdims=True), 1.0)
    audio = np.round(mixed / peak * 32767).astype(np.int16)
    return {"audio": audio, "label": np.asarray(labels, np.int64), "held_out": np.asarray(held),
            "voice": np.asarray(names)}
