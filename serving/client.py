"""A small client for TF Serving's REST and gRPC APIs, and `predict` for ``dlsuite predict``.

REST uses plain HTTP (``requests``); gRPC uses the ``tensorflow-serving-api`` stubs. Works against
``dlsuite serve`` and the real tensorflow_model_server alike.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.serving.repository import check_model_name

# gRPC clients default to 4 MB per message; image batches need more (the server has its own limits).
GRPC_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]


def _model_path(model: str, version: int | None, label: str | None) -> str:
    path = check_model_name(model)
    if version is not None and label is not None:
        raise ValueError("give --version or --label, not both")
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += f"/labels/{label}"
    return path


def rest_request(
    server: str,
    model: str,
    verb: str,
    body: dict,
    version: int | None = None,
    label: str | None = None,
    timeout: float = 30.0,
) -> dict:
    """POST ``body`` to ``/v1/models/<model>[...]:<verb>``;
    raises `RuntimeError` with the server's error.
    """
    import requests

    url = f"http://{server}/v1/models/{_model_path(model, version, label)}:{verb}"
    resp = requests.post(
        url, data=json.dumps(body), timeout=timeout, headers={"Content-Type": "application/json"}
    )
    try:
        answer = resp.json()
    except ValueError:
        answer = {"error": resp.text}
    if resp.status_code != 200:
        raise RuntimeError(f"HTTP {resp.status_code}: {answer.get('error', answer)}")
    return answer


def rest_status(
    server: str,
    model: str,
    version: int | None = None,
    label: str | None = None,
    timeout: float = 10.0,
) -> dict:
    """GET the model status."""
    import requests

    resp = requests.get(
        f"http://{server}/v1/models/{_model_path(model, version, label)}", timeout=timeout
    )
    if resp.status_code != 200:
        raise RuntimeError(f"HTTP {resp.status_code}: {resp.text}")
    return resp.json()


def _model_spec(
    spec: Any, model: str, version: int | None, label: str | None, signature: str | None
) -> None:
    spec.name = model
    if signature:
        spec.signature_name = signature
    if version is not None:
        spec.version.value = int(version)
    elif label is not None:
        spec.version_label = label


def grpc_signature_inputs(
    channel: Any,
    model: str,
    version: int | None = None,
    label: str | None = None,
    signature: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """``{input_name: TensorInfo}`` of a signature, from GetModelMetadata."""
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    _model_spec(request.model_spec, model, version, label, None)
    response = stub.GetModelMetadata(request, timeout=timeout)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    key = signature or "serving_default"
    if key not in sig_map.signature_def:
        raise ValueError(
            f"model {model} has no signature {key!r}; it has {sorted(sig_map.signature_def)}"
        )
    return dict(sig_map.signature_def[key].inputs)


def grpc_predict(
    server: str,
    model: str,
    inputs: dict[str, Any],
    version: int | None = None,
    label: str | None = None,
    signature: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Predict over gRPC.

    ``inputs`` maps input names to arrays/lists (cast to the signature's dtypes).

    Returns ``{output_name: numpy array}``.
    """
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(server, options=GRPC_CHANNEL_OPTIONS) as channel:
        infos = grpc_signature_inputs(channel, model, version, label, signature, timeout)
        request = predict_pb2.PredictRequest()
        _model_spec(request.model_spec, model, version, label, signature)
        for name, value in inputs.items():
            if name not in infos:
                raise ValueError(f"signature has no input {name!r}; it has {sorted(infos)}")
            dtype = tf.dtypes.as_dtype(infos[name].dtype)
            array = np.array(value, dtype=object) if dtype == tf.string else np.asarray(value)
            request.inputs[name].CopyFrom(tf.make_tensor_proto(array, dtype=dtype))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout)
    return {name: tf.make_ndarray(t) for name, t in response.outputs.items()}


def _load_input(text: str) -> Any:
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--input is not valid JSON: {err}") from None


def _rest_body(value: Any, images: Sequence[str] | None, signature: str | None) -> dict:
    if images:
        body: dict = {
            "instances": [
                {"b64": base64.b64encode(Path(p).read_bytes()).decode("ascii")} for p in images
            ]
        }
    else:
        body = (
            value
            if isinstance(value, dict) and ({"instances", "inputs"} & set(value))
            else {"instances": value}
        )
    if signature:
        body["signature_name"] = signature
    return body


def _grpc_inputs(
    server: str,
    model: str,
    value: Any,
    images: Sequence[str] | None,
    version: int | None,
    label: str | None,
    signature: str | None,
) -> dict[str, Any]:
    import grpc

    if images:
        value = [Path(p).read_bytes() for p in images]
    elif isinstance(value, dict) and ({"instances", "inputs"} & set(value)):
        value = value.get("inputs", value.get("instances"))
    if isinstance(value, dict):
        return value
    with grpc.insecure_channel(server, options=GRPC_CHANNEL_OPTIONS) as channel:
        names = sorted(grpc_signature_inputs(channel, model, version, label, signature))
    if len(names) != 1:
        raise ValueError(
            f"the signature has inputs {names}; pass --input as a JSON object naming them"
        )
    return {names[0]: value}


def predict(
    server: str,
    model: str,
    *,
    input_json: str | None = None,
    images: Sequence[str] | None = None,
    protocol: str = "rest",
    version: int | None = None,
    label: str | None = None,
    signature: str | None = None,
    timeout: float = 30.0,
) -> dict:
    """Send one predict request (`dlsuite predict`); returns the JSON answer.

    Give exactly one of ``input_json`` (a request body, a list of instances, or an object of
    named inputs, as JSON text; ``@file.json`` reads it from a file) and ``images`` (image files
    sent as binary strings, b64 over REST). ``protocol`` is ``rest`` (the answer as the server
    sends it) or ``grpc`` (``{"outputs": {name: JSON value}}``). A server error or an unreachable
    server raises `ValueError` with one line.
    """
    if bool(input_json) == bool(images):
        raise ValueError("give exactly one of --input or --image")
    value = _load_input(input_json) if input_json else None
    if protocol == "rest":
        import requests

        try:
            return rest_request(
                server,
                model,
                "predict",
                _rest_body(value, images, signature),
                version,
                label,
                timeout,
            )
        except RuntimeError as err:
            raise ValueError(str(err)) from None
        except requests.RequestException as err:
            raise ValueError(f"cannot reach {server}: {err}") from None
    import grpc

    from dlsuite.serving.server.tensors import array_to_json

    try:
        outputs = grpc_predict(
            server,
            model,
            _grpc_inputs(server, model, value, images, version, label, signature),
            version,
            label,
            signature,
            timeout,
        )
    except grpc.RpcError as err:
        raise ValueError(f"gRPC {err.code().name}: {err.details()}") from None
    return {"outputs": {k: array_to_json(v, k) for k, v in sorted(outputs.items())}}
