"""TF Serving's gRPC services: ``PredictionService`` and ``ModelService`` (plus KServe V2's
``GRPCInferenceService`` from `serving.server.v2_grpc` and the standard ``grpc.health.v1.Health``
from `serving.server.health_grpc`).

Built on the generated stubs of ``tensorflow-serving-api``; errors are aborted with TF Serving's
status codes (NOT_FOUND for an unknown model/version/label, INVALID_ARGUMENT for bad input,
RESOURCE_EXHAUSTED for an oversized message). grpc enforces ``--grpc_max_receive_message_bytes``
itself ("Received message larger than max (N vs. LIMIT)"); responses above
``--grpc_max_send_message_bytes`` are answered RESOURCE_EXHAUSTED with a message naming the flag.
Sampled requests of models with a ``logging_config`` are written as ``PredictionLog`` records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import grpc
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    status_pb2,
)

from dlsuite.serving.server import health_grpc, inference, v2_grpc
from dlsuite.serving.server.access_log import log_access, request_id
from dlsuite.serving.server.config import GRPC_UNLIMITED, OverloadOptions, RequestLimits
from dlsuite.serving.server.errors import ServingError, invalid
from dlsuite.serving.server.manager import ModelManager
from dlsuite.serving.server.overload import Admission, AdmissionInterceptor
from dlsuite.serving.server.security import ServerSecurity


def _version_of(spec: Any) -> tuple[int | None, str | None]:
    which = spec.WhichOneof("version_choice")
    if which == "version":
        return int(spec.version.value), None
    if which == "version_label":
        return None, spec.version_label
    return None, None


def _spec(request: Any) -> Any:
    """The request's ``model_spec``, or None when it has none."""
    return request.model_spec if request.HasField("model_spec") else None


def _error_code_number(name: str) -> int:
    enum = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type
    value = enum.values_by_name.get(name) or enum.values_by_name["UNKNOWN"]
    return value.number


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata."""

    def __init__(
        self,
        manager: ModelManager,
        access_log: bool = False,
        max_send_bytes: int = GRPC_UNLIMITED,
        limits: RequestLimits | None = None,
    ) -> None:
        self.manager = manager
        self.access_log = access_log
        self.max_send_bytes = max_send_bytes
        self.limits = limits or RequestLimits()  # Predict, Classify, Regress, MultiInference

    def _finish(self, api: str, request: Any, response: Any, version: int) -> Any:
        size = response.ByteSize()
        if size > self.max_send_bytes:
            raise ServingError(
                "RESOURCE_EXHAUSTED",
                f"Response message ({size} bytes) is larger than "
                f"--grpc_max_send_message_bytes={self.max_send_bytes}",
            )
        logger = self.manager.request_logger(
            request.model_spec.name
            if api != "multi_inference"
            else request.tasks[0].model_spec.name
        )
        if logger is not None and api != "metadata":
            spec = (
                response.model_spec if api != "multi_inference" else response.results[0].model_spec
            )
            logger.write(api, request, response, version, spec.signature_name)
        return response

    def _serve(
        self,
        api: str,
        request: Any,
        spec: Any,
        fn: Callable[[Any, Any], Any],
        context: Any,
        precheck: Callable[[Any], None] | None = None,
    ) -> Any:
        """Resolve ``spec`` as ServerCore does and answer with ``fn``; ``spec`` is None when the
        request has no ``model_spec`` (INVALID_ARGUMENT ``Missing ModelSpec``)."""
        started = time.monotonic()
        status, served = "OK", ""
        rid = request_id(dict(context.invocation_metadata()).get("x-request-id"))
        context.send_initial_metadata((("x-request-id", rid),))
        name = spec.name if spec is not None else ""
        try:
            if spec is None:
                raise invalid("Missing ModelSpec")
            if precheck is not None:
                precheck(request)
            version, label = _version_of(spec)
            with inference.servable_handle(self.manager, spec.name, version, label) as servable:
                served = str(servable.version)
                return self._finish(api, request, fn(servable, request), servable.version)
        except ServingError as err:
            status = err.code
            context.abort(err.grpc_code, err.message)
        except Exception as err:  # noqa: BLE001 - never crash on a request
            status = "INTERNAL"
            context.abort(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}")
        finally:
            if name in self.manager.model_names():
                self.manager.metrics.observe_request(
                    name, served, api, "GRPC", status, time.monotonic() - started
                )
            if self.access_log:
                version, label = _version_of(spec) if spec is not None else (None, None)
                log_access(
                    rid,
                    "GRPC",
                    f"PredictionService/{api}",
                    status,
                    time.monotonic() - started,
                    {
                        "api": api,
                        "model": name,
                        "signature": (spec.signature_name if spec is not None else "")
                        or "serving_default",
                        "version": served or str(version or label or ""),
                    },
                )

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        answer = partial(inference.predict_proto, limits=self.limits)
        return self._serve("predict", request, _spec(request), answer, context)

    def Classify(self, request, context):  # noqa: N802
        answer = partial(inference.classify_proto, limits=self.limits)
        return self._serve("classify", request, _spec(request), answer, context)

    def Regress(self, request, context):  # noqa: N802
        answer = partial(inference.regress_proto, limits=self.limits)
        return self._serve("regress", request, _spec(request), answer, context)

    def MultiInference(self, request, context):  # noqa: N802
        if not request.tasks:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Found no inference tasks")
        return self._serve(
            "multi_inference",
            request,
            request.tasks[0].model_spec,
            partial(inference.multi_inference_proto, limits=self.limits),
            context,
        )

    def GetModelMetadata(self, request, context):  # noqa: N802
        return self._serve(
            "metadata",
            request,
            _spec(request),
            inference.metadata_proto,
            context,
            precheck=inference.check_metadata_request,
        )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest (refused unless `ServerSecurity.admit_reload`
    accepts the new config: ``--enable_model_management``, base paths and log paths)."""

    def __init__(self, manager: ModelManager, security: ServerSecurity | None = None) -> None:
        self.manager = manager
        self.security = security or ServerSecurity()

    def GetModelStatus(self, request, context):  # noqa: N802
        """``GetModelStatusImpl``: a version label is ignored (all versions), as in TF Serving."""
        try:
            if not request.HasField("model_spec"):
                raise invalid("Missing ModelSpec")
            version, _label = _version_of(request.model_spec)
            entries = inference.model_status(self.manager, request.model_spec.name, version)
        except ServingError as err:
            context.abort(err.grpc_code, err.message)
        response = get_model_status_pb2.GetModelStatusResponse()
        for entry in entries:
            item = response.model_version_status.add()
            item.version = entry.version
            item.state = get_model_status_pb2.ModelVersionStatus.State.Value(entry.state)
            item.status.error_code = _error_code_number(entry.error_code)
            item.status.error_message = entry.error_message
        return response

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.manager.reload_config(self.security.admit_reload(request.config))
        except (ServingError, ValueError) as err:
            code = err.code if isinstance(err, ServingError) else "INVALID_ARGUMENT"
            message = err.message if isinstance(err, ServingError) else str(err)
            response.status.error_code = _error_code_number(code)
            response.status.error_message = message
            context.abort(getattr(grpc.StatusCode, code), message)
        return response


class _Unparsable:
    """What `ParseErrorInterceptor`'s deserializer gives for bytes that are not the message."""

    def __init__(self, message: str, error: Exception) -> None:
        self.text = f"The request is not a valid {message} message: {error}"


class ParseErrorInterceptor(grpc.ServerInterceptor):
    """A unary request whose bytes do not parse as its method's message is answered
    INVALID_ARGUMENT naming the message, not grpc-python's INTERNAL ``Exception deserializing
    request!``: the deserializer is wrapped to hand such bytes on as `_Unparsable`, and the method
    refuses it. Listed last among the interceptors, so the token check still comes first (the
    outer ones keep this deserializer)."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[Any, Any]] = {}  # method -> (its handler, wrapped)

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = (handler, self._wrap(handler))
            self._wrapped[method] = cached
        return cached[1]

    @staticmethod
    def _wrap(handler: Any) -> Any:
        parse = handler.request_deserializer
        message = getattr(getattr(parse, "__self__", None), "DESCRIPTOR", None)
        name = message.full_name if message is not None else "request"

        def deserialize(data: bytes) -> Any:
            try:
                return parse(data)
            except Exception as err:  # noqa: BLE001 - protobuf's DecodeError, or worse bytes
                return _Unparsable(name, err)

        streaming = handler.response_streaming
        inner = handler.unary_stream if streaming else handler.unary_unary

        def behavior(request: Any, context: Any) -> Any:
            if isinstance(request, _Unparsable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.text)
            return inner(request, context)

        if streaming:
            make = grpc.unary_stream_rpc_method_handler
        else:
            make = grpc.unary_unary_rpc_method_handler
        return make(
            behavior,
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )


def make_grpc_server(
    manager: ModelManager,
    host: str,
    port: int,
    max_request_bytes: int,
    workers: int = 32,
    access_log: bool = False,
    max_send_bytes: int = GRPC_UNLIMITED,
    reuse_port: bool = False,
    security: ServerSecurity | None = None,
    admission: Admission | None = None,
    limits: RequestLimits | None = None,
) -> tuple[grpc.Server, int]:
    """A started threaded gRPC server with all its services; returns ``(server, bound port)``.

    ``reuse_port`` lets other processes bind the same port (``--num_processes``); without it a
    port already taken is an error, not a silently shared port (gRPC's default on Linux).
    ``security`` adds TLS, the bearer token check and path hiding (`serving.server.security`).
    ``admission`` (shared with the REST API; default: its own of ``--max_concurrent_requests``'s
    default) bounds the inference RPCs in progress and gives them their client's deadline
    (`overload.AdmissionInterceptor`); at most ``admission.limit + workers`` RPCs of any kind are
    in progress or waiting for a thread, past that grpc answers RESOURCE_EXHAUSTED ``Concurrent
    RPC limit exceeded!`` at once.
    """
    admission = admission or Admission(OverloadOptions().max_concurrent_requests)
    security = security or ServerSecurity()
    options = [
        ("grpc.max_receive_message_length", max_request_bytes),
        ("grpc.max_send_message_length", max_send_bytes),
        ("grpc.so_reuseport", int(reuse_port)),
    ]
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        options=options,
        interceptors=[
            *security.grpc_interceptors(),
            AdmissionInterceptor(admission),
            ParseErrorInterceptor(),
        ],
        maximum_concurrent_rpcs=admission.limit + workers,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, access_log, max_send_bytes, limits), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(manager, security), server
    )
    v2_grpc.add_to_server(manager, server, limits or RequestLimits())
    health_grpc.add_to_server(manager, server)
    address = f"{host}:{port}"
    if security.grpc_credentials is not None:
        bound = server.add_secure_port(address, security.grpc_credentials)
    else:
        bound = server.add_insecure_port(address)
    if bound == 0:
        raise ValueError(f"cannot bind the gRPC port {host}:{port}")
    server.start()
    return server, bound
