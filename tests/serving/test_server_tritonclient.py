"""NVIDIA's ``tritonclient`` (2.73.0, HTTP and gRPC) as a real external client of the V2 protocol.

The client runs in a virtual environment of its own (``.venv-tritonclient``, created here when
missing: its pins clash with the main ``.venv``) as a subprocess (``triton_client_script.py``)
against the session's ``batching_server`` (model ``hp``: the golden y = x/2 + 2 with its float,
int64, two-input and bytes signatures). The HTTP client's defaults use the binary tensor data
extension both ways; ``binary_data=False`` sends and asks for JSON.
"""

from __future__ import annotations

import pytest

from tests.serving.external_clients import client_python, run_client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def triton_python():
    return client_python()


@pytest.fixture(scope="module")
def http_results(triton_python, batching_server):
    return run_client(triton_python, "http", f"127.0.0.1:{batching_server.rest_port}")


@pytest.fixture(scope="module")
def grpc_results(triton_python, batching_server):
    return run_client(triton_python, "grpc", batching_server.grpc_target)


def _values(outputs: dict) -> dict:
    return {name: (o["shape"], o["data"]) for name, o in outputs.items()}


def test_http_server_and_model_metadata(http_results):
    assert http_results["server"] == {
        "live": True,
        "ready": True,
        "model_ready": True,
        "extensions": ["binary_tensor_data"],
        "inputs": ["x"],
    }


def test_http_binary_inputs_and_outputs_by_default(http_results):
    binary = http_results["binary"]
    assert binary["id"] == "bin-1"
    y = binary["outputs"]["y"]
    assert y["header"] == {
        "name": "y",
        "shape": [3],
        "datatype": "FP32",
        "parameters": {"binary_data_size": 12},
    }
    assert not y["has_json_data"]
    assert (y["dtype"], y["data"]) == ("float32", [2.5, 3.0, 3.5])
    y = http_results["binary_requested"]["y"]
    assert y["header"]["parameters"] == {"binary_data_size": 8} and y["data"] == [1.0, 6.0]


def test_http_json_with_binary_data_false(http_results):
    y = http_results["json"]["y"]
    assert y["header"] == {"name": "y", "shape": [2], "datatype": "FP32"}
    assert y["has_json_data"] and y["data"] == [4.0, 5.0]


def test_http_mixed_binary_and_json_tensors(http_results):
    mixed = http_results["mixed"]
    assert _values(mixed) == {"sum": ([2], [11.0, 22.0]), "diff": ([2], [-9.0, -18.0])}
    assert mixed["sum"]["header"]["parameters"] == {"binary_data_size": 8}
    assert mixed["diff"]["has_json_data"] and "parameters" not in mixed["diff"]["header"]
    assert _values(http_results["ints"]) == {"doubled": ([2, 2], [2, 4, 6, -8])}
    assert http_results["ints"]["doubled"]["header"]["parameters"] == {"binary_data_size": 32}


def test_http_bytes_binary_and_json(http_results):
    binary = http_results["bytes_binary"]
    assert _values(binary) == {
        "echo_bytes": ([3], ["6162", "ff00", ""]),
        "length": ([3], [2, 2, 0]),
    }
    # 4-byte length prefixes: (4 + 2) + (4 + 2) + (4 + 0)
    assert binary["echo_bytes"]["header"] == {
        "name": "echo_bytes",
        "shape": [3],
        "datatype": "BYTES",
        "parameters": {"binary_data_size": 16},
    }
    as_json = http_results["bytes_json"]
    assert _values(as_json) == {"echo_bytes": ([2], ["héllo", "ab"]), "length": ([2], [6, 2])}
    assert as_json["echo_bytes"]["has_json_data"]


def test_http_error_is_a_400_with_the_message(http_results):
    assert http_results["error"] == {
        "status": "400",
        "message": "Input 'x' has datatype INT64 but the signature expects FP32",
    }


def test_grpc_metadata_and_raw_contents(grpc_results):
    assert grpc_results["server"] == {
        "live": True,
        "ready": True,
        "model_ready": True,
        "name": "dlsuite",
        "extensions": ["binary_tensor_data"],
        "inputs": ["x"],
    }
    assert grpc_results["fp32"]["id"] == "g1"
    assert grpc_results["fp32"]["outputs"] == {
        "y": {"datatype": "FP32", "shape": [3], "dtype": "float32", "data": [2.5, 3.0, 3.5]}
    }
    assert _values(grpc_results["two_inputs"]) == {"diff": ([2], [-9.0, -18.0])}
    assert _values(grpc_results["ints"]) == {"doubled": ([2, 2], [2, 4, 6, -8])}


def test_grpc_bytes_raw_input_and_output(grpc_results):
    assert _values(grpc_results["bytes"]) == {
        "echo_bytes": ([3], ["6162", "ff00", ""]),
        "length": ([3], [2, 2, 0]),
    }
    assert grpc_results["bytes"]["echo_bytes"]["datatype"] == "BYTES"


def test_grpc_errors(grpc_results):
    errors = grpc_results["errors"]
    assert errors["unknown_model"]["status"] == "StatusCode.NOT_FOUND"
    assert "nope" in errors["unknown_model"]["message"]
    assert errors["wrong_datatype"] == {
        "status": "StatusCode.INVALID_ARGUMENT",
        "message": "Input 'x' has datatype INT64 but the signature expects FP32",
    }
