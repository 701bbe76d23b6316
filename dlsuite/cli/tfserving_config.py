"""``dlsuite tfserving-config``: the real tensorflow_model_server's config files for a model
repository (`dlsuite.serving.tfserving_config.write_tfserving_config`), and how to run it."""

from __future__ import annotations

import argparse
from pathlib import Path

from dlsuite.serving.tfserving_config import (
    TFSERVING_IMAGE,
    docker_run_command,
    write_tfserving_config,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dlsuite tfserving-config``."""
    parser = subparsers.add_parser(
        "tfserving-config",
        help="write models.config, batching and monitoring files for tensorflow_model_server",
        description="Write the config files the real TF Serving needs for a model repository, and "
        "print the docker run and KServe InferenceService set-ups.",
    )
    parser.add_argument(
        "--repository", default="saved_models", help="model repository (default saved_models)"
    )
    parser.add_argument(
        "--output", default="deploy/tfserving", help="folder for the generated files"
    )
    parser.add_argument("--models", help="comma-separated model names (default: every model found)")
    parser.add_argument(
        "--container_path",
        default="/models",
        help="where the repository is mounted in the container (default /models)",
    )
    parser.add_argument(
        "--storage_prefix",
        help="KServe storageUri prefix holding the models (e.g. gs://bucket/saved_models)",
    )
    parser.add_argument("--image", default=TFSERVING_IMAGE, help="TF Serving docker image")
    parser.add_argument("--max_batch_size", type=int, default=32, help="batching: largest batch")
    parser.add_argument(
        "--batch_timeout_micros", type=int, default=5000, help="batching: wait per batch"
    )
    parser.add_argument(
        "--num_batch_threads", type=int, default=4, help="batching: parallel batches"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the files and print the docker run / KServe set-up."""
    models = [m for m in (args.models or "").split(",") if m] or None
    written = write_tfserving_config(
        args.repository,
        args.output,
        models,
        args.container_path,
        args.storage_prefix,
        args.max_batch_size,
        args.batch_timeout_micros,
        args.num_batch_threads,
    )
    for path in written.values():
        print(f"wrote {path}")
    print("\n# Run the real TF Serving with these files:")
    print(docker_run_command(Path(args.repository), Path(args.output), args.image))
    print("\n# Or with a local tensorflow_model_server (same flags):")
    print(
        "dlsuite serve --backend tfserving "
        f"--model_config_file={Path(args.output) / 'models.config'} "
        "--enable_batching "
        f"--batching_parameters_file={Path(args.output) / 'batching_parameters.txt'} "
        f"--monitoring_config_file={Path(args.output) / 'monitoring.config'}"
    )
    print(
        f"# (models.config names paths under {args.container_path}; for a local run write it with "
        f"--container_path {Path(args.repository).resolve()})"
    )
    print("\n# KServe (kubectl apply -f ...):")
    for kind, path in written.items():
        if kind.startswith("kserve-"):
            print(f"kubectl apply -f {path}")
    return 0
