"""KServe V2 / Open Inference Protocol (REST) on top of the `ModelManager`.

A model's V2 inputs and outputs are those of one SignatureDef: ``serving_default`` unless the
request's (or the metadata query's) ``signature_name`` parameter names another. Tensors travel as
``{"name", "shape", "datatype", "data"}`` with ``data`` flat (row-major) or nested; BYTES elements
are UTF-8 strings or ``{"b64": "..."}`` objects. With the binary tensor data extension
(`serving.server.v2_binary`) inputs may come raw after the JSON header, and outputs go back raw
when asked (``binary_data`` on a requested output, or ``binary_data_output`` on the request).
Errors are raised as `ServingError`: a malformed ``shape``, ``datatype``, version or element
(NaN, Infinity, a decimal or an out-of-range number in INT/UINT data) is INVALID_ARGUMENT (400)
naming it; a shape past the server's `RequestLimits` is refused (`prepare_inputs`) before any
element is read.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from importlib import metadata
from typing import Any, NamedTuple

import numpy as np

from dlsuite.serving.server import inference, v2_binary
from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import invalid
from dlsuite.serving.server.manager import ModelManager
from dlsuite.serving.server.servable import Servable

PLATFORM = "tensorflow_savedmodel"
EXTENSIONS = ("binary_tensor_data",)  # what server metadata reports (Triton's extension names)

# TensorFlow dtype name -> V2 datatype.
_V2_TYPES = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "bfloat16": "BF16",
    "string": "BYTES",
}


_INT64_MAX = (1 << 63) - 1


def version_target(version: str | None) -> tuple[int | None, str | None]:
    """A V2 model version from a URL or ``model_version`` as ``(version, label)``: an integer
    (of int64's range, else INVALID_ARGUMENT naming it) is a version, any other text a label, none
    or ``""`` the default version."""
    if not version:
        return None, None
    digits = version.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        return None, version
    digits = digits.lstrip("0") or "0"  # int() of thousands of digits is an error of its own
    if len(digits) > 19 or int(digits) > _INT64_MAX:
        shown = version if len(version) <= 40 else f"{version[:40]}... ({len(version)} characters)"
        raise invalid(f"Model version {shown} is not a 64-bit integer")
    return -int(digits) if version.startswith("-") else int(digits), None


def server_metadata() -> dict:
    """V2 server metadata: ``{"name": "dlsuite", "version": ..., "extensions": [...]}``."""
    try:
        ours = metadata.version("dlsuite")
    except metadata.PackageNotFoundError:
        ours = "dev"
    return {"name": "dlsuite", "version": ours, "extensions": list(EXTENSIONS)}


def v2_datatype(dtype: Any) -> str:
    """The V2 datatype name of a ``tf.DType`` (its TF name upper-cased when V2 has none)."""
    return _V2_TYPES.get(dtype.name, dtype.name.upper())


def _dims(shape: Any) -> list[int]:
    """A ``tf.TensorShape`` as V2 dims (-1 for unknown sizes, ``[-1]`` for unknown rank)."""
    if shape.rank is None:
        return [-1]
    return [-1 if d is None else int(d) for d in shape.as_list()]


class InferResult(NamedTuple):
    """A V2 inference: the JSON response, the raw data of its binary outputs (in the order of
    ``response["outputs"]``), the version that answered and the signature used."""

    response: dict
    binary: list[bytes]
    version: str
    signature: str


def _flag(parameters: Any, key: str, where: str, default: bool = False) -> bool:
    """A boolean parameter (``binary_data``, ``binary_data_output``) of a parameters object."""
    if parameters is None:
        return default
    if not isinstance(parameters, dict):
        raise invalid(f"'parameters' of {where} must be a JSON object")
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise invalid(f"parameter '{key}' of {where} must be true or false, got {value!r}")
    return value


def _signature(parameters: Any) -> str:
    if parameters is None:
        return ""
    if not isinstance(parameters, dict):
        raise invalid("'parameters' must be a JSON object")
    name = parameters.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid("parameter 'signature_name' must be a string")
    return name


def model_metadata(
    manager: ModelManager, name: str, version: int | None, label: str | None, signature: str = ""
) -> dict:
    """V2 model metadata of one signature (``serving_default`` unless ``signature`` is given)."""
    import tensorflow as tf

    with manager.servable(name, version, label) as servable:
        key = servable.signature(signature)
        inputs = [
            {"name": n, "datatype": v2_datatype(spec.dtype), "shape": _dims(spec.shape)}
            for n, spec in sorted(servable.input_specs[key].items())
        ]
        outputs = []
        for n, info in sorted(servable.signature_defs[key].outputs.items()):
            shape = tf.TensorShape(
                None
                if info.tensor_shape.unknown_rank
                else [d.size if d.size >= 0 else None for d in info.tensor_shape.dim]
            )
            outputs.append(
                {
                    "name": n,
                    "datatype": v2_datatype(tf.dtypes.as_dtype(info.dtype)),
                    "shape": _dims(shape),
                }
            )
        versions = [str(s.version) for s in manager.status(name) if s.state == "AVAILABLE"]
        return {
            "name": name,
            "versions": versions,
            "platform": PLATFORM,
            "parameters": {"signature_name": key, "version": str(servable.version)},
            "inputs": inputs,
            "outputs": outputs,
        }


def _flat(data: Any) -> list:
    if isinstance(data, list):
        return [x for item in data for x in _flat(item)]
    return [data]


def _bytes_element(value: Any, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError) as err:
            raise invalid(f"Input '{name}': unable to base64 decode: {err}") from None
    raise invalid(
        f"Input '{name}' has datatype BYTES; its elements must be strings or {{\"b64\": ...}}"
    )


def tensor_shape(tensor: dict) -> list[int]:
    """A V2 input's ``shape``: a list of integers from 0 to 2**63 - 1 (INVALID_ARGUMENT naming
    the input otherwise)."""
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        type(d) is int and 0 <= d <= _INT64_MAX for d in shape
    ):
        shown = str(shape) if len(str(shape)) <= 80 else f"{str(shape)[:80]}..."
        raise invalid(
            f"Input '{tensor['name']}': 'shape' must be a list of integers from 0 to 2^63-1, "
            f"got {shown}"
        )
    return shape


def _numbers(flat: list, name: str, expected: str, spec: Any) -> np.ndarray:
    """JSON elements of a numeric or BOOL input as a flat array: every element a bool for BOOL,
    an integer in the dtype's range for INT/UINT, a number for FP (NaN and Infinity allowed)."""
    dtype = spec.dtype.as_numpy_dtype
    if expected == "BOOL":
        if not all(type(v) is bool for v in flat):
            raise invalid(f"Input '{name}' has datatype BOOL; its elements must be true/false")
        return np.array(flat, dtype=dtype)
    if any(type(v) not in (int, float) for v in flat):
        raise invalid(f"Input '{name}' has datatype {expected}; its elements must be numbers")
    if spec.dtype.is_integer:
        for index, value in enumerate(flat):
            if type(value) is float:
                what = (
                    "a decimal number"
                    if math.isfinite(value)
                    else ("NaN" if math.isnan(value) else "an infinite number")
                )
                raise invalid(
                    f"Input '{name}' has datatype {expected} but element {index} is {what} "
                    f"({value!r}); its elements must be integers"
                )
        info = np.iinfo(dtype)
        low, high = (min(flat), max(flat)) if flat else (0, 0)
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            shown = str(bad) if len(str(bad)) <= 40 else f"{str(bad)[:40]}..."
            raise invalid(
                f"Input '{name}' has datatype {expected} but holds {shown}, outside its range "
                f"[{info.min}, {info.max}]"
            )
    try:
        return np.array(flat, dtype=dtype)
    except (ValueError, OverflowError) as err:  # an integer past the double range for FP
        raise invalid(f"Input '{name}' cannot be converted to {expected}: {err}") from None


def input_array(tensor: Any, spec: Any, raw: bytes | None = None) -> np.ndarray:
    """One V2 request input as a numpy array checked against its ``tf.TensorSpec``.

    ``raw`` is the input's binary data (binary extension, or gRPC ``raw_input_contents``); without
    it the elements come from the tensor's JSON ``data``.
    """
    name = tensor["name"]
    shape, datatype, data = tensor_shape(tensor), tensor.get("datatype"), tensor.get("data")
    expected = v2_datatype(spec.dtype)
    if datatype != expected:
        known = datatype in _V2_TYPES.values()
        shown = datatype if known else f"{json.dumps(datatype)[:40]}, which is not a V2 datatype,"
        raise invalid(f"Input '{name}' has datatype {shown} but the signature expects {expected}")
    if raw is not None:
        if data is not None:
            raise invalid(
                f"Input '{name}' has both 'data' and binary data ('{v2_binary.SIZE}'); "
                "send one of them"
            )
        return v2_binary.decode(name, expected, shape, raw, spec.dtype.as_numpy_dtype)
    if data is None:
        raise invalid(f"Input '{name}' has no 'data'")
    flat = _flat(data)
    if len(flat) != math.prod(shape):
        raise invalid(
            f"Input '{name}' has {len(flat)} elements but shape {shape} needs {math.prod(shape)}"
        )
    if expected == "BYTES":
        arr = np.empty(len(flat), dtype=object)
        arr[:] = [_bytes_element(v, name) for v in flat]
        return arr.reshape(shape)
    return _numbers(flat, name, expected, spec).reshape(shape)


def _output_datatype(arr: np.ndarray) -> str:
    import tensorflow as tf

    return "BYTES" if v2_binary.is_bytes(arr) else v2_datatype(tf.dtypes.as_dtype(arr.dtype))


def output_binary(name: str, arr: np.ndarray) -> tuple[dict, bytes]:
    """One output array as a V2 tensor sent as binary data: ``(JSON tensor, raw data)``."""
    arr = np.asarray(arr)
    raw = v2_binary.encode(arr)
    return (
        {
            "name": name,
            "shape": list(arr.shape),
            "datatype": _output_datatype(arr),
            "parameters": {v2_binary.SIZE: len(raw)},
        },
        raw,
    )


def output_json(name: str, arr: np.ndarray) -> dict:
    """One output array as a V2 tensor
    (BYTES as UTF-8 strings, or all ``{"b64"}`` if any is not).
    """
    import tensorflow as tf

    arr = np.asarray(arr)
    if v2_binary.is_bytes(arr):
        items = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in arr.reshape(-1)]
        try:
            data: list = [v.decode("utf-8") for v in items]
        except UnicodeDecodeError:
            data = [{"b64": base64.b64encode(v).decode("ascii")} for v in items]
        datatype = "BYTES"
    else:
        data = arr.reshape(-1).tolist()
        datatype = v2_datatype(tf.dtypes.as_dtype(arr.dtype))
    return {"name": name, "shape": list(arr.shape), "datatype": datatype, "data": data}


class InferRequest(NamedTuple):
    """A V2 inference request before its tensors are decoded: ``inputs`` maps each input's name
    to ``(JSON tensor, binary data or None)`` (decoded by `decode_input` once the signature is
    known); ``outputs`` is the output filter and ``binary`` whether each output goes back raw."""

    signature: str
    inputs: dict[str, tuple[dict, bytes | None]]
    outputs: tuple[str, ...]
    binary: dict[str, bool]
    all_binary: bool
    id: Any


def parse_infer(body: Any, raw_inputs: list[bytes | None] | None = None) -> InferRequest:
    """A V2 inference body as an `InferRequest`.

    ``raw_inputs[i]`` is the binary data of ``body["inputs"][i]`` (None: its JSON ``data``). An
    output goes back as binary data when its requested ``parameters.binary_data`` is true, or when
    it has none and the request's ``parameters.binary_data_output`` is true.
    """
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    signature = _signature(body.get("parameters"))
    all_binary = _flag(body.get("parameters"), "binary_data_output", "the request")
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise invalid("'inputs' must be a non-empty list of tensors")
    wanted = body.get("outputs") or []
    if not isinstance(wanted, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
    ):
        raise invalid("'outputs' must be a list of objects with a 'name'")
    binary = {
        o["name"]: _flag(o.get("parameters"), "binary_data", f"output '{o['name']}'", all_binary)
        for o in wanted
    }
    raws = raw_inputs if raw_inputs is not None else [None] * len(tensors)
    if len(raws) != len(tensors):
        raise invalid(f"expected binary data for {len(tensors)} inputs, got {len(raws)}")
    inputs: dict[str, tuple[dict, bytes | None]] = {}
    for tensor, raw in zip(tensors, raws, strict=True):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise invalid(
                "each input must be an object with 'name', 'shape', 'datatype' and 'data'"
            )
        if tensor["name"] in inputs:
            raise invalid(f"Input '{tensor['name']}' is given more than once")
        inputs[tensor["name"]] = (tensor, raw)
    names = tuple(o["name"] for o in wanted)
    return InferRequest(signature, inputs, names, binary, all_binary, body.get("id"))


def decode_input(name: str, value: tuple[dict, bytes | None], spec: Any) -> np.ndarray:
    """`inference.prepare`'s decoder for V2 inputs (see `input_array`)."""
    tensor, raw = value
    return input_array(tensor, spec, raw)


def prepare_inputs(
    servable: Servable, key: str, request: InferRequest, limits: RequestLimits | None
) -> dict[str, np.ndarray]:
    """`inference.prepare` of a V2 request's inputs: their ``shape`` checked against ``limits``
    before any is decoded."""
    return inference.prepare(
        servable,
        key,
        request.inputs,
        request.outputs,
        decode_input,
        shape=lambda _name, value: tensor_shape(value[0]),
        limits=limits,
    )


def infer_result(
    request: InferRequest, name: str, version: int, key: str, outputs: dict[str, np.ndarray]
) -> InferResult:
    """The V2 answer to ``request`` from its (filtered) outputs."""
    tensors, binary = [], []
    for n, a in sorted(outputs.items()):
        if request.binary.get(n, request.all_binary):
            tensor, raw = output_binary(n, a)
            tensors.append(tensor)
            binary.append(raw)
        else:
            tensors.append(output_json(n, a))
    response = {"model_name": name, "model_version": str(version), "outputs": tensors}
    if request.id is not None:
        response["id"] = request.id
    return InferResult(response, binary, str(version), key)


def infer(
    manager: ModelManager,
    name: str,
    version: int | None,
    label: str | None,
    request: InferRequest,
    limits: RequestLimits | None,
) -> InferResult:
    """Run a V2 inference request from a thread (the V2 gRPC service) on the one predict path."""
    with manager.servable(name, version, label) as servable:
        key = servable.signature(request.signature)
        feeds = prepare_inputs(servable, key, request, limits)
        outputs = inference.selected(servable.run(key, feeds), request.outputs)
        return infer_result(request, name, servable.version, key, outputs)
