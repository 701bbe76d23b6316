"""Waveform utilities in TensorFlow ops, shared by the data pipeline and the serving signatures.

Everything here runs inside a graph, so an exported model decodes, resamples and pads a WAV file
exactly as training did.
"""

from __future__ import annotations

from typing import Any

RESAMPLE_HALF_WIDTH = 16  # zero crossings of the windowed-sinc kernel on each side


def resample(waveform: Any, rate_in: Any, rate_out: int) -> Any:
    """Resample a 1-D float waveform from ``rate_in`` (a scalar tensor) to ``rate_out`` Hz.

    Band-limited interpolation: each output sample is a Hann-windowed sinc sum over the input
    (cutoff at the lower of the two Nyquist frequencies, 16 zero crossings per side), so
    downsampling does not alias. The identity when the rates are equal.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(waveform, tf.float32)  # (S_in,)
    rate_in = tf.cast(rate_in, tf.float64)
    rate_out_f = tf.constant(float(rate_out), tf.float64)

    def convert() -> Any:
        n_in = tf.shape(x)[0]
        ratio = rate_out_f / rate_in
        n_out = tf.cast(tf.math.ceil(tf.cast(n_in, tf.float64) * ratio), tf.int32)
        cutoff = tf.minimum(tf.constant(1.0, tf.float64), ratio)  # relative to the input Nyquist
        taps = tf.cast(tf.math.ceil(RESAMPLE_HALF_WIDTH / cutoff), tf.int32)
        t = tf.cast(tf.range(n_out), tf.float64) / ratio  # (S_out,) positions in input samples
        base = tf.cast(tf.floor(t), tf.int32)
        offsets = tf.range(-taps + 1, taps + 1)  # (2 taps,)
        index = base[:, None] + offsets[None, :]  # (S_out, 2 taps)
        distance = t[:, None] - tf.cast(index, tf.float64)  # (S_out, 2 taps)
        half = tf.cast(taps, tf.float64)
        hann = 0.5 + 0.5 * tf.cos(3.141592653589793 * distance / half)
        window = tf.where(tf.abs(distance) < half, hann, tf.zeros_like(hann))
        arg = 3.141592653589793 * cutoff * distance
        near_zero = tf.abs(arg) < 1e-9
        safe = tf.where(near_zero, tf.ones_like(arg), arg)
        sinc = tf.where(near_zero, tf.ones_like(arg), tf.sin(safe) / safe)
        kernel = tf.cast(cutoff * sinc * window, tf.float32)  # (S_out, 2 taps)
        valid = tf.cast((index >= 0) & (index < n_in), tf.float32)
        samples = tf.gather(
            x, tf.clip_by_value(index, 0, tf.maximum(n_in - 1, 0))
        )  # (S_out, 2 taps)
        return tf.reduce_sum(samples * kernel * valid, axis=1)  # (S_out,)

    return tf.cond(tf.equal(rate_in, rate_out_f), lambda: x, convert)


def fix_length(waveform: Any, num_samples: int) -> Any:
    """Crop a 1-D waveform to its first ``num_samples``, or zero-pad it at the end."""
    import tensorflow as tf

    x = waveform[:num_samples]
    x = tf.pad(x, [[0, num_samples - tf.shape(x)[0]]])
    x.set_shape([num_samples])
    return x  # (num_samples,)


def decode_wav_any_length(data: Any, sample_rate: int) -> Any:
    """WAV bytes (PCM 16-bit, any rate, any channels)
    -> mono float32 ``(S,)`` at ``sample_rate``, all of it."""
    import tensorflow as tf

    audio, rate = tf.audio.decode_wav(data)  # (S, C) in [-1, 1], scalar int32
    mono = tf.reduce_mean(audio, axis=1)  # (S,)
    return resample(mono, rate, sample_rate)


def decode_wav(data: Any, sample_rate: int, num_samples: int) -> Any:
    """WAV bytes (PCM 16-bit, any rate, any channels)
    -> mono float32 ``(num_samples,)`` at ``sample_rate``."""
    return fix_length(decode_wav_any_length(data, sample_rate), num_samples)


def encode_wav(waveform: Any, sample_rate: int) -> bytes:
    """Float waveform in [-1, 1] -> 16-bit PCM mono WAV bytes."""
    import numpy as np
    import tensorflow as tf

    samples = np.clip(np.asarray(waveform, np.float32), -1.0, 1.0)[:, None]
    return tf.audio.encode_wav(samples, sample_rate).numpy()
