"""`dlsuite.layers` and `dlsuite.models`: the public layers and the app models by name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

# the smallest configuration of each model, and the input batch it answers
TINY = {
    "lenet5": {"num_classes": 3, "input_shape": (32, 32, 1)},
    "alexnet": {"num_classes": 3, "input_shape": (32, 32, 3), "dense_units": 8},
    "resnet20": {"num_classes": 3, "input_shape": (16, 16, 3)},
    "resnet32": {"num_classes": 3, "input_shape": (16, 16, 3)},
    "resnet56": {"num_classes": 3, "input_shape": (16, 16, 3)},
    "resnet50": {"num_classes": 3, "input_shape": (32, 32, 3)},
    "speech_dnn": {"num_classes": 3, "num_samples": 4000, "units": (8,)},
    "speech_cnn": {"num_classes": 3, "num_samples": 4000, "filters": 4},
    "speech_ds_cnn": {"num_classes": 3, "num_samples": 4000, "filters": 4, "num_blocks": 1},
    "speech_bilstm_attention": {"num_classes": 3, "num_samples": 4000, "units": 4},
    "speech_ctc": {"num_classes": 3, "num_samples": 4000, "filters": 4, "units": 4},
    "dcgan_generator": {"latent_dim": 4, "image_shape": (8, 8, 1), "filters": 4},
    "dcgan_discriminator": {"image_shape": (8, 8, 1), "filters": 4},
}


def test_every_listed_model_builds_and_runs_on_a_tiny_batch():
    import dlsuite

    assert dlsuite.models.names() == sorted(TINY)
    rng = np.random.default_rng(0)
    for name, kwargs in TINY.items():
        model = dlsuite.models.get(name, **kwargs)
        shape = (2, *model.inputs[0].shape[1:])
        outputs = np.asarray(model(rng.uniform(0, 1, shape).astype("float32"), training=False))
        assert outputs.shape[0] == 2 and np.isfinite(outputs).all(), name
        if name.startswith(("resnet", "lenet", "alexnet", "speech")):
            assert outputs.shape[-1] == 3, name
            np.testing.assert_allclose(outputs.sum(-1), 1.0, rtol=1e-5, err_msg=name)


def test_defaults_and_the_keras_habit_of_sizing_by_keyword():
    import dlsuite

    model = dlsuite.models.get("resnet20", num_classes=10)
    assert model.name == "resnet20" and model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 10)


def test_unknown_names_and_arguments_are_refused_naming_the_known_ones():
    import dlsuite

    with pytest.raises(ValueError, match=r"unknown model 'resnet18'.*'resnet20'"):
        dlsuite.models.get("resnet18", num_classes=10)
    with pytest.raises(TypeError, match=r"lenet5 takes: input_shape, num_classes, dropout"):
        dlsuite.models.get("lenet5", num_classes=10, classes=10)
    with pytest.raises(TypeError, match=r"num_classes"):
        dlsuite.models.get("lenet5")


def test_layers_are_the_registered_core_layers_and_compose():
    import keras

    import dlsuite
    from dlsuite import core_layers

    assert sorted(dlsuite.layers.__all__) == sorted(core_layers.__all__)
    assert dlsuite.layers.TransformerEncoderBlock is core_layers.TransformerEncoderBlock
    name = keras.saving.get_registered_name(dlsuite.layers.TransformerEncoderBlock)
    assert name == "dlsuite>TransformerEncoderBlock"
    tokens = keras.Input((None,), dtype="int32")
    h = dlsuite.layers.PositionalEmbedding(50, 8, max_length=16, mask_zero=True)(tokens)
    h = dlsuite.layers.TransformerEncoderBlock(num_heads=2, intermediate_dim=16)(h)
    model = keras.Model(tokens, h)
    assert model(np.ones((2, 5), "int32")).shape == (2, 5, 8)


def test_importing_dlsuite_layers_and_models_names_stays_lazy():
    code = (
        "import sys, dlsuite; assert {'layers', 'models'} <= set(dir(dlsuite));"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
