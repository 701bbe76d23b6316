"""Waveform augmentation for keyword spotting: ``augmentation(config)`` for ``make_pipeline``.

Every augmentation is TensorFlow ops on a batch ``(B, S)`` -> ``(B, S)`` inside the training
pipeline's ``tf.data`` map (after batching), drawn per example, its random ops seeded from
``config.seed``. Besides ``shift`` and ``noise``, they change the speaker, the room, the
microphone and the level rather than the words, so that a model learns words rather than voices:

- ``speed`` (Ko et al., "Audio augmentation for speech recognition", Interspeech 2015): the clip
  played a factor in `SPEED_RANGE` faster or slower, which changes duration, pitch and formants
  together (`change_speed`).
- ``vtlp`` (vocal tract length perturbation, Jaitly & Hinton, ICML 2013 workshop): the frequency
  axis warped by a factor in `VTLP_RANGE`, linearly up to `VTLP_BOUNDARY` of the Nyquist frequency
  and piecewise linearly above so the Nyquist frequency stays put. Formants and harmonics (so the
  pitch) move, the duration does not (`warp_frequencies`, a phase vocoder on the waveform).
- ``gain``: a level change in `GAIN_DB_RANGE` dB (`change_gain`).
- ``bandlimit``: a random microphone or channel response: a low-pass with its cut in
  `LOWPASS_HZ` (at most 0.9 of the Nyquist frequency), a high-pass with its cut in `HIGHPASS_HZ`,
  or both, on a third of the changed clips each (`band_limit`).
- ``reverb``: a synthetic room: the clip convolved with exponentially decaying noise of an RT60
  in `RT60_S`, mixed with the dry clip (`room_impulse_responses`, `reverberate`).

Each of these five changes a clip with probability `PROBABILITY`, independently (only the
changed clips are computed). The chain is speed, vtlp, reverb (the talker in a room), shift,
noise, bandlimit (the microphone hears the noise too), gain; the result is clipped to [-1, 1]. A
seeded run (op determinism on, as the trainer sets it) repeats its augmentation exactly.
SpecAugment is not here: it is a layer inside the model (active only in training).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from dlsuite.apps.speech.config import SpeechConfig

PROBABILITY = 0.5  # share of clips each of speed, vtlp, gain, bandlimit, reverb changes
SPEED_RANGE = (0.9, 1.1)  # playback speed factors (Ko et al. use 0.9, 1.0 and 1.1)
VTLP_RANGE = (0.9, 1.1)  # frequency warp factors (Jaitly & Hinton draw from 0.9..1.1)
VTLP_BOUNDARY = 0.6  # of the Nyquist frequency: Jaitly & Hinton's 4.8 kHz at 16 kHz
VTLP_WINDOW_MS = 32.0  # phase vocoder window; hop a quarter of it
GAIN_DB_RANGE = (-12.0, 6.0)
LOWPASS_HZ = (2500.0, 4000.0)  # cut frequencies; at low sample rates 0.6..0.9 of Nyquist
HIGHPASS_HZ = (50.0, 400.0)
FILTER_ORDER = 4  # Butterworth magnitude response: 24 dB per octave beyond the cut
RT60_S = (0.1, 0.6)  # reverberation time: the room's impulse response decays 60 dB in it
WET_RANGE = (0.3, 0.8)  # share of the reverberant signal in the mix


def change_speed(x: Any, factors: Any) -> Any:
    """Waveforms ``x`` (B, S) played ``factors`` (B,) times as fast, in (B, S).

    Output sample ``n`` is the input at ``c + (n - c) * factor`` (``c`` the clip's centre), by
    linear interpolation between the two neighbouring samples; positions outside the clip are
    0. So a factor of 1.1 shortens every sound and raises every frequency by 1.1, centred on the
    clip (the ends are cropped or zero-padded back to ``S``). Linear interpolation is a mild
    low-pass and, speeding up, lets the top ~10% of the band alias: negligible for speech.
    """
    import tensorflow as tf

    samples = tf.shape(x)[1]
    centre = (tf.cast(samples, tf.float32) - 1.0) / 2.0
    n = tf.range(samples, dtype=tf.float32)
    position = centre + (n[None, :] - centre) * tf.cast(factors, tf.float32)[:, None]  # (B, S)
    left = tf.floor(position)
    frac = position - left
    left = tf.cast(left, tf.int32)

    def at(index: Any) -> Any:  # (B, S) samples of x at integer positions, 0 outside the clip
        inside = tf.cast((index >= 0) & (index < samples), x.dtype)
        return tf.gather(x, tf.clip_by_value(index, 0, samples - 1), batch_dims=1) * inside

    return at(left) * (1.0 - frac) + at(left + 1) * frac


def change_gain(x: Any, gain_db: Any) -> Any:
    """Waveforms ``x`` (B, S) ``gain_db`` (B,) dB louder, in (B, S) (not clipped here)."""
    return x * 10.0 ** (gain_db[:, None] / 20.0)


def _vtlp_map(hz: Any, factors: Any, nyquist: float, inverse: bool) -> Any:
    """Jaitly & Hinton's frequency warp of ``hz`` (B, K) by ``factors`` (B, 1), or its inverse.

    Below the boundary ``f -> factor * f``; above it the straight line to (nyquist, nyquist).
    """
    import tensorflow as tf

    boundary_out = VTLP_BOUNDARY * nyquist * tf.minimum(factors, 1.0)  # (B, 1)
    boundary_in = boundary_out / factors
    start, end = (boundary_out, boundary_in) if inverse else (boundary_in, boundary_out)
    slope = (nyquist - end) / (nyquist - start)
    linear = hz / factors if inverse else hz * factors
    return tf.where(hz <= start, linear, nyquist - slope * (nyquist - hz))


def warp_frequencies(x: Any, factors: Any, sample_rate: int) -> Any:
    """Waveforms ``x`` (B, S) with every frequency warped by the VTLP map of ``factors`` (B,).

    A phase vocoder: the STFT (Hann window of `VTLP_WINDOW_MS`, hop a quarter of it) is
    resampled along frequency (each output bin takes the linearly interpolated magnitude at its
    source frequency, the inverse warp), and each output bin's phase advances at the warped
    instantaneous frequency of its source bin, so a sine of ``f`` Hz comes out as one sine of
    ``warp(f)`` Hz. The duration is unchanged; the phases of neighbouring bins are no longer
    coherent, which smears transients a little within a window and would lower the level by up to
    ~2 dB: the output is scaled back to the input's RMS. In (B, S).
    """
    import tensorflow as tf

    frame_length = round(sample_rate * VTLP_WINDOW_MS / 1000)
    fft_length = 2 ** math.ceil(math.log2(frame_length))
    hop = frame_length // 4
    bins = fft_length // 2 + 1
    nyquist = sample_rate / 2.0
    samples = tf.shape(x)[1]
    padded = tf.pad(x, [[0, 0], [frame_length, frame_length]])  # every sample under 4 windows
    spectrum = tf.signal.stft(padded, frame_length, hop, fft_length, pad_end=True)  # (B, T, K)
    factors = tf.cast(factors, tf.float32)[:, None]  # (B, 1)
    bin_hz = tf.range(bins, dtype=tf.float32) * (sample_rate / fft_length)  # (K,)
    source = _vtlp_map(bin_hz[None, :], factors, nyquist, inverse=True) / (
        sample_rate / fft_length
    )  # (B, K) fractional source bins, in [0, K - 1]
    lower = tf.clip_by_value(tf.cast(tf.floor(source), tf.int32), 0, bins - 2)
    frac = source - tf.cast(lower, tf.float32)
    magnitude = tf.abs(spectrum)  # (B, T, K)
    warped_magnitude = (
        tf.gather(magnitude, lower, axis=2, batch_dims=1) * (1.0 - frac)[:, None, :]
        + tf.gather(magnitude, lower + 1, axis=2, batch_dims=1) * frac[:, None, :]
    )
    # Instantaneous frequency of every bin from its phase advance over one hop (Hz).
    phase = tf.math.angle(spectrum)  # (B, T, K)
    expected = 2.0 * math.pi * hop * bin_hz / sample_rate  # (K,) advance at the bin centre
    deviation = phase[:, 1:] - phase[:, :-1] - expected
    deviation = tf.math.floormod(deviation + math.pi, 2.0 * math.pi) - math.pi
    frequency = (expected + deviation) * sample_rate / (2.0 * math.pi * hop)  # (B, T - 1, K)
    nearest = tf.clip_by_value(tf.cast(tf.round(source), tf.int32), 0, bins - 1)  # (B, K)
    source_frequency = tf.gather(frequency, nearest, axis=2, batch_dims=1)  # (B, T - 1, K)
    # The map's two lines extend beyond [0, nyquist], where noisy phases put some estimates.
    warped_frequency = _vtlp_map(source_frequency, factors[:, :, None], nyquist, inverse=False)
    advance = 2.0 * math.pi * hop * warped_frequency / sample_rate
    start = tf.gather(phase[:, :1], nearest, axis=2, batch_dims=1)  # (B, 1, K)
    steps = tf.cast(tf.concat([start, advance], axis=1), tf.float64)  # float64: T-long sums
    warped_phase = tf.cast(tf.math.floormod(tf.cumsum(steps, axis=1), 2.0 * math.pi), tf.float32)
    warped = tf.complex(warped_magnitude, 0.0) * tf.exp(tf.complex(0.0, warped_phase))
    y = tf.signal.inverse_stft(
        warped,
        frame_length,
        hop,
        fft_length,
        window_fn=tf.signal.inverse_stft_window_fn(hop),
    )  # (B, (T - 1) * hop + frame_length)
    return _same_rms(y[:, frame_length : frame_length + samples], x)


def _same_rms(y: Any, x: Any) -> Any:
    """``y`` (B, S) scaled to the RMS of ``x`` (B, S), clip by clip (silence stays silent)."""
    import tensorflow as tf

    rms_x = tf.sqrt(tf.reduce_mean(tf.square(x), axis=1, keepdims=True))
    rms_y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=1, keepdims=True))
    return y * rms_x / (rms_y + 1e-9)


def band_limit(x: Any, highpass_hz: Any, lowpass_hz: Any, sample_rate: int) -> Any:
    """Waveforms ``x`` (B, S) through a high-pass at ``highpass_hz`` (B,; 0: none) and a
    low-pass at ``lowpass_hz`` (B,; inf: none), in (B, S).

    Zero-phase filtering in the frequency domain: the clip's spectrum times Butterworth magnitude
    responses of order `FILTER_ORDER` (``1 / sqrt(1 + (f / cut) ** 8)`` for the low-pass, -3 dB at
    the cut). The FFT is of the whole clip, so the filter is circular, which only matters within
    a few milliseconds of the clip's ends.
    """
    import tensorflow as tf

    samples = tf.shape(x)[1]
    spectrum = tf.signal.rfft(x)  # (B, S // 2 + 1)
    hz = tf.range(samples // 2 + 1, dtype=tf.float32) * (
        sample_rate / tf.cast(samples, tf.float32)
    )  # (K,)
    order = 2 * FILTER_ORDER
    lowpass = 1.0 / tf.sqrt(1.0 + (hz[None, :] / lowpass_hz[:, None]) ** order)
    highpass = 1.0 / tf.sqrt(1.0 + (highpass_hz[:, None] / tf.maximum(hz[None, :], 1e-3)) ** order)
    response = tf.complex(lowpass * highpass, 0.0)  # (B, K)
    return tf.signal.irfft(spectrum * response, fft_length=[samples])


def room_impulse_responses(noise: Any, rt60_s: Any, sample_rate: int) -> Any:
    """Synthetic room impulse responses (B, L): ``noise`` (B, L) under an exponential decay
    that falls by 60 dB in ``rt60_s`` (B,) seconds (a diffuse reverberant tail)."""
    import tensorflow as tf

    t = tf.range(tf.shape(noise)[1], dtype=tf.float32) / sample_rate  # (L,) seconds
    return noise * tf.exp(-math.log(1000.0) * t[None, :] / rt60_s[:, None])


def reverberate(x: Any, impulse_responses: Any, wet: Any) -> Any:
    """Waveforms ``x`` (B, S) mixed with their convolution with ``impulse_responses`` (B, L)
    (FFT, cropped to S) as ``(1 - wet) x + wet reverberant`` (``wet`` (B,)), then scaled back to
    the RMS of ``x``, in (B, S)."""
    import tensorflow as tf

    samples, taps = tf.shape(x)[1], tf.shape(impulse_responses)[1]
    # Both zero-padded to S + L: the convolution's tail does not wrap into the clip.
    spectrum = tf.signal.rfft(tf.pad(x, [[0, 0], [0, taps]])) * tf.signal.rfft(
        tf.pad(impulse_responses, [[0, 0], [0, samples]])
    )
    reverberant = tf.signal.irfft(spectrum, [samples + taps])[:, :samples]
    wet = wet[:, None]
    return _same_rms((1.0 - wet) * x + wet * reverberant, x)


def augmentation(config: SpeechConfig) -> Callable[..., Any] | None:
    """Batched waveform augmentation ``augment(x (B, S), training=True) -> (B, S)`` of the
    waveform augmentations named in ``config.augment`` (see the module), or None if none is."""
    import tensorflow as tf

    chosen = set(config.augment)
    shift = "shift" in chosen and config.time_shift_ms > 0
    noise = "noise" in chosen
    if not (shift or noise or chosen & {"speed", "vtlp", "gain", "bandlimit", "reverb"}):
        return None
    max_shift = config.sample_rate * config.time_shift_ms // 1000
    rate = config.sample_rate
    nyquist = rate / 2.0
    lowpass_range = (min(LOWPASS_HZ[0], 0.6 * nyquist), min(LOWPASS_HZ[1], 0.9 * nyquist))
    rir_length = round(RT60_S[1] * rate)

    def augment(x: Any, training: bool = True) -> Any:  # (B, S) -> (B, S)
        batch, samples = tf.shape(x)[0], tf.shape(x)[1]

        def uniform(seed: int, low: float = 0.0, high: float = 1.0) -> Any:  # (B,)
            return tf.random.uniform([batch], low, high, seed=config.seed + seed)

        def sometimes(seed: int, change: Callable[..., Any], x: Any, *args: Any) -> Any:
            """``change(x, *args)`` on a PROBABILITY share of the clips (only those computed);
            ``args`` are (B, ...) per-clip parameters."""
            rows = tf.where(uniform(seed) < PROBABILITY)  # (N, 1)
            changed = change(tf.gather_nd(x, rows), *(tf.gather_nd(a, rows) for a in args))
            return tf.tensor_scatter_nd_update(x, rows, changed)

        if "speed" in chosen:
            x = sometimes(5, change_speed, x, uniform(6, *SPEED_RANGE))
        if "vtlp" in chosen:
            warp = functools.partial(warp_frequencies, sample_rate=rate)
            x = sometimes(7, warp, x, uniform(8, *VTLP_RANGE))
        if "reverb" in chosen:
            tail = tf.random.normal([batch, rir_length], seed=config.seed + 11)
            rooms = room_impulse_responses(tail, uniform(10, *RT60_S), rate)
            x = sometimes(9, reverberate, x, rooms, uniform(12, *WET_RANGE))
        if shift:
            offsets = tf.random.uniform(
                [batch], -max_shift, max_shift + 1, tf.int32, seed=config.seed
            )
            index = tf.range(samples)[None, :] - offsets[:, None]  # (B, S)
            valid = tf.cast((index >= 0) & (index < samples), x.dtype)
            x = tf.gather(x, tf.clip_by_value(index, 0, samples - 1), batch_dims=1) * valid
        if noise:
            white = tf.random.normal(tf.shape(x), seed=config.seed + 1)  # (B, S)
            brown = tf.cumsum(white, axis=1)
            brown = brown - tf.reduce_mean(brown, axis=1, keepdims=True)
            mix = tf.random.uniform([batch, 1], seed=config.seed + 2)
            noise_wave = mix * white / tf.math.reduce_std(white, axis=1, keepdims=True) + (
                1 - mix
            ) * brown / (tf.math.reduce_std(brown, axis=1, keepdims=True) + 1e-6)
            snr_db = config.noise_snr_db + 20.0 * tf.random.uniform(
                [batch, 1], seed=config.seed + 3
            )
            # Speech fills about a quarter of the clip.
            power = tf.reduce_mean(tf.square(x), axis=1, keepdims=True) * 4.0
            scale = tf.sqrt(power / 10.0 ** (snr_db / 10.0))
            apply = tf.cast(tf.random.uniform([batch, 1], seed=config.seed + 4) < 0.8, x.dtype)
            x = tf.clip_by_value(x + apply * scale * noise_wave, -1.0, 1.0)
        if "bandlimit" in chosen:
            kind = uniform(14)  # a third of the clips low-pass, a third both, a third high-pass
            lowpass = tf.where(kind < 2 / 3, uniform(15, *lowpass_range), math.inf)
            highpass = tf.where(kind >= 1 / 3, uniform(16, *HIGHPASS_HZ), 0.0)
            limit = functools.partial(band_limit, sample_rate=rate)
            x = sometimes(13, limit, x, highpass, lowpass)
        if "gain" in chosen:
            x = sometimes(17, change_gain, x, uniform(18, *GAIN_DB_RANGE))
        return tf.clip_by_value(x, -1.0, 1.0)

    return augment
