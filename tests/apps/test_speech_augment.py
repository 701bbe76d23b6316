"""Waveform augmentations of the keyword spotters (`apps.speech.augment`): what each one does to
known signals, and how `augmentation(config)` draws them per example, seeded."""

import numpy as np
import pytest

from dlsuite.apps.speech.config import SpeechConfig

RATE = 16000
VOICE = ("speed", "vtlp", "gain", "bandlimit", "reverb")


def tone_burst(frequency=1000.0, start=4000, stop=12000, amplitude=0.5, noise=0.0, batch=1):
    """(batch, RATE) float32: a sine of `frequency` Hz from `start` to `stop`, silence around it,
    plus white noise of standard deviation `noise`."""
    n = np.arange(RATE)
    x = np.where((n >= start) & (n < stop), amplitude * np.sin(2 * np.pi * frequency * n / RATE), 0)
    x = x + noise * np.random.default_rng(0).standard_normal((batch, RATE))
    return np.broadcast_to(x, (batch, RATE)).astype(np.float32)


def peak_hz(x):
    """The frequency of the highest peak of a Hann-windowed, zero-padded spectrum of `x` (S,)."""
    size = 1 << 18
    return np.argmax(np.abs(np.fft.rfft(x * np.hanning(len(x)), size))) * RATE / size


def extent(x, threshold=0.01):
    """Samples from the first to the last |x| above `threshold`."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    return loud[-1] - loud[0] + 1


@pytest.fixture(autouse=True)
def _seeded():
    import keras

    keras.utils.set_random_seed(0)  # op seeds combine with the global seed, which tests change


@pytest.mark.parametrize("name", VOICE)
def test_each_augmentation_changes_about_half_of_the_clips_and_keeps_the_rest(name):
    import tensorflow as tf

    from dlsuite.apps.speech.augment import PROBABILITY, augmentation

    x = tone_burst(noise=0.02, batch=64)
    y = augmentation(SpeechConfig(augment=(name,)))(tf.constant(x)).numpy()
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.abs(y).max() <= 1.0
    changed = np.any(y != x, axis=1)
    # Binomial(64, 0.5): 32 expected, standard deviation 4.
    assert 64 * PROBABILITY - 14 <= changed.sum() <= 64 * PROBABILITY + 14, changed.sum()
    assert np.abs(y - x)[changed].max(axis=1).min() > 1e-4  # a real change, not rounding
    assert augmentation(SpeechConfig(augment=("specaugment",))) is None


def test_speed_scales_duration_and_frequency_by_the_factor():
    import tensorflow as tf

    from dlsuite.apps.speech.augment import augmentation, change_speed

    x = tone_burst(batch=3)
    y = change_speed(tf.constant(x), tf.constant([1.1, 0.9, 1.0])).numpy()
    for row, factor in zip(y[:2], (1.1, 0.9), strict=True):
        assert extent(row) == pytest.approx(extent(x[0]) / factor, abs=2)
        assert peak_hz(row) == pytest.approx(1000 * factor, abs=1)
        loud = np.flatnonzero(np.abs(row) > 0.01)
        assert (loud[0] + loud[-1]) / 2 == pytest.approx(7999.5, abs=2)  # centred as before
    np.testing.assert_array_equal(y[2], x[2])
    # Drawn in the pipeline: a factor in [0.9, 1.1] per changed clip, the same for both.
    x = tone_burst(batch=32)
    y = augmentation(SpeechConfig(augment=("speed",)))(tf.constant(x)).numpy()
    factors = [
        (peak_hz(row) / 1000, extent(x[0]) / extent(row)) for row in y if (row != x[0]).any()
    ]
    assert len(factors) > 5 and len({round(f, 3) for f, _ in factors}) == len(factors)
    for by_frequency, by_duration in factors:
        assert 0.9 - 1e-3 <= by_frequency <= 1.1 + 1e-3
        assert by_duration == pytest.approx(by_frequency, abs=1e-3)


def test_vtlp_moves_frequencies_and_keeps_the_duration():
    import tensorflow as tf

    from dlsuite.apps.speech.augment import warp_frequencies

    low, high = tone_burst(1000.0), tone_burst(6000.0)
    x = np.concatenate([low, low, high, low])
    y = warp_frequencies(tf.constant(x), tf.constant([1.1, 0.9, 1.1, 1.0]), RATE).numpy()
    # Below the boundary (0.6 Nyquist) f -> factor f; above it, on the line to (8000, 8000):
    # 6000 Hz with 1.1 -> 8000 - (8000 - 4800) / (8000 - 4800 / 1.1) * 2000 = 6240 Hz.
    for row, expected in zip(y, (1100.0, 900.0, 6240.0, 1000.0), strict=True):
        steady = row[5000:11000]
        assert peak_hz(steady) == pytest.approx(expected, abs=2)
        spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady)))) ** 2
        hz = np.fft.rfftfreq(len(steady), 1 / RATE)
        assert spectrum[np.abs(hz - expected) < 50].sum() > 0.999 * spectrum.sum()  # one sine
        assert abs(extent(row, 0.05) - 8000) <= 512  # the duration, to a window
    np.testing.assert_allclose(np.mean(y**2, axis=1), np.mean(x**2, axis=1), rtol=1e-4)
    np.testing.assert_allclose(y[3], x[3], atol=1e-3)  # factor 1: the identity, to rounding


def test_band_limit_removes_energy_beyond_the_cuts():
    import tensorflow as tf

    from dlsuite.apps.speech.augment import band_limit

    x = 0.1 * np.random.default_rng(1).standard_normal((3, RATE)).astype(np.float32)
    y = band_limit(
        tf.constant(x), tf.constant([0.0, 300.0, 0.0]), tf.constant([3000.0, np.inf, np.inf]), RATE
    ).numpy()
    hz = np.fft.rfftfreq(RATE, 1 / RATE)

    def change_db(row, low, high):
        band = (hz >= low) & (hz < high)
        power = np.abs(np.fft.rfft([y[row], x[row]])[:, band]) ** 2
        return 10 * np.log10(power[0].sum() / power[1].sum())

    assert change_db(0, 4500, 8000) < -20  # low-pass at 3 kHz
    assert change_db(1, 0, 150) < -20  # high-pass at 300 Hz
    for row in (0, 1):
        assert abs(change_db(row, 800, 1500)) < 0.05  # the pass band is kept
    assert change_db(0, 2990, 3010) == pytest.approx(-3.0, abs=0.3)  # -3 dB at the cut
    np.testing.assert_allclose(y[2], x[2], atol=1e-6)  # neither: the identity


def test_reverb_lengthens_the_decay_by_the_rt60():
    import tensorflow as tf

    from dlsuite.apps.speech.augment import augmentation, reverberate, room_impulse_responses

    x = np.zeros((3, RATE), np.float32)
    x[:, 2000:2800] = 0.3 * np.random.default_rng(2).standard_normal(800)  # 50 ms of noise
    rooms = room_impulse_responses(
        tf.random.normal([3, 9600], seed=1), tf.constant([0.1, 0.6, 0.6]), RATE
    )
    y = reverberate(tf.constant(x), rooms, tf.constant([0.5, 0.5, 0.0])).numpy()

    def level_db(row, start):  # energy of the 50 ms from `start`
        return 10 * np.log10(np.mean(y[row, start : start + 800] ** 2))

    for row, rt60 in ((0, 0.1), (1, 0.6)):
        slope = (level_db(row, 2800 + 800) - level_db(row, 2800 + 3 * 800)) / 0.1  # dB per s
        assert slope == pytest.approx(60 / rt60, rel=0.2)
    assert level_db(1, 2800 + 4 * 800) > level_db(0, 2800 + 4 * 800) + 40  # the longer room
    np.testing.assert_allclose(y[2], x[2], atol=1e-6)  # dry
    np.testing.assert_allclose(np.mean(y**2, axis=1), np.mean(x**2, axis=1), rtol=1e-4)
    # Drawn in the pipeline: every changed clip rings on after the burst.
    z = augmentation(SpeechConfig(augment=("reverb",)))(tf.constant(np.repeat(x[:1], 16, 0)))
    tails = np.abs(z.numpy()[:, 2800:3600]).max(axis=1)  # the 50 ms after the burst
    assert ((tails > 1e-3) | (tails == 0)).all() and 0 < (tails > 0).sum() < 16


def test_gain_scales_the_level_within_its_range_and_clips():
    import tensorflow as tf

    from dlsuite.apps.speech.augment import GAIN_DB_RANGE, augmentation

    augment = augmentation(SpeechConfig(augment=("gain",)))
    x = tone_burst(amplitude=0.1, batch=64)
    y = augment(tf.constant(x)).numpy()
    gain_db = 20 * np.log10(np.sqrt(np.mean(y**2, axis=1) / np.mean(x**2, axis=1)))
    changed = gain_db != 0
    assert GAIN_DB_RANGE[0] <= gain_db.min() and gain_db.max() <= GAIN_DB_RANGE[1]
    assert gain_db[changed].std() > 3  # spread over the range (uniform: 5.2 dB)
    np.testing.assert_allclose(
        y[changed], x[changed] * 10 ** (gain_db[changed, None] / 20), atol=1e-6
    )  # one factor per clip
    loud = augment(tf.constant(tone_burst(amplitude=0.99, batch=64))).numpy()
    assert np.abs(loud).max() == 1.0  # +6 dB of a 0.99 sine is clipped


def test_seeded_pipeline_repeats_its_augmentation_and_another_seed_does_not():
    import tensorflow as tf

    from dlsuite.apps.common.data import make_pipeline
    from dlsuite.apps.common.trainer import seed_everything
    from dlsuite.apps.speech.augment import augmentation

    x = tone_burst(noise=0.02, batch=16)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(16)))

    def batches(seed):
        seed_everything(seed)  # as a seeded run does: stateful random ops, op determinism on
        config = SpeechConfig(augment=(*VOICE, "shift", "noise"), seed=seed)
        pipeline = make_pipeline(
            dataset, batch_size=8, training=True, seed=seed, augment=augmentation(config)
        )
        return [(w.numpy(), y.numpy()) for w, y in pipeline]

    first, again, other = batches(3), batches(3), batches(4)
    for (w1, y1), (w2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])


def test_all_augmentations_run_on_single_clips_whichever_are_drawn():
    import tensorflow as tf

    from dlsuite.apps.speech.augment import augmentation

    augment = augmentation(SpeechConfig(augment=(*VOICE, "shift", "noise")))
    x = tf.constant(tone_burst(noise=0.02))
    outputs = [augment(x).numpy() for _ in range(8)]  # each augmentation skips some of these
    assert all(y.shape == (1, RATE) and np.abs(y).max() <= 1.0 for y in outputs)
    assert len({y.tobytes() for y in outputs}) == 8
