"""An AlexNet-style network (Krizhevsky, Sutskever and Hinton, 2012) scaled to small images."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.vision.models._common import check_arguments, pixel_input
from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers import LocalResponseNormalization

NORMS = ("batch", "lrn")
FILTERS = (64, 192, 384, 256, 256)  # conv1..conv5, as in the single-tower torchvision variant


def build_alexnet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    dropout: float = 0.5,
    norm: str = "batch",
    dense_units: int = 1024,
) -> keras.Model:
    """Builds an AlexNet-style network for small images (e.g. 32x32) named "alexnet".

    After Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural Networks"
    (NeurIPS 2012): five convolutions (64@5x5, 192@5x5, 384@3x3, 256@3x3, 256@3x3) with ReLU,
    3x3/2 overlapping max pooling after conv1, conv2 and conv5, then two dense ReLU layers with
    dropout and a softmax. Scaled to small inputs: stride 1 and 5x5 kernels in conv1, "same"
    padding, `dense_units` (default 1024) instead of 4096. About 7.7M parameters for 32x32x3
    and 10 classes.

    Args:
        input_shape: (height, width, channels); at least 8x8.
        num_classes: number of classes, >= 2.
        dropout: dropout rate before each dense layer (the paper: 0.5), in [0, 1).
        norm: `"batch"` (batch normalization after every convolution, default) or `"lrn"`
            (the paper's local response normalization after the ReLUs of conv1 and conv2,
            `core_layers.LocalResponseNormalization`).
        dense_units: positive int, width of the two hidden dense layers.

    Returns:
        A model mapping float32 pixels in [0, 255] of shape `(batch, *input_shape)` to float32
        class probabilities `(batch, num_classes)`.
    """
    check_arguments("alexnet", input_shape, num_classes, dropout, min_size=8)
    if norm not in NORMS:
        raise ValueError(f"alexnet: `norm` expected one of {NORMS}. Received: norm={norm!r}")
    check_positive_int(dense_units=dense_units)
    inputs, x = pixel_input(input_shape)  # (B, H, W, C)
    for index, filters in enumerate(FILTERS, start=1):
        kernel_size = 5 if index <= 2 else 3
        x = keras.layers.Conv2D(
            filters, kernel_size, padding="same", use_bias=norm != "batch", name=f"conv{index}"
        )(x)
        if norm == "batch":
            x = keras.layers.BatchNormalization(name=f"conv{index}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{index}_relu")(x)
        if norm == "lrn" and index <= 2:
            x = LocalResponseNormalization(name=f"conv{index}_lrn")(x)
        if index in (1, 2, 5):  # (B, H/2, W/2, F) after each pooling
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)  # (B, H/8 * W/8 * 256)
    for index in (6, 7):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
        x = keras.layers.Dense(dense_units, activation="relu", name=f"fc{index}")(x)
    outputs = classifier_head(x, num_classes, dropout=0.0)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="alexnet")
