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
    assert listing.json() == {
        "models": [
            {
                "name": "hp",
                "model_version_status": [
                    {
                        "version": "1",
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ],
            }
        ]
    }


def test_v2_model_ready(batching_server):
    for path in ("/v2/models/hp/ready", "/v2/models/hp/versions/1/ready"):
        assert get(batching_server, path).json() == {"name": "hp", "ready": True}
    not_ready = get(batching_server, "/v2/models/hp/versions/9/ready")
    assert not_ready.status_code == 404 and "error" in not_ready.json()
    assert get(batching_server, "/v2/models/nope/ready").status_code == 404


def test_v2_metadata_default_and_named_signature(batching_server):
    body = get(batching_server, "/v2/models/hp").json()
    assert body == {
        "name": "hp",
        "versions": ["1"],
        "platform": "tensorflow_savedmodel",
        "parameters": {"signature_name": "serving_default", "version": "1"},
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
    }
    body = get(batching_server, "/v2/models/hp/versions/1?signature_name=bytes_length").json()
    assert body["inputs"] == [{"name": "x_bytes", "datatype": "BYTES", "shape": [-1]}]
    assert body["outputs"] == [
        {"name": "echo_bytes", "datatype": "BYTES", "shape": [-1]},
        {"name": "length", "datatype": "INT32", "shape": [-1]},
    ]
    ints = get(batching_server, "/v2/models/hp?signature_name=ints").json()
    assert ints["inputs"] == [{"name": "k", "datatype": "INT64", "shape": [-1, 2]}]
    assert get(batching_server, "/v2/models/hp?signature_name=nope").status_code == 400
    assert get(batching_server, "/v2/models/nope").status_code == 404


def test_v2_infer_fp32_int64_and_output_filter(batching_server):
    resp = infer(
        batching_server,
        {
            "id": "r1",
            "inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1.0, 2.0, 3]}],
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "model_name": "hp",
        "model_version": "1",
        "id": "r1",
        "outputs": [{"name": "y", "shape": [3], "datatype": "FP32", "data": [2.5, 3.0, 3.5]}],
    }
    resp = infer(
        batching_server,
        {
            "parameters": {"signature_name": "ints"},
            "inputs": [
                {"name": "k", "shape": [2, 2], "datatype": "INT64", "data": [[1, 2], [3, 4]]}
            ],
        },
        path="/v2/models/hp/versions/1/infer",
    )
    assert resp.json()["outputs"] == [
        {"name": "doubled", "shape": [2, 2], "datatype": "INT64", "data": [2, 4, 6, 8]}
    ]
    resp = infer(
        batching_server,
        {
            "parameters": {"signature_name": "two_inputs"},
            "outputs": [{"name": "sum"}],
            "inputs": [
                {"name": "a", "shape": [1], "datatype": "FP32", "data": [1.0]},
                {"name": "b", "shape": [1], "datatype": "FP32", "data": [2.0]},
            ],
        },
    )
    assert [o["name"] for o in resp.json()["outputs"]] == ["sum"]


def test_v2_infer_bytes_utf8_and_b64(batching_server):
    blob = b"\xff\x00"
    resp = infer(
        batching_server,
        {
            "parameters": {"signature_name": "bytes_length"},
            "inputs": [
                {
                    "name": "x_bytes",
                    "shape": [2],
                    "datatype": "BYTES",
                    "data": ["héllo", {"b64": base64.b64encode(b"ab").decode()}],
                }
            ],
        },
    )
    assert resp.status_code == 200, resp.text
    outputs = {o["name"]: o for o in resp.json()["outputs"]}
    assert outputs["length"]["data"] == [6, 2] and outputs["length"]["datatype"] == "INT32"
    assert outputs["echo_bytes"] == {
        "name": "echo_bytes",
        "shape": [2],
        "datatype": "BYTES",
        "data": ["héllo", "ab"],
    }
    resp = infer(
        batching_server,
        {
            "parameters": {"signature_name": "bytes_length"},
            "inputs": [
                {
                    "name": "x_bytes",
                    "shape": [1],
                    "datatype": "BYTES",
                    "data": [{"b64": base64.b64encode(blob).decode()}],
                }
            ],
        },
    )
    echo = {o["name"]: o for o in resp.json()["outputs"]}["echo_bytes"]
    assert echo["data"] == [{"b64": base64.b64encode(blob).decode()}]


@pytest.mark.parametrize(
    "path, body, status, match",
    [
        (
            "/v2/models/nope/infer",
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]},
            404,
            "Servable not found",
        ),
        (
            "/v2/models/hp/versions/9/infer",
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]},
            404,
            "Specific",
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]},
            400,
            "elements",
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]},
            400,
            "expects FP32",
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "z", "shape": [1], "datatype": "FP32", "data": [1]}]},
            400,
            "alias not found",
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]},
            400,
            "numbers",
        ),
        ("/v2/models/hp/infer", {"inputs": []}, 400, "non-empty"),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 2},
            400,
            "Input 'x' is given more than once",
        ),
        (
            "/v2/models/hp/infer",
            {
                "parameters": {"signature_name": "nope"},
                "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
            },
            400,
            "nope",
        ),
        (
            "/v2/models/hp/infer",
            {
                "parameters": {"signature_name": "ints"},
                "inputs": [{"name": "k", "shape": [1, 2], "datatype": "INT64", "data": [1.5, 2]}],
            },
            400,
            "decimal",
        ),
    ],
)
def test_v2_infer_errors(batching_server, path, body, status, match):
    resp = infer(batching_server, body, path=path)
    assert resp.status_code == status, resp.text
    assert set(resp.json()) == {"error"} and match in resp.json()["error"]


def test_v2_infer_bad_json(batching_server):
    resp = requests.post(batching_server.rest + "/v2/models/hp/infer", data="{", timeout=30)
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]


HEADER = "Inference-Header-Content-Length"


def binary_infer(server, body: dict, tail: bytes = b"", header_length=None) -> requests.Response:
    """POST a JSON header + binary tensors (the binary tensor data extension)."""
    head = json.dumps(body).encode()
    length = len(head) if header_length is None else header_length
    return requests.post(
        server.rest + "/v2/models/hp/infer",
        data=head + tail,
        timeout=30,
        headers={HEADER: str(length), "Content-Type": "application/octet-stream"},
    )


def split_binary(resp: requests.Response) -> tuple[dict, bytes]:
    length = int(resp.headers[HEADER])
    return json.loads(resp.content[:length]), resp.content[length:]


def test_v2_binary_inputs_and_outputs(batching_server):
    import numpy as np

    body = {
        "parameters": {"signature_name": "two_inputs", "binary_data_output": True},
        "outputs": [{"name": "sum"}, {"name": "diff", "parameters": {"binary_data": False}}],
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            {"name": "b", "shape": [2], "datatype": "FP32", "data": [10.0, 20.0]},
        ],
    }
    resp = binary_infer(batching_server, body, np.array([1.0, 2.0], "<f4").tobytes())
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/octet-stream"
    header, tail = split_binary(resp)
    assert header["outputs"] == [
        {"name": "diff", "shape": [2], "datatype": "FP32", "data": [-9.0, -18.0]},
        {"name": "sum", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
    ]
    assert np.frombuffer(tail, "<f4").tolist() == [11.0, 22.0]

    # BYTES in binary (4-byte little-endian length prefixes), both outputs binary, in name order
    raw = b"".join(len(v).to_bytes(4, "little") + v for v in (b"ab", b"\xff\x00", b""))
    resp = binary_infer(
        batching_server,
        {
            "parameters": {"signature_name": "bytes_length"},
            "outputs": [
                {"name": "echo_bytes", "parameters": {"binary_data": True}},
                {"name": "length", "parameters": {"binary_data": True}},
            ],
            "inputs": [
                {
                    "name": "x_bytes",
                    "shape": [3],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
        },
        raw,
    )
    header, tail = split_binary(resp)
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert [o["name"] for o in header["outputs"]] == ["echo_bytes", "length"] and sizes == [16, 12]
    assert tail[:16] == raw and np.frombuffer(tail[16:], "<i4").tolist() == [2, 2, 0]

    # binary input, JSON output (no binary_data asked): a plain JSON response
    resp = binary_infer(
        batching_server,
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 8},
                }
            ]
        },
        np.array([4.0, 6.0], "<f4").tobytes(),
    )
    assert HEADER not in resp.headers and resp.headers["Content-Type"].startswith(
        "application/json"
    )
    assert resp.json()["outputs"] == [
        {"name": "y", "shape": [2], "datatype": "FP32", "data": [4.0, 5.0]}
    ]

    # a JSON request asking for binary output
    resp = infer(
        batching_server,
        {
            "parameters": {"binary_data_output": True},
            "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [2.0]}],
        },
    )
    header, tail = split_binary(resp)
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 4}
    assert np.frombuffer(tail, "<f4").tolist() == [3.0]


X8 = {
    "inputs": [
        {"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
    ]
}
TWO_FLOATS = b"\x00\x00\x80?\x00\x00\x00@"


@pytest.mark.parametrize(
    "body, tail, header_length, match",
    [
        (
            X8,
            TWO_FLOATS,
            10**6,
            "Inference-Header-Content-Length (1000000) is larger than the request body",
        ),
        (X8, TWO_FLOATS, "abc", "Inference-Header-Content-Length must be a non-negative integer"),
        (X8, TWO_FLOATS, "-3", "Inference-Header-Content-Length must be a non-negative integer"),
        (X8, TWO_FLOATS, 0, "raw binary body without a JSON inference header"),
        (
            X8,
            TWO_FLOATS + b"\x00" * 4,
            None,
            "12 bytes of binary data after its JSON header but the "
            "inputs' binary_data_size parameters add up to 8",
        ),
        (X8, TWO_FLOATS[:4], None, "binary_data_size 8 but only 4 bytes of binary data are left"),
        (
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [3],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 8},
                    }
                ]
            },
            TWO_FLOATS,
            None,
            "8 bytes of binary data do not match shape [3] of FP32 (3 x 4 = 12 bytes)",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [2],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": "8"},
                    }
                ]
            },
            TWO_FLOATS,
            None,
            "parameter 'binary_data_size' must be a non-negative integer",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [2],
                        "datatype": "FP32",
                        "data": [1, 2],
                        "parameters": {"binary_data_size": 8},
                    }
                ]
            },
            TWO_FLOATS,
            None,
            "both 'data' and binary",
        ),
        (
            {
                "parameters": {"signature_name": "bytes_length"},
                "inputs": [
                    {
                        "name": "x_bytes",
                        "shape": [1],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 5},
                    }
                ],
            },
            b"\x09\x00\x00\x00a",
            None,
            "BYTES element 0 has a length prefix of 9 bytes but only 1 bytes",
        ),
        (
            {
                "parameters": {"signature_name": "bytes_length"},
                "inputs": [
                    {
                        "name": "x_bytes",
                        "shape": [1],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 2},
                    }
                ],
            },
            b"\x01\x00",
            None,
            "ends inside the 4-byte length prefix of element 0",
        ),
        (
            {
                "parameters": {"signature_name": "bytes_length"},
                "inputs": [
                    {
                        "name": "x_bytes",
                        "shape": [2],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 5},
                    }
                ],
            },
            b"\x01\x00\x00\x00a",
            None,
            "holds 1 elements but shape [2] needs 2",
        ),
        (
            {**X8, "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]},
            TWO_FLOATS,
            None,
            "parameter 'binary_data' of output 'y' must be true or false",
        ),
        (
            {**X8, "parameters": {"binary_data_output": 1}},
            TWO_FLOATS,
            None,
            "parameter 'binary_data_output' of the request must be true or false",
        ),
    ],
)
def test_v2_binary_malformed_requests_are_400(batching_server, body, tail, header_length, match):
    resp = binary_infer(batching_server, body, tail, header_length)
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) == {"error"} and match in resp.json()["error"], resp.json()


def test_v2_binary_data_without_the_header_is_400(batching_server):
    head = json.dumps(X8).encode()
    resp = requests.post(
        batching_server.rest + "/v2/models/hp/infer", data=head + TWO_FLOATS, timeout=30
    )
    assert resp.status_code == 400 and "JSON Parse error" in resp.json()["error"]
    assert HEADER in resp.json()["error"]
    resp = requests.post(batching_server.rest + "/v2/models/hp/infer", data=head, timeout=30)
    assert resp.status_code == 400
    assert "only 0 bytes of binary data are left" in resp.json()["error"]
    assert "the Inference-Header-Content-Length header is missing" in resp.json()["error"]


def test_v2_server_metadata(batching_server):
    body = get(batching_server, "/v2").json()
    assert body["name"] == "dlsuite" and body["extensions"] == ["binary_tensor_data"]


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
    resp = infer(
        batching_server,
        {
            "parameters": {"signature_name": "two_inputs"},
            "inputs": [
                {"name": "a", "shape": [1], "datatype": "FP32", "data": [1.0]},
                {"name": "b", "shape": [1], "datatype": "FP32", "data": [2.0]},
            ],
        },
        headers={"x-request-id": "given-id-1"},
    )
    assert resp.headers["x-request-id"] == "given-id-1"
    v1 = requests.post(
        batching_server.rest + "/v1/models/hp:predict", json={"instances": ["x"]}, timeout=30
    )
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
        "api": "v2_infer",
        "model": "hp",
        "version": "1",
        "signature": "two_inputs",
        "status": 200,
        "method": "POST",
    }
    assert line["path"] == "/v2/models/hp/infer" and line["latency_ms"] > 0
    line = by_id[generated]
    assert (line["api"], line["model"], line["signature"], line["status"]) == (
        "predict",
        "hp",
        "serving_default",
        400,
    )


def test_access_log_grpc_request_id(batching_server):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
    with grpc.insecure_channel(batching_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        _, call = stub.Predict.with_call(
            request, timeout=30, metadata=(("x-request-id", "grpc-id-7"),)
        )
    assert ("x-request-id", "grpc-id-7") in call.initial_metadata()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        by_id = {line["request_id"]: line for line in _access_lines(batching_server)}
        if "grpc-id-7" in by_id:
            break
        time.sleep(0.2)
    line = by_id["grpc-id-7"]
    assert {k: line[k] for k in ("method", "api", "model", "version", "signature", "status")} == {
        "method": "GRPC",
        "api": "predict",
        "model": "hp",
        "version": "1",
        "signature": "serving_default",
        "status": "OK",
    }
