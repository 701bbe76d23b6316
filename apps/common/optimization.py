"""The optimizer and the classifier compile every app trains with.

`train_and_evaluate` (`apps.common.trainer`) builds the optimizer with `make_optimizer` under the
config's learning-rate schedule (``--lr-schedule``); an app's ``compile_model`` only adds its loss
and metrics, with `compile_classifier` for every classifier.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.common.config import SCHEDULES


def learning_rate_schedule(
    schedule: str, learning_rate: float, total_steps: int, warmup_steps: int
) -> Any:
    """The learning rate of a Keras optimizer: ``learning_rate`` itself (``"constant"``) or a
    schedule over the run's ``total_steps`` optimizer steps.

    * ``"cosine"``: `keras.optimizers.schedules.CosineDecay` from ``learning_rate`` to 0 over
      ``total_steps`` (Loshchilov & Hutter 2017, without restarts);
    * ``"transformer"``: `TransformerSchedule` (Vaswani et al. 2017), linear warmup to
      ``learning_rate`` over ``warmup_steps``, then inverse square root decay.
    """
    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        import keras

        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    if schedule == "transformer":
        from dlsuite.apps.common.schedules import TransformerSchedule

        # Given its peak, the schedule's rates do not depend on the model width: 1 stands for it.
        return TransformerSchedule.for_peak(learning_rate, 1, warmup_steps)
    raise ValueError(f"schedule expected one of {SCHEDULES}. Received: schedule={schedule!r}")


def make_optimizer(
    name: str,
    learning_rate: float,
    schedule: str = "constant",
    *,
    total_steps: int = 0,
    warmup_steps: int = 0,
    **options: Any,
) -> Any:
    """The Keras optimizer ``name`` at ``learning_rate`` under ``schedule``
    (`learning_rate_schedule`); ``options`` are Keras optimizer arguments (clipping,
    accumulation, Adam's betas).
    """
    import keras

    rate = learning_rate_schedule(schedule, learning_rate, total_steps, warmup_steps)
    if name == "adam":
        return keras.optimizers.Adam(rate, **options)
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, **options)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rate, **options)
    raise ValueError(f"unknown optimizer {name!r}")


def compile_classifier(
    model: Any,
    optimizer: Any,
    jit_compile: bool = False,
    *,
    label_smoothing: float = 0.0,
    from_logits: bool = False,
) -> None:
    """Sparse categorical cross-entropy (with optional label smoothing) and accuracy.

    ``from_logits``: the model outputs logits rather than probabilities.
    """
    import keras

    if label_smoothing:
        num_classes = model.output_shape[-1]

        def loss(y_true: Any, y_pred: Any) -> Any:
            one_hot = keras.ops.one_hot(
                keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), num_classes
            )
            return keras.losses.categorical_crossentropy(
                one_hot, y_pred, from_logits=from_logits, label_smoothing=label_smoothing
            )
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        jit_compile=jit_compile,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
