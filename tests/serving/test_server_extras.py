"""Message limits, version labels for loading versions, CORS, metrics, request logging and adaptive
batching, against one real server process (module scope).

The server serves ``hp`` (version 1 at start; labels stable=1 and canary=2, where version 2 is
published by a test while the server runs) with a ``logging_config`` sampling every request, and
``broken`` (a version that fails to load), with ``--allow_version_labels_for_unavailable_models``,
``--cors_allowed_origins``, ``--enable_batching --adaptive_batching`` and small message limits.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from tests.serving.conftest import (
    ServerProcess,
    copy_version,
    free_port,
    start_server,
    wait_until,
)
from tests.serving.test_server_batching import metric

pytestmark = pytest.mark.slow
REST_LIMIT, GRPC_RECEIVE, GRPC_SEND = 200_000, 100_000, 50_000
ORIGIN = "http://app.example"


def config_text(repo, logs) -> str:
    return f"""
model_config_list {{
  config {{ name: "hp" base_path: "{repo}/hp" model_platform: "tensorflow"
           model_version_policy {{ all {{}} }}
           version_labels {{ key: "stable" value: 1 }}
           version_labels {{ key: "canary" value: 2 }}
           logging_config {{ log_collector_config {{ type: "file" filename_prefix: "{logs}/hp" }}
                             sampling_config {{ sampling_rate: 1.0 }} }} }}
  config {{ name: "broken" base_path: "{repo}/broken" model_platform: "tensorflow" }}
}}
"""


@pytest.fixture(scope="module")
def server(golden_versions, tmp_path_factory):
    repo = tmp_path_factory.mktemp("extras")
    copy_version(golden_versions["two"], repo / "hp", 1)
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    (repo / "models.config").write_text(config_text(repo, repo / "logs"))
    (repo / "batching.config").write_text(
        "max_batch_size { value: 20000 }\nbatch_timeout_micros { value: 20000 }\n"
    )
    srv = start_server(
        [
            f"--model_config_file={repo / 'models.config'}",
            "--file_system_poll_wait_seconds=0.5",
            "--allow_version_labels_for_unavailable_models",
            f"--cors_allowed_origins={ORIGIN},http://other.example",
            "--enable_batching",
            "--adaptive_batching",
            f"--batching_parameters_file={repo / 'batching.config'}",
            f"--max_request_size_bytes={REST_LIMIT}",
            f"--grpc_max_receive_message_bytes={GRPC_RECEIVE}",
            f"--grpc_max_send_message_bytes={GRPC_SEND}",
            "--max_batch_rows=20000",  # the send-limit test predicts 12,600 rows at once
            "--enable_model_management",  # a reload keeps hp's request log under --log_dir
            f"--log_dir={repo / 'logs'}",
        ],
        repo / "server.log",
        "hp",
    )
    srv.repo = repo
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(
        server.grpc_target,
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    ) as ch:
        yield ch


def predict_request(values, label: str | None = None) -> predict_pb2.PredictRequest:
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "hp"
    if label:
        req.model_spec.version_label = label
    req.inputs["x"].CopyFrom(tf.make_tensor_proto(np.asarray(values, np.float32)))
    return req


def predict(server, path: str, values, **kwargs) -> requests.Response:
    return requests.post(
        f"{server.rest}/v1/models/{path}", json={"instances": values}, timeout=30, **kwargs
    )


# --- 1. large inputs -----------------------------------------------------------------------------
def test_rest_body_limit_names_the_flag(server):
    resp = predict(server, "hp:predict", [1.0] * (REST_LIMIT // 4))
    assert resp.status_code == 413
    assert f"maximum of {REST_LIMIT} bytes (--max_request_size_bytes)" in resp.json()["error"]
    assert (
        predict(server, "hp:predict", [1.0] * 1000).status_code == 200
    )  # above gRPC's, below REST's


def test_grpc_receive_and_send_limits(server, channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    ok = stub.Predict(predict_request([1.0] * 1000), timeout=30)
    assert tf.make_ndarray(ok.outputs["y"]).shape == (1000,)
    with pytest.raises(grpc.RpcError) as info:  # request above --grpc_max_receive_message_bytes
        stub.Predict(predict_request([1.0] * (GRPC_RECEIVE // 4 + 10)), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(GRPC_RECEIVE) in info.value.details()
    with pytest.raises(grpc.RpcError) as info:  # response above --grpc_max_send_message_bytes
        stub.Predict(predict_request([1.0] * (GRPC_SEND // 4 + 100)), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"--grpc_max_send_message_bytes={GRPC_SEND}" in info.value.details()


# --- 2. version labels ---------------------------------------------------------------------------
def test_rest_labels_wherever_versions_are_accepted(server):
    base = f"{server.rest}/v1/models/hp"
    for path in ("/labels/stable", "/versions/1"):
        assert (
            requests.get(base + path, timeout=10).json()["model_version_status"][0]["version"]
            == "1"
        )
        assert (
            requests.get(base + path + "/metadata", timeout=10).json()["model_spec"]["version"]
            == "1"
        )
        assert predict(server, "hp" + path + ":predict", [2.0]).json() == {"predictions": [3.0]}
        body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}
        assert requests.post(base + path + ":regress", json=body, timeout=30).json() == {
            "results": [3.0]
        }
    for path in ("/v2/models/hp/versions/stable", "/v2/models/hp/versions/1"):
        assert requests.get(server.rest + path + "/ready", timeout=10).json()["ready"] is True
        assert requests.get(server.rest + path, timeout=10).json()["parameters"]["version"] == "1"


def test_label_on_a_version_still_loading_is_accepted_then_serves(server, channel, golden_versions):
    # canary -> 2 was accepted at start-up although version 2 did not exist; it answers NOT_FOUND...
    assert predict(server, "hp/labels/canary:predict", [2.0]).status_code == 404
    # an unknown label is INVALID_ARGUMENT, as ServerCore::GetModelVersionForLabel answers
    resp = predict(server, "hp/labels/nope:predict", [2.0])
    assert (resp.status_code, resp.json()) == (
        400,
        {"error": "Unrecognized servable version label: nope"},
    )
    # ... a reload may also point a label at an unavailable version ...
    request = model_management_pb2.ReloadConfigRequest()
    from google.protobuf import text_format

    text_format.Parse(
        config_text(server.repo, server.repo / "logs").replace(
            'key: "stable" value: 1',
            'key: "stable" value: 1 }\n version_labels { key: "next" value: 3',
        ),
        request.config,
    )
    model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=60)
    # ... and once version 2 is published and loaded, canary serves it.
    copy_version(golden_versions["three"], server.repo / "hp", 2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = predict(server, "hp/labels/canary:predict", [2.0])
        if resp.status_code == 200:
            break
        time.sleep(0.3)
    assert resp.json() == {"predictions": [4.0]}
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    assert tf.make_ndarray(
        stub.Predict(predict_request([2.0], "canary"), timeout=30).outputs["y"]
    ) == [4.0]


# --- 3. CORS -------------------------------------------------------------------------------------
def test_cors_preflight_and_simple_request(server):
    url = f"{server.rest}/v1/models/hp:predict"
    pre = requests.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Headers"] == "content-type"
    resp = predict(server, "hp:predict", [1.0], headers={"Origin": ORIGIN})
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-request-id" in resp.headers["Access-Control-Expose-Headers"]
    denied = requests.options(
        url,
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert denied.status_code == 403 and "Access-Control-Allow-Origin" not in denied.headers
    assert (
        "Access-Control-Allow-Origin"
        not in predict(
            server, "hp:predict", [1.0], headers={"Origin": "http://evil.example"}
        ).headers
    )


def test_cors_off_by_default(batching_server):
    pre = requests.options(
        f"{batching_server.rest}/v1/models/hp:predict",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in pre.headers and pre.status_code >= 400


# --- 4. metrics ----------------------------------------------------------------------------------
def test_metrics_worth_scraping(server):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: predict(server, "hp/versions/1:predict", [1.0, 2.0]), range(16)))
    predict(server, "unknown:predict", [1.0])
    text = requests.get(f"{server.rest}/metrics", timeout=10).text
    count = ":tensorflow:serving:request_count_total"
    assert metric(text, count, model_name="hp", model_version="1", API="predict", status="OK") >= 16
    assert (
        metric(text, ":tensorflow:serving:request_latency_bucket", model_name="hp", le="+Inf") >= 16
    )
    assert (
        metric(
            text,
            ":tensorflow:serving:batching_session:processed_batch_size_sum",
            model_name="hp",
            model_version="1",
        )
        >= 32
    )
    assert (
        ':tensorflow:serving:batching_session:queue_depth{model_name="hp",model_version="1"} 0.0'
        in text
    )
    assert (
        metric(
            text,
            ":tensorflow:serving:model_load_latency_count",
            model_name="hp",
            model_version="1",
            status="OK",
        )
        == 1
    )
    assert (
        metric(
            text,
            ":tensorflow:serving:model_load_failures_total",
            model_name="broken",
            model_version="1",
        )
        == 1
    )
    assert 'model_name="unknown"' not in text  # made-up names never become labels


def test_metric_version_labels_are_bounded():
    from dlsuite.serving.server.metrics import MAX_VERSION_LABELS, Metrics

    metrics = Metrics()
    for version in range(MAX_VERSION_LABELS + 5):
        metrics.observe_request("m", str(version), "predict", "REST", "OK", 0.01)
    text = metrics.exposition().decode()
    assert metric(text, ":tensorflow:serving:request_count_total", model_version="other") == 5


# --- 5. request logging --------------------------------------------------------------------------
def test_logging_config_writes_prediction_logs(server, channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    stub.Predict(predict_request([4.0, 6.0], "stable"), timeout=30)
    predict(server, "hp/versions/1:predict", [8.0])
    requests.post(
        f"{server.rest}/v1/models/hp/versions/1:regress",
        timeout=30,
        json={"signature_name": "regress_x_to_y", "examples": [{"x": 10.0}]},
    )
    (path,) = (server.repo / "logs").glob("hp.*.tfrecord")
    logs = []
    for raw in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(raw)
        logs.append(log)
    predicts = [log for log in logs if log.WhichOneof("log_type") == "predict_log"]
    inputs = [tf.make_ndarray(log.predict_log.request.inputs["x"]).tolist() for log in predicts]
    assert [4.0, 6.0] in inputs and [8.0] in inputs
    grpc_log = predicts[inputs.index([4.0, 6.0])]
    assert grpc_log.WhichOneof("log_type") == "predict_log"
    assert tf.make_ndarray(grpc_log.predict_log.response.outputs["y"]).tolist() == [4.0, 5.0]
    assert grpc_log.log_metadata.model_spec.name == "hp"
    assert grpc_log.log_metadata.model_spec.version.value == 1
    assert grpc_log.log_metadata.model_spec.signature_name == "serving_default"
    assert grpc_log.log_metadata.sampling_config.sampling_rate == 1.0
    regress = [log.regress_log for log in logs if log.WhichOneof("log_type") == "regress_log"]
    assert any(
        r.response.result.regressions[0].value == 7.0
        and r.request.input.example_list.examples[0].features.feature["x"].float_list.value
        == [10.0]
        and r.request.model_spec.signature_name == "regress_x_to_y"
        for r in regress
    )


# --- 7. adaptive batching ------------------------------------------------------------------------
def test_adaptive_batching_server_answers_each_request(server):
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(
                lambda i: predict(server, "hp/versions/1:predict", [float(i)]).json(), range(48)
            )
        )
    assert answers == [{"predictions": [0.5 * i + 2.0]} for i in range(48)]


def test_adaptive_batcher_runs_alone_at_low_load_and_merges_at_high_load():
    from dlsuite.serving.server.batching import Batcher
    from dlsuite.serving.server.config import BatchingOptions

    sizes: list[int] = []

    def run(signature, inputs):
        sizes.append(inputs["x"].shape[0])
        time.sleep(0.01)
        return {"y": inputs["x"] * 2}

    batcher = Batcher(
        run,
        BatchingOptions(
            max_batch_size=16, batch_timeout_micros=200_000, num_batch_threads=1, adaptive=True
        ),
    )
    try:
        for i in range(5):  # one client: never waits for the 200 ms window
            started = time.monotonic()
            assert batcher.submit("s", {"x": np.array([float(i)])})["y"] == [2.0 * i]
            assert time.monotonic() - started < 0.15
        assert sizes == [1] * 5 and batcher.window(1) == 0.0
        with ThreadPoolExecutor(16) as pool:
            out = list(
                pool.map(
                    lambda i: batcher.submit("s", {"x": np.array([float(i)])})["y"][0], range(64)
                )
            )
        assert out == [2.0 * i for i in range(64)] and max(sizes[5:]) > 1
    finally:
        batcher.stop()


# --- 6. processes sharing the ports --------------------------------------------------------------
def test_num_processes_share_both_ports_and_stop_together(golden_versions, tmp_path):
    copy_version(golden_versions["two"], tmp_path / "hp", 1)
    grpc_port, rest_port = free_port(), free_port()
    args = [
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--host=127.0.0.1",
        "--model_name=hp",
        f"--model_base_path={tmp_path / 'hp'}",
        "--num_processes=2",
        "--tensorflow_intra_op_parallelism=1",
        "--tensorflow_inter_op_parallelism=1",
    ]
    server = ServerProcess(args, tmp_path / "server.log", ports=(grpc_port, rest_port))
    try:
        server.wait_ready("hp")
        answered_by: set[str] = set()  # generated request ids start with a per-process prefix

        def both_answer() -> bool:
            resp = predict(server, "hp:predict", [1.0, 3.0])  # a new connection each time
            assert resp.json() == {"predictions": [2.5, 3.5]}
            answered_by.add(resp.headers["x-request-id"][:16])
            return len(answered_by) == 2

        assert wait_until(both_answer, timeout=120), server.log()
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            out = stub.Predict(predict_request([1.0]), timeout=30)
        assert tf.make_ndarray(out.outputs["y"]).tolist() == [2.5]
    finally:
        server.stop()
    # the other process stopped with the first: both ports can be bound alone again
    for port in (grpc_port, rest_port):
        wait_until(lambda p=port: _bindable(p), timeout=30)
        assert _bindable(port)


def _bindable(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
