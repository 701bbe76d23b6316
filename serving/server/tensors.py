"""Tensors between JSON (TF Serving's ``api_rest.md``), ``TensorProto`` and numpy.

JSON requests come in row (``instances``) or columnar (``inputs``) format; binary strings are
``{"b64": "..."}``; outputs whose name ends in ``_bytes`` are answered in the same ``b64`` form.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving.server.errors import invalid


def decode_b64(value: Any) -> Any:
    """Replace every ``{"b64": s}`` inside ``value`` with the decoded bytes."""
    if isinstance(value, dict):
        if set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError) as err:
                raise invalid(f"Unable to base64 decode: {err}") from None
        raise invalid(f"JSON object {list(value)[:3]} is not a tensor value; only {{\"b64\": ...}} is")
    if isinstance(value, list):
        return [decode_b64(item) for item in value]
    return value


def _leaf_kinds(value: Any, kinds: set[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _leaf_kinds(item, kinds)
    elif isinstance(value, bool):
        kinds.add("bool")
    elif isinstance(value, (int, float)):
        kinds.add("number")
    elif isinstance(value, (str, bytes)):
        kinds.add("string")
    elif value is None:
        kinds.add("null")
    else:
        kinds.add(type(value).__name__)


def json_to_array(value: Any, dtype: Any, name: str) -> np.ndarray:
    """Convert one decoded JSON tensor value to a numpy array of TF ``dtype``; raises 400 errors."""
    value = decode_b64(value)
    kinds: set[str] = set()
    _leaf_kinds(value, kinds)
    if "null" in kinds or kinds - {"bool", "number", "string"}:
        raise invalid(f"Input '{name}' contains null or non-scalar values")
    try:
        if dtype.name == "string":
            if kinds - {"string"}:
                raise invalid(f"Input '{name}' expects DT_STRING values but got {sorted(kinds)}")
            arr = np.array(_encode_strings(value), dtype=object)
            if arr.dtype != object or (arr.ndim and any(isinstance(v, list) for v in arr.flat)):
                raise ValueError("ragged")
            return arr
        if "string" in kinds:
            raise invalid(f"Input '{name}' expects {_dt(dtype)} values but got a string")
        if dtype.name == "bool":
            if kinds != {"bool"}:
                raise invalid(f"Input '{name}' expects DT_BOOL values (true/false)")
        elif "bool" in kinds:
            raise invalid(f"Input '{name}' expects {_dt(dtype)} values but got true/false")
        elif dtype.is_integer and any(_non_integral(v) for v in _flatten(value)):
            raise invalid(f"Input '{name}' expects {_dt(dtype)} values but got a decimal number")
        return np.array(value, dtype=dtype.as_numpy_dtype)
    except (ValueError, TypeError, OverflowError) as err:
        if "ragged" in str(err) or "sequence" in str(err) or "inhomogeneous" in str(err):
            raise invalid(f"Input '{name}' is a ragged list; all rows must have the same shape") from None
        raise invalid(f"Input '{name}' cannot be converted to {_dt(dtype)}: {err}") from None


def _dt(dtype: Any) -> str:
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def _flatten(value: Any):
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _non_integral(value: Any) -> bool:
    return isinstance(value, float) and (not math.isfinite(value) or value != int(value))


def _encode_strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_encode_strings(v) for v in value]
    return value.encode("utf-8") if isinstance(value, str) else value


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def parse_predict_body(body: Any, specs: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], bool]:
    """Turn a ``:predict`` JSON body into ``({input_name: array}, row_format)``.

    ``specs`` maps the signature's input names to ``tf.TensorSpec``.
    """
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows and has_cols:
        raise invalid("Not formatted correctly expecting only one of 'inputs' or 'instances' keys exist")
    if not has_rows and not has_cols:
        raise invalid("Missing 'inputs' or 'instances' key")
    names = sorted(specs)
    if has_rows:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise invalid("Expecting 'instances' to be a list/array")
        if not rows:
            raise invalid("No values in 'instances'")
        if all(isinstance(r, dict) and not _is_b64(r) for r in rows):
            values: dict[str, Any] = {}
            for i, row in enumerate(rows):
                if set(row) != set(names):
                    raise invalid(
                        f"instance {i} has inputs {sorted(row)} but the signature expects {names}")
            for name in names:
                values[name] = [row[name] for row in rows]
        elif any(isinstance(r, dict) and not _is_b64(r) for r in rows):
            raise invalid("Expecting all 'instances' to be JSON objects (named inputs) or none of them")
        else:
            if len(names) != 1:
                raise invalid(
                    f"The signature has {len(names)} inputs {names}; each instance must be a JSON "
                    "object naming them")
            values = {names[0]: rows}
    else:
        cols = body["inputs"]
        if isinstance(cols, dict) and not _is_b64(cols):
            unknown = sorted(set(cols) - set(names))
            if unknown:
                raise invalid(
                    f"input tensor alias not found in signature: {unknown[0]}. Inputs expected to be "
                    f"in the set {{{','.join(names)}}}.")
            values = dict(cols)
        else:
            if len(names) != 1:
                raise invalid(f"The signature has {len(names)} inputs {names}; 'inputs' must be an object")
            values = {names[0]: cols}
    missing = sorted(set(names) - set(values))
    if missing:
        raise invalid(f"Missing input(s) {missing}; the signature expects {names}")
    arrays = {name: json_to_array(values[name], specs[name].dtype, name) for name in names}
    return arrays, has_rows


def array_to_json(arr: np.ndarray, name: str) -> Any:
    """A numpy array as nested JSON values (strings decoded, ``*_bytes`` as ``{"b64": ...}``)."""
    arr = np.asarray(arr)
    if arr.dtype == object or arr.dtype.kind in "SU":
        binary = name.endswith("_bytes")
        def convert(v: Any) -> Any:
            if isinstance(v, str):
                v = v.encode("utf-8")
            if not binary:
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(v).decode("ascii")}
        flat = [convert(v) for v in arr.reshape(-1)]
        return np.array(flat + [None], dtype=object)[:-1].reshape(arr.shape).tolist()
    if arr.dtype == np.float32 or arr.dtype == np.float16:
        # shortest repr of each float32 (3.5, 0.1), not its float64 expansion
        return arr.astype(str).astype(np.float64).tolist()
    return arr.tolist()


def outputs_to_json(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict:
    """The ``:predict`` response body: ``predictions`` for row requests, ``outputs`` for columnar."""
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": array_to_json(outputs[names[0]], names[0])}
        return {"outputs": {n: array_to_json(outputs[n], n) for n in names}}
    if len(names) == 1:
        return {"predictions": array_to_json(outputs[names[0]], names[0])}
    sizes = {np.asarray(outputs[n]).shape[:1] for n in names}
    if len(sizes) != 1 or () in sizes:
        raise invalid(
            "Tensor name: outputs have different 0-th dimensions; use the columnar 'inputs' format")
    columns = {n: array_to_json(outputs[n], n) for n in names}
    (size,) = sizes.pop()
    return {"predictions": [{n: columns[n][i] for n in names} for i in range(size)]}


def _feature_from_json(name: str, value: Any) -> Any:
    import tensorflow as tf

    values = value if isinstance(value, list) else [value]
    values = [decode_b64(v) if _is_b64(v) else v for v in values]
    kinds: set[str] = set()
    _leaf_kinds(values, kinds)
    if any(isinstance(v, list) for v in values):
        raise invalid(f"Feature '{name}' must be a value or a flat list of values")
    if kinds == {"string"} or (not kinds):
        return tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[v.encode("utf-8") if isinstance(v, str) else v for v in values]))
    if kinds == {"number"}:
        if all(isinstance(v, int) for v in values):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
    raise invalid(f"Feature '{name}' mixes value types {sorted(kinds)}")


def examples_from_body(body: Any) -> list:
    """The ``tf.train.Example``s of a ``:classify``/``:regress`` body (``context`` merged in)."""
    import tensorflow as tf

    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    examples = body.get("examples")
    if not isinstance(examples, list) or not examples:
        raise invalid("Expecting 'examples' to be a non-empty list of JSON objects")
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise invalid("Expecting 'context' to be a JSON object")
    result = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            raise invalid(f"example {i} is not a JSON object")
        clash = sorted(set(ex) & set(context))
        if clash:
            raise invalid(f"Feature '{clash[0]}' appears in both 'context' and example {i}")
        features = {k: _feature_from_json(k, v) for k, v in {**context, **ex}.items()}
        result.append(tf.train.Example(features=tf.train.Features(feature=features)))
    return result


def tensor_proto_to_array(proto: Any, name: str) -> np.ndarray:
    """``TensorProto`` -> numpy (400 on a malformed proto)."""
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except Exception as err:  # noqa: BLE001 - any malformed proto is a client error
        raise invalid(f"Input '{name}' is not a valid TensorProto: {err}") from None


def array_to_tensor_proto(arr: np.ndarray) -> Any:
    """numpy -> ``TensorProto``."""
    import tensorflow as tf

    return tf.make_tensor_proto(arr)
