"""A model published with `dlsuite.export` (no suite run) through `dlsuite convert` and a real
`dlsuite serve` (issue 19).

A tiny functional classifier (8 numbers in, 4 softmax classes out: the class is the largest of the
first four numbers) trains for a few epochs and is exported with 8 warmup rows and no run
directory. `dlsuite convert` then takes its check examples from the warmup records (float) or an
``--examples`` file (int8 calibration), and refuses a version that offers none of the three
sources. One server answers gRPC Predict on the same version.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlsuite.serving.keras_export import export
from dlsuite.serving.tflite_check import tflite_predict
from dlsuite.serving.tflite_from_run import convert_from_run
from dlsuite.serving.warmup import warmup_inputs, warmup_path
from tests.serving.conftest import predict_request, start_server

pytest.importorskip("ai_edge_litert")

REPO = Path(__file__).resolve().parents[2]
INFO = REPO / "docs" / "manifest_example.yaml"
ROWS = np.random.default_rng(0).normal(size=(300, 8)).astype("float32")
LABELS = ROWS[:, :4].argmax(-1)
WARMUP = ROWS[:8]


def _classifier():
    import keras

    inputs = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    probs = keras.layers.Dense(4, activation="softmax")(hidden)
    return keras.Model(inputs, probs, name="clf")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """The trained model, its version (8 warmup rows, no run) and an examples file."""
    import keras

    keras.utils.set_random_seed(0)
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(ROWS, LABELS, epochs=40, batch_size=32, verbose=0)
    root = tmp_path_factory.mktemp("convert")
    version = export(
        model, "clf", model_base_path=root / "saved_models", examples=WARMUP, manifest_info=INFO
    )
    np.save(root / "rows.npy", ROWS)
    return {"model": model, "version": version, "root": root}


def _convert_cli(argv: list[str]) -> int:
    from dlsuite.cli import convert

    parser = argparse.ArgumentParser()
    convert.register(parser.add_subparsers())
    args = parser.parse_args(["convert", *argv])
    return args.func(args)


def _report(out: Path, quantize: str) -> dict:
    return json.loads((out / "report.json").read_text())[quantize]


def test_float_conversion_is_checked_on_the_warmup_records(exported, tmp_path, capsys):
    version, model = exported["version"], exported["model"]
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    assert manifest["provenance"]["recorded_run"] is False
    np.testing.assert_array_equal(warmup_inputs(version)["features"], WARMUP)

    out = tmp_path / "float"
    assert _convert_cli([str(version), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "100.00% on 8 warmup examples" in printed, printed
    report = _report(out, "none")
    assert report["source"]["signature"] == "serving_default"  # no predict_images: the default
    assert report["examples"] == {
        "source": "warmup",
        "path": "assets.extra/tf_serving_warmup_requests",
    }
    assert report["check"]["num_examples"] == len(WARMUP)
    assert report["check"]["top1_agreement"] == 1.0
    assert report["check"]["max_abs_diff"] < 1e-5
    assert report["inputs"] == {"features": {"shape": [-1, 8], "dtype": "float32"}}
    mobile = json.loads((out / "manifest.json").read_text())
    assert mobile["provenance"]["recorded_run"] is False
    assert mobile["mobile"]["artifacts"]["none"]["examples_source"] == "warmup"
    # The .tflite answers like the in-memory model on rows it was not checked on.
    got = tflite_predict(out / "model_none.tflite", ROWS[100:], output=report["probability_output"])
    np.testing.assert_allclose(got, model(ROWS[100:]).numpy(), atol=1e-5)


def test_int8_is_calibrated_on_the_examples_file(exported, tmp_path):
    version, root = exported["version"], exported["root"]
    out = tmp_path / "int8"
    with pytest.raises(ValueError, match=r"int8' needs representative examples.*--examples FILE"):
        _convert_cli([str(version), "--quantize", "int8", "--output", str(out)])
    assert not out.exists()

    argv = [str(version), "--quantize", "int8", "--output", str(out), "--num-check", "150"]
    assert _convert_cli([*argv, "--examples", str(root / "rows.npy")]) == 0
    report = _report(out, "int8")
    assert report["examples"] == {"source": "examples_file", "path": (root / "rows.npy").as_posix()}
    assert report["representative_examples"] == 200 and report["check"]["num_examples"] == 150
    assert report["check"]["top1_agreement"] >= 0.95, report["check"]
    assert report["check"]["max_abs_diff"] < 0.1, report["check"]
    assert report["check"]["tensor_dtypes"].get("int8", 0) > 0


def test_a_recorder_run_without_reloadable_data_falls_back_to_warmup(exported, tmp_path):
    """A manifest naming a run `RunRecorder` wrote (app "keras": no data to reload) converts from
    the warmup records; the same run given with --run says to pass --examples."""
    version = tmp_path / "saved_models" / "clf" / "1"
    shutil.copytree(exported["version"], version)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"app": "keras", "run_id": "r"}))
    manifest_path = version / "assets.extra" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["training"] = {"run_dir": str(run)}
    manifest_path.write_text(json.dumps(manifest))

    assert _convert_cli([str(version), "--num-check", "3"]) == 0
    report = _report(version.parent / "tflite" / "1", "none")
    assert report["examples"]["source"] == "warmup" and report["check"]["num_examples"] == 3
    with pytest.raises(ValueError, match=r"cannot reload the data.*--examples FILE"):
        _convert_cli([str(version), "--run", str(run), "--output", str(tmp_path / "o")])


def test_a_version_without_run_examples_or_warmup_is_refused(exported, tmp_path):
    version = tmp_path / "clf" / "1"
    shutil.copytree(exported["version"], version)
    warmup_path(version).unlink()

    def examples(run_dir, split, count, *, shuffle):
        raise AssertionError("there is no run to read examples from")

    with pytest.raises(ValueError, match=r"no examples to check") as refused:
        convert_from_run(version, examples)
    message = str(refused.value)
    for way in ("--run RUN_DIR", "--examples FILE", "warmup records", "examples="):
        assert way in message, message
    assert not (tmp_path / "clf" / "tflite").exists()
    with pytest.raises(ValueError, match="not both"):
        convert_from_run(version, examples, run_dir=tmp_path, examples_file=tmp_path / "x.npy")
    with pytest.raises(SystemExit):  # argparse: --run and --examples exclude each other
        _convert_cli([str(version), "--run", str(tmp_path), "--examples", "x.npy"])

    # One of the three ways: rows in a .json file, {input: rows}.
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"features": ROWS[:20].tolist()}))
    assert _convert_cli([str(version), "--quantize", "float16", "--examples", str(rows)]) == 0
    report = _report(version.parent / "tflite" / "1", "float16")
    assert report["examples"]["source"] == "examples_file"
    assert report["check"]["num_examples"] == 20 and report["check"]["top1_agreement"] == 1.0


def test_served_over_grpc_like_the_in_memory_model(exported, tmp_path):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    version, model = exported["version"], exported["model"]
    server = start_server(
        ["--model_name=clf", f"--model_base_path={version.parent}"],
        tmp_path / "server.log",
        ready_model="clf",
    )
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            reply = stub.Predict(
                predict_request("clf", None, inputs={"features": ROWS[:5]}), timeout=30
            )
    finally:
        server.stop()
    assert reply.model_spec.version.value == 1
    (name,) = reply.outputs
    np.testing.assert_allclose(
        tf.make_ndarray(reply.outputs[name]), model(ROWS[:5]).numpy(), rtol=1e-5, atol=1e-6
    )
