"""CIFAR ResNets (ResNet-20/32/44/56/110) of He et al. (2015)."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.vision.models._common import check_arguments, pixel_input
from dlsuite.core_layers import BasicResidualBlock

STAGE_FILTERS = (16, 32, 64)


def build_resnet_cifar(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    depth: int = 20,
    dropout: float = 0.0,
) -> keras.Model:
    """Builds the CIFAR-10 ResNet of depth `6n + 2`, named f"resnet{depth}".

    He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016, arXiv:1512.03385),
    section 4.2: a 3x3 16-filter convolution, three stages of n `BasicResidualBlock`s with
    16, 32 and 64 filters (the first block of stages 2 and 3 has stride 2), global average
    pooling and a softmax. Shortcuts that change shape are 1x1 projections (option B; the
    paper used zero-padding, option A, so counts are ~1.5% higher: 274,042 parameters for
    ResNet-20 with 10 classes against the paper's 0.27M).

    Args:
        input_shape: (height, width, channels); at least 8x8.
        num_classes: number of classes, >= 2.
        depth: total depth `6n + 2` with n >= 1 (20, 32, 44, 56, 110, ...). Defaults to 20.
        dropout: dropout rate before the output layer, in [0, 1). Defaults to 0.

    Returns:
        A model mapping float32 pixels in [0, 255] of shape `(batch, *input_shape)` to float32
        class probabilities `(batch, num_classes)`.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            "resnet: `depth` expected an integer 6n + 2 with n >= 1 (20, 32, 44, 56, 110). "
            f"Received: depth={depth!r}"
        )
    name = f"resnet{depth}"
    check_arguments(name, input_shape, num_classes, dropout, min_size=8)
    blocks_per_stage = (depth - 2) // 6
    inputs, x = pixel_input(input_shape)  # (B, H, W, C)
    x = keras.layers.Conv2D(
        STAGE_FILTERS[0],
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name="stem_conv",
    )(x)  # (B, H, W, 16)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(STAGE_FILTERS, start=1):
        for block in range(1, blocks_per_stage + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = BasicResidualBlock(filters, strides=strides, name=f"stage{stage}_block{block}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)  # (B, 64)
    outputs = classifier_head(x, num_classes, dropout)  # (B, num_classes)
    return keras.Model(inputs, outputs, name=name)


def build_resnet20(input_shape, num_classes, *, dropout=0.0) -> keras.Model:
    """ResNet-20 (n = 3): `build_resnet_cifar(..., depth=20)`."""
    return build_resnet_cifar(input_shape, num_classes, depth=20, dropout=dropout)


def build_resnet32(input_shape, num_classes, *, dropout=0.0) -> keras.Model:
    """ResNet-32 (n = 5): `build_resnet_cifar(..., depth=32)`."""
    return build_resnet_cifar(input_shape, num_classes, depth=32, dropout=dropout)


def build_resnet56(input_shape, num_classes, *, dropout=0.0) -> keras.Model:
    """ResNet-56 (n = 9): `build_resnet_cifar(..., depth=56)`."""
    return build_resnet_cifar(input_shape, num_classes, depth=56, dropout=dropout)
