"""Tiny TF Serving-style golden SavedModels (like TF Serving's ``half_plus_two``) for server tests.

`write_half_plus(version_dir, b)` writes y = 0.5 * x + b with these signatures:

* ``serving_default`` (predict): ``x`` float32 (N,) -> ``y`` float32 (N,)
* ``classify_x_to_y`` (classify): ``inputs`` serialized tf.Example with float feature ``x``
  -> ``classes`` string (N, 1) = "y", ``scores`` float32 (N, 1) = y
* ``regress_x_to_y`` (regress): ``inputs`` serialized tf.Example -> ``outputs`` float32 (N,) = y
* ``bytes_length`` (predict): ``x_bytes`` string (N,) -> ``length`` int32 (N,),
  ``echo_bytes`` string
* ``two_inputs`` (predict): ``a``, ``b`` float32 (N,) -> ``sum``, ``diff`` float32 (N,)
* ``ints`` (predict): ``k`` int64 (N, 2) -> ``doubled`` int64 (N, 2)

plus a warmup file (two predict records and one regress record) when ``warmup`` is true.
"""

from __future__ import annotations

from pathlib import Path

from dlsuite.serving.signatures import CLASSIFY_METHOD, REGRESS_METHOD, set_signature_methods
from dlsuite.serving.warmup import write_warmup_requests


def write_half_plus(version_dir: str | Path, b: float, warmup: bool = True) -> Path:
    """Write the golden model y = 0.5 * x + ``b`` to ``version_dir``; returns it."""
    import tensorflow as tf

    class HalfPlus(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(float(b))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}  # (N,)

        def _parse_x(self, inputs):
            feats = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})
            return feats["x"][:, 0]  # (N,)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            y = self.a * self._parse_x(inputs) + self.b
            n = tf.shape(y)[0]
            return {"classes": tf.fill([n, 1], "y"), "scores": y[:, None]}  # (N, 1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            return {"outputs": self.a * self._parse_x(inputs) + self.b}  # (N,)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="x_bytes")])
        def bytes_length(self, x_bytes):
            return {"length": tf.strings.length(x_bytes), "echo_bytes": tf.identity(x_bytes)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="a"),
                tf.TensorSpec([None], tf.float32, name="b"),
            ]
        )
        def two_inputs(self, a, b):
            return {"sum": a + b, "diff": a - b}

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int64, name="k")])
        def ints(self, k):
            return {"doubled": k * 2}

    module = HalfPlus()
    version_dir = Path(version_dir)
    tf.saved_model.save(
        module,
        str(version_dir),
        signatures={
            "serving_default": module.predict,
            "classify_x_to_y": module.classify,
            "regress_x_to_y": module.regress,
            "bytes_length": module.bytes_length,
            "two_inputs": module.two_inputs,
            "ints": module.ints,
        },
    )
    set_signature_methods(
        version_dir, {"classify_x_to_y": CLASSIFY_METHOD, "regress_x_to_y": REGRESS_METHOD}
    )
    if warmup:
        write_warmup_requests(version_dir, warmup_logs())
    return version_dir


def example(x: float):
    """A tf.train.Example with float feature ``x``."""
    import tensorflow as tf

    return tf.train.Example(
        features=tf.train.Features(
            feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
        )
    )


def warmup_logs() -> list:
    """Two predict and one regress ``PredictionLog``."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, regression_pb2

    logs = []
    for values in ([1.0, 2.0], [3.0]):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "warmup"
        request.model_spec.signature_name = "serving_default"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(values, dtype=tf.float32))
        logs.append(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
        )
    request = regression_pb2.RegressionRequest()
    request.model_spec.signature_name = "regress_x_to_y"
    request.input.example_list.examples.add().CopyFrom(example(1.0))
    logs.append(
        prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(request=request))
    )
    return logs
