"""Bottleneck (1x1 -> 3x3 -> 1x1) residual block of He et al. (2015), as used in ResNet-50."""

import keras

from dlsuite.base.validation import check_positive_int
from dlsuite.core_layers._conv_bn import batch_norm, same_conv
from dlsuite.core_layers._validation import check_4d_input, check_batch_norm, conv_output_length


@keras.saving.register_keras_serializable(package="dlsuite")
class BottleneckResidualBlock(keras.layers.Layer):
    """Bottleneck residual block: 1x1 reduce, 3x3, 1x1 expand, plus a shortcut, then ReLU.

    The building block of ResNet-50/101/152 in He et al., "Deep Residual Learning for Image
    Recognition" (CVPR 2016, arXiv:1512.03385), figure 5 (right). Each convolution is followed
    by batch normalization (convolutions have no bias); ReLU follows the first two and the sum.
    The output has `filters * expansion` channels. The shortcut is the identity when shapes
    match, otherwise a strided 1x1 convolution + batch normalization (projection, "option B").
    The stride sits on the 3x3 convolution (the "ResNet v1.5" placement used by torchvision and
    the TF Model Garden; the original put it on the first 1x1 convolution; the parameter count
    is the same). Channels-last only.

    Args:
        filters: positive int, channels of the 1x1 and 3x3 "bottleneck" convolutions.
        strides: positive int, stride of the 3x3 convolution and of the projection.
            Defaults to 1.
        expansion: positive int, output channels are `filters * expansion`. Defaults to 4.
        kernel_initializer: initializer of the convolution kernels. Defaults to `"he_normal"`.
        kernel_regularizer: optional regularizer of the convolution kernels.
        momentum: momentum of the batch normalization moving averages. Defaults to 0.99.
        epsilon: batch normalization epsilon. Defaults to 1.001e-5 (as keras.applications).
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: float tensor of shape `(batch, height, width, channels)`.
        training: bool, whether batch normalization uses batch statistics.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), filters * expansion)`.

    Example:
    >>> block = BottleneckResidualBlock(filters=64)
    >>> block(keras.ops.ones((2, 8, 8, 64))).shape
    TensorShape([2, 8, 8, 256])
    """

    def __init__(
        self,
        filters,
        strides=1,
        expansion=4,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        momentum=0.99,
        epsilon=1.001e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(filters=filters)
        check_positive_int(strides=strides)
        check_positive_int(expansion=expansion)
        check_batch_norm(momentum, epsilon)
        self.filters = filters
        self.strides = strides
        self.expansion = expansion
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.momentum = momentum
        self.epsilon = epsilon

    def _conv(self, filters, kernel_size, strides, name):
        return same_conv(self, filters, kernel_size, strides, name)

    def _norm(self, name):
        return batch_norm(self, name)

    def build(self, input_shape):
        check_4d_input(self, input_shape)
        out_channels = self.filters * self.expansion
        self.reduce = self._conv(self.filters, 1, 1, "reduce")
        self.reduce_norm = self._norm("reduce_norm")
        self.conv = self._conv(self.filters, 3, self.strides, "conv")
        self.conv_norm = self._norm("conv_norm")
        self.expand = self._conv(out_channels, 1, 1, "expand")
        self.expand_norm = self._norm("expand_norm")
        self.reduce.build(input_shape)
        shape = self.reduce.compute_output_shape(input_shape)
        self.reduce_norm.build(shape)
        self.conv.build(shape)
        shape = self.conv.compute_output_shape(shape)
        self.conv_norm.build(shape)
        self.expand.build(shape)
        shape = self.expand.compute_output_shape(shape)
        self.expand_norm.build(shape)
        self.use_projection = self.strides != 1 or input_shape[-1] != out_channels
        if self.use_projection:
            self.projection = self._conv(out_channels, 1, self.strides, "projection")
            self.projection_norm = self._norm("projection_norm")
            self.projection.build(input_shape)
            self.projection_norm.build(shape)

    def call(self, inputs, training=None):
        x = keras.ops.relu(self.reduce_norm(self.reduce(inputs), training=training))  # (B, H, W, F)
        x = keras.ops.relu(self.conv_norm(self.conv(x), training=training))  # (B, H/s, W/s, F)
        x = self.expand_norm(self.expand(x), training=training)  # (B, H/s, W/s, F*e)
        shortcut = inputs
        if self.use_projection:
            shortcut = self.projection_norm(self.projection(inputs), training=training)
        return keras.ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (
            batch,
            conv_output_length(height, self.strides),
            conv_output_length(width, self.strides),
            self.filters * self.expansion,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "expansion": self.expansion,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
        }
