"""``dlsuite predict``: one predict request to a TF Serving-compatible server
(`dlsuite.serving.client.predict`)."""

from __future__ import annotations

import argparse
import json
import sys

from dlsuite.serving.client import Connection, predict


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
    secured = parser.add_argument_group("a secured server (dlsuite serve --ssl_config_file ...)")
    secured.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS (https / a secure gRPC channel); implied by the --tls_* files",
    )
    secured.add_argument(
        "--tls_ca",
        help="PEM file of the CA that signed the server's certificate (default: the system's)",
    )
    secured.add_argument(
        "--tls_cert", help="PEM client certificate, for a server that requires one (client_verify)"
    )
    secured.add_argument("--tls_key", help="PEM private key of --tls_cert")
    secured.add_argument(
        "--auth_token_file", help="file holding the server's bearer token (--auth_token_file)"
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
        connection=Connection.from_files(
            args.tls, args.tls_ca, args.tls_cert, args.tls_key, args.auth_token_file
        ),
    )
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")
    return 0
