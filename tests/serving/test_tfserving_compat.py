"""TF Serving's own expectations, run against a real `dlsuite serve` process (REST and gRPC).

The server serves TF Serving's TF1 test models as ``tests/serving/tfserving_models.py`` recreates
them in zero-padded folders: ``half_plus_two`` (``specific {123, 124}``, labels stable=123 and
canary=124) and ``half_plus_three`` (123). Each case quotes the expectation it checks from
``http_rest_api_handler_test.cc`` (handler), ``json_tensor_test.cc`` (json), ``api_rest.md``,
``predict_impl_test.cc`` or the C++ source that produces the message (the codec's own
``json_tensor_test.cc`` cases are in ``test_tfserving_json.py``). No test changes the server's
state.
"""

from __future__ import annotations

import json
import time

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    regression_pb2,
)

from tests.serving.conftest import predict_request as make_predict_request
from tests.serving.conftest import start_server

pytestmark = pytest.mark.slow
UINT64_MAX = 18446744073709551615


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.serving.tfserving_models import write_repository

    root = tmp_path_factory.mktemp("tfserving")
    paths = write_repository(root / "models")
    config = root / "models.config"
    config.write_text(f"""model_config_list {{
  config {{ name: "half_plus_two" base_path: "{paths["half_plus_two"]}" model_platform: "tensorflow"
           model_version_policy {{ specific {{ versions: 123 versions: 124 }} }}
           version_labels {{ key: "stable" value: 123 }}
           version_labels {{ key: "canary" value: 124 }} }}
  config {{ name: "half_plus_three" base_path: "{paths["half_plus_three"]}"
           model_platform: "tensorflow" }}
}}
""")
    srv = start_server(
        [f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models"],
        root / "server.log",
        "half_plus_three",
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # both versions of half_plus_two AVAILABLE
        states = [
            s["state"]
            for s in requests.get(f"{srv.rest}/v1/models/half_plus_two", timeout=10)
            .json()
            .get("model_version_status", [])
        ]
        if states.count("AVAILABLE") == 2:
            break
        time.sleep(0.3)
    yield srv
    srv.stop()


def call(server, method: str, path: str, body: str | None = None) -> requests.Response:
    """A request with the path sent exactly as written (no normalisation)."""
    session = requests.Session()
    req = requests.Request(method, server.rest + path, data=body).prepare()
    req.url = server.rest + path
    return session.send(req, timeout=30)


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()


def error(resp: requests.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert list(resp.json()) == ["error"], resp.text
    return resp.json()["error"]


def predict(server, path: str, body) -> requests.Response:
    return call(
        server, "POST", f"/v1/models/{path}", body if isinstance(body, str) else json.dumps(body)
    )


# --- REST: predict, classify, regress (HttpRestApiHandlerTest.Predict/Regress/Classify) ---------
@pytest.mark.parametrize(
    "path, body, expected",
    [
        # handler Predict, "Query latest version": {"instances": [[1.0, 2.0], [3.0, 4.0]]}
        #   -> { "predictions": [[2.5, 3.0], [3.5, 4.0]] }
        (
            "half_plus_two:predict",
            {"instances": [[1.0, 2.0], [3.0, 4.0]]},
            {"predictions": [[2.5, 3.0], [3.5, 4.0]]},
        ),
        # handler Predict, "Query specific versions": {"instances": [1.0, 2.0]} -> [2.5, 3.0]
        (
            "half_plus_two/versions/123:predict",
            {"instances": [1.0, 2.0]},
            {"predictions": [2.5, 3.0]},
        ),
        # handler Predict, "Query specific versions using a version label"
        (
            "half_plus_two/labels/stable:predict",
            {"instances": [1.0, 2.0]},
            {"predictions": [2.5, 3.0]},
        ),
        # handler Predict, "explicit signature_name": [3.0, 4.0] -> { "predictions": [3.5, 4.0] }
        (
            "half_plus_two/versions/123:predict",
            {"signature_name": "serving_default", "instances": [3.0, 4.0]},
            {"predictions": [3.5, 4.0]},
        ),
        # handler Predict, "explicit signature_name and columnar inputs"
        #   -> { "outputs": [3.5, 4.0] }
        (
            "half_plus_two/versions/123:predict",
            {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
            {"outputs": [3.5, 4.0]},
        ),
        # the brief / api_rest.md: {"instances": [1.0, 2.0, 5.0]} (half_plus_three: [3.5, 4.0, 5.5])
        ("half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}, {"predictions": [2.5, 3.0, 4.5]}),
        (
            "half_plus_three:predict",
            {"instances": [1.0, 2.0, 5.0]},
            {"predictions": [3.5, 4.0, 5.5]},
        ),
        # the graph runs on the shape sent: x is [-1, 1], [[1.0], [2.0]] keeps its inner dimension
        (
            "half_plus_two/labels/canary:predict",
            {"instances": [[1.0], [2.0]]},
            {"predictions": [[2.5], [3.0]]},
        ),
        # json: named instances, one object per row; columnar names the signature does not have are
        # ignored (FillTensorMapFromInputsMap only looks up the signature's inputs)
        (
            "half_plus_two:predict",
            {"instances": [{"x": 1.0}, {"x": 2.0}]},
            {"predictions": [2.5, 3.0]},
        ),
        ("half_plus_two:predict", {"inputs": {"x": [1.0], "unused": "z"}}, {"outputs": [2.5]}),
        # json MixedInputForFloatTensor: DT_FLOAT takes JSON integers
        ("half_plus_two:predict", {"instances": [1, 2.0, 3]}, {"predictions": [2.5, 3.0, 3.5]}),
        # predict_impl_test PredictionWithNamedRegressionSignature: regress_x2_to_y3 with the scalar
        # 2.0 answers the scalar 4 (columnar output of a scalar is the value itself)
        (
            "half_plus_two:predict",
            {"signature_name": "regress_x2_to_y3", "inputs": 2.0},
            {"outputs": 4.0},
        ),
        # handler Regress: {"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }
        #   -> [42]
        (
            "half_plus_two:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        (
            "half_plus_two/versions/123:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        (
            "half_plus_two/labels/stable:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        # half_plus_three's y2 = x/2 + 4; the context is prepended to every example's bytes, so an
        # example's own feature wins over the context's (util.cc InputToSerializedExampleTensor)
        (
            "half_plus_three:regress",
            {
                "signature_name": "regress_x_to_y2",
                "context": {"x": 2.0},
                "examples": [{}, {"x": 4.0}],
            },
            {"results": [5.0, 6.0]},
        ),
        # handler Classify: classify_x_to_y { "x": 20.0 } -> [[["", 12]]],
        #   label stable { "x": 10.0 } -> [[["", 7]]] (no "classes" output: the label is "")
        (
            "half_plus_two:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]},
            {"results": [[["", 12.0]]]},
        ),
        (
            "half_plus_two/labels/stable:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]},
            {"results": [[["", 7.0]]]},
        ),
    ],
)
def test_rest_verbs(server, path, body, expected):
    assert ok(predict(server, path, body)) == expected


def test_rest_numbers_are_written_as_tf_serving_writes_them(server):
    # json FromJsonSingleFloatTensorSixDigitPrecision / WriteDecimal: "%g" when it round-trips
    # (9e+06, 2.1), else "%.9g" (5000002.0), ".0" on whole numbers; NaN/Infinity tokens
    resp = predict(
        server,
        "half_plus_two:predict",
        '{"instances": [1.7999996e7, 0.2, 1e7, 2, NaN, Infinity, -Infinity]}',
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    assert resp.text == ('{"predictions": [9e+06, 2.1, 5000002.0, 3.0, NaN, Infinity, -Infinity]}')


def test_rest_paths_are_case_insensitive_but_verbs_are_not(server):
    # kPredictionApiGegex is "(?i)/v1/models/...:(classify|regress|predict)", but the handler
    # dispatches on *method == "predict": a PREDICT verb stays "Malformed request"
    assert ok(call(server, "POST", "/V1/Models/half_plus_two:predict", '{"instances": [1.0]}')) == {
        "predictions": [2.5]
    }
    assert (
        error(call(server, "POST", "/v1/models/half_plus_two:PREDICT", '{"instances": [1.0]}'), 400)
        == "Malformed request: POST /v1/models/half_plus_two:PREDICT"
    )


# --- REST: status and metadata (HttpRestApiHandlerTest.GetStatus / GetModelMetadata) -----------
def _status(*versions: str) -> dict:
    return {
        "model_version_status": [
            {
                "version": v,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for v in versions
        ]
    }


@pytest.mark.parametrize(
    "path, expected",
    [
        # handler GetStatus: all versions, newest first
        #   ("version": "123", "state": "AVAILABLE", ...)
        ("/v1/models/half_plus_two", _status("124", "123")),
        ("/v1/models/half_plus_two/versions/123", _status("123")),
        # GetModelStatusImpl looks only at model_spec.version: a label lists every version (the
        # handler test's model has one version, so it cannot tell)
        ("/v1/models/half_plus_two/labels/stable", _status("124", "123")),
        ("/v1/models/half_plus_two/labels/no_such_label", _status("124", "123")),
        ("/v1/models/half_plus_three", _status("123")),
    ],
)
def test_rest_status(server, path, expected):
    assert ok(call(server, "GET", path)) == expected


def test_rest_metadata(server):
    # saved_model_half_plus_two_2_versions_metadata.json: model_spec, and every field printed
    # (always_print_primitive_fields): dims as {"size": "-1", "name": ""},
    # "unknown_rank": false, "defaults": {}
    body = ok(call(server, "GET", "/v1/models/half_plus_two/metadata"))
    assert body["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "124"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {
        "serving_default",
        "classify_x_to_y",
        "regress_x_to_y",
        "regress_x_to_y2",
        "regress_x2_to_y3",
    } <= set(sigs)
    assert sigs["serving_default"] == {
        "inputs": {
            "x": {
                "dtype": "DT_FLOAT",
                "name": "x:0",
                "tensor_shape": {
                    "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                    "unknown_rank": False,
                },
            }
        },
        "outputs": {
            "y": {
                "dtype": "DT_FLOAT",
                "name": "y:0",
                "tensor_shape": {
                    "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                    "unknown_rank": False,
                },
            }
        },
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }
    assert sigs["regress_x2_to_y3"]["method_name"] == "tensorflow/serving/regress"
    stable = ok(call(server, "GET", "/v1/models/half_plus_two/labels/stable/metadata"))
    assert stable["model_spec"]["version"] == "123"


# --- REST: errors --------------------------------------------------------------------------------
MALFORMED = [
    # handler UnsupportedApiCalls: each is INVALID_ARGUMENT "Malformed request"
    ("GET", "/v1/foo"),
    ("POST", "/v1/foo"),
    ("GET", "/v1/models/debug/model_name"),
    ("POST", "/v1/models"),
    ("GET", "/v1/models/foo:predict"),
    ("GET", "/v1/models/foo/version/50:predict"),
    ("POST", "/v1/models/foo/version/50:regress"),
    ("POST", "/v1/models/foo/versions/HELLO:regress"),
    ("POST", "/v1/models/foo/metadata"),
    ("POST", "/v1/models/foo/label/some_label:regress"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress"),
    ("POST", "/v1/models/foo/versions/some_label:regress"),
    # the brief: GET on :predict; any method but GET/POST
    ("GET", "/v1/models/half_plus_two:predict"),
    ("PUT", "/v1/models/half_plus_two:predict"),
    ("DELETE", "/v1/models/half_plus_two"),
    ("POST", "/v1/models/half_plus_two"),
]


@pytest.mark.parametrize("method, path", MALFORMED)
def test_rest_malformed_requests(server, method, path):
    # ProcessRequest: status = InvalidArgument("Malformed request: ", http_method, " ", path)
    assert error(call(server, method, path, "{}"), 400) == f"Malformed request: {method} {path}"


@pytest.mark.parametrize(
    "method, path, status, message",
    [
        # handler UnsupportedApiCalls: version uint64 max -> "Failed to convert version"
        (
            "POST",
            f"/v1/models/foo/versions/{UINT64_MAX}:regress",
            400,
            f"Failed to convert version: {UINT64_MAX} to numeric.",
        ),
        # handler UnsupportedApiCalls: GET /v1/models -> "Missing model name"
        # (dlsuite lists the models on exactly /v1/models; the same route in another case
        # reaches TF Serving's handler)
        ("GET", "/V1/MODELS", 400, "Missing model name in request."),
        # handler PredictModelNameVersionErrors: NOT_FOUND for foo, foo/versions/50, <name>99
        ("POST", "/v1/models/foo:predict", 404, "Servable not found for request: Latest(foo)"),
        (
            "POST",
            "/v1/models/foo/versions/50:predict",
            404,
            "Servable not found for request: Specific(foo, 50)",
        ),
        (
            "POST",
            "/v1/models/half_plus_two99:predict",
            404,
            "Servable not found for request: Latest(half_plus_two99)",
        ),
        (
            "POST",
            "/v1/models/half_plus_two/versions/125:predict",
            404,
            "Servable not found for request: Specific(half_plus_two, 125)",
        ),
        # api_rest.md: POST half:predict
        #   -> 404 { "error": "Servable not found for request: Latest(half)" }
        ("POST", "/v1/models/half:predict", 404, "Servable not found for request: Latest(half)"),
        # handler PredictRequestErrors: nonexistent label
        #   -> INVALID_ARGUMENT "Unrecognized servable version label"
        # (ServerCore::GetModelVersionForLabel; before the model is looked up)
        (
            "POST",
            "/v1/models/half_plus_two/labels/Version_Nonexistent:predict",
            400,
            "Unrecognized servable version label: Version_Nonexistent",
        ),
        (
            "POST",
            "/v1/models/foo/labels/stable:predict",
            400,
            "Unrecognized servable version label: stable",
        ),
        (
            "GET",
            "/v1/models/half_plus_two/labels/nope/metadata",
            400,
            "Unrecognized servable version label: nope",
        ),
        # GetModelStatusImpl: NOT_FOUND
        #   "Could not find any versions of model" / "version V of model"
        ("GET", "/v1/models/foo", 404, "Could not find any versions of model foo"),
        (
            "GET",
            "/v1/models/half_plus_two/versions/125",
            404,
            "Could not find version 125 of model half_plus_two",
        ),
    ],
)
def test_rest_route_errors(server, method, path, status, message):
    assert error(call(server, method, path, '{"instances": [1.0]}'), status) == message


def _doc(text: str) -> str:
    """How TF Serving prints a whole request in a message (rapidjson PrettyWriter)."""
    return json.dumps(json.loads(text), indent=4)


BODY_ERRORS = [
    # handler PredictRequestErrors: "" -> "JSON Parse error: The document is empty"
    ("half_plus_two:predict", "", "JSON Parse error: The document is empty"),
    # handler PredictRequestErrors: "instances = [1, 2]" -> "JSON Parse error: Invalid value"
    (
        "half_plus_two:predict",
        "instances = [1, 2]",
        "JSON Parse error: Invalid value. at offset: 0",
    ),
    (
        "half_plus_two:predict",
        '{"instances": [1.0',
        "JSON Parse error: Missing a comma or ']' after an array element. at offset: 18",
    ),
    ("half_plus_two:predict", "[1, 2]", "JSON Value: [\n    1,\n    2\n] Is not object"),
    # handler PredictRequestErrors: ["x", "y"] -> "not of expected type: float"
    (
        "half_plus_two:predict",
        '{ "instances": ["x", "y"] }',
        "Failed to process element: 0 of "
        "'instances' list. Error: INVALID_ARGUMENT: JSON Value: \"x\" Type: String is not of "
        "expected "
        "type: float",
    ),
    # handler PredictRequestErrors: { "signature_name": 100 }
    #   -> "'signature_name' key must be a string value."
    # (FormatSignatureError prints the whole document)
    (
        "half_plus_two:predict",
        '{ "signature_name": 100 }',
        "JSON Value: "
        + _doc('{"signature_name": 100}')
        + " not formatted correctly. 'signature_name' key must be a "
        "string value.",
    ),
    # json SingleUnnamedTensorErrors / FillPredictRequestFromJson
    (
        "half_plus_two:predict",
        '{"instances": [1], "inputs": [1]}',
        "JSON Value: "
        + _doc('{"instances": [1], "inputs": [1]}')
        + " Not formatted correctly expecting only one of "
        "'inputs' or 'instances' keys to exist ",
    ),
    (
        "half_plus_two:predict",
        '{"signature_name": "serving_default"}',
        "Missing 'inputs' or 'instances' key",
    ),
    (
        "half_plus_two:predict",
        '{"instances": []}',
        "JSON Value: " + _doc('{"instances": []}') + " No values in 'instances' array",
    ),
    (
        "half_plus_two:predict",
        '{"instances": 1.0}',
        "JSON Value: " + _doc('{"instances": 1.0}') + " Excepting 'instances' to be an list/array",
    ),
    (
        "half_plus_two:predict",
        '{"instances": [[1.0], [2.0, 3.0]]}',
        "Failed to process element: 1 "
        "of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 1 but got: 2",
    ),
    (
        "half_plus_two:predict",
        '{"instances": [[1.0, 2.0], [[3.0, 4.0]]]}',
        "Failed to process "
        "element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting shape [2] but "
        "got: [1,2]",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": [[1.0], [2.0, 3.0]]}',
        "Encountered list at unexpected size: 2 at level: 1 expected size: 1",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": [[1.0], 2.0]}',
        "JSON Value: 2.0 found at incorrect level: 2 in the JSON DOM. Expected at level: 2",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": [1.0, [2.0]]}',
        "Encountered list at unexpected level: 1 expected < 1",
    ),
    (
        "half_plus_two:predict",
        '{"instances": [16777217]}',
        "Failed to process element: 0 of "
        "'instances' list. Error: INVALID_ARGUMENT: Cannot convert JSON value: 16777217 to float "
        "without loss of precision.",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": [1e39]}',
        "Cannot convert JSON value: 1e+39 to float without loss of precision.",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": [true]}',
        "JSON Value: true Type: True is not of expected type: float",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": [null]}',
        "JSON Value: null Type: Null is not of expected type: float",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": [{"b64": "AAAA"}]}',
        'JSON Value: {\n    "b64": "AAAA"\n} Type: Object is not of expected type: float',
    ),
    # FillTensorMapFromInstancesList: objects and plain values do not mix; keys must be the inputs
    (
        "half_plus_two:predict",
        '{"instances": [{"x": 1.0}, [2.0]]}',
        "Expecting object but got list at item 1 of input list",
    ),
    (
        "half_plus_two:predict",
        '{"instances": [1.0, {"x": 2.0}]}',
        "Expecting value/list but got object at item 1 of input list",
    ),
    (
        "half_plus_two:predict",
        '{"instances": [{"x": 1.0, "z": 2.0}]}',
        "Failed to process element: "
        "0 key: z of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not have named "
        "input: z",
    ),
    (
        "half_plus_two:predict",
        '{"instances": [{"x": 1.0}, {}]}',
        "Failed to process element: 1 of 'instances' list. JSON object: {} must only have keys: x",
    ),
    (
        "half_plus_two:predict",
        '{"inputs": {"y": [1.0]}}',
        "Missing named input: x in 'inputs' object.",
    ),
    # GetInfoMap: INVALID_ARGUMENT (gRPC's Predict answers FAILED_PRECONDITION, see below)
    (
        "half_plus_two:predict",
        '{"signature_name": "nope", "instances": [1.0]}',
        'Serving signature name: "nope" not found in signature def',
    ),
    # GetClassificationSignatureDef / GetRegressionSignatureDef
    (
        "half_plus_two:classify",
        '{"examples": [{"x": 1.0}]}',
        "Expected classification signature "
        "method_name to be tensorflow/serving/classify. Was: tensorflow/serving/predict",
    ),
    (
        "half_plus_two:regress",
        '{"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]}',
        "Expected regression signature method_name to be tensorflow/serving/regress. Was: "
        "tensorflow/serving/classify",
    ),
    (
        "half_plus_two:regress",
        '{"signature_name": "nope", "examples": [{"x": 1.0}]}',
        "No signature was found with the name: nope",
    ),
    # FillClassifyRegressRequestFromJson (the message says classify for regress too)
    (
        "half_plus_two:regress",
        '{"signature_name": "regress_x_to_y"}',
        "JSON Value: "
        + _doc('{"signature_name": "regress_x_to_y"}')
        + " When method is classify, key 'examples' is "
        "expected and was not found",
    ),
    (
        "half_plus_two:regress",
        '{"examples": {"x": 1.0}}',
        "JSON Value: "
        + _doc('{"examples": {"x": 1.0}}')
        + " Expecting 'examples' value to be an list/array",
    ),
    (
        "half_plus_two:classify",
        '{"examples": []}',
        "JSON Value: " + _doc('{"examples": []}') + " 'examples' value is an empty array",
    ),
    (
        "half_plus_two:classify",
        '{"examples": [1.0]}',
        "Example must be JSON object but got JSON Number",
    ),
    (
        "half_plus_two:classify",
        '{"context": [], "examples": [{}]}',
        "Example must be JSON object but got JSON Array",
    ),
    (
        "half_plus_two:regress",
        '{"examples": [{"x": null}]}',
        "Feature: x has element with unexpected JSON type: Null",
    ),
    (
        "half_plus_two:regress",
        '{"examples": [{"x": [1.0, "a"]}]}',
        "Unexpected element type in feature: x expecting type: float",
    ),
    (
        "half_plus_two:regress",
        '{"examples": [{"x": [[1.0]]}]}',
        "Feature: x has element with unexpected JSON type: Array",
    ),
    (
        "half_plus_two:regress",
        f'{{"examples": [{{"x": {UINT64_MAX}}}]}}',
        "Feature: x has uint64 element. Only int64 is supported.",
    ),
]


@pytest.mark.parametrize("path, body, message", BODY_ERRORS)
def test_rest_body_errors(server, path, body, message):
    assert error(predict(server, path, body), 400) == message


def test_rest_errors_from_the_graph(server):
    # an int64 feature for the float "x": ParseExample's own INVALID_ARGUMENT
    resp = predict(
        server,
        "half_plus_two:regress",
        {"signature_name": "regress_x_to_y", "examples": [{"x": 1}]},
    )
    assert "Data types don't match" in error(resp, 400)
    # regress_x2_to_y3 takes a float tensor, not serialized Examples: the session refuses them
    resp = predict(
        server,
        "half_plus_two:regress",
        {"signature_name": "regress_x2_to_y3", "examples": [{"x2": 1.0}]},
    )
    assert "string" in error(resp, 400)
    # JSON is checked before the model is looked up: a bad body to an unknown model is 400
    assert error(predict(server, "nope:regress", "{}"), 400).endswith(
        "When method is classify, key 'examples' is expected and was not found"
    )


# --- gRPC ----------------------------------------------------------------------------------------
def predict_request(name="half_plus_two", values=((1.0,), (2.0,)), **kwargs):
    return make_predict_request(name, values, **kwargs)


def rpc_error(fn, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=30)
    return info.value.code(), info.value.details()


def test_grpc_predict_classify_regress(stubs):
    prediction, _ = stubs
    resp = prediction.Predict(predict_request(), timeout=30)
    assert tf.make_ndarray(resp.outputs["y"]).tolist() == [[2.5], [3.0]]
    assert (
        resp.model_spec.name,
        resp.model_spec.version.value,
        resp.model_spec.signature_name,
    ) == ("half_plus_two", 124, "serving_default")
    assert (
        prediction.Predict(predict_request(label="stable"), timeout=30).model_spec.version.value
        == 123
    )
    # predict_impl_test PredictionWithNamedRegressionSignature: inputs=2.0 (scalar) -> 4 (scalar)
    resp = prediction.Predict(
        predict_request(signature="regress_x2_to_y3", inputs={"inputs": 2.0}), timeout=30
    )
    assert tf.make_ndarray(resp.outputs["outputs"]).tolist() == 4.0

    req = classification_pb2.ClassificationRequest()
    req.model_spec.name, req.model_spec.signature_name = "half_plus_two", "classify_x_to_y"
    req.input.example_list.examples.add().features.feature["x"].float_list.value.append(20.0)
    classes = prediction.Classify(req, timeout=30).result.classifications[0].classes
    assert [(c.label, c.score) for c in classes] == [("", 12.0)]

    req = regression_pb2.RegressionRequest()
    req.model_spec.name, req.model_spec.signature_name = "half_plus_three", "regress_x_to_y2"
    ctx = req.input.example_list_with_context
    ctx.context.features.feature["x"].float_list.value.append(2.0)
    ctx.examples.add()
    ctx.examples.add().features.feature["x"].float_list.value.append(4.0)
    assert [r.value for r in prediction.Regress(req, timeout=30).result.regressions] == [5.0, 6.0]


def test_grpc_multi_inference_and_metadata_on_the_tf1_model(stubs):
    # multi_inference_test.cc: one Input, several tasks on one model, results in task order
    from tensorflow_serving.apis import inference_pb2

    prediction, _ = stubs
    req = inference_pb2.MultiInferenceRequest()
    for signature, method in (
        ("classify_x_to_y", "tensorflow/serving/classify"),
        ("regress_x_to_y2", "tensorflow/serving/regress"),
    ):
        task = req.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = "half_plus_three", signature
        task.method_name = method
    for x in (2.0, 6.0):
        req.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    results = prediction.MultiInference(req, timeout=30).results
    # half_plus_three: y = x/2 + 3 (classify scores), y2 = x/2 + 4 (regress)
    assert [
        [(c.label, c.score) for c in cl.classes]
        for cl in results[0].classification_result.classifications
    ] == [[("", 4.0)], [("", 6.0)]]
    assert [r.value for r in results[1].regression_result.regressions] == [5.0, 7.0]
    assert [(r.model_spec.signature_name, r.model_spec.version.value) for r in results] == [
        ("classify_x_to_y", 123),
        ("regress_x_to_y2", 123),
    ]

    meta = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    meta.model_spec.name = "half_plus_three"
    resp = prediction.GetModelMetadata(meta, timeout=30)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    resp.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["regress_x2_to_y3"].inputs["inputs"].name == "x2:0"
    assert sig_map.signature_def["serving_default"].outputs["y"].name == "y:0"
    assert resp.model_spec.version.value == 123


@pytest.mark.parametrize(
    "kwargs, code, message",
    [
        # ServerCore / BasicManager errors, as in the REST cases above
        ({"name": "foo"}, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(foo)"),
        (
            {"version": 125},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(half_plus_two, 125)",
        ),
        (
            {"label": "nope"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
        ({"name": ""}, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        # predict_util.cc RunPredict: FAILED_PRECONDITION 'Serving signature key "nope" not found.'
        (
            {"signature": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        # predict_util.cc VerifyRequestInputsSize / PreProcessPrediction
        (
            {"inputs": {"x": [1.0], "z": [2.0]}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. "
            "Missing but required: {}.",
        ),
        (
            {"inputs": {"z": [1.0]}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input tensor alias not found in signature: z. Inputs expected to be in the set {x}.",
        ),
    ],
)
def test_grpc_predict_errors(stubs, kwargs, code, message):
    assert rpc_error(stubs[0].Predict, predict_request(**kwargs)) == (code, message)


def test_grpc_request_errors(stubs):
    prediction, model = stubs
    # TensorflowPredictor::Predict / GetModelStatusImpl: no model_spec -> "Missing ModelSpec"
    assert rpc_error(prediction.Predict, predict_pb2.PredictRequest()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )
    assert rpc_error(model.GetModelStatus, get_model_status_pb2.GetModelStatusRequest()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )
    req = predict_request()
    req.output_filter.extend(["y", "y"])
    assert rpc_error(prediction.Predict, req) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "duplicate output tensor alias: y",
    )
    req = predict_request()
    req.output_filter.append("nope")
    assert rpc_error(prediction.Predict, req) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: nope Outputs expected to be in the set {y}.",
    )
    # util.cc: no examples -> "Input is empty."
    req = regression_pb2.RegressionRequest()
    req.model_spec.name, req.model_spec.signature_name = "half_plus_two", "regress_x_to_y"
    assert rpc_error(prediction.Regress, req) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Input is empty.",
    )
    # get_model_metadata_impl.cc validates the fields before looking the model up
    # (the message is StrCat'ed, "%s" and all)
    req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["foo"])
    req.model_spec.name = "no_such_model"
    assert rpc_error(prediction.GetModelMetadata, req) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Metadata field %s is not supportedfoo",
    )
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "half_plus_two"
    assert rpc_error(prediction.GetModelMetadata, req) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "GetModelMetadataRequest must specify at least one metadata_field",
    )


def test_grpc_model_status(stubs):
    model = stubs[1]
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name, req.model_spec.version_label = "half_plus_two", "stable"
    versions = [s.version for s in model.GetModelStatus(req, timeout=30).model_version_status]
    assert versions == [124, 123]  # the label is ignored, as in GetModelStatusImpl
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "half_plus_two"
    req.model_spec.version.value = 125
    assert rpc_error(model.GetModelStatus, req) == (
        grpc.StatusCode.NOT_FOUND,
        "Could not find version 125 of model half_plus_two",
    )
    req.model_spec.name = "foo"
    req.model_spec.ClearField("version")
    assert rpc_error(model.GetModelStatus, req) == (
        grpc.StatusCode.NOT_FOUND,
        "Could not find any versions of model foo",
    )
