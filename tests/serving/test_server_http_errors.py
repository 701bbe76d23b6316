"""Malformed HTTP and encoded bodies over REST, against one real server (module scope): what
aiohttp's HTTP parser refuses, an ``Expect`` it cannot meet and the Content-Encodings of a body
are all answered with a 4xx and a JSON ``{"error": "..."}`` body; gzip and deflate bodies that
decode are served. Malformed requests are sent on raw sockets (an HTTP client would fix them).
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import socket
import time
import zlib
from typing import NamedTuple

import pytest
import requests

from tests.serving.conftest import copy_version, start_server

pytestmark = pytest.mark.slow
MAX_REQUEST_BYTES = 1_000_000
READ_TIMEOUT_MS = 30_000  # a request the server waits on would take this long to answer
PREDICT = b'{"instances": [1.0, 2.0]}'  # hp: y = x / 2 + 2
HEAD = b"POST /v1/models/hp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


class Answer(NamedTuple):
    status: int
    content_type: str | None
    body: bytes


@pytest.fixture(scope="module")
def server(golden_versions, tmp_path_factory):
    root = tmp_path_factory.mktemp("http_errors")
    copy_version(golden_versions["two"], root / "hp", 1)
    srv = start_server(
        [
            "--model_name=hp",
            f"--model_base_path={root / 'hp'}",
            f"--max_request_size_bytes={MAX_REQUEST_BYTES}",
            f"--rest_read_timeout_in_ms={READ_TIMEOUT_MS}",
        ],
        root / "server.log",
        "hp",
    )
    yield srv
    srv.stop()


class _Buffer(io.BytesIO):
    """What an ``HTTPResponse`` reads one of several answers from (it closes its file after)."""

    def close(self) -> None:
        pass


def exchange(server, head: bytes, body: bytes = b"") -> tuple[list[Answer], float]:
    """Send ``head`` on a new connection, then ``body`` in a TCP segment of its own; read until
    the server closes the connection: ``(its answers, 1xx skipped; seconds until closed)``."""
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=60) as sock:
        sock.sendall(head)
        if body:
            time.sleep(0.1)
            sock.sendall(body)
        while chunk := sock.recv(65536):
            received += chunk
    elapsed = time.monotonic() - started
    stream, answers = _Buffer(received), []

    class _Socket:
        def makefile(self, mode: str) -> io.BytesIO:
            return stream

    while stream.tell() < len(received):
        response = http.client.HTTPResponse(_Socket())  # type: ignore[arg-type]
        response.begin()
        answers.append(Answer(response.status, response.getheader("Content-Type"), response.read()))
    return answers, elapsed


def json_error(answer: Answer, status: int) -> str:
    """The ``error`` of ``answer``, asserted to be a ``status`` answer with a JSON error body."""
    assert answer.status == status, answer
    assert answer.content_type is not None and answer.content_type.startswith("application/json")
    error = json.loads(answer.body)["error"]
    assert isinstance(error, str) and error
    return error


def post(headers: bytes, body: bytes) -> bytes:
    """A predict request's head closing its connection, with ``headers`` and ``body``'s length."""
    return HEAD + headers + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)


@pytest.mark.parametrize(
    "head, message",
    [
        (b"get /v1/models/hp HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid method"),
        (b"GET /v1/models/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "8190"),
        (
            b"GET /v1/models/hp HTTP/1.1\r\nHost: x\r\nx-request-id: " + b"a" * 9000 + b"\r\n\r\n",
            "8190",
        ),
        (post(b"Content-Type: a\x7fb\r\n", PREDICT) + PREDICT, ""),
    ],
    ids=["lower-case method", "URL of 9,000 bytes", "header of 9,000 bytes", "DEL in a header"],
)
def test_parser_errors_answer_json(server, head, message):
    """A request aiohttp's parser refuses: 400 with aiohttp's message as JSON, then closed."""
    answers, _ = exchange(server, head)
    assert len(answers) == 1, answers
    assert message in json_error(answers[0], 400)


def test_garbage_after_short_content_length(server):
    """The bytes after a Content-Length short of the body are a garbage request, refused by
    aiohttp's parser (with the request before it when both arrive at once): 400 in JSON."""
    head = HEAD + b'Content-Length: 5\r\n\r\n{"instances": [1.0]}\r\n\r\n'
    answers, _ = exchange(server, head)
    assert answers, "no answer"
    assert "Invalid method" in json_error(answers[-1], 400)
    for answer in answers:
        json_error(answer, 400)


def test_unknown_expect_is_json_417(server):
    answers, _ = exchange(server, post(b"Expect: 200-ok\r\n", PREDICT) + PREDICT)
    assert "200-ok" in json_error(answers[0], 417)


def test_expect_100_continue_still_served(server):
    head = post(b"Expect: 100-continue\r\n", PREDICT)
    answers, _ = exchange(server, head, PREDICT)
    assert [a.status for a in answers] == [200], answers
    assert json.loads(answers[0].body) == {"predictions": [2.5, 3.0]}


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_unsupported_encoding_is_415(server, encoding):
    body = b"garbage"
    answers, _ = exchange(server, post(f"Content-Encoding: {encoding}\r\n".encode(), body) + body)
    error = json_error(answers[0], 415)
    assert repr(encoding) in error and "gzip, deflate" in error


@pytest.mark.parametrize(
    "encoding, encode",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # no zlib header
        ("GZIP", gzip.compress),
        ("identity", lambda data: data),
    ],
    ids=["gzip", "deflate", "raw deflate", "GZIP", "identity"],
)
def test_encoded_bodies_are_served(server, encoding, encode):
    """Valid encoded bodies, on v1 predict and V2 infer."""
    response = requests.post(
        f"{server.rest}/v1/models/hp:predict",
        data=encode(PREDICT),
        headers={"Content-Encoding": encoding},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [2.5, 3.0]}
    infer = b'{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]}'
    response = requests.post(
        f"{server.rest}/v2/models/hp/infer",
        data=encode(infer),
        headers={"Content-Encoding": encoding},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [2.5, 3.0]


def test_gzip_bomb_is_413(server):
    bomb = gzip.compress(b" " * (20 * MAX_REQUEST_BYTES))
    assert len(bomb) < MAX_REQUEST_BYTES
    answers, _ = exchange(server, post(b"Content-Encoding: gzip\r\n", bomb) + bomb)
    error = json_error(answers[0], 413)
    assert "--max_request_size_bytes" in error and str(MAX_REQUEST_BYTES) in error


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("deflate", b"\xa1\xe8["),
        ("gzip", b"\xa1\xe8["),
        ("gzip", gzip.compress(PREDICT)[:14]),
        ("deflate", zlib.compress(PREDICT)[:4]),
        ("gzip", gzip.compress(PREDICT) + b"more"),
    ],
    ids=["deflate garbage", "gzip garbage", "gzip cut short", "deflate cut short", "gzip+junk"],
)
def test_undecodable_body_is_400_at_once(server, encoding, body):
    """A body that does not decode, arriving after its headers: 400 at once (not after
    ``--rest_read_timeout_in_ms``), and its connection ends."""
    head = HEAD + f"Content-Encoding: {encoding}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    answers, elapsed = exchange(server, head, body)  # no Connection: close: the server ends it
    assert len(answers) == 1, answers
    assert f"could not be decoded as {encoding}" in json_error(answers[0], 400)
    assert elapsed < READ_TIMEOUT_MS / 1000 / 3
