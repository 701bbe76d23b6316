"""TF Serving's REST API (``api_rest.md``) as an aiohttp application.

``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]``            model status
``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata``   signature defs
``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:(predict|classify|regress)``
Errors are ``{"error": "..."}`` with TF Serving's HTTP status. TensorFlow runs in a thread pool so
the event loop stays responsive.

dlsuite extensions: ``GET /v1/health/live``, ``GET /v1/health/ready``, ``GET /v1/models`` (listing),
the KServe V2 REST protocol under ``/v2`` (`serving.server.v2`), an ``x-request-id`` header on every
response and, with ``access_log``, one JSON access-log line per request on ``dlsuite.access``;
Prometheus metrics at ``/metrics`` (KServe's scrape path); CORS for the origins of
``--cors_allowed_origins`` (preflight ``OPTIONS`` answered 204, off by default).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from serving.server import inference, v2
from serving.server.access_log import log_access, request_id as make_request_id
from serving.server.errors import ServingError, invalid
from serving.server.manager import ModelManager
from serving.server.tensors import (
    array_to_tensor_proto,
    examples_from_body,
    outputs_to_json,
    parse_predict_body,
)

KSERVE_METRICS_PATH = "/metrics"
_CORS_METHODS = "GET, POST, OPTIONS"

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


def models_json(manager: ModelManager) -> dict:
    """Every configured model with its versions' status (``GET /v1/models``)."""
    models = []
    for name in manager.model_names():
        try:
            versions = status_json(manager, name, None, None)["model_version_status"]
        except ServingError:
            versions = []
        models.append({"name": name, "model_version_status": versions})
    return {"models": models}


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
            outputs = servable.run(key, inputs)
            logger = manager.request_logger(name)
            if logger is not None:
                _log_predict(logger, servable.name, servable.version, key, inputs, outputs)
            return outputs_to_json(outputs, row_format), str(servable.version)
        examples = examples_from_body(body)
        if verb == "classify":
            rows = inference.classify(servable, signature, examples)
            result: Any = [[[label_, score] for label_, score in row] for row in rows]
        else:
            result = inference.regress(servable, signature, examples)
        logger = manager.request_logger(name)
        if logger is not None:
            _log_examples(logger, servable, verb, signature, examples, result)
        return {"results": result}, str(servable.version)


def _log_predict(logger: Any, name: str, version: int, key: str, inputs: dict, outputs: dict) -> None:
    """Write a REST predict as the ``PredictRequest``/``PredictResponse`` TF Serving would log."""
    from tensorflow_serving.apis import predict_pb2

    request, response = predict_pb2.PredictRequest(), predict_pb2.PredictResponse()
    for spec in (request.model_spec, response.model_spec):
        spec.name, spec.signature_name = name, key
    response.model_spec.version.value = version
    for input_name, value in inputs.items():
        request.inputs[input_name].CopyFrom(array_to_tensor_proto(value))
    for output_name, value in outputs.items():
        response.outputs[output_name].CopyFrom(array_to_tensor_proto(value))
    logger.write("predict", request, response, version, key)


def _log_examples(logger: Any, servable: Any, verb: str, signature: str, examples: list,
                  result: list) -> None:
    """Write a REST classify/regress as the ``Classification``/``Regression`` protos TF Serving would log."""
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    from serving.signatures import CLASSIFY_METHOD, REGRESS_METHOD

    classify = verb == "classify"
    key = servable.signature(signature, CLASSIFY_METHOD if classify else REGRESS_METHOD)
    module = classification_pb2 if classify else regression_pb2
    request = module.ClassificationRequest() if classify else module.RegressionRequest()
    response = module.ClassificationResponse() if classify else module.RegressionResponse()
    for spec in (request.model_spec, response.model_spec):
        spec.name, spec.signature_name = servable.name, key
    response.model_spec.version.value = servable.version
    request.input.example_list.examples.extend(examples)
    for row in result:
        if classify:
            item = response.result.classifications.add()
            for label, score in row:
                item.classes.add(label=label, score=score)
        else:
            response.result.regressions.add(value=row)
    logger.write(verb, request, response, servable.version, key)


class RestApi:
    """The aiohttp application around a `ModelManager`."""

    def __init__(self, manager: ModelManager, executor: ThreadPoolExecutor, *,
                 max_request_bytes: int, timeout_ms: int, prometheus_path: str | None,
                 access_log: bool = False, cors_origins: tuple[str, ...] = ()) -> None:
        self.manager = manager
        self.cors_origins = cors_origins
        self.access_log = access_log
        self.executor = executor
        self.max_request_bytes = max_request_bytes
        self.timeout = timeout_ms / 1000 if timeout_ms > 0 else None
        self.prometheus_path = prometheus_path

    def make_app(self) -> web.Application:
        """Build the application (its body limit is one byte above ``max_request_bytes``)."""
        app = web.Application(client_max_size=self.max_request_bytes + 1,
                              middlewares=[self._access, self._cors])
        app.router.add_get(KSERVE_METRICS_PATH, self.metrics)
        if self.prometheus_path and self.prometheus_path != KSERVE_METRICS_PATH:
            app.router.add_get(self.prometheus_path, self.metrics)
        app.router.add_get("/v1/health/live", self.live)
        app.router.add_get("/v1/health/ready", self.ready)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_get("/v1/models/", self.list_models)
        app.router.add_get("/v2/health/live", self.live)
        app.router.add_get("/v2/health/ready", self.v2_ready)
        for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            app.router.add_get(prefix, self.v2_metadata)
            app.router.add_get(prefix + "/ready", self.v2_model_ready)
            app.router.add_post(prefix + "/infer", self.v2_infer)
        app.router.add_get("/v1/models/{tail:.*}", self.get)
        app.router.add_post("/v1/models/{tail:.*}", self.post)
        app.router.add_route("*", "/{tail:.*}", self.fallback)
        return app

    # -- access log, health, listing ----------------------------------------------------------
    @web.middleware
    async def _access(self, request: web.Request, handler) -> web.StreamResponse:
        started = time.monotonic()
        request_id = make_request_id(request.headers.get("x-request-id"))
        request["access"] = {}
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        response.headers["x-request-id"] = request_id
        if self.access_log:
            log_access(request_id, request.method, request.path, response.status,
                       time.monotonic() - started, request["access"])
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
                return _json_response({"error": "CORS preflight from an origin that is not allowed"}, 403)
            response: web.StreamResponse = web.Response(status=204, headers={
                "Access-Control-Allow-Methods": _CORS_METHODS,
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", "Content-Type"),
                "Access-Control-Max-Age": "600"})
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
        return _json_response({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        problems = self.manager.not_ready()
        if problems:
            return _json_response({"ready": False, "not_ready": problems}, 503)
        return _json_response({"ready": True})

    async def list_models(self, request: web.Request) -> web.Response:
        return _json_response(models_json(self.manager))

    # -- KServe V2 ----------------------------------------------------------------------------
    def _v2_target(self, request: web.Request, api: str) -> tuple[str, int | None, str | None]:
        name, version = request.match_info["name"], request.match_info.get("version")
        request["access"].update(api=api, model=name, version=version or "")
        if version is None:
            return name, None, None
        return (name, int(version), None) if re.fullmatch(r"-?\d+", version) else (name, None, version)

    async def v2_ready(self, request: web.Request) -> web.Response:
        problems = self.manager.not_ready()
        if problems:  # the V2 protocol answers 4xx for "false"
            return _json_response({"ready": False, "error": "; ".join(
                f"{name}: {why}" for name, why in problems.items()), "not_ready": problems}, 400)
        return _json_response({"ready": True})

    async def v2_model_ready(self, request: web.Request) -> web.Response:
        try:
            name, version, label = self._v2_target(request, "v2_ready")
            states = [s.state for s in self.manager.status(name, version, label)]  # 404 if unknown
            if "AVAILABLE" not in states:
                return _json_response({"name": name, "ready": False,
                                       "error": f"Model {name} is not ready"}, 400)
            return _json_response({"name": name, "ready": True})
        except ServingError as err:
            return _error(err)

    async def v2_metadata(self, request: web.Request) -> web.Response:
        try:
            name, version, label = self._v2_target(request, "v2_metadata")
            signature = request.query.get("signature_name", "")
            request["access"]["signature"] = signature or "serving_default"
            return _json_response(await self._call(v2.model_metadata, self.manager, name, version,
                                                   label, signature))
        except ServingError as err:
            return _error(err)

    async def v2_infer(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        served, status, name = "", "OK", request.match_info["name"]
        try:
            name, version, label = self._v2_target(request, "v2_infer")
            body = await self._read_json(request)
            result, served, signature = await self._call(v2.infer, self.manager, name, version,
                                                         label, body)
            request["access"].update(version=served, signature=signature)
            return _json_response(result)
        except ServingError as err:
            status = err.code
            return _error(err)
        except Exception as err:  # noqa: BLE001 - never crash on a request
            status = "INTERNAL"
            return _json_response({"error": f"Internal error: {type(err).__name__}: {err}"}, 500)
        finally:
            if name in self.manager.model_names():
                self.manager.metrics.observe_request(name, served, "v2_infer", "REST", status,
                                                     time.monotonic() - started)

    async def _read_json(self, request: web.Request) -> Any:
        if request.content_length is not None and request.content_length > self.max_request_bytes:
            raise ServingError("RESOURCE_EXHAUSTED", self._too_big(request.content_length), 413)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ServingError("RESOURCE_EXHAUSTED", self._too_big(None), 413) from None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise invalid(f"JSON Parse error: {err}") from None

    # -- TF Serving's v1 API ------------------------------------------------------------------
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
            request["access"].update(api="metadata" if metadata else "status", model=name,
                                     version=str(version or label or ""))
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
            request["access"].update(api=verb or "", model=name, version=str(version or label or ""))
            if verb is None:
                raise ServingError("INVALID_ARGUMENT", f"Malformed request: POST {request.path}")
            body = await self._read_json(request)
            if isinstance(body, dict) and isinstance(body.get("signature_name", ""), str):
                request["access"]["signature"] = body.get("signature_name") or "serving_default"
            result, served = await self._call(_run, self.manager, verb, name, version, label, body)
            request["access"]["version"] = served
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
        return (f"Request body{got} is larger than the maximum of {self.max_request_bytes} bytes "
                "(--max_request_size_bytes)")
