"""The classifier head every app's model builders end with, and the checks of its arguments."""

from __future__ import annotations

from typing import Any

import keras


def check_head_arguments(model_name: str, num_classes: Any, dropout: Any) -> None:
    """Raises `ValueError` naming ``num_classes`` (an int >= 2) or ``dropout`` (in [0, 1))
    when a ``build_<model>`` call got a bad one."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"{model_name}: `num_classes` expected an integer >= 2. "
            f"Received: num_classes={num_classes!r}"
        )
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"{model_name}: `dropout` expected a float in [0, 1). Received: dropout={dropout!r}"
        )


def classifier_head(x: Any, num_classes: int, dropout: float) -> Any:
    """Optional dropout, a dense layer to logits, and a float32 softmax named "probabilities".

    (B, F) features -> (B, num_classes) probabilities; float32 even under mixed precision.
    """
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
