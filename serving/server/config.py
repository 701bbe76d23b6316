"""Server options and TF Serving's text-format config files.

`server_options` turns the flags of ``dlsuite serve`` (tensorflow_model_server's, plus a few of
its own) into `ServerOptions`; `tfserving_argv` turns them into the real binary's command line.

``--model_config_file`` holds a ``ModelServerConfig`` (parsed with the protos shipped in
``tensorflow-serving-api``). ``--batching_parameters_file`` holds a ``BatchingParameters``,
``--monitoring_config_file`` a ``MonitoringConfig`` and ``--ssl_config_file`` an ``SSLConfig``;
those protos are not part of ``tensorflow-serving-api``, so they are declared here with TF
Serving's exact field names and numbers (``session_bundle_config.proto``,
``monitoring_config.proto``, ``ssl_config.proto``) in a private descriptor pool.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dlsuite.base.validation import check_positive_int
from dlsuite.serving.content_credentials import SigningCredentials, signing_credentials
from dlsuite.serving.repository import check_model_name

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
GRPC_UNLIMITED = 2**31 - 1  # what TF Serving sets on its gRPC server (INT_MAX)

# Flags forwarded unchanged to tensorflow_model_server with --backend tfserving.
TFSERVING_FLAGS = (
    "port",
    "rest_api_port",
    "model_name",
    "model_base_path",
    "model_config_file",
    "file_system_poll_wait_seconds",
    "enable_batching",
    "batching_parameters_file",
    "monitoring_config_file",
    "rest_api_timeout_in_ms",
    "allow_version_labels_for_unavailable_models",
    "max_num_load_retries",
    "load_retry_interval_micros",
    "tensorflow_intra_op_parallelism",
    "tensorflow_inter_op_parallelism",
    "ssl_config_file",
)

_PROTO_CLASSES: dict[str, Any] = {}


def _extra_protos() -> dict[str, Any]:
    """Build ``BatchingParameters`` and ``MonitoringConfig`` message classes once."""
    if _PROTO_CLASSES:
        return _PROTO_CLASSES
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="dlsuite/tfserving_extra.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    batching = file.message_type.add(name="BatchingParameters")
    for number, name, type_name in [
        (1, "max_batch_size", ".google.protobuf.Int64Value"),
        (2, "batch_timeout_micros", ".google.protobuf.Int64Value"),
        (3, "max_enqueued_batches", ".google.protobuf.Int64Value"),
        (4, "num_batch_threads", ".google.protobuf.Int64Value"),
        (5, "thread_pool_name", ".google.protobuf.StringValue"),
    ]:
        batching.field.add(
            name=name,
            number=number,
            type=f.TYPE_MESSAGE,
            label=f.LABEL_OPTIONAL,
            type_name=type_name,
        )
    batching.field.add(
        name="allowed_batch_sizes", number=6, type=f.TYPE_INT64, label=f.LABEL_REPEATED
    )
    batching.field.add(
        name="pad_variable_length_inputs", number=7, type=f.TYPE_BOOL, label=f.LABEL_OPTIONAL
    )
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=f.TYPE_BOOL, label=f.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_OPTIONAL,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    ssl = file.message_type.add(name="SSLConfig")
    for number, name in [(1, "server_key"), (2, "server_cert"), (3, "custom_ca")]:
        ssl.field.add(name=name, number=number, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    ssl.field.add(name="client_verify", number=4, type=f.TYPE_BOOL, label=f.LABEL_OPTIONAL)
    pool.Add(file)
    for name in ("BatchingParameters", "MonitoringConfig", "SSLConfig"):
        _PROTO_CLASSES[name] = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
        )
    return _PROTO_CLASSES


def _parse_text(path: str | os.PathLike[str], message: Any, what: str) -> Any:
    from google.protobuf import text_format

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        return text_format.Parse(path.read_text(encoding="utf-8"), message)
    except text_format.ParseError as err:
        raise ValueError(
            f"{path} is not a valid text-format {type(message).__name__}: {err}"
        ) from err


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which versions of a model to serve: ``latest`` N, ``all``, or ``specific`` versions."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, on_disk: list[int]) -> set[int]:
        """Versions to serve out of the sorted versions found on disk."""
        if self.kind == "all":
            return set(on_disk)
        if self.kind == "specific":
            return set(self.versions) & set(on_disk)
        return set(on_disk[-self.num_versions :]) if on_disk else set()


@dataclasses.dataclass(frozen=True)
class RequestLogging:
    """A model's ``logging_config``:
    sample requests and responses to TFRecord files of ``PredictionLog``.
    """

    filename_prefix: str
    sampling_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sampling_rate <= 1.0:
            raise ValueError(
                f"sampling_rate expected a number in [0, 1]. Received: {self.sampling_rate}"
            )


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One served model: name, base path, version policy, version labels and request logging."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: tuple[tuple[str, int], ...] = ()
    logging: RequestLogging | None = None

    def label_map(self) -> dict[str, int]:
        """``{label: version}``."""
        return dict(self.labels)


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """Dynamic batching options (TF Serving's ``BatchingParameters`` with its defaults)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100
    num_batch_threads: int = 2
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    adaptive: bool = False  # dlsuite: adapt the window to arrival rate and latency (batching.py)

    def __post_init__(self) -> None:
        check_positive_int(
            max_batch_size=self.max_batch_size, num_batch_threads=self.num_batch_threads
        )
        sizes = list(self.allowed_batch_sizes)
        if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != self.max_batch_size):
            raise ValueError(
                "allowed_batch_sizes must be increasing and end with max_batch_size. "
                f"Received: allowed_batch_sizes={sizes}, max_batch_size={self.max_batch_size}"
            )


@dataclasses.dataclass(frozen=True)
class SessionOptions:
    """TensorFlow thread pools of every loaded model's session (TF Serving's
    ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``).

    ``intra_op``: threads one op may use (a matmul, a convolution); ``inter_op``: ops run at once,
    over all requests. 0 is TensorFlow's choice (one thread per core each). On a host with few
    cores serving many small requests, 1 and 1 leave the cores to request handling (measured in
    docs/serving.md); a large model answering one request at a time wants the defaults.
    """

    intra_op: int = 0
    inter_op: int = 0

    def __post_init__(self) -> None:
        for name, value in (("intra_op", self.intra_op), ("inter_op", self.inter_op)):
            if value < 0:
                raise ValueError(
                    f"--tensorflow_{name}_parallelism expected a non-negative integer "
                    f"(0: one thread per core). Received: {value}"
                )


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """What one request may ask of the server, checked before anything is allocated or decoded.

    Each field is a ``dlsuite serve`` flag of the same name; a request over a limit is refused with
    400/413 (REST, JSON error) or INVALID_ARGUMENT / RESOURCE_EXHAUSTED (gRPC) naming the flag.
    """

    max_tensor_elements: int = 2**24  # elements of one input tensor, from its declared shape
    max_request_elements: int = 2**25  # elements of all input tensors of one request
    max_batch_rows: int = 1024  # rows (first dimension) of a batched input
    max_json_depth: int = 64  # nesting of arrays and objects in a JSON body
    max_number_chars: int = 400  # characters of one JSON number literal
    max_string_bytes: int = 16 * 1024 * 1024  # bytes of one string element (decoded base64)
    max_image_pixels: int = 4096 * 4096  # pixels an image string element's header may declare

    def __post_init__(self) -> None:
        check_positive_int(**dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class OverloadOptions:
    """How much work the server takes on at once, and how long it waits for a client."""

    max_concurrent_requests: int = 256  # predict-like requests in progress; more: 429/UNAVAILABLE
    rest_read_timeout_in_ms: int = 30000  # to receive a request's headers and body (slowloris)
    rest_idle_timeout_in_ms: int = 30000  # an idle keep-alive connection is closed after this

    def __post_init__(self) -> None:
        check_positive_int(**dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """TF Serving's ``SSLConfig`` (``--ssl_config_file``), PEM contents, for both ports."""

    server_key: str
    server_cert: str
    custom_ca: str = ""  # PEM of the CA that client certificates must chain to
    client_verify: bool = False  # require and check a client certificate (mutual TLS)

    def __repr__(self) -> str:  # never print the private key
        return f"TlsOptions(client_verify={self.client_verify}, custom_ca={bool(self.custom_ca)})"


@dataclasses.dataclass(frozen=True)
class SecurityOptions:
    """Who may use and manage the server, and which model versions it trusts."""

    require_manifest: bool = False  # refuse versions without a valid assets.extra/manifest.json
    trusted_signers: tuple[str, ...] = ()  # PEM public keys; a version must be signed by one
    enable_model_management: bool = False  # allow ModelService/HandleReloadConfigRequest
    model_roots: tuple[str, ...] = ()  # base paths a reload may use: the start-up models' parents
    log_dir: str | None = None  # where a reload's logging_config may write request logs
    tls: TlsOptions | None = None
    auth_token: str | None = dataclasses.field(default=None, repr=False)  # bearer token
    expose_paths: bool = False  # show file-system paths in status and readiness bodies


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Everything ``dlsuite serve`` needs, validated at start-up."""

    models: tuple[ModelSpec, ...]
    port: int = 8500
    rest_api_port: int = 8501
    host: str = "0.0.0.0"
    file_system_poll_wait_seconds: float = 1.0
    batching: BatchingOptions | None = None
    prometheus_path: str | None = None
    rest_api_timeout_in_ms: int = 30000
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    model_config_file: str | None = None
    access_log: bool = False
    grpc_max_receive_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    grpc_max_send_bytes: int = GRPC_UNLIMITED
    cors_allowed_origins: tuple[str, ...] = ()
    allow_version_labels_for_unavailable_models: bool = False
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    session: SessionOptions = SessionOptions()
    num_processes: int = 1
    limits: RequestLimits = RequestLimits()
    overload: OverloadOptions = OverloadOptions()
    security: SecurityOptions = SecurityOptions()
    # signs the C2PA Content Credentials of marked models' images (--c2pa_cert/--c2pa_key); None:
    # the process's test chain, made when the first marked version loads
    content_credentials: SigningCredentials | None = None


def server_options(flags: Mapping[str, Any]) -> ServerOptions:
    """Check ``flags`` (every flag of `dlsuite serve`, by name) and read the config files they
    name into `ServerOptions`."""
    if flags["model_config_file"]:
        models = read_model_config_file(flags["model_config_file"])
    elif flags["model_base_path"]:
        base = os.path.abspath(flags["model_base_path"])
        if not os.path.isdir(base):
            raise FileNotFoundError(f"--model_base_path does not exist: {base}")
        models = (ModelSpec(check_model_name(flags["model_name"]), base),)
    else:
        raise ValueError("give --model_base_path (with --model_name) or --model_config_file")
    for port_flag in ("port", "rest_api_port"):
        port = flags[port_flag]
        if not 0 <= port < 65536:  # 0: any free port, named on the "ready" line
            raise ValueError(
                f"--{port_flag} expected a port number (0 for any free one). Received: {port}"
            )
    grpc_receive = flags["grpc_max_receive_message_bytes"]
    if grpc_receive is None:
        grpc_receive = flags["max_request_size_bytes"]
    for flag, value in (
        ("max_request_size_bytes", flags["max_request_size_bytes"]),
        ("grpc_max_receive_message_bytes", grpc_receive),
        ("grpc_max_send_message_bytes", flags["grpc_max_send_message_bytes"]),
    ):
        if not 1024 <= value <= GRPC_UNLIMITED:
            raise ValueError(
                f"--{flag} must be between 1024 and {GRPC_UNLIMITED}. Received: {value}"
            )
    batching = None
    if flags["enable_batching"]:
        batching = read_batching_parameters(flags["batching_parameters_file"])
        if flags["adaptive_batching"]:
            batching = dataclasses.replace(batching, adaptive=True)
    elif flags["batching_parameters_file"] or flags["adaptive_batching"]:
        raise ValueError(
            "--batching_parameters_file and --adaptive_batching need --enable_batching"
        )
    if flags["max_num_load_retries"] < 0:
        raise ValueError(
            f"--max_num_load_retries expected a non-negative integer. "
            f"Received: {flags['max_num_load_retries']}"
        )
    processes = flags["num_processes"]
    if processes < 1:
        raise ValueError(f"--num_processes expected a positive integer. Received: {processes}")
    if processes > 1 and 0 in (flags["port"], flags["rest_api_port"]):
        raise ValueError(
            "--num_processes above 1 needs fixed --port and --rest_api_port (port 0 would give "
            "every process a different free port)"
        )
    origins = tuple(o.strip() for o in flags["cors_allowed_origins"].split(",") if o.strip())
    return ServerOptions(
        models=models,
        port=flags["port"],
        rest_api_port=flags["rest_api_port"],
        host=flags["host"],
        file_system_poll_wait_seconds=flags["file_system_poll_wait_seconds"],
        batching=batching,
        prometheus_path=read_monitoring_config(flags["monitoring_config_file"]),
        rest_api_timeout_in_ms=flags["rest_api_timeout_in_ms"],
        max_request_bytes=flags["max_request_size_bytes"],
        model_config_file=flags["model_config_file"],
        access_log=bool(flags["access_log"]),
        grpc_max_receive_bytes=grpc_receive,
        grpc_max_send_bytes=flags["grpc_max_send_message_bytes"],
        cors_allowed_origins=origins,
        allow_version_labels_for_unavailable_models=flags[
            "allow_version_labels_for_unavailable_models"
        ],
        max_num_load_retries=flags["max_num_load_retries"],
        load_retry_interval_micros=flags["load_retry_interval_micros"],
        session=SessionOptions(
            intra_op=flags["tensorflow_intra_op_parallelism"],
            inter_op=flags["tensorflow_inter_op_parallelism"],
        ),
        num_processes=processes,
        limits=RequestLimits(**{f.name: flags[f.name] for f in dataclasses.fields(RequestLimits)}),
        overload=OverloadOptions(
            **{f.name: flags[f.name] for f in dataclasses.fields(OverloadOptions)}
        ),
        security=security_options(flags, models),
        content_credentials=(
            signing_credentials(flags["c2pa_cert"], flags["c2pa_key"])
            if flags["c2pa_cert"] or flags["c2pa_key"]
            else None
        ),
    )


def security_options(flags: Mapping[str, Any], models: tuple[ModelSpec, ...]) -> SecurityOptions:
    """Read the security flags: TLS, bearer token, trusted signers, management."""
    if flags["trusted_signers"]:
        signers = read_trusted_signers(flags["trusted_signers"])
    else:
        signers = ()
    token = None
    if flags["auth_token_file"]:
        token = Path(flags["auth_token_file"]).read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"--auth_token_file {flags['auth_token_file']} is empty")
    log_dir = os.path.abspath(flags["log_dir"]) if flags["log_dir"] else None
    roots = tuple(sorted({str(Path(m.base_path).resolve().parent) for m in models}))
    return SecurityOptions(
        require_manifest=bool(flags["require_manifest"]) or bool(signers),
        trusted_signers=signers,
        enable_model_management=bool(flags["enable_model_management"]),
        model_roots=roots,
        log_dir=log_dir,
        tls=read_ssl_config(flags["ssl_config_file"]) if flags["ssl_config_file"] else None,
        auth_token=token,
        expose_paths=bool(flags["expose_paths"]),
    )


def read_trusted_signers(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The PEM public keys in ``--trusted_signers`` (one file holding one or more keys)."""
    text = Path(path).read_text(encoding="utf-8")
    begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
    keys = []
    for chunk in text.split(end)[:-1]:
        if begin not in chunk:
            break
        keys.append(begin + chunk.split(begin, 1)[1] + end + "\n")
    if not keys:
        raise ValueError(f"{path} holds no PEM public key ({begin} ...)")
    return tuple(keys)


def read_ssl_config(path: str | os.PathLike[str]) -> TlsOptions:
    """Read ``--ssl_config_file``: a text-format ``SSLConfig`` holding PEM contents, as TF
    Serving's (``server_key``, ``server_cert``, ``custom_ca``, ``client_verify``)."""
    proto = _parse_text(path, _extra_protos()["SSLConfig"](), "SSL config")
    if not proto.server_key or not proto.server_cert:
        raise ValueError(f"{path}: an SSLConfig needs server_key and server_cert (PEM contents)")
    if proto.client_verify and not proto.custom_ca:
        raise ValueError(f"{path}: client_verify needs custom_ca (the CA of client certificates)")
    return TlsOptions(
        server_key=proto.server_key,
        server_cert=proto.server_cert,
        custom_ca=proto.custom_ca,
        client_verify=bool(proto.client_verify),
    )


# dlsuite protections (and the C2PA Content Credentials certificate) tensorflow_model_server does
# not have: refused with --backend tfserving rather than silently dropped.
_DLSUITE_ONLY_PROTECTIONS = (
    "require_manifest",
    "trusted_signers",
    "auth_token_file",
    "c2pa_cert",
    "c2pa_key",
)


def tfserving_argv(flags: Mapping[str, Any], binary: str) -> list[str]:
    """The tensorflow_model_server command line equivalent to ``flags``."""
    for flag in _DLSUITE_ONLY_PROTECTIONS:
        if flags.get(flag):
            raise ValueError(
                f"--{flag} is a dlsuite server protection that tensorflow_model_server does not "
                "have; use --backend dlsuite, or drop the flag"
            )
    argv = [binary]
    for flag in TFSERVING_FLAGS:
        value = flags[flag]
        if value is None or value is False:
            continue
        if flag in ("model_name", "model_base_path") and flags["model_config_file"]:
            continue
        if flag == "model_base_path":
            value = os.path.abspath(value)
        if flag == "file_system_poll_wait_seconds":
            value = int(value)
        argv.append(f"--{flag}={'true' if value is True else value}")
    return argv


def policy_from_proto(proto: Any) -> VersionPolicy:
    """Convert a ``FileSystemStoragePathSourceConfig.ServableVersionPolicy``."""
    which = proto.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy("all")
    if which == "specific":
        if not proto.specific.versions:
            raise ValueError("a 'specific' version policy needs at least one version")
        return VersionPolicy("specific", versions=tuple(int(v) for v in proto.specific.versions))
    num = proto.latest.num_versions if which == "latest" and proto.latest.num_versions else 1
    return VersionPolicy("latest", num_versions=int(num))


def logging_from_proto(name: str, model: Any, relative_to: Path | None) -> RequestLogging | None:
    """A ``ModelConfig.logging_config`` as `RequestLogging` (None when absent or never sampling)."""
    if not model.HasField("logging_config"):
        return None
    collector = model.logging_config.log_collector_config
    rate = float(model.logging_config.sampling_config.sampling_rate)
    if collector.type != "file":
        raise ValueError(
            f"model {name!r}: log_collector_config.type must be 'file'. "
            f"Received: {collector.type!r}"
        )
    if not collector.filename_prefix:
        raise ValueError(f"model {name!r}: log_collector_config needs a filename_prefix")
    prefix = Path(collector.filename_prefix)
    if not prefix.is_absolute() and relative_to is not None:
        prefix = relative_to / prefix
    return RequestLogging(str(prefix), rate) if rate > 0 else None


def models_from_config_proto(config: Any, relative_to: Path | None = None) -> tuple[ModelSpec, ...]:
    """Convert a ``ModelServerConfig`` proto to `ModelSpec`s (names checked, no duplicates)."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ValueError("custom_model_config is not supported; use model_config_list")
    specs, seen = [], set()
    for model in config.model_config_list.config:
        name = check_model_name(model.name)
        if name in seen:
            raise ValueError(f"model {name!r} appears twice in the model config")
        seen.add(name)
        if not model.base_path:
            raise ValueError(f"model {name!r} has no base_path")
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(f"model {name!r}: only model_platform 'tensorflow' is supported")
        base = Path(model.base_path)
        if not base.is_absolute() and relative_to is not None:
            base = relative_to / base
        labels = tuple(sorted((str(k), int(v)) for k, v in model.version_labels.items()))
        specs.append(
            ModelSpec(
                name,
                str(base),
                policy_from_proto(model.model_version_policy),
                labels,
                logging_from_proto(name, model, relative_to),
            )
        )
    if not specs:
        raise ValueError("the model config lists no models")
    return tuple(specs)


def parse_model_config_text(text: str, relative_to: Path | None = None) -> tuple[ModelSpec, ...]:
    """Parse text-format ``ModelServerConfig`` into `ModelSpec`s."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        proto = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as err:
        raise ValueError(f"not a valid text-format ModelServerConfig: {err}") from err
    return models_from_config_proto(proto, relative_to)


def read_model_config_file(path: str | os.PathLike[str]) -> tuple[ModelSpec, ...]:
    """Read ``--model_config_file``; relative base paths resolve against the current directory."""
    from tensorflow_serving.config import model_server_config_pb2

    proto = _parse_text(path, model_server_config_pb2.ModelServerConfig(), "model config")
    return models_from_config_proto(proto, Path.cwd())


def read_batching_parameters(path: str | os.PathLike[str] | None) -> BatchingOptions:
    """Read ``--batching_parameters_file`` (defaults when ``path`` is None)."""
    if path is None:
        return BatchingOptions()
    proto = _parse_text(path, _extra_protos()["BatchingParameters"](), "batching parameters")
    kwargs: dict[str, Any] = {}
    for name in (
        "max_batch_size",
        "batch_timeout_micros",
        "max_enqueued_batches",
        "num_batch_threads",
    ):
        if proto.HasField(name):
            kwargs[name] = int(getattr(proto, name).value)
    kwargs["allowed_batch_sizes"] = tuple(int(v) for v in proto.allowed_batch_sizes)
    kwargs["pad_variable_length_inputs"] = bool(proto.pad_variable_length_inputs)
    return BatchingOptions(**kwargs)


def read_monitoring_config(path: str | os.PathLike[str] | None) -> str | None:
    """Read ``--monitoring_config_file``; returns the Prometheus path, or None when disabled."""
    if path is None:
        return None
    proto = _parse_text(path, _extra_protos()["MonitoringConfig"](), "monitoring config")
    if not proto.prometheus_config.enable:
        return None
    metrics_path = proto.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
    if not metrics_path.startswith("/") or metrics_path.startswith("/v1/"):
        raise ValueError(
            f"prometheus_config.path must start with '/' and not '/v1/'. Received: {metrics_path}"
        )
    return metrics_path


def batching_parameters_text(options: BatchingOptions) -> str:
    """Text-format ``BatchingParameters`` for the real tensorflow_model_server."""
    lines = [
        f"max_batch_size {{ value: {options.max_batch_size} }}",
        f"batch_timeout_micros {{ value: {options.batch_timeout_micros} }}",
        f"max_enqueued_batches {{ value: {options.max_enqueued_batches} }}",
        f"num_batch_threads {{ value: {options.num_batch_threads} }}",
    ]
    lines += [f"allowed_batch_sizes: {size}" for size in options.allowed_batch_sizes]
    if options.pad_variable_length_inputs:
        lines.append("pad_variable_length_inputs: true")
    return "\n".join(lines) + "\n"


def monitoring_config_text(path: str = DEFAULT_PROMETHEUS_PATH) -> str:
    """Text-format ``MonitoringConfig`` enabling Prometheus at ``path``."""
    return f'prometheus_config {{\n  enable: true,\n  path: "{path}"\n}}\n'


def model_config_text(models: tuple[ModelSpec, ...] | list[ModelSpec]) -> str:
    """Text-format ``ModelServerConfig`` for `ModelSpec`s
    (round-trips with `parse_model_config_text`).
    """
    out = ["model_config_list {"]
    for spec in models:
        out += [
            "  config {",
            f'    name: "{spec.name}"',
            f'    base_path: "{spec.base_path}"',
            '    model_platform: "tensorflow"',
        ]
        policy = spec.policy
        if policy.kind == "all":
            out.append("    model_version_policy { all {} }")
        elif policy.kind == "specific":
            versions = " ".join(f"versions: {v}" for v in policy.versions)
            out.append(f"    model_version_policy {{ specific {{ {versions} }} }}")
        elif policy.num_versions != 1:
            out.append(
                f"    model_version_policy {{ latest {{ num_versions: {policy.num_versions} }} }}"
            )
        for label, version in spec.labels:
            out.append(f'    version_labels {{ key: "{label}" value: {version} }}')
        if spec.logging is not None:
            out.append(
                f'    logging_config {{ log_collector_config {{ type: "file" filename_prefix: '
                f'"{spec.logging.filename_prefix}" }} sampling_config {{ sampling_rate: '
                f"{spec.logging.sampling_rate} }} }}"
            )
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"
