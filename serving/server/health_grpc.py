"""The standard gRPC health service ``grpc.health.v1.Health`` (what Kubernetes gRPC probes call).

Status is SERVING for the overall service ``""`` and for each service of the gRPC port
(``tensorflow.serving.PredictionService``, ``tensorflow.serving.ModelService``,
``inference.GRPCInferenceService``) when every configured model has an AVAILABLE version and none
is still loading (`ModelManager.not_ready` is empty, the rule of ``/v1/health/ready``),
NOT_SERVING otherwise. A thread re-reads it every ``poll_seconds`` and wakes the ``Watch``
streams when it changes; ``Check`` of an unknown service answers NOT_FOUND and ``Watch`` of one
sends SERVICE_UNKNOWN, as grpcio-health-checking's servicer does.

The messages are those of grpc's ``grpc/health/v1/health.proto`` (package, names and numbers),
declared field by field into a private descriptor pool like `serving.server.v2_grpc`:
grpcio-health-checking cannot be installed beside the pinned stack (every release that accepts
the pinned grpcio 1.74 needs protobuf < 7, the pinned protobuf is 7.x, and the releases built for
protobuf 7 need grpcio >= 1.82, whose typing-extensions >= 4.12 clashes with tf-agents' pin).
Clients use the standard stubs (``grpc_health.v1.health_pb2_grpc.HealthStub``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc

from dlsuite.serving.server.manager import ModelManager

SERVICE = "grpc.health.v1.Health"
SERVICES = (
    "",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
    "inference.GRPCInferenceService",
)
UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN = 0, 1, 2, 3
_MESSAGES: dict[str, Any] = {}


def messages() -> dict[str, Any]:
    """The message classes of ``grpc/health/v1/health.proto`` by name (built once)."""
    if _MESSAGES:
        return _MESSAGES
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="dlsuite/grpc_health_v1.proto", package="grpc.health.v1", syntax="proto3"
    )
    request = file.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    response = file.message_type.add(name="HealthCheckResponse")
    enum = response.enum_type.add(name="ServingStatus")
    for name, number in (
        ("UNKNOWN", UNKNOWN),
        ("SERVING", SERVING),
        ("NOT_SERVING", NOT_SERVING),
        ("SERVICE_UNKNOWN", SERVICE_UNKNOWN),
    ):
        enum.value.add(name=name, number=number)
    response.field.add(
        name="status",
        number=1,
        type=f.TYPE_ENUM,
        label=f.LABEL_OPTIONAL,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
    )
    file.message_type.add(name="HealthListRequest")
    listing = file.message_type.add(name="HealthListResponse")
    entry = listing.nested_type.add(name="StatusesEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    entry.field.add(
        name="value",
        number=2,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_OPTIONAL,
        type_name=".grpc.health.v1.HealthCheckResponse",
    )
    listing.field.add(
        name="statuses",
        number=1,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_REPEATED,
        type_name=".grpc.health.v1.HealthListResponse.StatusesEntry",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    for msg in file.message_type:
        _MESSAGES[msg.name] = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"grpc.health.v1.{msg.name}")
        )
    return _MESSAGES


class HealthServicer:
    """``Check``, ``Watch`` and ``List`` of ``grpc.health.v1.Health`` on a `ModelManager`.

    Args:
        manager: whose ``not_ready()`` decides SERVING (empty) or NOT_SERVING.
        services: the service names that have a status (``""`` is the whole server).
        poll_seconds: how often the status is re-read.
    """

    def __init__(
        self, manager: ModelManager, services: tuple[str, ...] = SERVICES, poll_seconds: float = 0.5
    ) -> None:
        self.manager = manager
        self.services = services
        self.poll_seconds = poll_seconds
        self.m = messages()
        self._changed = threading.Condition()
        self._closed = False
        self._status = self._read()
        self._thread = threading.Thread(target=self._poll, name="grpc-health", daemon=True)
        self._thread.start()

    def _read(self) -> int:
        return NOT_SERVING if self.manager.not_ready() else SERVING

    def _poll(self) -> None:
        while True:
            with self._changed:
                if self._changed.wait_for(lambda: self._closed, timeout=self.poll_seconds):
                    return
            self.refresh()

    def refresh(self) -> int:
        """Re-read the status now (waking the ``Watch`` streams if it changed); returns it."""
        status = self._read()
        with self._changed:
            if not self._closed and status != self._status:
                self._status = status
                self._changed.notify_all()
            return self._status

    def close(self) -> None:
        """Stop polling and answer NOT_SERVING from now on (for a graceful shutdown)."""
        with self._changed:
            self._closed = True
            self._status = NOT_SERVING
            self._changed.notify_all()

    def status(self, service: str = "") -> int:
        """The ``ServingStatus`` number of ``service`` (SERVICE_UNKNOWN for other names)."""
        if service not in self.services:
            return SERVICE_UNKNOWN
        with self._changed:
            return self._status

    def Check(self, request, context):  # noqa: N802 - gRPC method name
        if request.service not in self.services:
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"unknown service {request.service!r}; known: "
                f"{', '.join(repr(s) for s in self.services)}",
            )
        return self.m["HealthCheckResponse"](status=self.status(request.service))

    def List(self, request, context):  # noqa: N802
        response = self.m["HealthListResponse"]()
        for service in self.services:
            response.statuses[service].status = self.status(service)
        return response

    def Watch(self, request, context) -> Iterator[Any]:  # noqa: N802
        """Send the status now and again each time it changes, until the client goes away."""
        last = None
        while context.is_active():
            status = self.status(request.service)
            if status != last:
                last = status
                yield self.m["HealthCheckResponse"](status=status)
            self._wait_for_change(request.service, last, timeout=1.0)

    def _wait_for_change(self, service: str, last: int | None, timeout: float) -> None:
        """Wait until the status of ``service`` is no longer ``last`` (at most ``timeout`` s)."""
        with self._changed:
            # the condition's lock is an RLock, so the predicate may call status()
            self._changed.wait_for(lambda: self.status(service) != last, timeout=timeout)


def add_to_server(
    manager: ModelManager, server: grpc.Server, poll_seconds: float = 0.5
) -> HealthServicer:
    """Register ``grpc.health.v1.Health`` on ``server``; returns the servicer (to `close` it)."""
    servicer, m = HealthServicer(manager, poll_seconds=poll_seconds), messages()

    def serialize(msg: Any) -> bytes:
        return msg.SerializeToString()

    handlers = {
        "Check": grpc.unary_unary_rpc_method_handler(
            servicer.Check,
            request_deserializer=m["HealthCheckRequest"].FromString,
            response_serializer=serialize,
        ),
        "List": grpc.unary_unary_rpc_method_handler(
            servicer.List,
            request_deserializer=m["HealthListRequest"].FromString,
            response_serializer=serialize,
        ),
        "Watch": grpc.unary_stream_rpc_method_handler(
            servicer.Watch,
            request_deserializer=m["HealthCheckRequest"].FromString,
            response_serializer=serialize,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    return servicer
