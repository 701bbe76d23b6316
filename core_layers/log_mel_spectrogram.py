"""Log-mel spectrogram of a waveform, with a librosa-compatible mel filterbank."""

import keras
import numpy as np
import tensorflow as tf

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers.stft_magnitude import STFTMagnitude


def hz_to_mel(frequencies, htk=False):
    """Hz -> mel: HTK `2595 log10(1 + f / 700)`, or Slaney's (linear below 1 kHz, log above)."""
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / (200.0 / 3)
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, linear)


def mel_to_hz(mels, htk=False):
    """The inverse of `hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3))


def mel_filterbank(
    sample_rate, fft_length, num_mel_bins, fmin=0.0, fmax=None, htk=False, slaney_norm=True
):
    """Triangular mel filters as a `(fft_length // 2 + 1, num_mel_bins)` float32 matrix.

    The same construction as `librosa.filters.mel` (triangles in Hz between mel-spaced edges,
    optional Slaney area normalization), transposed so that `spectrogram @ matrix` gives mel bins.
    """
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, fft_length // 2 + 1)
    edges = mel_to_hz(
        np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), num_mel_bins + 2), htk
    )
    ramps = edges[:, None] - fft_freqs[None, :]  # (M + 2, bins)
    widths = np.diff(edges)  # (M + 1,)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))  # (M, bins)
    if slaney_norm:
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.astype(np.float32)


@keras.saving.register_keras_serializable(package="dlsuite")
class LogMelSpectrogram(STFTMagnitude):
    """Log-mel spectrogram: `log(|STFT| ** power @ mel_filterbank + log_offset)`, or with
    `log=False` the mel energies `|STFT| ** power @ mel_filterbank` themselves.

    The STFT is that of `STFTMagnitude`; the filterbank is `mel_filterbank` (librosa's
    `filters.mel` construction, Slaney mel scale and area normalization by default, HTK with
    `htk=True`), computed from the arguments, so the layer has no weights. Used as the acoustic
    front end of keyword spotters (e.g. Sainath & Parada 2015: 40 log-mel filterbank energies).

    Args:
        sample_rate: samples per second of the input. Defaults to 16000.
        frame_length_ms: window length in milliseconds. Defaults to 25.
        frame_step_ms: hop in milliseconds. Defaults to 10.
        fft_length: FFT size; `None` = next power of two of the window.
        num_mel_bins: number of mel filters. Defaults to 40.
        fmin: lowest filter edge in Hz. Defaults to 20.
        fmax: highest filter edge in Hz, at most `sample_rate / 2`; `None` = `sample_rate / 2`.
        htk: HTK mel scale without area normalization instead of Slaney's. Defaults to False.
        power: magnitude exponent before the filterbank. Defaults to 2 (power spectrum).
        log_offset: added before the natural log. Defaults to 1e-6.
        log: True for the log-mel spectrogram, False for the (non-negative) mel energies, the
            input of `PCEN`; `log_offset` is then unused. Defaults to True.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: float waveform `(batch, samples)`.

    Input shape:
        `(batch, samples)`.

    Output shape:
        `(batch, frames, num_mel_bins)`.

    Example:
    >>> LogMelSpectrogram(num_mel_bins=40)(keras.ops.zeros((2, 16000))).shape
    TensorShape([2, 98, 40])
    """

    def __init__(
        self,
        sample_rate=16000,
        frame_length_ms=25.0,
        frame_step_ms=10.0,
        fft_length=None,
        num_mel_bins=40,
        fmin=20.0,
        fmax=None,
        htk=False,
        power=2.0,
        log_offset=1e-6,
        log=True,
        **kwargs,
    ):
        super().__init__(
            sample_rate=sample_rate,
            frame_length_ms=frame_length_ms,
            frame_step_ms=frame_step_ms,
            fft_length=fft_length,
            power=power,
            **kwargs,
        )
        check_positive_int(num_mel_bins=num_mel_bins)
        nyquist = sample_rate / 2.0
        top = nyquist if fmax is None else fmax
        if not 0.0 <= fmin < top <= nyquist:
            raise ValueError(
                f"expected 0 <= fmin < fmax <= sample_rate / 2 = {nyquist}. "
                f"Received: fmin={fmin!r}, fmax={fmax!r}"
            )
        if not log_offset > 0:
            raise ValueError(
                f"`log_offset` expected a positive number. Received: log_offset={log_offset!r}"
            )
        self.num_mel_bins = num_mel_bins
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.htk = bool(htk)
        self.log_offset = float(log_offset)
        self.log = bool(log)

    def filterbank(self):
        """The `(bins, num_mel_bins)` float32 mel matrix."""
        return mel_filterbank(
            self.sample_rate,
            self.fft_size,
            self.num_mel_bins,
            self.fmin,
            self.fmax,
            htk=self.htk,
            slaney_norm=not self.htk,
        )

    def mel(self, inputs):
        """Mel energies `(B, T, num_mel_bins)` float32 of waveforms `(B, samples)`."""
        spectrogram = self.spectrogram(inputs)  # (B, T, bins)
        mel = tf.tensordot(spectrogram, tf.constant(self.filterbank()), axes=1)  # (B, T, M)
        mel.set_shape(spectrogram.shape[:-1].concatenate([self.num_mel_bins]))
        return mel

    def log_mel(self, inputs):
        """`log(mel + log_offset)`: `(B, T, num_mel_bins)` float32 of waveforms `(B, samples)`."""
        return tf.math.log(self.mel(inputs) + self.log_offset)  # (B, T, M)

    def call(self, inputs):
        features = self.log_mel(inputs) if self.log else self.mel(inputs)
        return tf.cast(features, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_frames(input_shape[1]), self.num_mel_bins)

    def get_config(self):
        return {
            **super().get_config(),
            "num_mel_bins": self.num_mel_bins,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "htk": self.htk,
            "log_offset": self.log_offset,
            "log": self.log,
        }
