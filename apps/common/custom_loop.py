"""A `tf.distribute` training loop that behaves like ``model.fit`` for the user.

Keras 3 ``model.fit`` fails under `MultiWorkerMirroredStrategy` (keras-team/keras#20585: the
symbolic build reduces a `PerReplica` batch), so under ``--strategy multi_worker`` (and with
``--loop custom`` under any strategy) the trainer calls `fit` here instead. It takes the same
callbacks (`apps.common.callbacks.standard_callbacks`) through a `keras.callbacks.CallbackList`, so
``history.jsonl``, TensorBoard logs, ``checkpoints/best.keras`` and ``metrics.json`` are the same.

Per step, on every replica (``strategy.run``)::

    per_example = loss(y, model(x))                    # (B / R,)
    loss = sum(per_example) / B  (+ regularisation / R) # tf.nn.compute_average_loss: GLOBAL batch B
    grads = d(scale(loss)) / d(weights)                 # scaled under mixed_float16
                                                        # (LossScaleOptimizer)
    grads = all_reduce(grads) / R                       # only with --clip-norm over R > 1 replicas
    optimizer.apply(grads)                              # sums over replicas; accumulates, clips

A model that overrides ``train_step``/``test_step`` (the generative app's GAN, with two optimizers)
has those run on every replica instead; they scale their losses by the number of replicas
themselves, as they must under ``fit``.

Metrics are Keras metrics with on-read synchronisation, so reading them sums over replicas and
workers. ``BackupAndRestore`` is replaced by a `tf.train.CheckpointManager` of model, optimizer and
epoch in the run's ``backup/``: the chief writes there, other workers to their own temporary run
directory (deleted after each save), and every worker restores from the chief's at start.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dlsuite.apps.common.config import TrainingConfig


def use_custom_loop(config: TrainingConfig, replicas: int) -> bool:
    """Whether ``config`` trains with this loop
    (``--loop``; ``auto`` picks it where fit falls short).
    """
    if config.loop != "auto":
        return config.loop == "custom"
    return config.strategy == "multi_worker" or (config.clip_norm is not None and replicas > 1)


def optimizer_options(config: TrainingConfig, replicas: int, custom: bool) -> dict[str, Any]:
    """Keras optimizer arguments for ``--clip-norm`` and ``--grad-accum-steps``.

    Keras clips each replica's gradient before its all-reduce. The custom loop all-reduces first and
    hands each replica ``grads / R``, so clipping at ``clip_norm / R`` clips the global gradient at
    ``clip_norm`` exactly (clipping by global norm commutes with scaling).
    """
    options: dict[str, Any] = {}
    if config.clip_norm is not None:
        options["global_clipnorm"] = config.clip_norm / (replicas if custom else 1)
    if config.grad_accum_steps is not None and config.grad_accum_steps > 1:
        options["gradient_accumulation_steps"] = config.grad_accum_steps
    return options


def fit(
    model: Any,
    strategy: Any,
    train_ds: Any,
    *,
    validation_data: Any,
    epochs: int,
    callbacks: list[Any],
    verbose: int,
    config: TrainingConfig,
    backup_dir: Path,
    write_backup_dir: Path,
) -> Any:
    """Train like ``model.fit(train_ds, validation_data=..., epochs=..., callbacks=...)``.

    ``backup_dir`` is the chief's checkpoint folder (restored from), ``write_backup_dir`` this
    worker's (the same on the chief). Returns the `keras.callbacks.History`.
    """
    import keras
    import tensorflow as tf

    steps = _cardinality(train_ds)
    # Build from a batch of the unshuffled validation data: an extra pass over train_ds would
    # advance its reshuffling and change the epochs' order.
    _build(model, strategy, validation_data if validation_data is not None else train_ds)
    if has_own_train_step(
        model
    ):  # the model's own steps (a GAN's two optimizers), run on every replica
        if config.clip_norm is not None:
            raise ValueError(
                f"--clip-norm needs the shared step; {type(model).__name__} has its own train_step"
            )
        train_replica, test_replica = model.train_step, model.test_step
    else:
        train_replica, test_replica = _shared_steps(model, strategy, config)
    train_step = tf.function(lambda batch: strategy.run(train_replica, args=(batch,)))
    test_step = tf.function(lambda batch: strategy.run(test_replica, args=(batch,)))
    dist_train = strategy.experimental_distribute_dataset(train_ds)
    dist_val = (
        strategy.experimental_distribute_dataset(validation_data)
        if validation_data is not None
        else None
    )

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch)
    manager = tf.train.CheckpointManager(checkpoint, str(write_backup_dir), max_to_keep=1)
    latest = tf.train.latest_checkpoint(str(backup_dir))
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"restored {latest} (epoch {int(epoch.numpy())})", flush=True)
    initial_epoch = int(epoch.numpy())

    callback_list = keras.callbacks.CallbackList(
        [c for c in callbacks if not isinstance(c, keras.callbacks.BackupAndRestore)],
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict[str, Any] = {}
    for current in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(current)
        for step, batch in enumerate(dist_train):
            callback_list.on_train_batch_begin(step)
            train_step(batch)
            callback_list.on_train_batch_end(step, _results(model))
        logs = _results(model)
        if dist_val is not None:
            model.reset_metrics()
            for batch in dist_val:
                test_step(batch)
            logs.update({f"val_{k}": v for k, v in _results(model).items()})
        callback_list.on_epoch_end(current, logs)
        epoch.assign(current + 1)
        manager.save()  # every worker saves (collectives); only the chief's copy is kept
        if write_backup_dir != backup_dir:
            shutil.rmtree(write_backup_dir, ignore_errors=True)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras' own evaluate/predict hit keras-team/keras#20585 under this strategy: after training
        # they run on each worker's local copy of the (identical) weights, on all of the data.
        model._distribute_strategy = None  # noqa: SLF001
    return model.history


def _shared_steps(model: Any, strategy: Any, config: TrainingConfig) -> tuple[Any, Any]:
    """Per-replica train and test steps for a model compiled with one loss
    (the module docstring's step).
    """
    import keras
    import tensorflow as tf

    optimizer = model.optimizer
    loss_fn = _per_example_loss(model)
    loss_tracker = next(m for m in model.metrics if m.name == "loss")
    compile_metrics = [m for m in model.metrics if m is not loss_tracker]
    explicit_reduce = config.clip_norm is not None and strategy.num_replicas_in_sync > 1
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def forward(x: Any, y: Any, training: bool) -> tuple[Any, Any]:
        y_pred = model(x, training=training)
        per_example = tf.reshape(tf.cast(loss_fn(y, y_pred), tf.float32), (-1,))  # (B / R,)
        return y_pred, per_example

    def gradients(x: Any, y: Any) -> tuple[Any, Any, list[Any]]:
        with tf.GradientTape() as tape:
            y_pred, per_example = forward(x, y, training=True)
            loss = tf.nn.compute_average_loss(per_example)  # sum / GLOBAL batch
            if model.losses:
                loss += tf.nn.scale_regularization_loss(
                    tf.add_n([tf.cast(v, tf.float32) for v in model.losses])
                )
            objective = optimizer.scale_loss(loss) if scaled else loss
        return y_pred, per_example, tape.gradient(objective, model.trainable_variables)

    if config.jit_compile:
        # XLA for forward + backward; collectives stay outside
        gradients = tf.function(gradients, jit_compile=True)

    def train_replica(batch: Any) -> None:
        x, y = batch[0], batch[1]
        y_pred, per_example, grads = gradients(x, y)
        if explicit_reduce:
            context = tf.distribute.get_replica_context()
            replicas = tf.cast(context.num_replicas_in_sync, grads[0].dtype)
            grads = [g / replicas for g in context.all_reduce(tf.distribute.ReduceOp.SUM, grads)]
        optimizer.apply(grads, model.trainable_variables)
        _update_metrics(loss_tracker, compile_metrics, y, y_pred, per_example, model.losses)

    def test_replica(batch: Any) -> None:
        x, y = batch[0], batch[1]
        y_pred, per_example = forward(x, y, training=False)
        _update_metrics(loss_tracker, compile_metrics, y, y_pred, per_example, model.losses)

    return train_replica, test_replica


def has_own_train_step(model: Any) -> bool:
    """Whether ``model`` overrides Keras's ``train_step``
    (then the loop runs it instead of the shared step).
    """
    import keras

    return type(model).train_step is not keras.Model.train_step


def _update_metrics(
    loss_tracker: Any,
    compile_metrics: list[Any],
    y: Any,
    y_pred: Any,
    per_example: Any,
    extra_losses: list[Any],
) -> None:
    import tensorflow as tf

    count = tf.cast(tf.shape(per_example)[0], tf.float32)
    mean = tf.reduce_mean(per_example)
    if extra_losses:
        mean += tf.add_n([tf.cast(v, tf.float32) for v in extra_losses])
    loss_tracker.update_state(mean, sample_weight=count)  # weighted by local batch: the global mean
    for metric in compile_metrics:
        metric.update_state(y, y_pred)


def _results(model: Any) -> dict[str, float]:
    """Metric results summed over replicas and workers (on-read synchronised variables)."""
    return {k: float(v) for k, v in model.get_metrics_result().items()}


def _cardinality(dataset: Any) -> int | None:
    import tensorflow as tf

    count = int(dataset.cardinality())
    return count if count >= 0 and count != tf.data.INFINITE_CARDINALITY else None


def _build(model: Any, strategy: Any, dataset: Any) -> None:
    """Build model, compiled loss/metrics and optimizer from one local batch, under the strategy.

    This is what ``fit`` does first; doing it from a local batch avoids the cross-worker reduce of
    keras-team/keras#20585.
    """
    batch = next(iter(dataset.take(1)))
    with strategy.scope():
        model._symbolic_build(data_batch=(batch[0], batch[1], None))  # noqa: SLF001 - Keras' own build step
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def _per_example_loss(model: Any) -> Any:
    """The compiled loss as ``(y_true, y_pred) -> (B,)`` per-example values (no reduction)."""
    import keras

    loss = model.loss
    if isinstance(loss, keras.losses.Loss):
        return loss.call
    if callable(loss):
        return loss
    raise ValueError(
        "the custom loop supports one loss function or keras.losses.Loss; "
        f"the model was compiled with {loss!r}"
    )
