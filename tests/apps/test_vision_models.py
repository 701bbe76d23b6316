"""Vision model builders: parameter counts, outputs, `.keras` round trips and argument errors."""

import keras
import numpy as np
import pytest

from dlsuite.apps.vision.models import DEFAULT_INPUT_SIZE, MODELS, build_model
from tests.core_layers.layer_checks import check_keras_round_trip, check_saved_model_parity

SMALL_INPUT = {"resnet50": 32}  # smallest sizes keeping the forward-pass tests fast


def pixels(shape, seed=0):
    """A float32 batch of pixel values in [0, 255]."""
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype("float32")


def test_registry_keys_and_default_sizes():
    expected = {"lenet5", "alexnet", "resnet20", "resnet32", "resnet56", "resnet50"}
    assert set(MODELS) == expected and set(DEFAULT_INPUT_SIZE) == expected
    assert DEFAULT_INPUT_SIZE["resnet50"] == 224
    assert all(DEFAULT_INPUT_SIZE[name] == 32 for name in expected - {"resnet50"})


def test_lenet5_parameter_count_is_exact():
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850.
    assert build_model("lenet5", (32, 32, 1), 10).count_params() == 61_706


def test_resnet20_parameter_count_matches_paper():
    count = build_model("resnet20", (32, 32, 3), 10).count_params()
    assert abs(count - 270_000) / 270_000 < 0.03, count


def test_resnet50_parameter_count_matches_keras_applications():
    reference = keras.applications.ResNet50(weights=None, classes=1000).count_params()
    count = build_model("resnet50", (224, 224, 3), 1000).count_params()
    assert abs(count - reference) / reference < 0.01, (count, reference)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_structure_and_probabilities(name):
    size = SMALL_INPUT.get(name, DEFAULT_INPUT_SIZE[name])
    model = build_model(name, (size, size, 3), 5)
    assert model.name == name
    assert model.inputs[0].dtype == "float32"
    first = model.layers[1]  # layers[0] is the InputLayer
    assert isinstance(first, keras.layers.Rescaling) and first.scale == pytest.approx(1 / 255)
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Activation) and last.name == "probabilities"
    outputs = keras.ops.convert_to_numpy(model(pixels((2, size, size, 3)), training=False))
    assert outputs.shape == (2, 5) and outputs.dtype == np.float32
    np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, atol=1e-5)


def test_outputs_stay_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("lenet5", (32, 32, 1), 10)
        outputs = model(pixels((2, 32, 32, 1)), training=False)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.get_layer("logits").compute_dtype == "float16"
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs).sum(-1), 1.0, atol=1e-3)


@pytest.mark.parametrize(
    "name, options",
    [("lenet5", {"activation": "tanh"}), ("alexnet", {"norm": "lrn"}), ("resnet20", {})],
)
def test_keras_round_trip(name, options, tmp_path):
    model = build_model(name, (32, 32, 3), 4, **options)
    check_keras_round_trip(model, pixels((2, 32, 32, 3)), tmp_path)


def test_saved_model_export_matches_in_memory_model(tmp_path):
    model = build_model("resnet20", (32, 32, 3), 4)
    check_saved_model_parity(model, pixels((2, 32, 32, 3)), tmp_path)


def test_unknown_model_name_lists_known_names():
    with pytest.raises(ValueError, match="Known models: lenet5, alexnet, resnet20"):
        build_model("vgg16", (32, 32, 3), 10)


@pytest.mark.parametrize(
    "name, input_shape, num_classes, options, message",
    [
        ("lenet5", (28, 28, 1), 10, {}, "too small.*at least 32x32"),
        ("lenet5", (32, 32, 1), 10, {"activation": "gelu"}, "activation='gelu'"),
        ("lenet5", (32, 32), 10, {}, "input_shape"),
        ("alexnet", (32, 32, 3), 10, {"norm": "layer"}, "norm='layer'"),
        ("alexnet", (32, 32, 3), 10, {"dropout": 1.0}, "dropout=1.0"),
        ("resnet20", (32, 32, 3), 1, {}, "num_classes=1"),
        ("resnet50", (16, 16, 3), 10, {}, "at least 32x32"),
    ],
)
def test_bad_arguments_raise(name, input_shape, num_classes, options, message):
    with pytest.raises(ValueError, match=message):
        build_model(name, input_shape, num_classes, **options)


def test_resnet_depth_must_be_6n_plus_2():
    from dlsuite.apps.vision.models import build_resnet_cifar

    with pytest.raises(ValueError, match=r"6n \+ 2.*Received: depth=21"):
        build_resnet_cifar((32, 32, 3), 10, depth=21)
    assert build_resnet_cifar((32, 32, 3), 10, depth=8).name == "resnet8"
