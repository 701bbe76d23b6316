"""Argument checks and the input/output ends shared by the vision model builders (private)."""

import keras

from dlsuite.apps.common.models import check_head_arguments


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
    check_head_arguments(model_name, num_classes, dropout)


def pixel_input(input_shape):
    """The model input (float32 pixels in [0, 255]) and its rescaling to [0, 1]."""
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="image")
    return inputs, keras.layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
