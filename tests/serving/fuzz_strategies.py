"""Hypothesis strategies for the server fuzz test (``tests/serving/test_server_fuzz.py``).

`rest_cases` draws HTTP requests that know TF Serving's REST grammar (``:predict`` bodies in row and
columnar form, ``:classify``/``:regress`` Examples, KServe V2 ``/infer`` bodies with the binary
tensor data extension, model/version/label paths) and break it on purpose: wrong types and ragged
shapes, NaN/Infinity tokens, 5,000-digit numbers, nesting 100,000 deep, duplicated keys, byte
mutations of valid bodies, traversal and percent-encoded paths, odd methods, ``Content-Encoding``
with garbage. `grpc_cases` draws the TF Serving and KServe V2 gRPC messages the same way (every
``TensorProto`` dtype, shapes with huge dimensions and one value, ``tensor_content`` of the wrong
size, tf.Example inputs, unknown models, versions and labels) and raw or mutated bytes sent as a
method's message. `images` draws PNG/GIF/BMP/JPEG files declaring any size.

Every strategy is built once, at import (those needing the TF Serving protos on first use), and
bulk content (long digit strings, deep brackets, repeated rows) is built from a few drawn numbers:
a drawn case costs a few dozen Hypothesis choices, well inside its per-example budget.

The requests aim at the models the fuzz test serves: ``hp`` (`tests.serving.golden`, label
``stable`` = version 1) and ``img`` (one string input ``image``, decoded as an image).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import gzip
import json
import math
import re
import struct
import zlib
from typing import Any

from hypothesis import strategies as st

MODELS = ("hp", "img")
SIGNATURES = {  # (model, signature) -> {input: (dtype, trailing dims)}
    ("hp", "serving_default"): {"x": ("float", ())},
    ("hp", "two_inputs"): {"a": ("float", ()), "b": ("float", ())},
    ("hp", "ints"): {"k": ("int64", (2,))},
    ("hp", "bytes_length"): {"x_bytes": ("string", ())},
    ("img", "serving_default"): {"image": ("image", ())},
}
EXAMPLE_SIGNATURES = ("classify_x_to_y", "regress_x_to_y")
OUTPUTS = ("y", "sum", "diff", "doubled", "length", "echo_bytes", "size", "classes", "scores")
INPUT_NAMES = ("x", "a", "b", "k", "x_bytes", "image", "inputs")
V2_TYPES = {"float": "FP32", "int64": "INT64", "string": "BYTES", "image": "BYTES"}
V2_DATATYPES = (
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BF16", "BYTES",
)  # fmt: skip
GRPC_METHODS = (  # every unary method served but model management (a reload unloads models)
    "/tensorflow.serving.PredictionService/Predict",
    "/tensorflow.serving.PredictionService/Classify",
    "/tensorflow.serving.PredictionService/Regress",
    "/tensorflow.serving.PredictionService/MultiInference",
    "/tensorflow.serving.PredictionService/GetModelMetadata",
    "/tensorflow.serving.ModelService/GetModelStatus",
    "/inference.GRPCInferenceService/ModelInfer",
    "/inference.GRPCInferenceService/ModelMetadata",
    "/inference.GRPCInferenceService/ModelReady",
    "/inference.GRPCInferenceService/ServerMetadata",
    "/grpc.health.v1.Health/Check",
)
_DIGIT_COUNTS = (19, 20, 39, 309, 400, 401, 1000, 4300, 4301, 5000, 10000)
_DEPTHS = (63, 64, 65, 100, 500, 1000, 1025, 5000, 100_000)
_BIG_DIMS = (1024, 1025, 4096, 2**24, 2**24 + 1, 2**25 + 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1)


# -- requests ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HttpCase:
    """One HTTP request, sent as is (path, headers and body are not normalised)."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def describe(self, limit: int = 400) -> str:
        """The request, shortened for an assertion message."""
        headers = "".join(f"\n    {k}: {shorten(v, 120)}" for k, v in self.headers)
        return (
            f"{self.method} {shorten(self.path, 200)}{headers}\n"
            f"    body ({len(self.body)} bytes): {shorten(self.body, limit)}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class GrpcCase:
    """One gRPC call: a method path and the serialized request message (or any bytes)."""

    method: str
    payload: bytes
    what: str  # what the payload is: a message type, "raw bytes", ...
    message: Any = None  # the message it serializes, when there is one

    def describe(self, limit: int = 400) -> str:
        """The call, shortened for an assertion message (the message in text format)."""
        text = self.what
        if self.message is not None:
            from google.protobuf import text_format

            text += " {" + text_format.MessageToString(self.message, as_one_line=True) + "}"
        return (
            f"{self.method} {shorten(text, limit)}\n"
            f"    payload ({len(self.payload)} bytes): {shorten(self.payload, 200)}"
        )


def shorten(value: str | bytes, limit: int) -> str:
    """``value`` as a Python literal with runs of 12 or more equal characters written ``<c*N>``
    and the middle of what is still longer than ``limit`` cut out."""
    text = re.sub(r"(.)\1{11,}", lambda m: f"<{m.group(1)}*{len(m.group(0))}>", repr(value))
    if len(text) > limit:
        text = f"{text[: limit * 2 // 3]} ...[{len(text) - limit} chars]... {text[-limit // 3 :]}"
    return text


# -- JSON text ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Raw:
    """JSON text put into a document verbatim: tokens JSON lacks, huge numbers, deep nesting."""

    text: str


@dataclasses.dataclass(frozen=True)
class Obj:
    """A JSON object as ``(key, value)`` pairs, so keys may repeat."""

    pairs: tuple[tuple[str, Any], ...]


_MARK = re.compile(r'"\\u001e(\d+)\\u001e"')


def render(value: Any) -> bytes:
    """JSON text of a document of Python values, `Raw` and `Obj` (NaN and infinities written as
    the ``NaN``/``Infinity`` tokens TF Serving's parser accepts; lone surrogates escaped)."""
    verbatim: list[str] = []

    def mark(item: Any) -> str:
        if isinstance(item, Raw):
            verbatim.append(item.text)
        elif isinstance(item, Obj):
            verbatim.append(
                "{" + ",".join(f"{json.dumps(k)}:{render(v).decode()}" for k, v in item.pairs) + "}"
            )
        else:
            raise TypeError(type(item))
        return f"\x1e{len(verbatim) - 1}\x1e"

    text = json.dumps(value, default=mark, separators=(",", ":"))
    if verbatim:
        text = _MARK.sub(lambda m: verbatim[int(m.group(1))], text)
    return text.encode()


def _number_text(digits: int, kind: int) -> str:
    return (
        "9" * digits,
        "-1" + "0" * (digits - 1),
        "1." + "3" * digits,
        "0." + "0" * digits + "1",
        f"1e{'9' * min(digits, 400)}",
        "1" + "0" * digits + "e-" + str(digits),
    )[kind]


def _deep(depth: int, kind: int) -> Raw:
    """Arrays (or objects) nested ``depth`` deep, balanced or not."""
    return Raw(
        (
            "[" * depth + "1" + "]" * depth,
            '{"a":' * depth + "1" + "}" * depth,
            "[" * depth,
            '[{"b64":' * depth + '"AA=="' + "}]" * depth,
        )[kind]
    )


huge_numbers = st.builds(
    lambda digits, kind: Raw(_number_text(digits, kind)),
    st.sampled_from(_DIGIT_COUNTS) | st.integers(1, 6000),
    st.integers(0, 5),
)
odd_tokens = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "-NaN", "nan", "inf", "1e999", "-1e999", "-0", "0.0e",
     "01", "+1", ".5", "1.", "0x10", "1_000", "18446744073709551616", "-9223372036854775809",
     "9223372036854775808", "16777217", "3.4028236e38", "4.9e-324", '"\\ud800"', '"\\u0000"',
     '"\\x"', "tru", "nul", "'a'", "[", "]", "{", "}", ""]
).map(Raw)  # fmt: skip
deep_values = st.builds(_deep, st.sampled_from(_DEPTHS) | st.integers(1, 2000), st.integers(0, 3))
b64_objects = st.one_of(
    st.binary(max_size=12).map(lambda b: {"b64": base64.b64encode(b).decode()}),
    st.text(max_size=8).map(lambda t: {"b64": t}),
    st.builds(
        lambda v: {"b64": v}, st.integers() | st.none() | st.lists(st.integers(), max_size=2)
    ),
)
numbers = st.one_of(
    st.floats(),
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.integers(-(2**64), 2**64),
    st.sampled_from([0, 1, -1, 2**24 + 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1]),
)
leaves = st.one_of(
    numbers, st.booleans(), st.none(), st.text(max_size=10), b64_objects, huge_numbers, odd_tokens
)
_leaf_or_deep = leaves | deep_values
_booleans = st.booleans()


@functools.cache
def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    """``st.integers(low, high)``, built once (a draw of a strategy built in place costs a
    look-up in Hypothesis's strategy cache)."""
    return st.integers(low, high)


@st.composite
def mostly(draw: Any, usual: st.SearchStrategy, odd: st.SearchStrategy, one_in: int = 4) -> Any:
    """``usual``, and ``odd`` about once in ``one_in`` draws (``usual | odd`` would weigh each
    of ``odd``'s own alternatives as much as ``usual``)."""
    return draw(odd) if draw(_ints(1, one_in)) == one_in else draw(usual)


def _fill(shape: list[int], pool: list[Any], at: int = 0) -> Any:
    """Nested lists of ``shape`` whose leaves cycle through ``pool``."""
    if not shape:
        return pool[at % len(pool)]
    return [_fill(shape[1:], pool, at + i) for i in range(shape[0])]


_shapes = st.lists(st.integers(1, 4) | st.just(0), max_size=4)
_leaf_pools = st.lists(leaves, min_size=1, max_size=3)


@st.composite
def _json_tensors(draw: Any) -> Any:
    """A JSON tensor of any shape and leaves, now and then ragged, mixed or deep."""
    pool = draw(_leaf_pools)
    value = _fill(draw(_shapes), pool)
    damage = draw(_ints(0, 9))
    if damage == 0 and isinstance(value, list) and value and isinstance(value[0], list):
        value[0] = value[0][:-1] if draw(_booleans) else [*value[0], pool[0]]  # ragged
    elif damage == 1 and isinstance(value, list) and value:
        value[-1] = draw(_leaf_or_deep)  # another type (or a deep value) at one place
    elif damage == 2:
        value = draw(deep_values)
    return value


json_tensors = _json_tensors()
names = st.sampled_from(INPUT_NAMES) | st.text(max_size=6)
signature_targets = st.sampled_from(sorted(SIGNATURES))
_named_tensors = st.dictionaries(names, json_tensors, max_size=3)


# -- images -----------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """An 8-bit grayscale PNG declaring ``width`` x ``height``; its pixels are all black unless
    ``idat`` gives the compressed data. Built in time proportional to the file, not the image:
    one 4 MB block of rows is compressed and its output repeated (a full flush makes each block
    independent of the ones before), so a 23,000 x 23,000 image (529 MB decoded) takes 0.2 s."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if idat is None:
        row = b"\0" * (width + 1)  # filter byte "none", then the pixels
        per_block = max(1, min(height, (1 << 22) // len(row)))
        blocks, rest = divmod(height, per_block)
        rows = row * per_block
        block = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = block.compress(rows) + block.flush(zlib.Z_FULL_FLUSH)
        last = zlib.compressobj(9, zlib.DEFLATED, -15)
        tail = last.compress(row * rest) + last.flush()
        checksum = 1
        for _ in range(blocks):
            checksum = zlib.adler32(rows, checksum)
        checksum = zlib.adler32(row * rest, checksum)
        idat = b"\x78\xda" + data * blocks + tail + struct.pack(">I", checksum)
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _gif(width: int, height: int, tail: bytes) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", 0, 0, min(width, 2), min(height, 2), 0) + b"\x02" + tail
    return b"GIF89a" + screen + image + b";"


def _bmp(width: int, height: int, bits: int, tail: bytes) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, len(tail), 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + len(tail), 0, 0, 54) + info + tail


def _jpeg(width: int, height: int, tail: bytes) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + tail + b"\xff\xd9"


# Declared sizes stay at most 16,384 a side (268 MB decoded) except where libpng refuses them from
# the header (over 1,000,000 a side): the run must not exhaust the host's memory if the server
# decodes them. The fixed cases of the test module hold the 23,000 x 23,000 PNG.
_png_sides = st.integers(0, 8) | st.sampled_from([8192, 16_384, 1_000_001, 2**31 - 1, 2**32 - 1])
_other_sides = st.integers(0, 8) | st.sampled_from([255, 4096, 8192])
_tails = st.binary(max_size=24)
_bmp_bits = st.sampled_from([1, 4, 8, 24, 32, 0, 7])
_bmp_signs = st.sampled_from([1, -1])


@st.composite
def _images(draw: Any) -> bytes:
    """A real small PNG, a PNG/GIF/BMP/JPEG header declaring a large size followed by short,
    truncated or garbage data, or a mutated PNG."""
    kind = draw(_ints(0, 5))
    if kind == 0:
        return png(draw(_ints(1, 8)), draw(_ints(1, 8)))
    if kind == 1:
        if draw(_booleans):
            idat = zlib.compress(b"\0" * draw(_ints(0, 64)))
        else:
            idat = draw(_tails)
        return png(draw(_png_sides), draw(_png_sides), idat)
    if kind == 5:
        return mutate(png(2, 2), draw(mutations))
    width, height, tail = draw(_other_sides), draw(_other_sides), draw(_tails)
    if kind == 2:
        return _gif(width, height, tail)
    if kind == 3:
        return _bmp(width, draw(_bmp_signs) * height, draw(_bmp_bits), tail)
    return _jpeg(width, height, tail)


# -- byte mutations -----------------------------------------------------------------------------
_TOKENS = (b"NaN", b"[[[[", b"\x00", b"\xff\xfe", b"\\ud800", b"}", b'"', b"1e999")
mutations = st.lists(
    st.tuples(st.integers(0, 2**16), st.integers(0, 5), st.binary(min_size=1, max_size=4)),
    min_size=1,
    max_size=4,
)


def mutate(body: bytes, ops: list[tuple[int, int, bytes]]) -> bytes:
    """``body`` with byte-level mutations ``(position, operation, bytes)`` applied: bit flips,
    inserts, deletions, truncation, an odd token, a repeated slice."""
    data = bytearray(body)
    for position, op, extra in ops:
        at = position % (len(data) + 1)
        if op == 0 and at < len(data):
            data[at] ^= 1 << (extra[0] % 8)
        elif op == 1:
            data[at:at] = extra
        elif op == 2:
            del data[at : at + 1 + extra[0] % 8]
        elif op == 3:
            del data[at:]
        elif op == 4:
            data[at:at] = _TOKENS[extra[0] % len(_TOKENS)]
        else:
            data[at:at] = bytes(data[at : at + 1 + extra[0] % 32])
    return bytes(data)


images = _images()
_image_b64 = images.map(lambda b: {"b64": base64.b64encode(b).decode()})

# -- REST bodies --------------------------------------------------------------------------------
_TYPED_LEAVES = {
    "float": st.floats(width=32) | st.integers(-(2**24), 2**24),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "string": st.text(max_size=10) | b64_objects,
    "image": _image_b64,
}
_typed_pools = {k: st.lists(v, min_size=1, max_size=3) for k, v in _TYPED_LEAVES.items()}
_rows = st.integers(1, 3) | st.sampled_from([0, 1024, 1025])  # (Hypothesis favours 0)
_v2_rows = st.integers(1, 3) | st.just(0)
_signature_values = {
    signature: mostly(st.just(signature), st.sampled_from(EXAMPLE_SIGNATURES) | leaves)
    for _, signature in SIGNATURES
}
_tensor_lists = st.lists(json_tensors, max_size=4)
_row_objects = st.lists(_named_tensors, max_size=3)
_columns = json_tensors | _named_tensors
_duplicate_keys = st.lists(
    st.sampled_from(["instances", "inputs", "signature_name"]), min_size=2, max_size=4
)
_body_keys = st.sampled_from(["instances", "inputs"])
_not_objects = json_tensors | leaves


@st.composite
def _predict_bodies(draw: Any) -> Any:
    """A ``:predict`` document: mostly shaped for one of the served signatures (row or columnar,
    some one thing wrong in them), otherwise any row/columnar, named/unnamed mix of tensors,
    duplicated keys, or not an object at all."""
    model, signature = draw(signature_targets)
    kind = draw(_ints(0, 9))
    if kind <= 3:
        rows = draw(_rows)
        columns = {
            name: _fill([rows, *dims], draw(_typed_pools[dtype]))
            for name, (dtype, dims) in SIGNATURES[model, signature].items()
        }
        if kind <= 1:  # row format
            if len(columns) == 1 and draw(_booleans):
                doc: Any = {"instances": next(iter(columns.values()))}
            else:
                doc = {"instances": [{k: v[i] for k, v in columns.items()} for i in range(rows)]}
        elif kind == 2 or len(columns) > 1:
            doc = {"inputs": columns}
        else:
            doc = {"inputs": next(iter(columns.values()))}
    elif kind == 4:
        doc = {"instances": draw(_tensor_lists)}
    elif kind == 5:
        doc = {"instances": draw(_row_objects)}
    elif kind == 6:
        doc = {"inputs": draw(_columns)}
    elif kind == 7:
        doc = Obj(tuple((k, draw(json_tensors)) for k in draw(_duplicate_keys)))
    elif kind == 8:
        doc = {draw(_body_keys): draw(_leaf_or_deep)}
    else:
        doc = draw(_not_objects)
    named = signature != "serving_default" or draw(_booleans)
    if isinstance(doc, dict) and named and draw(_ints(0, 9)) > 0:
        doc["signature_name"] = draw(_signature_values[signature])
    return doc


predict_bodies = _predict_bodies()
_features = mostly(
    st.floats(width=32) | st.lists(st.floats(width=32), min_size=1, max_size=2),
    st.one_of(st.integers(), st.text(max_size=8), b64_objects, json_tensors, leaves),
)
_examples = st.dictionaries(
    st.sampled_from(["x", "y", ""]) | st.text(max_size=5), _features, max_size=3
)
_example_lists = mostly(st.lists(_examples, min_size=1, max_size=4), leaves | deep_values)
_contexts = mostly(_examples, leaves)
_example_signature_values = mostly(
    st.sampled_from(EXAMPLE_SIGNATURES), st.sampled_from(["", "nope"]) | leaves
)


@st.composite
def _examples_bodies(draw: Any) -> Any:
    """A ``:classify``/``:regress`` document: ``examples`` (maybe a ``context``) of features."""
    doc: dict[str, Any] = {"examples": draw(_example_lists)}
    if draw(_ints(0, 3)) == 0:
        doc["context"] = draw(_contexts)
    if draw(_ints(0, 4)) > 0:
        doc["signature_name"] = draw(_example_signature_values)
    return doc


examples_bodies = _examples_bodies()
v2_shapes = st.lists(
    st.integers(0, 4)
    | st.sampled_from([-1, -(2**31), *_BIG_DIMS, 2**64, 10**30])
    | st.just(1.5)
    | st.just("2"),
    max_size=4,
)
_maybe_names = mostly(st.none(), names, 6)  # None: the right name
_maybe_shapes = mostly(st.none(), v2_shapes, 6)
_v2_datatypes = mostly(st.none(), st.sampled_from(V2_DATATYPES) | leaves, 6)
_any_data = st.lists(leaves | huge_numbers, max_size=4) | json_tensors
_binary_sizes = mostly(st.none(), st.integers(-5, 2**64) | leaves)
_raw_chunks = st.binary(min_size=1, max_size=16)
_v2_parameters = st.fixed_dictionaries(
    {
        "signature_name": mostly(st.none(), leaves),
        "binary_data_output": mostly(st.booleans(), leaves),
    }
)
_v2_outputs = mostly(
    st.lists(
        st.fixed_dictionaries(
            {"name": mostly(st.sampled_from(OUTPUTS), leaves)},
            optional={"parameters": st.fixed_dictionaries({"binary_data": leaves})},
        ),
        max_size=2,
    ),
    leaves,
)


@st.composite
def _v2_bodies(draw: Any) -> tuple[Any, bytes]:
    """A KServe V2 ``/infer`` request: ``(JSON header document, raw binary data after it)``;
    its inputs shaped for a served signature with wrong names, shapes, datatypes, data (NaN in
    INT, huge numbers) and binary sizes drawn in."""
    model, signature = draw(signature_targets)
    raw = b""
    inputs = []
    for name, (dtype, dims) in SIGNATURES[model, signature].items():
        rows = draw(_v2_rows)
        count = rows * math.prod(dims)
        tensor: dict[str, Any] = {
            "name": draw(_maybe_names) or name,
            "shape": draw(_maybe_shapes) or [rows, *dims],
            "datatype": draw(_v2_datatypes) or V2_TYPES[dtype],
        }
        how = draw(_ints(0, 5))
        if how <= 2:
            tensor["data"] = (draw(_typed_pools[dtype]) * count)[:count]
        elif how == 3:
            tensor["data"] = draw(_any_data)
        else:  # the binary tensor data extension
            size = (count * 4, count * 8, draw(_ints(0, 64)))[draw(_ints(0, 2))]
            raw += (draw(_raw_chunks) * (size + 1))[:size]
            declared = draw(_binary_sizes)
            tensor["parameters"] = {"binary_data_size": size if declared is None else declared}
        inputs.append(tensor)
    doc: Any = {"inputs": inputs}
    if draw(_booleans):
        doc["parameters"] = draw(_v2_parameters)
        doc["parameters"]["signature_name"] = doc["parameters"]["signature_name"] or signature
    if draw(_ints(0, 3)) == 0:
        doc["outputs"] = draw(_v2_outputs)
    if draw(_ints(0, 3)) == 0:
        doc["id"] = draw(leaves)
    which = draw(_ints(0, 19))
    if which == 0:
        doc = Obj((("inputs", inputs), ("inputs", [])))
    elif which == 1:
        doc = draw(_not_objects)
    return doc, raw


v2_bodies = _v2_bodies()

# -- REST paths, headers, requests ------------------------------------------------------------
_URL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_.~%"
model_names = st.sampled_from(
    ["hp", "img", "HP", "nope", "", ".", "..", "%2e%2e", "%2E%2E%2F%2E%2E", "hp%2F1", "h%00p",
     "%", "%zz", "%C3%A9", "hp;x", "hp%3Apredict", "..%2F..%2Fetc%2Fpasswd", "a" * 300]
) | st.text(_URL_CHARS, max_size=8)  # fmt: skip
versions = st.one_of(
    st.integers(-2, 3).map(str),
    st.sampled_from(
        [
            "01",
            "00000000000000000001",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551616",
            "1.0",
            "1e3",
            "0x1",
            "+1",
            "%31",
            "",
        ]
    ),  # fmt: skip
    st.sampled_from(_DIGIT_COUNTS).map(lambda n: "9" * n),
)
labels = st.sampled_from(["stable", "canary", "nope", "", "%2e%2e", "1", "stable%00"]) | st.text(
    _URL_CHARS, max_size=8
)
traversals = st.sampled_from(
    ["/v1/models/../../etc/passwd", "/v1/models/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd",
     "/v1/models/hp/versions/1/../../../../etc/passwd:predict", "/../../../../etc/passwd",
     "/v2/models/../../etc/passwd/infer", "/v2/models/%2e%2e%2f%2e%2e%2fetc%2fpasswd/infer",
     "/v1/models/hp/labels/..%2F..%2Fetc%2Fpasswd", "/v1/models/hp/metadata/../../x",
     "/static/../../../etc/passwd", "/v1/models/hp\\..\\..\\etc\\passwd:predict",
     "/v1/models/hp:predict?signature_name=../../x", "/%00", "/v1/%ff%fe", "/*", "/v1/models/*"]
)  # fmt: skip
other_paths = st.sampled_from(
    ["/", "/v1", "/v1/", "/v1/models", "/v1/models/", "/v1/health/live", "/v1/health/ready",
     "/v2", "/v2/health/live", "/v2/health/ready", "/v2/models", "/metrics",
     "/monitoring/prometheus/metrics", "/v2/repository/index", "/favicon.ico"]
)  # fmt: skip
_v1_prefixes = st.sampled_from(["/v1/models/", "/V1/Models/", "/v1/models//", "/v1/model/"])


@st.composite
def v1_paths(draw: Any, suffix: st.SearchStrategy) -> str:
    """``/v1/models/<name>[/versions/<v>|/labels/<l>]<suffix>`` with any of those parts odd."""
    part = draw(_ints(0, 3))
    middle = ("", "", f"/versions/{draw(versions)}", f"/labels/{draw(labels)}")[part]
    return draw(_v1_prefixes) + draw(model_names) + middle + draw(suffix)


@st.composite
def v2_paths(draw: Any, suffix: st.SearchStrategy) -> str:
    """``/v2/models/<name>[/versions/<v>]<suffix>``."""
    version = f"/versions/{draw(versions | labels)}" if draw(_booleans) else ""
    return f"/v2/models/{draw(model_names)}{version}{draw(suffix)}"


_served_predict_paths = st.sampled_from(
    ["/v1/models/hp:predict", "/v1/models/hp/versions/1:predict",
     "/v1/models/hp/labels/stable:predict", "/v1/models/img:predict",
     "/v1/models/img/versions/1:predict"]
)  # fmt: skip
_predict_paths = v1_paths(st.sampled_from([":predict"] * 6 + [":PREDICT", ":classify", ""]))
_example_paths = st.sampled_from(["/v1/models/hp:classify", "/v1/models/hp:regress"]) | v1_paths(
    st.sampled_from([":classify", ":regress"])
)
_infer_paths = st.sampled_from(
    ["/v2/models/hp/infer", "/v2/models/img/infer", "/v2/models/hp/versions/1/infer"]
) | v2_paths(st.sampled_from(["/infer", "/infer", "/ready", "", "/infer/"]))
_header_lengths = mostly(  # None: the right length
    st.none(),
    st.integers(-5, 600).map(str)
    | st.sampled_from(["0", "-1", "abc", " 12 ", "1e3", "9" * 30, ""]),
    3,
)
_methods = st.sampled_from(
    ["GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO", "get"]
)
_any_paths = (
    traversals
    | other_paths
    | v1_paths(st.sampled_from(["", "/metadata", ":predict", "/METADATA", ":x", "/"]))
    | v2_paths(st.sampled_from(["", "/ready", "/infer"]))
)
_small_bodies = st.just(b"") | st.binary(max_size=32) | st.just(b'{"instances": [1.0]}')
_encodings = st.sampled_from(
    ["gzip", "deflate", "br", "zstd", "identity", "gzip, gzip", "x-bogus", "GZIP"]
)
content_types = st.sampled_from(
    [None, "application/json", "application/json", "text/plain", "application/octet-stream",
     "application/json; charset=latin-1", "multipart/form-data; boundary=x",
     "application/x-www-form-urlencoded", "garbage"]
)  # fmt: skip
queries = st.sampled_from(["?signature_name=two_inputs", "?a=%zz&b", "?" + "x" * 3000, "?"])
_header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40) | (
    st.sampled_from(["Bearer x", "gzip, br", "bytes=0-1", "-1", "x" * 4000])
)
extra_headers = st.lists(
    st.tuples(
        st.sampled_from(
            ["x-request-id", "Authorization", "Accept", "Accept-Encoding", "Cookie", "Origin",
             "X-Forwarded-For", "Inference-Header-Content-Length", "Range"]
        ),
        _header_values,
    ),
    max_size=2,
)  # fmt: skip
_v2_documents = v2_bodies.map(lambda body: body[0])
_expectations = st.sampled_from(["100-continue", "100-CONTINUE", "200-ok"])
_V1_SMALL = render({"instances": [1.0, 2.0]})
_V2_SMALL = render({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}]})


@st.composite
def _rest_cases(draw: Any) -> HttpCase:
    """One REST request aimed at one of the server's APIs (see the module docstring)."""
    kind = draw(_ints(0, 11))
    headers: list[tuple[str, str]] = []
    method = "POST"
    if kind <= 3:
        body = render(draw(predict_bodies))
        path = draw(_served_predict_paths if kind else _predict_paths)
    elif kind <= 5:
        body = render(draw(examples_bodies))
        path = draw(_example_paths)
    elif kind <= 7:
        doc, raw = draw(v2_bodies)
        header = render(doc)
        body = header + raw
        path = draw(_infer_paths)
        if raw or draw(_ints(0, 4)) == 0:
            length = draw(_header_lengths)
            headers.append(("Inference-Header-Content-Length", length or str(len(header))))
    elif kind == 8:  # byte mutations of a well-formed body
        which = draw(_ints(0, 2))
        path = ("/v1/models/hp:predict", "/v1/models/hp:regress", "/v2/models/hp/infer")[which]
        doc = draw((predict_bodies, examples_bodies, _v2_documents)[which])
        body = mutate(render(doc), draw(mutations))
    elif kind == 9:  # paths and methods
        method, path, body = draw(_methods), draw(_any_paths), draw(_small_bodies)
    else:  # encodings
        path = ("/v1/models/hp:predict", "/v2/models/hp/infer")[kind - 10]
        body = (_V1_SMALL, _V2_SMALL)[kind - 10]
        encoding = draw(_encodings)
        how = draw(_ints(0, 3))
        if how == 0 and encoding.lower() == "gzip":
            body = gzip.compress(body)
        elif how == 1:
            body = mutate(gzip.compress(body), draw(mutations))
        elif how == 2:
            body = draw(_tails)
        headers.append(("Content-Encoding", encoding))
    content_type = draw(content_types)
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if kind != 9 and draw(_ints(0, 5)) == 0:
        path += draw(queries)
    headers.extend(draw(extra_headers))
    if draw(_ints(0, 19)) == 0:
        headers.append(("Expect", draw(_expectations)))
    return HttpCase(method, path, tuple(headers), body)


rest_cases = _rest_cases()


# -- gRPC ---------------------------------------------------------------------------------------
@functools.cache
def request_protos() -> dict[str, Any]:
    """The TF Serving request classes (imported on first use: they import TensorFlow)."""
    from tensorflow.core.example import example_pb2
    from tensorflow.core.framework import tensor_pb2, types_pb2
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        inference_pb2,
        predict_pb2,
        regression_pb2,
    )

    from dlsuite.serving.server.v2_grpc import messages

    return {
        "Example": example_pb2.Example,
        "TensorProto": tensor_pb2.TensorProto,
        "types": types_pb2,
        "PredictRequest": predict_pb2.PredictRequest,
        "ClassificationRequest": classification_pb2.ClassificationRequest,
        "RegressionRequest": regression_pb2.RegressionRequest,
        "MultiInferenceRequest": inference_pb2.MultiInferenceRequest,
        "GetModelMetadataRequest": get_model_metadata_pb2.GetModelMetadataRequest,
        "GetModelStatusRequest": get_model_status_pb2.GetModelStatusRequest,
        **messages(),
    }


_dtype_numbers = st.deferred(
    lambda: (
        st.sampled_from(sorted(request_protos()["types"].DataType.values())) | st.integers(-3, 400)
    )
)
_dims = st.integers(-3, 6) | st.sampled_from(_BIG_DIMS)
_dim_lists = st.lists(_dims, max_size=5)
_VALUE_FIELDS = {
    "float_val": st.floats(width=32),
    "double_val": st.floats(),
    "int_val": st.integers(-(2**31), 2**31 - 1),
    "int64_val": st.integers(-(2**63), 2**63 - 1),
    "half_val": st.integers(0, 2**31 - 1),
    "bool_val": st.booleans(),
    "string_val": st.binary(max_size=16),
    "uint32_val": st.integers(0, 2**32 - 1),
}
_value_lists = {k: st.lists(v, max_size=4) for k, v in _VALUE_FIELDS.items()}
_value_fields = st.sampled_from([*_VALUE_FIELDS, "tensor_content", None])
_TYPED_FIELDS = {"float": "float_val", "int64": "int64_val", "string": "string_val"}
_typed_value_pools = {
    "float": st.lists(st.floats(width=32), min_size=1, max_size=3),
    "int64": st.lists(_VALUE_FIELDS["int64_val"], min_size=1, max_size=3),
    "string": st.lists(_VALUE_FIELDS["string_val"], min_size=1, max_size=3),
    "image": st.lists(images, min_size=1, max_size=3),
}
_proto_rows = st.integers(1, 3) | st.sampled_from([0, 1025, 4096])


@st.composite
def _tensor_protos(draw: Any, dtype: str | None, dims: tuple[int, ...]) -> Any:
    """A ``TensorProto``. With ``dtype`` (a `SIGNATURES` dtype), mostly shaped and typed for an
    input of trailing ``dims`` (with a single value when the shape holds 64 or more elements, as
    a client relying on TF's fill would send); otherwise anything: any dtype number, any dims
    (huge ones with one value: the 69-byte request), values in any field, or ``tensor_content``
    of any size."""
    protos = request_protos()
    proto = protos["TensorProto"]()
    if dtype is not None and draw(_ints(0, 3)) > 0:
        shape = [draw(_proto_rows), *dims]
        count = math.prod(shape)
        types = protos["types"]
        proto.dtype = {"float": types.DT_FLOAT, "int64": types.DT_INT64}.get(dtype, types.DT_STRING)
        field = _TYPED_FIELDS.get(dtype, "string_val")
        values = count if count < 64 else 1
        getattr(proto, field).extend((draw(_typed_value_pools[dtype]) * values)[:values])
    else:
        proto.dtype = draw(_dtype_numbers)
        shape = draw(_dim_lists)
        field = draw(_value_fields)
        if field == "tensor_content":  # any size, or one byte more than 4-byte elements need
            size = draw(_ints(0, 65))
            proto.tensor_content = bytes(size if size < 65 else (4 * math.prod(shape) + 1) % 4096)
        elif field is not None:
            getattr(proto, field).extend(draw(_value_lists[field]))
    if draw(_ints(0, 19)) == 0:
        proto.tensor_shape.unknown_rank = True
    else:
        for size in shape:
            proto.tensor_shape.dim.add(size=size)
    return proto


any_tensor_protos = _tensor_protos(None, ())
_input_tensor_protos = {
    (dtype, dims): mostly(_tensor_protos(dtype, dims), any_tensor_protos)
    for specs in SIGNATURES.values()
    for dtype, dims in specs.values()
}
_spec_names = mostly(st.sampled_from(MODELS), st.sampled_from(["nope", "", "..", "hp\x00"]))
_version_numbers = st.sampled_from([1, 0, 2, -1, 2**63 - 1, -(2**63)])
_version_labels = st.sampled_from(["stable", "canary", "", "1"]) | st.text(max_size=4)
_spec_signatures = st.sampled_from(
    ["", *EXAMPLE_SIGNATURES, "serving_default", "two_inputs", "nope"]
)


def _fill_spec(draw: Any, spec: Any, signature: str | None = None) -> None:
    """Fill a ``ModelSpec``: a model, ``signature`` (or another), a version or a label."""
    spec.name = draw(_spec_names)
    spec.signature_name = (
        draw(_spec_signatures) if signature is None or draw(_ints(0, 4)) == 0 else signature
    )
    choice = draw(_ints(0, 4))
    if choice == 1:
        spec.version.value = draw(_version_numbers)
    elif choice == 2:
        spec.version_label = draw(_version_labels)


_extra_inputs = st.lists(st.tuples(names, any_tensor_protos), max_size=1)
_output_filters = st.lists(st.sampled_from(OUTPUTS) | names, max_size=2)


@st.composite
def _predict_requests(draw: Any) -> Any:
    """A ``PredictRequest``, mostly aimed at a served signature."""
    request = request_protos()["PredictRequest"]()
    model, signature = draw(signature_targets)
    if draw(_ints(0, 19)) > 0:
        _fill_spec(draw, request.model_spec, signature)
        if draw(_ints(0, 2)) > 0:
            request.model_spec.name = model
    for name, key in SIGNATURES[model, signature].items():
        if draw(_ints(0, 9)) > 0:
            request.inputs[draw(_maybe_names) or name].CopyFrom(draw(_input_tensor_protos[key]))
    for name, tensor in draw(_extra_inputs):
        request.inputs[name].CopyFrom(tensor)
    request.output_filter.extend(draw(_output_filters))
    return request


predict_requests = _predict_requests()
_feature_names = st.lists(st.sampled_from(["x", "y", ""]) | st.text(max_size=4), max_size=3)
_float_lists = st.lists(st.floats(width=32), max_size=3)
_int64_lists = st.lists(_VALUE_FIELDS["int64_val"], max_size=3)
_bytes_lists = st.lists(st.binary(max_size=8), max_size=3)


@st.composite
def _tf_examples(draw: Any) -> Any:
    """A ``tf.train.Example`` with float, int64 or bytes features under common names."""
    example = request_protos()["Example"]()
    for name in draw(_feature_names):
        feature = example.features.feature[name]
        which = draw(_ints(0, 3))
        if which == 0:
            feature.float_list.value.extend(draw(_float_lists))
        elif which == 1:
            feature.int64_list.value.extend(draw(_int64_lists))
        elif which == 2:
            feature.bytes_list.value.extend(draw(_bytes_lists))
    return example


tf_examples = _tf_examples()
_tf_example_lists = st.lists(tf_examples, max_size=4)


def _fill_input(draw: Any, message: Any) -> None:
    """Fill an ``Input``: an example list, one with a context, or nothing."""
    which = draw(_ints(0, 4))
    if which <= 2:
        message.example_list.examples.extend(draw(_tf_example_lists))
    elif which == 3:
        message.example_list_with_context.context.CopyFrom(draw(tf_examples))
        message.example_list_with_context.examples.extend(draw(_tf_example_lists))


_method_names = st.sampled_from(
    ["tensorflow/serving/classify", "tensorflow/serving/regress", "tensorflow/serving/predict",
     "", "nope"]
)  # fmt: skip


@st.composite
def _example_requests(draw: Any) -> Any:
    """A ``ClassificationRequest``, ``RegressionRequest`` or ``MultiInferenceRequest``."""
    which = draw(_ints(0, 2))
    request = request_protos()[
        ("ClassificationRequest", "RegressionRequest", "MultiInferenceRequest")[which]
    ]()
    if which < 2:
        if draw(_ints(0, 19)) > 0:
            _fill_spec(draw, request.model_spec, EXAMPLE_SIGNATURES[which])
    else:
        for _ in range(draw(_ints(0, 3))):
            task = request.tasks.add()
            _fill_spec(draw, task.model_spec)
            task.method_name = draw(_method_names)
    _fill_input(draw, request.input)
    return request


example_requests = _example_requests()
_metadata_fields = st.lists(st.sampled_from(["signature_def", "nope", ""]), max_size=2)


@st.composite
def _status_requests(draw: Any) -> Any:
    """A ``GetModelMetadataRequest`` or ``GetModelStatusRequest``."""
    if draw(_booleans):
        request = request_protos()["GetModelMetadataRequest"]()
        request.metadata_field.extend(draw(_metadata_fields))
    else:
        request = request_protos()["GetModelStatusRequest"]()
    if draw(_ints(0, 9)) > 0:
        _fill_spec(draw, request.model_spec, "")
    return request


status_requests = _status_requests()
_v2_versions = mostly(st.sampled_from(["", "1"]), versions)
_v2_grpc_datatypes = mostly(st.none(), st.sampled_from(V2_DATATYPES) | st.text(max_size=4), 6)
_v2_grpc_shapes = mostly(st.none(), _dim_lists, 6)
_bytes_pools = {
    "string": st.lists(st.binary(max_size=8), min_size=1, max_size=2),
    "image": st.lists(images, min_size=1, max_size=2),
}
_raw_contents = st.binary(max_size=64)
_v2_output_names = st.lists(st.sampled_from(OUTPUTS), max_size=2)
_maybe_models = mostly(st.none(), model_names, 6)
_v2_small_methods = st.sampled_from(["ModelMetadata", "ModelReady", "ServerMetadata"])


@st.composite
def _v2_infer_requests(draw: Any) -> Any:
    """A KServe V2 ``ModelInferRequest`` with typed ``contents`` or ``raw_input_contents``."""
    model, signature = draw(signature_targets)
    request = request_protos()["ModelInferRequest"](
        model_name=draw(_maybe_models) or model, model_version=draw(_v2_versions)
    )
    if signature != "serving_default" or draw(_ints(0, 5)) == 0:
        request.parameters["signature_name"].string_param = signature
    for name, (dtype, dims) in SIGNATURES[model, signature].items():
        rows = draw(_v2_rows)
        shape = draw(_v2_grpc_shapes)
        shape = [rows, *dims] if shape is None else shape
        tensor = request.inputs.add(
            name=draw(_maybe_names) or name,
            datatype=draw(_v2_grpc_datatypes) or V2_TYPES[dtype],
            shape=shape,
        )
        count = min(max(math.prod(shape), 0), 64)
        how = draw(_ints(0, 3))
        if how == 0:
            request.raw_input_contents.append(draw(_raw_contents))
        elif dtype in _bytes_pools:
            tensor.contents.bytes_contents.extend((draw(_bytes_pools[dtype]) * count)[:count])
        elif dtype == "int64":
            tensor.contents.int64_contents.extend([draw(_VALUE_FIELDS["int64_val"])] * count)
        else:
            tensor.contents.fp32_contents.extend([draw(_VALUE_FIELDS["float_val"])] * count)
    for name in draw(_v2_output_names):
        request.outputs.add(name=name)
    return request


v2_infer_requests = _v2_infer_requests()


@st.composite
def _v2_small_requests(draw: Any) -> GrpcCase:
    """A V2 ``ModelMetadata``, ``ModelReady`` or ``ServerMetadata`` call."""
    method = draw(_v2_small_methods)
    cls = request_protos()[f"{method}Request"]
    request = (
        cls()
        if method == "ServerMetadata"
        else cls(name=draw(model_names), version=draw(_v2_versions))
    )
    return grpc_case(request, f"/inference.GRPCInferenceService/{method}")


v2_small_requests = _v2_small_requests()
_METHOD_OF = {
    "PredictRequest": "/tensorflow.serving.PredictionService/Predict",
    "ClassificationRequest": "/tensorflow.serving.PredictionService/Classify",
    "RegressionRequest": "/tensorflow.serving.PredictionService/Regress",
    "MultiInferenceRequest": "/tensorflow.serving.PredictionService/MultiInference",
    "GetModelMetadataRequest": "/tensorflow.serving.PredictionService/GetModelMetadata",
    "GetModelStatusRequest": "/tensorflow.serving.ModelService/GetModelStatus",
    "ModelInferRequest": "/inference.GRPCInferenceService/ModelInfer",
}


def grpc_case(message: Any, method: str | None = None) -> GrpcCase:
    """The `GrpcCase` of a request message sent to its method (named by its type by default)."""
    name = type(message).__name__
    return GrpcCase(method or _METHOD_OF[name], message.SerializeToString(), name, message)


_grpc_methods = st.sampled_from(GRPC_METHODS)
_raw_payloads = st.binary(max_size=64) | st.sampled_from(
    [b"\x0a\xff\xff\xff\xff\x0f", b"\x0a", b"\x08" + b"\xff" * 11, b"\x0a\x05hp",
     b"\x12\x80\x80\x80\x80\x10x", b"\x0a\x02hp\x12\x0a\x01x\x12\x05\x08\x01\x12\x01\x00"]
)  # fmt: skip
_mutation_sources = predict_requests | example_requests | v2_infer_requests


@st.composite
def _grpc_cases(draw: Any) -> GrpcCase:
    """One gRPC call: a proto-aware request, or raw or mutated bytes as some method's message."""
    kind = draw(_ints(0, 11))
    if kind <= 4:
        return grpc_case(draw(predict_requests))
    if kind == 5:
        return grpc_case(draw(example_requests))
    if kind == 6:
        return grpc_case(draw(status_requests))
    if kind <= 8:
        return grpc_case(draw(v2_infer_requests))
    if kind == 9:
        return draw(v2_small_requests)
    method = draw(_grpc_methods)
    if kind == 10:
        return GrpcCase(method, draw(_raw_payloads), "raw bytes")
    source = draw(_mutation_sources)
    payload = mutate(source.SerializeToString(), draw(mutations))
    return GrpcCase(method, payload, f"mutated {type(source).__name__}")


grpc_cases = _grpc_cases()
