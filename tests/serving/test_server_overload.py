"""Overload, deadlines, timeouts and batch isolation, against real server processes.

Two servers of a tiny model (`write_overload_model`), each limit set small by its flag:
``server`` (no batching; ``--max_concurrent_requests=2``, REST read timeout 3 s, idle timeout
5 s) and ``batching`` (``--enable_batching``: batches of up to 4 rows, a 5 s batch window, so a
batch runs when it is full, one batch thread, two batches in the queue;
``--rest_api_timeout_in_ms=1500``). The model counts the rows it has run (signature ``rows``),
so a test can tell that a request was dropped unrun.
"""

from __future__ import annotations

import json
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import prediction_service_pb2_grpc

from dlsuite.serving.server import v2_grpc
from tests.serving.conftest import copy_version, start_server, wait_until

pytestmark = pytest.mark.slow
MODEL = "ov"
READ_TIMEOUT_S, IDLE_TIMEOUT_S = 3.0, 5.0
SLACK_S = 5.0  # on top of a timeout before a test calls a connection not cut off


def write_overload_model(version_dir: Path) -> Path:
    """A SavedModel with four signatures, each adding the rows it runs to a counter:

    * ``serving_default``: ``png`` string (N,) -> ``sum`` float32 (N,), the sum of each decoded
      PNG's pixels (a corrupt PNG fails in the graph), and ``batch`` int32 (N,), the rows of the
      call it ran in;
    * ``sleep``: ``micros`` int64 (N,) -> ``micros``, counted first, then it sleeps the largest
      of them;
    * ``total``: ``values`` float32 (N, M) -> ``total`` float32 (N,), each row's sum;
    * ``rows``: ``x`` float32 (N,) -> ``rows`` int64 (N,), the counter (not counting itself).
    """
    import tensorflow as tf
    from tensorflow.python.data.experimental.ops import testing as data_testing

    class Overload(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.count = tf.Variable(0, dtype=tf.int64)

        def _counted(self, inputs, outputs: dict) -> dict:
            rows = tf.shape(inputs, out_type=tf.int64)[0]
            with tf.control_dependencies([self.count.assign_add(rows)]):
                return {k: tf.identity(v) for k, v in outputs.items()}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="png")])
        def pixels(self, png):
            sums = tf.map_fn(
                lambda s: tf.reduce_sum(tf.cast(tf.io.decode_png(s), tf.float32)),
                png,
                fn_output_signature=tf.float32,
            )
            batch = tf.fill(tf.shape(png), tf.shape(png)[0])
            return self._counted(png, {"sum": sums, "batch": batch})

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="micros")])
        def sleep(self, micros):
            counted = self._counted(micros, {"micros": micros})["micros"]
            slept = (
                tf.data.Dataset.range(1)
                .apply(data_testing.sleep(tf.reduce_max(counted)))
                .reduce(tf.constant(0, tf.int64), lambda a, b: a + b)
            )
            with tf.control_dependencies([slept]):
                return {"micros": tf.identity(counted)}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="values")])
        def total(self, values):
            return self._counted(values, {"total": tf.reduce_sum(values, axis=1)})

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def rows(self, x):
            return {"rows": tf.fill(tf.shape(x), self.count.read_value())}

    module = Overload()
    signatures = {
        "serving_default": module.pixels,
        "sleep": module.sleep,
        "total": module.total,
        "rows": module.rows,
    }
    tf.saved_model.save(module, str(version_dir), signatures=signatures)
    return version_dir


def png(value: int, size: int = 3) -> bytes:
    """A ``size`` x ``size`` grey PNG whose pixels are all ``value``."""
    import tensorflow as tf

    return tf.io.encode_png(np.full((size, size, 1), value, np.uint8)).numpy()


def b64(data: bytes) -> dict:
    import base64

    return {"b64": base64.b64encode(data).decode()}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("overload")
    write_overload_model(root / "src")
    copy_version(root / "src", root / MODEL, 1)
    return root


@pytest.fixture(scope="module")
def server(model_dir):
    srv = start_server(
        [
            f"--model_name={MODEL}",
            f"--model_base_path={model_dir / MODEL}",
            "--max_concurrent_requests=2",
            f"--rest_read_timeout_in_ms={int(READ_TIMEOUT_S * 1000)}",
            f"--rest_idle_timeout_in_ms={int(IDLE_TIMEOUT_S * 1000)}",
        ],
        model_dir / "server.log",
        MODEL,
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def batching(model_dir):
    config = model_dir / "batching.config"
    config.write_text(
        "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 5000000 }\n"
        "max_enqueued_batches { value: 2 }\nnum_batch_threads { value: 1 }\n"
    )
    srv = start_server(
        [
            f"--model_name={MODEL}",
            f"--model_base_path={model_dir / MODEL}",
            "--enable_batching",
            f"--batching_parameters_file={config}",
            "--rest_api_timeout_in_ms=1500",
        ],
        model_dir / "batching.log",
        MODEL,
    )
    yield srv
    srv.stop()


def predict(server, body: dict, timeout: float = 60) -> requests.Response:
    return requests.post(f"{server.rest}/v1/models/{MODEL}:predict", json=body, timeout=timeout)


def tensor_request(signature: str, values, dtype):
    """A gRPC ``PredictRequest`` of the model's only input of ``signature``."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    name = {"serving_default": "png", "sleep": "micros", "rows": "x"}[signature]
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = MODEL, signature
    request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=dtype))
    return request


def counted_rows(stub) -> int:
    """The rows the model has run so far (four rows: a full batch runs at once)."""
    import tensorflow as tf

    response = stub.Predict(tensor_request("rows", [0.0] * 4, tf.float32), timeout=60)
    return int(tf.make_ndarray(response.outputs["rows"])[0])


# --- limits of the server without batching --------------------------------------------------
SLOW = {"signature_name": "sleep", "instances": [2_000_000]}  # a few seconds


def counted(server) -> int | None:
    """The rows the model has run so far, or None when the request was refused (429)."""
    answer = predict(server, {"signature_name": "rows", "instances": [0.0]})
    return None if answer.status_code == 429 else answer.json()["predictions"][0]


def start_slow(pool: ThreadPoolExecutor, server, rows_before: int):
    """A slow request, returned once the model runs it; sent again when it was refused because
    a `counted` of ours held the last place at that moment."""

    def running(future) -> bool:
        rows = counted(server)
        return future.done() or rows is None or rows > rows_before  # None: both places taken

    for _ in range(10):
        future = pool.submit(predict, server, SLOW)
        assert wait_until(lambda f=future: running(f))
        if not future.done():
            return future
        assert future.result().status_code == 429
    raise AssertionError("the slow request was refused ten times")


def test_requests_past_max_concurrent_requests_are_refused_at_once(server, stubs):
    """Two slow requests in progress: a third is refused at once, 429 on REST and UNAVAILABLE on
    gRPC, naming the flag; status and health still answer; once they are done, all is well."""
    import tensorflow as tf

    with ThreadPoolExecutor(2) as pool:
        before = counted(server)
        first = start_slow(pool, server, before)
        second = start_slow(pool, server, before + 1)
        refused = predict(server, {"instances": [b64(png(1))]})
        assert refused.status_code == 429
        assert "--max_concurrent_requests" in refused.json()["error"]
        with pytest.raises(grpc.RpcError) as info:
            stubs[0].Predict(tensor_request("serving_default", [png(1)], tf.string), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "--max_concurrent_requests" in info.value.details()
        # KServe V2 too (refused before its body is looked at)
        v2 = requests.post(f"{server.rest}/v2/models/{MODEL}/infer", json={}, timeout=30)
        assert v2.status_code == 429 and "--max_concurrent_requests" in v2.json()["error"]
        with grpc.insecure_channel(server.grpc_target) as channel:
            model_infer = channel.unary_unary(
                f"/{v2_grpc.SERVICE}/ModelInfer",
                request_serializer=lambda r: r.SerializeToString(),
                response_deserializer=v2_grpc.messages()["ModelInferResponse"].FromString,
            )
            with pytest.raises(grpc.RpcError) as info:
                model_infer(v2_grpc.messages()["ModelInferRequest"](model_name=MODEL), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert requests.get(f"{server.rest}/v1/models/{MODEL}", timeout=10).status_code == 200
        assert requests.get(f"{server.rest}/v2/health/ready", timeout=10).status_code == 200
        assert [f.result().status_code for f in (first, second)] == [200, 200]
    answer = predict(server, {"instances": [b64(png(1))]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [{"batch": 1, "sum": 9.0}]


def test_slow_and_idle_connections_are_cut_off(server):
    """A client sending its headers or its body a byte at a time is cut off after
    ``--rest_read_timeout_in_ms`` (the body with a 408 JSON answer), an idle keep-alive
    connection is closed after ``--rest_idle_timeout_in_ms``; the three run side by side."""
    host, port = "127.0.0.1", server.rest_port
    with ThreadPoolExecutor(3) as pool:
        headers = pool.submit(trickle, host, port, b"GET /v1/models/ov HTTP/1.1\r\nHost: x\r\n")
        body = pool.submit(
            trickle,
            host,
            port,
            b"POST /v1/models/ov:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        )
        idle = pool.submit(idle_connection, host, port)
        took, answer = headers.result()
        assert answer == b"" and took < READ_TIMEOUT_S + SLACK_S  # closed without an answer
        took, answer = body.result()
        assert took < READ_TIMEOUT_S + SLACK_S
        status, _, payload = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 408"), answer
        assert b"Connection: close" in status
        assert "--rest_read_timeout_in_ms" in json.loads(payload)["error"]
        assert idle.result() < IDLE_TIMEOUT_S + SLACK_S
    assert requests.get(f"{server.rest}/v1/models/{MODEL}", timeout=10).status_code == 200


def trickle(host: str, port: int, start: bytes) -> tuple[float, bytes]:
    """Send ``start``, then one byte every 0.2 s until the server answers or closes; returns the
    seconds that took and what the server sent (b"" when it just closed)."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(start)
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < READ_TIMEOUT_S + 2 * SLACK_S:
            try:
                sock.sendall(b"a")
            except OSError:  # closed (reset) by the server
                return time.monotonic() - started, answer
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk or b"}" in chunk:
                    return time.monotonic() - started, answer + chunk
                answer += chunk
    raise AssertionError(f"the server kept a slow connection for {READ_TIMEOUT_S + 2 * SLACK_S} s")


def idle_connection(host: str, port: int) -> float:
    """Seconds from a keep-alive answer until the server closes the connection."""
    with socket.create_connection((host, port), timeout=IDLE_TIMEOUT_S + 2 * SLACK_S) as sock:
        sock.sendall(b"GET /v1/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):
            answer += sock.recv(65536)
        started = time.monotonic()
        assert sock.recv(65536) == b""  # blocks until the server closes it
        return time.monotonic() - started


def test_large_body_does_not_stall_status_and_health(server):
    """While a 60 MB JSON predict body is read and parsed, the model's status and the readiness
    probe keep answering, each within a second."""
    rows, columns = 8, 1_500_000
    row = b"[" + b",".join([b"0.25"] * columns) + b"]"
    body = b'{"signature_name": "total", "instances": [' + b",".join([row] * rows) + b"]}"
    assert len(body) > 60_000_000
    with ThreadPoolExecutor(1) as pool:
        big = pool.submit(
            requests.post,
            f"{server.rest}/v1/models/{MODEL}:predict",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        latencies = []
        while not big.done():
            for path in (f"/v1/models/{MODEL}", "/v2/health/ready"):
                started = time.monotonic()
                assert requests.get(server.rest + path, timeout=30).status_code == 200
                latencies.append(time.monotonic() - started)
            time.sleep(0.1)
        answer = big.result()
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json() == {"predictions": [0.25 * columns] * rows}
    assert len(latencies) >= 4 and max(latencies) < 1.0, sorted(latencies)[-5:]


# --- batching ----------------------------------------------------------------------------------
def test_failing_request_fails_alone_in_its_batch(batching):
    """Four requests fill a batch: all good, they run as one call of four rows; one corrupt PNG
    among them fails alone with its own error, the other three get their right sums."""

    def post(data: bytes) -> requests.Response:
        return predict(batching, {"instances": [b64(data)]})

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post, [png(v) for v in (1, 2, 3, 4)]))
        assert [a.json() for a in answers] == [
            {"predictions": [{"batch": 4, "sum": 9.0 * v}]} for v in (1, 2, 3, 4)
        ]
        answers = list(pool.map(post, [png(1), b"not a png", png(3), png(4)]))
    assert [a.status_code for a in answers] == [200, 400, 200, 200]
    assert [answers[i].json()["predictions"][0]["sum"] for i in (0, 2, 3)] == [9.0, 27.0, 36.0]
    assert set(answers[1].json()) == {"error"}


def test_work_past_its_deadline_is_dropped_unrun(batching, tmp_path):
    """While a batch of slow requests holds the only batch thread, a REST request past
    ``--rest_api_timeout_in_ms`` (504) and a gRPC request past its client's deadline are dropped
    when their batch is formed: the model never runs them. Meanwhile a request that would
    overfill the batch queue is refused at once: 429, naming max_enqueued_batches."""
    import tensorflow as tf

    channel = grpc.insecure_channel(batching.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
        before = counted_rows(stub)
        with ThreadPoolExecutor(6) as pool:
            slow = pool.submit(
                stub.Predict, tensor_request("sleep", [2_000_000] * 4, tf.int64), timeout=60
            )  # four rows: a full batch, run at once
            # ...once the batch thread has taken it from the queue: on a loaded machine it may
            # not have yet, and its rows would still count against max_enqueued_batches below
            time.sleep(0.3)
            late_rest = pool.submit(predict, batching, {"instances": [b64(png(1))]})
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(tensor_request("serving_default", [png(2)], tf.string), timeout=0.5)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            rows = {"signature_name": "rows", "instances": [0.0] * 4}
            full = [pool.submit(predict, batching, rows) for _ in range(3)]
            answers = sorted((f.result() for f in full), key=lambda a: a.status_code)
            # the queue holds two batches of four rows, one (or two) of its rows taken already
            assert answers[0].status_code == 429 and answers[-1].status_code == 504
            assert {a.status_code for a in answers} == {429, 504}
            assert "max_enqueued_batches 2" in answers[0].json()["error"]
            assert late_rest.result().status_code == 504
            assert "timed out" in late_rest.result().json()["error"]
            slow.result()
        assert counted_rows(stub) == before + 4  # the slow batch alone: nothing else ran
    finally:
        channel.close()
