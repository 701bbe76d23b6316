"""KServe V2 / Open Inference Protocol over gRPC: ``inference.GRPCInferenceService``.

The messages are those of the published ``grpc_predict_v2.proto`` (KServe's
``python/kserve/kserve/protocol/grpc/grpc_predict_v2.proto``; Triton's ``grpc_service.proto`` is a
superset with the same numbers), declared here field by field with the proto's exact package,
names and numbers into a private descriptor pool, so no generated code is needed: neither
``grpcio-tools`` (needs protobuf < 7) nor ``tritonclient`` (needs ml-dtypes <= 0.5.4) installs
beside the pinned core versions. Triton's client with its own generated stubs is run against this
service from a virtual environment of its own (``tests/serving/test_server_tritonclient.py``).

Served: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and ModelInfer
(the Repository* methods answer UNIMPLEMENTED, as unregistered methods do). Inputs may come as
typed ``contents`` or ``raw_input_contents``; outputs go back as ``raw_output_contents`` (BYTES
elements length-prefixed with 4 little-endian bytes, as Triton does; the codec is
`serving.server.v2_binary`, shared with the REST binary tensor data extension).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import grpc
import numpy as np

from dlsuite.serving.server import v2
from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import ServingError, invalid
from dlsuite.serving.server.manager import ModelManager

SERVICE = "inference.GRPCInferenceService"
_MESSAGES: dict[str, Any] = {}

# V2 datatype -> (numpy dtype, InferTensorContents field)
_TYPES = {
    "BOOL": (np.bool_, "bool_contents"),
    "UINT8": (np.uint8, "uint_contents"),
    "UINT16": (np.uint16, "uint_contents"),
    "UINT32": (np.uint32, "uint_contents"),
    "UINT64": (np.uint64, "uint64_contents"),
    "INT8": (np.int8, "int_contents"),
    "INT16": (np.int16, "int_contents"),
    "INT32": (np.int32, "int_contents"),
    "INT64": (np.int64, "int64_contents"),
    "FP16": (np.float16, None),
    "FP32": (np.float32, "fp32_contents"),
    "FP64": (np.float64, "fp64_contents"),
}


def messages() -> dict[str, Any]:
    """The message classes of ``grpc_predict_v2.proto`` by name (built once)."""
    if _MESSAGES:
        return _MESSAGES
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    scalar = {
        "string": f.TYPE_STRING,
        "bool": f.TYPE_BOOL,
        "int64": f.TYPE_INT64,
        "int32": f.TYPE_INT32,
        "uint32": f.TYPE_UINT32,
        "uint64": f.TYPE_UINT64,
        "float": f.TYPE_FLOAT,
        "double": f.TYPE_DOUBLE,
        "bytes": f.TYPE_BYTES,
    }
    file = descriptor_pb2.FileDescriptorProto(
        name="dlsuite/grpc_predict_v2.proto", package="inference", syntax="proto3"
    )

    def add(
        msg: Any,
        number: int,
        name: str,
        kind: str,
        repeated: bool = False,
        oneof: int | None = None,
    ) -> None:
        field = msg.field.add(
            name=name, number=number, label=f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
        )
        if kind in scalar:
            field.type = scalar[kind]
        else:
            field.type, field.type_name = f.TYPE_MESSAGE, kind
        if oneof is not None:
            field.oneof_index = oneof

    def add_map(msg: Any, number: int, name: str, value_type: str) -> None:
        entry = msg.nested_type.add(name="".join(p.title() for p in name.split("_")) + "Entry")
        entry.options.map_entry = True
        add(entry, 1, "key", "string")
        add(entry, 2, "value", value_type)
        add(msg, number, name, f"{_full(msg)}.{entry.name}", repeated=True)

    names: dict[int, str] = {}

    def _full(msg: Any) -> str:
        return names[id(msg)]

    def message(name: str, parent: Any = None) -> Any:
        msg = (parent.nested_type if parent is not None else file.message_type).add(name=name)
        names[id(msg)] = f"{_full(parent)}.{name}" if parent is not None else f".inference.{name}"
        return msg

    param = message("InferParameter")
    param.oneof_decl.add(name="parameter_choice")
    add(param, 1, "bool_param", "bool", oneof=0)
    add(param, 2, "int64_param", "int64", oneof=0)
    add(param, 3, "string_param", "string", oneof=0)
    contents = message("InferTensorContents")
    for number, (name, kind) in enumerate(
        [
            ("bool_contents", "bool"),
            ("int_contents", "int32"),
            ("int64_contents", "int64"),
            ("uint_contents", "uint32"),
            ("uint64_contents", "uint64"),
            ("fp32_contents", "float"),
            ("fp64_contents", "double"),
            ("bytes_contents", "bytes"),
        ],
        1,
    ):
        add(contents, number, name, kind, repeated=True)
    for name in ("ServerLiveRequest", "ServerReadyRequest", "ServerMetadataRequest"):
        message(name)
    add(message("ServerLiveResponse"), 1, "live", "bool")
    add(message("ServerReadyResponse"), 1, "ready", "bool")
    add(message("ModelReadyResponse"), 1, "ready", "bool")
    for name in ("ModelReadyRequest", "ModelMetadataRequest"):
        msg = message(name)
        add(msg, 1, "name", "string")
        add(msg, 2, "version", "string")
    meta = message("ServerMetadataResponse")
    add(meta, 1, "name", "string")
    add(meta, 2, "version", "string")
    add(meta, 3, "extensions", "string", repeated=True)
    model_meta = message("ModelMetadataResponse")
    tensor_meta = message("TensorMetadata", model_meta)
    add(tensor_meta, 1, "name", "string")
    add(tensor_meta, 2, "datatype", "string")
    add(tensor_meta, 3, "shape", "int64", repeated=True)
    add(model_meta, 1, "name", "string")
    add(model_meta, 2, "versions", "string", repeated=True)
    add(model_meta, 3, "platform", "string")
    add(model_meta, 4, "inputs", _full(tensor_meta), repeated=True)
    add(model_meta, 5, "outputs", _full(tensor_meta), repeated=True)
    for name, tensor_name, raw in (
        ("ModelInferRequest", "InferInputTensor", "raw_input_contents"),
        ("ModelInferResponse", "InferOutputTensor", "raw_output_contents"),
    ):
        msg = message(name)
        tensor = message(tensor_name, msg)
        add(tensor, 1, "name", "string")
        add(tensor, 2, "datatype", "string")
        add(tensor, 3, "shape", "int64", repeated=True)
        add_map(tensor, 4, "parameters", ".inference.InferParameter")
        add(tensor, 5, "contents", ".inference.InferTensorContents")
        add(msg, 1, "model_name", "string")
        add(msg, 2, "model_version", "string")
        add(msg, 3, "id", "string")
        add_map(msg, 4, "parameters", ".inference.InferParameter")
        add(
            msg,
            5,
            "inputs" if raw.startswith("raw_input") else "outputs",
            _full(tensor),
            repeated=True,
        )
        if raw.startswith("raw_input"):
            requested = message("InferRequestedOutputTensor", msg)
            add(requested, 1, "name", "string")
            add_map(requested, 2, "parameters", ".inference.InferParameter")
            add(msg, 6, "outputs", _full(requested), repeated=True)
            add(msg, 7, raw, "bytes", repeated=True)
        else:
            add(msg, 6, raw, "bytes", repeated=True)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    for msg in file.message_type:
        _MESSAGES[msg.name] = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"inference.{msg.name}")
        )
    return _MESSAGES


def request_body(request: Any) -> tuple[dict, list[bytes | None]]:
    """A ``ModelInferRequest`` as ``(V2 JSON body, raw data of each input)`` for `v2.parse_infer`.

    ``raw_input_contents`` (one entry per input, all or none, as the protocol says) are decoded by
    `serving.server.v2_binary`; typed ``contents`` become JSON ``data``. The body asks for every
    output as binary data, which `response_proto` sends as ``raw_output_contents``.
    """
    raws: list[bytes | None] = list(request.raw_input_contents)
    if raws and len(raws) != len(request.inputs):
        raise invalid(
            f"expected {len(request.inputs)} raw_input_contents (one per input), got {len(raws)}"
        )
    if not raws:
        raws = [None] * len(request.inputs)
    inputs = []
    for tensor, raw in zip(request.inputs, raws, strict=True):
        datatype = tensor.datatype
        item: dict = {"name": tensor.name, "datatype": datatype, "shape": list(tensor.shape)}
        if raw is None:
            if datatype == "BYTES":
                item["data"] = [
                    {"b64": base64.b64encode(v).decode("ascii")}
                    for v in tensor.contents.bytes_contents
                ]
            elif datatype in _TYPES:
                contents_field = _TYPES[datatype][1]
                if contents_field is None:
                    raise invalid(
                        f"Input '{tensor.name}': {datatype} must be sent as raw_input_contents"
                    )
                item["data"] = list(getattr(tensor.contents, contents_field))
            else:
                raise invalid(f"Input '{tensor.name}': unsupported datatype {datatype}")
        inputs.append(item)
    parameters: dict = {"binary_data_output": True}
    if "signature_name" in request.parameters:
        parameters["signature_name"] = request.parameters["signature_name"].string_param
    body: dict = {
        "inputs": inputs,
        "outputs": [{"name": o.name} for o in request.outputs],
        "parameters": parameters,
    }
    if request.id:
        body["id"] = request.id
    return body, raws


def response_proto(result: v2.InferResult) -> Any:
    """`v2.infer`'s result (every output binary) as a ``ModelInferResponse`` with raw contents."""
    response = messages()["ModelInferResponse"](
        model_name=result.response["model_name"],
        model_version=result.response["model_version"],
        id=result.response.get("id", ""),
    )
    for out in result.response["outputs"]:
        response.outputs.add(name=out["name"], datatype=out["datatype"], shape=out["shape"])
    response.raw_output_contents.extend(result.binary)
    return response


class InferenceServicer:
    """The six V2 methods on a `ModelManager`; ModelInfer within ``limits``."""

    def __init__(self, manager: ModelManager, limits: RequestLimits) -> None:
        self.manager = manager
        self.limits = limits
        self.m = messages()

    def _call(self, context: Any, fn, *args):  # -> Any
        try:
            return fn(*args)
        except ServingError as err:
            context.abort(err.grpc_code, err.message)

    def ServerLive(self, request, context):  # noqa: N802 - gRPC method name
        return self.m["ServerLiveResponse"](live=True)

    def ServerReady(self, request, context):  # noqa: N802
        return self.m["ServerReadyResponse"](ready=not self.manager.not_ready())

    def ServerMetadata(self, request, context):  # noqa: N802
        return self.m["ServerMetadataResponse"](**v2.server_metadata())

    def ModelReady(self, request, context):  # noqa: N802
        def ready() -> bool:
            version, label = v2.version_target(request.version)
            states = [s.state for s in self.manager.status(request.name, version, label)]
            return "AVAILABLE" in states

        return self.m["ModelReadyResponse"](ready=self._call(context, ready))

    def ModelMetadata(self, request, context):  # noqa: N802
        def metadata() -> dict:
            version, label = v2.version_target(request.version)
            return v2.model_metadata(self.manager, request.name, version, label)

        meta = self._call(context, metadata)
        return self.m["ModelMetadataResponse"](
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=meta["inputs"],
            outputs=meta["outputs"],
        )

    def ModelInfer(self, request, context):  # noqa: N802
        started, served, status = time.monotonic(), "", "OK"
        try:
            version, label = v2.version_target(request.model_version)
            body, raws = request_body(request)
            result = v2.infer(
                self.manager,
                request.model_name,
                version,
                label,
                v2.parse_infer(body, raws),
                self.limits,
            )
            served = result.version
            return response_proto(result)
        except ServingError as err:
            status = err.code
            context.abort(err.grpc_code, err.message)
        finally:
            if request.model_name in self.manager.model_names():
                self.manager.metrics.observe_request(
                    request.model_name,
                    served,
                    "v2_infer",
                    "GRPC",
                    status,
                    time.monotonic() - started,
                )


def add_to_server(manager: ModelManager, server: grpc.Server, limits: RequestLimits) -> None:
    """Register ``inference.GRPCInferenceService`` on ``server`` (ModelInfer within ``limits``)."""
    servicer, m = InferenceServicer(manager, limits), messages()
    handlers = {}
    for method, request_type in (
        ("ServerLive", "ServerLiveRequest"),
        ("ServerReady", "ServerReadyRequest"),
        ("ModelReady", "ModelReadyRequest"),
        ("ServerMetadata", "ServerMetadataRequest"),
        ("ModelMetadata", "ModelMetadataRequest"),
        ("ModelInfer", "ModelInferRequest"),
    ):
        handlers[method] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method),
            request_deserializer=m[request_type].FromString,
            response_serializer=lambda msg: msg.SerializeToString(),
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
