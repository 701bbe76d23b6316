"""How much inference work the server takes on, and until when a request's work is still wanted.

`Admission` counts the inference requests in progress (REST predict/classify/regress and V2 infer
from when their body has been read, gRPC Predict/Classify/Regress/MultiInference and V2
ModelInfer from when a thread takes them up, together, until they are answered) and refuses one
past ``--max_concurrent_requests`` at once: 429 on REST, UNAVAILABLE on gRPC, as TF Serving's
batching answers a full queue. Status, metadata and health requests are not counted.

A request's deadline (``--rest_api_timeout_in_ms`` on REST, the client's deadline on gRPC) is set
with `deadline_within` for everything that runs inside it; `Servable.run` reads it
(`current_deadline`) and a model call that has not started by then is not started at all
(`check_deadline`, DEADLINE_EXCEEDED); the batcher drops such tasks from its queue.
`AdmissionInterceptor` does both for the gRPC inference methods.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from dlsuite.serving.server.errors import ServingError

# The gRPC methods that run a model (what `Admission` counts on the gRPC port).
GRPC_INFERENCE_METHODS = frozenset(
    {
        "/tensorflow.serving.PredictionService/Predict",
        "/tensorflow.serving.PredictionService/Classify",
        "/tensorflow.serving.PredictionService/Regress",
        "/tensorflow.serving.PredictionService/MultiInference",
        "/inference.GRPCInferenceService/ModelInfer",
    }
)

# monotonic time by which the current request's model call must have started, or None
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "dlsuite_deadline", default=None
)


class Admission:
    """At most ``limit`` inference requests in progress at once; thread-safe (the REST event
    loop and the gRPC threads share one)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_progress = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        """Count one more request in progress, or refuse it (UNAVAILABLE, HTTP 429) at the limit;
        a request let in must call `leave` when it is answered."""
        with self._lock:
            if self._in_progress >= self.limit:
                raise ServingError(
                    "UNAVAILABLE",
                    f"Too many requests in progress: the server takes at most {self.limit} "
                    "inference requests at once (--max_concurrent_requests); retry later",
                    429,
                )
            self._in_progress += 1

    def leave(self) -> None:
        """One request let in by `enter` has been answered."""
        with self._lock:
            self._in_progress -= 1


@contextlib.contextmanager
def deadline_within(seconds: float | None) -> Iterator[None]:
    """Model calls made inside (in this context) must start within ``seconds`` (None: no new
    limit); an enclosing, earlier deadline stays in force."""
    if seconds is None:
        yield
        return
    deadline = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """The current request's deadline (`time.monotonic` seconds), or None."""
    return _DEADLINE.get()


def deadline_exceeded() -> ServingError:
    """The error of a request whose model call had not started by its deadline."""
    return ServingError(
        "DEADLINE_EXCEEDED", "Deadline exceeded before the model ran; the request was dropped"
    )


def check_deadline(deadline: float | None) -> None:
    """Raise `deadline_exceeded` when ``deadline`` has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        raise deadline_exceeded()


class AdmissionInterceptor(grpc.ServerInterceptor):
    """For the gRPC inference methods (`GRPC_INFERENCE_METHODS`): a request whose deadline has
    already passed is answered DEADLINE_EXCEEDED, one past `Admission` UNAVAILABLE, both without
    running anything; the others run within their deadline (`deadline_within`)."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self._wrapped: dict[str, tuple[Any, Any]] = {}  # method -> (its handler, wrapped)

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in GRPC_INFERENCE_METHODS or handler.unary_unary is None:
            return handler
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = (handler, self._wrap(handler))
            self._wrapped[method] = cached
        return cached[1]

    def _wrap(self, handler: Any) -> Any:
        inner = handler.unary_unary
        admission = self.admission

        def behavior(request: Any, context: Any) -> Any:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, deadline_exceeded().message)
            try:
                admission.enter()
            except ServingError as err:
                context.abort(err.grpc_code, err.message)
            try:
                with deadline_within(remaining):
                    return inner(request, context)
            finally:
                admission.leave()

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
