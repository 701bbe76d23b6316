"""Text classification export (``--task classify``): ``export_plan``;
the tokenizer is inside the SavedModel, clients send strings.

Signatures (signature, method: inputs -> outputs):

* ``serving_default``, predict: ``text`` string [N], raw UTF-8 text ->
  ``class_ids`` int64 [N], ``labels`` string [N], ``scores`` float32 [N, K]
* ``classify``, classify: ``inputs`` string [N], serialized ``tf.Example`` with a ``text`` bytes
  feature -> ``classes`` string [N, K], ``scores`` float32 [N, K]
* ``explain``, predict: ``text`` string [N] -> ``token_ids`` int32 [N, T] (the tokenizer's
  ids, 0 = padding), ``attributions`` float32 [N, T] (integrated gradients of the predicted
  class's probability on the token embeddings, summed over the embedding dimension;
  `apps.common.explain.explain_function`, 32 steps), ``class_ids`` int64 [N]

The text is lowercased (if the run did), split and looked up by the model's own tokenizer layer,
exactly as in training (`apps.nlp.tokenizers`); the graph uses core TensorFlow ops only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.common.runs import load_trained_model, run_config, splits_for_run
from dlsuite.serving.signatures import CLASSIFY_METHOD
from dlsuite.serving.warmup import classify_log, predict_log

TEXT_FEATURE = "text"


def build_classifier_signatures(model: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """``{name: (tf.function, input_signature)}`` of the text classification signatures."""
    import tensorflow as tf

    from dlsuite.apps.common.explain import explain_function

    names = tf.constant(list(class_names))
    explain = explain_function(model)

    def predict(text: Any) -> dict[str, Any]:
        scores = tf.cast(model(text, training=False), tf.float32)  # (N, K)
        class_ids = tf.argmax(scores, axis=-1)  # (N,)
        return {"class_ids": class_ids, "labels": tf.gather(names, class_ids), "scores": scores}

    def classify(inputs: Any) -> dict[str, Any]:
        features = tf.io.parse_example(inputs, {TEXT_FEATURE: tf.io.FixedLenFeature([], tf.string)})
        scores = predict(features[TEXT_FEATURE])["scores"]  # (N, K)
        classes = tf.tile(names[tf.newaxis, :], [tf.shape(scores)[0], 1])  # (N, K)
        return {"classes": classes, "scores": scores}

    return {
        "serving_default": (predict, [tf.TensorSpec([None], tf.string, name="text")]),
        "classify": (classify, [tf.TensorSpec([None], tf.string, name="inputs")]),
        "explain": (explain, list(explain.input_signature)),
    }


def save_classifier(model: Any, class_names: Sequence[str], path: Path) -> None:
    """Write ``model`` with the classification signatures through `keras.export.ExportArchive`."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)  # the tokenizer's lookup tables are resources the endpoints need
    for name, (fn, signature) in build_classifier_signatures(model, class_names).items():
        archive.add_endpoint(name, fn, input_signature=signature)
    archive.write_out(str(path), verbose=False)


def text_example(text: str) -> Any:
    """A ``tf.train.Example`` with the ``text`` feature, as the ``classify`` signature reads it."""
    import tensorflow as tf

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                TEXT_FEATURE: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[text.encode("utf-8")])
                )
            }
        )
    )


def classifier_warmup_logs(name: str, texts: Sequence[str]) -> list[Any]:
    """TF Serving warmup records from real held-out texts: predict (1 and all) and classify."""
    import tensorflow as tf

    logs = [
        predict_log(
            name,
            "serving_default",
            {"text": tf.make_tensor_proto([t.encode("utf-8") for t in batch], dtype=tf.string)},
        )
        for batch in (texts[:1], texts)
    ]
    logs.append(classify_log(name, "classify", [text_example(t) for t in texts]))
    return logs


def export_plan(run_path: Path, *, num_warmup: int, calibrate: bool = False) -> ExportPlan:
    """A text classification run's export (signatures above, warmup from the test split;
    ``calibrate``: temperature-scaled probabilities, `load_trained_model`)."""
    from dlsuite.apps.nlp.tokenizers import Tokenizer, describe_tokenizer

    config = run_config(run_path)
    # weights only: no optimizer state in the SavedModel
    model = load_trained_model(run_path, calibrated=calibrate)
    splits = splits_for_run(run_path)
    texts = [text.decode("utf-8") for text, _ in splits.test.take(num_warmup).as_numpy_iterator()]
    tokenizer = next(layer for layer in model.layers if isinstance(layer, Tokenizer))
    return ExportPlan(
        save=lambda path, _name, _version: save_classifier(model, splits.class_names, path),
        warmup_logs=lambda model_name: classifier_warmup_logs(model_name, texts),
        signature_methods={"classify": CLASSIFY_METHOD},
        manifest_extra={
            "nlp": {
                "task": config.task,
                "labels": list(splits.class_names),
                "tokenizer": describe_tokenizer(tokenizer),
            }
        },
    )
