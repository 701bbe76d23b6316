"""JSON access-log lines on the ``dlsuite.access`` logger (``--access_log``), for REST and gRPC.

Each line: request_id, method, path, api, model, version, signature, status (HTTP status for REST,
gRPC status name for gRPC), latency_ms. Request ids come from the client's ``x-request-id`` (header
or gRPC metadata) when it is 1-128 printable ASCII characters, otherwise they are generated.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid

ACCESS_LOG = logging.getLogger("dlsuite.access")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def request_id(given: str | None) -> str:
    """The client's request id when acceptable, else a new 32-character hex id."""
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


def log_access(
    request_id: str, method: str, path: str, status: int | str, latency_s: float, fields: dict
) -> None:
    """Write one access-log line (``fields`` gives api, model, version and signature)."""
    ACCESS_LOG.info(
        json.dumps(
            {
                "request_id": request_id,
                "method": method,
                "path": path,
                "api": fields.get("api", ""),
                "model": fields.get("model", ""),
                "version": fields.get("version", ""),
                "signature": fields.get("signature", ""),
                "status": status,
                "latency_ms": round(latency_s * 1000, 3),
            }
        )
    )


def enable() -> None:
    """Send ``dlsuite.access`` records, bare JSON lines, to stderr (not through the root logger)."""
    if not ACCESS_LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ACCESS_LOG.addHandler(handler)
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
