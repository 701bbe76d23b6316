"""`RequestLimits` (``--max_tensor_elements``, ``--max_request_elements``, ``--max_batch_rows``,
``--max_string_bytes``, ``--max_image_pixels``) applied to a request's inputs, whatever its
protocol.

Sizes are read from what a request declares, before anything is built from it: the shape of a
``TensorProto`` (which ``tf.make_ndarray`` would fill out from a single value), a KServe V2
``shape``, the skeleton of a dense JSON array; `check_shapes` costs O(inputs x rank). String
lengths are checked once the strings are decoded (`check_strings`; a decoded string is never longer
than what the request carried), and bytes the server would repeat on its own (a ``TensorProto``'s
last string filling out its shape, an Examples context prepended to every example) before they are
repeated. A refusal is RESOURCE_EXHAUSTED (HTTP 413) naming the flag and the figures; the
syntax-type limits (JSON depth and number length) are in `serving.server.json_values`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import ServingError


def too_large(what: str, flag: str, limit: int) -> ServingError:
    """RESOURCE_EXHAUSTED (HTTP 413): ``<what>, more than --<flag>=<limit>``."""
    return ServingError("RESOURCE_EXHAUSTED", f"{what}, more than --{flag}={limit}", 413)


def _dims(shape: Sequence[int]) -> str:
    return f"(shape [{', '.join(map(str, shape))}])"


def check_shapes(
    shapes: Mapping[str, Sequence[int]], limits: RequestLimits, batched: Collection[str] = ()
) -> None:
    """Refuse a request whose declared shapes are too large: ``shapes`` maps each tensor, as
    messages name it (``input 'x'``), to its shape; the first dimension of those in ``batched``
    (inputs whose signature shape starts with None) is rows, limited by ``--max_batch_rows``."""
    total = 0
    for what, shape in shapes.items():
        count = math.prod(shape)
        if count > limits.max_tensor_elements:
            raise too_large(
                f"{what} has {count} elements {_dims(shape)}",
                "max_tensor_elements",
                limits.max_tensor_elements,
            )
        if shape and shape[0] > limits.max_batch_rows and what in batched:
            raise too_large(
                f"{what} has {shape[0]} rows {_dims(shape)}",
                "max_batch_rows",
                limits.max_batch_rows,
            )
        total += count
    if total > limits.max_request_elements:
        raise too_large(
            f"the request's inputs have {total} elements",
            "max_request_elements",
            limits.max_request_elements,
        )


def check_strings(feeds: Mapping[str, np.ndarray], limits: RequestLimits) -> None:
    """Refuse a decoded string input with an element longer than ``--max_string_bytes``, or an
    image element (PNG, JPEG, GIF, BMP, WebP, told by its first bytes) whose header declares more
    pixels than ``--max_image_pixels``: a signature that decodes it (``tf.io.decode_image``, in
    any model) would allocate them all, and a few KB of PNG can declare gigapixels."""
    for name, arr in feeds.items():
        if arr.dtype == object and arr.size:
            longest = max(map(len, arr.flat))
            if longest > limits.max_string_bytes:
                raise too_large(
                    f"input '{name}' has a string element of {longest} bytes",
                    "max_string_bytes",
                    limits.max_string_bytes,
                )
            for element in arr.flat:
                _check_image(name, element, limits.max_image_pixels)


_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")


def _check_image(name: str, data: Any, max_pixels: int) -> None:
    """RESOURCE_EXHAUSTED when ``data`` is an image whose header declares over ``max_pixels``.

    Pillow reads the header only (`PIL.Image.open` is lazy: no pixel is decoded); bytes that are
    not an image it can read are left to the model, which answers its own error.
    """
    if not isinstance(data, bytes) or not data.startswith(_IMAGE_MAGIC):
        return
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as err:  # over twice Pillow's limit; says how much
        found = re.search(r"\((\d+) pixels\)", str(err))
        pixels = int(found[1]) if found else max_pixels + 1
        if pixels <= max_pixels:
            return
        raise too_large(
            f"input '{name}' has an image of {pixels} pixels", "max_image_pixels", max_pixels
        ) from None
    except Exception:  # noqa: BLE001 - not an image Pillow reads: the model decides
        return
    if width * height > max_pixels:
        raise too_large(
            f"input '{name}' has an image of {width} x {height} pixels",
            "max_image_pixels",
            max_pixels,
        )


def check_repeated(what: str, size: int, times: int, limits: RequestLimits) -> None:
    """Refuse ``times`` more copies of ``size`` bytes (made by the server, not sent) past
    ``--max_string_bytes`` in all; ``what`` names the bytes repeated."""
    if times > 0 and size * times > limits.max_string_bytes:
        raise too_large(
            f"{what} ({size} bytes) would be repeated {times} more times, {size * times} bytes",
            "max_string_bytes",
            limits.max_string_bytes,
        )


def _feature_values(example: Any) -> int:
    return sum(
        len(f.float_list.value) + len(f.int64_list.value) + len(f.bytes_list.value)
        for f in example.features.feature.values()
    )


def check_examples(context: Any | None, examples: Sequence[Any], limits: RequestLimits) -> None:
    """Refuse a classify/regress request, before its Examples are serialized, that has more
    examples than ``--max_batch_rows``, more feature values (the context's counted once per
    example, as the model parses them) than ``--max_request_elements``, or an example longer with
    its context than ``--max_string_bytes`` (each is one string element of the tensor fed); the
    context's copies are limited by `check_repeated`."""
    rows = len(examples)
    if rows > limits.max_batch_rows:
        raise too_large(f"the request has {rows} examples", "max_batch_rows", limits.max_batch_rows)
    context_bytes = context.ByteSize() if context is not None else 0
    check_repeated("the examples' context", context_bytes, rows - 1, limits)
    context_values = _feature_values(context) if context is not None else 0
    values = rows * context_values + sum(_feature_values(e) for e in examples)
    if values > limits.max_request_elements:
        raise too_large(
            f"the request's examples have {values} feature values (the context's counted for "
            "each example)",
            "max_request_elements",
            limits.max_request_elements,
        )
    for index, example in enumerate(examples):
        size = context_bytes + example.ByteSize()
        if size > limits.max_string_bytes:
            raise too_large(
                f"example {index} is {size} bytes serialized with its context",
                "max_string_bytes",
                limits.max_string_bytes,
            )
