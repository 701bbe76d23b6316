"""A small client for TF Serving's REST and gRPC APIs, and `predict` for ``dlsuite predict``.

REST uses ``requests``; gRPC uses the ``tensorflow-serving-api`` stubs. Works against
``dlsuite serve`` and the real tensorflow_model_server alike. A `Connection` says how to reach a
secured server: TLS (the CA to trust, a client certificate for mutual TLS) and a bearer token.
"""

from __future__ import annotations

import base64
import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach a server: plain HTTP and gRPC by default; TLS when ``tls`` or any file is
    given (``ca_file``: the PEM CA that signed the server's certificate, else the system's;
    ``cert_file``/``key_file``: a client certificate, for a server that requires one); a bearer
    ``token`` sent as ``Authorization: Bearer <token>`` (REST) or ``authorization`` metadata."""

    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs both --tls_cert and --tls_key")

    @classmethod
    def from_files(
        cls,
        tls: bool = False,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        token_file: str | None = None,
    ) -> Connection:
        """A `Connection` whose token is read from ``token_file`` (surrounding space stripped)."""
        token = None
        if token_file:
            token = Path(token_file).read_text(encoding="utf-8").strip()
            if not token:
                raise ValueError(f"--auth_token_file {token_file} is empty")
        return cls(tls, ca_file, cert_file, key_file, token)

    @property
    def secure(self) -> bool:
        """Whether TLS is used."""
        return self.tls or any((self.ca_file, self.cert_file, self.key_file))

    def url(self, server: str, path: str) -> str:
        """The REST URL of ``path`` (starting with ``/``) on ``server`` (host:port)."""
        return f"{'https' if self.secure else 'http'}://{server}{path}"

    def requests_options(self) -> dict[str, Any]:
        """Keyword arguments of ``requests`` calls: ``verify``, ``cert`` and the token header."""
        options: dict[str, Any] = {"headers": self.headers()}
        if self.ca_file:
            options["verify"] = self.ca_file
        if self.cert_file:
            options["cert"] = (self.cert_file, self.key_file)
        return options

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header when there is a token."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata: ``authorization`` when there is a token."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel(self, server: str) -> Any:
        """A gRPC channel to ``server`` (``grpc.secure_channel`` with TLS)."""
        import grpc

        if not self.secure:
            return grpc.insecure_channel(server, options=GRPC_CHANNEL_OPTIONS)

        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )
        return grpc.secure_channel(server, credentials, options=GRPC_CHANNEL_OPTIONS)


PLAIN = Connection()  # plain HTTP and gRPC, no token


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
    connection: Connection = PLAIN,
) -> dict:
    """POST ``body`` to ``/v1/models/<model>[...]:<verb>``;
    raises `RuntimeError` with the server's error.
    """
    import requests

    options = connection.requests_options()
    options["headers"]["Content-Type"] = "application/json"
    resp = requests.post(
        connection.url(server, f"/v1/models/{_model_path(model, version, label)}:{verb}"),
        data=json.dumps(body),
        timeout=timeout,
        **options,
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
    connection: Connection = PLAIN,
) -> dict:
    """GET the model status."""
    import requests

    resp = requests.get(
        connection.url(server, f"/v1/models/{_model_path(model, version, label)}"),
        timeout=timeout,
        **connection.requests_options(),
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
    connection: Connection = PLAIN,
) -> dict[str, Any]:
    """``{input_name: TensorInfo}`` of a signature, from GetModelMetadata (``connection``
    gives the call's token)."""
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    _model_spec(request.model_spec, model, version, label, None)
    response = stub.GetModelMetadata(request, timeout=timeout, metadata=connection.metadata())
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
    connection: Connection = PLAIN,
) -> dict[str, Any]:
    """Predict over gRPC.

    ``inputs`` maps input names to arrays/lists (cast to the signature's dtypes).

    Returns ``{output_name: numpy array}``.
    """
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with connection.channel(server) as channel:
        infos = grpc_signature_inputs(
            channel, model, version, label, signature, timeout, connection
        )
        request = predict_pb2.PredictRequest()
        _model_spec(request.model_spec, model, version, label, signature)
        for name, value in inputs.items():
            if name not in infos:
                raise ValueError(f"signature has no input {name!r}; it has {sorted(infos)}")
            dtype = tf.dtypes.as_dtype(infos[name].dtype)
            array = np.array(value, dtype=object) if dtype == tf.string else np.asarray(value)
            request.inputs[name].CopyFrom(tf.make_tensor_proto(array, dtype=dtype))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout, metadata=connection.metadata())
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
    connection: Connection,
) -> dict[str, Any]:
    if images:
        value = [Path(p).read_bytes() for p in images]
    elif isinstance(value, dict) and ({"instances", "inputs"} & set(value)):
        value = value.get("inputs", value.get("instances"))
    if isinstance(value, dict):
        return value
    with connection.channel(server) as channel:
        names = sorted(
            grpc_signature_inputs(channel, model, version, label, signature, connection=connection)
        )
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
    connection: Connection = PLAIN,
) -> dict:
    """Send one predict request (`dlsuite predict`) over ``connection``; returns the JSON answer.

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
                connection,
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
            _grpc_inputs(server, model, value, images, version, label, signature, connection),
            version,
            label,
            signature,
            timeout,
            connection,
        )
    except grpc.RpcError as err:
        raise ValueError(f"gRPC {err.code().name}: {err.details()}") from None
    return {"outputs": {k: array_to_json(v, k) for k, v in sorted(outputs.items())}}
