"""``dlsuite serve``: tensorflow_model_server's command line,
served by dlsuite or by the real binary (`dlsuite.serving.server.app.serve`).
"""

from __future__ import annotations

import argparse
import dataclasses

from dlsuite.serving.server.config import (
    DEFAULT_MAX_REQUEST_BYTES,
    GRPC_UNLIMITED,
    OverloadOptions,
    RequestLimits,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options (tensorflow_model_server's names) to ``parser``."""
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    parser.add_argument("--rest_api_port", type=int, default=8501, help="REST port (default 8501)")
    parser.add_argument(
        "--host",
        default="0.0.0.0",
        help="address to bind both ports to (dlsuite backend; default 0.0.0.0)",
    )
    parser.add_argument(
        "--model_name",
        default="default",
        help="name of the single model served with --model_base_path",
    )
    parser.add_argument(
        "--model_base_path", help="folder holding the single model's numbered versions"
    )
    parser.add_argument(
        "--model_config_file",
        help="text-format ModelServerConfig listing several models (overrides "
        "--model_name/--model_base_path)",
    )
    parser.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between scans for new versions; 0 scans once at start-up",
    )
    parser.add_argument("--enable_batching", action="store_true", help="batch concurrent requests")
    parser.add_argument(
        "--batching_parameters_file",
        help="text-format BatchingParameters (used with --enable_batching)",
    )
    parser.add_argument(
        "--monitoring_config_file", help="text-format MonitoringConfig; enables Prometheus metrics"
    )
    parser.add_argument(
        "--rest_api_timeout_in_ms",
        type=int,
        default=30000,
        help="REST request timeout in milliseconds (0 = none)",
    )
    parser.add_argument(
        "--max_request_size_bytes",
        type=int,
        default=DEFAULT_MAX_REQUEST_BYTES,
        help="largest REST body accepted (413 above it) and the default of "
        f"--grpc_max_receive_message_bytes (default {DEFAULT_MAX_REQUEST_BYTES})",
    )
    parser.add_argument(
        "--grpc_max_receive_message_bytes",
        type=int,
        default=None,
        help="largest gRPC request message (RESOURCE_EXHAUSTED above it; default "
        "--max_request_size_bytes)",
    )
    parser.add_argument(
        "--grpc_max_send_message_bytes",
        type=int,
        default=GRPC_UNLIMITED,
        help=f"largest gRPC response message (default {GRPC_UNLIMITED}, as TF Serving)",
    )
    parser.add_argument(
        "--allow_version_labels_for_unavailable_models",
        action="store_true",
        help="let version labels name versions that are not (yet) AVAILABLE",
    )
    parser.add_argument(
        "--max_num_load_retries",
        type=int,
        default=5,
        help="times a failed version load is tried again before it is given up "
        "with its error (0 = tried once; default 5, as TF Serving)",
    )
    parser.add_argument(
        "--load_retry_interval_micros",
        type=int,
        default=60_000_000,
        help="microseconds between load retries (default 60 s; negative = no wait)",
    )
    parser.add_argument(
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=0,
        help="threads one TensorFlow op may use (0: one per core, as TF Serving)",
    )
    parser.add_argument(
        "--tensorflow_inter_op_parallelism",
        type=int,
        default=0,
        help="TensorFlow ops run at once over all requests (0: one per core, as TF Serving); "
        "1 and 1 suit many small requests on few cores",
    )
    parser.add_argument(
        "--num_processes",
        type=int,
        default=1,
        help="server processes sharing both ports (SO_REUSEPORT), each with its own copy of "
        "the models; for hosts where one Python process is the limit (needs fixed ports)",
    )
    parser.add_argument(
        "--cors_allowed_origins",
        default="",
        help="comma-separated origins allowed to call the REST API from a browser "
        "('*' for any); CORS is off when empty (the default)",
    )
    parser.add_argument(
        "--adaptive_batching",
        action="store_true",
        help="with --enable_batching: adapt the batch window to the arrival rate and "
        "model latency (batch_timeout_micros becomes its upper bound)",
    )
    parser.add_argument(
        "--backend",
        choices=("dlsuite", "tfserving"),
        default="dlsuite",
        help="dlsuite (this server) or tfserving (exec tensorflow_model_server "
        "from PATH with the same flags)",
    )
    parser.add_argument(
        "--access_log",
        action="store_true",
        help="log one JSON line per REST request and gRPC prediction call "
        "(model, version, signature, API, status, latency, request id) "
        "on the dlsuite.access logger (stderr)",
    )
    parser.add_argument("--log_level", default="INFO", help="Python log level (dlsuite backend)")
    limits = parser.add_argument_group(
        "request limits (dlsuite backend; checked before anything is allocated or decoded)"
    )
    for field in dataclasses.fields(RequestLimits):
        limits.add_argument(
            f"--{field.name}",
            type=int,
            default=field.default,
            help=f"{_LIMIT_HELP[field.name]} (default {field.default})",
        )
    overload = parser.add_argument_group("overload (dlsuite backend)")
    for field in dataclasses.fields(OverloadOptions):
        overload.add_argument(
            f"--{field.name}",
            type=int,
            default=field.default,
            help=f"{_OVERLOAD_HELP[field.name]} (default {field.default})",
        )
    security = parser.add_argument_group("security (dlsuite backend; see docs/serving.md)")
    security.add_argument(
        "--require_manifest",
        action="store_true",
        help="refuse model versions without a valid assets.extra/manifest.json (default: "
        "load them, as TF Serving does, with a warning)",
    )
    security.add_argument(
        "--trusted_signers",
        help="PEM file of public keys; a version must carry a model-signing signature by one "
        "of them (implies --require_manifest)",
    )
    security.add_argument(
        "--enable_model_management",
        action="store_true",
        help="allow ModelService/HandleReloadConfigRequest, limited to base paths under the "
        "start-up models' folders and request logs under --log_dir (default: refused)",
    )
    security.add_argument(
        "--log_dir", help="folder a reloaded config's logging_config may write request logs to"
    )
    security.add_argument(
        "--ssl_config_file",
        help="text-format SSLConfig (server_key, server_cert, custom_ca, client_verify: PEM "
        "contents, as TF Serving's): TLS on both ports",
    )
    security.add_argument(
        "--auth_token_file",
        help="file holding a bearer token every request must carry (REST 'Authorization: "
        "Bearer <token>', gRPC 'authorization' metadata), health endpoints excepted",
    )
    security.add_argument(
        "--expose_paths",
        action="store_true",
        help="show file-system paths in status and readiness answers (hidden by default)",
    )
    credentials = parser.add_argument_group(
        "C2PA Content Credentials (dlsuite backend; see docs/generative.md)"
    )
    credentials.add_argument(
        "--c2pa_cert",
        help="PEM certificate chain (signing certificate first) that signs the C2PA Content "
        "Credentials added to the images of models marked for Art. 50(2); default: an untrusted "
        "test certificate made at start-up",
    )
    credentials.add_argument(
        "--c2pa_key", help="unencrypted PEM private key of --c2pa_cert (keep it mode 0600)"
    )


_LIMIT_HELP = {
    "max_tensor_elements": "largest number of elements of one input tensor, from its shape",
    "max_request_elements": "largest number of input elements of one request",
    "max_batch_rows": "largest first dimension (batch rows) of a request's inputs",
    "max_json_depth": "deepest nesting of arrays and objects in a JSON body",
    "max_number_chars": "longest JSON number literal, in characters",
    "max_string_bytes": "longest string element, in bytes (after base64 decoding)",
    "max_image_pixels": "largest image (width x height, from its PNG/JPEG/GIF/BMP/WebP header) "
    "a string element may hold",
}
_OVERLOAD_HELP = {
    "max_concurrent_requests": "inference requests in progress at once; more are refused "
    "with 429 / UNAVAILABLE",
    "rest_read_timeout_in_ms": "time a REST client has to send a request's headers and body",
    "rest_idle_timeout_in_ms": "an idle keep-alive REST connection is closed after this",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dlsuite serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="serve models over TF Serving's gRPC and REST APIs",
        description="Serve a model repository with TF Serving's gRPC and REST APIs "
        "(same flags as tensorflow_model_server).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen backend."""
    from dlsuite.serving.server.app import serve

    return serve(vars(args))
