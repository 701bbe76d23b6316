"""Vision serving signatures: what a client actually has (encoded images), preprocessing in-graph.

- ``serving_default`` (method predict)
  - inputs: ``image_bytes``: string [N], JPEG/PNG/GIF/BMP bytes
  - outputs: ``class_ids`` int64 [N], ``class_names`` string [N], ``probabilities`` float32 [N, K]
- ``predict_images`` (method predict)
  - inputs: ``images``: float32 [N, S, S, C], pixel values 0-255
  - outputs: same as above
- ``classify`` (method classify)
  - inputs: ``inputs``: string [N], serialized ``tf.Example`` with ``image/encoded`` bytes
  - outputs: ``classes`` string [N, K], ``scores`` float32 [N, K]
- ``explain`` (method predict)
  - inputs: the model's input (``image``): float32 [N, S, S, C], pixel values 0-255
  - outputs: ``attributions`` float32 [N, S, S, C], integrated gradients of the predicted
    class's probability from a black image (`apps.common.explain.explain_function`, 32 steps;
    they sum to about the probability's rise from black), ``class_ids`` int64 [N]

Decoded images are converted to C channels and resized to S x S (bilinear), as in training.
Before an image is decoded, its width and height are read from its header (PNG ``IHDR``, the JPEG
frame header via ``tf.io.extract_jpeg_shape``, the GIF logical screen, the BMP and WebP headers)
and an image of more than ``max_image_pixels`` pixels (an export option, default
`MAX_IMAGE_PIXELS`; recorded in the manifest's ``vision`` section) is refused with an
InvalidArgumentError naming the limit, so a small file declaring a huge image never makes the
server allocate it; bytes of any other format (JPEG XL, whose size cannot be read this way,
included) are refused the same way. Only core TensorFlow ops are used (the graph runs in the stock
``tensorflow_model_server``); ``predict_images`` decodes nothing and stays TFLite-convertible
(``explain``, gradients in a loop, is for the server).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.common.runs import load_trained_model, splits_for_run
from dlsuite.serving.signatures import CLASSIFY_METHOD
from dlsuite.serving.warmup import classify_log, predict_log

IMAGE_FEATURE = "image/encoded"
MAX_IMAGE_PIXELS = 4096 * 4096  # default of the export option max_image_pixels


def _header_size(data: Any) -> tuple[Any, Any, Any]:
    """``(known, height, width)`` of an encoded image (scalar string) read from its first 32
    bytes, as scalars (bool, int64, int64), without decoding it; ``known`` is false for a format
    not read here (its height and width are then 0)."""
    import tensorflow as tf

    head = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 0, 32), tf.uint8), tf.int64)
    head = tf.pad(head, [[0, 32 - tf.size(head)]])  # a short file reads as zeros past its end

    def number(at: int, size: int, big_endian: bool = False) -> Any:
        order = range(size - 1, -1, -1) if big_endian else range(size)
        return sum(head[at + i] * (1 << (8 * k)) for k, i in enumerate(order))

    def starts(at: int, magic: bytes) -> Any:  # no magic has a 0 byte: padding never matches
        return tf.reduce_all(tf.equal(head[at : at + len(magic)], list(magic)))

    def signed32(value: Any) -> Any:  # a BMP height is negative for top-down rows
        return tf.abs(tf.where(value >= 1 << 31, value - (1 << 32), value))

    vp8l = number(21, 4)  # VP8L: 14 bits of width - 1, then 14 bits of height - 1
    webp = starts(0, b"RIFF") & starts(8, b"WEBP")
    formats = [  # (is this format, height, width)
        (starts(0, b"\x89PNG\r\n\x1a\n"), number(20, 4, True), number(16, 4, True)),
        (starts(0, b"GIF8"), number(8, 2), number(6, 2)),
        (starts(0, b"BM"), signed32(number(22, 4)), signed32(number(18, 4))),
        (webp & starts(12, b"VP8 "), number(28, 2) % (1 << 14), number(26, 2) % (1 << 14)),
        (webp & starts(12, b"VP8L"), vp8l // (1 << 14) % (1 << 14) + 1, vp8l % (1 << 14) + 1),
        (webp & starts(12, b"VP8X"), number(27, 3) + 1, number(24, 3) + 1),
    ]
    jpeg = starts(0, b"\xff\xd8\xff")
    height, width = tf.cond(  # the frame header, found past the markers before it
        jpeg,
        lambda: tf.unstack(tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64)),
        lambda: [tf.constant(0, tf.int64)] * 2,
    )
    known = jpeg
    for is_format, rows, columns in formats:
        height, width = tf.where(is_format, rows, height), tf.where(is_format, columns, width)
        known = known | is_format
    return known, height, width


def check_image_size(data: Any, max_pixels: int) -> Any:
    """An op that fails (InvalidArgumentError) when encoded image ``data`` is not a JPEG, PNG,
    GIF, BMP or WebP image or its header declares more than ``max_pixels`` pixels; run it
    before decoding."""
    import tensorflow as tf

    known, height, width = _header_size(data)
    return tf.group(
        tf.debugging.Assert(
            known,
            ["image format not accepted: JPEG, PNG, GIF, BMP or WebP bytes expected"],
        ),
        tf.debugging.Assert(
            height * width <= max_pixels,
            [
                tf.strings.format(
                    "image of {} x {} pixels, more than max_image_pixels={} (set at export)",
                    (width, height, max_pixels),
                )
            ],
        ),
    )


def build_signatures(
    model: Any,
    class_names: Sequence[str],
    input_shape: Sequence[int],
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> dict[str, Any]:
    """``{name: (tf.function, input_signature)}`` of the four vision signatures for ``model``
    (encoded images of more than ``max_image_pixels`` pixels refused before decoding)."""
    import tensorflow as tf

    from dlsuite.apps.common.explain import explain_function

    size, _, channels = input_shape
    names = tf.constant(list(class_names))

    def decode(data: Any) -> Any:  # scalar string -> (S, S, C) float32 0-255
        with tf.control_dependencies([check_image_size(data, max_image_pixels)]):
            image = tf.io.decode_image(
                data, channels=channels, expand_animations=False, dtype=tf.uint8
            )
        image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="bilinear")
        return tf.clip_by_value(image, 0.0, 255.0)

    def decode_all(data: Any) -> Any:  # (N,) string -> (N, S, S, C)
        return tf.map_fn(
            decode, data, fn_output_signature=tf.TensorSpec([size, size, channels], tf.float32)
        )

    def predict(images: Any) -> dict[str, Any]:
        probabilities = tf.cast(model(images, training=False), tf.float32)  # (N, K)
        class_ids = tf.argmax(probabilities, axis=-1)  # (N,)
        return {
            "class_ids": class_ids,
            "class_names": tf.gather(names, class_ids),
            "probabilities": probabilities,
        }

    def serving_default(image_bytes: Any) -> dict[str, Any]:
        return predict(decode_all(image_bytes))

    def predict_images(images: Any) -> dict[str, Any]:
        return predict(images)

    explain = explain_function(model)

    def classify(inputs: Any) -> dict[str, Any]:
        features = tf.io.parse_example(
            inputs, {IMAGE_FEATURE: tf.io.FixedLenFeature([], tf.string)}
        )
        scores = predict(decode_all(features[IMAGE_FEATURE]))["probabilities"]  # (N, K)
        classes = tf.tile(names[tf.newaxis, :], [tf.shape(scores)[0], 1])  # (N, K)
        return {"classes": classes, "scores": scores}

    return {
        "serving_default": (
            serving_default,
            [tf.TensorSpec([None], tf.string, name="image_bytes")],
        ),
        "predict_images": (
            predict_images,
            [tf.TensorSpec([None, size, size, channels], tf.float32, name="images")],
        ),
        "classify": (classify, [tf.TensorSpec([None], tf.string, name="inputs")]),
        "explain": (explain, list(explain.input_signature)),
    }


def save_saved_model(
    model: Any,
    class_names: Sequence[str],
    input_shape: Sequence[int],
    path: Path,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> None:
    """Write ``model`` with the vision signatures through `keras.export.ExportArchive`."""
    import keras

    signatures = build_signatures(model, class_names, input_shape, max_image_pixels)
    archive = keras.export.ExportArchive()
    for name, (fn, signature) in signatures.items():
        archive.add_endpoint(name, fn, input_signature=signature)
    archive.write_out(str(path), verbose=False)


def encode_png(image: Any) -> bytes:
    """(S, S, C) float 0-255 -> PNG bytes."""
    import numpy as np
    import tensorflow as tf

    pixels = np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)
    return tf.io.encode_png(pixels).numpy()


def warmup_logs(name: str, images: Sequence[Any]) -> list[Any]:
    """TF Serving warmup records from real held-out images:
    predict (bytes and float) and classify."""
    import numpy as np
    import tensorflow as tf

    encoded = [encode_png(image) for image in images]
    logs = [
        predict_log(
            name, "serving_default", {"image_bytes": tf.make_tensor_proto(batch, dtype=tf.string)}
        )
        for batch in (encoded[:1], encoded)
    ]
    logs.append(
        predict_log(name, "predict_images", {"images": np.stack(images).astype(np.float32)})
    )
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    IMAGE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
                }
            )
        )
        for data in encoded
    ]
    logs.append(classify_log(name, "classify", examples))
    return logs


def export_plan(run_path: Path, *, num_warmup: int, calibrate: bool = False) -> ExportPlan:
    """A finished vision run's export: its trained model with the signatures above
    (``calibrate``: temperature-scaled probabilities, `load_trained_model`)."""
    # weights only: no optimizer state in the SavedModel
    model = load_trained_model(run_path, calibrated=calibrate)
    return classifier_plan(model, run_path, num_warmup=num_warmup)


def classifier_plan(
    model: Any, run_path: Path, *, num_warmup: int, max_image_pixels: int = MAX_IMAGE_PIXELS
) -> ExportPlan:
    """The vision export of ``model``, an image classifier of the run's data
    (warmup from its first ``num_warmup`` test images; encoded images of more than
    ``max_image_pixels`` pixels refused, as the manifest's ``vision`` section records)."""
    splits = splits_for_run(run_path)
    images = [image for image, _ in splits.test.take(num_warmup).as_numpy_iterator()]
    return ExportPlan(
        save=lambda path, _name, _version: save_saved_model(
            model, splits.class_names, splits.input_shape, path, max_image_pixels
        ),
        warmup_logs=lambda model_name: warmup_logs(model_name, images),
        signature_methods={"classify": CLASSIFY_METHOD},
        manifest_extra={"vision": {"max_image_pixels": max_image_pixels}},
    )
