"""TF Serving's ``json_tensor_test.cc`` against `serving.server.json_values`, `json_tensor` and
`json_examples` (requests) and `serving.server.tensors` (responses), without a server: each case
names the C++ test it comes from.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensorflow.core.framework import types_pb2

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import ServingError

LIMITS = RequestLimits()  # the server's defaults


def _infos(**dtypes: int) -> dict[str, int]:
    return dtypes


def _parse(text: str, **dtypes: int):
    """``predict_inputs`` as the server calls it (fast path when the body has no literals),
    checked to give what the exact path gives: the same arrays and dtypes, or the same error; and,
    for a body `split_dense` reads, the same arrays from the dense reading."""
    from dlsuite.serving.server.json_tensor import dense_inputs, predict_inputs, split_dense
    from dlsuite.serving.server.json_values import may_hold_literals, parse_json

    raw = text.encode()
    results = []
    for fast in (not may_hold_literals(raw), False):
        try:
            results.append(predict_inputs(parse_json(raw, LIMITS), _infos(**dtypes), "", fast=fast))
        except ServingError as err:
            results.append(err)
    served, exact = results
    dense = split_dense(raw, LIMITS)
    decoded = dense_inputs(dense, _infos(**dtypes)) if dense is not None else None
    if isinstance(exact, ServingError):
        assert isinstance(served, ServingError) and served.message == exact.message
        assert decoded is None  # the dense reading never accepts what the full parse refuses
        raise served
    for got in (served, decoded) if decoded is not None else (served,):
        assert got[1] == exact[1] and got[0].keys() == exact[0].keys()
        for name, arr in exact[0].items():
            assert got[0][name].dtype == arr.dtype
            np.testing.assert_array_equal(got[0][name], arr)  # NaN equals NaN here
    return decoded if decoded is not None else served


def _parse_error(text: str, **dtypes: int) -> str:
    from dlsuite.serving.server.json_values import parse_json, signature_name

    with pytest.raises(ServingError) as info:
        signature_name(parse_json(text.encode(), LIMITS))
        _parse(text, **dtypes)
    assert info.value.code == "INVALID_ARGUMENT"
    return info.value.message


def test_json_requests_to_tensors():
    # SingleUnnamedTensor: int32 [[1,2],[3,4],[5,6]] -> shape {3, 2}
    inputs, rows = _parse('{"instances": [[1,2],[3,4],[5,6]]}', default=types_pb2.DT_INT32)
    assert (
        rows
        and inputs["default"].dtype == np.int32
        and inputs["default"].tolist() == [[1, 2], [3, 4], [5, 6]]
    )
    # MixedInputForFloatTensor / MixedInputForDoubleTensor
    inputs, _ = _parse(
        '{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}', default=types_pb2.DT_FLOAT
    )
    np.testing.assert_array_equal(inputs["default"], np.float32([1, 2, 3, 4, 5.003, 0.007, 0]))
    inputs, _ = _parse('{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}', default=types_pb2.DT_DOUBLE)
    assert inputs["default"].dtype == np.float64 and inputs["default"][4] == 0.662
    # SingleUnnamedTensorBase64Scalars / Lists, SingleNamedTensorBase64
    inputs, _ = _parse(
        '{"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]}', default=types_pb2.DT_STRING
    )
    assert inputs["default"].tolist() == [b"hello", b"world"]
    inputs, _ = _parse(
        '{"instances": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}', default=types_pb2.DT_STRING
    )
    assert inputs["default"].shape == (2, 1)
    inputs, _ = _parse(
        '{"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]}',
        default=types_pb2.DT_STRING,
    )
    assert inputs["default"].shape == (1, 2, 1)
    # MultipleNamedTensor: shapes {2,3,2}, {2,2}, {2,2} with NaN/Infinity, {2,1}
    inputs, _ = _parse(
        """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
         "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
        {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
         "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]}""",
        int_tensor=types_pb2.DT_INT32,
        str_tensor=types_pb2.DT_STRING,
        float_tensor=types_pb2.DT_FLOAT,
        dbl_tensor=types_pb2.DT_DOUBLE,
    )
    assert {k: v.shape for k, v in inputs.items()} == {
        "int_tensor": (2, 3, 2),
        "str_tensor": (2, 2),
        "float_tensor": (2, 2),
        "dbl_tensor": (2, 1),
    }
    assert inputs["str_tensor"].tolist() == [[b"foo", b"bar"], [b"baz", b"bat"]]
    assert np.isnan(inputs["float_tensor"][0, 1]) and inputs["float_tensor"][1, 1] == np.inf
    # SingleUnnamedTensorColumnarFormat / MultipleNamedTensorColumnarFormat (b64 scalar: shape {})
    inputs, rows = _parse('{"inputs": [[[1,2],[3,4],[5,6]]]}', int_tensor=types_pb2.DT_INT32)
    assert not rows and inputs["int_tensor"].shape == (1, 3, 2)
    inputs, _ = _parse(
        '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"], '
        '"bin_tensor": {"b64": "aGVsbG8="}}}',
        int_tensor=types_pb2.DT_INT32,
        str_tensor=types_pb2.DT_STRING,
        bin_tensor=types_pb2.DT_STRING,
    )
    assert inputs["bin_tensor"].shape == () and inputs["bin_tensor"].item() == b"hello"


@pytest.mark.parametrize(
    "text, dtype, message",
    [
        # SingleUnnamedTensorErrors
        ("", types_pb2.DT_INT32, "JSON Parse error: The document is empty"),
        (
            '{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}',
            types_pb2.DT_INT32,
            "must be a string value",
        ),
        (
            '{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}',
            types_pb2.DT_INT32,
            "Not formatted correctly",
        ),
        ('{"instances": [[1,2],[3,4],[5,6,7]]}', types_pb2.DT_INT32, "Expecting tensor size"),
        ('{"instances": [[1,2],[3,4],[[5,6]]]}', types_pb2.DT_INT32, "Expecting shape"),
        ('{"instances": [1, [1]]}', types_pb2.DT_INT32, "Expecting shape"),
        ('{"instances": [[1,2],["a", "b"]]}', types_pb2.DT_INT32, "not of expected type"),
        ('{"instances": [1.7976931348623157e+308]}', types_pb2.DT_FLOAT, "loss of precision"),
        ('{"instances": [16777217]}', types_pb2.DT_FLOAT, "loss of precision"),
        ('{"instances": [9007199254740993]}', types_pb2.DT_DOUBLE, "loss of precision"),
        # AddValueToTensor: int32 takes no decimals and nothing past its range; unsupported types
        (
            '{"inputs": [1.0]}',
            types_pb2.DT_INT32,
            "JSON Value: 1.0 Type: Number is not of expected type: int32",
        ),
        (
            '{"inputs": [2147483648]}',
            types_pb2.DT_INT32,
            "JSON Value: 2147483648 Type: Number is not of expected type: int32",
        ),
        (
            '{"inputs": [-1]}',
            types_pb2.DT_UINT32,
            "JSON Value: -1 Type: Number is not of expected type: uint32",
        ),
        (
            '{"inputs": [1]}',
            types_pb2.DT_BOOL,
            "JSON Value: 1 Type: Number is not of expected type: bool",
        ),
        ('{"inputs": [{"b64": "!!"}]}', types_pb2.DT_STRING, "Unable to base64 decode"),
        (
            '{"inputs": [{"b64": 1}]}',
            types_pb2.DT_STRING,
            "not formatted correctly for base64 data",
        ),
    ],
)
def test_json_request_errors(text, dtype, message):
    assert message in _parse_error(text, default=dtype)


def test_json_unsupported_dtype_is_unimplemented():
    with pytest.raises(ServingError) as info:
        _parse('{"inputs": [1.0]}', default=types_pb2.DT_HALF)
    assert (info.value.code, info.value.message) == (
        "UNIMPLEMENTED",
        "Conversion of JSON Value: 1.0 to type: half",
    )
    assert info.value.http_status == 501


def test_json_named_tensor_errors():
    # MultipleNamedTensorErrors
    dtypes = {"int_tensor": types_pb2.DT_INT32, "str_tensor": types_pb2.DT_STRING}
    assert "Expecting shape" in _parse_error(
        '{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]}, '
        '{"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}',
        **dtypes,
    )
    assert "Expecting tensor size" in _parse_error(
        '{"instances": [{"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]}, '
        '{"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]}',
        **dtypes,
    )
    assert "Expecting object but got list" in _parse_error(
        '{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]}, '
        "[1, 20, 30]]}",
        **dtypes,
    )
    assert "Expecting value/list but got object" in _parse_error(
        '{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}',
        str_tensor=types_pb2.DT_STRING,
    )
    assert _parse_error('{"instances": [1]}', **dtypes) == (
        "instances is a plain list, but expecting list of objects as multiple input tensors "
        "required as per tensorinfo_map"
    )
    assert _parse_error('{"inputs": [1]}', **dtypes) == (
        "inputs is a plain value/list, but expecting an object as multiple input tensors "
        "required as per tensorinfo_map"
    )


def test_json_responses():
    from dlsuite.serving.server.tensors import predict_json

    ints = np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32)
    # FromJsonSingleTensor / FromJsonSingleScalarTensor
    assert json.loads(predict_json({"int_tensor": ints}, True)) == {"predictions": ints.tolist()}
    assert json.loads(predict_json({"int_tensor": ints}, False)) == {"outputs": ints.tolist()}
    assert json.loads(predict_json({"t": np.arange(1, 6, dtype=np.int32)}, True)) == {
        "predictions": [1, 2, 3, 4, 5]
    }
    # FromJsonSingleBytesTensor: *_bytes outputs as {"b64": ...}
    strings = np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object)
    assert json.loads(predict_json({"str_tensor_bytes": strings}, True)) == {
        "predictions": [
            [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
            [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
        ]
    }
    # FromJsonSingleFloatTensorSixDigitPrecision (compared as strings) and ...NonFinite
    floats = np.float32([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]])
    assert predict_json({"f": floats}, True) == (
        '{"predictions": [[9e+06, 999999.0, 0.5], [0.0003, 3e-05, 555557.5]]}'
    )
    assert predict_json({"f": np.float32([[np.nan, np.inf], [3, -np.inf]])}, True) == (
        '{"predictions": [[NaN, Infinity], [3.0, -Infinity]]}'
    )
    # FromJsonMultipleNamedTensors: a list of objects (row), an object (columnar)
    outputs = {
        "double_scalar_tensor": np.float64([8.0, 9.0]),
        "float_tensor": np.float32([[1.0], [2.0]]),
        "int_tensor": ints,
        "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], dtype=object),
        "str_tensor_bytes": strings,
    }
    rows = json.loads(predict_json(outputs, True))["predictions"]
    assert rows[1] == {
        "double_scalar_tensor": 9.0,
        "float_tensor": [2.0],
        "int_tensor": ints[1].tolist(),
        "str_tensor": ["baz", "bat"],
        "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
    }
    cols = json.loads(predict_json(outputs, False))["outputs"]
    assert cols["double_scalar_tensor"] == [8.0, 9.0] and cols["float_tensor"] == [[1.0], [2.0]]


@pytest.mark.parametrize(
    "outputs, message",
    [
        # FromJsonSingleTensorErrors / FromJsonMultipleNamedTensorsErrors
        ({}, "Cannot convert empty tensor map to JSON"),
        ({"tensor": np.complex64([1, 2])}, "Failed to write JSON value for tensor type: complex64"),
        ({"tensor": np.int32(1)}, "Tensor name: tensor has no shape information "),
        (
            {
                "int_tensor": np.zeros((2, 3), np.int32),
                "str_tensor": np.array([[b"a", b"b", b"c"]], dtype=object),
            },
            "Tensor name: str_tensor has inconsistent batch size: 1 expecting: 2",
        ),
        ({"tensor": np.zeros((0, 3), np.int32)}, "Tensor name: tensor has invalid batch size: 0"),
    ],
)
def test_json_response_errors(outputs, message):
    from dlsuite.serving.server.tensors import predict_json

    with pytest.raises(ServingError) as info:
        predict_json(outputs, True)
    assert (info.value.code, info.value.message) == ("INVALID_ARGUMENT", message)


def test_json_classify_regress_requests():
    # ClassifyRegressRequestTest.RequestNoContext: names -> bytes, ratings -> float, age -> int64
    from dlsuite.serving.server.json_examples import examples_from_json
    from dlsuite.serving.server.json_values import parse_json

    context, examples = examples_from_json(
        parse_json(
            b'{"examples": [{"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20}, '
            b'{"names": ["baz"], "ratings": 6.0, "image": {"b64": "aW1hZ2UgYnl0ZXM="}, '
            b'"flag": true}]}',
            LIMITS,
        )
    )
    assert context is None
    first, second = (e.features.feature for e in examples)
    assert list(first["names"].bytes_list.value) == [b"foo", b"bar"]
    assert list(first["ratings"].float_list.value) == [8.0, 9.0]
    assert list(first["age"].int64_list.value) == [20]
    assert list(second["image"].bytes_list.value) == [b"image bytes"]
    assert list(second["flag"].int64_list.value) == [1]


def test_decimals_written_the_same_by_the_loop_and_by_numpy(monkeypatch):
    # small outputs are printed by a Python loop, large ones by numpy string ops: same text
    from dlsuite.serving.server import tensors

    rng = np.random.default_rng(0)
    cases = [
        rng.standard_normal(50).astype(np.float32) * 10.0 ** rng.integers(-40, 38, 50),
        rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, 50),
        np.float32([0, -0.0, 1, 2.5, np.nan, np.inf, -np.inf, 1e20, 3.4028235e38, 1e-45, 16777216]),
        np.array([0, -0.0, 1, 0.1, 1e300, 5e-324, np.nan, 123456789.0]),
        np.float16([0.1, 1, 65504]),
    ]
    for values in cases:
        small = tensors.format_decimals(values)
        monkeypatch.setattr(tensors, "_SMALL", -1)
        assert tensors.format_decimals(values) == small
        monkeypatch.setattr(tensors, "_SMALL", 64)
    assert tensors.format_decimals(np.float32([0.1, 1, 1e-45])) == ["0.1", "1.0", "1.4013e-45"]


@pytest.mark.parametrize(
    "body",
    [
        '{"instances": {"a": [1]}}',  # the array is inside the tensor's value
        '{"instances": [1], "x": [2]}',  # two arrays
        '{"instances": 0, "x": [1, 2]}',  # the array is another key's
        '{"a": "[", "instances": [1], "b": "]"}',  # brackets inside strings
        '{"instances": [1 2]}',  # invalid JSON the skeleton alone would accept
        '{"instances": [1,,2]}',
        '{"inputs": [[1, 2], [3]]}',  # ragged
        '{"inputs": [01]}',  # not a JSON number
        '{"instances": [1e400]}',  # too big for a double
        '{"instances": [true, 1]}',
        '{"instances": []}',
        '{"instances": [[]]}',  # the skeleton of one element, no number
        '{"instances": [1, 2], "inputs": 0}',  # both keys: the full parse reports it
        '{"instances": [12345678901234567890123]}',  # past 64 bits
        "[[1, 2]]",  # not an object
    ],
)
def test_dense_reading_refuses_what_it_cannot_vouch_for(body):
    from dlsuite.serving.server.json_tensor import split_dense

    assert split_dense(body.encode(), LIMITS) is None


def test_dense_reading_of_an_image_body():
    """A 1x32x32x1 image as a client sends it: read as one dense array, equal to the full
    parse's, and the rest of the document kept (the tensor replaced by 0)."""
    from dlsuite.serving.server.json_tensor import split_dense

    image = np.random.default_rng(0).random((1, 32, 32, 1)).round(4)
    body = {"signature_name": "predict_images", "instances": image.tolist()}
    dense = split_dense(json.dumps(body, indent=1).encode(), LIMITS)  # whitespace between tokens
    assert dense is not None and dense.key == "instances"
    assert dense.doc == {"signature_name": "predict_images", "instances": 0}
    np.testing.assert_array_equal(dense.numbers, image)
    inputs, row_format = _parse(json.dumps(body), images=types_pb2.DT_FLOAT)
    assert row_format and inputs["images"].dtype == np.float32
    np.testing.assert_array_equal(inputs["images"], image.astype(np.float32))
    inputs, row_format = _parse(
        '{"inputs": [[1, 2], [3, 4]]}', x=types_pb2.DT_INT32
    )  # columnar, integers
    assert (
        not row_format
        and inputs["x"].dtype == np.int32
        and inputs["x"].tolist()
        == [
            [1, 2],
            [3, 4],
        ]
    )


@pytest.mark.parametrize(
    "value",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.arange(6, dtype=np.int64).reshape(3, 2),
        np.array([True, False, True]),
        np.arange(4, dtype=np.uint8),
        np.linspace(0, 1, 5).astype(np.float16),
        np.zeros((0, 4), np.float32),
        np.float32(3.5),  # one value: float_val, read by tf.make_ndarray
        np.array([b"a", b"bc"], dtype=object),
    ],
)
def test_tensor_proto_to_array_reads_what_tensorflow_reads(value):
    import tensorflow as tf

    from dlsuite.serving.server.tensors import tensor_proto_to_array

    proto = tf.make_tensor_proto(value)
    got, want = tensor_proto_to_array(proto, "x"), tf.make_ndarray(proto)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_tensor_content_is_read_in_place_and_must_fit_its_shape():
    """A 4 KB image sent as tensor_content is a view of the request's bytes; a shape that does
    not match the content (one image's bytes, a shape of 4096 images) is refused before anything is
    allocated, with TF Serving's message."""
    import tensorflow as tf

    from dlsuite.serving.server.tensors import tensor_proto_to_array

    proto = tf.make_tensor_proto(np.ones((1, 32, 32, 1), np.float32))
    arr = tensor_proto_to_array(proto, "images")
    assert not arr.flags.owndata and not arr.flags.writeable and arr.shape == (1, 32, 32, 1)
    proto.tensor_shape.dim[0].size = 4096
    with pytest.raises(ServingError, match="^tensor parsing error: images$"):
        tensor_proto_to_array(proto, "images")
