"""TF Serving's REST API (``api_rest.md``) as an aiohttp application.

``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]``            model status
``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata``   signature defs
``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:(predict|classify|regress)``
Errors are ``{"error": "..."}`` with TF Serving's HTTP status. TensorFlow runs in a thread pool so
the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from serving.server import inference
from serving.server.errors import ServingError, invalid
from serving.server.manager import ModelManager
from serving.server.tensors import examples_from_body, outputs_to_json, parse_predict_body

_PATH = re.compile(
    r"^(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>-?\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?$"
)


def _json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


def _error(err: ServingError) -> web.Response:
    return _json_response({"error": err.message}, err.http_status)


def status_json(manager: ModelManager, name: str, version: int | None, label: str | None) -> dict:
    """``GetModelStatusResponse`` as TF Serving prints it in JSON."""
    return {"model_version_status": [
        {"version": str(s.version), "state": s.state,
         "status": {"error_code": s.error_code, "error_message": s.error_message}}
        for s in manager.status(name, version, label)]}


def metadata_json(manager: ModelManager, name: str, version: int | None, label: str | None) -> dict:
    """``GetModelMetadataResponse`` as TF Serving prints it in JSON."""
    from google.protobuf import json_format

    with manager.servable(name, version, label) as servable:
        sig_map = {k: json_format.MessageToDict(v, preserving_proto_field_name=True)
                   for k, v in sorted(servable.signature_defs.items())}
        return {"model_spec": {"name": servable.name, "signature_name": "",
                               "version": str(servable.version)},
                "metadata": {"signature_def": {"signature_def": sig_map}}}


def _run(manager: ModelManager, verb: str, name: str, version: int | None, label: str | None,
         body: Any) -> tuple[dict, str]:
    """Run one POST verb in a worker thread; returns ``(response body, version served)``."""
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    signature = body.get("signature_name", "")
    if not isinstance(signature, str):
        raise invalid("'signature_name' must be a string")
    with manager.servable(name, version, label) as servable:
        if verb == "predict":
            key = servable.signature(signature)
            inputs, row_format = parse_predict_body(body, servable.input_specs[key])
            return outputs_to_json(servable.run(key, inputs), row_format), str(servable.version)
        examples = examples_from_body(body)
        if verb == "classify":
            rows = inference.classify(servable, signature, examples)
            return {"results": [[[label_, score] for label_, score in row] for row in rows]}, str(servable.version)
        return {"results": inference.regress(servable, signature, examples)}, str(servable.version)


class RestApi:
    """The aiohttp application around a `ModelManager`."""

    def __init__(self, manager: ModelManager, executor: ThreadPoolExecutor, *,
                 max_request_bytes: int, timeout_ms: int, prometheus_path: str | None) -> None:
        self.manager = manager
        self.executor = executor
        self.max_request_bytes = max_request_bytes
        self.timeout = timeout_ms / 1000 if timeout_ms > 0 else None
        self.prometheus_path = prometheus_path

    def make_app(self) -> web.Application:
        """Build the application (its body limit is one byte above ``max_request_bytes``)."""
        app = web.Application(client_max_size=self.max_request_bytes + 1)
        if self.prometheus_path:
            app.router.add_get(self.prometheus_path, self.metrics)
        app.router.add_get("/v1/models/{tail:.*}", self.get)
        app.router.add_post("/v1/models/{tail:.*}", self.post)
        app.router.add_route("*", "/{tail:.*}", self.fallback)
        return app

    async def fallback(self, request: web.Request) -> web.Response:
        return _json_response({"error": f"Malformed request: {request.method} {request.path}"}, 404)

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.manager.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": self.manager.metrics.content_type})

    def _route(self, request: web.Request) -> tuple[str, int | None, str | None, str | None, bool]:
        tail = request.match_info["tail"]
        match = _PATH.match(tail)
        if match is None or ".." in tail:
            raise ServingError("NOT_FOUND", f"Malformed request: {request.method} {request.path}")
        version = int(match["version"]) if match["version"] is not None else None
        return match["name"], version, match["label"], match["verb"], bool(match["metadata"])

    async def _call(self, fn, *args):  # -> Any
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, fn, *args)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            raise ServingError("DEADLINE_EXCEEDED", "Request timed out") from None

    async def get(self, request: web.Request) -> web.Response:
        try:
            name, version, label, verb, metadata = self._route(request)
            if verb is not None:
                raise ServingError("INVALID_ARGUMENT",
                                   f"Malformed request: GET {request.path} (use POST for :{verb})")
            if metadata:
                return _json_response(await self._call(metadata_json, self.manager, name, version, label))
            return _json_response(status_json(self.manager, name, version, label))
        except ServingError as err:
            return _error(err)

    async def post(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        name, served, verb = "", "", "unknown"
        status = "OK"
        try:
            name, version, label, verb, metadata = self._route(request)
            if verb is None:
                raise ServingError("INVALID_ARGUMENT", f"Malformed request: POST {request.path}")
            if request.content_length is not None and request.content_length > self.max_request_bytes:
                raise ServingError("RESOURCE_EXHAUSTED", self._too_big(request.content_length), 413)
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise ServingError("RESOURCE_EXHAUSTED", self._too_big(None), 413) from None
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise invalid(f"JSON Parse error: {err}") from None
            result, served = await self._call(_run, self.manager, verb, name, version, label, body)
            return _json_response(result)
        except ServingError as err:
            status = err.code
            return _error(err)
        except Exception as err:  # noqa: BLE001 - never crash on a request
            status = "INTERNAL"
            return _json_response({"error": f"Internal error: {type(err).__name__}: {err}"}, 500)
        finally:
            if name in self.manager.model_names():  # no metric labels for made-up names
                self.manager.metrics.observe_request(name, served, verb, "REST", status,
                                                     time.monotonic() - started)

    def _too_big(self, size: int | None) -> str:
        got = f" ({size} bytes)" if size is not None else ""
        return f"Request body{got} is larger than the maximum of {self.max_request_bytes} bytes"
