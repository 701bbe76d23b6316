"""`dlsuite k8s`: a Kubeflow ``TFJob`` (or a Vertex AI ``CustomJob``) for a training command
(`dlsuite.apps.common.k8s`), written as YAML (or JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dlsuite.apps.common.k8s import MOUNT, tfjob, vertex_custom_job
from dlsuite.base.files import atomic_write_text
from dlsuite.cli.launch import training_command


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "k8s",
        help="write a Kubeflow TFJob (or Vertex AI CustomJob) manifest for a training command",
        description="Write a Kubeflow TFJob (kubeflow.org/v1: Chief + Worker replicas) as YAML, or "
        "with --vertex a Vertex AI CustomJob spec, that runs `dlsuite train ...` under "
        "--strategy multi_worker with a shared volume for runs/ and saved_models/.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="total number of workers, chief included (default: 2)",
    )
    parser.add_argument("--image", required=True, help="container image with dlsuite installed")
    parser.add_argument("--name", default=None, help="job name (default: dlsuite-<app>-<UTC time>)")
    parser.add_argument(
        "--namespace", default="default", help="Kubernetes namespace (default: default)"
    )
    parser.add_argument(
        "--gpus-per-worker", type=int, default=0, help="nvidia.com/gpu per pod (default: 0)"
    )
    parser.add_argument("--cpus-per-worker", default="2", help="CPU request per pod (default: 2)")
    parser.add_argument(
        "--memory-per-worker", default="8Gi", help="memory request per pod (default: 8Gi)"
    )
    parser.add_argument(
        "--pvc",
        default="dlsuite-data",
        help=f"ReadWriteMany PersistentVolumeClaim mounted at {MOUNT} for runs/ and saved_models/",
    )
    parser.add_argument(
        "--vertex", action="store_true", help="write a Vertex AI CustomJob spec (JSON) instead"
    )
    parser.add_argument(
        "--machine-type",
        default="n1-standard-8",
        help="Vertex AI machine type (default: n1-standard-8)",
    )
    parser.add_argument(
        "--accelerator-type", default="NVIDIA_TESLA_T4", help="Vertex AI accelerator type"
    )
    parser.add_argument("--output", "-o", default="-", help="output file (default: stdout)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the training command after --")
    parser.set_defaults(func=_k8s)


def _k8s(args: argparse.Namespace) -> int:
    command = training_command(args.command)
    if args.vertex:
        text = (
            json.dumps(
                vertex_custom_job(
                    command,
                    workers=args.workers,
                    image=args.image,
                    name=args.name,
                    machine_type=args.machine_type,
                    gpus_per_worker=args.gpus_per_worker,
                    accelerator_type=args.accelerator_type,
                ),
                indent=2,
            )
            + "\n"
        )
    else:
        import yaml

        manifest = tfjob(
            command,
            workers=args.workers,
            image=args.image,
            name=args.name,
            namespace=args.namespace,
            gpus_per_worker=args.gpus_per_worker,
            cpus=args.cpus_per_worker,
            memory=args.memory_per_worker,
            pvc=args.pvc,
        )
        text = yaml.safe_dump(manifest, sort_keys=False)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    return 0
