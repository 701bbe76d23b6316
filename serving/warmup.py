"""TF Serving warmup files: ``assets.extra/tf_serving_warmup_requests``.

A TFRecord file of ``tensorflow.serving.PredictionLog`` protos. TF Serving replays them (up to
1000 records) before it marks a version AVAILABLE, so the first real request does not pay for
graph tracing and memory allocation. See TF Serving's ``saved_model_warmup.md``.

`write_warmup_requests` writes them; `read_warmup_requests` yields them back and `warmup_inputs`
stacks the rows of one signature's predict requests (``dlsuite convert`` checks a version that has
no training run on them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


def warmup_path(version_dir: str | os.PathLike[str]) -> Path:
    """Where TF Serving looks for the warmup file of a version."""
    return Path(version_dir) / WARMUP_DIR / WARMUP_FILE


def predict_log(model_name: str, signature_name: str, inputs: Mapping[str, Any]) -> Any:
    """A ``PredictionLog`` holding one ``PredictRequest``.

    ``inputs`` maps the signature's input names to ``TensorProto``s, or to values that
    ``tf.make_tensor_proto`` converts (pass a ``TensorProto`` when the dtype matters).
    """
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(
            value if isinstance(value, tensor_pb2.TensorProto) else tf.make_tensor_proto(value)
        )
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def classify_log(model_name: str, signature_name: str, examples: Sequence[Any]) -> Any:
    """A ``PredictionLog`` holding one ``ClassificationRequest`` of ``tf.train.Example``s."""
    from tensorflow_serving.apis import classification_pb2, input_pb2, model_pb2, prediction_log_pb2

    request = classification_pb2.ClassificationRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name),
        input=input_pb2.Input(example_list=input_pb2.ExampleList(examples=list(examples))),
    )
    return prediction_log_pb2.PredictionLog(
        classify_log=prediction_log_pb2.ClassifyLog(request=request)
    )


def write_warmup_requests(version_dir: str | os.PathLike[str], logs: Iterable) -> Path:
    """Write ``PredictionLog`` protos to the version's warmup file; returns its path."""
    import tensorflow as tf

    path = warmup_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise ValueError(f"TF Serving replays at most {MAX_WARMUP_RECORDS} warmup records")
            writer.write(log.SerializeToString())
    if count == 0:
        raise ValueError("no warmup requests given; pass at least one PredictionLog")
    return path


def read_warmup_requests(version_dir: str | os.PathLike[str]) -> Iterator:
    """Yield the ``PredictionLog`` protos of a version's warmup file (nothing if it has none)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(version_dir)
    if not path.is_file():
        return
    for i, record in enumerate(tf.data.TFRecordDataset(str(path))):
        if i >= MAX_WARMUP_RECORDS:
            break
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        yield log


def warmup_inputs(
    version_dir: str | os.PathLike[str], signature_name: str = "serving_default"
) -> dict[str, Any]:
    """The inputs of a version's warmup ``PredictRequest``s for ``signature_name``, stacked.

    Returns ``{input_name: array (rows, ...)}``, the rows of every record in file order (a request
    without a signature name counts as ``serving_default``, as TF Serving reads it); ``{}`` when
    the version has no warmup file or no predict request for that signature. Records whose inputs
    differ from the first matching one, and classify/regress records, are skipped.
    """
    import numpy as np
    import tensorflow as tf

    parts: dict[str, list[Any]] = {}
    for log in read_warmup_requests(version_dir):
        if log.WhichOneof("log_type") != "predict_log":
            continue
        request = log.predict_log.request
        if (request.model_spec.signature_name or "serving_default") != signature_name:
            continue
        if parts and set(request.inputs) != set(parts):
            continue
        for key, proto in request.inputs.items():
            parts.setdefault(key, []).append(tf.make_ndarray(proto))
    try:
        return {key: np.concatenate(values) for key, values in parts.items()}
    except ValueError as err:  # rows of different shapes
        raise ValueError(
            f"the warmup records of {version_dir} for {signature_name!r} do not stack: {err}"
        ) from err
