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

Decoded images are converted to C channels and resized to S x S (bilinear), as in training.
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


def build_signatures(
    model: Any, class_names: Sequence[str], input_shape: Sequence[int]
) -> dict[str, Any]:
    """``{name: (tf.function, input_signature)}`` of the three vision signatures for ``model``."""
    import tensorflow as tf

    size, _, channels = input_shape
    names = tf.constant(list(class_names))

    def decode(data: Any) -> Any:  # scalar string -> (S, S, C) float32 0-255
        image = tf.io.decode_image(data, channels=channels, expand_animations=False, dtype=tf.uint8)
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
    }


def save_saved_model(
    model: Any, class_names: Sequence[str], input_shape: Sequence[int], path: Path
) -> None:
    """Write ``model`` with the vision signatures through `keras.export.ExportArchive`."""
    import keras

    archive = keras.export.ExportArchive()
    for name, (fn, signature) in build_signatures(model, class_names, input_shape).items():
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


def export_plan(run_path: Path, *, num_warmup: int) -> ExportPlan:
    """A finished vision run's export: its trained model with the signatures above."""
    model = load_trained_model(run_path)  # weights only: no optimizer state in the SavedModel
    return classifier_plan(model, run_path, num_warmup=num_warmup)


def classifier_plan(model: Any, run_path: Path, *, num_warmup: int) -> ExportPlan:
    """The vision export of ``model``, an image classifier of the run's data
    (warmup from its first ``num_warmup`` test images)."""
    splits = splits_for_run(run_path)
    images = [image for image, _ in splits.test.take(num_warmup).as_numpy_iterator()]
    return ExportPlan(
        save=lambda path, _name, _version: save_saved_model(
            model, splits.class_names, splits.input_shape, path
        ),
        warmup_logs=lambda model_name: warmup_logs(model_name, images),
        signature_methods={"classify": CLASSIFY_METHOD},
    )
