"""TF Serving's JSON tensor decoding (``tensorflow_serving/util/json_tensor.cc``), in numpy.

``:predict`` bodies in row (``instances``) or columnar (``inputs``) format become
``{input name: numpy array}`` whose shapes come from the JSON itself, with TF Serving's error
messages and their order. The body itself is parsed by `serving.server.json_values.parse_json`;
``:classify``/``:regress`` bodies are read by `serving.server.json_examples`.

Numeric tensors of a body without ``true``/``false``/``null`` words (`may_hold_literals`) take the
fast path: one ``np.array`` of the nested lists (numpy finds the shape, refuses ragged nesting and
types the leaves in C), then vectorised range checks; a value it cannot vouch for (a big number
that may have been an integer, a mixed or empty tensor) sends the tensor to the exact path: one
object array to check the nesting, one set of leaf types, the same checks value by value where
needed. Anything the exact path does not accept is walked again by `_Walker`, a value-by-value copy
of ``FillTensorProto`` that raises TF Serving's error for the first bad value, so messages are
exact and valid requests never pay for the walk.

Before all that, the server tries `split_dense`: a body whose one array is a dense array of numbers
(the usual image or feature request) is read without nested Python lists at all, the numbers
parsed by orjson as one flat list, the shape read off the brackets (and its element count checked
against ``--max_tensor_elements`` / ``--max_request_elements`` before any number is read);
`dense_inputs` then applies the fast path's checks. Any other body, or any doubt, goes the way
above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import orjson

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import ServingError, invalid
from dlsuite.serving.server.json_values import (
    FLOAT_MAX,
    as_double,
    decode_b64,
    is_b64,
    json_type,
    may_hold_long_integer,
    may_hold_long_number,
    nonempty_list,
    scan_text,
    to_bytes,
    value_to_string,
)
from dlsuite.serving.server.limits import check_shapes

# largest integer each decimal type holds exactly (json_tensor.cc kMaxInt for float)
_EXACT_INT_MAX = {"DT_FLOAT": (1 << 24) - 1, "DT_DOUBLE": (1 << 53) - 1}
_INT_RANGES = {  # rapidjson's IsInt / IsInt64 / IsUint / IsUint64, as AddValueToTensor checks them
    "DT_INT32": (-(1 << 31), (1 << 31) - 1),
    "DT_INT16": (-(1 << 31), (1 << 31) - 1),
    "DT_INT8": (-(1 << 31), (1 << 31) - 1),
    "DT_UINT8": (-(1 << 31), (1 << 31) - 1),
    "DT_INT64": (-(1 << 63), (1 << 63) - 1),
    "DT_UINT32": (0, (1 << 32) - 1),
    "DT_UINT64": (0, (1 << 64) - 1),
}
_NUMPY = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_INT32": np.int32,
    "DT_INT16": np.int16,
    "DT_INT8": np.int8,
    "DT_UINT8": np.uint8,
    "DT_INT64": np.int64,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
}


def dtype_name(dtype: int) -> str:
    """``DataType_Name`` (``DT_FLOAT``) of a ``types_pb2`` enum value."""
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype)


def dtype_string(dtype: int) -> str:
    """TensorFlow's ``DataTypeString`` (``float``, ``int64``, ``string``) of an enum value."""
    return dtype_name(dtype)[3:].lower()


def dense_shape(value: Any) -> list[int]:
    """``GetDenseTensorShape``: the shape read off the first element at every level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def type_error(value: Any, dtype: int) -> ServingError:
    return invalid(
        f"JSON Value: {value_to_string(value)} Type: {json_type(value)} is not of "
        f"expected type: {dtype_string(dtype)}"
    )


def check_value(value: Any, dtype: int) -> None:
    """``AddValueToTensor``'s checks for one leaf value (not a list, not an object)."""
    name = dtype_name(dtype)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name in ("DT_FLOAT", "DT_DOUBLE"):
        if not number:
            raise type_error(value, dtype)
        limit = _EXACT_INT_MAX[name]
        big = FLOAT_MAX if name == "DT_FLOAT" else math.inf
        exact_int = isinstance(value, int) and -(1 << 63) <= value < (1 << 64)
        lossless = (
            (abs(value) <= limit)
            if exact_int
            else (not math.isfinite(as_double(value)) or abs(as_double(value)) <= big)
        )
        if not lossless:
            target = "float" if name == "DT_FLOAT" else "double"
            raise invalid(
                f"Cannot convert JSON value: {value_to_string(value)} to {target} "
                "without loss of precision."
            )
    elif name in _INT_RANGES:
        low, high = _INT_RANGES[name]
        if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            raise type_error(value, dtype)
    elif name == "DT_STRING":
        if not isinstance(value, str):
            raise type_error(value, dtype)
    elif name == "DT_BOOL":
        if not isinstance(value, bool):
            raise type_error(value, dtype)
    else:
        raise ServingError(
            "UNIMPLEMENTED",
            f"Conversion of JSON Value: {value_to_string(value)} to type: {dtype_string(dtype)}",
        )


class _Walker:
    """``FillTensorProto``, value by value: raises TF Serving's error for the first bad value."""

    def __init__(self, dtype: int) -> None:
        self.dtype = dtype
        self.string = dtype_name(dtype) == "DT_STRING"

    def fill(self, value: Any, shape: list[int], level: int = 0) -> int:
        """Check ``value`` at ``level`` against ``shape``; returns the number of leaf values."""
        rank = len(shape)
        if not isinstance(value, list):
            if level != rank:
                raise invalid(
                    f"JSON Value: {value_to_string(value)} found at incorrect level: "
                    f"{level + 1} in the JSON DOM. Expected at level: {rank}"
                )
            if isinstance(value, dict):
                if not self.string:
                    raise type_error(value, self.dtype)
                decode_b64(value)
            else:
                check_value(value, self.dtype)
            return 1
        if level >= rank:
            raise invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
        if len(value) != shape[level]:
            raise invalid(
                f"Encountered list at unexpected size: {len(value)} at level: {level} "
                f"expected size: {shape[level]}"
            )
        return sum(self.fill(item, shape, level + 1) for item in value)


def to_array(value: Any, dtype: int, fast: bool = False) -> np.ndarray | None:
    """One JSON tensor value as an array of ``dtype``, or None if it has to be walked for its error.

    The shape is the JSON's own (``dense_shape``); strings become an object array of bytes. With
    ``fast`` (the body holds no ``true``/``false``/``null``), numbers try `_fast_array` first. Never
    raises: whatever it does not accept, `_Walker` reports exactly.
    """
    try:
        arr = _fast_array(value, dtype) if fast else None
        return arr if arr is not None else _to_array(value, dtype)
    except (ServingError, ValueError, OverflowError, TypeError):
        return None


def _fast_array(value: Any, dtype: int) -> np.ndarray | None:
    """Numbers straight to an array of ``dtype``, or None when only the exact path can tell.

    Only for values without JSON literals: numpy would read ``true`` as 1 among numbers.
    """
    name = dtype_name(dtype)
    if _NUMPY.get(name) is None or name == "DT_BOOL":
        return None
    try:
        wide = np.array(value)  # int64 / uint64 / float64 when every leaf is a number
    except (ValueError, OverflowError):  # ragged, or integers past 64 bits together
        return None
    return _fitted(wide, name)


def _fitted(wide: np.ndarray, name: str) -> np.ndarray | None:
    """The numbers of a tensor, read as 64-bit numbers, as type ``name`` (not DT_BOOL), or None
    when only the exact path can tell (empty, not all numbers, a value it must check itself)."""
    if not wide.size or wide.dtype.kind not in "iuf":
        return None  # empty, strings, objects: the exact path decides
    if name in ("DT_FLOAT", "DT_DOUBLE"):
        # an integer token above this is refused, and among decimals numpy no longer shows which
        # leaves were integers: such tensors go the exact way (rare: pixel values are smaller)
        limit = _EXACT_INT_MAX[name]
        if np.abs(wide).max() > limit:
            return None
        return wide.astype(_NUMPY[name])
    if wide.dtype.kind == "f":
        return None  # decimals for an integer input: the walk names the first one
    return _narrowed(wide, name)


class DenseBody(NamedTuple):
    """A ``:predict`` body whose one array is a dense array of JSON numbers, read without
    building nested lists (`split_dense`): ``doc`` is the body with that array replaced by 0,
    ``key`` is ``"instances"`` or ``"inputs"``, ``numbers`` the array as 64-bit numbers."""

    doc: dict
    key: str
    numbers: np.ndarray


_NOT_SKELETON = b"0123456789.eE+- \t\r\n"  # deleted: what is left of a dense array is [ , ]


def _dense_shape(skeleton: bytes, max_rank: int) -> tuple[int, ...] | None:
    """The shape of a dense nested array from its skeleton (its brackets and commas, e.g.
    ``[[,],[,]]`` for 2x2), or None when the skeleton is not that of a dense array of rank
    ``max_rank`` or less (the rebuild below costs rank x length)."""
    rank = len(skeleton) - len(skeleton.lstrip(b"["))
    if rank == 0 or rank > max_rank:
        return None
    dims, inner = [], b""
    for depth in range(rank - 1, -1, -1):  # innermost first; the first block of each depth
        size, at = 1, depth + 1 + len(inner)
        while skeleton[at : at + 1] == b",":
            size, at = size + 1, at + 1 + len(inner)
        dims.append(size)
        inner = b"[" + b",".join([inner] * size) + b"]"
    return tuple(reversed(dims)) if inner == skeleton else None


def split_dense(raw: bytes, limits: RequestLimits) -> DenseBody | None:
    """The body's tensor as one array of numbers, without a Python object per element, when the
    body is a JSON object whose only array is a dense array of numbers under ``instances`` or
    ``inputs`` (an image, a feature matrix); None for any other body (the caller parses it).

    The span from the first ``[`` to the last ``]`` is that array exactly when: the body with the
    span replaced by ``0`` and by ``1`` parses, and differs only in the value of ``instances`` or
    ``inputs`` (so the span sits at that value); the span's skeleton is that of a dense array
    (so it is one array, of numbers-only tokens); and its tokens, without brackets, parse as a
    flat JSON list of numbers. Nothing else is accepted, so a body this reads is read exactly as
    the full parse reads it, only about four times faster.

    ``limits``: a body that may be nested too deep or hold too long a number is left to the full
    parse (which refuses it exactly); one whose skeleton has more elements than
    ``--max_tensor_elements`` or ``--max_request_elements`` is refused (RESOURCE_EXHAUSTED, 413)
    before its numbers are read. Both cost O(1) beyond the scans this already makes.
    """
    first, last = raw.find(b"["), raw.rfind(b"]")
    if first < 0 or last < first:
        return None
    scanned = scan_text(raw)
    if may_hold_long_integer(scanned) or may_hold_long_number(scanned, limits):
        return None
    before, after = raw[:first], raw[last + 1 :]
    if before.count(b"{") + after.count(b"{") > limits.max_json_depth:
        return None  # the document around the array may be too deep: the full parse decides
    try:
        doc, other = orjson.loads(before + b"0" + after), orjson.loads(before + b"1" + after)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or not isinstance(other, dict):
        return None
    keys = [k for k in doc if doc[k] != other[k]]
    if keys not in (["instances"], ["inputs"]) or ("instances" in doc and "inputs" in doc):
        return None
    if type(doc[keys[0]]) is not int:  # the span is inside that value, not all of it
        return None
    span = raw[first : last + 1]
    # the array sits in the body's object: rank + 1 deep (deeper: the full parse refuses it)
    shape = _dense_shape(span.translate(None, _NOT_SKELETON), limits.max_json_depth - 1)
    if shape is None:
        return None
    check_shapes({f"'{keys[0]}'": shape}, limits)  # the one tensor of the body, by its key
    try:
        values = orjson.loads(b"[" + span.translate(None, b"[]") + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(values) != math.prod(shape):
        return None  # "[]" has the skeleton of one element
    try:
        numbers = np.array(values)  # int64 / uint64 / float64
    except (ValueError, OverflowError):
        return None
    return DenseBody(doc, keys[0], numbers.reshape(shape))


def dense_inputs(
    body: DenseBody, infos: Mapping[str, int]
) -> tuple[dict[str, np.ndarray], bool] | None:
    """`predict_inputs` of a `split_dense` body for a signature of one numeric input, or None when
    the full parse must decide (several inputs, a string or bool input, a value to check)."""
    if len(infos) != 1:
        return None
    ((input_name, dtype),) = infos.items()
    name = dtype_name(dtype)
    if _NUMPY.get(name) is None or name == "DT_BOOL":
        return None
    arr = _fitted(body.numbers, name)
    return None if arr is None else ({input_name: arr}, body.key == "instances")


def _narrowed(wide: np.ndarray, name: str) -> np.ndarray | None:
    """Non-empty 64-bit integers as integer type ``name``, or None when one is out of the range
    ``AddValueToTensor`` accepts for it."""
    low, high = _INT_RANGES[name]
    if wide.min() < low or wide.max() > high:
        return None
    return wide.astype(_NUMPY[name])


def _to_array(value: Any, dtype: int) -> np.ndarray | None:
    shape = tuple(dense_shape(value))
    obj = np.array(value, dtype=object)  # ValueError when ragged
    if obj.shape != shape:
        return None
    leaves = obj.reshape(-1)
    kinds = set(map(type, leaves))
    name = dtype_name(dtype)
    if not leaves.size:  # nothing to convert: an empty tensor of the dtype
        import tensorflow as tf

        return np.zeros(
            shape, dtype=object if name == "DT_STRING" else tf.as_dtype(dtype).as_numpy_dtype
        )
    if name == "DT_STRING":
        if not kinds <= {str, dict}:
            return None
        out = np.empty(leaves.size, dtype=object)
        out[:] = [decode_b64(v) if isinstance(v, dict) else to_bytes(v) for v in leaves]
        return out.reshape(shape)
    if name == "DT_BOOL":
        return obj.astype(bool) if kinds == {bool} else None
    if name in ("DT_FLOAT", "DT_DOUBLE"):
        if not kinds <= {int, float}:
            return None
        wide = obj.astype(np.float64)  # OverflowError past the double range
        limit = _EXACT_INT_MAX[name]
        suspect = (np.abs(wide) > limit).reshape(-1)  # only these can be lossy: check them alone
        for item in leaves[suspect]:
            check_value(item, dtype)
        return wide.astype(_NUMPY[name])
    if name not in _INT_RANGES or kinds != {int}:
        return None
    wide = obj.astype(np.uint64 if name == "DT_UINT64" else np.int64)  # OverflowError past 64 bits
    return _narrowed(wide, name)


def tensor_from_json(value: Any, dtype: int, fast: bool = False) -> np.ndarray:
    """A whole JSON value as a tensor (columnar ``inputs``); TF Serving's errors, unwrapped."""
    arr = to_array(value, dtype, fast)
    if arr is None:
        _Walker(dtype).fill(value, dense_shape(value))
        # the walk accepted what the fast path did not
        raise invalid(
            f"JSON Value: {value_to_string(value)} cannot be converted to {dtype_string(dtype)}"
        )
    return arr


def _add_instance_item(
    item: Any, name: str, infos: Mapping[str, int], shapes: dict[str, tuple[list[int], int]]
) -> None:
    """``AddInstanceItem``: check one instance's value for ``name`` against the first one's."""
    if name not in infos:
        raise invalid(f"JSON object: does not have named input: {name}")
    shape = dense_shape(item)
    size = _Walker(infos[name]).fill(item, shape)
    if name not in shapes:
        shapes[name] = (shape, size)
        return
    first_shape, first_size = shapes[name]
    if size != first_size:
        raise invalid(f"Expecting tensor size: {first_size} but got: {size}")
    if shape != first_shape:
        raise invalid(
            f"Expecting shape [{','.join(map(str, first_shape))}] but got: "
            f"[{','.join(map(str, shape))}]"
        )


def _element_object(value: Any) -> bool:
    return isinstance(value, dict) and not is_b64(value)


def _walk_instances(rows: list, infos: Mapping[str, int]) -> None:
    """``FillTensorMapFromInstancesList`` value by value; raises the first error it finds."""
    names = sorted(infos)
    objects = _element_object(rows[0])
    shapes: dict[str, tuple[list[int], int]] = {}
    for index, row in enumerate(rows):
        if objects:
            if not _element_object(row):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            for key, item in row.items():
                try:
                    _add_instance_item(item, key, infos, shapes)
                except ServingError as err:
                    raise invalid(
                        f"Failed to process element: {index} key: {key} of 'instances' "
                        f"list. Error: {err.code}: {err.message}"
                    ) from None
            if set(row) != set(names):
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. JSON "
                    f"object: {value_to_string(row)} must only have keys: "
                    f"{','.join(names)}"
                )
        else:
            if _element_object(row):
                raise invalid(f"Expecting value/list but got object at item {index} of input list")
            try:
                _add_instance_item(row, names[0], infos, shapes)
            except ServingError as err:
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. Error: "
                    f"{err.code}: {err.message}"
                ) from None


def _instances(rows: list, infos: Mapping[str, int], fast: bool) -> dict[str, np.ndarray]:
    if not isinstance(rows[0], dict) and len(infos) > 1:
        raise invalid(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    names = sorted(infos)
    arrays: dict[str, np.ndarray] = {}
    if _element_object(rows[0]):
        wanted = set(names)
        if all(_element_object(r) and r.keys() == wanted for r in rows):
            for name in names:
                column = [row[name] for row in rows]
                arr = to_array(column, infos[name], fast)
                if arr is None or arr.shape[1:] != tuple(dense_shape(rows[0][name])):
                    break
                arrays[name] = arr
    elif not any(_element_object(r) for r in rows):
        arr = to_array(rows, infos[names[0]], fast)
        if arr is not None:
            arrays[names[0]] = arr
    if len(arrays) != len(names):
        _walk_instances(rows, infos)
        raise invalid("'instances' could not be converted")  # the walk accepted what numpy did not
    return arrays


def _columns(value: Any, infos: Mapping[str, int], fast: bool) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or is_b64(value):
        if len(infos) > 1:
            raise invalid(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        (name,) = infos
        return {name: tensor_from_json(value, infos[name], fast)}
    arrays = {}
    for name in sorted(infos):  # names not in the signature are ignored, as in TF Serving
        if name not in value:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = tensor_from_json(value[name], infos[name], fast)
    return arrays


def predict_inputs(
    doc: dict, infos: Mapping[str, int], signame: str, *, fast: bool = False
) -> tuple[dict[str, np.ndarray], bool]:
    """``FillPredictRequestFromJson`` after the signature lookup: ``(inputs, row_format)``.

    ``infos`` maps the signature's input names to their ``types_pb2`` dtype; ``fast`` may be set
    when the body holds no JSON literals (`json_values.may_hold_literals` is false).
    """
    if not infos:
        raise invalid(f"Failed to get input map for signature: {signame or 'DEFAULT'}")
    if "instances" in doc:
        if "inputs" in doc:
            raise invalid(
                f"JSON Value: {value_to_string(doc)} Not formatted correctly expecting "
                "only one of 'inputs' or 'instances' keys to exist "
            )
        rows = nonempty_list(
            doc,
            "instances",
            "Excepting 'instances' to be an list/array",
            "No values in 'instances' array",
        )
        return _instances(rows, infos, fast), True
    if "inputs" in doc:
        return _columns(doc["inputs"], infos, fast), False
    raise invalid("Missing 'inputs' or 'instances' key")
