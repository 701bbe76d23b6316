"""Predict, Classify, Regress and MultiInference on a loaded `Servable`, as TF Serving runs them.

The numpy-level functions serve REST; the ``*_proto`` functions take and return the
``tensorflow-serving-api`` protos and serve gRPC and warmup replay.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.server.errors import ServingError, invalid
from serving.server.servable import Servable
from serving.server.tensors import array_to_tensor_proto, tensor_proto_to_array
from serving.signatures import CLASSIFY_METHOD, REGRESS_METHOD


def _examples_input(servable: Servable, key: str, examples: list) -> dict[str, np.ndarray]:
    specs = servable.input_specs[key]
    if len(specs) != 1:
        raise ServingError("FAILED_PRECONDITION",
                           f"signature {key!r} must have exactly one string input of serialized Examples")
    (name,) = specs
    serialized = np.array([ex.SerializeToString() for ex in examples], dtype=object)  # (N,)
    return {name: serialized}


def classify(servable: Servable, signature: str | None, examples: list) -> list[list[tuple[str, float]]]:
    """Per example, the ``(label, score)`` pairs of a classify signature (label '' if no classes)."""
    if not examples:
        raise invalid("Input is empty")
    key = servable.signature(signature, CLASSIFY_METHOD)
    outputs = servable.run(key, _examples_input(servable, key, examples))
    classes, scores = outputs.get("classes"), outputs.get("scores")
    if classes is None and scores is None:
        raise ServingError("FAILED_PRECONDITION", "classify signature has neither 'classes' nor 'scores'")
    n = len(examples)
    classes = None if classes is None else np.asarray(classes).reshape(n, -1)  # (N, K)
    scores = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(n, -1)
    k = (classes if classes is not None else scores).shape[1]
    result = []
    for i in range(n):
        row = []
        for j in range(k):
            label = classes[i, j] if classes is not None else b""
            label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
            row.append((label, float(scores[i, j]) if scores is not None else 0.0))
        result.append(row)
    return result


def regress(servable: Servable, signature: str | None, examples: list) -> list[float]:
    """One float per example from a regress signature's ``outputs``."""
    if not examples:
        raise invalid("Input is empty")
    key = servable.signature(signature, REGRESS_METHOD)
    outputs = servable.run(key, _examples_input(servable, key, examples))
    if "outputs" not in outputs:
        raise ServingError("FAILED_PRECONDITION", "regress signature has no 'outputs' output")
    values = np.asarray(outputs["outputs"], dtype=np.float32)
    if values.size != len(examples):
        raise ServingError("INVALID_ARGUMENT", "Expected output Tensor shape to be [batch_size] or "
                           f"[batch_size, 1] but got {list(values.shape)}")
    return values.reshape(-1).astype(str).astype(np.float64).tolist()


def examples_from_input(input_proto: Any) -> list:
    """The Examples of an ``Input`` proto (``example_list`` or ``example_list_with_context``)."""
    import tensorflow as tf

    which = input_proto.WhichOneof("kind")
    if which == "example_list":
        return list(input_proto.example_list.examples)
    if which == "example_list_with_context":
        ctx = input_proto.example_list_with_context.context
        merged = []
        for ex in input_proto.example_list_with_context.examples:
            m = tf.train.Example()
            m.CopyFrom(ctx)
            m.MergeFrom(ex)
            merged.append(m)
        return merged
    raise invalid("Input is empty")


def _fill_spec(spec: Any, servable: Servable, key: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = key


def predict_proto(servable: Servable, request: Any) -> Any:
    """Answer a ``PredictRequest``."""
    from tensorflow_serving.apis import predict_pb2

    key = servable.signature(request.model_spec.signature_name)
    inputs = {name: tensor_proto_to_array(t, name) for name, t in request.inputs.items()}
    outputs = servable.run(key, inputs, tuple(request.output_filter))
    response = predict_pb2.PredictResponse()
    _fill_spec(response.model_spec, servable, key)
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(array_to_tensor_proto(value))
    return response


def classify_proto(servable: Servable, request: Any) -> Any:
    """Answer a ``ClassificationRequest``."""
    from tensorflow_serving.apis import classification_pb2

    key = servable.signature(request.model_spec.signature_name, CLASSIFY_METHOD)
    rows = classify(servable, key, examples_from_input(request.input))
    response = classification_pb2.ClassificationResponse()
    _fill_spec(response.model_spec, servable, key)
    for row in rows:
        item = response.result.classifications.add()
        for label, score in row:
            item.classes.add(label=label, score=score)
    return response


def regress_proto(servable: Servable, request: Any) -> Any:
    """Answer a ``RegressionRequest``."""
    from tensorflow_serving.apis import regression_pb2

    key = servable.signature(request.model_spec.signature_name, REGRESS_METHOD)
    values = regress(servable, key, examples_from_input(request.input))
    response = regression_pb2.RegressionResponse()
    _fill_spec(response.model_spec, servable, key)
    for value in values:
        response.result.regressions.add(value=value)
    return response


def multi_inference_proto(servable: Servable, request: Any) -> Any:
    """Answer a ``MultiInferenceRequest`` (all tasks on one model, classify/regress only)."""
    from tensorflow_serving.apis import inference_pb2

    if not request.tasks:
        raise invalid("Found no inference tasks")
    examples = examples_from_input(request.input)
    response = inference_pb2.MultiInferenceResponse()
    seen = set()
    for task in request.tasks:
        if task.model_spec.name != servable.name:
            raise invalid("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        key = servable.signature(task.model_spec.signature_name)
        if key in seen:
            raise invalid("Duplicate evaluation of signature: " + key)
        seen.add(key)
        result = response.results.add()
        _fill_spec(result.model_spec, servable, key)
        if task.method_name == CLASSIFY_METHOD:
            for row in classify(servable, key, examples):
                item = result.classification_result.classifications.add()
                for label, score in row:
                    item.classes.add(label=label, score=score)
        elif task.method_name == REGRESS_METHOD:
            for value in regress(servable, key, examples):
                result.regression_result.regressions.add(value=value)
        else:
            raise ServingError("UNIMPLEMENTED", f"Unsupported signature method_name: {task.method_name}")
    return response


def metadata_proto(servable: Servable, request: Any) -> Any:
    """Answer a ``GetModelMetadataRequest`` (only ``signature_def`` metadata exists)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    fields = list(request.metadata_field)
    if not fields:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != "signature_def":
            raise invalid(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in servable.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(sig)
    response.metadata["signature_def"].Pack(sig_map)
    return response


def replay_warmup(servable: Servable) -> int:
    """Replay the version's ``assets.extra/tf_serving_warmup_requests``; returns the record count.

    Any failing record fails the load, as in TF Serving.
    """
    from serving.warmup import read_warmup_requests

    count = 0
    for log in read_warmup_requests(servable.path):
        which = log.WhichOneof("log_type")
        if which == "predict_log":
            predict_proto(servable, log.predict_log.request)
        elif which == "classify_log":
            classify_proto(servable, log.classify_log.request)
        elif which == "regress_log":
            regress_proto(servable, log.regress_log.request)
        elif which == "multi_inference_log":
            req = log.multi_inference_log.request
            for task in req.tasks:
                task.model_spec.name = servable.name
            multi_inference_proto(servable, req)
        else:
            raise ServingError("UNIMPLEMENTED", f"Unsupported log_type for warmup: {which}")
        count += 1
    return count
