"""Tensors out as TF Serving writes them (``json_tensor.cc``), and ``TensorProto`` <-> numpy.

`predict_json` is ``MakeJsonFromTensors``: row requests answer ``predictions`` (one output: a list
over dim 0; several: a list of objects, which must share dim 0), columnar ones ``outputs`` (one
output: its value; several: an object). Floats are printed by `format_decimals` exactly as
``WriteDecimal`` prints them (``%g``, or ``%.9g``/``%.17g`` when that does not round-trip, ``.0``
on whole numbers, ``NaN``/``Infinity`` tokens); strings are written byte for byte, and outputs whose
name ends in ``_bytes`` as ``{"b64": ...}``. Request decoding is in `serving.server.json_values`,
`json_tensor` and `json_examples`.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import invalid
from dlsuite.serving.server.json_values import to_bytes
from dlsuite.serving.server.limits import check_repeated

_BYTES_SUFFIX = "_bytes"
_INTS = "iu"


_SMALL = 64  # up to this many values a Python loop beats numpy's fixed cost per string op


def _float32(value: float) -> float:
    """``value`` rounded to the nearest float32, as a Python float."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _decimal(value: float, is_float: bool) -> str:
    """``WriteDecimal`` for one value (the loop form of `format_decimals`)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    text = f"{value:g}"
    back = float(text)
    if (_float32(back) if is_float else back) != value:
        text = f"{value:.9g}" if is_float else f"{value:.17g}"
    return text if "." in text or "e" in text else text + ".0"


def format_decimals(values: np.ndarray) -> list[str]:
    """``WriteDecimal`` for every value of a float32/float64 array (flattened, in C order)."""
    flat = np.asarray(values).reshape(-1)
    is_float = flat.dtype == np.float32 or flat.dtype == np.float16
    if flat.size <= _SMALL:
        return [_decimal(v, is_float) for v in flat.astype(np.float64).tolist()]
    wide = flat.astype(np.float64)
    finite = np.isfinite(wide)
    out = np.full(flat.shape, "", dtype=object)
    if finite.any():
        shown = wide[finite]
        text = np.char.mod("%g", shown).astype("U32")  # absl::StrCat: six significant digits
        back = text.astype(np.float64)
        if is_float:
            back = back.astype(np.float32).astype(np.float64)
        lossy = back != shown
        if lossy.any():  # does not round-trip: full precision (max_digits10)
            text[lossy] = np.char.mod("%.9g" if is_float else "%.17g", shown[lossy])
        whole = (np.char.find(text, ".") < 0) & (np.char.find(text, "e") < 0)
        text = np.where(whole, np.char.add(text, ".0"), text)
        out[finite] = text
    out[np.isnan(wide)] = "NaN"
    out[np.isposinf(wide)] = "Infinity"
    out[np.isneginf(wide)] = "-Infinity"
    return out.tolist()


def _string_token(value: Any, as_bytes: bool) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if as_bytes:
        return '{"b64": "' + base64.b64encode(value).decode("ascii") + '"}'
    # raw bytes, as rapidjson writes them; undecodable ones ride as surrogate escapes to the body
    return json.dumps(value.decode("utf-8", "surrogateescape"), ensure_ascii=False)


def value_tokens(arr: np.ndarray, name: str) -> list[str]:
    """Every value of ``arr`` (C order) as its JSON text (``AddSingleValueAndAdvance``)."""
    from tensorflow.core.framework import types_pb2

    arr = np.asarray(arr)
    if arr.dtype == object or arr.dtype.kind in "SU":
        as_bytes = name.endswith(_BYTES_SUFFIX)
        return [_string_token(v, as_bytes) for v in arr.reshape(-1).tolist()]
    if arr.dtype in (np.float32, np.float64):
        return format_decimals(arr)
    if arr.dtype == np.bool_:
        return np.where(arr.reshape(-1), "true", "false").tolist()
    if arr.dtype.kind in _INTS and arr.dtype not in (np.uint16,):
        return arr.reshape(-1).astype(str).tolist()
    import tensorflow as tf

    enum = tf.as_dtype(arr.dtype).as_datatype_enum
    raise invalid(
        f"Failed to write JSON value for tensor type: {types_pb2.DataType.Name(enum)[3:].lower()}"
    )


def _nest(tokens: list[str], shape: Sequence[int]) -> list[str]:
    """Group flat tokens into nested JSON lists over ``shape``; one text per top-level item.

    With ``shape = (d0, d1, ...)`` the result has ``d0`` texts (each ``arr[i]``); an empty shape
    gives the one scalar token.
    """
    items = tokens
    for level in range(len(shape) - 1, 0, -1):
        dim = shape[level]
        count = int(np.prod(shape[:level]))
        if dim == 0:
            items = ["[]"] * count
        else:
            items = ["[" + ", ".join(items[i * dim : (i + 1) * dim]) + "]" for i in range(count)]
    return items


def tensor_json(arr: np.ndarray, name: str) -> str:
    """One tensor as JSON text (``AddTensorValues`` from dimension 0)."""
    arr = np.asarray(arr)
    tokens = value_tokens(arr, name)
    if arr.ndim == 0:
        return tokens[0]
    return "[" + ", ".join(_nest(tokens, arr.shape)) + "]"


def _json_key(name: str) -> str:
    """An output name as a JSON object key (quoted and escaped, non-ASCII kept)."""
    return json.dumps(name, ensure_ascii=False)


def predict_json(outputs: Mapping[str, np.ndarray], row_format: bool) -> str:
    """The ``:predict`` response body (``MakeJsonFromTensors``); TF Serving's errors when it
    cannot be written (no outputs, a scalar or an empty batch in row format, different batches)."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    arrays = {n: np.asarray(outputs[n]) for n in names}
    if not row_format:
        if len(names) == 1:
            return '{"outputs": ' + tensor_json(arrays[names[0]], names[0]) + "}"
        body = ", ".join(_json_key(n) + ": " + tensor_json(arrays[n], n) for n in names)
        return '{"outputs": {' + body + "}}"
    batch = 0
    for n in names:
        if arrays[n].ndim == 0:
            raise invalid(f"Tensor name: {n} has no shape information ")
        size = arrays[n].shape[0]
        if size < 1:
            raise invalid(f"Tensor name: {n} has invalid batch size: {size}")
        if batch and size != batch:
            raise invalid(
                f"Tensor name: {n} has inconsistent batch size: {size} expecting: {batch}"
            )
        batch = size
    rows = {n: _nest(value_tokens(arrays[n], n), arrays[n].shape) for n in names}
    if len(names) == 1:
        return '{"predictions": [' + ", ".join(rows[names[0]]) + "]}"
    items = (
        "{" + ", ".join(_json_key(n) + ": " + rows[n][i] for n in names) + "}" for i in range(batch)
    )
    return '{"predictions": [' + ", ".join(items) + "]}"


def classify_json(rows: Sequence[Sequence[tuple[bytes, float]]]) -> str:
    """``MakeJsonFromClassificationResult``: ``{"results": [[[label, score], ...], ...]}``."""
    if not rows:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    scores = format_decimals(np.array([s for row in rows for _, s in row], dtype=np.float32))
    out, k = [], 0
    for row in rows:
        pairs = []
        for label, _ in row:
            pairs.append("[" + _string_token(label, False) + ", " + scores[k] + "]")
            k += 1
        out.append("[" + ", ".join(pairs) + "]")
    return '{"results": [' + ", ".join(out) + "]}"


def regress_json(values: np.ndarray) -> str:
    """``MakeJsonFromRegressionResult``: ``{"results": [value, ...]}``."""
    values = np.asarray(values, dtype=np.float32)
    if not values.size:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    return '{"results": [' + ", ".join(format_decimals(values)) + "]}"


def array_to_json(arr: np.ndarray, name: str) -> Any:
    """A numpy array as the nested JSON values TF Serving would write for it (columnar form)."""
    return json.loads(to_bytes(tensor_json(arr, name)).decode("utf-8", "replace"))


# DataType enum -> numpy dtype of the types whose ``tensor_content`` is the array's own bytes.
_CONTENT_DTYPES = {
    1: np.float32,  # DT_FLOAT
    2: np.float64,  # DT_DOUBLE
    3: np.int32,  # DT_INT32
    4: np.uint8,  # DT_UINT8
    5: np.int16,  # DT_INT16
    6: np.int8,  # DT_INT8
    9: np.int64,  # DT_INT64
    10: np.bool_,  # DT_BOOL
    17: np.uint16,  # DT_UINT16
    19: np.float16,  # DT_HALF
    22: np.uint32,  # DT_UINT32
    23: np.uint64,  # DT_UINT64
}


def proto_shape(proto: Any, name: str) -> tuple[int, ...]:
    """The shape a ``TensorProto`` declares, which ``tf.make_ndarray`` fills out from however few
    values it carries (INVALID_ARGUMENT ``tensor parsing error`` for a negative size)."""
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if min(shape, default=0) < 0:
        raise invalid(f"tensor parsing error: {name}")
    return shape


def tensor_proto_to_array(proto: Any, name: str, limits: RequestLimits | None = None) -> np.ndarray:
    """``TensorProto`` -> numpy
    (``Tensor::FromProto``; INVALID_ARGUMENT ``tensor parsing error``).

    A numeric tensor sent as ``tensor_content`` (what ``tf.make_tensor_proto`` writes for more
    than one value) is a read-only view of the request's bytes, no copy; its size must match its
    shape exactly. Anything else goes through ``tf.make_ndarray``; with ``limits``, a string
    tensor it would fill out by repeating its last string is refused when the copies pass
    ``--max_string_bytes`` (its shape has been checked against the element limits already).
    """
    shape = proto_shape(proto, name)
    dtype = _CONTENT_DTYPES.get(proto.dtype)
    if dtype is not None and proto.tensor_content and not proto.tensor_shape.unknown_rank:
        content = proto.tensor_content
        if len(content) != math.prod(shape) * np.dtype(dtype).itemsize:
            raise invalid(f"tensor parsing error: {name}")
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    strings = proto.string_val
    if limits is not None and strings:
        missing = math.prod(shape) - len(strings)
        check_repeated(f"the last string of input '{name}'", len(strings[-1]), missing, limits)
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except Exception:  # noqa: BLE001 - any malformed proto is the client's
        raise invalid(f"tensor parsing error: {name}") from None


def array_to_tensor_proto(arr: np.ndarray) -> Any:
    """numpy -> ``TensorProto``."""
    import tensorflow as tf

    return tf.make_tensor_proto(arr)
