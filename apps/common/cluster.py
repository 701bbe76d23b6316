"""The multi-worker cluster as TensorFlow describes it: ``TF_CONFIG``, the chief, per-worker paths.

``TF_CONFIG`` is the JSON TensorFlow documents for `MultiWorkerMirroredStrategy`::

    {"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]},
     "task": {"type": "worker", "index": 0}}

The chief is task 0 of ``chief`` if the cluster has one, else task 0 of ``worker``. Only the chief
writes the run directory; every other worker writes to a temporary run directory of its own, as
TensorFlow requires for checkpoints (all workers must save, only the chief's copy is kept).
No TensorFlow import here: the launcher and the Kubernetes writer use this module too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def tf_config(workers: Sequence[str], index: int, task_type: str = "worker") -> dict[str, Any]:
    """``TF_CONFIG`` for task ``index`` of a cluster of ``workers`` (``host:port`` strings)."""
    if not 0 <= index < len(workers):
        raise ValueError(f"index expected 0 <= index < {len(workers)}. Received: index={index}")
    return {"cluster": {"worker": list(workers)}, "task": {"type": task_type, "index": index}}


def current_task() -> tuple[str, int] | None:
    """``(task type, index)`` from ``TF_CONFIG``, or None when it is not set."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        task = json.loads(text).get("task", {})
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from err
    return str(task.get("type", "worker")), int(task.get("index", 0))


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` names a task other than the chief (see the module docstring)."""
    task = current_task()
    if task is None:
        return True
    task_type, index = task
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    if task_type == "chief":
        return True
    return task_type == "worker" and index == 0 and "chief" not in cluster


def local_run_config(config: Any) -> Any:
    """The config this process opens its run directory with.

    Under ``multi_worker`` the run id must be given (all workers must name the same run; the
    launcher passes one). The chief keeps ``run_root``; any other worker gets a temporary one, so it
    never writes into the shared run directory.
    """
    if config.strategy != "multi_worker":
        return config
    if config.run_id is None:
        raise ValueError(
            "--strategy multi_worker needs --run-id so that every worker names the same run "
            "(`dlsuite launch` and `dlsuite k8s` add one)"
        )
    if is_chief():
        return config
    task_type, index = current_task() or ("worker", 0)
    root = tempfile.mkdtemp(prefix=f"dlsuite-{task_type}{index}-")
    return dataclasses.replace(config, run_root=root)


def shared_backup_dir(config: Any, app: str, run_id: str) -> Path:
    """The chief's ``backup/`` folder of the run (where every worker restores from)."""
    return Path(config.run_root) / app / run_id / "backup"
