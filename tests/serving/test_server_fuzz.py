"""Fuzz test of ``dlsuite serve`` (issue 18): hostile REST and gRPC requests against one real
server on localhost.

The server (module scope, default limits, no batching) serves ``hp`` (the golden half_plus_two,
label ``stable`` = 1) and ``img`` (one string input ``image``, each element decoded with
``tf.io.decode_image``; its answer is the decoded height and width). Hypothesis draws the requests
(`tests.serving.fuzz_strategies`: REST bodies that know TF Serving's and KServe V2's JSON, paths,
methods, headers; gRPC messages that know the protos, and raw bytes), derandomized and bounded:
each example is a batch of requests sent concurrently (a few keep-alive connections for REST, up
to 32 calls in flight for gRPC), nothing is shrunk, every answer is checked and every failure
collected. Then the fixed cases of the issue (deep JSON, 5,000-digit numbers and versions, gzip
garbage and a gzip bomb, wrong Content-Length and a body that never ends, long URLs and headers,
the 69-byte fill request, image decompression bombs in parallel).

Asserted: no REST answer of 5xx, every REST error (>= 400) a JSON object with a string ``error``,
no connection reset or unanswered request, no 408 to a request sent whole (the server waiting for
more than it was sent, as for a truncated deflate stream, holds a connection for nothing); no gRPC
status INTERNAL, UNKNOWN or DATA_LOSS (nor UNAVAILABLE or DEADLINE_EXCEEDED: nothing here comes
near the server's concurrency limit, so those mean it dropped or lost a call); the fixed cases
refused (4xx / a refusing gRPC status); the process alive at the end with its resident memory
within 1.3x of what it was after warm-up. A failure message lists each class of failure with its
count, one request (shortened; runs of one character written ``<c*N>``) and the answer, enough to
replay it with curl or a stub.
"""

from __future__ import annotations

import base64
import collections
import gzip
import http.client
import io
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.serving import fuzz_strategies as fs
from tests.serving.conftest import ServerProcess, copy_version, start_server

pytestmark = pytest.mark.slow

REST_EXAMPLES, REST_BATCH = 500, 20  # 10,000 REST requests
GRPC_EXAMPLES, GRPC_BATCH = 100, 20  # 2,000 gRPC calls
REST_CONNECTIONS = 6
GRPC_IN_FLIGHT = 32
ANSWER_TIMEOUT = 30.0  # seconds a request may take before it counts as unanswered
READ_TIMEOUT_MS = 3000  # --rest_read_timeout_in_ms of the server: the never-ending body's wait
RSS_GROWTH = 1.3
BOMB_SIDE = 23_000  # the PNG: 23,000 x 23,000 gray pixels, 529 MB decoded
BOMBS = 4  # sent at once, half over REST, half over gRPC
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.generate,),  # no shrinking: failures are collected, not raised
    suppress_health_check=(
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ),
)
_FAILING_GRPC = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
_REFUSING_GRPC = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
}


def write_image_model(version_dir: Path) -> Path:
    """A SavedModel whose ``serving_default`` takes ``image`` (string, (N,)), decodes each element
    with ``tf.io.decode_image`` (PNG, JPEG, GIF, BMP; one channel) and answers ``size`` (int32,
    (N, 2)): each image's height and width."""
    import tensorflow as tf

    class Decode(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image")])
        def decode(self, image):
            def size(data):
                pixels = tf.io.decode_image(data, channels=1, expand_animations=False)
                return tf.shape(pixels)[:2]

            spec = tf.TensorSpec([2], tf.int32)
            return {"size": tf.map_fn(size, image, fn_output_signature=spec)}

    module = Decode()
    tf.saved_model.save(module, str(version_dir), signatures={"serving_default": module.decode})
    return version_dir


@pytest.fixture(scope="module")
def server(golden_versions, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    copy_version(golden_versions["two"], root / "hp", 1)
    write_image_model(root / "img" / "1")
    config = root / "models.config"
    config.write_text(
        f'model_config_list {{\n  config {{ name: "hp" base_path: "{root / "hp"}" '
        'model_platform: "tensorflow" version_labels { key: "stable" value: 1 } }\n'
        f'  config {{ name: "img" base_path: "{root / "img"}" model_platform: "tensorflow" }}\n}}\n'
    )
    srv = start_server(
        [f"--model_config_file={config}", f"--rest_read_timeout_in_ms={READ_TIMEOUT_MS}"],
        root / "server.log",
        "hp",
    )
    srv.wait_ready("img")
    yield srv
    srv.stop()


def rss_kb(server: ServerProcess) -> int:
    """The server process's resident set size (``VmRSS``), in kB."""
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))


# -- REST client --------------------------------------------------------------------------------
class Answer(NamedTuple):
    """An HTTP answer (``status`` None when there was none: ``error`` says what happened)."""

    status: int | None
    content_type: str | None
    body: bytes
    error: str | None = None

    def describe(self) -> str:
        if self.status is None:
            return f"no answer: {self.error}"
        return f"{self.status} {self.content_type}: {fs.shorten(self.body, 300)}"


def answer_problem(answer: Answer, head: bool = False) -> str | None:
    """What is wrong with an HTTP ``answer`` (a class of failure, digits written N), or None: no
    answer, a 5xx, an error (>= 400) whose body is not a JSON object with a string ``error``
    (``head``: an answer to HEAD, which has no body)."""
    if answer.status is None:
        return f"no answer ({(answer.error or '').split(':')[0]})"
    if answer.status < 400 or head:
        return None
    try:
        doc = json.loads(answer.body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
        first = answer.body.decode("utf-8", "replace").strip().partition("\n")[0]
        return f"{answer.status}, error body not {{'error': str}}: {first.split(':')[0][:60]!r}"
    if answer.status >= 500:
        return f"{answer.status}: {re.sub(r'[0-9]+', 'N', doc['error'])[:90]}"
    return None


def rest_problem(case: fs.HttpCase, answer: Answer) -> str | None:
    """`answer_problem` for the answer to ``case``, a request sent whole: a 408 (the body did not
    arrive in time) is wrong too, it means the server waited for more than the request held."""
    problem = answer_problem(answer, case.method == "HEAD")
    if problem is None and answer.status == 408:
        return f"408 to a request sent whole: {json.loads(answer.body)['error'][:90]}"
    return problem


class RestClient:
    """Sends `HttpCase` requests as they are, from a few threads, each on its own keep-alive
    connection (``http.client``: it neither normalises paths nor adds headers but ``Host``).

    A request that fails on a connection which already carried one is sent once more on a new
    connection (the server may close an idle keep-alive connection at any time, as clients
    expect); a failure on a new connection is the answer.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.pool = ThreadPoolExecutor(REST_CONNECTIONS, thread_name_prefix="fuzz-rest")
        self._local = threading.local()

    def submit(self, case: fs.HttpCase) -> Future:
        return self.pool.submit(self.send, case)

    def send(self, case: fs.HttpCase) -> Answer:
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=ANSWER_TIMEOUT
                )
            reused = conn.sock is not None
            try:
                conn.putrequest(case.method, case.path, skip_accept_encoding=True)
                for name, value in case.headers:
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(case.body)))
                conn.endheaders(case.body)
                response = conn.getresponse()
                body = response.read()
                if response.will_close:
                    conn.close()
                return Answer(response.status, response.getheader("Content-Type"), body)
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                if attempt == 1 and reused and not isinstance(err, TimeoutError):
                    continue
                return Answer(None, None, b"", f"{type(err).__name__}: {err}")
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.pool.shutdown()


class _Unclosed(io.BytesIO):
    """What an ``HTTPResponse`` reads one answer of several from (it closes its file after)."""

    def close(self) -> None:
        pass


class RawCase(NamedTuple):
    """A request sent on a raw connection: ``head``, then ``body`` a moment later (in a TCP
    segment of its own, as from a client on a slow network); ``whole`` when the two make the
    request its headers announce (then a 408 is wrong); ``timeout``: seconds to wait for the
    server to answer and close the connection."""

    head: bytes
    body: bytes
    whole: bool
    timeout: float


def exchange(port: int, case: RawCase) -> tuple[list[Answer], str | None]:
    """Send a `RawCase` on a new connection and read until the server closes it or the case's
    timeout passes: ``(the answers, a problem: reset or still open)``; 1xx answers skipped."""
    received, problem, timeout = b"", None, case.timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(case.head)
        if case.body:
            time.sleep(0.1)
            sock.sendall(case.body)
        deadline = time.monotonic() + timeout
        try:
            while chunk := sock.recv(65536):
                received += chunk
                sock.settimeout(max(deadline - time.monotonic(), 0.01))
        except TimeoutError:
            problem = f"the connection was still open after {timeout:.0f} s"
        except ConnectionResetError:
            problem = "connection reset"
    answers, stream = [], _Unclosed(received)

    class _Socket:
        def makefile(self, mode: str) -> io.BytesIO:
            return stream

    while stream.tell() < len(received):
        response = http.client.HTTPResponse(_Socket())  # type: ignore[arg-type]
        try:
            response.begin()
            body = response.read()
        except http.client.HTTPException as err:
            answers.append(Answer(None, None, b"", f"unreadable answer: {err!r}"))
            break
        if response.status >= 200:
            answers.append(Answer(response.status, response.getheader("Content-Type"), body))
    return answers, problem


# -- collecting failures ----------------------------------------------------------------------
def _described(item: Any) -> str:
    return item if isinstance(item, str) else item.describe()


class Failures:
    """Failures by class: count, and the first request and answer of each."""

    def __init__(self) -> None:
        self.count = 0
        self.classes: dict[str, list[Any]] = {}

    def add(self, problem: str, request: Any, answer: Any) -> None:
        """Count a failure; the first of its class is kept as ``request.describe()`` and
        ``answer.describe()``."""
        self.count += 1
        if problem not in self.classes:
            self.classes[problem] = [0, _described(request), _described(answer)]
        self.classes[problem][0] += 1

    def report(self, what: str, total: int) -> str:
        lines = [f"{what}: {self.count} of {total} failed, {len(self.classes)} classes:"]
        for problem, (count, request, answer) in sorted(
            self.classes.items(), key=lambda item: -item[1][0]
        ):
            lines += [f"[{count}x] {problem}", f"  request: {request}", f"  answer: {answer}"]
        return "\n".join(lines)


class Campaign:
    """Requests sent as they are drawn, at most ``window`` awaiting answers (the oldest is
    checked first), each answer checked by ``check`` (a problem string, or None)."""

    def __init__(
        self,
        send: Callable[[Any], Any],
        answer: Callable[[Any], Any],
        check: Callable[[Any, Any], str | None],
        window: int,
    ) -> None:
        self.send, self.answer, self.check, self.window = send, answer, check, window
        self.pending: collections.deque = collections.deque()
        self.sent = 0
        self.failures = Failures()

    def submit(self, case: Any) -> None:
        self.pending.append((case, self.send(case)))
        self.sent += 1
        while len(self.pending) > self.window:
            self._collect()

    def _collect(self) -> None:
        case, future = self.pending.popleft()
        result = self.answer(future)
        problem = self.check(case, result)
        if problem is not None:
            self.failures.add(problem, case, result)

    def finish(self) -> None:
        while self.pending:
            self._collect()


class GrpcAnswer(NamedTuple):
    """A gRPC call's status code and details."""

    code: grpc.StatusCode
    details: str

    def describe(self) -> str:
        return f"{self.code.name}: {fs.shorten(self.details or '', 300)}"


def grpc_answer(future: Any) -> GrpcAnswer:
    try:
        future.result()
    except grpc.RpcError as err:
        return GrpcAnswer(err.code(), err.details() or "")
    return GrpcAnswer(grpc.StatusCode.OK, "")


def grpc_problem(case: fs.GrpcCase, answer: GrpcAnswer) -> str | None:
    if answer.code not in _FAILING_GRPC:
        return None
    return f"{answer.code.name}: {re.sub(r'[0-9]+', 'N', answer.details)[:90]}"


@pytest.fixture(scope="module")
def channel(server):
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    chan = grpc.insecure_channel(server.grpc_target, options=options)
    yield chan
    chan.close()


def grpc_sender(channel: grpc.Channel) -> Callable[[fs.GrpcCase], Any]:
    """Send a case's bytes to its method (no serializers: the payload goes as it is)."""
    methods: dict[str, Any] = {}

    def send(case: fs.GrpcCase) -> Any:
        if case.method not in methods:
            methods[case.method] = channel.unary_unary(case.method)
        return methods[case.method].future(case.payload, timeout=ANSWER_TIMEOUT)

    return send


# -- warm-up and the memory baseline -----------------------------------------------------------
def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def valid_rest_cases() -> list[fs.HttpCase]:
    """One well-formed request of every kind the server answers 200."""
    image = _b64(fs.png(3, 2))
    posts = [
        ("/v1/models/hp:predict", {"instances": [1.0, 2.0]}),
        ("/v1/models/hp/labels/stable:predict", {"inputs": {"x": [1.0]}}),
        ("/v1/models/hp:predict", {"signature_name": "two_inputs", "inputs": {"a": [1], "b": [2]}}),
        ("/v1/models/hp:predict", {"signature_name": "ints", "instances": [[1, 2]]}),
        ("/v1/models/hp:predict", {"signature_name": "bytes_length", "instances": [_b64(b"ab")]}),
        ("/v1/models/img:predict", {"instances": [image, image]}),
        ("/v1/models/hp:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]}),
        ("/v1/models/hp:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}),
        ("/v2/models/hp/infer", {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                                             "data": [1, 2]}]}),
        ("/v2/models/img/infer", {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                              "data": [image]}]}),
    ]  # fmt: skip
    gets = ["/v1/models/hp", "/v1/models/hp/metadata", "/v2/models/img", "/v1/health/ready"]
    return [
        fs.HttpCase("POST", path, (("Content-Type", "application/json"),), fs.render(doc))
        for path, doc in posts
    ] + [fs.HttpCase("GET", path, (), b"") for path in gets]


def valid_grpc_cases() -> list[fs.GrpcCase]:
    """One well-formed call of every kind the server answers OK."""
    protos = fs.request_protos()
    predict = protos["PredictRequest"]()
    predict.model_spec.name = "hp"
    predict.inputs["x"].dtype = protos["types"].DT_FLOAT
    predict.inputs["x"].tensor_shape.dim.add(size=2)
    predict.inputs["x"].float_val.extend([1.0, 2.0])
    image = protos["PredictRequest"]()
    image.model_spec.name = "img"
    image.inputs["image"].dtype = protos["types"].DT_STRING
    image.inputs["image"].tensor_shape.dim.add(size=1)
    image.inputs["image"].string_val.append(fs.png(3, 2))
    regress = protos["RegressionRequest"]()
    regress.model_spec.name, regress.model_spec.signature_name = "hp", "regress_x_to_y"
    example = regress.input.example_list.examples.add()
    example.features.feature["x"].float_list.value.append(1.0)
    classify = protos["ClassificationRequest"]()
    classify.model_spec.name, classify.model_spec.signature_name = "hp", "classify_x_to_y"
    classify.input.CopyFrom(regress.input)
    metadata = protos["GetModelMetadataRequest"](metadata_field=["signature_def"])
    metadata.model_spec.name = "hp"
    status = protos["GetModelStatusRequest"]()
    status.model_spec.name = "img"
    infer = protos["ModelInferRequest"](model_name="hp")
    infer.inputs.add(name="x", datatype="FP32", shape=[2]).contents.fp32_contents.extend([1, 2])
    return [
        fs.grpc_case(message)
        for message in (predict, image, regress, classify, metadata, status, infer)
    ]


@pytest.fixture(scope="module")
def baseline(server, channel) -> int:
    """Warm the server up (every valid request kind 20 times, checked to answer 200 / OK), then
    return its RSS in kB: what the memory after the fuzz run is compared with."""
    client = RestClient(server.rest_port)
    send = grpc_sender(channel)
    try:
        for _ in range(20):
            for case in valid_rest_cases():
                answer = client.send(case)
                assert answer.status == 200, f"{case.describe()}\n{answer.describe()}"
            for case in valid_grpc_cases():
                answer = grpc_answer(send(case))
                assert answer.code == grpc.StatusCode.OK, f"{case.describe()}\n{answer.describe()}"
    finally:
        client.close()
    return rss_kb(server)


# -- the fuzz runs ------------------------------------------------------------------------------
def test_rest_fuzz(server, baseline):
    """10,000 drawn REST requests: no 5xx, no error without a JSON ``error``, none unanswered."""
    client = RestClient(server.rest_port)
    campaign = Campaign(
        client.submit, lambda f: f.result(), rest_problem, window=4 * REST_CONNECTIONS
    )

    @settings(FUZZ, max_examples=REST_EXAMPLES)
    @given(st.lists(fs.rest_cases, min_size=REST_BATCH, max_size=REST_BATCH))
    def run(batch: list[fs.HttpCase]) -> None:
        for case in batch:
            campaign.submit(case)

    try:
        run()
        campaign.finish()
    finally:
        client.close()
    assert campaign.sent >= 10_000
    assert not campaign.failures.count, campaign.failures.report("REST fuzz", campaign.sent)


def test_grpc_fuzz(server, baseline, channel):
    """2,000 drawn gRPC calls: none answered INTERNAL, UNKNOWN, DATA_LOSS (or lost)."""
    fs.request_protos()  # import the protos (and TensorFlow) before Hypothesis starts
    campaign = Campaign(grpc_sender(channel), grpc_answer, grpc_problem, window=GRPC_IN_FLIGHT)

    @settings(FUZZ, max_examples=GRPC_EXAMPLES)
    @given(st.lists(fs.grpc_cases, min_size=GRPC_BATCH, max_size=GRPC_BATCH))
    def run(batch: list[fs.GrpcCase]) -> None:
        for case in batch:
            campaign.submit(case)

    run()
    campaign.finish()
    assert campaign.sent >= 2_000
    assert not campaign.failures.count, campaign.failures.report("gRPC fuzz", campaign.sent)


# -- the fixed cases of the issue ---------------------------------------------------------------
def fixed_rest_cases() -> dict[str, fs.HttpCase]:
    """The hostile REST requests issue 18 names, each of which must be refused (4xx)."""
    digits = "9" * 5000
    json_type = (("Content-Type", "application/json"),)

    def post(path: str, body: bytes, headers: tuple = json_type) -> fs.HttpCase:
        return fs.HttpCase("POST", path, headers, body)

    v2_ints = '{"inputs":[{"name":"k","shape":[1,2],"datatype":"INT64","data":[%s]}],' \
              '"parameters":{"signature_name":"ints"}}'  # fmt: skip
    v2_x = b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}'
    bomb = gzip.compress(b"[" * (200 * 2**20), compresslevel=1)  # 200 MB of brackets
    return {
        "JSON nested 600 deep": post("/v1/models/hp:predict", b"[" * 600 + b"]" * 600),
        "JSON nested 100,000 deep": post(
            "/v1/models/hp:predict", b'{"instances":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        ),
        "objects nested 100,000 deep": post(
            "/v1/models/hp:regress", b'{"examples":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001
        ),
        "5,000-digit integer": post(
            "/v1/models/hp:predict", f'{{"instances":[{digits}]}}'.encode()
        ),
        "5,000-digit integer, int64 input": post(
            "/v1/models/hp:predict",
            f'{{"signature_name":"ints","instances":[[{digits},1]]}}'.encode(),
        ),
        "5,000-digit integer in an Example": post(
            "/v1/models/hp:regress",
            f'{{"signature_name":"regress_x_to_y","examples":[{{"x":{digits}}}]}}'.encode(),
        ),
        "5,000-digit integer in V2 data": post(
            "/v2/models/hp/infer", (v2_ints % f"{digits},1").encode()
        ),
        "lone surrogate in an Example string": post(
            "/v1/models/hp:classify",
            b'{"signature_name":"classify_x_to_y","examples":[{"x":1.0,"y":"\\ud800"}]}',
        ),
        "lone surrogate in a string input": post(
            "/v1/models/hp:predict", b'{"signature_name":"bytes_length","instances":["\\ud800"]}'
        ),
        "V2 INT64 data with NaN": post("/v2/models/hp/infer", (v2_ints % "NaN,1").encode()),
        "V2 INT64 data with Infinity": post(
            "/v2/models/hp/infer", (v2_ints % "-Infinity,Infinity").encode()
        ),
        "V2 5,000-digit version": post(f"/v2/models/hp/versions/{digits}/infer", v2_x),
        "V2 version -1": post("/v2/models/hp/versions/-1/infer", v2_x),
        "V2 version 2^64": post("/v2/models/hp/versions/18446744073709551616/infer", v2_x),
        "V2 negative shape": post(
            "/v2/models/hp/infer",
            b'{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}',
        ),
        "V2 shape 2^40 with one value": post(
            "/v2/models/hp/infer",
            b'{"inputs":[{"name":"x","shape":[1099511627776],"datatype":"FP32","data":[1]}]}',
        ),
        "V2 binary header length past the body": fs.HttpCase(
            "POST",
            "/v2/models/hp/infer",
            (("Inference-Header-Content-Length", "999999"),),
            v2_x,
        ),
        "5,000-digit version, status": fs.HttpCase(
            "GET", f"/v1/models/hp/versions/{digits}", (), b""
        ),
        "5,000-digit version, metadata": fs.HttpCase(
            "GET", f"/v1/models/hp/versions/{digits}/metadata", (), b""
        ),
        "5,000-digit version, predict": post(
            f"/v1/models/hp/versions/{digits}:predict", b'{"instances":[1]}'
        ),
        "gzip with a garbage body": post(
            "/v1/models/hp:predict", b"garbage", (*json_type, ("Content-Encoding", "gzip"))
        ),
        "deflate with a garbage body": post(
            "/v2/models/hp/infer", b"garbage", (*json_type, ("Content-Encoding", "deflate"))
        ),
        "gzip stream cut short": post(
            "/v1/models/hp:predict",
            gzip.compress(b'{"instances":[1]}')[:14],
            (*json_type, ("Content-Encoding", "gzip")),
        ),
        "deflate stream cut short": post(
            "/v1/models/hp:predict",
            zlib.compress(b'{"instances":[1]}')[:4],
            (*json_type, ("Content-Encoding", "deflate")),
        ),
        "gzip bomb (200 MB inflated)": post(
            "/v1/models/hp:predict", bomb, (*json_type, ("Content-Encoding", "gzip"))
        ),
        "traversal path": fs.HttpCase("GET", "/v1/models/../../etc/passwd", (), b""),
        "encoded traversal model name": fs.HttpCase(
            "GET", "/v1/models/..%2F..%2Fetc%2Fpasswd/metadata", (), b""
        ),
        "URL of 9,000 bytes": fs.HttpCase("GET", "/v1/models/" + "a" * 9000, (), b""),
        "header of 9,000 bytes": fs.HttpCase(
            "GET", "/v1/models/hp", (("x-request-id", "a" * 9000),), b""
        ),
        "header value with a DEL character": post(
            "/v1/models/hp:predict", b'{"instances":[1]}', (("Content-Type", "a\x7fb"),)
        ),
        "lower-case method": fs.HttpCase("get", "/v1/models/hp", (), b""),
        "unknown Expect": post(
            "/v1/models/hp:predict", b'{"instances":[1]}', (("Expect", "200-ok"),)
        ),
        "Content-Encoding br (not installed)": post(
            "/v1/models/hp:predict", b"garbage", (("Content-Encoding", "br"),)
        ),
        "rows past --max_batch_rows": post(
            "/v1/models/hp:predict", fs.render({"instances": [1.0] * 5000})
        ),
        "string over --max_string_bytes": post(
            "/v1/models/hp:predict",
            fs.render({"signature_name": "bytes_length", "instances": [_b64(b"a" * (17 << 20))]}),
        ),
    }


def fixed_grpc_cases() -> dict[str, fs.GrpcCase]:
    """The hostile gRPC calls issue 18 names, each of which must be refused."""
    protos = fs.request_protos()

    def predict(model: str, name: str, dtype: int, dims: list[int], **values: Any) -> fs.GrpcCase:
        request = protos["PredictRequest"]()
        request.model_spec.name = model
        if model == "hp" and name == "x_bytes":
            request.model_spec.signature_name = "bytes_length"
        tensor = request.inputs[name]
        tensor.dtype = dtype
        for size in dims:
            tensor.tensor_shape.dim.add(size=size)
        for field, value in values.items():
            if field == "tensor_content":
                tensor.tensor_content = value
            else:
                getattr(tensor, field).extend(value)
        return fs.grpc_case(request)

    types = protos["types"]
    infer = protos["ModelInferRequest"](model_name="hp")
    infer.inputs.add(name="x", datatype="FP32", shape=[2**40]).contents.fp32_contents.append(1.0)
    return {
        "69-byte request: shape 2^27 with one value": predict(
            "hp", "x", types.DT_FLOAT, [2**27], float_val=[1.0]
        ),
        "shape 4096x32x32x1 with one value": predict(
            "hp", "x", types.DT_FLOAT, [4096, 32, 32, 1], float_val=[1.0]
        ),
        "4,096 rows with one value": predict("hp", "x", types.DT_FLOAT, [4096], float_val=[1.0]),
        "shape 2^62 with one value": predict("hp", "x", types.DT_FLOAT, [2**62], float_val=[1.0]),
        "dims whose product overflows int64": predict(
            "hp", "x", types.DT_FLOAT, [2**40, 2**40], float_val=[1.0]
        ),
        "negative dim": predict("hp", "x", types.DT_FLOAT, [-5], float_val=[1.0]),
        "tensor_content of the wrong size": predict(
            "hp", "x", types.DT_FLOAT, [3], tensor_content=b"\0" * 7
        ),
        "string over --max_string_bytes": predict(
            "hp", "x_bytes", types.DT_STRING, [1], string_val=[b"a" * (17 << 20)]
        ),
        "V2 shape 2^40 with one value": fs.grpc_case(infer),
        "garbage bytes as PredictRequest": fs.GrpcCase(
            "/tensorflow.serving.PredictionService/Predict", b"\xff" * 16, "raw bytes"
        ),
        "truncated PredictRequest": fs.GrpcCase(
            "/tensorflow.serving.PredictionService/Predict",
            valid_grpc_cases()[0].payload[:-3],
            "a valid PredictRequest without its last 3 bytes",
        ),
    }


def image_bombs() -> tuple[fs.HttpCase, fs.GrpcCase]:
    """The issue's PNG of 23,000 x 23,000 black pixels (529 MB decoded, 0.5 MB as a file) for
    ``img``, as a REST request and as a gRPC call."""
    image = fs.png(BOMB_SIDE, BOMB_SIDE)
    rest = fs.HttpCase(
        "POST", "/v1/models/img:predict", (), fs.render({"instances": [_b64(image)]})
    )
    protos = fs.request_protos()
    request = protos["PredictRequest"]()
    request.model_spec.name = "img"
    request.inputs["image"].dtype = protos["types"].DT_STRING
    request.inputs["image"].tensor_shape.dim.add(size=1)
    request.inputs["image"].string_val.append(image)
    return rest, fs.grpc_case(request)


def socket_cases() -> dict[str, RawCase]:
    """The requests that need a raw connection."""
    head = b"POST /v1/models/hp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    wait = READ_TIMEOUT_MS / 1000 + 15
    return {
        "Content-Length past the body (the body never ends)": RawCase(
            head + b"Content-Length: 100\r\n\r\n", b'{"instan', False, wait
        ),
        "Content-Length short of the body (the rest is a garbage request)": RawCase(
            head + b'Content-Length: 5\r\n\r\n{"instances": [1.0]}\r\n\r\n', b"", False, 20
        ),
        "body over --max_request_size_bytes announced with Expect: 100-continue": RawCase(
            head + b"Expect: 100-continue\r\nContent-Length: 67108865\r\n\r\n", b"", False, 20
        ),
        "deflate garbage after the headers": RawCase(
            head + b"Content-Encoding: deflate\r\nContent-Length: 3\r\n\r\n",
            b"\xa1\xe8[",
            True,
            wait,
        ),
        "gzip garbage after the headers": RawCase(
            head + b"Content-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", b"\xa1\xe8[", True, wait
        ),
    }


def refusal_problem(case: fs.HttpCase, answer: Answer) -> str | None:
    """`rest_problem`, and a fixed case must be refused: 4xx."""
    problem = rest_problem(case, answer)
    if problem is None and not 400 <= (answer.status or 0) < 500:
        return f"not refused: {answer.status}"
    return problem


def test_fixed_hostile_cases(server, baseline, channel):
    """The fixed cases, all refused; the image bombs sent several at once, and the socket cases
    (which wait on the server's timeouts) beside everything else."""
    failures = Failures()
    bomb, bomb_call = image_bombs()
    requests = {**fixed_rest_cases(), **{f"PNG bomb {i} (REST)": bomb for i in range(BOMBS // 2)}}
    grpc_calls = {
        **fixed_grpc_cases(),
        **{f"PNG bomb {i} (gRPC)": bomb_call for i in range(BOMBS - BOMBS // 2)},
    }
    client, send = RestClient(server.rest_port), grpc_sender(channel)
    with ThreadPoolExecutor(len(socket_cases())) as pool:
        raw = {
            name: (case, pool.submit(exchange, server.rest_port, case))
            for name, case in socket_cases().items()
        }
        try:
            rest = {name: (case, client.submit(case)) for name, case in requests.items()}
            calls = {name: (call, send(call)) for name, call in grpc_calls.items()}
            for name, (case, future) in rest.items():
                answer = future.result()
                problem = refusal_problem(case, answer)
                if problem is not None:
                    failures.add(f"{name}: {problem}", case, answer)
        finally:
            client.close()
        for name, (call, future) in calls.items():
            answer = grpc_answer(future)
            if answer.code not in _REFUSING_GRPC:
                failures.add(f"{name}: {answer.code.name}", call, answer)
        for name, (case, future) in raw.items():
            answers, problem = future.result()
            request = f"{fs.shorten(case.head, 300)} then {fs.shorten(case.body, 100)}"
            if problem is not None:  # closed after a timeout is fine; reset or still open is not
                got = "; ".join(a.describe() for a in answers) or "no answer"
                failures.add(f"{name}: {problem}", request, got)
            for answer in answers:
                problem = answer_problem(answer)
                if problem is None and case.whole and answer.status == 408:
                    problem = "408 to a request sent whole"
                if problem is not None:
                    failures.add(f"{name}: {problem}", request, answer)
    assert not failures.count, failures.report("fixed cases", len(rest) + len(calls) + len(raw))


# -- after all of it ------------------------------------------------------------------------------
def test_server_alive_and_memory_bounded(server, baseline, channel):
    """After the fuzz runs and fixed cases above (module order): the server still runs, answers
    every valid request, and holds at most 1.3x the memory it held after warm-up."""
    assert server.proc.poll() is None, f"the server exited:\n{server.log()}"
    after = rss_kb(server)
    assert after <= RSS_GROWTH * baseline, (
        f"server RSS grew from {baseline / 1024:.0f} MB after warm-up to {after / 1024:.0f} MB "
        f"(limit {RSS_GROWTH}x)"
    )
    client = RestClient(server.rest_port)
    try:
        for case in valid_rest_cases():
            answer = client.send(case)
            assert answer.status == 200, f"{case.describe()}\n{answer.describe()}"
    finally:
        client.close()
    send = grpc_sender(channel)
    for call in valid_grpc_cases():
        answer = grpc_answer(send(call))
        assert answer.code == grpc.StatusCode.OK, f"{call.describe()}\n{answer.describe()}"
