"""``:classify``/``:regress`` request bodies as ``tf.train.Example`` protos, as TF Serving reads
them (``FillClassifyRegressRequestFromJson`` in ``json_tensor.cc``).
"""

from __future__ import annotations

import math
from typing import Any

from dlsuite.serving.server.errors import invalid
from dlsuite.serving.server.json_values import (
    FLOAT_MAX,
    as_double,
    decode_b64,
    is_b64,
    json_type,
    nonempty_list,
    to_bytes,
    value_to_string,
)


def _feature(name: str, content: Any) -> Any:
    """A ``tf.train.Feature`` from one JSON feature value or list (``AddValueToFeature``)."""
    from tensorflow.core.example import feature_pb2

    feature = feature_pb2.Feature()
    kind: str | None = None  # the list the first value went to
    for value in content if isinstance(content, list) else [content]:
        if (
            value is None
            or isinstance(value, list)
            or (isinstance(value, dict) and not is_b64(value))
        ):
            raise invalid(
                f"Feature: {name} has element with unexpected JSON type: {json_type(value)}"
            )
        if isinstance(value, (str, dict)):
            want = "bytes_list"
        elif isinstance(value, float) or (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not -(1 << 63) <= value < (1 << 64)
        ):
            want = "float_list"
        else:
            want = "int64_list"
        if kind is not None and kind != want:
            raise invalid(
                f"Unexpected element type in feature: {name} expecting type: {kind.split('_')[0]}"
            )
        kind = want
        if want == "bytes_list":
            feature.bytes_list.value.append(
                decode_b64(value) if isinstance(value, dict) else to_bytes(value)
            )
        elif want == "float_list":
            number = as_double(value)
            if math.isfinite(number) and abs(number) > FLOAT_MAX:
                raise invalid(
                    f"Cannot convert JSON value: {value_to_string(value)} to float "
                    "without loss of precision."
                )
            feature.float_list.value.append(number)
        else:
            if value >= (1 << 63):
                raise invalid(f"Feature: {name} has uint64 element. Only int64 is supported.")
            feature.int64_list.value.append(int(value))
    return feature


def example_from_json(value: Any) -> Any:
    """``MakeExampleFromJsonObject``: one JSON object as a ``tf.train.Example``."""
    from tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        try:
            name.encode("utf-8")  # a proto map key is a UTF-8 string
        except UnicodeEncodeError:  # bytes that were not UTF-8 in the body (kept as surrogates)
            raise invalid(f"Feature name {ascii(name)} is not valid UTF-8") from None
        example.features.feature[name].CopyFrom(_feature(name, content))
    return example


def examples_from_json(doc: dict) -> tuple[Any | None, list]:
    """``FillClassifyRegressRequestFromJson``: ``(context Example or None, [Example])``."""
    context = example_from_json(doc["context"]) if "context" in doc else None
    if "examples" not in doc:
        raise invalid(
            f"JSON Value: {value_to_string(doc)} When method is classify, key 'examples' "
            "is expected and was not found"
        )
    examples = nonempty_list(
        doc,
        "examples",
        "Expecting 'examples' value to be an list/array",
        "'examples' value is an empty array",
    )
    return context, [example_from_json(e) for e in examples]
