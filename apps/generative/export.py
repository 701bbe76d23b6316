"""Generative serving signatures: ask for images, get marked images back.

- ``generate`` (also ``serving_default``; method predict)
  - inputs: ``num_samples``: int32 [], 1 to 256; ``class_ids``: int32 [M] (M = 0: classes 0,
    1, ... in turn; M = 1: that class for all; M = N: one per sample; ignored by an
    unconditional model); ``seed``: int64 []
  - outputs: ``images`` uint8 [N, S, S, C], ``png_bytes`` string [N], ``class_ids`` int32 [N]
    (-1 unconditional)

The same seed and class ids give the same images (stateless noise). Both outputs carry the
Art. 50(2) marks (`serving.marking`): the DWT-DCT and LSB watermarks are in ``images`` and in the
PNGs' pixels, and every PNG has the text chunks naming the model and version. The dlsuite server
adds C2PA Content Credentials to the PNGs after the model call (`serving.content_credentials`),
because the version's manifest has a ``synthetic_content_marking`` section; it records them under
``content_credentials``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.vision.export import classifier_plan
from dlsuite.base.files import read_json
from dlsuite.serving import content_credentials
from dlsuite.serving.marking import manifest_section, mark_and_encode_tf
from dlsuite.serving.warmup import predict_log

MAX_SAMPLES = 256
NOISE_STREAM = 17  # second element of the stateless seed, as in apps.generative.quality


def build_generate(
    gan: Any, image_shape: Sequence[int], model_name: str, version: int
) -> tuple[Any, list[Any]]:
    """``(fn, input_signature)`` of the ``generate`` signature."""
    import tensorflow as tf

    size, _, channels = image_shape
    num_classes = gan.num_classes

    def generate(num_samples: Any, class_ids: Any, seed: Any) -> dict[str, Any]:
        tf.debugging.assert_positive(num_samples, message="num_samples must be positive")
        tf.debugging.assert_less_equal(
            num_samples, MAX_SAMPLES, message=f"num_samples must be at most {MAX_SAMPLES}"
        )
        z = tf.random.stateless_normal(
            tf.stack([num_samples, gan.latent_dim]),
            seed=tf.stack([seed, tf.constant(NOISE_STREAM, tf.int64)]),
        )  # (N, L)
        if num_classes:
            given = tf.size(class_ids)
            tf.debugging.Assert(
                tf.logical_or(given <= 1, tf.equal(given, num_samples)),
                ["class_ids must have 0, 1 or num_samples entries"],
            )
            tf.debugging.assert_non_negative(class_ids, message="class_ids must be >= 0")
            tf.debugging.assert_less(
                class_ids, num_classes, message=f"class_ids must be < {num_classes}"
            )
            cyclic = tf.range(num_samples, dtype=tf.int32) % num_classes  # (N,)
            labels = tf.case(
                [
                    (tf.equal(given, 0), lambda: cyclic),
                    (tf.equal(given, 1), lambda: tf.fill([num_samples], class_ids[0])),
                ],
                default=lambda: class_ids,
            )  # (N,)
            pixels = gan.generator([z, labels], training=False)  # (N, S, S, C) in [-1, 1]
        else:
            labels = tf.fill([num_samples], -1)
            pixels = gan.generator(z, training=False)
        images = tf.cast(
            tf.clip_by_value(tf.round((tf.cast(pixels, tf.float32) + 1.0) * 127.5), 0.0, 255.0),
            tf.uint8,
        )
        images = tf.ensure_shape(images, [None, size, size, channels])
        marked, pngs = mark_and_encode_tf(images, model_name, version)
        return {"images": marked, "png_bytes": pngs, "class_ids": labels}

    signature = [
        tf.TensorSpec([], tf.int32, name="num_samples"),
        tf.TensorSpec([None], tf.int32, name="class_ids"),
        tf.TensorSpec([], tf.int64, name="seed"),
    ]
    return generate, signature


def save_saved_model(
    gan: Any, image_shape: Sequence[int], path: Path, model_name: str, version: int
) -> None:
    """Write the generator with ``generate`` and ``serving_default``
    through `keras.export.ExportArchive`."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(gan.generator)
    fn, signature = build_generate(gan, image_shape, model_name, version)
    archive.add_endpoint("serving_default", fn, input_signature=signature)
    archive.add_endpoint("generate", fn, input_signature=signature)
    archive.write_out(str(path), verbose=False)


def warmup_logs(name: str, num_classes: int | None) -> list[Any]:
    """TF Serving warmup records: the requests a client sends (one digit; a batch of each class)."""
    import tensorflow as tf

    requests = [
        (1, [7 % (num_classes or 10)] if num_classes else [], 0),
        (num_classes or 10, [], 1),
    ]
    return [
        predict_log(
            name,
            signature,
            {
                "num_samples": tf.make_tensor_proto(num_samples, dtype=tf.int32),
                "class_ids": tf.make_tensor_proto(
                    class_ids, dtype=tf.int32, shape=[len(class_ids)]
                ),
                "seed": tf.make_tensor_proto(seed, dtype=tf.int64),
            },
        )
        for signature in ("generate", "serving_default")
        for num_samples, class_ids, seed in requests
    ]


def export_plan(run_path: Path, *, num_warmup: int) -> ExportPlan:
    """A finished generative run's export: its final (EMA-averaged if enabled) generator with
    ``generate``, or a fine-tuned DBN classifier with the vision signatures."""
    import keras

    from dlsuite import core_layers  # noqa: F401  (registers the custom layers)
    from dlsuite.apps.generative.gan import GAN

    gan = keras.saving.load_model(run_path / "model.keras", compile=False)
    if not isinstance(gan, GAN):  # the fine-tuned DBN is a classifier: the vision signatures
        return classifier_plan(gan, run_path, num_warmup=num_warmup)
    image_shape = tuple(read_json(run_path / "metrics.json")["data"]["input_shape"])
    return ExportPlan(
        # the model name and version are in the marks of every PNG
        save=lambda path, name, version: save_saved_model(gan, image_shape, path, name, version),
        warmup_logs=lambda model_name: warmup_logs(model_name, gan.num_classes),
        manifest_extra={
            "synthetic_content_marking": {
                **manifest_section(),
                "content_credentials": content_credentials.manifest_section(),
            }
        },
    )
