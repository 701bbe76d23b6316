"""Conformance of `dlsuite serve` with TF Serving's REST and gRPC APIs, against a real process.

A server serves four models from a text-format ModelServerConfig: ``hp`` (versions 1 and 2,
policy all, labels stable=1 / canary=2), ``hp_latest`` (latest 1), ``hp_specific`` (specific 1)
and ``poll`` (version 1). The read-only tests share one such server (module scope, ``server``);
the tests that change the repository or the config (new, broken or failing versions, reloads)
each start their own on a fresh copy of the repository (``own_server``) and set up every state
they assert on, so no test depends on another or on their order. The same tests run against the
real tensorflow_model_server when it is on PATH (``tfserving`` parameter, skipped otherwise).
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    predict_pb2,
    regression_pb2,
)

from tests.serving.conftest import ServerProcess, copy_version, start_server, wait_until
from tests.serving.conftest import predict_request as make_predict_request
from tests.serving.golden import example

pytestmark = pytest.mark.slow
MAX_BYTES = 100_000


def config_text(repo) -> str:
    return f"""
model_config_list {{
  config {{ name: "hp" base_path: "{repo}/hp" model_platform: "tensorflow"
           model_version_policy {{ all {{}} }}
           version_labels {{ key: "stable" value: 1 }}
           version_labels {{ key: "canary" value: 2 }} }}
  config {{ name: "hp_latest" base_path: "{repo}/hp" model_platform: "tensorflow" }}
  config {{ name: "hp_specific" base_path: "{repo}/hp" model_platform: "tensorflow"
           model_version_policy {{ specific {{ versions: 1 }} }} }}
  config {{ name: "poll" base_path: "{repo}/poll" model_platform: "tensorflow" }}
}}
"""


def serve_fresh_repo(repo: Path, backend: str, golden_versions) -> ServerProcess:
    """Write the models' repository and config under ``repo`` (a new directory) and start a
    ``backend`` server on them; ``server.repo`` is ``repo``."""
    copy_version(golden_versions["two"], repo / "hp", 1)
    copy_version(golden_versions["three"], repo / "hp", 2)
    (repo / "hp" / "tflite").mkdir()  # ignored: not a version number
    (repo / "hp" / ".tmp-7").mkdir()  # ignored: an export in progress
    copy_version(golden_versions["two"], repo / "poll", 1)
    config = repo / "models.config"
    config.write_text(config_text(repo))
    # one quick load retry, so versions that stay broken reach END with their error in seconds
    srv = start_server(
        [
            f"--model_config_file={config}",
            "--file_system_poll_wait_seconds=1",
            "--max_num_load_retries=1",
            "--load_retry_interval_micros=200000",
            f"--max_request_size_bytes={MAX_BYTES}",
            "--enable_model_management",  # the reload tests (base paths stay under repo)
        ],
        repo / "server.log",
        "poll",
        backend=backend,
    )
    srv.repo = repo
    return srv


@pytest.fixture(scope="module", params=["dlsuite", "tfserving"])
def backend(request) -> str:
    """The server under test: dlsuite's, or the real tensorflow_model_server if it is on PATH."""
    if request.param == "tfserving" and shutil.which("tensorflow_model_server") is None:
        pytest.skip("tensorflow_model_server is not on PATH")
    return request.param


@pytest.fixture(scope="module")
def server(backend, golden_versions, tmp_path_factory):
    """The server the read-only tests share: no test may change its repository or config."""
    srv = serve_fresh_repo(tmp_path_factory.mktemp("repo"), backend, golden_versions)
    yield srv
    srv.stop()


@pytest.fixture
def own_server(backend, golden_versions, tmp_path):
    """Start a server of the test's own on a fresh repository: ``own_server()`` returns it, with
    ``.stubs`` = ``(PredictionServiceStub, ModelServiceStub)``; it stops after the test. A
    factory, so that a test can skip before paying for a server it would not use."""
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    started = []

    def start() -> ServerProcess:
        srv = serve_fresh_repo(tmp_path / f"repo{len(started)}", backend, golden_versions)
        srv.channel = grpc.insecure_channel(srv.grpc_target)
        srv.stubs = (
            prediction_service_pb2_grpc.PredictionServiceStub(srv.channel),
            model_service_pb2_grpc.ModelServiceStub(srv.channel),
        )
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.channel.close()
        srv.stop()


def post(server, path: str, body, raw: bool = False) -> requests.Response:
    data = body if raw else json.dumps(body)
    return requests.post(f"{server.rest}/v1/models/{path}", data=data, timeout=30)


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- REST: status and metadata ---------------------------------------------------------------
def test_rest_status_all_versions(server):
    body = ok(requests.get(f"{server.rest}/v1/models/hp", timeout=10))
    assert body == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }


# TF Serving's GetModelStatusImpl reads only model_spec.version: a label (known or not) lists
# every version, like no label at all.
@pytest.mark.parametrize(
    "path, versions",
    [
        ("hp/versions/1", ["1"]),
        ("hp/labels/stable", ["2", "1"]),
        ("hp/labels/canary", ["2", "1"]),
        ("hp/labels/nolabel", ["2", "1"]),
        ("hp_latest", ["2"]),
        ("hp_specific", ["1"]),
    ],
)
def test_rest_status_one_version(server, path, versions):
    body = ok(requests.get(f"{server.rest}/v1/models/{path}", timeout=10))
    assert [s["version"] for s in body["model_version_status"]] == versions
    assert {s["state"] for s in body["model_version_status"]} == {"AVAILABLE"}


@pytest.mark.parametrize(
    "path, message",
    [
        ("nope", "Could not find any versions of model nope"),
        ("hp/versions/9", "Could not find version 9 of model hp"),
        ("hp_latest/versions/1", "Could not find version 1 of model hp_latest"),
    ],
)
def test_rest_status_not_found(server, path, message):
    resp = requests.get(f"{server.rest}/v1/models/{path}", timeout=10)
    assert resp.status_code == 404 and resp.json() == {"error": message}


def test_rest_metadata(server):
    body = ok(requests.get(f"{server.rest}/v1/models/hp/versions/1/metadata", timeout=10))
    assert body["model_spec"] == {"name": "hp", "signature_name": "", "version": "1"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classify_x_to_y", "regress_x_to_y", "bytes_length"} <= set(sigs)
    assert sigs["classify_x_to_y"]["method_name"] == "tensorflow/serving/classify"
    assert sigs["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"
    # TF Serving lists every SignatureDef of the MetaGraph, a TF2 model's init op included
    assert "__saved_model_init_op" in sigs


# --- REST: predict, classify, regress ---------------------------------------------------------
def test_rest_predict_row_format(server):
    assert ok(post(server, "hp:predict", {"instances": [1.0, 2.0, 5.0]})) == {
        "predictions": [3.5, 4.0, 5.5]
    }


@pytest.mark.parametrize(
    "path, expected",
    [
        ("hp/versions/1:predict", 2.5),
        ("hp/labels/stable:predict", 2.5),
        ("hp/labels/canary:predict", 3.5),
        ("hp_specific:predict", 2.5),
        ("hp_latest:predict", 3.5),
    ],
)
def test_rest_predict_version_and_label(server, path, expected):
    assert ok(post(server, path, {"instances": [1.0]}))["predictions"] == [expected]


def test_rest_predict_columnar_format(server):
    assert ok(post(server, "hp:predict", {"inputs": [1.0, 3.0]})) == {"outputs": [3.5, 4.5]}
    assert ok(post(server, "hp:predict", {"inputs": {"x": [1.0]}})) == {"outputs": [3.5]}


def test_rest_predict_multiple_inputs_and_outputs(server):
    rows = ok(
        post(
            server,
            "hp:predict",
            {"signature_name": "two_inputs", "instances": [{"a": 1, "b": 3}, {"a": 2, "b": 4}]},
        )
    )
    assert rows == {"predictions": [{"diff": -2.0, "sum": 4.0}, {"diff": -2.0, "sum": 6.0}]}
    cols = ok(
        post(
            server,
            "hp:predict",
            {"signature_name": "two_inputs", "inputs": {"a": [1, 2], "b": [3, 4]}},
        )
    )
    assert cols == {"outputs": {"diff": [-2.0, -2.0], "sum": [4.0, 6.0]}}


def test_rest_predict_b64_in_and_out(server):
    raw = b"\x00\xffbinary"
    body = {
        "signature_name": "bytes_length",
        "instances": [{"b64": base64.b64encode(raw).decode()}, "abc"],
    }
    result = ok(post(server, "hp:predict", body))["predictions"]
    assert result[0] == {"echo_bytes": {"b64": base64.b64encode(raw).decode()}, "length": len(raw)}
    assert result[1] == {"echo_bytes": {"b64": base64.b64encode(b"abc").decode()}, "length": 3}


def test_rest_predict_ints_and_nan(server):
    body = ok(post(server, "hp:predict", {"signature_name": "ints", "instances": [[1, 2], [3, 4]]}))
    assert body == {"predictions": [[2, 4], [6, 8]]}
    resp = post(server, "hp:predict", '{"instances": [NaN, Infinity]}', raw=True)
    assert ok(resp)["predictions"][1] == float("inf") and np.isnan(resp.json()["predictions"][0])


def test_rest_classify_and_regress(server):
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 3.0}]}
    assert ok(post(server, "hp:classify", body)) == {"results": [[["y", 3.5]], [["y", 4.5]]]}
    body = {"signature_name": "regress_x_to_y", "context": {"x": 2.0}, "examples": [{}]}
    assert ok(post(server, "hp/versions/1:regress", body)) == {"results": [3.0]}
    # TF Serving prepends the context's bytes to each example's: the example's own feature wins
    body = {"signature_name": "regress_x_to_y", "context": {"x": 1.0}, "examples": [{"x": 2.0}]}
    assert ok(post(server, "hp:regress", body)) == {"results": [4.0]}


def test_rest_shapes_and_names_are_not_checked_against_the_signature(server):
    # as in TF Serving: the graph runs on the shape sent, and names the signature lacks are ignored
    assert ok(post(server, "hp:predict", {"instances": [[1.0, 2.0]]})) == {
        "predictions": [[3.5, 4.0]]
    }
    assert ok(post(server, "hp:predict", {"inputs": {"x": [1], "zz": [2]}})) == {"outputs": [3.5]}


ERROR_CASES = [
    ("hp:predict", '{"instances": [1.0', 400),  # malformed JSON
    ("hp:predict", "[1, 2]", 400),  # not an object
    ("hp:predict", '{"instances": [1], "inputs": [1]}', 400),  # both formats
    ("hp:predict", '{"signature_name": "serving_default"}', 400),  # no inputs
    ("hp:predict", '{"instances": ["a", "b"]}', 400),  # wrong dtype
    ("hp:predict", '{"instances": [[1.0], [2.0, 3.0]], "signature_name": "ints"}', 400),  # ragged
    (
        "hp:predict",
        '{"instances": [{"a": 1}], "signature_name": "two_inputs"}',
        400,
    ),  # missing input
    ("hp:predict", '{"inputs": {"zz": [2]}}', 400),  # missing input
    ("hp:predict", '{"instances": [1], "signature_name": "nope"}', 400),  # unknown signature
    (
        "hp:predict",
        '{"instances": [{"b64": "***"}], "signature_name": "bytes_length"}',
        400,
    ),  # bad b64
    ("hp:predict", '{"instances": [1.5], "signature_name": "ints"}', 400),  # float for int64
    (
        "hp:classify",
        '{"signature_name": "serving_default", "examples": [{"x": 1.0}]}',
        400,
    ),  # method
    ("hp:classify", '{"signature_name": "classify_x_to_y", "examples": []}', 400),
    (
        "hp:classify",
        '{"signature_name": "classify_x_to_y", "examples": [{"x": 1}]}',
        400,
    ),  # int64 feature
    ("nope:predict", '{"instances": [1.0]}', 404),
    ("hp/versions/7:predict", '{"instances": [1.0]}', 404),
    ("hp/labels/nolabel:predict", '{"instances": [1.0]}', 400),  # INVALID_ARGUMENT, as ServerCore
    ("hp_specific/versions/2:predict", '{"instances": [1.0]}', 404),
]


@pytest.mark.parametrize("path, body, status", ERROR_CASES)
def test_rest_errors(server, path, body, status):
    resp = post(server, path, body, raw=True)
    assert resp.status_code == status, resp.text
    assert isinstance(resp.json()["error"], str) and resp.json()["error"]
    assert ok(post(server, "hp:predict", {"instances": [1.0]}))  # still serving


def test_rest_unknown_model_message_matches_tf_serving(server):
    resp = post(server, "half:predict", {"instances": [1.0]})
    assert resp.status_code == 404
    assert resp.json() == {"error": "Servable not found for request: Latest(half)"}


def test_rest_request_too_large(server):
    if server.backend != "dlsuite":
        pytest.skip("--max_request_size_bytes is a dlsuite flag")
    resp = post(server, "hp:predict", {"instances": [1.0] * (MAX_BYTES // 4)})
    assert resp.status_code == 413 and "larger than the maximum" in resp.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/..%2F..",
        "/v1/models/..%2F..%2Fetc%2Fpasswd:predict",
        "/v1/models/%2Fetc",
        "/v1/models/hp/../../x",
        "/v1/other",
    ],
)
def test_rest_path_escape_rejected(server, path):
    s = requests.Session()
    req = requests.Request(
        "POST" if ":predict" in path else "GET", server.rest + path, data="{}"
    ).prepare()
    req.url = server.rest + path  # keep '..' and %2F exactly as sent
    resp = s.send(req, timeout=10)
    assert resp.status_code in (400, 404), resp.text
    assert "error" in resp.json()


# --- gRPC --------------------------------------------------------------------------------------
def predict_request(name="hp", values=(1.0, 2.0), **kwargs):
    return make_predict_request(name, list(values), **kwargs)


def test_grpc_predict(stubs):
    resp = stubs[0].Predict(predict_request(), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(resp.outputs["y"]), [3.5, 4.0])
    assert resp.model_spec.name == "hp" and resp.model_spec.version.value == 2
    assert resp.model_spec.signature_name == "serving_default"
    resp = stubs[0].Predict(predict_request(label="stable"), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(resp.outputs["y"]), [2.5, 3.0])
    assert resp.model_spec.version.value == 1


def test_grpc_predict_output_filter_and_strings(stubs):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "hp"
    req.model_spec.signature_name = "bytes_length"
    req.inputs["x_bytes"].CopyFrom(tf.make_tensor_proto([b"ab", b"\x00\x01\x02"]))
    req.output_filter.append("length")
    resp = stubs[0].Predict(req, timeout=10)
    assert list(resp.outputs) == ["length"]
    assert tf.make_ndarray(resp.outputs["length"]).tolist() == [2, 3]


def test_grpc_classify_regress_multi_inference(stubs):
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = "hp"
    req.model_spec.signature_name = "classify_x_to_y"
    req.input.example_list.examples.extend([example(1.0), example(3.0)])
    result = stubs[0].Classify(req, timeout=10).result
    assert [[(c.label, c.score) for c in r.classes] for r in result.classifications] == [
        [("y", 3.5)],
        [("y", 4.5)],
    ]

    req = regression_pb2.RegressionRequest()
    req.model_spec.name = "hp"
    req.model_spec.signature_name = "regress_x_to_y"
    req.model_spec.version.value = 1
    req.input.example_list_with_context.context.CopyFrom(example(2.0))
    req.input.example_list_with_context.examples.add()
    resp = stubs[0].Regress(req, timeout=10)
    assert [r.value for r in resp.result.regressions] == [
        3.0
    ] and resp.model_spec.version.value == 1

    req = inference_pb2.MultiInferenceRequest()
    for sig, method in [
        ("classify_x_to_y", "tensorflow/serving/classify"),
        ("regress_x_to_y", "tensorflow/serving/regress"),
    ]:
        task = req.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = "hp", sig
    req.input.example_list.examples.extend([example(1.0)])
    results = stubs[0].MultiInference(req, timeout=10).results
    assert results[0].classification_result.classifications[0].classes[0].score == 3.5
    assert results[1].regression_result.regressions[0].value == 3.5


def test_grpc_metadata_and_status(stubs):
    req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    req.model_spec.name = "hp"
    resp = stubs[0].GetModelMetadata(req, timeout=10)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    resp.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["regress_x_to_y"].method_name == "tensorflow/serving/regress"
    assert "__saved_model_init_op" in sig_map.signature_def
    assert resp.model_spec.version.value == 2

    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "hp"
    statuses = stubs[1].GetModelStatus(req, timeout=10).model_version_status
    assert sorted((s.version, s.state) for s in statuses) == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
    ]


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"name": "nope"}, grpc.StatusCode.NOT_FOUND),
        ({"version": 9}, grpc.StatusCode.NOT_FOUND),
        ({"label": "nolabel"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"signature": "nope"}, grpc.StatusCode.FAILED_PRECONDITION),
        ({"signature": "ints"}, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_grpc_errors(stubs, kwargs, code):
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(predict_request(**kwargs), timeout=10)
    assert info.value.code() == code, info.value.details()


def test_grpc_wrong_dtype_and_too_large(stubs, server):
    req = predict_request()
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(["a"]))
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(req, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    if server.backend == "dlsuite":
        with pytest.raises(grpc.RpcError) as info:
            stubs[0].Predict(predict_request(values=[1.0] * MAX_BYTES), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


# --- the dlsuite predict client ----------------------------------------------------------------
def run_client(capsys, *argv: str) -> dict:
    import argparse

    from dlsuite.cli import predict

    parser = argparse.ArgumentParser()
    predict.register(parser.add_subparsers())
    args = parser.parse_args(["predict", *argv])
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def test_client_rest_and_grpc(server, capsys, tmp_path):
    rest = f"127.0.0.1:{server.rest_port}"
    grpc_target = server.grpc_target
    assert run_client(capsys, "--server", rest, "--model", "hp", "--input", "[1.0, 2.0]") == {
        "predictions": [3.5, 4.0]
    }
    assert run_client(
        capsys,
        "--server",
        rest,
        "--model",
        "hp",
        "--label",
        "stable",
        "--input",
        '{"inputs": [1.0]}',
    ) == {"outputs": [2.5]}
    assert run_client(
        capsys,
        "--server",
        grpc_target,
        "--protocol",
        "grpc",
        "--model",
        "hp",
        "--version",
        "1",
        "--input",
        "[1.0, 2.0]",
    ) == {"outputs": {"y": [2.5, 3.0]}}
    image = tmp_path / "img.bin"
    image.write_bytes(b"\x89PNG\x00")
    for proto, target, key in (("rest", rest, "predictions"), ("grpc", grpc_target, "outputs")):
        answer = run_client(
            capsys,
            "--server",
            target,
            "--protocol",
            proto,
            "--model",
            "hp",
            "--signature",
            "bytes_length",
            "--image",
            str(image),
        )
        length = answer[key][0]["length"] if proto == "rest" else answer[key]["length"][0]
        assert length == 5


def test_client_errors_are_one_line(server):
    import argparse

    from dlsuite.cli import predict

    parser = argparse.ArgumentParser()
    predict.register(parser.add_subparsers())
    for argv, match in [
        (["--model", "nope"], "404"),
        (["--protocol", "grpc", "--model", "nope"], "NOT_FOUND"),
    ]:
        target = server.grpc_target if "grpc" in argv else f"127.0.0.1:{server.rest_port}"
        args = parser.parse_args(["predict", "--server", target, *argv, "--input", "[1.0]"])
        with pytest.raises(ValueError, match=match):
            args.func(args)


# --- versions: polling, hot swap, failed loads, reload ----------------------------------------
# Each test here changes its server's repository or config, so it runs on a server of its own.
def _status(server, model="poll") -> dict[str, dict]:
    body = requests.get(f"{server.rest}/v1/models/{model}", timeout=10).json()
    return {s["version"]: s for s in body.get("model_version_status", [])}


def _wait_ended(server, version: int) -> bool:
    """Wait until ``poll``'s ``version`` has ended (its load failed, for a broken one)."""
    return wait_until(lambda: _status(server).get(str(version), {}).get("state") == "END")


def publish_corrupted_version(server, version: int) -> None:
    """Publish ``poll/<version>`` (atomically) with a saved_model.pb that is not a SavedModel."""
    bad = server.repo / "poll" / f".tmp-{version}"
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    bad.rename(server.repo / "poll" / str(version))


def publish_version_failing_manifest_check(server, golden_versions, version: int) -> None:
    """Publish ``poll/<version>``, a good SavedModel whose manifest has a wrong saved_model.pb
    digest (dlsuite's manifest check refuses it)."""
    src = server.repo / "poll" / f".tmp-{version}"
    shutil.copytree(golden_versions["two"], src)
    manifest = {"integrity": {"algorithm": "sha256", "files": {"saved_model.pb": "0" * 64}}}
    (src / "assets.extra" / "manifest.json").write_text(json.dumps(manifest))
    src.rename(server.repo / "poll" / str(version))


def test_hot_swap_under_concurrent_requests_has_zero_failures(own_server, golden_versions):
    server = own_server()
    stubs = server.stubs
    failures, answers, stop = [], set(), threading.Event()

    def rest_client():
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    r = s.post(
                        f"{server.rest}/v1/models/poll:predict",
                        json={"instances": [1.0]},
                        timeout=30,
                    )
                    if r.status_code != 200:
                        failures.append(r.text)
                    else:
                        answers.add(r.json()["predictions"][0])
                except Exception as err:  # noqa: BLE001
                    failures.append(repr(err))

    def grpc_client():
        while not stop.is_set():
            try:
                resp = stubs[0].Predict(predict_request("poll", [1.0]), timeout=30)
                answers.add(float(tf.make_ndarray(resp.outputs["y"])[0]))
            except Exception as err:  # noqa: BLE001
                failures.append(repr(err))

    threads = [
        threading.Thread(target=f) for f in (rest_client, rest_client, rest_client, grpc_client)
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        copy_version(golden_versions["three"], server.repo / "poll", 2)  # polling must find it
        swapped = wait_until(
            lambda: (
                _status(server).get("2", {}).get("state") == "AVAILABLE"
                and _status(server).get("1", {}).get("state") in ("END", None)
            )
        )
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert swapped, _status(server)
    assert failures == []
    assert answers == {2.5, 3.5}
    assert ok(post(server, "poll:predict", {"instances": [1.0]}))["predictions"] == [3.5]


def test_corrupted_version_is_reported_and_old_one_keeps_serving(own_server):
    server = own_server()
    publish_corrupted_version(server, 3)
    assert _wait_ended(server, 3), _status(server)
    status = _status(server)
    assert status["3"]["status"]["error_code"] != "OK" and status["3"]["status"]["error_message"]
    assert status["1"]["state"] == "AVAILABLE"
    assert ok(post(server, "poll:predict", {"instances": [1.0]}))["predictions"] == [2.5]
    resp = post(server, "poll/versions/3:predict", {"instances": [1.0]})
    assert resp.status_code == 404


def test_version_failing_manifest_check_is_not_loaded(backend, own_server, golden_versions):
    if backend != "dlsuite":
        pytest.skip("the manifest check is dlsuite's")
    server = own_server()
    publish_version_failing_manifest_check(server, golden_versions, 4)
    assert _wait_ended(server, 4), _status(server)
    status = _status(server)["4"]["status"]
    assert status["error_code"] == "DATA_LOSS" and "saved_model.pb" in status["error_message"]
    assert ok(post(server, "poll:predict", {"instances": [1.0]}))["predictions"] == [2.5]


def test_reload_config_removes_and_adds_models(own_server):
    from google.protobuf import text_format

    server = own_server()
    assert ok(post(server, "hp_specific:predict", {"instances": [1.0]}))["predictions"] == [2.5]
    text = config_text(server.repo).replace('name: "hp_specific"', 'name: "hp_renamed"')
    req = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, req.config)
    resp = server.stubs[1].HandleReloadConfigRequest(req, timeout=60)
    assert resp.status.error_code == 0
    assert requests.get(f"{server.rest}/v1/models/hp_specific", timeout=10).status_code == 404
    assert ok(post(server, "hp_renamed:predict", {"instances": [1.0]}))["predictions"] == [2.5]


# --- dlsuite extensions: listing and readiness across several models --------------------------
def test_models_listing_and_readiness_follow_the_config(backend, own_server, golden_versions):
    if backend != "dlsuite":
        pytest.skip("GET /v1/models and /v1/health/* are dlsuite extensions")
    from google.protobuf import text_format

    server = own_server()
    stubs = server.stubs
    listing = ok(requests.get(f"{server.rest}/v1/models", timeout=10))["models"]
    versions = {m["name"]: [s["version"] for s in m["model_version_status"]] for m in listing}
    assert versions["hp"] == ["2", "1"] and "poll" in versions
    # poll's versions 3 and 4 fail to load, but version 1 still serves in their place (one after
    # the other: under the latest policy, a poll that found both at once would only try 4)
    publish_corrupted_version(server, 3)
    assert _wait_ended(server, 3), _status(server)
    publish_version_failing_manifest_check(server, golden_versions, 4)
    assert _wait_ended(server, 4), _status(server)
    assert ok(requests.get(f"{server.rest}/v1/health/ready", timeout=10)) == {"ready": True}

    (server.repo / "empty").mkdir(exist_ok=True)
    text = config_text(server.repo).replace(
        "}\n}",
        f'}}\n  config {{ name: "empty" base_path: "{server.repo}/empty" '
        f'model_platform: "tensorflow" }}\n}}',
        1,
    )
    req = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, req.config)
    assert stubs[1].HandleReloadConfigRequest(req, timeout=60).status.error_code == 0
    try:
        resp = requests.get(f"{server.rest}/v1/health/ready", timeout=10)
        assert resp.status_code == 503
        assert list(resp.json()["not_ready"]) == ["empty"], resp.json()
        assert requests.get(f"{server.rest}/v2/health/ready", timeout=10).status_code == 400
        assert requests.get(f"{server.rest}/v1/health/live", timeout=10).status_code == 200
        names = [
            m["name"] for m in ok(requests.get(f"{server.rest}/v1/models", timeout=10))["models"]
        ]
        assert "empty" in names
    finally:
        req = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(config_text(server.repo), req.config)
        stubs[1].HandleReloadConfigRequest(req, timeout=60)
    assert requests.get(f"{server.rest}/v1/health/ready", timeout=10).status_code == 200
    assert '"request_id"' not in server.log_path.read_text(errors="replace")  # --access_log is off
