"""Argument checks and the input/output ends shared by the vision model builders (private)."""

import keras


def check_arguments(model_name, input_shape, num_classes, dropout, min_size=1):
    """Raises `ValueError` naming the bad argument of a `build_<model>` call."""
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape)
    ):
        raise ValueError(
            f"{model_name}: `input_shape` expected (height, width, channels) positive integers. "
            f"Received: input_shape={input_shape!r}"
        )
    height, width, _ = input_shape
    if height < min_size or width < min_size:
        raise ValueError(
            f"{model_name}: the input is too small, images must be at least "
            f"{min_size}x{min_size}. Received: input_shape={tuple(input_shape)!r}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"{model_name}: `num_classes` expected an integer >= 2. "
            f"Received: num_classes={num_classes!r}"
        )
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"{model_name}: `dropout` expected a float in [0, 1). Received: dropout={dropout!r}"
        )


def pixel_input(input_shape):
    """The model input (float32 pixels in [0, 255]) and its rescaling to [0, 1]."""
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="image")
    return inputs, keras.layers.Rescaling(1.0 / 255, name="rescaling")(inputs)


def classifier_head(x, num_classes, dropout):
    """Optional dropout, a dense layer to logits, and a float32 softmax named "probabilities"."""
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
