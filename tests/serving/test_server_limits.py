"""Request limits (``--max_tensor_elements`` and the rest, `config.RequestLimits`) on every
protocol of one real server with small limits, plus the hostile requests of issue 18 (a body
nested 100,000 deep, a 5,000-digit integer, a 69-byte TensorProto declaring 4,194,304 elements, NaN
in KServe V2 INT data); then unit tests of the codec functions that apply them."""

from __future__ import annotations

import base64
import dataclasses
import json

import grpc
import pytest
import requests

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import ServingError
from tests.serving.conftest import copy_version, start_server

LIMITS = RequestLimits(
    max_tensor_elements=64,
    max_request_elements=100,
    max_batch_rows=60,
    max_json_depth=16,
    max_number_chars=40,
    max_string_bytes=32,
)
DEEP = b'{"instances": ' + b"[" * 100_000 + b"1" + b"]" * 100_000 + b"}"
LONG_INTEGER = b'{"instances": [' + b"9" * 5000 + b"]}"


@pytest.fixture(scope="module")
def server(golden_versions, tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    copy_version(golden_versions["two"], root / "hp", 1)
    flags = [f"--{name}={value}" for name, value in dataclasses.asdict(LIMITS).items()]
    srv = start_server(
        ["--model_name=hp", f"--model_base_path={root / 'hp'}", *flags], root / "server.log", "hp"
    )
    yield srv
    srv.stop()


def _refused(resp: requests.Response, status: int, *needles: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    for needle in needles:
        assert needle in body["error"], body["error"]


def _b64(size: int) -> dict:
    return {"b64": base64.b64encode(b"s" * size).decode()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "verb, body, status, needles",
    [
        ("predict", {"instances": [1.0] * 60}, 200, ()),
        (
            "predict",
            {"instances": [1.0] * 65},
            413,
            ("'instances' has 65 elements (shape [65])", "--max_tensor_elements=64"),
        ),
        (
            "predict",
            {"instances": [1.0] * 61},
            413,
            ("input 'x' has 61 rows (shape [61])", "--max_batch_rows=60"),
        ),
        (
            "predict",
            {"instances": [{"x": 1.0}] * 61},  # not the dense reading: the same limit
            413,
            ("input 'x' has 61 rows", "--max_batch_rows=60"),
        ),
        (
            "predict",
            {"signature_name": "two_inputs", "inputs": {"a": [1.0] * 55, "b": [2.0] * 55}},
            413,
            ("the request's inputs have 110 elements", "--max_request_elements=100"),
        ),
        (
            "predict",
            {"signature_name": "bytes_length", "instances": [_b64(32), _b64(33)]},
            413,
            ("input 'x_bytes' has a string element of 33 bytes", "--max_string_bytes=32"),
        ),
        (
            "classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}] * 61},
            413,
            ("the request has 61 examples", "--max_batch_rows=60"),
        ),
        (
            "regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0, "y": [1.0]}] * 51},
            413,
            ("the request's examples have 102 feature values", "--max_request_elements=100"),
        ),
        (
            "regress",
            {"signature_name": "regress_x_to_y", "context": {"c": _b64(20)}, "examples": [{}] * 3},
            413,
            ("the examples' context", "repeated 2 more times", "--max_string_bytes=32"),
        ),
    ],
)
def test_rest_size_limits(server, verb, body, status, needles):
    resp = requests.post(f"{server.rest}/v1/models/hp:{verb}", json=body, timeout=30)
    if status == 200:
        assert resp.status_code == 200, resp.text
    else:
        _refused(resp, status, *needles)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path, data, needles",
    [
        ("/v1/models/hp:predict", DEEP, ("100001 arrays and objects deep", "--max_json_depth=16")),
        ("/v1/models/hp:classify", DEEP, ("--max_json_depth=16",)),
        ("/v1/models/hp:predict", LONG_INTEGER, ("5000 characters", "--max_number_chars=40")),
        ("/v1/models/hp:regress", LONG_INTEGER, ("--max_number_chars=40",)),
        (
            "/v1/models/hp:predict",
            b'{"instances": [1e' + b"0" * 38 + b"1]}",
            ("a number of 41 characters", "--max_number_chars=40"),
        ),
        (f"/v1/models/hp/versions/{'9' * 5000}:predict", b"{}", ("Failed to convert version",)),
        (  # version 1 (leading zeros are no digits): the body's own error
            f"/v1/models/hp/versions/{'0' * 5000}1:predict",
            b"{}",
            ("Missing 'inputs' or 'instances' key",),
        ),
    ],
)
def test_rest_syntax_limits(server, path, data, needles):
    _refused(requests.post(server.rest + path, data=data, timeout=30), 400, *needles)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text, needles",
    [
        ("[NaN, 1]", ("element 0 is NaN", "INT64")),
        ("[1, Infinity]", ("element 1 is an infinite number",)),
        ("[1.5, 1]", ("element 0 is a decimal number (1.5)",)),
        (f"[1, {10**30}]", ("outside its range",)),
        ("[true, 1]", ("its elements must be numbers",)),
    ],
)
def test_v2_int_data_holding_non_integers(server, text, needles):
    body = (
        '{"parameters": {"signature_name": "ints"}, "inputs": [{"name": "k", "shape": [1, 2], '
        f'"datatype": "INT64", "data": {text}}}]}}'
    )
    resp = requests.post(f"{server.rest}/v2/models/hp/infer", data=body, timeout=30)
    _refused(resp, 400, *needles)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path, body, status, needles",
    [
        (
            "/v2/models/hp/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [4096, 32, 32, 1], "datatype": "FP32", "data": [1]}
                ]
            },
            413,
            ("input 'x' has 4194304 elements (shape [4096, 32, 32, 1])", "--max_tensor_elements"),
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [61], "datatype": "FP32", "data": [1.0] * 61}]},
            413,
            ("input 'x' has 61 rows", "--max_batch_rows=60"),
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1.0]}]},
            400,
            ("'shape' must be a list of integers from 0 to 2^63-1, got [-1]",),
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [10**20], "datatype": "FP32", "data": [1.0]}]},
            400,
            ("'shape' must be a list of integers",),
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [True], "datatype": "FP32", "data": [1.0]}]},
            400,
            ("'shape' must be a list of integers",),
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [2], "datatype": "FLOAT32", "data": [1.0, 2.0]}]},
            400,
            ('datatype "FLOAT32", which is not a V2 datatype', "expects FP32"),
        ),
        (
            "/v2/models/hp/infer",
            {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1.0, 2.0]}]},
            400,
            ("has 2 elements but shape [3] needs 3",),
        ),
        (
            f"/v2/models/hp/versions/{'9' * 5000}/infer",
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
            400,
            ("is not a 64-bit integer",),
        ),
        (
            "/v2/models/hp/infer",
            {
                "parameters": {"signature_name": "bytes_length"},
                "inputs": [
                    {"name": "x_bytes", "shape": [1], "datatype": "BYTES", "data": [_b64(40)]}
                ],
            },
            413,
            ("string element of 40 bytes", "--max_string_bytes=32"),
        ),
    ],
)
def test_v2_rest_limits_and_malformed_tensors(server, path, body, status, needles):
    resp = requests.post(server.rest + path, json=body, timeout=30)
    _refused(resp, status, *needles)


@pytest.mark.slow
def test_v2_rest_hostile_json_and_binary_sizes(server):
    url = f"{server.rest}/v2/models/hp/infer"
    _refused(requests.post(url, data=DEEP, timeout=30), 400, "--max_json_depth=16")
    shape = b'{"inputs": [{"name": "x", "shape": [' + b"9" * 5000 + b'], "datatype": "FP32"}]}'
    _refused(requests.post(url, data=shape, timeout=30), 400, "--max_number_chars=40")
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 2**40},
                }
            ]
        }
    ).encode()
    resp = requests.post(
        url,
        data=header + b"\0" * 8,
        headers={"Inference-Header-Content-Length": str(len(header))},
        timeout=30,
    )
    _refused(resp, 400, "binary_data_size 1099511627776 but only 8 bytes")


@pytest.fixture(scope="module")
def prediction(server):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(server.grpc_target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _grpc_refused(call, request, code: grpc.StatusCode, *needles: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    assert info.value.code() == code, info.value.details()
    for needle in needles:
        assert needle in info.value.details(), info.value.details()


def test_grpc_bytes_that_do_not_parse_are_invalid_argument(server):
    """grpc-python answers INTERNAL ``Exception deserializing request!``; the server says what
    is wrong instead, on every service (TF Serving's, V2, health)."""
    channel = grpc.insecure_channel(server.grpc_target)
    for method, message in (
        ("/tensorflow.serving.PredictionService/Predict", "tensorflow.serving.PredictRequest"),
        ("/inference.GRPCInferenceService/ModelInfer", "inference.ModelInferRequest"),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest"),
    ):
        call = channel.unary_unary(method)  # bytes in, bytes out
        _grpc_refused(call, b"\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT, message)
    channel.close()


@pytest.mark.slow
def test_grpc_tensor_proto_refused_from_its_declared_shape(prediction):
    """The issue's 69-byte request: one float_val, a 4096x32x32x1 shape (tf.make_ndarray would
    fill it out); refused from the shape alone, as are its variants."""
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2

    from dlsuite.serving.server.tensors import tensor_proto_to_array

    def request(dims, dtype=types_pb2.DT_FLOAT, signature="", **values):
        req = predict_pb2.PredictRequest()
        req.model_spec.name, req.model_spec.signature_name = "hp", signature
        tensor = req.inputs["x_bytes" if dtype == types_pb2.DT_STRING else "x"]
        tensor.dtype = dtype
        for size in dims:
            tensor.tensor_shape.dim.add(size=size)
        for field, value in values.items():
            getattr(tensor, field).extend(value)
        return req

    hostile = request([4096, 32, 32, 1], float_val=[1.0])
    assert len(hostile.SerializeToString()) < 100
    _grpc_refused(
        prediction.Predict,
        hostile,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "input 'x' has 4194304 elements (shape [4096, 32, 32, 1]), more than "
        "--max_tensor_elements=64",
    )
    _grpc_refused(
        prediction.Predict,
        request([2**62, 2**62], float_val=[1.0]),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "--max_tensor_elements=64",
    )
    _grpc_refused(
        prediction.Predict,
        request([61], float_val=[1.0]),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "input 'x' has 61 rows (shape [61]), more than --max_batch_rows=60",
    )
    _grpc_refused(
        prediction.Predict,
        request([-1, 4], float_val=[1.0]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x",
    )
    _grpc_refused(  # one 20-byte string filled out to 50: 980 bytes the server would make
        prediction.Predict,
        request([50], types_pb2.DT_STRING, "bytes_length", string_val=[b"s" * 20]),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "the last string of input 'x_bytes' (20 bytes) would be repeated 49 more times",
        "--max_string_bytes=32",
    )
    _grpc_refused(
        prediction.Predict,
        request([1], types_pb2.DT_STRING, "bytes_length", string_val=[b"s" * 33]),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "string element of 33 bytes",
    )
    answer = prediction.Predict(request([2], float_val=[1.0]), timeout=30)  # filled out: fine
    assert tensor_proto_to_array(answer.outputs["y"], "y").tolist() == [2.5, 2.5]


@pytest.mark.slow
def test_grpc_examples_limits(prediction):
    from tensorflow_serving.apis import classification_pb2, inference_pb2, regression_pb2

    from dlsuite.serving.signatures import REGRESS_METHOD
    from tests.serving.golden import example

    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "hp", "classify_x_to_y"
    classify.input.example_list.examples.extend([example(1.0)] * 61)
    _grpc_refused(prediction.Classify, classify, grpc.StatusCode.RESOURCE_EXHAUSTED, "61 examples")
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name, regress.model_spec.signature_name = "hp", "regress_x_to_y"
    lists = regress.input.example_list_with_context
    lists.context.features.feature["c"].bytes_list.value.append(b"s" * 20)
    lists.examples.extend([example(1.0)] * 3)
    _grpc_refused(
        prediction.Regress, regress, grpc.StatusCode.RESOURCE_EXHAUSTED, "the examples' context"
    )
    multi = inference_pb2.MultiInferenceRequest()
    task = multi.tasks.add()
    task.model_spec.name, task.model_spec.signature_name = "hp", "regress_x_to_y"
    task.method_name = REGRESS_METHOD
    multi.input.example_list.examples.extend([example(1.0)] * 61)
    _grpc_refused(
        prediction.MultiInference, multi, grpc.StatusCode.RESOURCE_EXHAUSTED, "--max_batch_rows"
    )


@pytest.mark.slow
def test_v2_grpc_limits(server):
    from dlsuite.serving.server.v2_grpc import SERVICE, messages

    m = messages()
    with grpc.insecure_channel(server.grpc_target) as channel:
        infer = channel.unary_unary(
            f"/{SERVICE}/ModelInfer",
            request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=m["ModelInferResponse"].FromString,
        )
        req = m["ModelInferRequest"](model_name="hp")
        req.inputs.add(
            name="x", datatype="FP32", shape=[4096, 32, 32, 1]
        ).contents.fp32_contents.append(1.0)
        _grpc_refused(infer, req, grpc.StatusCode.RESOURCE_EXHAUSTED, "4194304 elements")
        req = m["ModelInferRequest"](model_name="hp", model_version="9" * 5000)
        req.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
        _grpc_refused(infer, req, grpc.StatusCode.INVALID_ARGUMENT, "not a 64-bit integer")
        req = m["ModelInferRequest"](model_name="hp")
        req.inputs.add(name="x", datatype="FP32", shape=[-3])
        _grpc_refused(infer, req, grpc.StatusCode.INVALID_ARGUMENT, "'shape' must be")


@pytest.mark.slow
def test_server_alive_after_the_hostile_requests(server):
    assert server.proc.poll() is None
    resp = requests.post(
        f"{server.rest}/v1/models/hp:predict", json={"instances": [2.0]}, timeout=30
    )
    assert resp.json() == {"predictions": [3.0]}


# -- the codec functions ----------------------------------------------------------------------


def test_json_text_checks_see_through_strings():
    """Brackets and digits inside strings (escaped quotes and backslashes too) are not structure
    or numbers; depth and number length are exact at the limit."""
    from dlsuite.serving.server.json_values import check_json_text

    inside = json.dumps({"s": '[[[{{"\\' * 40 + "9" * 100, "t": ["x\\", "]]"]}).encode()
    check_json_text(inside, LIMITS)
    check_json_text(b"[" * 16 + b"]" * 16, LIMITS)
    check_json_text(b'{"a": -1.' + b"5" * 33 + b"e+10}", LIMITS)  # a number of 40 characters
    with pytest.raises(ServingError) as info:
        check_json_text(b"[" * 8 + b"{" * 9 + b"}" * 9 + b"]" * 8, LIMITS)
    assert (info.value.code, info.value.http_status) == ("INVALID_ARGUMENT", 400)
    assert "nested 17 arrays and objects deep, more than --max_json_depth=16" in info.value.message
    with pytest.raises(ServingError, match="a number of 41 characters"):
        check_json_text(b"[" + b"1" * 41 + b"]", LIMITS)


def test_dense_reading_checks_the_skeleton_before_the_numbers():
    from dlsuite.serving.server.json_tensor import split_dense

    assert split_dense(DEEP, LIMITS) is None  # left to the full parse, which refuses it
    with pytest.raises(ServingError) as info:
        split_dense(json.dumps({"inputs": [[1.0] * 8] * 9}).encode(), LIMITS)
    assert info.value.http_status == 413
    assert info.value.message == (
        "'inputs' has 72 elements (shape [9, 8]), more than --max_tensor_elements=64"
    )
    assert split_dense(json.dumps({"inputs": [[1.0] * 8] * 8}).encode(), LIMITS) is not None


def test_tensor_proto_shapes_and_filled_strings():
    import tensorflow as tf

    from dlsuite.serving.server.tensors import proto_shape, tensor_proto_to_array

    proto = tf.make_tensor_proto([b"abc"], dtype=tf.string)
    proto.tensor_shape.dim[0].size = 11  # 10 copies of 3 bytes: 30 <= 32
    assert tensor_proto_to_array(proto, "s", LIMITS).tolist() == [b"abc"] * 11
    proto.tensor_shape.dim[0].size = 12
    with pytest.raises(ServingError, match="repeated 11 more times, 33 bytes"):
        tensor_proto_to_array(proto, "s", LIMITS)
    proto.tensor_shape.dim[0].size = -2
    with pytest.raises(ServingError, match="tensor parsing error: s"):
        proto_shape(proto, "s")


def test_examples_count_the_context_for_each_example():
    from dlsuite.serving.server.limits import check_examples
    from tests.serving.golden import example

    context = example(1.0)  # one feature value, 17 bytes
    limits = dataclasses.replace(LIMITS, max_string_bytes=17 * 50)
    check_examples(context, [example(2.0)] * 50, limits)  # 50 x (1 + 1) = 100 values
    with pytest.raises(ServingError, match="102 feature values"):
        check_examples(context, [example(2.0)] * 51, limits)
    with pytest.raises(ServingError, match=r"context \(17 bytes\) would be repeated 50 more"):
        check_examples(
            context, [example(2.0)] * 51, dataclasses.replace(LIMITS, max_string_bytes=17 * 49)
        )


@pytest.mark.parametrize(
    "text, target",
    [
        ("", (None, None)),
        ("7", (7, None)),
        ("-3", (-3, None)),
        ("stable", (None, "stable")),
        ("0" * 5000 + "12", (12, None)),
        (str(2**63 - 1), (2**63 - 1, None)),
    ],
)
def test_v2_version_target(text, target):
    from dlsuite.serving.server.v2 import version_target

    assert version_target(text) == target


@pytest.mark.parametrize("text", [str(2**63), "9" * 5000])
def test_v2_version_target_refuses_versions_past_int64(text):
    from dlsuite.serving.server.v2 import version_target

    with pytest.raises(ServingError, match="is not a 64-bit integer"):
        version_target(text)


def test_image_strings_refused_from_their_header_and_lone_surrogates():
    import io
    import struct
    import zlib

    import numpy as np
    from PIL import Image

    from dlsuite.serving.server.json_values import to_bytes
    from dlsuite.serving.server.limits import check_strings

    def png(width: int, height: int) -> bytes:  # a header that declares the size, no pixels
        def chunk(kind: bytes, data: bytes) -> bytes:
            crc = struct.pack(">I", zlib.crc32(kind + data))
            return struct.pack(">I", len(data)) + kind + data + crc

        ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")

    limits = RequestLimits(max_image_pixels=64 * 64)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "JPEG")
    fine = np.array([buffer.getvalue(), png(64, 64), b"not an image", b"BM?"], dtype=object)
    check_strings({"x": fine}, limits)
    for big, needle in ((png(65, 64), "65 x 64 pixels"), (png(23_000, 23_000), "529000000")):
        with pytest.raises(ServingError, match="max_image_pixels=4096") as err:
            check_strings({"image": np.array([b"x", big], dtype=object)}, limits)
        assert err.value.http_status == 413 and needle in err.value.message
    with pytest.raises(ServingError, match="surrogate pair in string is invalid"):
        to_bytes("\ud800")
    assert to_bytes("a\udc80") == b"a\x80"  # non-UTF-8 bytes that came in go back unchanged


def test_integers_past_a_double_and_feature_names_not_utf8_are_400s():
    """Python reads any integer; rapidjson (TF Serving) refuses one past a double's range. A
    feature name must be UTF-8 (a proto map key)."""
    from dlsuite.serving.server.json_examples import example_from_json
    from dlsuite.serving.server.json_tensor import check_value

    for call in (
        lambda: example_from_json({"y": [0.5, -(10**368)]}),
        lambda: check_value(10**400, 1),  # DT_FLOAT
    ):
        with pytest.raises(ServingError, match="Number too big to be stored in double"):
            call()
    assert example_from_json({"y": [0.5, 10**30]}).features.feature["y"].float_list.value[1] > 0
    with pytest.raises(ServingError, match="Feature name '\\\\udcd9y' is not valid UTF-8"):
        example_from_json({"\udcd9y": [1.0]})  # a byte that was not UTF-8 in the body
