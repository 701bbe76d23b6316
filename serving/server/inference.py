"""Predict, Classify, Regress and MultiInference on a loaded `Servable`, as TF Serving runs them.

Every protocol predicts through one path: a codec turns its request into named inputs (TF Serving
JSON in `serving.server.json_tensor`, ``TensorProto`` in `serving.server.tensors`, KServe V2 in
`serving.server.v2`), `prepare` checks them against the signature once (TF Serving's alias and
output-filter checks, before anything is decoded) and decodes them into the arrays fed,
`Servable.run` / `Servable.run_async` runs them (batched when the version has a batcher), and
`selected` applies the output filter; the codec writes the answer. Given the server's
`RequestLimits`, `prepare` refuses inputs too large from their declared shapes before decoding
them, and string elements too long once decoded (`serving.server.limits`); classify and regress
check their Examples the same way before serializing them. Warmup replay runs without limits.
`predict` is that path for callers on a thread (gRPC, warmup); the REST server runs the same steps
from its event loop.

The checks, their order, status codes and messages follow TF Serving's ``predict_util.cc``,
``classifier.cc``, ``regressor.cc`` and ``util.cc`` (serialized Examples with their context
prepended, ``Input is empty.``, the output shape and dtype checks). The numpy-level functions serve
REST; the ``*_proto`` functions take and return the ``tensorflow-serving-api`` protos and serve gRPC
and warmup replay. `servable_handle` and `model_status` resolve a model spec with ServerCore's and
GetModelStatus's errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import ServingError, invalid, not_found
from dlsuite.serving.server.limits import check_examples, check_shapes, check_strings
from dlsuite.serving.server.servable import DEFAULT_SIGNATURE, Servable
from dlsuite.serving.server.tensors import (
    array_to_tensor_proto,
    proto_shape,
    tensor_proto_to_array,
)
from dlsuite.serving.signatures import CLASSIFY_METHOD, REGRESS_METHOD
from dlsuite.serving.warmup import read_warmup_requests

T = TypeVar("T")
Decode = Callable[[str, T, Any], np.ndarray]  # (input alias, encoded value, tf.TensorSpec) -> array
Shape = Callable[[str, T], Sequence[int]]  # (input alias, encoded value) -> the shape it declares


@contextlib.contextmanager
def servable_handle(
    manager: Any, name: str, version: int | None = None, label: str | None = None
) -> Iterator[Servable]:
    """``ServerCore::GetServableHandle``: a label is resolved first, so an unknown label (also of an
    unknown model) is INVALID_ARGUMENT ``Unrecognized servable version label``; then NOT_FOUND."""
    if not name:
        raise invalid("ModelSpec has no name specified.")
    if label is not None and name not in manager.model_names():
        raise invalid(f"Unrecognized servable version label: {label}")
    if version is not None and name not in manager.model_names():  # ServableRequest::DebugString
        raise not_found(f"Servable not found for request: Specific({name}, {version})")
    with manager.servable(name, version, label) as servable:
        yield servable


def model_status(manager: Any, name: str, version: int | None = None) -> list:
    """``GetModelStatusImpl``: one version's status or all of them (a version label is ignored,
    as in TF Serving); NOT_FOUND ``Could not find version V of model M`` / ``... any versions``."""
    if name not in manager.model_names():
        raise not_found(
            f"Could not find version {version} of model {name}"
            if version is not None
            else f"Could not find any versions of model {name}"
        )
    return manager.status(name, version)


def _dt_name(arr: np.ndarray) -> str:
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(tf.as_dtype(np.asarray(arr).dtype).as_datatype_enum)


def _shape(arr: np.ndarray) -> str:
    """``TensorShape::DebugString``."""
    return "[" + ",".join(str(d) for d in np.shape(arr)) + "]"


def _debug_string(signature: Any) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(signature)


def _signature(servable: Servable, name: str | None, method: str, kind: str) -> str:
    """``GetClassificationSignatureDef`` / ``GetRegressionSignatureDef``."""
    key = name or DEFAULT_SIGNATURE
    sig = servable.signature_defs.get(key)
    if sig is None:
        raise invalid(f"No signature was found with the name: {key}")
    if sig.method_name != method:
        raise invalid(
            f"Expected {kind} signature method_name to be {method}. Was: {sig.method_name}"
        )
    return key


def _run_examples(
    servable: Servable, key: str, serialized: Sequence[bytes]
) -> dict[str, np.ndarray]:
    """``PerformOneShotTensorComputation``: feed the serialized Examples to input ``inputs``."""
    if not serialized:
        raise invalid("Input is empty.")
    tensor = np.empty(len(serialized), dtype=object)  # (N,)
    tensor[:] = list(serialized)
    return servable.run(key, {"inputs": tensor})


def classify(
    servable: Servable, signature: str | None, serialized: Sequence[bytes]
) -> list[list[tuple[bytes, float]]]:
    """Per example, the ``(label, score)`` pairs of a classify signature (label b'' without
    ``classes``, score 0 without ``scores``), with ``classifier.cc``'s checks."""
    key = _signature(servable, signature, CLASSIFY_METHOD, "classification")
    sig = servable.signature_defs[key]
    if len(sig.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(sig.outputs) not in (1, 2):
        raise invalid(f"Expected one or two output Tensors, found {len(sig.outputs)}")
    if "inputs" not in sig.inputs:
        raise ServingError(
            "FAILED_PRECONDITION",
            f"No classification inputs found in SignatureDef: {_debug_string(sig)}",
        )
    if "classes" not in sig.outputs and "scores" not in sig.outputs:
        raise ServingError(
            "FAILED_PRECONDITION",
            "Expected classification signature outputs to "
            'contain at least one of "classes" or "scores". Signature was: ' + _debug_string(sig),
        )
    outputs = _run_examples(servable, key, serialized)
    n = len(serialized)
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for name, arr, dtype in (("classes", classes, "DT_STRING"), ("scores", scores, "DT_FLOAT")):
        if arr is None:
            continue
        if np.ndim(arr) != 2:
            raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got {_shape(arr)}")
        if _dt_name(arr) != dtype:
            raise invalid(f"Expected {name} Tensor of {dtype}. Got: {_dt_name(arr)}")
        if np.shape(arr)[0] != n:
            raise invalid(f"Expected {name} output batch size of {n}. Got: {np.shape(arr)[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid(
            "Tensors class and score should match in dim_size(1). Got "
            f"{classes.shape[1]} vs. {scores.shape[1]}"
        )
    either = classes if classes is not None else scores
    assert either is not None  # the signature has "classes" or "scores" (checked above)
    k = either.shape[1]
    labels = classes.tolist() if classes is not None else [[b""] * k] * n  # (N, K)
    values = scores.astype(np.float64).tolist() if scores is not None else [[0.0] * k] * n
    return [
        list(zip(label_row, score_row, strict=True))
        for label_row, score_row in zip(labels, values, strict=True)
    ]


def regress(servable: Servable, signature: str | None, serialized: Sequence[bytes]) -> np.ndarray:
    """One float32 per example from a regress signature's ``outputs``,
    with ``regressor.cc``'s checks.
    """
    key = _signature(servable, signature, REGRESS_METHOD, "regression")
    sig = servable.signature_defs[key]
    if len(sig.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(sig.outputs) != 1:
        raise invalid("Expected one output Tensor.")
    if "inputs" not in sig.inputs:
        raise ServingError(
            "FAILED_PRECONDITION",
            f"No regression inputs found in SignatureDef: {_debug_string(sig)}",
        )
    if "outputs" not in sig.outputs:
        raise ServingError(
            "FAILED_PRECONDITION",
            f"No regression outputs found in SignatureDef: {_debug_string(sig)}",
        )
    out = np.asarray(_run_examples(servable, key, serialized)["outputs"])
    n = len(serialized)
    if not (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
        raise invalid(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
            f"but got {_shape(out)}"
        )
    if out.shape[0] != n:
        raise invalid(f"Input batch size did not match output batch size: {n} vs. {out.shape[0]}")
    if _dt_name(out) != "DT_FLOAT":
        raise invalid(f"Expected output Tensor of DT_FLOAT.  Got: {_dt_name(out)}")
    return out.reshape(-1)


def serialized_examples(
    context: Any | None, examples: Sequence[Any], limits: RequestLimits | None = None
) -> list[bytes]:
    """``InputToSerializedExampleTensor``: each Example serialized, its context's bytes first (so
    an example's feature wins over the context's of the same name, as when TF parses them);
    checked first against ``limits`` (`serving.server.limits.check_examples`) when given."""
    if limits is not None:
        check_examples(context, examples, limits)
    prefix = context.SerializeToString() if context is not None else b""
    return [prefix + ex.SerializeToString() for ex in examples]


def examples_from_input(input_proto: Any, limits: RequestLimits | None = None) -> list[bytes]:
    """The serialized Examples of an ``Input`` proto (``example_list`` or ``..._with_context``)."""
    which = input_proto.WhichOneof("kind")
    if which == "example_list":
        return serialized_examples(None, input_proto.example_list.examples, limits)
    if which == "example_list_with_context":
        lists = input_proto.example_list_with_context
        return serialized_examples(lists.context, lists.examples, limits)
    raise invalid("Input is empty.")


def check_predict_request(
    servable: Servable, key: str, input_names: Sequence[str], output_filter: Sequence[str]
) -> None:
    """``PreProcessPrediction``'s checks on input aliases and the output filter."""
    sig = servable.signature_defs[key]
    sent, wanted = sorted(input_names), sorted(sig.inputs)
    if len(sent) != len(wanted):
        extra, missing = sorted(set(sent) - set(wanted)), sorted(set(wanted) - set(sent))
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{','.join(sent)}}}) != len({{{','.join(wanted)}}}). Sent extra: "
            f"{{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}."
        )
    for alias in sent:
        if alias not in sig.inputs:
            raise invalid(
                f"input tensor alias not found in signature: {alias}. Inputs expected to "
                f"be in the set {{{','.join(wanted)}}}."
            )
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in sig.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} Outputs expected to "
                f"be in the set {{{','.join(sorted(sig.outputs))}}}."
            )
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)


def _as_feed(value: Any, spec: Any) -> np.ndarray:
    """``value`` as the array fed for an input of ``spec``: strings as an object array of bytes.

    Numbers keep their dtype: a float64 array fed to a float32 input fails in the session with
    TensorFlow's own ``Expects arg[i] to be float but double is provided``, as in TF Serving.
    """
    arr = np.asarray(value)
    if spec.dtype.name == "string" and arr.dtype.kind == "U":
        return np.vectorize(lambda v: v.encode("utf-8"), otypes=[object])(arr)
    return arr


def prepare(
    servable: Servable,
    key: str,
    inputs: Mapping[str, T],
    output_filter: Sequence[str] = (),
    decode: Decode | None = None,
    *,
    shape: Shape | None = None,
    limits: RequestLimits | None = None,
) -> dict[str, np.ndarray]:
    """The request's inputs checked once against signature ``key`` (`check_predict_request`,
    before anything is decoded) and decoded by the codec's ``decode`` (None: they are arrays
    already) into the arrays `Servable.run` feeds.

    With ``limits``, the shapes the inputs declare (the codec's ``shape``; None: the arrays' own)
    are checked before any is decoded, rows counted on inputs whose signature shape starts with
    None, and string elements once decoded.
    """
    check_predict_request(servable, key, list(inputs), output_filter)
    specs = servable.input_specs[key]
    if limits is not None:
        declared = {
            f"input '{name}'": tuple(shape(name, value) if shape else np.shape(cast(Any, value)))
            for name, value in inputs.items()
        }
        batched = {
            f"input '{name}'"
            for name in inputs
            if specs[name].shape.rank and specs[name].shape[0] is None
        }
        check_shapes(declared, limits, batched)
    feeds = {
        name: _as_feed(decode(name, value, specs[name]) if decode else value, specs[name])
        for name, value in inputs.items()
    }
    if limits is not None:
        check_strings(feeds, limits)
    return feeds


def selected(outputs: dict[str, np.ndarray], output_filter: Sequence[str]) -> dict[str, np.ndarray]:
    """The outputs an output filter asks for (all of them when it is empty)."""
    return {k: v for k, v in outputs.items() if k in output_filter} if output_filter else outputs


def predict(
    servable: Servable,
    key: str,
    inputs: Mapping[str, T],
    output_filter: Sequence[str] = (),
    decode: Decode | None = None,
    *,
    shape: Shape | None = None,
    limits: RequestLimits | None = None,
) -> dict[str, np.ndarray]:
    """The one predict path, from a thread: `prepare`, `Servable.run` (batched if configured),
    `selected`."""
    feeds = prepare(servable, key, inputs, output_filter, decode, shape=shape, limits=limits)
    return selected(servable.run(key, feeds), output_filter)


def _fill_spec(spec: Any, servable: Servable, key: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = key


def predict_proto(servable: Servable, request: Any, limits: RequestLimits | None = None) -> Any:
    """Answer a ``PredictRequest`` (its tensors' declared shapes checked against ``limits``)."""
    from tensorflow_serving.apis import predict_pb2

    key = servable.signature(request.model_spec.signature_name)  # FAILED_PRECONDITION if unknown
    outputs = predict(
        servable,
        key,
        request.inputs,
        list(request.output_filter),
        lambda name, proto, _spec: tensor_proto_to_array(proto, name, limits),
        shape=lambda name, proto: proto_shape(proto, name),
        limits=limits,
    )
    response = predict_pb2.PredictResponse()
    _fill_spec(response.model_spec, servable, key)
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(array_to_tensor_proto(value))
    return response


def classify_proto(servable: Servable, request: Any, limits: RequestLimits | None = None) -> Any:
    """Answer a ``ClassificationRequest`` (its Examples checked against ``limits``)."""
    from tensorflow_serving.apis import classification_pb2

    key = _signature(servable, request.model_spec.signature_name, CLASSIFY_METHOD, "classification")
    rows = classify(servable, key, examples_from_input(request.input, limits))
    response = classification_pb2.ClassificationResponse()
    _fill_spec(response.model_spec, servable, key)
    for row in rows:
        item = response.result.classifications.add()
        for label, score in row:
            item.classes.add(label=label.decode("utf-8", "replace"), score=score)
    return response


def regress_proto(servable: Servable, request: Any, limits: RequestLimits | None = None) -> Any:
    """Answer a ``RegressionRequest`` (its Examples checked against ``limits``)."""
    from tensorflow_serving.apis import regression_pb2

    key = _signature(servable, request.model_spec.signature_name, REGRESS_METHOD, "regression")
    values = regress(servable, key, examples_from_input(request.input, limits))
    response = regression_pb2.RegressionResponse()
    _fill_spec(response.model_spec, servable, key)
    for value in values:
        response.result.regressions.add(value=float(value))
    return response


def multi_inference_proto(
    servable: Servable, request: Any, limits: RequestLimits | None = None
) -> Any:
    """Answer a ``MultiInferenceRequest`` (all tasks on one model, classify/regress only; its
    Examples checked against ``limits``)."""
    from tensorflow_serving.apis import inference_pb2

    if not request.tasks:
        raise invalid("Found no inference tasks")
    examples = examples_from_input(request.input, limits)
    response = inference_pb2.MultiInferenceResponse()
    seen = set()
    for task in request.tasks:
        if task.model_spec.name != servable.name:
            raise invalid(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
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
                    item.classes.add(label=label.decode("utf-8", "replace"), score=score)
        elif task.method_name == REGRESS_METHOD:
            for value in regress(servable, key, examples):
                result.regression_result.regressions.add(value=float(value))
        else:
            raise ServingError(
                "UNIMPLEMENTED", f"Unsupported signature method_name: {task.method_name}"
            )
    return response


def check_metadata_request(request: Any) -> None:
    """``ValidateGetModelMetadataRequest`` (TF Serving runs it before looking up the model)."""
    fields = list(request.metadata_field)
    if not fields:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != "signature_def":
            raise invalid(f"Metadata field %s is not supported{field}")  # sic: StrCat, not printf


def metadata_proto(servable: Servable, request: Any) -> Any:
    """Answer a ``GetModelMetadataRequest`` (only ``signature_def`` metadata exists)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    check_metadata_request(request)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in servable.all_signature_defs.items():
        sig_map.signature_def[key].CopyFrom(sig)
    response.metadata["signature_def"].Pack(sig_map)
    return response


def replay_warmup(servable: Servable) -> int:
    """Replay the version's ``assets.extra/tf_serving_warmup_requests``; returns the record count.

    Any failing record fails the load, as in TF Serving.
    """
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
