"""ResNet-50 (He et al., 2015) with bottleneck residual blocks."""

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.vision.models._common import check_arguments, pixel_input
from dlsuite.core_layers import BottleneckResidualBlock

STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # (bottleneck filters, blocks)


def build_resnet50(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    dropout: float = 0.0,
) -> keras.Model:
    """Builds ResNet-50 (ImageNet architecture, default input 224x224x3), named "resnet50".

    He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016, arXiv:1512.03385),
    table 1: a 7x7/2 64-filter convolution, 3x3/2 max pooling, four stages of 3, 4, 6 and 3
    `BottleneckResidualBlock`s (64, 128, 256, 512 filters, expansion 4; stages 2-4 start with
    stride 2), global average pooling and a softmax. Convolutions followed by batch
    normalization have no bias, so the count is 25,610,152 for 1000 classes, 26,560 (0.10%)
    below `keras.applications.ResNet50` (25,636,712), whose convolutions carry biases.

    Args:
        input_shape: (height, width, channels); at least 32x32.
        num_classes: number of classes, >= 2.
        dropout: dropout rate before the output layer, in [0, 1). Defaults to 0.

    Returns:
        A model mapping float32 pixels in [0, 255] of shape `(batch, *input_shape)` to float32
        class probabilities `(batch, num_classes)`.
    """
    check_arguments("resnet50", input_shape, num_classes, dropout, min_size=32)
    inputs, x = pixel_input(input_shape)  # (B, 224, 224, C)
    x = keras.layers.Conv2D(
        64,
        7,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name="stem_conv",
    )(x)  # (B, 112, 112, 64)
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)  # 56x56
    for stage, (filters, blocks) in enumerate(STAGES, start=1):
        for block in range(1, blocks + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = BottleneckResidualBlock(
                filters, strides=strides, name=f"stage{stage}_block{block}"
            )(x)  # (B, 56 / 2**(stage-1), ..., 4 * filters)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)  # (B, 2048)
    outputs = classifier_head(x, num_classes, dropout)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="resnet50")
