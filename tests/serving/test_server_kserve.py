"""KServe drop-in: the example ServingRuntime/InferenceService, and the runtime's exact command line
run against a real server process (ports swapped for free ones), scraped where KServe scrapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml

from tests.serving.conftest import ServerProcess, copy_version
from tests.serving.test_server_batching import metric

DEPLOY = Path(__file__).resolve().parents[2] / "serving" / "deploy"
KSERVE_ARGS = [
    "--model_name={{.Name}}",
    "--port=9000",
    "--rest_api_port=8080",
    "--model_base_path=/mnt/models",
    "--rest_api_timeout_in_ms=60000",
]


def load_manifests() -> dict[str, dict]:
    docs = list(yaml.safe_load_all((DEPLOY / "kserve-servingruntime.yaml").read_text()))
    return {doc["kind"]: doc for doc in docs}


def test_servingruntime_and_inferenceservice_fields():
    docs = load_manifests()
    runtime, isvc = docs["ServingRuntime"], docs["InferenceService"]
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    spec = runtime["spec"]
    assert spec["annotations"] == {
        "prometheus.kserve.io/port": "8080",
        "prometheus.kserve.io/path": "/metrics",
    }
    assert {"name": "tensorflow"}.items() <= spec["supportedModelFormats"][0].items()
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"].startswith("dlsuite/serving:")
    assert container["command"] == ["python", "-m", "dlsuite", "serve"]
    assert container["args"] == KSERVE_ARGS
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/health/ready", "port": 8080}
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/enable-prometheus-scraping"] == "true"
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] == "tensorflow" and model["storageUri"]
    assert 'ENTRYPOINT ["python", "-m", "dlsuite", "serve"]' in (DEPLOY / "Dockerfile").read_text()


@pytest.mark.slow
def test_kserve_command_line_serves_and_exposes_metrics(golden_versions, tmp_path):
    copy_version(golden_versions["two"], tmp_path / "models", 1)
    # KServe's ports swapped for 0 (any free port; the server names the ones it bound)
    args = [
        a.replace("{{.Name}}", "lenet5")
        .replace("9000", "0")
        .replace("8080", "0")
        .replace("/mnt/models", str(tmp_path / "models"))
        for a in load_manifests()["ServingRuntime"]["spec"]["containers"][0]["args"]
    ]
    server = ServerProcess(args, tmp_path / "server.log", ports=(0, 0))
    try:
        server.wait_ready("lenet5")
        resp = requests.post(
            f"{server.rest}/v1/models/lenet5:predict", json={"instances": [1.0]}, timeout=30
        )
        assert resp.json() == {"predictions": [2.5]}
        assert requests.get(f"{server.rest}/v1/health/ready", timeout=10).status_code == 200
        scraped = requests.get(f"{server.rest}/metrics", timeout=10)
        assert scraped.status_code == 200 and scraped.headers["Content-Type"].startswith(
            "text/plain"
        )
        assert (
            metric(
                scraped.text,
                ":tensorflow:serving:request_count_total",
                model_name="lenet5",
                status="OK",
            )
            == 1
        )
    finally:
        server.stop()
