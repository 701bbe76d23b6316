"""The REST API's codec: request bodies to the one predict path (`serving.server.inference`) and
its answers back to TF Serving's JSON, status/metadata/listing bodies, and request-log records.

Module functions only (no aiohttp): `serving.server.rest.RestApi` calls them on the event loop or
in its worker threads, and `dense_in_child` in a child process for very large bodies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlsuite.serving.server import inference, v2, v2_binary
from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import ServingError, invalid
from dlsuite.serving.server.json_examples import examples_from_json
from dlsuite.serving.server.json_tensor import DenseBody, dense_inputs, predict_inputs, split_dense
from dlsuite.serving.server.json_values import (
    may_hold_literals,
    parse_json,
)
from dlsuite.serving.server.manager import ModelManager
from dlsuite.serving.server.servable import DEFAULT_SIGNATURE, Servable
from dlsuite.serving.server.tensors import (
    array_to_tensor_proto,
    classify_json,
    regress_json,
)


def status_json(manager: ModelManager, name: str, version: int | None, label: str | None) -> dict:
    """``GetModelStatusResponse`` as TF Serving prints it in JSON.

    As in TF Serving, a version label does not narrow the status: all versions are listed.
    """
    return {
        "model_version_status": [
            {
                "version": str(s.version),
                "state": s.state,
                "status": {"error_code": s.error_code, "error_message": s.error_message},
            }
            for s in inference.model_status(manager, name, version)
        ]
    }


def metadata_json(manager: ModelManager, name: str, version: int | None, label: str | None) -> dict:
    """``GetModelMetadataResponse`` as TF Serving prints it in JSON."""
    from google.protobuf import json_format

    with inference.servable_handle(manager, name, version, label) as servable:
        sig_map = {
            k: json_format.MessageToDict(
                v, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            for k, v in sorted(servable.all_signature_defs.items())
        }
        return {
            "model_spec": {
                "name": servable.name,
                "signature_name": "",
                "version": str(servable.version),
            },
            "metadata": {"signature_def": {"signature_def": sig_map}},
        }


def models_json(manager: ModelManager) -> dict:
    """Every configured model with its versions' status (``GET /v1/models``)."""
    models = []
    for name in manager.model_names():
        try:
            versions = status_json(manager, name, None, None)["model_version_status"]
        except ServingError:
            versions = []
        models.append({"name": name, "model_version_status": versions})
    return {"models": models}


def predict_body(raw: bytes, limits: RequestLimits) -> tuple[dict, DenseBody | None]:
    """A ``:predict`` body parsed within ``limits``: ``(document, its dense tensor or None)``. A
    dense body (`split_dense`) is not parsed in full: its document has the tensor replaced by 0."""
    dense = split_dense(raw, limits)
    return (dense.doc, dense) if dense is not None else (parse_json(raw, limits), None)


def dense_in_child(
    raw: bytes, limits: RequestLimits
) -> tuple[DenseBody | None, tuple[str, str, int] | None]:
    """`split_dense` in the body-reading process: ``(dense body or None, None)``, or ``(None,
    (code, message, HTTP status))`` when it refuses the body (a `ServingError` does not pickle)."""
    try:
        return split_dense(raw, limits), None
    except ServingError as err:
        return None, (err.code, err.message, err.http_status)


def predict_request(
    servable: Servable,
    raw: bytes,
    doc: dict,
    dense: DenseBody | None,
    signame: str,
    limits: RequestLimits,
) -> tuple[str, dict[str, np.ndarray], bool]:
    """The TF Serving JSON codec's request side (``FillPredictRequestFromJson``) on the one
    predict path, within ``limits``: ``(signature key, prepared inputs, row format)``."""
    key = signame or DEFAULT_SIGNATURE
    sig = servable.signature_defs.get(key)
    if sig is None:
        raise invalid(f'Serving signature name: "{key}" not found in signature def')
    infos = {n: info.dtype for n, info in sig.inputs.items()}
    decoded = dense_inputs(dense, infos) if dense is not None else None
    if decoded is None:
        if dense is not None:
            doc = parse_json(raw, limits)  # the dense reading could not vouch for it: full parse
        decoded = predict_inputs(doc, infos, signame, fast=not may_hold_literals(raw))
    inputs, row_format = decoded
    key = servable.signature(signame)
    return key, inference.prepare(servable, key, inputs, limits=limits), row_format


def examples_v1_json(
    manager: ModelManager,
    verb: str,
    name: str,
    version: int | None,
    label: str | None,
    doc: dict,
    signame: str,
    limits: RequestLimits,
) -> tuple[str, str, str]:
    """One v1 ``:classify``/``:regress`` from its parsed JSON body to the JSON text of its answer,
    run in a worker thread, with TF Serving's checks in TF Serving's order (the Examples before
    the model lookup, and within ``limits``); returns ``(response body text, version served,
    signature key)``."""
    context, examples = examples_from_json(doc)
    serialized = inference.serialized_examples(context, examples, limits)
    with inference.servable_handle(manager, name, version, label) as servable:
        key = signame or DEFAULT_SIGNATURE
        if verb == "classify":
            result: Any = inference.classify(servable, signame, serialized)
            text = classify_json(result)
        else:
            result = inference.regress(servable, signame, serialized)
            text = regress_json(result)
        logger = manager.request_logger(name)
        if logger is not None:
            log_examples(logger, servable, verb, key, context, examples, result)
        return text, str(servable.version), key


def v2_answer(
    request: v2.InferRequest, name: str, version: int, key: str, outputs: dict
) -> tuple[bytes, int | None]:
    result = v2.infer_result(request, name, version, key, outputs)
    return v2_binary.response_body(result.response, result.binary)


def v2_request(raw: bytes, header_length: str | None, limits: RequestLimits) -> v2.InferRequest:
    return v2.parse_infer(*v2_binary.parse_request(raw, header_length, limits))


def outputs_nbytes(outputs: dict[str, np.ndarray]) -> int:
    return sum(np.asarray(a).nbytes for a in outputs.values())


def log_predict(
    logger: Any, name: str, version: int, key: str, inputs: dict, outputs: dict
) -> None:
    """Write a REST predict as the ``PredictRequest``/``PredictResponse`` TF Serving would log."""
    from tensorflow_serving.apis import predict_pb2

    request, response = predict_pb2.PredictRequest(), predict_pb2.PredictResponse()
    for spec in (request.model_spec, response.model_spec):
        spec.name, spec.signature_name = name, key
    response.model_spec.version.value = version
    for input_name, value in inputs.items():
        request.inputs[input_name].CopyFrom(array_to_tensor_proto(value))
    for output_name, value in outputs.items():
        response.outputs[output_name].CopyFrom(array_to_tensor_proto(value))
    logger.write("predict", request, response, version, key)


def log_examples(
    logger: Any, servable: Any, verb: str, key: str, context: Any, examples: list, result: Any
) -> None:
    """Write a REST classify/regress
    as the ``Classification``/``Regression`` protos TF Serving would log.
    """
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    classify = verb == "classify"
    module = classification_pb2 if classify else regression_pb2
    request = module.ClassificationRequest() if classify else module.RegressionRequest()
    response = module.ClassificationResponse() if classify else module.RegressionResponse()
    for spec in (request.model_spec, response.model_spec):
        spec.name, spec.signature_name = servable.name, key
    response.model_spec.version.value = servable.version
    if context is not None:
        request.input.example_list_with_context.context.CopyFrom(context)
        request.input.example_list_with_context.examples.extend(examples)
    else:
        request.input.example_list.examples.extend(examples)
    for row in result:
        if classify:
            item = response.result.classifications.add()
            for label, score in row:
                item.classes.add(label=label.decode("utf-8", "replace"), score=score)
        else:
            response.result.regressions.add(value=float(row))
    logger.write(verb, request, response, servable.version, key)
