"""Dynamic batching, Prometheus metrics and warmup replay, against a real server process.

One server with ``--enable_batching`` and ``--monitoring_config_file`` (``batching_server`` in
conftest, shared with `test_server_v2`); plus in-process unit tests
of `Batcher` (no TensorFlow).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from dlsuite.serving.server.batching import Batcher
from dlsuite.serving.server.config import BatchingOptions
from dlsuite.serving.server.errors import ServingError
from tests.serving.conftest import METRICS, wait_until


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([^\s{]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(m[3])
    return total


def scrape(server) -> str:
    resp = requests.get(server.rest + METRICS, timeout=10)
    assert resp.status_code == 200
    return resp.text


@pytest.mark.slow
def test_warmup_replayed_before_available(batching_server):
    text = scrape(batching_server)  # no request has been sent yet
    assert (
        metric(
            text,
            ":tensorflow:serving:model_warmup_records_total",
            model_name="hp",
            model_version="1",
        )
        == 3
    )
    assert metric(text, ":tensorflow:serving:model_warmup_latency_count", status="OK") == 1
    log = batching_server.log_path.read_text()  # the whole log: other modules share this server
    assert "replayed 3 warmup records for hp version 1" in log
    assert log.index("replayed 3 warmup records") < log.index("hp version 1 is AVAILABLE")


@pytest.mark.slow
def test_batching_merges_concurrent_requests_and_answers_each(batching_server):
    before = scrape(batching_server)
    n = 24

    def call(i: int) -> list[float]:
        r = requests.post(
            f"{batching_server.rest}/v1/models/hp:predict",
            json={"instances": [float(i)]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()["predictions"]

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(call, range(n)))
    assert results == [[0.5 * i + 2.0] for i in range(n)]
    after = scrape(batching_server)
    name = ":tensorflow:serving:batching_session:processed_batch_size"
    batches = metric(after, name + "_count") - metric(before, name + "_count")
    rows = metric(after, name + "_sum") - metric(before, name + "_sum")
    assert rows == n
    assert batches < n, f"{n} requests ran as {batches} batches: nothing was merged"


@pytest.mark.slow
def test_batching_server_other_apis_and_errors(batching_server):
    rest = batching_server.rest
    r = requests.post(
        f"{rest}/v1/models/hp:classify",
        timeout=30,
        json={"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]},
    )
    assert r.json() == {"results": [[["y", 2.5]], [["y", 3.0]]]}
    r = requests.post(
        f"{rest}/v1/models/hp:predict",
        timeout=30,
        json={"signature_name": "two_inputs", "inputs": {"a": [1.0], "b": [2.0]}},
    )
    assert r.json() == {"outputs": {"diff": [-1.0], "sum": [3.0]}}
    r = requests.post(f"{rest}/v1/models/hp:predict", json={"instances": [1.0] * 9}, timeout=30)
    assert r.status_code == 400 and "larger than maximum input batch size 8" in r.json()["error"]


@pytest.mark.slow
def test_prometheus_request_metrics(batching_server):
    requests.post(
        f"{batching_server.rest}/v1/models/hp:predict", json={"instances": [1.0]}, timeout=30
    )
    requests.post(
        f"{batching_server.rest}/v1/models/hp:predict", json={"instances": ["x"]}, timeout=30
    )
    text = scrape(batching_server)
    count = ":tensorflow:serving:request_count_total"
    assert metric(text, count, model_name="hp", model_version="1", API="predict", status="OK") >= 1
    assert metric(text, count, model_name="hp", API="predict", status="INVALID_ARGUMENT") >= 1
    assert metric(text, ":tensorflow:serving:request_latency_count", model_name="hp") >= 2


# --- Batcher unit tests (no TensorFlow) --------------------------------------------------------
def _doubling_runner(calls: list[int]):
    def run(signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(inputs["x"].shape[0])
        time.sleep(0.01)
        return {"y": inputs["x"] * 2}

    return run


def test_batcher_merges_pads_and_splits():
    calls: list[int] = []
    seen: list[tuple[int, int]] = []
    batcher = Batcher(
        _doubling_runner(calls),
        BatchingOptions(
            max_batch_size=8,
            batch_timeout_micros=100_000,
            num_batch_threads=1,
            allowed_batch_sizes=(4, 8),
        ),
        on_batch=lambda rows, padded: seen.append((rows, padded)),
    )
    try:
        with ThreadPoolExecutor(5) as pool:
            outs = list(
                pool.map(
                    lambda i: batcher.submit("s", {"x": np.array([i, i], np.float32)}), range(5)
                )
            )
    finally:
        batcher.stop()
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out["y"], [2 * i, 2 * i])
    assert sum(rows for rows, _ in seen) == 10
    assert all(padded in (4, 8) for _, padded in seen) and len(seen) < 5
    assert set(calls) <= {4, 8}


def test_batcher_rejects_oversized_and_full_queue():
    gate = threading.Event()

    def slow(signature, inputs):
        gate.wait(5)
        return {"y": inputs["x"]}

    batcher = Batcher(
        slow, BatchingOptions(max_batch_size=2, max_enqueued_batches=1, num_batch_threads=1)
    )
    try:
        with pytest.raises(ServingError, match="larger than maximum input batch size"):
            batcher.submit("s", {"x": np.zeros(3)})
        pool = ThreadPoolExecutor(4)
        futures = [pool.submit(batcher.submit, "s", {"x": np.zeros(2)}) for _ in range(4)]
        time.sleep(0.3)
        gate.set()
        outcomes = []
        for f in futures:
            try:
                f.result(timeout=10)
                outcomes.append("ok")
            except ServingError as err:
                outcomes.append(err.code)
        pool.shutdown()
    finally:
        gate.set()
        batcher.stop()
    assert "UNAVAILABLE" in outcomes and "ok" in outcomes
    refused = [f.exception() for f in futures if f.exception() is not None]
    assert all(err.http_status == 429 for err in refused)  # UNAVAILABLE on gRPC, 429 on REST
    assert "max_enqueued_batches 1 of --batching_parameters_file" in refused[0].message


def test_batcher_keeps_incompatible_shapes_apart():
    calls: list[int] = []
    batcher = Batcher(
        _doubling_runner(calls), BatchingOptions(max_batch_size=8, batch_timeout_micros=50_000)
    )
    try:
        with ThreadPoolExecutor(4) as pool:
            a = pool.submit(batcher.submit, "s", {"x": np.ones((1, 2))})
            b = pool.submit(batcher.submit, "s", {"x": np.ones((1, 3))})
            assert a.result().get("y").shape == (1, 2) and b.result()["y"].shape == (1, 3)
    finally:
        batcher.stop()


def test_batcher_futures_from_an_event_loop():
    """`submit_async`: requests queued from a loop share batches, each future gets its own rows;
    an error of every request reaches every future of its batch; a future given up on (a request
    timeout) is dropped without disturbing the batch; inputs with no batch dimension are handed
    back (None)."""
    calls: list[int] = []
    batcher = Batcher(
        _doubling_runner(calls), BatchingOptions(max_batch_size=8, batch_timeout_micros=50_000)
    )

    async def scenario() -> None:
        futures = [batcher.submit_async("s", {"x": np.array([float(i)])}) for i in range(6)]
        abandoned = batcher.submit_async("s", {"x": np.array([9.0])})
        abandoned.cancel()
        results = await asyncio.gather(*futures)
        assert [r["y"].tolist() for r in results] == [[2.0 * i] for i in range(6)]
        assert batcher.submit_async("s", {"x": np.array(1.0)}) is None  # a scalar: run alone
        with pytest.raises(ServingError, match="larger than maximum input batch size"):
            batcher.submit_async("s", {"x": np.zeros(9)})

    try:
        asyncio.run(scenario())
        assert calls == [6]  # the six merged into one call, the abandoned one dropped
    finally:
        batcher.stop()

    def failing(signature, inputs):
        raise ServingError("INVALID_ARGUMENT", "bad row")

    batcher = Batcher(failing, BatchingOptions(max_batch_size=4, batch_timeout_micros=50_000))

    async def errors() -> list:
        futures = [batcher.submit_async("s", {"x": np.zeros(1)}) for _ in range(3)]
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        outcomes = asyncio.run(errors())
    finally:
        batcher.stop()
    assert [getattr(o, "message", None) for o in outcomes] == ["bad row"] * 3


def test_batcher_failing_request_fails_alone():
    """A merged call that fails is run again one request at a time: the bad request gets its own
    error, its neighbours their rows."""
    calls: list[int] = []

    def picky(signature, inputs):
        calls.append(inputs["x"].shape[0])
        if (inputs["x"] < 0).any():
            raise ServingError("INVALID_ARGUMENT", "negative input")
        return {"y": inputs["x"] * 2}

    batcher = Batcher(picky, BatchingOptions(max_batch_size=4, batch_timeout_micros=1_000_000))

    async def scenario() -> list:
        values = [1.0, -1.0, 2.0, 3.0]  # four rows: the batch is full at once
        futures = [batcher.submit_async("s", {"x": np.array([v])}) for v in values]
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        outcomes = asyncio.run(scenario())
    finally:
        batcher.stop()
    assert calls == [4, 1, 1, 1, 1]  # the merged call, then each alone
    assert [o["y"].tolist() for o in (outcomes[0], outcomes[2], outcomes[3])] == [[2], [4], [6]]
    assert isinstance(outcomes[1], ServingError) and outcomes[1].message == "negative input"


def test_batcher_drops_tasks_past_their_deadline():
    """A task whose deadline passed while it waited for a busy batch thread is answered
    DEADLINE_EXCEEDED and never run; one without a deadline still runs."""
    calls: list[int] = []
    gate = threading.Event()

    def run(signature, inputs):
        calls.append(int(inputs["x"][0]))
        if inputs["x"][0] == 0:
            gate.wait(10)
        return {"y": inputs["x"]}

    batcher = Batcher(run, BatchingOptions(max_batch_size=1, num_batch_threads=1))
    try:
        with ThreadPoolExecutor(3) as pool:
            busy = pool.submit(batcher.submit, "s", {"x": np.array([0])})
            assert wait_until(lambda: calls == [0], timeout=10)
            late = pool.submit(batcher.submit, "s", {"x": np.array([1])}, time.monotonic() + 0.2)
            patient = pool.submit(batcher.submit, "s", {"x": np.array([2])})
            time.sleep(0.3)  # the deadline of `late` passes while the batch thread is busy
            gate.set()
            assert busy.result(10)["y"].tolist() == [0]
            with pytest.raises(ServingError) as err:
                late.result(10)
            assert err.value.code == "DEADLINE_EXCEEDED"
            assert patient.result(10)["y"].tolist() == [2]
    finally:
        gate.set()
        batcher.stop()
    assert calls == [0, 2]
