"""The binary tensor data extension of the V2 protocol (Triton's ``binary_tensor_data``).

An HTTP body is a JSON header of ``Inference-Header-Content-Length`` bytes followed by the raw
tensors, concatenated in the order of the JSON ``inputs`` (or ``outputs``); a tensor sent that way
has ``"parameters": {"binary_data_size": N}`` and no ``data``. Raw tensors are little-endian,
row-major, without padding; BOOL is one byte (0 or 1) per element and every BYTES element is a
4-byte little-endian unsigned length followed by its bytes. The gRPC ``raw_input_contents`` and
``raw_output_contents`` use the same layout, one tensor per entry.

Every malformed request raises `ServingError` INVALID_ARGUMENT (HTTP 400) naming what was wrong;
the JSON header is checked against ``--max_json_depth`` / ``--max_number_chars`` before it is
parsed, and every ``binary_data_size`` against the bytes left in the body before any is sliced.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import invalid
from dlsuite.serving.server.json_values import check_json_text

HEADER = "Inference-Header-Content-Length"
SIZE = "binary_data_size"


def _header_length(value: str, body_size: int) -> int:
    if not re.fullmatch(r"\s*[0-9]+\s*", value):
        raise invalid(f"{HEADER} must be a non-negative integer number of bytes, got {value!r}")
    length = int(value)
    if length > body_size:
        raise invalid(f"{HEADER} ({length}) is larger than the request body ({body_size} bytes)")
    if length == 0:
        raise invalid(
            f"{HEADER}: 0 (a raw binary body without a JSON inference header) is not "
            "supported; send the JSON header first and give each binary input its "
            f"'{SIZE}' parameter"
        )
    return length


def binary_size(tensor: Any, kind: str = "Input") -> int | None:
    """The ``binary_data_size`` parameter of a JSON tensor (None when it has none)."""
    if not isinstance(tensor, dict):
        return None
    parameters = tensor.get("parameters")
    if not isinstance(parameters, dict) or SIZE not in parameters:
        return None
    size = parameters[SIZE]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise invalid(
            f"{kind} '{tensor.get('name')}': parameter '{SIZE}' must be a non-negative "
            f"integer, got {json.dumps(size)}"
        )
    return size


def parse_request(
    raw: bytes, header_length: str | None, limits: RequestLimits
) -> tuple[Any, list[bytes | None] | None]:
    """Split an HTTP infer body into ``(JSON header, raw data of each input or None)``.

    Without ``header_length`` the whole body is JSON. The raw list is None when the header has no
    list of inputs (`serving.server.v2.parse_infer` then reports what is wrong with it).
    """
    if header_length is None:
        header, tail = raw, b""
    else:
        length = _header_length(header_length, len(raw))
        header, tail = raw[:length], raw[length:]
    check_json_text(header, limits)
    try:
        body = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        binary_like = "Extra data" in str(err) or isinstance(err, UnicodeDecodeError)
        hint = (
            (
                f" (is the {HEADER} header missing or wrong? binary tensor data must follow a JSON "
                "header of exactly that many bytes)"
            )
            if binary_like
            else ""
        )
        raise invalid(f"JSON Parse error: {err}{hint}") from None
    except ValueError as err:  # an integer past Python's digit limit (--max_number_chars above it)
        raise invalid(f"JSON Parse error: {err}") from None
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        if tail:
            raise invalid(
                f"The request has {len(tail)} bytes of binary data after its JSON header "
                "but no 'inputs' list to claim them"
            )
        return body, None
    raws: list[bytes | None] = []
    offset = 0
    for tensor in inputs:
        size = binary_size(tensor)
        if size is None:
            raws.append(None)
            continue
        if offset + size > len(tail):
            missing = f" (the {HEADER} header is missing)" if header_length is None else ""
            raise invalid(
                f"Input '{tensor.get('name')}' has {SIZE} {size} but only "
                f"{len(tail) - offset} bytes of binary data are left after the JSON "
                f"header{missing}"
            )
        raws.append(tail[offset : offset + size])
        offset += size
    if offset != len(tail):
        raise invalid(
            f"The request has {len(tail)} bytes of binary data after its JSON header but "
            f"the inputs' {SIZE} parameters add up to {offset}"
        )
    return body, raws


def bytes_elements(raw: bytes, name: str, count: int) -> list[bytes]:
    """The elements of a raw BYTES tensor (each a 4-byte little-endian length, then the bytes);
    reading stops after ``count`` + 1 of them (more than the shape holds is an error anyway)."""
    out: list[bytes] = []
    offset = 0
    while offset < len(raw) and len(out) <= count:
        if offset + 4 > len(raw):
            raise invalid(
                f"Input '{name}': BYTES binary data ends inside the 4-byte length prefix "
                f"of element {len(out)} (offset {offset}, {len(raw)} bytes in all)"
            )
        size = int.from_bytes(raw[offset : offset + 4], "little")
        if offset + 4 + size > len(raw):
            raise invalid(
                f"Input '{name}': BYTES element {len(out)} has a length prefix of {size} "
                f"bytes but only {len(raw) - offset - 4} bytes follow it"
            )
        out.append(raw[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return out


def decode(name: str, datatype: str, shape: list[int], raw: bytes, dtype: Any) -> np.ndarray:
    """A raw tensor as a numpy array of ``dtype`` and ``shape`` (BYTES as an object array)."""
    count = math.prod(shape)
    if datatype == "BYTES":
        items = bytes_elements(raw, name, count)
        if len(items) != count:
            holds = f"{len(items)}" if len(items) < count else f"more than {count}"
            raise invalid(
                f"Input '{name}': the BYTES binary data holds {holds} elements but "
                f"shape {shape} needs {count}"
            )
        arr = np.empty(count, dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    dtype = np.dtype(dtype)
    if len(raw) != count * dtype.itemsize:
        raise invalid(
            f"Input '{name}': {len(raw)} bytes of binary data do not match shape {shape} "
            f"of {datatype} ({count} x {dtype.itemsize} = {count * dtype.itemsize} bytes)"
        )
    if datatype == "BOOL" and any(b > 1 for b in raw):
        raise invalid(f"Input '{name}': BOOL binary data must be one byte of 0 or 1 per element")
    arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)
    return arr.reshape(shape)


def is_bytes(arr: np.ndarray) -> bool:
    """Whether an output array holds strings (a V2 BYTES tensor)."""
    return arr.dtype == object or arr.dtype.kind in "SU"


def encode(arr: np.ndarray) -> bytes:
    """An array as raw tensor data (little-endian, row-major; BYTES length-prefixed)."""
    arr = np.asarray(arr)
    if is_bytes(arr):
        items = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in arr.reshape(-1)]
        return b"".join(len(v).to_bytes(4, "little") + v for v in items)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def response_body(response: dict, binary: list[bytes]) -> tuple[bytes, int | None]:
    """The HTTP body of a V2 response and its JSON header length (None when all of it is JSON)."""
    header = json.dumps(response).encode("utf-8")
    if not binary:
        return header, None
    return header + b"".join(binary), len(header)
