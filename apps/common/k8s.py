"""`dlsuite k8s`: a Kubeflow ``TFJob`` (or a Vertex AI ``CustomJob``) for a training command.

    dlsuite k8s --workers 4 --image REGISTRY/dlsuite:0.1 --gpus-per-worker 1 --pvc dlsuite-data \\
        -- dlsuite train vision --model resnet20 --data tfds:cifar10

The Kubeflow Training Operator starts one ``Chief`` and N-1 ``Worker`` pods and sets each pod's
``TF_CONFIG`` itself, so the command only needs ``--strategy multi_worker`` and a fixed ``--run-id``
(added here if absent). ``runs/`` and ``saved_models/`` live on a shared ``ReadWriteMany`` volume,
so the chief's checkpoints survive a pod restart and a restarted job resumes
(``restartPolicy: OnFailure``). ``--vertex`` writes the equivalent Vertex AI ``CustomJob``
(``workerPoolSpecs``: pool 0 is the chief, pool 1 the other workers; Vertex sets ``TF_CONFIG`` too).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from dlsuite.base.validation import check_positive_int

MOUNT = "/workspace"
TF_PORT = 2222


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
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
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
        from dlsuite.base.files import atomic_write_text

        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    return 0


def cluster_command(command: Sequence[str], name: str) -> list[str]:
    """``command`` with ``--strategy multi_worker``, ``--run-id <name>``
    and run/model paths on the volume.
    """
    from dlsuite.apps.common.launch import _option

    command = list(command)
    if len(command) < 3 or command[:2] != ["dlsuite", "train"]:
        raise ValueError(
            f"k8s runs `dlsuite train <app> ...`. Received: {' '.join(command) or 'nothing'}"
        )
    strategy = _option(command, "--strategy")
    if strategy not in (None, "multi_worker"):
        raise ValueError(
            f"k8s trains with --strategy multi_worker. Received: --strategy {strategy}"
        )
    if strategy is None:
        command += ["--strategy", "multi_worker"]
    if _option(command, "--run-id") is None:
        command += ["--run-id", name]
    if _option(command, "--run-root") is None:
        command += ["--run-root", f"{MOUNT}/runs"]
    return command


def _job_name(command: Sequence[str], name: str | None) -> str:
    if name is None:
        app = command[2] if len(command) > 2 else "job"
        name = f"dlsuite-{app}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
        raise ValueError(
            f"name must be a DNS-1123 label (lower-case letters, digits, '-'). Received: {name!r}"
        )
    return name


def tfjob(
    command: Sequence[str],
    *,
    workers: int,
    image: str,
    name: str | None = None,
    namespace: str = "default",
    gpus_per_worker: int = 0,
    cpus: str = "2",
    memory: str = "8Gi",
    pvc: str = "dlsuite-data",
) -> dict[str, Any]:
    """A ``kubeflow.org/v1`` ``TFJob``:
    one Chief and ``workers - 1`` Workers running ``command``.
    """
    check_positive_int(workers=workers)
    name = _job_name(command, name)
    argv = cluster_command(command, name)
    resources: dict[str, Any] = {
        "requests": {"cpu": str(cpus), "memory": memory},
        "limits": {"memory": memory},
    }
    if gpus_per_worker:
        resources["limits"]["nvidia.com/gpu"] = gpus_per_worker

    def replica(count: int) -> dict[str, Any]:
        return {
            "replicas": count,
            "restartPolicy": "OnFailure",
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "tensorflow",  # the container name the operator expects
                            "image": image,
                            "command": argv,
                            "workingDir": MOUNT,
                            "ports": [{"name": "tfjob-port", "containerPort": TF_PORT}],
                            "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
                            "resources": resources,
                            "volumeMounts": [{"name": "workspace", "mountPath": MOUNT}],
                        }
                    ],
                    "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": pvc}}],
                }
            },
        }

    specs = {"Chief": copy.deepcopy(replica(1))}  # no shared objects: plain YAML without anchors
    if workers > 1:
        specs["Worker"] = copy.deepcopy(replica(workers - 1))
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "dlsuite"},
        },
        "spec": {
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3},
            "tfReplicaSpecs": specs,
        },
    }


def vertex_custom_job(
    command: Sequence[str],
    *,
    workers: int,
    image: str,
    name: str | None = None,
    machine_type: str = "n1-standard-8",
    gpus_per_worker: int = 0,
    accelerator_type: str = "NVIDIA_TESLA_T4",
) -> dict[str, Any]:
    """A Vertex AI ``CustomJob`` body: pool 0 the chief, pool 1 the other workers
    (``/gcs`` paths via GCS FUSE).
    """
    check_positive_int(workers=workers)
    name = _job_name(command, name)
    argv = cluster_command(
        [*command, *([] if "--run-root" in command else ["--run-root", "/gcs/dlsuite/runs"])], name
    )
    machine: dict[str, Any] = {"machineType": machine_type}
    if gpus_per_worker:
        machine.update(acceleratorType=accelerator_type, acceleratorCount=gpus_per_worker)

    def pool(count: int) -> dict[str, Any]:
        return {
            "machineSpec": machine,
            "replicaCount": count,
            "containerSpec": {"imageUri": image, "command": argv[:1], "args": argv[1:]},
        }

    pools = [pool(1)] + ([pool(workers - 1)] if workers > 1 else [])
    return {"displayName": name, "jobSpec": {"workerPoolSpecs": pools}}
