"""``dlsuite serve``: tensorflow_model_server's command line,
served by dlsuite or by the real binary (`dlsuite.serving.server.app.serve`).
"""

from __future__ import annotations

import argparse

from dlsuite.serving.server.config import DEFAULT_MAX_REQUEST_BYTES, GRPC_UNLIMITED


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
