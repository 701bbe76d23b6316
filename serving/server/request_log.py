"""TF Serving's ``logging_config``:
sampled requests and responses as TFRecord files of ``PredictionLog``.

A model whose ``ModelConfig`` has
``logging_config { log_collector_config { type: "file" filename_prefix: "/logs/m" }
sampling_config { sampling_rate: 0.1 } }`` gets each finished request logged with probability
``sampling_rate`` as one ``tensorflow.serving.PredictionLog`` record (``predict_log``,
``classify_log``, ``regress_log`` or ``multi_inference_log`` with the request, the response and
``log_metadata``: model spec and sampling config) in ``<filename_prefix>.<pid>.tfrecord``. Records
are flushed one by one, so readers (``tf.data.TFRecordDataset``) see them at once; the same files
replay as warmup requests. gRPC and REST v1 requests are logged; V2 requests are not
(``PredictionLog`` has no V2 type).
"""

from __future__ import annotations

import os
import random
import threading
from typing import Any

from dlsuite.serving.server.config import RequestLogging

_LOG_FIELDS = {
    "predict": "predict_log",
    "classify": "classify_log",
    "regress": "regress_log",
    "multi_inference": "multi_inference_log",
}


class RequestLogger:
    """Samples and writes the requests of one model.

    Args:
        model: the model name.
        options: the model's logging options.
    """

    def __init__(self, model: str, options: RequestLogging) -> None:
        self.model = model
        self.options = options
        self.path = f"{options.filename_prefix}.{os.getpid()}.tfrecord"
        self._lock = threading.Lock()
        self._writer: Any = None

    def sampled(self) -> bool:
        """Draw whether the next request is logged."""
        return random.random() < self.options.sampling_rate

    def write(self, api: str, request: Any, response: Any, version: int, signature: str) -> None:
        """Append one ``PredictionLog``
        (``api`` is predict, classify, regress or multi_inference).
        """
        from tensorflow_serving.apis import prediction_log_pb2

        record = prediction_log_pb2.PredictionLog()
        meta = record.log_metadata
        meta.model_spec.name = self.model
        meta.model_spec.version.value = version
        meta.model_spec.signature_name = signature
        meta.sampling_config.sampling_rate = self.options.sampling_rate
        entry = getattr(record, _LOG_FIELDS[api])
        entry.request.CopyFrom(request)
        entry.response.CopyFrom(response)
        data = record.SerializeToString()
        with self._lock:
            if self._writer is None:
                import tensorflow as tf

                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                self._writer = tf.io.TFRecordWriter(self.path)
            self._writer.write(data)
            self._writer.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
