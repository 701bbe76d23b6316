"""HTTP-level plumbing of the REST port, below the application: what aiohttp answers itself.

aiohttp answers a request its HTTP parser refuses (`JsonErrorRunner`) and an ``Expect`` header it
cannot meet (`expect_json`) with text pages before any middleware runs; these answer the same
status with the server's ``{"error": ...}`` JSON. `decoded_body` reads a body's Content-Encoding
(the server turns aiohttp's automatic decompression off, so it can bound the decoded size and
refuse a corrupt or cut-short stream at once). `JsonErrorRunner` reads two private attributes of
aiohttp's `web.Server` (``_loop``, ``_kwargs``): it is written for the pinned aiohttp 3.14.
"""

from __future__ import annotations

import json
import zlib
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_urldispatcher import _default_expect_handler

from dlsuite.serving.server.errors import ServingError, invalid

# The Content-Encodings of a request body `decoded_body` reads, with their zlib window bits.
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def json_response(body: Any, status: int = 200) -> web.Response:
    """``body`` as a JSON response."""
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering what its HTTP parser refuses in our JSON.

    A request line or header aiohttp cannot parse (a lower-case method, a line over 8,190 bytes,
    a control character in a header, garbage where the next request should start) never
    reaches the application or its middlewares: aiohttp answers it from ``handle_error`` with
    a text page and closes the connection. This keeps all of that but the body, which becomes
    ``{"error": "<aiohttp's message>"}``; 5xx answers stay aiohttp's.
    """

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)  # logs, may raise
        if status >= 500:
            return response
        error = json_response({"error": message or HTTPStatus(status).phrase}, status)
        error.force_close()
        return error


class _JsonErrorServer(web.Server):
    """aiohttp's `web.Server` whose connections are `_JsonErrorHandler`s."""

    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """aiohttp's `web.AppRunner`, serving through a `_JsonErrorServer`: aiohttp has no setting
    for the answers of ``handle_error``, and its `web.Server` makes plain `RequestHandler`s."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # the application started and frozen
        return _JsonErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


async def expect_json(request: web.Request) -> web.Response | None:
    """aiohttp's ``Expect`` handling (``100 Continue`` for ``100-continue``), but an expectation
    it cannot meet is answered 417 in JSON (aiohttp's answers text, before any middleware)."""
    try:
        await _default_expect_handler(request)
    except web.HTTPExpectationFailed as err:
        return json_response({"error": err.text or "Expectation failed"}, 417)
    return None  # go on to the route's handler


def decoded_body(raw: bytes, encoding: str, limit: int) -> bytes:
    """A request body sent with ``Content-Encoding: <encoding>`` (a key of `ENCODINGS`)
    decoded: RESOURCE_EXHAUSTED (413) when it decodes to more than ``limit`` bytes
    (``--max_request_size_bytes``), INVALID_ARGUMENT (400) when it is corrupt or incomplete.
    A deflate body without the zlib header (raw deflate, as some clients send) is read too."""
    wbits = ENCODINGS[encoding]
    if encoding == "deflate" and raw[:1] and raw[0] & 0x0F != 8:  # not a zlib header (RFC 1950)
        wbits = -zlib.MAX_WBITS
    decoder = zlib.decompressobj(wbits)
    try:
        body = decoder.decompress(raw, limit + 1)
    except zlib.error as err:
        raise invalid(f"Request body could not be decoded as {encoding}: {err}") from None
    if len(body) > limit:
        raise ServingError(
            "RESOURCE_EXHAUSTED",
            f"Request body decoded from {encoding} is larger than the maximum of {limit} bytes "
            "(--max_request_size_bytes)",
            413,
        )
    if not decoder.eof:
        raise invalid(f"Request body could not be decoded as {encoding}: the stream is incomplete")
    if decoder.unused_data:
        raise invalid(
            f"Request body could not be decoded as {encoding}: data after the end of the stream"
        )
    return body
