"""``dlsuite predict``: one predict request to a TF Serving-compatible server
(`dlsuite.serving.client.predict`)."""

from __future__ import annotations

import argparse
import json
import sys

from dlsuite.serving.client import predict


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dlsuite predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="send a predict request to a TF Serving-compatible server (REST or gRPC)",
        description="Send one predict request to dlsuite serve or tensorflow_model_server.",
    )
    parser.add_argument(
        "--server",
        required=True,
        help="host:port (the REST port for --protocol rest, the gRPC port for grpc)",
    )
    parser.add_argument("--model", required=True, help="model name")
    parser.add_argument("--version", type=int, help="model version (default: latest)")
    parser.add_argument("--label", help="version label (instead of --version)")
    parser.add_argument("--signature", help="signature name (default serving_default)")
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest", help="API to use")
    parser.add_argument(
        "--input",
        help="JSON: a request body, a list of instances, or an object of "
        "named inputs; '@file.json' reads it from a file",
    )
    parser.add_argument(
        "--image", nargs="+", help="image files sent as binary strings (b64 over REST)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the answer"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send one predict request and print the JSON answer."""
    answer = predict(
        args.server,
        args.model,
        input_json=args.input,
        images=args.image,
        protocol=args.protocol,
        version=args.version,
        label=args.label,
        signature=args.signature,
        timeout=args.timeout,
    )
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")
    return 0
