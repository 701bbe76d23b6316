"""KServe V2 ``inference.GRPCInferenceService`` against the session's ``batching_server``
(model ``hp``, version 1 of y = x/2 + 2), with a client built on the same field-by-field
declaration of ``grpc_predict_v2.proto`` (no V2 client library installs beside the pinned core
versions; see `serving.server.v2_grpc`). Triton's own client is run against it from a venv of its
own in ``test_server_tritonclient.py``."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from dlsuite.serving.server.v2_grpc import SERVICE, messages

pytestmark = pytest.mark.slow
RESPONSES = {
    "ServerLive": "ServerLiveResponse",
    "ServerReady": "ServerReadyResponse",
    "ModelReady": "ModelReadyResponse",
    "ServerMetadata": "ServerMetadataResponse",
    "ModelMetadata": "ModelMetadataResponse",
    "ModelInfer": "ModelInferResponse",
}


@pytest.fixture(scope="module")
def call(batching_server):
    channel = grpc.insecure_channel(batching_server.grpc_target)
    m = messages()

    def rpc(method: str, request):
        fn = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=m[RESPONSES[method]].FromString,
        )
        return fn(request, timeout=30)

    yield rpc
    channel.close()


def test_v2_grpc_health_and_metadata(call):
    m = messages()
    assert call("ServerLive", m["ServerLiveRequest"]()).live
    assert call("ServerReady", m["ServerReadyRequest"]()).ready
    assert call("ServerMetadata", m["ServerMetadataRequest"]()).name == "dlsuite"
    assert call("ModelReady", m["ModelReadyRequest"](name="hp")).ready
    assert call("ModelReady", m["ModelReadyRequest"](name="hp", version="1")).ready
    meta = call("ModelMetadata", m["ModelMetadataRequest"](name="hp"))
    assert (meta.name, list(meta.versions), meta.platform) == ("hp", ["1"], "tensorflow_savedmodel")
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("x", "FP32", [-1])]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == [("y", "FP32", [-1])]
    with pytest.raises(grpc.RpcError) as info:
        call("ModelReady", m["ModelReadyRequest"](name="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_v2_grpc_model_infer_typed_and_raw(call):
    m = messages()
    req = m["ModelInferRequest"](model_name="hp", id="r1")
    tensor = req.inputs.add(name="x", datatype="FP32", shape=[3])
    tensor.contents.fp32_contents.extend([1.0, 2.0, 3.0])
    resp = call("ModelInfer", req)
    assert (resp.model_name, resp.model_version, resp.id) == ("hp", "1", "r1")
    (out,) = resp.outputs
    assert (out.name, out.datatype, list(out.shape)) == ("y", "FP32", [3])
    np.testing.assert_allclose(np.frombuffer(resp.raw_output_contents[0], "<f4"), [2.5, 3.0, 3.5])

    raw = m["ModelInferRequest"](model_name="hp", model_version="1")
    raw.inputs.add(name="x", datatype="FP32", shape=[2])
    raw.raw_input_contents.append(np.array([4.0, 6.0], "<f4").tobytes())
    np.testing.assert_allclose(
        np.frombuffer(call("ModelInfer", raw).raw_output_contents[0], "<f4"), [4.0, 5.0]
    )


def test_v2_grpc_bytes_signature_and_errors(call):
    m = messages()
    req = m["ModelInferRequest"](model_name="hp")
    req.parameters["signature_name"].string_param = "bytes_length"
    req.inputs.add(name="x_bytes", datatype="BYTES", shape=[2]).contents.bytes_contents.extend(
        [b"ab", b"\xff"]
    )
    req.outputs.add(name="length")
    resp = call("ModelInfer", req)
    assert [o.name for o in resp.outputs] == ["length"]
    assert np.frombuffer(resp.raw_output_contents[0], "<i4").tolist() == [2, 1]
    bad = m["ModelInferRequest"](model_name="hp")
    bad.inputs.add(name="x", datatype="INT64", shape=[1]).contents.int64_contents.append(1)
    with pytest.raises(grpc.RpcError) as info:
        call("ModelInfer", bad)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "FP32" in info.value.details()


def test_v2_grpc_raw_bytes_int64_and_bad_raw_contents(call):
    m = messages()
    req = m["ModelInferRequest"](model_name="hp")
    req.parameters["signature_name"].string_param = "bytes_length"
    req.inputs.add(name="x_bytes", datatype="BYTES", shape=[3])
    req.raw_input_contents.append(
        b"".join(len(v).to_bytes(4, "little") + v for v in (b"ab", b"\xff\x00", b""))
    )
    resp = call("ModelInfer", req)
    outputs = dict(zip([o.name for o in resp.outputs], resp.raw_output_contents, strict=True))
    assert np.frombuffer(outputs["length"], "<i4").tolist() == [2, 2, 0]
    assert outputs["echo_bytes"] == b"\x02\x00\x00\x00ab\x02\x00\x00\x00\xff\x00\x00\x00\x00\x00"

    ints = m["ModelInferRequest"](model_name="hp")
    ints.parameters["signature_name"].string_param = "ints"
    ints.inputs.add(name="k", datatype="INT64", shape=[2, 2])
    ints.raw_input_contents.append(np.array([[1, 2], [3, -4]], "<i8").tobytes())
    (out,) = call("ModelInfer", ints).raw_output_contents
    assert np.frombuffer(out, "<i8").tolist() == [2, 4, 6, -8]

    for raw, match in (
        (np.array([1.0], "<f4").tobytes(), "do not match shape [2]"),
        (b"\x09\x00\x00\x00a", "length prefix of 9 bytes"),
    ):
        bad = m["ModelInferRequest"](model_name="hp")
        name, datatype = ("x", "FP32") if match.startswith("do") else ("x_bytes", "BYTES")
        if datatype == "BYTES":
            bad.parameters["signature_name"].string_param = "bytes_length"
        bad.inputs.add(name=name, datatype=datatype, shape=[2] if datatype == "FP32" else [1])
        bad.raw_input_contents.append(raw)
        with pytest.raises(grpc.RpcError) as info:
            call("ModelInfer", bad)
        assert (
            info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and match in info.value.details()
        )
    two = m["ModelInferRequest"](model_name="hp")
    two.inputs.add(name="x", datatype="FP32", shape=[1])
    two.raw_input_contents.extend([b"\x00" * 4, b"\x00" * 4])
    with pytest.raises(grpc.RpcError) as info:
        call("ModelInfer", two)
    assert "expected 1 raw_input_contents" in info.value.details()


def test_v2_grpc_infer_is_counted(call, batching_server):
    import requests

    from tests.serving.test_server_batching import metric

    req = messages()["ModelInferRequest"](model_name="hp")
    req.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
    call("ModelInfer", req)
    text = requests.get(f"{batching_server.rest}/metrics", timeout=10).text
    assert (
        metric(
            text,
            ":tensorflow:serving:request_count_total",
            model_name="hp",
            API="v2_infer",
            entrypoint="GRPC",
            status="OK",
        )
        >= 1
    )
