"""`PCEN` (per-channel energy normalization, Wang et al. 2017) against its recursion, and the
keyword spotters' `features="pcen"` front end. The shared checks of every layer (config, `.keras`
and SavedModel round trips, mixed precision, training) are in `test_layers.py`."""

import keras
import numpy as np
import pytest

from dlsuite.core_layers import PCEN, LogMelSpectrogram


def pcen_reference(energies, alpha, delta, r, s, eps=1e-6):
    """PCEN of `energies` (B, T, F) by the recursion, in NumPy (float64), M[-1] = E[0]."""
    smoothed = np.empty_like(energies, dtype=np.float64)
    state = energies[:, 0].astype(np.float64)
    for t in range(energies.shape[1]):
        state = (1 - s) * state + s * energies[:, t]
        smoothed[:, t] = state
    return (energies / (eps + smoothed) ** alpha + delta) ** r - delta**r


def test_pcen_is_the_recursion_with_per_channel_parameters():
    energies = np.random.default_rng(0).exponential(size=(2, 50, 4)).astype(np.float32)
    layer = PCEN(smooth_coef=0.05)
    layer.build(energies.shape)
    alpha, delta, r = np.array([0.5, 0.8, 0.98, 1.0]), np.array([0.5, 1, 2, 4]), np.full(4, 0.25)
    layer.log_alpha.assign(np.log(alpha))
    layer.log_delta.assign(np.log(delta))
    layer.log_r.assign(np.log(r))
    np.testing.assert_allclose(
        layer(energies).numpy(), pcen_reference(energies, alpha, delta, r, 0.05), atol=2e-6
    )
    assert layer(energies[:, :7]).shape == (2, 7, 4)  # any number of frames


def test_constant_input_is_the_steady_state_and_a_step_converges_to_it():
    c = 3.0
    steady = (c / (1e-6 + c) ** 0.98 + 2.0) ** 0.5 - 2.0**0.5  # 0.3049
    layer = PCEN(smooth_coef=0.2)
    np.testing.assert_allclose(layer(np.full((1, 30, 2), c, np.float32)).numpy(), steady, atol=1e-6)
    step = np.concatenate([np.full((1, 10, 2), 0.1), np.full((1, 60, 2), c)], 1)
    out = layer(step.astype(np.float32)).numpy()[0, :, 0]
    assert out[10] > 3 * steady  # an onset stands out ...
    assert abs(out[-1] - steady) < 1e-4  # ... and fades as M catches up (0.8 ** 60)
    assert np.all(np.diff(out[10:]) < 0)


def test_with_alpha_one_a_level_change_does_not_change_the_output():
    energies = np.random.default_rng(1).exponential(size=(1, 40, 3)).astype(np.float32)
    layer = PCEN(alpha=1.0, eps=1e-12)
    np.testing.assert_allclose(layer(1000 * energies), layer(energies), rtol=1e-4)  # alpha = 1


def test_weights_are_trainable_per_channel_and_bad_arguments_are_errors():
    layer = PCEN()
    layer.build((None, 49, 40))
    assert [w.name for w in layer.trainable_weights] == ["log_alpha", "log_delta", "log_r"]
    assert [w.name for w in layer.non_trainable_weights] == ["log_smooth_coef"]
    assert all(w.shape == (40,) for w in layer.weights)
    np.testing.assert_allclose(np.exp(layer.log_alpha.numpy()), 0.98, rtol=1e-6)
    learned = PCEN(learn_smooth_coef=True)
    learned.build((None, 49, 40))
    assert len(learned.trainable_weights) == 4
    for kwargs, name in (
        ({"alpha": 1.5}, "alpha"),
        ({"r": 0.0}, "r"),
        ({"smooth_coef": 1.0}, "smooth_coef"),
        ({"delta": -1.0}, "delta"),
        ({"eps": 0.0}, "eps"),
    ):
        with pytest.raises(ValueError, match=f"`{name}` expected"):
            PCEN(**kwargs)
    with pytest.raises(ValueError, match="expected a 3D input"):
        PCEN()(np.ones((2, 40), np.float32))


def test_mel_energies_are_the_exponential_of_the_log_mel():
    waveform = np.random.default_rng(2).standard_normal((2, 4000)).astype(np.float32) * 0.1
    mel = LogMelSpectrogram(log=False, num_mel_bins=16)(waveform).numpy()
    log_mel = LogMelSpectrogram(num_mel_bins=16)(waveform).numpy()
    assert mel.min() >= 0
    np.testing.assert_allclose(np.log(mel + 1e-6), log_mel, atol=1e-5)
    assert LogMelSpectrogram.from_config(LogMelSpectrogram(log=False).get_config()).log is False


def test_pcen_front_end_model_trains_and_round_trips_with_its_learned_weights(tmp_path):
    from dlsuite.apps.speech.export import split_front_end
    from dlsuite.apps.speech.models import build_model
    from tests.core_layers.layer_checks import check_keras_round_trip, check_training_step

    keras.utils.set_random_seed(0)
    model = build_model("ds_cnn", 8000, 3, frontend={"features": "pcen", "sample_rate": 16000})
    pcen = model.get_layer("pcen")
    assert model.get_layer("mel").log is False
    assert pcen.smooth_coef == pytest.approx(1 - np.exp(-20 / 400))  # 20 ms hops, 0.4 s
    assert pcen.output.shape == (None, 24, 40)  # 8000 samples, 40 ms windows, 20 ms hops
    x = np.random.default_rng(0).standard_normal((4, 8000)).astype(np.float32) * 0.1
    before = pcen.log_alpha.numpy().copy()
    check_training_step(model, x, targets=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    assert not np.array_equal(pcen.log_alpha.numpy(), before)  # PCEN learns with the network
    restored = check_keras_round_trip(model, x, tmp_path)
    np.testing.assert_array_equal(restored.get_layer("pcen").log_r.numpy(), pcen.log_r.numpy())
    front_end, body = split_front_end(model)  # the int8 cut, after PCEN and CMVN
    np.testing.assert_allclose(body(front_end(x)).numpy(), model(x).numpy(), atol=1e-6)
