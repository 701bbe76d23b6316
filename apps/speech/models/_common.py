"""The waveform input, audio front end and classifier head shared by the KWS builders (private)."""

import math

import keras

from dlsuite.apps.common.models import check_head_arguments
from dlsuite.core_layers import MFCC, PCEN, LogMelSpectrogram, SpecAugment

FEATURES = ("log_mel", "mfcc", "pcen")
# PCEN's smoother time constant: s = 1 - exp(-hop / 400 ms), Wang et al.'s s = 0.025 at 10 ms hops.
PCEN_TIME_CONSTANT_MS = 400.0
DEFAULT_FRONTEND = {
    "features": "pcen",
    "sample_rate": 16000,
    "frame_length_ms": 40.0,
    "frame_step_ms": 20.0,
    "num_mel_bins": 40,
    "num_mfcc": 10,
    "fmin": 20.0,
    "fmax": None,
}


def check_arguments(model_name, num_samples, num_classes, dropout):
    """Raises `ValueError` naming the bad argument of a `build_<model>` call."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 400:
        raise ValueError(
            f"{model_name}: `num_samples` expected an integer >= 400. "
            f"Received: num_samples={num_samples!r}"
        )
    check_head_arguments(model_name, num_classes, dropout)


def waveform_front_end(num_samples, frontend=None, spec_augment=True, seed=None):
    """Input `waveform` (B, num_samples) -> features (B, frames, channels),
    normalized per utterance.

    `frontend` overrides `DEFAULT_FRONTEND` (`features`: "mfcc", "log_mel" or "pcen", then the
    `LogMelSpectrogram` / `MFCC` arguments). "pcen" is `PCEN` (trainable alpha, delta, r per mel
    channel; smoother time constant `PCEN_TIME_CONSTANT_MS`) of the mel energies
    (`LogMelSpectrogram(log=False)`). SpecAugment masks are applied in training only:
    `spec_augment` is False (none), True (two frequency masks of up to 1/8 of the channels and two
    time masks of up to 1/10 of the frames) or a dict of `SpecAugment` arguments overriding those.
    """
    options = {**DEFAULT_FRONTEND, **(frontend or {})}
    features = options.pop("features")
    if features not in FEATURES:
        raise ValueError(f"`features` expected one of {FEATURES}. Received: features={features!r}")
    num_mfcc = options.pop("num_mfcc")
    inputs = keras.Input(shape=(num_samples,), dtype="float32", name="waveform")
    if features == "mfcc":
        x = MFCC(num_mfcc=num_mfcc, name="mfcc", **options)(inputs)  # (B, T, num_mfcc)
    elif features == "log_mel":
        x = LogMelSpectrogram(name="log_mel", **options)(inputs)  # (B, T, num_mel_bins)
    else:
        x = LogMelSpectrogram(log=False, name="mel", **options)(inputs)  # (B, T, num_mel_bins)
        s = 1.0 - math.exp(-options["frame_step_ms"] / PCEN_TIME_CONSTANT_MS)
        x = PCEN(smooth_coef=s, name="pcen")(x)  # (B, T, num_mel_bins)
    # Per-utterance mean and variance normalization of every channel over time (CMVN).
    x = keras.layers.LayerNormalization(axis=1, center=False, scale=False, name="cmvn")(
        x
    )  # (B, T, F)
    if spec_augment:
        masks = {
            "freq_mask_param": max(1, x.shape[-1] // 8),
            "num_freq_masks": 2,
            "time_mask_param": max(1, x.shape[1] // 10),
            "num_time_masks": 2,
            **(spec_augment if isinstance(spec_augment, dict) else {}),
        }
        x = SpecAugment(**masks, seed=seed, name="spec_augment")(x)
    return inputs, x
