"""`serving.tflite_convert` (with `tflite_check`, `tflite_from_run`): SavedModel version ->
self-checked .tflite, on scikit-learn's bundled digits.

A small CNN (8x8x1 input, pixel values 0..255, a 1024 -> 128 dense layer so weights dominate the
file size) trains for a few epochs, is exported with a `predict_images` signature whose outputs
include a `tf.string` `class_names`, and is converted with every quantization.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from dlsuite.base.files import sha256_file
from dlsuite.serving.tflite_check import ConversionError, tflite_predict
from dlsuite.serving.tflite_convert import convert_version
from dlsuite.serving.tflite_from_run import convert_from_run

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")
load_digits = pytest.importorskip("sklearn.datasets").load_digits

CLASS_NAMES = [f"digit_{i}" for i in range(10)]


def _cnn():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1.0 / 255.0),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),  # (B, 8, 8, 16)
            keras.layers.Flatten(),  # (B, 1024)
            keras.layers.Dense(128, activation="relu"),  # 131k weights: most of the model
            keras.layers.Dense(10, activation="softmax"),  # (B, 10)
        ]
    )


class _Exported(tf.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.names = tf.constant(CLASS_NAMES)

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="images")])
    def predict_images(self, images):
        probabilities = self.model(images, training=False)  # (B, 10)
        class_ids = tf.argmax(probabilities, axis=-1)  # (B,) int64
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "class_names": tf.gather(self.names, class_ids),  # (B,) string: not convertible
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def predict_bytes(self, image_bytes):
        images = tf.map_fn(
            lambda b: tf.cast(tf.io.decode_png(b, channels=1), tf.float32),
            image_bytes,
            fn_output_signature=tf.float32,
        )
        return self.predict_images(tf.image.resize(images, [8, 8]))

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="images")])
    def predict_unsupported(self, images):
        # A float op with no TFLite builtin kernel (MatrixInverse): conversion must fail.
        square = tf.reshape(images, [-1, 8, 8]) + tf.eye(8)  # (B, 8, 8)
        logits = tf.reshape(tf.linalg.inv(square), [-1, 64])[:, :10]  # (B, 10)
        return {"probabilities": tf.nn.softmax(logits)}


@pytest.fixture(scope="module")
def digits_version(tmp_path_factory):
    """``(version_dir, x_train, x_test)``: a trained digits CNN exported as version 1."""
    digits = load_digits()
    x = (digits.images.astype("float32") * (255.0 / 16.0))[..., None]  # (1797, 8, 8, 1) 0..255
    y = digits.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test = x[:1400], y[:1400], x[1400:]

    keras.utils.set_random_seed(0)
    trained = _cnn()
    trained.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    trained.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0)
    # Export a fresh, uncompiled copy so variables/ holds the weights only (no optimizer slots).
    model = _cnn()
    model.set_weights(trained.get_weights())

    version_dir = tmp_path_factory.mktemp("saved_models") / "digits" / "1"
    module = _Exported(model)
    tf.saved_model.save(
        module,
        str(version_dir),
        signatures={
            "serving_default": module.predict_bytes,
            "predict_images": module.predict_images,
            "predict_unsupported": module.predict_unsupported,
        },
    )
    manifest = {
        "name": "digits",
        "version": 1,
        "training": {
            "run_dir": str(tmp_path_factory.mktemp("run")),
            "data": {"class_names": CLASS_NAMES},
        },
    }
    (version_dir / "assets.extra").mkdir()
    (version_dir / "assets.extra" / "manifest.json").write_text(json.dumps(manifest))
    return version_dir, x_train, x_test


@pytest.mark.parametrize(
    "quantize, min_agreement, max_diff",
    [("none", 1.0, 1e-3), ("float16", 1.0, 1e-3), ("dynamic", 0.98, None), ("int8", 0.97, None)],
)
def test_convert_agrees_with_saved_model(
    digits_version, tmp_path, quantize, min_agreement, max_diff
):
    version_dir, x_train, x_test = digits_version
    out = tmp_path / "tflite"
    report = convert_version(
        version_dir,
        output_dir=out,
        quantize=quantize,
        representative_examples=list(x_train[:200]) if quantize == "int8" else None,
        check_examples=list(x_test),
    )
    model_path = out / f"model_{quantize}.tflite"
    assert model_path.is_file()
    assert report["sha256"] == sha256_file(model_path)
    assert report["tflite_bytes"] == model_path.stat().st_size
    assert report["dropped_outputs"] == ["class_names"]
    assert sorted(report["outputs"]) == ["class_ids", "probabilities"]
    check = report["check"]
    assert check["num_examples"] == len(x_test)
    assert check["top1_agreement"] >= min_agreement
    assert check["class_ids_agreement"] >= min_agreement
    if max_diff is not None:
        assert check["max_abs_diff"] < max_diff
    assert check["latency_ms"] > 0

    # The saved artifacts describe the same model, and the model serves float32 batches.
    assert json.loads((out / "report.json").read_text())[quantize]["sha256"] == report["sha256"]
    assert (out / "labels.txt").read_text().splitlines() == CLASS_NAMES  # from the manifest
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"] == "digits"
    artifact = manifest["mobile"]["artifacts"][quantize]
    assert artifact["sha256"] == report["sha256"] and artifact["signature"] == "predict_images"
    probabilities = tflite_predict(model_path, x_test[:7])
    assert probabilities.shape == (7, 10) and probabilities.dtype == np.float32
    class_ids = tflite_predict(model_path, x_test[:7], output="class_ids")
    np.testing.assert_array_equal(class_ids, probabilities.argmax(-1))

    if quantize == "int8":
        # Full-integer model: at most 30% of the float weights, measured two ways.
        assert report["size_ratio"] <= 0.30
        assert report["size_ratio_to_weights"] <= 0.30
        assert report["representative_examples"] == 200
        # Full integer: the only float32 tensors are the input and the output probabilities.
        assert check["tensor_dtypes"]["float32"] == 2 and check["tensor_dtypes"]["int8"] > 0


def test_reports_accumulate_per_quantization(digits_version, tmp_path):
    version_dir, _, x_test = digits_version
    for quantize in ("none", "dynamic"):
        convert_version(
            version_dir,
            output_dir=tmp_path,
            quantize=quantize,
            check_examples=x_test[:50],
            labels=[str(i) for i in range(10)],
        )
    assert sorted(json.loads((tmp_path / "report.json").read_text())) == ["dynamic", "none"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["mobile"]["artifacts"]) == ["dynamic", "none"]
    assert (tmp_path / "labels.txt").read_text().split() == [str(i) for i in range(10)]


def test_int8_without_representative_data_raises(digits_version, tmp_path):
    version_dir, _, x_test = digits_version
    with pytest.raises(ValueError, match="representative_examples"):
        convert_version(
            version_dir, output_dir=tmp_path / "o", quantize="int8", check_examples=x_test
        )
    assert not (tmp_path / "o").exists()


def test_unknown_quantization_raises(digits_version, tmp_path):
    version_dir, _, x_test = digits_version
    with pytest.raises(ValueError, match="quantize expected one of"):
        convert_version(
            version_dir, output_dir=tmp_path / "o", quantize="int4", check_examples=x_test
        )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "signature, match",
    [
        ("predict_unsupported", "TFLite conversion of signature 'predict_unsupported'"),
        ("serving_default", "cannot convert"),  # tf.string input
        ("no_such_signature", "is not in"),
    ],
)
def test_failing_conversion_writes_nothing(digits_version, tmp_path, signature, match):
    version_dir, _, x_test = digits_version
    with pytest.raises(ValueError, match=match):
        convert_version(
            version_dir, output_dir=tmp_path / "o", signature=signature, check_examples=x_test
        )
    assert not (tmp_path / "o").exists()


def test_failing_self_check_writes_nothing(digits_version, tmp_path):
    version_dir, _, x_test = digits_version
    with pytest.raises(ConversionError, match="min_agreement"):
        convert_version(
            version_dir, output_dir=tmp_path / "o", check_examples=x_test[:20], min_agreement=1.01
        )
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="labels"):  # 3 labels for 10 classes
        convert_version(
            version_dir,
            output_dir=tmp_path / "o",
            check_examples=x_test[:20],
            labels=["a", "b", "c"],
        )
    assert not (tmp_path / "o").exists()


def _convert_cli(argv):
    from dlsuite.cli import convert

    parser = argparse.ArgumentParser()
    convert.register(parser.add_subparsers())
    args = parser.parse_args(["convert", *argv])
    return args.func(args)


def test_cli_converts_with_examples_from_the_run(digits_version, monkeypatch, capsys):
    version_dir, x_train, x_test = digits_version
    calls = []

    def dataset_for_run(run_dir, split):
        calls.append(split)
        x = x_train if split == "train" else x_test
        return tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x), "int64")))

    from dlsuite.apps.common import runs

    monkeypatch.setattr(runs, "dataset_for_run", dataset_for_run)

    assert _convert_cli([str(version_dir), "--quantize", "int8", "--num-check", "100"]) == 0
    printed = capsys.readouterr().out
    assert "top-1 agreement" in printed and "KB" in printed and "ms per example" in printed
    assert sorted(calls) == ["test", "train"]
    out = version_dir.parent / "tflite" / "1"  # the default output folder
    report = json.loads((out / "report.json").read_text())["int8"]
    assert report["check"]["num_examples"] == 100 and report["representative_examples"] == 200


def test_cli_needs_a_run(digits_version, tmp_path):
    version_dir, _, _ = digits_version
    with pytest.raises(FileNotFoundError, match="training run directory"):
        _convert_cli([str(version_dir), "--run", str(tmp_path / "missing")])


def test_convert_from_run_checks_its_arguments_before_reading_examples(digits_version, tmp_path):
    version_dir, _, _ = digits_version

    def examples(run_dir, split, count, *, shuffle):
        raise AssertionError("examples were read before the arguments were checked")

    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        convert_from_run(tmp_path, examples, run_dir=tmp_path)
    with pytest.raises(ValueError, match="num_check"):
        convert_from_run(version_dir, examples, run_dir=tmp_path, num_check=0)
    with pytest.raises(FileNotFoundError, match="training run directory"):
        convert_from_run(version_dir, examples, run_dir=tmp_path / "missing")
