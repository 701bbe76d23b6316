"""A Kubeflow ``TFJob`` (or a Vertex AI ``CustomJob``) for a training command (`dlsuite k8s`).

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

import copy
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from dlsuite.apps.common.launch import _option
from dlsuite.base.validation import check_positive_int

MOUNT = "/workspace"
TF_PORT = 2222


def cluster_command(command: Sequence[str], name: str) -> list[str]:
    """``command`` with ``--strategy multi_worker``, ``--run-id <name>``
    and run/model paths on the volume.
    """
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
