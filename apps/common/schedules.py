"""The warmup learning-rate schedule of "Attention Is All You Need"
(Vaswani et al. 2017, section 5.3).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from dlsuite.base.validation import check_positive_int


@keras.saving.register_keras_serializable(package="dlsuite")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(step) = scale * model_dim ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)``.

    Vaswani et al., "Attention Is All You Need" (NeurIPS 2017), equation 3: the rate grows
    linearly for ``warmup_steps`` optimizer steps, then decays with the inverse square root of the
    step. ``step`` counts from 1 (Keras's optimizer counter starts at 0). The peak, at
    ``step = warmup_steps``, is ``scale / sqrt(model_dim * warmup_steps)``; ``scale`` is
    tensor2tensor's ``learning_rate_constant`` (1 in the paper); `for_peak` picks it from a peak
    rate, which leaves ``model_dim`` out of the rates (``lr(step) = peak * min(sqrt(warmup_steps /
    step), step / warmup_steps)``).

    Args:
        model_dim: the model width d_model (positive int).
        warmup_steps: steps of linear warmup (positive int). The paper uses 4000.
        scale: multiplier of the paper's formula. Defaults to 1.

    Example:
    >>> float(TransformerSchedule(512, 4000)(3999))  # the paper's peak
    0.000698771...
    """

    def __init__(self, model_dim: int, warmup_steps: int = 4000, scale: float = 1.0) -> None:
        check_positive_int(model_dim=model_dim, warmup_steps=warmup_steps)
        if not scale > 0:
            raise ValueError(f"`scale` expected a positive number. Received: scale={scale!r}")
        self.model_dim = model_dim
        self.warmup_steps = warmup_steps
        self.scale = float(scale)

    @classmethod
    def for_peak(
        cls, peak_learning_rate: float, model_dim: int, warmup_steps: int
    ) -> TransformerSchedule:
        """The schedule whose rate at ``warmup_steps`` is ``peak_learning_rate``."""
        return cls(model_dim, warmup_steps, peak_learning_rate * (model_dim * warmup_steps) ** 0.5)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32") + 1.0
        warmup = float(self.warmup_steps)
        rate = ops.minimum(ops.rsqrt(step), step * warmup**-1.5)
        return self.scale * float(self.model_dim) ** -0.5 * rate

    def get_config(self) -> dict[str, Any]:
        return {"model_dim": self.model_dim, "warmup_steps": self.warmup_steps, "scale": self.scale}
