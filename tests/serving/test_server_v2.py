"""dlsuite's extensions to TF Serving's REST API, against a real server process.

Health probes and the model listing (``/v1/health/*``, ``GET /v1/models``), the KServe V2 / Open
Inference Protocol (``/v2/...``) and the JSON access log, on the session's ``batching_server``
(model ``hp``, version 1 of the golden y = x/2 + 2, started with ``--access_log``).
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

pytestmark = pytest.mark.slow


def get(server, path: str) -> requests.Response:
    return requests.get(server.rest + path, timeout=30)


def infer(server, body, path: str = "/v2/models/hp/infer", **kwargs) -> requests.Response:
    return requests.post(server.rest + path, json=body, timeout=30, **kwargs)


def test_health_live_ready_and_listing(batching_server):
    assert get(batching_server, "/v1/health/live").json() == {"live": True}
    assert get(batching_server, "/v1/health/ready").json() == {"ready": True}
    assert get(batching_server, "/v2/health/live").status_code == 200
    assert get(batching_server, "/v2/health/ready").json() == {"ready": True}
    listing = get(batching_server, "/v1/models")
    assert listing.status_code == 200
    assert listing.json() == {"models": [{"name": "hp", "model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}]}


def test_v2_model_ready(batching_server):
    for path in ("/v2/models/hp/ready", "/v2/models/hp/versions/1/ready"):
        assert get(batching_server, path).json() == {"name": "hp", "ready": True}
    not_ready = get(batching_server, "/v2/models/hp/versions/9/ready")
    assert not_ready.status_code == 404 and "error" in not_ready.json()
    assert get(batching_server, "/v2/models/nope/ready").status_code == 404


def test_v2_metadata_default_and_named_signature(batching_server):
    body = get(batching_server, "/v2/models/hp").json()
    assert body == {"name": "hp", "versions": ["1"], "platform": "tensorflow_savedmodel",
                    "parameters": {"signature_name": "serving_default", "version": "1"},
                    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
                    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}]}
    body = get(batching_server, "/v2/models/hp/versions/1?signature_name=bytes_length").json()
    assert body["inputs"] == [{"name": "x_bytes", "datatype": "BYTES", "shape": [-1]}]
    assert body["outputs"] == [{"name": "echo_bytes", "datatype": "BYTES", "shape": [-1]},
                               {"name": "length", "datatype": "INT32", "shape": [-1]}]
    ints = get(batching_server, "/v2/models/hp?signature_name=ints").json()
    assert ints["inputs"] == [{"name": "k", "datatype": "INT64", "shape": [-1, 2]}]
    assert get(batching_server, "/v2/models/hp?signature_name=nope").status_code == 400
    assert get(batching_server, "/v2/models/nope").status_code == 404


def test_v2_infer_fp32_int64_and_output_filter(batching_server):
    resp = infer(batching_server, {"id": "r1", "inputs": [
        {"name": "x", "shape": [3], "datatype": "FP32", "data": [1.0, 2.0, 3]}]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"model_name": "hp", "model_version": "1", "id": "r1", "outputs": [
        {"name": "y", "shape": [3], "datatype": "FP32", "data": [2.5, 3.0, 3.5]}]}
    resp = infer(batching_server, {"parameters": {"signature_name": "ints"}, "inputs": [
        {"name": "k", "shape": [2, 2], "datatype": "INT64", "data": [[1, 2], [3, 4]]}]},
        path="/v2/models/hp/versions/1/infer")
    assert resp.json()["outputs"] == [{"name": "doubled", "shape": [2, 2], "datatype": "INT64",
                                       "data": [2, 4, 6, 8]}]
    resp = infer(batching_server, {"parameters": {"signature_name": "two_inputs"},
                                   "outputs": [{"name": "sum"}], "inputs": [
        {"name": "a", "shape": [1], "datatype": "FP32", "data": [1.0]},
        {"name": "b", "shape": [1], "datatype": "FP32", "data": [2.0]}]})
    assert [o["name"] for o in resp.json()["outputs"]] == ["sum"]


def test_v2_infer_bytes_utf8_and_b64(batching_server):
    blob = b"\xff\x00"
    resp = infer(batching_server, {"parameters": {"signature_name": "bytes_length"}, "inputs": [
        {"name": "x_bytes", "shape": [2], "datatype": "BYTES",
         "data": ["héllo", {"b64": base64.b64encode(b"ab").decode()}]}]})
    assert resp.status_code == 200, resp.text
    outputs = {o["name"]: o for o in resp.json()["outputs"]}
    assert outputs["length"]["data"] == [6, 2] and outputs["length"]["datatype"] == "INT32"
    assert outputs["echo_bytes"] == {"name": "echo_bytes", "shape": [2], "datatype": "BYTES",
                                     "data": ["héllo", "ab"]}
    resp = infer(batching_server, {"parameters": {"signature_name": "bytes_length"}, "inputs": [
        {"name": "x_bytes", "shape": [1], "datatype": "BYTES",
         "data": [{"b64": base64.b64encode(blob).decode()}]}]})
    echo = {o["name"]: o for o in resp.json()["outputs"]}["echo_bytes"]
    assert echo["data"] == [{"b64": base64.b64encode(blob).decode()}]


@pytest.mark.parametrize("path, body, status, match", [
    ("/v2/models/nope/infer", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]},
     404, "Servable not found"),
    ("/v2/models/hp/versions/9/infer",
     {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}, 404, "Specific"),
    ("/v2/models/hp/infer", {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]},
     400, "elements"),
    ("/v2/models/hp/infer", {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]},
     400, "expects FP32"),
    ("/v2/models/hp/infer", {"inputs": [{"name": "z", "shape": [1], "datatype": "FP32", "data": [1]}]},
     400, "alias not found"),
    ("/v2/models/hp/infer", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]},
     400, "numbers"),
    ("/v2/models/hp/infer", {"inputs": []}, 400, "non-empty"),
    ("/v2/models/hp/infer", {"parameters": {"signature_name": "nope"},
                             "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]},
     400, "nope"),
    ("/v2/models/hp/infer", {"parameters": {"signature_name": "ints"}, "inputs": [
        {"name": "k", "shape": [1, 2], "datatype": "INT64", "data": [1.5, 2]}]}, 400, "decimal"),
])
def test_v2_infer_errors(batching_server, path, body, status, match):
    resp = infer(batching_server, body, path=path)
    assert resp.status_code == status, resp.text
    assert set(resp.json()) == {"error"} and match in resp.json()["error"]


def test_v2_infer_bad_json(batching_server):
    resp = requests.post(batching_server.rest + "/v2/models/hp/infer", data="{", timeout=30)
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]


def _access_lines(server) -> list[dict]:
    lines = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return lines


def test_access_log_lines_and_request_id(batching_server):
    resp = infer(batching_server, {"parameters": {"signature_name": "two_inputs"}, "inputs": [
        {"name": "a", "shape": [1], "datatype": "FP32", "data": [1.0]},
        {"name": "b", "shape": [1], "datatype": "FP32", "data": [2.0]}]},
        headers={"x-request-id": "given-id-1"})
    assert resp.headers["x-request-id"] == "given-id-1"
    v1 = requests.post(batching_server.rest + "/v1/models/hp:predict", json={"instances": ["x"]},
                       timeout=30)
    generated = v1.headers["x-request-id"]
    assert v1.status_code == 400 and len(generated) == 32
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        by_id = {line["request_id"]: line for line in _access_lines(batching_server)}
        if {"given-id-1", generated} <= set(by_id):
            break
        time.sleep(0.2)
    line = by_id["given-id-1"]
    assert {k: line[k] for k in ("api", "model", "version", "signature", "status", "method")} == {
        "api": "v2_infer", "model": "hp", "version": "1", "signature": "two_inputs", "status": 200,
        "method": "POST"}
    assert line["path"] == "/v2/models/hp/infer" and line["latency_ms"] > 0
    line = by_id[generated]
    assert (line["api"], line["model"], line["signature"], line["status"]) == (
        "predict", "hp", "serving_default", 400)


def test_access_log_grpc_request_id(batching_server):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
    with grpc.insecure_channel(batching_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        _, call = stub.Predict.with_call(request, timeout=30, metadata=(("x-request-id", "grpc-id-7"),))
    assert ("x-request-id", "grpc-id-7") in call.initial_metadata()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        by_id = {line["request_id"]: line for line in _access_lines(batching_server)}
        if "grpc-id-7" in by_id:
            break
        time.sleep(0.2)
    line = by_id["grpc-id-7"]
    assert {k: line[k] for k in ("method", "api", "model", "version", "signature", "status")} == {
        "method": "GRPC", "api": "predict", "model": "hp", "version": "1",
        "signature": "serving_default", "status": "OK"}
