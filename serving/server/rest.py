"""TF Serving's REST API (``api_rest.md``) as an aiohttp application.

``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]``            model status
``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata``   signature defs
``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:(predict|classify|regress)``
Errors are ``{"error": "..."}`` with TF Serving's HTTP status. Predict (v1 and V2) takes the one
predict path of `serving.server.inference` from the event loop: a small body is decoded and its
answer encoded on the loop, the model call alone goes to the worker threads (or, with batching, to
the batcher, awaited as a future); bodies over `INLINE_CODEC_BYTES`, and all bodies while more
than `INLINE_CODEC_REQUESTS` requests are in progress, are decoded in the worker threads so the
loop keeps answering (a dense predict body over `PROCESS_CODEC_BYTES` in a child process).
Classify, regress and metadata run in the worker threads. Overload (`serving.server.overload`):
an inference request whose body has been read counts against ``--max_concurrent_requests``
(429 past it), a body must arrive within ``--rest_read_timeout_in_ms`` (408), and work not
started within ``--rest_api_timeout_in_ms`` is dropped. A body's Content-Encoding (identity, gzip,
deflate; 415 otherwise) is decoded here, within ``--max_request_size_bytes`` (413); what aiohttp's
HTTP parser refuses (400) and an ``Expect`` other than ``100-continue`` (417) are answered in
JSON too (`RestApi.make_runner`).

dlsuite extensions: ``GET /v1/health/live``, ``GET /v1/health/ready``, ``GET /v1/models`` (listing),
the KServe V2 REST protocol under ``/v2`` (`serving.server.v2`), an ``x-request-id`` header on every
response and, with ``access_log``, one JSON access-log line per request on ``dlsuite.access``;
Prometheus metrics at ``/metrics`` (KServe's scrape path); CORS for the origins of
``--cors_allowed_origins`` (preflight ``OPTIONS`` answered 204, off by default). The middlewares
of `serving.server.security` check the bearer token (``--auth_token_file``) and keep file-system
paths out of answers (unless ``--expose_paths``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import multiprocessing
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from dlsuite.serving.server import inference, v2, v2_binary
from dlsuite.serving.server.access_log import log_access
from dlsuite.serving.server.access_log import request_id as make_request_id
from dlsuite.serving.server.config import OverloadOptions, RequestLimits
from dlsuite.serving.server.errors import ServingError, invalid
from dlsuite.serving.server.http_protocol import (
    ENCODINGS,
    JsonErrorRunner,
    decoded_body,
    expect_json,
    json_response,
)
from dlsuite.serving.server.json_tensor import DenseBody
from dlsuite.serving.server.json_values import (
    parse_json,
    signature_name,
    to_bytes,
)
from dlsuite.serving.server.manager import ModelManager
from dlsuite.serving.server.overload import Admission, deadline_within
from dlsuite.serving.server.rest_codec import (
    dense_in_child,
    examples_v1_json,
    log_predict,
    metadata_json,
    models_json,
    outputs_nbytes,
    predict_body,
    predict_request,
    status_json,
    v2_answer,
    v2_request,
)
from dlsuite.serving.server.security import ServerSecurity
from dlsuite.serving.server.servable import DEFAULT_SIGNATURE
from dlsuite.serving.server.tensors import (
    predict_json,
)

KSERVE_METRICS_PATH = "/metrics"
_CORS_METHODS = "GET, POST, OPTIONS"

# TF Serving's routes (http_rest_api_util.cc), matched case-insensitively on the raw path.
_V1_PATH = re.compile(r"(?i)/v1/.*")
_PREDICTION_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
_STATUS_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?(?:/(metadata))?"
)
_INT64_MAX = (1 << 63) - 1
# Requests (and answers) up to this size are decoded (encoded) on the event loop while at most
# INLINE_CODEC_REQUESTS requests are in progress; bigger ones, or any under heavier load, in the
# worker threads, so the loop's turn stays short and health checks are answered in time.
INLINE_CODEC_BYTES = 64 * 1024
INLINE_CODEC_REQUESTS = 12
# Predict bodies over this are read into arrays in a child process (`RestApi._read_predict`):
# reading tens of megabytes of JSON is a few C calls (orjson, numpy) that each hold the GIL for
# up to a second per 60 MB, so in a worker thread they would still keep the loop waiting.
PROCESS_CODEC_BYTES = 8 * 1024 * 1024
_VERBS = ("predict", "classify", "regress")
_ADMITTED = "dlsuite.admitted"  # request key: counted by the API's `Admission` until answered
_CLOSE = "dlsuite.close"  # request key: its body could not be read, so its connection ends


def parse_model_info(
    method: str, path: str
) -> tuple[str, int | None, str | None, str | None, str | None] | None:
    """``ParseModelInfo``: ``(model, version, label, verb, subresource)`` of a raw ``/v1`` path, or
    None when it matches no route; model and label are %-decoded, an out-of-range version is 400."""
    regex = _PREDICTION_PATH if method == "POST" else _STATUS_PATH if method == "GET" else None
    match = regex.fullmatch(path) if regex is not None else None
    if match is None:
        return None
    name, version_text, label, last = match.groups()
    version = None
    if version_text:
        digits = version_text.lstrip("0") or "0"  # int() of thousands of digits is an error
        if len(digits) > 19 or int(digits) > _INT64_MAX:
            raise invalid(f"Failed to convert version: {version_text[:40]} to numeric.")
        version = int(digits)
    name = urllib.parse.unquote(name) if name else ""
    label = urllib.parse.unquote(label) if label else None
    verb, subresource = (last, None) if method == "POST" else (None, last)
    return name, version, label, verb, subresource


def _text_response(text: str) -> web.Response:
    """A response body written by `serving.server.tensors` (raw bytes of strings kept)."""
    return web.Response(body=to_bytes(text), content_type="application/json")  # bytes kept as sent


def _error(err: ServingError) -> web.Response:
    return json_response({"error": err.message}, err.http_status)


class RestApi:
    """The aiohttp application around a `ModelManager`."""

    def __init__(
        self,
        manager: ModelManager,
        executor: ThreadPoolExecutor,
        *,
        max_request_bytes: int,
        timeout_ms: int,
        prometheus_path: str | None,
        access_log: bool = False,
        cors_origins: tuple[str, ...] = (),
        security: ServerSecurity | None = None,
        overload: OverloadOptions | None = None,
        admission: Admission | None = None,
        limits: RequestLimits | None = None,
    ) -> None:
        """``admission`` is shared with the gRPC server (default: this API's own, of
        ``overload.max_concurrent_requests``)."""
        overload = overload or OverloadOptions()
        self.manager = manager
        self.limits = limits or RequestLimits()  # checked by the codecs (module functions above)
        self.admission = admission or Admission(overload.max_concurrent_requests)
        self.read_timeout_ms = overload.rest_read_timeout_in_ms
        self.cors_origins = cors_origins
        self.security = security or ServerSecurity()
        self.access_log = access_log
        self.executor = executor
        self.max_request_bytes = max_request_bytes
        self.timeout = timeout_ms / 1000 if timeout_ms > 0 else None
        self.prometheus_path = prometheus_path
        self._in_progress = 0  # requests between the access middleware's start and end
        self._reader: ProcessPoolExecutor | None = None  # started by the first huge predict body

    def close(self) -> None:
        """Stop the body-reading process, if one was started."""
        if self._reader is not None:
            self._reader.shutdown(wait=False, cancel_futures=True)

    def make_app(self) -> web.Application:
        """Build the application (its body limit is one byte above ``max_request_bytes``)."""
        middlewares = [self._access, self._cors] if self.cors_origins else [self._access]
        middlewares += self.security.rest_middlewares()  # inside CORS: a preflight needs no token
        app = web.Application(client_max_size=self.max_request_bytes + 1, middlewares=middlewares)
        get = functools.partial(app.router.add_get, expect_handler=expect_json)
        get(KSERVE_METRICS_PATH, self.metrics)
        if self.prometheus_path and self.prometheus_path != KSERVE_METRICS_PATH:
            get(self.prometheus_path, self.metrics)
        get("/v1/health/live", self.live)
        get("/v1/health/ready", self.ready)
        get("/v1/models", self.list_models)
        get("/v1/models/", self.list_models)
        get("/v2", self.v2_server_metadata)
        get("/v2/health/live", self.live)
        get("/v2/health/ready", self.v2_ready)
        for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            get(prefix, self.v2_metadata)
            get(prefix + "/ready", self.v2_model_ready)
            app.router.add_post(prefix + "/infer", self.v2_infer, expect_handler=expect_json)
        app.router.add_route("*", "/v1/{tail:.*}", self.v1, expect_handler=expect_json)
        app.router.add_route("*", "/{tail:.*}", self.fallback, expect_handler=expect_json)
        return app

    def make_runner(self, **kwargs: Any) -> web.AppRunner:
        """An aiohttp runner of `make_app` (``kwargs``: `web.AppRunner`'s) that answers what
        aiohttp's HTTP parser refuses in JSON (`_JsonErrorHandler`) and leaves request bodies
        as sent: `_read_body` decodes their Content-Encoding, within ``max_request_bytes``."""
        return JsonErrorRunner(self.make_app(), auto_decompress=False, **kwargs)

    # -- access log, health, listing ----------------------------------------------------------
    @web.middleware
    async def _access(self, request: web.Request, handler) -> web.StreamResponse:
        started = time.monotonic()
        request_id = make_request_id(request.headers.get("x-request-id"))
        request["access"] = {}
        self._in_progress += 1
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        finally:
            self._in_progress -= 1
            if _ADMITTED in request:  # let in by `_read_body`
                self.admission.leave()
        if response.status == 408 or _CLOSE in request:  # a body too slow or unreadable
            response.force_close()  # (`_read_body`): the connection ends
        response.headers["x-request-id"] = request_id
        if self.access_log:
            log_access(
                request_id,
                request.method,
                request.path,
                response.status,
                time.monotonic() - started,
                request["access"],
            )
        return response

    def _allowed_origin(self, origin: str | None) -> str | None:
        if not origin or not self.cors_origins:
            return None
        if "*" in self.cors_origins:
            return "*"
        return origin if origin in self.cors_origins else None

    @web.middleware
    async def _cors(self, request: web.Request, handler) -> web.StreamResponse:
        origin = self._allowed_origin(request.headers.get("Origin"))
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if origin is None:
                return json_response(
                    {"error": "CORS preflight from an origin that is not allowed"}, 403
                )
            response: web.StreamResponse = web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Methods": _CORS_METHODS,
                    "Access-Control-Allow-Headers": request.headers.get(
                        "Access-Control-Request-Headers", "Content-Type"
                    ),
                    "Access-Control-Max-Age": "600",
                },
            )
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = exc
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "x-request-id"
            if origin != "*":
                response.headers["Vary"] = "Origin"
        return response

    async def live(self, request: web.Request) -> web.Response:
        return json_response({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        problems = self.manager.not_ready()
        if problems:
            return json_response({"ready": False, "not_ready": problems}, 503)
        return json_response({"ready": True})

    async def list_models(self, request: web.Request) -> web.Response:
        return json_response(models_json(self.manager))

    # -- KServe V2 ----------------------------------------------------------------------------
    def _v2_target(self, request: web.Request, api: str) -> tuple[str, int | None, str | None]:
        name, version = request.match_info["name"], request.match_info.get("version")
        request["access"].update(api=api, model=name, version=version or "")
        return (name, *v2.version_target(version))

    async def v2_ready(self, request: web.Request) -> web.Response:
        problems = self.manager.not_ready()
        if problems:  # the V2 protocol answers 4xx for "false"
            return json_response(
                {
                    "ready": False,
                    "error": "; ".join(f"{name}: {why}" for name, why in problems.items()),
                    "not_ready": problems,
                },
                400,
            )
        return json_response({"ready": True})

    async def v2_server_metadata(self, request: web.Request) -> web.Response:
        return json_response(v2.server_metadata())

    async def v2_model_ready(self, request: web.Request) -> web.Response:
        try:
            name, version, label = self._v2_target(request, "v2_ready")
            states = [s.state for s in self.manager.status(name, version, label)]  # 404 if unknown
            if "AVAILABLE" not in states:
                return json_response(
                    {"name": name, "ready": False, "error": f"Model {name} is not ready"}, 400
                )
            return json_response({"name": name, "ready": True})
        except ServingError as err:
            return _error(err)

    async def v2_metadata(self, request: web.Request) -> web.Response:
        try:
            name, version, label = self._v2_target(request, "v2_metadata")
            signature = request.query.get("signature_name", "")
            request["access"]["signature"] = signature or "serving_default"
            return json_response(
                await self._call(v2.model_metadata, self.manager, name, version, label, signature)
            )
        except ServingError as err:
            return _error(err)

    async def v2_infer(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        served, status, name = "", "OK", request.match_info["name"]
        try:
            name, version, label = self._v2_target(request, "v2_infer")
            raw = await self._read_body(request)
            size = len(raw)
            async with self._deadline():
                infer = await self._codec(
                    size, v2_request, raw, request.headers.get(v2_binary.HEADER), self.limits
                )
                with self.manager.servable(name, version, label) as servable:
                    served, key = str(servable.version), servable.signature(infer.signature)
                    request["access"].update(version=served, signature=key)
                    feeds = await self._codec(
                        size, v2.prepare_inputs, servable, key, infer, self.limits
                    )
                    outputs = await servable.run_async(key, feeds, self.executor)
                    outputs = inference.selected(outputs, infer.outputs)
                    payload, json_length = await self._codec(
                        outputs_nbytes(outputs),
                        v2_answer,
                        infer,
                        name,
                        servable.version,
                        key,
                        outputs,
                    )
            if json_length is None:
                return web.Response(body=payload, content_type="application/json", charset="utf-8")
            return web.Response(
                body=payload,
                content_type="application/octet-stream",
                headers={v2_binary.HEADER: str(json_length)},
            )
        except ServingError as err:
            status = err.code
            return _error(err)
        except Exception as err:  # noqa: BLE001 - never crash on a request
            status = "INTERNAL"
            return json_response({"error": f"Internal error: {type(err).__name__}: {err}"}, 500)
        finally:
            if name in self.manager.model_names():
                self.manager.metrics.observe_request(
                    name, served, "v2_infer", "REST", status, time.monotonic() - started
                )

    async def _read_body(self, request: web.Request) -> bytes:
        """The body of an inference request, decoded from its Content-Encoding (identity, gzip
        or deflate), which from then on counts as in progress (`Admission`; the access
        middleware ends it): RESOURCE_EXHAUSTED (413) above ``--max_request_size_bytes`` (as
        sent or decoded), DEADLINE_EXCEEDED (408) when it has not arrived within
        ``--rest_read_timeout_in_ms``, UNAVAILABLE (429) past ``--max_concurrent_requests``,
        415 for another Content-Encoding, INVALID_ARGUMENT (400) when it does not decode.
        A body still arriving takes no place among the requests in progress."""
        if request.content_length is not None and request.content_length > self.max_request_bytes:
            raise ServingError("RESOURCE_EXHAUSTED", self._too_big(request.content_length), 413)
        encoding = request.headers.get("Content-Encoding", "").strip().lower() or "identity"
        if encoding != "identity" and encoding not in ENCODINGS:
            raise ServingError(
                "UNIMPLEMENTED",
                f"Content-Encoding {encoding[:100]!r} is not supported "
                f"(supported: identity, {', '.join(ENCODINGS)})",
                415,
            )
        try:
            if request.content.is_eof():  # all here already (a small body): no timer
                raw = await request.read()
            else:
                async with asyncio.timeout(self.read_timeout_ms / 1000):
                    raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ServingError("RESOURCE_EXHAUSTED", self._too_big(None), 413) from None
        except RequestPayloadError as err:  # e.g. a chunked body whose framing is broken
            request[_CLOSE] = True  # the rest of the stream cannot be trusted
            reason = " ".join(str(err).split()).removeprefix("400, message: ")
            raise invalid(f"Request body could not be read: {reason}") from None
        except TimeoutError:
            raise ServingError(
                "DEADLINE_EXCEEDED",
                f"Request body not received within {self.read_timeout_ms} ms "
                "(--rest_read_timeout_in_ms)",
                408,
            ) from None
        self.admission.enter()
        request[_ADMITTED] = True
        if encoding == "identity":
            return raw
        try:  # in a worker thread: a small body may decode to many megabytes
            return await asyncio.get_running_loop().run_in_executor(
                self.executor, decoded_body, raw, encoding, self.max_request_bytes
            )
        except ServingError:
            request[_CLOSE] = True  # a body that does not decode ends its connection
            raise

    # -- TF Serving's v1 API ------------------------------------------------------------------
    async def fallback(self, request: web.Request) -> web.Response:
        if _V1_PATH.fullmatch(request.path):  # TF Serving matches /v1/ in any case
            return await self.v1(request)
        return json_response({"error": f"Malformed request: {request.method} {request.path}"}, 404)

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.manager.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": self.manager.metrics.content_type})

    @contextlib.asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        """``--rest_api_timeout_in_ms`` over what runs inside (DEADLINE_EXCEEDED when over); a
        model call not started by then is dropped (`overload.deadline_within`)."""
        try:
            async with asyncio.timeout(self.timeout):  # no extra task per request (wait_for's)
                with deadline_within(self.timeout):
                    yield
        except TimeoutError:
            raise ServingError("DEADLINE_EXCEEDED", "Request timed out") from None

    async def _call(self, fn, *args):  # -> Any
        """``fn(*args)`` in the worker threads, within the request timeout (its deadline goes
        along: the thread runs in a copy of this context)."""
        async with self._deadline():
            call = functools.partial(contextvars.copy_context().run, fn, *args)
            return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def _codec(self, size: int, fn, *args):  # -> Any
        """A codec step (decode or encode) of ``size`` bytes: on the event loop when it is small
        (`INLINE_CODEC_BYTES`) and few requests are in progress (`INLINE_CODEC_REQUESTS`), so a
        request costs no thread hand-off but the model call's; otherwise in the worker threads,
        so neither a big body nor a crowd of them keeps the loop (and health checks) waiting."""
        if size <= INLINE_CODEC_BYTES and self._in_progress <= INLINE_CODEC_REQUESTS:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _read_predict(self, raw: bytes) -> tuple[dict, DenseBody | None]:
        """`predict_body` of a ``:predict`` body. Over `PROCESS_CODEC_BYTES` a dense body (what
        clients send: images, feature matrices) is read in a child process, so that neither the
        loop nor the other requests wait for the GIL meanwhile; any other body is parsed in a
        worker thread, as smaller ones are."""
        if len(raw) <= PROCESS_CODEC_BYTES:
            return await self._codec(len(raw), predict_body, raw, self.limits)
        if self._reader is None:
            context = multiprocessing.get_context("spawn")  # no forked TensorFlow state
            self._reader = ProcessPoolExecutor(1, mp_context=context)
        loop = asyncio.get_running_loop()
        try:
            dense, error = await loop.run_in_executor(
                self._reader, dense_in_child, raw, self.limits
            )
        except BrokenProcessPool:  # it died reading this body (out of memory?): a new one next
            self._reader = None
            raise ServingError(
                "RESOURCE_EXHAUSTED",
                "The process reading the request body ended while reading it (out of memory?)",
                413,
            ) from None
        if error is not None:
            raise ServingError(*error)
        if dense is not None:
            return dense.doc, dense
        return await self._codec(len(raw), parse_json, raw, self.limits), None

    async def v1(self, request: web.Request) -> web.Response:
        """Every ``/v1/...`` request, routed as ``HttpRestApiHandler::ProcessRequest`` routes it:
        anything that is not a status/metadata GET or a predict/classify/regress POST is 400
        ``Malformed request: <METHOD> <path>``."""
        method, path = request.method, request.raw_path.split("?", 1)[0]
        try:
            target = parse_model_info(method, path)
            if target is not None:
                name, version, label, verb, subresource = target
                if method == "POST" and verb in _VERBS:
                    return await self._post(request, name, version, label, verb)
                if method == "GET":
                    return await self._get(request, name, version, label, verb, subresource)
            raise invalid(f"Malformed request: {method} {path}")
        except ServingError as err:
            return _error(err)

    async def _get(
        self,
        request: web.Request,
        name: str,
        version: int | None,
        label: str | None,
        _verb: str | None,
        subresource: str | None,
    ) -> web.Response:
        request["access"].update(
            api="metadata" if subresource else "status",
            model=name,
            version=""
            if version is None and label is None
            else str(version if version is not None else label),
        )
        if not name:
            raise invalid("Missing model name in request.")
        if subresource == "metadata":  # case-sensitive in TF Serving: /METADATA answers the status
            return json_response(
                await self._call(metadata_json, self.manager, name, version, label)
            )
        return json_response(status_json(self.manager, name, version, label))

    async def _post(
        self, request: web.Request, name: str, version: int | None, label: str | None, verb: str
    ) -> web.Response:
        started = time.monotonic()
        served, status = "", "OK"
        request["access"].update(
            api=verb,
            model=name,
            version=""
            if version is None and label is None
            else str(version if version is not None else label),
        )
        try:
            raw = await self._read_body(request)
            async with self._deadline():
                if verb == "predict":
                    doc, dense = await self._read_predict(raw)
                else:
                    doc, dense = await self._codec(len(raw), parse_json, raw, self.limits), None
                signame = signature_name(doc)
                request["access"]["signature"] = signame or DEFAULT_SIGNATURE
                if verb == "predict":
                    text, served, signature = await self._predict(
                        name, version, label, raw, doc, dense, signame
                    )
                else:
                    text, served, signature = await self._call(
                        examples_v1_json,
                        self.manager,
                        verb,
                        name,
                        version,
                        label,
                        doc,
                        signame,
                        self.limits,
                    )
            request["access"].update(version=served, signature=signature)
            return _text_response(text)
        except ServingError as err:
            status = err.code
            return _error(err)
        except Exception as err:  # noqa: BLE001 - never crash on a request
            status = "INTERNAL"
            return json_response({"error": f"Internal error: {type(err).__name__}: {err}"}, 500)
        finally:
            if name in self.manager.model_names():  # no metric labels for made-up names
                self.manager.metrics.observe_request(
                    name, served, verb, "REST", status, time.monotonic() - started
                )

    async def _predict(
        self,
        name: str,
        version: int | None,
        label: str | None,
        raw: bytes,
        doc: dict,
        dense: DenseBody | None,
        signame: str,
    ) -> tuple[str, str, str]:
        """A v1 ``:predict`` on the one predict path: TF Serving JSON decoded, the model run (or
        queued to the batcher) from the event loop, the answer printed as TF Serving prints it;
        returns ``(response body text, version served, signature key)``."""
        with inference.servable_handle(self.manager, name, version, label) as servable:
            key, feeds, row_format = await self._codec(
                len(raw), predict_request, servable, raw, doc, dense, signame, self.limits
            )
            outputs = await servable.run_async(key, feeds, self.executor)
            logger = self.manager.request_logger(name)
            if logger is not None:
                await self._call(
                    log_predict, logger, servable.name, servable.version, key, feeds, outputs
                )
            text = await self._codec(outputs_nbytes(outputs), predict_json, outputs, row_format)
            return text, str(servable.version), key

    def _too_big(self, size: int | None) -> str:
        got = f" ({size} bytes)" if size is not None else ""
        return (
            f"Request body{got} is larger than the maximum of {self.max_request_bytes} bytes "
            "(--max_request_size_bytes)"
        )
