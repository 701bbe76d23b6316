"""JSON access-log lines on the ``dlsuite.access`` logger (``--access_log``), for REST and gRPC.

Each line: request_id, method, path, api, model, version, signature, status (HTTP status for REST,
gRPC status name for gRPC), latency_ms. Request ids come from the client's ``x-request-id`` (header
or gRPC metadata) when it is 1-128 printable ASCII characters, otherwise they are generated.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys

ACCESS_LOG = logging.getLogger("dlsuite.access")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


_PROCESS_ID = os.urandom(8).hex()  # 64 random bits per server process
_COUNTER = itertools.count(1)  # next() on it is atomic under the GIL


def request_id(given: str | None) -> str:
    """The client's request id when acceptable, else a new one: 16 hex characters random per
    process and a 16-hex-character counter (unique per process, as uuid4, without a system call
    per request)."""
    if given and _REQUEST_ID.match(given):
        return given
    return f"{_PROCESS_ID}{next(_COUNTER):016x}"


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
