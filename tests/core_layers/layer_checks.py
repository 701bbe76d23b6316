"""Reusable checks for dlsuite layers and models (shapes, config, saving, export, training).

Model-level checks take a built functional `keras.Model` and a NumPy input batch, so app tests
can reuse them for their own models (`from tests.core_layers.layer_checks import ...` with the
repository root on `sys.path`, as under `python -m pytest`). Layer-level checks take a
`LayerCase` and wrap the layer in a one-layer functional model.
"""

import json
import pathlib
import warnings
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

ATOL = 1e-6
MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


class LayerCase(NamedTuple):
    """One row of a layer test table: the class, its constructor kwargs and an input shape."""

    layer_cls: type
    kwargs: dict[str, Any]
    input_shape: tuple[int, ...]  # including the batch dimension
    input_dtype: str = "float32"

    @property
    def id(self) -> str:
        args = ",".join(f"{key}={value}" for key, value in self.kwargs.items())
        return f"{self.layer_cls.__name__}({args})"


def make_inputs(shape, dtype="float32", seed=0) -> np.ndarray:
    """A deterministic batch: standard normal floats, or ints in [0, 10) for integer dtypes."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def make_layer_model(layer: keras.layers.Layer, case: LayerCase) -> keras.Model:
    """A functional model `Input(case.input_shape[1:]) -> layer`, named after the layer."""
    inputs = keras.Input(shape=case.input_shape[1:], dtype=case.input_dtype, name="inputs")
    return keras.Model(inputs, layer(inputs), name=f"probe_{layer.name}")


def _outputs(model: keras.Model, inputs) -> list[np.ndarray]:
    outputs = model(inputs, training=False)
    return [keras.ops.convert_to_numpy(y) for y in tf.nest.flatten(outputs)]


def _assert_same(expected: list[np.ndarray], actual: list[np.ndarray], what: str) -> None:
    assert len(expected) == len(actual), f"{what}: {len(actual)} outputs, expected {len(expected)}"
    for want, got in zip(expected, actual, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL, err_msg=what)


# ---------------------------------------------------------------- model-level checks


def check_keras_round_trip(model: keras.Model, inputs, tmp_path: pathlib.Path) -> keras.Model:
    """Saves `model` as `.keras`, reloads it and checks the outputs are the same (atol 1e-6)."""
    path = pathlib.Path(tmp_path) / f"{model.name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    _assert_same(_outputs(model, inputs), _outputs(restored, inputs), ".keras round trip")
    return restored


def check_saved_model_parity(model: keras.Model, inputs, tmp_path: pathlib.Path) -> None:
    """Exports a SavedModel with `ExportArchive`, reloads it with `tf.saved_model.load` and
    compares its `serve` endpoint with the in-memory model (atol 1e-6)."""
    path = str(pathlib.Path(tmp_path) / f"{model.name}_saved_model")
    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = [
        tf.TensorSpec(shape=(None, *x.shape[1:]), dtype=x.dtype, name=x.name.split(":")[0])
        for x in model.inputs
    ]
    archive.add_endpoint(
        "serve",
        lambda *args: model(list(args) if len(args) > 1 else args[0], training=False),
        input_signature=specs,
    )
    archive.write_out(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    args = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    served = reloaded.serve(*[tf.constant(x) for x in args])
    actual = [y.numpy() for y in tf.nest.flatten(served)]
    _assert_same(_outputs(model, inputs), actual, "SavedModel parity")
    assert "serving_default" in reloaded.signatures, "SavedModel has no serving_default signature"


def check_training_step(model: keras.Model, inputs, targets=None, weights=None) -> None:
    """Fits `model` on one batch (SGD, MSE against random targets unless given) and checks the
    loss is finite and that every variable of `weights` (default: all trainable weights) moved."""
    if targets is None:
        targets = [
            make_inputs((len(inputs), *y.shape[1:]), seed=1) for y in tf.nest.flatten(model.outputs)
        ]
        targets = targets[0] if len(targets) == 1 else targets
    weights = model.trainable_weights if weights is None else weights
    before = [keras.ops.convert_to_numpy(w).copy() for w in weights]
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    with warnings.catch_warnings():  # weightless layers: Keras warns "no trainable weights"
        warnings.filterwarnings("ignore", message="The model does not have any trainable weights")
        history = model.fit(inputs, targets, batch_size=len(inputs), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]), "training loss is not finite"
    unchanged = [
        w.path
        for w, old in zip(weights, before, strict=True)
        if np.array_equal(keras.ops.convert_to_numpy(w), old)
    ]
    assert not unchanged, f"one training step left these trainable weights unchanged: {unchanged}"


# ---------------------------------------------------------------- layer-level checks


def check_output_shape(case: LayerCase, tmp_path=None) -> None:
    """The eager output has the shape `compute_output_shape` predicts, also symbolically."""
    layer = case.layer_cls(**case.kwargs)
    outputs = layer(make_inputs(case.input_shape, case.input_dtype))
    assert tuple(outputs.shape) == tuple(layer.compute_output_shape(case.input_shape))
    symbolic = keras.Input(batch_shape=(None, *case.input_shape[1:]), dtype=case.input_dtype)
    expected = layer.compute_output_shape((None, *case.input_shape[1:]))
    assert tuple(layer(symbolic).shape) == tuple(expected)


def check_config_round_trip(case: LayerCase, tmp_path=None) -> None:
    """`get_config` is JSON, `from_config` rebuilds an equal layer, the registry resolves it."""
    layer = case.layer_cls(**case.kwargs)
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config, "get_config() is not plain JSON"
    clone = case.layer_cls.from_config(config)
    assert clone.get_config() == config
    serialized = keras.layers.serialize(layer)
    assert serialized["registered_name"].startswith("dlsuite>")
    revived = keras.layers.deserialize(json.loads(json.dumps(serialized)))
    assert type(revived) is case.layer_cls and revived.get_config() == config


def check_layer_keras_round_trip(case: LayerCase, tmp_path) -> None:
    model = make_layer_model(case.layer_cls(**case.kwargs), case)
    inputs = make_inputs(case.input_shape, case.input_dtype)
    restored = check_keras_round_trip(model, inputs, tmp_path)
    assert any(type(layer) is case.layer_cls for layer in restored.layers)


def check_layer_saved_model(case: LayerCase, tmp_path) -> None:
    model = make_layer_model(case.layer_cls(**case.kwargs), case)
    check_saved_model_parity(model, make_inputs(case.input_shape, case.input_dtype), tmp_path)


def check_mixed_precision(case: LayerCase, tmp_path=None) -> None:
    """Under each mixed policy: variables float32, output in the compute dtype and finite."""
    inputs = make_inputs(case.input_shape, case.input_dtype)
    for policy in MIXED_POLICIES:
        layer = case.layer_cls(**case.kwargs, dtype=policy)
        outputs = layer(inputs, training=True) if _takes_training(layer) else layer(inputs)
        compute_dtype = keras.mixed_precision.DTypePolicy(policy).compute_dtype
        assert keras.backend.standardize_dtype(outputs.dtype) == compute_dtype, policy
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32"))))
        assert all(w.dtype == "float32" for w in layer.weights), f"{policy}: non-float32 weights"


def check_training(case: LayerCase, tmp_path=None) -> None:
    """One `fit` step on a one-layer model moves every trainable weight of the layer."""
    layer = case.layer_cls(**case.kwargs)
    model = make_layer_model(layer, case)
    inputs = make_inputs(case.input_shape, case.input_dtype)
    check_training_step(model, inputs, weights=layer.trainable_weights)


def _takes_training(layer: keras.layers.Layer) -> bool:
    return layer._call_has_training_arg  # noqa: SLF001  (Keras' own flag)


LAYER_CHECKS = (
    check_output_shape,
    check_config_round_trip,
    check_layer_keras_round_trip,
    check_layer_saved_model,
    check_mixed_precision,
    check_training,
)
