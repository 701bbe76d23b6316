"""Choosing a `tf.distribute` strategy and describing the devices it runs on.

``auto`` takes every GPU with `MirroredStrategy`; with one GPU or none it is TensorFlow's default
strategy, exactly what a plain Keras ``fit`` runs under (its first device; `OneDeviceStrategy`
costs a per-step dispatch a small model notices). ``one_device`` pins that device explicitly.
``mirrored`` on a CPU-only host splits the CPU into ``replicas`` logical devices, so multi-replica
training (gradient all-reduce, per-replica batches) is exercised on a laptop or in CI.
``multi_worker`` reads the cluster from ``TF_CONFIG``.
"""

from __future__ import annotations

import json
import os
from typing import Any


def configure_cpu_replicas(replicas: int) -> None:
    """Split the physical CPU into ``replicas`` logical devices.

    Must run before TensorFlow initialises its devices. If they are already initialised with the
    same number of logical CPUs this is a no-op; with another number it raises, saying so.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    have = len(current) if current else 1
    if have == replicas:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    except RuntimeError as err:
        raise ValueError(
            f"cannot split the CPU into {replicas} logical devices: TensorFlow already initialised "
            f"{have} in this process; set the replicas before any TensorFlow work"
        ) from err


_MULTI_WORKER: Any = None


def prepare_strategy(name: str, replicas: int | None = None) -> None:
    """Do what must precede any TensorFlow op: create the ``multi_worker`` strategy, split the CPU.

    `MultiWorkerMirroredStrategy` configures collective ops and ``mirrored --replicas N`` on a CPU
    configures logical devices, both of which TensorFlow allows only at program start-up; each
    app's ``train_and_evaluate`` calls this first, before its data touches TensorFlow. Calling it
    again in the process is harmless: the ``multi_worker`` strategy is made once per process, and
    splitting the CPU into the number of logical devices it already has does nothing.
    """
    if name == "multi_worker" or (name == "mirrored" and replicas):
        make_strategy(name, replicas)


def make_strategy(name: str, replicas: int | None = None) -> Any:
    """Return the `tf.distribute.Strategy` for ``name`` (see the module docstring)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            devices = [f"/gpu:{i}" for i in range(len(gpus))]
            if replicas is not None:
                if replicas > len(gpus):
                    raise ValueError(
                        f"--replicas {replicas} asked for, but only {len(gpus)} GPUs are visible"
                    )
                devices = devices[:replicas]
            return tf.distribute.MirroredStrategy(devices)
        count = replicas or 1
        configure_cpu_replicas(count)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy multi_worker needs the cluster in the TF_CONFIG environment variable"
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as err:
            raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from err
        global _MULTI_WORKER
        if (
            _MULTI_WORKER is None
        ):  # one per process, created before any TensorFlow op (see prepare_strategy)
            _MULTI_WORKER = tf.distribute.MultiWorkerMirroredStrategy()
        return _MULTI_WORKER
    raise ValueError(f"unknown strategy {name!r}; use auto, one_device, mirrored or multi_worker")


def is_default_strategy(strategy: Any) -> bool:
    """Whether ``strategy`` is TensorFlow's default (no) strategy, which names no devices."""
    import tensorflow as tf

    return not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy()


def strategy_name(strategy: Any) -> str:
    """The strategy's name for metrics.json and the manifest: its class, or ``default``."""
    return "default" if is_default_strategy(strategy) else type(strategy).__name__


def describe_devices(strategy: Any) -> dict[str, Any]:
    """Device kind, count and names the strategy computes on (for metrics.json and the manifest).

    The default strategy names no devices: Keras runs on the first one, as ``one_device`` does.
    """
    import tensorflow as tf

    if is_default_strategy(strategy):
        strategy = make_strategy("one_device")
    names = list(strategy.extended.worker_devices)
    kinds = sorted({tf.DeviceSpec.from_string(n).device_type or "CPU" for n in names})
    info: dict[str, Any] = {"kind": "+".join(kinds), "count": len(names), "names": names}
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        info["gpu_name"] = details.get("device_name")
    return info


def mixed_precision_policy(enabled: bool) -> str | None:
    """The Keras dtype policy for ``--mixed-precision``: float16 on GPU, bfloat16 on CPU."""
    if not enabled:
        return None
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
