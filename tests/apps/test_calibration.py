"""Calibration (`apps.common.calibration`): ECE against a case computed by hand, temperature
scaling recovering a known temperature, the `TemperatureScaling` layer, the reliability diagram."""

import json

import numpy as np
import pytest

from dlsuite.apps.common.calibration import (
    MIN_PROBABILITY,
    TemperatureScaling,
    expected_calibration_error,
    fit_temperature,
)
from tests.core_layers.layer_checks import LAYER_CHECKS, LayerCase

# Four predictions (2 classes): confidence 0.95 right, 0.85 wrong, 0.74 right, 0.76 wrong.
HAND_PROBABILITIES = [[0.95, 0.05], [0.85, 0.15], [0.26, 0.74], [0.76, 0.24]]
HAND_LABELS = [0, 1, 1, 1]
# By hand: bin (0.9, 1]: 1 example, |1 - 0.95| = 0.05; (0.8, 0.9]: 1, |0 - 0.85| = 0.85;
# (0.7, 0.8]: 2, |0.5 - 0.75| = 0.25. ECE = 0.05 / 4 + 0.85 / 4 + 0.25 * 2 / 4 = 0.35.
# With 15 bins the same groups fall in (14/15, 1], (12/15, 13/15] and (11/15, 12/15].
HAND_ECE = 0.35


@pytest.mark.parametrize("bins", [10, 15])
def test_ece_of_a_hand_made_case(bins):
    result = expected_calibration_error(HAND_PROBABILITIES, HAND_LABELS, bins=bins)
    assert result["ece"] == pytest.approx(HAND_ECE, abs=1e-12)
    assert result["bins"] == bins and len(result["per_bin"]) == bins
    assert result["num_examples"] == 4 and result["accuracy"] == 0.5
    assert result["mean_confidence"] == pytest.approx((0.95 + 0.85 + 0.74 + 0.76) / 4)
    filled = {i: b for i, b in enumerate(result["per_bin"]) if b["count"]}
    assert [b["count"] for b in filled.values()] == [2, 1, 1]
    pair = next(b for b in filled.values() if b["count"] == 2)
    assert pair["accuracy"] == 0.5 and pair["confidence"] == pytest.approx(0.75)
    assert pair["lower"] < 0.74 and 0.76 <= pair["upper"]
    empty = [b for b in result["per_bin"] if not b["count"]]
    assert all(b["accuracy"] is None and b["confidence"] is None for b in empty)
    assert json.loads(json.dumps(result)) == result


def test_ece_is_zero_for_confident_right_answers_and_one_for_confident_wrong_ones():
    labels = np.array([0, 1, 2, 1])
    one_hot = np.eye(3)[labels]
    assert expected_calibration_error(one_hot, labels)["ece"] == 0.0
    assert expected_calibration_error(one_hot, (labels + 1) % 3)["ece"] == 1.0


@pytest.mark.parametrize(
    "probabilities, labels, message",
    [
        ([0.2, 0.8], [1], "at least 2 classes"),
        ([[0.2, 0.8]], [1, 0], "one per row"),
        ([[0.2, 0.8]], [2], r"class ids in \[0, 2\)"),
        ([[0.2, 0.8]], [0.5], "integer class ids"),
    ],
)
def test_ece_names_bad_input(probabilities, labels, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probabilities, labels)


def test_fit_temperature_recovers_a_known_temperature_and_lowers_the_ece():
    rng = np.random.default_rng(0)
    true_temperature = 2.5
    logits = 4.0 * rng.standard_normal((20000, 5))
    # Labels drawn from softmax(logits / T): the logits are overconfident by exactly T.
    p = np.exp(logits / true_temperature)
    p /= p.sum(axis=1, keepdims=True)
    labels = (p.cumsum(axis=1) < rng.random((len(p), 1))).sum(axis=1)
    fit = fit_temperature(logits, labels)
    assert fit["temperature"] == pytest.approx(true_temperature, rel=0.03)
    assert fit["nll_after"] < fit["nll_before"]
    assert fit["num_examples"] == 20000 and json.loads(json.dumps(fit)) == fit

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    before = expected_calibration_error(softmax(logits), labels)["ece"]
    after = expected_calibration_error(softmax(logits / fit["temperature"]), labels)["ece"]
    assert after < 0.02 < 0.1 < before
    # Log-probabilities are logits up to a per-row constant: the same temperature.
    log_p = np.log(np.maximum(softmax(logits), MIN_PROBABILITY))
    assert fit_temperature(log_p, labels)["temperature"] == pytest.approx(fit["temperature"])


def test_fit_temperature_names_non_finite_logits():
    with pytest.raises(ValueError, match="finite values.*MIN_PROBABILITY"):
        fit_temperature([[-np.inf, 0.0], [-0.7, -0.7]], [0, 1])


def test_temperature_scaling_softens_probabilities_and_keeps_the_argmax():
    import keras

    p = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]], dtype=np.float32)
    for temperature in (0.5, 1.0, 3.0):
        got = keras.ops.convert_to_numpy(TemperatureScaling(temperature)(p))
        want = p ** (1 / temperature) / (p ** (1 / temperature)).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        np.testing.assert_array_equal(got.argmax(axis=1), p.argmax(axis=1))
    with pytest.raises(ValueError, match="temperature"):
        TemperatureScaling(0.0)


@pytest.mark.parametrize("check", LAYER_CHECKS, ids=lambda check: check.__name__)
def test_temperature_scaling_layer_checks(check, tmp_path):
    check(LayerCase(TemperatureScaling, {"temperature": 1.7}, (3, 4)), tmp_path)


def test_temperature_scaling_appended_to_a_classifier_round_trips(tmp_path):
    import keras

    from tests.core_layers.layer_checks import check_keras_round_trip

    inputs = keras.Input((6,))
    logits = keras.layers.Dense(3, name="logits")(inputs)
    probabilities = keras.layers.Activation("softmax", name="probabilities")(logits)
    model = keras.Model(inputs, TemperatureScaling(2.0, name="calibrated")(probabilities))
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    restored = check_keras_round_trip(model, x, tmp_path)
    assert restored.get_layer("calibrated").temperature == 2.0
    scaled = keras.ops.convert_to_numpy(model(x))
    plain = keras.ops.convert_to_numpy(keras.ops.softmax(keras.Model(inputs, logits)(x) / 2.0))
    np.testing.assert_allclose(scaled, plain, rtol=1e-5)


def test_reliability_diagram_writes_a_png(tmp_path):
    from dlsuite.apps.common.plots import plot_reliability_diagram

    result = expected_calibration_error(HAND_PROBABILITIES, HAND_LABELS)
    path = plot_reliability_diagram(result, tmp_path / "reliability.png", title="hand-made")
    assert path.read_bytes().startswith(b"\x89PNG")
