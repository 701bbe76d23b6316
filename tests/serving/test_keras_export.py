"""A user's own Keras model as a served version: `dlsuite.serving.keras_export` and
`dlsuite export --from-keras/--from-savedmodel` (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlsuite.serving import manifest as mf
from dlsuite.serving.keras_export import export
from dlsuite.serving.warmup import read_warmup_requests
from tests.serving.conftest import start_server

REPO = Path(__file__).resolve().parents[2]
INFO = REPO / "docs" / "manifest_example.yaml"
X = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")


def _functional():
    import keras

    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(3, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden), name="func")


def _sequential():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="seq")


def _subclassed(call: bool = True):
    import keras

    class Scaled(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x) * 2.0

    model = Scaled(name="sub")
    if call:
        model(X)
    return model


MODELS = {"functional": _functional, "sequential": _sequential, "subclassed": _subclassed}


def _answer(version_dir: Path) -> dict:
    import tensorflow as tf

    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    (key,) = serve.structured_input_signature[1]
    return {name: out.numpy() for name, out in serve(**{key: tf.constant(X)}).items()}


def _cli(argv: list[str]) -> int:
    from dlsuite.cli import main

    return main(argv)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_keras_model_exports_reloads_and_answers_like_the_model(tmp_path, kind):
    model = MODELS[kind]()
    version = export(model, kind, model_base_path=tmp_path, examples=X, manifest_info=INFO)
    assert version == tmp_path / kind / "1"
    np.testing.assert_allclose(_answer(version)["output_0"], model(X).numpy(), rtol=1e-5)

    logs = list(read_warmup_requests(version))
    assert len(logs) == len(X)
    request = logs[0].predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    (key,) = request.inputs
    assert [d.size for d in request.inputs[key].tensor_shape.dim] == [1, 4]

    manifest = mf.load_manifest(version)
    assert mf.validate_manifest(manifest) == []
    assert mf.verify_version(version) == []
    assert _cli(["manifest", "validate", str(version)]) == 0
    assert manifest["model"]["parameter_count"] == model.count_params()
    assert manifest["model"]["flops_per_example"] > 0
    assert manifest["training"]["recorded"] is False
    provenance = manifest["provenance"]
    assert provenance["recorded_run"] is False and provenance["recorded_from_run"] == []
    assert "model.parameter_count" in provenance["derived_from_model"]
    assert manifest["intended_use"]["systemic_risk"]["training_flop"] is None


def test_export_without_examples_warms_up_with_zeros_and_takes_the_next_version(tmp_path):
    model = _functional()
    export(model, "m", model_base_path=tmp_path, manifest_info=INFO)
    second = export(model, "m", model_base_path=tmp_path, manifest_info=INFO)
    assert second == tmp_path / "m" / "2"
    (log,) = read_warmup_requests(second)
    assert list(log.predict_log.request.inputs) == ["features"]


@pytest.fixture(scope="module")
def cli_versions(tmp_path_factory) -> dict:
    """``--from-keras`` (.npy examples) and ``--from-savedmodel`` of a ``model.export()`` folder
    (.json examples), through `dlsuite.cli.main`; the model and what was printed."""
    root = tmp_path_factory.mktemp("cli")
    model = _functional()
    model.save(root / "model.keras")
    model.export(str(root / "exported"), format="tf_saved_model", verbose=False)
    np.save(root / "rows.npy", X)
    (root / "rows.json").write_text(json.dumps({"features": X[:2].tolist()}))
    base = root / "saved_models"
    common = ["--model-base-path", str(base), "--manifest-info", str(INFO)]
    codes = [
        _cli(["export", "--from-keras", str(root / "model.keras"), "--name", "k", *common,
              "--examples", str(root / "rows.npy")]),
        _cli(["export", "--from-savedmodel", str(root / "exported"), "--name", "s", *common,
              "--examples", str(root / "rows.json")]),
    ]  # fmt: skip
    return {"model": model, "base": base, "codes": codes, "root": root}


def test_cli_from_keras_and_from_savedmodel(cli_versions, capsys):
    base, model = cli_versions["base"], cli_versions["model"]
    assert cli_versions["codes"] == [0, 0]
    for name, rows in (("k", 3), ("s", 2)):
        version = base / name / "1"
        assert len(list(read_warmup_requests(version))) == rows
        manifest = mf.load_manifest(version)
        assert mf.validate_manifest(manifest) == [] and mf.verify_version(version) == []
        assert manifest["model"]["parameter_count"] == model.count_params()
        (answer,) = _answer(version).values()
        np.testing.assert_allclose(answer, model(X).numpy(), rtol=1e-5)
    assert mf.load_manifest(base / "s" / "1")["model"]["flops_per_example"] is None

    root = cli_versions["root"]
    capsys.readouterr()
    assert _cli(["export", str(root), "--from-keras", "m.keras", "--name", "x"]) == 2
    assert "give exactly one model source" in capsys.readouterr().err
    np.save(root / "strings.npy", np.array(["a", None], dtype=object), allow_pickle=True)
    assert (
        _cli(["export", "--from-savedmodel", str(root / "exported"), "--name", "x",
              "--model-base-path", str(base), "--manifest-info", str(INFO),
              "--examples", str(root / "strings.npy")])
        == 2
    )  # fmt: skip
    assert "dtype=str" in capsys.readouterr().err
    assert not (base / "x").exists()


@pytest.fixture(scope="module")
def server(cli_versions, tmp_path_factory):
    srv = start_server(
        ["--model_name=k", f"--model_base_path={cli_versions['base'] / 'k'}"],
        tmp_path_factory.mktemp("log") / "server.log",
        ready_model="k",
    )
    yield srv
    srv.stop()


def test_served_over_rest_like_the_model(server, cli_versions):
    import requests

    reply = requests.post(
        f"{server.rest}/v1/models/k:predict", json={"instances": X.tolist()}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    np.testing.assert_allclose(
        np.array(reply.json()["predictions"]), cli_versions["model"](X).numpy(), rtol=1e-5
    )


def test_model_without_input_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"no defined input shape: call it once"):
        export(_subclassed(call=False), "m", model_base_path=tmp_path, manifest_info=INFO)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        (X[:, :3], r"'features' has shape \[3, 3\], the signature wants \[-1, 4\]"),
        ({"pixels": X}, r"unknown inputs \['pixels'\], missing \['features'\]"),
        (np.array([["a"] * 4]), r"'features' is <U1, the signature wants float32"),
    ],
)
def test_examples_that_do_not_fit_the_signature_publish_nothing(tmp_path, examples, message):
    with pytest.raises(ValueError, match=message):
        export(_functional(), "m", model_base_path=tmp_path, examples=examples, manifest_info=INFO)
    assert list((tmp_path / "m").iterdir()) == []


def test_string_examples_as_object_arrays_say_how_to_pass_them(tmp_path):
    import keras

    inputs = keras.Input((), dtype="string", name="text")
    length = keras.layers.Lambda(
        lambda t: keras.ops.expand_dims(keras.ops.ones_like(t, "float32"), -1)
    )
    model = keras.Model(inputs, length(inputs), name="strings")
    objects = np.array(["a", "bc"], dtype=object)
    with pytest.raises(TypeError, match=r"'text' is a NumPy object array.*dtype=str"):
        export(model, "m", model_base_path=tmp_path, examples=objects, manifest_info=INFO)
    version = export(
        model, "m", model_base_path=tmp_path, examples=objects.astype(str), manifest_info=INFO
    )
    (log, _) = read_warmup_requests(version)
    assert log.predict_log.request.inputs["text"].string_val == [b"a"]


def test_colliding_output_names_are_refused(tmp_path):
    import keras
    import tensorflow as tf

    inputs = keras.Input((4,), name="features")
    probs = keras.layers.Dense(2, name="probs")(inputs)
    twice = keras.Model(inputs, [probs, probs], name="twice")
    with pytest.raises(ValueError, match=r"output names that collide: 'probs' and 'probs'"):
        export(twice, "m", model_base_path=tmp_path, manifest_info=INFO)
    both = keras.Model(inputs, [probs, keras.layers.Dense(1, name="score")(inputs)])
    version = export(both, "two", model_base_path=tmp_path, examples=X, manifest_info=INFO)
    assert sorted(_answer(version)) == ["probs", "score"]  # a list output is named by its layers

    model = _functional()
    clash = tf.function(
        lambda x: {"Score": model(x), "score": model(x)},
        input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")],
    )
    with pytest.raises(ValueError, match=r"collide: 'Score' and 'score'"):
        export(model, "m", model_base_path=tmp_path, signatures={"serving_default": clash})
    assert not (tmp_path / "m").exists()  # refused before any file is written


def test_user_signatures_replace_the_default(tmp_path):
    import tensorflow as tf

    model = _functional()
    top = tf.function(
        lambda x: {"top": tf.argmax(model(x), axis=-1)},
        input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")],
    )
    version = export(
        model,
        "m",
        model_base_path=tmp_path,
        examples={"x": X},
        manifest_info=INFO,
        signatures={"serving_default": top},
    )
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    np.testing.assert_array_equal(
        serve(x=tf.constant(X))["top"].numpy(), np.argmax(model(X).numpy(), axis=-1)
    )
    assert list(mf.load_manifest(version)["model"]["signatures"]["serving_default"]["outputs"]) == [
        "top"
    ]


def test_model_facts_count_flops_of_every_input_or_say_why_not():
    import keras

    from dlsuite.serving.keras_export import model_facts

    one = model_facts(_functional())  # 4 -> 3 -> 2: 2 x (4x3 + 3x2) multiply-adds, plus biases
    assert one.flops_per_example is not None and one.flops_per_example >= 2 * (12 + 6)
    assert one.flops_method.startswith("forward FLOPs")
    a, b = keras.Input((4,), name="a"), keras.Input((6,), name="b")
    two_inputs = keras.Model(
        {"a": a, "b": b},
        keras.layers.Dense(2)(keras.layers.Concatenate()([a, keras.layers.Dense(4)(b)])),
    )
    both = model_facts(two_inputs)
    # Dense(6 -> 4) and Dense(8 -> 2): the profiler's count for each matmul is 2 x m x n
    assert both.flops_per_example >= 2 * (6 * 4 + 8 * 2)
    assert both.flops_per_example == model_facts(two_inputs).flops_per_example
    unknown = keras.Model(a_seq := keras.Input((None, 3)), keras.layers.Dense(2)(a_seq))
    assert model_facts(unknown).flops_per_example is None
    assert "unknown dimensions" in model_facts(unknown).flops_method
    assert model_facts(_subclassed()).flops_per_example >= 2 * 4 * 2  # called once: built
