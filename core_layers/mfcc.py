"""Mel-frequency cepstral coefficients of a waveform (tf.signal)."""

import keras
import numpy as np
import tensorflow as tf

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers.log_mel_spectrogram import LogMelSpectrogram


@keras.saving.register_keras_serializable(package="dlsuite")
class MFCC(LogMelSpectrogram):
    """MFCCs: the first `num_mfcc` DCT-II coefficients of the log-mel spectrogram.

    Davis and Mermelstein, "Comparison of parametric representations for monosyllabic word
    recognition in continuously spoken sentences" (IEEE TASSP 1980). The log-mel spectrogram is
    `LogMelSpectrogram`'s; the DCT-II is that of `tf.signal.mfccs_from_log_mel_spectrograms`
    (scaled by `1 / sqrt(2 num_mel_bins)`), computed as a matmul with a constant matrix so that the
    layer converts to TFLite builtins (TF's own DCT slices a complex tensor, which TFLite cannot).
    Hello Edge (Zhang et al. 2017) feeds 10 MFCCs of 40 ms windows every 20 ms to its keyword
    spotters. No weights.

    Args:
        num_mfcc: number of coefficients kept, at most `num_mel_bins`. Defaults to 13.
        sample_rate, frame_length_ms, frame_step_ms, fft_length, num_mel_bins, fmin, fmax, htk,
        power, log_offset: as in `LogMelSpectrogram`.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: float waveform `(batch, samples)`.

    Input shape:
        `(batch, samples)`.

    Output shape:
        `(batch, frames, num_mfcc)`.

    Example:
    >>> MFCC(num_mfcc=10, frame_length_ms=40, frame_step_ms=20)(keras.ops.zeros((2, 16000))).shape
    TensorShape([2, 49, 10])
    """

    def __init__(self, num_mfcc=13, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(num_mfcc=num_mfcc)
        if num_mfcc > self.num_mel_bins:
            raise ValueError(
                f"`num_mfcc` must be at most num_mel_bins={self.num_mel_bins}. "
                f"Received: num_mfcc={num_mfcc}"
            )
        self.num_mfcc = num_mfcc

    def dct_matrix(self):
        """`(num_mel_bins, num_mfcc)` float32:
        `tf.signal.mfccs_from_log_mel_spectrograms` as a matmul.
        """
        n = np.arange(self.num_mel_bins)[:, None]
        k = np.arange(self.num_mfcc)[None, :]
        scale = 2.0 / np.sqrt(2.0 * self.num_mel_bins)
        return (scale * np.cos(np.pi * k * (2 * n + 1) / (2 * self.num_mel_bins))).astype(
            np.float32
        )

    def call(self, inputs):
        log_mel = self.log_mel(inputs)  # (B, T, M)
        mfcc = tf.tensordot(log_mel, tf.constant(self.dct_matrix()), axes=1)  # (B, T, num_mfcc)
        mfcc.set_shape(log_mel.shape[:-1].concatenate([self.num_mfcc]))
        return tf.cast(mfcc, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_frames(input_shape[1]), self.num_mfcc)

    def get_config(self):
        return {**super().get_config(), "num_mfcc": self.num_mfcc}
