"""The training loop every app uses: strategy, precision, seeding, run directory, metrics.json.

`train_and_evaluate` takes an app's config, its data splits and two callables that build and
compile the model, and leaves a complete run directory behind (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dlsuite.apps.common import custom_loop
from dlsuite.apps.common.cluster import local_run_config, shared_backup_dir
from dlsuite.apps.common.config import TrainingConfig
from dlsuite.apps.common.data import Splits, make_pipeline
from dlsuite.apps.common.energy import EnergyMeter
from dlsuite.apps.common.optimization import make_optimizer
from dlsuite.apps.common.plots import plot_learning_curves
from dlsuite.apps.common.runs import RunDir, open_run
from dlsuite.apps.common.strategy import (
    describe_devices,
    make_strategy,
    mixed_precision_policy,
    strategy_name,
)
from dlsuite.base.version import framework_versions
from dlsuite.serving.flops import FLOPS_METHOD, forward_flops, training_flops


@dataclasses.dataclass
class TrainResult:
    """What every app's ``train_and_evaluate`` returns: the run directory, the trained model
    (RL: the TF-Agents agent) and the run's ``metrics.json``."""

    run: RunDir
    model: Any
    metrics: dict[str, Any]


@contextlib.contextmanager
def dtype_policy_scope(policy: str | None) -> Iterator[None]:
    """Build layers under a Keras dtype policy, restoring the previous global policy afterwards."""
    import keras

    if policy is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow; with ``deterministic``, make TensorFlow ops deterministic.

    XLA and op determinism exclude each other in Keras, so a ``--jit-compile`` run is seeded but
    not bit-reproducible.
    """
    import keras
    from tensorflow.python.framework import config as tf_config

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf_config.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()


def matmul_peak_flops_per_s(size: int = 1024, runs: int = 8) -> float:
    """This machine's float32 matmul rate in FLOP/s: the best of ``runs`` ``(size, size) @ (size,
    size)`` products (``2 size^3`` FLOPs each) on TensorFlow's default device, after a warm-up.

    The denominator of a run's MFU (model FLOPs utilisation); about 0.1-0.3 s on 2 CPU cores.
    """
    import tensorflow as tf

    a = tf.random.uniform((size, size), dtype=tf.float32)
    b = tf.random.uniform((size, size), dtype=tf.float32)
    tf.linalg.matmul(a, b).numpy()
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def train_and_evaluate(
    *,
    app: str,
    config: TrainingConfig,
    splits: Splits,
    build_model: Callable[[], Any],
    compile_model: Callable[[Any, Any, bool], None],
    evaluate: Callable[[Any, RunDir, Any], dict[str, Any]],
    augment: Any = None,
    extra_metrics: dict[str, Any] | None = None,
    callbacks: Callable[[RunDir], Sequence[Any]] | None = None,
    optimizer_options: dict[str, Any] | None = None,
    class_weight: dict[int, float] | None = None,
    fit_only: str | None = None,
) -> TrainResult:
    """Train ``build_model()`` on ``splits`` under ``config``; write and return the run's metrics.

    ``compile_model(model, optimizer, jit_compile)`` compiles (loss and metrics are the app's
    choice) with the optimizer of ``config``, its learning rate on the ``config.lr_schedule``
    schedule over the whole run; ``optimizer_options`` are the app's own Keras optimizer
    arguments. ``evaluate(model, run, test_batches)`` returns the held-out evaluation (and may
    write files). ``callbacks(run)`` returns the app's own Keras callbacks; they run before the
    standard ones, so values they add to an epoch's logs are recorded in ``history.jsonl``.
    ``class_weight`` weighs each class id's loss (Keras fit's). ``fit_only``: why this run needs
    Keras fit (e.g. a callback that re-traces fit's step); the custom loop is then refused.
    """
    process_start = time.perf_counter()
    energy = EnergyMeter()  # checks $DLSUITE_COUNTRY before the run directory is opened
    # under multi_worker, non-chief workers write to a temp dir
    run = open_run(app, local_run_config(config))
    seed_everything(config.seed, deterministic=not config.jit_compile)
    strategy = make_strategy(config.strategy, config.replicas)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"batch_size {config.batch_size} (global) must divide evenly across {replicas} replicas"
        )
    policy = mixed_precision_policy(config.mixed_precision)
    custom = custom_loop.use_custom_loop(config, replicas)
    if custom and (fit_only or class_weight):
        raise ValueError(
            f"{fit_only or '--class-weight needs Keras fit'}; this run would train with the "
            "custom loop (--loop custom, --strategy multi_worker, or --clip-norm over several "
            "replicas): use --loop fit on one worker"
        )
    train_size = min(splits.sizes["train"], config.max_train_examples or splits.sizes["train"])
    with dtype_policy_scope(policy), strategy.scope():
        model = build_model()
        optimizer = make_optimizer(
            config.optimizer,
            config.learning_rate,
            config.effective_lr_schedule,
            total_steps=config.epochs * math.ceil(train_size / config.batch_size),
            warmup_steps=config.warmup_steps,
            **custom_loop.optimizer_options(config, replicas, custom),
            **(optimizer_options or {}),
        )
        compile_model(model, optimizer, config.jit_compile)

    pipeline = dict(
        batch_size=config.batch_size,
        seed=config.seed,
        cache=config.cache,
        shuffle_buffer=config.shuffle_buffer,
    )
    train_ds = make_pipeline(
        splits.train,
        training=True,
        augment=augment,
        max_examples=config.max_train_examples,
        **pipeline,
    )
    val_ds = make_pipeline(splits.validation, training=False, **pipeline)
    # Not cached: it is read twice (model.evaluate, then the app's `evaluate`), and tf.data's
    # in-memory cache is shared by a dataset's iterators (tensorflow#38807): the second pass,
    # started while the first one's prefetch may still be filling it, once saw 15 of 16 clips.
    test_ds = make_pipeline(splits.test, training=False, **{**pipeline, "cache": False})

    from dlsuite.apps.common.callbacks import standard_callbacks

    all_callbacks = [*(callbacks(run) if callbacks else ()), *standard_callbacks(run)]

    print(f"run directory: {run.path}" + (" (resuming)" if run.resumed else ""), flush=True)
    with energy:  # CodeCarbon measures the training loop (apps/common/energy.py)
        if (
            custom
        ):  # strategy.run loop with the same callbacks and run directory (works under multi_worker)
            custom_loop.fit(
                model,
                strategy,
                train_ds,
                validation_data=val_ds,
                epochs=config.epochs,
                callbacks=all_callbacks,
                verbose=config.verbose,
                config=config,
                backup_dir=shared_backup_dir(config, app, run.run_id),
                write_backup_dir=run.backup_dir,
            )
        else:
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=config.epochs,
                shuffle=False,
                class_weight=class_weight,
                callbacks=all_callbacks,
                verbose=config.verbose,
            )
    shutil.rmtree(run.backup_dir, ignore_errors=True)
    run.save_model(model)

    history = run.read_history()
    validation = _named(model.evaluate(val_ds, verbose=0, return_dict=True))
    test = _named(model.evaluate(test_ds, verbose=0, return_dict=True))
    evaluation = evaluate(model, run, test_ds)
    flops = forward_flops(model, splits.input_shape, splits.input_dtype)
    examples_seen = train_size * len(history)
    wall_time_s = sum(r["epoch_time_s"] for r in history)
    achieved = training_flops(flops, examples_seen) / wall_time_s if wall_time_s else 0.0
    peak = matmul_peak_flops_per_s()
    metrics = {
        "app": app,
        "model": model.name,
        "run_id": run.run_id,
        "final": {"test": test, "validation": validation},
        "history": history,
        "epochs_completed": len(history),
        "resumed": run.resumed,
        "wall_time_s": wall_time_s,
        "process_wall_time_s": time.perf_counter() - process_start,
        "examples_seen": examples_seen,
        "num_params": int(model.count_params()),
        "flops_per_example": flops,
        "training_flops": training_flops(flops, examples_seen),
        "flops_method": FLOPS_METHOD,
        "achieved_flops_per_s": achieved,
        "matmul_peak_flops_per_s": peak,
        "mfu": achieved / peak,
        "devices": describe_devices(strategy),
        "strategy": strategy_name(strategy),
        "replicas": replicas,
        "global_batch_size": config.batch_size,
        "per_replica_batch_size": config.batch_size // replicas,
        "mixed_precision": policy,
        "jit_compile": bool(model.jit_compile),
        "lr_schedule": config.effective_lr_schedule,
        "loop": "custom" if custom else "fit",
        "seed": config.seed,
        "data": splits.describe(),
        "evaluation": evaluation,
        "framework": framework_versions(),
        "energy": energy.result,
        "tf_config": bool(os.environ.get("TF_CONFIG")),
        **(extra_metrics or {}),
    }
    plot_learning_curves(history, run.path / "learning_curves.png", title=f"{app} {model.name}")
    run.write_metrics(metrics)
    return TrainResult(run=run, model=model, metrics=metrics)


def _named(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}
