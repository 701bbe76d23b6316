"""External V2 and health clients, run by the serving tests in ``.venv-tritonclient`` (see
``external_clients.py``) against a real ``dlsuite serve`` with the golden y = x/2 + 2 as ``hp``.

``python triton_client_script.py http HOST:PORT`` | ``grpc HOST:PORT`` | ``health HOST:PORT``
prints one JSON object of results; ``watch HOST:PORT SERVICE UNTIL`` prints one JSON line per
status the health ``Watch`` stream sends, until it sends ``UNTIL``. BYTES values are printed as
hex strings (``b"ab"`` -> ``"6162"``), other arrays as nested lists.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _array(arr) -> dict:
    if arr.dtype == object:
        data = [v.hex() if isinstance(v, bytes) else str(v) for v in arr.reshape(-1)]
    else:
        data = arr.reshape(-1).tolist()
    return {"shape": list(arr.shape), "dtype": str(arr.dtype), "data": data}


def _outputs(result) -> dict:
    """Each output of a tritonclient.http result: its JSON header (no data) and its array."""
    out = {}
    for tensor in result.get_response()["outputs"]:
        header = {k: v for k, v in tensor.items() if k != "data"}
        out[tensor["name"]] = {
            "header": header,
            "has_json_data": "data" in tensor,
            **_array(result.as_numpy(tensor["name"])),
        }
    return out


def http(url: str) -> dict:
    import tritonclient.http as t
    from tritonclient.utils import InferenceServerException

    client = t.InferenceServerClient(url)
    results: dict = {
        "server": {
            "live": client.is_server_live(),
            "ready": client.is_server_ready(),
            "model_ready": client.is_model_ready("hp"),
            "extensions": client.get_server_metadata()["extensions"],
            "inputs": [i["name"] for i in client.get_model_metadata("hp")["inputs"]],
        }
    }

    # the defaults: binary input, all outputs binary (binary_data_output)
    x = t.InferInput("x", [3], "FP32").set_data_from_numpy(np.array([1.0, 2.0, 3.0], np.float32))
    result = client.infer("hp", [x], request_id="bin-1")
    results["binary"] = {"id": result.get_response().get("id"), "outputs": _outputs(result)}

    # JSON both ways
    x = t.InferInput("x", [2], "FP32").set_data_from_numpy(
        np.array([4.0, 6.0], np.float32), binary_data=False
    )
    result = client.infer("hp", [x], outputs=[t.InferRequestedOutput("y", binary_data=False)])
    results["json"] = _outputs(result)

    # binary input, requested output with binary_data=True
    x = t.InferInput("x", [2], "FP32").set_data_from_numpy(np.array([-2.0, 8.0], np.float32))
    result = client.infer("hp", [x], outputs=[t.InferRequestedOutput("y", binary_data=True)])
    results["binary_requested"] = _outputs(result)

    # two inputs (one binary, one JSON), one output binary and one JSON
    a = t.InferInput("a", [2], "FP32").set_data_from_numpy(np.array([1.0, 2.0], np.float32))
    b = t.InferInput("b", [2], "FP32").set_data_from_numpy(
        np.array([10.0, 20.0], np.float32), binary_data=False
    )
    result = client.infer(
        "hp",
        [a, b],
        parameters={"signature_name": "two_inputs"},
        outputs=[
            t.InferRequestedOutput("sum", binary_data=True),
            t.InferRequestedOutput("diff", binary_data=False),
        ],
    )
    results["mixed"] = _outputs(result)

    # INT64 (N, 2)
    k = t.InferInput("k", [2, 2], "INT64").set_data_from_numpy(
        np.array([[1, 2], [3, -4]], np.int64)
    )
    result = client.infer("hp", [k], parameters={"signature_name": "ints"})
    results["ints"] = _outputs(result)

    # BYTES in binary (length-prefixed), not valid UTF-8, and an empty element
    text = t.InferInput("x_bytes", [3], "BYTES").set_data_from_numpy(
        np.array([b"ab", b"\xff\x00", b""], dtype=object)
    )
    result = client.infer("hp", [text], parameters={"signature_name": "bytes_length"})
    results["bytes_binary"] = _outputs(result)

    # BYTES as JSON strings
    text = t.InferInput("x_bytes", [2], "BYTES").set_data_from_numpy(
        np.array(["héllo", "ab"], dtype=object), binary_data=False
    )
    result = client.infer(
        "hp",
        [text],
        parameters={"signature_name": "bytes_length"},
        outputs=[
            t.InferRequestedOutput("echo_bytes", binary_data=False),
            t.InferRequestedOutput("length", binary_data=False),
        ],
    )
    results["bytes_json"] = _outputs(result)

    try:
        wrong = t.InferInput("x", [1], "INT64").set_data_from_numpy(np.array([1], np.int64))
        client.infer("hp", [wrong])
        results["error"] = None
    except InferenceServerException as err:
        results["error"] = {"status": err.status(), "message": err.message()}
    client.close()
    return results


def grpc(target: str) -> dict:
    import tritonclient.grpc as t
    from tritonclient.utils import InferenceServerException

    client = t.InferenceServerClient(target)
    meta = client.get_server_metadata()
    results: dict = {
        "server": {
            "live": client.is_server_live(),
            "ready": client.is_server_ready(),
            "model_ready": client.is_model_ready("hp", "1"),
            "name": meta.name,
            "extensions": list(meta.extensions),
            "inputs": [i.name for i in client.get_model_metadata("hp").inputs],
        }
    }

    def outputs(result) -> dict:
        response = result.get_response()
        return {
            o.name: {"datatype": o.datatype, **_array(result.as_numpy(o.name))}
            for o in response.outputs
        }

    x = t.InferInput("x", [3], "FP32").set_data_from_numpy(np.array([1.0, 2.0, 3.0], np.float32))
    result = client.infer("hp", [x], request_id="g1")
    results["fp32"] = {"id": result.get_response().id, "outputs": outputs(result)}

    a = t.InferInput("a", [2], "FP32").set_data_from_numpy(np.array([1.0, 2.0], np.float32))
    b = t.InferInput("b", [2], "FP32").set_data_from_numpy(np.array([10.0, 20.0], np.float32))
    result = client.infer(
        "hp",
        [a, b],
        parameters={"signature_name": "two_inputs"},
        outputs=[t.InferRequestedOutput("diff")],
    )
    results["two_inputs"] = outputs(result)

    k = t.InferInput("k", [2, 2], "INT64").set_data_from_numpy(
        np.array([[1, 2], [3, -4]], np.int64)
    )
    results["ints"] = outputs(client.infer("hp", [k], parameters={"signature_name": "ints"}))

    text = t.InferInput("x_bytes", [3], "BYTES").set_data_from_numpy(
        np.array([b"ab", b"\xff\x00", b""], dtype=object)
    )
    results["bytes"] = outputs(
        client.infer("hp", [text], parameters={"signature_name": "bytes_length"})
    )

    errors = {}
    for what, call in (
        ("unknown_model", lambda: client.is_model_ready("nope")),
        (
            "wrong_datatype",
            lambda: client.infer(
                "hp", [t.InferInput("x", [1], "INT64").set_data_from_numpy(np.array([1], np.int64))]
            ),
        ),
    ):
        try:
            call()
            errors[what] = None
        except InferenceServerException as err:
            errors[what] = {"status": err.status(), "message": err.message()}
    results["errors"] = errors
    client.close()
    return results


SERVICES = (
    "",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
    "inference.GRPCInferenceService",
)


def health(target: str) -> dict:
    import grpc as grpclib
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    name = health_pb2.HealthCheckResponse.ServingStatus.Name
    with grpclib.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        check = {
            s: name(stub.Check(health_pb2.HealthCheckRequest(service=s), timeout=30).status)
            for s in SERVICES
        }
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=30)
            unknown = None
        except grpclib.RpcError as err:
            unknown = err.code().name
        return {"check": check, "unknown": unknown}


def watch(target: str, service: str, until: str) -> None:
    import grpc as grpclib
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    name = health_pb2.HealthCheckResponse.ServingStatus.Name
    with grpclib.insecure_channel(target) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=service), timeout=300
        )
        for response in stream:
            print(json.dumps({"status": name(response.status)}), flush=True)
            if name(response.status) == until:
                stream.cancel()
                break


def main(argv: list[str]) -> None:
    command, target = argv[0], argv[1]
    if command == "watch":
        watch(target, argv[2], argv[3])
        return
    print(json.dumps({"http": http, "grpc": grpc, "health": health}[command](target)))


if __name__ == "__main__":
    main(sys.argv[1:])
