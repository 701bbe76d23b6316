"""Token-level loss and accuracy for sequence outputs with padding (label id 0 is padding)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dlsuite")
class LabelSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy against label-smoothed targets,
    averaged over the non-padding tokens of a batch.

    Label smoothing (Szegedy et al. 2016; used by Vaswani et al. 2017 with epsilon = 0.1, section
    5.4): the target distribution puts ``1 - epsilon`` on the true token and spreads ``epsilon``
    uniformly over the vocabulary, so
    ``loss = (1 - epsilon) * NLL(true) + epsilon * mean_v NLL(v)``.
    Positions whose label is 0 (padding) count for nothing.

    Args:
        label_smoothing: epsilon in [0, 1). Defaults to 0.1.
        **kwargs: `keras.losses.Loss` arguments (name, reduction, dtype).

    Call arguments:
        y_true: int labels ``(B, T)``.
        y_pred: logits ``(B, T, V)``.

    Returns:
        The mean loss per real token (a scalar).
    """

    def __init__(
        self, label_smoothing: float = 0.1, name: str = "label_smoothed_crossentropy", **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                "`label_smoothing` expected a float in [0, 1). "
                f"Received: label_smoothing={label_smoothing}"
            )
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(y_true, "int32")  # (B, T)
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)  # (B, T, V)
        true_nll = -ops.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]  # (B, T)
        uniform_nll = -ops.mean(logp, axis=-1)  # (B, T)
        loss = (1.0 - self.label_smoothing) * true_nll + self.label_smoothing * uniform_nll
        mask = ops.cast(ops.not_equal(labels, 0), "float32")
        return ops.sum(loss * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="dlsuite")
class MaskedTokenAccuracy(keras.metrics.Metric):
    """Fraction of non-padding positions (label != 0) whose most likely token is the label,
    over all batches.

    Counts correct and real tokens across batches
    (a token-weighted mean, not a mean of batch means).

    Call arguments:
        y_true: int labels ``(B, T)``.
        y_pred: logits or probabilities ``(B, T, V)``.
    """

    def __init__(self, name: str = "token_accuracy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        labels = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(labels, 0), "float32")
        hits = ops.cast(
            ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels), "float32"
        )
        self.correct.assign_add(ops.sum(hits * mask))
        self.total.assign_add(ops.sum(mask))

    def result(self) -> Any:
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self) -> None:
        self.correct.assign(0.0)
        self.total.assign(0.0)
