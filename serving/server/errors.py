"""`ServingError`: a TF Serving status code plus message, mapped to HTTP and gRPC the same way."""

from __future__ import annotations

# TF Serving's REST handler maps canonical error codes to HTTP statuses like this.
_HTTP = {
    "OK": 200,
    "CANCELLED": 499,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "ABORTED": 409,
}


class ServingError(Exception):
    """An error answered to the client: ``code`` is a canonical status name like ``NOT_FOUND``."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        if code not in _HTTP:
            raise ValueError(f"unknown status code {code!r}")
        self.code = code
        self.message = message
        self._http_status = http_status

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving's REST API answers with for this code."""
        return self._http_status or _HTTP[self.code]

    @property
    def grpc_code(self):  # -> grpc.StatusCode
        """The matching ``grpc.StatusCode``."""
        import grpc

        return getattr(grpc.StatusCode, self.code)


def invalid(message: str) -> ServingError:
    """Shorthand for an INVALID_ARGUMENT error."""
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    """Shorthand for a NOT_FOUND error."""
    return ServingError("NOT_FOUND", message)
