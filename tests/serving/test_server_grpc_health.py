"""The standard gRPC health service (``grpc.health.v1.Health``, what Kubernetes gRPC probes call)
against a real server process, with grpc's own ``grpc_health.v1`` client stubs (from
grpcio-health-checking, in the external client venv of ``external_clients.py``).

A server whose configured model has no version yet answers NOT_SERVING; once a version is copied
in (``--file_system_poll_wait_seconds=1``) and loaded, ``Watch`` sends SERVING and ``Check``
answers SERVING for ``""`` and every gRPC service of the port.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from tests.serving.conftest import ServerProcess, copy_version
from tests.serving.external_clients import client_python, run_client, start_client

pytestmark = pytest.mark.slow
SERVICES = (
    "",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
    "inference.GRPCInferenceService",
)


@pytest.fixture(scope="session")
def health_python():
    return client_python()


def test_health_serving_when_models_are_loaded(health_python, batching_server):
    result = run_client(health_python, "health", batching_server.grpc_target)
    assert result == {"check": {s: "SERVING" for s in SERVICES}, "unknown": "NOT_FOUND"}


def test_health_not_serving_until_a_version_loads(health_python, golden_versions, tmp_path):
    base = tmp_path / "hp"
    base.mkdir()
    server = ServerProcess(
        ["--model_name=hp", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"],
        tmp_path / "server.log",
    )
    watcher = None
    try:
        server.wait_for("/v1/health/live")
        result = run_client(health_python, "health", server.grpc_target)
        assert result == {"check": {s: "NOT_SERVING" for s in SERVICES}, "unknown": "NOT_FOUND"}
        assert requests.get(f"{server.rest}/v1/health/ready", timeout=10).status_code == 503

        watcher = start_client(health_python, "watch", server.grpc_target, "", "SERVING")
        first = watcher.stdout.readline()
        assert first, f"Watch sent nothing: {watcher.stderr.read()}"
        assert json.loads(first) == {"status": "NOT_SERVING"}

        copy_version(golden_versions["two"], base, 1)
        try:
            rest, errors = watcher.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"Watch did not send SERVING after version 1 was copied in:\n{server.log()}"
            )
        assert watcher.returncode == 0, errors
        assert [json.loads(line) for line in rest.splitlines()] == [{"status": "SERVING"}]

        result = run_client(health_python, "health", server.grpc_target)
        assert result == {"check": {s: "SERVING" for s in SERVICES}, "unknown": "NOT_FOUND"}
        assert requests.get(f"{server.rest}/v1/health/ready", timeout=10).json() == {"ready": True}
        predict = requests.post(
            f"{server.rest}/v1/models/hp:predict", json={"instances": [2.0]}, timeout=30
        )
        assert predict.json() == {"predictions": [3.0]}
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        server.stop()
