"""KServe V2 ``inference.GRPCInferenceService`` against the session's ``batching_server``
(model ``hp``, version 1 of y = x/2 + 2), with a client built on the same field-by-field
declaration of ``grpc_predict_v2.proto`` (no V2 client library installs beside the pinned core
versions; see `serving.server.v2_grpc`)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from serving.server.v2_grpc import SERVICE, messages

pytestmark = pytest.mark.slow
RESPONSES = {"ServerLive": "ServerLiveResponse", "ServerReady": "ServerReadyResponse",
             "ModelReady": "ModelReadyResponse", "ServerMetadata": "ServerMetadataResponse",
             "ModelMetadata": "ModelMetadataResponse", "ModelInfer": "ModelInferResponse"}


@pytest.fixture(scope="module")
def call(batching_server):
    channel = grpc.insecure_channel(batching_server.grpc_target)
    m = messages()

    def rpc(method: str, request):
        fn = channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=lambda r: r.SerializeToString(),
                                 response_deserializer=m[RESPONSES[method]].FromString)
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
    np.testing.assert_allclose(np.frombuffer(call("ModelInfer", raw).raw_output_contents[0], "<f4"), [4.0, 5.0])


def test_v2_grpc_bytes_signature_and_errors(call):
    m = messages()
    req = m["ModelInferRequest"](model_name="hp")
    req.parameters["signature_name"].string_param = "bytes_length"
    req.inputs.add(name="x_bytes", datatype="BYTES", shape=[2]).contents.bytes_contents.extend([b"ab", b"\xff"])
    req.outputs.add(name="length")
    resp = call("ModelInfer", req)
    assert [o.name for o in resp.outputs] == ["length"]
    assert np.frombuffer(resp.raw_output_contents[0], "<i4").tolist() == [2, 1]
    bad = m["ModelInferRequest"](model_name="hp")
    bad.inputs.add(name="x", datatype="INT64", shape=[1]).contents.int64_contents.append(1)
    with pytest.raises(grpc.RpcError) as info:
        call("ModelInfer", bad)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "FP32" in info.value.details()


def test_v2_grpc_with_tritonclient(batching_server):
    """Triton's client, with its own generated stubs, when it is importable (it does not install
    beside the pinned versions; run with it on PYTHONPATH to check wire compatibility)."""
    try:
        import tritonclient.grpc as triton
    except (ImportError, RuntimeError) as err:
        pytest.skip(f"tritonclient[grpc] is not importable: {err}")
    client = triton.InferenceServerClient(batching_server.grpc_target)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("hp", "1")
    assert client.get_server_metadata().name == "dlsuite"
    assert [t.name for t in client.get_model_metadata("hp").inputs] == ["x"]
    x = triton.InferInput("x", [3], "FP32")
    x.set_data_from_numpy(np.array([1.0, 2.0, 3.0], np.float32))
    result = client.infer("hp", [x], request_id="t1")
    np.testing.assert_allclose(result.as_numpy("y"), [2.5, 3.0, 3.5])
    text = triton.InferInput("x_bytes", [2], "BYTES")
    text.set_data_from_numpy(np.array([b"ab", b"\xff"], dtype=object))
    result = client.infer("hp", [text], parameters={"signature_name": "bytes_length"},
                          outputs=[triton.InferRequestedOutput("length")])
    assert result.as_numpy("length").tolist() == [2, 1]
    with pytest.raises(triton.InferenceServerException, match="NOT_FOUND"):
        client.is_model_ready("nope")


def test_v2_grpc_infer_is_counted(call, batching_server):
    import requests

    from tests.serving.test_server_batching import metric

    req = messages()["ModelInferRequest"](model_name="hp")
    req.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
    call("ModelInfer", req)
    text = requests.get(f"{batching_server.rest}/metrics", timeout=10).text
    assert metric(text, ":tensorflow:serving:request_count_total", model_name="hp", API="v2_infer",
                  entrypoint="GRPC", status="OK") >= 1
