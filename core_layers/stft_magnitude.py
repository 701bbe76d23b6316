"""Framing and short-time Fourier transform magnitude of a waveform (tf.signal)."""

import keras
import tensorflow as tf

from dlsuite.base.validation import check_positive_int


def check_audio_arguments(sample_rate, frame_length_ms, frame_step_ms, fft_length):
    """Raises `ValueError` naming a bad sample rate, window, hop or FFT length."""
    check_positive_int(sample_rate=sample_rate)
    for name, value in (("frame_length_ms", frame_length_ms), ("frame_step_ms", frame_step_ms)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"`{name}` expected a positive number. Received: {name}={value!r}")
    frame_length = int(round(sample_rate * frame_length_ms / 1000.0))
    if frame_length < 2:
        raise ValueError(
            f"`frame_length_ms` gives a window of {frame_length} samples at {sample_rate} Hz; "
            f"at least 2 are needed. Received: frame_length_ms={frame_length_ms!r}"
        )
    if fft_length is not None:
        check_positive_int(fft_length=fft_length)
        if fft_length < frame_length:
            raise ValueError(
                f"`fft_length` must be at least the window length ({frame_length} samples). "
                f"Received: fft_length={fft_length}"
            )


@keras.saving.register_keras_serializable(package="dlsuite")
class STFTMagnitude(keras.layers.Layer):
    """Frames a waveform and returns the magnitude of its short-time Fourier transform.

    Frames of `frame_length_ms` every `frame_step_ms` (no padding at the end, so
    `frames = 1 + (samples - frame_length) // frame_step`), a periodic Hann window, a real FFT of
    `fft_length` points (default: the next power of two of the window) and `|X| ** power`. Built on
    `tf.signal.stft`; runs in float32 and casts the result to the compute dtype. No weights.

    Args:
        sample_rate: positive int, samples per second of the input. Defaults to 16000.
        frame_length_ms: window length in milliseconds. Defaults to 25.
        frame_step_ms: hop between windows in milliseconds. Defaults to 10.
        fft_length: FFT size, at least the window length; `None` = next power of two.
        power: exponent of the magnitude (1 magnitude, 2 power spectrum). Defaults to 1.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float waveform `(batch, samples)`, nominally in [-1, 1].

    Input shape:
        `(batch, samples)` with `samples >= frame_length`.

    Output shape:
        `(batch, frames, fft_length // 2 + 1)`.

    Example:
    >>> STFTMagnitude()(keras.ops.zeros((2, 16000))).shape
    TensorShape([2, 98, 257])
    """

    def __init__(
        self,
        sample_rate=16000,
        frame_length_ms=25.0,
        frame_step_ms=10.0,
        fft_length=None,
        power=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_audio_arguments(sample_rate, frame_length_ms, frame_step_ms, fft_length)
        if not power > 0:
            raise ValueError(f"`power` expected a positive number. Received: power={power!r}")
        self.sample_rate = sample_rate
        self.frame_length_ms = float(frame_length_ms)
        self.frame_step_ms = float(frame_step_ms)
        self.fft_length = fft_length
        self.power = float(power)
        self.frame_length = int(round(sample_rate * frame_length_ms / 1000.0))
        self.frame_step = max(1, int(round(sample_rate * frame_step_ms / 1000.0)))
        self.fft_size = fft_length or 1 << (self.frame_length - 1).bit_length()

    @property
    def num_bins(self):
        return self.fft_size // 2 + 1

    def num_frames(self, samples):
        if samples is None:
            return None
        return max(0, 1 + (samples - self.frame_length) // self.frame_step)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"{self.__class__.__name__} expected a 2D waveform input (batch, samples). "
                f"Received: input_shape={input_shape}"
            )

    def spectrogram(self, inputs):
        """`|STFT| ** power` in float32: (batch, samples) -> (batch, frames, bins)."""
        x = tf.cast(inputs, tf.float32)  # (B, S)
        stft = tf.signal.stft(
            x,
            self.frame_length,
            self.frame_step,
            self.fft_size,
            window_fn=tf.signal.hann_window,
            pad_end=False,
        )  # (B, T, bins) complex
        magnitude = tf.abs(stft)  # (B, T, bins)
        return magnitude if self.power == 1.0 else tf.pow(magnitude, self.power)

    def call(self, inputs):
        return tf.cast(self.spectrogram(inputs), self.compute_dtype)  # (B, T, bins)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_frames(input_shape[1]), self.num_bins)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "frame_length_ms": self.frame_length_ms,
            "frame_step_ms": self.frame_step_ms,
            "fft_length": self.fft_length,
            "power": self.power,
        }
