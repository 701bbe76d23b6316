"""``dlsuite serve``: tensorflow_model_server's command line,
served by dlsuite or by the real binary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

from dlsuite.serving.server.config import DEFAULT_MAX_REQUEST_BYTES, GRPC_UNLIMITED

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


def options_from_args(args: argparse.Namespace):  # -> ServerOptions
    """Validate the parsed flags and read the config files into `ServerOptions`."""
    from dlsuite.serving.server import config

    if args.model_config_file:
        models = config.read_model_config_file(args.model_config_file)
    elif args.model_base_path:
        base = os.path.abspath(args.model_base_path)
        if not os.path.isdir(base):
            raise FileNotFoundError(f"--model_base_path does not exist: {base}")
        models = (config.ModelSpec(config.check_model_name(args.model_name), base),)
    else:
        raise ValueError("give --model_base_path (with --model_name) or --model_config_file")
    for port_flag in ("port", "rest_api_port"):
        port = getattr(args, port_flag)
        if not 0 <= port < 65536:  # 0: any free port, named on the "ready" line
            raise ValueError(
                f"--{port_flag} expected a port number (0 for any free one). Received: {port}"
            )
    grpc_receive = args.grpc_max_receive_message_bytes
    if grpc_receive is None:
        grpc_receive = args.max_request_size_bytes
    for flag, value in (
        ("max_request_size_bytes", args.max_request_size_bytes),
        ("grpc_max_receive_message_bytes", grpc_receive),
        ("grpc_max_send_message_bytes", args.grpc_max_send_message_bytes),
    ):
        if not 1024 <= value <= GRPC_UNLIMITED:
            raise ValueError(
                f"--{flag} must be between 1024 and {GRPC_UNLIMITED}. Received: {value}"
            )
    batching = None
    if args.enable_batching:
        batching = config.read_batching_parameters(args.batching_parameters_file)
        if args.adaptive_batching:
            import dataclasses

            batching = dataclasses.replace(batching, adaptive=True)
    elif args.batching_parameters_file or args.adaptive_batching:
        raise ValueError(
            "--batching_parameters_file and --adaptive_batching need --enable_batching"
        )
    if args.max_num_load_retries < 0:
        raise ValueError(
            f"--max_num_load_retries expected a non-negative integer. "
            f"Received: {args.max_num_load_retries}"
        )
    origins = tuple(o.strip() for o in args.cors_allowed_origins.split(",") if o.strip())
    return config.ServerOptions(
        models=models,
        port=args.port,
        rest_api_port=args.rest_api_port,
        host=args.host,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        batching=batching,
        prometheus_path=config.read_monitoring_config(args.monitoring_config_file),
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        max_request_bytes=args.max_request_size_bytes,
        model_config_file=args.model_config_file,
        access_log=bool(args.access_log),
        grpc_max_receive_bytes=grpc_receive,
        grpc_max_send_bytes=args.grpc_max_send_message_bytes,
        cors_allowed_origins=origins,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        max_num_load_retries=args.max_num_load_retries,
        load_retry_interval_micros=args.load_retry_interval_micros,
    )


def tfserving_argv(args: argparse.Namespace, binary: str) -> list[str]:
    """The tensorflow_model_server command line equivalent to ``args``."""
    argv = [binary]
    for flag in TFSERVING_FLAGS:
        value = getattr(args, flag)
        if value is None or value is False:
            continue
        if flag in ("model_name", "model_base_path") and args.model_config_file:
            continue
        if flag == "model_base_path":
            value = os.path.abspath(value)
        if flag == "file_system_poll_wait_seconds":
            value = int(value)
        argv.append(f"--{flag}={'true' if value is True else value}")
    return argv


def run(args: argparse.Namespace) -> int:
    """Run the chosen backend."""
    if args.backend == "tfserving":
        binary = shutil.which("tensorflow_model_server")
        if binary is None:
            raise FileNotFoundError(
                "--backend tfserving needs tensorflow_model_server on PATH (install it from "
                "https://www.tensorflow.org/tfx/serving/setup or use the tensorflow/serving docker "
                "image); or use --backend dlsuite"
            )
        argv = tfserving_argv(args, binary)
        print(" ".join(argv), file=sys.stderr, flush=True)
        os.execv(binary, argv)
    import logging

    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = options_from_args(args)
    from dlsuite.serving.server.app import run_server

    return run_server(options)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlsuite.serving.server``: the serve command alone."""
    parser = argparse.ArgumentParser(prog="dlsuite serve")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"dlsuite serve: error: {err}", file=sys.stderr)
        return 2
