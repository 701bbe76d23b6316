"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998)."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.vision.models._common import check_arguments, pixel_input

ACTIVATIONS = ("relu", "tanh")


def build_lenet5(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    dropout: float = 0.0,
    activation: str = "relu",
) -> keras.Model:
    """Builds LeNet-5 as a functional `keras.Model` named "lenet5".

    LeCun et al., "Gradient-Based Learning Applied to Document Recognition" (Proc. IEEE, 1998):
    C1 6@5x5 conv -> S2 2x2 average pooling -> C3 16@5x5 conv -> S4 2x2 average pooling ->
    C5 120@5x5 conv -> F6 84 dense -> `num_classes` softmax. Modern simplifications: plain
    average pooling (no trainable subsampling coefficients), C3 connected to all S2 maps, a
    softmax output instead of RBF units, ReLU by default. 61,706 parameters for a 32x32x1 input
    and 10 classes.

    Args:
        input_shape: (height, width, channels); at least 32x32 (the paper's input size).
        num_classes: number of classes, >= 2.
        dropout: dropout rate before the output layer, in [0, 1). Defaults to 0.
        activation: `"relu"` (default) or `"tanh"` (closer to the paper's scaled tanh).

    Returns:
        A model mapping float32 pixels in [0, 255] of shape `(batch, *input_shape)` to float32
        class probabilities `(batch, num_classes)`.
    """
    check_arguments("lenet5", input_shape, num_classes, dropout, min_size=32)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"lenet5: `activation` expected one of {ACTIVATIONS}. "
            f"Received: activation={activation!r}"
        )
    inputs, x = pixel_input(input_shape)  # (B, 32, 32, C)
    x = keras.layers.Conv2D(6, 5, activation=activation, name="c1")(x)  # (B, 28, 28, 6)
    x = keras.layers.AveragePooling2D(2, name="s2")(x)  # (B, 14, 14, 6)
    x = keras.layers.Conv2D(16, 5, activation=activation, name="c3")(x)  # (B, 10, 10, 16)
    x = keras.layers.AveragePooling2D(2, name="s4")(x)  # (B, 5, 5, 16)
    x = keras.layers.Conv2D(120, 5, activation=activation, name="c5")(x)  # (B, 1, 1, 120)
    x = keras.layers.Flatten(name="flatten")(x)  # (B, 120)
    x = keras.layers.Dense(84, activation=activation, name="f6")(x)  # (B, 84)
    outputs = classifier_head(x, num_classes, dropout)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="lenet5")
