"""The scripts in ``examples/`` run on tiny settings, and what each exports is a served version.

The three scripts run at once (subprocesses), then one real ``dlsuite serve`` process serves the
three exported models through a ``--model_config_file``; each answers over REST and gRPC like the
in-memory model (the predictions the script saved), its manifest validates and marks the
recorded run, and ``dlsuite convert`` makes a TFLite model of it that answers the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.serving.conftest import ROOT, start_server

pytestmark = pytest.mark.slow

# script -> (exported model name, tiny flags)
EXAMPLES = {
    "fit_and_export.py": ("digits_cnn", ["--epochs", "1", "--filters", "4"]),
    "custom_loop.py": ("digits_mlp", ["--epochs", "1", "--units", "8"]),
    "mirrored_core_layers.py": (
        "digits_resnet",
        ["--epochs", "1", "--filters", "4", "--cpu-replicas", "2"],
    ),
}
ATOL = 1e-5


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """Run every example (in parallel) into its own ``--out``: ``{model name: out dir}``."""
    root = tmp_path_factory.mktemp("examples")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    running = {}
    for script, (name, flags) in EXAMPLES.items():
        out = root / name
        command = [sys.executable, str(ROOT / "examples" / script), "--out", str(out), *flags]
        running[name] = (
            out,
            subprocess.Popen(
                command,
                cwd=root,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        )
    for name, (out, process) in running.items():
        log, _ = process.communicate(timeout=180)
        assert process.returncode == 0, f"{name}:\n{log[-3000:]}"
        assert f"exported: {out / 'saved_models' / name / '1'}" in log, log[-3000:]
    return {name: out for name, (out, _) in running.items()}


@pytest.fixture(scope="module")
def server(outputs, tmp_path_factory):
    """One ``dlsuite serve`` for the three exported models."""
    configs = "".join(
        f'  config {{ name: "{name}" base_path: "{out / "saved_models" / name}" '
        'model_platform: "tensorflow" }\n'
        for name, out in outputs.items()
    )
    config = tmp_path_factory.mktemp("serve") / "models.config"
    config.write_text(f"model_config_list {{\n{configs}}}\n")
    srv = start_server(
        [f"--model_config_file={config}"], config.parent / "server.log", "digits_cnn"
    )
    for name in outputs:
        srv.wait_ready(name)
    yield srv
    srv.stop()


@pytest.mark.parametrize("name", [name for name, _ in EXAMPLES.values()])
def test_example_version_serves_over_rest_and_grpc_like_the_model(name, outputs, server):
    import grpc
    import requests
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    saved = np.load(outputs[name] / "predictions.npz")
    x, expected = saved["x"], saved["y"]

    response = requests.post(
        f"{server.rest}/v1/models/{name}:predict", json={"instances": x.tolist()}, timeout=30
    )
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(np.array(response.json()["predictions"]), expected, atol=ATOL)

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(x))
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30)
    (output,) = reply.outputs.values()
    np.testing.assert_allclose(tf.make_ndarray(output), expected, atol=ATOL)


@pytest.mark.parametrize("name", [name for name, _ in EXAMPLES.values()])
def test_example_manifest_validates_and_marks_the_recorded_run(name, outputs):
    from dlsuite.serving.manifest import validate_manifest

    version = outputs[name] / "saved_models" / name / "1"
    manifest = json.loads((version / "assets.extra" / "manifest.json").read_text())
    assert validate_manifest(manifest) == []
    provenance = manifest["provenance"]
    assert provenance["recorded_run"] is True
    assert Path(provenance["run_dir"]) == outputs[name] / "run"
    assert "training" in provenance["recorded_from_run"]
    assert manifest["training"]["examples_seen"] == 1500  # one epoch of the training split
    assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()


def test_mirrored_example_recorded_its_replicas(outputs):
    config = json.loads((outputs["digits_resnet"] / "run" / "config.json").read_text())
    assert config["strategy"] == "MirroredStrategy" and config["replicas"] == 2


@pytest.mark.parametrize("name", [name for name, _ in EXAMPLES.values()])
def test_example_version_converts_to_tflite_that_answers_like_the_model(name, outputs, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    version = outputs[name] / "saved_models" / name / "1"
    command = [sys.executable, "-m", "dlsuite", "convert", str(version), "--quantize", "none"]
    result = subprocess.run(
        [*command, "--output", str(tmp_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    saved = np.load(outputs[name] / "predictions.npz")
    interpreter = Interpreter(model_path=str(tmp_path / "model_none.tflite"))
    (given,), (answer,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(given["index"], saved["x"].shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], saved["x"])
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(answer["index"]), saved["y"], atol=ATOL)
